"""The async driver: runs a strategy's flow through the state machine with anyio + httpx."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from contextlib import aclosing
from types import ModuleType, TracebackType
from typing import Any, Self

import anyio
import httpx

from ._core.errors import OAuthError, StateMismatch, TokenEndpointUnavailable
from ._core.machine import AuthorizationRequest, Flow, pending_key
from ._core.strategy import HttpRequest, Strategy
from ._core.token import Token
from ._store import MemoryStore, Store

__all__ = ["Client"]

logger = logging.getLogger("anyoauth")

_PENDING = "pending:"

DEFAULT_MAX_RESPONSE_BYTES = 1 << 20
"""Token responses larger than this are refused without being read whole."""


def _module_of(http: object) -> ModuleType:
    """The HTTP package (``httpx`` or ``httpx2``) a client object comes from."""
    return sys.modules[type(http).__module__.partition(".")[0]]


class Client:
    """Drives one strategy: starts logins, completes them, and hands out valid tokens.

    Args:
        strategy: the flow to run, usually a preset from :mod:`anyoauth.providers`.
        store: where tokens and pending flows live; a :class:`MemoryStore` by default.
        http: an ``httpx.AsyncClient`` or ``httpx2.AsyncClient`` to send token requests
            with; the client never closes one it was given. By default it creates
            (and closes, in :meth:`aclose`) an ``httpx.AsyncClient``.
        account: tells apart several tokens of the same strategy in one store.
        clock: seconds since the epoch; injected so tests can move time.
        leeway: a token this close to its expiry counts as expired.
        timeout: the total deadline, in seconds, of one token request, body included.
        max_response_bytes: token responses larger than this are refused.

    Use it as an async context manager, or call :meth:`aclose` when done.
    """

    def __init__(
        self,
        strategy: Strategy,
        store: Store | None = None,
        http: Any = None,
        *,
        account: str = "default",
        clock: Callable[[], float] | None = None,
        leeway: float = 30.0,
        timeout: float = 30.0,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        if not isinstance(strategy, Strategy):
            raise TypeError("strategy must be an anyoauth Strategy")
        self.strategy = strategy
        self._clock = clock or time.time
        self.store: Store = store if store is not None else MemoryStore(clock=self._clock)
        self._http = http
        self._owns_http = http is None
        self.account = account
        self.leeway = leeway
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self._lock = anyio.Lock()

    def __repr__(self) -> str:
        return f"<anyoauth.Client {self.strategy.binding} account={self.account!r}>"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this client created it."""
        if self._owns_http and self._http is not None:
            http, self._http = self._http, None
            await http.aclose()

    @property
    def token_key(self) -> str:
        """The store key of this client's token (no secret in it)."""
        return f"token:{self.strategy.binding}:{self.account}"

    # -- interactive flows ------------------------------------------------------------

    async def begin(self) -> AuthorizationRequest:
        """Start a login: returns the authorization URL and saves the pending flow.

        Open ``.url`` in a user agent, then pass the URL it is sent back to (or,
        for embedded-browser flows, the special URL it lands on) to :meth:`complete`.
        """
        request = Flow(self.strategy).start(self._clock())
        await self.store.put_pending(_PENDING + pending_key(request.state), request.pending)
        logger.debug("login started for %s", self.strategy.binding)
        return request

    async def complete(self, url: str) -> Token:
        """Finish a login from the URL the user agent landed on; returns the stored token.

        Raises :class:`StateMissing`, :class:`StateMismatch` (unknown or reused state),
        :class:`FlowExpired`, :class:`RedirectMismatch`, :class:`MalformedRedirect`,
        :class:`AuthorizationDenied` before any token request is sent, and
        :class:`TokenRequestError`, :class:`InvalidTokenResponse` or
        :class:`TokenEndpointUnavailable` if the exchange fails.
        """
        redirect, key = Flow.redirect_key(self.strategy, url)
        pending = await self.store.take_pending(_PENDING + key)
        if pending is None:
            raise StateMismatch("unknown or already used state")
        flow = Flow.resume(self.strategy, pending)
        result = flow.receive_redirect(redirect, self._clock())
        token = result if isinstance(result, Token) else await self._exchange(flow, result)
        await self._save(token)
        logger.debug("login completed for %s", self.strategy.binding)
        return token

    # -- tokens -------------------------------------------------------------------------

    async def token(self) -> Token:
        """A valid token: the stored one, or a new one fetched or refreshed.

        Concurrent callers share one token request. Raises :class:`LoginRequired`
        when no token can be had without the user.
        """
        token = await self.store.get_token(self.token_key)
        if token is not None and not token.is_expired(self._clock(), self.leeway):
            return token
        async with self._lock:
            token = await self.store.get_token(self.token_key)
            now = self._clock()
            if token is not None and not token.is_expired(now, self.leeway):
                return token
            if token is None:
                flow = Flow(self.strategy)
                request = flow.request_token()
            else:
                flow = Flow.holding(self.strategy, token)
                flow.check_expiry(now, self.leeway)
                request = flow.refresh()
            token = await self._exchange(flow, request)
            await self._save(token)
            return token

    async def set_token(self, token: Token) -> None:
        """Store ``token`` as this client's token (for tokens obtained elsewhere)."""
        await self._save(token)

    async def forget(self) -> None:
        """Delete this client's stored token (local logout; nothing is revoked)."""
        await self.store.delete_token(self.token_key)

    async def _save(self, token: Token) -> None:
        # A token the provider issued must not be lost to a cancellation.
        with anyio.CancelScope(shield=True):
            await self.store.set_token(self.token_key, token)

    # -- IO -------------------------------------------------------------------------------

    async def _exchange(self, flow: Flow, request: HttpRequest) -> Token:
        try:
            status, content_type, body = await self._send(request)
        except OAuthError as exc:
            flow.transport_failed(exc)
        return flow.receive_token_response(status, content_type, body, self._clock())

    def _client(self) -> Any:
        if self._http is None:
            self._http = httpx.AsyncClient(follow_redirects=False)
        return self._http

    async def _send(self, request: HttpRequest) -> tuple[int, str | None, bytes]:
        http = self._client()
        module = _module_of(http)
        logger.debug("token request: %s %s", request.method, request.url)
        built = http.build_request(
            request.method, request.url, headers=list(request.headers), content=request.content
        )
        try:
            with anyio.fail_after(self.timeout):
                response = await http.send(built, stream=True, follow_redirects=False)
                body = bytearray()
                try:
                    async with aclosing(response.aiter_bytes()) as chunks:
                        async for chunk in chunks:
                            body += chunk
                            if len(body) > self.max_response_bytes:
                                raise TokenEndpointUnavailable(
                                    f"token response larger than {self.max_response_bytes} bytes"
                                )
                finally:
                    await response.aclose()
        except TimeoutError:
            raise TokenEndpointUnavailable(
                f"no complete answer from the token endpoint within {self.timeout} s"
            ) from None
        except module.HTTPError as exc:
            raise TokenEndpointUnavailable(
                f"token endpoint unreachable ({type(exc).__name__})"
            ) from None
        logger.debug("token response: HTTP %d, %d bytes", response.status_code, len(body))
        return response.status_code, response.headers.get("content-type"), bytes(body)
