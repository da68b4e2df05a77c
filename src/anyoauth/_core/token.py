"""The :class:`Token` value object and the validation of token responses."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

from .errors import InvalidTokenResponse, TokenRequestError

__all__ = ["Token", "parse_token_response"]

# Twenty years: an expires_in beyond this is a provider bug, not a lifetime.
MAX_EXPIRES_IN = 20 * 365 * 24 * 3600

_STANDARD_FIELDS = frozenset(
    {"access_token", "token_type", "expires_in", "refresh_token", "scope", "expires_at"}
)


def _freeze(extra: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(extra))


def _freeze_optional(claims: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    return None if claims is None else MappingProxyType(dict(claims))


def _claims_repr(claims: Mapping[str, Any] | None) -> str:
    return "None" if claims is None else _extra_repr(claims)


def _extra_repr(extra: Mapping[str, Any]) -> str:
    # Values may hold secrets (id_token) or personal data (Teamwork's user): keys only.
    return "{" + ", ".join(repr(k) for k in extra) + "}"


@attrs.frozen(kw_only=True)
class Token:
    """An access token and what the provider said about it.

    ``repr()`` and ``str()`` never show the access token, the refresh token or any
    extra value, only which fields are present.
    """

    access_token: str = attrs.field(repr=False)
    """The bearer credential. Send it only in the ``Authorization`` header."""

    token_type: str = "Bearer"
    """The token type; providers that omit it (Geni's desktop flow) issue bearer tokens."""

    issued_at: float
    """When the token response was received (seconds since the epoch)."""

    expires_at: float | None = None
    """Receipt time plus ``expires_in``; ``None`` when the provider gave no expiry
    (the token is then used until revoked or rejected)."""

    refresh_token: str | None = attrs.field(default=None, repr=False)
    """The refresh token, if the provider issued one."""

    scope: str | None = None
    """The granted scope, exactly as the provider wrote it."""

    extra: Mapping[str, Any] = attrs.field(
        factory=dict, converter=_freeze, repr=_extra_repr, eq=False
    )
    """Every other field of the token response, kept verbatim (Teamwork's
    ``installation`` and ``user``, Keycloak's ``refresh_expires_in``,
    ``not-before-policy``, ``app_id``...)."""

    id_token_claims: Mapping[str, Any] | None = attrs.field(
        default=None, converter=_freeze_optional, repr=_claims_repr, eq=False
    )
    """The claims of the OpenID Connect id_token (``extra["id_token"]``) once validated
    against the server's keys; ``None`` when there was no id_token to validate."""

    @property
    def has_refresh_token(self) -> bool:
        """Whether a refresh token is held."""
        return bool(self.refresh_token)

    def is_expired(self, now: float, leeway: float = 0.0) -> bool:
        """Whether the token is expired at ``now``, or will be within ``leeway`` seconds.

        A token with unknown expiry is never considered expired.
        """
        return self.expires_at is not None and now + leeway >= self.expires_at

    def expires_in(self, now: float) -> float | None:
        """Seconds left at ``now`` (negative once expired), or ``None`` if unknown."""
        return None if self.expires_at is None else self.expires_at - now

    @property
    def authorization_header(self) -> str:
        """The ``Authorization`` header value for this token (``Bearer <token>``)."""
        scheme = "Bearer" if self.token_type.lower() == "bearer" else self.token_type
        return f"{scheme} {self.access_token}"

    @classmethod
    def from_response(cls, payload: Mapping[str, Any], *, received_at: float) -> Token:
        """Build a token from a decoded token response (or redirect parameters).

        Validates ``access_token`` (non-empty string), ``token_type`` (string,
        bearer when missing), ``expires_in`` (a non-negative, finite number of
        seconds, given as a number or a numeric string) and ``refresh_token`` and
        ``scope`` (strings). Raises :class:`ValueError` naming the field otherwise;
        :func:`parse_token_response` turns that into :class:`InvalidTokenResponse`.
        """
        access_token = payload.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise ValueError("access_token is missing or not a non-empty string")
        token_type = payload.get("token_type") or "Bearer"
        if not isinstance(token_type, str):
            raise ValueError("token_type is not a string")
        expires_at = None
        if payload.get("expires_in") not in (None, ""):
            expires_at = received_at + _seconds(payload["expires_in"])
        refresh_token = payload.get("refresh_token") or None
        if refresh_token is not None and not isinstance(refresh_token, str):
            raise ValueError("refresh_token is not a string")
        scope = payload.get("scope")
        if isinstance(scope, list) and all(isinstance(s, str) for s in scope):
            scope = " ".join(scope)
        if scope is not None and not isinstance(scope, str):
            raise ValueError("scope is not a string")
        extra = {k: v for k, v in payload.items() if k not in _STANDARD_FIELDS}
        return cls(
            access_token=access_token,
            token_type=token_type,
            issued_at=received_at,
            expires_at=expires_at,
            refresh_token=refresh_token,
            scope=scope or None,
            extra=extra,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict, the inverse of :meth:`from_dict` (for stores)."""
        return {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "issued_at": self.issued_at,
            "expires_at": self.expires_at,
            "refresh_token": self.refresh_token,
            "scope": self.scope,
            "extra": dict(self.extra),
            "id_token_claims": None if self.id_token_claims is None else dict(self.id_token_claims),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Token:
        """Rebuild a token saved with :meth:`to_dict`."""
        return cls(
            access_token=data["access_token"],
            token_type=data["token_type"],
            issued_at=float(data["issued_at"]),
            expires_at=None if data.get("expires_at") is None else float(data["expires_at"]),
            refresh_token=data.get("refresh_token"),
            scope=data.get("scope"),
            extra=data.get("extra") or {},
            id_token_claims=data.get("id_token_claims"),
        )


def _seconds(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError("expires_in is not a number")
    if isinstance(value, str):
        try:
            value = float(value.strip()) if value.strip().isascii() else None
        except ValueError:
            value = None
    if isinstance(value, int) and value > MAX_EXPIRES_IN:
        raise ValueError("expires_in is implausibly large")
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError("expires_in is not a number")
    if value < 0:
        raise ValueError("expires_in is negative")
    if value > MAX_EXPIRES_IN:
        raise ValueError("expires_in is implausibly large")
    return float(value)


_NOT_JSON = object()
_NESTED_TOO_DEEPLY = object()


def _json_document(body: bytes) -> Any:
    """``body`` decoded as JSON; ``_NOT_JSON`` or ``_NESTED_TOO_DEEPLY`` when it cannot be.

    An error about the body is raised by the caller, outside this except clause: the
    decoder's exception (whose ``doc`` is the whole body: an echoed request, freshly
    issued tokens) never becomes its ``__context__``.
    """
    try:
        return json.loads(body)
    except RecursionError:
        return _NESTED_TOO_DEEPLY
    except (ValueError, UnicodeDecodeError):
        return _NOT_JSON


def _provider_error(payload: Mapping[str, Any], status_code: int) -> TokenRequestError | None:
    error = payload.get("error")
    if error is None and status_code < 400:
        return None
    if error is None:
        # Providers that answer {"status": "error", "message": ...} (Teamwork) or nothing usable.
        error = payload.get("status") if isinstance(payload.get("status"), str) else None
    description = payload.get("error_description", payload.get("message"))
    uri = payload.get("error_uri")
    return TokenRequestError(
        str(error or f"http_{status_code}"),
        None if description is None else str(description),
        None if uri is None else str(uri),
        status_code=status_code,
    )


def parse_token_response(
    status_code: int, content_type: str | None, body: bytes, *, received_at: float
) -> Token:
    """Validate a token endpoint answer and return the :class:`Token` it carries.

    Raises :class:`TokenRequestError` when the endpoint sent an OAuth error object
    and :class:`InvalidTokenResponse` for anything else that is not a token (HTML,
    a JSON array, truncated JSON, a missing or empty ``access_token``, a bad
    ``expires_in``).
    """
    payload = _json_document(body)
    if payload is _NESTED_TOO_DEEPLY:
        raise InvalidTokenResponse("JSON nested too deeply", status_code=status_code)
    if payload is _NOT_JSON:
        media_type = (content_type or "").split(";", 1)[0].strip().lower()
        kind = "HTML" if media_type == "text/html" or body.lstrip()[:1] == b"<" else "non-JSON"
        raise InvalidTokenResponse(
            f"{kind} body ({media_type or 'no content type'})", status_code=status_code
        )
    if not isinstance(payload, dict):
        raise InvalidTokenResponse(
            f"JSON {type(payload).__name__} instead of an object", status_code=status_code
        )
    error = _provider_error(payload, status_code)
    if error is not None:
        raise error
    if not 200 <= status_code < 300:
        raise InvalidTokenResponse("unexpected status", status_code=status_code)
    try:
        return Token.from_response(payload, received_at=received_at)
    except ValueError as exc:
        reason = str(exc)
    raise InvalidTokenResponse(reason, status_code=status_code)
