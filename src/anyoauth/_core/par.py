"""Pushed authorization requests (RFC 9126), sans-IO: reading the push answer.

The client posts its authorization parameters (with client authentication) to the
server's ``pushed_authorization_request_endpoint``; the server answers ``201`` with a
``request_uri`` naming them and ``expires_in``; the browser then gets only
``client_id`` and ``request_uri``. The strategy builds the push; the machine owns the
flow rule (:meth:`Flow.begin`, :meth:`Flow.receive_push_response`); this module
validates the answer (:class:`PushedAuthorization`).
"""

from __future__ import annotations

import math

import attrs

from .answers import NESTED_TOO_DEEPLY, NOT_JSON, json_document, provider_error
from .errors import InvalidResponse
from .text import is_visible_ascii

__all__ = ["MAX_REQUEST_URI_LENGTH", "MAX_REQUEST_URI_LIFETIME", "PushedAuthorization"]

MAX_REQUEST_URI_LENGTH = 1024
"""The longest ``request_uri`` accepted. RFC 9126 sets no limit, but the value goes in
the authorization URL; real servers send well under 100 characters. A longer one is
refused (:class:`InvalidResponse`) rather than put in a URL the browser may cut."""

MAX_REQUEST_URI_LIFETIME = 3600.0
"""A larger ``expires_in`` is a server bug; the URL is taken to expire after this."""


@attrs.frozen(kw_only=True)
class PushedAuthorization:
    """The pushed authorization endpoint's answer (RFC 9126 2.2)."""

    request_uri: str = attrs.field(repr=False)
    """The reference to the pushed request, sent to the authorization endpoint with
    ``client_id``. Not shown in a repr (with the client id, it starts this login)."""
    expires_at: float
    """When the server stops accepting :attr:`request_uri`."""

    @classmethod
    def from_response(
        cls, status_code: int, content_type: str | None, body: bytes, *, received_at: float
    ) -> PushedAuthorization:
        """Validate the answer: ``201`` with a JSON object holding a ``request_uri``
        (a non-empty string of visible ASCII, at most :data:`MAX_REQUEST_URI_LENGTH`
        characters) and a positive ``expires_in`` (capped at
        :data:`MAX_REQUEST_URI_LIFETIME`).

        Raises :class:`TokenRequestError` for an OAuth error object (the server's
        ``error``, ``error_description``, ``error_uri``) and :class:`InvalidResponse`
        for anything else. Read within the push request's redaction scope, no text
        of the server's shows the request's secrets.
        """
        payload = json_document(body)
        if payload is NOT_JSON or payload is NESTED_TOO_DEEPLY:
            raise InvalidResponse(
                "the pushed authorization answer is not JSON", status_code=status_code
            )
        if not isinstance(payload, dict):
            raise InvalidResponse(
                "the pushed authorization answer is not a JSON object", status_code=status_code
            )
        error = provider_error(payload, status_code)
        if error is not None:
            raise error
        if status_code != 201:
            raise InvalidResponse(
                "the pushed authorization endpoint did not answer 201 Created",
                status_code=status_code,
            )
        request_uri = payload.get("request_uri")
        if not isinstance(request_uri, str) or not request_uri:
            raise InvalidResponse(
                "the pushed authorization answer has no request_uri", status_code=status_code
            )
        if len(request_uri) > MAX_REQUEST_URI_LENGTH:
            raise InvalidResponse(
                f"the request_uri is longer than {MAX_REQUEST_URI_LENGTH} characters",
                status_code=status_code,
            )
        if not is_visible_ascii(request_uri):
            raise InvalidResponse(
                "the request_uri has whitespace, control or non-ASCII characters",
                status_code=status_code,
            )
        expires_in = payload.get("expires_in")
        if (
            isinstance(expires_in, bool)
            or not isinstance(expires_in, (int, float))
            or (isinstance(expires_in, float) and not math.isfinite(expires_in))
            or expires_in <= 0
        ):
            raise InvalidResponse(
                "the pushed authorization answer's expires_in is not a positive number",
                status_code=status_code,
            )
        # Compared before any conversion: an integer too large for a float is capped.
        lifetime = MAX_REQUEST_URI_LIFETIME if expires_in > MAX_REQUEST_URI_LIFETIME else expires_in
        return cls(request_uri=request_uri, expires_at=received_at + float(lifetime))
