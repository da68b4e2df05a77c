"""Stores: where tokens and pending flows live between calls.

One async protocol, :class:`Store`, serves tokens and pending flows, both keyed
by strings the client derives (never containing a secret). Values are the
JSON-able dicts of :meth:`Token.to_dict` and :meth:`PendingFlow.to_dict`.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from ._core.machine import PendingFlow
from ._core.token import Token

__all__ = ["MemoryStore", "Store"]

EXPIRED_GRACE = 300.0
"""Seconds an expired pending flow is kept, so a late redirect gets ``FlowExpired``
rather than an unknown-state error."""


@runtime_checkable
class Store(Protocol):
    """Where a client keeps tokens and pending flows.

    ``take_pending`` must be atomic: of two concurrent calls for the same key,
    at most one gets the flow, so a ``state`` is single-use.
    """

    async def get_token(self, key: str) -> Token | None:
        """The token stored under ``key``, or ``None``."""
        ...

    async def set_token(self, key: str, token: Token) -> None:
        """Store ``token`` under ``key``, replacing any other."""
        ...

    async def delete_token(self, key: str) -> None:
        """Forget the token under ``key`` (no error if there is none)."""
        ...

    async def put_pending(self, key: str, pending: PendingFlow) -> None:
        """Keep ``pending`` under ``key`` until it is taken or reaches its ``expires_at``."""
        ...

    async def take_pending(self, key: str) -> PendingFlow | None:
        """Remove and return the pending flow under ``key``; ``None`` if there is none."""
        ...


class MemoryStore:
    """A :class:`Store` in this process's memory (the default).

    Pending flows past their deadline (plus :data:`EXPIRED_GRACE`) are dropped as new
    ones arrive, so a
    stream of abandoned logins does not grow memory without bound. ``clock``
    must be the clock the client uses (seconds since the epoch).
    """

    def __init__(self, *, clock: Callable[[], float] | None = None) -> None:
        self._clock = clock or time.time
        self._tokens: dict[str, Token] = {}
        self._pending: dict[str, PendingFlow] = {}
        self._deadlines: list[tuple[float, str]] = []

    def __repr__(self) -> str:
        return f"<MemoryStore tokens={len(self._tokens)} pending={len(self._pending)}>"

    async def get_token(self, key: str) -> Token | None:
        """The token stored under ``key``, or ``None``."""
        return self._tokens.get(key)

    async def set_token(self, key: str, token: Token) -> None:
        """Store ``token`` under ``key``."""
        self._tokens[key] = token

    async def delete_token(self, key: str) -> None:
        """Forget the token under ``key``."""
        self._tokens.pop(key, None)

    async def put_pending(self, key: str, pending: PendingFlow) -> None:
        """Keep ``pending`` until taken or expired."""
        self._expire(self._clock())
        self._pending[key] = pending
        heapq.heappush(self._deadlines, (pending.expires_at + EXPIRED_GRACE, key))

    async def take_pending(self, key: str) -> PendingFlow | None:
        """Remove and return the pending flow under ``key`` (atomic: no await inside)."""
        return self._pending.pop(key, None)

    def _expire(self, now: float) -> None:
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            drop_at, key = heapq.heappop(deadlines)
            pending = self._pending.get(key)
            if pending is not None and pending.expires_at + EXPIRED_GRACE == drop_at:
                del self._pending[key]
