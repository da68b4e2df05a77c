"""Token events against the emulator's generic server: each kind (login started,
completed and failed; token issued, refreshed, rotated, refused, revoked, forgotten),
one event per single-flight renewal, the ``async for`` stream and its overflow, and
listeners that fail or hang without breaking the flow."""

from __future__ import annotations

import logging
from typing import Any

import anyio
import pytest

import anyoauth
from anyoauth import (
    Client,
    ClientCredentials,
    DeviceCode,
    EventsDropped,
    LoginCompleted,
    LoginFailed,
    LoginStarted,
    RefreshFailed,
    RefreshTokenRotated,
    TokenEvent,
    TokenForgotten,
    TokenIssued,
    TokenRefreshed,
    TokenRevoked,
    event_fingerprint,
)
from anyoauth.testing import ManualClock, ProviderEmulator
from support.internals import events_module

from .helpers import EMULATED_SECRET, login, metadata, web_app

pytestmark = pytest.mark.anyio


def kinds(events: list[TokenEvent]) -> list[type[TokenEvent]]:
    return [type(event) for event in events]


async def test_a_login_emits_started_issued_and_completed(http: Any, clock: ManualClock) -> None:
    seen: list[TokenEvent] = []
    strategy = await web_app(http, scope="openid profile")
    async with Client(strategy, http=http, clock=clock, on_event=seen.append) as client:
        token = await login(client, http)
    assert kinds(seen) == [LoginStarted, TokenIssued, LoginCompleted]
    started, issued, completed = seen
    assert isinstance(started, LoginStarted)
    assert started.flow == "redirect"
    assert isinstance(issued, TokenIssued)
    assert issued.grant_type == "authorization_code"
    assert issued.fingerprint == event_fingerprint(token.access_token)
    assert issued.expires_at == token.expires_at
    assert issued.scopes == tuple((token.scope or "").split())
    assert issued.refreshable
    assert isinstance(completed, LoginCompleted)
    assert completed.fingerprint == issued.fingerprint
    for event in seen:
        assert event.namespace == strategy.store_namespace
        assert event.account == "default"
        assert event.strategy == strategy.name
        assert event.at == clock.now


async def test_a_refresh_emits_refreshed_then_rotated_once_the_new_token_is_stored(
    http: Any, clock: ManualClock
) -> None:
    seen: list[TokenEvent] = []
    async with Client(await web_app(http), http=http, clock=clock) as client:
        first = await login(client, http)
        client.subscribe(seen.append)
        renewed = await client.refresh()
        assert await client.store.get_token(client.token_key) == renewed
    assert kinds(seen) == [TokenRefreshed, RefreshTokenRotated]
    refreshed, rotated = seen
    assert isinstance(refreshed, TokenRefreshed)
    assert refreshed.previous_fingerprint == event_fingerprint(first.access_token)
    assert refreshed.fingerprint == event_fingerprint(renewed.access_token)
    assert not refreshed.early
    assert isinstance(rotated, RefreshTokenRotated)
    assert rotated.previous_fingerprint == event_fingerprint(first.refresh_token)
    assert rotated.fingerprint == event_fingerprint(renewed.refresh_token)
    assert rotated.fingerprint != rotated.previous_fingerprint


async def test_an_expired_token_renewed_by_token_emits_refreshed(
    http: Any, clock: ManualClock
) -> None:
    seen: list[TokenEvent] = []
    async with Client(await web_app(http), http=http, clock=clock) as client:
        first = await login(client, http)
        client.subscribe(seen.append)
        assert first.expires_at is not None
        clock.now = first.expires_at + 1
        await client.token()
    assert kinds(seen) == [TokenRefreshed, RefreshTokenRotated]


async def test_an_early_refresh_in_the_background_says_it_was_early(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    seen: list[TokenEvent] = []
    async with Client(await web_app(http), http=http, clock=clock, leeway=60) as client:
        first = await login(client, http)
        client.subscribe(seen.append)
        assert first.expires_at is not None
        clock.now = first.expires_at - 30  # inside the leeway: still valid
        assert await client.token() == first  # handed out while the refresh runs
        await anyio.wait_all_tasks_blocked()
        renewed = await client.token()
        assert renewed != first
        emulator.revoke_all()
        assert renewed.expires_at is not None
        clock.now = renewed.expires_at - 30
        assert await client.token() == renewed  # a failed early refresh keeps it
        await anyio.wait_all_tasks_blocked()
    assert kinds(seen) == [TokenRefreshed, RefreshTokenRotated, RefreshFailed]
    assert isinstance(seen[0], TokenRefreshed)
    assert seen[0].early
    assert isinstance(seen[2], RefreshFailed)
    assert seen[2].early
    assert seen[2].login_required


async def test_one_refresh_across_many_waiters_emits_one_event(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    seen: list[TokenEvent] = []
    async with Client(await web_app(http), http=http, clock=clock) as client:
        await login(client, http)
        client.subscribe(seen.append)

        async with anyio.create_task_group() as group:
            for _ in range(50):
                group.start_soon(client.refresh)
    assert emulator.calls["oauth.token"] == 2
    assert kinds(seen) == [TokenRefreshed, RefreshTokenRotated]


async def test_a_token_a_sibling_refreshed_is_taken_without_an_event(
    http: Any, clock: ManualClock
) -> None:
    store = anyoauth.MemoryStore(clock=clock)
    strategy = await web_app(http)
    a_seen: list[TokenEvent] = []
    b_seen: list[TokenEvent] = []
    a = Client(strategy, store, http=http, clock=clock, on_event=a_seen.append)
    b = Client(strategy, store, http=http, clock=clock, on_event=b_seen.append)
    first = await login(a, http)
    assert await b.token() == first
    a_seen.clear()
    clock.now += 100
    await a.refresh()
    assert first.expires_at is not None
    clock.now = first.expires_at + 1
    await b.token()  # the sibling's new token, from the store
    assert kinds(a_seen) == [TokenRefreshed, RefreshTokenRotated]
    assert b_seen == []


async def test_a_refused_refresh_emits_refresh_failed(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    seen: list[TokenEvent] = []
    async with Client(await web_app(http), http=http, clock=clock) as client:
        await login(client, http)
        client.subscribe(seen.append)
        emulator.revoke_all()
        with pytest.raises(anyoauth.LoginRequired):
            await client.refresh()
    assert kinds(seen) == [RefreshFailed]
    failed = seen[0]
    assert isinstance(failed, RefreshFailed)
    assert failed.error == "LoginRequired"
    assert failed.oauth_error == "invalid_grant"
    assert failed.login_required
    assert not failed.early


async def test_a_denied_login_emits_login_failed(http: Any, clock: ManualClock) -> None:
    seen: list[TokenEvent] = []
    async with Client(await web_app(http), http=http, clock=clock, on_event=seen.append) as client:
        with pytest.raises(anyoauth.AuthorizationDenied):
            await login(client, http, decision="deny")
        with pytest.raises(anyoauth.StateMismatch):
            await client.complete("http://127.0.0.1:8123/callback?code=c&state=" + "x" * 43)
    assert kinds(seen) == [LoginStarted, LoginFailed, LoginFailed]
    denied, unknown = seen[1], seen[2]
    assert isinstance(denied, LoginFailed)
    assert denied.error == "AuthorizationDenied"
    assert denied.oauth_error == "access_denied"
    assert isinstance(unknown, LoginFailed)
    assert unknown.error == "StateMismatch"


async def test_a_device_login_emits_its_events(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    seen: list[TokenEvent] = []
    strategy = DeviceCode.from_metadata(await metadata(http), client_id="tv", scope="read")

    def approve(device: anyoauth.DeviceAuthorization) -> None:
        emulator.approve_device(device.user_code)

    async with Client(strategy, http=http, clock=clock, on_event=seen.append) as client:
        token = await client.device_login(approve)
    assert kinds(seen) == [LoginStarted, TokenIssued, LoginCompleted]
    assert isinstance(seen[0], LoginStarted)
    assert seen[0].flow == "device"
    assert isinstance(seen[1], TokenIssued)
    assert seen[1].grant_type == "urn:ietf:params:oauth:grant-type:device_code"
    assert seen[1].fingerprint == event_fingerprint(token.access_token)
    assert isinstance(seen[2], LoginCompleted)
    assert seen[2].flow == "device"


async def test_a_denied_device_login_emits_login_failed(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    seen: list[TokenEvent] = []
    strategy = DeviceCode.from_metadata(await metadata(http), client_id="tv")

    def deny(device: anyoauth.DeviceAuthorization) -> None:
        emulator.approve_device(device.user_code, allow=False)

    async with Client(strategy, http=http, clock=clock, on_event=seen.append) as client:
        with pytest.raises(anyoauth.AuthorizationDenied):
            await client.device_login(deny)
    assert kinds(seen) == [LoginStarted, LoginFailed]
    assert isinstance(seen[1], LoginFailed)
    assert seen[1].flow == "device"


async def test_client_credentials_tokens_are_issued_not_refreshed(
    http: Any, clock: ManualClock
) -> None:
    seen: list[TokenEvent] = []
    strategy = ClientCredentials.from_metadata(
        await metadata(http), client_id="service", client_secret=EMULATED_SECRET
    )
    async with Client(strategy, http=http, clock=clock, on_event=seen.append) as client:
        first = await client.token()
        assert first.expires_at is not None
        clock.now = first.expires_at + 1
        await client.token()
    assert kinds(seen) == [TokenIssued, TokenIssued]
    assert all(isinstance(e, TokenIssued) and e.grant_type == "client_credentials" for e in seen)
    assert seen[0].refreshable is False  # type: ignore[attr-defined]


async def test_revoke_and_forget_emit_their_events(http: Any, clock: ManualClock) -> None:
    seen: list[TokenEvent] = []
    async with Client(await web_app(http), http=http, clock=clock) as client:
        token = await login(client, http)
        client.subscribe(seen.append)
        await client.revoke()
        await login(client, http)
        await client.forget()
    assert kinds(seen) == [
        TokenRevoked,
        LoginStarted,
        TokenIssued,
        LoginCompleted,
        TokenForgotten,
    ]
    revoked = seen[0]
    assert isinstance(revoked, TokenRevoked)
    assert revoked.fingerprint == event_fingerprint(token.access_token)


async def test_unsubscribe_stops_delivery(http: Any, clock: ManualClock) -> None:
    seen: list[TokenEvent] = []
    async with Client(await web_app(http), http=http, clock=clock) as client:
        unsubscribe = client.subscribe(seen.append)
        await login(client, http)
        unsubscribe()
        unsubscribe()  # twice is harmless
        await client.refresh()
    assert kinds(seen) == [LoginStarted, TokenIssued, LoginCompleted]


# -- the event stream ---------------------------------------------------------------------


async def test_events_are_read_with_async_for(http: Any, clock: ManualClock) -> None:
    async with Client(await web_app(http), http=http, clock=clock) as client:
        stream = client.events()
        read: list[TokenEvent] = []

        async def reader() -> None:
            async for event in stream:
                read.append(event)

        async with anyio.create_task_group() as group:
            group.start_soon(reader)
            await login(client, http)
            await client.refresh()
            await anyio.wait_all_tasks_blocked()
            stream.close()
    assert kinds(read) == [
        LoginStarted,
        TokenIssued,
        LoginCompleted,
        TokenRefreshed,
        RefreshTokenRotated,
    ]


async def test_a_full_stream_drops_its_oldest_events_and_says_how_many(
    http: Any, clock: ManualClock
) -> None:
    async with Client(await web_app(http), http=http, clock=clock) as client:
        async with client.events(buffer=2) as stream:
            await login(client, http)  # three events into a buffer of two
            first = await stream.__anext__()
            assert isinstance(first, EventsDropped)
            assert first.count == 1
            expected: list[type[TokenEvent]] = [TokenIssued, LoginCompleted]
            assert kinds([await stream.__anext__(), await stream.__anext__()]) == expected
        assert [event async for event in stream] == []  # closed: iteration ends
    with pytest.raises(ValueError, match="at least one"):
        client.events(buffer=0)


async def test_a_stream_nobody_holds_stops_receiving(http: Any, clock: ManualClock) -> None:
    async with Client(await web_app(http), http=http, clock=clock) as client:
        client.events()  # dropped at once
        assert not client._events.active
        await login(client, http)


# -- listeners that fail or hang ------------------------------------------------------------


async def test_a_raising_listener_is_logged_and_the_flow_carries_on(
    http: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[TokenEvent] = []

    def broken(event: TokenEvent) -> None:
        raise RuntimeError("listener bug")

    async def broken_async(event: TokenEvent) -> None:
        raise RuntimeError("async listener bug")

    client = Client(await web_app(http), http=http, clock=clock, on_event=broken)
    client.subscribe(broken_async)
    client.subscribe(seen.append)
    with caplog.at_level(logging.WARNING, logger="anyoauth"):
        token = await login(client, http)
        assert await client.refresh() != token
    assert kinds(seen) == [
        LoginStarted,
        TokenIssued,
        LoginCompleted,
        TokenRefreshed,
        RefreshTokenRotated,
    ]
    failures = [r for r in caplog.records if "event listener" in r.getMessage()]
    assert len(failures) == 10  # two listeners, five events


async def test_a_slow_async_listener_runs_beside_an_entered_client(
    http: Any, clock: ManualClock
) -> None:
    release = anyio.Event()
    handled: list[TokenEvent] = []

    async def slow(event: TokenEvent) -> None:
        await release.wait()
        handled.append(event)

    async with Client(await web_app(http), http=http, clock=clock, on_event=slow) as client:
        with anyio.fail_after(5):
            await login(client, http)
            await client.refresh()
        assert handled == []
        release.set()
        await anyio.wait_all_tasks_blocked()
        assert kinds(handled) == [
            LoginStarted,
            TokenIssued,
            LoginCompleted,
            TokenRefreshed,
            RefreshTokenRotated,
        ]


async def test_a_hanging_async_listener_is_cut_off_outside_async_with(
    http: Any, clock: ManualClock, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(events_module, "ASYNC_LISTENER_TIMEOUT", 0.05)

    async def hangs(event: TokenEvent) -> None:
        await anyio.sleep_forever()

    client = Client(await web_app(http), http=http, clock=clock, on_event=hangs)
    with caplog.at_level(logging.WARNING, logger="anyoauth"), anyio.fail_after(5):
        await login(client, http)
    assert await client.token()
    assert any("took longer" in r.getMessage() for r in caplog.records)
    await client.aclose()


async def test_a_listener_cannot_change_an_event(http: Any, clock: ManualClock) -> None:
    seen: list[TokenEvent] = []

    def tamper(event: TokenEvent) -> None:
        event.namespace = "elsewhere"  # type: ignore[misc]

    client = Client(await web_app(http), http=http, clock=clock, on_event=tamper)
    client.subscribe(seen.append)
    await login(client, http)
    assert {e.namespace for e in seen} == {client.strategy.store_namespace}
    await client.aclose()
