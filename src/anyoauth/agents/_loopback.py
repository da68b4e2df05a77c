"""The loopback redirect listener (RFC 8252), the system browser, and manual paste.

:class:`LoopbackAgent` binds 127.0.0.1 (or ::1) for one login only, serves the
redirect with a few small pages, and closes after one result, on cancellation or
at its deadline. The browser is bound to the login: it opens a one-time start
address on the listener, which sets a cookie and redirects to the authorization URL;
a result counts only with that cookie and the login's ``state``, and anything else
is ignored. A browser program is started with a private file that forwards to the
start address, never with the address itself. Results in the query string end the
flow as soon as they arrive; results in the fragment (which browsers never send) are
relayed by a tiny inline script on the redirect page, which posts the fragment back
to the listener. For a strategy whose response mode is ``form_post`` or
``form_post.jwt`` the provider's page posts the result: only a post counts (from the
authorization server's origin when the browser names one), and it is relayed once more
by the listener's own page, so that the browser's cookie (``SameSite=Lax``, which a
cross-site post does not carry) comes with it; the result is handed over as the
redirect URL's query.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
import math
import os
import re
import secrets
import shutil
import stat
import tempfile
import webbrowser
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote, urlsplit

import anyio
import anyio.abc
import anyio.to_thread
import attrs
import h11

from .._core.errors import AgentError, ConfigurationError, OAuthError, RedirectError
from .._core.jarm import unverified_response_state
from .._core.text import is_visible_ascii
from .._core.urls import is_loopback_host
from ._base import check_callable as _check_callable
from ._base import check_positive as _check_positive

if TYPE_CHECKING:
    from .._core.strategies import Strategy

__all__ = ["BrowserOpener", "LoopbackAgent", "SystemBrowserAgent"]

logger = logging.getLogger("anyoauth")

BrowserOpener = Callable[[str], Awaitable[object]]
"""An async callable that opens a URL in the user's browser (for :class:`LoopbackAgent`:
its one-time start address, which redirects to the authorization URL; for
:class:`SystemBrowserAgent`: the ``file://`` URL of a private page that forwards there)."""

MAX_REQUEST_BYTES = 16 * 1024
"""Requests to the listener larger than this (head and body) are refused."""

MAX_CONNECTIONS = 64
"""Connections the listener holds at once. A new connection past this is still served:
the oldest connection that has not finished sending its request is closed for it."""

OPENER_GRACE = 1.0
"""Seconds ``open_browser`` may still run after the result arrived before it is cancelled."""

_RECEIVE_SIZE = 4096
_DRAIN_SECONDS = 1.0
_DRAIN_BYTES = 4 * MAX_REQUEST_BYTES
_MAX_SHOWN = 300
_HOSTS = {"127.0.0.1": "127.0.0.1", "::1": "[::1]"}
_RESULT_KEYS = frozenset({"code", "error", "access_token", "state"})
_SIGNED_RESULT_KEYS = _RESULT_KEYS | {"response"}
_STREAM_ERRORS = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream)
_SEGMENT = r"(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})+"
_PATH = re.compile(rf"/|(?:/{_SEGMENT})+/?")
_START_PREFIX = "/start/"
_START_URL = re.compile(r"http://(?:127\.0\.0\.1|\[::1\]):[0-9]{1,5}/start/[A-Za-z0-9_-]{43}")
_COOKIE_PREFIX = "anyoauth-login-"


def is_start_url(url: str) -> bool:
    """Whether ``url`` has the shape of a loopback listener's one-time start address.

    :func:`anyoauth.testing.browse` uses it to follow that address (and keep its
    cookie) before it reads the provider's pages.
    """
    return _START_URL.fullmatch(url) is not None


# -- pages ---------------------------------------------------------------------------------

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:36em;margin:4em auto;"
    "padding:0 1em;line-height:1.5;color:#222}"
)

# Runs on the redirect page when the query carries no result: the result may be in
# the fragment, which the browser keeps to itself. The script removes the fragment
# from the address bar and history, then submits it to the listener in a form post.
_RELAY_SCRIPT = """
(function () {
  "use strict";
  var status = document.getElementById("status");
  var hash = window.location.hash || "";
  var fragment = hash.charAt(0) === "#" ? hash.substring(1) : hash;
  try {
    window.history.replaceState(null, "", window.location.pathname + window.location.search);
  } catch (ignored) {}
  if (!fragment) {
    status.textContent = "This address carries no login result. If you were logging in, " +
      "go back to the application and start the login again.";
    return;
  }
  var form = document.getElementById("relay");
  form.elements.namedItem("fragment").value = fragment;
  status.textContent = "Passing the login result to the application\\u2026";
  form.submit();
})();
"""


def _csp_hash(source: str) -> str:
    digest = hashlib.sha256(source.encode()).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


# Runs on the page that relays a provider's form post: the same parameters, posted
# again from the listener's own origin, carry the login's cookie.
_FORM_RELAY_SCRIPT = 'document.getElementById("relay").submit();'

_CSP = (
    "default-src 'none'; "
    f"script-src {_csp_hash(_RELAY_SCRIPT)} {_csp_hash(_FORM_RELAY_SCRIPT)}; "
    f"style-src {_csp_hash(_STYLE)}; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

_SECURITY_HEADERS = (
    ("Content-Type", "text/html; charset=utf-8"),
    ("Cache-Control", "no-store"),
    ("Pragma", "no-cache"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", _CSP),
)


@attrs.frozen
class _Reply:
    """One response of the listener; every response closes its connection."""

    status: int
    title: str
    body: str
    """HTML, every reflected value already escaped."""
    result: str | None = None
    """The final redirect URL, when this request carried the login result."""
    allow: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    """More response headers (the start address's ``Location`` and ``Set-Cookie``)."""
    abort: AgentError | None = None
    """Ends the login with this error once the reply is sent."""

    def encode(self, *, head: bool = False) -> bytes:
        page = (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(self.title)}</title>\n<style>{_STYLE}</style>\n"
            f"</head>\n<body>\n<h1>{html.escape(self.title)}</h1>\n{self.body}</body>\n</html>\n"
        ).encode()
        headers = [*_SECURITY_HEADERS, ("Content-Length", str(len(page))), ("Connection", "close")]
        if self.allow is not None:
            headers.append(("Allow", self.allow))
        headers += self.headers
        phrase = HTTPStatus(self.status).phrase
        lines = [f"HTTP/1.1 {self.status} {phrase}", *(f"{k}: {v}" for k, v in headers)]
        return "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + (b"" if head else page)


def _text(*paragraphs: str) -> str:
    return "".join(f"<p>{html.escape(p)}</p>\n" for p in paragraphs)


def _problem(status: int, message: str, *, allow: str | None = None) -> _Reply:
    return _Reply(status, HTTPStatus(status).phrase, _text(message), allow=allow)


def _clip(value: str) -> str:
    value = "".join(ch if ch.isprintable() else "\ufffd" for ch in value)
    return value if len(value) <= _MAX_SHOWN else value[:_MAX_SHOWN] + "\u2026"


def _params(text: str) -> dict[str, str]:
    """Parameters of a query or fragment, for looking only (the client reads them strictly)."""
    if "=" not in text and "%3d" in text.lower():
        text = unquote(text)  # a whole fragment percent-encoded, as some providers send it
    return dict(parse_qsl(text, keep_blank_values=True))


def _result_page(params: dict[str, str]) -> _Reply:
    error = params.get("error")
    if error is None:
        return _Reply(200, "Login received", _text("Login received; you can close this window."))
    lines = [f"The provider reported an error: {_clip(error or 'unknown_error')}."]
    description = params.get("error_description")
    if description:
        lines.append(_clip(description))
    lines.append("You can close this window and return to the application.")
    return _Reply(200, "Login not completed", _text(*lines))


def _relay_page(path: str, relay_token: str, query: str) -> _Reply:
    body = (
        '<p id="status">Passing the login result to the application\u2026</p>\n'
        "<noscript><p>This page needs JavaScript to pass the login result to the "
        "application. Turn JavaScript on for this address and reload the page.</p></noscript>\n"
        f'<form id="relay" method="post" action="{html.escape(path)}">\n'
        f'<input type="hidden" name="relay" value="{html.escape(relay_token)}">\n'
        f'<input type="hidden" name="query" value="{html.escape(query)}">\n'
        '<input type="hidden" name="fragment" value="">\n'
        "</form>\n"
        f"<script>{_RELAY_SCRIPT}</script>\n"
    )
    return _Reply(200, "Finishing login", body)


def _form_relay_page(path: str, relay_token: str, form: str) -> _Reply:
    body = (
        '<p id="status">Passing the login result to the application\u2026</p>\n'
        f'<form id="relay" method="post" action="{html.escape(path)}">\n'
        f'<input type="hidden" name="relay" value="{html.escape(relay_token)}">\n'
        f'<input type="hidden" name="form_post" value="{html.escape(form)}">\n'
        '<noscript><button type="submit">Continue</button></noscript>\n'
        "</form>\n"
        f"<script>{_FORM_RELAY_SCRIPT}</script>\n"
    )
    return _Reply(200, "Finishing login", body)


def _origin_key(url: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) of an origin or URL, as a browser's ``Origin`` header names it."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    default = {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").rstrip("."), port if port is not None else default


_POSTED_ONLY = _Reply(
    403,
    "Not this login",
    _text(
        "This login expects the provider to post its result; a result in the address was ignored.",
        "If you are logging in, finish in the browser window the application opened.",
    ),
)


# -- validation ----------------------------------------------------------------------------


def _check_host(_instance: object, _attribute: object, value: str) -> None:
    if value not in _HOSTS:
        raise ConfigurationError(
            "the loopback listener binds 127.0.0.1 or ::1 only (RFC 8252 8.3: "
            f"not localhost, never another interface); got {value!r}"
        )


def _check_port(_instance: object, _attribute: object, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise ConfigurationError("port must be an integer from 0 (any free port) to 65535")


def _check_path(_instance: object, _attribute: object, value: str) -> None:
    if not isinstance(value, str) or not _PATH.fullmatch(value):
        raise ConfigurationError(
            "path must be an absolute URL path such as '/callback' "
            "(no query, fragment, empty segment or unescaped special characters)"
        )


_DEFAULT_HOST = "127.0.0.1"
_DEFAULT_PORT = 0
_DEFAULT_PATH = "/callback"


def _redirect_parts(redirect_uri: str) -> tuple[str, int, str] | None:
    """``(host, port, path)`` the listener takes from a strategy's loopback ``http``
    redirect URI (port 0 when the URI names none or port 0: any port, RFC 8252 7.3);
    ``None`` for a redirect URI the listener cannot catch (``https``, a custom scheme,
    another host): the session's own replaces it, as a placeholder.

    Raises :class:`ConfigurationError` for a loopback URI the listener cannot serve
    exactly: a host other than 127.0.0.1 or ::1 (``localhost`` included), user
    information, a query, a fragment, a bad port, or a path with dot segments or
    characters the listener does not accept.
    """
    parts = urlsplit(redirect_uri)
    if parts.scheme.lower() != "http" or not is_loopback_host(parts.hostname or ""):
        return None
    host = parts.hostname or ""
    if host not in _HOSTS:
        raise ConfigurationError(
            "the loopback listener binds 127.0.0.1 or ::1 only (RFC 8252 8.3: not "
            f"localhost); the strategy's redirect_uri names {host!r}: register "
            "http://127.0.0.1:PORT/PATH with the provider and use that"
        )
    if "@" in parts.netloc or parts.query or parts.fragment or redirect_uri.endswith("?"):
        raise ConfigurationError(
            "the loopback listener serves a redirect_uri without user information, "
            "query or fragment: the provider appends the result to it"
        )
    try:
        port = parts.port or _DEFAULT_PORT
    except ValueError:
        raise ConfigurationError("the strategy's redirect_uri has an invalid port") from None
    path = parts.path or "/"
    segments = [unquote(segment) for segment in path.split("/")]
    if not _PATH.fullmatch(path) or any(segment in (".", "..") for segment in segments):
        raise ConfigurationError(
            "the loopback listener serves a redirect_uri path such as '/callback': no "
            "'.' or '..' segment (browsers rewrite them), empty segment or unescaped "
            "special characters"
        )
    return host, port, path


# -- the loopback agent ----------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class LoopbackAgent:
    """A one-shot loopback redirect listener (RFC 8252 7.3), paired with a browser.

    Each :meth:`session` binds ``host`` on ``port`` (0: a free port the system picks)
    for one login, and its ``redirect_uri`` is ``http://127.0.0.1:{port}{path}`` (or
    ``http://[::1]:{port}{path}``). The session's ``authorize(url)`` calls
    ``open_browser`` (when given) with the session's one-time start address
    ``http://127.0.0.1:{port}/start/{random}``, not with ``url``, and waits for the
    redirect; it returns the whole redirect URL once one arrives and closes the
    listener. The authorization URL never appears on a command line, and
    ``open_browser`` must not put the start address on one either (every local user
    can read command lines, and whoever opens the address first gets the login): it
    is for browsers driven in-process and for showing the address to the user. To
    start a browser program, use :class:`SystemBrowserAgent`, which gives its opener
    a private launch page instead.

    The first ``GET`` of the start address sets an ``HttpOnly``, ``SameSite=Lax``
    cookie with a fresh random value, scoped to ``path``, and redirects to the
    authorization URL; a second one stops the login with :class:`AgentError` (another
    program read the address), so the login is never handed to whichever browser
    came first without the user noticing.

    A request to ``path`` whose query (or relayed fragment) carries ``code``,
    ``error``, ``access_token`` or ``state`` is the result only when it carries the
    authorization URL's ``state`` and the start address's cookie; one without them
    (a forged or stray callback, another account's code, an error made up by another
    program) is logged, answered with a harmless page, and the listener keeps
    waiting. Without those keys, the result may be in the fragment, which browsers
    never send: the listener answers a page whose inline script posts the fragment
    back. Anything else (``/favicon.ico``, other paths or methods, malformed or
    oversized requests) is answered with an error page and does not end the login.
    Every page escapes what it reflects and forbids caching, referrers, framing and
    any script but its own. Connections are served concurrently, each with a read
    deadline; past :data:`MAX_CONNECTIONS` a new connection closes the oldest one
    still sending its request, so idle or slow connections cannot keep the real
    redirect out.

    Args:
        host: ``"127.0.0.1"`` or ``"::1"``; ``localhost`` and other interfaces are
            refused (RFC 8252 8.3).
        port: the port to bind; 0 picks a free one. Providers that need every
            redirect URI registered exactly need a fixed port.
        path: the redirect URI's path.
        open_browser: an async callable given the one-time start address, which
            sends the browser on to the authorization URL (never pass it on a command
            line); ``None`` opens nothing (show the session's ``start_url``
            yourself). It runs while the listener waits and is cancelled shortly
            after the result arrives or the deadline passes; an exception it raises
            ends the login with :class:`AgentError`.
        timeout: seconds ``authorize`` waits for the result before raising
            :class:`AgentError`.
        read_timeout: seconds one connection may take to send its request; a slow
            or idle connection is closed then, without holding up the others.
    """

    host: str = attrs.field(default="127.0.0.1", validator=_check_host)
    """The loopback address to bind: ``"127.0.0.1"`` or ``"::1"``."""
    port: int = attrs.field(default=0, validator=_check_port)
    """The port to bind; 0 lets the system pick a free one for each login."""
    path: str = attrs.field(default="/callback", validator=_check_path)
    """The path of the redirect URI."""
    open_browser: BrowserOpener | None = attrs.field(default=None, validator=_check_callable)
    """Opens the one-time start address in the user's browser; ``None`` shows nothing."""
    timeout: float = attrs.field(default=300.0, validator=_check_positive)
    """Seconds to wait for the redirect."""
    read_timeout: float = attrs.field(default=10.0, validator=_check_positive)
    """Seconds one connection may take to send its request."""

    def _opener(self) -> BrowserOpener | None:
        return self.open_browser

    def _launches_program(self) -> bool:
        """Whether the opener starts a browser program (whose command line anyone can read)."""
        return False

    def listening_for(self, redirect_uri: str | None) -> LoopbackAgent:
        """This agent with the host, port and path a strategy's ``redirect_uri`` fixes.

        A loopback ``http`` redirect URI (``http://127.0.0.1:8400/cb``) is where the
        listener listens: its host, its path, and its port, unless it names none (or
        port 0), which means any port (RFC 8252 7.3: the server must accept any port
        on a loopback IP address). The agent's own ``host``, ``port`` and ``path``
        apply where they were left at their defaults (``127.0.0.1``, 0, ``/callback``);
        one set to another value than the redirect URI's raises
        :class:`ConfigurationError` naming both. Any other redirect URI (``None``,
        ``https``, a custom scheme) leaves the agent as it is: the session's own
        redirect URI replaces the strategy's. A loopback redirect URI the listener
        cannot serve exactly (``localhost``, a query, ``..`` in the path...) raises
        :class:`ConfigurationError`.
        """
        derived = None if redirect_uri is None else _redirect_parts(redirect_uri)
        if derived is None:
            return self
        host, port, path = derived
        conflicts = []
        if self.host not in (_DEFAULT_HOST, host):
            conflicts.append(f"host {self.host!r} (the redirect_uri's: {host!r})")
        if port and self.port not in (_DEFAULT_PORT, port):
            conflicts.append(f"port {self.port} (the redirect_uri's: {port})")
        if self.path not in (_DEFAULT_PATH, path):
            conflicts.append(f"path {self.path!r} (the redirect_uri's: {path!r})")
        if conflicts:
            raise ConfigurationError(
                f"the strategy's redirect_uri {redirect_uri!r} is where the loopback "
                f"listener must listen, but the agent was given {'; '.join(conflicts)}: "
                "leave them out of the agent or make them match"
            )
        return attrs.evolve(self, host=host, port=port or self.port, path=path)

    @asynccontextmanager
    async def session(self, strategy: Strategy) -> AsyncIterator[_LoopbackSession]:
        """Bind the listener for one login of ``strategy``; closing the session closes it.

        The listener listens where the strategy's loopback ``redirect_uri`` says
        (see :meth:`listening_for`).

        Raises :class:`AgentError` when the port cannot be bound, and
        :class:`ConfigurationError` when ``strategy`` does not end on a redirect URI
        (Geni's desktop flow ends on the provider's own pages) or its ``redirect_uri``
        conflicts with the agent's settings.
        """
        agent = self.listening_for(strategy.redirect_uri)
        try:
            multi = await anyio.create_tcp_listener(local_host=agent.host, local_port=agent.port)
        except OSError as exc:
            raise AgentError(
                f"cannot listen on {_HOSTS[agent.host]}:{agent.port} ({exc.strerror or exc})"
            ) from exc
        listener = multi.listeners[0]
        try:
            if len(multi.listeners) != 1 or not isinstance(listener, anyio.abc.SocketListener):
                raise AgentError("the loopback listener could not be set up")
            session = _LoopbackSession(agent, listener)
            session.check(strategy)
            logger.debug("loopback listener on %s", session.redirect_uri)
            yield session
        finally:
            with anyio.CancelScope(shield=True):
                await multi.aclose()


class _Connection:
    """One accepted connection: its cancel scope, and whether it still reads its request."""

    __slots__ = ("reading", "scope")

    def __init__(self) -> None:
        self.scope = anyio.CancelScope()
        self.reading = True


class _LoopbackSession:
    """One login on a bound loopback listener."""

    def __init__(self, agent: LoopbackAgent, listener: anyio.abc.SocketListener) -> None:
        self._agent = agent
        self._listener = listener
        port = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610
        self._authority = f"{_HOSTS[agent.host]}:{port}"
        self._hosts = {self._authority} | ({_HOSTS[agent.host]} if port == 80 else set())
        self._redirect_uri = f"http://{self._authority}{agent.path}"
        self._relay_token = secrets.token_urlsafe(24)
        self._start_token = secrets.token_urlsafe(32)
        self._start_url = f"http://{self._authority}{_START_PREFIX}{self._start_token}"
        # Cookies are not kept apart by port: the name carries it, so that logins on
        # two ports in one browser never overwrite each other's cookie.
        self._cookie_name = f"{_COOKIE_PREFIX}{port}"
        self._cookie_value = secrets.token_urlsafe(32)
        self._authorization_url: str | None = None
        self._provider_origin: tuple[str, str, int | None] | None = None
        self._own_origin = _origin_key(f"http://{self._authority}")
        self._posts = False
        self._signed = False
        self._result_keys = _RESULT_KEYS
        self._state: bytes | None = None
        self._started = False
        self._result: str | None = None
        self._failure: BaseException | None = None
        self._done = anyio.Event()
        self._opener_done = anyio.Event()
        self._connections: dict[int, _Connection] = {}
        self._next_connection = 0
        self._used = False
        self._launch: _LaunchPage | None = None

    @property
    def redirect_uri(self) -> str:
        """``http://127.0.0.1:{port}{path}`` (or ``http://[::1]:{port}{path}``)."""
        return self._redirect_uri

    @property
    def start_url(self) -> str:
        """The one-time address the browser opens: ``http://127.0.0.1:{port}/start/…``.

        While :meth:`authorize` waits, its first ``GET`` sets the login's cookie and
        redirects to the authorization URL; a second one stops the login with
        :class:`AgentError`. :class:`LoopbackAgent`'s ``open_browser`` is given this
        address; :class:`SystemBrowserAgent`'s is given a private launch page that
        forwards to it, so that it never appears on a command line.
        """
        return self._start_url

    def check(self, strategy: Strategy) -> None:
        """Refuse strategies whose flow does not end on the redirect URI."""
        uri = self._redirect_uri
        if not attrs.evolve(strategy, redirect_uri=uri).is_redirect(uri):
            raise ConfigurationError(
                f"{strategy.name} flows end on the provider's own pages, not on a "
                "redirect_uri; use an embedded-browser agent"
            )
        self._posts = strategy.posts_responses
        self._signed = strategy.signs_responses
        self._result_keys = _SIGNED_RESULT_KEYS if self._signed else _RESULT_KEYS

    async def authorize(self, url: str) -> str:
        """Open :attr:`start_url` with ``open_browser`` and return the redirect URL
        that arrives.

        The start address sends the browser on to ``url``, the authorization URL,
        whose ``state`` the result must carry back. The listener is closed when this
        returns or raises. Raises :class:`ConfigurationError` when ``url`` is not an
        http(s) URL or carries no single ``state``, and :class:`AgentError` at the
        agent's deadline, when ``open_browser`` fails, or when the start address is
        opened a second time.
        """
        if self._used:
            raise AgentError("a loopback session serves one login; open a new session")
        self._used = True
        if not is_visible_ascii(url) or urlsplit(url).scheme.lower() not in ("https", "http"):
            raise ConfigurationError(
                "the authorization URL must be an http(s) URL of printable ASCII "
                "characters without spaces"
            )
        states = [
            v for k, v in parse_qsl(urlsplit(url).query, keep_blank_values=True) if k == "state"
        ]
        if len(states) != 1 or not states[0]:
            raise ConfigurationError(
                "the authorization URL must carry one state parameter: the loopback "
                "listener accepts only the result that returns it"
            )
        self._state = states[0].encode("utf-8", "surrogatepass")
        self._authorization_url = url
        self._provider_origin = _origin_key(url)
        opener = self._agent._opener()
        try:
            opened = self._start_url
            if opener is not None and self._agent._launches_program():
                try:
                    self._launch = _LaunchPage.write(self._start_url)
                except OSError as exc:
                    raise AgentError(
                        "the browser's launch page could not be written "
                        f"({exc.strerror or type(exc).__name__})"
                    ) from None
                opened = self._launch.url
            with anyio.move_on_after(self._agent.timeout):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._accept, tg)
                    if opener is not None:
                        tg.start_soon(self._open, opener, opened)
                    else:
                        self._opener_done.set()
                    await self._done.wait()
                    with anyio.move_on_after(OPENER_GRACE):
                        await self._opener_done.wait()
                    tg.cancel_scope.cancel()
        finally:
            self._authorization_url = None
            self._remove_launch_page()
            with anyio.CancelScope(shield=True):
                await self._listener.aclose()
        if self._result is not None:
            return self._result
        if self._failure is not None:
            raise self._failure
        raise AgentError(
            f"no login result reached {self._redirect_uri} within {self._agent.timeout:g} s"
        )

    def _remove_launch_page(self) -> None:
        launch, self._launch = self._launch, None
        if launch is not None:
            launch.remove()

    async def _open(self, opener: BrowserOpener, url: str) -> None:
        try:
            await opener(url)
        except OAuthError as exc:
            self._fail(exc)
        except Exception as exc:
            failure = AgentError(f"the browser could not be opened ({type(exc).__name__})")
            failure.__cause__ = exc
            self._fail(failure)
        finally:
            self._opener_done.set()

    def _fail(self, failure: BaseException) -> None:
        if self._result is None and self._failure is None:
            self._failure = failure
        self._done.set()

    async def _accept(self, tg: anyio.abc.TaskGroup) -> None:
        while True:
            try:
                stream = await self._listener.accept()
            except anyio.ClosedResourceError:
                return
            except OSError as exc:  # out of descriptors, aborted handshake: try again
                logger.debug("loopback accept failed: %s", type(exc).__name__)
                await anyio.sleep(0.05)
                continue
            if len(self._connections) >= MAX_CONNECTIONS:
                self._evict()
            key = self._next_connection
            self._next_connection += 1
            connection = self._connections[key] = _Connection()
            tg.start_soon(self._connection, stream, key, connection)

    def _evict(self) -> None:
        """Close the oldest connection still reading its request (else the oldest)."""
        connections = self._connections
        key = next((k for k, c in connections.items() if c.reading), next(iter(connections)))
        connections.pop(key).scope.cancel()
        logger.debug("loopback listener: too many connections, closed the oldest idle one")

    async def _connection(
        self, stream: anyio.abc.SocketStream, key: int, connection: _Connection
    ) -> None:
        result: str | None = None
        abort: AgentError | None = None
        try:
            with connection.scope:
                async with stream:
                    with anyio.fail_after(self._agent.read_timeout):
                        reply, head, drain = await self._read(stream, connection)
                        if reply is None:
                            return
                        if reply.result is not None:
                            if self._result is None and self._failure is None:
                                result = self._result = reply.result
                            else:
                                reply = _Reply(200, "Login received", _text(_FINISHED))
                        abort = reply.abort
                        await stream.send(reply.encode(head=head))
                        if drain:
                            await _drain(stream)
        except TimeoutError:
            logger.debug("loopback connection closed: no complete request in time")
        except _STREAM_ERRORS:
            pass
        except Exception:
            logger.exception("loopback connection failed")
        finally:
            self._connections.pop(key, None)
            if result is not None:
                self._done.set()
            elif abort is not None:
                self._fail(abort)

    async def _read(
        self, stream: anyio.abc.SocketStream, connection: _Connection
    ) -> tuple[_Reply | None, bool, bool]:
        """Read one request; return its reply, whether it was HEAD, and whether to drain."""
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_REQUEST_BYTES)
        request: h11.Request | None = None
        body = bytearray()
        received = 0
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    try:
                        data = await stream.receive(_RECEIVE_SIZE)
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        data = b""
                    received += len(data)
                    if received > MAX_REQUEST_BYTES:
                        connection.reading = False
                        return _problem(413, "The request is too large."), False, True
                    conn.receive_data(data)
                elif isinstance(event, h11.Request):
                    request = event
                    length = dict(event.headers).get(b"content-length")
                    if length is not None and int(length) > MAX_REQUEST_BYTES:
                        connection.reading = False
                        return _problem(413, "The request is too large."), False, True
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage) and request is not None:
                    connection.reading = False
                    head = request.method == b"HEAD"
                    return self._route(request, bytes(body)), head, False
                else:  # the client closed the connection between requests
                    return None, False, False
        except h11.RemoteProtocolError as exc:
            connection.reading = False
            status = exc.error_status_hint if 400 <= exc.error_status_hint < 500 else 400
            return _problem(status, "The request is malformed."), False, True

    def _route(self, request: h11.Request, body: bytes) -> _Reply:
        headers = {k.decode("latin-1").lower(): v for k, v in request.headers}
        method = request.method.decode("latin-1")
        host = headers.get("host", b"").decode("latin-1").lower()
        try:
            target = request.target.decode("ascii")
        except UnicodeDecodeError:
            return _problem(400, "The request is malformed.")
        if host not in self._hosts or not target.startswith("/"):
            return _problem(400, "This listener answers only its own address.")
        path, _, query = target.partition("?")
        cookies = [v for k, v in request.headers if k.lower() == b"cookie"]
        if path == self._agent.path:
            if method == "GET":
                return self._get(query.partition("#")[0], cookies)
            if method == "POST":
                origin = headers.get("origin")
                return self._post(
                    headers.get("content-type", b""),
                    body,
                    cookies,
                    None if origin is None else origin.decode("latin-1"),
                )
            return _problem(405, "Use the link from the login page.", allow="GET, POST")
        if path.startswith(_START_PREFIX) and secrets.compare_digest(
            path.removeprefix(_START_PREFIX).encode(), self._start_token.encode()
        ):
            if method == "GET":
                return self._start()
            return _problem(405, "Use the link from the application.", allow="GET")
        logger.debug("loopback listener: %s to another path", method)
        return _problem(404, "There is nothing here.")

    def _start(self) -> _Reply:
        """The start address: the first visit gets the cookie and goes on to the provider."""
        if self._result is not None or self._failure is not None:
            return _Reply(200, "Login finished", _text(_FINISHED))
        if self._started or self._authorization_url is None:
            logger.warning(
                "loopback listener: the login's start address was opened a second time; "
                "stopping the login"
            )
            return _Reply(
                403,
                "Login stopped",
                _text(
                    "This login address was already used. Another program may have read "
                    "it, so the login was stopped for your safety.",
                    "Close this window and start the login again from the application.",
                ),
                abort=AgentError(
                    "the login's one-time start address was opened a second time (another "
                    "program may have read it); the login was stopped: start it again"
                ),
            )
        self._started = True
        self._remove_launch_page()  # it has served its purpose; nobody else reads it now
        cookie = (
            f"{self._cookie_name}={self._cookie_value}; Path={_cookie_path(self._agent.path)}; "
            f"Max-Age={math.ceil(self._agent.timeout)}; HttpOnly; SameSite=Lax"
        )
        return _Reply(
            302,
            "Opening the login page",
            _text("Opening the login page\u2026"),
            headers=(("Location", self._authorization_url), ("Set-Cookie", cookie)),
        )

    def _belongs(self, states: list[str], cookies: list[bytes]) -> bool:
        """Whether a result carries this login's state and the browser's cookie."""
        expected = self._state
        state_ok = (
            expected is not None
            and bool(states)
            and all(
                secrets.compare_digest(s.encode("utf-8", "surrogatepass"), expected) for s in states
            )
        )
        cookie_ok = any(
            secrets.compare_digest(value, self._cookie_value.encode())
            for value in _cookie_values(cookies, self._cookie_name)
        )
        if state_ok and cookie_ok:
            return True
        missing = " and ".join(
            what for what, ok in (("state", state_ok), ("browser cookie", cookie_ok)) if not ok
        )
        logger.warning(
            "loopback listener: ignored a login result without this login's %s; "
            "still waiting for the browser that started the login",
            missing,
        )
        return False

    def _state_ok(self, states: list[str]) -> bool:
        expected = self._state
        return (
            expected is not None
            and bool(states)
            and all(
                secrets.compare_digest(s.encode("utf-8", "surrogatepass"), expected) for s in states
            )
        )

    def _get(self, query: str, cookies: list[bytes]) -> _Reply:
        params = _params(query)
        if self._result_keys.isdisjoint(params):
            return _relay_page(self._agent.path, self._relay_token, query)
        if self._posts:
            logger.warning(
                "loopback listener: ignored a login result in the address; this login's "
                "provider was asked to post it (response_mode form_post)"
            )
            return _POSTED_ONLY
        if not self._belongs(_states(query, self._signed), cookies):
            return _IGNORED
        reply = _result_page(params)
        return attrs.evolve(reply, result=f"{self._redirect_uri}?{query}")

    def _post(
        self, content_type: bytes, body: bytes, cookies: list[bytes], origin: str | None = None
    ) -> _Reply:
        media_type = content_type.partition(b";")[0].strip().lower()
        if media_type != b"application/x-www-form-urlencoded":
            return _problem(400, "The request is malformed.")
        try:
            text = body.decode("ascii")
            form = dict(parse_qsl(text, keep_blank_values=True))
        except (UnicodeDecodeError, ValueError):
            return _problem(400, "The request is malformed.")
        if self._posts and "relay" not in form:
            return self._provider_post(text, origin)
        token = form.get("relay", "")
        if not secrets.compare_digest(token.encode(), self._relay_token.encode()):
            return _problem(403, "This request did not come from the login page.")
        if "form_post" in form and self._posts:
            return self._relayed_post(form["form_post"], cookies, origin)
        if self._posts:
            logger.warning(
                "loopback listener: ignored a login result relayed from the address; this "
                "login's provider was asked to post it (response_mode form_post)"
            )
            return _POSTED_ONLY
        fragment = form.get("fragment", "").strip().removeprefix("#")
        params = _params(fragment)
        if self._result_keys.isdisjoint(params):
            return _Reply(
                400,
                "No login result",
                _text(
                    "This address carries no login result. If you were logging in, "
                    "go back to the application and start the login again."
                ),
            )
        query = form.get("query", "")
        if not self._belongs(
            _states(query, self._signed) + _states(fragment, self._signed), cookies
        ):
            return _IGNORED
        url = self._redirect_uri + (f"?{query}" if query else "") + f"#{fragment}"
        return attrs.evolve(_result_page(params), result=url)

    def _provider_post(self, text: str, origin: str | None) -> _Reply:
        """The provider's form post (``response_mode=form_post``): checked, then relayed
        by the listener's own page so that the browser's cookie comes along."""
        if origin is not None and origin != "null" and _origin_key(origin) != self._provider_origin:
            logger.warning(
                "loopback listener: ignored a posted login result from another origin than "
                "the authorization server's"
            )
            return _IGNORED
        params = _params(text)
        if self._result_keys.isdisjoint(params):
            return _problem(400, "This request carries no login result.")
        if not self._state_ok(_states(text, self._signed)):
            logger.warning(
                "loopback listener: ignored a posted login result without this login's state"
            )
            return _IGNORED
        return _form_relay_page(self._agent.path, self._relay_token, text)

    def _relayed_post(self, text: str, cookies: list[bytes], origin: str | None) -> _Reply:
        """The provider's form post, relayed by the listener's own page: the result."""
        if origin is not None and origin != "null" and _origin_key(origin) != self._own_origin:
            return _problem(403, "This request did not come from the login page.")
        params = _params(text)
        if self._result_keys.isdisjoint(params):
            return _problem(400, "This request carries no login result.")
        if not self._belongs(_states(text, self._signed), cookies):
            return _IGNORED
        return attrs.evolve(_result_page(params), result=f"{self._redirect_uri}?{text}")


_FINISHED = "This login has already finished; you can close this window."
_IGNORED = _Reply(
    403,
    "Not this login",
    _text(
        "This address does not belong to the login in progress and was ignored.",
        "If you are logging in, finish in the browser window the application opened.",
    ),
)


def _states(text: str, signed: bool = False) -> list[str]:
    """Every ``state`` value in a query or fragment (read like :func:`_params`), and, for
    a login with signed responses (``signed``), the state of every ``response`` (JARM),
    read without verifying it: the listener only matches the result to its login; the
    client validates the response."""
    if "=" not in text and "%3d" in text.lower():
        text = unquote(text)
    states = []
    for key, value in parse_qsl(text, keep_blank_values=True):
        if key == "state":
            states.append(value)
        elif key == "response" and signed:
            try:
                state = unverified_response_state(value)
            except RedirectError:
                state = None
            # A response whose state cannot be read (encrypted, malformed) matches nothing.
            states.append(state if state is not None else "")
    return states


def _cookie_values(headers: list[bytes], name: str) -> list[bytes]:
    """The values of every cookie called ``name`` in ``Cookie`` headers."""
    wanted = name.encode("ascii")
    values = []
    for header in headers:
        for pair in header.split(b";"):
            key, sep, value = pair.strip().partition(b"=")
            if sep and key.strip() == wanted:
                values.append(value.strip().strip(b'"'))
    return values


def _cookie_path(path: str) -> str:
    """The cookie ``Path`` covering the redirect path (``;`` cannot appear in it)."""
    cut = path.find(";")
    if cut < 0:
        return path
    return path[: path.rfind("/", 0, cut) + 1] or "/"


async def _drain(stream: anyio.abc.SocketStream) -> None:
    """Read and drop what the client still sends, so closing does not reset the
    connection before the client has read the error page."""
    await stream.send_eof()
    with anyio.move_on_after(_DRAIN_SECONDS):
        received = 0
        while received < _DRAIN_BYTES:
            received += len(await stream.receive(_RECEIVE_SIZE))


# -- the system browser ----------------------------------------------------------------------

_LAUNCH_FILE = "login.html"


def _launch_parent() -> str | None:
    """Where launch pages go: the user's own runtime directory (``$XDG_RUNTIME_DIR``,
    emptied at logout) when it is set, belongs to this user and is closed to others;
    else the temporary directory (``None``)."""
    candidate = os.environ.get("XDG_RUNTIME_DIR", "")
    geteuid = getattr(os, "geteuid", None)
    if not os.path.isabs(candidate) or geteuid is None:
        return None
    try:
        info = os.stat(candidate)
    except OSError:
        return None
    if (
        not stat.S_ISDIR(info.st_mode)
        or info.st_uid != geteuid()
        or info.st_mode & (stat.S_IRWXG | stat.S_IRWXO)
    ):
        return None
    return candidate


def _launch_html(start_url: str) -> str:
    """A page that sends the browser on to ``start_url`` at once, without a referrer."""
    shown = html.escape(start_url)
    script = f"window.location.replace({json.dumps(start_url)});"
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f'<meta http-equiv="refresh" content="0;url={shown}">\n'
        "<title>Opening the login page</title>\n"
        f"<script>{script}</script>\n</head>\n<body>\n"
        f'<p><a href="{shown}" rel="noreferrer">Continue to the login page</a></p>\n'
        "</body>\n</html>\n"
    )


@attrs.frozen
class _LaunchPage:
    """A private file the browser program is started with, in place of the start address.

    A command line is readable by every local user (``/proc/PID/cmdline``); the file
    is not: it is created with mode 0600 in a fresh directory of mode 0700. It is
    removed as soon as the start address has been opened, and when the login ends.
    """

    directory: str
    url: str
    """The page's ``file://`` URL (its path carries no secret)."""

    @classmethod
    def write(cls, start_url: str) -> _LaunchPage:
        directory = tempfile.mkdtemp(prefix="anyoauth-login-", dir=_launch_parent())
        try:
            path = os.path.join(directory, _LAUNCH_FILE)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
            with os.fdopen(os.open(path, flags, 0o600), "w", encoding="utf-8") as file:
                file.write(_launch_html(start_url))
            url = Path(path).absolute().as_uri()
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        return cls(directory, url)

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


_NO_BROWSER = (
    "no web browser could be opened; open the login URL yourself: use "
    "LoopbackAgent(open_browser=...) to show it, or ManualAgent on a machine without a "
    "browser (the BROWSER environment variable chooses the browser)"
)


async def _open_system_browser(url: str) -> None:
    """Open ``url`` in the platform's browser (``webbrowser``, honouring ``BROWSER``)."""
    try:
        opened = await anyio.to_thread.run_sync(webbrowser.open, url, abandon_on_cancel=True)
    except webbrowser.Error:
        raise AgentError(_NO_BROWSER) from None
    if not opened:
        raise AgentError(_NO_BROWSER)


@attrs.frozen(kw_only=True)
class SystemBrowserAgent(LoopbackAgent):
    """The loopback listener with the platform's web browser (RFC 8252's advice).

    Takes the arguments of :class:`LoopbackAgent`; ``open_browser`` defaults to the
    platform browser through the standard :mod:`webbrowser` module, run in a worker
    thread (the ``BROWSER`` environment variable picks the browser). When no browser
    can be opened, the login ends with :class:`AgentError`; its message never
    contains the authorization URL.

    A browser program started with the one-time start address would show it on its
    command line, where every local user can read it and open it first. So the
    opener, the default one or ``open_browser``, is given instead the ``file://`` URL
    of a launch page that forwards to the start address: a file of mode 0600 in a
    fresh directory of mode 0700 (in ``$XDG_RUNTIME_DIR`` when it is private, else
    the temporary directory), removed once the start address has been opened and
    when the login ends.
    """

    def _opener(self) -> BrowserOpener:
        return self.open_browser or _open_system_browser

    def _launches_program(self) -> bool:
        return True
