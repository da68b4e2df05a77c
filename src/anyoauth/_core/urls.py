"""URL rules of the core: which URLs anyoauth may send to, and how query strings and
form bodies are written.

* :func:`check_endpoint` / :func:`check_redirect_uri` refuse a configured URL that is not
  visible ASCII, not absolute, carries credentials or is plain http where
  :func:`http_allowed` says no (https everywhere, plain http only on this machine).
* :func:`form_encode` is ``urlencode`` character for character, faster;
  :func:`add_query` appends parameters to a configured URL.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

from .errors import ConfigurationError
from .text import URL_NOT_VISIBLE_ASCII, is_visible_ascii

__all__ = [
    "add_query",
    "check_endpoint",
    "check_redirect_uri",
    "form_encode",
    "form_quote",
    "http_allowed",
    "is_loopback_host",
    "is_loopback_url",
    "is_unreserved",
    "split_configured",
]


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` names this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


is_unreserved = re.compile("[A-Za-z0-9_.~-]*").fullmatch
"""Text that ``quote_plus`` leaves as it is, whatever its ``safe`` argument."""

_ALWAYS_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")


@functools.lru_cache(maxsize=16)
def _byte_quoting(safe: str) -> Callable[[int], str]:
    """What ``quote_plus(..., safe)`` makes of each UTF-8 byte, as a lookup."""
    kept = _ALWAYS_SAFE | frozenset(safe.encode("ascii", "ignore"))
    table = [
        chr(byte) if byte in kept else "+" if byte == 0x20 else f"%{byte:02X}"
        for byte in range(256)
    ]
    return table.__getitem__


_NOTHING_QUOTED: Mapping[str, str] = MappingProxyType({})


def form_quote(value: object, safe: str, known: Mapping[str, str] = _NOTHING_QUOTED) -> str:
    """``quote_plus(value, safe)`` as ``urlencode`` applies it (``str()`` of anything
    neither text nor bytes); ``known`` holds texts already quoted."""
    if type(value) is str:
        if is_unreserved(value):
            return value
        quoted = known.get(value)
        if quoted is not None:
            return quoted
    data = value if isinstance(value, bytes) else str(value).encode()
    return "".join(map(_byte_quoting(safe), data))


def form_encode(
    params: Iterable[tuple[Any, Any]], *, safe: str = "", known: Mapping[str, str] = _NOTHING_QUOTED
) -> str:
    """``urllib.parse.urlencode(list(params), safe=safe)``, character for character,
    several times faster.

    Most values of an OAuth request (``state``, PKCE values, tokens, client ids) are
    unreserved characters only and are used as they are; others are quoted a byte at a
    time through a table, as ``quote_plus`` does, without its layers of calls. ``known``
    maps texts to their quoted form under this ``safe`` (a strategy's own settings,
    quoted once).
    """
    return "&".join(
        [f"{form_quote(k, safe, known)}={form_quote(v, safe, known)}" for k, v in params]
    )


@functools.lru_cache(maxsize=256)
def _url_around_query(url: str) -> tuple[str, str, str]:
    """A configured URL split for adding to its query: (URL without query and fragment,
    query, ``#fragment`` or "")."""
    parts = urlsplit(url)
    base = urlunsplit(parts._replace(query="", fragment=""))
    return base, parts.query, f"#{parts.fragment}" if parts.fragment else ""


def add_query(
    url: str, params: Iterable[tuple[str, str]], known: Mapping[str, str] = _NOTHING_QUOTED
) -> str:
    base, query, fragment = _url_around_query(url)
    extra = form_encode(params, safe=",", known=known)
    query = f"{query}&{extra}" if query and extra else query or extra
    return f"{base}?{query}{fragment}" if query else base + fragment


def split_configured(name: str, url: str) -> SplitResult:
    if not is_visible_ascii(url):
        # Also what urlsplit would silently strip (spaces) or drop (tab, CR, LF).
        raise ConfigurationError(f"{name} {URL_NOT_VISIBLE_ASCII}")
    try:
        parts = urlsplit(url)
        # Validates the port: a bad one would fail at send time (endpoints) or on every
        # is_redirect()/read_redirect() (the redirect_uri) otherwise.
        parts.port  # noqa: B018
    except ValueError:
        raise ConfigurationError(f"{name} is not a valid URL") from None
    return parts


def http_allowed(host: str, *, allow_insecure: bool, issuer: str | None) -> bool:
    """Whether a plain-http URL on ``host`` may be sent anything.

    With ``allow_insecure`` (an explicit test set-up): anywhere. Otherwise only on a
    loopback host, and only when the ``issuer`` (if there is one) is on a loopback
    host too: a remote server naming ``http://127.0.0.1:...`` or
    ``http://x.localhost`` as an endpoint would have the client send its secret, in
    clear, to whatever listens on that port of the user's machine.
    """
    if allow_insecure:
        return True
    return is_loopback_host(host) and (issuer is None or is_loopback_url(issuer))


def is_loopback_url(url: str) -> bool:
    """Whether ``url``'s host is a loopback host (``False`` for a malformed URL)."""
    try:
        return is_loopback_host(urlsplit(url).hostname or "")
    except ValueError:
        return False


def check_endpoint(
    name: str, url: str | None, allow_insecure: bool, issuer: str | None = None
) -> None:
    """Refuse a configured endpoint that is not visible ASCII, is no absolute http(s)
    URL, carries credentials, or is http where :func:`http_allowed` says no
    (``issuer``: the server's issuer, when known)."""
    if url is None:
        return
    parts = split_configured(name, url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigurationError(f"{name} must be an absolute http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError(f"{name} must not carry credentials")
    if parts.scheme == "http" and not http_allowed(
        parts.hostname, allow_insecure=allow_insecure, issuer=issuer
    ):
        if is_loopback_host(parts.hostname):
            raise ConfigurationError(
                f"{name} must use https: http on loopback is allowed only for a loopback"
                " issuer or with allow_insecure"
            )
        raise ConfigurationError(
            f"{name} must use https (http is allowed only on loopback or with allow_insecure)"
        )


def check_redirect_uri(url: str | None) -> None:
    if url is None:
        return
    parts = split_configured("redirect_uri", url)
    if not parts.scheme or parts.fragment:
        raise ConfigurationError("redirect_uri must be absolute and have no fragment")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname or ""):
        raise ConfigurationError("an http redirect_uri must point at loopback")
