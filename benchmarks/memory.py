"""(5) Memory per pending flow in a MemoryStore, and the cost of expiring a million.

Memory: ``tracemalloc`` counts the bytes still allocated after ``begin()`` was called
N times on a client with a fresh ``MemoryStore`` (the authorization URLs are dropped;
what remains is what the store keeps per pending login: the flow, its key and its
deadline entry). Three strategies: the standard code flow, the same with PKCE (a
64-character verifier more), and the Teamwork preset.

Expiry: a ``MemoryStore`` is filled with a million pending flows (started over ten
minutes, each with its own deadline), then the clock moves past every deadline; new
logins then drain them (each ``put_pending`` drops at most ``EXPIRE_BATCH`` expired
flows, so a backlog never stalls one call). Timed: the longest single ``put_pending``
(what one ``begin()`` can stall the loop), how many calls it takes to drain them all,
their total time, and per expired flow.
"""

from __future__ import annotations

import gc
import hashlib
import statistics
import time
import tracemalloc
from typing import Any

import anyio

import anyoauth
from anyoauth import PendingFlow
from anyoauth.providers import Teamwork

from .storm import _CpuWait

__all__ = ["run"]

TITLE = "Memory per pending flow"
REDIRECT_URI = "https://app.bench/callback"


class _Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def _strategies() -> dict[str, anyoauth.Strategy]:
    common: dict[str, Any] = {
        "client_id": "bench-app",
        "client_secret": "bench-app-secret",
        "authorization_endpoint": "https://idp.bench/authorize",
        "token_endpoint": "https://idp.bench/token",
        "redirect_uri": REDIRECT_URI,
    }
    return {
        "standard code flow": anyoauth.Strategy(**common),
        "code flow with PKCE": anyoauth.Strategy(**common, uses_pkce=True),
        "Teamwork preset": Teamwork("bench-app", "bench-app-secret", REDIRECT_URI),
    }


async def _bytes_per_flow(strategy: anyoauth.Strategy, flows: int) -> float:
    store = anyoauth.MemoryStore()
    client = anyoauth.Client(strategy, store)
    await client.begin()  # first-use allocations (caches, the heap list) do not count
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(flows):
            await client.begin()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    if len(store._pending) != flows + 1:
        raise RuntimeError("the store did not keep every pending flow")
    return (after - before) / flows


async def _expire(count: int) -> dict[str, float]:
    clock = _Clock()
    store = anyoauth.MemoryStore(clock=clock)
    binding = "oauth2:bench-app"
    started = time.perf_counter()
    for i in range(count):
        # Logins started over ten minutes (about 1,700 a second), each with its deadline.
        created = clock.now + i * 600 / count
        state = f"{i:043d}"
        pending = PendingFlow(
            state=state, binding=binding, created_at=created, expires_at=created + 600
        )
        key = "pending:" + hashlib.sha256(state.encode()).hexdigest()
        await store.put_pending(key, pending)
    filled = time.perf_counter() - started
    clock.now += 1200 + anyoauth._store.EXPIRED_GRACE + 1
    gc.collect()
    puts, longest, total = 0, 0.0, 0.0
    while len(store._pending) > puts:
        # New logins arrive; each put_pending drops a batch of the expired flows.
        fresh = PendingFlow(
            state=f"s{puts:042d}", binding=binding, created_at=clock.now, expires_at=clock.now + 600
        )
        started = time.perf_counter()
        await store.put_pending(f"pending:fresh-{puts}", fresh)
        took = time.perf_counter() - started
        puts += 1
        total += took
        longest = max(longest, took)
        if puts > count:
            raise RuntimeError("the store kept expired flows")
    return {
        "fill_s": filled,
        "drain_puts": puts,
        "longest_put_ms": longest * 1e3,
        "expire_s": total,
        "per_flow_ns": total / count * 1e9,
    }


async def _crowded(count: int) -> dict[str, float]:
    """The longest ``put_pending`` (the store's part of ``begin()``) of a MemoryStore
    holding ``count`` pending flows while logins keep completing: ``count`` more
    flows are put and taken (each a login that began and completed), enough for any
    clean-up the store does of completed logins to come due at least once; then the
    longest ``begin()`` of a client on that store."""
    clock = _Clock()
    store = anyoauth.MemoryStore(clock=clock)
    binding = "oauth2:bench-app"
    for i in range(count):
        created = clock.now + i * 600 / count
        pending = PendingFlow(
            state=f"{i:043d}", binding=binding, created_at=created, expires_at=created + 900
        )
        await store.put_pending(f"pending:{i}", pending)
    # A full collection walks every pending flow (what it costs is reported apart);
    # frozen out of the collector, the timings below are the store's own work.
    started = time.perf_counter()
    gc.collect()
    full_collection = time.perf_counter() - started
    gc.freeze()
    # On a shared machine a call may also wait for a CPU another process holds: the
    # kernel counts that wait, and the *own* figures leave it out.
    cpu_wait = _CpuWait()
    longest = longest_own = 0.0
    for i in range(count + 2048):
        clock.now += 0.0005
        fresh = PendingFlow(
            state=f"c{i:042d}", binding=binding, created_at=clock.now, expires_at=clock.now + 900
        )
        waited, started = cpu_wait(), time.perf_counter()
        await store.put_pending(f"pending:c{i}", fresh)
        took = time.perf_counter() - started
        longest = max(longest, took)
        longest_own = max(longest_own, took - (cpu_wait() - waited))
        await store.take_pending(f"pending:c{i}")
    client = anyoauth.Client(_strategies()["code flow with PKCE"], store, clock=clock)
    await client.begin()  # the first PKCE login's one-off import is not the store's
    begin_longest = begin_own = 0.0
    for _ in range(2000):
        waited, started = cpu_wait(), time.perf_counter()
        await client.begin()
        took = time.perf_counter() - started
        begin_longest = max(begin_longest, took)
        begin_own = max(begin_own, took - (cpu_wait() - waited))
    cpu_wait.close()
    gc.unfreeze()
    return {
        "longest_put_ms": longest * 1e3,
        "longest_put_own_ms": longest_own * 1e3,
        "longest_begin_ms": begin_longest * 1e3,
        "longest_begin_own_ms": begin_own * 1e3,
        "full_gc_ms": full_collection * 1e3,
    }


async def _run(quick: bool) -> dict[str, Any]:
    flows, repeats = (10_000, 1) if quick else (20_000, 3)
    memory: dict[str, Any] = {}
    for name, strategy in _strategies().items():
        samples = [await _bytes_per_flow(strategy, flows) for _ in range(repeats)]
        memory[name] = {
            "median": statistics.median(samples),
            "min": min(samples),
            "max": max(samples),
            "n": len(samples),
        }
    count = 1_000_000
    runs = [await _expire(count) for _ in range(1 if quick else 2)]
    expiry = {
        key: {
            "median": statistics.median(r[key] for r in runs),
            "min": min(r[key] for r in runs),
            "max": max(r[key] for r in runs),
        }
        for key in runs[0]
    }
    crowded = await _crowded(count)
    return {
        "title": TITLE,
        "unit": "bytes per pending flow",
        "crowded": crowded,
        "flows": flows,
        "expired_flows": count,
        "method": (
            f"tracemalloc: bytes still allocated after {flows:,} begin() calls on a fresh "
            f"MemoryStore, divided by the count (median of {repeats}). Expiry: the "
            f"put_pending() calls of new logins after {count:,} pending flows have passed "
            f"their deadline, until all are dropped (median of {len(runs)}). Crowded: "
            f"{count:,} flows pending while {count:,} more logins begin and complete; the "
            "longest put_pending among them, then the longest of 2,000 begin() calls."
        ),
        "rows": memory,
        "expiry": expiry,
    }


def run(*, quick: bool) -> dict[str, Any]:
    """Bytes per pending flow for three strategies, and the cost of expiring a million."""
    return anyio.run(_run, quick)
