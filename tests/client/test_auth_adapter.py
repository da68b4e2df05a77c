"""``Client.auth()``: the httpx/httpx2 Auth that puts the bearer token on a request,
refreshes it before sending or once after a 401, and sends a body twice only when it
must."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
import pytest

import anyoauth
from anyoauth.testing import ManualClock

pytestmark = pytest.mark.anyio


SECRET = "s3cret-SENTINEL-value"


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


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def server(http_module: ModuleType, clock: ManualClock) -> Server:
    return Server(http_module, clock)


@pytest.fixture
async def http(http_module: ModuleType, server: Server) -> AsyncIterator[Any]:
    async with http_module.AsyncClient(transport=http_module.MockTransport(server)) as client:
        yield client


def standard() -> anyoauth.Strategy:
    return anyoauth.Strategy(
        client_id="cid",
        client_secret=SECRET,
        authorization_endpoint="https://idp.example/authorize",
        token_endpoint=TOKEN_URL,
        redirect_uri="https://app.example/cb",
    )


def held_token(clock: ManualClock, generation: int = 0, expires_in: float = 300) -> anyoauth.Token:
    return anyoauth.Token(
        access_token=f"AT-{generation}",
        issued_at=clock.now,
        expires_at=clock.now + expires_in,
        refresh_token=f"RT-{generation}",
    )


async def logged_in(
    http: Any, clock: ManualClock, *, store: anyoauth.Store | None = None, **kwargs: Any
) -> anyoauth.Client:
    client = anyoauth.Client(standard(), store=store, http=http, clock=clock, **kwargs)
    await client.set_token(held_token(clock))
    return client


async def test_auth_attaches_the_bearer_without_token_requests(
    http: Any, http_module: ModuleType, server: Server, clock: ManualClock
) -> None:
    client = await logged_in(http, clock)
    server.valid.add("AT-0")
    auth = client.auth()
    assert isinstance(auth, http_module.Auth)
    for _ in range(5):
        response = await http.get(API, auth=auth)
        assert response.json() == {"ok": True}
    assert server.api_requests == ["Bearer AT-0"] * 5
    assert server.token_requests == []


async def test_auth_refreshes_once_and_retries_once_on_401(
    http: Any, server: Server, clock: ManualClock
) -> None:
    client = await logged_in(http, clock)  # AT-0 is not valid at the API: it was revoked
    response = await http.get(API, auth=client.auth())
    assert response.status_code == 200
    assert server.api_requests == ["Bearer AT-0", "Bearer AT-1"]
    assert len(server.token_requests) == 1


async def test_auth_gives_up_after_one_retry(http: Any, server: Server, clock: ManualClock) -> None:
    client = await logged_in(http, clock)
    server.valid.add("nothing")  # no token the server issues is accepted by the API
    server.issue = lambda: {"access_token": "AT-X", "refresh_token": "RT-X", "expires_in": 60}  # type: ignore[method-assign]
    response = await http.get(API, auth=client.auth())
    assert response.status_code == 401
    assert len(server.api_requests) == 2
    assert len(server.token_requests) == 1


async def test_auth_refreshes_an_expired_token_before_sending(
    http: Any, server: Server, clock: ManualClock
) -> None:
    client = await logged_in(http, clock)
    clock.now += 301
    response = await http.get(API, auth=client.auth())
    assert response.status_code == 200
    assert server.api_requests == ["Bearer AT-1"]


async def test_auth_matches_the_http_package(http_module: ModuleType, clock: ManualClock) -> None:
    async with http_module.AsyncClient() as h:
        client = anyoauth.Client(standard(), http=h, clock=clock)
        assert isinstance(client.auth(), http_module.Auth)
        assert type(client.auth()) is type(client.auth())
    import httpx
    import httpx2

    bare = anyoauth.Client(standard(), clock=clock)
    assert isinstance(bare.auth(), httpx.Auth)
    assert isinstance(bare.auth(httpx2), httpx2.Auth)
    assert SECRET not in repr(bare.auth())
    await bare.aclose()


async def test_auth_refuses_sync_clients(clock: ManualClock) -> None:
    import httpx

    client = anyoauth.Client(standard(), clock=clock)

    def use_sync_client() -> None:
        transport = httpx.MockTransport(lambda r: httpx.Response(200))
        with httpx.Client(transport=transport) as sync, pytest.raises(TypeError, match="async"):
            sync.get("https://api.example/", auth=client.auth())

    await anyio.to_thread.run_sync(use_sync_client)
    await client.aclose()


async def test_auth_sends_no_body_twice_without_need(
    http: Any, server: Server, clock: ManualClock
) -> None:
    client = await logged_in(http, clock)
    server.valid.add("AT-0")
    response = await http.post(API, content=b"payload", auth=client.auth())
    assert response.status_code == 200
    assert json.loads(response.content) == {"ok": True}
    assert len(server.api_requests) == 1
