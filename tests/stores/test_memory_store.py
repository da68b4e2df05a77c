"""MemoryStore: tokens, single-use pending flows, and dropping abandoned flows."""

from __future__ import annotations

import pytest

import anyoauth
from anyoauth._store import EXPIRE_BATCH, EXPIRED_GRACE

from .contract import StoreContract

pytestmark = pytest.mark.anyio


class TestMemoryStoreContract(StoreContract):
    @pytest.fixture
    def store(self) -> anyoauth.MemoryStore:
        return anyoauth.MemoryStore()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def pending(state: str, expires_at: float) -> anyoauth.PendingFlow:
    return anyoauth.PendingFlow(
        state=state, binding="x:y", created_at=expires_at - 600, expires_at=expires_at
    )


async def test_tokens_round_trip() -> None:
    store = anyoauth.MemoryStore()
    token = anyoauth.Token(access_token="a", issued_at=1.0)
    assert await store.get_token("k") is None
    await store.set_token("k", token)
    assert await store.get_token("k") is token
    await store.delete_token("k")
    await store.delete_token("k")
    assert await store.get_token("k") is None


async def test_pending_is_single_use() -> None:
    store = anyoauth.MemoryStore()
    flow = pending("s", 2000.0)
    await store.put_pending("p", flow)
    assert await store.take_pending("p") is flow
    assert await store.take_pending("p") is None


async def test_abandoned_flows_are_dropped_after_grace() -> None:
    clock = Clock()
    store = anyoauth.MemoryStore(clock=clock)
    for i in range(100):
        await store.put_pending(f"old{i}", pending(f"s{i}", clock.now + 10))
    clock.now += 10 + EXPIRED_GRACE - 1
    await store.put_pending("new", pending("n", clock.now + 600))
    # Still inside the grace period: an expired flow is kept so complete() can say FlowExpired.
    assert await store.take_pending("old0") is not None
    clock.now += 2
    await store.put_pending("newer", pending("m", clock.now + 600))
    assert await store.take_pending("old1") is None
    # Each put looks at most EXPIRE_BATCH deadlines (old0's, already taken, among them);
    # the next puts drop the rest.
    assert f"pending={2 + 100 - EXPIRE_BATCH}" in repr(store)
    await store.put_pending("newest", pending("o", clock.now + 600))
    assert "pending=3" in repr(store)


async def test_memory_store_is_a_store() -> None:
    assert isinstance(anyoauth.MemoryStore(), anyoauth.Store)
