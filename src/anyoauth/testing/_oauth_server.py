"""The emulator's generic, standards-following OAuth 2.0 / OpenID Connect server.

Authorization code with PKCE (RFC 6749, RFC 7636), implicit, refresh token rotation,
client credentials, the device authorization grant (RFC 8628), token exchange (RFC
8693: subject and actor tokens it issued, access, refresh or id tokens asked for), the
JWT bearer grant (RFC 7523: assertions signed by a registered client's keys, each
``jti`` once), revocation (RFC 7009),
introspection (RFC 7662), metadata (RFC 8414, OpenID Connect Discovery), the ``iss``
authorization response parameter (RFC 9207), RS256 id_tokens and their JWKS, userinfo,
a protected resource, and the response modes ``query``, ``fragment``, ``form_post`` (an
auto-submitting form) and the signed JARM modes ``jwt``, ``query.jwt``,
``fragment.jwt``, ``form_post.jwt`` (a ``response`` JWT signed with the id_token key).
Its issuer is the base URL. DPoP (RFC 9449): tokens bound to
the key of the proof that asked for them (``token_type`` ``DPoP``, ``cnf.jkt``), codes
bound by ``dpop_jkt``, refresh tokens of public clients bound to their key, protected
resources that take a bound token only as ``Authorization: DPoP`` with a proof, and
server nonces; the proofs themselves are checked by :mod:`._dpop`. Which client may do
what, and how clients authenticate, is :mod:`._oauth_clients`'s; the options that stage
faults and attacks (a wrong ``iss``, another issuer in the metadata, forged id_token
claims, a nonce challenge on every proof, a wrong ``token_type``, a forged signed
response: :data:`JARM_ATTACKS`, a spoilt token exchange answer:
:data:`TOKEN_EXCHANGE_ATTACKS`) are attributes of :class:`EmulatedOAuthServer`. Mutual
TLS (RFC 8705): clients authenticated by their TLS certificate, access tokens bound to
it (``cnf.x5t#S256``), and the endpoints' aliases under :data:`OAUTH_MTLS_PREFIX`.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, NoReturn, TypedDict
from urllib.parse import parse_qsl, urlsplit

import attrs

from ._dpop import (
    DPOP_SIGNING_ALGS,
    DPoPNonceError,
    DPoPProofError,
    DPoPVerifier,
    VerifiedProof,
)
from ._oauth_ciba import CIBA_GRANT, BackchannelDesk
from ._oauth_clients import (
    AUTH_METHODS,
    DEVICE_GRANT,
    GRANT_TYPES,
    HMAC_ALGS,
    JWT_BEARER_GRANT,
    KEY_ALGS,
    MTLS_METHODS,
    TOKEN_EXCHANGE_GRANT,
    ClientRegistry,
    GrantAssertionError,
    RegisteredClient,
    certificate_thumbprint,
)
from ._oauth_par import (
    REQUEST_OBJECT_ALGS,
    PushedRequest,
    PushedRequests,
    RequestObjectError,
    RequestObjects,
)
from ._provider_profiles import ENTRA_DEFAULT_TID, entra_route, provider_routes
from ._provider_profiles_more import ProviderQuirks, more_provider_routes, okta_route
from ._toolkit import (
    NO_STORE,
    PERSON,
    Clock,
    ConsentDesk,
    EmulatedProvider,
    EmulatorResponse,
    Grant,
    Handler,
    Reject,
    Request,
    Route,
    Ticket,
    b64url,
    fail,
    json_response,
    media_type,
    oauth_error,
    optional,
    page,
    redirect,
    with_fragment,
    with_query,
)

if TYPE_CHECKING:
    from joserfc.jwk import OKPKey, RSAKey

__all__ = [
    "AUTHORIZATION_DETAILS_ATTACKS",
    "ID_TOKEN_SIGNING_ALGS",
    "JARM_ATTACKS",
    "OAUTH_API_PATH",
    "OAUTH_AUTHORIZE_PATH",
    "OAUTH_DECISION_PATH",
    "OAUTH_DEVICE_AUTHORIZATION_PATH",
    "OAUTH_END_SESSION_PATH",
    "OAUTH_INTROSPECTION_PATH",
    "OAUTH_JWKS_PATH",
    "OAUTH_METADATA_PATH",
    "OAUTH_MTLS_PREFIX",
    "OAUTH_PAR_PATH",
    "OAUTH_REVOCATION_PATH",
    "OAUTH_TOKEN_PATH",
    "OAUTH_USERINFO_PATH",
    "OAUTH_VERIFICATION_DECISION_PATH",
    "OAUTH_VERIFICATION_PATH",
    "OPENID_CONFIGURATION_PATH",
    "TOKEN_EXCHANGE_ATTACKS",
    "AccessGrant",
    "EmulatedOAuthServer",
    "OAuthEndpoints",
]

OAUTH_AUTHORIZE_PATH = "/oauth/authorize"
"""The generic server's authorization endpoint (``response_type=code`` or ``token``)."""
OAUTH_DECISION_PATH = "/oauth/authorize/decision"
"""Where the generic server's consent form posts the user's decision."""
OAUTH_TOKEN_PATH = "/oauth/token"
"""The generic server's token endpoint (RFC 6749 section 3.2)."""
OAUTH_PAR_PATH = "/oauth/par"
"""The generic server's pushed authorization request endpoint (RFC 9126)."""
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
OAUTH_END_SESSION_PATH = "/oauth/logout"
"""The generic server's end-session endpoint (OpenID Connect RP-Initiated Logout 1.0)."""
OAUTH_BACKCHANNEL_PATH = "/oauth/bc-authorize"
"""The generic server's backchannel authentication endpoint (OpenID CIBA Core 7)."""
OAUTH_API_PATH = "/api/me"
"""A protected resource of the generic server: who the Bearer token is for."""
OAUTH_METADATA_PATH = "/.well-known/oauth-authorization-server"
"""The generic server's authorization server metadata (RFC 8414)."""
OPENID_CONFIGURATION_PATH = "/.well-known/openid-configuration"
"""The generic server's OpenID Connect Discovery document (same content)."""
OAUTH_MTLS_PREFIX = "/mtls"
"""The generic server's mutual-TLS endpoint aliases (RFC 8705 5) are its token, device
authorization, revocation, introspection and userinfo endpoints under this prefix
(``/mtls/oauth/token``, ...); their calls count as ``"oauth.mtls.token"``, ..."""
_MTLS_ALIASED = {
    "token_endpoint": OAUTH_TOKEN_PATH,
    "device_authorization_endpoint": OAUTH_DEVICE_AUTHORIZATION_PATH,
    "revocation_endpoint": OAUTH_REVOCATION_PATH,
    "introspection_endpoint": OAUTH_INTROSPECTION_PATH,
    "userinfo_endpoint": OAUTH_USERINFO_PATH,
}

JARM_ATTACKS = frozenset(
    {"tampered", "wrong_iss", "wrong_aud", "expired", "unknown_key", "alg_none", "alg_hs256"}
)
"""How :attr:`EmulatedOAuthServer.jarm_attack` spoils every signed authorization response:
``tampered`` (a parameter changed after signing), ``wrong_iss``, ``wrong_aud``,
``expired`` (``exp`` two minutes past), ``unknown_key`` (signed by a key not in the
JWKS), ``alg_none`` (unsigned, ``alg`` ``none``), ``alg_hs256`` (HMAC-signed with the
published public key as the secret)."""
ID_TOKEN_SIGNING_ALGS = ("RS256", "EdDSA")
"""How :attr:`EmulatedOAuthServer.id_token_algorithm` may sign id_tokens."""
TOKEN_EXCHANGE_ATTACKS = frozenset(
    {
        "missing_issued_token_type",
        "n_a_access_token",
        "forged_issued_token_type",
        "echo_subject_token",
    }
)
"""How :attr:`EmulatedOAuthServer.token_exchange_attack` spoils token exchange answers:
``missing_issued_token_type`` (the required field left out), ``n_a_access_token`` (an
access token typed ``N_A``), ``forged_issued_token_type`` (an access token labelled an
id_token, typed ``Bearer``), ``echo_subject_token`` (every exchange refused with an
error description quoting the subject and actor tokens)."""
AUTHORIZATION_DETAILS_ATTACKS = frozenset(
    {"not_array", "no_type", "huge", "other", "omit_on_refresh", "string"}
)
"""How :attr:`EmulatedOAuthServer.authorization_details_attack` spoils the
``authorization_details`` of token and introspection answers: ``not_array`` (one object
instead of an array), ``no_type`` (a detail without ``type``), ``huge`` (a detail of
about 100 kB), ``other`` (details of another type than granted, with the granted ones),
``string`` (the array as a JSON string), ``omit_on_refresh`` (refresh answers leave
them out, as RFC 9396 7 allows)."""
_ACCESS_TYPE = "urn:ietf:params:oauth:token-type:access_token"
_REFRESH_TYPE = "urn:ietf:params:oauth:token-type:refresh_token"
_ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
RESPONSE_MODES = (
    "query",
    "fragment",
    "form_post",
    "jwt",
    "query.jwt",
    "fragment.jwt",
    "form_post.jwt",
)
JARM_TTL = 300
SCOPES = ("openid", "profile", "email")
CODE_TTL = 10 * 60
SLOW_DOWN_STEP = 5
SUBJECT = "emulated-user-1"
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
_LOOPBACK = frozenset({"127.0.0.1", "::1"})
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
_THUMBPRINT = re.compile(r"[A-Za-z0-9_-]{43}")
_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")


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
    end_session_endpoint: str
    metadata_url: str
    openid_configuration_url: str


@attrs.frozen(kw_only=True)
class AccessGrant(Grant):
    """What one of the generic server's access tokens stands for."""

    client_id: str
    """The client it was issued to."""
    scope: str
    """The scope granted, space-separated."""
    subject: str
    """Who it is for: the emulated user, or the client itself (client credentials)."""
    family: str
    """The grant it belongs to: every token of one authorization shares it."""
    issued_at: float
    """When it was issued."""
    jkt: str | None = None
    """The RFC 7638 thumbprint of the DPoP key it is bound to; ``None``: a bearer token."""
    certificate_thumbprint: str | None = None
    """The ``x5t#S256`` of the TLS client certificate it is bound to (RFC 8705 3), or
    ``None`` for a plain bearer token."""
    audience: tuple[str, ...] = ()
    """Where it may be used: the resources (RFC 8707) and audiences it was issued
    for, in order; ``()``: anywhere (introspection then names the client)."""


@attrs.frozen
class _Code:
    client_id: str
    redirect_uri: str
    redirect_uri_sent: bool
    challenge: str | None
    scope: str
    nonce: str | None
    expires_at: float
    auth_time: float
    family: str
    dpop_jkt: str | None = None
    resources: tuple[str, ...] = ()


@attrs.frozen
class _Refresh:
    client_id: str
    scope: str
    family: str
    issued_at: float
    expires_at: float | None
    auth_time: float
    jkt: str | None = None
    certificate_thumbprint: str | None = None
    resources: tuple[str, ...] = ()


@attrs.define
class _Device:
    client_id: str
    scope: str
    user_code: str = attrs.field(repr=False)
    expires_at: float
    interval: int
    family: str
    last_poll: float | None = None
    status: Literal["pending", "allowed", "denied"] = "pending"
    decided_at: float = 0.0
    resources: tuple[str, ...] = ()


def _new_id() -> str:
    return secrets.token_urlsafe(12)


def _token() -> str:
    return secrets.token_urlsafe(32)


def _words(scope: str | None) -> list[str]:
    return list(dict.fromkeys((scope or "").split()))


def _spoilt_details(details: list[dict[str, Any]], attack: str) -> object:
    """``details`` as :data:`AUTHORIZATION_DETAILS_ATTACKS` ``attack`` spoils them."""
    if attack == "not_array":
        return details[0]
    if attack == "no_type":
        return [{k: v for k, v in d.items() if k != "type"} for d in details]
    if attack == "huge":
        return [{**details[0], "padding": "x" * 100_000}]
    if attack == "other":
        return [*details, {"type": "all_accounts", "actions": ["transfer"]}]
    if attack == "string":
        return json.dumps(details)
    return details


def _normal_user_code(user_code: str) -> str:
    return re.sub(r"[\s-]", "", user_code).upper()


def _redirect_matches(registered: str, requested: str) -> bool:
    if registered == requested:
        return True
    # RFC 8252 section 7.3: a loopback IP redirect URI matches on any port.
    mine, theirs = urlsplit(registered), urlsplit(requested)
    try:
        _ = theirs.port  # raises on a malformed port
    except ValueError:
        return False
    return (
        mine.scheme == theirs.scheme == "http"
        and mine.hostname in _LOOPBACK
        and mine.hostname == theirs.hostname
        and theirs.username is None
        and theirs.password is None
        and (mine.path or "/") == (theirs.path or "/")
        and mine.query == theirs.query
        and not theirs.fragment
    )


_AUTH_PARAMS = frozenset({"client_secret", "client_assertion", "client_assertion_type"})
"""Form parameters of client authentication: not part of a pushed request."""


@attrs.frozen
class _Refusal:
    error: str
    description: str
    redirect_uri: str | None


def _response_mode(response_type: str, requested: str | None) -> str | None:
    """The response mode to answer with: the one requested (``jwt`` made explicit), or
    the response type's default; ``None`` when the request cannot be answered that way
    (unknown, or a token in a query string)."""
    default = "fragment" if response_type == "token" else "query"
    if requested is None:
        return default
    if requested == "jwt":
        return f"{default}.jwt"
    if requested not in RESPONSE_MODES:
        return None
    if response_type == "token" and requested.startswith("query"):
        return None
    return requested


_AUTO_SUBMIT = "document.forms[0].submit();"


def _form_post_page(redirect_uri: str, answer: Iterable[tuple[str, str]]) -> EmulatorResponse:
    """OAuth 2.0 Form Post Response Mode: a page whose form posts ``answer`` to
    ``redirect_uri`` as soon as it loads (a button does it without scripts)."""
    fields = "".join(
        f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">\n'
        for name, value in answer
    )
    body = (
        f'<form method="post" action="{html.escape(redirect_uri)}">\n{fields}'
        '<noscript><button type="submit">Continue</button></noscript>\n</form>\n'
        f"<script>{_AUTO_SUBMIT}</script>\n"
    )
    return page(200, "Submit this form", "Returning to the application\u2026", body)


def _bad(error: str, description: str, status: int = 400) -> EmulatorResponse:
    return oauth_error(status, error, description)


def _form(request: Request) -> dict[str, str]:
    if media_type(request.headers) != "application/x-www-form-urlencoded":
        fail(_bad("invalid_request", "Content-Type must be application/x-www-form-urlencoded."))
    pairs = parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True)
    # RFC 6749 section 3.2: empty parameters count as omitted; none may repeat.
    pairs = [(name, value) for name, value in pairs if value]
    names = [name for name, _ in pairs]
    repeated = sorted({name for name in names if names.count(name) > 1} - _REPEATABLE)
    if repeated:
        fail(_bad("invalid_request", f"Repeated parameters: {', '.join(repeated)}."))
    return dict(pairs)


_REPEATABLE = frozenset({"resource", "audience"})
"""Parameters a token exchange may repeat (RFC 8693 2.1)."""


def _all_of(request: Request, name: str) -> list[str]:
    """Every value of the repeatable form parameter ``name``."""
    pairs = parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True)
    return [value for key, value in pairs if key == name and value]


_SECRET_NAMES = frozenset(
    {
        "code",
        "code_verifier",
        "refresh_token",
        "device_code",
        "client_secret",
        "client_assertion",
        "assertion",
        "subject_token",
        "actor_token",
        "password",
    }
)
"""Token request parameters whose values :attr:`EmulatedOAuthServer.token_requests`
does not keep."""
_RESOURCE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[\x21-\x7e]*")
_MAX_RESOURCES = 20


def _resource_list(value: str | None) -> list[str]:
    """The resources of an authorization parameter: space-joined repeats, or a request
    object's JSON array (RFC 8707 2, RFC 9101)."""
    if not value:
        return []
    if value.startswith("["):
        try:
            items = json.loads(value)
        except ValueError:
            return [value]
        return [str(item) for item in items] if isinstance(items, list) else [value]
    return value.split(" ")


def _bad_resource(uri: str) -> bool:
    return len(uri) > 2048 or "#" in uri or not _RESOURCE.fullmatch(uri)


class EmulatedOAuthServer(EmulatedProvider[AccessGrant]):
    """The generic server: its clients, codes, refresh tokens, device authorizations and
    signing keys, and the options that shape it.

    Access tokens live in :attr:`tokens` with their :class:`AccessGrant`; refresh tokens,
    codes and device codes in tables of their own.
    """

    def __init__(
        self,
        clock: Clock,
        consent: ConsentDesk,
        *,
        expires_in: int = 3600,
        refresh_expires_in: int | None = None,
        refresh_reuse_revokes: bool = False,
        device_interval: int = 5,
        device_expires_in: int = 600,
        metadata_issuer: str | None = None,
        send_iss: bool | str = True,
        id_token_claims: Mapping[str, object] | None = None,
        assertion_audience: Literal["issuer", "issuer_or_endpoint"] = "issuer_or_endpoint",
        require_dpop: bool = False,
        dpop_nonce: bool = False,
        dpop_nonce_rotates: bool = False,
        dpop_always_challenge: bool = False,
        dpop_algorithms: Iterable[str] = DPOP_SIGNING_ALGS,
        dpop_iat_window: float = 60,
        token_type: str | None = None,
        mutual_tls: bool = False,
        require_pushed_authorization_requests: bool = False,
        require_signed_request_object: bool = False,
        par_expires_in: int = 60,
        par_response: Mapping[str, object] | None = None,
        jarm_attack: str | None = None,
        id_token_algorithm: str = "RS256",  # noqa: S107 - an algorithm, no secret
        token_exchange_attack: str | None = None,
        userinfo_signed: bool = False,
        userinfo_sub: str | None = None,
    ) -> None:
        super().__init__(clock, consent)
        self.mutual_tls = mutual_tls
        """Whether the metadata advertises mutual TLS (RFC 8705): the two mTLS client
        authentication methods, ``tls_client_certificate_bound_access_tokens`` and
        ``mtls_endpoint_aliases``. Clients authenticate by certificate and tokens are
        bound either way, whenever the connection presents a certificate."""
        self.expires_in = expires_in
        """Lifetime in seconds of access and id tokens."""
        self.refresh_expires_in = refresh_expires_in
        """Lifetime in seconds of refresh tokens; ``None``: until used or revoked."""
        self.refresh_reuse_revokes = refresh_reuse_revokes
        """A spent refresh token presented again revokes its whole grant."""
        self.device_interval = device_interval
        """The device flow's polling ``interval``, in seconds."""
        self.device_expires_in = device_expires_in
        """Lifetime in seconds of device codes and user codes."""
        self.metadata_issuer = metadata_issuer
        """The ``issuer`` the metadata documents name; ``None``: the base URL."""
        self.send_iss = send_iss
        """The ``iss`` authorization response parameter: ``True`` sends the issuer,
        ``False`` nothing, a string that string."""
        self.id_token_claims: dict[str, object] = dict(id_token_claims or {})
        """Claims that override every id_token's; ``None`` removes one."""
        self.clients = ClientRegistry(clock, assertion_audience=assertion_audience)
        """The registered clients and their authentication."""
        self.codes: dict[str, _Code] = {}
        """Authorization codes not exchanged yet."""
        self.used_codes: dict[str, str] = {}
        """Exchanged codes, each with its grant family."""
        self.refresh: dict[str, _Refresh] = {}
        """Live refresh tokens."""
        self.spent_refresh: dict[str, str] = {}
        """Rotated refresh tokens, each with its grant family."""
        self.devices: dict[str, _Device] = {}
        """Device authorizations, by device code."""
        self.user_codes: dict[str, str] = {}
        """Device codes of pending authorizations, by normalised user code."""
        self.keys: list[RSAKey] = []
        """The id_token signing keys, the current one first (made when first needed)."""
        self.require_dpop = require_dpop
        """Token requests without a DPoP proof are refused (``invalid_dpop_proof``)."""
        self.token_type = token_type
        """The ``token_type`` token answers name; ``None``: ``DPoP`` for a bound token,
        ``Bearer`` otherwise (another value stages a lying server)."""
        self.dpop = DPoPVerifier(
            clock,
            algorithms=dpop_algorithms,
            iat_window=dpop_iat_window,
            nonce_required=dpop_nonce,
            nonce_rotates=dpop_nonce_rotates,
            always_challenge=dpop_always_challenge,
        )
        """The DPoP proof checks, the server's nonce and the ``jti`` values seen."""
        self.require_pushed_authorization_requests = require_pushed_authorization_requests
        """The authorization endpoint takes only pushed requests (``request_uri``)."""
        self.require_signed_request_object = require_signed_request_object
        """The authorization endpoint takes only parameters in a signed request object
        (by value, or pushed)."""
        self.par_expires_in = par_expires_in
        """Seconds a pushed request's ``request_uri`` works."""
        self.par_response: dict[str, object] = dict(par_response or {})
        """Fields that override every push answer's (``request_uri``, ``expires_in``...);
        ``None`` removes one. Stages hostile answers."""
        self.pushed = PushedRequests(clock)
        """The pushed requests not used yet."""
        self.request_objects = RequestObjects(clock)
        """Request object checks, and the ``jti`` values already seen."""
        self.jarm_attack = jarm_attack
        """``None``, or how every signed authorization response is spoilt (one of
        :data:`JARM_ATTACKS`)."""
        self.id_token_algorithm = id_token_algorithm
        """How id_tokens are signed, and what the metadata's
        ``id_token_signing_alg_values_supported`` lists: one of
        :data:`ID_TOKEN_SIGNING_ALGS` (``EdDSA``: with an Ed25519 key, published in the
        key set beside the RSA keys)."""
        self.ed25519_key: OKPKey | None = None
        """The Ed25519 id_token signing key (made when first needed)."""
        self.token_exchange_attack = token_exchange_attack
        """``None``, or how every token exchange answer is spoilt (one of
        :data:`TOKEN_EXCHANGE_ATTACKS`)."""
        self.userinfo_signed = userinfo_signed
        """The userinfo endpoint answers a signed JWT (``application/jwt``, RS256 with
        the id_token key, ``iss`` and ``aud`` set) instead of JSON."""
        self.userinfo_sub = userinfo_sub
        """``None``, or the ``sub`` the userinfo endpoint answers instead of the user's
        (stages a server answering about another user)."""
        self.post_logout_redirect_uris: dict[str, tuple[str, ...]] = {}
        """The registered ``post_logout_redirect_uri`` values, by client."""
        self.ended_sessions: list[str] = []
        """The clients whose session the end-session endpoint ended, in order."""
        self.authorization_details_types: tuple[str, ...] = ()
        """The ``authorization_details`` types (RFC 9396) the server accepts and lists in
        its metadata; empty: any type. A detail of another type, or details that are not
        an array of objects each with a string ``type``, are refused with
        ``invalid_authorization_details`` at the authorization, pushed authorization,
        device authorization and token endpoints."""
        self.authorization_details_attack: str | None = None
        """``None``, or how the details of token and introspection answers are spoilt
        (one of :data:`AUTHORIZATION_DETAILS_ATTACKS`)."""
        self.granted_details: dict[str, list[dict[str, Any]]] = {}
        """The ``authorization_details`` granted, by grant family."""
        self.token_details: dict[str, list[dict[str, Any]]] = {}
        """The ``authorization_details`` of each access token issued with some."""
        self.allowed_resources: tuple[str, ...] | None = None
        """Resource indicators (RFC 8707): ``None`` takes any absolute URI without a
        fragment; otherwise only these, and any other is refused with
        ``invalid_target`` at the authorization, device authorization and token
        endpoints."""
        self.one_resource_per_token = False
        """Refuse (``invalid_target``) a token or refresh request naming more than one
        resource, as panva's oidc-provider does."""
        self.required_token_params: dict[str, str] = {}
        """Parameters every token endpoint request but a refresh must carry with these
        values (``invalid_request`` otherwise): proves extra parameters arrive."""
        self.required_refresh_params: dict[str, str] = {}
        """Parameters every refresh request must carry with these values."""
        self.extension_grants: dict[str, tuple[str, str]] = {}
        """Grant types the token endpoint takes beyond its own (RFC 6749 4.5), each
        with the parameter and value that grant must carry; any client may use them,
        and gets a token (and a refresh token when it may refresh)."""
        self.token_requests: list[tuple[tuple[str, str], ...]] = []
        """The parameters of every token endpoint request, in order, without the values
        of secret parameters (codes, tokens, client secrets, assertions)."""
        self.backchannel = BackchannelDesk(clock)
        """CIBA: the pending backchannel requests, the pings to send, and their knobs."""
        self.entra_tenant = ENTRA_DEFAULT_TID
        """The tenant id (``tid``) of the user signing in on the Entra ID paths."""
        self.silent_clients: set[str] = set()
        """Clients whose authorization responses carry no ``iss`` (those that started
        on Entra ID's or GitHub's authorize path, as those providers send none)."""
        self.response_extras: dict[str, list[tuple[str, str]]] = {}
        """Parameters the next authorization response of a client also carries, once
        (Apple's ``user`` field on a first authorization)."""
        self.quirks = ProviderQuirks()
        """The knobs and records of Apple's, Slack's, Salesforce's... emulation
        (:mod:`._provider_profiles_more`)."""

    def __repr__(self) -> str:
        return f"<EmulatedOAuthServer clients={len(self.clients)} tokens={len(self.tokens)}>"

    # -- registration and test controls ---------------------------------------------------

    def add_client(
        self,
        client_id: str,
        *,
        client_secret: str | None,
        redirect_uris: Iterable[str],
        grant_types: Iterable[str],
        auth_method: str,
        jwks: Mapping[str, Any] | None,
        require_pkce: bool,
        basic_form_encoded: bool,
        scopes: Iterable[str] | None,
        tls_client_auth: tuple[str, str] | None = None,
        certificate_bound_access_tokens: bool = True,
    ) -> None:
        """Register (or replace) a client (see :meth:`ClientRegistry.add`)."""
        self.clients.add(
            client_id,
            client_secret=client_secret,
            redirect_uris=redirect_uris,
            grant_types=grant_types,
            auth_method=auth_method,
            jwks=jwks,
            require_pkce=require_pkce,
            basic_form_encoded=basic_form_encoded,
            scopes=scopes,
            tls_client_auth=tls_client_auth,
            certificate_bound_access_tokens=certificate_bound_access_tokens,
        )

    def revoke_all(self) -> None:
        """Revoke every access and refresh token, unused code and pending device
        authorization."""
        super().revoke_all()
        self.codes.clear()
        self.refresh.clear()
        self.devices.clear()
        self.user_codes.clear()
        self.pushed.clear()

    def decide_device(self, user_code: str, allow: bool) -> None:
        """Decide a pending device authorization as its user; :class:`ValueError` when the
        user code is unknown, expired or decided."""
        device = self._pending_device(user_code)
        if device is None:
            raise ValueError("the user code is unknown, expired or already decided")
        self._decide(device, allow)

    def rotate_key(self, *, keep_old: bool) -> str:
        """Sign id_tokens with a new key from now on; return its ``kid``."""
        key = self._new_key()
        self.keys = [key, *self.keys] if keep_old else [key]
        assert key.kid is not None
        return key.kid

    @staticmethod
    def endpoints(base_url: str) -> OAuthEndpoints:
        """The server's URLs when it is served on ``base_url`` (also its issuer)."""
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
            "end_session_endpoint": base + OAUTH_END_SESSION_PATH,
            "metadata_url": base + OAUTH_METADATA_PATH,
            "openid_configuration_url": base + OPENID_CONFIGURATION_PATH,
        }

    def routes(self) -> Mapping[str, Route]:
        """The generic server's paths, and Google's, GitHub's and GitLab's
        (:mod:`._provider_profiles`), Apple's, Auth0's, Slack's, Discord's, Dropbox's,
        Salesforce's and X's (:mod:`._provider_profiles_more`)."""
        generic = self._generic_routes()
        return {
            **generic,
            **provider_routes(self, generic),
            **more_provider_routes(self, generic),
        }

    def client_secret_of(self, client_id: str) -> str | None:
        """The registered secret of ``client_id`` (``None``: unknown or public)."""
        client = self.clients.by_id.get(client_id)
        return None if client is None else client.secret

    def _generic_routes(self) -> dict[str, Route]:
        return {
            OAUTH_DECISION_PATH: Route("POST", "oauth.decision", self.consent.decision),
            OAUTH_VERIFICATION_DECISION_PATH: Route(
                "POST", "oauth.verification_decision", self.consent.decision
            ),
            OAUTH_AUTHORIZE_PATH: Route("GET", "oauth.authorize", self._authorize),
            OAUTH_TOKEN_PATH: Route("POST", "oauth.token", self._nonced(self._token_endpoint)),
            OAUTH_PAR_PATH: Route("POST", "oauth.par", self._nonced(self._par)),
            OAUTH_DEVICE_AUTHORIZATION_PATH: Route(
                "POST", "oauth.device_authorization", self._nonced(self._device_authorization)
            ),
            OAUTH_VERIFICATION_PATH: Route("GET", "oauth.verification", self._verification),
            OAUTH_REVOCATION_PATH: Route("POST", "oauth.revoke", self._nonced(self._revoke)),
            OAUTH_INTROSPECTION_PATH: Route(
                "POST", "oauth.introspect", self._nonced(self._introspect)
            ),
            OAUTH_JWKS_PATH: Route("GET", "oauth.jwks", self._jwks),
            OAUTH_USERINFO_PATH: Route("GET", "oauth.userinfo", self._nonced(self._userinfo)),
            OAUTH_API_PATH: Route("GET", "oauth.api", self._nonced(self._api)),
            OAUTH_END_SESSION_PATH: Route("GET", "oauth.end_session", self._end_session),
            OAUTH_BACKCHANNEL_PATH: Route(
                "POST", "oauth.backchannel_authentication", self._nonced(self._backchannel)
            ),
            OAUTH_METADATA_PATH: Route("GET", "oauth.metadata", self._metadata),
            OPENID_CONFIGURATION_PATH: Route("GET", "oauth.openid_configuration", self._metadata),
        }

    def route(self, path: str) -> Route | None:
        """The mutual-TLS aliases: an aliased endpoint's route under
        :data:`OAUTH_MTLS_PREFIX`, counted under its own name."""
        if not path.startswith(OAUTH_MTLS_PREFIX + "/"):
            generic = self._generic_routes()
            return entra_route(self, generic, path) or okta_route(self, generic, path)
        inner = path[len(OAUTH_MTLS_PREFIX) :]
        if inner not in _MTLS_ALIASED.values():
            return None
        route = self.routes()[inner]
        return attrs.evolve(route, name="oauth.mtls." + route.name.removeprefix("oauth."))

    # -- metadata and keys --------------------------------------------------------------

    def _metadata(self, request: Request) -> EmulatorResponse:
        base = request.base
        methods = list(AUTH_METHODS)
        document = {
            "issuer": self.metadata_issuer or base,
            "authorization_endpoint": base + OAUTH_AUTHORIZE_PATH,
            "token_endpoint": base + OAUTH_TOKEN_PATH,
            "device_authorization_endpoint": base + OAUTH_DEVICE_AUTHORIZATION_PATH,
            "revocation_endpoint": base + OAUTH_REVOCATION_PATH,
            "introspection_endpoint": base + OAUTH_INTROSPECTION_PATH,
            "jwks_uri": base + OAUTH_JWKS_PATH,
            "userinfo_endpoint": base + OAUTH_USERINFO_PATH,
            "userinfo_signing_alg_values_supported": ["RS256"],
            "end_session_endpoint": base + OAUTH_END_SESSION_PATH,
            "pushed_authorization_request_endpoint": base + OAUTH_PAR_PATH,
            "require_pushed_authorization_requests": self.require_pushed_authorization_requests,
            "request_parameter_supported": True,
            "request_uri_parameter_supported": False,
            "request_object_signing_alg_values_supported": list(REQUEST_OBJECT_ALGS),
            "require_signed_request_object": self.require_signed_request_object,
            "scopes_supported": list(SCOPES),
            "response_types_supported": ["code", "token"],
            "response_modes_supported": list(RESPONSE_MODES),
            "authorization_signing_alg_values_supported": ["RS256"],
            "grant_types_supported": sorted(GRANT_TYPES),
            "token_endpoint_auth_methods_supported": methods,
            "token_endpoint_auth_signing_alg_values_supported": [*HMAC_ALGS, *KEY_ALGS],
            "revocation_endpoint_auth_methods_supported": methods,
            "introspection_endpoint_auth_methods_supported": methods,
            "code_challenge_methods_supported": ["S256"],
            "dpop_signing_alg_values_supported": list(self.dpop.algorithms),
            "authorization_response_iss_parameter_supported": True,
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [self.id_token_algorithm],
            "claims_supported": [
                "iss",
                "sub",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "at_hash",
                "name",
                "given_name",
                "family_name",
                "email",
                "email_verified",
            ],
        }
        document.update(
            backchannel_authentication_endpoint=base + OAUTH_BACKCHANNEL_PATH,
            backchannel_token_delivery_modes_supported=["poll", "ping"],
            backchannel_user_code_parameter_supported=False,
            backchannel_authentication_request_signing_alg_values_supported=list(
                REQUEST_OBJECT_ALGS
            ),
        )
        if self.mutual_tls:
            document["token_endpoint_auth_methods_supported"] = [*methods, *MTLS_METHODS]
            document["tls_client_certificate_bound_access_tokens"] = True
            document["mtls_endpoint_aliases"] = {
                name: base + OAUTH_MTLS_PREFIX + path for name, path in _MTLS_ALIASED.items()
            }
        if self.authorization_details_types:
            document["authorization_details_types_supported"] = list(
                self.authorization_details_types
            )
        return json_response(200, document)

    def _bound_to(self, request: Request, client_id: str) -> str | None:
        """The thumbprint tokens issued for ``request`` are bound to: the connection's
        client certificate's, unless the client opted out (RFC 8705 3)."""
        client = self.clients.get(client_id)
        der = request.client_certificate
        if der is None or client is None or not client.certificate_bound_access_tokens:
            return None
        return certificate_thumbprint(der)

    def _jwks(self, request: Request) -> EmulatorResponse:
        self._signing_key()
        keys = [key.as_dict(private=False) for key in self.keys]
        if self.ed25519_key is not None:
            keys.append(self.ed25519_key.as_dict(private=False))
        return json_response(200, {"keys": keys})

    def _new_key(self) -> RSAKey:
        from joserfc.jwk import RSAKey

        parameters = {"use": "sig", "alg": "RS256"}
        return RSAKey.generate_key(2048, parameters=parameters, auto_kid=True)  # type: ignore[arg-type]

    def _signing_key(self) -> RSAKey:
        if not self.keys:
            self.keys.append(self._new_key())
        return self.keys[0]

    # -- issuing ------------------------------------------------------------------------

    def _iss(self, request: Request) -> list[tuple[str, str]]:
        send = self.send_iss
        if send is False:
            return []
        return [("iss", request.base if send is True else send)]

    def _issue(
        self,
        request: Request,
        *,
        client_id: str,
        scope: str,
        family: str,
        subject: str = SUBJECT,
        refresh: bool = False,
        openid: bool = False,
        nonce: str | None = None,
        auth_time: float | None = None,
        jkt: str | None = None,
        refresh_jkt: str | None = None,
        resources: tuple[str, ...] = (),
        granted: tuple[str, ...] | None = None,
    ) -> dict[str, Any]:
        now = self.clock()
        audience = resources
        if request.path.endswith(OAUTH_TOKEN_PATH) and request.method == "POST":
            audience += tuple(a for a in _all_of(request, "audience") if a not in audience)
        ttl = self.expires_in
        access_token = _token()
        bound = self._bound_to(request, client_id)
        grant = AccessGrant(
            expires_at=now + ttl,
            client_id=client_id,
            scope=scope,
            subject=subject,
            family=family,
            issued_at=now,
            jkt=jkt,
            certificate_thumbprint=bound,
            audience=audience,
        )
        self.tokens.issue(access_token, grant)
        payload: dict[str, Any] = {
            "access_token": access_token,
            "token_type": self.token_type or ("DPoP" if jkt is not None else "Bearer"),
            "expires_in": ttl,
        }
        if scope:
            payload["scope"] = scope
        if refresh:
            refresh_token = _token()
            lifetime = self.refresh_expires_in
            self.refresh[refresh_token] = _Refresh(
                client_id=client_id,
                scope=scope,
                family=family,
                issued_at=now,
                expires_at=None if lifetime is None else now + lifetime,
                auth_time=now if auth_time is None else auth_time,
                jkt=refresh_jkt,
                certificate_thumbprint=bound,
                resources=resources if granted is None else granted,
            )
            payload["refresh_token"] = refresh_token
        if openid:
            payload["id_token"] = self._id_token(
                request, client_id, access_token, nonce, now if auth_time is None else auth_time
            )
        self._add_details(payload, self.granted_details.get(family), refreshed=False)
        return payload

    # -- rich authorization requests (RFC 9396) -----------------------------------------

    def _details_refusal(self, text: str | None) -> str | None:
        """Why ``authorization_details`` (the parameter's JSON text) is refused, or
        ``None`` when it is absent or acceptable."""
        if text is None:
            return None
        try:
            details = json.loads(text)
        except ValueError:
            return "authorization_details is not JSON."
        if not isinstance(details, list) or not all(isinstance(d, dict) for d in details):
            return "authorization_details must be an array of objects."
        for detail in details:
            kind = detail.get("type")
            if not isinstance(kind, str) or not kind:
                return "Each authorization detail needs a type."
            if self.authorization_details_types and kind not in self.authorization_details_types:
                return "An authorization_details type is not supported."
        return None

    def _narrowed_details(
        self, form: Mapping[str, str], family: str
    ) -> list[dict[str, Any]] | EmulatorResponse | None:
        """The details a token request asks for (RFC 9396 6.1: each one granted, or
        ``invalid_authorization_details``); ``None`` when it asks for none."""
        text = form.get("authorization_details")
        if text is None:
            return None
        refused = self._details_refusal(text)
        granted = self.granted_details.get(family, [])
        if refused is None and not all(d in granted for d in json.loads(text)):
            refused = "The authorization_details exceed what was granted."
        if refused is not None:
            return _bad("invalid_authorization_details", refused)
        narrowed: list[dict[str, Any]] = json.loads(text)
        return narrowed

    def _add_details(
        self,
        payload: dict[str, Any],
        details: list[dict[str, Any]] | None,
        *,
        refreshed: bool,
    ) -> None:
        """Put ``details`` in a token answer (spoilt as :attr:`authorization_details_attack`
        says) and remember them for introspection."""
        if not details:
            return
        self.token_details[payload["access_token"]] = details
        attack = self.authorization_details_attack
        answer: object = details
        if attack == "omit_on_refresh":
            if refreshed:
                return
        elif attack is not None:
            answer = _spoilt_details(details, attack)
        payload["authorization_details"] = answer

    def _id_token(
        self,
        request: Request,
        client_id: str,
        access_token: str,
        nonce: str | None,
        auth_time: float,
    ) -> str:
        from joserfc import jwt

        now = int(self.clock())
        # at_hash: the left half of the access token's hash (SHA-512 for Ed25519).
        hashing = hashlib.sha512 if self.id_token_algorithm == "EdDSA" else hashlib.sha256
        digest = hashing(access_token.encode("ascii")).digest()
        claims: dict[str, Any] = {
            "iss": request.base,
            "sub": SUBJECT,
            "aud": client_id,
            "exp": now + self.expires_in,
            "iat": now,
            "auth_time": int(auth_time),
            "at_hash": b64url(digest[: len(digest) // 2]),
        }
        if nonce:
            claims["nonce"] = nonce
        for name, value in self.id_token_claims.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        if self.id_token_algorithm == "EdDSA":
            return self._eddsa_signed(claims)
        key = self._signing_key()
        return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key, algorithms=["RS256"])

    def _eddsa_signed(self, claims: Mapping[str, Any]) -> str:
        """``claims`` as a JWT signed with the Ed25519 key (``alg`` ``EdDSA``)."""
        import json

        from joserfc.jwk import OKPKey
        from joserfc.jws import JWSRegistry

        if self.ed25519_key is None:
            parameters = {"use": "sig", "alg": "EdDSA"}
            self.ed25519_key = OKPKey.generate_key("Ed25519", parameters=parameters, auto_kid=True)  # type: ignore[arg-type]
        key = self.ed25519_key
        header = {"alg": "EdDSA", "typ": "JWT", "kid": key.kid}
        signing_input = (
            f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        )
        # The model itself, not the registry's lookup (which warns on "EdDSA").
        signature = JWSRegistry.algorithms["EdDSA"].sign(signing_input.encode("ascii"), key)
        return f"{signing_input}.{b64url(signature)}"

    def _revoke_family(self, family: str) -> None:
        self.tokens.revoke_where(lambda grant: grant.family == family)
        for token in [t for t, r in self.refresh.items() if r.family == family]:
            del self.refresh[token]

    def _scope(self, client: RegisteredClient, requested: str | None) -> str | None:
        words = _words(requested)
        if client.scopes is None:
            return " ".join(words)
        if not words:
            return " ".join(client.scopes)
        return " ".join(words) if set(words) <= set(client.scopes) else None

    # -- the authorization endpoint -----------------------------------------------------

    def _authorize(self, request: Request) -> EmulatorResponse:
        query = {name: value for name, value in request.query.items() if value}
        self.consent.record(request.query)
        client = self.clients.get(query.get("client_id", ""))
        if client is None:
            return page(400, "Authorization failed", "Unknown client_id.")
        try:
            params, signed = self._authorization_params(request, client, query)
        except RequestObjectError as exc:
            return page(400, "Authorization failed", exc.description)
        checked = self._check_authorization(client, params, signed=signed)
        if isinstance(checked, _Refusal):
            if checked.redirect_uri is None:
                return page(400, "Authorization failed", checked.description)
            response_type = params.get("response_type", "")
            return self._error_redirect(
                request,
                checked.redirect_uri,
                response_type,
                checked.error,
                checked.description,
                {**params, "client_id": client.client_id},
                _response_mode(response_type, params.get("response_mode")),
            )
        return self.consent.show(
            client_id=client.client_id,
            params=checked,
            action=OAUTH_DECISION_PATH,
            title=f"Authorize {client.client_id}",
            decide=self._authorize_decision,
        )

    def _authorization_params(
        self, request: Request, client: RegisteredClient, query: Mapping[str, str]
    ) -> tuple[dict[str, str], bool]:
        """The authorization parameters of a request to the authorization endpoint, and
        whether they come from a verified request object: a pushed request's
        (``request_uri``, RFC 9126 4), a request object's (``request``, RFC 9101 5:
        nothing outside it counts), or the query's."""
        if "request_uri" in query:
            pushed = self.pushed.take(query["request_uri"], client.client_id)
            return dict(pushed.params), pushed.signed
        if self.require_pushed_authorization_requests:
            raise RequestObjectError(
                "This server takes only pushed authorization requests.", "invalid_request"
            )
        if "request" in query:
            params = self.request_objects.verify(
                query["request"], client_id=client.client_id, jwks=client.jwks, issuer=request.base
            )
            return params, True
        return dict(query), False

    def _check_authorization(
        self, client: RegisteredClient, params: Mapping[str, str], *, signed: bool
    ) -> dict[str, str] | _Refusal:
        """The consent ticket's parameters of an authorization request of ``client``,
        or why it is refused (with the redirect URI the refusal may go to, when one
        is known to be the client's)."""
        requested = params.get("redirect_uri")
        if requested is None:
            redirect_uri = client.redirect_uris[0] if len(client.redirect_uris) == 1 else None
        elif any(_redirect_matches(uri, requested) for uri in client.redirect_uris):
            redirect_uri = requested
        else:
            redirect_uri = None
        if redirect_uri is None:
            message = "The redirect_uri is missing or not registered for this client."
            return _Refusal("invalid_request", message, None)
        response_type = params.get("response_type", "")

        mode = _response_mode(response_type, params.get("response_mode"))

        def error(code: str, description: str) -> _Refusal:
            return _Refusal(code, description, redirect_uri)

        if self.require_signed_request_object and not signed:
            return error("invalid_request", "A signed request object is required.")
        if response_type not in ("code", "token"):
            return error("unsupported_response_type", "response_type must be code or token.")
        grant = "authorization_code" if response_type == "code" else "implicit"
        if grant not in client.grant_types:
            return error("unauthorized_client", f"The client may not use the {grant} grant.")
        if mode is None:
            return error("invalid_request", "Unsupported response_mode.")
        scope = self._scope(client, params.get("scope"))
        if scope is None:
            return error("invalid_scope", "A requested scope is not allowed for this client.")
        resources = _resource_list(params.get("resource"))
        if (refused := self._target_refusal(resources)) is not None:
            return error("invalid_target", refused)
        if response_type == "code":
            challenge, method = params.get("code_challenge"), params.get("code_challenge_method")
            if challenge is None and method is not None:
                return error("invalid_request", "code_challenge_method without code_challenge.")
            if challenge is None and client.require_pkce:
                return error("invalid_request", "PKCE is required: send an S256 code_challenge.")
            if challenge is not None and method != "S256":
                return error("invalid_request", "code_challenge_method must be S256.")
            if challenge is not None and not _CHALLENGE.fullmatch(challenge):
                return error("invalid_request", "The code_challenge is malformed.")
            dpop_jkt = params.get("dpop_jkt")
            if dpop_jkt is not None and not _THUMBPRINT.fullmatch(dpop_jkt):
                return error("invalid_request", "The dpop_jkt is not a JWK SHA-256 thumbprint.")
        refused = self._details_refusal(params.get("authorization_details"))
        if refused is not None:
            return error("invalid_authorization_details", refused)
        return {
            "response_type": response_type,
            "redirect_uri": redirect_uri,
            "redirect_uri_sent": "1" if requested is not None else "",
            "scope": scope,
            **{
                name: params[name]
                for name in (
                    "state",
                    "nonce",
                    "code_challenge",
                    "dpop_jkt",
                    "authorization_details",
                )
                if name in params
            },
            "response_mode": mode,
            **({"resource": " ".join(resources)} if resources else {}),
        }

    def _target_refusal(self, resources: list[str]) -> str | None:
        """Why ``resources`` (requested at any endpoint) are refused, or ``None``."""
        if len(resources) > _MAX_RESOURCES:
            return "Too many resource indicators."
        if any(_bad_resource(uri) for uri in resources):
            return "A resource is not an absolute URI without a fragment."
        if len(set(resources)) != len(resources):
            return "A resource is named twice."
        allowed = self.allowed_resources
        if allowed is not None and not set(resources) <= set(allowed):
            return "A resource is not known to this server."
        return None

    def _narrowed(
        self, request: Request, granted: tuple[str, ...]
    ) -> tuple[tuple[str, ...], EmulatorResponse | None]:
        """The resources a token or refresh request asks for (all those ``granted`` when
        it names none), or its ``invalid_target`` refusal (RFC 8707 2.2: only resources
        the grant covers)."""
        requested = _all_of(request, "resource")
        if (refused := self._target_refusal(requested)) is not None:
            return (), _bad("invalid_target", refused)
        if requested and granted and not set(requested) <= set(granted):
            return (), _bad("invalid_target", "A resource was not authorized by the grant.")
        chosen = tuple(requested) or granted
        if self.one_resource_per_token and len(chosen) > 1:
            return (), _bad("invalid_target", "Only one resource per access token.")
        return chosen, None

    def _par(self, request: Request) -> EmulatorResponse:
        """The pushed authorization request endpoint (RFC 9126 2): the client
        authenticates as at the token endpoint; the parameters (or a request object)
        are checked as the authorization endpoint would; the answer is ``201`` with a
        single-use ``request_uri`` and its ``expires_in``."""
        form = _form(request)
        client = self.clients.authenticate(request, form)
        if "request_uri" in form:
            return _bad("invalid_request", "A request_uri cannot be pushed.")
        signed = "request" in form
        if signed:
            try:
                params = self.request_objects.verify(
                    form["request"],
                    client_id=client.client_id,
                    jwks=client.jwks,
                    issuer=request.base,
                )
            except RequestObjectError as exc:
                return _bad(exc.error, exc.description)
        else:
            params = {name: value for name, value in form.items() if name not in _AUTH_PARAMS}
            if pushed_resources := _all_of(request, "resource"):
                params["resource"] = " ".join(pushed_resources)
        proof = self._proof(request)
        if proof is not None:
            # RFC 9449 section 10.1: a proof with the push binds the code to its key.
            if params.get("dpop_jkt", proof.jkt) != proof.jkt:
                return _bad("invalid_dpop_proof", "The DPoP proof's key is not the dpop_jkt.")
            params["dpop_jkt"] = proof.jkt
        checked = self._check_authorization(client, params, signed=signed)
        if isinstance(checked, _Refusal):
            return _bad(checked.error, checked.description)
        expires_in = self.par_expires_in
        pushed = PushedRequest(
            client_id=client.client_id,
            params=params,
            signed=signed,
            expires_at=self.clock() + expires_in,
        )
        answer: dict[str, object] = {
            "request_uri": self.pushed.push(pushed),
            "expires_in": expires_in,
        }
        for name, value in self.par_response.items():
            if value is None:
                answer.pop(name, None)
            else:
                answer[name] = value
        return json_response(201, answer, *NO_STORE)

    def _error_redirect(
        self,
        request: Request,
        redirect_uri: str,
        response_type: str,
        error: str,
        description: str,
        params: Mapping[str, str],
        mode: str | None,
    ) -> EmulatorResponse:
        answer = [("error", error), ("error_description", description)]
        answer += optional(params, "state")
        mode = mode or _response_mode(response_type, None) or "query"
        client_id = params.get("client_id", "")
        return self._respond(request, client_id, redirect_uri, mode, answer)

    def _respond(
        self,
        request: Request,
        client_id: str,
        redirect_uri: str,
        mode: str,
        answer: list[tuple[str, str]],
    ) -> EmulatorResponse:
        """The authorization response ``answer`` (``iss`` added) sent back as ``mode``
        asks: in the query or fragment of a redirect, in an auto-submitting form, or as
        one signed ``response`` JWT there (JARM)."""
        if mode.endswith("jwt"):
            place = mode.removesuffix("jwt").rstrip(".") or "query"
            answer = [("response", self._signed_response(request, client_id, answer))]
        else:
            silent = client_id in self.silent_clients
            place, answer = mode, answer + ([] if silent else self._iss(request))
            answer += self.response_extras.pop(client_id, [])
        if place == "form_post":
            return _form_post_page(redirect_uri, answer)
        where = with_fragment if place == "fragment" else with_query
        return redirect(where(redirect_uri, answer))

    def _signed_response(
        self, request: Request, client_id: str, answer: list[tuple[str, str]]
    ) -> str:
        """The JARM ``response`` JWT of ``answer``, spoilt as :attr:`jarm_attack` says."""
        import json

        from joserfc import jwt
        from joserfc.jwk import OctKey

        attack = self.jarm_attack
        now = int(self.clock())
        claims: dict[str, Any] = {
            "iss": "https://wrong-issuer.example" if attack == "wrong_iss" else request.base,
            "aud": "another-client" if attack == "wrong_aud" else client_id,
            "exp": now - 120 if attack == "expired" else now + JARM_TTL,
            **dict(answer),
        }
        key = self._new_key() if attack == "unknown_key" else self._signing_key()
        header = {"alg": "RS256", "kid": key.kid}
        if attack == "alg_none":
            encoded = json.dumps({"alg": "none"}).encode()
            return f"{b64url(encoded)}.{b64url(json.dumps(claims).encode())}."
        if attack == "alg_hs256":
            secret = OctKey.import_key(json.dumps(key.as_dict(private=False)).encode())
            return jwt.encode(
                {"alg": "HS256", "kid": key.kid}, claims, secret, algorithms=["HS256"]
            )
        token = jwt.encode(header, claims, key, algorithms=["RS256"])
        if attack == "tampered":
            head, _, rest = token.partition(".")
            signature = rest.rpartition(".")[2]
            forged = (
                {**claims, "code": "forged-" + _token()}
                if "code" in claims
                else {
                    **claims,
                    "error": "forged",
                }
            )
            token = f"{head}.{b64url(json.dumps(forged).encode())}.{signature}"
        return token

    def _authorize_decision(
        self, request: Request, ticket: Ticket, allow: bool
    ) -> EmulatorResponse:
        params = ticket.params
        redirect_uri, response_type = params["redirect_uri"], params["response_type"]
        mode = params["response_mode"]
        if not allow:
            return self._error_redirect(
                request,
                redirect_uri,
                response_type,
                "access_denied",
                "The user denied access.",
                {**params, "client_id": ticket.client_id},
                mode,
            )
        now, family = self.clock(), _new_id()
        tail = optional(params, "state")
        if params.get("authorization_details"):
            self.granted_details[family] = json.loads(params["authorization_details"])
        if response_type == "token":
            payload = self._issue(
                request, client_id=ticket.client_id, scope=params["scope"], family=family
            )
            answer = [
                ("access_token", payload["access_token"]),
                ("token_type", payload["token_type"]),
                ("expires_in", str(payload["expires_in"])),
                *optional(params, "scope"),
                *tail,
            ]
            return self._respond(request, ticket.client_id, redirect_uri, mode, answer)
        code = _token()
        self.codes[code] = _Code(
            client_id=ticket.client_id,
            redirect_uri=redirect_uri,
            redirect_uri_sent=bool(params["redirect_uri_sent"]),
            challenge=params.get("code_challenge"),
            scope=params["scope"],
            nonce=params.get("nonce"),
            expires_at=now + CODE_TTL,
            auth_time=now,
            family=family,
            dpop_jkt=params.get("dpop_jkt"),
            resources=tuple(_resource_list(params.get("resource"))),
        )
        return self._respond(request, ticket.client_id, redirect_uri, mode, [("code", code), *tail])

    # -- the token endpoint -------------------------------------------------------------

    def _token_endpoint(self, request: Request) -> EmulatorResponse:
        form = _form(request)
        proof = self._proof(request)
        if proof is None and self.require_dpop:
            return _bad("invalid_dpop_proof", "A DPoP proof is required.")
        client = self.clients.authenticate(request, form)
        grant_type = form.get("grant_type")
        if grant_type is None:
            return _bad("invalid_request", "Missing grant_type.")
        handlers: dict[
            str,
            Callable[
                [Request, RegisteredClient, dict[str, str], VerifiedProof | None],
                EmulatorResponse,
            ],
        ] = {
            "authorization_code": self._code_grant,
            "refresh_token": self._refresh_grant,
            "client_credentials": self._client_credentials_grant,
            DEVICE_GRANT: self._device_grant,
            TOKEN_EXCHANGE_GRANT: self._token_exchange_grant,
            JWT_BEARER_GRANT: self._jwt_bearer_grant,
            CIBA_GRANT: self._ciba_grant,
        }
        handler = handlers.get(grant_type)
        if handler is None and grant_type in self.extension_grants:
            handler = self._extension_grant
        if handler is None:
            return _bad("unsupported_grant_type", "Unsupported grant_type.")
        if grant_type not in client.grant_types and grant_type not in self.extension_grants:
            return _bad("unauthorized_client", f"The client may not use the {grant_type} grant.")
        pairs = parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True)
        self.token_requests.append(tuple((k, "" if k in _SECRET_NAMES else v) for k, v in pairs))
        required = (
            self.required_refresh_params
            if grant_type == "refresh_token"
            else self.required_token_params
        )
        missing = sorted(name for name, value in required.items() if form.get(name) != value)
        if missing:
            return _bad("invalid_request", f"Missing parameters: {', '.join(missing)}.")
        return handler(request, client, form, proof)

    def _code_grant(
        self,
        request: Request,
        client: RegisteredClient,
        form: dict[str, str],
        proof: VerifiedProof | None,
    ) -> EmulatorResponse:
        code_value = form.get("code")
        if code_value is None:
            return _bad("invalid_request", "Missing code.")
        if (family := self.used_codes.get(code_value)) is not None:
            # RFC 6749 section 4.1.2: a code used twice revokes what it was exchanged for.
            self._revoke_family(family)
            return _bad("invalid_grant", "The code has already been used.")
        code = self.codes.get(code_value)
        if code is None or code.expires_at <= self.clock():
            self.codes.pop(code_value, None)
            return _bad("invalid_grant", "The code is invalid or expired.")
        if code.client_id != client.client_id:
            return _bad("invalid_grant", "The code was issued to another client.")
        if code.dpop_jkt is not None:
            # RFC 9449 section 10: the code is bound to the key named by dpop_jkt.
            if proof is None:
                return _bad("invalid_dpop_proof", "This code needs a DPoP proof by its key.")
            if proof.jkt != code.dpop_jkt:
                return _bad("invalid_grant", "The DPoP proof's key is not the code's dpop_jkt.")
        redirect_uri = form.get("redirect_uri")
        if (code.redirect_uri_sent or redirect_uri is not None) and (
            redirect_uri != code.redirect_uri
        ):
            return _bad("invalid_grant", "The redirect_uri does not match the authorization.")
        verifier = form.get("code_verifier")
        if code.challenge is None:
            if verifier is not None:
                return _bad("invalid_grant", "A code_verifier was sent without a code_challenge.")
        elif verifier is None:
            return _bad("invalid_grant", "Missing code_verifier.")
        elif not _VERIFIER.fullmatch(verifier) or not secrets.compare_digest(
            b64url(hashlib.sha256(verifier.encode()).digest()), code.challenge
        ):
            return _bad("invalid_grant", "The code_verifier does not match the code_challenge.")
        resources, refusal = self._narrowed(request, code.resources)
        if refusal is not None:
            return refusal
        narrowed = self._narrowed_details(form, code.family)
        if isinstance(narrowed, EmulatorResponse):
            return narrowed
        del self.codes[code_value]
        self.used_codes[code_value] = code.family
        payload = self._issue(
            request,
            client_id=client.client_id,
            scope=code.scope,
            family=code.family,
            resources=resources,
            granted=code.resources,
            refresh="refresh_token" in client.grant_types,
            openid="openid" in code.scope.split(),
            nonce=code.nonce,
            auth_time=code.auth_time,
            **self._binding(client, proof),
        )
        if narrowed is not None:
            self._add_details(payload, narrowed, refreshed=False)
        return json_response(200, payload)

    def _refresh_grant(
        self,
        request: Request,
        client: RegisteredClient,
        form: dict[str, str],
        proof: VerifiedProof | None,
    ) -> EmulatorResponse:
        presented = form.get("refresh_token")
        if presented is None:
            return _bad("invalid_request", "Missing refresh_token.")
        if (spent := self.spent_refresh.get(presented)) is not None:
            if self.refresh_reuse_revokes:
                self._revoke_family(spent)
            return _bad("invalid_grant", "The refresh token has already been used.")
        record = self.refresh.get(presented)
        if record is None or (record.expires_at is not None and record.expires_at <= self.clock()):
            return _bad("invalid_grant", "The refresh token is invalid, expired or revoked.")
        if record.client_id != client.client_id:
            return _bad("invalid_grant", "The refresh token was issued to another client.")
        if record.jkt is not None:
            # RFC 9449 section 5: a public client's refresh token is bound to its key.
            if proof is None:
                return _bad("invalid_dpop_proof", "This refresh token needs a DPoP proof.")
            if proof.jkt != record.jkt:
                return _bad("invalid_grant", "The refresh token is bound to another DPoP key.")
        if (
            client.auth_method == "none"
            and record.certificate_thumbprint is not None
            and record.certificate_thumbprint != self._bound_to(request, client.client_id)
        ):
            # RFC 8705 4: a public client's refresh token is bound to its certificate.
            return _bad("invalid_grant", "The refresh token is bound to another certificate.")
        scope = record.scope
        if "scope" in form:
            requested = _words(form["scope"])
            if not set(requested) <= set(record.scope.split()):
                return _bad("invalid_scope", "The scope exceeds the one originally granted.")
            scope = " ".join(requested)
        resources, refusal = self._narrowed(request, record.resources)
        if refusal is not None:
            return refusal
        narrowed = self._narrowed_details(form, record.family)
        if isinstance(narrowed, EmulatorResponse):
            return narrowed
        del self.refresh[presented]
        self.spent_refresh[presented] = record.family
        payload = self._issue(
            request,
            client_id=client.client_id,
            scope=scope,
            family=record.family,
            resources=resources,
            granted=record.resources,
            refresh=True,
            openid="openid" in scope.split(),
            auth_time=record.auth_time,
            **self._binding(client, proof),
        )
        payload.pop("authorization_details", None)
        details = narrowed if narrowed is not None else self.granted_details.get(record.family)
        self._add_details(payload, details, refreshed=True)
        return json_response(200, payload)

    def _client_credentials_grant(
        self,
        request: Request,
        client: RegisteredClient,
        form: dict[str, str],
        proof: VerifiedProof | None,
    ) -> EmulatorResponse:
        if client.auth_method == "none":
            return _bad("unauthorized_client", "A public client cannot use client credentials.")
        scope = self._scope(client, form.get("scope"))
        if scope is None:
            return _bad("invalid_scope", "A requested scope is not allowed for this client.")
        resources, refusal = self._narrowed(request, ())
        if refusal is not None:
            return refusal
        refused = self._details_refusal(form.get("authorization_details"))
        if refused is not None:
            return _bad("invalid_authorization_details", refused)
        family = _new_id()
        if form.get("authorization_details"):
            self.granted_details[family] = json.loads(form["authorization_details"])
        payload = self._issue(
            request,
            client_id=client.client_id,
            scope=scope,
            family=family,
            subject=client.client_id,
            resources=resources,
            **self._binding(client, proof),
        )
        return json_response(200, payload)

    # -- extension grants: token exchange (RFC 8693), JWT bearer (RFC 7523) ---------------

    def _exchanged_subject(self, token: str | None, kind: str | None) -> str | None:
        """Who a subject or actor token this server issued stands for: a live access
        token or refresh token of the named type; ``None`` otherwise."""
        if token is None or kind is None:
            return None
        if kind == _ACCESS_TYPE:
            grant = self.tokens.valid(token)
            return None if grant is None else grant.subject
        if kind == _REFRESH_TYPE:
            record = self.refresh.get(token)
            if record is None or (
                record.expires_at is not None and record.expires_at <= self.clock()
            ):
                return None
            return SUBJECT
        return None

    def _token_exchange_grant(
        self,
        request: Request,
        client: RegisteredClient,
        form: dict[str, str],
        proof: VerifiedProof | None,
    ) -> EmulatorResponse:
        attack = self.token_exchange_attack
        subject_token, subject_type = form.get("subject_token"), form.get("subject_token_type")
        if subject_token is None or subject_type is None:
            return _bad("invalid_request", "subject_token and subject_token_type are required.")
        actor_token, actor_type = form.get("actor_token"), form.get("actor_token_type")
        if (actor_token is None) != (actor_type is None):
            return _bad("invalid_request", "actor_token and actor_token_type go together.")
        if attack == "echo_subject_token":
            return _bad("invalid_request", f"Rejected subject {subject_token} actor {actor_token}.")
        subject = self._exchanged_subject(subject_token, subject_type)
        if subject is None:
            return _bad(
                "invalid_grant", "The subject_token is invalid, expired or of another type."
            )
        if actor_token is not None and self._exchanged_subject(actor_token, actor_type) is None:
            return _bad("invalid_grant", "The actor_token is invalid, expired or of another type.")
        for uri in _all_of(request, "resource"):
            if "#" in uri or not urlsplit(uri).scheme:
                return _bad("invalid_target", "A resource is not an absolute URI.")
        resources, refusal = self._narrowed(request, ())
        if refusal is not None:
            return refusal
        scope = self._scope(client, form.get("scope"))
        if scope is None:
            return _bad("invalid_scope", "A requested scope is not allowed for this client.")
        wanted = form.get("requested_token_type", _ACCESS_TYPE)
        family = _new_id()
        if wanted == _ACCESS_TYPE:
            payload = self._issue(
                request,
                client_id=client.client_id,
                scope=scope,
                family=family,
                subject=subject,
                resources=resources,
                **self._binding(client, proof),
            )
            payload["issued_token_type"] = _ACCESS_TYPE
            if attack == "n_a_access_token":
                payload["token_type"] = "N_A"
            elif attack == "forged_issued_token_type":
                payload["issued_token_type"] = _ID_TOKEN_TYPE
        elif wanted == _REFRESH_TYPE:
            issued = self._issue(
                request, client_id=client.client_id, scope=scope, family=family, refresh=True
            )
            payload = {
                "access_token": issued["refresh_token"],
                "token_type": "N_A",
                "issued_token_type": _REFRESH_TYPE,
            }
        elif wanted == _ID_TOKEN_TYPE:
            now = self.clock()
            payload = {
                "access_token": self._id_token(request, client.client_id, _token(), None, now),
                "token_type": "N_A",
                "issued_token_type": _ID_TOKEN_TYPE,
                "expires_in": self.expires_in,
            }
        else:
            return _bad("invalid_request", "The requested_token_type is not supported.")
        if attack == "missing_issued_token_type":
            payload.pop("issued_token_type", None)
        return json_response(200, payload)

    def _jwt_bearer_grant(
        self,
        request: Request,
        client: RegisteredClient,
        form: dict[str, str],
        proof: VerifiedProof | None,
    ) -> EmulatorResponse:
        assertion = form.get("assertion")
        if assertion is None:
            return _bad("invalid_request", "Missing assertion.")
        try:
            claims = self.clients.grant_assertion(request, assertion)
        except GrantAssertionError as error:
            return _bad("invalid_grant", str(error))
        return self._granted_token(request, client, form, proof, subject=claims["sub"])

    def _extension_grant(
        self,
        request: Request,
        client: RegisteredClient,
        form: dict[str, str],
        proof: VerifiedProof | None,
    ) -> EmulatorResponse:
        name, value = self.extension_grants[form["grant_type"]]
        sent = form.get(name)
        if sent is None or not secrets.compare_digest(sent.encode(), value.encode()):
            return _bad("invalid_grant", f"The grant's {name} is missing or wrong.")
        return self._granted_token(
            request,
            client,
            form,
            proof,
            subject=client.client_id,
            refresh="refresh_token" in client.grant_types,
        )

    def _granted_token(
        self,
        request: Request,
        client: RegisteredClient,
        form: dict[str, str],
        proof: VerifiedProof | None,
        *,
        subject: str,
        refresh: bool = False,
    ) -> EmulatorResponse:
        """The answer to a grant whose credential was accepted: ``invalid_scope`` for a
        scope the client may not have, the resource indicators' refusal, or a new token
        family for ``subject`` (with a refresh token when ``refresh``), bound to the
        request's DPoP key when it sent a proof."""
        scope = self._scope(client, form.get("scope"))
        if scope is None:
            return _bad("invalid_scope", "A requested scope is not allowed for this client.")
        resources, refusal = self._narrowed(request, ())
        if refusal is not None:
            return refusal
        payload = self._issue(
            request,
            client_id=client.client_id,
            scope=scope,
            family=_new_id(),
            subject=subject,
            refresh=refresh,
            resources=resources,
            **self._binding(client, proof),
        )
        return json_response(200, payload)

    # -- the device authorization grant -------------------------------------------------

    def _device_authorization(self, request: Request) -> EmulatorResponse:
        form = _form(request)
        self._proof(request)
        client = self.clients.authenticate(request, form)
        if DEVICE_GRANT not in client.grant_types:
            return _bad("unauthorized_client", "The client may not use the device grant.")
        scope = self._scope(client, form.get("scope"))
        if scope is None:
            return _bad("invalid_scope", "A requested scope is not allowed for this client.")
        device_resources = _all_of(request, "resource")
        if (refused := self._target_refusal(device_resources)) is not None:
            return _bad("invalid_target", refused)
        refused = self._details_refusal(form.get("authorization_details"))
        if refused is not None:
            return _bad("invalid_authorization_details", refused)
        family = _new_id()
        if form.get("authorization_details"):
            self.granted_details[family] = json.loads(form["authorization_details"])
        now = self.clock()
        for device_code in [c for c, d in self.devices.items() if d.expires_at <= now]:
            self.user_codes.pop(self.devices[device_code].user_code, None)
        while True:
            letters = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(8))
            if letters not in self.user_codes:
                break
        device_code, user_code = _token(), f"{letters[:4]}-{letters[4:]}"
        expires_in, interval = self.device_expires_in, self.device_interval
        self.devices[device_code] = _Device(
            client_id=client.client_id,
            scope=scope,
            user_code=letters,
            expires_at=now + expires_in,
            interval=interval,
            family=family,
            resources=tuple(device_resources),
        )
        self.user_codes[letters] = device_code
        verification_uri = request.base + OAUTH_VERIFICATION_PATH
        payload = {
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": verification_uri,
            "verification_uri_complete": with_query(verification_uri, [("user_code", user_code)]),
            "expires_in": expires_in,
            "interval": interval,
        }
        return json_response(200, payload)

    def _pending_device(self, user_code: str) -> _Device | None:
        device = self.devices.get(self.user_codes.get(_normal_user_code(user_code), ""))
        if device is None or device.status != "pending" or device.expires_at <= self.clock():
            return None
        return device

    def _decide(self, device: _Device, allow: bool) -> None:
        device.status = "allowed" if allow else "denied"
        device.decided_at = self.clock()
        self.user_codes.pop(device.user_code, None)

    def _verification(self, request: Request) -> EmulatorResponse:
        entry = (
            f'<form method="get" action="{html.escape(OAUTH_VERIFICATION_PATH)}">\n'
            '<label>Code <input type="text" name="user_code" autocomplete="off" '
            'autocapitalize="characters" spellcheck="false"></label>\n'
            '<button type="submit">Continue</button>\n'
            "</form>\n"
        )
        user_code = request.query.get("user_code")
        if not user_code:
            return page(200, "Connect a device", "Enter the code your device shows.", entry)
        device = self._pending_device(user_code)
        if device is None:
            message = "This code is unknown, expired or already used."
            return page(400, "Unknown code", message, entry)
        shown = f"{device.user_code[:4]}-{device.user_code[4:]}"
        return self.consent.show(
            client_id=device.client_id,
            params={"user_code": device.user_code, "scope": device.scope},
            action=OAUTH_VERIFICATION_DECISION_PATH,
            title="Connect a device",
            decide=self._verification_decision,
            note=f"Make sure your device shows the code {shown}.",
        )

    def _verification_decision(
        self, request: Request, ticket: Ticket, allow: bool
    ) -> EmulatorResponse:
        device = self._pending_device(ticket.params["user_code"])
        if device is None:
            return page(400, "Unknown code", "This code is unknown, expired or already used.")
        self._decide(device, allow)
        if allow:
            return page(200, "Device connected", "You can return to your device.")
        return page(200, "Access denied", "The device was not connected.")

    def _device_grant(
        self,
        request: Request,
        client: RegisteredClient,
        form: dict[str, str],
        proof: VerifiedProof | None,
    ) -> EmulatorResponse:
        device_code = form.get("device_code")
        if device_code is None:
            return _bad("invalid_request", "Missing device_code.")
        device = self.devices.get(device_code)
        if device is None or device.client_id != client.client_id:
            return _bad("invalid_grant", "The device_code is invalid or already used.")
        now = self.clock()
        if device.expires_at <= now:
            return _bad("expired_token", "The device_code has expired.")
        if device.status == "allowed":
            resources, refusal = self._narrowed(request, device.resources)
            if refusal is not None:
                return refusal
            narrowed = self._narrowed_details(form, device.family)
            if isinstance(narrowed, EmulatorResponse):
                return narrowed
            del self.devices[device_code]
            payload = self._issue(
                request,
                client_id=client.client_id,
                scope=device.scope,
                family=device.family,
                resources=resources,
                granted=device.resources,
                refresh="refresh_token" in client.grant_types,
                openid="openid" in device.scope.split(),
                auth_time=device.decided_at,
                **self._binding(client, proof),
            )
            if narrowed is not None:
                self._add_details(payload, narrowed, refreshed=False)
            return json_response(200, payload)
        if device.status == "denied":
            return _bad("access_denied", "The user denied the authorization.")
        last, device.last_poll = device.last_poll, now
        if last is not None and now - last < device.interval:
            # RFC 8628 section 3.5: slow down, and poll 5 seconds slower from now on.
            device.interval += SLOW_DOWN_STEP
            return _bad("slow_down", f"Poll at most every {device.interval} seconds.")
        return _bad("authorization_pending", "The user has not decided yet.")

    # -- CIBA (OpenID Client-Initiated Backchannel Authentication Core 1.0) ---------------

    def _backchannel(self, request: Request) -> EmulatorResponse:
        form = _form(request)
        self._proof(request)
        client = self.clients.authenticate(request, form)
        if CIBA_GRANT not in client.grant_types:
            return _bad("unauthorized_client", "The client may not use CIBA.")
        if "request" in form:
            try:
                params = self.request_objects.verify(
                    form["request"],
                    client_id=client.client_id,
                    jwks=client.jwks,
                    issuer=request.base,
                )
            except RequestObjectError as exc:
                return _bad("invalid_request", str(exc))
            form = {k: str(v) for k, v in params.items()}
        scope = self._scope(client, form.get("scope"))
        if scope is None:
            return _bad("invalid_scope", "A requested scope is not allowed for this client.")
        status, payload = self.backchannel.start(client.client_id, scope, form, _new_id())
        return json_response(status, payload)

    def _ciba_grant(
        self,
        request: Request,
        client: RegisteredClient,
        form: dict[str, str],
        proof: VerifiedProof | None,
    ) -> EmulatorResponse:
        outcome, pending = self.backchannel.redeem(client.client_id, form.get("auth_req_id"))
        if pending is None:
            descriptions = {
                "invalid_request": "Missing auth_req_id.",
                "invalid_grant": "The auth_req_id is invalid or already used.",
                "expired_token": "The auth_req_id has expired.",
                "access_denied": "The user denied the authentication.",
                "slow_down": "Poll less often.",
                "authorization_pending": "The user has not decided yet.",
            }
            return _bad(outcome, descriptions[outcome])
        payload = self._issue(
            request,
            client_id=client.client_id,
            scope=pending.scope,
            family=pending.family,
            refresh="refresh_token" in client.grant_types,
            openid=True,
            auth_time=pending.decided_at,
            **self._binding(client, proof),
        )
        return json_response(200, payload)

    # -- revocation and introspection ---------------------------------------------------

    def _revoke(self, request: Request) -> EmulatorResponse:
        form = _form(request)
        self._proof(request)
        client = self.clients.authenticate(request, form)
        token = form.get("token")
        if token is None:
            return _bad("invalid_request", "Missing token.")
        grant = self.tokens.find(token)
        refresh = self.refresh.get(token)
        owner = grant.client_id if grant is not None else None
        owner = refresh.client_id if refresh is not None else owner
        if owner is not None and owner != client.client_id:
            return _bad("unauthorized_client", "The token was issued to another client.")
        if refresh is not None:
            # Revoking a refresh token revokes its whole grant (RFC 7009 section 2.1).
            self._revoke_family(refresh.family)
        elif owner is not None:
            self.tokens.revoke(token)
        # Unknown, expired and already revoked tokens get 200 too (RFC 7009 section 2.2).
        return EmulatorResponse(status=200, headers=NO_STORE)

    def _introspect(self, request: Request) -> EmulatorResponse:
        form = _form(request)
        self._proof(request)
        self.clients.authenticate(request, form)
        token = form.get("token")
        if token is None:
            return _bad("invalid_request", "Missing token.")
        grant = self.tokens.valid(token)
        if grant is not None:
            assert grant.expires_at is not None
            answer: dict[str, Any] = {
                "active": True,
                "scope": grant.scope,
                "client_id": grant.client_id,
                "token_type": "Bearer" if grant.jkt is None else "DPoP",
                "exp": int(grant.expires_at),
                "iat": int(grant.issued_at),
                "sub": grant.subject,
                "aud": grant.client_id,
                "iss": request.base,
            }
            if grant.audience:
                # RFC 7662 2.2 / RFC 8707: the resources and audiences it was issued for.
                answer["aud"] = (
                    grant.audience[0] if len(grant.audience) == 1 else list(grant.audience)
                )
            if grant.jkt is not None:
                answer["cnf"] = {"jkt": grant.jkt}
            if grant.certificate_thumbprint is not None:
                answer.setdefault("cnf", {})["x5t#S256"] = grant.certificate_thumbprint
            details = self.token_details.get(token)
            attack = self.authorization_details_attack
            if details and attack is not None and attack != "omit_on_refresh":
                answer["authorization_details"] = _spoilt_details(details, attack)
            elif details:
                answer["authorization_details"] = details
            return json_response(200, answer)
        refresh = self.refresh.get(token)
        if refresh is not None and (
            refresh.expires_at is None or refresh.expires_at > self.clock()
        ):
            answer = {
                "active": True,
                "scope": refresh.scope,
                "client_id": refresh.client_id,
                "token_type": "refresh_token",
                "iat": int(refresh.issued_at),
                "sub": SUBJECT,
                "aud": refresh.client_id,
                "iss": request.base,
            }
            if refresh.expires_at is not None:
                answer["exp"] = int(refresh.expires_at)
            if refresh.jkt is not None:
                answer["cnf"] = {"jkt": refresh.jkt}
            return json_response(200, answer)
        return json_response(200, {"active": False})

    # -- protected resources ------------------------------------------------------------

    def _bearer(self, request: Request) -> AccessGrant:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        scheme, token = scheme.lower(), token.strip()
        if scheme not in ("bearer", "dpop") or not token:
            # RFC 6750 section 3.1: no error code when the request has no credentials.
            challenges = [("WWW-Authenticate", 'Bearer realm="emulator"')]
            if self.require_dpop:
                challenges.append(("WWW-Authenticate", self._dpop_challenge()))
            fail(
                json_response(
                    401, {"error_description": "An access token is required."}, *challenges
                )
            )
        grant = self.tokens.valid(token)
        if grant is None and scheme == "bearer":
            challenge = ("WWW-Authenticate", 'Bearer realm="emulator", error="invalid_token"')
            fail(oauth_error(401, "invalid_token", "The access token is invalid.", challenge))
        if grant is None:
            self._dpop_refusal("invalid_token", "The access token is invalid.")
        if grant.certificate_thumbprint is not None and (
            request.client_certificate is None
            or certificate_thumbprint(request.client_certificate) != grant.certificate_thumbprint
        ):
            # RFC 8705 3: a bound token works only with the certificate it is bound to.
            challenge = ("WWW-Authenticate", 'Bearer realm="emulator", error="invalid_token"')
            description = "The access token is bound to another TLS client certificate."
            fail(oauth_error(401, "invalid_token", description, challenge))
        if scheme == "bearer":
            if grant.jkt is not None:
                # RFC 9449 section 7.1: a bound token is never accepted as a bearer token.
                self._dpop_refusal("invalid_token", "This token is DPoP-bound: send a proof.")
            return grant
        if grant.jkt is None:
            self._dpop_refusal("invalid_token", "This token is not DPoP-bound.")
        try:
            proof = self.dpop.verify(request, access_token=token)
        except DPoPNonceError as error:
            self._dpop_refusal("use_dpop_nonce", str(error))
        except DPoPProofError as error:
            self._dpop_refusal("invalid_dpop_proof", str(error))
        if proof is None:
            self._dpop_refusal("invalid_dpop_proof", "A DPoP token needs a DPoP proof.")
        if proof.jkt != grant.jkt:
            self._dpop_refusal("invalid_dpop_proof", "The proof's key is not the token's key.")
        return grant

    # -- DPoP ---------------------------------------------------------------------------

    def _proof(self, request: Request) -> VerifiedProof | None:
        """The request's verified DPoP proof, or ``None``; answers 400
        ``invalid_dpop_proof`` or ``use_dpop_nonce`` when it fails."""
        try:
            return self.dpop.verify(request)
        except DPoPNonceError as error:
            fail(_bad("use_dpop_nonce", str(error)))
        except DPoPProofError as error:
            fail(_bad("invalid_dpop_proof", str(error)))

    def _binding(self, client: RegisteredClient, proof: VerifiedProof | None) -> dict[str, Any]:
        """The keys of the tokens issued for a request with ``proof``: the access token
        is bound to its key, and so is a public client's refresh token (RFC 9449
        section 5)."""
        if proof is None:
            return {}
        return {
            "jkt": proof.jkt,
            "refresh_jkt": proof.jkt if client.auth_method == "none" else None,
        }

    def _dpop_challenge(self, error: str | None = None, description: str = "") -> str:
        challenge = f'DPoP algs="{" ".join(self.dpop.algorithms)}"'
        if error is not None:
            challenge += f', error="{error}", error_description="{description}"'
        return challenge

    def _dpop_refusal(self, error: str, description: str) -> NoReturn:
        challenge = ("WWW-Authenticate", self._dpop_challenge(error, description))
        fail(oauth_error(401, error, description, challenge))

    def _nonced(self, handler: Handler) -> Handler:
        """``handler``, its answers carrying the server's DPoP nonce when it has one (a
        new one each time when nonces rotate)."""

        def answer(request: Request) -> EmulatorResponse:
            try:
                response = handler(request)
            except Reject as rejected:
                response = rejected.response
            if not self.dpop.sends_nonce:
                return response
            if self.dpop.nonce_rotates:
                self.dpop.rotate_nonce()
            headers = [h for h in response.headers if h[0].lower() != "dpop-nonce"]
            return attrs.evolve(response, headers=(*headers, ("DPoP-Nonce", self.dpop.nonce)))

        return answer

    def _userinfo(self, request: Request) -> EmulatorResponse:
        grant = self._bearer(request)
        scopes = grant.scope.split()
        if "openid" not in scopes or grant.subject != SUBJECT:
            challenge = (
                "WWW-Authenticate",
                'Bearer realm="emulator", error="insufficient_scope", scope="openid"',
            )
            return oauth_error(403, "insufficient_scope", "The openid scope is needed.", challenge)
        claims: dict[str, Any] = {"sub": grant.subject}
        if "profile" in scopes:
            claims["name"] = f"{PERSON['firstName']} {PERSON['lastName']}"
            claims["given_name"] = PERSON["firstName"]
            claims["family_name"] = PERSON["lastName"]
        if "email" in scopes:
            claims["email"] = PERSON["email"]
            claims["email_verified"] = True
        if self.userinfo_sub is not None:
            claims["sub"] = self.userinfo_sub
        if not self.userinfo_signed:
            return json_response(200, claims)
        from joserfc import jwt

        claims.update(iss=request.base, aud=grant.client_id)
        key = self._signing_key()
        signed = jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key, algorithms=["RS256"])
        headers = (("Content-Type", "application/jwt"), *NO_STORE)
        return EmulatorResponse(status=200, headers=headers, body=signed.encode())

    def _end_session(self, request: Request) -> EmulatorResponse:
        """OpenID Connect RP-Initiated Logout 1.0: ``id_token_hint`` must be an id_token
        this server signed (expired ones too) for ``client_id`` when given;
        ``post_logout_redirect_uri`` must be registered for the client. The user's
        session with the client ends: its tokens and refresh tokens are revoked."""
        query = {name: value for name, value in request.query.items() if value}
        client_id = query.get("client_id")
        hint = query.get("id_token_hint")
        if hint is not None:
            audience = self._hinted_client(request, hint)
            if audience is None:
                return page(400, "Logout failed", "The id_token_hint is not valid.")
            if client_id is not None and client_id != audience:
                return page(400, "Logout failed", "The id_token_hint is for another client.")
            client_id = audience
        target = query.get("post_logout_redirect_uri")
        if target is not None:
            if client_id is None:
                return page(400, "Logout failed", "client_id or id_token_hint is needed.")
            if target not in self.post_logout_redirect_uris.get(client_id, ()):
                return page(400, "Logout failed", "The post_logout_redirect_uri is not registered.")
        if client_id is not None:
            self.tokens.revoke_where(
                lambda grant: grant.client_id == client_id and grant.subject == SUBJECT
            )
            for token in [t for t, r in self.refresh.items() if r.client_id == client_id]:
                del self.refresh[token]
            self.ended_sessions.append(client_id)
        if target is None:
            return page(200, "Signed out", "You are signed out.")
        return redirect(with_query(target, optional(query, "state")))

    def _hinted_client(self, request: Request, hint: str) -> str | None:
        """The client (``aud``) of an id_token this server signed, or ``None``."""
        from joserfc import jwt
        from joserfc.errors import JoseError
        from joserfc.jwk import KeySet

        if not self.keys:
            return None
        try:
            token = jwt.decode(hint, KeySet(list(self.keys)), algorithms=["RS256"])
        except (JoseError, ValueError):
            return None
        audience = token.claims.get("aud")
        if token.claims.get("iss") != request.base or not isinstance(audience, str):
            return None
        return audience

    def _api(self, request: Request) -> EmulatorResponse:
        grant = self._bearer(request)
        return json_response(
            200, {"sub": grant.subject, "client_id": grant.client_id, "scope": grant.scope}
        )
