"""Keycloak as the emulator plays it, for Bank of Georgia (realm ``bog``) and any other
realm: the implicit authorize step (pushed or not), client credentials with HTTP Basic
client authentication, optional rotating refresh tokens, DPoP-bound access tokens, and
Bank of Georgia's accounts API.

Keycloak's quirks live here: every path hangs under a realm's OpenID Connect prefix
(:data:`KEYCLOAK_REALM_PATH`) and an unknown realm is a 404 of its own; the page language
follows ``kc_locale``; the implicit answer goes in the query unless ``response_mode``
(or the emulator's default) says fragment; the token endpoint takes HTTP Basic only, with
form-urlencoded credentials; tokens are JWT-shaped; and the answer carries
``refresh_expires_in``, ``not-before-policy`` and the client's ``app_id``.

DPoP (RFC 9449) as Keycloak does it (https://www.keycloak.org/securing-apps/dpop): a
token request with a ``DPoP`` proof gets an access token bound to the proof's key
(``token_type`` ``DPoP``, the JWT's ``typ`` ``DPoP`` and ``cnf.jkt``), whatever the
grant; a confidential client's refresh token stays unbound; a client with "Require DPoP
bound tokens" must send a proof and cannot use the implicit step; Keycloak sends no DPoP
nonces. Proofs are checked by :class:`~._dpop.DPoPVerifier`, the generic server's. The
accounts API takes a bound token only as ``Authorization: DPoP`` with a proof (``ath``).
Pushed authorization requests (RFC 9126) go to Keycloak's ``ext/par/request`` path and
are kept in :class:`~._oauth_par.PushedRequests`, as the generic server keeps its own.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
import secrets
from collections.abc import Iterable
from typing import Literal, NoReturn, NotRequired, TypedDict
from urllib.parse import quote, unquote, unquote_plus

import attrs

from ._dpop import DPoPNonceError, DPoPProofError, DPoPVerifier, VerifiedProof
from ._oauth_par import PushedRequest, PushedRequests, RequestObjectError
from ._toolkit import (
    NO_STORE,
    Clock,
    ConsentDesk,
    EmulatedProvider,
    EmulatorResponse,
    Grant,
    Request,
    Route,
    Ticket,
    b64url,
    fail,
    json_response,
    media_type,
    new_uuid,
    oauth_error,
    optional,
    page,
    redirect,
    with_fragment,
    with_query,
)

__all__ = [
    "BOG_ACCOUNTS_PATH",
    "KEYCLOAK_DPOP_ALGS",
    "KEYCLOAK_REALM_PATH",
    "EmulatedKeycloak",
    "KeycloakEndpoints",
    "KeycloakGrant",
]

KEYCLOAK_REALM_PATH = "/auth/realms/{realm}/protocol/openid-connect"
"""A Keycloak realm's OpenID Connect prefix; ``/auth``, ``/auth/decision``, ``/token``
and ``/ext/par/request`` live under it."""
BOG_ACCOUNTS_PATH = "/api/businessonline/accounts"
"""Bank of Georgia Business Online API: the company's accounts (Keycloak Bearer token)."""

KEYCLOAK_DPOP_ALGS = (
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
    "PS256",
    "PS384",
    "PS512",
    "RS256",
    "RS384",
    "RS512",
)
"""The algorithms Keycloak takes DPoP proofs in: its asymmetric signature algorithms
(its ``dpop_signing_alg_values_supported``)."""
KEYCLOAK_DPOP_IAT_WINDOW = 25
"""Keycloak takes a proof whose ``iat`` is within its 10 s proof lifetime plus 15 s of
clock skew."""
KEYCLOAK_EXPIRES_IN = 300
KEYCLOAK_REFRESH_EXPIRES_IN = 1800
KEYCLOAK_PAR_EXPIRES_IN = 60
_ROUTE = re.compile(
    r"/auth/realms/([^/]+)/protocol/openid-connect/(auth|auth/decision|token|ext/par/request)"
)


class KeycloakEndpoints(TypedDict):
    """Keyword arguments for ``Keycloak`` and ``BankOfGeorgia`` (see ``endpoints_keycloak``)."""

    authorize_url: str
    token_url: str
    par_url: NotRequired[str]


@attrs.frozen(kw_only=True)
class KeycloakGrant(Grant):
    """What one of the emulated Keycloak's access tokens stands for."""

    realm: str
    """The realm that issued it."""
    client_id: str
    """The client it was issued to."""
    jkt: str | None = None
    """The RFC 7638 thumbprint of the DPoP key it is bound to; ``None``: a bearer token."""


@attrs.frozen
class _KeycloakClient:
    secret: str = attrs.field(repr=False)
    redirect_uris: frozenset[str]
    app_id: str
    scope: str
    refresh_tokens: bool = False
    require_dpop: bool = False
    require_pushed_authorization_requests: bool = False


@attrs.frozen
class _Refresh:
    realm: str
    client_id: str
    expires_at: float


def _realm_prefix(realm: str) -> str:
    return KEYCLOAK_REALM_PATH.format(realm=quote(realm, safe=""))


def _location(redirect_uri: str, mode: str, params: list[tuple[str, str]]) -> str:
    if mode == "fragment":
        return with_fragment(redirect_uri, params)
    return with_query(redirect_uri, params)


def _no_realm(request: Request) -> EmulatorResponse:
    return json_response(404, {"error": "Realm does not exist"})


class EmulatedKeycloak(EmulatedProvider[KeycloakGrant]):
    """Keycloak realms: confidential clients, the implicit authorize step (pushed or
    not), client credentials (and refresh) with DPoP, and Bank of Georgia's accounts
    API."""

    def __init__(
        self,
        clock: Clock,
        consent: ConsentDesk,
        *,
        response_mode: Literal["query", "fragment"] = "query",
        par_expires_in: int = KEYCLOAK_PAR_EXPIRES_IN,
    ) -> None:
        super().__init__(clock, consent)
        self.response_mode = response_mode
        """Where the implicit response goes unless the request sends ``response_mode``."""
        self.par_expires_in = par_expires_in
        """Seconds a pushed request's ``request_uri`` works (Keycloak's realm setting
        "Lifetime of the Request URI for Pushed Authorization Request", 60 by default)."""
        self.clients: dict[tuple[str, str], _KeycloakClient] = {}
        """The registered clients, by realm and ``client_id``."""
        self.dpop = DPoPVerifier(
            clock, algorithms=KEYCLOAK_DPOP_ALGS, iat_window=KEYCLOAK_DPOP_IAT_WINDOW
        )
        """The DPoP proof checks and the ``jti`` values seen (no nonces: Keycloak sends
        none)."""
        self.pushed = PushedRequests(clock)
        """The pushed requests not used yet (their ``client_id`` is ``realm/client``)."""
        self._refresh_tokens: dict[str, _Refresh] = {}

    def __repr__(self) -> str:
        return f"<EmulatedKeycloak clients={len(self.clients)} tokens={len(self.tokens)}>"

    def add_client(
        self,
        client_id: str,
        client_secret: str,
        *,
        realm: str,
        redirect_uris: Iterable[str],
        app_id: str | None,
        scope: str,
        refresh_tokens: bool,
        require_dpop: bool = False,
        require_pushed_authorization_requests: bool = False,
    ) -> None:
        """Register a confidential client in ``realm``; ``app_id`` is made up when omitted."""
        app_id = app_id if app_id is not None else str(1000 + len(self.clients))
        self.clients[realm, client_id] = _KeycloakClient(
            secret=client_secret,
            redirect_uris=frozenset(redirect_uris),
            app_id=app_id,
            scope=scope,
            refresh_tokens=refresh_tokens,
            require_dpop=require_dpop,
            require_pushed_authorization_requests=require_pushed_authorization_requests,
        )

    @staticmethod
    def endpoints(base_url: str, realm: str, *, par: bool = False) -> KeycloakEndpoints:
        """Keyword arguments pointing ``Keycloak(...)`` or ``BankOfGeorgia(...)`` at
        ``realm`` on an emulator on ``base_url``; with ``par``, ``par_url`` too."""
        prefix = base_url.rstrip("/") + _realm_prefix(realm)
        endpoints: KeycloakEndpoints = {
            "authorize_url": prefix + "/auth",
            "token_url": prefix + "/token",
        }
        if par:
            endpoints["par_url"] = prefix + "/ext/par/request"
        return endpoints

    def routes(self) -> dict[str, Route]:
        """Bank of Georgia's API path (the realm paths go through :meth:`route`)."""
        return {BOG_ACCOUNTS_PATH: Route("GET", "bog.accounts", self._bog_accounts)}

    def route(self, path: str) -> Route | None:
        """The route of a realm path; a realm without clients answers 404."""
        match = _ROUTE.fullmatch(path)
        if match is None:
            return None
        realm, endpoint = unquote(match[1]), match[2]
        if not any(r == realm for r, _ in self.clients):
            return Route(None, "not_found", _no_realm)
        if endpoint == "auth":
            return Route("GET", "keycloak.authorize", functools.partial(self._authorize, realm))
        if endpoint == "auth/decision":
            return Route("POST", "keycloak.decision", self.consent.decision)
        if endpoint == "ext/par/request":
            return Route("POST", "keycloak.par", functools.partial(self._par, realm))
        return Route("POST", "keycloak.token", functools.partial(self._token, realm))

    def revoke_all(self) -> None:
        """Revoke every access and refresh token, and every pushed request."""
        super().revoke_all()
        self._refresh_tokens.clear()
        self.pushed.clear()

    def _authorize(self, realm: str, request: Request) -> EmulatorResponse:
        params = dict(request.query)
        lang = params.get("kc_locale") or "en"
        client_id = params.get("client_id", "")
        client = self.clients.get((realm, client_id))
        if client is not None and "request_uri" in params:
            try:
                pushed = self.pushed.take(params["request_uri"], f"{realm}/{client_id}")
            except RequestObjectError:
                return page(400, "We are sorry...", "Invalid Request", lang=lang)
            # RFC 9126 4: the pushed parameters are the request; only client_id is outside.
            params = {**pushed.params, "client_id": client_id}
            lang = params.get("kc_locale") or lang
        elif client is not None and client.require_pushed_authorization_requests:
            self.consent.record(params)
            message = "Pushed Authorization Request is only allowed."
            return page(400, "We are sorry...", message, lang=lang)
        self.consent.record(params)
        if client is None:
            return page(400, "We are sorry...", "Client not found.", lang=lang)
        if params.get("redirect_uri") not in client.redirect_uris:
            return page(400, "We are sorry...", "Invalid parameter: redirect_uri", lang=lang)
        mode = params.get("response_mode") or self.response_mode
        if mode not in ("query", "fragment"):
            return page(400, "We are sorry...", "Invalid parameter: response_mode", lang=lang)
        if params.get("response_type") != "token":
            error = [("error", "unsupported_response_type"), *optional(params, "state")]
            return redirect(_location(params["redirect_uri"], mode, error))
        if client.require_dpop:
            # Keycloak issues no DPoP token in the front channel: a client that requires
            # DPoP-bound tokens has implicit requests refused.
            error = [("error", "invalid_request"), *optional(params, "state")]
            return redirect(_location(params["redirect_uri"], mode, error))
        return self.consent.show(
            client_id=params["client_id"],
            params={**params, "response_mode": mode},
            action=_realm_prefix(realm) + "/auth/decision",
            title=f"Sign in to {realm}",
            decide=functools.partial(self._decide, realm),
            lang=lang,
        )

    def _decide(
        self, realm: str, request: Request, ticket: Ticket, allow: bool
    ) -> EmulatorResponse:
        params, state = ticket.params, optional(ticket.params, "state")
        if not allow:
            answer = [("error", "access_denied"), *state]
        else:
            scope = params.get("scope", "")
            token = self._jwt(request, realm, ticket.client_id, scope)
            answer = [
                ("access_token", token),
                ("token_type", "bearer"),
                ("expires_in", str(KEYCLOAK_EXPIRES_IN)),
                *state,
                ("session_state", new_uuid()),
            ]
        return redirect(_location(params["redirect_uri"], params["response_mode"], answer))

    def _jwt(
        self, request: Request, realm: str, client_id: str, scope: str, jkt: str | None = None
    ) -> str:
        now = int(self.clock())
        header = {"alg": "RS256", "typ": "JWT", "kid": "emulator"}
        claims: dict[str, object] = {
            "exp": now + KEYCLOAK_EXPIRES_IN,
            "iat": now,
            "jti": new_uuid(),
            "iss": f"{request.base}/auth/realms/{realm}",
            "typ": "Bearer" if jkt is None else "DPoP",
            "azp": client_id,
            "scope": scope,
        }
        if jkt is not None:
            claims["cnf"] = {"jkt": jkt}
        parts = [json.dumps(p, separators=(",", ":")).encode() for p in (header, claims)]
        parts.append(secrets.token_bytes(64))
        token = ".".join(b64url(p) for p in parts)
        grant = KeycloakGrant(
            expires_at=now + KEYCLOAK_EXPIRES_IN, realm=realm, client_id=client_id, jkt=jkt
        )
        return self.tokens.issue(token, grant)

    def _authenticate(self, realm: str, request: Request) -> tuple[str, _KeycloakClient]:
        """The client of a token or push request: HTTP Basic with form-urlencoded
        credentials (answers 401 otherwise)."""
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic" or not credentials.strip():
            fail(oauth_error(401, "invalid_client", "Missing HTTP Basic client authentication."))
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            fail(oauth_error(401, "invalid_client", "Malformed HTTP Basic credentials."))
        raw_id, _, raw_secret = decoded.partition(":")
        client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
        client = self.clients.get((realm, client_id))
        if client is None or not secrets.compare_digest(secret.encode(), client.secret.encode()):
            fail(
                oauth_error(
                    401, "unauthorized_client", "Invalid client or Invalid client credentials"
                )
            )
        return client_id, client

    def _proof(self, request: Request, client: _KeycloakClient) -> VerifiedProof | None:
        """The request's verified DPoP proof, or ``None`` when it has none and the client
        does not require one; answers 400 ``invalid_dpop_proof`` otherwise."""
        try:
            proof = self.dpop.verify(request)
        except (DPoPNonceError, DPoPProofError) as error:
            fail(oauth_error(400, "invalid_dpop_proof", str(error)))
        if proof is None and client.require_dpop:
            fail(oauth_error(400, "invalid_dpop_proof", "DPoP proof is missing"))
        return proof

    def _token(self, realm: str, request: Request) -> EmulatorResponse:
        if media_type(request.headers) != "application/x-www-form-urlencoded":
            return oauth_error(400, "invalid_request", "Content-Type must be form-urlencoded.")
        client_id, client = self._authenticate(realm, request)
        proof = self._proof(request, client)
        jkt = None if proof is None else proof.jkt
        form = request.form()
        grant_type = form.get("grant_type")
        if not grant_type:
            return oauth_error(400, "invalid_request", "Missing form parameter: grant_type")
        if grant_type == "refresh_token" and client.refresh_tokens:
            spent = self._refresh_tokens.pop(form.get("refresh_token", ""), None)
            if (
                spent is None
                or (spent.realm, spent.client_id) != (realm, client_id)
                or spent.expires_at <= self.clock()
            ):
                return oauth_error(400, "invalid_grant", "Token is not active")
        elif grant_type != "client_credentials":
            return oauth_error(400, "unsupported_grant_type", "Unsupported grant_type")
        redirect_uri = form.get("redirect_uri")
        if redirect_uri is not None and redirect_uri not in client.redirect_uris:
            return oauth_error(400, "invalid_request", "Invalid parameter: redirect_uri")
        payload: dict[str, object] = {
            "access_token": self._jwt(request, realm, client_id, client.scope, jkt),
            "expires_in": KEYCLOAK_EXPIRES_IN,
            "refresh_expires_in": 0,
            "token_type": "bearer" if jkt is None else "DPoP",
            "not-before-policy": 0,
            "scope": client.scope,
            "app_id": client.app_id,
        }
        if client.refresh_tokens:
            refresh_token = secrets.token_urlsafe(32)
            expires_at = self.clock() + KEYCLOAK_REFRESH_EXPIRES_IN
            self._refresh_tokens[refresh_token] = _Refresh(realm, client_id, expires_at)
            payload["refresh_token"] = refresh_token
            payload["refresh_expires_in"] = KEYCLOAK_REFRESH_EXPIRES_IN
        return json_response(200, payload)

    def _par(self, realm: str, request: Request) -> EmulatorResponse:
        """Keycloak's pushed authorization request endpoint (RFC 9126): the client
        authenticates as at the token endpoint; the parameters are checked as the
        authorize step checks them; ``201`` with a single-use ``request_uri``."""
        if media_type(request.headers) != "application/x-www-form-urlencoded":
            return oauth_error(400, "invalid_request", "Content-Type must be form-urlencoded.")
        client_id, client = self._authenticate(realm, request)
        form = dict(request.form())
        if "request_uri" in form:
            return oauth_error(
                400, "invalid_request", "It is not allowed to include request_uri to PAR."
            )
        self._proof(request, client)
        if form.get("client_id", client_id) != client_id:
            return oauth_error(400, "invalid_request", "Invalid parameter: client_id")
        if form.get("redirect_uri") not in client.redirect_uris:
            return oauth_error(400, "invalid_request", "Invalid parameter: redirect_uri")
        if form.get("response_type") != "token" or client.require_dpop:
            return oauth_error(400, "invalid_request", "Unsupported response type")
        params = {name: value for name, value in form.items() if name != "client_secret"}
        pushed = PushedRequest(
            client_id=f"{realm}/{client_id}",
            params=params,
            signed=False,
            expires_at=self.clock() + self.par_expires_in,
        )
        answer = {"request_uri": self.pushed.push(pushed), "expires_in": self.par_expires_in}
        return json_response(201, answer, *NO_STORE)

    def _resource_grant(self, request: Request) -> KeycloakGrant:
        """The grant of a protected request's access token: a bearer token as
        ``Authorization: Bearer``, a DPoP-bound one only as ``Authorization: DPoP`` with
        a proof by its key carrying ``ath`` (answers 401 otherwise)."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        scheme, token = scheme.lower(), token.strip()
        grant = self.tokens.valid(token) if scheme in ("bearer", "dpop") and token else None
        if grant is None:
            challenge = ("WWW-Authenticate", 'Bearer error="invalid_token"')
            fail(oauth_error(401, "invalid_token", "The access token is invalid.", challenge))
        if scheme == "bearer" and grant.jkt is None:
            return grant
        if grant.jkt is None:
            self._dpop_refusal("invalid_token", "The access token type is not DPoP.")
        if scheme == "bearer":
            # RFC 9449 7.1: a bound token is never taken as a bearer token.
            self._dpop_refusal("invalid_token", "The access token type is DPoP.")
        try:
            proof = self.dpop.verify(request, access_token=token)
        except (DPoPNonceError, DPoPProofError) as error:
            self._dpop_refusal("invalid_dpop_proof", str(error))
        if proof is None:
            self._dpop_refusal("invalid_dpop_proof", "DPoP proof is missing")
        if proof.jkt != grant.jkt:
            self._dpop_refusal("invalid_dpop_proof", "DPoP confirmation doesn't match DPoP proof")
        return grant

    def _dpop_refusal(self, error: str, description: str) -> NoReturn:
        algs = " ".join(self.dpop.algorithms)
        challenge = (
            "WWW-Authenticate",
            f'DPoP algs="{algs}", error="{error}", error_description="{description}"',
        )
        fail(oauth_error(401, error, description, challenge))

    def _bog_accounts(self, request: Request) -> EmulatorResponse:
        self._resource_grant(request)
        account = {
            "AccountNumber": "GE00BG0000000000000001",
            "Currency": "GEL",
            "Name": "Current account",
            "AvailableBalance": 1000.0,
        }
        return json_response(200, [account])
