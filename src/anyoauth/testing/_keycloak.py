"""Keycloak as the emulator plays it, for Bank of Georgia (realm ``bog``) and any other
realm: the implicit authorize step, client credentials with HTTP Basic client
authentication, optional rotating refresh tokens, and Bank of Georgia's accounts API.

Keycloak's quirks live here: every path hangs under a realm's OpenID Connect prefix
(:data:`KEYCLOAK_REALM_PATH`) and an unknown realm is a 404 of its own; the page language
follows ``kc_locale``; the implicit answer goes in the query unless ``response_mode``
(or the emulator's default) says fragment; the token endpoint takes HTTP Basic only, with
form-urlencoded credentials; tokens are JWT-shaped; and the answer carries
``refresh_expires_in``, ``not-before-policy`` and the client's ``app_id``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
import secrets
from collections.abc import Iterable
from typing import Literal, TypedDict
from urllib.parse import quote, unquote, unquote_plus

import attrs

from ._toolkit import (
    Clock,
    ConsentDesk,
    EmulatedProvider,
    EmulatorResponse,
    Grant,
    Request,
    Route,
    Ticket,
    b64url,
    json_response,
    media_type,
    new_uuid,
    oauth_error,
    optional,
    page,
    redirect,
    require_bearer,
    with_fragment,
    with_query,
)

__all__ = [
    "BOG_ACCOUNTS_PATH",
    "KEYCLOAK_REALM_PATH",
    "EmulatedKeycloak",
    "KeycloakEndpoints",
]

KEYCLOAK_REALM_PATH = "/auth/realms/{realm}/protocol/openid-connect"
"""A Keycloak realm's OpenID Connect prefix; ``/auth``, ``/auth/decision`` and ``/token``
live under it."""
BOG_ACCOUNTS_PATH = "/api/businessonline/accounts"
"""Bank of Georgia Business Online API: the company's accounts (Keycloak Bearer token)."""

KEYCLOAK_EXPIRES_IN = 300
KEYCLOAK_REFRESH_EXPIRES_IN = 1800
_ROUTE = re.compile(r"/auth/realms/([^/]+)/protocol/openid-connect/(auth|auth/decision|token)")


class KeycloakEndpoints(TypedDict):
    """Keyword arguments for ``Keycloak`` and ``BankOfGeorgia`` (see ``endpoints_keycloak``)."""

    authorize_url: str
    token_url: str


@attrs.frozen
class _KeycloakClient:
    secret: str = attrs.field(repr=False)
    redirect_uris: frozenset[str]
    app_id: str
    scope: str
    refresh_tokens: bool = False


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


class EmulatedKeycloak(EmulatedProvider[Grant]):
    """Keycloak realms: confidential clients, the implicit authorize step, client
    credentials (and refresh), and Bank of Georgia's accounts API."""

    def __init__(
        self,
        clock: Clock,
        consent: ConsentDesk,
        *,
        response_mode: Literal["query", "fragment"] = "query",
    ) -> None:
        super().__init__(clock, consent)
        self.response_mode = response_mode
        """Where the implicit response goes unless the request sends ``response_mode``."""
        self.clients: dict[tuple[str, str], _KeycloakClient] = {}
        """The registered clients, by realm and ``client_id``."""
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
    ) -> None:
        """Register a confidential client in ``realm``; ``app_id`` is made up when omitted."""
        app_id = app_id if app_id is not None else str(1000 + len(self.clients))
        self.clients[realm, client_id] = _KeycloakClient(
            secret=client_secret,
            redirect_uris=frozenset(redirect_uris),
            app_id=app_id,
            scope=scope,
            refresh_tokens=refresh_tokens,
        )

    @staticmethod
    def endpoints(base_url: str, realm: str) -> KeycloakEndpoints:
        """Keyword arguments pointing ``Keycloak(...)`` or ``BankOfGeorgia(...)`` at
        ``realm`` on an emulator on ``base_url``."""
        prefix = base_url.rstrip("/") + _realm_prefix(realm)
        return {"authorize_url": prefix + "/auth", "token_url": prefix + "/token"}

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
        return Route("POST", "keycloak.token", functools.partial(self._token, realm))

    def revoke_all(self) -> None:
        """Revoke every access and refresh token."""
        super().revoke_all()
        self._refresh_tokens.clear()

    def _authorize(self, realm: str, request: Request) -> EmulatorResponse:
        params = request.query
        self.consent.record(params)
        lang = params.get("kc_locale") or "en"
        client = self.clients.get((realm, params.get("client_id", "")))
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

    def _jwt(self, request: Request, realm: str, client_id: str, scope: str) -> str:
        now = int(self.clock())
        header = {"alg": "RS256", "typ": "JWT", "kid": "emulator"}
        claims = {
            "exp": now + KEYCLOAK_EXPIRES_IN,
            "iat": now,
            "jti": new_uuid(),
            "iss": f"{request.base}/auth/realms/{realm}",
            "typ": "Bearer",
            "azp": client_id,
            "scope": scope,
        }
        parts = [json.dumps(p, separators=(",", ":")).encode() for p in (header, claims)]
        parts.append(secrets.token_bytes(64))
        token = ".".join(b64url(p) for p in parts)
        return self.tokens.issue(token, Grant(expires_at=now + KEYCLOAK_EXPIRES_IN))

    def _token(self, realm: str, request: Request) -> EmulatorResponse:
        if media_type(request.headers) != "application/x-www-form-urlencoded":
            return oauth_error(400, "invalid_request", "Content-Type must be form-urlencoded.")
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic" or not credentials.strip():
            return oauth_error(401, "invalid_client", "Missing HTTP Basic client authentication.")
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return oauth_error(401, "invalid_client", "Malformed HTTP Basic credentials.")
        raw_id, _, raw_secret = decoded.partition(":")
        client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
        client = self.clients.get((realm, client_id))
        if client is None or not secrets.compare_digest(secret.encode(), client.secret.encode()):
            return oauth_error(
                401, "unauthorized_client", "Invalid client or Invalid client credentials"
            )
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
            "access_token": self._jwt(request, realm, client_id, client.scope),
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
            self._refresh_tokens[refresh_token] = _Refresh(realm, client_id, expires_at)
            payload["refresh_token"] = refresh_token
            payload["refresh_expires_in"] = KEYCLOAK_REFRESH_EXPIRES_IN
        return json_response(200, payload)

    def _bog_accounts(self, request: Request) -> EmulatorResponse:
        require_bearer(request, self.tokens)
        account = {
            "AccountNumber": "GE00BG0000000000000001",
            "Currency": "GEL",
            "Name": "Current account",
            "AvailableBalance": 1000.0,
        }
        return json_response(200, [account])
