"""``Client.refresh()``: renewing the token on demand through the single-flight renewal."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import anyio
import pytest

import anyoauth
from anyoauth import Client
from anyoauth.testing import ManualClock, ProviderEmulator

from .helpers import EMULATED_SECRET, answer, code_strategy, form, login, metadata, mock, web_app

pytestmark = pytest.mark.anyio


async def test_refresh_renews_a_valid_token_with_its_refresh_token(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    async with Client(await web_app(http), http=http, clock=clock) as client:
        first = await login(client, http)
        renewed = await client.refresh()
        assert renewed.access_token != first.access_token
        assert renewed.refresh_token != first.refresh_token  # the emulator rotates it
        assert emulator.is_valid_token(renewed.access_token)
        assert await client.token() == renewed
        assert await client.store.get_token(client.token_key) == renewed
        assert emulator.calls["oauth.token"] == 2  # the code exchange and the refresh


async def test_concurrent_refreshes_send_one_request(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    async with Client(await web_app(http), http=http, clock=clock) as client:
        first = await login(client, http)
        tokens: list[anyoauth.Token] = []

        async def refresh() -> None:
            tokens.append(await client.refresh())

        async with anyio.create_task_group() as group:
            for _ in range(20):
                group.start_soon(refresh)
    assert emulator.calls["oauth.token"] == 2
    assert len({t.access_token for t in tokens}) == 1
    assert tokens[0].access_token != first.access_token


async def test_clients_sharing_a_store_refresh_once(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    store = anyoauth.MemoryStore(clock=clock)
    strategy = await web_app(http)
    a = Client(strategy, store, http=http, clock=clock)
    b = Client(strategy, store, http=http, clock=clock)
    first = await login(a, http)
    assert await b.token() == first
    results: dict[str, anyoauth.Token] = {}

    async def refresh(name: str, client: Client) -> None:
        results[name] = await client.refresh()

    async with anyio.create_task_group() as group:
        group.start_soon(refresh, "a", a)
        group.start_soon(refresh, "b", b)
    assert emulator.calls["oauth.token"] == 2
    assert results["a"] == results["b"] != first
    # b held the token a renewed: b takes a's token, sends nothing.
    assert await b.refresh() != results["b"]
    assert emulator.calls["oauth.token"] == 3


async def test_refresh_of_client_credentials_makes_a_new_grant(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    strategy = anyoauth.ClientCredentials.from_metadata(
        await metadata(http), client_id="service", client_secret=EMULATED_SECRET
    )
    async with Client(strategy, http=http, clock=clock) as client:
        created = await client.refresh()  # no token yet: a direct grant gets one
        first = await client.token()
        assert first == created
        second = await client.refresh()
        assert second.access_token != first.access_token
        assert emulator.calls["oauth.token"] == 2


async def test_refresh_without_a_token_needs_a_login(http: Any, clock: ManualClock) -> None:
    async with Client(await web_app(http), http=http, clock=clock) as client:
        with pytest.raises(anyoauth.LoginRequired):
            await client.refresh()


async def test_refresh_of_a_token_without_refresh_token_needs_a_login_and_keeps_it(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    async with Client(await web_app(http), http=http, clock=clock) as client:
        token = anyoauth.Token(access_token="at", issued_at=clock.now, expires_at=clock.now + 60)
        await client.set_token(token)
        with pytest.raises(anyoauth.LoginRequired):
            await client.refresh()
        assert await client.token() == token  # still valid: not thrown away
    assert emulator.calls["oauth.token"] == 0


async def test_refused_refresh_needs_a_login(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    async with Client(await web_app(http), http=http, clock=clock) as client:
        await login(client, http)
        emulator.revoke_all()
        with pytest.raises(anyoauth.LoginRequired):
            await client.refresh()
        with pytest.raises(anyoauth.LoginRequired):
            await client.token()


async def test_a_refresh_during_an_early_refresh_joins_it(http_module: ModuleType) -> None:
    clock = ManualClock()
    sent: list[str] = []
    release = anyio.Event()

    async def handler(request: Any) -> Any:
        sent.append(form(request)["refresh_token"])
        await release.wait()
        return answer(http_module, {"access_token": "a2", "refresh_token": "r2", "expires_in": 100})

    async with (
        mock(http_module, handler) as http,
        Client(code_strategy(), http=http, clock=clock) as client,
    ):
        await client.set_token(
            anyoauth.Token(
                access_token="a1",
                refresh_token="r1",
                issued_at=clock.now,
                expires_at=clock.now + 100,
            )
        )
        clock.now += 80  # inside the leeway: token() starts a background refresh
        assert (await client.token()).access_token == "a1"
        await anyio.sleep(0.01)
        assert sent == ["r1"]
        got: list[anyoauth.Token] = []
        with anyio.fail_after(5):
            async with anyio.create_task_group() as group:
                group.start_soon(_refresh_into, client, got)
                await anyio.sleep(0.01)
                release.set()
    assert sent == ["r1"]
    assert got[0].access_token == "a2"


async def _refresh_into(client: Client, got: list[anyoauth.Token]) -> None:
    got.append(await client.refresh())
