"""The public face of the provider emulator: :class:`ProviderEmulator`.

It owns what its users see: the options (as attributes that can change mid-test), the
registration methods, the test controls over issued tokens, the ``endpoints_*`` helpers,
the lock that makes each request atomic, the debug log, and the two adapters (an
in-process httpx transport, a loopback server). It composes one emulated provider per
module (``_geni``, ``_teamwork``, ``_keycloak``, ``_oauth_server``) on one shared
consent desk and clock, and lets the router (``_router``) send each request to the
provider that owns it. :meth:`ProviderEmulator.handle` does no IO.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import httpx

from ._dpop import DPOP_SIGNING_ALGS
from ._geni import EmulatedGeni, GeniEndpoints
from ._keycloak import EmulatedKeycloak, KeycloakEndpoints
from ._oauth_server import EmulatedOAuthServer, OAuthEndpoints
from ._provider_profiles_more import ProviderQuirks
from ._router import Router
from ._teamwork import EmulatedTeamwork, TeamworkEndpoints
from ._toolkit import PEER_CERTIFICATE, ConsentDesk, EmulatedProvider, EmulatorResponse, Request

if TYPE_CHECKING:
    import ssl

__all__ = ["ProviderEmulator"]

logger = logging.getLogger("anyoauth.testing")


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
    ``"keycloak.par"``, ``"bog.accounts"``, ``"oauth.authorize"``, ``"oauth.decision"``,
    ``"oauth.token"``,
    ``"oauth.par"``, ``"oauth.device_authorization"``, ``"oauth.verification"``,
    ``"oauth.verification_decision"``, ``"oauth.revoke"``, ``"oauth.introspect"``,
    ``"oauth.jwks"``, ``"oauth.userinfo"``, ``"oauth.api"``, ``"oauth.metadata"``,
    ``"oauth.openid_configuration"``, ``"oauth.backchannel_authentication"``, ``"not_found"``).

    The ``oauth_*`` options shape the generic server and let tests stage faults and
    attacks; each is also an attribute that can be changed at any time. The
    ``oauth_*dpop*`` options and ``oauth_token_type`` shape its DPoP (RFC 9449): proofs
    are checked at every endpoint that takes one, tokens asked for with a proof are
    bound to its key, and bound tokens are taken only with a proof.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        base_url: str | None = None,
        geni_percent_encode_fragment: bool = False,
        keycloak_response_mode: Literal["query", "fragment"] = "query",
        keycloak_par_expires_in: int = 60,
        oauth_expires_in: int = 3600,
        oauth_refresh_expires_in: int | None = None,
        oauth_refresh_reuse_revokes: bool = False,
        oauth_device_interval: int = 5,
        oauth_device_expires_in: int = 600,
        oauth_metadata_issuer: str | None = None,
        oauth_send_iss: bool | str = True,
        oauth_id_token_claims: Mapping[str, object] | None = None,
        oauth_assertion_audience: Literal["issuer", "issuer_or_endpoint"] = "issuer_or_endpoint",
        oauth_require_dpop: bool = False,
        oauth_dpop_nonce: bool = False,
        oauth_dpop_nonce_rotates: bool = False,
        oauth_dpop_always_challenge: bool = False,
        oauth_dpop_algorithms: Iterable[str] = DPOP_SIGNING_ALGS,
        oauth_dpop_iat_window: float = 60,
        oauth_token_type: str | None = None,
        oauth_mutual_tls: bool = False,
        oauth_require_pushed_authorization_requests: bool = False,
        oauth_require_signed_request_object: bool = False,
        oauth_par_expires_in: int = 60,
        oauth_par_response: Mapping[str, object] | None = None,
        oauth_jarm_attack: str | None = None,
        oauth_id_token_algorithm: str = "RS256",  # noqa: S107 - an algorithm, no secret
        oauth_token_exchange_attack: str | None = None,
        oauth_userinfo_signed: bool = False,
        oauth_userinfo_sub: str | None = None,
    ) -> None:
        self.clock = clock
        """Source of the current time for every expiry (see :class:`ManualClock`)."""
        self.base_url = base_url.rstrip("/") if base_url else None
        """Origin used in generated URLs; ``None`` uses the origin of each request."""
        self._consent = ConsentDesk(self._now)
        self._geni = EmulatedGeni(
            self._now, self._consent, percent_encode_fragment=geni_percent_encode_fragment
        )
        self._teamwork = EmulatedTeamwork(self._now, self._consent)
        self._keycloak = EmulatedKeycloak(
            self._now,
            self._consent,
            response_mode=keycloak_response_mode,
            par_expires_in=keycloak_par_expires_in,
        )
        self._oauth = EmulatedOAuthServer(
            self._now,
            self._consent,
            expires_in=oauth_expires_in,
            refresh_expires_in=oauth_refresh_expires_in,
            refresh_reuse_revokes=oauth_refresh_reuse_revokes,
            device_interval=oauth_device_interval,
            device_expires_in=oauth_device_expires_in,
            metadata_issuer=oauth_metadata_issuer,
            send_iss=oauth_send_iss,
            id_token_claims=oauth_id_token_claims,
            assertion_audience=oauth_assertion_audience,
            require_dpop=oauth_require_dpop,
            dpop_nonce=oauth_dpop_nonce,
            dpop_nonce_rotates=oauth_dpop_nonce_rotates,
            dpop_always_challenge=oauth_dpop_always_challenge,
            dpop_algorithms=oauth_dpop_algorithms,
            dpop_iat_window=oauth_dpop_iat_window,
            token_type=oauth_token_type,
            mutual_tls=oauth_mutual_tls,
            require_pushed_authorization_requests=oauth_require_pushed_authorization_requests,
            require_signed_request_object=oauth_require_signed_request_object,
            par_expires_in=oauth_par_expires_in,
            par_response=oauth_par_response,
            userinfo_signed=oauth_userinfo_signed,
            userinfo_sub=oauth_userinfo_sub,
        )
        self.oauth_jarm_attack = oauth_jarm_attack
        self.oauth_id_token_algorithm = oauth_id_token_algorithm
        self.oauth_token_exchange_attack = oauth_token_exchange_attack
        self._providers: tuple[EmulatedProvider[Any], ...] = (
            self._geni,
            self._teamwork,
            self._keycloak,
            self._oauth,
        )
        self._router = Router(self._providers)
        self._lock = threading.Lock()

    def _now(self) -> float:
        return self.clock()

    def __repr__(self) -> str:
        return (
            f"<ProviderEmulator geni={len(self._geni.apps)} teamwork={len(self._teamwork.apps)} "
            f"keycloak={len(self._keycloak.clients)} oauth={len(self._oauth.clients)} "
            f"tokens={sum(len(provider.tokens) for provider in self._providers)}>"
        )

    # -- options and records (each kept by the part that uses it) ---------------------

    @property
    def geni_percent_encode_fragment(self) -> bool:
        """Percent-encode Geni's whole success fragment, as Geni sometimes does."""
        return self._geni.percent_encode_fragment

    @geni_percent_encode_fragment.setter
    def geni_percent_encode_fragment(self, value: bool) -> None:
        self._geni.percent_encode_fragment = value

    @property
    def keycloak_response_mode(self) -> Literal["query", "fragment"]:
        """Where Keycloak's implicit response goes unless ``response_mode`` is sent."""
        return self._keycloak.response_mode

    @keycloak_response_mode.setter
    def keycloak_response_mode(self, value: Literal["query", "fragment"]) -> None:
        self._keycloak.response_mode = value

    @property
    def keycloak_par_expires_in(self) -> int:
        """Seconds a ``request_uri`` pushed to a Keycloak realm works (Keycloak's
        default: 60)."""
        return self._keycloak.par_expires_in

    @keycloak_par_expires_in.setter
    def keycloak_par_expires_in(self, value: int) -> None:
        self._keycloak.par_expires_in = value

    def keycloak_token_jkt(self, token: str) -> str | None:
        """The RFC 7638 thumbprint of the DPoP key an emulated Keycloak access token is
        bound to; ``None`` for a bearer token or a token it did not issue."""
        with self._lock:
            grant = self._keycloak.tokens.find(token)
            return None if grant is None else grant.jkt

    @property
    def oauth_expires_in(self) -> int:
        """Lifetime in seconds of the generic server's access and id tokens."""
        return self._oauth.expires_in

    @oauth_expires_in.setter
    def oauth_expires_in(self, value: int) -> None:
        self._oauth.expires_in = value

    @property
    def entra_tenant(self) -> str:
        """The tenant id (``tid``) of the user signing in on the Microsoft Entra ID
        paths (``/{tenant}/oauth2/v2.0/...``): their id_tokens name it in ``tid`` and
        ``iss``. Change it to sign in a user of another tenant."""
        return self._oauth.entra_tenant

    @entra_tenant.setter
    def entra_tenant(self, value: str) -> None:
        self._oauth.entra_tenant = value

    @property
    def provider_quirks(self) -> ProviderQuirks:
        """The knobs and records of the Apple, Auth0, Okta, Slack, Discord, Dropbox,
        Salesforce and X paths: Apple's registered keys and the ``user`` field it posts,
        which token Slack answers, Salesforce's ``issued_at``."""
        return self._oauth.quirks

    @property
    def oauth_refresh_expires_in(self) -> int | None:
        """Lifetime in seconds of its refresh tokens; ``None``: until used or revoked."""
        return self._oauth.refresh_expires_in

    @oauth_refresh_expires_in.setter
    def oauth_refresh_expires_in(self, value: int | None) -> None:
        self._oauth.refresh_expires_in = value

    @property
    def oauth_refresh_reuse_revokes(self) -> bool:
        """Presenting a spent (rotated) refresh token also revokes every token of its
        grant, as RFC 9700 section 4.14.2 recommends; off by default."""
        return self._oauth.refresh_reuse_revokes

    @oauth_refresh_reuse_revokes.setter
    def oauth_refresh_reuse_revokes(self, value: bool) -> None:
        self._oauth.refresh_reuse_revokes = value

    @property
    def oauth_device_interval(self) -> int:
        """The polling ``interval`` in seconds the device authorization endpoint answers
        with (0 lets tests poll without waiting)."""
        return self._oauth.device_interval

    @oauth_device_interval.setter
    def oauth_device_interval(self, value: int) -> None:
        self._oauth.device_interval = value

    @property
    def oauth_device_expires_in(self) -> int:
        """Lifetime in seconds of device codes and user codes."""
        return self._oauth.device_expires_in

    @oauth_device_expires_in.setter
    def oauth_device_expires_in(self, value: int) -> None:
        self._oauth.device_expires_in = value

    @property
    def oauth_metadata_issuer(self) -> str | None:
        """The ``issuer`` the metadata documents name; ``None``: the real one (the base
        URL). Set another to stage an impersonation or mix-up (RFC 8414 section 3.3)."""
        return self._oauth.metadata_issuer

    @oauth_metadata_issuer.setter
    def oauth_metadata_issuer(self, value: str | None) -> None:
        self._oauth.metadata_issuer = value

    @property
    def oauth_send_iss(self) -> bool | str:
        """The ``iss`` authorization response parameter (RFC 9207): ``True`` sends the
        issuer, ``False`` omits it, a string sends that string instead."""
        return self._oauth.send_iss

    @oauth_send_iss.setter
    def oauth_send_iss(self, value: bool | str) -> None:
        self._oauth.send_iss = value

    @property
    def oauth_id_token_claims(self) -> dict[str, object]:
        """Claims that override those of every id_token issued (e.g. ``{"aud": "other"}``
        or ``{"nonce": "forged"}``); a ``None`` value removes the claim."""
        return self._oauth.id_token_claims

    @oauth_id_token_claims.setter
    def oauth_id_token_claims(self, value: dict[str, object]) -> None:
        self._oauth.id_token_claims = value

    @property
    def oauth_assertion_audience(self) -> Literal["issuer", "issuer_or_endpoint"]:
        """The ``aud`` JWT client assertions must have. ``"issuer_or_endpoint"``: the
        issuer, or the URL of the endpoint the assertion is posted to, as a string or in
        an array (RFC 7523 as deployed). ``"issuer"``: exactly the issuer, as one string
        (draft-ietf-oauth-rfc7523bis). Neither accepts the token endpoint's URL in an
        assertion posted to another endpoint."""
        return self._oauth.clients.assertion_audience

    @oauth_assertion_audience.setter
    def oauth_assertion_audience(self, value: Literal["issuer", "issuer_or_endpoint"]) -> None:
        self._oauth.clients.assertion_audience = value

    @property
    def oauth_require_dpop(self) -> bool:
        """Refuse token requests without a DPoP proof (``400 invalid_dpop_proof``), so
        every token issued is DPoP-bound; protected resources then also challenge
        with ``WWW-Authenticate: DPoP``."""
        return self._oauth.require_dpop

    @oauth_require_dpop.setter
    def oauth_require_dpop(self, value: bool) -> None:
        self._oauth.require_dpop = value

    @property
    def oauth_dpop_nonce(self) -> bool:
        """Require the server's current nonce in every DPoP proof (RFC 9449 section 8
        and 9): a proof without it gets ``400 use_dpop_nonce`` from the token endpoint
        (401 ``WWW-Authenticate: DPoP error="use_dpop_nonce"`` from a protected
        resource) and every answer carries the nonce in ``DPoP-Nonce``."""
        return self._oauth.dpop.nonce_required

    @oauth_dpop_nonce.setter
    def oauth_dpop_nonce(self, value: bool) -> None:
        self._oauth.dpop.nonce_required = value

    @property
    def oauth_dpop_nonce_rotates(self) -> bool:
        """With :attr:`oauth_dpop_nonce`, make a new nonce for every answer (each
        ``DPoP-Nonce`` differs; a nonce cached from an earlier answer is stale)."""
        return self._oauth.dpop.nonce_rotates

    @oauth_dpop_nonce_rotates.setter
    def oauth_dpop_nonce_rotates(self, value: bool) -> None:
        self._oauth.dpop.nonce_rotates = value

    @property
    def oauth_dpop_always_challenge(self) -> bool:
        """Misbehave: answer every request carrying an otherwise valid DPoP proof with a
        ``use_dpop_nonce`` challenge and a new nonce, whatever nonce it carries (a
        client must retry once, not forever)."""
        return self._oauth.dpop.always_challenge

    @oauth_dpop_always_challenge.setter
    def oauth_dpop_always_challenge(self, value: bool) -> None:
        self._oauth.dpop.always_challenge = value

    @property
    def oauth_dpop_algorithms(self) -> tuple[str, ...]:
        """The JWS algorithms DPoP proofs may be signed with (asymmetric only; the
        metadata's ``dpop_signing_alg_values_supported``)."""
        return self._oauth.dpop.algorithms

    @oauth_dpop_algorithms.setter
    def oauth_dpop_algorithms(self, value: Iterable[str]) -> None:
        self._oauth.dpop.algorithms = tuple(value)

    @property
    def oauth_dpop_iat_window(self) -> float:
        """How far, in seconds, a DPoP proof's ``iat`` may be from the emulator's clock,
        either way; its ``jti`` is remembered as long."""
        return self._oauth.dpop.iat_window

    @oauth_dpop_iat_window.setter
    def oauth_dpop_iat_window(self, value: float) -> None:
        self._oauth.dpop.iat_window = value

    @property
    def oauth_token_type(self) -> str | None:
        """The ``token_type`` token answers name; ``None``: ``DPoP`` for a DPoP-bound
        token, ``Bearer`` otherwise. Another value stages a server that lies (``"DPoP"``
        for an unbound token, ``"Bearer"`` for a bound one); the binding is unchanged."""
        return self._oauth.token_type

    @oauth_token_type.setter
    def oauth_token_type(self, value: str | None) -> None:
        self._oauth.token_type = value

    @property
    def oauth_dpop_current_nonce(self) -> str:
        """The nonce DPoP proofs must carry now when :attr:`oauth_dpop_nonce` is on."""
        with self._lock:
            return self._oauth.dpop.nonce

    def rotate_oauth_dpop_nonce(self) -> str:
        """Make a new DPoP nonce current and return it; proofs carrying the old one get
        ``use_dpop_nonce`` from now on (a client's cached nonce goes stale)."""
        with self._lock:
            return self._oauth.dpop.rotate_nonce()

    def oauth_token_jkt(self, token: str) -> str | None:
        """The RFC 7638 thumbprint of the DPoP key a generic server access token is
        bound to; ``None`` for a bearer token or a token it did not issue."""
        with self._lock:
            grant = self._oauth.tokens.find(token)
            return None if grant is None else grant.jkt

    @property
    def oauth_mutual_tls(self) -> bool:
        """Whether the generic server's metadata advertises mutual TLS (RFC 8705): the
        ``tls_client_auth`` and ``self_signed_tls_client_auth`` methods,
        ``tls_client_certificate_bound_access_tokens`` and ``mtls_endpoint_aliases``
        (the endpoints under :data:`OAUTH_MTLS_PREFIX`). Serve the emulator with
        ``serve(ssl_context=...)`` so that clients can present certificates."""
        return self._oauth.mutual_tls

    @oauth_mutual_tls.setter
    def oauth_mutual_tls(self, value: bool) -> None:
        self._oauth.mutual_tls = value

    @property
    def oauth_require_pushed_authorization_requests(self) -> bool:
        """The generic server's authorization endpoint takes only pushed requests
        (RFC 9126 5: a ``request_uri`` from its ``/oauth/par`` endpoint); the metadata
        says so (``require_pushed_authorization_requests``)."""
        return self._oauth.require_pushed_authorization_requests

    @oauth_require_pushed_authorization_requests.setter
    def oauth_require_pushed_authorization_requests(self, value: bool) -> None:
        self._oauth.require_pushed_authorization_requests = value

    @property
    def oauth_require_signed_request_object(self) -> bool:
        """The generic server takes authorization parameters only in a signed request
        object (RFC 9101 10.5), by value or pushed; the metadata says so
        (``require_signed_request_object``)."""
        return self._oauth.require_signed_request_object

    @oauth_require_signed_request_object.setter
    def oauth_require_signed_request_object(self, value: bool) -> None:
        self._oauth.require_signed_request_object = value

    @property
    def oauth_par_expires_in(self) -> int:
        """Seconds a pushed request's ``request_uri`` works (the push answer's
        ``expires_in``)."""
        return self._oauth.par_expires_in

    @oauth_par_expires_in.setter
    def oauth_par_expires_in(self, value: int) -> None:
        self._oauth.par_expires_in = value

    @property
    def oauth_par_response(self) -> dict[str, object]:
        """Fields that override every push answer's (a huge ``request_uri``, a bad
        ``expires_in``...); a ``None`` value removes the field. For testing how a
        client takes hostile answers."""
        return self._oauth.par_response

    @oauth_par_response.setter
    def oauth_par_response(self, value: dict[str, object]) -> None:
        self._oauth.par_response = dict(value)

    @property
    def oauth_userinfo_signed(self) -> bool:
        """Whether the generic server's userinfo endpoint answers a signed JWT
        (``application/jwt``) instead of JSON."""
        return self._oauth.userinfo_signed

    @oauth_userinfo_signed.setter
    def oauth_userinfo_signed(self, value: bool) -> None:
        self._oauth.userinfo_signed = value

    @property
    def oauth_userinfo_sub(self) -> str | None:
        """``None``, or the ``sub`` the generic server's userinfo endpoint answers
        instead of the user's (a server answering about another user)."""
        return self._oauth.userinfo_sub

    @oauth_userinfo_sub.setter
    def oauth_userinfo_sub(self, value: str | None) -> None:
        self._oauth.userinfo_sub = value

    @property
    def oauth_ended_sessions(self) -> list[str]:
        """The clients whose session the generic server's end-session endpoint ended."""
        return self._oauth.ended_sessions

    @property
    def oauth_allowed_resources(self) -> tuple[str, ...] | None:
        """The resource indicators (RFC 8707) the generic server knows: ``None`` (the
        default) takes any absolute URI without a fragment; otherwise any other is
        refused with ``invalid_target``."""
        return self._oauth.allowed_resources

    @oauth_allowed_resources.setter
    def oauth_allowed_resources(self, value: Iterable[str] | None) -> None:
        self._oauth.allowed_resources = None if value is None else tuple(value)

    @property
    def oauth_one_resource_per_token(self) -> bool:
        """Whether the generic server refuses a token or refresh request naming more
        than one resource (``invalid_target``), as panva's oidc-provider does."""
        return self._oauth.one_resource_per_token

    @oauth_one_resource_per_token.setter
    def oauth_one_resource_per_token(self, value: bool) -> None:
        self._oauth.one_resource_per_token = value

    @property
    def oauth_required_token_params(self) -> dict[str, str]:
        """Parameters every token request but a refresh must carry with these values
        (``invalid_request`` otherwise)."""
        return self._oauth.required_token_params

    @oauth_required_token_params.setter
    def oauth_required_token_params(self, value: Mapping[str, str]) -> None:
        self._oauth.required_token_params = dict(value)

    @property
    def oauth_required_refresh_params(self) -> dict[str, str]:
        """Parameters every refresh request must carry with these values."""
        return self._oauth.required_refresh_params

    @oauth_required_refresh_params.setter
    def oauth_required_refresh_params(self, value: Mapping[str, str]) -> None:
        self._oauth.required_refresh_params = dict(value)

    @property
    def oauth_extension_grants(self) -> dict[str, tuple[str, str]]:
        """Grant types the generic server's token endpoint takes beyond its own (RFC
        6749 4.5), each with the ``(parameter, value)`` the grant must carry; any
        client may use them and gets a token (and a refresh token when it may
        refresh). Change it in place."""
        return self._oauth.extension_grants

    @property
    def oauth_token_requests(self) -> list[tuple[tuple[str, str], ...]]:
        """The parameters of every request to the generic server's token endpoint, in
        order, with the values of secret parameters blanked."""
        return self._oauth.token_requests

    @property
    def oauth_jarm_attack(self) -> str | None:
        """How the generic server spoils every signed authorization response (JARM):
        ``None`` (it does not), ``"tampered"``, ``"wrong_iss"``, ``"wrong_aud"``,
        ``"expired"``, ``"unknown_key"``, ``"alg_none"`` or ``"alg_hs256"``."""
        return self._oauth.jarm_attack

    @oauth_jarm_attack.setter
    def oauth_jarm_attack(self, value: str | None) -> None:
        from ._oauth_server import JARM_ATTACKS

        if value is not None and value not in JARM_ATTACKS:
            raise ValueError(f"oauth_jarm_attack must be None or one of {sorted(JARM_ATTACKS)}")
        self._oauth.jarm_attack = value

    @property
    def oauth_id_token_algorithm(self) -> str:
        """How the generic server signs id_tokens, and the one algorithm its metadata
        lists in ``id_token_signing_alg_values_supported``: ``"RS256"`` (the default)
        or ``"EdDSA"`` (an Ed25519 key, published in its key set)."""
        return self._oauth.id_token_algorithm

    @oauth_id_token_algorithm.setter
    def oauth_id_token_algorithm(self, value: str) -> None:
        from ._oauth_server import ID_TOKEN_SIGNING_ALGS

        if value not in ID_TOKEN_SIGNING_ALGS:
            raise ValueError(f"oauth_id_token_algorithm must be one of {ID_TOKEN_SIGNING_ALGS}")
        self._oauth.id_token_algorithm = value

    @property
    def oauth_token_exchange_attack(self) -> str | None:
        """How the generic server spoils every token exchange answer (RFC 8693):
        ``None`` (it does not), ``"missing_issued_token_type"``, ``"n_a_access_token"``,
        ``"forged_issued_token_type"`` or ``"echo_subject_token"`` (see
        ``TOKEN_EXCHANGE_ATTACKS``)."""
        return self._oauth.token_exchange_attack

    @oauth_token_exchange_attack.setter
    def oauth_token_exchange_attack(self, value: str | None) -> None:
        from ._oauth_server import TOKEN_EXCHANGE_ATTACKS

        if value is not None and value not in TOKEN_EXCHANGE_ATTACKS:
            raise ValueError(
                "oauth_token_exchange_attack must be None or one of "
                f"{sorted(TOKEN_EXCHANGE_ATTACKS)}"
            )
        self._oauth.token_exchange_attack = value

    @property
    def oauth_authorization_details_types(self) -> tuple[str, ...]:
        """The ``authorization_details`` types (RFC 9396) the generic server accepts and
        lists in ``authorization_details_types_supported``; empty (the default): any
        type, and none listed. Details of another type are refused with
        ``invalid_authorization_details``."""
        return self._oauth.authorization_details_types

    @oauth_authorization_details_types.setter
    def oauth_authorization_details_types(self, value: Iterable[str]) -> None:
        self._oauth.authorization_details_types = tuple(value)

    @property
    def oauth_authorization_details_attack(self) -> str | None:
        """How the generic server spoils the ``authorization_details`` of its token and
        introspection answers: ``None`` (it does not), ``"not_array"``, ``"no_type"``,
        ``"huge"``, ``"other"``, ``"string"`` or ``"omit_on_refresh"`` (see
        ``AUTHORIZATION_DETAILS_ATTACKS``)."""
        return self._oauth.authorization_details_attack

    @oauth_authorization_details_attack.setter
    def oauth_authorization_details_attack(self, value: str | None) -> None:
        from ._oauth_server import AUTHORIZATION_DETAILS_ATTACKS

        if value is not None and value not in AUTHORIZATION_DETAILS_ATTACKS:
            raise ValueError(
                "oauth_authorization_details_attack must be None or one of "
                f"{sorted(AUTHORIZATION_DETAILS_ATTACKS)}"
            )
        self._oauth.authorization_details_attack = value

    def oauth_token_details(self, token: str) -> list[dict[str, Any]] | None:
        """The ``authorization_details`` the generic server granted with an access
        token it issued; ``None`` for a token issued without any."""
        with self._lock:
            return self._oauth.token_details.get(token)

    @property
    def calls(self) -> Counter[str]:
        """Requests received, per endpoint name."""
        return self._router.calls

    @calls.setter
    def calls(self, value: Counter[str]) -> None:
        self._router.calls = value

    @property
    def authorization_requests(self) -> list[dict[str, str]]:
        """Query parameters of every authorization request, in order (e.g. ``display``)."""
        return self._consent.requests

    @authorization_requests.setter
    def authorization_requests(self, value: list[dict[str, str]]) -> None:
        self._consent.requests = value

    # -- registration -----------------------------------------------------------------

    def add_geni_app(
        self, client_id: str, *, scopes: Iterable[str] | None = None, name: str = "Geni test app"
    ) -> None:
        """Register a Geni app. With ``scopes``, requests for any other scope fail."""
        self._geni.add_app(client_id, scopes=scopes, name=name)

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
        self._teamwork.add_app(client_id, client_secret, redirect_uris, allowed_origins, name=name)

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
        require_dpop: bool = False,
        require_pushed_authorization_requests: bool = False,
    ) -> None:
        """Register a confidential client in a Keycloak realm (Bank of Georgia's is ``bog``).

        ``app_id`` is echoed in token responses (a number is made up when omitted);
        ``scope`` is the scope client credentials tokens are granted. With
        ``refresh_tokens`` (Keycloak's "use refresh tokens for client credentials
        grant" with "revoke refresh token" on), client credentials answers carry a
        refresh token, and ``grant_type=refresh_token`` rotates it: each refresh
        token works once; a spent one gets ``invalid_grant``.

        DPoP (RFC 9449) works as in Keycloak: a token request with a proof gets an access
        token bound to its key (``token_type`` ``DPoP``; the refresh token of this
        confidential client stays unbound), which the accounts API takes only with
        ``Authorization: DPoP`` and a proof. ``require_dpop`` is Keycloak's "Require
        DPoP bound tokens": token requests without a proof get ``400
        invalid_dpop_proof`` and the implicit step is refused. Requests may be pushed to
        the realm's ``ext/par/request`` endpoint (RFC 9126);
        ``require_pushed_authorization_requests`` is Keycloak's "Pushed authorization
        request required": the authorize step then takes only a ``request_uri``.
        """
        self._keycloak.add_client(
            client_id,
            client_secret,
            realm=realm,
            redirect_uris=redirect_uris,
            app_id=app_id,
            scope=scope,
            refresh_tokens=refresh_tokens,
            require_dpop=require_dpop,
            require_pushed_authorization_requests=require_pushed_authorization_requests,
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
            "tls_client_auth",
            "self_signed_tls_client_auth",
            "none",
        ] = "client_secret_basic",
        jwks: Mapping[str, Any] | None = None,
        require_pkce: bool = True,
        basic_form_encoded: bool = True,
        scopes: Iterable[str] | None = None,
        tls_client_auth_subject_dn: str | None = None,
        tls_client_auth_san_dns: str | None = None,
        tls_client_auth_san_uri: str | None = None,
        tls_client_auth_san_ip: str | None = None,
        tls_client_auth_san_email: str | None = None,
        certificate_bound_access_tokens: bool = True,
        post_logout_redirect_uris: Iterable[str] = (),
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
        public client that sends only ``client_id``). ``jwks`` also verifies the
        client's signed request objects (RFC 9101), whatever its ``auth_method``: ``typ``
        ``oauth-authz-req+jwt``, an RS/PS/ES/EdDSA ``alg``, ``iss`` the client, ``aud``
        the issuer, an unexpired ``exp``, a past ``nbf`` and an unseen ``jti``; only the
        object's parameters count. The pushed authorization request endpoint
        (RFC 9126, ``/oauth/par``) authenticates the client as the token endpoint does
        and answers a single-use ``request_uri`` that only this client can use. Assertions must have
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

        Mutual TLS (RFC 8705; serve with ``serve(ssl_context=...)``):
        ``"tls_client_auth"`` clients present a certificate the server's TLS context
        verified, whose subject DN (RFC 4514 text, e.g. ``"CN=app,O=Example"``) or
        subject alternative name equals the one registered: give exactly one of
        ``tls_client_auth_subject_dn``, ``tls_client_auth_san_dns``, ``_san_uri``,
        ``_san_ip``, ``_san_email``. ``"self_signed_tls_client_auth"`` clients present a
        certificate that is the first ``x5c`` of a key in ``jwks``. Every token issued
        over a connection that presents a certificate is bound to it (``cnf.x5t#S256``
        in introspection; the userinfo endpoint and the API refuse it over a connection
        without that certificate), unless ``certificate_bound_access_tokens`` is false;
        a public client's refresh tokens are bound too.

        ``post_logout_redirect_uris`` are where the end-session endpoint (OpenID
        Connect RP-Initiated Logout 1.0) may send the browser after logging the user
        out of this client (exact match); any other is refused.
        """
        rules = [
            (name, value)
            for name, value in (
                ("subject_dn", tls_client_auth_subject_dn),
                ("san_dns", tls_client_auth_san_dns),
                ("san_uri", tls_client_auth_san_uri),
                ("san_ip", tls_client_auth_san_ip),
                ("san_email", tls_client_auth_san_email),
            )
            if value is not None
        ]
        if len(rules) > 1:
            raise ValueError("give one tls_client_auth_subject_dn or tls_client_auth_san_*")
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
            tls_client_auth=rules[0] if rules else None,
            certificate_bound_access_tokens=certificate_bound_access_tokens,
        )
        self._oauth.post_logout_redirect_uris[client_id] = tuple(post_logout_redirect_uris)

    def approve_device(self, user_code: str, *, allow: bool = True) -> None:
        """Decide a pending device authorization as its user would on the verification
        page: approve it, or deny it with ``allow=False``.

        ``user_code`` is matched ignoring case, spaces and dashes. Raises
        :class:`ValueError` when it is unknown, expired or already decided.
        """
        with self._lock:
            self._oauth.decide_device(user_code, allow)

    # -- CIBA (OpenID Client-Initiated Backchannel Authentication) -------------------------

    def set_oauth_backchannel_mode(
        self,
        client_id: str,
        mode: Literal["poll", "ping"] = "poll",
        notification_endpoint: str | None = None,
    ) -> None:
        """Register how the generic server's CIBA client ``client_id`` (registered with
        the grant type ``urn:openid:params:grant-type:ciba``) gets its result: ``poll``,
        or ``ping`` to ``notification_endpoint`` (required then). A CIBA client not set
        here polls."""
        with self._lock:
            self._oauth.backchannel.register(client_id, mode, notification_endpoint)

    def approve_backchannel(self, hint: str, *, allow: bool = True) -> None:
        """Decide the oldest undecided CIBA request for the user named ``hint`` (the
        ``login_hint``, ``login_hint_token`` or ``id_token_hint`` the client sent) as
        that user would on their authentication device: approve it, or deny it with
        ``allow=False``. A ping client's notification is queued
        (:meth:`deliver_backchannel_notifications` sends it). Raises
        :class:`ValueError` when there is no such request."""
        with self._lock:
            self._oauth.backchannel.decide(hint, allow)

    @property
    def oauth_backchannel_requests(self) -> list[tuple[str, str | None]]:
        """The undecided CIBA requests: each user's hint and the binding message."""
        with self._lock:
            return self._oauth.backchannel.pending()

    @property
    def oauth_backchannel_received(self) -> list[dict[str, str]]:
        """The parameters of every backchannel authentication request received."""
        with self._lock:
            return list(self._oauth.backchannel.received)

    @property
    def oauth_ciba_interval(self) -> int:
        """The CIBA polling ``interval`` answered, in seconds (default 5)."""
        return self._oauth.backchannel.interval

    @oauth_ciba_interval.setter
    def oauth_ciba_interval(self, value: int) -> None:
        self._oauth.backchannel.interval = value

    @property
    def oauth_ciba_expires_in(self) -> int:
        """The CIBA requests' ``expires_in``, in seconds (default 600)."""
        return self._oauth.backchannel.expires_in

    @oauth_ciba_expires_in.setter
    def oauth_ciba_expires_in(self, value: int) -> None:
        self._oauth.backchannel.expires_in = value

    @property
    def oauth_ciba_attack(self) -> str | None:
        """``None``, or how every CIBA ping is spoilt: ``"wrong_notification_token"``
        or ``"wrong_auth_req_id"``."""
        return self._oauth.backchannel.attack

    @oauth_ciba_attack.setter
    def oauth_ciba_attack(self, value: str | None) -> None:
        from ._oauth_ciba import CIBA_ATTACKS

        if value is not None and value not in CIBA_ATTACKS:
            raise ValueError("oauth_ciba_attack must be None or one of " + ", ".join(CIBA_ATTACKS))
        self._oauth.backchannel.attack = value

    async def deliver_backchannel_notifications(self, http: Any) -> list[int]:
        """POST every queued CIBA ping to its client's notification endpoint with
        ``http`` (an ``httpx.AsyncClient`` or ``httpx2.AsyncClient``), as the server
        would (CIBA Core 10.2: ``Authorization: Bearer <client_notification_token>``,
        ``{"auth_req_id": ...}``); return the statuses the endpoints answered."""
        with self._lock:
            outbox, self._oauth.backchannel.outbox = self._oauth.backchannel.outbox, []
        statuses = []
        for note in outbox:
            response = await http.post(note.url, headers=note.headers, content=note.body)
            statuses.append(response.status_code)
        return statuses

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
            return any(provider.tokens.valid(token) is not None for provider in self._providers)

    def revoke(self, token: str) -> None:
        """Revoke one access token."""
        with self._lock:
            for provider in self._providers:
                provider.tokens.revoke(token)

    def revoke_all(self) -> None:
        """Revoke every access token, refresh token, unused code and pending device
        authorization."""
        with self._lock:
            for provider in self._providers:
                provider.revoke_all()

    # -- URLs --------------------------------------------------------------------------

    def endpoints_geni(self, base_url: str) -> GeniEndpoints:
        """Keyword arguments pointing :func:`anyoauth.providers.Geni` at this emulator.

        Keys: ``authorize_url``, ``success_url``, ``failure_url``, ``token_url``. The API
        is at ``base_url + GENI_PROFILE_PATH``.
        """
        return EmulatedGeni.endpoints(base_url)

    def endpoints_teamwork(self, base_url: str) -> TeamworkEndpoints:
        """Keyword arguments pointing :func:`anyoauth.providers.Teamwork` at this emulator.

        Keys: ``login_url``, ``token_url``. The API base is the token response's
        ``installation.apiEndPoint`` (``base_url + "/"``).
        """
        return EmulatedTeamwork.endpoints(base_url)

    def endpoints_keycloak(
        self, base_url: str, realm: str = "bog", *, par: bool = False
    ) -> KeycloakEndpoints:
        """Keyword arguments pointing :func:`anyoauth.providers.Keycloak` or ``BankOfGeorgia``
        at ``realm`` on this emulator.

        Keys: ``authorize_url``, ``token_url``, and with ``par`` ``par_url`` (the realm's
        pushed authorization request endpoint, for a preset given
        ``push_authorization_request=True``). The Bank of Georgia API is at
        ``base_url + BOG_ACCOUNTS_PATH``.
        """
        return EmulatedKeycloak.endpoints(base_url, realm, par=par)

    def endpoints_oauth(self, base_url: str) -> OAuthEndpoints:
        """The generic server's URLs on ``base_url``, which is also its issuer.

        Keys (RFC 8414 names): ``issuer``, ``authorization_endpoint``,
        ``token_endpoint``, ``device_authorization_endpoint``,
        ``revocation_endpoint``, ``introspection_endpoint``, ``jwks_uri``,
        ``userinfo_endpoint``, and the metadata documents' ``metadata_url``
        (RFC 8414) and ``openid_configuration_url``. The protected resource is at
        ``base_url + OAUTH_API_PATH``.
        """
        return EmulatedOAuthServer.endpoints(base_url)

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

    def serve(
        self, host: str = "127.0.0.1", port: int = 0, *, ssl_context: ssl.SSLContext | None = None
    ) -> AbstractAsyncContextManager[str]:
        """Serve the emulator over HTTP/1.1 on ``host``:``port`` (a free port by default).

        ``async with emulator.serve() as base_url:`` yields e.g.
        ``"http://127.0.0.1:54321"``; works on asyncio and trio; the server and
        its connections close when the block exits.

        With ``ssl_context`` (a server context: its certificate and key loaded) it
        serves HTTPS and yields ``"https://..."``. For mutual TLS, let the context ask
        for client certificates (``verify_mode = ssl.CERT_OPTIONAL``, so clients
        without one still connect) and trust the certificate authorities of the
        ``tls_client_auth`` clients and the self-signed certificates of the
        ``self_signed_tls_client_auth`` ones (``load_verify_locations``): the
        certificate each connection presents goes with its requests to :meth:`handle`. A connection
        whose certificate the context does not trust fails its handshake.
        """
        from ._server import serve

        return serve(self.handle, host, port, ssl_context=ssl_context)

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
        On a TLS connection of :meth:`serve`, the certificate the client presented
        (mutual TLS) is the request's too.
        """
        items = list(headers.items() if isinstance(headers, Mapping) else headers)
        counts = Counter(name.lower() for name, _ in items)
        parts = urlsplit(url)
        request = Request(
            method=method.upper(),
            path=parts.path or "/",
            query={},
            headers={name.lower(): value for name, value in items},
            body=body,
            base=self.base_url or f"{parts.scheme}://{parts.netloc}",
            repeated=frozenset(name for name, count in counts.items() if count > 1),
            client_certificate=PEER_CERTIFICATE.get(),
        )
        with self._lock:
            response = self._router.answer(request, parts.query)
        logger.debug("%s %s -> %d", request.method, request.path, response.status)
        return response
