"""OpenID Connect userinfo (Core 5.3) and RP-initiated logout (RP-Initiated Logout 1.0),
sans-IO.

:func:`userinfo_request` builds the GET of the userinfo endpoint with an access token
(``Authorization: DPoP`` and a proof carrying ``ath`` for a DPoP-bound token);
:func:`read_userinfo` reads its answer: JSON claims, or a signed JWT
(``application/jwt``) for :func:`validate_userinfo_jwt` to check against the server's
key set; :func:`check_subject` holds the claims to the id_token's ``sub`` (Core
5.3.4). :func:`end_session_url` builds the logout URL the browser is sent to. The errors
of these steps (:class:`UserinfoError`, :class:`InvalidUserinfo`,
:class:`UserinfoSubjectMismatch`) live here too.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from . import jose
from .dpop import DPoPKey
from .errors import ConfigurationError, InvalidIdToken, InvalidResponse, ProviderError
from .http import HttpRequest
from .token import Token
from .urls import add_query, check_redirect_uri

__all__ = [
    "MAX_USERINFO_BYTES",
    "InvalidUserinfo",
    "UserinfoError",
    "UserinfoSubjectMismatch",
    "check_subject",
    "end_session_url",
    "read_userinfo",
    "userinfo_request",
    "validate_userinfo_jwt",
]

MAX_USERINFO_BYTES = 256 * 1024
"""The largest userinfo answer taken (a larger one is refused before it is read whole)."""

_WHAT = "userinfo"
_CHALLENGE_PARAM = re.compile(r'(error|error_description|error_uri)\s*=\s*"([^"]{0,512})"')


class UserinfoError(ProviderError):
    """The userinfo endpoint refused the request (OpenID Connect Core 5.3.3): HTTP 401
    or 403 with the error of its ``WWW-Authenticate`` challenge (RFC 6750 3), or
    another error status. ``status_code`` is the HTTP status; a 401 is raised only
    after the client got a different token and was refused again."""

    def __init__(
        self,
        error: str,
        error_description: str | None = None,
        error_uri: str | None = None,
        *,
        status_code: int,
    ) -> None:
        self.status_code = status_code
        super().__init__(error, error_description, error_uri)

    def __str__(self) -> str:
        return f"userinfo refused: {super().__str__()} (HTTP {self.status_code})"


class InvalidUserinfo(InvalidResponse):
    """The userinfo endpoint's answer is not valid claims: not JSON, not an object, no
    ``sub``, too large, or a signed answer that fails validation (signature, algorithm,
    ``iss``, ``aud``). ``unknown_key`` is true when no key of the server's key set can
    have signed it (the client fetches the key set again, once)."""

    def __init__(self, reason: str, *, status_code: int = 200, unknown_key: bool = False) -> None:
        self.unknown_key = unknown_key
        super().__init__(f"userinfo rejected: {reason}", status_code=status_code)


class UserinfoSubjectMismatch(InvalidUserinfo):
    """The userinfo ``sub`` is not the id_token's ``sub``: OpenID Connect Core 5.3.4
    says the answer MUST NOT be used (it may be another user's)."""


def userinfo_request(
    url: str, token: Token, *, dpop_key: DPoPKey | None, now: float
) -> HttpRequest:
    """The GET of the userinfo endpoint at ``url`` with ``token``. A DPoP-bound token
    goes as ``Authorization: DPoP`` with a fresh proof of ``dpop_key`` (its ``ath`` the
    token's hash, RFC 9449 7), rebuilt for every attempt with the server's latest
    nonce; a bound token without the key is refused (:class:`ConfigurationError`),
    never sent as a bearer token."""
    headers = (
        ("Accept", "application/json, application/jwt"),
        ("Authorization", token.authorization_header),
    )
    if token.token_type.lower() != "dpop":
        return HttpRequest(method="GET", url=url, headers=headers)
    if dpop_key is None:
        raise ConfigurationError("a DPoP-bound token needs the strategy's dpop_key")
    key = dpop_key

    def build(at: float) -> HttpRequest:
        proof = key.proof(
            "GET", url, now=at, nonce=key.nonce_for(url), access_token=token.access_token
        )
        return HttpRequest(
            method="GET",
            url=url,
            headers=(*headers, ("DPoP", proof)),
            rebuild=build,
            remember_nonce=lambda nonce: key.remember_nonce(url, nonce),
        )

    return build(now)


def _challenge_error(www_authenticate: str | None) -> dict[str, str]:
    if not www_authenticate or len(www_authenticate) > 8192:
        return {}
    return dict(_CHALLENGE_PARAM.findall(www_authenticate))


def _body_error(body: bytes) -> dict[str, str]:
    if len(body) > 65536:
        return {}
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return {}
    if not isinstance(payload, dict):
        return {}
    return {k: v for k, v in payload.items() if k.startswith("error") and isinstance(v, str)}


def _media_type(content_type: str | None) -> str:
    return (content_type or "").partition(";")[0].strip().lower()


def read_userinfo(
    status_code: int,
    content_type: str | None,
    body: bytes,
    *,
    www_authenticate: str | None = None,
) -> dict[str, Any] | str:
    """The userinfo answer: its claims (a JSON object with a string ``sub``), or the
    compact JWT of a signed answer (``application/jwt``) to validate with
    :func:`validate_userinfo_jwt`. Raises :class:`UserinfoError` for an error status
    (its error from the ``WWW-Authenticate`` challenge, else from a JSON body) and
    :class:`InvalidUserinfo` for anything else that is not claims."""
    if status_code != 200:
        found = _challenge_error(www_authenticate) or _body_error(body)
        raise UserinfoError(
            found.get("error") or f"http_{status_code}",
            found.get("error_description"),
            found.get("error_uri"),
            status_code=status_code,
        )
    if len(body) > MAX_USERINFO_BYTES:
        raise InvalidUserinfo(f"the answer is larger than {MAX_USERINFO_BYTES} bytes")
    kind = _media_type(content_type)
    if kind == "application/jwt":
        try:
            text = body.decode("ascii").strip()
        except UnicodeDecodeError:
            raise InvalidUserinfo("the signed answer is not ASCII") from None
        return text
    if kind != "application/json" and not kind.endswith("+json"):
        raise InvalidUserinfo("the answer is neither JSON nor a signed JWT")
    try:
        claims = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidUserinfo("the answer is not JSON") from None
    return _checked_claims(claims)


def _checked_claims(claims: object) -> dict[str, Any]:
    if not isinstance(claims, dict):
        raise InvalidUserinfo("the answer is not a JSON object")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise InvalidUserinfo("the answer has no sub")
    return claims


def validate_userinfo_jwt(
    value: str,
    *,
    jwks: Mapping[str, Any],
    issuer: str,
    client_id: str,
    algorithms: Collection[str] = jose.DEFAULT_ID_TOKEN_ALGORITHMS,
) -> dict[str, Any]:
    """The claims of a signed userinfo answer (OpenID Connect Core 5.3.2), once its
    signature verifies with a key of ``jwks`` (chosen as for id_tokens; keys the token
    names itself are ignored) under one of ``algorithms`` (asymmetric only), and its
    ``iss`` is ``issuer`` and ``aud`` is ``client_id`` (or a list holding it). Raises
    :class:`InvalidUserinfo` (``unknown_key`` when the key set has no key for it)."""
    try:
        header, signing_input, payload, signature = jose._split_token(value, _WHAT)
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in algorithms:
            raise InvalidUserinfo(f"the signature algorithm {jose._clip(algorithm)} is not allowed")
        if algorithm not in jose.ID_TOKEN_ALGORITHMS:
            raise InvalidUserinfo(f"the signature algorithm {jose._clip(algorithm)} is not allowed")
        if "crit" in header or "b64" in header:
            raise InvalidUserinfo("the signed answer uses critical header extensions")
        jose._verify(algorithm, signing_input, signature, header, jwks, _WHAT)
    except InvalidIdToken as exc:
        raise InvalidUserinfo(exc.check, unknown_key=exc.unknown_key) from None
    try:
        claims = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidUserinfo("the signed answer's payload is not JSON") from None
    claims = _checked_claims(claims)
    if claims.get("iss") != issuer:
        raise InvalidUserinfo("the signed answer's iss is not the issuer")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud
    if not isinstance(audiences, list) or client_id not in audiences:
        raise InvalidUserinfo("the signed answer's aud is not this client_id")
    return claims


def check_subject(claims: Mapping[str, Any], id_token_claims: Mapping[str, Any] | None) -> None:
    """Refuse claims whose ``sub`` is not the id_token's (OpenID Connect Core 5.3.4),
    with :class:`UserinfoSubjectMismatch`. Without id_token claims there is nothing to
    compare with."""
    if id_token_claims is None:
        return
    expected = id_token_claims.get("sub")
    sub = claims.get("sub")
    if (
        not isinstance(expected, str)
        or not isinstance(sub, str)
        or not hmac.compare_digest(
            sub.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
        )
    ):
        raise UserinfoSubjectMismatch("its sub is not the id_token's sub")


def end_session_url(
    endpoint: str,
    *,
    client_id: str,
    id_token_hint: str | None = None,
    post_logout_redirect_uri: str | None = None,
    state: str | None = None,
    ui_locales: str | Iterable[str] | None = None,
    known: Mapping[str, str] | None = None,
) -> str:
    """The URL that asks the server to end the user's session (OpenID Connect
    RP-Initiated Logout 1.0 section 2): ``endpoint`` with ``id_token_hint`` (the id_token
    the server issued), ``client_id``, ``post_logout_redirect_uri`` (which must be
    registered at the server; absolute, no fragment, http only on loopback), ``state``
    and ``ui_locales`` (space-separated language tags). It carries no other token and
    no client secret."""
    check_redirect_uri(post_logout_redirect_uri)
    params: list[tuple[str, str]] = []
    if id_token_hint is not None:
        params.append(("id_token_hint", id_token_hint))
    params.append(("client_id", client_id))
    if post_logout_redirect_uri is not None:
        params.append(("post_logout_redirect_uri", post_logout_redirect_uri))
    if state is not None:
        if not state:
            raise ConfigurationError("state must not be empty")
        params.append(("state", state))
    if ui_locales is not None:
        locales = ui_locales.split() if isinstance(ui_locales, str) else list(ui_locales)
        if not locales or not all(isinstance(v, str) and v.isascii() for v in locales):
            raise ConfigurationError("ui_locales must be language tags")
        params.append(("ui_locales", " ".join(locales)))
    return add_query(endpoint, params, known or {})
