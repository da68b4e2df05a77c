"""Geni as the emulator plays it: the desktop flow (implicit, ``display=desktop``), whose
token arrives in the fragment of Geni's special success URL, Geni's paths, and its
profile API.

Geni's quirks live here: Don't Allow lands on ``auth_failed#status=unauthorized``,
scopes are comma-separated, tokens last a day, the token endpoint is never needed, and
some embedded browsers report the success fragment percent-encoded as a whole.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from typing import TypedDict
from urllib.parse import quote, urlencode

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
    json_response,
    oauth_error,
    optional,
    page,
    redirect,
    require_bearer,
    with_fragment,
)

__all__ = [
    "GENI_AUTHORIZE_PATH",
    "GENI_DECISION_PATH",
    "GENI_FAILURE_PATH",
    "GENI_PROFILE_PATH",
    "GENI_SUCCESS_PATH",
    "GENI_TOKEN_PATH",
    "EmulatedGeni",
    "GeniEndpoints",
]

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

GENI_EXPIRES_IN = 86400


class GeniEndpoints(TypedDict):
    """Keyword arguments for :func:`anyoauth.providers.Geni` (see ``endpoints_geni``)."""

    authorize_url: str
    success_url: str
    failure_url: str
    token_url: str


@attrs.frozen
class _GeniApp:
    name: str
    scopes: frozenset[str] | None


class EmulatedGeni(EmulatedProvider[Grant]):
    """Geni's desktop flow: apps, the consent page, tokens in the success fragment, and
    the profile API."""

    def __init__(
        self, clock: Clock, consent: ConsentDesk, *, percent_encode_fragment: bool = False
    ) -> None:
        super().__init__(clock, consent)
        self.percent_encode_fragment = percent_encode_fragment
        """Percent-encode the whole success fragment, as Geni sometimes does."""
        self.apps: dict[str, _GeniApp] = {}
        """The registered apps, by ``client_id``."""

    def __repr__(self) -> str:
        return f"<EmulatedGeni apps={len(self.apps)} tokens={len(self.tokens)}>"

    def add_app(self, client_id: str, *, scopes: Iterable[str] | None, name: str) -> None:
        """Register an app; with ``scopes``, requests for any other scope fail."""
        allowed = None if scopes is None else frozenset(scopes)
        self.apps[client_id] = _GeniApp(name=name, scopes=allowed)

    @staticmethod
    def endpoints(base_url: str) -> GeniEndpoints:
        """Keyword arguments pointing ``Geni(...)`` at an emulator on ``base_url``."""
        base = base_url.rstrip("/")
        return {
            "authorize_url": base + GENI_AUTHORIZE_PATH,
            "success_url": base + GENI_SUCCESS_PATH,
            "failure_url": base + GENI_FAILURE_PATH,
            "token_url": base + GENI_TOKEN_PATH,
        }

    def routes(self) -> Mapping[str, Route]:
        """Geni's paths."""
        return {
            GENI_AUTHORIZE_PATH: Route("GET", "geni.authorize", self._authorize),
            GENI_DECISION_PATH: Route("POST", "geni.decision", self.consent.decision),
            GENI_SUCCESS_PATH: Route("GET", "geni.auth_success", self._landing),
            GENI_FAILURE_PATH: Route("GET", "geni.auth_failed", self._landing),
            GENI_TOKEN_PATH: Route("POST", "geni.request_token", self._token),
            GENI_PROFILE_PATH: Route("GET", "geni.profile", self._profile),
        }

    def _failed(self, request: Request, error: str, description: str) -> EmulatorResponse:
        params = [("error", error), ("error_description", description)]
        params += optional(request.query, "state")
        return redirect(with_fragment(request.base + GENI_FAILURE_PATH, params))

    def _authorize(self, request: Request) -> EmulatorResponse:
        params = request.query
        self.consent.record(params)
        app = self.apps.get(params.get("client_id", ""))
        if app is None:
            return self._failed(request, "invalid_client", "Unknown client_id.")
        if params.get("response_type") != "token":
            return self._failed(
                request, "unsupported_response_type", "The desktop flow needs response_type=token."
            )
        requested = {s for s in params.get("scope", "").split(",") if s}
        if app.scopes is not None and not requested <= app.scopes:
            return self._failed(request, "invalid_scope", "A requested scope is not allowed.")
        return self.consent.show(
            client_id=params["client_id"],
            params=dict(params),
            action=GENI_DECISION_PATH,
            title=f"Geni: authorize {app.name}",
            decide=self._decide,
        )

    def _decide(self, request: Request, ticket: Ticket, allow: bool) -> EmulatorResponse:
        if not allow:
            params = [("status", "unauthorized"), ("message", "user canceled")]
            params += optional(ticket.params, "state")
            return redirect(with_fragment(request.base + GENI_FAILURE_PATH, params))
        expires_at = self.clock() + GENI_EXPIRES_IN
        token = self.tokens.issue(secrets.token_urlsafe(32), Grant(expires_at=expires_at))
        params = [("access_token", token), ("expires_in", str(GENI_EXPIRES_IN))]
        fragment = urlencode(params + optional(ticket.params, "state", "scope"))
        if self.percent_encode_fragment:
            fragment = quote(fragment, safe="")
        return redirect(f"{request.base}{GENI_SUCCESS_PATH}#{fragment}")

    def _landing(self, request: Request) -> EmulatorResponse:
        success = request.path == GENI_SUCCESS_PATH
        title = "Success" if success else "Authorization failed"
        return page(200, title, "You can close this window.")

    def _token(self, request: Request) -> EmulatorResponse:
        return oauth_error(
            400, "unsupported_grant_type", "The emulator supports only the desktop flow for Geni."
        )

    def _profile(self, request: Request) -> EmulatorResponse:
        require_bearer(request, self.tokens)
        return json_response(200, {"id": "profile-g6000000000000000001", "name": "Test User"})
