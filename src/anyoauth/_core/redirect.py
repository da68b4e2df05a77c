"""Reading redirect and special URLs: exact endpoint matching and parameter parsing.

URLs are compared by their parsed scheme, host, port and path, never by prefix
or substring, so ``https://ok@evil/`` and ``https://ok.evil/`` never match
``https://ok/``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from types import MappingProxyType
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

import attrs

from .errors import MalformedRedirect, RedirectMismatch

__all__ = ["Endpoint", "Redirect", "ResponseLocation", "parse_params", "read_redirect"]

MAX_URL_LENGTH = 16 * 1024
"""Redirects longer than this are rejected before parsing."""

_DEFAULT_PORTS = {"http": 80, "https": 443}

_CONTROL = re.compile("[\x00-\x1f\x7f]")
"""C0 control characters and DEL: never part of a URL a browser reports."""


class ResponseLocation(enum.Enum):
    """Where a redirect carries its response parameters."""

    QUERY = "query"
    FRAGMENT = "fragment"
    EITHER = "either"
    """Query or fragment (Keycloak's implicit flow: older setups use the fragment)."""


def _split(url: str) -> SplitResult:
    if len(url) > MAX_URL_LENGTH:
        raise MalformedRedirect(f"URL longer than {MAX_URL_LENGTH} characters")
    if _CONTROL.search(url):
        raise MalformedRedirect("URL contains control characters")
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018  (validates the port)
    except ValueError:
        raise MalformedRedirect("URL cannot be parsed") from None
    return parts


@attrs.frozen
class Endpoint:
    """A URL reduced to what identifies an endpoint: scheme, host, port and path."""

    scheme: str
    host: str
    port: int | None
    path: str

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        """Parse ``url``; a URL with user info never identifies an endpoint."""
        parts = _split(url)
        if parts.username is not None or parts.password is not None:
            raise RedirectMismatch("URL carries user info")
        scheme = parts.scheme.lower()
        if not scheme:
            raise RedirectMismatch("URL has no scheme")
        host = (parts.hostname or "").rstrip(".")
        return cls(
            scheme=scheme,
            host=host,
            port=parts.port if parts.port is not None else _DEFAULT_PORTS.get(scheme),
            path=parts.path or "/",
        )

    def matches(self, url: str) -> bool:
        """Whether ``url`` points at exactly this endpoint (query and fragment ignored)."""
        try:
            return Endpoint.parse(url) == self
        except (RedirectMismatch, MalformedRedirect):
            return False


def parse_params(text: str) -> dict[str, str]:
    """Parse ``a=1&b=2`` strictly: a parameter present twice is an error (RFC 6749 3.1)."""
    params: dict[str, str] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        if key in params:
            raise MalformedRedirect(f"parameter {key!r} appears more than once")
        params[key] = value
    return params


def _fragment_params(fragment: str) -> dict[str, str]:
    # Some browsers hand over the whole fragment percent-encoded:
    # "#access_token%3D...%26expires_in%3D86400". Decode it once before splitting.
    if "=" not in fragment and "%3d" in fragment.lower():
        fragment = unquote(fragment)
    return parse_params(fragment)


def _frozen_params(params: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(params))


_SHOWN_PARAMS = frozenset({"error", "error_description", "error_uri", "status", "message"})
"""Parameters whose values are provider words, safe to print; all others are hidden."""


def _params_repr(params: Mapping[str, str]) -> str:
    shown = {k: (v if k in _SHOWN_PARAMS else "***") for k, v in params.items()}
    return repr(shown)


@attrs.frozen
class Redirect:
    """The parameters a redirect (or special URL) carries."""

    params: Mapping[str, str] = attrs.field(converter=_frozen_params, repr=_params_repr)
    """The response parameters, from the query or the fragment."""

    @property
    def state(self) -> str | None:
        """The ``state`` parameter, if present and non-empty."""
        return self.params.get("state") or None

    def get(self, name: str) -> str | None:
        """A parameter's value, or ``None``."""
        return self.params.get(name)


def read_redirect(url: str, location: ResponseLocation) -> Redirect:
    """Read the response parameters of ``url`` from the given location.

    With :attr:`ResponseLocation.EITHER` the query and the fragment are merged; a
    parameter present in both with different values is an error.
    """
    parts = _split(url)
    if location is ResponseLocation.QUERY:
        return Redirect(parse_params(parts.query))
    if location is ResponseLocation.FRAGMENT:
        return Redirect(_fragment_params(parts.fragment))
    query = parse_params(parts.query)
    fragment = _fragment_params(parts.fragment)
    for key in query.keys() & fragment.keys():
        if query[key] != fragment[key]:
            raise MalformedRedirect(f"parameter {key!r} differs between query and fragment")
    return Redirect({**query, **fragment})
