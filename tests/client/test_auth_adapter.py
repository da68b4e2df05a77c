"""``Client.auth()``: the httpx/httpx2 Auth that puts the bearer token on a request,
refreshes it before sending or once after a 401, and sends a body twice only when it
must."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
import pytest

import anyoauth
from anyoauth.testing import ManualClock

from .helpers import API, SECRET, Server, logged_in, standard

pytestmark = pytest.mark.anyio


async def test_auth_attaches_the_bearer_without_token_requests(
    server_http: Any, http_module: ModuleType, server: Server, clock: ManualClock
) -> None:
    client = await logged_in(server_http, clock)
    server.valid.add("AT-0")
    auth = client.auth()
    assert isinstance(auth, http_module.Auth)
    for _ in range(5):
        response = await server_http.get(API, auth=auth)
        assert response.json() == {"ok": True}
    assert server.api_requests == ["Bearer AT-0"] * 5
    assert server.token_requests == []


async def test_auth_refreshes_once_and_retries_once_on_401(
    server_http: Any, server: Server, clock: ManualClock
) -> None:
    client = await logged_in(server_http, clock)  # AT-0 is not valid at the API: it was revoked
    response = await server_http.get(API, auth=client.auth())
    assert response.status_code == 200
    assert server.api_requests == ["Bearer AT-0", "Bearer AT-1"]
    assert len(server.token_requests) == 1


async def test_auth_gives_up_after_one_retry(
    server_http: Any, server: Server, clock: ManualClock
) -> None:
    client = await logged_in(server_http, clock)
    server.valid.add("nothing")  # no token the server issues is accepted by the API
    server.issue = lambda: {"access_token": "AT-X", "refresh_token": "RT-X", "expires_in": 60}  # type: ignore[method-assign]
    response = await server_http.get(API, auth=client.auth())
    assert response.status_code == 401
    assert len(server.api_requests) == 2
    assert len(server.token_requests) == 1


async def test_auth_refreshes_an_expired_token_before_sending(
    server_http: Any, server: Server, clock: ManualClock
) -> None:
    client = await logged_in(server_http, clock)
    clock.now += 301
    response = await server_http.get(API, auth=client.auth())
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
    server_http: Any, server: Server, clock: ManualClock
) -> None:
    client = await logged_in(server_http, clock)
    server.valid.add("AT-0")
    response = await server_http.post(API, content=b"payload", auth=client.auth())
    assert response.status_code == 200
    assert json.loads(response.content) == {"ok": True}
    assert len(server.api_requests) == 1
