"""More provider presets (Apple, Auth0, Okta, Slack, Discord, Dropbox, Salesforce, X)
and the strategy-level rules their quirks need.

Each preset is a plain strategy class whose constructor takes the provider's settings
and fills in its endpoints; every endpoint can be overridden, and ``server_url`` moves
all of them to another origin (a staging host, :class:`anyoauth.testing.ProviderEmulator`).
The quirks live here as rules of the strategy, never as a weakened core check:

* :class:`AppleClientSecret` - Apple's client secret, an ES256 JWT the strategy signs
  with the ``.p8`` key and renews before it expires (sent as ``client_secret``, never
  shown); :meth:`Apple.authorization_response_extra` reads the ``user`` field Apple
  posts on the first authorization only, strictly.
* Slack's answers (:meth:`Slack.parse_token_response`): ``ok: false`` at HTTP 200 is an
  error, the user token nested under ``authed_user``, comma-separated scopes.
* Salesforce's answers (:meth:`Salesforce.parse_token_response`): no ``expires_in``,
  ``issued_at`` in milliseconds; the expiry follows the org's session timeout.

:mod:`anyoauth.providers` re-exports every name; the plugin registry lists the presets
under their names (``apple``, ``auth0``, ``auth0-device``, ``auth0-client-credentials``,
``okta``, ``okta-device``, ``slack``, ``discord``, ``dropbox``, ``salesforce``, ``x``).
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import attrs

from ._core import jose
from ._core.client_auth import ClientAuth, ClientAuthMethod, Credentials
from ._core.errors import ConfigurationError, InvalidResponse, MalformedRedirect, TokenRequestError
from ._core.redirect import Redirect
from ._core.strategies import AuthorizationCode, ClientCredentials, DeviceCode, Strategy
from ._core.token import Token

__all__ = [
    "APPLE_AUDIENCE",
    "APPLE_MAX_SECRET_LIFETIME",
    "APPLE_URL",
    "DISCORD_URL",
    "DROPBOX_API_URL",
    "DROPBOX_URL",
    "SALESFORCE_LOGIN_URL",
    "SALESFORCE_TEST_URL",
    "SLACK_URL",
    "X_API_URL",
    "X_URL",
    "Apple",
    "AppleClientSecret",
    "Auth0",
    "Auth0ClientCredentials",
    "Auth0Device",
    "Discord",
    "Dropbox",
    "Okta",
    "OktaDevice",
    "Salesforce",
    "Slack",
    "X",
    "read_apple_user",
    "salesforce_expiry",
]

APPLE_URL = "https://appleid.apple.com"
"""Sign in with Apple's origin (also its issuer)."""
APPLE_AUDIENCE = "https://appleid.apple.com"
"""The ``aud`` of Apple's client secret JWT."""
APPLE_MAX_SECRET_LIFETIME = 15_777_000
"""The longest lifetime Apple accepts for a client secret: six months, in seconds."""
SLACK_URL = "https://slack.com"
"""Slack's origin (authorization page and Web API)."""
DISCORD_URL = "https://discord.com"
"""Discord's origin."""
DROPBOX_URL = "https://www.dropbox.com"
"""Dropbox's origin (the authorization page)."""
DROPBOX_API_URL = "https://api.dropboxapi.com"
"""Dropbox's API origin (the token endpoint)."""
SALESFORCE_LOGIN_URL = "https://login.salesforce.com"
"""Salesforce's production login host."""
SALESFORCE_TEST_URL = "https://test.salesforce.com"
"""Salesforce's sandbox login host."""
X_URL = "https://x.com"
"""X's origin (the authorization page)."""
X_API_URL = "https://api.x.com"
"""X's API origin (the token and revocation endpoints)."""


def _scopes(scope: str | Iterable[str] | None) -> tuple[str, ...]:
    if scope is None:
        return ()
    items = (scope,) if isinstance(scope, str) else tuple(scope)
    return tuple(w for item in items for w in item.replace(",", " ").split())


def _origin(server_url: str | None, default: str) -> str:
    return (server_url or default).rstrip("/")


def _auth(client_secret: str | None, settings: dict[str, Any], method: str) -> None:
    """``method`` with a secret, ``none`` (a public client) without one, unless set."""
    settings.setdefault("client_auth", method if client_secret else "none")


# -- Apple ----------------------------------------------------------------------------

_TEAM_OR_KEY_ID = re.compile(r"[A-Z0-9]{10}")


def _read_key(private_key: str | bytes | None, key_file: str | os.PathLike[str] | None) -> Any:
    if (private_key is None) == (key_file is None):
        raise ConfigurationError("Apple needs the .p8 key: private_key or key_file (one of them)")
    if key_file is not None:
        try:
            with open(key_file, "rb") as handle:
                private_key = handle.read(16_384)
        except OSError as exc:
            raise ConfigurationError(
                f"the Apple key file cannot be read ({exc.strerror})"
            ) from None
    if private_key is None:  # pragma: no cover - excluded above
        raise ConfigurationError("Apple needs the .p8 key")
    try:
        return jose.load_client_key(private_key, "ES256")
    except ValueError:
        # The reason may quote the key's text: never repeat it.
        raise ConfigurationError("the Apple key is not an ES256 (P-256) private key") from None


@attrs.frozen(kw_only=True)
class AppleClientSecret(ClientAuthMethod):
    """Apple's client authentication: ``client_id`` and a ``client_secret`` that is an
    ES256 JWT signed with the app's ``.p8`` key (header ``alg`` ES256 and ``kid`` the
    key id; claims ``iss`` the team id, ``sub`` the client id, ``aud``
    ``https://appleid.apple.com``, ``iat``, ``exp`` at most six months later).

    The secret is signed when first needed and kept; once less than a quarter of its
    :attr:`lifetime` is left (or the clock went back before its ``iat``) a new one is
    signed. Neither the key nor the secret is ever in a repr, an error or a log (the
    ``client_secret`` parameter is redacted by name).

    Source: https://developer.apple.com/documentation/accountorganizationaldatasharing/creating-a-client-secret.
    """

    name: ClassVar[ClientAuth] = "client_secret_post"
    fresh_per_request: ClassVar[bool] = True

    team_id: str
    """The Apple Developer team id (``iss``)."""
    key_id: str
    """The id of the Sign in with Apple key (``kid``)."""
    key: Any = attrs.field(repr=False)
    """The ``.p8`` private key (PEM, a JWK dict or a joserfc key). Never shown."""
    lifetime: float = 86_400.0
    """How long each signed secret is valid, in seconds (at most six months)."""
    _cache: dict[str, tuple[str, float, float]] = attrs.field(
        factory=dict, init=False, repr=False, eq=False
    )
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        for label, value in (("team_id", self.team_id), ("key_id", self.key_id)):
            if not isinstance(value, str) or not _TEAM_OR_KEY_ID.fullmatch(value):
                raise ConfigurationError(f"Apple's {label} is 10 capital letters or digits")
        if not (
            isinstance(self.lifetime, (int, float))
            and math.isfinite(self.lifetime)
            and 60 <= self.lifetime <= APPLE_MAX_SECRET_LIFETIME
        ):
            raise ConfigurationError(
                "the Apple client secret lifetime is 60 seconds to six months (15777000)"
            )
        try:
            loaded = jose.load_client_key(self.key, "ES256")
        except ValueError:
            raise ConfigurationError("the Apple key is not an ES256 (P-256) private key") from None
        object.__setattr__(self, "key", loaded)

    def secret(self, *, client_id: str, now: float) -> str:
        """The client secret JWT valid at ``now``: the one held, or a new one signed
        when it is due for renewal."""
        with self._lock:
            held = self._cache.get(client_id)
            if held is not None:
                value, issued, expires = held
                if issued - 60 <= now < expires - self.lifetime / 4:
                    return value
            issued_at = math.floor(now)
            expires_at = issued_at + math.floor(self.lifetime)
            claims = {
                "iss": self.team_id,
                "iat": issued_at,
                "exp": expires_at,
                "aud": APPLE_AUDIENCE,
                "sub": client_id,
            }
            header = {"alg": "ES256", "kid": self.key_id}
            value = jose.sign_compact(header, claims, self.key, "ES256")
            self._cache[client_id] = (value, issued_at, expires_at)
            return value

    def credentials(
        self, *, client_id: str, issuer: str | None, url: str, now: float
    ) -> Credentials:
        """``client_id`` and the client secret JWT (:meth:`secret`) as form parameters."""
        return Credentials(
            params=(
                ("client_id", client_id),
                ("client_secret", self.secret(client_id=client_id, now=now)),
            )
        )


_MAX_USER_FIELD = 4096
_MAX_USER_TEXT = 256


def _user_text(value: object) -> str | None:
    """A name or email from Apple's ``user`` field: a short printable string."""
    if not isinstance(value, str) or len(value) > _MAX_USER_TEXT:
        raise MalformedRedirect("the user field holds an unusable value")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") for c in value):
        raise MalformedRedirect("the user field holds control or unassigned characters")
    return value


def read_apple_user(text: str) -> dict[str, Any]:
    """Apple's ``user`` form field (a JSON object with ``name.firstName``,
    ``name.lastName`` and ``email``) as ``{"name": {...}, "email": ...}`` holding only
    those, each a printable string of at most 256 characters; anything else is
    dropped. :class:`MalformedRedirect` when it is not such an object (too long, not
    JSON, deeply nested, control characters)."""
    if len(text) > _MAX_USER_FIELD:
        raise MalformedRedirect("the user field is too long")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise MalformedRedirect("the user field is not JSON") from None
    if not isinstance(data, dict):
        raise MalformedRedirect("the user field is not a JSON object")
    user: dict[str, Any] = {}
    name = data.get("name")
    if name is not None:
        if not isinstance(name, dict):
            raise MalformedRedirect("the user field's name is not an object")
        parts = {k: _user_text(name[k]) for k in ("firstName", "lastName") if k in name}
        if parts:
            user["name"] = parts
    if "email" in data:
        user["email"] = _user_text(data["email"])
    return user


@attrs.frozen(kw_only=True, init=False)
class Apple(AuthorizationCode):
    """Sign in with Apple for the web (a Services ID as ``client_id``): the
    authorization code flow with OpenID Connect id_tokens.

    The client secret is an ES256 JWT signed with the ``.p8`` key
    (:class:`AppleClientSecret`): give ``team_id``, ``key_id`` and the key
    (``private_key`` text or ``key_file``); the strategy signs it, renews it before it
    expires (``secret_lifetime``, at most six months) and never shows it. Asking for
    ``name`` or ``email`` (the default scope) makes Apple post the answer
    (``response_mode=form_post``): hand the posted form to ``complete()`` as the URL's
    query (:mod:`anyoauth.asgi` and the loopback agent do). On the user's first
    authorization only, Apple posts a ``user`` field (JSON: name and email): the login's
    token keeps it, read strictly, in ``Token.extra["user"]`` - Apple never sends it
    again, so store it then; it is unsigned (trust the id_token's ``email``). The
    id_token is validated with Apple's keys (``/auth/keys``), issuer
    ``https://appleid.apple.com`` and a ``nonce`` the request carries. Apple documents
    no PKCE for this flow: none is sent unless ``uses_pkce=True``.

    Sources: https://developer.apple.com/documentation/signinwithapplerestapi/request-an-authorization-to-the-sign-in-with-apple-server
    (``response_mode``, the ``user`` field),
    https://developer.apple.com/documentation/accountorganizationaldatasharing/creating-a-client-secret
    (the client secret JWT),
    https://developer.apple.com/documentation/signinwithapplerestapi/generate-and-validate-tokens,
    https://developer.apple.com/documentation/signinwithapplerestapi/fetch-apple's-public-key-for-verifying-token-signature.
    """

    name: ClassVar[str] = "apple"

    def __init__(
        self,
        client_id: str,
        redirect_uri: str | None = None,
        *,
        team_id: str | None = None,
        key_id: str | None = None,
        private_key: str | bytes | None = None,
        key_file: str | os.PathLike[str] | None = None,
        secret_lifetime: float = 86_400.0,
        scope: str | Iterable[str] | None = ("name", "email"),
        server_url: str | None = None,
        authorize_url: str | None = None,
        token_url: str | None = None,
        jwks_url: str | None = None,
        revoke_url: str | None = None,
        **settings: Any,
    ) -> None:
        base = _origin(server_url, APPLE_URL)
        if not isinstance(settings.get("client_auth"), AppleClientSecret):
            if team_id is None or key_id is None:
                raise ConfigurationError("Apple needs team_id and key_id")
            settings["client_auth"] = AppleClientSecret(
                team_id=team_id,
                key_id=key_id,
                key=_read_key(private_key, key_file),
                lifetime=secret_lifetime,
            )
        asked = set(_scopes(scope))
        if asked & {"name", "email"}:
            settings.setdefault("response_mode", "form_post")
        preset: dict[str, Any] = {
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "authorization_endpoint": authorize_url or f"{base}/auth/authorize",
            "token_endpoint": token_url or f"{base}/auth/token",
            "jwks_uri": jwks_url or f"{base}/auth/keys",
            "revocation_endpoint": revoke_url or f"{base}/auth/revoke",
            "issuer": base,
            "uses_pkce": False,
        }
        self.__attrs_init__(**{**preset, **settings})

    @property
    def requests_nonce(self) -> bool:
        """Apple's id_token carries the request's ``nonce``, ``openid`` or not."""
        return self.response_type == "code" and self.verifies_id_tokens

    def authorization_response_extra(self, redirect: Redirect) -> Mapping[str, Any]:
        """The ``user`` field of Apple's first answer, read by :func:`read_apple_user`
        (``{"user": {...}}``), or nothing."""
        text = redirect.get("user")
        return {} if not text else {"user": read_apple_user(text)}


# -- Auth0 ----------------------------------------------------------------------------

_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))+")


def _domain_origin(
    domain: str | None, server_url: str | None, provider: str, settings: Mapping[str, Any]
) -> str:
    if server_url is not None:
        return server_url.rstrip("/")
    issuer = settings.get("issuer")
    if domain is None and isinstance(issuer, str) and "token_endpoint" in settings:
        return issuer.rstrip("/")  # every endpoint given (attrs.evolve gives them all)
    if not isinstance(domain, str) or not _HOST.fullmatch(domain):
        raise ConfigurationError(f"{provider} needs its domain (a host name such as example.com)")
    return f"https://{domain.lower()}"


def _auth0(
    domain: str | None, server_url: str | None, token_url: str | None, settings: Mapping[str, Any]
) -> tuple[str, dict[str, str]]:
    """The tenant's origin and its endpoints (``token_url`` overriding the token one)."""
    base = _domain_origin(domain, server_url, "Auth0", settings)
    return base, {
        "issuer": base + "/",
        "token_endpoint": f"{base}/oauth/token" if token_url is None else token_url,
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "userinfo_endpoint": f"{base}/userinfo",
    }


@attrs.frozen(kw_only=True, init=False)
class Auth0(AuthorizationCode):
    """An Auth0 tenant (``domain``: ``tenant.us.auth0.com`` or a custom domain): the
    authorization code flow with PKCE and OpenID Connect.

    ``audience`` names the API the access token is for (without it Auth0 issues a
    token for its userinfo endpoint only); it goes in the authorization request.
    ``offline_access`` (in the default scope) brings a refresh token when the API
    allows offline access; refresh tokens rotate when the application turns rotation
    on. The issuer is ``https://{domain}/`` - with the trailing slash Auth0's id_tokens
    name - and the keys are at ``/.well-known/jwks.json``. A confidential application
    sends its secret in the form (Auth0's default method); a public one relies on PKCE.

    Sources: https://auth0.com/docs/api/authentication (the endpoints),
    https://auth0.com/docs/get-started/applications/configure-applications-with-oidc-discovery
    (the issuer with its trailing ``/``),
    https://auth0.com/docs/secure/tokens/access-tokens/get-access-tokens (``audience``),
    https://auth0.com/docs/secure/tokens/refresh-tokens/get-refresh-tokens
    (``offline_access``).
    """

    name: ClassVar[str] = "auth0"

    def __init__(
        self,
        client_id: str,
        client_secret: str | None = None,
        redirect_uri: str | None = None,
        *,
        domain: str | None = None,
        audience: str | Iterable[str] = (),
        scope: str | Iterable[str] | None = ("openid", "profile", "email", "offline_access"),
        server_url: str | None = None,
        authorize_url: str | None = None,
        token_url: str | None = None,
        **settings: Any,
    ) -> None:
        base, urls = _auth0(domain, server_url, token_url, settings)
        _auth(client_secret, settings, "client_secret_post")
        preset: dict[str, Any] = {
            **urls,
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "audience": audience,
            "authorization_endpoint": authorize_url or f"{base}/authorize",
        }
        self.__attrs_init__(**{**preset, **settings})


@attrs.frozen(kw_only=True, init=False)
class Auth0Device(DeviceCode):
    """An Auth0 tenant's device authorization flow (``/oauth/device/code``), for a
    native application with the device code grant turned on; ``audience`` and
    ``offline_access`` as for :class:`Auth0`.

    Source: https://auth0.com/docs/get-started/authentication-and-authorization-flow/device-authorization-flow.
    """

    name: ClassVar[str] = "auth0-device"

    def __init__(
        self,
        client_id: str,
        *,
        domain: str | None = None,
        audience: str | Iterable[str] = (),
        scope: str | Iterable[str] | None = ("openid", "profile", "offline_access"),
        server_url: str | None = None,
        device_url: str | None = None,
        token_url: str | None = None,
        **settings: Any,
    ) -> None:
        base, urls = _auth0(domain, server_url, token_url, settings)
        settings.setdefault("client_auth", "none")
        preset: dict[str, Any] = {
            **urls,
            "client_id": client_id,
            "scope": scope,
            "audience": audience,
            "device_authorization_endpoint": device_url or f"{base}/oauth/device/code",
        }
        self.__attrs_init__(**{**preset, **settings})


@attrs.frozen(kw_only=True, init=False)
class Auth0ClientCredentials(ClientCredentials):
    """An Auth0 tenant's client credentials grant (a machine-to-machine application):
    the token is for the API ``audience`` names, which Auth0 requires.

    Source: https://auth0.com/docs/get-started/authentication-and-authorization-flow/client-credentials-flow.
    """

    name: ClassVar[str] = "auth0-client-credentials"

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        audience: str | Iterable[str],
        domain: str | None = None,
        scope: str | Iterable[str] | None = None,
        server_url: str | None = None,
        token_url: str | None = None,
        **settings: Any,
    ) -> None:
        base = _domain_origin(domain, server_url, "Auth0", settings)
        if not _scopes(audience):
            raise ConfigurationError("Auth0's client credentials grant needs an audience")
        _auth(client_secret, settings, "client_secret_post")
        preset: dict[str, Any] = {
            "client_id": client_id,
            "client_secret": client_secret,
            "scope": scope,
            "audience": audience,
            "issuer": base + "/",
            "token_endpoint": token_url or f"{base}/oauth/token",
        }
        self.__attrs_init__(**{**preset, **settings})


# -- Okta -----------------------------------------------------------------------------

_AUTH_SERVER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def _okta(
    domain: str | None,
    server_url: str | None,
    authorization_server: str | None,
    token_url: str | None,
    settings: Mapping[str, Any],
) -> tuple[str, dict[str, str]]:
    """The endpoint prefix and endpoints of the org authorization server (``None``)
    or of a custom one (``default`` or its id); ``token_url`` overrides the token one."""
    base = _domain_origin(domain, server_url, "Okta", settings)
    if authorization_server is None:
        issuer, prefix = base, f"{base}/oauth2/v1"
    else:
        if not _AUTH_SERVER.fullmatch(authorization_server):
            raise ConfigurationError("authorization_server is 'default' or a server id")
        issuer = f"{base}/oauth2/{authorization_server}"
        prefix = f"{issuer}/v1"
    return prefix, {
        "issuer": issuer,
        "token_endpoint": f"{prefix}/token" if token_url is None else token_url,
        "jwks_uri": f"{prefix}/keys",
        "revocation_endpoint": f"{prefix}/revoke",
        "introspection_endpoint": f"{prefix}/introspect",
        "userinfo_endpoint": f"{prefix}/userinfo",
    }


@attrs.frozen(kw_only=True, init=False)
class Okta(AuthorizationCode):
    """An Okta org (``domain``: ``example.okta.com`` or a custom domain): the
    authorization code flow with PKCE and OpenID Connect.

    ``authorization_server`` chooses the server: ``None`` (the default) the org
    authorization server (issuer ``https://{domain}``, endpoints under
    ``/oauth2/v1``: for signing users in and Okta's own APIs), ``"default"`` or a custom
    server's id (issuer ``https://{domain}/oauth2/{id}``, endpoints under
    ``/oauth2/{id}/v1``: access tokens for your own APIs). id_tokens must name the
    issuer of the server that issued them. ``offline_access`` brings a refresh token
    when the app allows the refresh grant. The secret goes in an HTTP Basic header.

    Sources: https://developer.okta.com/docs/concepts/auth-servers/ (org and custom
    servers, their issuers), https://developer.okta.com/docs/reference/api/oidc/ (the
    endpoints), https://developer.okta.com/docs/guides/implement-grant-type/authcodepkce/main/.
    """

    name: ClassVar[str] = "okta"

    def __init__(
        self,
        client_id: str,
        client_secret: str | None = None,
        redirect_uri: str | None = None,
        *,
        domain: str | None = None,
        authorization_server: str | None = None,
        scope: str | Iterable[str] | None = ("openid", "profile", "email", "offline_access"),
        server_url: str | None = None,
        authorize_url: str | None = None,
        token_url: str | None = None,
        **settings: Any,
    ) -> None:
        prefix, urls = _okta(domain, server_url, authorization_server, token_url, settings)
        _auth(client_secret, settings, "client_secret_basic")
        preset: dict[str, Any] = {
            **urls,
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "authorization_endpoint": authorize_url or f"{prefix}/authorize",
        }
        self.__attrs_init__(**{**preset, **settings})


@attrs.frozen(kw_only=True, init=False)
class OktaDevice(DeviceCode):
    """An Okta org's device authorization grant (``/v1/device/authorize`` of the org or
    a custom authorization server), for a native app with the grant turned on.

    Source: https://developer.okta.com/docs/guides/device-authorization-grant/main/.
    """

    name: ClassVar[str] = "okta-device"

    def __init__(
        self,
        client_id: str,
        *,
        domain: str | None = None,
        authorization_server: str | None = None,
        scope: str | Iterable[str] | None = ("openid", "profile", "offline_access"),
        server_url: str | None = None,
        device_url: str | None = None,
        token_url: str | None = None,
        **settings: Any,
    ) -> None:
        prefix, urls = _okta(domain, server_url, authorization_server, token_url, settings)
        settings.setdefault("client_auth", "none")
        preset: dict[str, Any] = {
            **urls,
            "client_id": client_id,
            "scope": scope,
            "device_authorization_endpoint": device_url or f"{prefix}/device/authorize",
        }
        self.__attrs_init__(**{**preset, **settings})


# -- Slack ----------------------------------------------------------------------------

_SLACK_KINDS = ("bot", "user")
_SLACK_TOKEN_FIELDS = ("access_token", "token_type", "scope", "refresh_token", "expires_in")


def _json_object(status_code: int, body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


@attrs.frozen(kw_only=True, init=False)
class Slack(AuthorizationCode):
    """Slack's OAuth v2 (``oauth.v2.access``): installing an app in a workspace.

    ``scope`` asks for bot scopes and ``user_scope`` for user scopes (both sent
    comma-separated, as Slack's docs write them). One exchange can answer two tokens:
    the bot token at the top level and the user token nested under ``authed_user``.
    ``token`` chooses which one the strategy hands out and refreshes: ``"bot"`` (the
    default when bot scopes are asked) or ``"user"`` (the default with only user
    scopes). The other stays in :attr:`Token.extra`: under ``"authed_user"`` (as Slack
    sent it, its token included) for a bot token, under ``"bot"`` (the top-level token
    fields) for a user token. Slack's ``token_type`` (``bot``/``user``) is kept as
    ``extra["slack_token_type"]``; the token is sent as a bearer token.

    Slack answers every error with HTTP 200 and ``{"ok": false, "error": ...}``: such
    an answer raises :class:`~anyoauth.TokenRequestError` (and an answer without ``ok:
    true`` is never read as a token). With token rotation on, answers carry
    ``refresh_token`` and ``expires_in`` (12 hours) and refreshes go to the same
    method. The client id and secret go in an HTTP Basic header, as Slack prefers.

    Sources: https://docs.slack.dev/authentication/installing-with-oauth (scopes,
    ``authed_user``), https://api.slack.com/methods/oauth.v2.access (HTTP Basic, the
    answer, ``ok``/``error``), https://docs.slack.dev/authentication/using-token-rotation.
    """

    name: ClassVar[str] = "slack"

    token_kind: str = "bot"
    """Which token the strategy hands out: ``"bot"`` or ``"user"``."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        redirect_uri: str | None = None,
        *,
        scope: str | Iterable[str] | None = None,
        user_scope: str | Iterable[str] | None = None,
        token: str | None = None,
        team: str | None = None,
        server_url: str | None = None,
        authorize_url: str | None = None,
        token_url: str | None = None,
        **settings: Any,
    ) -> None:
        base = _origin(server_url, SLACK_URL)
        bot, user = _scopes(scope), _scopes(user_scope)
        if "token_kind" in settings:  # every field given (attrs.evolve gives them all)
            self.__attrs_init__(
                client_id=client_id,
                client_secret=client_secret,
                redirect_uri=redirect_uri,
                scope=bot,
                **settings,
            )
            return
        if not bot and not user:
            raise ConfigurationError("Slack needs a scope (bot) or a user_scope")
        kind = token or ("bot" if bot else "user")
        if kind not in _SLACK_KINDS:
            raise ConfigurationError("Slack's token is 'bot' or 'user'")
        if kind == "bot" and not bot:
            raise ConfigurationError("a Slack bot token needs bot scopes (scope)")
        if kind == "user" and not user:
            raise ConfigurationError("a Slack user token needs user scopes (user_scope)")
        params: dict[str, str] = {}
        if user:
            params["user_scope"] = ",".join(user)
        if team is not None:
            params["team"] = team
        settings.setdefault("client_auth", "client_secret_basic")
        preset: dict[str, Any] = {
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uri": redirect_uri,
            "scope": bot,
            "authorization_endpoint": authorize_url or f"{base}/oauth/v2/authorize",
            "token_endpoint": token_url or f"{base}/api/oauth.v2.access",
            "extra_authorization_params": params,
            "uses_pkce": False,
            "token_kind": kind,
        }
        self.__attrs_init__(**{**preset, **settings})

    def scope_param(self) -> str:
        """Slack's scopes, comma-separated."""
        return ",".join(self.scope)

    def parse_token_response(
        self, status_code: int, content_type: str | None, body: bytes, now: float
    ) -> Token:
        """Read Slack's answer: ``ok: false`` is an error whatever the status; the token
        chosen by :attr:`token_kind` is the one handed out (see :class:`Slack`)."""
        data = _json_object(status_code, body)
        if data is None:
            return Strategy.parse_token_response(self, status_code, content_type, body, now)
        if data.get("ok") is not True:
            error = data.get("error")
            if isinstance(error, str) and error.isascii() and error.isprintable() and error:
                raise TokenRequestError(error[:64], None, status_code=status_code)
            raise InvalidResponse("Slack answered without ok: true", status_code=status_code)
        payload = {k: v for k, v in data.items() if k != "ok"}
        nested = payload.get("authed_user")
        if self.token_kind == "user" and isinstance(nested, dict) and "access_token" in nested:
            bot = {k: payload.pop(k) for k in _SLACK_TOKEN_FIELDS if k in payload}
            payload.pop("authed_user")
            payload.update({k: nested[k] for k in _SLACK_TOKEN_FIELDS if k in nested})
            if "id" in nested:
                payload["authed_user_id"] = nested["id"]
            if "access_token" in bot:
                payload["bot"] = bot
        kind = payload.get("token_type")
        if isinstance(kind, str) and kind.lower() in _SLACK_KINDS:
            payload["token_type"] = "Bearer"
            payload["slack_token_type"] = kind.lower()
        scope = payload.get("scope")
        if isinstance(scope, str):
            payload["scope"] = " ".join(scope.replace(",", " ").split())
        return Strategy.parse_token_response(
            self, status_code, "application/json", json.dumps(payload).encode(), now
        )


# -- Discord --------------------------------------------------------------------------


@attrs.frozen(kw_only=True, init=False)
class Discord(AuthorizationCode):
    """Discord's OAuth2 authorization code grant.

    Scopes are space-separated (``identify``, ``email``, ``guilds``...); ``prompt`` is
    ``"consent"`` (ask again) or ``"none"`` (skip the page when already authorized).
    A confidential app (with a client secret) authenticates with HTTP Basic and sends
    no PKCE challenge, as Discord's examples do; a public app (no secret) uses PKCE.
    Access tokens live about a week; refresh tokens rotate. Tokens are revoked at
    ``/api/oauth2/token/revoke`` (RFC 7009, with the client's credentials).

    Source: https://discord.com/developers/docs/topics/oauth2.
    """

    name: ClassVar[str] = "discord"

    def __init__(
        self,
        client_id: str,
        client_secret: str | None = None,
        redirect_uri: str | None = None,
        *,
        scope: str | Iterable[str] | None = ("identify", "email"),
        prompt: str | None = None,
        server_url: str | None = None,
        authorize_url: str | None = None,
        token_url: str | None = None,
        revoke_url: str | None = None,
        **settings: Any,
    ) -> None:
        if prompt not in (None, "none", "consent"):
            raise ConfigurationError("Discord's prompt is 'none' or 'consent'")
        base = _origin(server_url, DISCORD_URL)
        _auth(client_secret, settings, "client_secret_basic")
        preset: dict[str, Any] = {
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "authorization_endpoint": authorize_url or f"{base}/oauth2/authorize",
            "token_endpoint": token_url or f"{base}/api/oauth2/token",
            "revocation_endpoint": revoke_url or f"{base}/api/oauth2/token/revoke",
            "extra_authorization_params": {} if prompt is None else {"prompt": prompt},
            "uses_pkce": client_secret is None,
        }
        self.__attrs_init__(**{**preset, **settings})


# -- Dropbox --------------------------------------------------------------------------


@attrs.frozen(kw_only=True, init=False)
class Dropbox(AuthorizationCode):
    """Dropbox's OAuth 2 code flow with short-lived access tokens (four hours).

    ``offline=True`` (the default) sends ``token_access_type=offline``: the answer then
    carries a long-lived refresh token, which refreshes never replace (the held one is
    kept). A confidential app sends its key and secret in an HTTP Basic header; a
    public app (no secret) uses PKCE, as Dropbox requires. ``scope`` narrows the app's
    scopes (``files.content.read``, ``account_info.read``: dotted names, no spaces);
    without it the token has every scope the app has. ``account_id`` and ``uid`` stay in
    :attr:`Token.extra`.

    Sources: https://developers.dropbox.com/oauth-guide,
    https://www.dropbox.com/developers/documentation/http/documentation#oauth2-authorize.
    """

    name: ClassVar[str] = "dropbox"

    def __init__(
        self,
        client_id: str,
        client_secret: str | None = None,
        redirect_uri: str | None = None,
        *,
        scope: str | Iterable[str] | None = None,
        offline: bool = True,
        server_url: str | None = None,
        authorize_url: str | None = None,
        token_url: str | None = None,
        **settings: Any,
    ) -> None:
        words = _scopes(scope)
        if any(not re.fullmatch(r"[a-z_]+(?:\.[a-z_]+)+|openid|email|profile", w) for w in words):
            raise ConfigurationError("Dropbox scopes are dotted names such as files.content.read")
        site = _origin(server_url, DROPBOX_URL)
        api = _origin(server_url, DROPBOX_API_URL)
        _auth(client_secret, settings, "client_secret_basic")
        preset: dict[str, Any] = {
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uri": redirect_uri,
            "scope": words,
            "authorization_endpoint": authorize_url or f"{site}/oauth2/authorize",
            "token_endpoint": token_url or f"{api}/oauth2/token",
            "extra_authorization_params": {"token_access_type": "offline"} if offline else {},
        }
        self.__attrs_init__(**{**preset, **settings})


# -- Salesforce -----------------------------------------------------------------------

_MS_DIGITS = re.compile(r"[0-9]{1,16}")
_FUTURE_SKEW = 300.0


def salesforce_expiry(issued_at: object, now: float, session_timeout: float) -> float:
    """Seconds left to a Salesforce access token received at ``now``: its
    ``issued_at`` (milliseconds since the epoch, as Salesforce writes it) plus the
    org's ``session_timeout``. An ``issued_at`` that is not a millisecond count, lies
    in the future (beyond five minutes of skew) or more than ``session_timeout`` in
    the past is not trusted: the token then counts from ``now``. Never more than
    ``session_timeout`` from ``now``."""
    text = issued_at if isinstance(issued_at, str) else None
    if isinstance(issued_at, int) and not isinstance(issued_at, bool):
        text = str(issued_at)
    start = now
    if text is not None and _MS_DIGITS.fullmatch(text):
        seconds = int(text) / 1000.0
        if now - session_timeout < seconds <= now + _FUTURE_SKEW:
            start = min(seconds, now)
    return max(0.0, start + session_timeout - now)


@attrs.frozen(kw_only=True, init=False)
class Salesforce(AuthorizationCode):
    """Salesforce's OAuth 2.0 web server flow with PKCE (a connected or external
    client app), OpenID Connect with ``openid``.

    ``server_url`` is the login host: ``https://login.salesforce.com`` (the default),
    ``https://test.salesforce.com`` for sandboxes, or the org's My Domain
    (``https://example.my.salesforce.com``); it is also the issuer. The token answer
    has ``instance_url`` (where the org's APIs are), ``id`` (the identity URL),
    ``signature`` and ``issued_at`` - kept in :attr:`Token.extra` - and no
    ``expires_in``: the access token lives as long as the org's session timeout
    (Setup > Session Settings; two hours unless changed), so the strategy computes the
    expiry as ``issued_at`` (milliseconds) plus ``session_timeout`` (see
    :func:`salesforce_expiry`); the token introspection endpoint tells the exact
    ``exp``. Refresh answers carry no new refresh token (the held one is kept). The
    secret goes in the form.

    Sources: https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_web_server_flow.htm
    (the answer's fields),
    https://developer.salesforce.com/docs/atlas.en-us.chatterapi.meta/chatterapi/intro_oauth_tokens.htm
    (the session timeout governs the expiry),
    https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oidc_token_introspection.htm,
    https://help.salesforce.com/s/articleView?id=sf.remoteaccess_using_openid.htm (the
    identity URL).
    """

    name: ClassVar[str] = "salesforce"

    session_timeout: float = 7200.0
    """The org's session timeout in seconds: how long an access token lives."""

    def __init__(
        self,
        client_id: str,
        client_secret: str | None = None,
        redirect_uri: str | None = None,
        *,
        scope: str | Iterable[str] | None = ("openid", "api", "refresh_token"),
        session_timeout: float = 7200.0,
        server_url: str = SALESFORCE_LOGIN_URL,
        authorize_url: str | None = None,
        token_url: str | None = None,
        **settings: Any,
    ) -> None:
        if not (
            isinstance(session_timeout, (int, float))
            and math.isfinite(session_timeout)
            and 60 <= session_timeout <= 86_400
        ):
            raise ConfigurationError("session_timeout is 60 seconds to 24 hours")
        base = server_url.rstrip("/")
        _auth(client_secret, settings, "client_secret_post")
        preset: dict[str, Any] = {
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "issuer": base,
            "authorization_endpoint": authorize_url or f"{base}/services/oauth2/authorize",
            "token_endpoint": token_url or f"{base}/services/oauth2/token",
            "revocation_endpoint": f"{base}/services/oauth2/revoke",
            "introspection_endpoint": f"{base}/services/oauth2/introspect",
            "userinfo_endpoint": f"{base}/services/oauth2/userinfo",
            "jwks_uri": f"{base}/id/keys",
            "session_timeout": float(session_timeout),
        }
        self.__attrs_init__(**{**preset, **settings})

    def parse_token_response(
        self, status_code: int, content_type: str | None, body: bytes, now: float
    ) -> Token:
        """Read Salesforce's answer; without ``expires_in`` the expiry is
        :func:`salesforce_expiry` of its ``issued_at``."""
        data = _json_object(status_code, body)
        if data is not None and "access_token" in data and "expires_in" not in data:
            left = salesforce_expiry(data.get("issued_at"), now, self.session_timeout)
            data["expires_in"] = math.floor(left)
            body = json.dumps(data).encode()
            content_type = "application/json"
        return Strategy.parse_token_response(self, status_code, content_type, body, now)


# -- X --------------------------------------------------------------------------------


@attrs.frozen(kw_only=True, init=False)
class X(AuthorizationCode):
    """X (Twitter) OAuth 2.0 authorization code flow with PKCE (required).

    A confidential client (with a client secret) authenticates with HTTP Basic; a
    public client sends its ``client_id`` only. ``offline.access`` (in the default
    scope) brings a refresh token; each refresh rotates it (the old one stops
    working). Access tokens live two hours. Tokens are revoked at ``/2/oauth2/revoke``.

    Sources: https://docs.x.com/resources/fundamentals/authentication/oauth-2-0/authorization-code,
    https://docs.x.com/resources/fundamentals/authentication/oauth-2-0/user-access-token.
    """

    name: ClassVar[str] = "x"

    def __init__(
        self,
        client_id: str,
        client_secret: str | None = None,
        redirect_uri: str | None = None,
        *,
        scope: str | Iterable[str] | None = ("tweet.read", "users.read", "offline.access"),
        server_url: str | None = None,
        authorize_url: str | None = None,
        token_url: str | None = None,
        revoke_url: str | None = None,
        **settings: Any,
    ) -> None:
        site = _origin(server_url, X_URL)
        api = _origin(server_url, X_API_URL)
        if settings.get("uses_pkce") is False:
            raise ConfigurationError("X requires PKCE")
        _auth(client_secret, settings, "client_secret_basic")
        preset: dict[str, Any] = {
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "authorization_endpoint": authorize_url or f"{site}/i/oauth2/authorize",
            "token_endpoint": token_url or f"{api}/2/oauth2/token",
            "revocation_endpoint": revoke_url or f"{api}/2/oauth2/revoke",
            "uses_pkce": True,
        }
        self.__attrs_init__(**{**preset, **settings})
