"""Strategies: one small object per kind of flow.

A strategy knows how to build the authorization URL, read the redirect, build
the token / refresh request and read the token response. :class:`Strategy` has
a default for every hook (a standard form-encoded OAuth 2.0 client); a strategy
overrides only what differs. Strategies are sans-IO: they build
:class:`HttpRequest` values and never send them.
"""

from __future__ import annotations

import base64
import ipaddress
import json
from collections.abc import Iterable, Mapping
from typing import ClassVar, Literal
from urllib.parse import quote_plus, urlencode, urlsplit, urlunsplit

import attrs

from .errors import AuthorizationDenied, ConfigurationError, MalformedRedirect, RedirectMismatch
from .machine import PendingFlow
from .redirect import Endpoint, Redirect, ResponseLocation, read_redirect
from .token import Token, parse_token_response

__all__ = [
    "ClientAuth",
    "ClientCredentials",
    "CodeJsonExchange",
    "HttpRequest",
    "ImplicitDesktop",
    "Strategy",
    "basic_credentials",
    "is_loopback_host",
]

ClientAuth = Literal["client_secret_basic", "client_secret_post", "none"]
"""How the client authenticates at the token endpoint."""

_SECRET_HEADERS = frozenset({"authorization", "cookie"})


def _headers_repr(headers: tuple[tuple[str, str], ...]) -> str:
    shown = ((k, "<redacted>" if k.lower() in _SECRET_HEADERS else v) for k, v in headers)
    return repr(tuple(shown))


@attrs.frozen(kw_only=True)
class HttpRequest:
    """An HTTP request for the driver to send. Its repr hides credentials and the body."""

    method: str
    """The HTTP method."""
    url: str
    """The absolute URL."""
    headers: tuple[tuple[str, str], ...] = attrs.field(default=(), repr=_headers_repr)
    """Header name/value pairs."""
    content: bytes = attrs.field(default=b"", repr=False)
    """The encoded body."""


def basic_credentials(client_id: str, client_secret: str) -> str:
    """The ``Authorization: Basic`` value of RFC 6749 section 2.3.1.

    Both parts are form-urlencoded before base64, so a secret with ``:``, ``+``
    or ``%`` reaches the server intact (Keycloak decodes them this way).
    """
    raw = f"{quote_plus(client_id)}:{quote_plus(client_secret)}"
    return "Basic " + base64.b64encode(raw.encode()).decode("ascii")


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` names this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _scope(value: str | Iterable[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(value.replace(",", " ").split())
    return tuple(value)


def _add_query(url: str, params: Iterable[tuple[str, str]]) -> str:
    parts = urlsplit(url)
    extra = urlencode(list(params), safe=",")
    query = f"{parts.query}&{extra}" if parts.query and extra else parts.query or extra
    return urlunsplit(parts._replace(query=query))


def _check_endpoint(name: str, url: str | None, allow_insecure: bool) -> None:
    if url is None:
        return
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigurationError(f"{name} must be an absolute http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError(f"{name} must not carry credentials")
    if parts.scheme == "http" and not (allow_insecure or is_loopback_host(parts.hostname)):
        raise ConfigurationError(
            f"{name} must use https (http is allowed only on loopback or with allow_insecure)"
        )


def _check_redirect_uri(url: str | None) -> None:
    if url is None:
        return
    parts = urlsplit(url)
    if not parts.scheme or parts.fragment:
        raise ConfigurationError("redirect_uri must be absolute and have no fragment")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname or ""):
        raise ConfigurationError("an http redirect_uri must point at loopback")


def _not_empty(_instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{attribute.name} must be a non-empty string")


@attrs.frozen(kw_only=True)
class Strategy:
    """Base strategy: a standard OAuth 2.0 client with form-encoded token requests.

    Subclasses set :attr:`name` and override the hooks that differ for their flow.
    """

    name: ClassVar[str] = "oauth2"
    """A short name for the kind of flow, used in store keys and messages."""

    client_id: str = attrs.field(validator=_not_empty)
    """The client identifier issued by the provider."""
    client_secret: str | None = attrs.field(default=None, repr=False)
    """The client secret, for confidential clients. Never shown in a repr."""
    authorization_endpoint: str | None = None
    """Where the user agent is sent; ``None`` for grants without a user step."""
    token_endpoint: str | None = None
    """The token endpoint; ``None`` for flows that never call one."""
    redirect_uri: str | None = None
    """Where the provider sends the user agent back."""
    scope: tuple[str, ...] = attrs.field(default=(), converter=_scope)
    """Requested scopes (a string is split on spaces and commas)."""
    response_type: str = "code"
    """``code`` or ``token`` (implicit)."""
    response_location: ResponseLocation = ResponseLocation.QUERY
    """Where the redirect carries the response parameters."""
    client_auth: ClientAuth = "client_secret_basic"
    """How the client authenticates at the token endpoint."""
    uses_pkce: bool = False
    """Whether code flows send a PKCE S256 challenge."""
    extra_authorization_params: Mapping[str, str] = attrs.field(factory=dict)
    """More parameters for the authorization URL."""
    state_ttl: float = 600.0
    """Seconds a pending flow accepts its redirect."""
    allow_insecure: bool = False
    """Allow http endpoints on non-loopback hosts (test set-ups only)."""

    def __attrs_post_init__(self) -> None:
        _check_endpoint("authorization_endpoint", self.authorization_endpoint, self.allow_insecure)
        _check_endpoint("token_endpoint", self.token_endpoint, self.allow_insecure)
        _check_redirect_uri(self.redirect_uri)
        if self.response_type not in ("code", "token"):
            raise ConfigurationError("response_type must be 'code' or 'token'")
        if self.state_ttl <= 0:
            raise ConfigurationError("state_ttl must be positive")

    # -- identity -------------------------------------------------------------------

    @property
    def binding(self) -> str:
        """Identifies this strategy's flows and tokens in stores: ``name:client_id``."""
        return f"{self.name}:{self.client_id}"

    @property
    def interactive(self) -> bool:
        """Whether the flow has a user step (an authorization endpoint)."""
        return self.authorization_endpoint is not None

    # -- authorization request ------------------------------------------------------

    def scope_param(self) -> str:
        """The ``scope`` parameter value (space-delimited by default)."""
        return " ".join(self.scope)

    def authorization_params(
        self, *, state: str, code_challenge: str | None
    ) -> list[tuple[str, str]]:
        """The authorization URL's query parameters."""
        params = [("client_id", self.client_id), ("response_type", self.response_type)]
        if self.redirect_uri is not None:
            params.append(("redirect_uri", self.redirect_uri))
        if self.scope:
            params.append(("scope", self.scope_param()))
        params.append(("state", state))
        if code_challenge is not None:
            params += [("code_challenge", code_challenge), ("code_challenge_method", "S256")]
        params += list(self.extra_authorization_params.items())
        return params

    def authorization_url(self, *, state: str, code_challenge: str | None) -> str:
        """The URL to open in the user agent."""
        if self.authorization_endpoint is None:
            raise ConfigurationError(f"{self.name} has no authorization endpoint")
        params = self.authorization_params(state=state, code_challenge=code_challenge)
        return _add_query(self.authorization_endpoint, params)

    # -- reading the redirect -------------------------------------------------------

    def redirect_endpoints(self) -> tuple[str, ...]:
        """The URLs a redirect of this flow may land on."""
        if self.redirect_uri is None:
            raise ConfigurationError(f"{self.name} needs a redirect_uri")
        return (self.redirect_uri,)

    def is_redirect(self, url: str) -> bool:
        """Whether ``url`` lands exactly on one of :meth:`redirect_endpoints`.

        Compares parsed scheme, host, port and path; a URL-watching agent calls
        this on every navigation and hands a match to ``complete()``.
        """
        return any(Endpoint.parse(e).matches(url) for e in self.redirect_endpoints())

    def read_redirect(self, url: str) -> Redirect:
        """Check that ``url`` lands on one of :meth:`redirect_endpoints` and read it."""
        if not self.is_redirect(url):
            raise RedirectMismatch("the URL is not this flow's redirect URI")
        return read_redirect(url, self.response_location)

    def authorization_error(self, redirect: Redirect) -> AuthorizationDenied | None:
        """The provider's error carried by ``redirect`` (RFC 6749 4.1.2.1), if any."""
        error = redirect.get("error")
        if error is None:
            return None
        return AuthorizationDenied(
            error or "unknown_error", redirect.get("error_description"), redirect.get("error_uri")
        )

    def read_authorization_response(
        self, redirect: Redirect, pending: PendingFlow, now: float
    ) -> HttpRequest | Token:
        """The token (implicit) or the code exchange request (code flows)."""
        if self.response_type == "token":
            try:
                params = {k: v for k, v in redirect.params.items() if k != "state"}
                return Token.from_response(params, received_at=now)
            except ValueError as exc:
                raise MalformedRedirect(str(exc)) from None
        code = redirect.get("code")
        if not code:
            raise MalformedRedirect("the redirect carries no code")
        return self.code_exchange_request(code, pending)

    # -- token requests -------------------------------------------------------------

    def _token_url(self) -> str:
        if self.token_endpoint is None:
            raise ConfigurationError(f"{self.name} has no token endpoint")
        return self.token_endpoint

    def form_request(self, params: Iterable[tuple[str, str]]) -> HttpRequest:
        """A form-encoded POST to the token endpoint, with client authentication."""
        params = list(params)
        headers = [
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Accept", "application/json"),
        ]
        if self.client_auth == "client_secret_basic" and self.client_secret is not None:
            headers.append(("Authorization", basic_credentials(self.client_id, self.client_secret)))
        elif self.client_auth == "client_secret_post" and self.client_secret is not None:
            params += [("client_id", self.client_id), ("client_secret", self.client_secret)]
        else:
            params.append(("client_id", self.client_id))
        return HttpRequest(
            method="POST",
            url=self._token_url(),
            headers=tuple(headers),
            content=urlencode(params).encode(),
        )

    def code_exchange_request(self, code: str, pending: PendingFlow) -> HttpRequest:
        """The request that exchanges an authorization code (RFC 6749 4.1.3)."""
        params = [("grant_type", "authorization_code"), ("code", code)]
        if self.redirect_uri is not None:
            params.append(("redirect_uri", self.redirect_uri))
        if pending.code_verifier is not None:
            params.append(("code_verifier", pending.code_verifier))
        return self.form_request(params)

    def direct_token_request(self) -> HttpRequest | None:
        """The request of a grant without a user step, or ``None`` if there is none."""
        return None

    def refresh_request(self, token: Token) -> HttpRequest | None:
        """The refresh grant request (RFC 6749 6), or ``None`` if it cannot refresh."""
        if not token.refresh_token or self.token_endpoint is None:
            return None
        return self.form_request(
            [("grant_type", "refresh_token"), ("refresh_token", token.refresh_token)]
        )

    def parse_token_response(
        self, status_code: int, content_type: str | None, body: bytes, now: float
    ) -> Token:
        """Validate the token endpoint's answer (see :func:`parse_token_response`)."""
        return parse_token_response(status_code, content_type, body, received_at=now)


@attrs.frozen(kw_only=True)
class ImplicitDesktop(Strategy):
    """Implicit flow for an embedded browser, ending on the provider's special URLs.

    The provider never redirects to the app: it sends the browser to
    :attr:`success_url` with the token in the fragment, or to :attr:`failure_url`
    with ``status``/``message`` (or ``error``/``error_description``). The app
    watches the browser's URL and hands the matching URL to ``complete()``.
    """

    name: ClassVar[str] = "implicit-desktop"

    response_type: str = "token"
    response_location: ResponseLocation = ResponseLocation.FRAGMENT
    success_url: str = attrs.field(validator=_not_empty)
    """The special URL the browser lands on when the user allows access."""
    failure_url: str | None = None
    """The special URL the browser lands on when the user declines."""
    scope_separator: str = ","
    """Joins scopes in the ``scope`` parameter."""

    def scope_param(self) -> str:
        """Scopes joined with :attr:`scope_separator`."""
        return self.scope_separator.join(self.scope)

    def redirect_endpoints(self) -> tuple[str, ...]:
        """The success URL and, if set, the failure URL."""
        return (self.success_url,) + ((self.failure_url,) if self.failure_url else ())

    def authorization_error(self, redirect: Redirect) -> AuthorizationDenied | None:
        """``error=...``, or the failure URL's ``status=unauthorized&message=...``."""
        denial = super().authorization_error(redirect)
        if denial is not None:
            return denial
        status = redirect.get("status")
        if status is not None and redirect.get("access_token") is None:
            return AuthorizationDenied(status or "unauthorized", redirect.get("message"))
        return None

    def read_redirect(self, url: str) -> Redirect:
        """Read a special URL; the failure URL always counts as a denial."""
        redirect = super().read_redirect(url)
        if (
            self.failure_url is not None
            and Endpoint.parse(self.failure_url).matches(url)
            and self.authorization_error(redirect) is None
        ):
            return Redirect({**redirect.params, "error": "access_denied"})
        return redirect


@attrs.frozen(kw_only=True)
class CodeJsonExchange(Strategy):
    """Authorization code flow whose code is exchanged by a JSON POST.

    The login URL carries only ``redirect_uri``, ``client_id`` and ``state``; the
    exchange posts ``{code, client_id, client_secret, redirect_uri}`` as JSON,
    with an ``Origin`` header when the app has allowed origins.
    """

    name: ClassVar[str] = "code-json"

    origin: str | None = None
    """The ``Origin`` header to send with the exchange, if the app restricts origins."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if self.redirect_uri is None:
            raise ConfigurationError("a redirect_uri is required")
        if self.client_secret is None:
            raise ConfigurationError("a client_secret is required")

    def authorization_params(
        self, *, state: str, code_challenge: str | None
    ) -> list[tuple[str, str]]:
        """``redirect_uri``, ``client_id``, ``state`` and any extra parameters."""
        params = [
            ("redirect_uri", self.redirect_uri or ""),
            ("client_id", self.client_id),
            ("state", state),
        ]
        return params + list(self.extra_authorization_params.items())

    def code_exchange_request(self, code: str, pending: PendingFlow) -> HttpRequest:
        """``POST`` the code as JSON."""
        body = {
            "code": code,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "redirect_uri": self.redirect_uri,
        }
        headers = [("Content-Type", "application/json"), ("Accept", "application/json")]
        if self.origin is not None:
            headers.append(("Origin", self.origin))
        return HttpRequest(
            method="POST",
            url=self._token_url(),
            headers=tuple(headers),
            content=json.dumps(body, separators=(",", ":")).encode(),
        )


@attrs.frozen(kw_only=True)
class ClientCredentials(Strategy):
    """Client credentials grant (RFC 6749 4.4), optionally with an implicit authorize step.

    ``token()`` fetches a token with the client's own credentials. When an
    :attr:`authorization_endpoint` and a ``redirect_uri`` are set, ``begin()`` /
    ``complete()`` also run the provider's implicit authorize step, whose token
    comes back in the query or the fragment.
    """

    name: ClassVar[str] = "client-credentials"

    response_type: str = "token"
    response_location: ResponseLocation = ResponseLocation.EITHER
    token_params: Mapping[str, str] = attrs.field(factory=dict)
    """Extra form parameters for the token request."""
    send_redirect_uri: bool = False
    """Send ``redirect_uri`` with the token request (some providers' docs ask for it)."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if self.token_endpoint is None:
            raise ConfigurationError("a token_endpoint is required")
        if self.client_secret is None and self.client_auth != "none":
            raise ConfigurationError("a client_secret is required")

    @property
    def interactive(self) -> bool:
        """Whether the implicit authorize step is configured."""
        return self.authorization_endpoint is not None and self.redirect_uri is not None

    def direct_token_request(self) -> HttpRequest:
        """``grant_type=client_credentials`` with the client's credentials."""
        params = [("grant_type", "client_credentials")]
        if self.scope:
            params.append(("scope", self.scope_param()))
        if self.send_redirect_uri and self.redirect_uri is not None:
            params.append(("redirect_uri", self.redirect_uri))
        params += list(self.token_params.items())
        return self.form_request(params)
