"""Reading a token revocation endpoint's answer (RFC 7009), sans-IO."""

from __future__ import annotations

from .answers import json_object, provider_error
from .errors import InvalidResponse, ServerUnavailable

__all__ = ["check_revocation_response"]


def check_revocation_response(status_code: int, content_type: str | None, body: bytes) -> None:
    """Accept a revocation endpoint's answer: HTTP 200 means revoked (or never valid).

    Raises :class:`TokenRequestError` for an OAuth error object (for example
    ``unsupported_token_type``), :class:`ServerUnavailable` for a server
    error without one, and :class:`InvalidResponse` for any other non-200 answer.
    """
    if status_code == 200:
        return
    payload = json_object(status_code, body, "the revocation answer") or {}
    if "error" not in payload and status_code >= 500:
        raise ServerUnavailable(f"the revocation endpoint answered HTTP {status_code}")
    error = provider_error(payload, status_code)
    if error is not None:
        raise error
    raise InvalidResponse("unexpected revocation answer", status_code=status_code)
