"""Reading a server's JSON answer, shared by every endpoint's parser (token, device
authorization, revocation, introspection): the document, and the OAuth error it carries."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .errors import InvalidResponse, TokenRequestError

__all__ = ["NESTED_TOO_DEEPLY", "NOT_JSON", "json_document", "json_object", "provider_error"]

NOT_JSON = object()
"""What :func:`json_document` returns for a body that is not JSON."""
NESTED_TOO_DEEPLY = object()
"""What :func:`json_document` returns for JSON nested past the recursion limit."""


def json_document(body: bytes) -> Any:
    """``body`` decoded as JSON; ``NOT_JSON`` or ``NESTED_TOO_DEEPLY`` when it cannot be.

    An error about the body is raised by the caller, outside this except clause: the
    decoder's exception (whose ``doc`` is the whole body: an echoed request, freshly
    issued tokens) never becomes its ``__context__``.
    """
    try:
        return json.loads(body)
    except RecursionError:
        return NESTED_TOO_DEEPLY
    except (ValueError, UnicodeDecodeError):
        return NOT_JSON


def provider_error(payload: Mapping[str, Any], status_code: int) -> TokenRequestError | None:
    """The OAuth error object of an answer (RFC 6749 5.2), or ``None`` for a success;
    an error status without one is an error named after the status."""
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


def json_object(status_code: int, body: bytes, what: str) -> dict[str, Any] | None:
    """``body`` as a JSON object; ``None`` when it is not JSON, :class:`InvalidResponse`
    when it is JSON but not an object (``what`` names the answer in that error)."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(payload, dict):
        raise InvalidResponse(f"{what} is not a JSON object", status_code=status_code)
    return payload
