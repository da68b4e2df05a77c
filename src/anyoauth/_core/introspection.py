"""Reading a token introspection endpoint's answer (RFC 7662), sans-IO: :class:`Introspection`."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

from .answers import json_object, provider_error
from .authorization_details import AuthorizationDetails, details_from_response, details_repr
from .errors import InvalidResponse

__all__ = ["Introspection"]

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
    authorization_details: AuthorizationDetails | None = attrs.field(
        default=None, eq=False, repr=details_repr
    )
    """The token's ``authorization_details`` (RFC 9396 9.2), checked as in token
    responses (read-only mappings, each with a string ``type``); ``None`` when absent.
    A repr shows their types only."""

    @classmethod
    def from_response(
        cls, status_code: int, content_type: str | None, body: bytes
    ) -> Introspection:
        """Validate an introspection answer.

        Raises :class:`TokenRequestError` for an OAuth error object and
        :class:`InvalidResponse` for anything else that is not an
        introspection answer with a boolean ``active``.
        """
        payload = json_object(status_code, body, "the introspection answer")
        if payload is None:
            raise InvalidResponse("the introspection answer is not JSON", status_code=status_code)
        error = provider_error(payload, status_code)
        if error is not None:
            raise error
        if status_code != 200:
            raise InvalidResponse("unexpected status", status_code=status_code)
        active = payload.get("active")
        if not isinstance(active, bool):
            raise InvalidResponse("active is not a boolean", status_code=status_code)
        if not active:
            return cls(active=False)
        fields: dict[str, Any] = {}
        for name in _INTROSPECTION_FIELDS:
            value = payload.get(name)
            if value is not None:
                if not isinstance(value, str):
                    raise InvalidResponse(f"{name} is not a string", status_code=status_code)
                fields[name] = value
        for name in _INTROSPECTION_TIMES:
            value = payload.get(name)
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise InvalidResponse(f"{name} is not a number", status_code=status_code)
                try:
                    fields[name] = float(value)
                except OverflowError:  # an integer too large for a float
                    raise InvalidResponse(
                        f"{name} is out of range", status_code=status_code
                    ) from None
        aud = payload.get("aud")
        if isinstance(aud, str):
            fields["aud"] = (aud,)
        elif isinstance(aud, list) and all(isinstance(a, str) for a in aud):
            fields["aud"] = tuple(aud)
        elif aud is not None:
            raise InvalidResponse("aud is not a string or a list", status_code=status_code)
        details = payload.get("authorization_details")
        if details is not None:
            try:
                fields["authorization_details"] = details_from_response(details)
            except ValueError as exc:
                raise InvalidResponse(str(exc), status_code=status_code) from None
        known = {"active", "aud", "authorization_details"}
        known |= {*_INTROSPECTION_FIELDS, *_INTROSPECTION_TIMES}
        extra = {k: v for k, v in payload.items() if k not in known}
        return cls(active=True, extra=extra, **fields)
