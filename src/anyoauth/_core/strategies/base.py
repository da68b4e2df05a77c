"""The base strategy: a standard OAuth 2.0 client, and every hook a flow may override.

:class:`Strategy` knows how to build the authorization URL, read the redirect, build
the token / refresh / revocation / introspection requests and read their answers; it
declares what its flow needs (:attr:`Strategy.user_step`, :attr:`Strategy.has_direct_grant`,
:attr:`Strategy.verifies_id_tokens`) so nothing outside a strategy asks for its class.
Strategies are sans-IO: they build :class:`HttpRequest` values and never send them.
Each family of flows subclasses it in its own module of this package.
"""

from __future__ import annotations

import enum
import functools
import hashlib
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self
from urllib.parse import SplitResult

import attrs

from ..authorization_details import (
    AuthorizationDetails,
    authorization_details,
    details_json,
    details_repr,
    details_types,
    optional_authorization_details,
)
from ..client_auth import (
    AssertionAudience,
    ClientAuth,
    ClientAuthMethod,
    Credentials,
    PrivateKeyJwt,
    client_auth_method,
)
from ..device import DeviceAuthorization
from ..dpop import DPoPKey
from ..errors import (
    AuthorizationDenied,
    ConfigurationError,
    InvalidAuthorizationResponse,
    IssuerMismatch,
    MalformedRedirect,
    RedirectMismatch,
)
from ..http import HttpRequest
from ..jar import DEFAULT_REQUEST_OBJECT_LIFETIME, RequestObjectSigner
from ..jose import DEFAULT_ID_TOKEN_ALGORITHMS, ID_TOKEN_ALGORITHMS
from ..par import PushedAuthorization
from ..parameters import (
    PROTOCOL_PARAMETERS,
    check_audience,
    check_extra_params,
    check_reserved,
    check_resources,
    optional_value_tuple,
    param_pairs,
    value_tuple,
)
from ..profiles import FAPI2_ALGORITHMS, Profile, apply_profile, check_profile
from ..redirect import Redirect, ResponseLocation, landing, redirect_of, split_url
from ..token import BEARER, BEARER_TYPE, DPOP, Token, parse_token_response
from ..urls import (
    add_query,
    check_endpoint,
    check_redirect_uri,
    form_encode,
    form_quote,
    is_unreserved,
)
from ..values import PendingFlow

if TYPE_CHECKING:
    from ..ciba import BackchannelRequest
    from ..metadata import ServerMetadata

__all__ = ["Strategy", "UserStep", "not_empty", "require", "scope_tuple"]


_FORM_HEADERS = (
    ("Content-Type", "application/x-www-form-urlencoded"),
    ("Accept", "application/json"),
)


_JSON_ACCEPT = (("Accept", "application/json"),)


class UserStep(enum.Enum):
    """How the user takes part in a strategy's login: what :meth:`Client.login` does
    and which user agent can run it."""

    NONE = "none"
    """No user step: :meth:`Client.token` gets a token with the client's own
    credentials (client credentials)."""
    REDIRECT = "redirect"
    """The user agent goes to the authorization endpoint and is redirected back to the
    app's ``redirect_uri`` (code and implicit flows)."""
    LANDING_PAGE = "landing page"
    """The user agent goes to the authorization endpoint and ends on one of the
    provider's own special URLs, never the app's: only an agent that watches the
    browser's address can finish it (Geni's desktop flow)."""
    DEVICE = "device"
    """The user approves on another device while the client polls (RFC 8628)."""
    DECOUPLED = "decoupled"
    """The client names the user, who approves on their own authentication device
    while the client polls or waits for a ping (OpenID CIBA Core 1.0): run it with
    :meth:`Client.backchannel_login`."""


def scope_tuple(value: str | Iterable[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(value.replace(",", " ").split())
    return tuple(value)


def not_empty(_instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{attribute.name} must be a non-empty string")


DEFAULT_ID_TOKEN_LEEWAY = 60.0
"""Seconds of clock skew allowed in id_token times unless :attr:`Strategy.id_token_leeway`
says otherwise."""

MAX_ID_TOKEN_LEEWAY = 600.0
"""The largest :attr:`Strategy.id_token_leeway`: ten minutes of skew."""


def _check_id_token_leeway(value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 <= value <= MAX_ID_TOKEN_LEEWAY
    ):
        raise ConfigurationError(
            f"id_token_leeway must be a number of seconds from 0 to {MAX_ID_TOKEN_LEEWAY:g}"
        )


def _id_token_algorithms_of(metadata: ServerMetadata, profile: object) -> tuple[str, ...]:
    """The server's id_token algorithms anyoauth accepts (asymmetric only), in its order;
    with a profile, only those the profile allows; empty when none is left (the
    defaults then stay, and an id_token signed otherwise is refused)."""
    allowed = ID_TOKEN_ALGORITHMS if profile is None else ID_TOKEN_ALGORITHMS & FAPI2_ALGORITHMS
    listed = metadata.id_token_signing_alg_values_supported
    return tuple(dict.fromkeys(alg for alg in listed if alg in allowed))


@attrs.frozen(kw_only=True)
class Strategy:
    """Base strategy: a standard OAuth 2.0 client with form-encoded token requests.

    Subclasses set :attr:`name` and override the hooks that differ for their flow.
    """

    name: ClassVar[str] = "oauth2"
    """A short name for the kind of flow, used in store keys and messages."""

    client_id: str = attrs.field(validator=not_empty)
    """The client identifier issued by the provider."""
    client_secret: str | None = attrs.field(default=None, repr=False)
    """The client secret, for confidential clients. Never shown in a repr."""
    authorization_endpoint: str | None = None
    """Where the user agent is sent; ``None`` for grants without a user step."""
    token_endpoint: str | None = None
    """The token endpoint; ``None`` for flows that never call one."""
    redirect_uri: str | None = None
    """Where the provider sends the user agent back."""
    scope: tuple[str, ...] = attrs.field(default=(), converter=scope_tuple)
    """Requested scopes (a string is split on spaces and commas)."""
    response_type: str = "code"
    """``code`` or ``token`` (implicit)."""
    response_location: ResponseLocation = ResponseLocation.QUERY
    """Where the redirect carries the response parameters (when :attr:`response_mode`
    is ``None``; a response mode decides it otherwise)."""
    response_mode: str | None = None
    """The ``response_mode`` authorization parameter: ``None`` sends none (the server's
    default for the response type); ``"query"``, ``"fragment"``, ``"form_post"`` (OAuth
    2.0 Form Post Response Mode: the browser posts the parameters to
    :attr:`redirect_uri`; :meth:`Client.complete` then takes them as the URL's query),
    or a signed response (JARM): ``"jwt"``, ``"query.jwt"``, ``"fragment.jwt"``,
    ``"form_post.jwt"``, which need :attr:`issuer` and :attr:`jwks_uri`: the response
    JWT is validated (:attr:`authorization_signing_algorithms`, ``iss``, ``aud``, ``exp``)
    before anything in it is used, and unsigned parameters are refused."""
    authorization_signing_algorithms: tuple[str, ...] = attrs.field(
        default=DEFAULT_ID_TOKEN_ALGORITHMS, converter=tuple
    )
    """Accepted signature algorithms of signed authorization responses (asymmetric only;
    never ``none`` or ``HS*``)."""
    client_auth: ClientAuth | ClientAuthMethod = "client_secret_basic"
    """How the client authenticates to the authorization server: a method's name
    (made with :attr:`client_secret`, :attr:`client_key` and the settings below) or a
    :class:`ClientAuthMethod` value (:class:`ClientSecretBasic`, :class:`PrivateKeyJwt`,
    ...) carrying its own credentials. See :attr:`authentication`."""
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
    """Accepted id_token signature algorithms (asymmetric only; never ``none``).
    :meth:`from_metadata` takes the server's ``id_token_signing_alg_values_supported``
    among these unless told otherwise."""
    id_token_leeway: float = DEFAULT_ID_TOKEN_LEEWAY
    """Seconds of clock skew allowed when an id_token's ``exp``, ``iat`` and ``nbf``
    are checked (0 to 600)."""
    revocation_endpoint: str | None = None
    """The token revocation endpoint (RFC 7009), for :meth:`Client.revoke`."""
    introspection_endpoint: str | None = None
    """The token introspection endpoint (RFC 7662), for :meth:`Client.introspect`."""
    userinfo_endpoint: str | None = None
    """OpenID Connect's userinfo endpoint (Core 5.3), for :meth:`Client.userinfo`."""
    end_session_endpoint: str | None = None
    """Where the browser is sent to end the user's session at the server (OpenID
    Connect RP-Initiated Logout 1.0), for :meth:`Client.end_session`."""
    profile: Profile | None = None
    """A security profile the configuration must meet, or ``None``. ``"fapi2"``: the
    FAPI 2.0 Security Profile. It turns on PKCE, pushed authorization requests (with
    the server's endpoint) and ``iss`` required (with the issuer), narrows the id_token
    algorithms to PS256, ES256 and EdDSA, and refuses with a :class:`ConfigurationError`
    naming the rule any setting that breaks it: the code flow only, sender-constrained
    tokens (a :attr:`dpop_key` or a mutual-TLS certificate), ``private_key_jwt`` or
    mutual-TLS client authentication, PS256/ES256/EdDSA signatures only, https to every
    server. See ``anyoauth.sansio.FAPI2_RULES``."""
    dpop_key: DPoPKey | None = attrs.field(default=None)
    """The client's DPoP key (RFC 9449), or ``None`` for bearer tokens. With a key,
    every request to the authorization server (token, refresh, pushed authorization,
    revocation, introspection, device authorization) carries a fresh proof signed with
    it, the authorization request names it (``dpop_jkt``), the server may issue tokens
    of type ``DPoP`` bound to it, and :meth:`Client.auth` sends such a token with a
    proof, never as a bearer token. Every client sharing a store must hold the same
    key (see :meth:`DPoPKey.load`): a token bound to another key is never used."""
    mtls_endpoint_aliases: Mapping[str, str] = attrs.field(factory=dict)
    """The server's mutual-TLS endpoint aliases (RFC 8705 5), by metadata name
    (``token_endpoint``, ``revocation_endpoint``, ``introspection_endpoint``,
    ``device_authorization_endpoint``, ...); each checked as the endpoints are. Used
    only with :attr:`use_mtls_endpoint_aliases`."""
    use_mtls_endpoint_aliases: bool = False
    """Send every request to the authorization server that has an alias in
    :attr:`mtls_endpoint_aliases` to the alias instead (token, refresh, device
    authorization, revocation, introspection and any other endpoint of the same name
    as its metadata field). :meth:`from_metadata` turns it on when the client
    authenticates with mutual TLS; turn it on yourself for certificate-bound tokens
    with another client authentication. Either way the HTTP client must present the
    client certificate (see :attr:`uses_client_certificate`)."""
    _mtls_targets: Mapping[str, str] = attrs.field(init=False, repr=False, eq=False)
    pushed_authorization_request_endpoint: str | None = None
    """Where authorization requests are pushed (RFC 9126), with
    :attr:`push_authorization_request`."""
    push_authorization_request: bool = False
    """Push the authorization request (RFC 9126): its parameters go, with client
    authentication, to :attr:`pushed_authorization_request_endpoint`, and the user
    agent gets only ``client_id`` and the ``request_uri`` the server answered. Turned
    on by :meth:`from_metadata` when the server requires it."""
    sign_request_object: bool = False
    """Send the authorization parameters as a signed request object (RFC 9101, JAR):
    by value in the authorization URL (``client_id`` + ``request``), or in the pushed
    request when pushing. Needs :attr:`issuer` (the object's ``aud``) and a private
    key: :attr:`request_object_key`, or else the ``private_key_jwt`` key. Turned on by
    :meth:`from_metadata` when the server requires it."""
    request_object_key: Any = attrs.field(default=None, repr=False)
    """The private key request objects are signed with (a JWK dict, PEM text or bytes,
    or a joserfc key); ``None``: the ``private_key_jwt`` client key. Never shown in a
    repr."""
    request_object_algorithm: str | None = None
    """The request objects' JWS algorithm: asymmetric only (never ``none`` or HS*).
    ``None``: the ``private_key_jwt`` algorithm when its key signs, else chosen from the
    key (PS256 for RSA, ES256 for P-256, EdDSA for Ed25519...)."""
    request_object_lifetime: float = DEFAULT_REQUEST_OBJECT_LIFETIME
    """Seconds each request object is valid (``exp`` - ``iat``; 1 to 3600)."""
    authorization_details: AuthorizationDetails = attrs.field(
        default=(), converter=authorization_details, repr=details_repr
    )
    """Rich authorization requests (RFC 9396): what the client asks for, as a sequence
    of JSON objects each with a non-empty string ``type`` (``{"type":
    "payment_initiation", "instructedAmount": {...}}``). Sent as one JSON array in the
    ``authorization_details`` parameter of the authorization request (pushed or not;
    an array claim inside a signed request object), of the client credentials token
    request and of the device authorization request. Copied and frozen when the
    strategy is made (read-only mappings and tuples): changing the caller's dicts later
    changes nothing. Refused (:class:`ConfigurationError`) unless JSON, at most 16 KiB.
    A repr shows the types only."""
    token_authorization_details: AuthorizationDetails | None = attrs.field(
        default=None, converter=optional_authorization_details, repr=details_repr
    )
    """Details sent as ``authorization_details`` with the code exchange and every
    refresh (RFC 9396 6.1: narrowing what the grant allows for this token); ``None``
    (the default) sends none, and the token gets what the authorization granted."""
    _authentication: ClientAuthMethod = attrs.field(init=False, repr=False, eq=False)
    _static_credentials: dict[str, Credentials] = attrs.field(
        factory=dict, init=False, repr=False, eq=False
    )
    _request_signer: RequestObjectSigner | None = attrs.field(
        default=None, init=False, repr=False, eq=False
    )
    uses_pkce: bool = False
    """Whether code flows send a PKCE S256 challenge."""
    extra_authorization_params: Mapping[str, str] = attrs.field(factory=dict)
    """More parameters for the authorization URL. A name anyoauth sets itself
    (``state``, ``redirect_uri``, ``code_challenge``, ``resource``... see
    ``anyoauth.sansio.PROTOCOL_PARAMETERS``) is refused (:class:`ConfigurationError`)."""
    resource: tuple[str, ...] = attrs.field(default=(), converter=value_tuple)
    """Resource indicators (RFC 8707): where the tokens will be used, as absolute URIs
    without a fragment (a string is one; at most 20, none twice). Sent in order, one
    ``resource`` parameter per value, in the authorization request (pushed and signed
    request objects too: a string, or an array for several), the device authorization
    request, and, narrowed by :attr:`token_resource`, in every token request and
    refresh request. See docs/parameters.md."""
    token_resource: tuple[str, ...] | None = attrs.field(
        default=None, converter=optional_value_tuple
    )
    """The resources the token and refresh requests name; ``None`` (the default): all
    of :attr:`resource`. Servers that issue one access token per resource (panva's
    oidc-provider refuses several with ``invalid_target``) need exactly one: name it
    here. Each must be one of :attr:`resource` when that is set; ``()`` sends none."""
    audience: tuple[str, ...] = attrs.field(default=(), converter=value_tuple)
    """Logical names of the services the token is for (``audience``, as Auth0 and token
    exchange take it; a string is one; at most 20, none twice): sent in the
    authorization request, the device authorization request and the token request
    of a grant without a user step (never in a code exchange or a refresh)."""
    extra_token_params: tuple[tuple[str, str], ...] = attrs.field(
        default=(), converter=param_pairs, repr=False
    )
    """More parameters for every token request of the grant (the code exchange, the
    device token request, a direct grant's request): a mapping, or ``(name, value)``
    pairs so a name may repeat; kept as pairs, in order. Protocol parameters are
    refused as for :attr:`extra_authorization_params`; at most 50. Not shown in a
    repr (a value may be a secret)."""
    extra_refresh_params: tuple[tuple[str, str], ...] = attrs.field(
        default=(), converter=param_pairs, repr=False
    )
    """More parameters for every refresh request, as :attr:`extra_token_params`."""
    state_ttl: float = 600.0
    """Seconds a pending flow accepts its redirect."""
    allow_insecure: bool = False
    """Allow http endpoints on any host (test set-ups only). Without it, http is allowed
    only on loopback hosts, and, when :attr:`issuer` is set, only if the issuer is on a
    loopback host too. Never turned on implicitly (not by :meth:`from_metadata` either)."""
    missing_token_type: str | None = BEARER_TYPE
    """The type of a token whose response has no ``token_type``. RFC 6749 5.1 requires
    the field, but Geni's fragment and Teamwork's exchange leave it out and issue
    bearer tokens; ``None`` refuses such a response (:class:`InvalidResponse`).
    It must be one of :attr:`token_types`."""

    token_types: ClassVar[frozenset[str]] = BEARER
    """The token types this strategy knows how to use, in lower case: only ``bearer``
    (RFC 6750). A token response with another ``token_type`` (``DPoP``, ``N_A``,
    ``Basic``, ...) is refused with :class:`InvalidResponse` and nothing is stored;
    a strategy that can use another type (a DPoP-bound token, a token exchange's
    ``N_A``) declares it here."""

    has_direct_grant: ClassVar[bool] = False
    """Whether :meth:`direct_token_request` builds a grant without a user step (a
    strategy that overrides it sets this to ``True``)."""

    def __attrs_post_init__(self) -> None:
        apply_profile(self, functools.partial(object.__setattr__, self))
        for name in (
            "authorization_endpoint",
            "token_endpoint",
            "jwks_uri",
            "revocation_endpoint",
            "introspection_endpoint",
            "pushed_authorization_request_endpoint",
            "userinfo_endpoint",
            "end_session_endpoint",
        ):
            check_endpoint(name, getattr(self, name), self.allow_insecure, self.issuer)
        check_endpoint("issuer", self.issuer, self.allow_insecure)
        self._check_mtls_aliases()
        check_redirect_uri(self.redirect_uri)
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
        if self.dpop_key is not None and not isinstance(self.dpop_key, DPoPKey):
            raise ConfigurationError("dpop_key must be a DPoPKey (DPoPKey.generate or load)")
        self._check_authorization_request()
        self._check_response_mode()
        if not self.id_token_algorithms or not set(self.id_token_algorithms) <= ID_TOKEN_ALGORITHMS:
            raise ConfigurationError(
                "id_token_algorithms must list asymmetric JWS algorithms only: "
                + ", ".join(sorted(ID_TOKEN_ALGORITHMS))
            )
        _check_id_token_leeway(self.id_token_leeway)
        self._check_parameters()
        check_profile(self)

    def _check_parameters(self) -> None:
        """Resource indicators, audiences and extra parameters (see :mod:`..parameters`)."""
        resources = check_resources("resource", self.resource)
        narrowed = self.token_resource
        if narrowed is not None:
            check_resources("token_resource", narrowed)
            if resources and not set(narrowed) <= set(resources):
                raise ConfigurationError(
                    "token_resource must name resources of resource (RFC 8707 2.2)"
                )
        check_audience("audience", self.audience)
        extra = self.extra_authorization_params
        if not isinstance(extra, Mapping):
            raise ConfigurationError("extra_authorization_params must be a mapping")
        check_reserved("extra_authorization_params", extra, PROTOCOL_PARAMETERS)
        check_extra_params("extra_token_params", self.extra_token_params)
        check_extra_params("extra_refresh_params", self.extra_refresh_params)
        if self.authorization_details or self.token_authorization_details:
            # anyoauth sends authorization_details itself then: no extra may add another.
            owned = frozenset({"authorization_details"})
            check_reserved("extra_authorization_params", extra, owned)
            check_reserved("extra_token_params", dict(self.extra_token_params), owned)
            check_reserved("extra_refresh_params", dict(self.extra_refresh_params), owned)

    def _token_targets(self) -> list[tuple[str, str]]:
        """``resource`` parameters for a token or refresh request (:attr:`token_resource`,
        else :attr:`resource`), in order."""
        narrowed = self.token_resource
        return [("resource", uri) for uri in (self.resource if narrowed is None else narrowed)]

    def _target_params(self, *, audience: bool) -> list[tuple[str, str]]:
        """``resource`` (all of :attr:`resource`) and, with ``audience``, ``audience``
        parameters: those of an authorization request."""
        params = [("resource", uri) for uri in self.resource]
        if audience:
            params += [("audience", name) for name in self.audience]
        return params

    def grant_params(self, *, direct: bool = False) -> list[tuple[str, str]]:
        """The parameters every token request of this strategy's grant adds to its own:
        the token resources (:attr:`token_resource` or :attr:`resource`), for a grant
        without a user step (``direct``) :attr:`audience`, then :attr:`extra_token_params`.
        A strategy building its own token request appends these."""
        params = self._token_targets()
        if direct:
            params += [("audience", name) for name in self.audience]
        return params + list(self.extra_token_params)

    def refresh_params(self) -> list[tuple[str, str]]:
        """The parameters every refresh request adds: the token resources (with
        ``openid``, servers such as oidc-provider issue an access token for the
        resource only when the refresh request names it too), then
        :attr:`extra_refresh_params`."""
        return self._token_targets() + list(self.extra_refresh_params)

    def _check_response_mode(self) -> None:
        from ..jarm import RESPONSE_MODES, RESPONSE_SIGNING_ALGORITHMS

        mode = self.response_mode
        if mode is not None and mode not in RESPONSE_MODES:
            raise ConfigurationError(
                "response_mode must be None or one of " + ", ".join(sorted(RESPONSE_MODES))
            )
        if mode in ("query", "query.jwt") and self.response_type != "code":
            # OAuth 2.0 Multiple Response Type Encoding Practices 2.1, JARM 2.3.1: a token
            # never travels in a query string.
            raise ConfigurationError(f"response_mode={mode} cannot carry a token response")
        if self.signs_responses and (self.issuer is None or self.jwks_uri is None):
            raise ConfigurationError(
                f"response_mode={mode} (a signed response) needs the issuer and jwks_uri"
            )
        algorithms = self.authorization_signing_algorithms
        if not algorithms or not set(algorithms) <= RESPONSE_SIGNING_ALGORITHMS:
            raise ConfigurationError(
                "authorization_signing_algorithms must list asymmetric JWS algorithms only: "
                + ", ".join(sorted(RESPONSE_SIGNING_ALGORITHMS))
            )

    def _check_client_auth(self) -> None:
        auth = self.client_auth
        if self.assertion_audience not in (None, "issuer", "endpoint"):
            raise ConfigurationError("assertion_audience must be 'issuer', 'endpoint' or None")
        if self.assertion_audience == "issuer" and self.issuer is None:
            raise ConfigurationError("assertion_audience='issuer' needs the issuer")
        if isinstance(auth, ClientAuthMethod):
            method = auth
        else:
            method = client_auth_method(
                auth,
                client_secret=self.client_secret,
                client_key=self.client_key,
                algorithm=self.client_assertion_algorithm,
                audience=self.assertion_audience,
                basic_form_encoded=self.basic_form_encoded,
            )
        method.check(client_id=self.client_id, issuer=self.issuer)
        object.__setattr__(self, "_authentication", method)

    def _check_mtls_aliases(self) -> None:
        aliases = self.mtls_endpoint_aliases
        if not isinstance(aliases, Mapping):
            raise ConfigurationError("mtls_endpoint_aliases must map endpoint names to URLs")
        targets: dict[str, str] = {}
        for name, alias in aliases.items():
            if not isinstance(name, str) or not isinstance(alias, str):
                raise ConfigurationError("mtls_endpoint_aliases must map endpoint names to URLs")
            check_endpoint("an mtls_endpoint_aliases URL", alias, self.allow_insecure, self.issuer)
            plain = getattr(self, name, None) if name.endswith("_endpoint") else None
            if self.use_mtls_endpoint_aliases and isinstance(plain, str):
                targets[plain] = alias
        object.__setattr__(self, "mtls_endpoint_aliases", MappingProxyType(dict(aliases)))
        object.__setattr__(self, "_mtls_targets", targets)

    @property
    def uses_client_certificate(self) -> bool:
        """Whether requests to the authorization server must present a TLS client
        certificate: the client authenticates with mutual TLS (``tls_client_auth``,
        ``self_signed_tls_client_auth``) or uses the mTLS endpoint aliases. The
        :class:`~anyoauth.Client` then refuses to make its own HTTP client (one
        without a certificate)."""
        return self._authentication.uses_client_certificate or self.use_mtls_endpoint_aliases

    def _check_authorization_request(self) -> None:
        """PAR and JAR settings: what they need, and the request object's key."""
        if self.push_authorization_request:
            if self.pushed_authorization_request_endpoint is None:
                raise ConfigurationError(
                    "push_authorization_request needs the pushed_authorization_request_endpoint"
                )
            if self.authorization_endpoint is None:
                raise ConfigurationError(
                    "push_authorization_request needs the authorization_endpoint"
                )
        if not self.sign_request_object:
            return
        if self.issuer is None:
            raise ConfigurationError("sign_request_object needs the issuer (the object's aud)")
        key, algorithm = self.request_object_key, self.request_object_algorithm
        method = self._authentication
        if key is None and isinstance(method, PrivateKeyJwt):
            key = method.key
            if algorithm is None and method.signing_algorithm in ID_TOKEN_ALGORITHMS:
                algorithm = method.signing_algorithm
        if key is None:
            raise ConfigurationError(
                "sign_request_object needs request_object_key (or private_key_jwt's client_key)"
            )
        signer = RequestObjectSigner.load(key, algorithm, lifetime=self.request_object_lifetime)
        object.__setattr__(self, "_request_signer", signer)

    @property
    def signs_request_object(self) -> bool:
        """Whether authorization parameters travel in a signed request object (RFC 9101)."""
        return self._request_signer is not None

    @property
    def request_object_signing_algorithm(self) -> str | None:
        """The JWS algorithm request objects are signed with, or ``None`` when they are not."""
        signer = self._request_signer
        return None if signer is None else signer.algorithm

    @property
    def authentication(self) -> ClientAuthMethod:
        """The client authentication every request to the authorization server carries
        (token, device authorization, revocation, introspection endpoints)."""
        return self._authentication

    @property
    def usable_token_types(self) -> frozenset[str]:
        """The token types this client can use: :attr:`token_types`, and ``dpop`` when
        it holds a :attr:`dpop_key`. A token response of any other type is refused.
        Under a :attr:`profile` with DPoP as the only sender constraint (no client
        certificate), ``dpop`` alone: a bearer token would be used unbound."""
        if self.dpop_key is None:
            return self.token_types
        if self.profile is not None and not self.uses_client_certificate:
            return DPOP
        return self.token_types | DPOP

    @property
    def signs_responses(self) -> bool:
        """Whether authorization responses come as a signed JWT (JARM): a
        :attr:`response_mode` of ``jwt``, ``query.jwt``, ``fragment.jwt`` or
        ``form_post.jwt``."""
        mode = self.response_mode
        return mode is not None and mode.endswith("jwt")

    @property
    def posts_responses(self) -> bool:
        """Whether the browser posts the authorization response to :attr:`redirect_uri`
        (``form_post`` or ``form_post.jwt``) rather than carrying it in the URL."""
        return self.response_mode in ("form_post", "form_post.jwt")

    @property
    def response_parameters_at(self) -> ResponseLocation:
        """Where the URL given to ``complete()`` carries the response parameters: the
        query for ``query`` and ``form_post`` modes (a posted form is handed over as the
        URL's query), the fragment for ``fragment`` modes; ``jwt`` follows the response
        type (query for ``code``, fragment for ``token``); without a response mode,
        :attr:`response_location`."""
        mode = self.response_mode
        if mode is None:
            return self.response_location
        if mode == "jwt":
            mode = "query.jwt" if self.response_type == "code" else "fragment.jwt"
        if mode.startswith("fragment"):
            return ResponseLocation.FRAGMENT
        return ResponseLocation.QUERY

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
    def _quoted_settings(self) -> Mapping[str, str]:
        """This strategy's public settings that go into every authorization URL or token
        request (``client_id``, ``redirect_uri``, the scope), form-quoted once.

        Only texts without ``,``, which quote alike in URLs (``safe=","``) and bodies;
        never a secret.
        """
        values = (self.client_id, self.redirect_uri, self.scope_param() if self.scope else None)
        return {
            value: form_quote(value, "")
            for value in values
            if value and "," not in value and not is_unreserved(value)
        }

    # -- identity -------------------------------------------------------------------

    @functools.cached_property
    def store_namespace(self) -> str:
        """The namespace of this strategy's tokens and pending logins in a store:
        ``name:client_id:server``, where ``server`` is a short digest of the issuer (or,
        without one, the token or authorization endpoint). Two servers that issued the
        same client_id never share a token or a pending login in one store. With
        :attr:`resource`, :attr:`token_resource` or :attr:`audience` set, a digest of
        them follows: a token for one resource is never handed out for another."""
        server = self.issuer or self.token_endpoint or self.authorization_endpoint or ""
        digest = hashlib.sha256(server.encode("utf-8", "surrogatepass")).hexdigest()[:12]
        namespace = f"{self.name}:{self.client_id}:{digest}"
        if self.resource or self.audience or self.token_resource:
            # A token for one resource or audience is never handed out for another.
            targets = "\x00".join(
                [*self.resource, "", *self.audience, "", *(self.token_resource or ())]
            )
            namespace += ":" + hashlib.sha256(targets.encode()).hexdigest()[:12]
        return namespace

    @property
    def binding(self) -> str:
        """The former name of :attr:`store_namespace`."""
        return self.store_namespace

    @property
    def user_step(self) -> UserStep:
        """How the user takes part in this flow's login (see :class:`UserStep`): a
        redirect back to :attr:`redirect_uri` when there is an authorization endpoint,
        else none. A strategy whose login works otherwise says so here."""
        return UserStep.REDIRECT if self.authorization_endpoint is not None else UserStep.NONE

    @property
    def interactive(self) -> bool:
        """Whether the login sends the user agent to the authorization endpoint and ends
        in a URL for ``complete()`` (:attr:`user_step` is REDIRECT or LANDING_PAGE)."""
        return self.user_step in (UserStep.REDIRECT, UserStep.LANDING_PAGE)

    @property
    def expects_id_token(self) -> bool:
        """Whether this flow's token answers carry an OpenID Connect id_token to verify
        (the scope asks for ``openid`` and id_tokens are verified): the server's key set
        is then fetched before the token request, so a rotated refresh token is never
        lost to a key set that cannot be fetched afterwards."""
        return self.verifies_id_tokens and "openid" in self.scope

    def key_set_request(self) -> HttpRequest:
        """The GET of the server's JSON Web Key Set (:attr:`jwks_uri`)."""
        if self.jwks_uri is None:
            raise ConfigurationError(f"{self.name} has no jwks_uri")
        return HttpRequest(method="GET", url=self.jwks_uri, headers=_JSON_ACCEPT)

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
        if self.dpop_key is not None and self.response_type == "code":
            # RFC 9449 10: the code is bound to the key that must redeem it.
            params.append(("dpop_jkt", self.dpop_key.thumbprint))
        if self.response_mode is not None:
            params.append(("response_mode", self.response_mode))
        params += self._target_params(audience=True)
        params += list(self.extra_authorization_params.items())
        params += self.authorization_details_params(self.authorization_details)
        return params

    @staticmethod
    def authorization_details_params(
        details: AuthorizationDetails | None,
    ) -> list[tuple[str, str]]:
        """The ``authorization_details`` form parameter (RFC 9396 2: one JSON array)
        for ``details``; none when there are none."""
        return [("authorization_details", details_json(details))] if details else []

    def authorization_url(
        self,
        *,
        state: str,
        code_challenge: str | None,
        nonce: str | None = None,
        now: float | None = None,
    ) -> str:
        """The URL to open in the user agent.

        With :attr:`sign_request_object`, the parameters go in a request object signed
        at ``now`` (required then), and the URL carries ``client_id`` and ``request``
        only (RFC 9101 5), plus ``response_type`` and ``scope`` for an OpenID Connect
        request (OpenID Connect Core 6.1 asks for them outside the object too; the
        server uses the object's).
        """
        if self.authorization_endpoint is None:
            raise ConfigurationError(f"{self.name} has no authorization endpoint")
        params = self.authorization_params(state=state, code_challenge=code_challenge, nonce=nonce)
        if self._request_signer is not None:
            if now is None:
                raise ConfigurationError("a signed request object needs the time (now)")
            wrapped = [("client_id", self.client_id), ("request", self.request_object(params, now))]
            if "openid" in self.scope:
                wrapped += [(k, v) for k, v in params if k in ("response_type", "scope")]
            params = wrapped
        return add_query(self.authorization_endpoint, params, self._quoted_settings)

    def request_object(self, params: Iterable[tuple[str, str]], now: float) -> str:
        """A request object (RFC 9101) carrying ``params``, signed at ``now`` for the
        issuer; :class:`ConfigurationError` when :attr:`sign_request_object` is off."""
        signer = self._request_signer
        if signer is None or self.issuer is None:
            raise ConfigurationError(f"{self.name} does not sign request objects")
        return signer.sign(params, client_id=self.client_id, audience=self.issuer, now=now)

    def pushed_authorization_request(
        self, *, state: str, code_challenge: str | None, nonce: str | None = None, now: float
    ) -> HttpRequest:
        """The push of the authorization request (RFC 9126 2.1): a form POST to
        :attr:`pushed_authorization_request_endpoint` with client authentication, of
        the authorization parameters, or of ``client_id`` and the signed ``request``
        with :attr:`sign_request_object`."""
        endpoint = self.pushed_authorization_request_endpoint
        if endpoint is None:
            raise ConfigurationError(f"{self.name} has no pushed_authorization_request_endpoint")
        params = self.authorization_params(state=state, code_challenge=code_challenge, nonce=nonce)
        if self._request_signer is None:
            return self.form_request(params, now=now, url=endpoint)

        def build(at: float) -> HttpRequest:
            # Every attempt carries a request object of its own (a fresh jti), as it
            # carries fresh client credentials.
            signed = [("client_id", self.client_id), ("request", self.request_object(params, at))]
            return attrs.evolve(self.form_request(signed, now=at, url=endpoint), rebuild=build)

        return build(now)

    def read_pushed_authorization(
        self, status_code: int, content_type: str | None, body: bytes, now: float
    ) -> PushedAuthorization:
        """Validate the push answer (see :meth:`PushedAuthorization.from_response`)."""
        return PushedAuthorization.from_response(status_code, content_type, body, received_at=now)

    def pushed_authorization_url(self, request_uri: str) -> str:
        """The URL the user agent opens after a push: the authorization endpoint with
        ``client_id`` and ``request_uri`` only (RFC 9126 4)."""
        if self.authorization_endpoint is None:
            raise ConfigurationError(f"{self.name} has no authorization endpoint")
        params = [("client_id", self.client_id), ("request_uri", request_uri)]
        return add_query(self.authorization_endpoint, params, self._quoted_settings)

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
        return redirect_of(parts, self.response_parameters_at), parts

    def response_state(self, redirect: Redirect) -> str | None:
        """The ``state`` that finds the pending flow ``redirect`` answers.

        For a signed response (:attr:`signs_responses`) it is read from the ``response``
        JWT WITHOUT verifying it: only to look the flow up. :meth:`verify_response`
        checks the JWT and the flow compares the verified state again. Unsigned
        parameters next to (or instead of) the signed response are refused here,
        before any flow is looked up (:class:`InvalidAuthorizationResponse`).
        """
        if not self.signs_responses:
            return redirect.state
        from ..jarm import unverified_response_state

        _signed_only(redirect)
        return unverified_response_state(redirect.get("response"))

    def verify_response(
        self, redirect: Redirect, *, jwks: Mapping[str, Any], now: float
    ) -> Redirect:
        """The parameters of a signed response, once its JWT is validated with ``jwks``
        (see :func:`~anyoauth._core.jarm.validate_authorization_response`); ``redirect``
        itself when responses are not signed."""
        if not self.signs_responses:
            return redirect
        from ..jarm import validate_authorization_response

        _signed_only(redirect)
        assert self.issuer is not None  # checked in __attrs_post_init__
        response = redirect.get("response") or ""
        return Redirect(
            validate_authorization_response(
                response,
                jwks=jwks,
                issuer=self.issuer,
                client_id=self.client_id,
                now=now,
                algorithms=self.authorization_signing_algorithms,
            )
        )

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
                    token_types=self.token_types,  # an implicit token is never DPoP-bound
                    missing_token_type=self.missing_token_type,
                )
            except ValueError as exc:
                raise MalformedRedirect(str(exc)) from None
        code = redirect.get("code")
        if not code:
            raise MalformedRedirect("the redirect carries no code")
        return self.code_exchange_request(code, pending, now=now)

    def authorization_response_extra(self, redirect: Redirect) -> Mapping[str, Any]:
        """What the login's token keeps in :attr:`Token.extra` from the authorization
        response itself (read after :meth:`read_authorization_response` accepted it):
        nothing by default. A provider that sends the client data only there (Apple's
        ``user`` field) returns it here, read strictly; an unusable value raises
        :class:`MalformedRedirect`. A refreshed token does not carry it."""
        return {}

    # -- token requests -------------------------------------------------------------

    def _token_url(self) -> str:
        if self.token_endpoint is None:
            raise ConfigurationError(f"{self.name} has no token endpoint")
        return self.token_endpoint

    def _credentials(self, target: str, now: float) -> Credentials:
        """:attr:`authentication`'s credentials for a request to ``target`` at ``now``:
        made once per URL for a method whose credentials never change."""
        method = self._authentication
        if method.fresh_per_request:
            return method.credentials(
                client_id=self.client_id, issuer=self.issuer, url=target, now=now
            )
        credentials = self._static_credentials.get(target)
        if credentials is None:
            credentials = self._static_credentials[target] = method.credentials(
                client_id=self.client_id, issuer=self.issuer, url=target, now=now
            )
        return credentials

    def form_request(
        self, params: Iterable[tuple[str, str]], *, now: float, url: str | None = None
    ) -> HttpRequest:
        """A form-encoded POST to ``url`` (by default the token endpoint) carrying
        :attr:`authentication`'s credentials, made at ``now``, and a DPoP proof when the
        strategy has a :attr:`dpop_key`. When the method signs (a JWT assertion) or a
        proof goes with it, the request knows how to build itself again
        (:attr:`HttpRequest.rebuild`): every retry then carries a fresh assertion for
        the same audience and a fresh proof with the server's latest nonce."""
        target = self._token_url() if url is None else url
        target = self._mtls_targets.get(target, target)
        known = self._quoted_settings
        key = self.dpop_key
        if key is None and not self._authentication.fresh_per_request:
            # The same request for every attempt: credentials made once per URL.
            credentials = self._credentials(target, now)
            params = list(params)
            return HttpRequest(
                method="POST",
                url=target,
                headers=_FORM_HEADERS + credentials.headers
                if credentials.headers
                else _FORM_HEADERS,
                content=form_encode(
                    [*params, *(pair for pair in credentials.params if pair not in params)],
                    known=known,
                ).encode(),
                extra_secrets=credentials.secrets,
            )
        fixed = tuple(params)
        remember = None if key is None else functools.partial(key.remember_nonce, target)

        def build(at: float) -> HttpRequest:
            signed = self._credentials(target, at)
            added = tuple(pair for pair in signed.params if pair not in fixed)
            headers = _FORM_HEADERS + signed.headers
            if key is not None:
                proof = key.proof("POST", target, now=at, nonce=key.nonce_for(target))
                headers += (("DPoP", proof),)
            return HttpRequest(
                method="POST",
                url=target,
                headers=headers,
                content=form_encode(fixed + added, known=known).encode(),
                extra_secrets=signed.secrets,
                rebuild=build,
                remember_nonce=remember,
            )

        return build(now)

    def code_exchange_request(self, code: str, pending: PendingFlow, *, now: float) -> HttpRequest:
        """The request that exchanges an authorization code (RFC 6749 4.1.3)."""
        params = [("grant_type", "authorization_code"), ("code", code)]
        if self.redirect_uri is not None:
            params.append(("redirect_uri", self.redirect_uri))
        if pending.code_verifier is not None:
            params.append(("code_verifier", pending.code_verifier))
        params += self.grant_params()
        params += self.authorization_details_params(self.token_authorization_details)
        return self.form_request(params, now=now)

    def direct_token_request(self, *, now: float) -> HttpRequest | None:
        """The request of a grant without a user step, or ``None`` if there is none."""
        return None

    def refresh_request(self, token: Token, *, now: float) -> HttpRequest | None:
        """The refresh grant request (RFC 6749 6), or ``None`` if it cannot refresh."""
        if not token.refresh_token or self.token_endpoint is None:
            return None
        return self.form_request(
            [
                ("grant_type", "refresh_token"),
                ("refresh_token", token.refresh_token),
                *self.refresh_params(),
                *self.authorization_details_params(self.token_authorization_details),
            ],
            now=now,
        )

    # -- the device grant (RFC 8628): a strategy whose user_step is DEVICE ----------

    def device_authorization_request(self, *, now: float) -> HttpRequest:
        """The device authorization request (RFC 8628 3.1), for a strategy whose
        :attr:`user_step` is ``DEVICE``; :class:`ConfigurationError` for others."""
        raise ConfigurationError(f"{self.name} is not a device grant")

    def read_device_authorization(
        self, status_code: int, content_type: str | None, body: bytes, now: float
    ) -> DeviceAuthorization:
        """Validate the device authorization response (RFC 8628 3.2)."""
        raise ConfigurationError(f"{self.name} is not a device grant")

    def device_token_request(self, device_code: str, *, now: float) -> HttpRequest:
        """The device access token request (RFC 8628 3.4)."""
        raise ConfigurationError(f"{self.name} is not a device grant")

    # -- CIBA (OpenID CIBA Core 1.0): a strategy whose user_step is DECOUPLED ---------

    @property
    def token_delivery_mode(self) -> Literal["poll", "ping"]:
        """How a CIBA strategy learns of the user's decision (``poll`` or ``ping``);
        ``poll`` for every other strategy."""
        return "poll"

    def backchannel_authentication_request(
        self,
        request: BackchannelRequest,
        *,
        client_notification_token: str | None,
        now: float,
    ) -> HttpRequest:
        """The backchannel authentication request (CIBA Core 7.1), for a strategy whose
        :attr:`user_step` is ``DECOUPLED``; :class:`ConfigurationError` for others."""
        raise ConfigurationError(f"{self.name} is not a backchannel authentication grant")

    def backchannel_token_request(self, auth_req_id: str, *, now: float) -> HttpRequest:
        """The CIBA token request (CIBA Core 10.1)."""
        raise ConfigurationError(f"{self.name} is not a backchannel authentication grant")

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

    def userinfo_request(self, token: Token, *, now: float) -> HttpRequest:
        """The GET of :attr:`userinfo_endpoint` (its mutual-TLS alias when the aliases
        are used) with ``token``: a DPoP-bound token with a proof of :attr:`dpop_key`
        (see :func:`~anyoauth._core.userinfo.userinfo_request`)."""
        from ..userinfo import userinfo_request

        if self.userinfo_endpoint is None:
            raise ConfigurationError(f"{self.name} has no userinfo endpoint")
        url = self._mtls_targets.get(self.userinfo_endpoint, self.userinfo_endpoint)
        return userinfo_request(url, token, dpop_key=self.dpop_key, now=now)

    def end_session_url(
        self,
        *,
        id_token_hint: str | None = None,
        post_logout_redirect_uri: str | None = None,
        state: str | None = None,
        ui_locales: str | Iterable[str] | None = None,
    ) -> str:
        """The RP-initiated logout URL (OpenID Connect RP-Initiated Logout 1.0) at
        :attr:`end_session_endpoint`, with :attr:`client_id` and the given parameters
        (see :func:`~anyoauth._core.userinfo.end_session_url`)."""
        from ..userinfo import end_session_url

        if self.end_session_endpoint is None:
            raise ConfigurationError(f"{self.name} has no end_session_endpoint")
        return end_session_url(
            self.end_session_endpoint,
            client_id=self.client_id,
            id_token_hint=id_token_hint,
            post_logout_redirect_uri=post_logout_redirect_uri,
            state=state,
            ui_locales=ui_locales,
            known=self._quoted_settings,
        )

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
        from .. import jose

        if self.issuer is None:
            raise ConfigurationError("validating an id_token needs the issuer")
        return jose.validate_id_token(
            id_token,
            jwks=jwks,
            issuer=self.issuer,
            client_id=self.client_id,
            now=now,
            nonce=nonce,
            algorithms=self.id_token_algorithms,
            leeway=self.id_token_leeway,
            access_token=access_token,
        )

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

        A signed response mode is never turned on from metadata: ``response_mode`` comes
        from ``kwargs`` only, and is refused (:class:`ConfigurationError`) when the server
        lists ``response_modes_supported`` without it. The server's
        ``authorization_signing_alg_values_supported`` that anyoauth accepts become
        :attr:`authorization_signing_algorithms` unless ``kwargs`` set them; likewise
        the server's ``id_token_signing_alg_values_supported`` that anyoauth accepts
        (asymmetric only: a listed ``none`` or ``HS256`` is never taken; with a
        ``profile``, only the profile's) become :attr:`id_token_algorithms` unless
        ``kwargs`` set them. When none is left, the defaults stay.

        ``allow_insecure`` stays off unless ``kwargs`` turn it on: http endpoints in the
        metadata are refused (:class:`ConfigurationError`) unless they and the issuer
        are all on loopback hosts. A ``dpop_key`` whose algorithm the server does not
        list in ``dpop_signing_alg_values_supported`` is refused.
        """
        from ..metadata import STRATEGY_ENDPOINTS

        names = attrs.fields_dict(cls)
        values: dict[str, Any] = {"issuer": metadata.issuer}
        for field in STRATEGY_ENDPOINTS:
            value = getattr(metadata, field)
            if value is not None and field in names:
                values[field] = value
        values["require_iss"] = metadata.authorization_response_iss_parameter_supported
        key = kwargs.get("dpop_key")
        listed = metadata.dpop_signing_alg_values_supported
        if isinstance(key, DPoPKey) and listed and not _dpop_algorithm_listed(key, listed):
            raise ConfigurationError(
                f"the server takes DPoP proofs signed with {', '.join(listed)}, "
                f"not {key.algorithm}: make the key for one of them"
            )
        par_endpoint = metadata.pushed_authorization_request_endpoint
        if par_endpoint is not None and "pushed_authorization_request_endpoint" in names:
            values["pushed_authorization_request_endpoint"] = par_endpoint
        if metadata.require_pushed_authorization_requests:
            values["push_authorization_request"] = True
        if metadata.require_signed_request_object:
            values["sign_request_object"] = True
        cls._request_object_algorithm_for(metadata, values, kwargs)
        if "client_auth" not in kwargs:
            methods = metadata.token_endpoint_auth_methods_supported or ("client_secret_basic",)
            if kwargs.get("profile") is not None and kwargs.get("client_key") is not None:
                values["client_auth"] = "private_key_jwt"  # the profile's strong method
            elif not kwargs.get("client_secret"):
                values["client_auth"] = "none"
            elif "client_secret_basic" not in methods and "client_secret_post" in methods:
                values["client_auth"] = "client_secret_post"
        if metadata.mtls_endpoint_aliases and "mtls_endpoint_aliases" in names:
            values["mtls_endpoint_aliases"] = metadata.mtls_endpoint_aliases
            auth = kwargs.get("client_auth")
            values["use_mtls_endpoint_aliases"] = (
                auth.uses_client_certificate
                if isinstance(auth, ClientAuthMethod)
                else auth in ("tls_client_auth", "self_signed_tls_client_auth")
            )
        mode = kwargs.get("response_mode")
        listed = metadata.response_modes_supported
        if mode is not None and listed and mode not in listed:
            raise ConfigurationError(
                f"the server does not list response_mode={mode} in its metadata "
                f"(it supports {', '.join(listed)})"
            )
        if "id_token_algorithms" not in kwargs:
            algorithms = _id_token_algorithms_of(metadata, kwargs.get("profile"))
            if algorithms:
                values["id_token_algorithms"] = algorithms
        if "authorization_signing_algorithms" not in kwargs:
            from ..jarm import RESPONSE_SIGNING_ALGORITHMS

            algorithms = tuple(
                alg
                for alg in metadata.authorization_signing_alg_values_supported
                if alg in RESPONSE_SIGNING_ALGORITHMS
            )
            if algorithms:
                values["authorization_signing_algorithms"] = algorithms
        _check_details_types(metadata, kwargs)
        values.update(kwargs)
        return cls(**values)

    @staticmethod
    def _request_object_algorithm_for(
        metadata: ServerMetadata, values: dict[str, Any], kwargs: Mapping[str, Any]
    ) -> None:
        """With signed request objects on and no algorithm given, the first one the
        server lists (``request_object_signing_alg_values_supported``) that fits the
        key: the ``private_key_jwt`` algorithm first, then PS256, ES256, EdDSA..."""
        from ..jar import choose_request_object_algorithm

        accepted = metadata.request_object_signing_alg_values_supported
        if (
            not accepted
            or not kwargs.get("sign_request_object", values.get("sign_request_object"))
            or kwargs.get("request_object_algorithm") is not None
        ):
            return
        key, first = kwargs.get("request_object_key"), None
        auth = kwargs.get("client_auth")
        if key is None and isinstance(auth, PrivateKeyJwt):
            key, first = auth.key, auth.signing_algorithm
        elif key is None and auth == "private_key_jwt":
            key = kwargs.get("client_key")
            first = kwargs.get("client_assertion_algorithm") or PrivateKeyJwt.default_algorithm
        if key is None:
            return
        chosen = choose_request_object_algorithm(key, accepted=accepted, first=first)
        if chosen is None:
            raise ConfigurationError(
                "no algorithm the server accepts for request objects fits the key "
                f"(it accepts {', '.join(accepted)})"
            )
        values["request_object_algorithm"] = chosen

    def parse_token_response(
        self, status_code: int, content_type: str | None, body: bytes, now: float
    ) -> Token:
        """Validate the token endpoint's answer (see :func:`parse_token_response`): a
        token of one of :attr:`usable_token_types`, with visible ASCII token values.
        A ``DPoP`` token records the thumbprint of the key it is bound to."""
        token = parse_token_response(
            status_code,
            content_type,
            body,
            received_at=now,
            token_types=self.usable_token_types,
            missing_token_type=self.missing_token_type,
        )
        if self.dpop_key is not None and token.token_type.lower() == "dpop":
            token = attrs.evolve(token, dpop_jkt=self.dpop_key.thumbprint)
        return token

    def can_use(self, token: Token) -> bool:
        """Whether ``token`` is of a type this strategy knows how to use (one of
        :attr:`usable_token_types`, compared without case) and, for a DPoP-bound token,
        bound to this strategy's :attr:`dpop_key`. The client never holds or sends a
        stored token that is not: an older version may have stored a ``Basic``,
        ``DPoP`` or ``N_A`` token before such responses were refused, and a client
        sharing the store may hold another DPoP key."""
        kind = token.token_type.lower()
        if kind == "dpop":
            key = self.dpop_key
            return key is not None and token.dpop_jkt in (None, key.thumbprint)
        return kind in self.usable_token_types


def _check_details_types(metadata: ServerMetadata, kwargs: Mapping[str, Any]) -> None:
    """Refuse details of a type the server does not list in
    ``authorization_details_types_supported`` (when it lists any)."""
    listed = metadata.authorization_details_types_supported
    if not listed:
        return
    for name in ("authorization_details", "token_authorization_details"):
        for kind in details_types(optional_authorization_details(kwargs.get(name))):
            if kind not in listed:
                shown = kind if kind.isascii() and len(kind) <= 80 else repr(kind[:80])
                raise ConfigurationError(
                    f"the server does not list the authorization_details type {shown} "
                    f"(it supports {', '.join(listed)})"
                )


def _dpop_algorithm_listed(key: DPoPKey, listed: tuple[str, ...]) -> bool:
    """Whether a server listing ``listed`` takes proofs of ``key`` ("EdDSA" and
    "Ed25519" name the same signatures)."""
    names = {key.algorithm}
    if key.algorithm in ("EdDSA", "Ed25519"):
        names = {"EdDSA", "Ed25519"}
    return bool(names & set(listed))


def _signed_only(redirect: Redirect) -> None:
    """Refuse a redirect of a signed-response flow that carries anything but ``response``:
    a parameter outside the JWT is unsigned, and believing it would undo the signature."""
    if "response" in redirect.params:
        if len(redirect.params) > 1:
            raise InvalidAuthorizationResponse(
                "unsigned parameters came with the signed response; refusing them all"
            )
        return
    error = redirect.get("error")
    if error is not None:
        shown = error if error.isascii() and error.isprintable() and len(error) <= 60 else "?"
        raise InvalidAuthorizationResponse(
            f"the server answered an unsigned error ({shown}) where a signed response was asked for"
        )
    raise InvalidAuthorizationResponse("the redirect carries no signed response")


def require(strategy: Strategy, *names: str) -> None:
    for name in names:
        if getattr(strategy, name) is None:
            raise ConfigurationError(f"{strategy.name} needs {name}")
