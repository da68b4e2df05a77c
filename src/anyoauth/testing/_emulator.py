"""The provider emulator: Geni, Teamwork, Keycloak (Bank of Georgia) and a generic
standards-following OAuth 2.0 / OpenID Connect server on one origin.

All request handling is plain synchronous Python in :meth:`ProviderEmulator.handle`;
the in-process transport and the loopback server only adapt it.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import logging
import re
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal, NoReturn, TypedDict
from urllib.parse import parse_qsl, quote, unquote, unquote_plus, urlencode, urlsplit

import attrs
import httpx

if TYPE_CHECKING:
    from ._generic import OAuthServer

__all__ = [
    "BOG_ACCOUNTS_PATH",
    "GENI_AUTHORIZE_PATH",
    "GENI_DECISION_PATH",
    "GENI_FAILURE_PATH",
    "GENI_PROFILE_PATH",
    "GENI_SUCCESS_PATH",
    "GENI_TOKEN_PATH",
    "KEYCLOAK_REALM_PATH",
    "MAX_BODY_BYTES",
    "OAUTH_API_PATH",
    "OAUTH_AUTHORIZE_PATH",
    "OAUTH_DECISION_PATH",
    "OAUTH_DEVICE_AUTHORIZATION_PATH",
    "OAUTH_INTROSPECTION_PATH",
    "OAUTH_JWKS_PATH",
    "OAUTH_METADATA_PATH",
    "OAUTH_REVOCATION_PATH",
    "OAUTH_TOKEN_PATH",
    "OAUTH_USERINFO_PATH",
    "OAUTH_VERIFICATION_DECISION_PATH",
    "OAUTH_VERIFICATION_PATH",
    "OPENID_CONFIGURATION_PATH",
    "TEAMWORK_DECISION_PATH",
    "TEAMWORK_LOGIN_PATH",
    "TEAMWORK_ME_PATH",
    "TEAMWORK_TOKEN_PATH",
    "EmulatorResponse",
    "GeniEndpoints",
    "KeycloakEndpoints",
    "ManualClock",
    "OAuthEndpoints",
    "ProviderEmulator",
    "TeamworkEndpoints",
]

logger = logging.getLogger("anyoauth.testing")

GENI_AUTHORIZE_PATH = "/platform/oauth/authorize"
"""Geni's authorization endpoint (``response_type=token``, ``display=desktop``)."""
GENI_DECISION_PATH = "/platform/oauth/authorize/decision"
"""Where Geni's consent form posts the user's decision."""
GENI_SUCCESS_PATH = "/platform/oauth/auth_success"
"""Geni's special success URL; the token arrives in its fragment."""
GENI_FAILURE_PATH = "/platform/oauth/auth_failed"
"""Geni's special failure URL (denial or authorization error, in the fragment)."""
GENI_TOKEN_PATH = "/platform/oauth/request_token"
"""Geni's token endpoint; the emulator answers every request with a JSON error."""
GENI_PROFILE_PATH = "/api/profile"
"""Geni API: the signed-in user's profile (Bearer token)."""
TEAMWORK_LOGIN_PATH = "/launchpad/login"
"""Teamwork Launchpad's App Login Flow page."""
TEAMWORK_DECISION_PATH = "/launchpad/login/decision"
"""Where Teamwork's login form posts the user's decision."""
TEAMWORK_TOKEN_PATH = "/launchpad/v1/token.json"
"""Teamwork's JSON code exchange endpoint."""
TEAMWORK_ME_PATH = "/projects/api/v3/me.json"
"""Teamwork API (under ``installation.apiEndPoint``): the signed-in person."""
KEYCLOAK_REALM_PATH = "/auth/realms/{realm}/protocol/openid-connect"
"""A Keycloak realm's OpenID Connect prefix; ``/auth``, ``/auth/decision`` and ``/token``
live under it."""
BOG_ACCOUNTS_PATH = "/api/businessonline/accounts"
"""Bank of Georgia Business Online API: the company's accounts (Keycloak Bearer token)."""
OAUTH_AUTHORIZE_PATH = "/oauth/authorize"
"""The generic server's authorization endpoint (``response_type=code`` or ``token``)."""
OAUTH_DECISION_PATH = "/oauth/authorize/decision"
"""Where the generic server's consent form posts the user's decision."""
OAUTH_TOKEN_PATH = "/oauth/token"
"""The generic server's token endpoint (RFC 6749 section 3.2)."""
OAUTH_DEVICE_AUTHORIZATION_PATH = "/oauth/device"
"""The generic server's device authorization endpoint (RFC 8628 section 3.1)."""
OAUTH_VERIFICATION_PATH = "/device"
"""The generic server's device verification page (``verification_uri``), where the
user enters or confirms a ``user_code``."""
OAUTH_VERIFICATION_DECISION_PATH = "/device/decision"
"""Where the device verification page posts the user's decision."""
OAUTH_REVOCATION_PATH = "/oauth/revoke"
"""The generic server's token revocation endpoint (RFC 7009)."""
OAUTH_INTROSPECTION_PATH = "/oauth/introspect"
"""The generic server's token introspection endpoint (RFC 7662)."""
OAUTH_JWKS_PATH = "/oauth/jwks"
"""The generic server's JSON Web Key Set (the keys that sign its id_tokens)."""
OAUTH_USERINFO_PATH = "/oauth/userinfo"
"""The generic server's OpenID Connect userinfo endpoint (Bearer, ``openid`` scope)."""
OAUTH_API_PATH = "/api/me"
"""A protected resource of the generic server: who the Bearer token is for."""
OAUTH_METADATA_PATH = "/.well-known/oauth-authorization-server"
"""The generic server's authorization server metadata (RFC 8414)."""
OPENID_CONFIGURATION_PATH = "/.well-known/openid-configuration"
"""The generic server's OpenID Connect Discovery document (same content)."""
MAX_BODY_BYTES = 1024 * 1024
"""Request bodies larger than this are refused with HTTP 413."""

GENI_EXPIRES_IN = 86400
KEYCLOAK_EXPIRES_IN = 300
KEYCLOAK_REFRESH_EXPIRES_IN = 1800
TEAMWORK_CODE_TTL = 15 * 60
TICKET_TTL = 10 * 60
_KEYCLOAK_ROUTE = re.compile(
    r"/auth/realms/([^/]+)/protocol/openid-connect/(auth|auth/decision|token)"
)
_NO_STORE = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))
_PAGE_HEADERS = (
    ("Content-Type", "text/html; charset=utf-8"),
    *_NO_STORE,
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
)
_COMPANY = {"id": 1, "name": "Emulated Company", "logo": ""}
_PERSON = {"id": 1, "firstName": "Test", "lastName": "User", "email": "test.user@example.com"}


class GeniEndpoints(TypedDict):
    """Keyword arguments for :func:`anyoauth.providers.Geni` (see ``endpoints_geni``)."""

    authorize_url: str
    success_url: str
    failure_url: str
    token_url: str


class TeamworkEndpoints(TypedDict):
    """Keyword arguments for :func:`anyoauth.providers.Teamwork` (see ``endpoints_teamwork``)."""

    login_url: str
    token_url: str


class KeycloakEndpoints(TypedDict):
    """Keyword arguments for ``Keycloak`` and ``BankOfGeorgia`` (see ``endpoints_keycloak``)."""

    authorize_url: str
    token_url: str


class OAuthEndpoints(TypedDict):
    """The generic server's URLs on one base URL (see ``endpoints_oauth``); the keys are
    the RFC 8414 metadata names, plus the two metadata document URLs."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    device_authorization_endpoint: str
    revocation_endpoint: str
    introspection_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str
    metadata_url: str
    openid_configuration_url: str


class ManualClock:
    """A clock for tests: it stands still until :meth:`advance` moves it.

    Pass it as ``ProviderEmulator(clock=clock)`` (and to your own code) to expire
    codes and tokens without waiting.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        """The current time, in seconds since the epoch."""

    def __call__(self) -> float:
        """Return the current time."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        if seconds < 0:
            raise ValueError("a clock only moves forward")
        self.now += seconds

    def __repr__(self) -> str:
        return f"ManualClock(now={self.now!r})"


@attrs.frozen(kw_only=True)
class EmulatorResponse:
    """What :meth:`ProviderEmulator.handle` answers. Its repr shows no headers or body."""

    status: int
    """The HTTP status code."""
    headers: tuple[tuple[str, str], ...] = attrs.field(default=(), repr=False)
    """Response headers in order."""
    body: bytes = attrs.field(default=b"", repr=False)
    """The response body."""

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (case-insensitive), or ``None``."""
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    @property
    def text(self) -> str:
        """The body decoded as UTF-8."""
        return self.body.decode()

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@attrs.frozen
class _GeniApp:
    name: str
    scopes: frozenset[str] | None


@attrs.frozen
class _TeamworkApp:
    name: str
    secret: str = attrs.field(repr=False)
    redirect_uris: frozenset[str]
    allowed_origins: frozenset[str]


@attrs.frozen
class _KeycloakClient:
    secret: str = attrs.field(repr=False)
    redirect_uris: frozenset[str]
    app_id: str
    scope: str
    refresh_tokens: bool = False


@attrs.frozen
class _Ticket:
    kind: Literal["geni", "teamwork", "keycloak", "oauth", "device"]
    client_id: str
    params: Mapping[str, str]
    created_at: float
    realm: str = ""


@attrs.frozen
class _Code:
    client_id: str
    redirect_uri: str
    expires_at: float


@attrs.frozen
class _Grant:
    provider: Literal["geni", "teamwork", "keycloak", "oauth"]
    expires_at: float | None
    # The generic server's bookkeeping (empty for the provider shapes).
    client_id: str = ""
    scope: str = ""
    subject: str = ""
    family: str = ""
    issued_at: float = 0.0


class _Reject(Exception):
    def __init__(self, response: EmulatorResponse) -> None:
        super().__init__(response.status)
        self.response = response


@attrs.frozen
class _Request:
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    base: str

    def form(self) -> dict[str, str]:
        if _media_type(self.headers) != "application/x-www-form-urlencoded":
            _fail(_page(415, "Unsupported form", "Forms must be form-encoded."))
        return _params(self.body.decode("utf-8", "replace"))


def _fail(response: EmulatorResponse) -> NoReturn:
    raise _Reject(response)


def _params(query: str) -> dict[str, str]:
    pairs = parse_qsl(query, keep_blank_values=True)
    names = [name for name, _ in pairs]
    if len(names) != len(set(names)):
        _fail(_page(400, "Bad request", "A parameter was sent more than once."))
    return dict(pairs)


def _media_type(headers: Mapping[str, str]) -> str:
    return headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _json(status: int, payload: object, *extra: tuple[str, str]) -> EmulatorResponse:
    headers = (("Content-Type", "application/json"), *_NO_STORE, *extra)
    return EmulatorResponse(status=status, headers=headers, body=json.dumps(payload).encode())


def _page(
    status: int, title: str, message: str, body: str = "", lang: str = "en"
) -> EmulatorResponse:
    text = (
        f'<!DOCTYPE html>\n<html lang="{html.escape(lang)}">\n<head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head>\n<body>\n<h1>{html.escape(title)}</h1>\n"
        f"<p>{html.escape(message)}</p>\n{body}</body>\n</html>\n"
    )
    return EmulatorResponse(status=status, headers=_PAGE_HEADERS, body=text.encode())


def _redirect(location: str) -> EmulatorResponse:
    headers = (("Location", location), *_NO_STORE, ("Referrer-Policy", "no-referrer"))
    return EmulatorResponse(status=302, headers=headers)


def _with_query(uri: str, params: Iterable[tuple[str, str]]) -> str:
    head, _, _ = uri.partition("#")
    return f"{head}{'&' if '?' in head else '?'}{urlencode(list(params))}"


def _with_fragment(uri: str, params: Iterable[tuple[str, str]]) -> str:
    return f"{uri.partition('#')[0]}#{urlencode(list(params))}"


def _optional(params: Mapping[str, str], *names: str) -> list[tuple[str, str]]:
    return [(name, params[name]) for name in names if params.get(name)]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _uuid() -> str:
    return str(uuid.UUID(bytes=secrets.token_bytes(16), version=4))


def _teamwork_error(status: int, error: str, message: str) -> EmulatorResponse:
    payload = {"status": "error", "message": message, "error": error, "error_description": message}
    return _json(status, payload)


def _oauth_error(
    status: int, error: str, description: str, *extra: tuple[str, str]
) -> EmulatorResponse:
    return _json(status, {"error": error, "error_description": description}, *extra)


class ProviderEmulator:
    """Geni, Teamwork, Keycloak (Bank of Georgia) and a generic OAuth 2.0 / OpenID
    Connect authorization server on one origin.

    Register apps with :meth:`add_geni_app`, :meth:`add_teamwork_app`,
    :meth:`add_keycloak_client` and :meth:`add_oauth_client` (the generic server,
    whose issuer is the base URL), then reach the emulator in-process through
    :meth:`mock_transport` or on a loopback port through :meth:`serve`. The
    consent pages are plain HTML forms; :func:`anyoauth.testing.browse` clicks
    them. URLs the emulator generates (redirects, ``apiEndPoint``) use the
    origin the request was sent to, or ``base_url`` when given.

    ``calls`` counts requests per endpoint name (``"geni.authorize"``,
    ``"geni.decision"``, ``"geni.auth_success"``, ``"geni.auth_failed"``,
    ``"geni.request_token"``, ``"geni.profile"``, ``"teamwork.login"``,
    ``"teamwork.decision"``, ``"teamwork.token"``, ``"teamwork.me"``,
    ``"keycloak.authorize"``, ``"keycloak.decision"``, ``"keycloak.token"``,
    ``"bog.accounts"``, ``"oauth.authorize"``, ``"oauth.decision"``, ``"oauth.token"``,
    ``"oauth.device_authorization"``, ``"oauth.verification"``,
    ``"oauth.verification_decision"``, ``"oauth.revoke"``, ``"oauth.introspect"``,
    ``"oauth.jwks"``, ``"oauth.userinfo"``, ``"oauth.api"``, ``"oauth.metadata"``,
    ``"oauth.openid_configuration"``, ``"not_found"``).

    The ``oauth_*`` options shape the generic server and let tests stage faults and
    attacks; each is also an attribute that can be changed at any time.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        base_url: str | None = None,
        geni_percent_encode_fragment: bool = False,
        keycloak_response_mode: Literal["query", "fragment"] = "query",
        oauth_expires_in: int = 3600,
        oauth_refresh_expires_in: int | None = None,
        oauth_refresh_reuse_revokes: bool = False,
        oauth_device_interval: int = 5,
        oauth_device_expires_in: int = 600,
        oauth_metadata_issuer: str | None = None,
        oauth_send_iss: bool | str = True,
        oauth_id_token_claims: Mapping[str, object] | None = None,
        oauth_assertion_audience: Literal["issuer", "issuer_or_endpoint"] = "issuer_or_endpoint",
    ) -> None:
        self.clock = clock
        """Source of the current time for every expiry (see :class:`ManualClock`)."""
        self.base_url = base_url.rstrip("/") if base_url else None
        """Origin used in generated URLs; ``None`` uses the origin of each request."""
        self.geni_percent_encode_fragment = geni_percent_encode_fragment
        """Percent-encode Geni's whole success fragment, as Geni sometimes does."""
        self.keycloak_response_mode = keycloak_response_mode
        """Where Keycloak's implicit response goes unless ``response_mode`` is sent."""
        self.oauth_expires_in = oauth_expires_in
        """Lifetime in seconds of the generic server's access and id tokens."""
        self.oauth_refresh_expires_in = oauth_refresh_expires_in
        """Lifetime in seconds of its refresh tokens; ``None``: until used or revoked."""
        self.oauth_refresh_reuse_revokes = oauth_refresh_reuse_revokes
        """Presenting a spent (rotated) refresh token also revokes every token of its
        grant, as RFC 9700 section 4.14.2 recommends; off by default."""
        self.oauth_device_interval = oauth_device_interval
        """The polling ``interval`` in seconds the device authorization endpoint answers
        with (0 lets tests poll without waiting)."""
        self.oauth_device_expires_in = oauth_device_expires_in
        """Lifetime in seconds of device codes and user codes."""
        self.oauth_metadata_issuer = oauth_metadata_issuer
        """The ``issuer`` the metadata documents name; ``None``: the real one (the base
        URL). Set another to stage an impersonation or mix-up (RFC 8414 section 3.3)."""
        self.oauth_send_iss = oauth_send_iss
        """The ``iss`` authorization response parameter (RFC 9207): ``True`` sends the
        issuer, ``False`` omits it, a string sends that string instead."""
        self.oauth_id_token_claims: dict[str, object] = dict(oauth_id_token_claims or {})
        """Claims that override those of every id_token issued (e.g. ``{"aud": "other"}``
        or ``{"nonce": "forged"}``); a ``None`` value removes the claim."""
        self.oauth_assertion_audience = oauth_assertion_audience
        """The ``aud`` JWT client assertions must have. ``"issuer_or_endpoint"``: the
        issuer, or the URL of the endpoint the assertion is posted to, as a string or in
        an array (RFC 7523 as deployed). ``"issuer"``: exactly the issuer, as one string
        (draft-ietf-oauth-rfc7523bis). Neither accepts the token endpoint's URL in an
        assertion posted to another endpoint."""
        self.calls: Counter[str] = Counter()
        """Requests received, per endpoint name."""
        self.authorization_requests: list[dict[str, str]] = []
        """Query parameters of every authorization request, in order (e.g. ``display``)."""
        self._geni: dict[str, _GeniApp] = {}
        self._teamwork: dict[str, _TeamworkApp] = {}
        self._keycloak: dict[tuple[str, str], _KeycloakClient] = {}
        self._tickets: dict[str, _Ticket] = {}
        self._codes: dict[str, _Code] = {}
        self._used_codes: set[str] = set()
        self._grants: dict[str, _Grant] = {}
        self._refresh_tokens: dict[str, tuple[str, str, float]] = {}
        self._lock = threading.Lock()
        from ._generic import OAuthServer

        self._oauth: OAuthServer = OAuthServer(self)

    def __repr__(self) -> str:
        return (
            f"<ProviderEmulator geni={len(self._geni)} teamwork={len(self._teamwork)} "
            f"keycloak={len(self._keycloak)} oauth={len(self._oauth.clients)} "
            f"tokens={len(self._grants)}>"
        )

    # -- registration -----------------------------------------------------------------

    def add_geni_app(
        self, client_id: str, *, scopes: Iterable[str] | None = None, name: str = "Geni test app"
    ) -> None:
        """Register a Geni app. With ``scopes``, requests for any other scope fail."""
        allowed = None if scopes is None else frozenset(scopes)
        self._geni[client_id] = _GeniApp(name=name, scopes=allowed)

    def add_teamwork_app(
        self,
        client_id: str,
        client_secret: str,
        redirect_uris: Iterable[str],
        allowed_origins: Iterable[str] = (),
        *,
        name: str = "Teamwork test app",
    ) -> None:
        """Register a Teamwork app with its exact redirect URIs.

        With ``allowed_origins``, the token request must carry one of them as ``Origin``.
        """
        self._teamwork[client_id] = _TeamworkApp(
            name=name,
            secret=client_secret,
            redirect_uris=frozenset(redirect_uris),
            allowed_origins=frozenset(o.rstrip("/") for o in allowed_origins),
        )

    def add_keycloak_client(
        self,
        client_id: str,
        client_secret: str,
        *,
        realm: str = "bog",
        redirect_uris: Iterable[str] = (),
        app_id: str | None = None,
        scope: str = "corp",
        refresh_tokens: bool = False,
    ) -> None:
        """Register a confidential client in a Keycloak realm (Bank of Georgia's is ``bog``).

        ``app_id`` is echoed in token responses (a number is made up when omitted);
        ``scope`` is the scope client credentials tokens are granted. With
        ``refresh_tokens`` (Keycloak's "use refresh tokens for client credentials
        grant" with "revoke refresh token" on), client credentials answers carry a
        refresh token, and ``grant_type=refresh_token`` rotates it: each refresh
        token works once; a spent one gets ``invalid_grant``.
        """
        app_id = app_id if app_id is not None else str(1000 + len(self._keycloak))
        self._keycloak[realm, client_id] = _KeycloakClient(
            secret=client_secret,
            redirect_uris=frozenset(redirect_uris),
            app_id=app_id,
            scope=scope,
            refresh_tokens=refresh_tokens,
        )

    def add_oauth_client(
        self,
        client_id: str,
        *,
        client_secret: str | None = None,
        redirect_uris: Iterable[str] = (),
        grant_types: Iterable[str] = ("authorization_code", "refresh_token"),
        auth_method: Literal[
            "client_secret_basic",
            "client_secret_post",
            "client_secret_jwt",
            "private_key_jwt",
            "none",
        ] = "client_secret_basic",
        jwks: Mapping[str, Any] | None = None,
        require_pkce: bool = True,
        basic_form_encoded: bool = True,
        scopes: Iterable[str] | None = None,
    ) -> None:
        """Register a client of the generic OAuth 2.0 / OpenID Connect server.

        ``grant_types`` are among ``"authorization_code"``, ``"implicit"``
        (``response_type=token``), ``"refresh_token"`` (refresh tokens are issued only
        to clients that have it), ``"client_credentials"`` and
        ``"urn:ietf:params:oauth:grant-type:device_code"``.

        ``auth_method`` is how the client authenticates at the token, device
        authorization, revocation and introspection endpoints:
        ``"client_secret_basic"`` (HTTP Basic with the id and secret form-urlencoded
        first, RFC 6749 section 2.3.1; with ``basic_form_encoded=False`` the server
        takes them as they are, like servers that skip the decoding),
        ``"client_secret_post"``, ``"client_secret_jwt"`` (an HS256/384/512
        assertion signed with ``client_secret``), ``"private_key_jwt"`` (an assertion
        verified with the public keys in ``jwks``, a JWK Set dict) or ``"none"`` (a
        public client that sends only ``client_id``). Assertions must have
        ``iss`` = ``sub`` = ``client_id``, an ``aud`` naming the issuer or the endpoint the
        assertion is posted to (only the issuer with
        ``oauth_assertion_audience="issuer"``), an unexpired ``exp`` and a ``jti`` not
        seen before (RFC 7523).

        ``redirect_uris`` must match exactly, except that a loopback IP redirect
        URI (``http://127.0.0.1/...``, ``http://[::1]/...``) matches on any port
        (RFC 8252 section 7.3). With ``require_pkce`` the authorization request must
        carry an S256 ``code_challenge``. With ``scopes``, requests for any other scope
        fail with ``invalid_scope``, and a request without ``scope`` gets all of them.
        Registering an existing ``client_id`` again replaces the client.
        """
        self._oauth.add_client(
            client_id,
            client_secret=client_secret,
            redirect_uris=redirect_uris,
            grant_types=grant_types,
            auth_method=auth_method,
            jwks=jwks,
            require_pkce=require_pkce,
            basic_form_encoded=basic_form_encoded,
            scopes=scopes,
        )

    def approve_device(self, user_code: str, *, allow: bool = True) -> None:
        """Decide a pending device authorization as its user would on the verification
        page: approve it, or deny it with ``allow=False``.

        ``user_code`` is matched ignoring case, spaces and dashes. Raises
        :class:`ValueError` when it is unknown, expired or already decided.
        """
        with self._lock:
            self._oauth.decide_device(user_code, allow)

    def rotate_oauth_signing_key(self, *, keep_old: bool = True) -> str:
        """Sign the generic server's id_tokens with a new RSA key from now on; return
        its ``kid``.

        The JWKS publishes the new key first, and keeps the old ones unless
        ``keep_old`` is false (then id_tokens signed before fail verification).
        """
        with self._lock:
            return self._oauth.rotate_key(keep_old=keep_old)

    # -- tokens ------------------------------------------------------------------------

    def is_valid_token(self, token: str) -> bool:
        """Whether ``token`` was issued by this emulator and is neither expired nor revoked."""
        with self._lock:
            return self._grant(token) is not None

    def revoke(self, token: str) -> None:
        """Revoke one access token."""
        with self._lock:
            self._grants.pop(token, None)

    def revoke_all(self) -> None:
        """Revoke every access token, refresh token, unused code and pending device
        authorization."""
        with self._lock:
            self._grants.clear()
            self._codes.clear()
            self._refresh_tokens.clear()
            self._oauth.clear()

    def _grant(self, token: str) -> _Grant | None:
        grant = self._grants.get(token)
        if grant is None or (grant.expires_at is not None and grant.expires_at <= self.clock()):
            return None
        return grant

    def _issue(self, token: str, grant: _Grant) -> str:
        self._grants[token] = grant
        return token

    # -- URLs --------------------------------------------------------------------------

    def endpoints_geni(self, base_url: str) -> GeniEndpoints:
        """Keyword arguments pointing :func:`anyoauth.providers.Geni` at this emulator.

        Keys: ``authorize_url``, ``success_url``, ``failure_url``, ``token_url``. The API
        is at ``base_url + GENI_PROFILE_PATH``.
        """
        base = base_url.rstrip("/")
        return {
            "authorize_url": base + GENI_AUTHORIZE_PATH,
            "success_url": base + GENI_SUCCESS_PATH,
            "failure_url": base + GENI_FAILURE_PATH,
            "token_url": base + GENI_TOKEN_PATH,
        }

    def endpoints_teamwork(self, base_url: str) -> TeamworkEndpoints:
        """Keyword arguments pointing :func:`anyoauth.providers.Teamwork` at this emulator.

        Keys: ``login_url``, ``token_url``. The API base is the token response's
        ``installation.apiEndPoint`` (``base_url + "/"``).
        """
        base = base_url.rstrip("/")
        return {"login_url": base + TEAMWORK_LOGIN_PATH, "token_url": base + TEAMWORK_TOKEN_PATH}

    def endpoints_keycloak(self, base_url: str, realm: str = "bog") -> KeycloakEndpoints:
        """Keyword arguments pointing :func:`anyoauth.providers.Keycloak` or ``BankOfGeorgia``
        at ``realm`` on this emulator.

        Keys: ``authorize_url``, ``token_url``. The Bank of Georgia API is at
        ``base_url + BOG_ACCOUNTS_PATH``.
        """
        prefix = base_url.rstrip("/") + KEYCLOAK_REALM_PATH.format(realm=quote(realm, safe=""))
        return {"authorize_url": prefix + "/auth", "token_url": prefix + "/token"}

    def endpoints_oauth(self, base_url: str) -> OAuthEndpoints:
        """The generic server's URLs on ``base_url``, which is also its issuer.

        Keys (RFC 8414 names): ``issuer``, ``authorization_endpoint``,
        ``token_endpoint``, ``device_authorization_endpoint``,
        ``revocation_endpoint``, ``introspection_endpoint``, ``jwks_uri``,
        ``userinfo_endpoint``, and the metadata documents' ``metadata_url``
        (RFC 8414) and ``openid_configuration_url``. The protected resource is at
        ``base_url + OAUTH_API_PATH``.
        """
        base = base_url.rstrip("/")
        return {
            "issuer": base,
            "authorization_endpoint": base + OAUTH_AUTHORIZE_PATH,
            "token_endpoint": base + OAUTH_TOKEN_PATH,
            "device_authorization_endpoint": base + OAUTH_DEVICE_AUTHORIZATION_PATH,
            "revocation_endpoint": base + OAUTH_REVOCATION_PATH,
            "introspection_endpoint": base + OAUTH_INTROSPECTION_PATH,
            "jwks_uri": base + OAUTH_JWKS_PATH,
            "userinfo_endpoint": base + OAUTH_USERINFO_PATH,
            "metadata_url": base + OAUTH_METADATA_PATH,
            "openid_configuration_url": base + OPENID_CONFIGURATION_PATH,
        }

    # -- adapters ----------------------------------------------------------------------

    def mock_transport(self, module: ModuleType = httpx) -> Any:
        """An in-process ``module.MockTransport`` answering from this emulator.

        ``module`` is ``httpx`` (default) or ``httpx2``; pass the transport to a
        client of the same module, e.g. ``httpx2.AsyncClient(transport=...)``.
        Any origin works, e.g. ``https://emulator.test``.
        """

        def handler(request: Any) -> Any:
            answer = self.handle(
                request.method, str(request.url), request.headers.multi_items(), request.content
            )
            return module.Response(answer.status, headers=list(answer.headers), content=answer.body)

        return module.MockTransport(handler)

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> AbstractAsyncContextManager[str]:
        """Serve the emulator over HTTP/1.1 on ``host``:``port`` (a free port by default).

        ``async with emulator.serve() as base_url:`` yields e.g.
        ``"http://127.0.0.1:54321"``; works on asyncio and trio; the server and
        its connections close when the block exits.
        """
        from ._server import serve

        return serve(self, host, port)

    # -- request handling --------------------------------------------------------------

    def handle(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> EmulatorResponse:
        """Answer one HTTP request. No IO happens here.

        ``url`` is absolute (its origin is the base of generated URLs unless
        ``base_url`` is set); header names are case-insensitive.
        """
        items = headers.items() if isinstance(headers, Mapping) else headers
        parts = urlsplit(url)
        request = _Request(
            method=method.upper(),
            path=parts.path or "/",
            query={},
            headers={name.lower(): value for name, value in items},
            body=body,
            base=self.base_url or f"{parts.scheme}://{parts.netloc}",
        )
        with self._lock:
            try:
                if len(body) > MAX_BODY_BYTES:
                    _fail(_page(413, "Payload too large", "The request body is too large."))
                request = attrs.evolve(request, query=_params(parts.query))
                response = self._route(request)
            except _Reject as rejected:
                response = rejected.response
        logger.debug("%s %s -> %d", request.method, request.path, response.status)
        return response

    def _route(self, request: _Request) -> EmulatorResponse:
        routes: dict[str, tuple[str, str, Callable[[_Request], EmulatorResponse]]] = {
            GENI_AUTHORIZE_PATH: ("GET", "geni.authorize", self._geni_authorize),
            GENI_DECISION_PATH: ("POST", "geni.decision", self._decision),
            GENI_SUCCESS_PATH: ("GET", "geni.auth_success", self._geni_landing),
            GENI_FAILURE_PATH: ("GET", "geni.auth_failed", self._geni_landing),
            GENI_TOKEN_PATH: ("POST", "geni.request_token", self._geni_token),
            GENI_PROFILE_PATH: ("GET", "geni.profile", self._geni_profile),
            TEAMWORK_LOGIN_PATH: ("GET", "teamwork.login", self._teamwork_login),
            TEAMWORK_DECISION_PATH: ("POST", "teamwork.decision", self._decision),
            TEAMWORK_TOKEN_PATH: ("POST", "teamwork.token", self._teamwork_token),
            TEAMWORK_ME_PATH: ("GET", "teamwork.me", self._teamwork_me),
            BOG_ACCOUNTS_PATH: ("GET", "bog.accounts", self._bog_accounts),
            OAUTH_DECISION_PATH: ("POST", "oauth.decision", self._decision),
            OAUTH_VERIFICATION_DECISION_PATH: (
                "POST",
                "oauth.verification_decision",
                self._decision,
            ),
            **self._oauth.routes(),
        }
        route = routes.get(request.path)
        if route is None and (match := _KEYCLOAK_ROUTE.fullmatch(request.path)):
            realm, endpoint = unquote(match[1]), match[2]
            if not any(r == realm for r, _ in self._keycloak):
                self.calls["not_found"] += 1
                return _json(404, {"error": "Realm does not exist"})
            handlers = {
                "auth": ("GET", "keycloak.authorize", self._keycloak_authorize),
                "auth/decision": ("POST", "keycloak.decision", self._decision),
                "token": ("POST", "keycloak.token", self._keycloak_token),
            }
            route = handlers[endpoint]
        if route is None:
            self.calls["not_found"] += 1
            return _json(404, {"error": "not_found", "error_description": "No such endpoint."})
        method, name, handler = route
        self.calls[name] += 1
        if request.method != method:
            return attrs.evolve(
                _page(405, "Method not allowed", f"Use {method}."),
                headers=(*_PAGE_HEADERS, ("Allow", method)),
            )
        return handler(request)

    # -- consent -----------------------------------------------------------------------

    def _consent(
        self,
        request: _Request,
        ticket: _Ticket,
        action: str,
        title: str,
        lang: str = "en",
        note: str = "",
    ) -> EmulatorResponse:
        self._prune()
        ticket_id = secrets.token_urlsafe(24)
        self._tickets[ticket_id] = ticket
        scope = ticket.params.get("scope", "")
        form = (
            f'<form method="post" action="{html.escape(action)}">\n'
            f'<input type="hidden" name="ticket" value="{ticket_id}">\n'
            + (f"<p>{html.escape(note)}</p>\n" if note else "")
            + (f"<p>Requested access: {html.escape(scope)}</p>\n" if scope else "")
            + '<button type="submit" name="decision" value="allow">Allow</button>\n'
            '<button type="submit" name="decision" value="deny">Don&#x27;t Allow</button>\n'
            "</form>\n"
        )
        message = f"The application {ticket.client_id} asks for access to your account."
        return _page(200, title, message, form, lang)

    def _prune(self) -> None:
        now = self.clock()
        for key in [k for k, t in self._tickets.items() if t.created_at + TICKET_TTL <= now]:
            del self._tickets[key]

    def _decision(self, request: _Request) -> EmulatorResponse:
        form = request.form()
        decision = form.get("decision")
        if decision not in ("allow", "deny"):
            return _page(400, "Bad request", "The decision must be allow or deny.")
        ticket = self._tickets.pop(form.get("ticket", ""), None)
        if ticket is None or ticket.created_at + TICKET_TTL <= self.clock():
            return _page(400, "Request expired", "This sign-in request is unknown or expired.")
        if request.path != self._decision_path(ticket):
            return _page(400, "Bad request", "This sign-in request belongs elsewhere.")
        allow = decision == "allow"
        if ticket.kind == "geni":
            return self._geni_decision(request, ticket, allow)
        if ticket.kind == "teamwork":
            return self._teamwork_decision(ticket, allow)
        if ticket.kind in ("oauth", "device"):
            return self._oauth.decision(request, ticket, allow)
        return self._keycloak_decision(request, ticket, allow)

    @staticmethod
    def _decision_path(ticket: _Ticket) -> str:
        if ticket.kind == "geni":
            return GENI_DECISION_PATH
        if ticket.kind == "teamwork":
            return TEAMWORK_DECISION_PATH
        if ticket.kind == "oauth":
            return OAUTH_DECISION_PATH
        if ticket.kind == "device":
            return OAUTH_VERIFICATION_DECISION_PATH
        return KEYCLOAK_REALM_PATH.format(realm=quote(ticket.realm, safe="")) + "/auth/decision"

    def _bearer(self, request: _Request, provider: str) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        grant = self._grant(token.strip()) if scheme.lower() == "bearer" else None
        if grant is None or grant.provider != provider:
            challenge = ("WWW-Authenticate", 'Bearer error="invalid_token"')
            _fail(_oauth_error(401, "invalid_token", "The access token is invalid.", challenge))

    # -- Geni --------------------------------------------------------------------------

    def _geni_failed(self, request: _Request, error: str, description: str) -> EmulatorResponse:
        params = [("error", error), ("error_description", description)]
        params += _optional(request.query, "state")
        return _redirect(_with_fragment(request.base + GENI_FAILURE_PATH, params))

    def _geni_authorize(self, request: _Request) -> EmulatorResponse:
        params = request.query
        self.authorization_requests.append(dict(params))
        app = self._geni.get(params.get("client_id", ""))
        if app is None:
            return self._geni_failed(request, "invalid_client", "Unknown client_id.")
        if params.get("response_type") != "token":
            return self._geni_failed(
                request, "unsupported_response_type", "The desktop flow needs response_type=token."
            )
        requested = {s for s in params.get("scope", "").split(",") if s}
        if app.scopes is not None and not requested <= app.scopes:
            return self._geni_failed(request, "invalid_scope", "A requested scope is not allowed.")
        ticket = _Ticket("geni", params["client_id"], dict(params), self.clock())
        return self._consent(request, ticket, GENI_DECISION_PATH, f"Geni: authorize {app.name}")

    def _geni_decision(self, request: _Request, ticket: _Ticket, allow: bool) -> EmulatorResponse:
        if not allow:
            params = [("status", "unauthorized"), ("message", "user canceled")]
            params += _optional(ticket.params, "state")
            return _redirect(_with_fragment(request.base + GENI_FAILURE_PATH, params))
        expires_at = self.clock() + GENI_EXPIRES_IN
        token = self._issue(secrets.token_urlsafe(32), _Grant("geni", expires_at))
        params = [("access_token", token), ("expires_in", str(GENI_EXPIRES_IN))]
        fragment = urlencode(params + _optional(ticket.params, "state", "scope"))
        if self.geni_percent_encode_fragment:
            fragment = quote(fragment, safe="")
        return _redirect(f"{request.base}{GENI_SUCCESS_PATH}#{fragment}")

    def _geni_landing(self, request: _Request) -> EmulatorResponse:
        success = request.path == GENI_SUCCESS_PATH
        title = "Success" if success else "Authorization failed"
        return _page(200, title, "You can close this window.")

    def _geni_token(self, request: _Request) -> EmulatorResponse:
        return _oauth_error(
            400, "unsupported_grant_type", "The emulator supports only the desktop flow for Geni."
        )

    def _geni_profile(self, request: _Request) -> EmulatorResponse:
        self._bearer(request, "geni")
        return _json(200, {"id": "profile-g6000000000000000001", "name": "Test User"})

    # -- Teamwork ----------------------------------------------------------------------

    def _teamwork_login(self, request: _Request) -> EmulatorResponse:
        params = request.query
        self.authorization_requests.append(dict(params))
        app = self._teamwork.get(params.get("client_id", ""))
        if app is None:
            return _page(400, "Login failed", "Unknown client_id.")
        if params.get("redirect_uri") not in app.redirect_uris:
            message = f"The redirect_uri {params.get('redirect_uri', '')} is not registered."
            return _page(400, "Login failed", message)
        ticket = _Ticket("teamwork", params["client_id"], dict(params), self.clock())
        return self._consent(
            request, ticket, TEAMWORK_DECISION_PATH, f"Teamwork: log in to {app.name}"
        )

    def _teamwork_decision(self, ticket: _Ticket, allow: bool) -> EmulatorResponse:
        redirect_uri = ticket.params["redirect_uri"]
        if not allow:
            params = [("error", "access_denied"), ("error_description", "The user denied access.")]
            return _redirect(_with_query(redirect_uri, params + _optional(ticket.params, "state")))
        code = _uuid()
        expires_at = self.clock() + TEAMWORK_CODE_TTL
        self._codes[code] = _Code(ticket.client_id, redirect_uri, expires_at)
        return _redirect(
            _with_query(redirect_uri, [("code", code), *_optional(ticket.params, "state")])
        )

    def _teamwork_token(self, request: _Request) -> EmulatorResponse:
        if _media_type(request.headers) != "application/json":
            return _teamwork_error(400, "invalid_request", "Content-Type must be application/json.")
        try:
            payload = json.loads(request.body)
        except ValueError:
            return _teamwork_error(400, "invalid_request", "The body is not JSON.")
        fields = ("code", "client_id", "client_secret", "redirect_uri")
        if not isinstance(payload, dict) or not all(
            isinstance(payload.get(f), str) and payload[f] for f in fields
        ):
            return _teamwork_error(400, "invalid_request", f"Required fields: {', '.join(fields)}.")
        app = self._teamwork.get(payload["client_id"])
        if app is None or not secrets.compare_digest(
            payload["client_secret"].encode(), app.secret.encode()
        ):
            return _teamwork_error(401, "invalid_client", "Invalid client credentials.")
        origin = request.headers.get("origin", "").rstrip("/")
        if app.allowed_origins and origin not in app.allowed_origins:
            return _teamwork_error(403, "invalid_client", "The Origin is not allowed for this app.")
        code, now = payload["code"], self.clock()
        record = self._codes.get(code)
        if code in self._used_codes:
            return _teamwork_error(400, "invalid_grant", "The code has already been used.")
        if record is None or record.expires_at <= now or record.client_id != payload["client_id"]:
            return _teamwork_error(400, "invalid_grant", "The code is invalid or expired.")
        if record.redirect_uri != payload["redirect_uri"]:
            return _teamwork_error(
                400, "invalid_grant", "The redirect_uri does not match the login."
            )
        del self._codes[code]
        self._used_codes.add(code)
        raw = f"{_uuid()}-1.1.US".encode()
        token = self._issue("tkn.v1_" + base64.b64encode(raw).decode(), _Grant("teamwork", None))
        company = dict(_COMPANY)
        installation = {
            "id": 1,
            "name": company["name"],
            "region": "US",
            "apiEndPoint": f"{request.base}/",
            "url": f"{request.base}/",
            "chatEnabled": False,
            "company": company,
        }
        user = {**_PERSON, "avatar": "", "company": company}
        return _json(
            200, {"access_token": token, "installation": installation, "status": "ok", "user": user}
        )

    def _teamwork_me(self, request: _Request) -> EmulatorResponse:
        self._bearer(request, "teamwork")
        person = {**_PERSON, "avatarUrl": "", "companyId": _COMPANY["id"], "type": "account"}
        return _json(200, {"person": person})

    # -- Keycloak ----------------------------------------------------------------------

    def _keycloak_authorize(self, request: _Request) -> EmulatorResponse:
        params, realm = request.query, self._realm(request)
        self.authorization_requests.append(dict(params))
        lang = params.get("kc_locale") or "en"
        client = self._keycloak.get((realm, params.get("client_id", "")))
        if client is None:
            return _page(400, "We are sorry...", "Client not found.", lang=lang)
        if params.get("redirect_uri") not in client.redirect_uris:
            return _page(400, "We are sorry...", "Invalid parameter: redirect_uri", lang=lang)
        mode = params.get("response_mode") or self.keycloak_response_mode
        if mode not in ("query", "fragment"):
            return _page(400, "We are sorry...", "Invalid parameter: response_mode", lang=lang)
        if params.get("response_type") != "token":
            error = [("error", "unsupported_response_type"), *_optional(params, "state")]
            return _redirect(self._keycloak_location(params["redirect_uri"], mode, error))
        ticket = _Ticket(
            "keycloak", params["client_id"], {**params, "response_mode": mode}, self.clock(), realm
        )
        action = KEYCLOAK_REALM_PATH.format(realm=quote(realm, safe="")) + "/auth/decision"
        return self._consent(request, ticket, action, f"Sign in to {realm}", lang)

    @staticmethod
    def _realm(request: _Request) -> str:
        match = _KEYCLOAK_ROUTE.fullmatch(request.path)
        assert match is not None
        return unquote(match[1])

    @staticmethod
    def _keycloak_location(redirect_uri: str, mode: str, params: list[tuple[str, str]]) -> str:
        if mode == "fragment":
            return _with_fragment(redirect_uri, params)
        return _with_query(redirect_uri, params)

    def _keycloak_jwt(self, request: _Request, realm: str, client_id: str, scope: str) -> str:
        now = int(self.clock())
        header = {"alg": "RS256", "typ": "JWT", "kid": "emulator"}
        claims = {
            "exp": now + KEYCLOAK_EXPIRES_IN,
            "iat": now,
            "jti": _uuid(),
            "iss": f"{request.base}/auth/realms/{realm}",
            "typ": "Bearer",
            "azp": client_id,
            "scope": scope,
        }
        parts = [json.dumps(p, separators=(",", ":")).encode() for p in (header, claims)]
        parts.append(secrets.token_bytes(64))
        token = ".".join(_b64url(p) for p in parts)
        return self._issue(token, _Grant("keycloak", now + KEYCLOAK_EXPIRES_IN))

    def _keycloak_decision(
        self, request: _Request, ticket: _Ticket, allow: bool
    ) -> EmulatorResponse:
        params, state = ticket.params, _optional(ticket.params, "state")
        if not allow:
            answer = [("error", "access_denied"), *state]
        else:
            scope = params.get("scope", "")
            token = self._keycloak_jwt(request, ticket.realm, ticket.client_id, scope)
            answer = [
                ("access_token", token),
                ("token_type", "bearer"),
                ("expires_in", str(KEYCLOAK_EXPIRES_IN)),
                *state,
                ("session_state", _uuid()),
            ]
        location = self._keycloak_location(params["redirect_uri"], params["response_mode"], answer)
        return _redirect(location)

    def _keycloak_token(self, request: _Request) -> EmulatorResponse:
        if _media_type(request.headers) != "application/x-www-form-urlencoded":
            return _oauth_error(400, "invalid_request", "Content-Type must be form-urlencoded.")
        realm = self._realm(request)
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic" or not credentials.strip():
            return _oauth_error(401, "invalid_client", "Missing HTTP Basic client authentication.")
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return _oauth_error(401, "invalid_client", "Malformed HTTP Basic credentials.")
        raw_id, _, raw_secret = decoded.partition(":")
        client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
        client = self._keycloak.get((realm, client_id))
        if client is None or not secrets.compare_digest(secret.encode(), client.secret.encode()):
            return _oauth_error(
                401, "unauthorized_client", "Invalid client or Invalid client credentials"
            )
        form = request.form()
        grant_type = form.get("grant_type")
        if not grant_type:
            return _oauth_error(400, "invalid_request", "Missing form parameter: grant_type")
        if grant_type == "refresh_token" and client.refresh_tokens:
            spent = self._refresh_tokens.pop(form.get("refresh_token", ""), None)
            if spent is None or spent[:2] != (realm, client_id) or spent[2] <= self.clock():
                return _oauth_error(400, "invalid_grant", "Token is not active")
        elif grant_type != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", "Unsupported grant_type")
        redirect_uri = form.get("redirect_uri")
        if redirect_uri is not None and redirect_uri not in client.redirect_uris:
            return _oauth_error(400, "invalid_request", "Invalid parameter: redirect_uri")
        payload: dict[str, object] = {
            "access_token": self._keycloak_jwt(request, realm, client_id, client.scope),
            "expires_in": KEYCLOAK_EXPIRES_IN,
            "refresh_expires_in": 0,
            "token_type": "bearer",
            "not-before-policy": 0,
            "scope": client.scope,
            "app_id": client.app_id,
        }
        if client.refresh_tokens:
            refresh_token = secrets.token_urlsafe(32)
            expires_at = self.clock() + KEYCLOAK_REFRESH_EXPIRES_IN
            self._refresh_tokens[refresh_token] = (realm, client_id, expires_at)
            payload["refresh_token"] = refresh_token
            payload["refresh_expires_in"] = KEYCLOAK_REFRESH_EXPIRES_IN
        return _json(200, payload)

    def _bog_accounts(self, request: _Request) -> EmulatorResponse:
        self._bearer(request, "keycloak")
        account = {
            "AccountNumber": "GE00BG0000000000000001",
            "Currency": "GEL",
            "Name": "Current account",
            "AvailableBalance": 1000.0,
        }
        return _json(200, [account])
