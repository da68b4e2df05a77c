"""Signed authorization responses (JARM, the OpenID Foundation's "JWT Secured
Authorization Response Mode for OAuth 2.0"), and the response modes a client may ask for.

A server that answers with ``response_mode`` ``jwt``, ``query.jwt``, ``fragment.jwt`` or
``form_post.jwt`` sends one parameter, ``response``: a JWT it signed, whose claims are
``iss``, ``aud``, ``exp`` and the authorization response's parameters (``code``,
``state``, ``error``...). This module owns the two ways of reading it:

* :func:`unverified_response_state` reads ``state`` without checking anything, and is
  used for one thing only: finding the pending flow the response answers (its store key
  is a digest of the state). Nothing else read this way is believed.
* :func:`validate_authorization_response` checks the JWT as the specification asks
  (signature with a key of the server's key set and an allowed asymmetric algorithm,
  ``iss``, ``aud``, ``exp``) and only then returns its claims as response parameters.

Security decisions:

* The keys come from the server's key set only (``jwks_uri``), never from the JWT's
  header (``jwk``, ``jku``, ``x5c``, ``x5u`` are ignored); the algorithm from an
  allow-list of asymmetric algorithms: never ``none``, never ``HS*`` (a server's public
  key used as an HMAC secret would let anyone sign). Keys are chosen and imported as
  for id_tokens (:mod:`.jose`).
* Encrypted responses (JWE, five parts) are refused with a clear error: they need a
  client decryption key, which anyoauth does not configure.
* The JWT is at most :data:`MAX_RESPONSE_CHARS` long; a longer one is refused before
  it is decoded.
* Errors name the failed check, never a code, a state or key material.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any

from . import jose
from .errors import InvalidAuthorizationResponse, InvalidIdToken

__all__ = [
    "DEFAULT_RESPONSE_LEEWAY",
    "JWT_RESPONSE_MODES",
    "MAX_RESPONSE_CHARS",
    "RESPONSE_MODES",
    "RESPONSE_SIGNING_ALGORITHMS",
    "unverified_response_state",
    "validate_authorization_response",
]

RESPONSE_MODES = frozenset(
    {"query", "fragment", "form_post", "jwt", "query.jwt", "fragment.jwt", "form_post.jwt"}
)
"""Every ``response_mode`` a strategy may ask for."""

JWT_RESPONSE_MODES = frozenset({"jwt", "query.jwt", "fragment.jwt", "form_post.jwt"})
"""The response modes whose answer is a signed JWT (JARM)."""

RESPONSE_SIGNING_ALGORITHMS: frozenset[str] = jose.ID_TOKEN_ALGORITHMS
"""Every algorithm a signed response may be allowed to use (asymmetric only)."""

MAX_RESPONSE_CHARS = 16 * 1024
"""The longest ``response`` JWT read (a redirect URL is at most 16 KiB anyway)."""

DEFAULT_RESPONSE_LEEWAY = 30.0
"""Seconds of clock difference allowed on ``exp`` (JARM responses live minutes)."""

_WHAT = "response"
# Claims that frame the response rather than being one of its parameters.
_FRAMING = frozenset({"aud", "exp", "iat", "nbf", "jti"})


def _payload(response: object) -> tuple[dict[str, Any], bytes, bytes, bytes]:
    if not isinstance(response, str) or not response:
        raise InvalidAuthorizationResponse("the response parameter is empty")
    if len(response) > MAX_RESPONSE_CHARS:
        raise InvalidAuthorizationResponse(
            f"the response JWT is longer than {MAX_RESPONSE_CHARS} characters"
        )
    if response.count(".") == 4:
        raise InvalidAuthorizationResponse(
            "the response is encrypted (JWE); encrypted JARM responses are not supported: "
            "ask the server for signed responses only"
        )
    try:
        return jose._split_token(response, _WHAT)
    except InvalidIdToken as exc:
        raise InvalidAuthorizationResponse(exc.check) from None


def _claims(payload: bytes) -> dict[str, Any]:
    try:
        return jose._json_object(payload)
    except (ValueError, RecursionError):
        raise InvalidAuthorizationResponse("the response payload is not a JSON object") from None


def unverified_response_state(response: object) -> str | None:
    """The ``state`` claim of a ``response`` JWT, read WITHOUT verifying anything.

    Only for finding the pending flow the response answers; everything the JWT says is
    believed only after :func:`validate_authorization_response`, which reads the state
    again. Raises :class:`InvalidAuthorizationResponse` when ``response`` is no readable
    compact JWS (too long, encrypted, malformed); returns ``None`` without a string state.
    """
    _header, _input, payload, _signature = _payload(response)
    state = _claims(payload).get("state")
    return state if isinstance(state, str) and state else None


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    if name not in claims:
        return None
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidAuthorizationResponse(f"the response's {name} is not a number")
    try:
        number = float(value)
    except OverflowError:
        raise InvalidAuthorizationResponse(
            f"the response's {name} is not a usable number"
        ) from None
    if not math.isfinite(number):
        raise InvalidAuthorizationResponse(f"the response's {name} is not a usable number")
    return number


def _parameter(value: object) -> str | None:
    """A claim as a response parameter: text as is, an integer as its digits (an
    implicit response's ``expires_in``); anything else is no parameter."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def validate_authorization_response(
    response: str,
    *,
    jwks: Mapping[str, Any],
    issuer: str,
    client_id: str,
    now: float,
    algorithms: Collection[str] = jose.DEFAULT_ID_TOKEN_ALGORITHMS,
    leeway: float = DEFAULT_RESPONSE_LEEWAY,
) -> dict[str, str]:
    """Validate a signed authorization response (JARM section 2.4) and return its
    parameters.

    Checks, in order: ``response`` is a compact JWS of at most
    :data:`MAX_RESPONSE_CHARS` characters whose header ``alg`` is in ``algorithms``
    (asymmetric only) and has no critical extensions; the signature verifies with a key
    of ``jwks`` (chosen as :func:`anyoauth._core.jose.validate_id_token` does); ``iss``
    equals ``issuer``; ``aud`` is ``client_id`` or a list holding it; ``exp`` is present
    and ``now < exp + leeway``; ``nbf``, when present, is not after ``now + leeway``.

    The result holds the claims that are response parameters (``aud``, ``exp``, ``iat``,
    ``nbf`` and ``jti`` dropped; ``iss`` kept, for RFC 9207's check), text only.
    Raises :class:`InvalidAuthorizationResponse`, whose ``unknown_key`` is true when no
    key of ``jwks`` can have signed it (fetch the key set again, once); ``ValueError``
    for ``algorithms`` outside :data:`RESPONSE_SIGNING_ALGORITHMS` or a bad ``now``.
    """
    allowed = frozenset(algorithms)
    if not allowed or not allowed <= RESPONSE_SIGNING_ALGORITHMS:
        raise ValueError(
            "algorithms must list asymmetric JWS algorithms only: "
            + ", ".join(sorted(RESPONSE_SIGNING_ALGORITHMS))
        )
    jose._check_time("now", now)
    jose._check_time("leeway", leeway)
    header, signing_input, payload, signature = _payload(response)
    algorithm = header.get("alg")
    if not isinstance(algorithm, str):
        raise InvalidAuthorizationResponse("the response header has no alg")
    if algorithm not in allowed:
        raise InvalidAuthorizationResponse(
            f"the response alg {jose._clip(algorithm)} is not allowed"
        )
    if "crit" in header or "b64" in header:
        raise InvalidAuthorizationResponse("the response uses critical header extensions")
    try:
        jose._verify(algorithm, signing_input, signature, header, jwks, _WHAT)
    except InvalidIdToken as exc:
        raise InvalidAuthorizationResponse(exc.check, unknown_key=exc.unknown_key) from None
    claims = _claims(payload)
    if claims.get("iss") != issuer:
        raise InvalidAuthorizationResponse(f"the response's iss is not the issuer {issuer!r}")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud
    if not isinstance(audiences, list) or client_id not in audiences:
        raise InvalidAuthorizationResponse("the response's aud is not this client_id")
    exp = _number(claims, "exp")
    if exp is None:
        raise InvalidAuthorizationResponse("the response has no exp")
    if now >= exp + leeway:
        raise InvalidAuthorizationResponse("the response has expired")
    nbf = _number(claims, "nbf")
    if nbf is not None and nbf > now + leeway:
        raise InvalidAuthorizationResponse("the response is not valid yet (nbf)")
    params: dict[str, str] = {}
    for name, value in claims.items():
        text = _parameter(value)
        if name not in _FRAMING and text is not None:
            params[name] = text
    return params
