"""RedisStore against a real redis-server: the store contract on asyncio (redis-py) and trio
(the anyio RESP transport), TTLs, lock ownership, several stores and processes, a web login
split over worker processes, and failures that must surface as StoreError."""

from __future__ import annotations

import gc
import itertools
import json
import os
import random
import subprocess
import sys
import textwrap
import urllib.parse
import warnings
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import pytest
import redis
import redis.asyncio
from anyio.streams.buffered import BufferedByteReceiveStream

import anyoauth
from anyoauth._redis_store import TransportName
from anyoauth.providers import Teamwork
from anyoauth.sansio import pending_key
from anyoauth.stores import RedisStore, dump_token, token_fingerprint
from anyoauth.testing import TEAMWORK_LOGIN_PATH, ProviderEmulator, browse, check_store
from redis_server import RedisServer, free_port

from .contract import EVERY_STORE_RULE, LEASE_RULE, make_pending, make_token

pytestmark = pytest.mark.anyio

NOW = 1_700_000_000.0
REDIS_PY_ON_TRIO = "redis-py's asyncio client cannot run on trio"
REDIS_RULES = (*EVERY_STORE_RULE, LEASE_RULE)
"""RedisStore keeps every store rule, and its lock is a lease (``SET NX PX``)."""


class AsyncioOnly:
    """Mixin: the class's tests run on asyncio only (see ``asyncio_only_because``)."""

    asyncio_only_because = ""

    @pytest.fixture
    def anyio_backend(self) -> str:
        return "asyncio"


def redis_stores(url_or_client: Any, **options: Any) -> Callable[[], RedisStore]:
    """A factory of RedisStores on one server, each under a key prefix of its own."""
    count = itertools.count()
    return lambda: RedisStore(url_or_client, prefix=f"contract-{next(count)}:", **options)


def redis_names(server: RedisServer) -> Callable[[RedisStore], Awaitable[list[bytes]]]:
    """Every key ``server`` holds under a store's prefix."""

    async def names(store: RedisStore) -> list[bytes]:
        with server.client() as r:
            return list(r.scan_iter(match=store.prefix + "*"))

    return names


async def check_redis_rule(
    server: RedisServer, rule: str, url_or_client: Any, **options: Any
) -> None:
    await check_store(
        redis_stores(url_or_client, **options),
        rules=[rule],
        list_names=redis_names(server),
        lock_expires=True,
    )


@pytest.mark.parametrize("rule", REDIS_RULES)
async def test_redis_store_from_a_url_keeps_the_store_rule(
    fresh_redis: RedisServer, rule: str
) -> None:
    """redis-py's asyncio client on asyncio, the anyio transport on trio."""
    await check_redis_rule(fresh_redis, rule, fresh_redis.url)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # on trio it is the test above
@pytest.mark.parametrize("rule", REDIS_RULES)
async def test_the_anyio_transport_on_asyncio_keeps_the_store_rule(
    fresh_redis: RedisServer, rule: str
) -> None:
    await check_redis_rule(fresh_redis, rule, fresh_redis.url, transport="anyio")


# -- what lands in Redis ------------------------------------------------------------------


async def test_keys_hold_no_secret(fresh_redis: RedisServer) -> None:
    token = make_token("AT-SENTINEL", "RT-SENTINEL", id_token="ID-SENTINEL")
    state = "STATE-SENTINEL-" + "s" * 30
    flow = anyoauth.PendingFlow(
        state=state,
        binding="teamwork:cid",
        created_at=NOW,
        expires_at=4_000_000_000.0,
        code_verifier="VERIFIER-SENTINEL-" + "v" * 40,
    )
    async with RedisStore(fresh_redis.url) as store:
        await store.set_token("token:teamwork:cid:default", token)
        await store.put_pending("pending:" + pending_key(state), flow)
        async with store.lock("lock:token:teamwork:cid:default", ttl=30, wait=1):
            with fresh_redis.client() as r:
                keys = list(r.scan_iter(match="*"))
                values = r.hgetall(b"anyoauth:token:teamwork:cid:default")
    assert len(keys) == 3
    assert all(key.startswith(b"anyoauth:") for key in keys)
    assert not [key for key in keys if b"SENTINEL" in key]
    assert set(values) == {b"v", b"fp"}
    assert values[b"fp"] == token_fingerprint(token).encode()


async def test_ttls_follow_expiry(fresh_redis: RedisServer) -> None:
    async with RedisStore(fresh_redis.url, clock=lambda: NOW) as store:
        await store.put_pending("p", make_pending(expires_at=NOW + 600))
        await store.put_pending("p-late", make_pending(expires_at=NOW - 10_000))
        await store.set_token("refreshable", make_token(refresh="RT"))
        await store.set_token("short", make_token(refresh=None))  # expires at NOW + 300.25
        await store.set_token("permanent", anyoauth.Token(access_token="x", issued_at=NOW))
        stale = anyoauth.Token(access_token="y", issued_at=NOW - 20_000, expires_at=NOW - 10_000)
        await store.set_token("stale", stale)
        # A rotation to a refreshable token drops the TTL; back to short-lived sets it.
        await store.set_token("rotated", make_token("AT-1", refresh=None))
        assert await store.replace_token("rotated", make_token("AT-1", None), make_token("AT-2"))
        with fresh_redis.client() as r:

            def pttl(key: str) -> int:
                return int(r.pttl("anyoauth:" + key))

            assert 900_000 - 2000 < pttl("p") <= 900_000
            assert 0 < pttl("p-late") <= 1000
            assert pttl("refreshable") == -1
            assert 600_250 - 2000 < pttl("short") <= 600_250
            assert pttl("permanent") == -1
            assert 0 < pttl("stale") <= 1000
            assert pttl("rotated") == -1
            assert await store.replace_token(
                "rotated", make_token("AT-2"), make_token("AT-3", None)
            )
            assert 600_250 - 2000 < pttl("rotated") <= 600_250


# -- locks ----------------------------------------------------------------------------------


async def test_an_expired_holder_does_not_release_the_next_holders_lock(
    fresh_redis: RedisServer,
) -> None:
    async with RedisStore(fresh_redis.url) as store:
        second_holds, first_left = anyio.Event(), anyio.Event()

        async def first() -> None:
            async with store.lock("lock:x", ttl=0.1, wait=1):
                await second_holds.wait()  # the second holder got it once our ttl ran out
            first_left.set()

        async def second() -> None:
            async with store.lock("lock:x", ttl=30, wait=5):
                second_holds.set()
                await first_left.wait()
                with fresh_redis.client() as r:
                    assert r.get("anyoauth:lock:x") is not None
                with pytest.raises(anyoauth.StoreError):
                    async with store.lock("lock:x", ttl=30, wait=0.05):
                        pytest.fail("two holders at once")

        async with anyio.create_task_group() as tg:
            tg.start_soon(first)
            await anyio.sleep(0.01)
            tg.start_soon(second)
        with fresh_redis.client() as r:
            assert r.get("anyoauth:lock:x") is None


async def test_a_dead_holders_lock_expires_after_its_ttl(fresh_redis: RedisServer) -> None:
    with fresh_redis.client() as r:
        r.set("anyoauth:lock:y", "a-crashed-worker", px=200)
    async with RedisStore(fresh_redis.url) as store:
        started = anyio.current_time()
        async with store.lock("lock:y", ttl=30, wait=5):
            assert anyio.current_time() - started >= 0.1


async def test_a_cancelled_holder_releases_the_lock(fresh_redis: RedisServer) -> None:
    async with RedisStore(fresh_redis.url) as store:
        with anyio.move_on_after(0.05):
            async with store.lock("lock:z", ttl=30, wait=1):
                await anyio.sleep_forever()
        with fresh_redis.client() as r:
            assert r.get("anyoauth:lock:z") is None


# -- several stores, several processes ------------------------------------------------------


async def test_two_stores_see_each_others_writes(fresh_redis: RedisServer) -> None:
    async with RedisStore(fresh_redis.url) as one, RedisStore(fresh_redis.url) as two:
        await one.set_token("k", make_token("AT-1"))
        assert await two.get_token("k") == make_token("AT-1")
        assert await two.replace_token("k", make_token("AT-1"), make_token("AT-2", "RT-2"))
        assert await one.replace_token("k", make_token("AT-1"), make_token("AT-3")) is False
        await one.put_pending("pending:p", make_pending())
        assert await two.take_pending("pending:p") == make_pending()
        assert await one.take_pending("pending:p") is None
        async with one.lock("lock:k", ttl=30, wait=1):
            with pytest.raises(anyoauth.StoreError):
                async with two.lock("lock:k", ttl=30, wait=0.05):
                    pytest.fail("two holders at once")
        async with two.lock("lock:k", ttl=30, wait=1):
            pass
        await two.delete_token("k")
        assert await one.get_token("k") is None


RACE_CHILD = textwrap.dedent(
    """
    import sys

    import anyio
    import anyio.to_thread

    import anyoauth
    from anyoauth.stores import RedisStore, load_token


    async def main(url, action, key, expected, name):
        async with RedisStore(url) as store:
            await store.get_token("warm-up")  # connected before the start signal
            print("ready", flush=True)
            await anyio.to_thread.run_sync(sys.stdin.readline)
            if action == "take":
                won = await store.take_pending(key) is not None
            else:
                new = anyoauth.Token(
                    access_token="AT-" + name, refresh_token="RT-" + name, issued_at=1.0
                )
                won = await store.replace_token(key, load_token(expected), new)
            print("won" if won else "lost", flush=True)


    anyio.run(main, *sys.argv[2:], backend=sys.argv[1])
    """
)

WORKERS = 8


async def _read_line(stream: BufferedByteReceiveStream) -> str:
    return (await stream.receive_until(b"\n", 64 * 1024)).decode()


async def _stderr_of(process: anyio.abc.Process) -> str:
    assert process.stderr is not None
    chunks = []
    with anyio.move_on_after(2):
        try:
            while True:
                chunks.append(await process.stderr.receive())
        except anyio.EndOfStream:
            pass
    return b"".join(chunks).decode(errors="replace")[-3000:]


async def _race(url: str, *args: str) -> list[str]:
    """Start WORKERS processes (alternately asyncio and trio), release them at once,
    return what each printed."""
    async with AsyncExitStack() as stack:
        processes = []
        for i in range(WORKERS):
            backend = ("asyncio", "trio")[i % 2]
            command = [sys.executable, "-c", RACE_CHILD, backend, url, *args, str(i)]
            process = await anyio.open_process(command)
            await stack.enter_async_context(process)
            assert process.stdout is not None
            processes.append((process, BufferedByteReceiveStream(process.stdout)))
        try:
            with anyio.fail_after(15):
                for _, stdout in processes:
                    assert await _read_line(stdout) == "ready"
                for process, _ in processes:
                    assert process.stdin is not None
                    await process.stdin.send(b"go\n")
                results = [await _read_line(stdout) for _, stdout in processes]
                for process, _ in processes:
                    assert await process.wait() == 0
        except Exception:
            errors = [await _stderr_of(process) for process, _ in processes]
            raise AssertionError("a worker failed:\n" + "\n".join(errors)) from None
    return results


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # the workers run both backends
async def test_processes_racing_to_take_a_pending_flow_let_exactly_one_win(
    fresh_redis: RedisServer,
) -> None:
    async with RedisStore(fresh_redis.url) as store:
        await store.put_pending("pending:race", make_pending())
        results = await _race(fresh_redis.url, "take", "pending:race", "")
        assert sorted(results) == ["lost"] * (WORKERS - 1) + ["won"]
        assert await store.take_pending("pending:race") is None


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # the workers run both backends
async def test_processes_racing_to_replace_a_token_let_exactly_one_win(
    fresh_redis: RedisServer,
) -> None:
    old = make_token("AT-old", "RT-old")
    async with RedisStore(fresh_redis.url) as store:
        await store.set_token("token:race", old)
        results = await _race(fresh_redis.url, "replace", "token:race", dump_token(old).decode())
        assert results.count("won") == 1
        winner = str(results.index("won"))
        stored = await store.get_token("token:race")
        assert stored is not None
        assert (stored.access_token, stored.refresh_token) == (f"AT-{winner}", f"RT-{winner}")


# -- a web login across worker processes -----------------------------------------------------

TW_ID, TW_SECRET, TW_REDIRECT = "tw-app", "tw-secret-SENTINEL", "https://app.example/cb"

LOGIN_CHILD = textwrap.dedent(
    """
    import json
    import sys

    import anyio

    import anyoauth
    from anyoauth.stores import RedisStore, token_fingerprint
    from anyoauth.providers import Teamwork
    from anyoauth.testing import ProviderEmulator


    async def main(redis_url, base, app, step, url=""):
        client_id, secret, redirect = json.loads(app)
        endpoints = ProviderEmulator().endpoints_teamwork(base)
        strategy = Teamwork(client_id, secret, redirect, **endpoints)
        async with RedisStore(redis_url) as store, anyoauth.Client(strategy, store) as client:
            if step == "begin":
                print((await client.begin()).url)
                return
            try:
                token = await client.complete(url)
            except anyoauth.OAuthError as exc:
                print(json.dumps({"error": type(exc).__name__}))
            else:
                installation = token.extra["installation"]
                print(json.dumps({"fingerprint": token_fingerprint(token),
                                  "api": installation["apiEndPoint"]}))


    anyio.run(main, *sys.argv[2:], backend=sys.argv[1])
    """
)


async def _worker(backend: str, redis_url: str, base: str, *args: str) -> str:
    app = json.dumps([TW_ID, TW_SECRET, TW_REDIRECT])
    command = [sys.executable, "-c", LOGIN_CHILD, backend, redis_url, base, app, *args]
    with anyio.fail_after(15):
        done = await anyio.run_process(command, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    return str(done.stdout.decode().strip())


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # the workers run both backends
async def test_a_login_begun_in_one_process_completes_in_another(
    fresh_redis: RedisServer, http_client: Any
) -> None:
    emulator = ProviderEmulator()
    emulator.add_teamwork_app(TW_ID, TW_SECRET, redirect_uris=[TW_REDIRECT])
    async with emulator.serve() as base, RedisStore(fresh_redis.url) as store:
        start_url = await _worker("asyncio", fresh_redis.url, base, "begin")
        assert start_url.startswith(base + TEAMWORK_LOGIN_PATH)
        landed = await browse(http_client, start_url)
        assert landed.startswith(TW_REDIRECT + "?")

        result = json.loads(await _worker("trio", fresh_redis.url, base, "complete", landed))
        assert result["api"] == base + "/"
        strategy = Teamwork(TW_ID, TW_SECRET, TW_REDIRECT, **emulator.endpoints_teamwork(base))
        token_key = anyoauth.Client(strategy, store).token_key
        stored = await store.get_token(token_key)
        assert stored is not None
        assert token_fingerprint(stored) == result["fingerprint"]
        assert emulator.is_valid_token(stored.access_token)

        replay = json.loads(await _worker("asyncio", fresh_redis.url, base, "complete", landed))
        assert replay == {"error": "StateMismatch"}
        assert emulator.calls["teamwork.token"] == 1


# -- failures -------------------------------------------------------------------------------


def transports(anyio_backend: str) -> list[TransportName]:
    """Every transport that runs on this backend."""
    return ["redis-py", "anyio"] if anyio_backend == "asyncio" else ["anyio"]


async def test_unreachable_redis_raises_store_error_quickly(anyio_backend: str) -> None:
    url = f"redis://someone:PASSWORD-SENTINEL@127.0.0.1:{free_port()}/0"
    for transport in transports(anyio_backend):
        started = anyio.current_time()
        errors = []
        async with RedisStore(url, timeout=2, transport=transport) as store:
            assert "PASSWORD-SENTINEL" not in repr(store)
            with pytest.raises(anyoauth.StoreError) as caught:
                await store.get_token("k")
            errors.append(caught.value)
            with pytest.raises(anyoauth.StoreError) as caught:
                await store.put_pending("pending:p", make_pending())
            errors.append(caught.value)
            with pytest.raises(anyoauth.StoreError) as caught:
                async with store.lock("lock:k", ttl=30, wait=5):
                    pytest.fail("locked without a server")
            errors.append(caught.value)
        assert anyio.current_time() - started < 1.5, transport
        for error in errors:
            assert "PASSWORD-SENTINEL" not in str(error)
            assert f"redis://127.0.0.1:{url.rsplit(':', 1)[1]}" in str(error)
            assert error.__cause__ is None


async def test_a_hung_server_times_out_with_store_error(
    fresh_redis: RedisServer, anyio_backend: str
) -> None:
    for transport in transports(anyio_backend):
        async with RedisStore(fresh_redis.url, timeout=0.2, transport=transport) as store:
            await store.set_token("k", make_token())
            fresh_redis.pause()
            try:
                started = anyio.current_time()
                with pytest.raises(anyoauth.StoreError, match="no answer"):
                    await store.get_token("k")
                assert anyio.current_time() - started < 1.5
            finally:
                fresh_redis.resume()
            assert await store.get_token("k") == make_token()


async def test_commands_cut_short_by_cancellation_leak_no_connection(
    fresh_redis: RedisServer, anyio_backend: str
) -> None:
    chance = random.Random(7)
    for transport in transports(anyio_backend):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            async with RedisStore(fresh_redis.url, transport=transport) as store:

                async def worker(i: int) -> None:
                    for j in range(20):
                        with anyio.move_on_after(chance.uniform(0, 0.01)):
                            token = make_token(f"AT-{i}-{j}")
                            await store.set_token(f"k{i}", token)
                            assert await store.get_token(f"k{i}") == token
                            async with store.lock(f"lock:{i % 3}", ttl=5, wait=5):
                                await anyio.lowlevel.checkpoint()

                async with anyio.create_task_group() as tg:
                    for i in range(30):
                        tg.start_soon(worker, i)
                await store.set_token("after", make_token())
                assert await store.get_token("after") == make_token()
            gc.collect()
        assert [str(w.message) for w in caught if w.category is ResourceWarning] == []


async def test_store_reconnects_after_a_server_restart(
    fresh_redis: RedisServer, anyio_backend: str
) -> None:
    for transport in transports(anyio_backend):
        async with RedisStore(fresh_redis.url, timeout=2, transport=transport) as store:
            await store.set_token("k", make_token())
            fresh_redis.stop()
            fresh_redis.start()
            # Its pooled connection died with the old server: the store reconnects unseen.
            assert await store.get_token("k") is None
            await store.set_token("k", make_token())
            fresh_redis.stop()
            with pytest.raises(anyoauth.StoreError):
                await store.get_token("k")
            fresh_redis.start()
            assert await store.get_token("k") is None
            await store.set_token("k", make_token())
            assert await store.get_token("k") == make_token()


async def test_credentials_database_and_unix_socket_from_urls(fresh_redis: RedisServer) -> None:
    user, password = "anyoauth-test", "p@ss:w/rd SENTINEL"
    with fresh_redis.client() as r:
        r.acl_setuser(
            user, enabled=True, passwords=["+" + password], keys=["*"], categories=["+@all"]
        )
    try:
        authority = f"{user}:{urllib.parse.quote(password, safe='')}@127.0.0.1:{fresh_redis.port}"
        async with RedisStore(f"redis://{authority}/3") as store:
            assert "SENTINEL" not in repr(store)
            assert repr(store) == (
                f"<RedisStore redis://127.0.0.1:{fresh_redis.port}/3 prefix='anyoauth:'>"
            )
            await store.set_token("k", make_token())
        with fresh_redis.client(db=3) as r:
            assert r.exists("anyoauth:k") == 1
        with fresh_redis.client() as r:
            assert r.exists("anyoauth:k") == 0

        wrong = f"redis://{user}:WRONG-SENTINEL@127.0.0.1:{fresh_redis.port}/0"
        async with RedisStore(wrong) as store:
            with pytest.raises(anyoauth.StoreError) as caught:
                await store.get_token("k")
            assert "SENTINEL" not in str(caught.value)

        async with RedisStore(fresh_redis.unix_url, prefix="app1:") as store:
            await store.set_token("k", make_token())
            assert await store.get_token("k") == make_token()
        with fresh_redis.client() as r:
            assert r.exists("app1:k") == 1
    finally:
        with fresh_redis.client() as r:
            r.acl_deluser(user)


async def test_tls_from_a_rediss_url(
    fresh_redis: RedisServer, anyio_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if fresh_redis.tls_url is None or fresh_redis.ca_file is None:
        pytest.skip("openssl is not installed: no certificate for the TLS test")
    for transport in transports(anyio_backend):
        # Not trusted yet: the certificate is self-signed.
        async with RedisStore(fresh_redis.tls_url, transport=transport, timeout=2) as store:
            with pytest.raises(anyoauth.StoreError):
                await store.get_token("k")
        with monkeypatch.context() as patch:
            patch.setenv("SSL_CERT_FILE", fresh_redis.ca_file)
            async with RedisStore(fresh_redis.tls_url, transport=transport) as store:
                await store.set_token(transport, make_token())
                assert await store.get_token(transport) == make_token()
    with fresh_redis.client() as r:
        assert r.exists("anyoauth:anyio") == 1


async def test_scripts_the_server_forgot_are_sent_again(
    fresh_redis: RedisServer, anyio_backend: str
) -> None:
    for transport in transports(anyio_backend):
        async with RedisStore(fresh_redis.url, transport=transport) as store:
            with fresh_redis.client() as r:
                r.script_flush()
            await store.set_token("k", make_token())  # EVALSHA: NOSCRIPT, then EVAL
            with fresh_redis.client() as r:
                r.script_flush()
            assert await store.replace_token("k", make_token(), make_token("AT-2"))
            async with store.lock("lock:k", ttl=30, wait=1):
                with fresh_redis.client() as r:
                    r.script_flush()
            with fresh_redis.client() as r:
                assert r.exists("anyoauth:lock:k") == 0


async def test_unreadable_values_raise_store_error(fresh_redis: RedisServer) -> None:
    with fresh_redis.client() as r:
        r.hset("anyoauth:token:bad", mapping={"v": "{not json", "fp": "x"})
        r.set("anyoauth:pending:bad", b"\xff\xfe")
        r.set("anyoauth:token:wrong-type", "a string, not a hash")
    async with RedisStore(fresh_redis.url) as store:
        with pytest.raises(anyoauth.StoreError, match="unreadable"):
            await store.get_token("token:bad")
        with pytest.raises(anyoauth.StoreError, match="unreadable"):
            await store.take_pending("pending:bad")
        with pytest.raises(anyoauth.StoreError, match="WRONGTYPE"):
            await store.get_token("token:wrong-type")
        with pytest.raises(anyoauth.StoreError, match="WRONGTYPE"):
            await store.replace_token("token:wrong-type", None, make_token())


async def test_a_closed_store_refuses_work(fresh_redis: RedisServer) -> None:
    store = RedisStore(fresh_redis.url)
    await store.set_token("k", make_token())
    await store.aclose()
    await store.aclose()
    with pytest.raises(anyoauth.StoreError, match="closed"):
        await store.get_token("k")


# -- a user's redis-py client ---------------------------------------------------------------


class TestUserClient(AsyncioOnly):
    asyncio_only_because = REDIS_PY_ON_TRIO

    @pytest.mark.parametrize("rule", REDIS_RULES)
    async def test_redis_store_given_a_client_keeps_the_store_rule(
        self, fresh_redis: RedisServer, rule: str
    ) -> None:
        client = redis.asyncio.Redis(host="127.0.0.1", port=fresh_redis.port)
        try:
            await check_redis_rule(fresh_redis, rule, client)
        finally:
            await client.aclose()

    async def test_the_store_never_closes_a_given_client(self, fresh_redis: RedisServer) -> None:
        client = redis.asyncio.Redis(host="127.0.0.1", port=fresh_redis.port, db=2)
        try:
            async with RedisStore(client, prefix="x:") as store:
                await store.set_token("k", make_token())
                assert "client=Redis(127.0.0.1:" in repr(store)
            assert await client.ping()
            assert await client.exists("x:k") == 1
        finally:
            await client.aclose()

    async def test_a_client_decoding_responses_works_too(self, fresh_redis: RedisServer) -> None:
        client = redis.asyncio.Redis(host="127.0.0.1", port=fresh_redis.port, decode_responses=True)
        try:
            store = RedisStore(client)
            await store.set_token("k", make_token())
            assert await store.get_token("k") == make_token()
            assert await store.replace_token("k", make_token(), make_token("AT-2"))
            await store.put_pending("p", make_pending())
            assert await store.take_pending("p") == make_pending()
        finally:
            await client.aclose()


# -- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:6379/0",
        "redis://127.0.0.1:notaport/0",
        "redis://127.0.0.1:6379/zero",
        "redis://127.0.0.1:6379/0?ssl_cert_reqs=none",
        "unix://",
    ],
)
def test_bad_urls_are_configuration_errors(url: str) -> None:
    with pytest.raises(anyoauth.ConfigurationError) as caught:
        RedisStore(url.replace("127.0.0.1", "user:PW-SENTINEL@127.0.0.1"))
    assert "PW-SENTINEL" not in str(caught.value)


def test_a_synchronous_client_is_refused() -> None:
    with (
        redis.Redis(host="127.0.0.1", port=free_port()) as client,
        pytest.raises(anyoauth.ConfigurationError, match=r"redis\.asyncio"),
    ):
        RedisStore(client)


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_redis_py_on_trio_is_a_configuration_error() -> None:
    client = redis.asyncio.Redis(host="127.0.0.1", port=free_port())  # never connects
    with pytest.raises(anyoauth.ConfigurationError, match="only runs on asyncio"):
        await RedisStore(client).get_token("k")
    with pytest.raises(anyoauth.ConfigurationError, match="only runs on asyncio"):
        await RedisStore("redis://127.0.0.1/0", transport="redis-py").get_token("k")


@pytest.mark.parametrize(
    ("module", "transport"), [("hiredis", "anyio"), ("redis", "redis-py"), ("redis", "auto")]
)
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_missing_package_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, module: str, transport: Any
) -> None:
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(anyoauth.ConfigurationError, match=r"pip install 'anyoauth\[redis\]'"):
        await RedisStore("redis://127.0.0.1/0", transport=transport).get_token("k")


def test_importing_anyoauth_imports_neither_redis_nor_hiredis() -> None:
    code = (
        "import sys, anyoauth, anyoauth._redis_store\n"
        "assert not {'redis', 'hiredis'} & set(sys.modules), 'imported eagerly'\n"
    )
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], capture_output=True, check=False, env=dict(os.environ)
    )
    assert done.returncode == 0, done.stderr.decode()
