"""Reading redirect and special URLs: exact endpoint matching and parameter parsing.

URLs are compared by their parsed scheme, host, port and path, never by prefix
or substring, so ``https://ok@evil/`` and ``https://ok.evil/`` never match
``https://ok/``.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from urllib.parse import SplitResult, unquote, urlsplit

import attrs

from .errors import MalformedRedirect, RedirectMismatch

__all__ = [
    "Endpoint",
    "Redirect",
    "ResponseLocation",
    "configured_endpoint",
    "landing",
    "lands_on",
    "parse_params",
    "read_redirect",
    "redirect_of",
    "split_url",
]

MAX_URL_LENGTH = 16 * 1024
"""Redirects longer than this are rejected before parsing."""

_DEFAULT_PORTS = {"http": 80, "https": 443}

_CONTROL = re.compile("[\x00-\x1f\x7f]")
"""C0 control characters and DEL: never part of a URL a browser reports."""

_urlsplit_uncached = getattr(urlsplit, "__wrapped__", urlsplit)
"""``urlsplit`` without the cache the standard library puts in front of it (3.11+):
received URLs carry codes and tokens, which should not linger in a module's cache,
and are all different anyway."""


class ResponseLocation(enum.Enum):
    """Where a redirect carries its response parameters."""

    QUERY = "query"
    FRAGMENT = "fragment"
    EITHER = "either"
    """Query or fragment (Keycloak's implicit flow: older setups use the fragment)."""


def _split(url: str, *, check_port: bool = True) -> SplitResult:
    if len(url) > MAX_URL_LENGTH:
        raise MalformedRedirect(f"URL longer than {MAX_URL_LENGTH} characters")
    if _CONTROL.search(url):
        raise MalformedRedirect("URL contains control characters")
    try:
        parts: SplitResult = _urlsplit_uncached(url.strip())
        if check_port:
            parts.port  # noqa: B018  (validates the port)
    except ValueError:
        raise MalformedRedirect("URL cannot be parsed") from None
    return parts


_EndpointKey = tuple[str, str, int | None, str]


def _endpoint_key(parts: SplitResult) -> _EndpointKey:
    """(scheme, host, port, path) of a split URL, as :class:`Endpoint` holds them."""
    # User info is present exactly when the network location has an "@" (the username
    # and password properties of ``parts`` split it off the same way).
    if "@" in parts.netloc:
        raise RedirectMismatch("URL carries user info")
    scheme = parts.scheme.lower()
    if not scheme:
        raise RedirectMismatch("URL has no scheme")
    try:
        port = parts.port
    except ValueError:
        raise MalformedRedirect("URL cannot be parsed") from None
    return (
        scheme,
        (parts.hostname or "").rstrip("."),
        port if port is not None else _DEFAULT_PORTS.get(scheme),
        parts.path or "/",
    )


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
        return cls(*_endpoint_key(_split(url)))

    def matches(self, url: str) -> bool:
        """Whether ``url`` points at exactly this endpoint (query and fragment ignored)."""
        try:
            return Endpoint.parse(url) == self
        except (RedirectMismatch, MalformedRedirect):
            return False


@functools.lru_cache(maxsize=512)
def _configured_key(url: str) -> _EndpointKey:
    return _endpoint_key(_split(url))


def configured_endpoint(url: str) -> Endpoint:
    """:meth:`Endpoint.parse` of a URL from a strategy's configuration, parsed once.

    Only for configured URLs (redirect URIs, special URLs), which are few: a received
    URL is parsed every time (the sender chooses those; they would only churn the cache).
    """
    return Endpoint(*_configured_key(url))


def landing(url: str, endpoints: Iterable[str]) -> SplitResult | None:
    """``url`` split, if it lands exactly on one of the configured ``endpoints``
    (compared as :class:`Endpoint`); ``None`` if it lands elsewhere or is no usable URL.

    ``url`` is split once, each configured endpoint parsed once per process
    (:func:`configured_endpoint`); a configured endpoint that cannot be parsed raises.
    """
    received: _EndpointKey | None = None
    parts: SplitResult | None = None
    for endpoint in endpoints:
        expected = _configured_key(endpoint)
        if received is None:
            try:
                parts = _split(url, check_port=False)
                received = _endpoint_key(parts)
            except (RedirectMismatch, MalformedRedirect):
                return None
        if received == expected:
            return parts
    return None


def lands_on(parts: SplitResult, endpoint: str) -> bool:
    """Whether the split URL ``parts`` points exactly at the configured ``endpoint``:
    :meth:`Endpoint.matches` of a URL already split."""
    try:
        return _endpoint_key(parts) == _configured_key(endpoint)
    except (RedirectMismatch, MalformedRedirect):
        return False


def split_url(url: str) -> SplitResult:
    """Split a received URL as every reader here does (length and control characters
    checked, port validated); :class:`MalformedRedirect` if it cannot be used."""
    return _split(url)


def _unquote_plus(text: str) -> str:
    # urllib.parse.unquote_plus (UTF-8, errors replaced), without its calls for the
    # common text that has nothing to decode.
    if "%" in text:
        return unquote(text.replace("+", " "))
    return text.replace("+", " ") if "+" in text else text


def parse_params(text: str) -> dict[str, str]:
    """Parse ``a=1&b=2`` strictly: a parameter present twice is an error (RFC 6749 3.1).

    Splits as ``urllib.parse.parse_qsl(text, keep_blank_values=True)`` does.
    """
    params: dict[str, str] = {}
    for pair in text.split("&"):
        if not pair:
            continue
        key, _, value = pair.partition("=")
        key = _unquote_plus(key)
        if key in params:
            raise MalformedRedirect(f"parameter {key!r} appears more than once")
        params[key] = _unquote_plus(value)
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
    return redirect_of(_split(url), location)


def redirect_of(parts: SplitResult, location: ResponseLocation) -> Redirect:
    """:func:`read_redirect` of a URL already split (by :func:`landing`)."""
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
