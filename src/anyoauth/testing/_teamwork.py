"""Teamwork as the emulator plays it: Launchpad's App Login Flow (a login page that
redirects with a code), the JSON code exchange, Teamwork's paths, and the ``me.json`` API.

Teamwork's quirks live here: redirect URIs match exactly, codes are UUIDs that live 15
minutes and work once, the exchange is a JSON POST (with the ``Origin`` checked for apps
registered with ``allowed_origins``), errors carry ``status`` and ``message`` besides the
OAuth fields, tokens never expire, and the answer carries ``installation`` and ``user``.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterable, Mapping
from typing import TypedDict

import attrs

from ._toolkit import (
    PERSON,
    Clock,
    ConsentDesk,
    EmulatedProvider,
    EmulatorResponse,
    Grant,
    Request,
    Route,
    Ticket,
    json_response,
    media_type,
    new_uuid,
    optional,
    page,
    redirect,
    require_bearer,
    with_query,
)

__all__ = [
    "TEAMWORK_DECISION_PATH",
    "TEAMWORK_LOGIN_PATH",
    "TEAMWORK_ME_PATH",
    "TEAMWORK_TOKEN_PATH",
    "EmulatedTeamwork",
    "TeamworkEndpoints",
]

TEAMWORK_LOGIN_PATH = "/launchpad/login"
"""Teamwork Launchpad's App Login Flow page."""
TEAMWORK_DECISION_PATH = "/launchpad/login/decision"
"""Where Teamwork's login form posts the user's decision."""
TEAMWORK_TOKEN_PATH = "/launchpad/v1/token.json"
"""Teamwork's JSON code exchange endpoint."""
TEAMWORK_ME_PATH = "/projects/api/v3/me.json"
"""Teamwork API (under ``installation.apiEndPoint``): the signed-in person."""

TEAMWORK_CODE_TTL = 15 * 60
_COMPANY = {"id": 1, "name": "Emulated Company", "logo": ""}


class TeamworkEndpoints(TypedDict):
    """Keyword arguments for :func:`anyoauth.providers.Teamwork` (see ``endpoints_teamwork``)."""

    login_url: str
    token_url: str


@attrs.frozen
class _TeamworkApp:
    name: str
    secret: str = attrs.field(repr=False)
    redirect_uris: frozenset[str]
    allowed_origins: frozenset[str]


@attrs.frozen
class _Code:
    client_id: str
    redirect_uri: str
    expires_at: float


def _error(status: int, error: str, message: str) -> EmulatorResponse:
    payload = {"status": "error", "message": message, "error": error, "error_description": message}
    return json_response(status, payload)


class EmulatedTeamwork(EmulatedProvider[Grant]):
    """Teamwork's App Login Flow: apps, the login page, codes, the JSON exchange and the
    ``me.json`` API."""

    def __init__(self, clock: Clock, consent: ConsentDesk) -> None:
        super().__init__(clock, consent)
        self.apps: dict[str, _TeamworkApp] = {}
        """The registered apps, by ``client_id``."""
        self._codes: dict[str, _Code] = {}
        self._used_codes: set[str] = set()

    def __repr__(self) -> str:
        return f"<EmulatedTeamwork apps={len(self.apps)} tokens={len(self.tokens)}>"

    def add_app(
        self,
        client_id: str,
        client_secret: str,
        redirect_uris: Iterable[str],
        allowed_origins: Iterable[str],
        *,
        name: str,
    ) -> None:
        """Register an app with its exact redirect URIs and, if any, allowed origins."""
        self.apps[client_id] = _TeamworkApp(
            name=name,
            secret=client_secret,
            redirect_uris=frozenset(redirect_uris),
            allowed_origins=frozenset(o.rstrip("/") for o in allowed_origins),
        )

    @staticmethod
    def endpoints(base_url: str) -> TeamworkEndpoints:
        """Keyword arguments pointing ``Teamwork(...)`` at an emulator on ``base_url``."""
        base = base_url.rstrip("/")
        return {"login_url": base + TEAMWORK_LOGIN_PATH, "token_url": base + TEAMWORK_TOKEN_PATH}

    def routes(self) -> Mapping[str, Route]:
        """Teamwork's paths."""
        return {
            TEAMWORK_LOGIN_PATH: Route("GET", "teamwork.login", self._login),
            TEAMWORK_DECISION_PATH: Route("POST", "teamwork.decision", self.consent.decision),
            TEAMWORK_TOKEN_PATH: Route("POST", "teamwork.token", self._token),
            TEAMWORK_ME_PATH: Route("GET", "teamwork.me", self._me),
        }

    def revoke_all(self) -> None:
        """Revoke every token and every unused code (spent codes stay spent)."""
        super().revoke_all()
        self._codes.clear()

    def _login(self, request: Request) -> EmulatorResponse:
        params = request.query
        self.consent.record(params)
        app = self.apps.get(params.get("client_id", ""))
        if app is None:
            return page(400, "Login failed", "Unknown client_id.")
        if params.get("redirect_uri") not in app.redirect_uris:
            message = f"The redirect_uri {params.get('redirect_uri', '')} is not registered."
            return page(400, "Login failed", message)
        return self.consent.show(
            client_id=params["client_id"],
            params=dict(params),
            action=TEAMWORK_DECISION_PATH,
            title=f"Teamwork: log in to {app.name}",
            decide=self._decide,
        )

    def _decide(self, request: Request, ticket: Ticket, allow: bool) -> EmulatorResponse:
        redirect_uri = ticket.params["redirect_uri"]
        if not allow:
            params = [("error", "access_denied"), ("error_description", "The user denied access.")]
            return redirect(with_query(redirect_uri, params + optional(ticket.params, "state")))
        code = new_uuid()
        expires_at = self.clock() + TEAMWORK_CODE_TTL
        self._codes[code] = _Code(ticket.client_id, redirect_uri, expires_at)
        return redirect(
            with_query(redirect_uri, [("code", code), *optional(ticket.params, "state")])
        )

    def _token(self, request: Request) -> EmulatorResponse:
        if media_type(request.headers) != "application/json":
            return _error(400, "invalid_request", "Content-Type must be application/json.")
        try:
            payload = json.loads(request.body)
        except ValueError:
            return _error(400, "invalid_request", "The body is not JSON.")
        fields = ("code", "client_id", "client_secret", "redirect_uri")
        if not isinstance(payload, dict) or not all(
            isinstance(payload.get(f), str) and payload[f] for f in fields
        ):
            return _error(400, "invalid_request", f"Required fields: {', '.join(fields)}.")
        app = self.apps.get(payload["client_id"])
        if app is None or not secrets.compare_digest(
            payload["client_secret"].encode(), app.secret.encode()
        ):
            return _error(401, "invalid_client", "Invalid client credentials.")
        origin = request.headers.get("origin", "").rstrip("/")
        if app.allowed_origins and origin not in app.allowed_origins:
            return _error(403, "invalid_client", "The Origin is not allowed for this app.")
        code, now = payload["code"], self.clock()
        record = self._codes.get(code)
        if code in self._used_codes:
            return _error(400, "invalid_grant", "The code has already been used.")
        if record is None or record.expires_at <= now or record.client_id != payload["client_id"]:
            return _error(400, "invalid_grant", "The code is invalid or expired.")
        if record.redirect_uri != payload["redirect_uri"]:
            return _error(400, "invalid_grant", "The redirect_uri does not match the login.")
        del self._codes[code]
        self._used_codes.add(code)
        raw = f"{new_uuid()}-1.1.US".encode()
        token = self.tokens.issue(
            "tkn.v1_" + base64.b64encode(raw).decode(), Grant(expires_at=None)
        )
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
        user = {**PERSON, "avatar": "", "company": company}
        return json_response(
            200, {"access_token": token, "installation": installation, "status": "ok", "user": user}
        )

    def _me(self, request: Request) -> EmulatorResponse:
        require_bearer(request, self.tokens)
        person = {**PERSON, "avatarUrl": "", "companyId": _COMPANY["id"], "type": "account"}
        return json_response(200, {"person": person})
