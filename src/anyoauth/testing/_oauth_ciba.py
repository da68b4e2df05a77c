"""The generic server's OpenID Connect Client-Initiated Backchannel Authentication
(CIBA Core 1.0): the pending requests, the emulated user's decision on their
authentication device, and the pings to the clients' notification endpoints.

A request (``login_hint``, ``login_hint_token`` or ``id_token_hint``: exactly one) gets a
random ``auth_req_id`` and waits for :meth:`BackchannelDesk.decide` (a test acting as the
user). Its token requests answer ``authorization_pending``, ``slow_down`` (polled faster
than the interval: the interval grows by 5 s), ``expired_token``, ``access_denied`` or
the tokens. A client registered in ping mode gets a :class:`Notification` queued when the
user decides; :meth:`~anyoauth.testing.ProviderEmulator.deliver_backchannel_notifications`
POSTs them. The knobs stage hostile servers: a wrong notification token, an interval
of 0, a huge ``expires_in``. :mod:`._oauth_server` serves the endpoint and the grant.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Literal

import attrs

from ._toolkit import Clock

__all__ = [
    "CIBA_ATTACKS",
    "CIBA_GRANT",
    "BackchannelDesk",
    "Notification",
]

CIBA_GRANT = "urn:openid:params:grant-type:ciba"
"""The CIBA grant's ``grant_type`` (CIBA Core 10.1)."""

CIBA_ATTACKS = ("wrong_notification_token", "wrong_auth_req_id")
"""How the server's pings can be spoilt: another bearer token than the client's
``client_notification_token``, or another ``auth_req_id`` than the request's."""

_SLOW_DOWN_STEP = 5
_HINTS = ("login_hint", "login_hint_token", "id_token_hint")


@attrs.frozen
class Notification:
    """A ping the server sends to a client's notification endpoint (CIBA Core 10.2).
    Its repr hides the bearer token and the body."""

    url: str
    """The client's notification endpoint."""
    bearer: str = attrs.field(repr=False)
    """The ``Authorization: Bearer`` value."""
    body: bytes = attrs.field(repr=False)
    """``{"auth_req_id": ...}``."""

    @property
    def headers(self) -> dict[str, str]:
        """The request's headers."""
        return {"Authorization": f"Bearer {self.bearer}", "Content-Type": "application/json"}


@attrs.define
class _Pending:
    client_id: str
    scope: str
    hint: str = attrs.field(repr=False)
    binding_message: str | None
    expires_at: float
    interval: int
    family: str
    notification_token: str | None = attrs.field(default=None, repr=False)
    last_poll: float | None = None
    status: Literal["pending", "allowed", "denied"] = "pending"
    decided_at: float = 0.0


class BackchannelDesk:
    """The CIBA requests of the generic server and its knobs."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.interval = 5
        """The ``interval`` answered, in seconds (0 stages a hostile server)."""
        self.expires_in = 600
        """The ``expires_in`` answered, in seconds (huge values stage a hostile server)."""
        self.attack: str | None = None
        """``None``, or how every ping is spoilt (one of :data:`CIBA_ATTACKS`)."""
        self.clients: dict[str, tuple[str, str | None]] = {}
        """The CIBA clients: delivery mode and notification endpoint, by client id."""
        self.requests: dict[str, _Pending] = {}
        """The requests not redeemed yet, by ``auth_req_id``."""
        self.outbox: list[Notification] = []
        """Pings waiting to be delivered."""
        self.received: list[dict[str, str]] = []
        """Every backchannel authentication request's parameters (to check what a client
        sent), without client authentication."""

    def __repr__(self) -> str:
        return f"<BackchannelDesk requests={len(self.requests)} outbox={len(self.outbox)}>"

    def register(self, client_id: str, mode: str, notification_endpoint: str | None) -> None:
        """Make ``client_id`` a CIBA client in ``mode`` (``poll`` or ``ping``; ping needs
        ``notification_endpoint``)."""
        if mode not in ("poll", "ping"):
            raise ValueError("the emulator runs CIBA in poll or ping mode")
        if mode == "ping" and not notification_endpoint:
            raise ValueError("a ping client needs a notification endpoint")
        self.clients[client_id] = (mode, notification_endpoint)

    def start(
        self, client_id: str, scope: str, form: Mapping[str, str], family: str
    ) -> tuple[int, dict[str, object]]:
        """Answer a backchannel authentication request: HTTP status and JSON body."""
        self.received.append(dict(form))
        mode, _endpoint = self.clients.get(client_id, ("poll", None))
        if "openid" not in scope.split():
            return 400, _error("invalid_scope", "The scope must include openid.")
        hints = [form[name] for name in _HINTS if form.get(name)]
        if len(hints) != 1:
            return 400, _error(
                "invalid_request",
                "Give exactly one of login_hint, login_hint_token, id_token_hint.",
            )
        token = form.get("client_notification_token")
        if mode == "ping" and not token:
            return 400, _error("invalid_request", "A ping client must send a notification token.")
        message = form.get("binding_message")
        if message is not None and (not message.isprintable() or len(message) > 256):
            return 400, _error("invalid_binding_message", "The binding message is unusable.")
        expiry = form.get("requested_expiry")
        expires_in = self.expires_in
        if expiry is not None:
            if not expiry.isdigit() or int(expiry) < 1:
                return 400, _error("invalid_request", "requested_expiry is not a positive integer.")
            expires_in = min(expires_in, int(expiry))
        auth_req_id = secrets.token_urlsafe(32)
        self.requests[auth_req_id] = _Pending(
            client_id=client_id,
            scope=scope,
            hint=hints[0],
            binding_message=message,
            expires_at=self.clock() + expires_in,
            interval=self.interval,
            family=family,
            notification_token=token if mode == "ping" else None,
        )
        answer: dict[str, object] = {"auth_req_id": auth_req_id, "expires_in": expires_in}
        answer["interval"] = self.interval
        return 200, answer

    def pending(self) -> list[tuple[str, str | None]]:
        """The undecided requests' hints and binding messages, oldest first."""
        return [
            (p.hint, p.binding_message) for p in self.requests.values() if p.status == "pending"
        ]

    def decide(self, hint: str, allow: bool) -> None:
        """Decide the oldest undecided request for the user named ``hint`` as that user;
        queue the ping of a ping client. :class:`ValueError` when there is none."""
        now = self.clock()
        for auth_req_id, pending in self.requests.items():
            if pending.hint == hint and pending.status == "pending" and pending.expires_at > now:
                pending.status = "allowed" if allow else "denied"
                pending.decided_at = now
                self._notify(auth_req_id, pending)
                return
        raise ValueError("no undecided backchannel request for this user")

    def _notify(self, auth_req_id: str, pending: _Pending) -> None:
        mode, endpoint = self.clients.get(pending.client_id, ("poll", None))
        if mode != "ping" or endpoint is None or pending.notification_token is None:
            return
        bearer, named = pending.notification_token, auth_req_id
        if self.attack == "wrong_notification_token":
            bearer = secrets.token_urlsafe(32)
        elif self.attack == "wrong_auth_req_id":
            named = secrets.token_urlsafe(32)
        body = json.dumps({"auth_req_id": named}).encode()
        self.outbox.append(Notification(url=endpoint, bearer=bearer, body=body))

    def redeem(self, client_id: str, auth_req_id: str | None) -> tuple[str, _Pending | None]:
        """A token request's outcome: ``"allowed"`` (with the request, now removed),
        or the OAuth error code to answer."""
        if auth_req_id is None:
            return "invalid_request", None
        pending = self.requests.get(auth_req_id)
        if pending is None or pending.client_id != client_id:
            return "invalid_grant", None
        now = self.clock()
        if pending.expires_at <= now:
            del self.requests[auth_req_id]
            return "expired_token", None
        if pending.status == "allowed":
            del self.requests[auth_req_id]
            return "allowed", pending
        if pending.status == "denied":
            del self.requests[auth_req_id]
            return "access_denied", None
        last, pending.last_poll = pending.last_poll, now
        if last is not None and now - last < pending.interval:
            pending.interval += _SLOW_DOWN_STEP
            return "slow_down", None
        return "authorization_pending", None


def _error(code: str, description: str) -> dict[str, object]:
    return {"error": code, "error_description": description}
