"""The rules every :class:`anyoauth.Store` keeps, as a test class each store's tests subclass.

A subclass provides a ``store`` fixture (a fresh, empty store) and is collected
under its own ``Test...`` name; every test below then runs against that store on
asyncio and trio.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest

import anyoauth
from anyoauth._store import token_fingerprint


def make_token(
    access: str = "AT-1", refresh: str | None = "RT-1", **extra: object
) -> anyoauth.Token:
    return anyoauth.Token(
        access_token=access,
        token_type="Bearer",
        issued_at=1_700_000_000.5,
        expires_at=1_700_000_300.25,
        refresh_token=refresh,
        scope="read write",
        extra=extra,
    )


def make_pending(
    state: str = "S" * 43, expires_at: float = 4_000_000_000.0
) -> anyoauth.PendingFlow:
    return anyoauth.PendingFlow(
        state=state,
        binding="teamwork:cid",
        created_at=expires_at - 600,
        expires_at=expires_at,
        code_verifier="V" * 64,
    )


@asynccontextmanager
async def _held_elsewhere(store: anyoauth.Store, key: str) -> AsyncIterator[None]:
    """Hold ``key`` in another task for the body of the ``async with``."""
    acquired, done = anyio.Event(), anyio.Event()

    async def holder() -> None:
        async with store.lock(key, ttl=30, wait=5):
            acquired.set()
            await done.wait()

    async with anyio.create_task_group() as tg:
        tg.start_soon(holder)
        await acquired.wait()
        try:
            yield
        finally:
            done.set()


@pytest.mark.anyio
class StoreContract:
    """Subclass and provide a ``store`` fixture."""

    async def test_missing_token_is_none(self, store: anyoauth.Store) -> None:
        assert await store.get_token("token:a:b") is None

    async def test_token_round_trips_with_every_field(self, store: anyoauth.Store) -> None:
        token = make_token(installation={"apiEndPoint": "https://x/"}, user={"id": 7})
        await store.set_token("token:a:b", token)
        loaded = await store.get_token("token:a:b")
        assert loaded == token
        assert loaded is not None
        assert loaded.to_dict() == token.to_dict()

    async def test_set_replaces_and_delete_forgets(self, store: anyoauth.Store) -> None:
        await store.set_token("k", make_token("AT-1"))
        await store.set_token("k", make_token("AT-2"))
        assert (await store.get_token("k")) == make_token("AT-2")
        await store.delete_token("k")
        await store.delete_token("k")
        assert await store.get_token("k") is None

    async def test_keys_are_independent(self, store: anyoauth.Store) -> None:
        await store.set_token("k1", make_token("AT-1"))
        await store.set_token("k2", make_token("AT-2"))
        await store.delete_token("k1")
        assert await store.get_token("k1") is None
        assert (await store.get_token("k2")) == make_token("AT-2")

    async def test_replace_token_writes_when_expected_is_current(
        self, store: anyoauth.Store
    ) -> None:
        old, new = make_token("AT-1", "RT-1"), make_token("AT-2", "RT-2")
        await store.set_token("k", old)
        assert await store.replace_token("k", old, new) is True
        assert (await store.get_token("k")) == new

    async def test_replace_token_never_overwrites_a_newer_token(
        self, store: anyoauth.Store
    ) -> None:
        old, newer, late = make_token("AT-1"), make_token("AT-2", "RT-2"), make_token("AT-3")
        await store.set_token("k", newer)
        assert await store.replace_token("k", old, late) is False
        assert (await store.get_token("k")) == newer

    async def test_replace_token_compares_refresh_tokens_too(self, store: anyoauth.Store) -> None:
        await store.set_token("k", make_token("AT-1", "RT-2"))
        assert await store.replace_token("k", make_token("AT-1", "RT-1"), make_token("X")) is False

    async def test_replace_token_with_expected_none(self, store: anyoauth.Store) -> None:
        assert await store.replace_token("k", None, make_token("AT-1")) is True
        assert await store.replace_token("k", None, make_token("AT-2")) is False
        assert (await store.get_token("k")) == make_token("AT-1")

    async def test_replace_token_does_not_resurrect_a_deleted_token(
        self, store: anyoauth.Store
    ) -> None:
        assert await store.replace_token("k", make_token("AT-1"), make_token("AT-2")) is False
        assert await store.get_token("k") is None

    async def test_concurrent_replacements_from_one_token_let_exactly_one_win(
        self, store: anyoauth.Store
    ) -> None:
        old = make_token("AT-0")
        await store.set_token("k", old)
        wins: list[int] = []

        async def writer(i: int) -> None:
            if await store.replace_token("k", old, make_token(f"AT-{i + 1}", f"RT-{i + 1}")):
                wins.append(i)

        async with anyio.create_task_group() as tg:
            for i in range(20):
                tg.start_soon(writer, i)
        assert len(wins) == 1
        stored = await store.get_token("k")
        assert token_fingerprint(stored) == token_fingerprint(
            make_token(f"AT-{wins[0] + 1}", f"RT-{wins[0] + 1}")
        )

    async def test_pending_round_trips_and_is_single_use(self, store: anyoauth.Store) -> None:
        flow = make_pending()
        await store.put_pending("pending:abc", flow)
        assert await store.take_pending("pending:abc") == flow
        assert await store.take_pending("pending:abc") is None

    async def test_take_missing_pending_is_none(self, store: anyoauth.Store) -> None:
        assert await store.take_pending("pending:nope") is None

    async def test_concurrent_takes_give_the_flow_to_exactly_one(
        self, store: anyoauth.Store
    ) -> None:
        await store.put_pending("pending:race", make_pending())
        got: list[anyoauth.PendingFlow] = []

        async def take() -> None:
            flow = await store.take_pending("pending:race")
            if flow is not None:
                got.append(flow)

        async with anyio.create_task_group() as tg:
            for _ in range(50):
                tg.start_soon(take)
        assert got == [make_pending()]

    async def test_lock_excludes_other_holders(self, store: anyoauth.Store) -> None:
        holders = 0
        most = 0
        entered = 0

        async def hold() -> None:
            nonlocal holders, most, entered
            async with store.lock("lock:k", ttl=30, wait=30):
                holders += 1
                entered += 1
                most = max(most, holders)
                await anyio.sleep(0.001)
                holders -= 1

        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(hold)
        assert (most, entered) == (1, 10)

    async def test_lock_is_released_when_the_body_raises(self, store: anyoauth.Store) -> None:
        with pytest.raises(KeyError):
            async with store.lock("lock:k", ttl=30, wait=1):
                raise KeyError("boom")
        async with store.lock("lock:k", ttl=30, wait=1):
            pass

    async def test_lock_wait_runs_out_with_store_error(self, store: anyoauth.Store) -> None:
        async with _held_elsewhere(store, "lock:k"):
            with pytest.raises(anyoauth.StoreError):
                async with store.lock("lock:k", ttl=30, wait=0.05):
                    pytest.fail("two holders at once")

    async def test_locks_with_other_names_are_independent(self, store: anyoauth.Store) -> None:
        async with store.lock("lock:a", ttl=30, wait=1), store.lock("lock:b", ttl=30, wait=1):
            pass

    async def test_waiting_for_a_lock_can_be_cancelled(self, store: anyoauth.Store) -> None:
        async with _held_elsewhere(store, "lock:k"):
            with anyio.move_on_after(0.05) as scope:
                async with store.lock("lock:k", ttl=30, wait=30):
                    pytest.fail("two holders at once")
            assert scope.cancelled_caught
        async with store.lock("lock:k", ttl=30, wait=1):
            pass

    async def test_store_is_a_store(self, store: anyoauth.Store) -> None:
        assert isinstance(store, anyoauth.Store)
