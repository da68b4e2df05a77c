"""Strategies: one small object per kind of flow.

A strategy knows how to build the authorization URL, read the redirect, build
the token / refresh request and read the token response. :class:`Strategy` has
a default for every hook (a standard form-encoded OAuth 2.0 client); a strategy
overrides only what differs. Strategies are sans-IO: they build
:class:`HttpRequest` values and never send them.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self
from urllib.parse import SplitResult, parse_qsl, quote_plus, unquote_plus, urlsplit, urlunsplit

import attrs

from .errors import (
    AuthorizationDenied,
    ConfigurationError,
    InvalidIdToken,
    IssuerMismatch,
    MalformedRedirect,
    RedirectMismatch,
)
from .jose import DEFAULT_ID_TOKEN_ALGORITHMS, ID_TOKEN_ALGORITHMS
from .redirect import (
    Redirect,
    ResponseLocation,
    landing,
    lands_on,
    redirect_of,
    split_url,
)
from .text import URL_NOT_VISIBLE_ASCII, is_visible_ascii
from .token import BEARER, BEARER_TYPE, Token, parse_token_response

if TYPE_CHECKING:
    from .machine import PendingFlow
    from .metadata import ServerMetadata

__all__ = [
    "ASSERTION_TYPE",
    "DEFAULT_ID_TOKEN_ALGORITHMS",
    "SECRET_PARAMETERS",
    "AssertionAudience",
    "AuthorizationCode",
    "ClientAuth",
    "ClientCredentials",
    "CodeJsonExchange",
    "HttpRequest",
    "Implicit",
    "ImplicitDesktop",
    "Strategy",
    "basic_credentials",
    "form_encode",
    "http_allowed",
    "is_loopback_host",
    "is_loopback_url",
]

ClientAuth = Literal[
    "client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "none"
]
"""How the client authenticates at the token endpoint (RFC 6749 2.3, RFC 7523, OIDC Core 9)."""

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
"""``client_assertion_type`` of JWT client authentication (RFC 7523 2.2)."""

AssertionAudience = Literal["issuer", "endpoint"]
"""What a JWT client assertion names as its audience (``aud``):

* ``"issuer"``: the authorization server's issuer identifier, as one JSON string
  (draft-ietf-oauth-rfc7523bis); every endpoint of the server gets the same audience.
* ``"endpoint"``: the URL of the endpoint the assertion is sent with (the token,
  device authorization, revocation or introspection endpoint), for servers that
  refuse their issuer. An assertion posted to one endpoint never names another.
"""


_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "dpop"})

SECRET_PARAMETERS = frozenset(
    {
        "access_token",
        "actor_token",
        "assertion",
        "client_assertion",
        "client_secret",
        "code",
        "code_verifier",
        "device_code",
        "password",
        "refresh_token",
        "subject_token",
        "token",
    }
)
"""Request parameters (form, JSON or query) whose value is a secret: the client secret
and assertion, codes, the PKCE verifier, tokens, passwords."""


def _headers_repr(headers: tuple[tuple[str, str], ...]) -> str:
    shown = ((k, "<redacted>" if k.lower() in _SECRET_HEADERS else v) for k, v in headers)
    return repr(tuple(shown))


def _credential_secrets(value: str) -> set[str]:
    """The secrets of a credential header: the whole value, the credential after the
    scheme and, for ``Basic``, the secret of the decoded ``id:secret`` pair as sent
    (form-encoded or not) and as decoded. The client id is no secret."""
    found = {value}
    scheme, _, credential = value.strip().partition(" ")
    credential = credential.strip()
    if not credential:
        return found
    found.add(credential)
    if scheme.lower() == "basic":
        try:
            pair = base64.b64decode(credential, validate=True).decode("utf-8")
        except ValueError:
            return found
        secret = pair.partition(":")[2]
        found |= {secret, unquote_plus(secret)}
    return found


def _parameter_secrets(pairs: Iterable[tuple[str, Any]]) -> set[str]:
    return {v for k, v in pairs if k in SECRET_PARAMETERS and isinstance(v, str)}


@attrs.frozen(kw_only=True)
class HttpRequest:
    """An HTTP request for the driver to send. Its repr hides credentials and the body.

    It knows the secrets it carries (:attr:`secrets`): an error built while its answer
    is read never shows them (see :func:`anyoauth._core.redaction.redacting`).
    """

    method: str
    """The HTTP method."""
    url: str
    """The absolute URL."""
    headers: tuple[tuple[str, str], ...] = attrs.field(default=(), repr=_headers_repr)
    """Header name/value pairs."""
    content: bytes = attrs.field(default=b"", repr=False)
    """The encoded body."""
    extra_secrets: frozenset[str] = attrs.field(
        default=frozenset(), converter=frozenset, repr=False, eq=False
    )
    """Secret values sent under names :data:`SECRET_PARAMETERS` does not list (a
    strategy's own parameters); :attr:`secrets` finds the standard ones itself."""

    @functools.cached_property
    def secrets(self) -> frozenset[str]:
        """Every secret this request carries: the values of credential headers
        (``Authorization``; for ``Basic`` also the decoded pair and secret), of the
        :data:`SECRET_PARAMETERS` in its form or JSON body and in its query, and
        :attr:`extra_secrets`. Worked out from the request as built, when first asked
        for (only an error needs it)."""
        found: set[str] = set(self.extra_secrets)
        for name, value in self.headers:
            if name.lower() in _SECRET_HEADERS:
                found |= _credential_secrets(value)
        found |= _parameter_secrets(parse_qsl(urlsplit(self.url).query, keep_blank_values=True))
        text = self.content.decode("utf-8", "replace")
        payload: object = None
        if text.lstrip().startswith("{"):
            try:
                payload = json.loads(text)
            except (ValueError, RecursionError):
                payload = None
        if isinstance(payload, dict):
            found |= _parameter_secrets(payload.items())
        else:
            found |= _parameter_secrets(parse_qsl(text, keep_blank_values=True))
        return frozenset(value for value in found if value)


def basic_credentials(client_id: str, client_secret: str, *, form_encode: bool = True) -> str:
    """The ``Authorization: Basic`` value of RFC 6749 section 2.3.1.

    Both parts are form-urlencoded before base64, so a secret with ``:``, ``+``
    or ``%`` reaches the server intact (Keycloak decodes them this way). Servers
    that take the credentials raw get them unencoded with ``form_encode=False``;
    a client_id containing ``:`` cannot be sent that way.
    """
    if form_encode:
        raw = f"{quote_plus(client_id)}:{quote_plus(client_secret)}"
    elif ":" in client_id:
        raise ConfigurationError("a client_id with ':' needs form-encoded Basic credentials")
    else:
        raw = f"{client_id}:{client_secret}"
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


_UNRESERVED = re.compile("[A-Za-z0-9_.~-]*").fullmatch
"""Text that ``quote_plus`` leaves as it is, whatever its ``safe`` argument."""

_ALWAYS_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")


@functools.lru_cache(maxsize=16)
def _byte_quoting(safe: str) -> Callable[[int], str]:
    """What ``quote_plus(..., safe)`` makes of each UTF-8 byte, as a lookup."""
    kept = _ALWAYS_SAFE | frozenset(safe.encode("ascii", "ignore"))
    table = [
        chr(byte) if byte in kept else "+" if byte == 0x20 else f"%{byte:02X}"
        for byte in range(256)
    ]
    return table.__getitem__


_NOTHING_QUOTED: Mapping[str, str] = MappingProxyType({})


def _form_quote(value: object, safe: str, known: Mapping[str, str] = _NOTHING_QUOTED) -> str:
    """``quote_plus(value, safe)`` as ``urlencode`` applies it (``str()`` of anything
    neither text nor bytes); ``known`` holds texts already quoted."""
    if type(value) is str:
        if _UNRESERVED(value):
            return value
        quoted = known.get(value)
        if quoted is not None:
            return quoted
    data = value if isinstance(value, bytes) else str(value).encode()
    return "".join(map(_byte_quoting(safe), data))


def form_encode(
    params: Iterable[tuple[Any, Any]], *, safe: str = "", known: Mapping[str, str] = _NOTHING_QUOTED
) -> str:
    """``urllib.parse.urlencode(list(params), safe=safe)``, character for character,
    several times faster.

    Most values of an OAuth request (``state``, PKCE values, tokens, client ids) are
    unreserved characters only and are used as they are; others are quoted a byte at a
    time through a table, as ``quote_plus`` does, without its layers of calls. ``known``
    maps texts to their quoted form under this ``safe`` (a strategy's own settings,
    quoted once).
    """
    return "&".join(
        [f"{_form_quote(k, safe, known)}={_form_quote(v, safe, known)}" for k, v in params]
    )


@functools.lru_cache(maxsize=256)
def _url_around_query(url: str) -> tuple[str, str, str]:
    """A configured URL split for adding to its query: (URL without query and fragment,
    query, ``#fragment`` or "")."""
    parts = urlsplit(url)
    base = urlunsplit(parts._replace(query="", fragment=""))
    return base, parts.query, f"#{parts.fragment}" if parts.fragment else ""


def _add_query(
    url: str, params: Iterable[tuple[str, str]], known: Mapping[str, str] = _NOTHING_QUOTED
) -> str:
    base, query, fragment = _url_around_query(url)
    extra = form_encode(params, safe=",", known=known)
    query = f"{query}&{extra}" if query and extra else query or extra
    return f"{base}?{query}{fragment}" if query else base + fragment


def _split_configured(name: str, url: str) -> SplitResult:
    if not is_visible_ascii(url):
        # Also what urlsplit would silently strip (spaces) or drop (tab, CR, LF).
        raise ConfigurationError(f"{name} {URL_NOT_VISIBLE_ASCII}")
    try:
        parts = urlsplit(url)
        # Validates the port: a bad one would fail at send time (endpoints) or on every
        # is_redirect()/read_redirect() (the redirect_uri) otherwise.
        parts.port  # noqa: B018
    except ValueError:
        raise ConfigurationError(f"{name} is not a valid URL") from None
    return parts


def http_allowed(host: str, *, allow_insecure: bool, issuer: str | None) -> bool:
    """Whether a plain-http URL on ``host`` may be sent anything.

    With ``allow_insecure`` (an explicit test set-up): anywhere. Otherwise only on a
    loopback host, and only when the ``issuer`` (if there is one) is on a loopback
    host too: a remote server naming ``http://127.0.0.1:...`` or
    ``http://x.localhost`` as an endpoint would have the client send its secret, in
    clear, to whatever listens on that port of the user's machine.
    """
    if allow_insecure:
        return True
    return is_loopback_host(host) and (issuer is None or is_loopback_url(issuer))


def is_loopback_url(url: str) -> bool:
    """Whether ``url``'s host is a loopback host (``False`` for a malformed URL)."""
    try:
        return is_loopback_host(urlsplit(url).hostname or "")
    except ValueError:
        return False


def _check_endpoint(
    name: str, url: str | None, allow_insecure: bool, issuer: str | None = None
) -> None:
    """Refuse a configured endpoint that is not visible ASCII, is no absolute http(s)
    URL, carries credentials, or is http where :func:`http_allowed` says no
    (``issuer``: the server's issuer, when known)."""
    if url is None:
        return
    parts = _split_configured(name, url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigurationError(f"{name} must be an absolute http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError(f"{name} must not carry credentials")
    if parts.scheme == "http" and not http_allowed(
        parts.hostname, allow_insecure=allow_insecure, issuer=issuer
    ):
        if is_loopback_host(parts.hostname):
            raise ConfigurationError(
                f"{name} must use https: http on loopback is allowed only for a loopback"
                " issuer or with allow_insecure"
            )
        raise ConfigurationError(
            f"{name} must use https (http is allowed only on loopback or with allow_insecure)"
        )


def _check_redirect_uri(url: str | None) -> None:
    if url is None:
        return
    parts = _split_configured("redirect_uri", url)
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
    basic_form_encoded: bool = True
    """Form-urlencode ``client_secret_basic`` credentials before base64 (RFC 6749 2.3.1);
    ``False`` for servers that expect them raw."""
    client_key: Any = attrs.field(default=None, repr=False)
    """The private key for ``private_key_jwt``: a JWK dict, PEM text or bytes, or a
    joserfc key. Never shown in a repr."""
    client_assertion_algorithm: str | None = None
    """The JWS algorithm of client assertions (default RS256 for ``private_key_jwt``,
    HS256 for ``client_secret_jwt``)."""
    assertion_audience: AssertionAudience | None = None
    """The ``aud`` of ``private_key_jwt`` / ``client_secret_jwt`` assertions (see
    :data:`AssertionAudience`). ``None`` (the default): the issuer identifier when
    :attr:`issuer` is set, otherwise the URL of the endpoint each assertion is sent to.
    ``"issuer"`` requires :attr:`issuer`; ``"endpoint"`` is for servers that insist on
    an endpoint URL. Never the token endpoint when the request goes elsewhere: a server
    that received an assertion cannot replay it at another server's token endpoint."""
    issuer: str | None = None
    """The authorization server's issuer identifier; ``iss`` in authorization responses
    (RFC 9207) and id_tokens is compared with it."""
    require_iss: bool = False
    """Refuse authorization responses without ``iss`` (set when the server's metadata
    says it sends one)."""
    jwks_uri: str | None = None
    """The server's JSON Web Key Set; with :attr:`issuer` set, id_tokens are validated."""
    id_token_algorithms: tuple[str, ...] = attrs.field(
        default=DEFAULT_ID_TOKEN_ALGORITHMS, converter=tuple
    )
    """Accepted id_token signature algorithms (asymmetric only; never ``none``)."""
    revocation_endpoint: str | None = None
    """The token revocation endpoint (RFC 7009), for :meth:`Client.revoke`."""
    introspection_endpoint: str | None = None
    """The token introspection endpoint (RFC 7662), for :meth:`Client.introspect`."""
    _signing_key: Any = attrs.field(default=None, init=False, repr=False, eq=False)
    uses_pkce: bool = False
    """Whether code flows send a PKCE S256 challenge."""
    extra_authorization_params: Mapping[str, str] = attrs.field(factory=dict)
    """More parameters for the authorization URL."""
    state_ttl: float = 600.0
    """Seconds a pending flow accepts its redirect."""
    allow_insecure: bool = False
    """Allow http endpoints on any host (test set-ups only). Without it, http is allowed
    only on loopback hosts, and, when :attr:`issuer` is set, only if the issuer is on a
    loopback host too. Never turned on implicitly (not by :meth:`from_metadata` either)."""
    missing_token_type: str | None = BEARER_TYPE
    """The type of a token whose response has no ``token_type``. RFC 6749 5.1 requires
    the field, but Geni's fragment and Teamwork's exchange leave it out and issue
    bearer tokens; ``None`` refuses such a response (:class:`InvalidTokenResponse`).
    It must be one of :attr:`token_types`."""

    token_types: ClassVar[frozenset[str]] = BEARER
    """The token types this strategy knows how to use, in lower case: only ``bearer``
    (RFC 6750). A token response with another ``token_type`` (``DPoP``, ``N_A``,
    ``Basic``, ...) is refused with :class:`InvalidTokenResponse` and nothing is stored;
    a strategy that can use another type (a DPoP-bound token, a token exchange's
    ``N_A``) declares it here."""

    has_direct_grant: ClassVar[bool] = False
    """Whether :meth:`direct_token_request` builds a grant without a user step (a
    strategy that overrides it sets this to ``True``)."""

    def __attrs_post_init__(self) -> None:
        for name in (
            "authorization_endpoint",
            "token_endpoint",
            "jwks_uri",
            "revocation_endpoint",
            "introspection_endpoint",
        ):
            _check_endpoint(name, getattr(self, name), self.allow_insecure, self.issuer)
        _check_endpoint("issuer", self.issuer, self.allow_insecure)
        _check_redirect_uri(self.redirect_uri)
        if self.response_type not in ("code", "token"):
            raise ConfigurationError("response_type must be 'code' or 'token'")
        if self.state_ttl <= 0:
            raise ConfigurationError("state_ttl must be positive")
        if self.require_iss and self.issuer is None:
            raise ConfigurationError("require_iss needs the issuer")
        missing = self.missing_token_type
        if missing is not None and (
            not isinstance(missing, str) or missing.lower() not in self.token_types
        ):
            raise ConfigurationError(
                f"missing_token_type must be one of {', '.join(sorted(self.token_types))}"
            )
        self._check_client_auth()
        if not self.id_token_algorithms or not set(self.id_token_algorithms) <= ID_TOKEN_ALGORITHMS:
            raise ConfigurationError(
                "id_token_algorithms must list asymmetric JWS algorithms only: "
                + ", ".join(sorted(ID_TOKEN_ALGORITHMS))
            )

    def _check_client_auth(self) -> None:
        auth = self.client_auth
        if auth not in (
            "client_secret_basic",
            "client_secret_post",
            "client_secret_jwt",
            "private_key_jwt",
            "none",
        ):
            raise ConfigurationError(f"unknown client_auth {auth!r}")
        if self.assertion_audience not in (None, "issuer", "endpoint"):
            raise ConfigurationError("assertion_audience must be 'issuer', 'endpoint' or None")
        if self.assertion_audience == "issuer" and self.issuer is None:
            raise ConfigurationError("assertion_audience='issuer' needs the issuer")
        if auth == "client_secret_basic" and not self.basic_form_encoded and self.client_secret:
            basic_credentials(self.client_id, self.client_secret, form_encode=False)
        if auth == "client_secret_jwt" and not self.client_secret:
            raise ConfigurationError("client_secret_jwt needs a client_secret")
        if auth == "private_key_jwt" and self.client_key is None:
            raise ConfigurationError("private_key_jwt needs a client_key")
        if auth in ("client_secret_jwt", "private_key_jwt"):
            from . import jose

            key: Any = self.client_secret if auth == "client_secret_jwt" else self.client_key
            try:
                loaded = jose.load_client_key(key, self._assertion_algorithm)
            except ValueError as exc:
                raise ConfigurationError(f"{auth}: {exc}") from None
            # Parsed once: a PEM key is not parsed again for every request.
            object.__setattr__(self, "_signing_key", loaded)

    @property
    def _assertion_algorithm(self) -> str:
        if self.client_assertion_algorithm is not None:
            return self.client_assertion_algorithm
        return "HS256" if self.client_auth == "client_secret_jwt" else "RS256"

    @property
    def verifies_id_tokens(self) -> bool:
        """Whether id_tokens in token responses are validated (issuer and jwks_uri set)."""
        return self.issuer is not None and self.jwks_uri is not None

    @property
    def requests_nonce(self) -> bool:
        """Whether the authorization request carries an OpenID Connect ``nonce``: a code
        flow asking for ``openid`` whose id_tokens are validated. (Without ``issuer`` and
        ``jwks_uri`` an id_token cannot be validated; it is then dropped, never handed out.)"""
        return self.response_type == "code" and "openid" in self.scope and self.verifies_id_tokens

    @functools.cached_property
    def _basic_authorization(self) -> str | None:
        """The ``Authorization`` value of ``client_secret_basic``, computed once."""
        if self.client_auth != "client_secret_basic" or self.client_secret is None:
            return None
        return basic_credentials(
            self.client_id, self.client_secret, form_encode=self.basic_form_encoded
        )

    @functools.cached_property
    def _quoted_settings(self) -> Mapping[str, str]:
        """This strategy's public settings that go into every authorization URL or token
        request (``client_id``, ``redirect_uri``, the scope), form-quoted once.

        Only texts without ``,``, which quote alike in URLs (``safe=","``) and bodies;
        never a secret.
        """
        values = (self.client_id, self.redirect_uri, self.scope_param() if self.scope else None)
        return {
            value: _form_quote(value, "")
            for value in values
            if value and "," not in value and not _UNRESERVED(value)
        }

    # -- identity -------------------------------------------------------------------

    @functools.cached_property
    def binding(self) -> str:
        """Identifies this strategy's flows and tokens in stores:
        ``name:client_id:server``, where ``server`` is a short digest of the issuer (or,
        without one, the token or authorization endpoint). Two servers that issued the
        same client_id never share a token or a pending login in one store."""
        server = self.issuer or self.token_endpoint or self.authorization_endpoint or ""
        digest = hashlib.sha256(server.encode("utf-8", "surrogatepass")).hexdigest()[:12]
        return f"{self.name}:{self.client_id}:{digest}"

    @property
    def interactive(self) -> bool:
        """Whether the flow has a user step (an authorization endpoint)."""
        return self.authorization_endpoint is not None

    # -- authorization request ------------------------------------------------------

    def scope_param(self) -> str:
        """The ``scope`` parameter value (space-delimited by default)."""
        return " ".join(self.scope)

    def authorization_params(
        self, *, state: str, code_challenge: str | None, nonce: str | None = None
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
        if nonce is not None:
            params.append(("nonce", nonce))
        params += list(self.extra_authorization_params.items())
        return params

    def authorization_url(
        self, *, state: str, code_challenge: str | None, nonce: str | None = None
    ) -> str:
        """The URL to open in the user agent."""
        if self.authorization_endpoint is None:
            raise ConfigurationError(f"{self.name} has no authorization endpoint")
        params = self.authorization_params(state=state, code_challenge=code_challenge, nonce=nonce)
        return _add_query(self.authorization_endpoint, params, self._quoted_settings)

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
        return landing(url, self.redirect_endpoints()) is not None

    def read_redirect(self, url: str) -> Redirect:
        """Check that ``url`` lands on one of :meth:`redirect_endpoints` and read it."""
        return self._landed(url)[0]

    def _landed(self, url: str) -> tuple[Redirect, SplitResult]:
        """:meth:`read_redirect`, and the URL as split for it."""
        if type(self).is_redirect is Strategy.is_redirect:
            # The same check as is_redirect, with the URL split once for both steps.
            landed = landing(url, self.redirect_endpoints())
            if landed is None:
                raise RedirectMismatch("the URL is not this flow's redirect URI")
            parts = landed
        elif self.is_redirect(url):
            parts = split_url(url)
        else:
            raise RedirectMismatch("the URL is not this flow's redirect URI")
        return redirect_of(parts, self.response_location), parts

    def authorization_error(self, redirect: Redirect) -> AuthorizationDenied | None:
        """The provider's error carried by ``redirect`` (RFC 6749 4.1.2.1), if any."""
        error = redirect.get("error")
        if error is None:
            return None
        return AuthorizationDenied(
            error or "unknown_error", redirect.get("error_description"), redirect.get("error_uri")
        )

    def check_issuer(self, redirect: Redirect) -> None:
        """Compare the response's ``iss`` (RFC 9207) with :attr:`issuer`.

        ``iss`` must equal the issuer when present, and be present on a successful
        response when :attr:`require_iss` is set. An error response without ``iss``
        is let through as the denial it is (it can deliver nothing to an attacker,
        and some servers, django-oauth-toolkit among them, leave ``iss`` off errors);
        one with a wrong ``iss`` is still a mix-up. Without a configured issuer
        nothing is checked.
        """
        received = redirect.get("iss")
        if received is None:
            if self.require_iss and redirect.get("error") is None:
                raise IssuerMismatch("the authorization response carries no iss")
            return
        if self.issuer is not None and received != self.issuer:
            raise IssuerMismatch("the authorization response comes from another issuer")

    def read_authorization_response(
        self, redirect: Redirect, pending: PendingFlow, now: float
    ) -> HttpRequest | Token:
        """The token (implicit) or the code exchange request (code flows)."""
        if self.response_type == "token":
            try:
                # anyoauth does not validate a fragment's id_token: never hand out claims
                # nobody checked, so it is dropped with state and iss.
                params = {
                    k: v
                    for k, v in redirect.params.items()
                    if k not in ("state", "iss", "id_token")
                }
                return Token.from_response(
                    params,
                    received_at=now,
                    token_types=self.token_types,
                    missing_token_type=self.missing_token_type,
                )
            except ValueError as exc:
                raise MalformedRedirect(str(exc)) from None
        code = redirect.get("code")
        if not code:
            raise MalformedRedirect("the redirect carries no code")
        return self.code_exchange_request(code, pending, now=now)

    # -- token requests -------------------------------------------------------------

    def _token_url(self) -> str:
        if self.token_endpoint is None:
            raise ConfigurationError(f"{self.name} has no token endpoint")
        return self.token_endpoint

    def client_assertion_audience(self, url: str) -> str:
        """The ``aud`` of a client assertion sent to ``url``: the issuer identifier
        (one string), or ``url`` itself with ``assertion_audience="endpoint"`` or
        without a configured issuer (see :attr:`assertion_audience`)."""
        if self.issuer is not None and self.assertion_audience != "endpoint":
            return self.issuer
        return url

    def client_assertion(self, audience: str, *, now: float) -> str:
        """A signed JWT authenticating this client (``private_key_jwt`` /
        ``client_secret_jwt``) for ``audience`` (see :meth:`client_assertion_audience`),
        with a fresh ``jti``, ``iat`` and ``exp``: build one for every request."""
        from . import jose

        key: Any = self._signing_key
        if key is None:
            raise ConfigurationError(f"{self.client_auth} does not sign client assertions")
        return jose.client_assertion(
            client_id=self.client_id,
            audience=audience,
            key=key,
            algorithm=self._assertion_algorithm,
            now=now,
        )

    def form_request(
        self, params: Iterable[tuple[str, str]], *, now: float, url: str | None = None
    ) -> HttpRequest:
        """A form-encoded POST with client authentication, to ``url`` (by default the
        token endpoint). ``now`` dates JWT client assertions."""
        target = self._token_url() if url is None else url
        params = list(params)
        headers = [
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Accept", "application/json"),
        ]
        auth, secret = self.client_auth, self.client_secret
        if auth == "client_secret_basic" and secret is not None:
            headers.append(("Authorization", self._basic_authorization or ""))
        elif auth == "client_secret_post" and secret is not None:
            params += [("client_id", self.client_id), ("client_secret", secret)]
        elif auth in ("private_key_jwt", "client_secret_jwt"):
            # draft-ietf-oauth-rfc7523bis: the audience is the issuer, never the token
            # endpoint when the request goes elsewhere (another server could replay it).
            assertion = self.client_assertion(self.client_assertion_audience(target), now=now)
            params += [
                ("client_id", self.client_id),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", assertion),
            ]
        else:
            params.append(("client_id", self.client_id))
        return HttpRequest(
            method="POST",
            url=target,
            headers=tuple(headers),
            content=form_encode(params, known=self._quoted_settings).encode(),
        )

    def code_exchange_request(self, code: str, pending: PendingFlow, *, now: float) -> HttpRequest:
        """The request that exchanges an authorization code (RFC 6749 4.1.3)."""
        params = [("grant_type", "authorization_code"), ("code", code)]
        if self.redirect_uri is not None:
            params.append(("redirect_uri", self.redirect_uri))
        if pending.code_verifier is not None:
            params.append(("code_verifier", pending.code_verifier))
        return self.form_request(params, now=now)

    def direct_token_request(self, *, now: float) -> HttpRequest | None:
        """The request of a grant without a user step, or ``None`` if there is none."""
        return None

    def refresh_request(self, token: Token, *, now: float) -> HttpRequest | None:
        """The refresh grant request (RFC 6749 6), or ``None`` if it cannot refresh."""
        if not token.refresh_token or self.token_endpoint is None:
            return None
        return self.form_request(
            [("grant_type", "refresh_token"), ("refresh_token", token.refresh_token)], now=now
        )

    def revocation_request(
        self, token: str, *, token_type_hint: str | None = None, now: float
    ) -> HttpRequest:
        """A token revocation request (RFC 7009 2.1), with client authentication."""
        if self.revocation_endpoint is None:
            raise ConfigurationError(f"{self.name} has no revocation endpoint")
        params = [("token", token)]
        if token_type_hint is not None:
            params.append(("token_type_hint", token_type_hint))
        return self.form_request(params, now=now, url=self.revocation_endpoint)

    def introspection_request(
        self, token: str, *, token_type_hint: str | None = None, now: float
    ) -> HttpRequest:
        """A token introspection request (RFC 7662 2.1), with client authentication."""
        if self.introspection_endpoint is None:
            raise ConfigurationError(f"{self.name} has no introspection endpoint")
        params = [("token", token)]
        if token_type_hint is not None:
            params.append(("token_type_hint", token_type_hint))
        return self.form_request(params, now=now, url=self.introspection_endpoint)

    def validate_id_token(
        self,
        id_token: str,
        *,
        jwks: Mapping[str, Any],
        now: float,
        nonce: str | None,
        access_token: str | None = None,
    ) -> dict[str, Any]:
        """Validate an OpenID Connect id_token and return its claims.

        Only keys of ``jwks`` verify the signature, with an algorithm of
        :attr:`id_token_algorithms`; ``iss``, ``aud``, ``exp``, ``iat`` and, when
        ``nonce`` is given, ``nonce`` are checked. Raises :class:`InvalidIdToken`,
        whose ``unknown_key`` attribute is true when no key of ``jwks`` matches the
        token's ``kid`` (fetch the key set again).
        """
        from . import jose

        if self.issuer is None:
            raise ConfigurationError("validating an id_token needs the issuer")
        try:
            return jose.validate_id_token(
                id_token,
                jwks=jwks,
                issuer=self.issuer,
                client_id=self.client_id,
                now=now,
                nonce=nonce,
                algorithms=self.id_token_algorithms,
                access_token=access_token,
            )
        except jose.UnknownSigningKey as exc:
            raise InvalidIdToken(str(exc), unknown_key=True) from None
        except jose.IdTokenInvalid as exc:
            raise InvalidIdToken(str(exc)) from None

    # -- configuration from metadata ------------------------------------------------

    @classmethod
    def from_metadata(cls, metadata: ServerMetadata, **kwargs: Any) -> Self:
        """This strategy configured from a server's metadata (see :func:`anyoauth.discover`).

        Endpoints, the issuer, ``require_iss`` and ``jwks_uri`` come from
        ``metadata``; ``kwargs`` give the client's own settings (``client_id``,
        ``client_secret``, ``redirect_uri``, ``scope``...) and may override any of
        them. Without an explicit ``client_auth``, a client with a secret uses
        ``client_secret_basic`` unless the server lists only ``client_secret_post``,
        and a client without one uses ``none``.

        ``allow_insecure`` stays off unless ``kwargs`` turn it on: http endpoints in the
        metadata are refused (:class:`ConfigurationError`) unless they and the issuer
        are all on loopback hosts.
        """
        from .metadata import STRATEGY_ENDPOINTS

        names = attrs.fields_dict(cls)
        values: dict[str, Any] = {"issuer": metadata.issuer}
        for field in STRATEGY_ENDPOINTS:
            value = getattr(metadata, field)
            if value is not None and field in names:
                values[field] = value
        values["require_iss"] = metadata.authorization_response_iss_parameter_supported
        if "client_auth" not in kwargs:
            methods = metadata.token_endpoint_auth_methods_supported or ("client_secret_basic",)
            if not kwargs.get("client_secret"):
                values["client_auth"] = "none"
            elif "client_secret_basic" not in methods and "client_secret_post" in methods:
                values["client_auth"] = "client_secret_post"
        values.update(kwargs)
        return cls(**values)

    def parse_token_response(
        self, status_code: int, content_type: str | None, body: bytes, now: float
    ) -> Token:
        """Validate the token endpoint's answer (see :func:`parse_token_response`): a
        token of one of :attr:`token_types`, with visible ASCII token values."""
        return parse_token_response(
            status_code,
            content_type,
            body,
            received_at=now,
            token_types=self.token_types,
            missing_token_type=self.missing_token_type,
        )

    def can_use(self, token: Token) -> bool:
        """Whether ``token`` is of a type this strategy knows how to use (one of
        :attr:`token_types`, compared without case). The client never holds or sends a
        stored token that is not: an older version may have stored a ``Basic``,
        ``DPoP`` or ``N_A`` token before such responses were refused."""
        return token.token_type.lower() in self.token_types


def _require(strategy: Strategy, *names: str) -> None:
    for name in names:
        if getattr(strategy, name) is None:
            raise ConfigurationError(f"{strategy.name} needs {name}")


@attrs.frozen(kw_only=True)
class AuthorizationCode(Strategy):
    """The authorization code grant (RFC 6749 4.1) with PKCE S256 (RFC 7636).

    The standard flow for apps with a user: the browser comes back to
    ``redirect_uri`` with ``code``, which is exchanged by a form-encoded POST.
    PKCE is on by default; turn it off only for servers that reject it.
    With ``"openid"`` in the scope, a ``nonce`` is sent and the id_token validated.
    """

    name: ClassVar[str] = "authorization-code"

    uses_pkce: bool = True

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        _require(self, "authorization_endpoint", "token_endpoint", "redirect_uri")
        if self.response_type != "code":
            raise ConfigurationError("the authorization code flow uses response_type=code")


@attrs.frozen(kw_only=True)
class Implicit(Strategy):
    """The implicit grant (RFC 6749 4.2): the token comes back in the redirect's fragment.

    RFC 9700 advises against it; it is here for providers that still offer nothing
    else. There is no refresh: the user logs in again when the token expires.
    """

    name: ClassVar[str] = "implicit"

    response_type: str = "token"
    response_location: ResponseLocation = ResponseLocation.FRAGMENT

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        _require(self, "authorization_endpoint", "redirect_uri")
        if self.response_type != "token":
            raise ConfigurationError("the implicit flow uses response_type=token")


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

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        for name in ("success_url", "failure_url"):
            url = getattr(self, name)
            if url is not None:
                _split_configured(name, url)

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
        redirect, parts = self._landed(url)
        if (
            self.failure_url is not None
            and lands_on(parts, self.failure_url)
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
        self, *, state: str, code_challenge: str | None, nonce: str | None = None
    ) -> list[tuple[str, str]]:
        """``redirect_uri``, ``client_id``, ``state`` and any extra parameters."""
        params = [
            ("redirect_uri", self.redirect_uri or ""),
            ("client_id", self.client_id),
            ("state", state),
        ]
        return params + list(self.extra_authorization_params.items())

    def code_exchange_request(self, code: str, pending: PendingFlow, *, now: float) -> HttpRequest:
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
    has_direct_grant: ClassVar[bool] = True

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
        if self.client_secret is None and self.client_auth not in ("none", "private_key_jwt"):
            raise ConfigurationError("a client_secret is required")

    @property
    def interactive(self) -> bool:
        """Whether the implicit authorize step is configured."""
        return self.authorization_endpoint is not None and self.redirect_uri is not None

    def direct_token_request(self, *, now: float) -> HttpRequest:
        """``grant_type=client_credentials`` with the client's credentials."""
        params = [("grant_type", "client_credentials")]
        if self.scope:
            params.append(("scope", self.scope_param()))
        if self.send_redirect_uri and self.redirect_uri is not None:
            params.append(("redirect_uri", self.redirect_uri))
        params += list(self.token_params.items())
        return self.form_request(params, now=now)
