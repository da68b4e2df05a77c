"""The web recipes in docs/recipes, run for real: two worker processes per app sharing a
real redis-server, the provider emulator on a loopback port, and ``browse`` as the user.

The test plays the load balancer: every login starts in one worker (``/login``) and
its callback is sent to the other, which proves the pending login (and then the
token) is shared through ``RedisStore``. Sending the callback to a worker at another
address also shows the apps rebuild the callback URL from the registered redirect URI,
as they must behind a reverse proxy. Apps run on asyncio, and on trio where the
framework supports it; one Starlette deployment mixes an asyncio and a trio worker.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from anyoauth.testing import ProviderEmulator, browse
from redis_server import RedisServer, free_port

from .servers import START_SECONDS, AppProcess, Command, aiohttp_web, hypercorn, uvicorn

pytestmark = pytest.mark.anyio

CLIENT_SECRET = "recipe-secret-" + "s" * 24
SUBJECT_KEYS = {"sub", "client_id", "scope"}

VARIANTS: dict[str, tuple[Command, Command]] = {
    "starlette-asyncio": (uvicorn("starlette_app"), uvicorn("starlette_app")),
    "starlette-trio": (hypercorn("starlette_app", "trio"), hypercorn("starlette_app", "trio")),
    "starlette-asyncio+trio": (uvicorn("starlette_app"), hypercorn("starlette_app", "trio")),
    "fastapi-asyncio": (uvicorn("fastapi_app"), uvicorn("fastapi_app")),
    "fastapi-trio": (hypercorn("fastapi_app", "trio"), hypercorn("fastapi_app", "trio")),
    "aiohttp-asyncio": (aiohttp_web("aiohttp_app"), aiohttp_web("aiohttp_app")),
    "quart-asyncio": (hypercorn("quart_app", "asyncio"), hypercorn("quart_app", "asyncio")),
    "quart-trio": (hypercorn("quart_trio_app", "trio"), hypercorn("quart_trio_app", "trio")),
    "litestar-asyncio": (uvicorn("litestar_app"), uvicorn("litestar_app")),
    "litestar-trio": (hypercorn("litestar_app", "trio"), hypercorn("litestar_app", "trio")),
    "django-asyncio": (uvicorn("django_app"), hypercorn("django_app", "asyncio")),
}


@dataclass
class Deployment:
    """One recipe app: two workers; the registered redirect URI points at the first."""

    name: str
    emulator: ProviderEmulator
    issuer: str
    client_id: str
    redirect_uri: str
    workers: list[AppProcess]

    @property
    def first(self) -> str:
        return self.workers[0].url

    @property
    def second(self) -> str:
        return self.workers[1].url

    def register(self, secret: str = CLIENT_SECRET) -> None:
        self.emulator.add_oauth_client(
            self.client_id, client_secret=secret, redirect_uris=[self.redirect_uri]
        )


@pytest.fixture(scope="module", params=list(VARIANTS))
def app(
    request: pytest.FixtureRequest,
    provider: tuple[ProviderEmulator, str],
    redis_server: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Deployment]:
    name: str = request.param
    emulator, base_url = provider
    ports = [free_port(), free_port()]
    while ports[1] == ports[0]:
        ports[1] = free_port()
    deployment = Deployment(
        name, emulator, base_url, f"recipe-{name}", f"http://127.0.0.1:{ports[0]}/callback", []
    )
    deployment.register()
    env = {
        "OAUTH_ISSUER": base_url,
        "OAUTH_CLIENT_ID": deployment.client_id,
        "OAUTH_CLIENT_SECRET": CLIENT_SECRET,
        "OAUTH_REDIRECT_URI": deployment.redirect_uri,
        "REDIS_URL": redis_server.url,
    }
    logs = tmp_path_factory.mktemp(name)
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
    assert not left_behind, f"processes left behind by {left_behind}"
    for worker in deployment.workers:  # every error was answered, none escaped
        assert "Traceback" not in worker.log.read_text(errors="replace"), worker.output()


def on(worker_url: str, url: str) -> str:
    """``url`` (the registered callback) sent to another worker, as a load balancer would."""
    parts = urlsplit(url)
    return f"{worker_url}{parts.path}?{parts.query}"


@pytest.fixture
async def browser(fresh_redis: RedisServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(follow_redirects=False, timeout=10) as client:
        yield client


async def start_login(browser: httpx.AsyncClient, worker_url: str) -> str:
    """``GET /login`` on one worker; returns the authorization URL it redirects to."""
    response = await browser.get(worker_url + "/login")
    assert response.status_code == 303, response.text
    assert response.headers["cache-control"] == "no-store"
    assert "oauth_state" in response.cookies
    return response.headers["location"]


async def test_login_in_one_worker_completes_in_the_other(
    app: Deployment, browser: httpx.AsyncClient
) -> None:
    tokens_before = app.emulator.calls["oauth.token"]
    authorize = await start_login(browser, app.first)
    assert authorize.startswith(app.emulator.endpoints_oauth(app.issuer)["authorization_endpoint"])
    callback = await browse(browser, authorize)
    assert callback.startswith(app.redirect_uri + "?")  # where the provider sent the user
    state = parse_qs(urlsplit(callback).query)["state"][0]

    done = await browser.get(on(app.second, callback))  # the other worker completes it
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/"
    assert "session" in done.cookies
    assert app.emulator.calls["oauth.token"] == tokens_before + 1

    for worker in (app.first, app.second):  # the token reached every worker
        me = await browser.get(worker + "/me")
        assert me.status_code == 200, me.text
        profile = me.json()
        assert set(profile) == SUBJECT_KEYS
        assert profile["client_id"] == app.client_id
    assert (await browser.get(app.first + "/")).text.count("Log out") == 1

    # The same callback again, from this browser (its login cookie is spent) ...
    again = await browser.get(on(app.first, callback))
    assert again.status_code == 400
    assert "start again" in again.text
    # ... and with the login cookie still there: the state is single-use in every worker.
    async with httpx.AsyncClient(cookies={"oauth_state": state}) as replayer:
        for worker in (app.first, app.second):
            replayed = await replayer.get(on(worker, callback))
            assert replayed.status_code == 400
            assert "start again" in replayed.text
    assert app.emulator.calls["oauth.token"] == tokens_before + 1

    out = await browser.post(app.second + "/logout")
    assert out.status_code == 303
    assert (await browser.get(app.first + "/me")).status_code == 401


async def test_denied_login_is_403(app: Deployment, browser: httpx.AsyncClient) -> None:
    callback = await browse(browser, await start_login(browser, app.first), decision="deny")
    assert "error=access_denied" in callback
    denied = await browser.get(on(app.second, callback))
    assert denied.status_code == 403
    assert "not granted" in denied.text
    assert "access_denied" not in denied.text  # the provider's words are not shown
    assert denied.headers["referrer-policy"] == "no-referrer"
    assert (await browser.get(app.second + "/me")).status_code == 401


async def test_callback_in_another_browser_is_400(
    app: Deployment, browser: httpx.AsyncClient
) -> None:
    """Login CSRF: a callback URL opened in a browser that did not start that login is
    refused, and does not spend the login of the browser that did."""
    callback = await browse(browser, await start_login(browser, app.first))
    async with httpx.AsyncClient() as victim:
        forced = await victim.get(on(app.second, callback))
        assert forced.status_code == 400
        assert "start again" in forced.text
        assert "session" not in forced.cookies
    done = await browser.get(on(app.second, callback))
    assert done.status_code == 303
    assert (await browser.get(app.first + "/me")).status_code == 200


async def test_token_endpoint_error_is_502(app: Deployment, browser: httpx.AsyncClient) -> None:
    callback = await browse(browser, await start_login(browser, app.first))
    app.register(secret="another-secret-" + "x" * 24)  # the provider now refuses our secret
    try:
        failed = await browser.get(on(app.second, callback))
    finally:
        app.register()
    assert failed.status_code == 502
    assert "invalid_client" not in failed.text
    assert CLIENT_SECRET not in failed.text
    assert (await browser.get(app.second + "/me")).status_code == 401


async def test_me_needs_a_login(app: Deployment, browser: httpx.AsyncClient) -> None:
    anonymous = await browser.get(app.first + "/me")
    assert anonymous.status_code == 401
    assert 'href="/login"' in anonymous.text
    async with httpx.AsyncClient(cookies={"session": "made-up"}) as forger:
        assert (await forger.get(app.second + "/me")).status_code == 401
    assert (await browser.get(app.first + "/")).status_code == 200


def test_every_web_recipe_is_tested() -> None:
    modules = {path.stem for path in Path(__file__).parents[2].glob("docs/recipes/*_app.py")}
    tested = {
        part.removesuffix("_app:app").removesuffix("_app:init_app")
        for commands in VARIANTS.values()
        for command in commands
        for part in command(0)
        if part.endswith((":app", ":init_app"))
    }
    assert {m.removesuffix("_app") for m in modules} == tested
