"""``Client.token()`` keeps a token: single-flight refresh (across callers, threads and
clients sharing a store), early refresh, refresh-token rotation, ``invalid_grant``,
tokens without expiry or rejected by the API, a new client-credentials token when the
old one expires, and logging out while a renewal runs."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs

import anyio
import anyio.abc
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
import pytest

import anyoauth
from anyoauth.providers import BankOfGeorgia, Teamwork
from anyoauth.testing import ManualClock
from support.endpoints import ScriptedEndpoint
from support.internals import EARLY_RETRY_DELAY, LOCK_SENDS

from .helpers import (
    BASE,
    LONG_SECRET,
    REVOKE,
    SECRET,
    TOKEN_ENDPOINT,
    Server,
    answer,
    bog,
    code_strategy,
    held_token,
    http_answer,
    logged_in,
    mock,
    slow_server,
    standard,
    use,
)

pytestmark = pytest.mark.anyio


async def _in_scope(scope: anyio.CancelScope, func: Callable[[], Any]) -> None:
    with scope:
        await func()


# -- single flight ---------------------------------------------------------------------


async def test_client_credentials_fetch_and_refetch(
    routed_http: Any, http_module: ModuleType, clock: ManualClock, ok_payload: dict[str, Any]
) -> None:
    endpoint = use(
        routed_http,
        ScriptedEndpoint(http_module, lambda r: http_module.Response(200, json=ok_payload)),
    )
    client = anyoauth.Client(bog(), http=routed_http, clock=clock, leeway=30)
    token = await client.token()
    assert token.extra == {"refresh_expires_in": 0, "not-before-policy": 0, "app_id": "42"}
    assert await client.token() is token
    assert len(endpoint.requests) == 1
    clock.now += 300 - 30
    await client.token()
    assert len(endpoint.requests) == 2
    request = endpoint.requests[0]
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.headers["authorization"].startswith("Basic ")
    form = dict(pair.split("=", 1) for pair in request.content.decode().split("&"))
    assert form["grant_type"] == "client_credentials"
    assert "client_secret" not in form


async def test_concurrent_callers_share_one_request(
    routed_http: Any, http_module: ModuleType, clock: ManualClock, ok_payload: dict[str, Any]
) -> None:
    endpoint = use(
        routed_http,
        ScriptedEndpoint(http_module, lambda r: http_module.Response(200, json=ok_payload)),
    )
    client = anyoauth.Client(bog(), http=routed_http, clock=clock)
    tokens: list[anyoauth.Token] = []

    async def call() -> None:
        tokens.append(await client.token())

    async with anyio.create_task_group() as tg:
        for _ in range(200):
            tg.start_soon(call)
    assert len(endpoint.requests) == 1
    assert len({id(t) for t in tokens}) == 1


async def test_expired_token_many_callers_one_refresh(
    server_http: Any, server: Server, clock: ManualClock
) -> None:
    client = await logged_in(server_http, clock)
    clock.now += 301
    results: list[anyoauth.Token] = []

    async def call() -> None:
        results.append(await client.token())

    async with anyio.create_task_group() as tg:
        for _ in range(1000):
            tg.start_soon(call)
    assert len(server.token_requests) == 1
    assert server.token_requests[0]["grant_type"] == ["refresh_token"]
    assert server.token_requests[0]["refresh_token"] == ["RT-0"]
    assert {t.access_token for t in results} == {"AT-1"}


async def test_a_failed_refresh_reaches_every_waiter_and_keeps_the_store(
    server_http: Any, server: Server, clock: ManualClock
) -> None:
    # Without retries: one 503 is the answer every waiter gets (tests/hardening covers retries).
    client = await logged_in(server_http, clock, retries=anyoauth.RetryPolicy.none())
    original = held_token(clock)
    clock.now += 301
    server.fail = (503, "temporarily_unavailable")
    errors: list[BaseException] = []

    async def call() -> None:
        try:
            await client.token()
        except anyoauth.OAuthError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        for _ in range(100):
            tg.start_soon(call)
    assert len(server.token_requests) == 1
    assert len(errors) == 100
    assert all(isinstance(e, anyoauth.TokenRequestError) for e in errors)
    assert await client.store.get_token(client.token_key) == original


async def test_clients_sharing_a_store_refresh_once(
    server_http: Any, server: Server, clock: ManualClock
) -> None:
    store = anyoauth.MemoryStore(clock=clock)
    clients = [await logged_in(server_http, clock, store=store) for _ in range(5)]
    clock.now += 301
    async with anyio.create_task_group() as tg:
        for client in clients:
            for _ in range(50):
                tg.start_soon(client.token)
    assert len(server.token_requests) == 1


async def test_callers_from_other_threads_share_one_refresh(
    server_http: Any, server: Server, clock: ManualClock
) -> None:
    client = await logged_in(server_http, clock)
    clock.now += 301
    server.gate = anyio.Event()
    seen: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        token = anyio.from_thread.run(client.token)
        with lock:
            seen.append(token.access_token)

    async with anyio.create_task_group() as tg:
        for _ in range(8):
            tg.start_soon(anyio.to_thread.run_sync, worker)
        while not server.token_requests:  # noqa: ASYNC110 - the callers are threads
            await anyio.sleep(0.001)
        await anyio.sleep(0.01)
        server.gate.set()
    assert seen == ["AT-1"] * 8
    assert len(server.token_requests) == 1


async def test_a_cancelled_leader_hands_over_to_a_waiter(
    server_http: Any, http_module: ModuleType, clock: ManualClock
) -> None:
    calls = 0
    release = anyio.Event()

    async def endpoint(request: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            await release.wait()
        return http_module.Response(200, json={"access_token": f"CC-{calls}", "expires_in": 60})

    async with http_module.AsyncClient(transport=http_module.MockTransport(endpoint)) as h:
        client = anyoauth.Client(BankOfGeorgia("cid", SECRET), http=h, clock=clock)
        got: list[str] = []

        async def waiter() -> None:
            got.append((await client.token()).access_token)

        async with anyio.create_task_group() as tg:
            leader_scope = anyio.CancelScope()
            tg.start_soon(_in_scope, leader_scope, client.token)
            await anyio.wait_all_tasks_blocked()
            for _ in range(3):
                tg.start_soon(waiter)
            await anyio.wait_all_tasks_blocked()
            leader_scope.cancel()
        release.set()
    assert got == ["CC-2"] * 3
    assert calls == 2


def _gated_endpoint(http_module: ModuleType, release: anyio.Event) -> Any:
    async def endpoint(request: Any) -> Any:
        await release.wait()
        return http_module.Response(200, json={"access_token": "CC-1", "expires_in": 60})

    return http_module.MockTransport(endpoint)


async def test_many_waiters_are_handed_the_token_over_several_loop_turns(
    http_module: ModuleType, clock: ManualClock
) -> None:
    release = anyio.Event()
    async with http_module.AsyncClient(transport=_gated_endpoint(http_module, release)) as h:
        client = anyoauth.Client(BankOfGeorgia("cid", SECRET), http=h, clock=clock)
        got: list[str] = []
        seen: list[int] = []

        async def waiter() -> None:
            got.append((await client.token()).access_token)

        async def probe() -> None:
            while len(got) < 1000:
                seen.append(len(got))
                await anyio.lowlevel.checkpoint()

        async with anyio.create_task_group() as tg:
            for _ in range(1000):
                tg.start_soon(waiter)
            await anyio.wait_all_tasks_blocked()
            release.set()
            tg.start_soon(probe)
    assert got == ["CC-1"] * 1000
    # Other tasks ran while the waiters were being handed the token, not only after.
    assert any(0 < count < 1000 for count in seen)


async def test_waiters_that_left_do_not_keep_the_token_from_the_others(
    http_module: ModuleType, clock: ManualClock
) -> None:
    release = anyio.Event()
    async with http_module.AsyncClient(transport=_gated_endpoint(http_module, release)) as h:
        client = anyoauth.Client(BankOfGeorgia("cid", SECRET), http=h, clock=clock)
        got: list[str] = []

        async def waiter() -> None:
            got.append((await client.token()).access_token)

        async with anyio.create_task_group() as tg:
            tg.start_soon(client.token)
            await anyio.wait_all_tasks_blocked()
            # Whole waves of waiters give up before the token comes, and some of a later one.
            leaving = [anyio.CancelScope() for _ in range(200)]
            for scope in leaving:
                tg.start_soon(_in_scope, scope, waiter)
            for _ in range(100):
                tg.start_soon(waiter)
            await anyio.wait_all_tasks_blocked()
            for scope in leaving:
                scope.cancel()
            await anyio.wait_all_tasks_blocked()
            release.set()
    assert got == ["CC-1"] * 100


async def test_a_slow_refresh_is_not_resent_and_the_session_kept(
    http_module: ModuleType, default_timeout: float
) -> None:
    valid = {"r1"}
    seen: list[str] = []

    def handle(content: bytes) -> bytes:
        refresh_token = parse_qs(content.decode())["refresh_token"][0]
        seen.append(refresh_token)
        if refresh_token not in valid:
            return http_answer(b"400 Bad Request", b'{"error":"invalid_grant"}')
        valid.discard(refresh_token)
        valid.add("r2")
        return http_answer(
            b"200 OK", b'{"access_token":"a2","refresh_token":"r2","expires_in":100}'
        )

    clock = ManualClock()
    async with (
        slow_server(0.5, handle) as url,
        http_module.AsyncClient(timeout=default_timeout) as http,
    ):
        store = anyoauth.MemoryStore(clock=clock)
        client = anyoauth.Client(code_strategy(url), store, http=http, timeout=30, clock=clock)
        await client.set_token(
            anyoauth.Token(
                access_token="a1",
                refresh_token="r1",
                issued_at=clock.now,
                expires_at=clock.now + 100,
            )
        )
        clock.now += 200
        token = await client.token()
    assert token.refresh_token == "r2"
    assert seen == ["r1"]


async def test_the_store_lock_outlives_every_request_of_a_renewal(
    http_module: ModuleType,
) -> None:
    ttls: list[float] = []
    store = anyoauth.MemoryStore()
    lock = store.lock

    def recording_lock(key: str, *, ttl: float, wait: float) -> Any:
        ttls.append(ttl)
        return lock(key, ttl=ttl, wait=wait)

    store.lock = recording_lock  # type: ignore[method-assign]

    def handler(request: Any) -> Any:
        return answer(http_module, {"access_token": "a", "expires_in": 100})

    strategy = anyoauth.ClientCredentials(
        client_id="svc", client_secret=LONG_SECRET, token_endpoint=TOKEN_ENDPOINT
    )
    async with mock(http_module, handler) as http:
        await anyoauth.Client(strategy, store, http=http, timeout=10).token()
    assert ttls
    assert ttls[0] >= LOCK_SENDS * 10 > 2 * 10


# -- early (proactive) refresh ---------------------------------------------------------


async def test_early_refresh_serves_the_valid_token_meanwhile(
    server_http: Any, server: Server, clock: ManualClock
) -> None:
    client = await logged_in(server_http, clock, leeway=30)
    clock.now += 280  # 20 s left: inside the leeway, still valid
    server.gate = anyio.Event()
    first: list[str] = []

    async def leader() -> None:
        first.append((await client.token()).access_token)

    async with anyio.create_task_group() as tg:
        tg.start_soon(leader)
        await anyio.wait_all_tasks_blocked()
        others = [(await client.token()).access_token for _ in range(20)]
        server.gate.set()
    assert others == ["AT-0"] * 20
    assert first == ["AT-1"]
    assert len(server.token_requests) == 1
    assert (await client.token()).access_token == "AT-1"


async def test_early_refresh_runs_in_the_background_inside_async_with(
    server_http: Any, server: Server, clock: ManualClock
) -> None:
    server.gate = anyio.Event()
    async with await logged_in(server_http, clock, leeway=30) as client:
        clock.now += 280
        assert [(await client.token()).access_token for _ in range(50)] == ["AT-0"] * 50
        await anyio.wait_all_tasks_blocked()
        assert len(server.token_requests) == 1
        server.gate.set()
        await anyio.wait_all_tasks_blocked()
        assert (await client.token()).access_token == "AT-1"
    assert len(server.token_requests) == 1
    stored = await client.store.get_token(client.token_key)
    assert stored is not None
    assert stored.refresh_token == "RT-1"


async def test_a_failed_early_refresh_keeps_the_valid_token(
    server_http: Any, server: Server, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    client = await logged_in(server_http, clock, leeway=30)
    clock.now += 280
    server.fail = (500, "server_error")
    with caplog.at_level(logging.WARNING, logger="anyoauth"):
        assert (await client.token()).access_token == "AT-0"
    assert "keeping the valid token" in caplog.text
    assert len(server.token_requests) == 1
    assert (await client.token()).access_token == "AT-0"  # no retry storm
    assert len(server.token_requests) == 1
    clock.now += EARLY_RETRY_DELAY
    server.fail = None
    assert (await client.token()).access_token == "AT-1"
    assert len(server.token_requests) == 2


async def test_no_early_refresh_without_a_way_to_renew(
    server_http: Any, server: Server, clock: ManualClock
) -> None:
    client = anyoauth.Client(
        Teamwork("cid", SECRET, "https://app.example/cb"), http=server_http, clock=clock
    )
    await client.set_token(
        anyoauth.Token(access_token="TW", issued_at=clock.now, expires_at=clock.now + 60)
    )
    clock.now += 50
    assert (await client.token()).access_token == "TW"
    assert server.token_requests == []
    clock.now += 10
    with pytest.raises(anyoauth.LoginRequired):
        await client.token()


async def test_a_slow_failed_early_refresh_never_returns_an_expired_token(
    server_http: Any, server: Server, clock: ManualClock
) -> None:
    client = await logged_in(server_http, clock, leeway=30)
    clock.now += 299  # 1 s left: inside the leeway
    server.fail = (500, "server_error")

    async def slow_failure() -> None:
        clock.now += 40  # the endpoint takes longer than the token had left

    server.on_request = slow_failure
    with pytest.raises(anyoauth.TokenRequestError):
        await client.token()
    assert len(server.token_requests) == 2  # the early refresh, then the real one


async def test_a_short_lived_token_is_not_refreshed_on_every_call(
    server_http: Any, server: Server, clock: ManualClock
) -> None:
    client = anyoauth.Client(standard(), http=server_http, clock=clock, leeway=30)
    await client.set_token(held_token(clock, expires_in=30))
    for _ in range(5):
        assert (await client.token()).access_token == "AT-0"
    assert server.token_requests == []
    clock.now += 16  # past half its life: refreshed early, once
    assert (await client.token()).access_token == "AT-1"
    assert (await client.token()).access_token == "AT-1"
    assert len(server.token_requests) == 1


async def test_callers_joining_a_failed_background_refresh_see_its_error(
    server_http: Any, server: Server, clock: ManualClock
) -> None:
    server.gate = anyio.Event()
    server.fail = (503, "temporarily_unavailable")
    retries = anyoauth.RetryPolicy.none()
    async with await logged_in(server_http, clock, leeway=30, retries=retries) as client:
        clock.now += 280
        assert (await client.token()).access_token == "AT-0"  # starts the background refresh
        await anyio.wait_all_tasks_blocked()
        clock.now += 30  # now expired: callers wait for the running refresh
        errors: list[BaseException] = []

        async def call() -> None:
            try:
                await client.token()
            except anyoauth.OAuthError as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(call)
            await anyio.wait_all_tasks_blocked()
            server.gate.set()
    assert len(errors) == 3
    assert all(isinstance(e, anyoauth.TokenRequestError) for e in errors)
    assert len(server.token_requests) == 1


# -- rotation --------------------------------------------------------------------------


async def test_rotated_refresh_token_is_stored_before_use(
    server_http: Any, server: Server, clock: ManualClock
) -> None:
    client = await logged_in(server_http, clock)
    clock.now += 301
    token = await client.token()
    stored = await client.store.get_token(client.token_key)
    assert token == stored
    assert token.refresh_token == "RT-1"
    clock.now += 301
    await client.token()
    assert server.token_requests[1]["refresh_token"] == ["RT-1"]


async def test_a_response_without_refresh_token_keeps_the_old_one(
    server_http: Any, server: Server, clock: ManualClock
) -> None:
    client = await logged_in(server_http, clock)
    server.rotate = False
    clock.now += 301
    token = await client.token()
    assert (token.access_token, token.refresh_token) == ("AT-1", "RT-0")
    assert await client.store.get_token(client.token_key) == token


async def test_a_cancelled_refresh_still_persists_the_rotated_token(
    server_http: Any, server: Server, clock: ManualClock
) -> None:
    client = await logged_in(server_http, clock)
    clock.now += 301
    server.gate = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(client.token)
        await anyio.wait_all_tasks_blocked()
        tg.cancel_scope.cancel()
        with anyio.CancelScope(shield=True):
            await anyio.sleep(0.01)
            server.gate.set()
    stored = await client.store.get_token(client.token_key)
    assert stored is not None
    assert stored.refresh_token == "RT-1"  # the server's rotation was not lost


async def test_invalid_grant_rereads_the_store_for_a_sibling_rotation(
    server_http: Any, server: Server, clock: ManualClock
) -> None:
    client = await logged_in(server_http, clock)
    clock.now += 301
    sibling = held_token(clock, generation=7)

    async def sibling_rotates() -> None:
        # Another process rotated the refresh token first: ours is now spent.
        await client.store.set_token(client.token_key, sibling)

    server.on_request = sibling_rotates
    server.fail = (400, "invalid_grant")
    assert await client.token() == sibling


async def test_invalid_grant_without_a_sibling_means_login_required(
    server_http: Any, server: Server, clock: ManualClock
) -> None:
    client = await logged_in(server_http, clock)
    clock.now += 301
    server.fail = (400, "invalid_grant")
    with pytest.raises(anyoauth.LoginRequired) as raised:
        await client.token()
    assert isinstance(raised.value.__cause__, anyoauth.TokenRequestError)
    assert SECRET not in str(raised.value)


async def test_a_late_writer_does_not_overwrite_a_newer_token(
    server_http: Any, server: Server, clock: ManualClock
) -> None:
    client = await logged_in(server_http, clock)
    clock.now += 301
    newer = held_token(clock, generation=9)

    async def newer_token_lands() -> None:
        await client.store.set_token(client.token_key, newer)

    server.on_request = newer_token_lands
    assert await client.token() == newer
    assert await client.store.get_token(client.token_key) == newer


async def test_a_refused_refresh_token_is_dropped_not_resent(
    server_http: Any, server: Server, clock: ManualClock
) -> None:
    client = await logged_in(server_http, clock)
    clock.now += 301
    server.fail = (400, "invalid_grant")
    for _ in range(3):
        with pytest.raises(anyoauth.LoginRequired):
            await client.token()
    assert len(server.token_requests) == 1
    assert await client.store.get_token(client.token_key) is None


async def test_a_key_set_outage_keeps_the_rotated_refresh_token(http_module: ModuleType) -> None:
    from joserfc import jwt
    from joserfc.jwk import KeySet, RSAKey

    old_key = RSAKey.generate_key(2048, parameters={"kid": "old"}, private=True)
    new_key = RSAKey.generate_key(2048, parameters={"kid": "new"}, private=True)
    clock = ManualClock()
    jwks_answers: list[int] = []
    strategy = anyoauth.AuthorizationCode(
        client_id="web",
        client_secret=LONG_SECRET,
        authorization_endpoint=BASE + "/auth",
        token_endpoint=TOKEN_ENDPOINT,
        redirect_uri="http://127.0.0.1:8123/cb",
        issuer=BASE,
        jwks_uri=BASE + "/jwks",
        scope="openid",
    )

    def handler(request: Any) -> Any:
        if str(request.url) == BASE + "/jwks":
            jwks_answers.append(1)
            if len(jwks_answers) == 1:  # the prefetch: only the old key is published
                return answer(http_module, KeySet([old_key]).as_dict(private=False))
            return http_module.Response(500)  # then the key set is down
        claims = {"iss": BASE, "sub": "alice", "aud": "web", "iat": int(clock.now)}
        claims["exp"] = int(clock.now) + 300
        signed = jwt.encode({"alg": "RS256", "kid": "new"}, claims, new_key)
        return answer(
            http_module,
            {"access_token": "a2", "refresh_token": "r2", "expires_in": 100, "id_token": signed},
        )

    store = anyoauth.MemoryStore(clock=clock)
    async with mock(http_module, handler) as http:
        client = anyoauth.Client(strategy, store, http=http, clock=clock)
        held = anyoauth.Token(
            access_token="a1",
            refresh_token="r1",
            issued_at=clock.now,
            expires_at=clock.now + 100,
            id_token_claims={"sub": "alice", "iss": BASE},
        )
        await client.set_token(held)
        clock.now += 200
        token = await client.token()
        stored = await store.get_token(client.token_key)
    assert len(jwks_answers) == 2
    assert token.refresh_token == "r2"
    assert stored is not None
    assert stored.refresh_token == "r2"
    assert "id_token" not in stored.extra
    assert stored.id_token_claims is not None
    assert stored.id_token_claims["sub"] == "alice"


# -- unknown expiry, 401s and rejected tokens ------------------------------------------


async def test_unknown_expiry_is_used_until_rejected(
    server_http: Any, server: Server, clock: ManualClock
) -> None:
    client = anyoauth.Client(standard(), http=server_http, clock=clock)
    forever = anyoauth.Token(access_token="AT-0", issued_at=clock.now, refresh_token="RT-0")
    await client.set_token(forever)
    clock.now += 10 * 365 * 86400
    assert await client.token() is forever
    renewed = await client.token(rejected=forever)
    assert renewed.access_token == "AT-1"
    assert len(server.token_requests) == 1


async def test_a_rejected_token_without_refresh_is_dropped(
    server_http: Any, server: Server, clock: ManualClock
) -> None:
    client = anyoauth.Client(
        Teamwork("cid", SECRET, "https://app.example/cb"), http=server_http, clock=clock
    )
    revoked = anyoauth.Token(access_token="TW", issued_at=clock.now)
    await client.set_token(revoked)
    with pytest.raises(anyoauth.LoginRequired):
        await client.token(rejected=revoked)
    assert await client.store.get_token(client.token_key) is None
    with pytest.raises(anyoauth.LoginRequired):
        await client.token()


async def test_a_rejected_token_already_replaced_is_not_refreshed_again(
    server_http: Any, server: Server, clock: ManualClock
) -> None:
    client = await logged_in(server_http, clock)
    old = await client.token()
    newer = held_token(clock, generation=5)
    await client.store.set_token(client.token_key, newer)
    assert await client.token(rejected=old) == newer
    assert server.token_requests == []


# -- logout and forget while a renewal runs --------------------------------------------


async def test_logout_sticks_while_a_renewal_is_in_flight(http_module: ModuleType) -> None:
    clock = ManualClock()
    arrived, release = anyio.Event(), anyio.Event()
    got: list[anyoauth.Token] = []

    async def handler(request: Any) -> Any:
        if request.url == REVOKE:
            return http_module.Response(200)
        arrived.set()
        await release.wait()
        return answer(http_module, {"access_token": "a2", "expires_in": 100})

    strategy = anyoauth.ClientCredentials(
        client_id="svc",
        client_secret=LONG_SECRET,
        token_endpoint=TOKEN_ENDPOINT,
        revocation_endpoint=REVOKE,
    )
    store = anyoauth.MemoryStore(clock=clock)
    async with mock(http_module, handler) as http:
        client = anyoauth.Client(strategy, store, http=http, clock=clock)
        await client.set_token(
            anyoauth.Token(access_token="a1", issued_at=clock.now, expires_at=clock.now + 100)
        )
        clock.now += 200

        async def renew() -> None:
            got.append(await client.token())

        async with anyio.create_task_group() as tg:
            tg.start_soon(renew)
            await arrived.wait()
            await client.revoke()
            release.set()
    assert [t.access_token for t in got] == ["a2"]  # the caller that asked still gets it
    assert await store.get_token(client.token_key) is None
    assert client._held is None


async def test_forget_waits_for_a_siblings_renewal(http_module: ModuleType) -> None:
    """Another client sharing the store renews meanwhile: the logout waits for its lock,
    so the renewed token cannot be stored after the deletion."""
    clock = ManualClock()
    arrived, release = anyio.Event(), anyio.Event()

    async def handler(request: Any) -> Any:
        arrived.set()
        await release.wait()
        return answer(http_module, {"access_token": "a2", "expires_in": 100})

    strategy = anyoauth.ClientCredentials(
        client_id="svc", client_secret=LONG_SECRET, token_endpoint=TOKEN_ENDPOINT
    )
    store = anyoauth.MemoryStore(clock=clock)
    async with mock(http_module, handler) as http:
        worker = anyoauth.Client(strategy, store, http=http, clock=clock)
        other = anyoauth.Client(strategy, store, http=http, clock=clock)
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.token)
            await arrived.wait()
            tg.start_soon(other.forget)
            await anyio.lowlevel.checkpoint()
            release.set()
    assert await store.get_token(other.token_key) is None
