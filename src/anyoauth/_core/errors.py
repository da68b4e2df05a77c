"""The anyoauth error tree.

Every error anyoauth raises is an :class:`OAuthError`::

    OAuthError
    ├── ConfigurationError            bad strategy/preset/client arguments
    │   └── PluginError               a strategy/provider plugin is unknown, broken, or misfits
    ├── DiscoveryError                server metadata unreachable, invalid, or for another issuer
    ├── FlowError                     the flow cannot go on (the flow moves to FAILED)
    │   ├── InvalidTransition         an event the state machine does not allow now
    │   ├── StateError                state validation failed; no token request was sent
    │   │   ├── StateMissing          the redirect carries no state
    │   │   ├── StateMismatch         unknown, already used, or bound to another flow
    │   │   └── FlowExpired           the pending flow outlived its deadline
    │   ├── RedirectError             the redirect itself is unusable
    │   │   ├── RedirectMismatch      the URL is not the one this flow expects
    │   │   ├── MalformedRedirect     duplicated/oversized parameters, no access_token, ...
    │   │   ├── IssuerMismatch        ``iss`` (RFC 9207) missing or not the expected issuer
    │   │   └── InvalidAuthorizationResponse  a signed (JARM) response failed validation
    │   ├── InvalidResponse           a server's answer is not what its endpoint answers
    │   │   ├── InvalidIdToken        the OpenID Connect id_token failed validation
    │   │   └── TokenExpiredOnArrival the server keeps issuing tokens that are already expired
    │   ├── ServerUnavailable         network failure or deadline at any endpoint
    │   └── AgentError                the user agent failed: no browser, window closed, deadline
    ├── ProviderError                 the provider answered with an OAuth error
    │   ├── AuthorizationDenied       error redirect (the user said no); also a FlowError
    │   └── TokenRequestError         the token endpoint sent an error object; also a FlowError
    ├── LoginRequired                 no valid token, and only an interactive login can get one
    └── StoreError                    the store failed, has unreadable data, or a lock wait ran out

Provider errors carry the provider's own words in :attr:`ProviderError.error`,
:attr:`ProviderError.error_description` and :attr:`ProviderError.error_uri`.
No error message ever contains a secret (client secret, code, token, verifier).
``InvalidTokenResponse`` and ``TokenEndpointUnavailable``, the former names of
:class:`InvalidResponse` and :class:`ServerUnavailable`, are the same classes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .redaction import MARK, current_redaction, redacted

__all__ = [
    "AgentError",
    "AuthorizationDenied",
    "ConfigurationError",
    "DiscoveryError",
    "FlowError",
    "FlowExpired",
    "InvalidAuthorizationResponse",
    "InvalidIdToken",
    "InvalidResponse",
    "InvalidTokenResponse",
    "InvalidTransition",
    "IssuerMismatch",
    "LoginRequired",
    "MalformedRedirect",
    "OAuthError",
    "PluginError",
    "ProviderError",
    "RedirectError",
    "RedirectMismatch",
    "ServerUnavailable",
    "StateError",
    "StateMismatch",
    "StateMissing",
    "StoreError",
    "TokenEndpointUnavailable",
    "TokenExpiredOnArrival",
    "TokenRequestError",
]

# Provider-supplied text is shown to people; bound it so a hostile provider
# cannot flood logs through an error message.
_MAX_PROVIDER_TEXT = 500

_TOKEN_CHARACTER = re.compile("[A-Za-z0-9._~+/=%-]")
"""The characters of tokens, codes and their encodings: a clip never ends inside a run
of them."""


def _clip(value: object) -> str | None:
    """Provider text made fit for an error: redacted of the secrets of the request it
    answers (see :func:`~anyoauth._core.redaction.redacting`), printable, and at most
    500 characters. A clip never ends inside a run of token characters or a
    ``<redacted>`` mark: no piece of a token is shown cut off."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    redaction = current_redaction()
    if redaction is not None:
        text = redaction(text, keep=_MAX_PROVIDER_TEXT)
    text = "".join(ch if ch.isprintable() else "\ufffd" for ch in text)
    if len(text) > _MAX_PROVIDER_TEXT:
        text = _cut(text, _MAX_PROVIDER_TEXT) + "…"
    return text


def _cut(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, never inside a ``<redacted>`` mark
    nor inside a run of token characters (a code or token the redaction did not know):
    the cut moves back to the start of that run, unless the run is the whole text."""
    cut = limit
    mark = text.rfind(MARK, max(0, cut - len(MARK) + 1), cut + len(MARK) - 1)
    if 0 <= mark < cut < mark + len(MARK):
        return text[:mark]
    if _TOKEN_CHARACTER.match(text, cut) and _TOKEN_CHARACTER.match(text, cut - 1):
        start = cut - 1
        while start > 0 and _TOKEN_CHARACTER.match(text, start - 1):
            start -= 1
        if start > 0:
            cut = start
    return text[:cut]


def drop_hidden_contexts(error: BaseException) -> None:
    """Detach what ``raise ... from None`` only hides: for ``error`` and every error
    chained to it, an exception context that is not shown (``__suppress_context__``)
    is dropped.

    Such a context is whatever was being handled when the error was raised: a
    ``JSONDecodeError`` whose ``doc`` is the whole response body (an echoed request,
    freshly issued tokens), a ``ValueError`` about a redirect URL with its code. It
    would stay reachable from the error (debuggers, error trackers) though no
    traceback prints it.
    """
    for current in chained_errors(error):
        if current.__suppress_context__:
            current.__context__ = None


def chained_errors(error: BaseException) -> Iterator[BaseException]:
    """``error`` and every error chained to it (cause, context, the members of an
    exception group), each once. Changes the caller makes to an error's context
    before asking for the next one are followed."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
        if isinstance(current, BaseExceptionGroup):
            pending += current.exceptions


class OAuthError(Exception):
    """Base class of every error raised by anyoauth.

    Built within :func:`~anyoauth._core.redaction.redacting`, its message has the secrets
    of that request taken out.
    """

    def __init__(self, *args: object) -> None:
        if current_redaction() is not None:
            args = tuple(redacted(arg) if isinstance(arg, str) else arg for arg in args)
        super().__init__(*args)


class ConfigurationError(OAuthError, ValueError):
    """A strategy, preset, store or client was given arguments it cannot work with."""


class PluginError(ConfigurationError):
    """A strategy or provider plugin (see :mod:`anyoauth.plugins`) is unknown, cannot be
    imported, or does not fit the contract of its entry-point group.

    ``group``, ``name``, ``value`` (``"module:attr"``) and ``distribution`` name the
    plugin when there is one; the cause, if any, is chained as ``__cause__``.
    """

    def __init__(
        self,
        message: str,
        *,
        group: str | None = None,
        name: str | None = None,
        value: str | None = None,
        distribution: str | None = None,
    ) -> None:
        self.group = group
        self.name = name
        self.value = value
        self.distribution = distribution
        super().__init__(message)


class FlowError(OAuthError):
    """The flow cannot continue; the flow has moved to its terminal failed state."""


class InvalidTransition(FlowError):
    """The flow received an event its transition table does not allow in its current state.

    Attributes ``state`` and ``event`` name the offending pair.
    """

    def __init__(self, state: object, event: object) -> None:
        self.state = state
        self.event = event
        super().__init__(f"event {event!s} is not allowed in state {state!s}")


class StateError(FlowError):
    """The ``state`` of a redirect failed validation. No token request was sent."""


class StateMissing(StateError):
    """The redirect carries no ``state`` although the flow sent one."""


class StateMismatch(StateError):
    """The ``state`` is unknown, was already used, or belongs to another flow."""


class FlowExpired(StateError):
    """The pending flow's deadline passed before the redirect arrived."""


class RedirectError(FlowError):
    """The redirect URL cannot be used to finish the flow."""


class RedirectMismatch(RedirectError):
    """The URL is not the redirect (or special) URL this flow expects."""


class MalformedRedirect(RedirectError):
    """The redirect matched but its parameters are unusable (duplicated, missing, oversized)."""


class IssuerMismatch(RedirectError):
    """The authorization response's ``iss`` (RFC 9207) is not the configured issuer, or is
    missing although the server says it sends one: a possible mix-up attack. No token
    request was sent."""


class InvalidAuthorizationResponse(RedirectError):
    """A signed authorization response (JARM: ``response_mode`` ``jwt``, ``query.jwt``,
    ``fragment.jwt`` or ``form_post.jwt``) failed validation: its signature, algorithm,
    ``iss``, ``aud`` or ``exp``, or it came without its signature (unsigned parameters
    where a signed response was asked for). Nothing it carried was used and no token
    request was sent."""

    def __init__(self, reason: str, *, unknown_key: bool = False) -> None:
        #: True when no key of the key set matched the response's ``kid``: the server may
        #: have rotated its keys, and fetching its key set again may help.
        self.unknown_key = unknown_key
        #: The failed check alone, without the framing.
        self.check = redacted(reason)
        super().__init__(f"signed authorization response rejected: {self.check}")


class DiscoveryError(OAuthError):
    """Server metadata (RFC 8414 / OpenID Connect discovery) could not be fetched, is not
    a valid document, names another issuer, or lists an endpoint that is not https."""


class ProviderError(OAuthError):
    """The provider answered with an OAuth error.

    Attributes:
        error: the provider's error code (``access_denied``, ``invalid_grant``, ...).
        error_description: the provider's human-readable explanation, if any.
        error_uri: a page about the error, if the provider gave one.
    """

    def __init__(
        self,
        error: str,
        error_description: str | None = None,
        error_uri: str | None = None,
    ) -> None:
        self.error: str = _clip(error) or "unknown_error"
        self.error_description: str | None = _clip(error_description)
        self.error_uri: str | None = _clip(error_uri)
        text = self.error
        if self.error_description:
            text = f"{text}: {self.error_description}"
        elif self.error in _ERROR_HINTS:
            text = f"{text}: {_ERROR_HINTS[self.error]}"
        super().__init__(text)


_ERROR_HINTS = {
    "invalid_authorization_details": (
        "the server refused the authorization_details asked for (RFC 9396 5: an unknown "
        "type, a detail it does not accept, or more than the client may ask)"
    ),
}
"""What a provider error means, shown when the provider gave no description."""


class AuthorizationDenied(ProviderError, FlowError):
    """The authorization step ended in an error redirect (for example the user said no)."""


class TokenRequestError(ProviderError, FlowError):
    """The token endpoint answered with an error object.

    ``status_code`` is the HTTP status of that answer.
    """

    def __init__(
        self,
        error: str,
        error_description: str | None = None,
        error_uri: str | None = None,
        *,
        status_code: int,
    ) -> None:
        self.status_code = status_code
        super().__init__(error, error_description, error_uri)

    def __str__(self) -> str:
        return f"{super().__str__()} (HTTP {self.status_code})"


class InvalidResponse(FlowError):
    """A server answered with something that is not a valid answer of its endpoint: the
    token endpoint (no usable token), the device authorization, revocation or
    introspection endpoint, or the key set.

    ``status_code`` is the HTTP status of that answer.
    """

    def __init__(self, reason: str, *, status_code: int) -> None:
        reason = redacted(reason)
        self.reason = reason
        self.status_code = status_code
        super().__init__(f"invalid response (HTTP {status_code}): {reason}")


InvalidTokenResponse = InvalidResponse
"""The former name of :class:`InvalidResponse`, kept: ``except InvalidTokenResponse``
catches exactly what it did."""


class InvalidIdToken(InvalidResponse):
    """The OpenID Connect ``id_token`` of a token response failed validation (signature,
    algorithm, ``iss``, ``aud``, ``exp``, ``nonce``...). The token was not stored."""

    def __init__(self, reason: str, *, status_code: int = 200, unknown_key: bool = False) -> None:
        #: True when no key of the key set matched the token's ``kid``: the server may
        #: have rotated its keys, and fetching its key set again may help.
        self.unknown_key = unknown_key
        #: The failed check alone, without the "id_token rejected" framing.
        self.check = redacted(reason)
        super().__init__(f"id_token rejected: {reason}", status_code=status_code)


class TokenExpiredOnArrival(InvalidResponse):
    """The token endpoint keeps issuing tokens that expire at once or within seconds
    (``expires_in`` 0, 1, under 10 s): ``count`` of them in a row. Renewals are paced
    (the pause after each doubles from 1 s up to 60 s); none is sent before ``retry_at``
    (seconds since the epoch, by the client's clock), and a caller whose token has
    expired meanwhile gets this error. The last token is stored as usual."""

    def __init__(self, *, count: int, retry_at: float, status_code: int = 200) -> None:
        self.count = count
        self.retry_at = retry_at
        super().__init__(
            f"{count} tokens in a row were issued with under 10 s to live; the next renewal waits",
            status_code=status_code,
        )


class ServerUnavailable(FlowError):
    """A server anyoauth sends a request to (its token, device authorization,
    revocation, introspection or key set endpoint) could not be reached, did not answer
    within the deadline, or answered with more than the client takes."""


TokenEndpointUnavailable = ServerUnavailable
"""The former name of :class:`ServerUnavailable`, kept: ``except
TokenEndpointUnavailable`` catches exactly what it did."""


class LoginRequired(OAuthError):
    """No valid token is stored and only an interactive login can obtain one."""


class StoreError(OAuthError):
    """The token store failed: unreachable (Redis down), unreadable data, or a lock wait ran out.

    Nothing stored was changed by the operation that raised it.
    """


class AgentError(FlowError):
    """The user agent could not finish the login: no browser could be opened, the
    window was closed, or the login's deadline passed. Nothing was sent to the token
    endpoint."""
