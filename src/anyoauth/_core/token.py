"""The :class:`Token` value object and the validation of token responses."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from types import MappingProxyType
from typing import Any

import attrs

from .answers import NESTED_TOO_DEEPLY, NOT_JSON, json_document, provider_error
from .authorization_details import (
    AuthorizationDetails,
    details_from_response,
    details_list,
    details_repr,
)
from .errors import InvalidResponse, TokenExpiredOnArrival
from .text import is_visible_ascii

__all__ = [
    "BEARER",
    "BEARER_TYPE",
    "BORN_EXPIRED_LIMIT",
    "DPOP",
    "MAX_RENEWAL_PAUSE",
    "MIN_TOKEN_LIFETIME",
    "RenewalPace",
    "Token",
    "is_token_text",
    "parse_token_response",
]

# Twenty years: an expires_in beyond this is a provider bug, not a lifetime.
MAX_EXPIRES_IN = 20 * 365 * 24 * 3600

BEARER_TYPE = "Bearer"
"""The ``token_type`` of a response that has none, unless a strategy says otherwise."""

BEARER: frozenset[str] = frozenset({"bearer"})
"""The token types every strategy knows how to use (RFC 6750), in lower case."""

DPOP: frozenset[str] = frozenset({"dpop"})
"""The token type of a DPoP-bound token (RFC 9449 5), in lower case: usable by a
strategy with a DPoP key."""

# Token text is visible ASCII without space (text.is_visible_ascii): RFC 6749 appendix
# A's VSCHAR (%x20-7E) less the space. Every token value (access, refresh, id token) and
# token_type must be. The bearer header syntax (RFC 6750 2.1, b64token) is narrower, but
# real access tokens use more of VSCHAR (Salesforce's carry "!"), and a server is the
# judge of its own tokens; what is refused is what could change the meaning of a
# header, a form body or a shell command line: space, tab, CR, LF, NUL, ESC and every
# other control or non-ASCII character.


def is_token_text(value: object) -> bool:
    """Whether ``value`` is a non-empty string of visible ASCII characters (``!`` to
    ``~``): no space, no control character, nothing outside ASCII."""
    return is_visible_ascii(value)


def _token_text(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not is_token_text(value):
        raise ValueError(f"{attribute.name} has whitespace, control or non-ASCII characters")


def _streak(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{attribute.name} is not a non-negative integer")


def _extra_values(_instance: object, _attribute: attrs.Attribute[Any], value: object) -> None:
    id_token = value.get("id_token") if isinstance(value, Mapping) else None
    if isinstance(id_token, str) and not is_token_text(id_token):
        raise ValueError("id_token has whitespace, control or non-ASCII characters")


MIN_TOKEN_LIFETIME = 10.0
"""A token issued with less than this many seconds to live (``expires_in`` 0, 1, 9.5)
is *short-lived* (:attr:`Token.short_lived`): :class:`RenewalPace` paces the renewals
after it. Longer-lived tokens are renewed at half their lifetime at the earliest, so
at most every 5 s."""

FIRST_RENEWAL_PAUSE = 1.0
"""Seconds after a short-lived token is issued before it may be renewed; doubles with
each one in a row."""

MAX_RENEWAL_PAUSE = 60.0
"""The pause between renewals of short-lived tokens grows to this at most."""

BORN_EXPIRED_LIMIT = 3
"""From this many short-lived tokens in a row on, a caller whose token has expired gets
:class:`TokenExpiredOnArrival` until the pause ends."""

_STANDARD_FIELDS = frozenset(
    {"access_token", "token_type", "expires_in", "refresh_token", "scope", "expires_at"}
    | {"authorization_details"}
)


def _optional_details(value: object) -> AuthorizationDetails | None:
    return None if value is None else details_from_response(value)


def _freeze(extra: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(extra))


def _freeze_optional(claims: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    return None if claims is None else MappingProxyType(dict(claims))


def _claims_repr(claims: Mapping[str, Any] | None) -> str:
    return "None" if claims is None else _extra_repr(claims)


def _finite_time(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    # NaN or an infinity (a damaged or tampered stored record) would make every
    # comparison with the clock false or true for ever: expiry and renewal pacing
    # would never move. Stores report the ValueError as an unreadable record.
    if not math.isfinite(value):
        raise ValueError(f"{attribute.name} must be a finite number of seconds")


def _extra_repr(extra: Mapping[str, Any]) -> str:
    # Values may hold secrets (id_token) or personal data (Teamwork's user): keys only.
    return "{" + ", ".join(repr(k) for k in extra) + "}"


@attrs.frozen(kw_only=True)
class Token:
    """An access token and what the provider said about it.

    ``repr()`` and ``str()`` never show the access token, the refresh token or any
    extra value, only which fields are present.
    """

    access_token: str = attrs.field(repr=False, validator=_token_text)
    """The bearer credential. Send it only in the ``Authorization`` header. Visible
    ASCII only (see :func:`is_token_text`): a token with a space, a control or a
    non-ASCII character is never built, so it never reaches a header or a terminal."""

    token_type: str = attrs.field(default="Bearer", validator=_token_text)
    """The token type; providers that omit it (Geni's desktop flow) issue bearer tokens."""

    issued_at: float = attrs.field(validator=_finite_time)
    """When the token response was received (seconds since the epoch)."""

    expires_at: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(_finite_time)
    )
    """Receipt time plus ``expires_in``; ``None`` when the provider gave no expiry
    (the token is then used until revoked or rejected)."""

    refresh_token: str | None = attrs.field(default=None, repr=False, validator=_token_text)
    """The refresh token, if the provider issued one (visible ASCII only, like
    :attr:`access_token`)."""

    scope: str | None = None
    """The granted scope, exactly as the provider wrote it."""

    extra: Mapping[str, Any] = attrs.field(
        factory=dict, converter=_freeze, repr=_extra_repr, eq=False, validator=_extra_values
    )
    """Every other field of the token response, kept verbatim (Teamwork's
    ``installation`` and ``user``, Keycloak's ``refresh_expires_in``,
    ``not-before-policy``, ``app_id``...). An ``id_token`` here is visible ASCII only."""

    id_token_claims: Mapping[str, Any] | None = attrs.field(
        default=None, converter=_freeze_optional, repr=_claims_repr, eq=False
    )
    """The claims of the OpenID Connect id_token (``extra["id_token"]``) once validated
    against the server's keys; ``None`` when there was no id_token to validate."""

    dpop_jkt: str | None = attrs.field(default=None, validator=_token_text)
    """For a DPoP-bound token (``token_type`` ``DPoP``, RFC 9449): the thumbprint of the
    key it is bound to (RFC 7638), recorded when it was received. Only a client holding
    that key uses it (:meth:`Strategy.can_use`); ``None`` for other tokens."""

    authorization_details: AuthorizationDetails | None = attrs.field(
        default=None, converter=_optional_details, repr=details_repr, eq=False
    )
    """The granted ``authorization_details`` (RFC 9396 7): a tuple of read-only
    mappings, each with a string ``type``; ``None`` when the server sent none. Kept
    across a refresh whose answer leaves them out. A repr shows their types only."""

    renewal_streak: int = attrs.field(default=0, eq=False, validator=_streak)
    """How many short-lived tokens (:attr:`short_lived`) the server issued in a row,
    this one included, each renewing the one before; 0 for a token with a normal
    lifetime and for one a login brought. Stored with the token, so every client and
    process sharing the store paces its renewal alike (:class:`RenewalPace`)."""

    @property
    def has_refresh_token(self) -> bool:
        """Whether a refresh token is held."""
        return bool(self.refresh_token)

    def is_expired(self, now: float, leeway: float = 0.0) -> bool:
        """Whether the token is expired at ``now``, or will be within ``leeway`` seconds.

        A token with unknown expiry is never considered expired.
        """
        return self.expires_at is not None and now + leeway >= self.expires_at

    def renewal_margin(self, leeway: float) -> float:
        """How long before its expiry this token is due for renewal: ``leeway``, but at
        most half the token's lifetime (a short-lived token is not renewed on every
        use) and never below zero (a token that expires before its issue time, from a
        clock running ahead or a damaged record, gets no extra life). The one rule of
        anyoauth's expiry leeway: the client, the machine and the httpx Auth all ask it."""
        if self.expires_at is None:
            return leeway
        return max(0.0, min(leeway, (self.expires_at - self.issued_at) / 2))

    def renewal_due(self, now: float, leeway: float) -> bool:
        """Whether the token is due for renewal at ``now`` (within
        :meth:`renewal_margin` of its expiry, or expired). Unknown expiry: never."""
        return self.expires_at is not None and now >= self.expires_at - self.renewal_margin(leeway)

    def expires_in(self, now: float) -> float | None:
        """Seconds left at ``now`` (negative once expired), or ``None`` if unknown."""
        return None if self.expires_at is None else self.expires_at - now

    @property
    def authorization_header(self) -> str:
        """The ``Authorization`` header value for this token (``Bearer <token>``)."""
        scheme = "Bearer" if self.token_type.lower() == "bearer" else self.token_type
        return f"{scheme} {self.access_token}"

    @property
    def short_lived(self) -> bool:
        """Whether the token was issued with less than :data:`MIN_TOKEN_LIFETIME` seconds
        to live (``expires_in`` 0, a few seconds, or an expiry before its issue)."""
        return self.expires_at is not None and (
            self.expires_at - self.issued_at < MIN_TOKEN_LIFETIME
        )

    @classmethod
    def from_response(
        cls,
        payload: Mapping[str, Any],
        *,
        received_at: float,
        token_types: Collection[str] = BEARER,
        missing_token_type: str | None = BEARER_TYPE,
    ) -> Token:
        """Build a token from a decoded token response (or redirect parameters).

        Validates ``access_token`` and ``refresh_token`` (non-empty strings of visible
        ASCII: no space, control or non-ASCII character; so is a string ``id_token``),
        ``token_type`` (one of ``token_types``, compared without case; a response
        without one carries ``missing_token_type``, and is refused when that is
        ``None``), ``expires_in`` (a non-negative, finite number of seconds, given as
        a number or a numeric string), ``scope`` (a string) and
        ``authorization_details`` (RFC 9396: a bounded JSON array of objects, each with
        a string ``type``; see :mod:`~anyoauth._core.authorization_details`). Raises
        :class:`ValueError` naming the field otherwise (never showing a token);
        :func:`parse_token_response` turns that into :class:`InvalidResponse`.
        """
        access_token = payload.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise ValueError("access_token is missing or not a non-empty string")
        token_type = payload.get("token_type")
        if token_type is None or token_type == "":
            if missing_token_type is None:
                raise ValueError("token_type is missing")
            token_type = missing_token_type
        if not isinstance(token_type, str):
            raise ValueError("token_type is not a string")
        if not (token_type.isascii() and token_type.lower() in token_types):
            shown = (
                f" {token_type!r}" if is_token_text(token_type) and len(token_type) <= 40 else ""
            )
            raise ValueError(
                f"token_type{shown} is not one this client can use "
                f"(it uses {', '.join(sorted(token_types))})"
            )
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
        details = payload.get("authorization_details")
        extra = {k: v for k, v in payload.items() if k not in _STANDARD_FIELDS}
        return cls(
            authorization_details=None if details is None else details_from_response(details),
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
            "renewal_streak": self.renewal_streak,
            "dpop_jkt": self.dpop_jkt,
            "authorization_details": None
            if self.authorization_details is None
            else details_list(self.authorization_details),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Token:
        """Rebuild a token saved with :meth:`to_dict`.

        Raises :class:`ValueError` (or :class:`KeyError`, :class:`TypeError`) for data
        that is not such a token, including a token value with a space, control or
        non-ASCII character (stores report it as :class:`StoreError`). Data without
        ``renewal_streak`` (written by an older version) reads as 0."""
        return cls(
            access_token=data["access_token"],
            token_type=data["token_type"],
            issued_at=float(data["issued_at"]),
            expires_at=None if data.get("expires_at") is None else float(data["expires_at"]),
            refresh_token=data.get("refresh_token"),
            scope=data.get("scope"),
            extra=data.get("extra") or {},
            id_token_claims=data.get("id_token_claims"),
            renewal_streak=data.get("renewal_streak", 0),
            dpop_jkt=data.get("dpop_jkt"),
            authorization_details=data.get("authorization_details"),
        )


@attrs.frozen(kw_only=True)
class RenewalPace:
    """When a token may be renewed again, from the token itself (sans-IO).

    A server that issues short-lived tokens (:attr:`Token.short_lived`: ``expires_in``
    0, 1 or a few seconds) would otherwise be asked for a new one on every
    :meth:`Client.token` call, or twice a second. Each renewal that brings one stamps
    it (:meth:`stamp`) with the streak of such tokens in a row; no renewal is sent
    sooner than 1 s after the first was issued, doubling with each one up to
    :data:`MAX_RENEWAL_PAUSE`. The streak travels with the stored token, so every
    client and process sharing the store keeps the same pace. During the pause the
    token is handed out; once :data:`BORN_EXPIRED_LIMIT` are in a row, a caller whose
    token has expired gets :class:`TokenExpiredOnArrival` instead, and so does one
    whose token was rejected. A token with a normal lifetime ends the streak. The
    driver persists the stamped token and asks :meth:`of` it; it decides nothing itself.
    """

    streak: int = 0
    """Short-lived tokens received in a row."""
    not_before: float = -math.inf
    """No renewal is sent before this time."""

    @classmethod
    def of(cls, token: Token, now: float) -> RenewalPace:
        """The pace ``token`` sets at ``now``: no renewal before its issue plus the
        pause of its :attr:`~Token.renewal_streak` (none for a streak of 0). A token
        that claims to be issued after ``now`` (a clock running ahead on a shared store,
        or a tampered record) sets no pause: its issue time cannot be trusted, and a
        pause counted from it could hold renewals off for as long as it lies. The one
        renewal this allows brings a token stamped with a true issue time."""
        count = token.renewal_streak
        if count == 0:
            return cls()
        if token.issued_at > now:
            return cls(streak=count, not_before=now)
        pause = min(FIRST_RENEWAL_PAUSE * 2.0 ** min(count - 1, 32), MAX_RENEWAL_PAUSE)
        return cls(streak=count, not_before=token.issued_at + pause)

    @staticmethod
    def stamp(token: Token, previous: Token | None) -> Token:
        """``token``, which a renewal of ``previous`` (``None``: nothing was stored)
        just brought, with its :attr:`~Token.renewal_streak`: one more than
        ``previous``'s if it is short-lived, else 0."""
        count = (previous.renewal_streak if previous is not None else 0) + 1
        count = count if token.short_lived else 0
        return token if count == token.renewal_streak else attrs.evolve(token, renewal_streak=count)

    @property
    def exhausted(self) -> bool:
        """Whether the server issued :data:`BORN_EXPIRED_LIMIT` short-lived tokens in a row."""
        return self.streak >= BORN_EXPIRED_LIMIT

    def may_renew(self, now: float) -> bool:
        """Whether a renewal may be sent at ``now``."""
        return now >= self.not_before

    def error(self) -> TokenExpiredOnArrival:
        """The error for a caller that cannot be given a token now."""
        return TokenExpiredOnArrival(count=self.streak, retry_at=self.not_before)

    def check(self, now: float, *, held: Token, rejected: bool) -> Token | None:
        """What a caller whose token ``held`` needs renewing (it is expired, inside the
        client's leeway, or was ``rejected``) gets at ``now``: ``None`` means renew;
        ``held`` means hand it out (during the pause); :class:`TokenExpiredOnArrival`
        is raised during the pause for a rejected token, and for an expired one once
        the streak reached the limit."""
        if self.may_renew(now):
            return None
        if rejected or (self.exhausted and held.is_expired(now)):
            raise self.error()
        return held


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


def parse_token_response(
    status_code: int,
    content_type: str | None,
    body: bytes,
    *,
    received_at: float,
    token_types: Collection[str] = BEARER,
    missing_token_type: str | None = BEARER_TYPE,
) -> Token:
    """Validate a token endpoint answer and return the :class:`Token` it carries.

    Raises :class:`TokenRequestError` when the endpoint sent an OAuth error object
    and :class:`InvalidResponse` for anything else that is not a token (HTML,
    a JSON array, truncated JSON, a missing or empty ``access_token``, a token with
    a space, control or non-ASCII character, a ``token_type`` not in ``token_types``,
    a bad ``expires_in``). See :meth:`Token.from_response`.
    """
    payload = json_document(body)
    if payload is NESTED_TOO_DEEPLY:
        raise InvalidResponse("JSON nested too deeply", status_code=status_code)
    if payload is NOT_JSON:
        media_type = (content_type or "").split(";", 1)[0].strip().lower()
        kind = "HTML" if media_type == "text/html" or body.lstrip()[:1] == b"<" else "non-JSON"
        raise InvalidResponse(
            f"{kind} body ({media_type or 'no content type'})", status_code=status_code
        )
    if not isinstance(payload, dict):
        raise InvalidResponse(
            f"JSON {type(payload).__name__} instead of an object", status_code=status_code
        )
    error = provider_error(payload, status_code)
    if error is not None:
        raise error
    if not 200 <= status_code < 300:
        raise InvalidResponse("unexpected status", status_code=status_code)
    try:
        return Token.from_response(
            payload,
            received_at=received_at,
            token_types=token_types,
            missing_token_type=missing_token_type,
        )
    except ValueError as exc:
        reason = str(exc)
    raise InvalidResponse(reason, status_code=status_code)
