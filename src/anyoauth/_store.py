"""Stores: where tokens and pending flows live between calls, and the lock that makes a
refresh single-flight across every client that shares the store.

One async protocol, :class:`Store`, serves tokens and pending flows, both keyed
by strings the client derives (never containing a secret). Stores that leave the
process serialise values with :func:`dump_token` / :func:`load_token` and
:func:`dump_pending` / :func:`load_pending`.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Protocol, runtime_checkable

import anyio

from ._core.errors import StoreError
from ._core.token import Token
from ._core.values import PendingFlow

__all__ = [
    "EXPIRED_GRACE",
    "MemoryStore",
    "Store",
    "dump_pending",
    "dump_token",
    "load_pending",
    "load_token",
    "token_fingerprint",
]

EXPIRED_GRACE = 300.0
"""Seconds an expired pending flow is kept, so a late redirect gets ``FlowExpired``
rather than an unknown-state error."""


EXPIRE_BATCH = 64
"""At most this many abandoned pending flows are dropped per ``put_pending``."""

_DEADLINE_BUCKET = 1.0
"""MemoryStore files pending flows by the second they may be dropped in: a flow is
dropped (by a later ``put_pending``) once its whole second is past."""


def token_fingerprint(token: Token | None) -> str:
    """A digest naming one issued token (access and refresh token), for compare-and-set.

    ``None`` (no token stored) has the fingerprint ``""``. The digest reveals nothing
    about the token.
    """
    if token is None:
        return ""
    material = f"{token.access_token}\0{token.refresh_token or ''}".encode()
    return hashlib.sha256(material).hexdigest()


def dump_token(token: Token) -> bytes:
    """Serialise a token for a store (UTF-8 JSON)."""
    return json.dumps(token.to_dict(), separators=(",", ":")).encode()


def load_token(data: bytes | str) -> Token:
    """Read a token written by :func:`dump_token`; :class:`StoreError` if it is unreadable."""
    try:
        return Token.from_dict(json.loads(data))
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        pass
    # Raised outside the except clause: the decoder's error, whose ``doc`` is the stored
    # data (tokens), is no context of it.
    raise StoreError("the stored token is unreadable")


def dump_pending(pending: PendingFlow) -> bytes:
    """Serialise a pending flow for a store (UTF-8 JSON)."""
    return json.dumps(pending.to_dict(), separators=(",", ":")).encode()


def load_pending(data: bytes | str) -> PendingFlow:
    """Read a pending flow written by :func:`dump_pending`; :class:`StoreError` if unreadable."""
    try:
        return PendingFlow.from_dict(json.loads(data))
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        pass
    raise StoreError("the stored pending flow is unreadable")  # no context, as above


@runtime_checkable
class Store(Protocol):
    """Where clients keep tokens and pending flows, and take turns refreshing.

    Every client that shares a store (tasks, threads, processes, machines) sees the
    same tokens. The rules a store keeps:

    - ``take_pending`` is atomic: of concurrent calls for one key, at most one gets
      the flow, so a ``state`` is single-use everywhere.
    - ``replace_token`` is a compare-and-set: a writer that started from an old
      token never overwrites a newer one.
    - ``lock`` is held by one holder at a time across everything sharing the store;
      a holder that dies releases it (at the latest after ``ttl``), and only the
      holder releases it.

    Failures of the store itself raise :class:`StoreError`.
    :func:`anyoauth.testing.check_store` checks a store against these rules.
    """

    async def get_token(self, key: str) -> Token | None:
        """The token stored under ``key``, or ``None``."""
        ...

    async def set_token(self, key: str, token: Token) -> None:
        """Store ``token`` under ``key``, replacing any other (a fresh login)."""
        ...

    async def replace_token(self, key: str, expected: Token | None, token: Token) -> bool:
        """Store ``token`` only if the stored token is still ``expected``.

        ``expected`` is compared by :func:`token_fingerprint`; ``None`` means "nothing
        stored". Returns whether ``token`` was written.
        """
        ...

    async def delete_token(self, key: str) -> None:
        """Forget the token under ``key`` (no error if there is none)."""
        ...

    async def put_pending(self, key: str, pending: PendingFlow) -> None:
        """Keep ``pending`` under ``key`` until taken, or until its ``expires_at``
        plus :data:`EXPIRED_GRACE`."""
        ...

    async def take_pending(self, key: str) -> PendingFlow | None:
        """Remove and return the pending flow under ``key``; ``None`` if there is none."""
        ...

    def lock(self, key: str, *, ttl: float, wait: float) -> AbstractAsyncContextManager[None]:
        """Hold the exclusive lock named ``key`` for the body of an ``async with``.

        Waits at most ``wait`` seconds, then raises :class:`StoreError`. A holder
        that dies or hangs loses the lock after ``ttl`` seconds at the latest.
        """
        ...


_SHARDS = 256


class _Shards:
    """The pending flows of a :class:`MemoryStore`: a dict split into :data:`_SHARDS`
    dicts by the key's hash. A dict grows (and, after many removals, compacts itself)
    by copying its whole table in one step: split, a million pending flows cost one
    put a copy of a few thousand entries, never of a million."""

    __slots__ = ("_count", "_shards")

    def __init__(self) -> None:
        self._shards: list[dict[str, PendingFlow]] = [{} for _ in range(_SHARDS)]
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[str]:
        for shard in self._shards:
            yield from shard

    def __contains__(self, key: str) -> bool:
        return key in self._shards[hash(key) % _SHARDS]

    def get(self, key: str) -> PendingFlow | None:
        return self._shards[hash(key) % _SHARDS].get(key)

    def put(self, key: str, pending: PendingFlow) -> PendingFlow | None:
        """Keep ``pending`` under ``key``; the flow it replaces, if any."""
        shard = self._shards[hash(key) % _SHARDS]
        earlier = shard.get(key)
        shard[key] = pending
        if earlier is None:
            self._count += 1
        return earlier

    def pop(self, key: str, default: None = None) -> PendingFlow | None:
        """Remove and return the flow under ``key`` (``None`` if there is none)."""
        pending = self._shards[hash(key) % _SHARDS].pop(key, default)
        if pending is not None:
            self._count -= 1
        return pending


class _KeyLock:
    """The lock of one key of a :class:`MemoryStore`, while anyone holds or wants it."""

    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        # Taken without a trip through the event loop when nobody holds it.
        self.lock = anyio.Lock(fast_acquire=True)
        self.users = 0


class _Held:
    """``async with`` :meth:`MemoryStore.lock`: the key's lock held for the body.

    Uncontended, it is taken at once (a cancellation check, no cancel scope); a task
    that has to wait does so within a scope of ``wait`` seconds."""

    __slots__ = ("_entry", "_key", "_locks", "_wait")

    def __init__(self, locks: dict[str, _KeyLock], key: str, wait: float) -> None:
        self._locks = locks
        self._key = key
        self._wait = wait
        self._entry: _KeyLock | None = None

    async def __aenter__(self) -> None:
        entry = self._locks.get(self._key)
        if entry is None:
            entry = self._locks[self._key] = _KeyLock()
        entry.users += 1
        self._entry = entry
        try:
            if not entry.lock.locked():
                await entry.lock.acquire()
                return
            with anyio.move_on_after(self._wait):
                await entry.lock.acquire()
                return
        except BaseException:
            self._leave(entry)
            raise
        self._leave(entry)
        raise StoreError(f"lock not acquired within {self._wait} s")

    async def __aexit__(self, *exc_info: object) -> None:
        entry = self._entry
        assert entry is not None
        entry.lock.release()
        self._leave(entry)

    def _leave(self, entry: _KeyLock) -> None:
        self._entry = None
        entry.users -= 1
        if entry.users == 0:
            del self._locks[self._key]


class MemoryStore:
    """A :class:`Store` in this process's memory (the default).

    Shared by every client given the same instance, in any task or thread of one
    event loop. Pending flows past their deadline (plus :data:`EXPIRED_GRACE`) are
    dropped as new ones arrive, so a stream of abandoned logins does not grow memory
    without bound. ``clock`` must be the clock the client uses (seconds since the
    epoch).
    """

    def __init__(self, *, clock: Callable[[], float] | None = None) -> None:
        self._clock = clock or time.time
        self._tokens: dict[str, Token] = {}
        self._pending = _Shards()
        self._buckets: dict[int, dict[str, PendingFlow]] = {}
        """The pending flows by the second they may be dropped in (taken flows leave)."""
        self._seconds: list[int] = []
        """A heap of the seconds of :attr:`_buckets`."""
        self._locks: dict[str, _KeyLock] = {}

    def __repr__(self) -> str:
        return f"<MemoryStore tokens={len(self._tokens)} pending={len(self._pending)}>"

    async def get_token(self, key: str) -> Token | None:
        """The token stored under ``key``, or ``None``."""
        return self._tokens.get(key)

    async def set_token(self, key: str, token: Token) -> None:
        """Store ``token`` under ``key``."""
        self._tokens[key] = token

    async def replace_token(self, key: str, expected: Token | None, token: Token) -> bool:
        """Compare-and-set (atomic: no await inside)."""
        if token_fingerprint(self._tokens.get(key)) != token_fingerprint(expected):
            return False
        self._tokens[key] = token
        return True

    async def delete_token(self, key: str) -> None:
        """Forget the token under ``key``."""
        self._tokens.pop(key, None)

    async def put_pending(self, key: str, pending: PendingFlow) -> None:
        """Keep ``pending`` until taken or expired."""
        self._expire(self._clock())
        earlier = self._pending.put(key, pending)
        if earlier is not None:
            self._unschedule(key, earlier)
        second = _drop_second(pending)
        if second is None:
            return  # no finite deadline: kept until taken
        bucket = self._buckets.get(second)
        if bucket is None:
            bucket = self._buckets[second] = {}
            heapq.heappush(self._seconds, second)
        bucket[key] = pending

    async def take_pending(self, key: str) -> PendingFlow | None:
        """Remove and return the pending flow under ``key`` (atomic: no await inside)."""
        pending = self._pending.pop(key)
        if pending is not None:
            self._unschedule(key, pending)
        return pending

    def lock(self, key: str, *, ttl: float, wait: float) -> AbstractAsyncContextManager[None]:
        """An in-process lock per ``key`` (``ttl`` is moot: a task cannot die holding it
        without its ``async with`` releasing it)."""
        return _Held(self._locks, key, wait)

    def _unschedule(self, key: str, pending: PendingFlow) -> None:
        # A taken (or replaced) flow leaves its second's bucket at once, so nothing stale
        # piles up and nothing needs rebuilding; an emptied bucket goes when its second
        # comes (there is one per second of deadlines ahead, at most).
        second = _drop_second(pending)
        bucket = self._buckets.get(second) if second is not None else None
        if bucket is not None and bucket.get(key) is pending:
            del bucket[key]

    def _expire(self, now: float) -> None:
        # Bounded per call, so a backlog (a million flows expiring at once after a
        # suspend) is drained over the next puts instead of stalling one of them.
        seconds = self._seconds
        budget = EXPIRE_BATCH
        while seconds and (seconds[0] + 1) * _DEADLINE_BUCKET <= now:
            bucket = self._buckets[seconds[0]]
            while bucket and budget:
                key, pending = bucket.popitem()
                budget -= 1
                if self._pending.get(key) is pending:
                    self._pending.pop(key)
            if bucket:
                return
            del self._buckets[heapq.heappop(seconds)]
            if not budget:
                return


def _drop_second(pending: PendingFlow) -> int | None:
    """The second in which ``pending`` may be dropped (``None``: never)."""
    drop_at = pending.expires_at + EXPIRED_GRACE
    if not math.isfinite(drop_at):
        return None
    return math.floor(drop_at / _DEADLINE_BUCKET)
