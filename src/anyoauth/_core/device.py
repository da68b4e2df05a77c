"""The device authorization grant (RFC 8628), sans-IO: for devices without a browser.

The client asks the device authorization endpoint for a ``device_code`` and a
``user_code``; the user opens ``verification_uri`` on another device and enters
the code; meanwhile the client polls the token endpoint every ``interval``
seconds. This module reads the device authorization answer (:class:`DeviceAuthorization`);
:class:`~anyoauth.DeviceCode` builds the requests, and the flow's polling rules live in
the machine.
"""

from __future__ import annotations

import contextlib
from typing import Any

import attrs

from .answers import NESTED_TOO_DEEPLY, NOT_JSON, json_document, provider_error
from .errors import ConfigurationError, InvalidResponse
from .urls import check_endpoint

__all__ = ["DEVICE_GRANT_TYPE", "DeviceAuthorization"]

DEVICE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"
"""``grant_type`` of the device access token request (RFC 8628 3.4)."""

DEFAULT_INTERVAL = 5.0
"""Seconds between polls when the server names no interval (RFC 8628 3.2)."""

MIN_INTERVAL = 1.0
"""Polls are never closer than this, whatever ``interval`` the server names.

RFC 8628 sets no minimum: ``interval`` is the least time the client must wait, in
whole seconds, and a client may always wait longer. A floor of one second leaves
every whole-second interval a server can mean as it is and refuses only ``0`` and
fractions, which would have the client poll as fast as the network allows (a
server answering ``interval: 0`` got thousands of polls a second)."""

MAX_INTERVAL = 600.0
"""A larger ``interval`` is a server bug; polling is capped at this."""

MAX_DEVICE_LIFETIME = 24 * 3600.0
"""A larger ``expires_in`` is a server bug; the flow ends after this at most."""


def _text(payload: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = payload.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} is missing or not a non-empty string")
    return value


def _shown_text(payload: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    """A string shown to the user: no control or other non-printable characters (a
    terminal would act on escape sequences; bidi overrides disguise the code or URL)."""
    value = _text(payload, name, required=required)
    if value is not None and not value.isprintable():
        raise ValueError(f"{name} has non-printable characters")
    return value


def _number(payload: dict[str, Any], name: str, default: float | None) -> float:
    value = payload.get(name, default)
    if isinstance(value, str) and value.strip().isascii():
        with contextlib.suppress(ValueError):
            value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"{name} is not a non-negative number")
    try:
        return float(value)
    except OverflowError:  # an integer too large for a float: a hostile answer
        raise ValueError(f"{name} is out of range") from None


def _poll_interval(value: float) -> float:
    """The one rule for polling intervals: within :data:`MIN_INTERVAL`..:data:`MAX_INTERVAL`."""
    return min(max(float(value), MIN_INTERVAL), MAX_INTERVAL)


@attrs.frozen(kw_only=True)
class DeviceAuthorization:
    """What the device authorization endpoint answered: show ``user_code`` and
    ``verification_uri`` to the user. The ``device_code`` is never shown in a repr."""

    device_code: str = attrs.field(repr=False)
    """The code the client polls with; a secret."""
    user_code: str
    """The code the user enters at :attr:`verification_uri`."""
    verification_uri: str
    """Where the user goes to enter :attr:`user_code`."""
    verification_uri_complete: str | None = None
    """A URL that carries the user code too (for a QR code or a link), if given."""
    expires_at: float
    """When the device code stops working."""
    interval: float = attrs.field(default=DEFAULT_INTERVAL, converter=_poll_interval)
    """Seconds between polls: the server's ``interval`` (5 s without one), at least
    :data:`MIN_INTERVAL` and at most :data:`MAX_INTERVAL`."""

    @classmethod
    def from_response(
        cls,
        status_code: int,
        content_type: str | None,
        body: bytes,
        *,
        received_at: float,
        allow_insecure: bool = False,
    ) -> DeviceAuthorization:
        """Validate the device authorization endpoint's answer (RFC 8628 3.2).

        Raises :class:`TokenRequestError` for an OAuth error object and
        :class:`InvalidResponse` for anything else that is not a device
        authorization response, or whose ``user_code``, ``verification_uri`` or
        ``verification_uri_complete`` has non-printable characters (they are shown to
        the user: no escape sequence reaches a terminal). ``allow_insecure`` lets the
        verification URIs use plain HTTP, as the strategy's
        :attr:`~Strategy.allow_insecure` does. The polling ``interval`` is kept within
        :data:`MIN_INTERVAL` and :data:`MAX_INTERVAL`.
        """
        payload = json_document(body)
        if payload is NOT_JSON or payload is NESTED_TOO_DEEPLY:
            raise InvalidResponse("device authorization is not JSON", status_code=status_code)
        if not isinstance(payload, dict):
            raise InvalidResponse(
                "device authorization is not a JSON object", status_code=status_code
            )
        error = provider_error(payload, status_code)
        if error is not None:
            raise error
        if not 200 <= status_code < 300:
            raise InvalidResponse("unexpected status", status_code=status_code)
        try:
            device_code = _text(payload, "device_code")
            user_code = _shown_text(payload, "user_code")
            uri = _shown_text(payload, "verification_uri", required=False) or _shown_text(
                payload,
                "verification_url",  # Google's spelling
            )
            complete = _shown_text(payload, "verification_uri_complete", required=False)
            expires_in = min(_number(payload, "expires_in", None), MAX_DEVICE_LIFETIME)
            interval = _number(payload, "interval", DEFAULT_INTERVAL)
            for name, url in (("verification_uri", uri), ("verification_uri_complete", complete)):
                try:
                    check_endpoint(name, url, allow_insecure=allow_insecure)
                except ConfigurationError as exc:
                    raise ValueError(str(exc)) from None
        except ValueError as exc:
            reason = str(exc)
        else:
            return cls(
                device_code=str(device_code),
                user_code=str(user_code),
                verification_uri=str(uri),
                verification_uri_complete=complete,
                expires_at=received_at + expires_in,
                interval=interval,
            )
        # Raised outside the except clause: the ValueError is no context of it.
        raise InvalidResponse(reason, status_code=status_code)
