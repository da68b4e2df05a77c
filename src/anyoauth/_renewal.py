"""Keeping one client's token valid: held in memory, kept in the store, renewed once.

:class:`TokenKeeper` is the renewal machinery of :class:`~anyoauth.Client`: any number
of concurrent callers, and every client sharing the store, cause one token request (an
in-process single flight, then the store's lock); an early refresh runs while the valid
token is handed out; a rotated refresh token is persisted before anything is handed
out, and kept to store later if the store fails; a logout meanwhile wins. What to send
and how to read the answer is the machine's (:class:`~anyoauth.sansio.Flow`); the
request itself is sent by the ``exchange`` the client gives.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable

import anyio
import anyio.lowlevel
import attrs
from anyio.abc import TaskGroup

from ._core.errors import LoginRequired, StoreError
from ._core.http import HttpRequest
from ._core.machine import Flow
from ._core.strategies import Strategy
from ._core.token import RenewalPace, Token
from ._core.values import RefreshRefused
from ._events import (
    EventHub,
    RefreshTokenRotated,
    TokenIssued,
    TokenRefreshed,
    event_fingerprint,
)
from ._store import MemoryStore, Store
from ._store import token_fingerprint as _fingerprint
from ._telemetry import grant_type

__all__ = ["EARLY_RETRY_DELAY", "LOCK_SENDS", "LOCK_TTL_MARGIN", "TokenKeeper"]

logger = logging.getLogger("anyoauth")

_LOCK = "lock:"

EARLY_RETRY_DELAY = 5.0
"""Seconds to wait before trying again after a failed early (proactive) refresh."""

LOCK_TTL_MARGIN = 15.0
"""The store lock outlives the token requests of one renewal by this many seconds."""

LOCK_SENDS = 5
"""Most requests one renewal sends, each bounded by ``timeout``: the key set before a
refresh, the refresh, the key set after it, and after a spent refresh token of a direct
grant a new grant (with its key set)."""

Exchange = Callable[[Flow, HttpRequest], Awaitable["Token | RefreshRefused"]]
"""Sends a flow's token request and reads the answer (the client's ``_exchange``)."""


def _fresh_until(token: Token | None, leeway: float) -> float:
    """Until when ``token`` is handed out without a renewal (``-inf``: no token)."""
    if token is None:
        return -math.inf
    if token.expires_at is None:
        return math.inf
    return token.expires_at - token.renewal_margin(leeway)


HANDOUT_WAVE = 8
"""Callers handed a renewal's outcome per turn of the event loop: a renewal that
thousands of callers waited on wakes them a wave at a time, so the loop runs other
work (and answers I/O) between waves instead of stalling for one long pass. Each
caller usually goes on to send its request at once (tens of microseconds): a wave of
8 keeps a turn well under a millisecond."""


class _Wave:
    """Callers of one :data:`HANDOUT_WAVE`, woken together."""

    __slots__ = ("event", "joined", "waiting")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.joined = 0
        self.waiting = 0


class _Call:
    """One token renewal that concurrent callers wait on (:meth:`wait`) until it
    ends (:meth:`finish`)."""

    __slots__ = ("_finished", "_released", "_waves", "error", "token")

    def __init__(self) -> None:
        self.token: Token | None = None
        self.error: BaseException | None = None
        self._waves: list[_Wave] = []
        self._released = 0
        """How many waves have been woken."""
        self._finished = False

    def finish(self) -> None:
        """The renewal ended (:attr:`token` or :attr:`error` set): wake the first wave;
        each wave, once running, wakes the next."""
        self._finished = True
        self._release(0)

    async def wait(self) -> None:
        """Wait until the renewal ends."""
        if self._finished:
            return
        waves = self._waves
        if not waves or waves[-1].joined >= HANDOUT_WAVE:
            waves.append(_Wave())
        index = len(waves) - 1
        wave = waves[index]
        wave.joined += 1
        wave.waiting += 1
        try:
            await wave.event.wait()
        finally:
            # Also when cancelled: a woken wave always wakes the next one.
            wave.waiting -= 1
            if wave.event.is_set():
                self._release(index + 1)

    def _release(self, index: int) -> None:
        """Wake wave ``index`` (unless already woken), passing over waves whose callers
        have all left (cancelled): nobody in them would wake the next."""
        waves = self._waves
        while index == self._released and index < len(waves):
            self._released += 1
            waves[index].event.set()
            if waves[index].waiting:
                return
            index += 1


class TokenKeeper:
    """One client's token: held, stored under ``key()``, renewed single-flight.

    Args:
        strategy: the client's strategy.
        store: where the token lives.
        key: the store key of the token (read on every use).
        clock: seconds since the epoch.
        leeway: a token this close to its expiry is renewed early.
        timeout: one token request's deadline (the store lock's ttl follows it).
        exchange: sends a flow's token request and reads the answer.
        events: where the renewals' events go (:class:`TokenRefreshed`,
            :class:`RefreshTokenRotated`, :class:`TokenIssued` for a new direct grant,
            :class:`RefreshFailed`): emitted by the renewal that sent the request, once
            however many callers waited on it; a token a sibling sharing the store
            renewed is handed out without an event (the sibling emits it).
    """

    def __init__(
        self,
        *,
        strategy: Strategy,
        store: Store,
        key: Callable[[], str],
        clock: Callable[[], float],
        leeway: float,
        timeout: float,
        exchange: Exchange,
        events: EventHub | None = None,
    ) -> None:
        self.strategy = strategy
        self.store = store
        self._key = key
        self.clock = clock
        self._leeway = leeway
        self.timeout = timeout
        self._exchange = exchange
        self.events = events
        self._holding: tuple[Token | None, float] = (None, -math.inf)
        """The held token and until when it is handed out without a renewal: one value,
        so a thread reading it (:meth:`fresh`, the sync facade's) never pairs a token
        with another token's time."""
        self.task_group: TaskGroup | None = None
        """Where early refreshes run (the client's, inside ``async with``)."""
        self._logouts = 0
        """Counts :meth:`forget` calls: a renewal that began before one keeps its result
        to itself (no store, no hold)."""
        self._inflight: _Call | None = None
        self._early_retry_at = 0.0
        self._unsaved: tuple[Token | None, Token] | None = None

    @property
    def held(self) -> Token | None:
        """The token handed out without asking the store."""
        return self._holding[0]

    @held.setter
    def held(self, token: Token | None) -> None:
        self._holding = (token, _fresh_until(token, self._leeway))

    @property
    def leeway(self) -> float:
        """A token this close to its expiry (at most half its lifetime) is renewed early."""
        return self._leeway

    @leeway.setter
    def leeway(self, seconds: float) -> None:
        self._leeway = seconds
        held = self._holding[0]
        self._holding = (held, _fresh_until(held, seconds))

    @property
    def key(self) -> str:
        """The store key of the token."""
        return self._key()

    @property
    def renewing(self) -> bool:
        """Whether a renewal is running."""
        return self._inflight is not None

    def fresh(self, rejected: Token | None = None) -> Token | None:
        """The held token when it can be handed out at once (not ``rejected``, not due
        for renewal: :meth:`Token.renewal_due`, worked out when the token is held),
        else ``None``: :meth:`token` then decides."""
        held, until = self._holding
        if rejected is None and self.clock() < until:
            return held
        return None

    async def token(self, rejected: Token | None) -> Token:
        """A valid token (see :meth:`Client.token`)."""
        held = self.held
        if held is not None and rejected is None and held.expires_at is not None:
            now = self.clock()
            if now < held.expires_at - held.renewal_margin(self.leeway):
                return held
            if now < held.expires_at:
                if held.refresh_token or self.strategy.has_direct_grant:
                    await self._refresh_early(now)
                held = self.held or held
                # The early refresh may have taken longer than the token had left.
                if held.expires_at is None or self.clock() < held.expires_at:
                    return held
        elif held is not None and rejected is None:
            return held
        return await self._obtain(rejected)

    async def refresh(self) -> Token:
        """Renew the token now (see :meth:`Client.refresh`): the held token, else the
        stored one, is renewed as a rejected one would be (:meth:`_obtain`), so a
        renewal already running here is joined and a sibling that renewed it first
        gives its token instead of a new request."""
        current = self.held
        if current is None:
            stored = await self.store.get_token(self.key)
            current = stored if stored is not None and self.strategy.can_use(stored) else None
        if current is None and not self.strategy.has_direct_grant:
            raise LoginRequired("no token to refresh; log in first")
        if current is not None and not current.refresh_token and not self.strategy.has_direct_grant:
            raise LoginRequired(
                f"the {self.strategy.name} token has no refresh token; log in again to renew it"
            )
        return await self._obtain(current)

    def _arrived(self, token: Token) -> None:
        """Raise :class:`TokenExpiredOnArrival` if a renewal brought a token that has
        expired while renewals pause, once the streak reached the limit (the core
        decides; the token is stored and held all the same)."""
        if not self.usable(token, None, early=False):
            now = self.clock()
            RenewalPace.of(token, now).check(now, held=token, rejected=False)

    async def _obtain(self, rejected: Token | None) -> Token:
        """Join the running renewal, or lead one; retry once if its leader was cancelled."""
        for _ in range(3):
            call = self._inflight
            if call is None:
                call = self._inflight = _Call()
                try:
                    token = await self._renew(rejected, early=False)
                    self._arrived(token)
                    call.token = token
                except BaseException as exc:
                    call.error = exc
                    raise
                finally:
                    self._inflight = None
                    call.finish()
                return call.token
            await call.wait()
            if call.token is not None and (
                rejected is None or _fingerprint(call.token) != _fingerprint(rejected)
            ):
                return call.token
            if isinstance(call.error, Exception):
                raise call.error
        raise StoreError("the token renewal kept being abandoned")

    async def _refresh_early(self, now: float) -> None:
        """Start (or run) one early refresh; callers meanwhile keep the valid token."""
        if self._inflight is not None or now < self._early_retry_at:
            return
        held = self.held
        if held is not None and not RenewalPace.of(held, now).may_renew(now):
            return
        if self.task_group is not None:
            call = _Call()
            self.task_group.start_soon(self._run_early, call)
            self._inflight = call
        else:
            self._inflight = call = _Call()
            await self._run_early(call)

    async def _run_early(self, call: _Call) -> None:
        try:
            call.token = await self._renew(None, early=True)
        except Exception as exc:
            # Callers whose token expired meanwhile joined this call: they see the error.
            call.error = exc
            self._early_retry_at = self.clock() + EARLY_RETRY_DELAY
            logger.warning(
                "early token refresh for %s failed (%s); keeping the valid token",
                self.strategy.store_namespace,
                type(exc).__name__,
            )
        finally:
            self._inflight = None
            call.finish()

    async def _renew(self, rejected: Token | None, *, early: bool) -> Token:
        """The one renewal: reread the store, take the store's lock, reread, refresh."""
        logouts = self._logouts
        if self._unsaved is not None:
            await self._save_unsaved()
        found = self._found(await self.store.get_token(self.key), rejected, early=early)
        if found is not None:
            return self._hold(found, logouts)
        ttl = self._lock_ttl()
        # One turn of the event loop before the request, as taking a lock used to give
        # (MemoryStore's is taken without one): callers started alongside join this
        # renewal instead of each sending their own, even when nothing else suspends.
        await anyio.lowlevel.checkpoint()
        async with self.store.lock(_LOCK + self.key, ttl=ttl, wait=ttl + self.timeout):
            stored = await self.store.get_token(self.key)
            found = self._found(stored, rejected, early=early)
            if found is not None:
                return self._hold(found, logouts)
            return self._hold(
                await self._refresh_locked(stored, rejected, logouts, early=early), logouts
            )

    def _found(self, stored: Token | None, rejected: Token | None, *, early: bool) -> Token | None:
        """The stored token to hand out instead of renewing: one that is usable, or one
        whose renewal pace says wait (:meth:`RenewalPace.check`, which raises
        :class:`TokenExpiredOnArrival` when it cannot be handed out either); ``None``
        means renew. A token of a type the strategy cannot use counts as none."""
        if stored is None or not self.strategy.can_use(stored):
            return None
        if self.usable(stored, rejected, early=early):
            return stored
        is_rejected = rejected is not None and _fingerprint(stored) == _fingerprint(rejected)
        now = self.clock()
        return RenewalPace.of(stored, now).check(now, held=stored, rejected=is_rejected)

    def _lock_ttl(self) -> float:
        """The store lock's ttl: a renewal's requests (each within ``timeout``) and a margin."""
        return LOCK_SENDS * self.timeout + LOCK_TTL_MARGIN

    def usable(self, token: Token, rejected: Token | None, *, early: bool) -> bool:
        """Whether ``token`` may be handed out now: of a type the strategy uses, not the
        ``rejected`` one, not expired (with ``early``: not due for renewal)."""
        if not self.strategy.can_use(token):
            return False
        if rejected is not None and _fingerprint(token) == _fingerprint(rejected):
            return False
        if token.expires_at is None:
            return True
        margin = token.renewal_margin(self.leeway) if early else 0.0
        return self.clock() < token.expires_at - margin

    async def _refresh_locked(
        self, stored: Token | None, rejected: Token | None, logouts: int, *, early: bool = False
    ) -> Token:
        """Refresh while holding the store's lock; persist before handing anything out
        (unless a logout happened since the renewal began: then nothing is stored).

        A stored token of a type the strategy cannot use is not refreshed (it counts as
        none) but is what the new token replaces. The new token carries its renewal
        streak (:meth:`RenewalPace.stamp`), so the pace is stored with it."""
        base = stored if stored is not None and self.strategy.can_use(stored) else None
        if stored is not None and base is None and stored.dpop_jkt is not None:
            logger.warning(
                "the stored token of %s is bound to a DPoP key this client does not hold: "
                "every client sharing a store must hold the same key (DPoPKey.load)",
                self.strategy.store_namespace,
            )
        # A renewal of a held token that fails is announced (RefreshFailed), once.
        refused: str | None = None
        try:
            if base is None:
                flow = Flow(self.strategy)
                request = flow.request_token(self.clock())
            else:
                flow = Flow.holding(self.strategy, base)
                try:
                    request = flow.refresh(self.clock())
                except LoginRequired:
                    if rejected is not None:
                        await self.drop(rejected)
                    raise
            rotating = base is not None and bool(base.refresh_token)
            # A refresh that reached the server may have rotated the refresh token: finish
            # it and persist the result even if the caller is cancelled meanwhile.
            if rotating:
                with anyio.CancelScope(shield=True):
                    result = await self._exchange(flow, request)
            else:
                result = await self._exchange(flow, request)
            previous = stored
            if isinstance(result, RefreshRefused):
                # A sibling may have rotated the refresh token under us: look again.
                current = await self.store.get_token(self.key)
                if (
                    current is not None
                    and _fingerprint(current) != _fingerprint(stored)
                    and self.usable(current, rejected, early=False)
                ):
                    return current
                refused = result.error.error
                try:
                    request = flow.refresh_refused(self.clock())
                except LoginRequired:
                    if flow.discarded is not None:
                        await self.drop(flow.discarded)
                    raise
                if self.events is not None and self.events.active:
                    await self.events.refresh_failed(
                        result.error, early=early, oauth_error=result.error.error
                    )
                base = None  # what follows is a new grant, not a refresh
                refused = None
                result = await self._exchange(flow, request)
                assert not isinstance(result, RefreshRefused)  # a new grant is no refresh
                previous = current
            token = RenewalPace.stamp(result, stored)
            if type(self.store) is MemoryStore:
                # Never suspends (see save()): no cancellation can reach it.
                saved = await self._persist_or_keep(previous, token, logouts)
            else:
                with anyio.CancelScope(shield=True):
                    saved = await self._persist_or_keep(previous, token, logouts)
        except Exception as exc:
            if base is not None and self.events is not None:
                await self.events.refresh_failed(exc, early=early, oauth_error=refused)
            raise
        if self.events is not None and self.events.active:
            await self._announce(base, token, request, early=early)
        return saved

    async def _announce(
        self, base: Token | None, token: Token, request: HttpRequest, *, early: bool
    ) -> None:
        """Emit the events of a renewal that brought ``token`` (stored by now)."""
        events = self.events
        assert events is not None
        facts = events.token_facts(token)
        grant = grant_type(request) or "unknown"
        if base is None or grant != "refresh_token":
            await events.emit(events.make(TokenIssued, grant_type=grant, **facts))
            return
        previous = event_fingerprint(base.access_token)
        await events.emit(
            events.make(TokenRefreshed, previous_fingerprint=previous, early=early, **facts)
        )
        if token.refresh_token and token.refresh_token != base.refresh_token:
            await events.emit(
                events.make(
                    RefreshTokenRotated,
                    previous_fingerprint=event_fingerprint(base.refresh_token),
                    fingerprint=event_fingerprint(token.refresh_token),
                )
            )

    async def _persist_or_keep(self, previous: Token | None, token: Token, logouts: int) -> Token:
        """:meth:`_persist`; if the store fails, keep ``token`` to store first thing on the
        next renewal. The server issued it and may have rotated the refresh token: the
        stored one may be spent, so losing this one would force a new login. (The
        store's lock, which this holder could not release, keeps siblings from
        refreshing with the spent one meanwhile, up to its ttl.)

        After a logout (:meth:`forget`) since the renewal began, ``token`` is neither
        stored nor kept: the logout stands."""
        if logouts != self._logouts:
            logger.debug("a logout happened during the renewal: its token is not stored")
            return token
        try:
            return await self._persist(previous, token)
        except StoreError as exc:
            self._unsaved = (previous, token)
            logger.warning(
                "the store failed to take the refreshed %s token (%s); it is kept to store "
                "on the next renewal",
                self.strategy.store_namespace,
                type(exc).__name__,
            )
            raise

    async def _save_unsaved(self) -> None:
        """Store the token a failing store could not take (see :meth:`_persist_or_keep`)."""
        assert self._unsaved is not None
        previous, token = self._unsaved
        with anyio.CancelScope(shield=True):
            try:
                await self._persist(previous, token)
            except LoginRequired:
                self._unsaved = None  # it was deleted meanwhile (a logout): let it go
                raise
        self._unsaved = None
        logger.info("the refreshed %s token is stored now", self.strategy.store_namespace)

    async def _persist(self, previous: Token | None, token: Token) -> Token:
        """Compare-and-set ``token`` over ``previous``; a newer stored token wins."""
        if await self.store.replace_token(self.key, previous, token):
            return token
        current = await self.store.get_token(self.key)
        if current is not None and self.usable(current, None, early=False):
            return current
        if current is not None and await self.store.replace_token(self.key, current, token):
            return token
        if not self.strategy.has_direct_grant:
            raise LoginRequired("the token was deleted while it was being refreshed")
        await self.store.set_token(self.key, token)
        return token

    async def drop(self, rejected: Token) -> None:
        """Forget a token the server refused, if it is still the stored one."""
        current = await self.store.get_token(self.key)
        if current is not None and _fingerprint(current) == _fingerprint(rejected):
            await self.store.delete_token(self.key)
        if self.held is not None and _fingerprint(self.held) == _fingerprint(rejected):
            self.held = None

    def _hold(self, token: Token, logouts: int | None = None) -> Token:
        """Hold ``token``, unless a logout happened since ``logouts`` was read."""
        if logouts is None or logouts == self._logouts:
            self.held = token
        return token

    async def forget(self) -> None:
        """Forget the token here and in the store (see :meth:`Client.forget`)."""
        self._logouts += 1
        self.held = None
        self._unsaved = None
        await self._delete_stored()

    async def _delete_stored(self) -> None:
        if self._inflight is not None:
            # This client's own renewal may hold the store's lock: waiting for it could
            # wait for its whole timeout; the logout count keeps it from storing.
            await self.store.delete_token(self.key)
            return
        ttl = self._lock_ttl()
        async with self.store.lock(_LOCK + self.key, ttl=ttl, wait=ttl + self.timeout):
            await self.store.delete_token(self.key)

    async def save(self, token: Token) -> None:
        """Store ``token`` (a login's, or one obtained elsewhere) and hold it."""
        if token.renewal_streak:
            token = attrs.evolve(token, renewal_streak=0)  # a login starts a fresh streak
        # A token the provider issued must not be lost to a cancellation. MemoryStore's
        # set_token never suspends, so no cancellation can reach it: it needs no shield.
        if type(self.store) is MemoryStore:
            await self.store.set_token(self.key, token)
        else:
            with anyio.CancelScope(shield=True):
                await self.store.set_token(self.key, token)
        self.held = token
