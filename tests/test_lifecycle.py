"""Token lifecycle: single-flight refresh, early refresh, rotation, invalid_grant, 401s, Auth."""

from __future__ import annotations

import json
import logging
import threading
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
from anyoauth.providers import BankOfGeorgia, Teamwork
from support.internals import EARLY_RETRY_DELAY

pytestmark = pytest.mark.anyio

SECRET = "s3cret-SENTINEL-value"
TOKEN_URL = "https://idp.example/token"
API = "https://api.example/data"


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Server:
    """A scripted token endpoint (refresh-token grant with rotation) and a bearer API.

    ``gate`` holds every token answer until it is set; ``fail`` makes the token
    endpoint answer with that status and error.
    """

    def __init__(self, module: ModuleType, clock: Clock) -> None:
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
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def server(http_module: ModuleType, clock: Clock) -> Server:
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


def held_token(clock: Clock, generation: int = 0, expires_in: float = 300) -> anyoauth.Token:
    return anyoauth.Token(
        access_token=f"AT-{generation}",
        issued_at=clock.now,
        expires_at=clock.now + expires_in,
        refresh_token=f"RT-{generation}",
    )


async def logged_in(
    http: Any, clock: Clock, *, store: anyoauth.Store | None = None, **kwargs: Any
) -> anyoauth.Client:
    client = anyoauth.Client(standard(), store=store, http=http, clock=clock, **kwargs)
    await client.set_token(held_token(clock))
    return client


# -- single flight -------------------------------------------------------------------


async def test_expired_token_many_callers_one_refresh(
    http: Any, server: Server, clock: Clock
) -> None:
    client = await logged_in(http, clock)
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
    http: Any, server: Server, clock: Clock
) -> None:
    # Without retries: one 503 is the answer every waiter gets (tests/hardening covers retries).
    client = await logged_in(http, clock, retries=anyoauth.RetryPolicy.none())
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
    http: Any, server: Server, clock: Clock
) -> None:
    store = anyoauth.MemoryStore(clock=clock)
    clients = [await logged_in(http, clock, store=store) for _ in range(5)]
    clock.now += 301
    async with anyio.create_task_group() as tg:
        for client in clients:
            for _ in range(50):
                tg.start_soon(client.token)
    assert len(server.token_requests) == 1


async def test_callers_from_other_threads_share_one_refresh(
    http: Any, server: Server, clock: Clock
) -> None:
    client = await logged_in(http, clock)
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
    http: Any, http_module: ModuleType, clock: Clock
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


async def _in_scope(scope: anyio.CancelScope, func: Callable[[], Any]) -> None:
    with scope:
        await func()


# -- early (proactive) refresh ----------------------------------------------------------


async def test_early_refresh_serves_the_valid_token_meanwhile(
    http: Any, server: Server, clock: Clock
) -> None:
    client = await logged_in(http, clock, leeway=30)
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
    http: Any, server: Server, clock: Clock
) -> None:
    server.gate = anyio.Event()
    async with await logged_in(http, clock, leeway=30) as client:
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
    http: Any, server: Server, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    client = await logged_in(http, clock, leeway=30)
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
    http: Any, server: Server, clock: Clock
) -> None:
    client = anyoauth.Client(
        Teamwork("cid", SECRET, "https://app.example/cb"), http=http, clock=clock
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


# -- rotation --------------------------------------------------------------------------


async def test_rotated_refresh_token_is_stored_before_use(
    http: Any, server: Server, clock: Clock
) -> None:
    client = await logged_in(http, clock)
    clock.now += 301
    token = await client.token()
    stored = await client.store.get_token(client.token_key)
    assert token == stored
    assert token.refresh_token == "RT-1"
    clock.now += 301
    await client.token()
    assert server.token_requests[1]["refresh_token"] == ["RT-1"]


async def test_a_response_without_refresh_token_keeps_the_old_one(
    http: Any, server: Server, clock: Clock
) -> None:
    client = await logged_in(http, clock)
    server.rotate = False
    clock.now += 301
    token = await client.token()
    assert (token.access_token, token.refresh_token) == ("AT-1", "RT-0")
    assert await client.store.get_token(client.token_key) == token


async def test_a_cancelled_refresh_still_persists_the_rotated_token(
    http: Any, server: Server, clock: Clock
) -> None:
    client = await logged_in(http, clock)
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
    http: Any, server: Server, clock: Clock
) -> None:
    client = await logged_in(http, clock)
    clock.now += 301
    sibling = held_token(clock, generation=7)

    async def sibling_rotates() -> None:
        # Another process rotated the refresh token first: ours is now spent.
        await client.store.set_token(client.token_key, sibling)

    server.on_request = sibling_rotates
    server.fail = (400, "invalid_grant")
    assert await client.token() == sibling


async def test_invalid_grant_without_a_sibling_means_login_required(
    http: Any, server: Server, clock: Clock
) -> None:
    client = await logged_in(http, clock)
    clock.now += 301
    server.fail = (400, "invalid_grant")
    with pytest.raises(anyoauth.LoginRequired) as raised:
        await client.token()
    assert isinstance(raised.value.__cause__, anyoauth.TokenRequestError)
    assert SECRET not in str(raised.value)


async def test_a_late_writer_does_not_overwrite_a_newer_token(
    http: Any, server: Server, clock: Clock
) -> None:
    client = await logged_in(http, clock)
    clock.now += 301
    newer = held_token(clock, generation=9)

    async def newer_token_lands() -> None:
        await client.store.set_token(client.token_key, newer)

    server.on_request = newer_token_lands
    assert await client.token() == newer
    assert await client.store.get_token(client.token_key) == newer


# -- unknown expiry, 401s and rejected tokens --------------------------------------------


async def test_unknown_expiry_is_used_until_rejected(
    http: Any, server: Server, clock: Clock
) -> None:
    client = anyoauth.Client(standard(), http=http, clock=clock)
    forever = anyoauth.Token(access_token="AT-0", issued_at=clock.now, refresh_token="RT-0")
    await client.set_token(forever)
    clock.now += 10 * 365 * 86400
    assert await client.token() is forever
    renewed = await client.token(rejected=forever)
    assert renewed.access_token == "AT-1"
    assert len(server.token_requests) == 1


async def test_a_rejected_token_without_refresh_is_dropped(
    http: Any, server: Server, clock: Clock
) -> None:
    client = anyoauth.Client(
        Teamwork("cid", SECRET, "https://app.example/cb"), http=http, clock=clock
    )
    revoked = anyoauth.Token(access_token="TW", issued_at=clock.now)
    await client.set_token(revoked)
    with pytest.raises(anyoauth.LoginRequired):
        await client.token(rejected=revoked)
    assert await client.store.get_token(client.token_key) is None
    with pytest.raises(anyoauth.LoginRequired):
        await client.token()


async def test_a_rejected_token_already_replaced_is_not_refreshed_again(
    http: Any, server: Server, clock: Clock
) -> None:
    client = await logged_in(http, clock)
    old = await client.token()
    newer = held_token(clock, generation=5)
    await client.store.set_token(client.token_key, newer)
    assert await client.token(rejected=old) == newer
    assert server.token_requests == []


# -- httpx Auth --------------------------------------------------------------------------


async def test_auth_attaches_the_bearer_without_token_requests(
    http: Any, http_module: ModuleType, server: Server, clock: Clock
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
    http: Any, server: Server, clock: Clock
) -> None:
    client = await logged_in(http, clock)  # AT-0 is not valid at the API: it was revoked
    response = await http.get(API, auth=client.auth())
    assert response.status_code == 200
    assert server.api_requests == ["Bearer AT-0", "Bearer AT-1"]
    assert len(server.token_requests) == 1


async def test_auth_gives_up_after_one_retry(http: Any, server: Server, clock: Clock) -> None:
    client = await logged_in(http, clock)
    server.valid.add("nothing")  # no token the server issues is accepted by the API
    server.issue = lambda: {"access_token": "AT-X", "refresh_token": "RT-X", "expires_in": 60}  # type: ignore[method-assign]
    response = await http.get(API, auth=client.auth())
    assert response.status_code == 401
    assert len(server.api_requests) == 2
    assert len(server.token_requests) == 1


async def test_auth_refreshes_an_expired_token_before_sending(
    http: Any, server: Server, clock: Clock
) -> None:
    client = await logged_in(http, clock)
    clock.now += 301
    response = await http.get(API, auth=client.auth())
    assert response.status_code == 200
    assert server.api_requests == ["Bearer AT-1"]


async def test_auth_matches_the_http_package(http_module: ModuleType, clock: Clock) -> None:
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


async def test_auth_refuses_sync_clients(clock: Clock) -> None:
    import httpx

    client = anyoauth.Client(standard(), clock=clock)

    def use_sync_client() -> None:
        transport = httpx.MockTransport(lambda r: httpx.Response(200))
        with httpx.Client(transport=transport) as sync, pytest.raises(TypeError, match="async"):
            sync.get("https://api.example/", auth=client.auth())

    await anyio.to_thread.run_sync(use_sync_client)
    await client.aclose()


async def test_auth_sends_no_body_twice_without_need(
    http: Any, server: Server, clock: Clock
) -> None:
    client = await logged_in(http, clock)
    server.valid.add("AT-0")
    response = await http.post(API, content=b"payload", auth=client.auth())
    assert response.status_code == 200
    assert json.loads(response.content) == {"ok": True}
    assert len(server.api_requests) == 1


# -- edge cases: slow early refreshes, short-lived tokens, spent refresh tokens ----------


async def test_a_slow_failed_early_refresh_never_returns_an_expired_token(
    http: Any, server: Server, clock: Clock
) -> None:
    client = await logged_in(http, clock, leeway=30)
    clock.now += 299  # 1 s left: inside the leeway
    server.fail = (500, "server_error")

    async def slow_failure() -> None:
        clock.now += 40  # the endpoint takes longer than the token had left

    server.on_request = slow_failure
    with pytest.raises(anyoauth.TokenRequestError):
        await client.token()
    assert len(server.token_requests) == 2  # the early refresh, then the real one


async def test_a_short_lived_token_is_not_refreshed_on_every_call(
    http: Any, server: Server, clock: Clock
) -> None:
    client = anyoauth.Client(standard(), http=http, clock=clock, leeway=30)
    await client.set_token(held_token(clock, expires_in=30))
    for _ in range(5):
        assert (await client.token()).access_token == "AT-0"
    assert server.token_requests == []
    clock.now += 16  # past half its life: refreshed early, once
    assert (await client.token()).access_token == "AT-1"
    assert (await client.token()).access_token == "AT-1"
    assert len(server.token_requests) == 1


async def test_callers_joining_a_failed_background_refresh_see_its_error(
    http: Any, server: Server, clock: Clock
) -> None:
    server.gate = anyio.Event()
    server.fail = (503, "temporarily_unavailable")
    retries = anyoauth.RetryPolicy.none()
    async with await logged_in(http, clock, leeway=30, retries=retries) as client:
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


async def test_a_refused_refresh_token_is_dropped_not_resent(
    http: Any, server: Server, clock: Clock
) -> None:
    client = await logged_in(http, clock)
    clock.now += 301
    server.fail = (400, "invalid_grant")
    for _ in range(3):
        with pytest.raises(anyoauth.LoginRequired):
            await client.token()
    assert len(server.token_requests) == 1
    assert await client.store.get_token(client.token_key) is None
