"""OpenID Connect Client-Initiated Backchannel Authentication (CIBA Core 1.0), sans-IO:
the values of a decoupled login and the checks of a ping.

The client asks the backchannel authentication endpoint to authenticate a user it
names by a hint (:class:`BackchannelRequest`); the user approves on their own
authentication device; the server answers an ``auth_req_id``
(:class:`BackchannelAuthorization`), and the client polls the token endpoint with it
(poll mode) or waits for the server's ping to its notification endpoint (ping mode,
checked by :func:`check_ping`) and then asks. The polling rules are the machine's, the
same as the device grant's; :class:`~anyoauth.Ciba` builds the requests.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from typing import Any, Literal

import attrs

from .answers import NESTED_TOO_DEEPLY, NOT_JSON, json_document, provider_error
from .device import (
    DEFAULT_INTERVAL,
    MAX_DEVICE_LIFETIME,
    _number,
    _poll_interval,
)
from .errors import ConfigurationError, InvalidResponse, OAuthError
from .text import is_visible_ascii

__all__ = [
    "CIBA_GRANT_TYPE",
    "NOTIFICATION_TOKEN_BYTES",
    "BackchannelAuthorization",
    "BackchannelRequest",
    "InvalidNotification",
    "check_ping",
    "new_notification_token",
]

CIBA_GRANT_TYPE = "urn:openid:params:grant-type:ciba"
"""``grant_type`` of the CIBA token request (CIBA Core 10.1)."""

DeliveryMode = Literal["poll", "ping"]
"""The token delivery modes anyoauth runs (``push`` is refused: FAPI-CIBA forbids it)."""

NOTIFICATION_TOKEN_BYTES = 32
"""Random bytes in a ``client_notification_token`` (256 bits from :mod:`secrets`)."""

MAX_AUTH_REQ_ID_CHARS = 1024
"""A longer ``auth_req_id`` is refused (a hostile answer)."""

MAX_BINDING_MESSAGE_CHARS = 256
"""A longer ``binding_message`` is refused: it is shown on a phone, and servers cap it
much lower (CIBA Core 7.1 asks for a short text)."""

MAX_REQUESTED_EXPIRY = 24 * 3600
"""The largest ``requested_expiry`` a client may ask for, in seconds."""

MAX_PING_BYTES = 16 * 1024
"""A larger ping body is refused before it is parsed."""


class InvalidNotification(OAuthError):
    """A CIBA ping (a POST to the client notification endpoint) was refused: no or a
    wrong bearer token, a body that is not ``{"auth_req_id": ...}``, or an
    ``auth_req_id`` this client is not waiting for. Answer it with HTTP
    :attr:`status_code` (401 for a missing or wrong token, 400 otherwise); nothing was
    woken. The message never carries the token or the ``auth_req_id``."""

    def __init__(self, message: str, *, status_code: int = 400) -> None:
        super().__init__(message)
        self.status_code = status_code
        """The HTTP status to answer the ping with."""


def new_notification_token() -> str:
    """A fresh ``client_notification_token``: :data:`NOTIFICATION_TOKEN_BYTES` random
    bytes from :mod:`secrets`, base64url (valid RFC 6750 bearer token syntax)."""
    return secrets.token_urlsafe(NOTIFICATION_TOKEN_BYTES)


def _hint(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value or not value.isprintable():
        raise ConfigurationError(f"{attribute.name} must be a non-empty printable string")


def _binding_message(_instance: object, _attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value or not value.isprintable():
        # Shown on the user's authentication device: no control or bidi characters.
        raise ConfigurationError(
            "binding_message must be a non-empty string without control characters"
        )
    if len(value) > MAX_BINDING_MESSAGE_CHARS:
        raise ConfigurationError(
            f"binding_message is longer than {MAX_BINDING_MESSAGE_CHARS} characters"
        )


def _expiry(_instance: object, _attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not 1 <= value <= MAX_REQUESTED_EXPIRY
    ):
        raise ConfigurationError(
            f"requested_expiry must be a whole number of seconds from 1 to {MAX_REQUESTED_EXPIRY}"
        )


def _words(value: str | Iterable[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(value.split())
    return tuple(value)


def _acr_values(
    _instance: object, _attribute: attrs.Attribute[Any], value: tuple[str, ...]
) -> None:
    if not all(is_visible_ascii(v) for v in value):
        raise ConfigurationError("acr_values must be visible ASCII words")


@attrs.frozen(kw_only=True)
class BackchannelRequest:
    """Who to authenticate and what to show them: the per-login parameters of a CIBA
    authentication request (CIBA Core 7.1).

    Exactly one of :attr:`login_hint`, :attr:`login_hint_token` and
    :attr:`id_token_hint` names the user; :class:`ConfigurationError` otherwise.
    The hint tokens never appear in a repr.
    """

    login_hint: str | None = attrs.field(default=None, validator=_hint, repr=False)
    """A value the server maps to the user (an e-mail address, a phone number...)."""
    login_hint_token: str | None = attrs.field(default=None, validator=_hint, repr=False)
    """A token naming the user (its format is agreed with the server)."""
    id_token_hint: str | None = attrs.field(default=None, validator=_hint, repr=False)
    """An id_token the server issued before, naming the user."""
    binding_message: str | None = attrs.field(default=None, validator=_binding_message)
    """A short text shown on both devices so the user can tell this login apart; at
    most :data:`MAX_BINDING_MESSAGE_CHARS` printable characters."""
    user_code: str | None = attrs.field(default=None, validator=_hint, repr=False)
    """A secret code the user set up with the server, proving the request is theirs
    (only for servers that list ``backchannel_user_code_parameter_supported``)."""
    requested_expiry: int | None = attrs.field(default=None, validator=_expiry)
    """How long, in seconds, the request should wait for the user."""
    acr_values: tuple[str, ...] = attrs.field(default=(), converter=_words, validator=_acr_values)
    """Authentication context classes asked for, in order of preference."""

    def __attrs_post_init__(self) -> None:
        hints = [self.login_hint, self.login_hint_token, self.id_token_hint]
        if sum(h is not None for h in hints) != 1:
            raise ConfigurationError(
                "a backchannel authentication request names the user with exactly one of "
                "login_hint, login_hint_token and id_token_hint"
            )

    def params(self) -> list[tuple[str, str]]:
        """The request's form parameters, without scope or client authentication."""
        pairs = [
            ("login_hint", self.login_hint),
            ("login_hint_token", self.login_hint_token),
            ("id_token_hint", self.id_token_hint),
            ("binding_message", self.binding_message),
            ("user_code", self.user_code),
            ("acr_values", " ".join(self.acr_values) or None),
            (
                "requested_expiry",
                None if self.requested_expiry is None else str(self.requested_expiry),
            ),
        ]
        return [(name, value) for name, value in pairs if value is not None]

    def secrets(self) -> tuple[str, ...]:
        """The values no error or log may show (the hint tokens and the user code)."""
        values = (self.login_hint_token, self.id_token_hint, self.user_code)
        return tuple(v for v in values if v)


@attrs.frozen(kw_only=True)
class BackchannelAuthorization:
    """What the backchannel authentication endpoint answered: the login is waiting for
    the user's approval on their authentication device. The ``auth_req_id`` and the
    ``client_notification_token`` are secrets and never shown in a repr."""

    auth_req_id: str = attrs.field(repr=False)
    """The identifier the client asks the token endpoint with; a secret."""
    expires_at: float
    """When the request stops working."""
    interval: float = attrs.field(default=DEFAULT_INTERVAL, converter=_poll_interval)
    """Seconds between polls: the server's ``interval`` (5 s without one), kept within
    the device grant's bounds."""
    mode: DeliveryMode = "poll"
    """How the client learns of the user's decision: ``poll`` or ``ping``."""
    client_notification_token: str | None = attrs.field(default=None, repr=False)
    """The bearer token the server's ping must carry (ping mode); a secret."""
    binding_message: str | None = None
    """The binding message sent with the request, to show on the consumption device."""

    @classmethod
    def from_response(
        cls,
        status_code: int,
        content_type: str | None,
        body: bytes,
        *,
        received_at: float,
        mode: DeliveryMode = "poll",
        client_notification_token: str | None = None,
        binding_message: str | None = None,
    ) -> BackchannelAuthorization:
        """Validate the backchannel authentication endpoint's answer (CIBA Core 7.3).

        Raises :class:`TokenRequestError` for an OAuth error object and
        :class:`InvalidResponse` for anything else: no ``auth_req_id`` of visible ASCII
        (at most :data:`MAX_AUTH_REQ_ID_CHARS`), no ``expires_in``. ``expires_in`` is
        capped at the device grant's longest lifetime, ``interval`` kept within its
        bounds (so ``0`` polls once a second, not as fast as the network allows).
        """
        payload = json_document(body)
        if payload is NOT_JSON or payload is NESTED_TOO_DEEPLY:
            raise InvalidResponse(
                "backchannel authentication answer is not JSON", status_code=status_code
            )
        if not isinstance(payload, dict):
            raise InvalidResponse(
                "backchannel authentication answer is not a JSON object", status_code=status_code
            )
        error = provider_error(payload, status_code)
        if error is not None:
            raise error
        if not 200 <= status_code < 300:
            raise InvalidResponse("unexpected status", status_code=status_code)
        auth_req_id = payload.get("auth_req_id")
        if (
            not isinstance(auth_req_id, str)
            or not is_visible_ascii(auth_req_id)
            or (len(auth_req_id) > MAX_AUTH_REQ_ID_CHARS)
        ):
            raise InvalidResponse(
                "auth_req_id is missing or not a short visible ASCII string",
                status_code=status_code,
            )
        reason = None
        try:
            expires_in = min(_number(payload, "expires_in", None), MAX_DEVICE_LIFETIME)
            interval = _number(payload, "interval", DEFAULT_INTERVAL)
        except ValueError as exc:
            reason = str(exc)
        if reason is not None:  # raised here: the ValueError is no context of it
            raise InvalidResponse(reason, status_code=status_code)
        return cls(
            auth_req_id=auth_req_id,
            expires_at=received_at + expires_in,
            interval=interval,
            mode=mode,
            client_notification_token=client_notification_token,
            binding_message=binding_message,
        )


def _bearer(authorization: str | None) -> str | None:
    if authorization is None:
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    credentials = credentials.strip()
    return credentials if is_visible_ascii(credentials) else None


def check_ping(
    authorization: str | None,
    body: bytes | str,
    pending: Iterable[BackchannelAuthorization],
) -> BackchannelAuthorization:
    """The pending request a ping (CIBA Core 10.2) is for, or :class:`InvalidNotification`.

    ``authorization`` is the request's ``Authorization`` header; it must be
    ``Bearer`` with the ``client_notification_token`` of a pending request (compared in
    constant time), and ``body`` a JSON object whose ``auth_req_id`` is that request's
    (compared in constant time too). Anything else is refused, naming neither value.
    """
    token = _bearer(authorization)
    if token is None:
        raise InvalidNotification("the notification carries no bearer token", status_code=401)
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else bytes(body)
    if len(raw) > MAX_PING_BYTES:
        raise InvalidNotification("the notification body is too large")
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        payload = None
    auth_req_id = payload.get("auth_req_id") if isinstance(payload, dict) else None
    token_bytes = token.encode()
    matched: BackchannelAuthorization | None = None
    token_known = False
    for candidate in pending:
        expected = candidate.client_notification_token
        if expected is None:
            continue
        same_token = secrets.compare_digest(expected.encode(), token_bytes)
        token_known |= same_token
        same_id = isinstance(auth_req_id, str) and secrets.compare_digest(
            candidate.auth_req_id.encode("utf-8", "surrogatepass"),
            auth_req_id.encode("utf-8", "surrogatepass"),
        )
        if same_token and same_id:
            matched = candidate
    if matched is not None:
        return matched
    if not token_known:
        raise InvalidNotification(
            "the notification's bearer token is not one this client issued", status_code=401
        )
    if not isinstance(auth_req_id, str):
        raise InvalidNotification('the notification body is not {"auth_req_id": "..."}')
    raise InvalidNotification("the notification is for a request this client is not waiting for")
