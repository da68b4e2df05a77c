"""Crash and outage (docs/security.md, rules 9 to 11).

- FileStore: writers killed with SIGKILL at random instants, a few hundred times; the
  token file always parses and holds a whole token, the old or the new one. This runs
  ``tests/stores/test_file_store.py``'s crash test (the store's own suite runs it 100
  times) with :data:`KILLS` kills.
- RedisStore: redis-server stopped and restarted during a refresh storm of several
  workers (separate clients and connections sharing one server), the stop landing while
  a refresh is at the token endpoint. Every call fails with a typed ``StoreError``
  within a bounded wait; once the server is back every worker recovers; and no token is
  lost: the rotated refresh token the endpoint issued during the outage is the one the
  next refresh presents (the endpoint refuses, and counts, any spent refresh token).
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs

import anyio
import anyio.to_thread
import pytest

import anyoauth
from anyoauth.stores import token_fingerprint
from anyoauth.testing import ManualClock
from redis_server import RedisServer, redis_executable
from stores import test_file_store as file_store_tests
from stores.test_file_store import Spawn, spawn  # noqa: F401 - the fixture, reused
from support.internals import set_lock_ttl_margin

from .common import NOW, strategy

pytestmark = pytest.mark.anyio

KILLS = 300


def test_file_store_survives_hundreds_of_kill_9(
    tmp_path: Path,
    spawn: Spawn,  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(file_store_tests, "CRASH_KILLS", KILLS)
    file_store_tests.test_writers_killed_at_random_instants_never_leave_a_broken_token(
        tmp_path, spawn
    )


# -- RedisStore: an outage in the middle of a refresh storm ----------------------------------


@pytest.fixture
def persistent_redis() -> Iterator[RedisServer]:
    """A redis-server of its own whose data survives stop() and start()."""
    with tempfile.TemporaryDirectory(prefix="anyoauth-redis-aof-") as directory:
        server = RedisServer(redis_executable(), Path(directory), persistent=True)
        server.start()
        try:
            yield server
        finally:
            server.stop()


class RotatingEndpoint:
    """A token endpoint whose refresh tokens work once (each refresh rotates it); a spent
    one is refused with ``invalid_grant`` and counted: a lost rotation shows there."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module
        self.generation = 0
        self.current = "RT-0"
        self.reused: list[str] = []
        self.refreshed = anyio.Event()
        self.during_refresh: Any = None

    async def __call__(self, request: Any) -> Any:
        presented = parse_qs(request.content.decode())["refresh_token"][0]
        if presented != self.current:
            self.reused.append(presented)
            return self.module.Response(400, json={"error": "invalid_grant"})
        self.generation += 1
        self.current = f"RT-{self.generation}"
        hook, self.during_refresh = self.during_refresh, None
        if hook is not None:
            await hook()  # the outage begins while the answer is on its way
        self.refreshed.set()
        self.refreshed = anyio.Event()
        payload = {
            "access_token": f"AT-{self.generation}",
            "refresh_token": self.current,
            "expires_in": 60,
        }
        return self.module.Response(200, json=payload)


WORKERS = 3
CALLERS = 10
STORE_TIMEOUT = 0.3
TIMEOUT = 1.0


@pytest.fixture
def short_locks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Locks outlive a dead holder by 1 s rather than 15 s, so the test is quick."""
    set_lock_ttl_margin(monkeypatch, 1.0)


@pytest.fixture
async def endpoint_http(http_module: ModuleType) -> AsyncIterator[tuple[RotatingEndpoint, Any]]:
    endpoint = RotatingEndpoint(http_module)
    async with http_module.AsyncClient(transport=http_module.MockTransport(endpoint)) as http:
        yield endpoint, http


@pytest.mark.stack
async def test_redis_restarted_during_a_refresh_storm_loses_no_token(
    persistent_redis: RedisServer,
    endpoint_http: tuple[RotatingEndpoint, Any],
    short_locks: None,
) -> None:
    endpoint, http = endpoint_http
    clock = ManualClock(NOW)
    stores = [
        anyoauth.RedisStore(persistent_redis.url, timeout=STORE_TIMEOUT) for _ in range(WORKERS)
    ]
    clients = [
        anyoauth.Client(
            strategy("https://as.example/token"),
            store,
            http=http,
            clock=clock,
            timeout=TIMEOUT,
            retries=anyoauth.RetryPolicy.none(),
        )
        for store in stores
    ]
    await clients[0].set_token(
        anyoauth.Token(
            access_token="AT-0", refresh_token="RT-0", issued_at=NOW, expires_at=NOW + 60
        )
    )
    store_errors: list[float] = []
    other_errors: list[BaseException] = []
    seen: set[str] = set()
    stop = anyio.Event()

    async def caller(client: anyoauth.Client) -> None:
        while not stop.is_set():
            started = anyio.current_time()
            try:
                with anyio.fail_after(10):  # a bounded wait, or the test fails
                    seen.add((await client.token()).access_token)
            except anyoauth.StoreError:
                store_errors.append(anyio.current_time() - started)
            except anyoauth.OAuthError as exc:
                other_errors.append(exc)
            await anyio.sleep(0.002)

    async def expire_and_wait_for_refresh() -> None:
        refreshed = endpoint.refreshed
        clock.now += 61
        with anyio.fail_after(10):
            await refreshed.wait()

    async def outage() -> None:
        await anyio.to_thread.run_sync(persistent_redis.stop)

    try:
        async with anyio.create_task_group() as tg:
            for client in clients:
                for _ in range(CALLERS):
                    tg.start_soon(caller, client)
            for _ in range(3):  # the storm: every expiry, one refresh for every worker
                await expire_and_wait_for_refresh()
            assert not store_errors

            # Redis goes down while a refresh is at the token endpoint: the rotated
            # refresh token cannot be stored now.
            endpoint.during_refresh = outage
            await expire_and_wait_for_refresh()
            with anyio.fail_after(10):
                while len(store_errors) < 20:  # noqa: ASYNC110 - polling the callers' tally
                    await anyio.sleep(0.01)
            issued_in_outage = endpoint.current
            await anyio.to_thread.run_sync(persistent_redis.start)

            # Recovery: every worker gets the token issued during the outage, then the
            # storm goes on, each refresh presenting the latest refresh token.
            with anyio.fail_after(10):
                while f"AT-{endpoint.generation}" not in seen:  # noqa: ASYNC110 - as above
                    await anyio.sleep(0.01)
            for _ in range(2):
                await expire_and_wait_for_refresh()
            stop.set()
    finally:
        for store in stores:
            await store.aclose()
    assert other_errors == []  # never LoginRequired: nothing was lost
    assert endpoint.reused == []  # no spent refresh token was ever presented
    assert issued_in_outage in {f"RT-{g}" for g in range(endpoint.generation + 1)}
    assert endpoint.generation == 6
    assert store_errors
    assert max(store_errors) < 5.0  # typed, and bounded
    async with anyoauth.RedisStore(persistent_redis.url) as store:
        stored = await store.get_token(clients[0].token_key)
    assert stored is not None
    assert stored.refresh_token == endpoint.current
    assert token_fingerprint(stored) == token_fingerprint(
        anyoauth.Token(
            access_token=f"AT-{endpoint.generation}", refresh_token=endpoint.current, issued_at=0
        )
    )
