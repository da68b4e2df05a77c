"""Extension grants (RFC 6749 4.5) without a user step: token exchange
(:class:`TokenExchange`, RFC 8693), the JWT bearer grant (:class:`JwtBearer`,
RFC 7523 2.1), and :class:`ExtensionGrant`, any other grant type named by an absolute
URI (the path for grants anyoauth does not ship).

All are direct grants: :meth:`Client.token` runs them, and the machine renews their
tokens as it renews client credentials (a refresh grant when the server issued a
refresh token, else the grant again), single-flight per store namespace. Their
requests are built with :meth:`Strategy.form_request`, so client authentication,
DPoP proofs and mutual-TLS aliases apply to them as to every token request.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from typing import Any, ClassVar

import attrs

from ..errors import ConfigurationError, InvalidResponse
from ..http import HttpRequest
from ..parameters import (
    PROTOCOL_PARAMETERS,
    check_extra_params,
    check_reserved,
    param_pairs,
    value_tuple,
)
from ..token import BEARER, Token, is_token_text
from .base import Strategy, UserStep

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "ID_TOKEN_TYPE",
    "JWT_BEARER_GRANT",
    "JWT_TOKEN_TYPE",
    "NOT_AN_ACCESS_TOKEN",
    "REFRESH_TOKEN_TYPE",
    "SAML1_TOKEN_TYPE",
    "SAML2_TOKEN_TYPE",
    "TOKEN_EXCHANGE_GRANT",
    "ExtensionGrant",
    "JwtBearer",
    "TokenExchange",
]

TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
"""The ``grant_type`` of token exchange (RFC 8693 2.1)."""
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
"""The ``grant_type`` of the JWT bearer authorization grant (RFC 7523 2.1)."""
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
"""Token type identifier of an OAuth 2.0 access token (RFC 8693 3)."""
REFRESH_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:refresh_token"
"""Token type identifier of an OAuth 2.0 refresh token (RFC 8693 3)."""
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
"""Token type identifier of an OpenID Connect id_token (RFC 8693 3)."""
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
"""Token type identifier of a JWT (RFC 8693 3)."""
SAML1_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:saml1"
"""Token type identifier of a base64url-encoded SAML 1.1 assertion (RFC 8693 3)."""
SAML2_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:saml2"
"""Token type identifier of a base64url-encoded SAML 2.0 assertion (RFC 8693 3)."""
NOT_AN_ACCESS_TOKEN = "N_A"
"""The ``token_type`` of a token exchange answer whose token is not an access token
(RFC 8693 2.2.1): such a token is handed out by :meth:`Client.token` but never sent
as a credential by :meth:`Client.auth`."""

_NA: frozenset[str] = frozenset({"n_a"})
_NEVER_BEARER = frozenset({ID_TOKEN_TYPE, SAML1_TOKEN_TYPE, SAML2_TOKEN_TYPE})
_MAX_TYPE_CHARS = 256
_MAX_ASSERTION_LIFETIME = 3600.0
_REGISTERED_CLAIMS = frozenset({"iss", "sub", "aud", "exp", "iat", "nbf", "jti"})


def _type_identifier(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not is_token_text(value) or len(str(value)) > _MAX_TYPE_CHARS:
        raise ConfigurationError(f"{attribute.name} must be a token type identifier (a URI)")


def _secret_text(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None and attribute.name == "actor_token":
        return
    if not is_token_text(value):
        # Never shown: the value is a token.
        raise ConfigurationError(
            f"{attribute.name} must be a non-empty string of visible ASCII characters"
        )


def _check_token_params(params: object) -> None:
    if not isinstance(params, Mapping):
        raise ConfigurationError("token_params must be a mapping")
    check_reserved("token_params", params, PROTOCOL_PARAMETERS)


def _digest(*parts: object) -> str:
    text = "\x00".join("" if part is None else str(part) for part in parts)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


@attrs.frozen(kw_only=True)
class TokenExchange(Strategy):
    """OAuth 2.0 Token Exchange (RFC 8693): trade a :attr:`subject_token` (and, for
    delegation, an :attr:`actor_token`) for a token for another audience, resource or
    scope.

    ``Client.token()`` sends the exchange with the client's authentication (any
    ``client_auth``; a DPoP key and mutual TLS work as for every token request) and
    renews the result by exchanging the subject token again (single-flight, as every
    direct grant); a refresh token in the answer is kept on the token, not used. The
    answer must carry ``issued_token_type`` (RFC 8693 2.2.1); it is kept in ``token.extra``. When
    :attr:`requested_token_type` is set, an answer of another type is refused.

    A token whose ``token_type`` is ``N_A`` (not an access token: an id_token, a
    refresh token, a SAML assertion) is accepted by this strategy only; ``Client.token()``
    hands it out, ``Client.auth()`` refuses to send it (:class:`ConfigurationError`),
    and an answer that types an id_token, a SAML assertion or a lone refresh token
    otherwise is refused (:class:`InvalidResponse`).

    The subject token is fixed per strategy. When it changes (the user's access token
    was refreshed), make a new strategy with ``attrs.evolve(strategy,
    subject_token=new)`` and a new client with it: :attr:`store_namespace` includes a
    digest of the subject and actor tokens and the request's targets, so a token
    exchanged for one subject is never handed out for another.
    """

    name: ClassVar[str] = "token-exchange"
    has_direct_grant: ClassVar[bool] = True
    token_types: ClassVar[frozenset[str]] = BEARER | _NA

    subject_token: str = attrs.field(repr=False, validator=_secret_text)
    """The token that represents the party on whose behalf the request is made. A
    secret: never shown in a repr, redacted from errors."""
    subject_token_type: str = attrs.field(default=ACCESS_TOKEN_TYPE, validator=_type_identifier)
    """The type of :attr:`subject_token` (default: an access token)."""
    actor_token: str | None = attrs.field(default=None, repr=False, validator=_secret_text)
    """The token of the acting party, for delegation; ``None``: no actor. A secret."""
    actor_token_type: str | None = attrs.field(default=None, validator=_type_identifier)
    """The type of :attr:`actor_token`: required with one, refused without."""
    requested_token_type: str | None = attrs.field(default=None, validator=_type_identifier)
    """The type of token asked for; ``None``: the server chooses. When set, the
    answer's ``issued_token_type`` must be it."""
    token_params: Mapping[str, str] = attrs.field(factory=dict)
    """Extra form parameters for the exchange request (sent before
    :attr:`extra_token_params`; protocol parameters refused as there). Where the token
    will be used goes in :attr:`resource` (absolute URIs without a fragment;
    repeatable, RFC 8693 2.1, RFC 8707) and :attr:`audience` (logical names of the
    target services; repeatable; Keycloak: client ids), both sent with the exchange."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if self.token_endpoint is None:
            raise ConfigurationError("a token_endpoint is required")
        if (self.actor_token is None) != (self.actor_token_type is None):
            raise ConfigurationError("actor_token and actor_token_type go together (RFC 8693 2.1)")
        _check_token_params(self.token_params)

    @property
    def user_step(self) -> UserStep:
        """NONE: the exchange needs no user step."""
        return UserStep.NONE

    @functools.cached_property
    def store_namespace(self) -> str:
        """``token-exchange:client_id:server:request``, where ``request`` is a digest
        of the subject and actor tokens and the requested type, resources, audiences
        and scope: each exchange's token has a place of its own in a store."""
        request = _digest(
            self.subject_token,
            self.subject_token_type,
            self.actor_token,
            self.actor_token_type,
            self.requested_token_type,
            " ".join(self.resource),
            " ".join(self.audience),
            self.scope_param(),
            *(() if self.token_resource is None else ("\x00", *self.token_resource)),
        )
        server = self.issuer or self.token_endpoint or ""
        digest = hashlib.sha256(server.encode("utf-8", "surrogatepass")).hexdigest()[:12]
        return f"{self.name}:{self.client_id}:{digest}:{request}"

    def direct_token_request(self, *, now: float) -> HttpRequest:
        """The token exchange request (RFC 8693 2.1), with client authentication."""
        params = [
            ("grant_type", TOKEN_EXCHANGE_GRANT),
            ("subject_token", self.subject_token),
            ("subject_token_type", self.subject_token_type),
        ]
        if self.actor_token is not None and self.actor_token_type is not None:
            params += [
                ("actor_token", self.actor_token),
                ("actor_token_type", self.actor_token_type),
            ]
        if self.requested_token_type is not None:
            params.append(("requested_token_type", self.requested_token_type))
        if self.scope:
            params.append(("scope", self.scope_param()))
        params += list(self.token_params.items())
        return self.form_request(params + self.grant_params(direct=True), now=now)

    def parse_token_response(
        self, status_code: int, content_type: str | None, body: bytes, now: float
    ) -> Token:
        """The base validation, then RFC 8693 2.2.1: ``issued_token_type`` present (a
        visible-ASCII identifier), equal to :attr:`requested_token_type` when one was
        asked for, and a refresh token, id_token or SAML assertion never typed
        ``Bearer``. A refresh grant's answer (a plain access token) needs none of it."""
        token = super().parse_token_response(status_code, content_type, body, now)
        issued = token.extra.get("issued_token_type")
        if issued is None:
            raise InvalidResponse(
                "the token exchange answer has no issued_token_type", status_code=status_code
            )
        if not is_token_text(issued) or len(issued) > _MAX_TYPE_CHARS:
            raise InvalidResponse(
                "the token exchange answer's issued_token_type is not a type identifier",
                status_code=status_code,
            )
        wanted = self.requested_token_type
        if wanted is not None and issued != wanted:
            raise InvalidResponse(
                f"issued_token_type {issued} is not the {wanted} asked for",
                status_code=status_code,
            )
        never_bearer = issued in _NEVER_BEARER or (
            issued == REFRESH_TOKEN_TYPE and token.refresh_token is None
        )
        if never_bearer and token.token_type.lower() != "n_a":
            raise InvalidResponse(
                f"issued_token_type {issued} with token_type {token.token_type}: such a "
                "token is not an access token (RFC 8693 2.2.1 says N_A)",
                status_code=status_code,
            )
        return token

    def refresh_request(self, token: Token, *, now: float) -> HttpRequest | None:
        """``None``: a token exchange is renewed by exchanging the subject token again
        (the answer of a refresh grant carries no ``issued_token_type`` to check). A
        refresh token the server issued stays on the token, unused by renewal."""
        return None


@attrs.frozen(kw_only=True)
class JwtBearer(Strategy):
    """The JWT bearer authorization grant (RFC 7523 2.1): a JWT signed with the
    client's (or a service account's) private key is the grant.

    Each request carries a new assertion: ``iss`` (:attr:`assertion_issuer`, default
    the client id), ``sub`` (:attr:`subject`, default the client id), ``aud`` (the
    issuer identifier when :attr:`issuer` is set, else the token endpoint's URL;
    :attr:`assertion_audience` ``"endpoint"`` forces the URL), ``iat``, ``exp``
    (:attr:`assertion_lifetime` seconds later), a fresh ``jti``, and
    :attr:`assertion_claims`. It is signed again for every renewal and every retry,
    so no assertion is ever sent twice. Client authentication is optional (RFC 7523
    3.1): the default sends only ``client_id``; any ``client_auth`` works.
    """

    name: ClassVar[str] = "jwt-bearer"
    has_direct_grant: ClassVar[bool] = True

    assertion_key: Any = attrs.field(default=None, repr=False)
    """The private key the assertion is signed with (a JWK dict, PEM text or bytes, or
    a joserfc key); ``None``: :attr:`client_key`. Never shown in a repr."""
    assertion_algorithm: str | None = None
    """The assertion's JWS algorithm (asymmetric); ``None``: the key's own ``alg``, or
    the first of PS256, ES256, EdDSA, RS256... that fits the key."""
    assertion_issuer: str | None = None
    """The assertion's ``iss``; ``None``: the client id."""
    subject: str | None = None
    """The assertion's ``sub``, the principal the token is for; ``None``: the client id
    (a service account acting for itself)."""
    assertion_lifetime: float = 60.0
    """Seconds each assertion is valid (``exp`` - ``iat``; more than 0, at most 3600)."""
    assertion_claims: Mapping[str, Any] = attrs.field(factory=dict)
    """More claims for the assertion; the registered ones (``iss``, ``sub``, ``aud``,
    ``exp``, ``iat``, ``nbf``, ``jti``) cannot be set here."""
    token_params: Mapping[str, str] = attrs.field(factory=dict)
    """Extra form parameters for the token request."""
    _assertion_signer: Any = attrs.field(default=None, init=False, repr=False, eq=False)
    _assertion_alg: str = attrs.field(default="", init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        from ..jar import REQUEST_OBJECT_ALGORITHMS, choose_request_object_algorithm
        from ..jose import load_client_key

        if self.token_endpoint is None:
            raise ConfigurationError("a token_endpoint is required")
        key = self.assertion_key if self.assertion_key is not None else self.client_key
        if key is None:
            raise ConfigurationError("jwt-bearer needs an assertion_key (or a client_key)")
        algorithm = self.assertion_algorithm
        if algorithm is None:
            algorithm = choose_request_object_algorithm(key)
            if algorithm is None:
                raise ConfigurationError("jwt-bearer: no asymmetric algorithm fits the key")
        elif algorithm not in REQUEST_OBJECT_ALGORITHMS:
            raise ConfigurationError(
                "assertion_algorithm must be asymmetric: "
                + ", ".join(sorted(REQUEST_OBJECT_ALGORITHMS))
            )
        try:
            loaded = load_client_key(key, algorithm)
        except ValueError as exc:
            raise ConfigurationError(f"jwt-bearer: {exc}") from None
        lifetime = self.assertion_lifetime
        if not isinstance(lifetime, int | float) or not 0 < lifetime <= _MAX_ASSERTION_LIFETIME:
            raise ConfigurationError("assertion_lifetime must be more than 0 and at most 3600")
        for name, value in (("assertion_issuer", self.assertion_issuer), ("subject", self.subject)):
            if value is not None and (not isinstance(value, str) or not value):
                raise ConfigurationError(f"{name} must be a non-empty string")
        if not isinstance(self.assertion_claims, Mapping) or (
            _REGISTERED_CLAIMS & set(self.assertion_claims)
        ):
            raise ConfigurationError(
                "assertion_claims cannot set iss, sub, aud, exp, iat, nbf or jti"
            )
        _check_token_params(self.token_params)
        object.__setattr__(self, "_assertion_signer", loaded)
        object.__setattr__(self, "_assertion_alg", algorithm)

    @property
    def user_step(self) -> UserStep:
        """NONE: the grant needs no user step."""
        return UserStep.NONE

    @property
    def assertion_signing_algorithm(self) -> str:
        """The JWS algorithm the grant's assertions are signed with."""
        return self._assertion_alg

    def assertion_audience_for(self, url: str) -> str:
        """The assertion's ``aud`` for a request to ``url``: the issuer identifier
        (draft-ietf-oauth-rfc7523bis), or ``url`` itself with
        :attr:`assertion_audience` ``"endpoint"`` or without an issuer."""
        if self.issuer is not None and self.assertion_audience != "endpoint":
            return self.issuer
        return url

    def grant_assertion(self, *, now: float, url: str | None = None) -> str:
        """A newly signed assertion (fresh ``jti``) for a request to ``url`` (default:
        the token endpoint, or its mutual-TLS alias when used) made at ``now``."""
        import math
        import secrets

        from ..jose import sign_compact

        target = url or self._token_target()
        header: dict[str, str] = {"alg": self._assertion_alg, "typ": "JWT"}
        kid = getattr(self._assertion_signer, "kid", None)
        if kid:
            header["kid"] = kid
        issued_at = math.floor(now)
        claims: dict[str, Any] = {
            **self.assertion_claims,
            "iss": self.assertion_issuer or self.client_id,
            "sub": self.subject or self.client_id,
            "aud": self.assertion_audience_for(target),
            "iat": issued_at,
            "exp": issued_at + max(1, math.floor(self.assertion_lifetime)),
            "jti": secrets.token_urlsafe(32),
        }
        return sign_compact(header, claims, self._assertion_signer, self._assertion_alg)

    def _token_target(self) -> str:
        url = self._token_url()
        return self._mtls_targets.get(url, url)

    def direct_token_request(self, *, now: float) -> HttpRequest:
        """``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` with a newly
        signed ``assertion``; every retry (:attr:`HttpRequest.rebuild`) signs anew."""
        extra = [("scope", self.scope_param())] if self.scope else []
        extra += list(self.token_params.items())
        extra += self.grant_params(direct=True)

        def build(at: float) -> HttpRequest:
            params = [
                ("grant_type", JWT_BEARER_GRANT),
                ("assertion", self.grant_assertion(now=at)),
                *extra,
            ]
            return attrs.evolve(self.form_request(params, now=at), rebuild=build)

        return build(now)


_SHIPPED_GRANTS = {
    "authorization_code": "AuthorizationCode",
    "client_credentials": "ClientCredentials",
    "refresh_token": "the renewal of every strategy",
    "urn:ietf:params:oauth:grant-type:device_code": "DeviceCode",
    TOKEN_EXCHANGE_GRANT: "TokenExchange",
}
_MAX_GRANT_TYPE_CHARS = 512
_GRANT_OWNED = frozenset(
    {
        "grant_type",
        "client_id",
        "client_secret",
        "client_assertion",
        "client_assertion_type",
        "scope",
        "resource",
        "audience",
        "refresh_token",
        "dpop_jkt",
    }
)
"""Parameters an :class:`ExtensionGrant`'s own parameters cannot set: the grant type,
client authentication, and what the strategy's fields send (``scope``, ``resource``,
``audience``)."""


def _check_grant_type(value: object) -> None:
    if not isinstance(value, str) or not is_token_text(value):
        raise ConfigurationError("grant_type must be an absolute URI of visible ASCII")
    shipped = _SHIPPED_GRANTS.get(value)
    if shipped is not None:
        raise ConfigurationError(f"grant_type {value} is shipped: use {shipped}")
    if value == "password":
        raise ConfigurationError(
            "the resource owner password grant must not be used "
            "(OAuth 2.0 Security Best Current Practice 2.4)"
        )
    scheme, colon, rest = value.partition(":")
    if (
        not colon
        or not rest
        or not scheme[:1].isalpha()
        or not all(c.isalnum() or c in "+.-" for c in scheme)
        or "#" in value
        or len(value) > _MAX_GRANT_TYPE_CHARS
    ):
        # RFC 6749 4.5: an extension grant is named by an absolute URI; the registered
        # bare names are the grants anyoauth ships.
        raise ConfigurationError(
            "grant_type must be an absolute URI without a fragment (RFC 6749 4.5), "
            f"at most {_MAX_GRANT_TYPE_CHARS} characters"
        )


@attrs.frozen(kw_only=True)
class ExtensionGrant(Strategy):
    """Any grant without a user step that anyoauth does not ship (RFC 6749 4.5):
    ``grant_type`` (an absolute URI) and the grant's own :attr:`token_params`.

    ``Client.token()`` sends ``grant_type``, :attr:`grant_parameters`, ``scope``,
    :attr:`resource`, :attr:`audience` and :attr:`extra_token_params` to the token
    endpoint with the client's authentication (any ``client_auth``, DPoP, mutual TLS:
    it is built by :meth:`Strategy.form_request`), and renews the token as client
    credentials are renewed: a refresh grant when the server issued a refresh token,
    else the grant again, single-flight per store namespace.

    A plugin that needs parameters made per request (a freshly signed assertion, a
    one-time value) subclasses it and overrides :meth:`grant_parameters`, which is
    called again for every attempt; see docs/plugins.md.
    """

    name: ClassVar[str] = "extension-grant"
    has_direct_grant: ClassVar[bool] = True

    grant_type: str
    """The grant's ``grant_type``: an absolute URI (``urn:...`` or ``https://...``).
    Grants anyoauth ships and the password grant are refused. A subclass may give it
    a default (``grant_type: str = "https://..."``); it is checked all the same."""
    token_params: tuple[tuple[str, str], ...] = attrs.field(
        default=(), converter=param_pairs, repr=False
    )
    """The grant's own parameters: a mapping or ``(name, value)`` pairs (a name may
    repeat), kept as pairs in order. Not shown in a repr. They cannot set the grant
    type, client authentication, ``scope``, ``resource`` or ``audience`` (the
    strategy's fields send those)."""
    secret_params: tuple[str, ...] = attrs.field(default=(), converter=value_tuple)
    """Names of :attr:`token_params` whose values are secrets (never shown in an
    error); the standard ones (``assertion``, ``password``, ``subject_token``...) are
    known already."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        _check_grant_type(self.grant_type)
        if self.token_endpoint is None:
            raise ConfigurationError("a token_endpoint is required")
        check_extra_params("token_params", self.token_params, reserved=_GRANT_OWNED)
        names = self.secret_params
        if not isinstance(names, tuple) or not all(isinstance(n, str) and n for n in names):
            raise ConfigurationError("secret_params must be parameter names")

    @property
    def user_step(self) -> UserStep:
        """NONE: the grant needs no user step."""
        return UserStep.NONE

    @functools.cached_property
    def store_namespace(self) -> str:
        """``name:client_id:server:request``, where ``request`` is a digest of the grant
        type, its parameters, the scope, resources and audiences: each grant's token
        has a place of its own in a store."""
        request = _digest(
            self.grant_type,
            *(f"{name}={value}" for name, value in self.token_params),
            " ".join(self.resource),
            " ".join(self.token_resource or ()),
            " ".join(self.audience),
            self.scope_param(),
        )
        server = self.issuer or self.token_endpoint or ""
        digest = hashlib.sha256(server.encode("utf-8", "surrogatepass")).hexdigest()[:12]
        return f"{self.name}:{self.client_id}:{digest}:{request}"

    def grant_parameters(self, *, now: float) -> list[tuple[str, str]]:
        """The grant's own parameters for a request made at ``now``: :attr:`token_params`.
        Override it for values made per request; it runs again for every retry."""
        return list(self.token_params)

    def direct_token_request(self, *, now: float) -> HttpRequest:
        """The grant's token request; every retry (:attr:`HttpRequest.rebuild`) asks
        :meth:`grant_parameters` again."""

        def build(at: float) -> HttpRequest:
            own = check_extra_params(
                "grant_parameters", tuple(self.grant_parameters(now=at)), reserved=_GRANT_OWNED
            )
            params = [("grant_type", self.grant_type), *own]
            if self.scope:
                params.append(("scope", self.scope_param()))
            params += self.grant_params(direct=True)
            request = self.form_request(params, now=at)
            hidden = frozenset(v for k, v in own if k in self.secret_params and v)
            return attrs.evolve(
                request, rebuild=build, extra_secrets=request.extra_secrets | hidden
            )

        return build(now)
