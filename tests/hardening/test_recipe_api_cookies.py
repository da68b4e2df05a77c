"""The web recipes call the user's API on behalf of many users through one HTTP client
per worker: no cookie an API sets may travel from one user's call to another's.

Each app runs as two real worker processes sharing a real redis-server (as in
tests/recipes/test_web_recipes.py), against the provider emulator, and its ``API_URL``
points at a real loopback API that behaves like many session-based APIs: the first
call is authorized by its bearer token and gets a session cookie; a later call that
brings the cookie is answered from the cookie's session, whatever token it carries.
Two users log in and call ``/me`` in turn on both workers; each must only ever see
their own data, and the API must never receive a cookie.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import anyio.from_thread
import httpx
import pytest

from anyoauth.testing import ProviderEmulator, browse
from recipes.servers import (
    RECIPES,
    START_SECONDS,
    AppProcess,
    Command,
    aiohttp_web,
    hypercorn,
    uvicorn,
)
from redis_server import RedisServer, free_port

pytestmark = pytest.mark.anyio

CLIENT_SECRET = "cookie-recipe-secret-" + "c" * 24
API_COOKIE = "api_session"

# One deployment per framework module (they all call the API through oauth_web.py);
# Starlette and Litestar mix an asyncio and a trio worker, Quart runs on trio.
VARIANTS: dict[str, tuple[Command, Command]] = {
    "starlette-asyncio+trio": (uvicorn("starlette_app"), hypercorn("starlette_app", "trio")),
    "fastapi-asyncio": (uvicorn("fastapi_app"), uvicorn("fastapi_app")),
    "aiohttp-asyncio": (aiohttp_web("aiohttp_app"), aiohttp_web("aiohttp_app")),
    "quart-trio": (hypercorn("quart_trio_app", "trio"), hypercorn("quart_trio_app", "trio")),
    "litestar-asyncio": (uvicorn("litestar_app"), hypercorn("litestar_app", "trio")),
    "django-asyncio": (uvicorn("django_app"), uvicorn("django_app")),
}


@dataclass
class SessionApi:
    """A loopback API that keeps a session per cookie, the way many web APIs do."""

    emulator: ProviderEmulator
    sessions: dict[str, str] = field(default_factory=dict)
    """cookie value -> the account (a hash of the token that opened the session)"""
    cookies_received: list[str] = field(default_factory=list)
    calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, authorization: str, cookie: str) -> tuple[int, dict[str, str], str | None]:
        """(status, body, cookie to set) for one ``GET /api/me``."""
        with self.lock:
            self.calls += 1
            if cookie:
                self.cookies_received.append(cookie)
            for part in cookie.split(";"):
                name, _, value = part.strip().partition("=")
                if name == API_COOKIE and value in self.sessions:
                    return 200, {"account": self.sessions[value]}, None
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not self.emulator.is_valid_token(token):
                return 401, {"error": "invalid_token"}, None
            account = hashlib.sha256(token.encode()).hexdigest()
            session = secrets.token_urlsafe(16)
            self.sessions[session] = account
            return 200, {"account": account}, session


def _serve_api(api: SessionApi) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body, session = api.answer(
                self.headers.get("Authorization", ""), self.headers.get("Cookie", "")
            )
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if session is not None:
                self.send_header("Set-Cookie", f"{API_COOKIE}={session}; Path=/; HttpOnly")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def provider() -> Iterator[tuple[ProviderEmulator, str]]:
    emulator = ProviderEmulator()
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(emulator.serve()) as base_url,
    ):
        yield emulator, base_url


@dataclass
class Deployment:
    emulator: ProviderEmulator
    api: SessionApi
    redirect_uri: str
    workers: list[AppProcess]


@pytest.fixture(scope="module", params=list(VARIANTS))
def app(
    request: pytest.FixtureRequest,
    provider: tuple[ProviderEmulator, str],
    redis_server: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Deployment]:
    name: str = request.param
    emulator, base_url = provider
    api = SessionApi(emulator)
    server = _serve_api(api)
    ports = [free_port(), free_port()]
    while ports[1] == ports[0]:
        ports[1] = free_port()
    client_id = f"cookie-recipe-{name}"
    redirect_uri = f"http://127.0.0.1:{ports[0]}/callback"
    emulator.add_oauth_client(client_id, client_secret=CLIENT_SECRET, redirect_uris=[redirect_uri])
    env = {
        "OAUTH_ISSUER": base_url,
        "OAUTH_CLIENT_ID": client_id,
        "OAUTH_CLIENT_SECRET": CLIENT_SECRET,
        "OAUTH_REDIRECT_URI": redirect_uri,
        "REDIS_URL": redis_server.url,
        "API_URL": f"http://127.0.0.1:{server.server_address[1]}/api/me",
    }
    if str(RECIPES) not in sys.path:
        sys.path.insert(0, str(RECIPES))
    logs = tmp_path_factory.mktemp(name)
    deployment = Deployment(emulator, api, redirect_uri, [])
    try:
        for i, (command, port) in enumerate(zip(VARIANTS[name], ports, strict=True)):
            deployment.workers.append(
                AppProcess.start(f"{name}[{i}]", command, port, env, logs / f"{i}.log")
            )
        deadline = time.monotonic() + START_SECONDS
        for worker in deployment.workers:
            worker.wait_ready(deadline)
        yield deployment
    finally:
        left_behind = [worker.name for worker in deployment.workers if not worker.stop()]
        server.shutdown()
        server.server_close()
    assert not left_behind, f"processes left behind by {left_behind}"


@pytest.fixture
async def users(fresh_redis: RedisServer) -> AsyncIterator[tuple[httpx.AsyncClient, ...]]:
    async with (
        httpx.AsyncClient(follow_redirects=False, timeout=10) as alice,
        httpx.AsyncClient(follow_redirects=False, timeout=10) as bob,
    ):
        yield alice, bob


async def _log_in(app: Deployment, browser: httpx.AsyncClient) -> None:
    first, second = (worker.url for worker in app.workers)
    started = await browser.get(first + "/login")
    assert started.status_code == 303, started.text
    callback = await browse(browser, started.headers["location"])
    parts = urlsplit(callback)
    done = await browser.get(f"{second}{parts.path}?{parts.query}")
    assert done.status_code == 303, done.text


async def test_one_users_api_cookie_never_reaches_another_users_call(
    app: Deployment, users: tuple[httpx.AsyncClient, httpx.AsyncClient]
) -> None:
    alice, bob = users
    await _log_in(app, alice)
    await _log_in(app, bob)
    calls_before = app.api.calls
    seen: dict[str, set[str]] = {"alice": set(), "bob": set()}
    for _ in range(2):
        for worker in app.workers:
            for name, browser in (("alice", alice), ("bob", bob)):
                me = await browser.get(worker.url + "/me")
                assert me.status_code == 200, me.text
                seen[name].add(me.json()["account"])
    assert app.api.calls == calls_before + 8
    # Each user always got one account, their own: never the other's.
    assert len(seen["alice"]) == 1
    assert len(seen["bob"]) == 1
    assert seen["alice"] != seen["bob"]
    # Every call was authorized by its bearer token alone: the API never got a cookie.
    assert app.api.cookies_received == []
