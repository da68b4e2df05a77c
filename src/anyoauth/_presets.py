"""The mainstream provider presets (Google, Microsoft Entra ID, GitHub, GitLab) and the
strategy-level rules their quirks need.

Each preset is a plain strategy class (a subclass of :class:`AuthorizationCode`,
:class:`DeviceCode` or :class:`ClientCredentials`) whose constructor takes the
provider's settings and fills in its endpoints; every endpoint can be overridden, and
``server_url`` moves all of them to another origin (a self-managed server, a staging
host, :class:`anyoauth.testing.ProviderEmulator`). The quirks live here as rules of the
strategy, never as a weakened core check:

* :class:`IssuerRule` - which ``iss`` an id_token must name, chosen per token before the
  standard validation runs with it: Google's scheme-less ``accounts.google.com``, Entra
  ID's tenant-templated issuer (the ``iss`` must be the template filled with the
  token's own ``tid``). The signature, ``aud``, times and nonce are checked as always,
  and the ``iss`` is compared exactly with the issuer the rule names.
* :class:`FormAnswers` - token and device answers that come form-encoded (GitHub's when
  JSON is not asked for), read strictly (no repeated field, bounded size), and GitHub's
  comma-separated ``scope``. Errors inside an HTTP 200 answer stay errors (the core's
  rule: an ``error`` member is an error at any status).

:mod:`anyoauth.providers` re-exports every name; the plugin registry lists the presets
under their names (``google``, ``google-device``, ``entra``, ``entra-device``,
``entra-client-credentials``, ``github``, ``github-device``, ``gitlab``,
``gitlab-device``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any, ClassVar
from urllib.parse import parse_qsl

import attrs

from ._core import jose
from ._core.device import DeviceAuthorization
from ._core.errors import ConfigurationError, InvalidIdToken, InvalidResponse
from ._core.strategies import AuthorizationCode, ClientCredentials, DeviceCode, Strategy
from ._core.token import Token

__all__ = [
    "ENTRA_AUTHORITY",
    "ENTRA_CONSUMERS_TENANT_ID",
    "GITHUB_URL",
    "GITLAB_URL",
    "GOOGLE_AUTHORIZE_URL",
    "GOOGLE_DEVICE_URL",
    "GOOGLE_ISSUER",
    "GOOGLE_JWKS_URL",
    "GOOGLE_REVOKE_URL",
    "GOOGLE_TOKEN_URL",
    "GOOGLE_USERINFO_URL",
    "EntraClientCredentials",
    "EntraDevice",
    "EntraID",
    "FormAnswers",
    "GitHub",
    "GitHubDevice",
    "GitLab",
    "GitLabDevice",
    "Google",
    "GoogleDevice",
    "IssuerRule",
]

GOOGLE_ISSUER = "https://accounts.google.com"
"""Google's issuer identifier (its id_tokens may also name it without ``https://``)."""
GOOGLE_AUTHORIZE_URL = "https://accounts.google.com/o/oauth2/v2/auth"
"""Google's authorization endpoint."""
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
"""Google's token endpoint."""
GOOGLE_DEVICE_URL = "https://oauth2.googleapis.com/device/code"
"""Google's device authorization endpoint."""
GOOGLE_JWKS_URL = "https://www.googleapis.com/oauth2/v3/certs"
"""The keys that sign Google's id_tokens."""
GOOGLE_REVOKE_URL = "https://oauth2.googleapis.com/revoke"
"""Google's revocation endpoint."""
GOOGLE_USERINFO_URL = "https://openidconnect.googleapis.com/v1/userinfo"
"""Google's OpenID Connect userinfo endpoint."""
ENTRA_AUTHORITY = "https://login.microsoftonline.com"
"""Microsoft Entra ID's global authority (the national clouds have their own)."""
ENTRA_CONSUMERS_TENANT_ID = "9188040d-6c67-4c5b-b112-36a304b66dad"
"""The tenant id of personal Microsoft accounts (the ``consumers`` tenant)."""
GITHUB_URL = "https://github.com"
"""GitHub's origin (GitHub Enterprise Server: the server's own)."""
GITLAB_URL = "https://gitlab.com"
"""GitLab.com (a self-managed GitLab: its own base URL)."""

_GOOGLE_PAGES = (
    "https://developers.google.com/identity/protocols/oauth2/native-app",
    "https://developers.google.com/identity/protocols/oauth2/web-server",
    "https://developers.google.com/identity/openid-connect/openid-connect",
    "https://developers.google.com/identity/protocols/oauth2/limited-input-device",
)

# -- issuer rules ---------------------------------------------------------------------

_MAX_PEEK_CHARS = 16_384
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TENANT_PLACEHOLDER = "{tenantid}"


def _unverified_claims(id_token: object) -> Mapping[str, Any]:
    """The payload of a compact JWS, read without checking anything: only to choose
    the issuer the full validation then requires. Empty when it cannot be read."""
    if not isinstance(id_token, str) or len(id_token) > _MAX_PEEK_CHARS:
        return {}
    parts = id_token.split(".")
    if len(parts) != 3:
        return {}
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error, RecursionError):
        return {}
    return payload if isinstance(payload, dict) else {}


def _set(values: Iterable[str]) -> frozenset[str]:
    return frozenset(values)


def _optional_set(values: Iterable[str] | None) -> frozenset[str] | None:
    return None if values is None else frozenset(values)


@attrs.frozen(kw_only=True)
class IssuerRule:
    """Which issuer an id_token must name, when the provider's is not one fixed string.

    ``issuer`` is the strategy's issuer identifier; ``also_without_scheme`` accepts it
    without its ``scheme://`` too (Google: ``accounts.google.com``). A ``tenant_template``
    (Entra ID: ``https://login.microsoftonline.com/{tenantid}/v2.0``) makes the issuer
    the template filled with the token's own ``tid``, which must be a tenant id (a
    lower-case GUID) and, with ``tenants``, one of them; ``excluded_tenants`` are
    refused (the ``organizations`` tenant refuses personal accounts).

    The rule only *chooses* the issuer: :meth:`validate` then runs the standard
    validation with it, so the signature, ``aud``, times, nonce and the exact ``iss``
    are checked as for any other server.
    """

    issuer: str
    """The issuer identifier, or the tenant template's own text."""
    also_without_scheme: bool = False
    """Also accept :attr:`issuer` without its ``scheme://``."""
    tenant_template: str | None = None
    """An issuer holding ``{tenantid}``, filled with each token's ``tid``."""
    tenants: frozenset[str] | None = attrs.field(default=None, converter=_optional_set)
    """The only tenant ids accepted (``None``: any)."""
    excluded_tenants: frozenset[str] = attrs.field(default=frozenset(), converter=_set)
    """Tenant ids never accepted."""

    def expected_issuer(self, claims: Mapping[str, Any]) -> str:
        """The issuer a token with ``claims`` (unverified) must name; an
        :class:`~anyoauth.InvalidIdToken` when its ``tid`` cannot be accepted."""
        template = self.tenant_template
        if template is None:
            iss = claims.get("iss")
            bare = self.issuer.split("://", 1)[-1]
            if self.also_without_scheme and isinstance(iss, str) and iss == bare:
                return bare
            return self.issuer
        tid = claims.get("tid")
        if not isinstance(tid, str) or not _GUID.fullmatch(tid):
            raise InvalidIdToken("id_token tid is missing or not a tenant id")
        if (self.tenants is not None and tid not in self.tenants) or tid in self.excluded_tenants:
            raise InvalidIdToken("id_token tid names a tenant this client does not accept")
        return template.replace(_TENANT_PLACEHOLDER, tid)

    def validate(self, strategy: Strategy, id_token: str, **checks: Any) -> dict[str, Any]:
        """Validate ``id_token`` for ``strategy`` with the issuer this rule names for it
        (``checks``: ``jwks``, ``now``, ``nonce``, ``access_token``)."""
        expected = self.expected_issuer(_unverified_claims(id_token))
        return jose.validate_id_token(
            id_token,
            issuer=expected,
            client_id=strategy.client_id,
            algorithms=strategy.id_token_algorithms,
            leeway=strategy.id_token_leeway,
            **checks,
        )


class _RuledIssuer:
    """Strategies whose id_tokens are validated with an :class:`IssuerRule`."""

    __slots__ = ()

    def issuer_rule(self) -> IssuerRule:
        raise NotImplementedError  # pragma: no cover

    def validate_id_token(
        self,
        id_token: str,
        *,
        jwks: Mapping[str, Any],
        now: float,
        nonce: str | None,
        access_token: str | None = None,
    ) -> dict[str, Any]:
        """Validate an id_token with the issuer the provider's :class:`IssuerRule` names
        for it; every other check as :meth:`Strategy.validate_id_token`."""
        assert isinstance(self, Strategy)
        return self.issuer_rule().validate(
            self, id_token, jwks=jwks, now=now, nonce=nonce, access_token=access_token
        )


# -- form-encoded answers -------------------------------------------------------------

_MAX_FORM_BYTES = 64 * 1024
_MAX_FORM_FIELDS = 64


def _form_answer(status_code: int, content_type: str | None, body: bytes) -> bytes:
    """``body`` as JSON bytes: unchanged unless it is a form-encoded answer, which is
    read strictly (UTF-8, at most 64 KiB and 64 fields, no field twice, no empty name)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        return body
    if len(body) > _MAX_FORM_BYTES:
        raise InvalidResponse("form-encoded answer too large", status_code=status_code)
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=bool(text),
            max_num_fields=_MAX_FORM_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        raise InvalidResponse("malformed form-encoded answer", status_code=status_code) from None
    fields: dict[str, str | int] = {}
    for name, value in pairs:
        if not name or name in fields:
            raise InvalidResponse(
                "form-encoded answer has an empty or repeated field", status_code=status_code
            )
        fields[name] = value
    for number in ("expires_in", "refresh_token_expires_in", "interval"):
        given = fields.get(number)
        if isinstance(given, str) and given.isascii() and given.isdigit() and len(given) < 12:
            fields[number] = int(given)
    return json.dumps(fields).encode()


class FormAnswers:
    """Strategies whose provider may answer token and device requests form-encoded
    (GitHub without ``Accept: application/json``, which anyoauth always sends): such
    an answer is read strictly and then validated as a JSON one. A comma-separated
    ``scope`` (GitHub's) is read as a list of scopes."""

    def parse_token_response(
        self, status_code: int, content_type: str | None, body: bytes, now: float
    ) -> Token:
        """Validate a token answer, JSON or form-encoded (see :class:`FormAnswers`)."""
        assert isinstance(self, Strategy)
        body = _form_answer(status_code, content_type, body)
        token = Strategy.parse_token_response(self, status_code, "application/json", body, now)
        if token.scope is not None and "," in token.scope:
            token = attrs.evolve(token, scope=" ".join(token.scope.replace(",", " ").split()))
        return token

    def read_device_authorization(
        self, status_code: int, content_type: str | None, body: bytes, now: float
    ) -> DeviceAuthorization:
        """Validate a device answer, JSON or form-encoded."""
        assert isinstance(self, DeviceCode)
        body = _form_answer(status_code, content_type, body)
        return DeviceCode.read_device_authorization(self, status_code, content_type, body, now)


# -- Google ---------------------------------------------------------------------------


_GOOGLE_ENDPOINTS = {  # parameter: (field, path under server_url, Google's own URL)
    "authorize_url": ("authorization_endpoint", "/o/oauth2/v2/auth", GOOGLE_AUTHORIZE_URL),
    "token_url": ("token_endpoint", "/token", GOOGLE_TOKEN_URL),
    "device_url": ("device_authorization_endpoint", "/device/code", GOOGLE_DEVICE_URL),
    "jwks_url": ("jwks_uri", "/oauth2/v3/certs", GOOGLE_JWKS_URL),
    "revoke_url": ("revocation_endpoint", "/revoke", GOOGLE_REVOKE_URL),
    "userinfo_url": ("userinfo_endpoint", "/v1/userinfo", GOOGLE_USERINFO_URL),
    "issuer": ("issuer", "", GOOGLE_ISSUER),
}


def _google_preset(
    client_id: str,
    client_secret: str | None,
    scope: str | Iterable[str] | None,
    server_url: str | None,
    settings: dict[str, Any],
    **given: str | None,
) -> dict[str, Any]:
    """The fields Google's strategies share: the client and the endpoints named in
    ``given`` (each its given value, or Google's own, or its path under ``server_url``)."""
    base = None if server_url is None else server_url.rstrip("/")
    _secret_auth(client_secret, settings)
    preset: dict[str, Any] = {
        "client_id": client_id,
        "client_secret": client_secret,
        "scope": scope,
        "assertion_audience": "endpoint",
    }
    for name, value in given.items():
        field, path, real = _GOOGLE_ENDPOINTS[name]
        preset[field] = value if value is not None else real if base is None else base + path
    return preset


def _secret_auth(client_secret: str | None, settings: dict[str, Any]) -> None:
    """``client_secret_post`` with a secret, ``none`` without one, unless set."""
    settings.setdefault("client_auth", "client_secret_post" if client_secret else "none")


class _GoogleIssuer(_RuledIssuer):
    """Google's strategies: id_tokens name the issuer with or without its scheme."""

    __slots__ = ()

    issuer: str | None

    def issuer_rule(self) -> IssuerRule:
        """Google's: the issuer, with or without ``https://``."""
        return IssuerRule(issuer=str(self.issuer), also_without_scheme=True)


@attrs.frozen(kw_only=True, init=False)
class Google(_GoogleIssuer, AuthorizationCode):
    """Google's OAuth 2.0 / OpenID Connect authorization code flow with PKCE.

    ``offline=True`` (the default) sends ``access_type=offline`` so a refresh token
    comes back; Google sends one only on the first consent, so ``prompt="consent"``
    asks for consent again to get a new one. Installed ("desktop") clients have a
    client secret that Google's docs say is not treated as a secret but must still be
    sent: pass it as ``client_secret`` (sent in the form, ``client_secret_post``).
    id_tokens are validated with Google's keys; their ``iss`` may be
    ``https://accounts.google.com`` or ``accounts.google.com`` (both are accepted,
    nothing else). ``login_hint`` and ``hd`` pass through. ``server_url`` moves every
    endpoint under one origin (tests); each endpoint has its own override too.

    Sources: https://developers.google.com/identity/protocols/oauth2/native-app,
    https://developers.google.com/identity/protocols/oauth2/web-server (offline access,
    ``prompt=consent``),
    https://developers.google.com/identity/openid-connect/openid-connect (the
    discovery document, the two ``iss`` forms).
    """

    name: ClassVar[str] = "google"

    def __init__(
        self,
        client_id: str,
        client_secret: str | None = None,
        redirect_uri: str | None = None,
        *,
        scope: str | Iterable[str] | None = ("openid", "email", "profile"),
        offline: bool = True,
        prompt: str | None = None,
        login_hint: str | None = None,
        server_url: str | None = None,
        authorize_url: str | None = None,
        token_url: str | None = None,
        jwks_url: str | None = None,
        revoke_url: str | None = None,
        userinfo_url: str | None = None,
        issuer: str | None = None,
        **settings: Any,
    ) -> None:
        preset = _google_preset(
            client_id,
            client_secret,
            scope,
            server_url,
            settings,
            authorize_url=authorize_url,
            token_url=token_url,
            jwks_url=jwks_url,
            revoke_url=revoke_url,
            userinfo_url=userinfo_url,
            issuer=issuer,
        )
        params: dict[str, str] = {}
        if offline:
            params["access_type"] = "offline"
        if prompt is not None:
            params["prompt"] = prompt
        if login_hint is not None:
            params["login_hint"] = login_hint
        preset.update(redirect_uri=redirect_uri, extra_authorization_params=params)
        self.__attrs_init__(**{**preset, **settings})


@attrs.frozen(kw_only=True, init=False)
class GoogleDevice(_GoogleIssuer, DeviceCode):
    """Google's OAuth 2.0 for TVs and limited-input devices (the device grant).

    The client is of the "TVs and Limited Input devices" type and sends its client
    secret with every token request (``client_secret_post``). Google's device answer
    names the page ``verification_url`` rather than RFC 8628's ``verification_uri``
    (both are read) and, while the user has not answered, the token endpoint answers
    ``authorization_pending`` with HTTP 428: the poll goes on. Only a few scopes are
    allowed (``openid``, ``email``, ``profile``, ``drive.file``, YouTube); id_tokens are
    validated as for :class:`Google`.

    Source: https://developers.google.com/identity/protocols/oauth2/limited-input-device.
    """

    name: ClassVar[str] = "google-device"

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        scope: str | Iterable[str] | None = ("openid", "email", "profile"),
        server_url: str | None = None,
        device_url: str | None = None,
        token_url: str | None = None,
        jwks_url: str | None = None,
        revoke_url: str | None = None,
        issuer: str | None = None,
        **settings: Any,
    ) -> None:
        preset = _google_preset(
            client_id,
            client_secret,
            scope,
            server_url,
            settings,
            device_url=device_url,
            token_url=token_url,
            jwks_url=jwks_url,
            revoke_url=revoke_url,
            issuer=issuer,
        )
        self.__attrs_init__(**{**preset, **settings})


# -- Microsoft Entra ID ---------------------------------------------------------------

_ENTRA_MULTI = ("common", "organizations")


def _entra(
    authority: str | None, tenant: str, tenants: Collection[str] | None
) -> tuple[str, IssuerRule]:
    """The tenant's v2.0 endpoint prefix and the issuer rule of its id_tokens."""
    if not isinstance(tenant, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]{0,255}", tenant):
        raise ConfigurationError(
            "tenant must be common, organizations, consumers, a tenant id or a domain"
        )
    base = (authority or ENTRA_AUTHORITY).rstrip("/")
    template = f"{base}/{_TENANT_PLACEHOLDER}/v2.0"
    lowered = tenant.lower()
    pinned = None if tenants is None else frozenset(t.lower() for t in tenants)
    if pinned is not None and not all(_GUID.fullmatch(t) for t in pinned):
        raise ConfigurationError("tenants must be tenant ids (GUIDs)")
    if lowered == "consumers":
        pinned = frozenset({ENTRA_CONSUMERS_TENANT_ID})
    elif _GUID.fullmatch(lowered):
        pinned = frozenset({lowered}) if pinned is None else pinned & {lowered}
        if not pinned:
            raise ConfigurationError("tenants must include the tenant itself")
    excluded = frozenset({ENTRA_CONSUMERS_TENANT_ID}) if lowered == "organizations" else frozenset()
    rule = IssuerRule(
        issuer=template,
        tenant_template=template,
        tenants=pinned,
        excluded_tenants=excluded,
    )
    return f"{base}/{tenant}", rule


def _entra_issuer(rule: IssuerRule) -> str:
    """The strategy's issuer: the tenant's own when a single tenant is accepted, else
    the template (as Entra's multi-tenant metadata names it)."""
    if rule.tenants is not None and len(rule.tenants) == 1 and rule.tenant_template:
        return rule.tenant_template.replace(_TENANT_PLACEHOLDER, next(iter(rule.tenants)))
    return rule.issuer


def _entra_preset(
    client_id: str,
    client_secret: str | None,
    scope: str | Iterable[str] | None,
    server_url: str | None,
    tenant: str,
    tenants: Collection[str] | None,
    token_url: str | None,
    jwks_url: str | None,
    settings: dict[str, Any],
) -> tuple[str, dict[str, Any]]:
    """The endpoint prefix and the fields :class:`EntraID` and :class:`EntraDevice`
    share: client, token endpoint, keys, issuer and the tenant settings."""
    prefix, rule = _entra(server_url, tenant, tenants)
    _secret_auth(client_secret, settings)
    return prefix, {
        "client_id": client_id,
        "client_secret": client_secret,
        "scope": scope,
        "token_endpoint": token_url or f"{prefix}/oauth2/v2.0/token",
        "jwks_uri": jwks_url or f"{prefix}/discovery/v2.0/keys",
        "issuer": _entra_issuer(rule),
        "assertion_audience": "endpoint",
        "tenant": tenant,
        "tenants": rule.tenants if tenants is None else frozenset(tenants),
        "authority": (server_url or ENTRA_AUTHORITY).rstrip("/"),
    }


class _EntraIssuer(_RuledIssuer):
    """Entra ID's strategies: id_tokens name the tenant-templated issuer."""

    __slots__ = ()

    tenant: str
    tenants: frozenset[str] | None
    authority: str

    def issuer_rule(self) -> IssuerRule:
        """The tenant-templated issuer rule of this app's tenant setting."""
        return _entra(self.authority, self.tenant, self.tenants)[1]


@attrs.frozen(kw_only=True, init=False)
class EntraID(_EntraIssuer, AuthorizationCode):
    """Microsoft Entra ID (the Microsoft identity platform, v2.0 endpoints): the
    authorization code flow with PKCE and OpenID Connect.

    ``tenant`` is ``common`` (work and personal accounts), ``organizations``,
    ``consumers``, a tenant id (GUID) or a tenant domain; the endpoints are
    ``{authority}/{tenant}/oauth2/v2.0/...``. A multi-tenant app's metadata names the
    issuer ``https://login.microsoftonline.com/{tenantid}/v2.0``: an id_token's ``iss``
    must then be that template filled with the token's own ``tid`` (a token whose
    ``iss`` names another tenant than its ``tid`` is refused), ``tenants`` pins the
    tenant ids accepted, ``organizations`` refuses personal accounts, and a tenant id
    or ``consumers`` pins its own. The ``offline_access`` scope (in the default) is
    what brings a refresh token. With a client secret it is sent in the form; with
    ``private_key_jwt`` the assertion's ``aud`` is the token endpoint.

    Sources: https://learn.microsoft.com/en-us/entra/identity-platform/v2-protocols-oidc
    (the templated issuer, validating it with ``tid``),
    https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow,
    https://learn.microsoft.com/en-us/entra/identity-platform/scopes-oidc
    (``offline_access``).
    """

    name: ClassVar[str] = "entra"

    tenant: str = "common"
    """The tenant of the endpoints: ``common``, ``organizations``, ``consumers``, a
    tenant id or a domain."""
    tenants: frozenset[str] | None = None
    """The only tenant ids whose users are accepted (``None``: as the tenant allows)."""
    authority: str = ENTRA_AUTHORITY
    """The authority the endpoints and the issuer template hang under."""

    def __init__(
        self,
        client_id: str,
        client_secret: str | None = None,
        redirect_uri: str | None = None,
        *,
        tenant: str = "common",
        tenants: Collection[str] | None = None,
        scope: str | Iterable[str] | None = ("openid", "profile", "offline_access"),
        prompt: str | None = None,
        server_url: str | None = None,
        authorize_url: str | None = None,
        token_url: str | None = None,
        jwks_url: str | None = None,
        **settings: Any,
    ) -> None:
        prefix, preset = _entra_preset(
            client_id,
            client_secret,
            scope,
            server_url,
            tenant,
            tenants,
            token_url,
            jwks_url,
            settings,
        )
        preset.update(
            redirect_uri=redirect_uri,
            authorization_endpoint=authorize_url or f"{prefix}/oauth2/v2.0/authorize",
            extra_authorization_params={} if prompt is None else {"prompt": prompt},
        )
        self.__attrs_init__(**{**preset, **settings})


@attrs.frozen(kw_only=True, init=False)
class EntraDevice(_EntraIssuer, DeviceCode):
    """Microsoft Entra ID's device code flow (v2.0), for public clients.

    The device answer is RFC 8628's (``verification_uri``, ``message``); the poll
    answers ``authorization_pending`` until the user signs in. Tenants, the templated
    issuer and ``offline_access`` work as for :class:`EntraID`.

    Source: https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-device-code.
    """

    name: ClassVar[str] = "entra-device"

    tenant: str = "organizations"
    """The tenant of the endpoints (see :attr:`EntraID.tenant`)."""
    tenants: frozenset[str] | None = None
    """The only tenant ids whose users are accepted (``None``: as the tenant allows)."""
    authority: str = ENTRA_AUTHORITY
    """The authority the endpoints and the issuer template hang under."""

    def __init__(
        self,
        client_id: str,
        client_secret: str | None = None,
        *,
        tenant: str = "organizations",
        tenants: Collection[str] | None = None,
        scope: str | Iterable[str] | None = ("openid", "profile", "offline_access"),
        server_url: str | None = None,
        device_url: str | None = None,
        token_url: str | None = None,
        jwks_url: str | None = None,
        **settings: Any,
    ) -> None:
        prefix, preset = _entra_preset(
            client_id,
            client_secret,
            scope,
            server_url,
            tenant,
            tenants,
            token_url,
            jwks_url,
            settings,
        )
        preset["device_authorization_endpoint"] = device_url or f"{prefix}/oauth2/v2.0/devicecode"
        self.__attrs_init__(**{**preset, **settings})


@attrs.frozen(kw_only=True, init=False)
class EntraClientCredentials(ClientCredentials):
    """Microsoft Entra ID's client credentials grant (v2.0): an app's own token.

    It needs a real tenant (a tenant id or domain, not ``common``, ``organizations``
    or ``consumers``), and every scope is a resource's ``/.default`` (the
    application permissions granted to the app): the default is Microsoft Graph's.
    The secret is sent in the form; with ``private_key_jwt`` the assertion's ``aud``
    is the token endpoint.

    Source: https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow.
    """

    name: ClassVar[str] = "entra-client-credentials"

    def __init__(
        self,
        client_id: str,
        client_secret: str | None = None,
        *,
        tenant: str,
        scope: str | Iterable[str] | None = ("https://graph.microsoft.com/.default",),
        server_url: str | None = None,
        token_url: str | None = None,
        **settings: Any,
    ) -> None:
        if isinstance(tenant, str) and tenant.lower() in (*_ENTRA_MULTI, "consumers"):
            raise ConfigurationError(
                "the client credentials grant needs the app's own tenant (its id or domain)"
            )
        prefix, _rule = _entra(server_url, tenant, None)
        if not client_secret and "client_auth" not in settings:
            raise ConfigurationError(
                "the client credentials grant needs a client_secret or a client_auth "
                "(a certificate's private_key_jwt)"
            )
        scopes = (scope,) if isinstance(scope, str) else tuple(scope or ())
        words = [w for s in scopes for w in s.split()]
        if not words or not all(w.endswith("/.default") for w in words):
            raise ConfigurationError("client credentials scopes must be '<resource>/.default'")
        _secret_auth(client_secret, settings)
        preset: dict[str, Any] = {
            "client_id": client_id,
            "client_secret": client_secret,
            "scope": words,
            "token_endpoint": token_url or f"{prefix}/oauth2/v2.0/token",
            "assertion_audience": "endpoint",
        }
        self.__attrs_init__(**{**preset, **settings})


# -- GitHub ---------------------------------------------------------------------------


@attrs.frozen(kw_only=True, init=False)
class GitHub(FormAnswers, AuthorizationCode):
    """GitHub's web application flow (OAuth apps and GitHub Apps), with PKCE.

    GitHub is not an OpenID Connect provider (no id_token). Its token endpoint answers
    form-encoded unless asked for JSON: anyoauth sends ``Accept: application/json``
    and still reads a form answer strictly (:class:`FormAnswers`). It reports errors
    (``bad_verification_code``, ``incorrect_client_credentials``...) inside HTTP 200
    answers: an answer with ``error`` is an error whatever its status, never a token.
    A GitHub App with expiring user tokens answers ``expires_in``, a ``refresh_token``
    and ``refresh_token_expires_in`` (kept in :attr:`Token.extra`); the refresh token
    rotates. The answer's ``scope`` is comma-separated. The client secret goes in the
    form. ``server_url`` names a GitHub Enterprise Server.

    Sources: https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps,
    https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/refreshing-user-access-tokens,
    https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/scopes-for-oauth-apps,
    https://github.blog/changelog/2025-07-14-pkce-support-for-oauth-and-github-app-authentication.
    """

    name: ClassVar[str] = "github"

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        redirect_uri: str | None = None,
        *,
        scope: str | Iterable[str] | None = None,
        login: str | None = None,
        allow_signup: bool | None = None,
        server_url: str = GITHUB_URL,
        authorize_url: str | None = None,
        token_url: str | None = None,
        **settings: Any,
    ) -> None:
        base = server_url.rstrip("/")
        params: dict[str, str] = {}
        if login is not None:
            params["login"] = login
        if allow_signup is not None:
            params["allow_signup"] = "true" if allow_signup else "false"
        _secret_auth(client_secret, settings)
        preset: dict[str, Any] = {
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "authorization_endpoint": authorize_url or f"{base}/login/oauth/authorize",
            "token_endpoint": token_url or f"{base}/login/oauth/access_token",
            "extra_authorization_params": params,
        }
        self.__attrs_init__(**{**preset, **settings})


@attrs.frozen(kw_only=True, init=False)
class GitHubDevice(FormAnswers, DeviceCode):
    """GitHub's device flow (OAuth apps and GitHub Apps with it turned on).

    A public client: the device request and the polls carry the ``client_id`` only.
    Answers are read as :class:`GitHub`'s (form or JSON, errors at HTTP 200 are
    errors); ``authorization_pending`` and ``slow_down`` (which adds 5 seconds to the
    interval) come at HTTP 200 too and drive the polling as usual.

    Source: https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps#device-flow.
    """

    name: ClassVar[str] = "github-device"

    def __init__(
        self,
        client_id: str,
        *,
        scope: str | Iterable[str] | None = None,
        server_url: str = GITHUB_URL,
        device_url: str | None = None,
        token_url: str | None = None,
        **settings: Any,
    ) -> None:
        base = server_url.rstrip("/")
        settings.setdefault("client_auth", "none")
        preset: dict[str, Any] = {
            "client_id": client_id,
            "scope": scope,
            "device_authorization_endpoint": device_url or f"{base}/login/device/code",
            "token_endpoint": token_url or f"{base}/login/oauth/access_token",
        }
        self.__attrs_init__(**{**preset, **settings})


# -- GitLab ---------------------------------------------------------------------------


def _gitlab(
    client_id: str,
    client_secret: str | None,
    scope: str | Iterable[str] | None,
    server_url: str,
    token_url: str | None,
    settings: dict[str, Any],
) -> dict[str, Any]:
    """The fields :class:`GitLab` and :class:`GitLabDevice` share: the client and the
    instance's endpoints (``token_url`` overriding the token one)."""
    base = server_url.rstrip("/")
    _secret_auth(client_secret, settings)
    return {
        "client_id": client_id,
        "client_secret": client_secret,
        "scope": scope,
        "issuer": base,
        "token_endpoint": f"{base}/oauth/token" if token_url is None else token_url,
        "jwks_uri": f"{base}/oauth/discovery/keys",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "userinfo_endpoint": f"{base}/oauth/userinfo",
    }


@attrs.frozen(kw_only=True, init=False)
class GitLab(AuthorizationCode):
    """GitLab (gitlab.com or a self-managed instance at ``server_url``) as an OAuth 2.0
    and OpenID Connect provider: the authorization code flow with PKCE.

    The issuer is the instance's base URL; with ``openid`` in the scope the id_token is
    validated with the instance's keys (``/oauth/discovery/keys``). Access tokens live
    two hours and every refresh rotates the refresh token (the old one stops working).
    A confidential app sends its secret in the form; a public one (no secret) relies
    on PKCE.

    Sources: https://docs.gitlab.com/api/oauth2/,
    https://docs.gitlab.com/integration/openid_connect_provider/.
    """

    name: ClassVar[str] = "gitlab"

    def __init__(
        self,
        client_id: str,
        client_secret: str | None = None,
        redirect_uri: str | None = None,
        *,
        scope: str | Iterable[str] | None = ("openid", "read_user"),
        server_url: str = GITLAB_URL,
        authorize_url: str | None = None,
        token_url: str | None = None,
        **settings: Any,
    ) -> None:
        preset = _gitlab(client_id, client_secret, scope, server_url, token_url, settings)
        preset["redirect_uri"] = redirect_uri
        preset["authorization_endpoint"] = authorize_url or f"{preset['issuer']}/oauth/authorize"
        self.__attrs_init__(**{**preset, **settings})


@attrs.frozen(kw_only=True, init=False)
class GitLabDevice(DeviceCode):
    """GitLab's device authorization grant (GitLab 17.1 and later) at
    ``{server_url}/oauth/authorize_device``; id_tokens and refresh rotation as for
    :class:`GitLab`.

    Source: https://docs.gitlab.com/api/oauth2/#device-authorization-grant-flow.
    """

    name: ClassVar[str] = "gitlab-device"

    def __init__(
        self,
        client_id: str,
        client_secret: str | None = None,
        *,
        scope: str | Iterable[str] | None = ("openid", "read_user"),
        server_url: str = GITLAB_URL,
        device_url: str | None = None,
        token_url: str | None = None,
        **settings: Any,
    ) -> None:
        preset = _gitlab(client_id, client_secret, scope, server_url, token_url, settings)
        preset["device_authorization_endpoint"] = (
            device_url or f"{preset['issuer']}/oauth/authorize_device"
        )
        self.__attrs_init__(**{**preset, **settings})
