"""Token events: what happened to a client's token, as immutable values, and their delivery.

Owns the event types (:class:`TokenEvent` and its subclasses), the non-reversible token
fingerprint they carry (:func:`event_fingerprint`), and :class:`EventHub`, which hands
each event to the listeners a :class:`~anyoauth.Client` was given (sync or async
callbacks) and to its event streams (:class:`EventStream`, ``async for``). No event holds
a secret: tokens, codes and client credentials never enter one. The driver emits the
events where it learns the facts (a token saved, a refresh answered, a login
completed); delivery never fails or stalls the flow that emits.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self, TypeVar

import anyio
import attrs
from anyio.abc import TaskGroup

from ._core.errors import LoginRequired, ProviderError
from ._core.token import Token

__all__ = [
    "ASYNC_LISTENER_TIMEOUT",
    "DEFAULT_EVENT_BUFFER",
    "EventHub",
    "EventStream",
    "EventsDropped",
    "Listener",
    "LoginCompleted",
    "LoginFailed",
    "LoginStarted",
    "RefreshFailed",
    "RefreshTokenRotated",
    "TokenEvent",
    "TokenForgotten",
    "TokenIssued",
    "TokenRefreshed",
    "TokenRevoked",
    "event_fingerprint",
    "oauth_error_code",
]

logger = logging.getLogger("anyoauth")

DEFAULT_EVENT_BUFFER = 256
"""How many events an :class:`EventStream` (and an async listener's queue) holds."""

ASYNC_LISTENER_TIMEOUT = 1.0
"""Seconds an async listener may take when the client is not entered (``async with``)
and the listener is awaited where the event happened; it is cancelled past them."""


def event_fingerprint(value: str | None) -> str | None:
    """A short, non-reversible name for a token value: the first 16 hex digits of a
    SHA-256 digest (``None`` for no value). Equal tokens have equal fingerprints, so a
    listener can tell tokens apart and follow one through events without seeing it."""
    if not value:
        return None
    return hashlib.sha256(b"anyoauth-event\0" + value.encode()).hexdigest()[:16]


def _scopes(token: Token) -> tuple[str, ...]:
    return tuple((token.scope or "").split())


@attrs.frozen(kw_only=True)
class TokenEvent:
    """Something that happened to a client's token. Every event says whose: the
    store namespace, the account and the strategy's name, and when (the client's
    clock, seconds since the epoch). No event carries a secret."""

    namespace: str
    """The strategy's store namespace (:attr:`Strategy.store_namespace`)."""
    account: str
    """The client's account (:attr:`Client.account`)."""
    strategy: str
    """The strategy's name."""
    at: float
    """When it happened, by the client's clock."""


@attrs.frozen(kw_only=True)
class _TokenFacts(TokenEvent):
    """An event about one token the server issued."""

    fingerprint: str | None
    """The access token's :func:`event_fingerprint`."""
    token_type: str
    """``Bearer``, ``DPoP``..."""
    expires_at: float | None
    """When the access token expires (``None``: unknown)."""
    scopes: tuple[str, ...]
    """The scopes granted, as the server named them (empty when it named none)."""
    refreshable: bool
    """Whether the token came with a refresh token."""


@attrs.frozen(kw_only=True)
class TokenIssued(_TokenFacts):
    """The server issued a new token by a grant (not a refresh): a login's code
    exchange, a device login, client credentials, any direct grant."""

    grant_type: str
    """The grant that brought it (``authorization_code``, ``client_credentials``,
    ``urn:ietf:params:oauth:grant-type:device_code``...; ``implicit`` for a token in
    the redirect)."""


@attrs.frozen(kw_only=True)
class TokenRefreshed(_TokenFacts):
    """A refresh token was exchanged for a new token (this client's renewal; one
    event per renewal however many callers waited for it)."""

    previous_fingerprint: str | None
    """The fingerprint of the access token it replaces."""
    early: bool
    """Whether it was an early renewal (the old token was still valid)."""


@attrs.frozen(kw_only=True)
class RefreshTokenRotated(TokenEvent):
    """The server answered a refresh with a new refresh token (RFC 9700 4.14.2): the
    old one is spent. Emitted after :class:`TokenRefreshed`, once the new token is
    stored."""

    previous_fingerprint: str | None
    """The spent refresh token's :func:`event_fingerprint`."""
    fingerprint: str | None
    """The new refresh token's :func:`event_fingerprint`."""


@attrs.frozen(kw_only=True)
class RefreshFailed(TokenEvent):
    """A renewal of this client's token failed: the refresh (or the new direct grant
    replacing an expired token) was refused or got no answer."""

    error: str
    """The error's type name (``TokenRequestError``, ``ServerUnavailable``...)."""
    oauth_error: str | None
    """The server's OAuth error code (``invalid_grant``...), when it sent one: a
    registered code, or ``other`` (a server's own text never enters an event)."""
    login_required: bool
    """Whether only a new login can help (the refresh token was refused, or none)."""
    early: bool
    """Whether it was an early renewal (the valid token is kept meanwhile)."""


@attrs.frozen(kw_only=True)
class TokenRevoked(TokenEvent):
    """The token was forgotten here and revoked at the server (:meth:`Client.revoke`)."""

    fingerprint: str | None
    """The revoked access token's fingerprint (``None`` when no token was held)."""


@attrs.frozen(kw_only=True)
class TokenForgotten(TokenEvent):
    """The token was deleted here without being revoked at the server
    (:meth:`Client.forget`, :meth:`Client.end_session`, or a :meth:`Client.revoke`
    whose server could not be reached)."""


@attrs.frozen(kw_only=True)
class LoginStarted(TokenEvent):
    """An interactive login began: an authorization URL was made (``redirect``) or a
    device code was asked for (``device``)."""

    flow: str
    """``redirect`` or ``device``."""


@attrs.frozen(kw_only=True)
class LoginCompleted(_TokenFacts):
    """An interactive login ended with a stored token (after its :class:`TokenIssued`)."""

    flow: str
    """``redirect`` or ``device``."""


@attrs.frozen(kw_only=True)
class LoginFailed(TokenEvent):
    """An interactive login failed (refused state, denied authorization, failed code
    exchange, user agent error...). A cancelled login emits nothing."""

    flow: str
    """``redirect`` or ``device``."""
    error: str
    """The error's type name."""
    oauth_error: str | None
    """The server's OAuth error code, when it sent one (``access_denied``...): a
    registered code, or ``other``."""


@attrs.frozen(kw_only=True)
class EventsDropped(TokenEvent):
    """Only in an :class:`EventStream`: its buffer was full and the ``count`` oldest
    events were dropped; the events after this one are the newer ones."""

    count: int
    """How many events were dropped."""


_E = TypeVar("_E", bound=TokenEvent)

Listener = Callable[[TokenEvent], "Awaitable[None] | None"]
"""A callback that takes a :class:`TokenEvent`: a function or a coroutine function."""


def _is_async(listener: Listener) -> bool:
    call = getattr(listener, "__call__", None)  # noqa: B004 - an object's async __call__
    return inspect.iscoroutinefunction(listener) or inspect.iscoroutinefunction(call)


_OAUTH_ERRORS = frozenset(
    {
        # RFC 6749 4.1.2.1, 5.2; RFC 6750 3.1; RFC 7009 2.2.1
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "access_denied",
        "unsupported_response_type",
        "server_error",
        "temporarily_unavailable",
        "invalid_token",
        "insufficient_scope",
        "unsupported_token_type",
        # RFC 8628 3.5; RFC 9449 5, 8; RFC 8707 2; RFC 9396 5; RFC 9126 2.3
        "authorization_pending",
        "slow_down",
        "expired_token",
        "invalid_dpop_proof",
        "use_dpop_nonce",
        "invalid_target",
        "invalid_authorization_details",
        "invalid_request_uri",
        "invalid_request_object",
        "request_not_supported",
        "request_uri_not_supported",
        # OpenID Connect Core 3.1.2.6; CIBA 11, 13
        "interaction_required",
        "login_required",
        "account_selection_required",
        "consent_required",
        "registration_not_supported",
        "expired_login_hint_token",
        "unknown_user_id",
        "missing_user_code",
        "invalid_user_code",
        "invalid_binding_message",
        "transaction_failed",
    }
)
"""The registered OAuth error codes an event names; any other code a server sends is
``other`` (a server's text never enters an event)."""


def oauth_error_code(code: str | None) -> str | None:
    """``code`` if it is a registered OAuth error code, ``other`` for any other text,
    ``None`` for none."""
    if code is None:
        return None
    return code if code in _OAUTH_ERRORS else "other"


def _oauth_error(exc: BaseException) -> str | None:
    return oauth_error_code(exc.error) if isinstance(exc, ProviderError) else None


class EventStream:
    """The events of one client, as an async iterator with a bounded buffer.

    Made by :meth:`Client.events`; events emitted from then on are buffered until read.
    When the buffer is full, the oldest event is dropped, and the next read gives an
    :class:`EventsDropped` saying how many were lost before the newer events. Iteration
    ends once the stream is closed (:meth:`close`, leaving ``async with``); a stream
    nobody references any more stops receiving events by itself.
    """

    def __init__(self, hub: EventHub, buffer: int) -> None:
        if buffer < 1:
            raise ValueError("an event stream's buffer holds at least one event")
        self._hub = hub
        self._buffer: deque[TokenEvent] = deque()
        self._size = buffer
        self._dropped = 0
        self._closed = False
        self._wake: anyio.Event | None = None

    def __repr__(self) -> str:
        return f"<anyoauth.EventStream {len(self._buffer)}/{self._size} buffered>"

    def put(self, event: TokenEvent) -> None:
        """Buffer ``event`` (dropping the oldest when full); never waits."""
        if self._closed:
            return
        if len(self._buffer) >= self._size:
            self._buffer.popleft()
            self._dropped += 1
        self._buffer.append(event)
        self._signal()

    def _signal(self) -> None:
        if self._wake is not None:
            self._wake.set()
            self._wake = None

    def close(self) -> None:
        """Stop receiving events; iteration ends after the buffered ones."""
        self._closed = True
        self._hub.discard(self)
        self._signal()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> TokenEvent:
        while True:
            if self._dropped:
                count, self._dropped = self._dropped, 0
                return self._hub.make(EventsDropped, count=count)
            if self._buffer:
                return self._buffer.popleft()
            if self._closed:
                raise StopAsyncIteration
            self._wake = wake = anyio.Event()
            await wake.wait()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class EventHub:
    """Delivers one client's events to its listeners and streams.

    A sync listener is called where the event happened; an exception it raises is
    logged and the flow carries on. An async listener runs in a task of the client's
    task group when the client is entered (``async with``), reading its own bounded
    queue in order (a full queue drops the oldest events, logged); otherwise it is
    awaited where the event happened, for at most :data:`ASYNC_LISTENER_TIMEOUT`
    seconds. Listeners should be quick either way.

    Args:
        origin: the client's store namespace, account and strategy name, now.
        clock: the client's clock.
    """

    def __init__(
        self, origin: Callable[[], tuple[str, str, str]], clock: Callable[[], float]
    ) -> None:
        self._origin = origin
        self._clock = clock
        self._listeners: list[Listener] = []
        self._streams: weakref.WeakSet[EventStream] = weakref.WeakSet()
        self._queues: dict[int, EventStream] = {}
        self._group: TaskGroup | None = None

    @property
    def active(self) -> bool:
        """Whether anyone listens (events are made only then)."""
        return bool(self._listeners) or bool(self._streams)

    def make(self, kind: type[_E], **fields: Any) -> _E:
        """An event of ``kind`` from this client, now."""
        namespace, account, strategy = self._origin()
        now = self._clock()
        return kind(namespace=namespace, account=account, strategy=strategy, at=now, **fields)

    def token_facts(self, token: Token) -> dict[str, Any]:
        """The fields an event about ``token`` carries (no secret)."""
        return {
            "fingerprint": event_fingerprint(token.access_token),
            "token_type": token.token_type,
            "expires_at": token.expires_at,
            "scopes": _scopes(token),
            "refreshable": bool(token.refresh_token),
        }

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Add ``listener``; returns a function that removes it."""
        if not callable(listener):
            raise TypeError("an event listener must be callable")
        self._listeners.append(listener)
        if _is_async(listener) and self._group is not None:
            self._start(listener, self._group)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)
            queue = self._queues.pop(id(listener), None)
            if queue is not None:
                queue.close()

        return unsubscribe

    def stream(self, buffer: int = DEFAULT_EVENT_BUFFER) -> EventStream:
        """A new :class:`EventStream` receiving this client's events from now on."""
        stream = EventStream(self, buffer)
        self._streams.add(stream)
        return stream

    def discard(self, stream: EventStream) -> None:
        """Stop delivering to ``stream``."""
        self._streams.discard(stream)

    def start(self, group: TaskGroup) -> None:
        """Run async listeners in ``group`` (the entered client's) from now on."""
        self._group = group
        for listener in self._listeners:
            if _is_async(listener) and id(listener) not in self._queues:
                self._start(listener, group)

    def stop(self) -> None:
        """Async listeners are awaited where events happen again (the client left)."""
        self._group = None
        queues, self._queues = self._queues, {}
        for queue in queues.values():
            queue.close()

    def _start(self, listener: Listener, group: TaskGroup) -> None:
        queue = EventStream(self, DEFAULT_EVENT_BUFFER)
        self._queues[id(listener)] = queue
        group.start_soon(self._drain, listener, queue)

    async def _drain(self, listener: Listener, queue: EventStream) -> None:
        async for event in queue:
            if isinstance(event, EventsDropped):
                logger.warning(
                    "an async event listener fell behind: %d events dropped", event.count
                )
                continue
            try:
                result = listener(event)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                _log_failure(listener, event)

    async def emit(self, event: TokenEvent) -> None:
        """Deliver ``event``; never raises (but for cancellation) and never waits long."""
        for stream in list(self._streams):
            stream.put(event)
        for listener in list(self._listeners):
            queue = self._queues.get(id(listener))
            if queue is not None:
                queue.put(event)
                continue
            try:
                result = listener(event)
                if inspect.isawaitable(result):
                    with anyio.move_on_after(ASYNC_LISTENER_TIMEOUT) as scope:
                        await result
                    if scope.cancelled_caught:
                        logger.warning(
                            "event listener %s took longer than %g s on %s: cancelled",
                            _name(listener),
                            ASYNC_LISTENER_TIMEOUT,
                            type(event).__name__,
                        )
            except Exception:
                _log_failure(listener, event)

    async def failed(
        self, kind: type[Any], exc: BaseException, *, oauth_error: str | None = None, **fields: Any
    ) -> None:
        """Emit a failure event of ``kind`` for ``exc`` (when anyone listens);
        ``oauth_error``: the server's error code when ``exc`` does not carry it."""
        if self.active:
            code = _oauth_error(exc) or oauth_error_code(oauth_error)
            await self.emit(self.make(kind, error=type(exc).__name__, oauth_error=code, **fields))

    async def refresh_failed(
        self, exc: BaseException, *, early: bool, oauth_error: str | None = None
    ) -> None:
        """Emit :class:`RefreshFailed` for ``exc``."""
        await self.failed(
            RefreshFailed,
            exc,
            oauth_error=oauth_error,
            login_required=isinstance(exc, LoginRequired),
            early=early,
        )


def _name(listener: Listener) -> str:
    return getattr(listener, "__qualname__", None) or type(listener).__qualname__


def _log_failure(listener: Listener, event: TokenEvent) -> None:
    logger.warning(
        "event listener %s failed on %s; the flow carries on",
        _name(listener),
        type(event).__name__,
        exc_info=True,
    )
