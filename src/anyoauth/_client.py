"""The async driver's API: :class:`Client` runs a strategy's flow through the state
machine with anyio, keeps its token in a store and renews it single-flight.

Every flow rule is the machine's (:mod:`anyoauth._core.machine`); this module does the
IO the machine asks for: it sends requests (:mod:`anyoauth._http`), reads and writes the
store, waits, and runs one renewal for any number of callers and clients sharing the
store. Errors leave it through :func:`~anyoauth._scrub.scrubbed`.
"""

from __future__ import annotations

import inspect
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import AsyncExitStack
from types import MappingProxyType, ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, Self

import anyio
import attrs
import httpx

from ._backchannel import BackchannelWaiters
from ._core.ciba import BackchannelAuthorization, BackchannelRequest
from ._core.device import DeviceAuthorization
from ._core.errors import (
    ConfigurationError,
    InvalidIdToken,
    LoginRequired,
    OAuthError,
    ServerUnavailable,
    StateMismatch,
    TokenRequestError,
)
from ._core.http import HttpRequest
from ._core.introspection import Introspection
from ._core.jose import jwks_from_response
from ._core.machine import Flow, State
from ._core.redaction import redacting
from ._core.revocation import check_revocation_response
from ._core.strategies import Strategy, UserStep
from ._core.text import printable
from ._core.token import Token
from ._core.values import AuthorizationRequest, KeysNeeded, RefreshRefused, pending_key
from ._events import (
    DEFAULT_EVENT_BUFFER,
    EventHub,
    EventStream,
    Listener,
    LoginCompleted,
    LoginFailed,
    LoginStarted,
    TokenForgotten,
    TokenIssued,
    TokenRevoked,
    event_fingerprint,
)
from ._http import DEFAULT_MAX_RESPONSE_BYTES, module_of, send_for_answer, send_with_retries
from ._httpx_auth import auth_class
from ._renewal import TokenKeeper
from ._retry import RetryPolicy
from ._scrub import scrubbed
from ._store import MemoryStore, Store
from ._store import token_fingerprint as _fingerprint
from ._telemetry import Telemetry, endpoint_kind, endpoint_kinds, grant_type

if TYPE_CHECKING:
    from .agents._base import UserAgent

__all__ = ["Client"]

logger = logging.getLogger("anyoauth")

_PENDING = "pending:"

_INTROSPECTION_HINTS = ("access_token", "refresh_token", None)
"""The ``token_type_hint`` values :meth:`Client.introspect` takes (RFC 7662 2.1)."""

_NEEDS_CERTIFICATE = (
    "mutual TLS needs an HTTP client that presents the client certificate: "
    "Client(..., http=httpx.AsyncClient(verify=anyoauth.client_tls_context(...)))"
)


class Client:
    """Drives one strategy: starts logins, completes them, and hands out valid tokens.

    Args:
        strategy: the flow to run, usually a preset from :mod:`anyoauth.providers`.
        store: where tokens and pending flows live; a :class:`MemoryStore` by default.
        http: an ``httpx.AsyncClient`` or ``httpx2.AsyncClient`` to send token requests
            with; the client never closes one it was given. By default it creates
            (and closes, in :meth:`aclose`) an ``httpx.AsyncClient``. Only its
            transport for each URL (mounts, proxies, TLS, pool) and its timeouts are
            used: never its default auth, headers, cookies or event hooks, never
            redirects, and cookies the server sets stay out of its jar.
        account: tells apart several tokens of the same strategy in one store.
        clock: seconds since the epoch; injected so tests can move time.
        leeway: a token this close to its expiry counts as expired.
        timeout: the total deadline, in seconds, of one token request: every attempt,
            every wait between attempts and the whole answer's body included.
        max_response_bytes: token responses larger than this are refused (before the
            body is read when the server declares its length, else as soon as it
            passes the limit).
        retries: when a failed token request is sent again (:class:`RetryPolicy`);
            by default up to 3 attempts, only where it is safe.
        on_event: a listener (sync or async callable) for this client's token events
            (:class:`TokenEvent`); more with :meth:`subscribe`, or read them with
            :meth:`events`. See the "Token events and telemetry" guide.
        telemetry: OpenTelemetry spans and metrics for every request this client
            sends (:class:`Telemetry`); none by default.

    A strategy that presents a TLS client certificate (mutual TLS,
    :attr:`Strategy.uses_client_certificate`) needs ``http``: one made here would have
    no certificate, and :class:`ConfigurationError` is raised. Whether a given client
    presents one cannot be seen from its ``ssl.SSLContext``: build it with
    :func:`client_tls_context`.

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
        retries: RetryPolicy | None = None,
        on_event: Listener | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        if not isinstance(strategy, Strategy):
            raise TypeError("strategy must be an anyoauth Strategy")
        if http is None and strategy.uses_client_certificate:
            # A client made here has no certificate to present (mutual TLS, RFC 8705).
            raise ConfigurationError(_NEEDS_CERTIFICATE)
        self._clock = clock or time.time
        self._http = http
        self._owns_http = http is None
        self.account = account
        self.max_response_bytes = max_response_bytes
        self.retries = retries if retries is not None else RetryPolicy()
        """When failed token requests are sent again (see :class:`RetryPolicy`)."""
        self._jwks: Mapping[str, Any] | None = None
        if telemetry is not None and not isinstance(telemetry, Telemetry):
            raise TypeError("telemetry must be an anyoauth Telemetry")
        self.telemetry = telemetry
        """Where spans and metrics of this client's requests go (``None``: nowhere)."""
        self._kinds: tuple[Strategy, Mapping[str, str]] | None = None
        self._events = EventHub(
            lambda: (self.strategy.store_namespace, self.account, self.strategy.name),
            self._clock,
        )
        if on_event is not None:
            self._events.subscribe(on_event)
        self._keeper = TokenKeeper(
            strategy=strategy,
            store=store if store is not None else MemoryStore(clock=self._clock),
            key=lambda: self.token_key,
            clock=self._clock,
            leeway=leeway,
            timeout=timeout,
            exchange=self._exchange,
            events=self._events,
        )
        self._exit_stack: AsyncExitStack | None = None
        self._backchannel = BackchannelWaiters()

    @property
    def strategy(self) -> Strategy:
        """The flow this client runs."""
        return self._keeper.strategy

    @strategy.setter
    def strategy(self, strategy: Strategy) -> None:
        if not isinstance(strategy, Strategy):
            raise TypeError("strategy must be an anyoauth Strategy")
        self._keeper.strategy = strategy

    @property
    def store(self) -> Store:
        """Where this client's token and pending logins live."""
        return self._keeper.store

    @store.setter
    def store(self, store: Store) -> None:
        self._keeper.store = store

    @property
    def leeway(self) -> float:
        """A token this close to its expiry (at most half its lifetime) is renewed early."""
        return self._keeper.leeway

    @leeway.setter
    def leeway(self, seconds: float) -> None:
        self._keeper.leeway = seconds

    @property
    def timeout(self) -> float:
        """The total deadline, in seconds, of one token request."""
        return self._keeper.timeout

    @timeout.setter
    def timeout(self, seconds: float) -> None:
        self._keeper.timeout = seconds

    @property
    def _held(self) -> Token | None:
        return self._keeper.held

    def __repr__(self) -> str:
        return f"<anyoauth.Client {self.strategy.store_namespace} account={self.account!r}>"

    async def __aenter__(self) -> Self:
        """Enter: early refreshes then run in a background task of this client."""
        async with AsyncExitStack() as stack:
            self._keeper.task_group = await stack.enter_async_context(anyio.create_task_group())
            self._events.start(self._keeper.task_group)
            self._exit_stack = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, self._exit_stack = self._exit_stack, None
        group, self._keeper.task_group = self._keeper.task_group, None
        self._events.stop()
        try:
            if stack is not None and group is not None:
                group.cancel_scope.cancel()
                await stack.aclose()
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this client created it."""
        if self._owns_http and self._http is not None:
            http, self._http = self._http, None
            await http.aclose()

    @property
    def token_key(self) -> str:
        """The store key of this client's token (no secret in it)."""
        return f"token:{self.strategy.store_namespace}:{self.account}"

    # -- interactive flows ------------------------------------------------------------

    @scrubbed
    async def begin(self) -> AuthorizationRequest:
        """Start a login: returns the authorization URL and saves the pending flow.

        A strategy that pushes its authorization request (RFC 9126) sends the push
        first: its errors (:class:`TokenRequestError`, :class:`InvalidResponse`,
        :class:`ServerUnavailable`) are raised and nothing is saved.

        Open ``.url`` in a user agent, then pass the URL it is sent back to (or,
        for embedded-browser flows, the special URL it lands on) to :meth:`complete`.
        """
        try:
            return await self._begin(self.strategy)
        except Exception as exc:
            await self._events.failed(LoginFailed, exc, flow="redirect")
            raise

    @scrubbed
    async def complete(self, url: str) -> Token:
        """Finish a login from the URL the user agent landed on; returns the stored token.

        For a strategy whose ``response_mode`` is ``form_post`` or ``form_post.jwt``,
        ``url`` is the redirect URI with the posted form as its query. A signed response
        (JARM) is validated with the server's key set (fetched when needed) before
        anything in it is used.

        Raises :class:`StateMissing`, :class:`StateMismatch` (unknown or reused state),
        :class:`FlowExpired`, :class:`RedirectMismatch`, :class:`MalformedRedirect`,
        :class:`InvalidAuthorizationResponse`, :class:`AuthorizationDenied` before any
        token request is sent, and
        :class:`TokenRequestError`, :class:`InvalidResponse` or
        :class:`ServerUnavailable` if the exchange fails.
        """
        try:
            return await self._complete(self.strategy, url)
        except Exception as exc:
            await self._events.failed(LoginFailed, exc, flow="redirect")
            raise

    @scrubbed
    async def login(self, agent: UserAgent | None = None) -> Token:
        """Run the whole interactive login in a user agent and return the stored token.

        ``agent`` shows the user the authorization page (see :mod:`anyoauth.agents`);
        by default :func:`anyoauth.agents.default_agent` picks one for the strategy:
        the embedded browser for flows that end on the provider's own special URLs
        (Geni), the loopback listener with the system browser otherwise. A strategy
        without a user step just gets a token (:meth:`token`).

        A loopback agent's redirect URI is used for the login: the strategy's
        ``redirect_uri`` may be left out (the listener picks a port), or, when it is an
        ``http`` loopback URI, tells the listener its host, path and port.

        A strategy whose authorize step is optional and runs only with a
        ``redirect_uri`` (the client credentials presets :class:`~anyoauth.providers.Keycloak`
        and :class:`~anyoauth.providers.BankOfGeorgia`) and has none: without
        ``agent``, this fetches a client credentials token, as :meth:`token` does (and
        logs so at INFO level); with ``agent``, the authorize step runs on the agent's
        redirect URI, and an agent that has none (:class:`~anyoauth.agents.ManualAgent`)
        raises :class:`ConfigurationError`.

        Raises :class:`AgentError` when the user agent fails, and every error of
        :meth:`complete`.
        """
        step = self.strategy.user_step
        if step is UserStep.DEVICE:
            return await self._device_login(None)
        if step is UserStep.DECOUPLED:
            raise ConfigurationError(
                f"{self.strategy.name} needs to know who logs in: use "
                "client.backchannel_login(login_hint=...)"
            )
        optional = step is UserStep.NONE and _authorizes_with_redirect(self.strategy)
        if step is UserStep.NONE and (agent is None or not optional):
            if optional:
                logger.info(
                    "login: %s has no redirect_uri, so its authorize step is skipped and a "
                    "client credentials token is fetched; pass a user agent to run it",
                    self.strategy.name,
                )
            return await self._token(None)
        try:
            return await self._agent_login(agent, optional=optional)
        except Exception as exc:
            await self._events.failed(LoginFailed, exc, flow="redirect")
            raise

    async def _agent_login(self, agent: UserAgent | None, *, optional: bool) -> Token:
        if agent is None:
            from .agents import default_agent

            agent = default_agent(self.strategy)
        async with agent.session(self.strategy) as session:
            strategy = self.strategy
            if session.redirect_uri is not None:
                strategy = attrs.evolve(strategy, redirect_uri=session.redirect_uri)
            elif optional:
                raise ConfigurationError(
                    f"{strategy.name} runs its authorize step only with a redirect_uri: "
                    "set the one registered with the provider, or use a loopback agent; "
                    "client.token() fetches a client credentials token"
                )
            start = await self._begin(strategy)
            url = await session.authorize(start.url)
        return await self._complete(strategy, url)

    async def _begin(self, strategy: Strategy) -> AuthorizationRequest:
        flow = Flow(strategy)
        started = flow.begin(self._clock())
        if isinstance(started, AuthorizationRequest):
            request = started
        else:  # a pushed authorization request (RFC 9126): pushed before anything is kept
            try:
                answer = await self._send(started.request)
            except OAuthError as exc:
                flow.push_failed(exc)
            request = flow.receive_push_response(*answer, self._clock())
        await self.store.put_pending(_PENDING + pending_key(request.state), request.pending)
        logger.debug("login started for %s", strategy.store_namespace)
        if self._events.active:
            await self._events.emit(self._events.make(LoginStarted, flow="redirect"))
        return request

    async def _complete(self, strategy: Strategy, url: str) -> Token:
        redirect, key = Flow.redirect_key(strategy, url)
        pending = await self.store.take_pending(_PENDING + key)
        if pending is None:
            raise StateMismatch("unknown or already used state")
        flow = Flow.resume(strategy, pending)
        result = flow.receive_response(redirect, self._clock(), keys=self._jwks)
        if isinstance(result, KeysNeeded):
            result = await self._response_verified(flow, result)
        self._jwks = flow.keys or self._jwks
        grant = "implicit"
        if not isinstance(result, Token):
            grant = grant_type(result) or "unknown"
            exchanged = await self._exchange(flow, result)
            assert not isinstance(exchanged, RefreshRefused)  # a code exchange is no renewal
            result = exchanged
        token = result
        await self._keeper.save(token)
        logger.debug("login completed for %s", strategy.store_namespace)
        await self._login_completed(token, grant, "redirect")
        return token

    async def _login_completed(self, token: Token, grant: str, flow: str) -> None:
        """Emit :class:`TokenIssued` and :class:`LoginCompleted` for a login's ``token``."""
        events = self._events
        if events.active:
            facts = events.token_facts(token)
            await events.emit(events.make(TokenIssued, grant_type=grant, **facts))
            await events.emit(events.make(LoginCompleted, flow=flow, **facts))

    # -- tokens -------------------------------------------------------------------------

    async def token(self, *, rejected: Token | None = None) -> Token:
        """A valid token: the one held, or a new one fetched or refreshed.

        A token inside ``leeway`` of its expiry is still handed out while one refresh
        runs (in the background when the client is entered with ``async with``;
        otherwise the caller that noticed runs it); a failed early refresh keeps the
        valid token. Once expired, callers wait for the refresh. Any number of
        concurrent callers, and every client sharing the store, cause one token
        request. A token with unknown expiry is used until the server rejects it:
        pass that token as ``rejected`` to get a different one.

        A server that issues short-lived tokens (under 10 s: ``expires_in`` 0, 1...)
        is not asked again on every call: after each, renewals pause (1 s, doubling to
        60 s; the pause is stored with the token, so every client sharing the store
        keeps it) and the token is returned meanwhile; from the third such token in a
        row, a call whose token has expired during the pause raises
        :class:`TokenExpiredOnArrival`. A stored token of a type the strategy cannot
        use (:meth:`Strategy.can_use`) is never handed out: it counts as no token.

        Raises :class:`LoginRequired` when only an interactive login can help,
        and the token request's errors otherwise.
        """
        # The path every API request takes (client.auth()) is one check, not a chain of
        # coroutines; only a renewal goes through the scrubbed path.
        fresh = self._keeper.fresh(rejected)
        if fresh is not None:
            return fresh
        try:
            return await self._token(rejected)
        except OAuthError:
            # _token's error was scrubbed; this frame, still running then, keeps neither
            # the client (which holds the tokens) nor the rejected token.
            del self, rejected
            raise

    def fresh_token(self) -> Token | None:
        """The held token when :meth:`token` would hand it out at once (valid and not
        yet due for renewal), else ``None``; never waits, never sends anything."""
        return self._keeper.fresh()

    @scrubbed
    async def refresh(self) -> Token:
        """Renew the token now and return the new one, whether or not it has expired.

        The held token (else the stored one) is renewed through the same path as
        :meth:`token` with ``rejected``: a refresh grant when it has a refresh token,
        else a new direct grant (client credentials). Any number of concurrent callers,
        and every client sharing the store, cause one token request: a caller that
        finds a renewal running joins it, and a client whose token a sibling renewed
        meanwhile gets the sibling's token without sending anything. A rotated
        refresh token is stored before the new token is handed out; the renewal pause
        after short-lived tokens applies (:class:`TokenExpiredOnArrival`).

        Raises :class:`LoginRequired` when only an interactive login can help (no
        token, or a token without a refresh token, of a flow with a user step; a
        refresh token the server refuses), and the token request's errors otherwise.
        """
        return await self._keeper.refresh()

    @scrubbed
    async def _token(self, rejected: Token | None) -> Token:
        return await self._keeper.token(rejected)

    async def set_token(self, token: Token) -> None:
        """Store ``token`` as this client's token (for tokens obtained elsewhere)."""
        await self._keeper.save(token)

    async def forget(self) -> None:
        """Delete this client's stored token (local logout; nothing is revoked).

        A renewal running meanwhile in this client stores nothing; one running in
        another client sharing the store is waited for (the store's lock), so it cannot
        store its token after the deletion.
        """
        await self._keeper.forget()
        if self._events.active:
            await self._events.emit(self._events.make(TokenForgotten))

    # -- events ---------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` (a function or a coroutine function) with each of this
        client's token events (:class:`TokenEvent`) from now on; returns a function
        that unsubscribes it.

        A sync listener is called where the event happens; an async one runs in a
        task of the client's own when the client is entered (``async with``), in
        order, else it is awaited where the event happens for at most a second. A
        listener that raises is logged and the flow carries on (see the guide "Token
        events and telemetry")."""
        return self._events.subscribe(listener)

    def events(self, *, buffer: int = DEFAULT_EVENT_BUFFER) -> EventStream:
        """This client's token events from now on, for ``async for``: an
        :class:`EventStream` holding up to ``buffer`` unread events (when full, the
        oldest are dropped and an :class:`EventsDropped` says how many). Close it (or
        use it with ``async with``) to stop it; iteration then ends."""
        return self._events.stream(buffer)

    # -- httpx integration --------------------------------------------------------------

    def auth(self, module: ModuleType | None = None) -> Any:
        """An ``Auth`` for ``httpx.AsyncClient(auth=...)`` (or httpx2's) using this client.

        It sets ``Authorization`` from :meth:`token` on every request, and on a 401
        gets a different token (refreshing if it can) and retries once. ``module``
        is ``httpx`` or ``httpx2``; by default the package of this client's ``http``
        client, else ``httpx``.
        """
        if module is None:
            module = module_of(self._http) if self._http is not None else httpx
        return auth_class(module)(self)

    # -- DPoP (RFC 9449) --------------------------------------------------------------------

    def dpop_proof(self, method: str, url: str, *, token: Token | None = None) -> str:
        """A new DPoP proof (the ``DPoP`` header value) for a ``method`` request to
        ``url`` made now with ``token`` (its hash goes in the proof as ``ath``; send the
        token as ``Authorization: DPoP <token>``), carrying the latest nonce the server
        of ``url`` gave. :meth:`auth` does this for every request; call it for requests
        sent some other way. Raises :class:`ConfigurationError` without a DPoP key
        (:attr:`Strategy.dpop_key`)."""
        key = self.strategy.dpop_key
        if key is None:
            raise ConfigurationError(f"{self.strategy.name} has no DPoP key")
        return key.proof(
            method,
            url,
            now=self._clock(),
            nonce=key.nonce_for(url),
            access_token=None if token is None else token.access_token,
        )

    def remember_dpop_nonce(self, url: str, nonce: str) -> None:
        """Remember the ``DPoP-Nonce`` a server (of ``url``) answered with, for the next
        proofs to it (:meth:`DPoPKey.remember_nonce`); :meth:`auth` does this itself.
        Without a DPoP key, nothing is remembered."""
        key = self.strategy.dpop_key
        if key is not None:
            key.remember_nonce(url, nonce)

    # -- IO -------------------------------------------------------------------------------

    async def _exchange(self, flow: Flow, request: HttpRequest) -> Token | RefreshRefused:
        """Send the flow's token request and read the answer: the token (its id_token
        verified, with a key set fetched when the flow asks for one), or a refused
        refresh for the caller to handle."""
        keys = flow.key_set_wanted(self._jwks)
        if keys is not None:
            await self._prefetch_keys(keys)
        try:
            # A refresh whose answer was lost is sent once more (RetryPolicy.resend_refresh);
            # a code exchange never is: a code works once.
            status, content_type, body = await self._send(
                request, resend=flow.state is State.REFRESHING
            )
        except OAuthError as exc:
            flow.transport_failed(exc)
        result = flow.receive_token_response(
            status, content_type, body, self._clock(), keys=self._jwks
        )
        if isinstance(result, RefreshRefused):
            return result
        return await self._verified(flow, result)

    async def _verified(self, flow: Flow, result: Token | KeysNeeded) -> Token:
        """The token, once its id_token is verified with a (re)fetched key set."""
        if isinstance(result, Token):
            return result
        answer = await self._key_set_answer(flow, result)
        if isinstance(answer, Token):
            return answer
        token = flow.receive_keys(*answer, self._clock())
        self._jwks = flow.keys
        return token

    async def _response_verified(self, flow: Flow, needed: KeysNeeded) -> HttpRequest | Token:
        """What a signed authorization response leads to, once it is validated with the
        server's (re)fetched key set; a key set that cannot be fetched fails the login."""
        answer = await self._key_set_answer(flow, needed)
        if isinstance(answer, Token):
            return answer
        return flow.receive_response_keys(*answer, self._clock())

    async def _key_set_answer(
        self, flow: Flow, needed: KeysNeeded
    ) -> tuple[int, str | None, bytes] | Token:
        """The key set endpoint's answer (status, content type, body), or what the flow
        makes of a key set that cannot be fetched (a transport error or an HTTP 5xx
        answer: see :meth:`Flow.keys_unavailable`)."""
        try:
            status, content_type, body = await self._send(needed.request)
        except OAuthError as exc:
            return flow.keys_unavailable(exc, self._clock())
        if status >= 500:
            outage = ServerUnavailable(f"the key set endpoint answered HTTP {status}")
            return flow.keys_unavailable(outage, self._clock())
        return status, content_type, body

    async def _prefetch_keys(self, request: HttpRequest) -> None:
        """Fetch the key set the flow wants before its token request (see
        :meth:`Flow.key_set_wanted`); a failure is only logged: the flow fetches the
        keys again when it needs them, and fails there."""
        try:
            self._jwks = jwks_from_response(*await self._send(request))
        except (OAuthError, ValueError) as exc:
            logger.warning(
                "could not fetch the key set of %s (%s)", printable(request.url), type(exc).__name__
            )

    # -- the device grant -----------------------------------------------------------------

    @scrubbed
    async def device_login(
        self, show: Callable[[DeviceAuthorization], Awaitable[None] | None] | None = None
    ) -> Token:
        """Run the device authorization grant (RFC 8628) and return the stored token.

        Asks for a device code, calls ``show`` (sync or async) with the
        :class:`DeviceAuthorization` so the user can be told the ``user_code`` and the
        ``verification_uri`` (by default both are written to standard error, any
        control character escaped), then
        polls the token endpoint at the server's interval until the user approves.

        Raises :class:`AuthorizationDenied` when the user declines,
        :class:`FlowExpired` when the code expires first, and the token request's
        errors otherwise. Cancel the calling task to give up.
        """
        return await self._device_login(show)

    async def _device_login(
        self, show: Callable[[DeviceAuthorization], Awaitable[None] | None] | None
    ) -> Token:
        if self.strategy.user_step is not UserStep.DEVICE:
            raise ConfigurationError(f"{self.strategy.name} is not a device grant")
        try:
            return await self._device_flow(show)
        except Exception as exc:
            await self._events.failed(LoginFailed, exc, flow="device")
            raise

    async def _device_flow(
        self, show: Callable[[DeviceAuthorization], Awaitable[None] | None] | None
    ) -> Token:
        flow = Flow(self.strategy)
        request = flow.request_device_code(self._clock())
        try:
            status, content_type, body = await self._send(request)
        except OAuthError as exc:
            flow.transport_failed(exc)
        device = flow.receive_device_code(status, content_type, body, self._clock())
        if self._events.active:
            await self._events.emit(self._events.make(LoginStarted, flow="device"))
        shown = (show or _show_device_code)(device)
        if inspect.isawaitable(shown):
            await shown
        request, result = await self._poll_until_approved(
            flow, device.expires_at, anyio.sleep, "device"
        )
        token = await self._verified(flow, result)
        await self._keeper.save(token)
        logger.debug("device login completed for %s", self.strategy.store_namespace)
        await self._login_completed(token, grant_type(request) or "unknown", "device")
        return token

    async def _poll_until_approved(
        self,
        flow: Flow,
        expires_at: float,
        wait: Callable[[float], Awaitable[None]],
        name: str,
    ) -> tuple[HttpRequest, Token | KeysNeeded]:
        """Poll the token endpoint of a decoupled grant (device code or CIBA) until the
        user approves; return the last poll request and its answer (the token, or the
        key set its id_token needs).

        Before each poll, ``wait`` is given the seconds until the next poll is due (the
        flow's interval, ``slow_down`` included, never past ``expires_at``: that poll
        then raises :class:`FlowExpired`); it may return early (a CIBA ping). A lost
        poll (:class:`ServerUnavailable`) is logged and asked again later; any other
        transport error, a denial or a refusal is raised."""
        while True:
            poll_at = min(flow.next_poll_at, expires_at)
            await wait(max(0.0, poll_at - self._clock()))
            request = flow.poll(self._clock())
            try:
                status, content_type, body = await self._send(request)
            except ServerUnavailable as exc:
                logger.debug("%s poll failed (%s); polling again later", name, exc)
                flow.poll_lost(exc, self._clock())
                continue
            except OAuthError as exc:
                flow.transport_failed(exc)
            result = flow.receive_poll_response(
                status, content_type, body, self._clock(), keys=self._jwks
            )
            if result is not None:
                return request, result

    # -- CIBA (OpenID Client-Initiated Backchannel Authentication) ----------------------------

    @scrubbed
    async def backchannel_login(
        self,
        *,
        login_hint: str | None = None,
        login_hint_token: str | None = None,
        id_token_hint: str | None = None,
        binding_message: str | None = None,
        user_code: str | None = None,
        requested_expiry: int | None = None,
        acr_values: str | Iterable[str] | None = None,
        show: Callable[[BackchannelAuthorization], Awaitable[None] | None] | None = None,
    ) -> Token:
        """Run a CIBA login (OpenID CIBA Core 1.0) for the user named by exactly one of
        ``login_hint``, ``login_hint_token`` and ``id_token_hint``, and return the
        stored token.

        Sends the backchannel authentication request (with ``binding_message``,
        ``user_code``, ``requested_expiry`` and ``acr_values`` when given), calls
        ``show`` (sync or async) with the :class:`BackchannelAuthorization` (tell the
        user to look at their device, and show the binding message), then waits for
        the user: in ``poll`` mode it polls the token endpoint at the server's
        interval; in ``ping`` mode it waits for :meth:`receive_ping` to be called with
        the server's notification, or for the interval, whichever comes first, and then
        asks. ``slow_down``, lost polls and expiry follow the device grant's rules.

        Raises :class:`AuthorizationDenied` when the user declines, :class:`FlowExpired`
        when the request expires first, :class:`TokenRequestError` for any other refusal
        (``transaction_failed``), :class:`ConfigurationError` for a strategy that is not
        :class:`Ciba` or bad parameters. Cancel the calling task to give up.
        """
        if self.strategy.user_step is not UserStep.DECOUPLED:
            raise ConfigurationError(
                f"{self.strategy.name} is not a backchannel authentication grant"
            )
        request = BackchannelRequest(
            login_hint=login_hint,
            login_hint_token=login_hint_token,
            id_token_hint=id_token_hint,
            binding_message=binding_message,
            user_code=user_code,
            requested_expiry=requested_expiry,
            acr_values=acr_values,
        )
        flow = Flow(self.strategy)
        sent = flow.request_backchannel_authentication(request, self._clock())
        try:
            status, content_type, body = await self._send(sent)
        except OAuthError as exc:
            flow.transport_failed(exc)
        approval = flow.receive_backchannel_authentication(
            status, content_type, body, self._clock()
        )
        waiter = self._backchannel.add(flow)
        try:
            if show is not None:
                shown = show(approval)
                if inspect.isawaitable(shown):
                    await shown
            # In ping mode a ping ends the wait early.
            wait = waiter.wait if approval.mode == "ping" else anyio.sleep
            _, result = await self._poll_until_approved(
                flow, approval.expires_at, wait, "backchannel"
            )
        finally:
            self._backchannel.remove(waiter)
        token = await self._verified(flow, result)
        await self._keeper.save(token)
        logger.debug("backchannel login completed for %s", self.strategy.store_namespace)
        return token

    def receive_ping(self, authorization: str | None, body: bytes | str) -> None:
        """Take a CIBA ping (the server's POST to the client notification endpoint,
        CIBA Core 10.2): ``authorization`` is the request's ``Authorization`` header,
        ``body`` its body. Wakes the :meth:`backchannel_login` it is for, which then asks
        for the token at once; answer the server ``204 No Content``.

        The bearer token must be the ``client_notification_token`` of one of this
        client's waiting logins (compared in constant time) and ``body`` a JSON object
        with that login's ``auth_req_id``; each login takes one ping. Anything else
        raises :class:`InvalidNotification` (answer with its ``status_code``) and wakes
        nothing. Call it on the event loop the login runs on.
        """
        self._backchannel.receive(authorization, body, self._clock())

    # -- revocation and introspection -------------------------------------------------------

    @scrubbed
    async def revoke(self) -> None:
        """Log out: forget the token here, then revoke it at the server (RFC 7009).

        The refresh token is revoked first (servers then drop its access tokens
        too), then the access token. The local copy is deleted even when the server
        cannot be reached; the error is raised afterwards
        (:class:`ServerUnavailable`, :class:`TokenRequestError`).
        Raises :class:`ConfigurationError` when the strategy has no revocation endpoint.
        """
        if self.strategy.revocation_endpoint is None:
            raise ConfigurationError(f"{self.strategy.name} has no revocation endpoint")
        # What the store holds is current (a sibling may have rotated it); the copy held
        # here, if different, is revoked too.
        held = self._held
        stored = await self.store.get_token(self.token_key)
        if stored is not None and not self.strategy.can_use(stored):
            stored = None  # never sent anywhere, not even to be revoked
        await self._keeper.forget()
        tokens = [t for t in (stored, held) if t is not None]
        try:
            await self._revoke(tokens)
        except Exception:
            if self._events.active:
                await self._events.emit(self._events.make(TokenForgotten))
            raise
        if self._events.active:
            fingerprint = event_fingerprint(tokens[0].access_token) if tokens else None
            await self._events.emit(self._events.make(TokenRevoked, fingerprint=fingerprint))
        logger.debug("token revoked for %s", self.strategy.store_namespace)

    async def _revoke(self, tokens: list[Token]) -> None:
        """Revoke ``tokens`` at the server: refresh tokens first, then access tokens."""
        if len(tokens) == 2 and _fingerprint(tokens[0]) == _fingerprint(tokens[1]):
            del tokens[1]
        pairs: list[tuple[str, str]] = []
        for token in tokens:
            pairs += [(token.refresh_token or "", "refresh_token")]
        for token in tokens:
            pairs += [(token.access_token, "access_token")]
        sent: set[str] = set()
        for value, hint in pairs:
            if not value or value in sent:
                continue
            sent.add(value)
            request = self.strategy.revocation_request(
                value, token_type_hint=hint, now=self._clock()
            )
            answer = await self._send(request)
            try:
                with redacting(request):
                    check_revocation_response(*answer)
            except TokenRequestError as exc:
                # RFC 7009 2.2.1: a server that cannot revoke access tokens says so.
                if not (hint == "access_token" and exc.error == "unsupported_token_type"):
                    raise

    @scrubbed
    async def introspect(
        self,
        token: Token | str | None = None,
        *,
        token_type_hint: str | None = "access_token",  # noqa: S107 - a hint, no secret
    ) -> Introspection:
        """Ask the introspection endpoint (RFC 7662) about a token.

        ``token`` is a :class:`Token`, a token string, or ``None`` for this client's
        current token. ``token_type_hint`` says what is asked about and is sent as
        such: ``"access_token"`` (the default: a :class:`Token`'s access token),
        ``"refresh_token"`` (a :class:`Token`'s refresh token; :class:`ConfigurationError`
        when it has none), or ``None`` (no hint sent; a :class:`Token`'s access
        token). Raises :class:`ConfigurationError` without an introspection endpoint
        or for another hint, and :class:`LoginRequired` when ``None`` is given and no
        token is held.
        """
        if self.strategy.introspection_endpoint is None:
            raise ConfigurationError(f"{self.strategy.name} has no introspection endpoint")
        if token_type_hint not in _INTROSPECTION_HINTS:
            raise ConfigurationError(
                "token_type_hint must be 'access_token', 'refresh_token' or None"
            )
        if token is None:
            token = self._held or await self.store.get_token(self.token_key)
            if token is not None and not self.strategy.can_use(token):
                token = None  # never sent (see Strategy.can_use)
            if token is None:
                raise LoginRequired("no token to introspect")
        if isinstance(token, Token):
            value = token.access_token
            if token_type_hint == "refresh_token":
                if not token.refresh_token:
                    raise ConfigurationError("the token has no refresh token to introspect")
                value = token.refresh_token
        else:
            value = token
        request = self.strategy.introspection_request(
            value, token_type_hint=token_type_hint, now=self._clock()
        )
        answer = await self._send(request)
        with redacting(request):
            return Introspection.from_response(*answer)

    # -- OpenID Connect userinfo and RP-initiated logout ------------------------------------

    @scrubbed
    async def userinfo(self) -> Mapping[str, Any]:
        """The user's claims from the userinfo endpoint (OpenID Connect Core 5.3), asked
        with this client's token (:meth:`token`): a DPoP-bound token goes with a proof
        (``ath``), and with the mutual-TLS aliases on, the alias endpoint is called.

        A signed answer (``application/jwt``) is validated with the server's key set
        (fetched when needed, once more for an unknown key): signature, ``iss``,
        ``aud``. When the token carries validated id_token claims, the answer's ``sub``
        must be the id_token's (Core 5.3.4). A 401 gets a different token
        (:meth:`token` with ``rejected``) and asks once more.

        Raises :class:`ConfigurationError` without a userinfo endpoint,
        :class:`UserinfoError` when the endpoint refuses the token,
        :class:`UserinfoSubjectMismatch` for another ``sub``, :class:`InvalidUserinfo`
        for an answer that is not valid claims, :class:`ServerUnavailable` when the
        endpoint cannot be reached or answers more than ``max_response_bytes`` (at
        most 256 KiB), and :meth:`token`'s errors.
        """
        from ._core.userinfo import (
            MAX_USERINFO_BYTES,
            check_subject,
            read_userinfo,
            validate_userinfo_jwt,
        )

        strategy = self.strategy
        if strategy.userinfo_endpoint is None:
            raise ConfigurationError(f"{strategy.name} has no userinfo endpoint")
        token = await self.token()
        for retry in (False, True):
            request = strategy.userinfo_request(token, now=self._clock())
            answer = await send_for_answer(
                self._client(),
                request,
                deadline=self.timeout,
                max_response_bytes=min(self.max_response_bytes, MAX_USERINFO_BYTES),
                policy=self.retries,
                clock=self._clock,
                resend=False,
                telemetry=self.telemetry,
                kind="userinfo",
            )
            if answer.status == 401 and not retry:
                token = await self.token(rejected=token)
                continue
            with redacting(request):
                result = read_userinfo(
                    answer.status,
                    answer.content_type,
                    answer.body,
                    www_authenticate=answer.www_authenticate,
                )
            break
        if isinstance(result, str):
            result = await self._signed_userinfo(result, validate_userinfo_jwt)
        check_subject(result, token.id_token_claims)
        return MappingProxyType(result)

    async def _signed_userinfo(self, value: str, validate: Any) -> dict[str, Any]:
        """The claims of a signed userinfo answer, validated with the server's key set
        (fetched if not held, and once more when no key of the held set fits)."""
        from ._core.userinfo import InvalidUserinfo

        strategy = self.strategy
        if strategy.issuer is None or strategy.jwks_uri is None:
            raise ConfigurationError("a signed userinfo answer needs the issuer and jwks_uri")
        for fetched in (False, True):
            if self._jwks is None or fetched:
                answer = await self._send(strategy.key_set_request())
                try:
                    self._jwks = jwks_from_response(*answer)
                except InvalidIdToken as exc:
                    raise InvalidUserinfo(f"the key set: {exc.check}") from None
            try:
                claims: dict[str, Any] = validate(
                    value,
                    jwks=self._jwks,
                    issuer=strategy.issuer,
                    client_id=strategy.client_id,
                    algorithms=strategy.id_token_algorithms,
                )
            except InvalidUserinfo as exc:
                if exc.unknown_key and not fetched:
                    continue
                raise
            return claims
        raise AssertionError("unreachable")  # pragma: no cover

    async def _session_token(self) -> Token | None:
        """The token held or stored (of a type the strategy can use), without renewing."""
        token = self._held or await self.store.get_token(self.token_key)
        if token is not None and not self.strategy.can_use(token):
            return None
        return token

    async def logout_url(
        self,
        *,
        post_logout_redirect_uri: str | None = None,
        state: str | None = None,
        ui_locales: str | Iterable[str] | None = None,
    ) -> str:
        """The URL that ends the user's session at the server (OpenID Connect
        RP-Initiated Logout 1.0): :attr:`Strategy.end_session_endpoint` with the held
        token's id_token as ``id_token_hint`` (none when it has no id_token),
        ``client_id``, and the given ``post_logout_redirect_uri`` (registered at the
        server), ``state`` and ``ui_locales``. Nothing is sent and nothing forgotten:
        see :meth:`end_session`. Raises :class:`ConfigurationError` without an
        end_session_endpoint."""
        if self.strategy.end_session_endpoint is None:
            raise ConfigurationError(f"{self.strategy.name} has no end_session_endpoint")
        token = await self._session_token()
        hint = None if token is None else token.extra.get("id_token")
        return self.strategy.end_session_url(
            id_token_hint=hint if isinstance(hint, str) else None,
            post_logout_redirect_uri=post_logout_redirect_uri,
            state=state,
            ui_locales=ui_locales,
        )

    async def end_session(
        self,
        *,
        post_logout_redirect_uri: str | None = None,
        state: str | None = None,
        ui_locales: str | Iterable[str] | None = None,
    ) -> str | None:
        """Log out here and at the server: build :meth:`logout_url` (while the token
        and its id_token are still held), forget the token (:meth:`forget`), and return
        the URL to send the user's browser to; ``None`` when the server names no
        end_session_endpoint (the token is forgotten all the same). Nothing is
        revoked: call :meth:`revoke` first for that."""
        url = None
        if self.strategy.end_session_endpoint is not None:
            url = await self.logout_url(
                post_logout_redirect_uri=post_logout_redirect_uri,
                state=state,
                ui_locales=ui_locales,
            )
        await self.forget()
        logger.debug("session ended for %s", self.strategy.store_namespace)
        return url

    def _client(self) -> Any:
        if self._http is None:
            # No httpx timeout of its own: the client's total deadline (``timeout``) governs.
            self._http = httpx.AsyncClient(follow_redirects=False, timeout=None)  # noqa: S113
        return self._http

    async def _send(
        self, request: HttpRequest, *, resend: bool = False
    ) -> tuple[int, str | None, bytes]:
        return await send_with_retries(
            self._client(),
            request,
            deadline=self.timeout,
            max_response_bytes=self.max_response_bytes,
            policy=self.retries,
            clock=self._clock,
            resend=resend,
            telemetry=self.telemetry,
            kind=self._endpoint_kind(request) if self.telemetry is not None else "",
        )

    def _endpoint_kind(self, request: HttpRequest) -> str:
        """The endpoint kind of ``request`` for telemetry (the strategy's endpoints
        worked out once per strategy)."""
        strategy = self.strategy
        if self._kinds is None or self._kinds[0] is not strategy:
            self._kinds = (strategy, endpoint_kinds(strategy))
        return endpoint_kind(strategy, request, self._kinds[1])


def _show_device_code(device: DeviceAuthorization) -> None:
    where = device.verification_uri_complete or device.verification_uri
    print(
        printable(f"To sign in, open {where} and enter the code {device.user_code}"),
        file=sys.stderr,
        flush=True,
    )


_PROBE_REDIRECT = "http://127.0.0.1/callback"


def _authorizes_with_redirect(strategy: Strategy) -> bool:
    """Whether ``strategy`` (whose login has no user step) would have a redirect step
    with a ``redirect_uri``: an optional authorize step left out for want of one."""
    if strategy.authorization_endpoint is None or strategy.redirect_uri is not None:
        return False
    try:
        probe = attrs.evolve(strategy, redirect_uri=_PROBE_REDIRECT)
    except (ConfigurationError, TypeError):
        return False
    return probe.user_step is UserStep.REDIRECT
