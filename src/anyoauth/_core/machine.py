"""The flow state machine: every rule of a flow's life lives in this module.

The transition table :data:`TRANSITIONS` maps ``(state, event)`` to the next
state. Anything not in the table raises :class:`InvalidTransition` and moves
the flow to :attr:`State.FAILED`, which is terminal; so does any error raised
while the flow handles an input. The table is data, and the documentation's
state diagram is drawn from it.

:class:`Flow` is sans-IO: it is fed URLs, times and response bytes, and hands
back :class:`HttpRequest` objects for the caller to send and :class:`Token`
objects. It never reads a clock; every method that needs the time takes ``now``.
"""

from __future__ import annotations

import contextlib
import enum
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NoReturn

import attrs

from .ciba import BackchannelAuthorization, BackchannelRequest, new_notification_token
from .device import DeviceAuthorization
from .errors import (
    AuthorizationDenied,
    ConfigurationError,
    FlowError,
    FlowExpired,
    InvalidAuthorizationResponse,
    InvalidIdToken,
    InvalidTransition,
    LoginRequired,
    OAuthError,
    StateMismatch,
    StateMissing,
    TokenRequestError,
    drop_hidden_contexts,
)
from .http import HttpRequest
from .redaction import RedactionScope, redacting
from .redirect import Redirect
from .strategies.base import UserStep
from .token import Token
from .values import (
    AuthorizationRequest,
    KeysNeeded,
    PendingFlow,
    PushNeeded,
    RefreshRefused,
    pending_key,
)

if TYPE_CHECKING:
    from .strategies.base import Strategy

__all__ = [
    "TERMINAL_STATES",
    "TRANSITIONS",
    "Event",
    "Flow",
    "State",
    "new_code_verifier",
    "new_state_parameter",
    "s256_challenge",
    "state_diagram",
]

STATE_BYTES = 32
"""Random bytes in a ``state`` value (256 bits; RFC 9700 asks for at least 128)."""

VERIFIER_LENGTH = 64
"""Characters in a PKCE code verifier (RFC 7636 allows 43 to 128)."""

_VERIFIER_BYTES = VERIFIER_LENGTH * 3 // 4
"""Random bytes behind a verifier: 48 bytes are 64 base64url characters (384 bits)."""

SLOW_DOWN_STEP = 5.0
"""Seconds a ``slow_down`` adds to the polling interval of a decoupled grant (RFC 8628
3.5, CIBA Core 11)."""

MAX_POLL_INTERVAL = 600.0
"""The polling interval never grows beyond this."""


class State(enum.Enum):
    """Where a flow is in its life."""

    CREATED = "created"
    PUSHING = "pushing authorization request"
    AWAITING_REDIRECT = "awaiting redirect"
    VERIFYING_RESPONSE = "verifying authorization response"
    AUTHORIZING_DEVICE = "authorizing device"
    AUTHENTICATING_BACKCHANNEL = "requesting backchannel authentication"
    AWAITING_APPROVAL = "awaiting approval"
    POLLING = "polling"
    EXCHANGING = "exchanging"
    VERIFYING = "verifying id token"
    HOLDING_TOKEN = "holding token"
    REFRESHING = "refreshing"
    REFRESH_REFUSED = "refresh refused"
    EXPIRED = "expired"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


class Event(enum.Enum):
    """What can happen to a flow."""

    AUTHORIZATION_STARTED = "authorization started"
    PUSH_REQUESTED = "authorization request pushed"
    PUSH_REFUSED = "push refused"
    TOKEN_REQUESTED = "token requested"
    CODE_RECEIVED = "code received"
    TOKEN_RECEIVED = "token received"
    REDIRECT_REJECTED = "redirect rejected"
    FLOW_EXPIRED = "flow expired"
    TOKEN_REQUEST_FAILED = "token request failed"
    TOKEN_EXPIRED = "token expired"
    REFRESH_STARTED = "refresh started"
    DEVICE_CODE_REQUESTED = "device code requested"
    DEVICE_CODE_RECEIVED = "device code received"
    POLL_SENT = "poll sent"
    APPROVAL_PENDING = "approval pending"
    KEYS_REQUESTED = "signing keys requested"
    POLL_LOST = "poll lost"
    REFRESH_REFUSED = "refresh token refused"
    BACKCHANNEL_REQUESTED = "backchannel authentication requested"
    BACKCHANNEL_ACCEPTED = "backchannel authentication accepted"
    NOTIFIED = "ping received"

    def __str__(self) -> str:
        return self.value


S, E = State, Event

TRANSITIONS: Mapping[tuple[State, Event], State] = {
    # Interactive flows: the user agent goes to the provider, a redirect comes back.
    (S.CREATED, E.AUTHORIZATION_STARTED): S.AWAITING_REDIRECT,
    (S.AWAITING_REDIRECT, E.CODE_RECEIVED): S.EXCHANGING,
    (S.AWAITING_REDIRECT, E.TOKEN_RECEIVED): S.HOLDING_TOKEN,
    (S.AWAITING_REDIRECT, E.REDIRECT_REJECTED): S.FAILED,
    (S.AWAITING_REDIRECT, E.FLOW_EXPIRED): S.FAILED,
    # A pushed authorization request (RFC 9126): the parameters go to the server first;
    # its request_uri is what the user agent gets.
    (S.CREATED, E.PUSH_REQUESTED): S.PUSHING,
    (S.PUSHING, E.AUTHORIZATION_STARTED): S.AWAITING_REDIRECT,
    (S.PUSHING, E.PUSH_REFUSED): S.FAILED,
    # A signed authorization response (JARM) whose key is not known yet: fetch the key set,
    # then believe the response.
    (S.AWAITING_REDIRECT, E.KEYS_REQUESTED): S.VERIFYING_RESPONSE,
    (S.VERIFYING_RESPONSE, E.CODE_RECEIVED): S.EXCHANGING,
    (S.VERIFYING_RESPONSE, E.TOKEN_RECEIVED): S.HOLDING_TOKEN,
    (S.VERIFYING_RESPONSE, E.REDIRECT_REJECTED): S.FAILED,
    (S.VERIFYING_RESPONSE, E.FLOW_EXPIRED): S.FAILED,
    # Grants without a user step (client credentials) go straight to the token endpoint.
    (S.CREATED, E.TOKEN_REQUESTED): S.EXCHANGING,
    (S.EXCHANGING, E.TOKEN_RECEIVED): S.HOLDING_TOKEN,
    (S.EXCHANGING, E.TOKEN_REQUEST_FAILED): S.FAILED,
    # The device grant (RFC 8628): the user approves elsewhere while the client polls.
    (S.CREATED, E.DEVICE_CODE_REQUESTED): S.AUTHORIZING_DEVICE,
    (S.AUTHORIZING_DEVICE, E.DEVICE_CODE_RECEIVED): S.AWAITING_APPROVAL,
    (S.AUTHORIZING_DEVICE, E.TOKEN_REQUEST_FAILED): S.FAILED,
    (S.AWAITING_APPROVAL, E.POLL_SENT): S.POLLING,
    (S.AWAITING_APPROVAL, E.FLOW_EXPIRED): S.FAILED,
    (S.POLLING, E.APPROVAL_PENDING): S.AWAITING_APPROVAL,
    (S.POLLING, E.TOKEN_RECEIVED): S.HOLDING_TOKEN,
    (S.POLLING, E.TOKEN_REQUEST_FAILED): S.FAILED,
    # A poll whose answer was lost (RFC 8628 3.5): back off, poll again while the code lives.
    (S.POLLING, E.POLL_LOST): S.AWAITING_APPROVAL,
    # CIBA (OpenID CIBA Core 1.0): the client names the user, who approves on their own
    # device; the client then polls with the device grant's rules. A ping (ping mode)
    # makes the next poll due at once.
    (S.CREATED, E.BACKCHANNEL_REQUESTED): S.AUTHENTICATING_BACKCHANNEL,
    (S.AUTHENTICATING_BACKCHANNEL, E.BACKCHANNEL_ACCEPTED): S.AWAITING_APPROVAL,
    (S.AUTHENTICATING_BACKCHANNEL, E.TOKEN_REQUEST_FAILED): S.FAILED,
    (S.AWAITING_APPROVAL, E.NOTIFIED): S.AWAITING_APPROVAL,
    (S.POLLING, E.NOTIFIED): S.POLLING,
    # An OpenID Connect id_token signed by a key not yet known: fetch the key set first.
    (S.EXCHANGING, E.KEYS_REQUESTED): S.VERIFYING,
    (S.POLLING, E.KEYS_REQUESTED): S.VERIFYING,
    (S.REFRESHING, E.KEYS_REQUESTED): S.VERIFYING,
    (S.VERIFYING, E.TOKEN_RECEIVED): S.HOLDING_TOKEN,
    (S.VERIFYING, E.TOKEN_REQUEST_FAILED): S.FAILED,
    # Life of a held token.
    (S.HOLDING_TOKEN, E.TOKEN_EXPIRED): S.EXPIRED,
    (S.HOLDING_TOKEN, E.REFRESH_STARTED): S.REFRESHING,
    (S.EXPIRED, E.REFRESH_STARTED): S.REFRESHING,
    (S.REFRESHING, E.TOKEN_RECEIVED): S.HOLDING_TOKEN,
    (S.REFRESHING, E.TOKEN_REQUEST_FAILED): S.FAILED,
    # The refresh token was refused: a grant of the client's own starts afresh, else the
    # token is given up and only a new login helps.
    (S.REFRESHING, E.REFRESH_REFUSED): S.REFRESH_REFUSED,
    (S.EXCHANGING, E.REFRESH_REFUSED): S.REFRESH_REFUSED,
    (S.REFRESH_REFUSED, E.TOKEN_REQUESTED): S.EXCHANGING,
    (S.REFRESH_REFUSED, E.TOKEN_REQUEST_FAILED): S.FAILED,
}
"""Every allowed transition: ``(state, event) -> next state``. Nothing else is allowed."""

TERMINAL_STATES = frozenset({State.FAILED})
"""States no event leaves."""

del S, E


def state_diagram() -> str:
    """The transition table as a Mermaid ``stateDiagram-v2`` (the docs embed it)."""
    lines = ["stateDiagram-v2", f"    [*] --> {State.CREATED.name}"]
    for (state, event), target in TRANSITIONS.items():
        lines.append(f"    {state.name} --> {target.name}: {event.value}")
    lines += [f"    {state.name} --> [*]" for state in State if state in TERMINAL_STATES]
    return "\n".join(lines) + "\n"


def new_state_parameter() -> str:
    """A fresh value for the OAuth ``state`` parameter (not a :class:`State` of the
    machine): 256 bits from :mod:`secrets`, URL-safe."""
    return secrets.token_urlsafe(STATE_BYTES)


def new_code_verifier() -> str:
    """A fresh PKCE code verifier: :data:`VERIFIER_LENGTH` base64url characters from
    :mod:`secrets` (RFC 7636 4.1: unreserved characters only)."""
    return secrets.token_urlsafe(_VERIFIER_BYTES)


def s256_challenge(verifier: str) -> str:
    """The PKCE ``S256`` code challenge of ``verifier`` (RFC 7636 4.2), by authlib's
    RFC 7636 helper (imported on the first login, not with anyoauth)."""
    from authlib.oauth2.rfc7636 import create_s256_code_challenge

    challenge: str = create_s256_code_challenge(verifier)
    return challenge


class Flow:
    """One run of a strategy, from the authorization request to a held token.

    A flow follows :data:`TRANSITIONS`. Methods that receive input return what to
    do next; any error they raise first moves the flow to :attr:`State.FAILED`.
    """

    def __init__(
        self,
        strategy: Strategy,
        *,
        state: State = State.CREATED,
        pending: PendingFlow | None = None,
        token: Token | None = None,
    ) -> None:
        self.strategy = strategy
        self._state = state
        self.pending = pending
        self.token = token
        self.device: DeviceAuthorization | None = None
        """The device authorization, in the device grant."""
        self.backchannel: BackchannelAuthorization | None = None
        """The pending backchannel authentication, in CIBA."""
        self.next_poll_at = 0.0
        """When a decoupled grant (device, CIBA) may poll next."""
        self._notified = False
        self.keys: Mapping[str, Any] | None = None
        """The key set the last id_token was validated with (cache it for the next flow)."""
        self.discarded: Token | None = None
        """A token the flow gave up (its refresh token was refused and nothing can
        replace it): the driver removes it from its store."""
        self._refusal: TokenRequestError | None = None
        self._direct_grant = False
        self._unverified: Token | None = None
        self._unverified_response: Redirect | None = None
        self._sent: HttpRequest | None = None
        self._notification_token: str | None = None
        self._backchannel_request: BackchannelRequest | None = None
        self._response_extra: Mapping[str, Any] = {}

    def __repr__(self) -> str:
        return f"<Flow {self.strategy.store_namespace} {self._state}>"

    @property
    def state(self) -> State:
        """The current state."""
        return self._state

    @classmethod
    def resume(cls, strategy: Strategy, pending: PendingFlow) -> Flow:
        """A flow waiting for the redirect of ``pending`` (taken back from a store)."""
        return cls(strategy, state=State.AWAITING_REDIRECT, pending=pending)

    @classmethod
    def holding(cls, strategy: Strategy, token: Token) -> Flow:
        """A flow that holds ``token`` (loaded from a store)."""
        return cls(strategy, state=State.HOLDING_TOKEN, token=token)

    # -- the one place a state changes ------------------------------------------------

    def handle(self, event: Event) -> State:
        """Apply ``event``: move to the next state, or raise and move to FAILED."""
        try:
            self._state = TRANSITIONS[self._state, event]
        except KeyError:
            previous, self._state = self._state, State.FAILED
            raise InvalidTransition(previous, event) from None
        return self._state

    def _fail(self, error: OAuthError, event: Event) -> NoReturn:
        with contextlib.suppress(InvalidTransition):
            self.handle(event)
        self._state = State.FAILED
        drop_hidden_contexts(error)
        raise error

    # -- the requests sent, and reading their answers ---------------------------------

    def _sending(self, request: HttpRequest) -> HttpRequest:
        """Remember ``request`` as the one whose answer comes next."""
        self._sent = request
        return request

    def _reading(self) -> RedactionScope:
        """The scope in which an answer is read: errors built in it never show a secret
        of the request it answers (a server may echo the request in its error)."""
        return redacting(self._sent)

    # -- interactive flows ----------------------------------------------------------

    def start(self, now: float) -> AuthorizationRequest:
        """Create ``state`` (and a PKCE verifier) and build the authorization request.

        A strategy that pushes its authorization request
        (:attr:`Strategy.push_authorization_request`) needs a request sent first: use
        :meth:`begin`; here it raises :class:`ConfigurationError`.
        """
        if self.strategy.push_authorization_request:
            self._fail(
                ConfigurationError(
                    f"{self.strategy.name} pushes its authorization request: use Flow.begin()"
                ),
                Event.REDIRECT_REJECTED,
            )
        result = self.begin(now)
        assert isinstance(result, AuthorizationRequest)
        return result

    def begin(self, now: float) -> AuthorizationRequest | PushNeeded:
        """Create ``state`` (and a PKCE verifier) and build the authorization request,
        or, for a strategy that pushes it (RFC 9126), :class:`PushNeeded`: send its
        request and pass the answer to :meth:`receive_push_response`, which returns the
        :class:`AuthorizationRequest`."""
        strategy = self.strategy
        if not strategy.interactive:
            self._fail(
                ConfigurationError(f"{strategy.name} has no interactive authorization step"),
                Event.REDIRECT_REJECTED,
            )
        if strategy.redirect_uri is None and not _lands(strategy):
            self._fail(
                ConfigurationError(
                    f"{strategy.name} needs a redirect_uri to begin a login: set the one "
                    "registered with the provider, or use client.login() with a loopback "
                    "agent, which supplies its own"
                ),
                Event.REDIRECT_REJECTED,
            )
        pushing = strategy.push_authorization_request
        self.handle(Event.PUSH_REQUESTED if pushing else Event.AUTHORIZATION_STARTED)
        verifier = new_code_verifier() if strategy.uses_pkce else None
        nonce = secrets.token_urlsafe(STATE_BYTES) if strategy.requests_nonce else None
        self.pending = PendingFlow(
            state=new_state_parameter(),
            binding=strategy.store_namespace,
            created_at=now,
            expires_at=now + strategy.state_ttl,
            code_verifier=verifier,
            nonce=nonce,
        )
        challenge = None if verifier is None else s256_challenge(verifier)
        try:
            if pushing:
                push = strategy.pushed_authorization_request(
                    state=self.pending.state, code_challenge=challenge, nonce=nonce, now=now
                )
                return PushNeeded(request=self._sending(push), pending=self.pending)
            if strategy.signs_request_object:
                url = strategy.authorization_url(
                    state=self.pending.state, code_challenge=challenge, nonce=nonce, now=now
                )
            else:
                url = strategy.authorization_url(
                    state=self.pending.state, code_challenge=challenge, nonce=nonce
                )
        except OAuthError as exc:
            self._fail(exc, Event.PUSH_REFUSED if pushing else Event.REDIRECT_REJECTED)
        return AuthorizationRequest(url=url, pending=self.pending)

    def receive_push_response(
        self, status_code: int, content_type: str | None, body: bytes, now: float
    ) -> AuthorizationRequest:
        """Read the pushed authorization endpoint's answer (after :class:`PushNeeded`):
        the :class:`AuthorizationRequest` whose URL carries only ``client_id`` and the
        ``request_uri``, and whose :attr:`~AuthorizationRequest.url_expires_at` says when
        the server forgets it. An error answer raises :class:`TokenRequestError` (the
        server's ``error``; no secret of the push in its text), anything else that is
        not a push answer :class:`InvalidResponse`; the flow fails."""
        pending = self.pending
        if self._state is not State.PUSHING or pending is None:
            self._fail(InvalidTransition(self._state, Event.PUSH_REFUSED), Event.PUSH_REFUSED)
        with self._reading():
            try:
                pushed = self.strategy.read_pushed_authorization(
                    status_code, content_type, body, now
                )
            except FlowError as exc:
                self._fail(exc, Event.PUSH_REFUSED)
        self.handle(Event.AUTHORIZATION_STARTED)
        self._sent = None
        return AuthorizationRequest(
            url=self.strategy.pushed_authorization_url(pushed.request_uri),
            pending=pending,
            url_expires_at=min(pushed.expires_at, pending.expires_at),
        )

    def push_failed(self, error: OAuthError) -> NoReturn:
        """Report that the push request could not be completed; raises ``error``."""
        self._fail(error, Event.PUSH_REFUSED)

    @staticmethod
    def redirect_key(strategy: Strategy, url: str) -> tuple[Redirect, str]:
        """Read ``url`` and find the store key of the flow it answers.

        Raises before any flow is looked up: :class:`RedirectMismatch` for a URL
        that is not this strategy's redirect, :class:`AuthorizationDenied` for a
        state-less error redirect, :class:`StateMissing` for a state-less answer.

        For a signed response (JARM) the state is read from the response JWT without
        verifying it, only to find the flow (:meth:`Strategy.response_state`):
        :meth:`receive_response` validates the JWT and compares the verified state.
        Unsigned parameters, or a JWT that cannot be read, raise
        :class:`InvalidAuthorizationResponse` here.
        """
        redirect = strategy.read_redirect(url)
        state = strategy.response_state(redirect)
        if state is None:
            denial = None if strategy.signs_responses else strategy.authorization_error(redirect)
            if denial is not None:
                raise denial
            raise StateMissing("the redirect carries no state; refusing to use it")
        return redirect, pending_key(state)

    def receive_redirect(self, redirect: Redirect, now: float) -> HttpRequest | Token:
        """Validate the redirect against the pending flow.

        Returns the token request to send (code flows) or the token itself
        (implicit flows). Checks, in order: state (constant time), the flow's
        binding, its deadline, the issuer (RFC 9207), a provider error, then the
        strategy's response.

        A strategy with signed responses (:attr:`Strategy.signs_responses`) needs the
        server's key set: use :meth:`receive_response`; here it raises
        :class:`ConfigurationError` and the flow fails.
        """
        if self.strategy.signs_responses:
            self._fail(
                ConfigurationError(
                    "signed authorization responses need the key set: use receive_response"
                ),
                Event.REDIRECT_REJECTED,
            )
        result = self.receive_response(redirect, now)
        assert not isinstance(result, KeysNeeded)
        return result

    def receive_response(
        self, redirect: Redirect, now: float, *, keys: Mapping[str, Any] | None = None
    ) -> HttpRequest | Token | KeysNeeded:
        """:meth:`receive_redirect` for every strategy, signed responses (JARM) included.

        A strategy with signed responses (:attr:`Strategy.signs_responses`) first
        checks the flow's binding and deadline, then validates the response JWT with
        ``keys`` (the server's key set, if already known); only then are its claims the
        response's parameters, checked as :meth:`receive_redirect` checks a redirect's
        (the state again, now verified). Without a matching key the flow returns
        :class:`KeysNeeded` and waits in VERIFYING_RESPONSE for
        :meth:`receive_response_keys`. ``keys`` is not used otherwise.
        """
        pending = self.pending
        if pending is None or self._state is not State.AWAITING_REDIRECT:
            self._fail(InvalidTransition(self._state, Event.CODE_RECEIVED), Event.CODE_RECEIVED)
        if not self.strategy.signs_responses:
            return self._read_response(redirect, pending, now)
        self._check_binding(pending, now)
        if keys is not None:
            try:
                verified = self.strategy.verify_response(redirect, jwks=keys, now=now)
            except InvalidAuthorizationResponse as exc:
                if not exc.unknown_key:
                    self._fail(exc, Event.REDIRECT_REJECTED)
            else:
                self.keys = keys
                return self._read_response(verified, pending, now)
        self.handle(Event.KEYS_REQUESTED)
        self._unverified_response = redirect
        return KeysNeeded(request=self.strategy.key_set_request())

    def receive_response_keys(
        self, status_code: int, content_type: str | None, body: bytes, now: float
    ) -> HttpRequest | Token:
        """Validate the waiting signed response with the server's key set (after
        :meth:`receive_response` returned :class:`KeysNeeded`), then go on as
        :meth:`receive_redirect` does with its parameters."""
        from .jose import jwks_from_response

        redirect, pending = self._unverified_response, self.pending
        if self._state is not State.VERIFYING_RESPONSE or redirect is None or pending is None:
            self._fail(InvalidTransition(self._state, Event.CODE_RECEIVED), Event.REDIRECT_REJECTED)
        self._unverified_response = None
        unusable: InvalidAuthorizationResponse | None = None
        try:
            keys = jwks_from_response(status_code, content_type, body)
        except InvalidIdToken as exc:
            unusable = InvalidAuthorizationResponse(f"the key set is unusable ({exc.check})")
        except ValueError as exc:
            unusable = InvalidAuthorizationResponse(f"the key set is unusable ({exc})")
        if unusable is not None:  # raised here: the key set error is no context of it
            self._fail(unusable, Event.REDIRECT_REJECTED)
        try:
            verified = self.strategy.verify_response(redirect, jwks=keys, now=now)
        except OAuthError as exc:
            self._fail(exc, Event.REDIRECT_REJECTED)
        self.keys = keys
        return self._read_response(verified, pending, now)

    def _check_binding(self, pending: PendingFlow, now: float) -> None:
        if not secrets.compare_digest(
            pending.binding.encode(), self.strategy.store_namespace.encode()
        ):
            self._fail(StateMismatch("state belongs to another flow"), Event.REDIRECT_REJECTED)
        if now >= pending.expires_at:
            self._fail(FlowExpired("the login took too long; start again"), Event.FLOW_EXPIRED)

    def _read_response(
        self, redirect: Redirect, pending: PendingFlow, now: float
    ) -> HttpRequest | Token:
        received = redirect.state
        if received is None:
            self._fail(StateMissing("the redirect carries no state"), Event.REDIRECT_REJECTED)
        if not secrets.compare_digest(
            received.encode("utf-8", "surrogatepass"),
            pending.state.encode("utf-8", "surrogatepass"),
        ):
            self._fail(
                StateMismatch("state does not match the pending flow"), Event.REDIRECT_REJECTED
            )
        self._check_binding(pending, now)
        try:
            self.strategy.check_issuer(redirect)
        except OAuthError as exc:
            self._fail(exc, Event.REDIRECT_REJECTED)
        denial = self.strategy.authorization_error(redirect)
        if denial is not None:
            self._fail(denial, Event.REDIRECT_REJECTED)
        try:
            result = self.strategy.read_authorization_response(redirect, pending, now)
            extra = self.strategy.authorization_response_extra(redirect)
        except OAuthError as exc:
            self._fail(exc, Event.REDIRECT_REJECTED)
        # What the provider sent the client once, in the authorization response only
        # (Apple's user field): kept on the login's token, never on a refreshed one.
        self._response_extra = extra
        if isinstance(result, Token):
            return self._hold(result)
        self.handle(Event.CODE_RECEIVED)
        return self._sending(result)

    # -- grants without a user step, and refresh --------------------------------------

    def request_token(self, now: float) -> HttpRequest:
        """The token request of a grant without a user step (client credentials)."""
        request = self.strategy.direct_token_request(now=now)
        if request is None:
            self._fail(
                LoginRequired(f"{self.strategy.name} needs an interactive login"),
                Event.TOKEN_REQUESTED,
            )
        self.handle(Event.TOKEN_REQUESTED)
        self._direct_grant = True
        return self._sending(request)

    def check_expiry(self, now: float, leeway: float = 0.0) -> State:
        """Move a held token to EXPIRED once it is due for renewal: within ``leeway``
        of its expiry, at most half its lifetime (:meth:`Token.renewal_due`, the rule
        :class:`~anyoauth.Client` applies too)."""
        if (
            self._state is State.HOLDING_TOKEN
            and self.token is not None
            and self.token.renewal_due(now, leeway)
        ):
            self.handle(Event.TOKEN_EXPIRED)
        return self._state

    def refresh(self, now: float) -> HttpRequest:
        """The request that replaces the held token: a refresh grant or a new direct grant.

        Raises :class:`LoginRequired` when only an interactive login can help.
        """
        request = None
        if self.token is not None and self.token.refresh_token:
            request = self.strategy.refresh_request(self.token, now=now)
        if request is None:
            request = self.strategy.direct_token_request(now=now)
        if request is None:
            self._fail(
                LoginRequired(f"the {self.strategy.name} token cannot be renewed; log in again"),
                Event.REFRESH_STARTED,
            )
        self.handle(Event.REFRESH_STARTED)
        return self._sending(request)

    def receive_token_response(
        self,
        status_code: int,
        content_type: str | None,
        body: bytes,
        now: float,
        *,
        keys: Mapping[str, Any] | None = None,
    ) -> Token | KeysNeeded | RefreshRefused:
        """Read the token endpoint's answer; a refresh keeps a refresh token not re-sent.

        A refresh the server refuses with ``invalid_grant`` returns
        :class:`RefreshRefused` (the flow waits in REFRESH_REFUSED for
        :meth:`refresh_refused`), and so does a grant of the client's own
        (:meth:`request_token`) refused that way: another holder may have a token;
        any other error answer fails the flow.

        When the strategy validates id_tokens and the answer carries one, ``keys``
        (the server's key set, if already known) verifies it; without a matching key
        the flow returns :class:`KeysNeeded` and waits in VERIFYING for
        :meth:`receive_keys`. A strategy that does not validate id_tokens drops one.

        Only a flow that sent a token request (EXCHANGING, REFRESHING) takes an answer
        here; anything else raises :class:`InvalidTransition` and the flow fails.
        """
        if self._state not in (State.EXCHANGING, State.REFRESHING):
            self._fail(
                InvalidTransition(self._state, Event.TOKEN_RECEIVED), Event.TOKEN_REQUEST_FAILED
            )
        with self._reading():
            try:
                token = self.strategy.parse_token_response(status_code, content_type, body, now)
            except TokenRequestError as exc:
                refusal = exc
            except FlowError as exc:
                self._fail(exc, Event.TOKEN_REQUEST_FAILED)
            else:
                return self._accept(token, now, keys)
        # Outside the except clause: an error raised for the refusal does not carry it
        # as its context.
        if refusal.error == "invalid_grant" and (
            self._state is State.REFRESHING
            or (self._state is State.EXCHANGING and self._direct_grant)
        ):
            self.handle(Event.REFRESH_REFUSED)
            self._refusal = refusal
            return RefreshRefused(error=refusal)
        return self._fail(refusal, Event.TOKEN_REQUEST_FAILED)

    def _accept(
        self, token: Token, now: float, keys: Mapping[str, Any] | None
    ) -> Token | KeysNeeded:
        previous = self.token
        if self._state is State.REFRESHING and previous is not None:
            if token.refresh_token is None and previous.refresh_token is not None:
                token = attrs.evolve(token, refresh_token=previous.refresh_token)
            if token.authorization_details is None and previous.authorization_details:
                # RFC 9396 7: a refresh answer without details grants what was granted.
                token = attrs.evolve(token, authorization_details=previous.authorization_details)
            if (
                "id_token" not in token.extra
                and token.id_token_claims is None
                and previous.id_token_claims is not None
            ):
                # OIDC 12.2: a refresh answer may carry no id_token. The subject stays
                # bound, so a later refreshed id_token is still checked against it.
                token = attrs.evolve(token, id_token_claims=previous.id_token_claims)
        id_token = token.extra.get("id_token")
        if id_token is not None and not self.strategy.verifies_id_tokens:
            token = _without_id_token(token, token.id_token_claims)
        elif self.strategy.verifies_id_tokens and (
            id_token is not None or (self.pending is not None and self.pending.nonce is not None)
        ):
            if keys is not None:
                try:
                    token = self._verify(token, keys, now)
                except InvalidIdToken as exc:
                    if not exc.unknown_key:
                        self._fail(exc, Event.TOKEN_REQUEST_FAILED)
                else:
                    self.keys = keys
                    return self._hold(token)
            self.handle(Event.KEYS_REQUESTED)
            self._unverified = token
            return KeysNeeded(request=self.strategy.key_set_request())
        return self._hold(token)

    def _hold(self, token: Token) -> Token:
        if self._response_extra:
            token = attrs.evolve(token, extra={**token.extra, **self._response_extra})
            self._response_extra = {}
        self.handle(Event.TOKEN_RECEIVED)
        self.token = token
        # The pending flow (and its nonce) answered the login only: a refresh's
        # id_token need not carry the nonce (OIDC 12.2).
        self.pending = None
        return token

    def _verify(self, token: Token, keys: Mapping[str, Any], now: float) -> Token:
        """Validate the token's id_token with ``keys``; the claims go on the token."""
        id_token = token.extra.get("id_token")
        nonce = self.pending.nonce if self.pending is not None else None
        if id_token is None:
            if nonce is None:
                return token  # a refresh, or a grant without nonce, need not carry one
            raise InvalidIdToken("the token response carries no id_token")
        if not isinstance(id_token, str):
            raise InvalidIdToken("the id_token is not a string")
        claims = self.strategy.validate_id_token(
            id_token, jwks=keys, now=now, nonce=nonce, access_token=token.access_token
        )
        previous = self.token.id_token_claims if self.token is not None else None
        if previous is not None and claims.get("sub") != previous.get("sub"):
            raise InvalidIdToken("the refreshed id_token is for another subject")
        return attrs.evolve(token, id_token_claims=claims)

    def receive_keys(
        self, status_code: int, content_type: str | None, body: bytes, now: float
    ) -> Token:
        """Validate the waiting id_token with the server's key set (after :class:`KeysNeeded`)."""
        from .jose import jwks_from_response

        token = self._unverified
        if self._state is not State.VERIFYING or token is None:
            self._fail(InvalidTransition(self._state, Event.TOKEN_RECEIVED), Event.TOKEN_RECEIVED)
        unusable: InvalidIdToken | None = None
        try:
            keys = jwks_from_response(status_code, content_type, body)
        except InvalidIdToken as exc:
            unusable = InvalidIdToken(f"the key set is unusable ({exc.check})")
        except ValueError as exc:
            unusable = InvalidIdToken(f"the key set is unusable ({exc})")
        if unusable is not None:  # raised here: the key set error is no context of it
            self._fail(unusable, Event.TOKEN_REQUEST_FAILED)
        with self._reading():
            try:
                token = self._verify(token, keys, now)
            except OAuthError as exc:
                self._fail(exc, Event.TOKEN_REQUEST_FAILED)
        self._unverified = None
        self.keys = keys
        return self._hold(token)

    def keys_unavailable(self, error: OAuthError, now: float) -> Token:
        """The key set could not be fetched (network failure, server error).

        A signed authorization response waiting for it (VERIFYING_RESPONSE) fails with
        ``error``: it cannot be checked, so nothing in it is used.
        A login whose id_token answers a ``nonce`` fails with ``error``: its identity
        cannot be checked. Any other answer (a refresh, whose token endpoint already
        rotated the refresh token) is kept without its new id_token — the access and
        refresh tokens came from the token endpoint itself — and the claims checked
        before stay; so a key-set outage never loses a rotated refresh token.
        """
        if self._state is State.VERIFYING_RESPONSE:
            # A signed authorization response that cannot be checked is not believed.
            self._unverified_response = None
            self._fail(error, Event.REDIRECT_REJECTED)
        token = self._unverified
        if self._state is not State.VERIFYING or token is None:
            self._fail(InvalidTransition(self._state, Event.TOKEN_RECEIVED), Event.TOKEN_RECEIVED)
        if self.pending is not None and self.pending.nonce is not None:
            self._fail(error, Event.TOKEN_REQUEST_FAILED)
        previous = self.token.id_token_claims if self.token is not None else None
        self._unverified = None
        return self._hold(_without_id_token(token, previous))

    # -- the device grant (RFC 8628) --------------------------------------------------

    def request_device_code(self, now: float) -> HttpRequest:
        """The device authorization request."""
        strategy = self.strategy
        if strategy.user_step is not UserStep.DEVICE:
            self._fail(
                ConfigurationError(f"{strategy.name} is not a device grant"),
                Event.DEVICE_CODE_REQUESTED,
            )
        self.handle(Event.DEVICE_CODE_REQUESTED)
        return self._sending(strategy.device_authorization_request(now=now))

    def receive_device_code(
        self, status_code: int, content_type: str | None, body: bytes, now: float
    ) -> DeviceAuthorization:
        """Read the device authorization response; polling may start at :attr:`next_poll_at`."""
        strategy = self.strategy
        if self._state is not State.AUTHORIZING_DEVICE:
            self._fail(
                InvalidTransition(self._state, Event.DEVICE_CODE_RECEIVED),
                Event.DEVICE_CODE_RECEIVED,
            )
        with self._reading():
            try:
                device = strategy.read_device_authorization(status_code, content_type, body, now)
            except FlowError as exc:
                self._fail(exc, Event.TOKEN_REQUEST_FAILED)
        self.handle(Event.DEVICE_CODE_RECEIVED)
        self.device = device
        self.next_poll_at = now + device.interval
        return device

    # -- CIBA (OpenID Client-Initiated Backchannel Authentication Core 1.0) -------------

    def request_backchannel_authentication(
        self, request: BackchannelRequest, now: float
    ) -> HttpRequest:
        """The backchannel authentication request for ``request``'s user (CIBA Core
        7.1); in ping mode it carries a fresh ``client_notification_token``."""
        strategy = self.strategy
        if strategy.user_step is not UserStep.DECOUPLED:
            self._fail(
                ConfigurationError(f"{strategy.name} is not a backchannel authentication grant"),
                Event.BACKCHANNEL_REQUESTED,
            )
        self.handle(Event.BACKCHANNEL_REQUESTED)
        token = new_notification_token() if strategy.token_delivery_mode == "ping" else None
        self._notification_token = token
        self._backchannel_request = request
        try:
            built = strategy.backchannel_authentication_request(
                request, client_notification_token=token, now=now
            )
        except OAuthError as exc:
            self._fail(exc, Event.TOKEN_REQUEST_FAILED)
        return self._sending(built)

    def receive_backchannel_authentication(
        self, status_code: int, content_type: str | None, body: bytes, now: float
    ) -> BackchannelAuthorization:
        """Read the backchannel authentication answer (CIBA Core 7.3); polling (or, in
        ping mode, waiting for the ping) starts: the first poll is due at
        :attr:`next_poll_at`."""
        if self._state is not State.AUTHENTICATING_BACKCHANNEL:
            self._fail(
                InvalidTransition(self._state, Event.BACKCHANNEL_ACCEPTED),
                Event.BACKCHANNEL_ACCEPTED,
            )
        request = self._backchannel_request
        with self._reading():
            try:
                answer = BackchannelAuthorization.from_response(
                    status_code,
                    content_type,
                    body,
                    received_at=now,
                    mode=self.strategy.token_delivery_mode,
                    client_notification_token=self._notification_token,
                    binding_message=None if request is None else request.binding_message,
                )
            except FlowError as exc:
                self._fail(exc, Event.TOKEN_REQUEST_FAILED)
        self.handle(Event.BACKCHANNEL_ACCEPTED)
        self.backchannel = answer
        self._wait_interval(now)
        return answer

    def notified(self, now: float) -> None:
        """A valid ping arrived for this flow's request (ping mode, CIBA Core 10.2): the
        next poll is due at once (or, while a poll is under way, as soon as it is
        answered pending). Pings in poll mode, or for a flow that is not waiting, are
        refused (:class:`InvalidTransition`, the flow fails)."""
        approval = self.backchannel
        if (
            self._state not in (State.AWAITING_APPROVAL, State.POLLING)
            or approval is None
            or approval.mode != "ping"
        ):
            self._fail(InvalidTransition(self._state, Event.NOTIFIED), Event.NOTIFIED)
        self.handle(Event.NOTIFIED)
        if self._state is State.POLLING:
            self._notified = True
        else:
            self.next_poll_at = now

    # -- polling, for every decoupled grant (device, CIBA) -------------------------------

    @property
    def approval(self) -> DeviceAuthorization | BackchannelAuthorization | None:
        """What the client polls for: the device authorization (device grant) or the
        backchannel authorization (CIBA); ``None`` before either is granted."""
        return self.device if self.device is not None else self.backchannel

    def poll(self, now: float) -> HttpRequest:
        """The next token request of a decoupled grant (the device code's, or CIBA's
        ``auth_req_id``); :class:`FlowExpired` once the code or request expired."""
        approval, strategy = self.approval, self.strategy
        if self._state is not State.AWAITING_APPROVAL or approval is None:
            self._fail(InvalidTransition(self._state, Event.POLL_SENT), Event.POLL_SENT)
        if now >= approval.expires_at:
            self._fail(FlowExpired(_expired(approval)), Event.FLOW_EXPIRED)
        self.handle(Event.POLL_SENT)
        self._notified = False
        if isinstance(approval, DeviceAuthorization):
            return self._sending(strategy.device_token_request(approval.device_code, now=now))
        return self._sending(strategy.backchannel_token_request(approval.auth_req_id, now=now))

    def receive_poll_response(
        self,
        status_code: int,
        content_type: str | None,
        body: bytes,
        now: float,
        *,
        keys: Mapping[str, Any] | None = None,
    ) -> Token | KeysNeeded | None:
        """Read a poll's answer: the token, :class:`KeysNeeded`, or ``None`` to poll
        again at :attr:`next_poll_at`.

        ``authorization_pending`` waits one interval, ``slow_down`` adds five
        seconds to the interval (RFC 8628 3.5, CIBA Core 11); ``expired_token`` raises
        :class:`FlowExpired`, ``access_denied`` :class:`AuthorizationDenied`; any other
        error (CIBA's ``transaction_failed``) its :class:`TokenRequestError`.
        """
        approval = self.approval
        if self._state is not State.POLLING or approval is None:
            self._fail(InvalidTransition(self._state, Event.TOKEN_RECEIVED), Event.TOKEN_RECEIVED)
        with self._reading():
            try:
                token = self.strategy.parse_token_response(status_code, content_type, body, now)
            except TokenRequestError as exc:
                refusal = exc
            except FlowError as exc:
                self._fail(exc, Event.TOKEN_REQUEST_FAILED)
            else:
                return self._accept(token, now, keys)
        # Handled outside the except clause: an error raised for the refusal does not
        # carry it as its context.
        if refusal.error not in ("authorization_pending", "slow_down"):
            failure: OAuthError = refusal
            if refusal.error == "expired_token":
                failure = FlowExpired(_expired(approval))
            elif refusal.error == "access_denied":
                failure = AuthorizationDenied(
                    refusal.error, refusal.error_description, refusal.error_uri
                )
            self._fail(failure, Event.TOKEN_REQUEST_FAILED)
        if refusal.error == "slow_down":
            self._slow_down()
        self.handle(Event.APPROVAL_PENDING)
        self._wait_interval(now)
        if self._notified and refusal.error == "authorization_pending":
            # A ping came while this poll was under way: the answer is ready now.
            self._notified = False
            self.next_poll_at = now
        return None

    def poll_lost(self, error: OAuthError, now: float) -> None:
        """Report that a poll got no answer (``error``: the server was unreachable, the
        answer was lost or late). RFC 8628 3.5: that is not the end while the device
        code lives; the flow backs off as for ``slow_down`` (five seconds more between
        polls) and waits for :attr:`next_poll_at`, when the next poll decides."""
        if self._state is not State.POLLING or self.approval is None:
            self._fail(InvalidTransition(self._state, Event.POLL_LOST), Event.POLL_LOST)
        self._slow_down()
        self.handle(Event.POLL_LOST)
        self._wait_interval(now)

    def _slow_down(self) -> None:
        if self.device is not None:
            interval = min(self.device.interval + SLOW_DOWN_STEP, MAX_POLL_INTERVAL)
            self.device = attrs.evolve(self.device, interval=interval)
        else:
            assert self.backchannel is not None
            interval = min(self.backchannel.interval + SLOW_DOWN_STEP, MAX_POLL_INTERVAL)
            self.backchannel = attrs.evolve(self.backchannel, interval=interval)

    def _wait_interval(self, now: float) -> None:
        approval = self.approval
        assert approval is not None
        self.next_poll_at = now + approval.interval

    # -- a refused refresh ------------------------------------------------------------

    def refresh_refused(self, now: float) -> HttpRequest:
        """After :class:`RefreshRefused`, when the driver found no newer token: the
        request of a new grant, for a strategy with a grant of its own whose refresh
        token was refused (client credentials start afresh). Otherwise the held token
        is given up (:attr:`discarded`: the driver forgets it) and
        :class:`LoginRequired` is raised."""
        refused, refusal = self.token, self._refusal
        if self._state is not State.REFRESH_REFUSED or refusal is None:
            self._fail(InvalidTransition(self._state, Event.TOKEN_REQUESTED), Event.TOKEN_REQUESTED)
        if refused is not None and refused.refresh_token and self.strategy.has_direct_grant:
            request = self.strategy.direct_token_request(now=now)
            if request is not None:
                self.token = None
                self.handle(Event.TOKEN_REQUESTED)
                return self._sending(request)
        self.discarded = refused
        self.token = None
        if refused is not None and refused.refresh_token:
            what = "refresh token was refused"
        else:
            what = "grant was refused"  # a grant of the client's own (no refresh token)
        failure = LoginRequired(f"the {self.strategy.name} {what} ({refusal.error}); log in again")
        failure.__cause__ = refusal
        return self._fail(failure, Event.TOKEN_REQUEST_FAILED)

    def key_set_wanted(self, keys: Mapping[str, Any] | None) -> HttpRequest | None:
        """The key set request to send before this flow's token request, or ``None``:
        when its answer will carry an id_token to verify
        (:attr:`Strategy.expects_id_token`) and no key set (``keys``) is known yet.
        Fetched first, a rotated refresh token is never lost to a key set that cannot
        be fetched after the refresh."""
        if keys is None and self.strategy.expects_id_token:
            return self.strategy.key_set_request()
        return None

    def transport_failed(self, error: OAuthError) -> NoReturn:
        """Report that the token request could not be completed; raises ``error``."""
        self._fail(error, Event.TOKEN_REQUEST_FAILED)


def _expired(approval: DeviceAuthorization | BackchannelAuthorization) -> str:
    if isinstance(approval, DeviceAuthorization):
        return "the device code expired; start again"
    return "the backchannel authentication request expired; start again"


def _without_id_token(token: Token, claims: Mapping[str, Any] | None) -> Token:
    """``token`` without the id_token its answer carried, with ``claims`` (those checked
    before, or none): claims nobody verified are never handed out."""
    extra = {k: v for k, v in token.extra.items() if k != "id_token"}
    return attrs.evolve(token, extra=extra, id_token_claims=claims)


def _lands(strategy: Strategy) -> bool:
    """Whether a redirect of ``strategy``'s login has somewhere to land (a strategy
    without ``redirect_uri`` may land on its own URLs: Geni's desktop flow)."""
    try:
        return bool(strategy.redirect_endpoints())
    except ConfigurationError:
        return False
