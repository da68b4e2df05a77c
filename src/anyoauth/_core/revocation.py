"""Reading token revocation (RFC 7009) and introspection (RFC 7662) answers, sans-IO."""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

from .errors import InvalidTokenResponse, TokenEndpointUnavailable
from .token import _provider_error

__all__ = ["Introspection", "check_revocation_response"]

_INTROSPECTION_FIELDS = (
    "scope",
    "client_id",
    "username",
    "token_type",
    "sub",
    "iss",
    "jti",
)
_INTROSPECTION_TIMES = ("exp", "iat", "nbf")


def _json_object(status_code: int, body: bytes, what: str) -> dict[str, Any] | None:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(payload, dict):
        raise InvalidTokenResponse(f"{what} is not a JSON object", status_code=status_code)
    return payload


def check_revocation_response(status_code: int, content_type: str | None, body: bytes) -> None:
    """Accept a revocation endpoint's answer: HTTP 200 means revoked (or never valid).

    Raises :class:`TokenRequestError` for an OAuth error object (for example
    ``unsupported_token_type``), :class:`TokenEndpointUnavailable` for a server
    error without one, and :class:`InvalidTokenResponse` for any other non-200 answer.
    """
    if status_code == 200:
        return
    payload = _json_object(status_code, body, "the revocation answer") or {}
    if "error" not in payload and status_code >= 500:
        raise TokenEndpointUnavailable(f"the revocation endpoint answered HTTP {status_code}")
    error = _provider_error(payload, status_code)
    if error is not None:
        raise error
    raise InvalidTokenResponse("unexpected revocation answer", status_code=status_code)


def _freeze(extra: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(extra))


@attrs.frozen(kw_only=True)
class Introspection:
    """What the introspection endpoint says about a token (RFC 7662 2.2).

    Only :attr:`active` is always present; an inactive token carries nothing else.
    """

    active: bool
    """Whether the token is currently valid."""
    scope: str | None = None
    """The token's scope (space-delimited)."""
    client_id: str | None = None
    """The client the token was issued to."""
    username: str | None = None
    """The resource owner's human-readable name."""
    token_type: str | None = None
    """The token's type."""
    exp: float | None = None
    """When the token expires (seconds since the epoch)."""
    iat: float | None = None
    """When the token was issued."""
    nbf: float | None = None
    """Not to be used before this time."""
    sub: str | None = None
    """The subject of the token."""
    aud: tuple[str, ...] = ()
    """The audiences."""
    iss: str | None = None
    """The issuer."""
    jti: str | None = None
    """The token's identifier."""
    extra: Mapping[str, Any] = attrs.field(factory=dict, converter=_freeze, eq=False)
    """Every other member of the answer."""

    @classmethod
    def from_response(
        cls, status_code: int, content_type: str | None, body: bytes
    ) -> Introspection:
        """Validate an introspection answer.

        Raises :class:`TokenRequestError` for an OAuth error object and
        :class:`InvalidTokenResponse` for anything else that is not an
        introspection answer with a boolean ``active``.
        """
        payload = _json_object(status_code, body, "the introspection answer")
        if payload is None:
            raise InvalidTokenResponse(
                "the introspection answer is not JSON", status_code=status_code
            )
        error = _provider_error(payload, status_code)
        if error is not None:
            raise error
        if status_code != 200:
            raise InvalidTokenResponse("unexpected status", status_code=status_code)
        active = payload.get("active")
        if not isinstance(active, bool):
            raise InvalidTokenResponse("active is not a boolean", status_code=status_code)
        if not active:
            return cls(active=False)
        fields: dict[str, Any] = {}
        for name in _INTROSPECTION_FIELDS:
            value = payload.get(name)
            if value is not None:
                if not isinstance(value, str):
                    raise InvalidTokenResponse(f"{name} is not a string", status_code=status_code)
                fields[name] = value
        for name in _INTROSPECTION_TIMES:
            value = payload.get(name)
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise InvalidTokenResponse(f"{name} is not a number", status_code=status_code)
                try:
                    fields[name] = float(value)
                except OverflowError:  # an integer too large for a float
                    raise InvalidTokenResponse(
                        f"{name} is out of range", status_code=status_code
                    ) from None
        aud = payload.get("aud")
        if isinstance(aud, str):
            fields["aud"] = (aud,)
        elif isinstance(aud, list) and all(isinstance(a, str) for a in aud):
            fields["aud"] = tuple(aud)
        elif aud is not None:
            raise InvalidTokenResponse("aud is not a string or a list", status_code=status_code)
        known = {"active", "aud", *_INTROSPECTION_FIELDS, *_INTROSPECTION_TIMES}
        extra = {k: v for k, v in payload.items() if k not in known}
        return cls(active=True, extra=extra, **fields)
