"""MemoryStore: the store contract, tokens, single-use pending flows, and dropping abandoned
flows."""

from __future__ import annotations

import anyio
import pytest

import anyoauth
from anyoauth._store import EXPIRE_BATCH
from anyoauth.stores import EXPIRED_GRACE
from anyoauth.testing import check_store

from .contract import EVERY_STORE_RULE

pytestmark = pytest.mark.anyio


async def memory_names(store: anyoauth.MemoryStore) -> list[str]:
    """Every key the store holds: tokens, pending flows and locks."""
    return [*store._tokens, *store._pending, *store._locks]


@pytest.mark.parametrize("rule", EVERY_STORE_RULE)
async def test_memory_store_keeps_the_store_rule(rule: str) -> None:
    await check_store(anyoauth.MemoryStore, rules=[rule], list_names=memory_names)


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
    dropped = [i for i in range(1, 100) if f"old{i}" not in store._pending]
    assert len(dropped) == EXPIRE_BATCH
    assert await store.take_pending(f"old{dropped[0]}") is None
    # Each put drops at most EXPIRE_BATCH expired flows (old0, taken, took its deadline
    # with it); the next puts drop the rest.
    assert f"pending={2 + 99 - EXPIRE_BATCH}" in repr(store)
    await store.put_pending("newest", pending("o", clock.now + 600))
    assert "pending=3" in repr(store)


async def test_memory_store_is_a_store() -> None:
    assert isinstance(anyoauth.MemoryStore(), anyoauth.Store)


def _scheduled(store: anyoauth.MemoryStore) -> int:
    """How many deadlines the store keeps."""
    return sum(len(bucket) for bucket in store._buckets.values())


async def test_taken_flows_do_not_pile_up_in_the_deadlines() -> None:
    clock = Clock()
    store = anyoauth.MemoryStore(clock=clock)
    await store.put_pending("kept", pending("k", clock.now + 10))
    for i in range(10_000):
        await store.put_pending(f"p{i}", pending(f"s{i}", clock.now + 600))
        assert await store.take_pending(f"p{i}") is not None
    assert _scheduled(store) == 1
    # The flow still pending keeps its deadline meanwhile.
    clock.now += 10 + EXPIRED_GRACE + 1
    await store.put_pending("new", pending("n", clock.now + 600))
    assert await store.take_pending("kept") is None
    assert await store.take_pending("new") is not None


async def test_a_flow_put_again_keeps_only_its_latest_deadline() -> None:
    clock = Clock()
    store = anyoauth.MemoryStore(clock=clock)
    await store.put_pending("p", pending("a", clock.now + 10))
    await store.put_pending("p", pending("b", clock.now + 5000))
    assert _scheduled(store) == 1
    clock.now += 10 + EXPIRED_GRACE + 1
    await store.put_pending("other", pending("o", clock.now + 600))
    taken = await store.take_pending("p")
    assert taken is not None
    assert taken.state == "b"


async def test_set_token_never_suspends() -> None:
    # Client._save relies on it: a token saved to a MemoryStore needs no cancel shield,
    # because no cancellation can interrupt a coroutine that never suspends.
    store = anyoauth.MemoryStore()
    token = anyoauth.Token(access_token="a", issued_at=1.0)
    strategy = anyoauth.Strategy(
        client_id="cid",
        authorization_endpoint="https://idp.example/auth",
        token_endpoint="https://idp.example/token",
        redirect_uri="https://app.example/cb",
    )
    client = anyoauth.Client(strategy, store)
    with anyio.CancelScope() as scope:
        scope.cancel()
        await client.set_token(token)
        saved = await store.get_token(client.token_key)
    assert saved is token
    assert client._held is token
    await client.aclose()
