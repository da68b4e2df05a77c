"""Constants, strategies and servers the client tests share (their fixtures are in
``conftest.py``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs

import anyio
import anyio.abc
import anyio.lowlevel

import anyoauth
from anyoauth import AuthorizationCode, Client, discover
from anyoauth.providers import BankOfGeorgia, Teamwork
from anyoauth.testing import ManualClock, browse
from support.endpoints import ScriptedEndpoint

# -- the emulator's generic server (the ``http`` fixture) -------------------------------------

BASE = "https://as.example"
"""The emulated server's issuer and base URL."""
LOOPBACK_REDIRECT = "http://127.0.0.1:8123/callback"
EMULATED_SECRET = "client-secret-SENTINEL-0123456789abcdef"
"""The secret of the emulator's "web" and "service" clients."""
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


async def metadata(http: Any) -> anyoauth.ServerMetadata:
    """The emulated server's metadata, discovered."""
    return await discover(BASE, http=http)


async def web_app(http: Any, **settings: Any) -> AuthorizationCode:
    """The confidential "web" client, configured from the emulator's metadata."""
    values: dict[str, Any] = {
        "client_id": "web",
        "client_secret": EMULATED_SECRET,
        "redirect_uri": LOOPBACK_REDIRECT,
    }
    values.update(settings)
    return AuthorizationCode.from_metadata(await metadata(http), **values)


async def login(client: Client, http: Any, decision: str = "allow") -> anyoauth.Token:
    """Log ``client`` in, the emulator's consent page answered with ``decision``."""
    start = await client.begin()
    return await client.complete(await browse(http, start.url, decision=decision))


# -- scripted endpoints (the ``routed_http`` fixture) -----------------------------------------

SECRET = "s3cret-SENTINEL-value"
REDIRECT = "https://app.example/callback"


def use(routed_http: Any, endpoint: ScriptedEndpoint) -> ScriptedEndpoint:
    """Send every request of ``routed_http`` to ``endpoint``."""
    routed_http.route["handler"] = endpoint
    return endpoint


def bog() -> anyoauth.Strategy:
    """A Bank of Georgia client (client credentials)."""
    return BankOfGeorgia("bog-client", SECRET, redirect_uri="https://app.example/bog")


def teamwork() -> anyoauth.Strategy:
    """A Teamwork app (JSON code exchange)."""
    return Teamwork("tw-client", SECRET, REDIRECT)


# -- a token endpoint and bearer API (the ``server_http`` fixture) ----------------------------

TOKEN_URL = "https://idp.example/token"
API = "https://api.example/data"


class Server:
    """A scripted token endpoint (refresh-token grant with rotation) and a bearer API.

    ``gate`` holds every token answer until it is set; ``fail`` makes the token
    endpoint answer with that status and error.
    """

    def __init__(self, module: ModuleType, clock: ManualClock) -> None:
        self.module = module
        self.clock = clock
        self.token_requests: list[dict[str, list[str]]] = []
        self.api_requests: list[str] = []
        self.generation = 0
        self.valid: set[str] = set()
        self.gate: anyio.Event | None = None
        self.fail: tuple[int, str] | None = None
        self.rotate = True
        self.on_request: Callable[[], Any] | None = None

    def issue(self) -> dict[str, Any]:
        """The next token answer (a new access token, and refresh token if rotating)."""
        self.generation += 1
        access = f"AT-{self.generation}"
        self.valid.add(access)
        payload: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": 300,
        }
        if self.rotate:
            payload["refresh_token"] = f"RT-{self.generation}"
        return payload

    async def __call__(self, request: Any) -> Any:
        if str(request.url) == API:
            header = request.headers.get("authorization", "")
            self.api_requests.append(header)
            ok = header.startswith("Bearer ") and header[7:] in self.valid
            return self.module.Response(200 if ok else 401, json={"ok": ok})
        self.token_requests.append(parse_qs(request.content.decode()))
        if self.on_request is not None:
            await self.on_request()
        if self.gate is not None:
            await self.gate.wait()
        await anyio.lowlevel.checkpoint()
        if self.fail is not None:
            status, error = self.fail
            return self.module.Response(status, json={"error": error})
        return self.module.Response(200, json=self.issue())


def standard() -> anyoauth.Strategy:
    """A confidential client of :class:`Server`."""
    return anyoauth.Strategy(
        client_id="cid",
        client_secret=SECRET,
        authorization_endpoint="https://idp.example/authorize",
        token_endpoint=TOKEN_URL,
        redirect_uri="https://app.example/cb",
    )


def held_token(clock: ManualClock, generation: int = 0, expires_in: float = 300) -> anyoauth.Token:
    """The token of generation ``generation``, issued now."""
    return anyoauth.Token(
        access_token=f"AT-{generation}",
        issued_at=clock.now,
        expires_at=clock.now + expires_in,
        refresh_token=f"RT-{generation}",
    )


async def logged_in(
    http: Any, clock: ManualClock, *, store: anyoauth.Store | None = None, **kwargs: Any
) -> anyoauth.Client:
    """A client of :func:`standard` holding :func:`held_token`."""
    client = anyoauth.Client(standard(), store=store, http=http, clock=clock, **kwargs)
    await client.set_token(held_token(clock))
    return client


# -- handlers written in the test (``mock``) and a real loopback server ----------------------

TOKEN_ENDPOINT = BASE + "/token"
REVOKE = BASE + "/revoke"
LONG_SECRET = "s" * 40


def form(request: Any) -> dict[str, str]:
    """The form parameters of ``request``, one value each."""
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


def answer(module: ModuleType, payload: Any, status: int = 200) -> Any:
    """A JSON response of ``module``."""
    return module.Response(
        status, content=json.dumps(payload).encode(), headers={"content-type": "application/json"}
    )


def mock(module: ModuleType, handler: Callable[[Any], Any]) -> Any:
    """An HTTP client of ``module`` whose requests go to ``handler``."""
    return module.AsyncClient(transport=module.MockTransport(handler))


def code_strategy(token_endpoint: str = TOKEN_ENDPOINT) -> anyoauth.AuthorizationCode:
    """A confidential code-flow client with a revocation endpoint."""
    return anyoauth.AuthorizationCode(
        client_id="web",
        client_secret=LONG_SECRET,
        authorization_endpoint=BASE + "/auth",
        token_endpoint=token_endpoint,
        redirect_uri="http://127.0.0.1:8123/cb",
        revocation_endpoint=REVOKE,
    )


@asynccontextmanager
async def slow_server(delay: float, handle: Callable[[bytes], bytes]) -> AsyncIterator[str]:
    """A loopback HTTP server answering ``handle(body)`` ``delay`` seconds after a request."""

    async def serve(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            raw = b""
            while b"\r\n\r\n" not in raw:
                raw += await stream.receive(65536)
            head, _, rest = raw.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            while len(rest) < length:
                rest += await stream.receive(65536)
            await anyio.sleep(delay)
            await stream.send(handle(rest))

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, serve)
        try:
            yield f"http://127.0.0.1:{port}/token"
        finally:
            tg.cancel_scope.cancel()


def http_answer(status: bytes, body: bytes) -> bytes:
    """An HTTP/1.1 response with a JSON ``body``, closing the connection."""
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body) + body
    )
