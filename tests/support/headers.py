"""Reading the headers of the sans-IO core's :class:`~anyoauth.HttpRequest` values."""

from __future__ import annotations

import base64
from urllib.parse import unquote_plus

from anyoauth import HttpRequest


def header(request: HttpRequest, name: str) -> str | None:
    """The one value of header ``name`` (any case) of ``request``; ``None`` if absent.
    A header sent twice fails the test."""
    values = [v for k, v in request.headers if k.lower() == name.lower()]
    assert len(values) <= 1
    return values[0] if values else None


def decode_basic(value: str | None) -> tuple[str, str]:
    """The client id and secret of an ``Authorization: Basic`` value, each form-decoded
    (RFC 6749 2.3.1). Anything else (no value, another scheme, no colon, bad base64)
    fails the test."""
    assert value is not None
    scheme, _, encoded = value.partition(" ")
    assert scheme == "Basic"
    user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    assert sep == ":"
    return unquote_plus(user), unquote_plus(password)
