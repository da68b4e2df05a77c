"""``Client.revoke()`` (RFC 7009) and ``Client.introspect()`` (RFC 7662)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

import anyoauth
from anyoauth import (
    Client,
)
from anyoauth.testing import ManualClock, ProviderEmulator

from .helpers import REVOKE, answer, code_strategy, form, login, mock, web_app

pytestmark = pytest.mark.anyio


async def test_revoke_then_login_required(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    strategy = await web_app(http)
    async with Client(strategy, http=http, clock=clock) as client:
        token = await login(client, http)
        info = await client.introspect()
        assert info.active
        assert info.client_id == "web"
        await client.revoke()
        assert not emulator.is_valid_token(token.access_token)
        with pytest.raises(anyoauth.LoginRequired):
            await client.token()
        assert not (await client.introspect(token)).active
        await client.revoke()  # nothing held: nothing to do


async def test_revoke_needs_an_endpoint(http: Any, clock: ManualClock) -> None:
    strategy = await web_app(http, revocation_endpoint=None, introspection_endpoint=None)
    async with Client(strategy, http=http, clock=clock) as client:
        with pytest.raises(anyoauth.ConfigurationError):
            await client.revoke()
        with pytest.raises(anyoauth.ConfigurationError):
            await client.introspect("x")


async def test_revoke_revokes_the_stored_token_not_a_stale_copy(http_module: ModuleType) -> None:
    clock = ManualClock()
    revoked: list[str] = []

    def handler(request: Any) -> Any:
        if request.url == REVOKE:
            revoked.append(form(request)["token"])
            return http_module.Response(200)
        return answer(http_module, {"access_token": "a2", "refresh_token": "r2", "expires_in": 100})

    store = anyoauth.MemoryStore(clock=clock)
    async with mock(http_module, handler) as http:
        a = anyoauth.Client(code_strategy(), store, http=http, clock=clock)
        b = anyoauth.Client(code_strategy(), store, http=http, clock=clock)
        await a.set_token(
            anyoauth.Token(
                access_token="a1",
                refresh_token="r1",
                issued_at=clock.now,
                expires_at=clock.now + 100,
            )
        )
        clock.now += 200
        assert (await b.token()).refresh_token == "r2"  # b rotates r1 to r2; a holds r1
        await a.revoke()
    # The current (stored) refresh token first, then the stale copy's, then access tokens.
    assert revoked == ["r2", "r1", "a2", "a1"]
    assert await store.get_token(a.token_key) is None


async def test_revoke_sends_each_token_once(http_module: ModuleType) -> None:
    revoked: list[str] = []

    def handler(request: Any) -> Any:
        revoked.append(form(request)["token"])
        return http_module.Response(200)

    async with mock(http_module, handler) as http:
        client = anyoauth.Client(code_strategy(), http=http)
        await client.set_token(anyoauth.Token(access_token="a1", refresh_token="r1", issued_at=0))
        await client.revoke()
    assert revoked == ["r1", "a1"]
