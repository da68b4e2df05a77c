"""anyoauth.asgi: owns the browser login of a web app as one ASGI component.

:class:`OAuthLogin` serves ``/login``, ``/callback`` and ``/logout`` for any ASGI
framework (Starlette, FastAPI, Quart, Litestar, Django's ASGI handler...), mounted
under a path or wrapped around the whole app (:meth:`OAuthLogin.wrap`). It speaks the
ASGI HTTP scope itself: it reads cookies and the raw query string, sets its cookies
(``HttpOnly``, ``SameSite=Lax``, ``Secure`` unless the app is served over http on
loopback) and sends its own security headers. It binds each login to the browser that
started it (a cookie holding the pending ``state``), keeps each browser session's token
in any :class:`~anyoauth.Store` under a hash of a random session id, and hands handlers
the signed-in user's token (:meth:`OAuthLogin.token`) or a :class:`~anyoauth.Client`
(:meth:`OAuthLogin.client`) from whatever request object their framework gives them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import ipaddress
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from types import TracebackType
from typing import Any, Self, TypeVar, cast
from urllib.parse import parse_qsl, quote, urlsplit

import anyio
import httpx

from ._client import Client
from ._core.errors import (
    AuthorizationDenied,
    ConfigurationError,
    InvalidResponse,
    LoginRequired,
    OAuthError,
    RedirectError,
    ServerUnavailable,
    StateError,
    StateMismatch,
    StoreError,
    TokenRequestError,
)
from ._core.strategies import Strategy
from ._core.token import Token
from ._store import Store

__all__ = ["ErrorPage", "OAuthLogin", "error_page", "safe_next"]

logger = logging.getLogger("anyoauth.asgi")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
_App = TypeVar("_App", bound=Callable[..., Awaitable[Any]])

SECURITY_HEADERS: Mapping[str, str] = {
    "Cache-Control": "no-store",
    # The callback's URL holds the code: never send it on in a Referer header.
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
"""Sent with every response of the component (and with :class:`ErrorPage`)."""

MAX_QUERY_BYTES = 16 * 1024
"""A callback query longer than this is refused before anything is looked up."""
MAX_NEXT_CHARS = 2048
"""A ``next`` path longer than this is ignored."""
_MAX_COOKIE_VALUE = 4096
_SESSION_BYTES = 32  # 256 bits


@dataclass(frozen=True)
class ErrorPage:
    """What the browser is shown for a failure: a status and fixed words, never the
    error's own text (it may quote the provider)."""

    status: int
    title: str
    text_html: str
    """Trusted markup written by the app, never request data."""
    headers: Mapping[str, str] = field(default_factory=lambda: dict(SECURITY_HEADERS))
    """Security headers to send with the page."""

    @property
    def html(self) -> str:
        """The page as a minimal HTML document."""
        title = html.escape(self.title)
        return f"<!doctype html><title>{title}</title><h1>{title}</h1><p>{self.text_html}</p>"


def error_page(exc: BaseException, *, login_url: str = "/login") -> ErrorPage:
    """The page for an anyoauth error, as :class:`OAuthLogin` shows it.

    ``AuthorizationDenied`` 403; state and redirect errors (another browser's login,
    a used or expired one, a mix-up) 400 "start again"; ``LoginRequired`` 401; the
    token endpoint failing 502; the store failing 503; anything else 500. The error
    itself is logged (anyoauth's messages never contain a secret), not shown.
    """
    link = html.escape(login_url, quote=True)
    later = "Please try again later."
    page: ErrorPage
    if isinstance(exc, AuthorizationDenied):
        page = ErrorPage(
            403, "Login cancelled", f'Access was not granted. <a href="{link}">Try again</a>.'
        )
    elif isinstance(exc, StateError | RedirectError):
        page = ErrorPage(
            400,
            "Login failed",
            f'This login expired or was already used. Please <a href="{link}">start again</a>.',
        )
    elif isinstance(exc, LoginRequired):
        page = ErrorPage(401, "Not logged in", f'Please <a href="{link}">log in</a>.')
    elif isinstance(exc, TokenRequestError):
        page = ErrorPage(502, "The login service refused us", later)
    elif isinstance(exc, InvalidResponse):
        page = ErrorPage(502, "The login service failed", later)
    elif isinstance(exc, ServerUnavailable):
        page = ErrorPage(502, "The login service is unreachable", later)
    elif isinstance(exc, StoreError):
        page = ErrorPage(503, "Temporarily unavailable", later)
    else:
        page = ErrorPage(500, "Something went wrong", later)
    level = (
        logging.ERROR
        if page.status == 500
        else logging.WARNING
        if page.status >= 500
        else logging.INFO
    )
    logger.log(level, "login failure: %r", exc)
    return page


def safe_next(value: str | None) -> str | None:
    """``value`` when it is a path on this site (``/...``, no scheme, no host, no
    backslash, space, control or non-ASCII character, at most :data:`MAX_NEXT_CHARS`),
    else ``None``: the only places a login may send the browser on to."""
    if not value or len(value) > MAX_NEXT_CHARS or not value.startswith("/"):
        return None
    if value.startswith("//") or "\\" in value or any(not 0x21 <= ord(c) < 0x7F for c in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    return value


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _scope_of(request: Any) -> Mapping[str, Any]:
    """The ASGI scope of a framework's request object (``.scope``: Starlette,
    FastAPI, Quart, Litestar, Django's ASGIRequest), or of a scope itself."""
    scope = request if isinstance(request, Mapping) else getattr(request, "scope", None)
    if not isinstance(scope, Mapping) or scope.get("type") not in {"http", "websocket"}:
        raise TypeError("expected an ASGI HTTP scope or a request object with a .scope")
    return scope


def _header(scope: Mapping[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if bytes(key).lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _cookies(scope: Mapping[str, Any]) -> dict[str, str]:
    """The request's cookies; the first of a repeated name wins; oversized values and
    malformed pairs are dropped."""
    found: dict[str, str] = {}
    for key, value in scope.get("headers") or ():
        if bytes(key).lower() != b"cookie":
            continue
        for pair in bytes(value).decode("latin-1").split(";"):
            name, sep, val = pair.strip().partition("=")
            val = val.strip()
            if len(val) >= 2 and val[0] == val[-1] == '"':
                val = val[1:-1]
            if sep and name and len(val) <= _MAX_COOKIE_VALUE:
                found.setdefault(name, val)
    return found


def _origin_of(url: str) -> str:
    """``url``'s origin as a browser writes it in an ``Origin`` header."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    shown = f"[{host}]" if ":" in host else host
    port = parts.port
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return f"{parts.scheme}://{shown}" + ("" if port in (None, default) else f":{port}")


def _route_path(scope: Mapping[str, Any]) -> str:
    """The path below where the app is mounted (``root_path``)."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and (len(path) == len(root) or path[len(root)] == "/"):
        return path[len(root) :] or "/"
    return path


class OAuthLogin:
    """Browser login for any ASGI app: ``GET /login``, ``GET /callback``,
    ``POST /logout``, and the signed-in user's token for handlers.

    Args:
        strategy: an authorization-code strategy with its ``redirect_uri`` (the public
            callback URL, exactly as registered; the callback is rebuilt from it and
            the raw query, never from the request's own URL or ``X-Forwarded-*``), or
            an async function returning one (e.g. by :func:`anyoauth.discover`), called
            once, at the first request that needs it or at :meth:`start`.
        store: where pending logins and session tokens live: :class:`MemoryStore` for
            one process, :class:`RedisStore` for workers that share logins.
        http: the ``httpx.AsyncClient`` for token requests (never closed here); by
            default one that keeps no cookies is made on first use (:attr:`http`) and
            closed by :meth:`aclose`.
        login_path: the route that starts a login, below where the component is
            mounted (or on the wrapped app); so are ``callback_path`` and
            ``logout_path``.
        callback_path: the route of the callback (the ``redirect_uri``'s path).
        logout_path: the route that logs out (``POST``).
        session_cookie: the name of the session cookie.
        state_cookie: the name of the pending-login cookie.
        secure_cookies: ``Secure`` on every cookie; by default on, except when the
            redirect URI is ``http://`` on a loopback host (local development).
        after_login: where the browser goes after a login (a ``next`` query
            parameter of ``/login`` that is a path on this site wins).
        after_logout: where the browser goes after a logout without RP-initiated
            logout.
        post_logout_redirect_uri: sent to the server's end_session_endpoint (OpenID
            Connect RP-Initiated Logout) when it has one.
        revoke_on_logout: revoke the session's tokens at logout when the server has a
            revocation endpoint (the session is forgotten in any case).
        login_seconds: how long the browser's pending-login cookie lives.
        on_error: ``on_error(exc)`` returns the :class:`ErrorPage` to show, or
            ``None`` for the default (:func:`error_page`).
        client_options: keyword arguments for each session's :class:`Client`
            (``leeway``, ``timeout``, ``retries``...).

    Mounted: ``Mount("/auth", login)``; wrapped: ``app = login.wrap(app)``. Use it as
    an async context manager (or call :meth:`aclose`) to close the HTTP client it made.
    """

    def __init__(
        self,
        strategy: Strategy | Callable[[], Awaitable[Strategy]],
        store: Store,
        *,
        http: Any = None,
        login_path: str = "/login",
        callback_path: str = "/callback",
        logout_path: str = "/logout",
        session_cookie: str = "session",
        state_cookie: str = "oauth_state",
        secure_cookies: bool | None = None,
        after_login: str = "/",
        after_logout: str = "/",
        post_logout_redirect_uri: str | None = None,
        revoke_on_logout: bool = True,
        login_seconds: int = 600,
        on_error: Callable[[BaseException], ErrorPage | None] | None = None,
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(strategy, Strategy) and not callable(strategy):
            raise TypeError("strategy must be an anyoauth Strategy or an async function")
        for name, path in (
            ("login_path", login_path),
            ("callback_path", callback_path),
            ("logout_path", logout_path),
        ):
            if not path.startswith("/"):
                raise ConfigurationError(f"{name} must start with '/'")
        for name, value in (("session_cookie", session_cookie), ("state_cookie", state_cookie)):
            if not value or not all(c.isalnum() or c in "-_." for c in value):
                raise ConfigurationError(f"{name} must be a plain cookie name")
        if safe_next(after_login) is None or safe_next(after_logout) is None:
            raise ConfigurationError("after_login and after_logout must be paths on this site")
        self._strategy: Strategy | None = None
        self._make_strategy: Callable[[], Awaitable[Strategy]] | None = None
        self._resolving: anyio.Lock | None = None
        self.store = store
        self.redirect_uri = ""
        """The registered callback URL (the strategy's ``redirect_uri``)."""
        self.login_path = login_path
        self.callback_path = callback_path
        self.logout_path = logout_path
        self.session_cookie = session_cookie
        self.state_cookie = state_cookie
        self._secure_choice = secure_cookies
        self.secure_cookies = secure_cookies is not False
        """Whether cookies get ``Secure`` (known once the strategy is)."""
        self.after_login = after_login
        self.after_logout = after_logout
        self.post_logout_redirect_uri = post_logout_redirect_uri
        self.revoke_on_logout = revoke_on_logout
        self.login_seconds = login_seconds
        self.on_error = on_error
        self.client_options = dict(client_options or {})
        self._http = http
        self._owns_http = http is None
        if isinstance(strategy, Strategy):
            self._use(strategy)
        else:
            self._make_strategy = strategy

    def __repr__(self) -> str:
        name = "?" if self._strategy is None else self._strategy.name
        return f"OAuthLogin({name!r}, redirect_uri={self.redirect_uri!r})"

    def _use(self, strategy: Strategy) -> None:
        if not isinstance(strategy, Strategy):
            raise ConfigurationError("the strategy function must return an anyoauth Strategy")
        redirect_uri = strategy.redirect_uri
        if not redirect_uri or not strategy.interactive or strategy.posts_responses:
            raise ConfigurationError(
                "OAuthLogin needs a redirect flow with a redirect_uri, answered in the query"
            )
        parts = urlsplit(redirect_uri)
        if self._secure_choice is None:
            self.secure_cookies = not (parts.scheme == "http" and _is_loopback(parts.hostname))
        self.redirect_uri = redirect_uri
        self._strategy = strategy

    @property
    def strategy(self) -> Strategy:
        """The strategy; :class:`ConfigurationError` before :meth:`start` resolved it."""
        if self._strategy is None:
            raise ConfigurationError("the strategy is not known yet: await login.start()")
        return self._strategy

    async def start(self) -> Strategy:
        """Resolve the strategy now (once; concurrent callers wait for the same call),
        e.g. in the app's lifespan so that discovery fails at start-up."""
        if self._strategy is not None:
            return self._strategy
        if self._resolving is None:
            self._resolving = anyio.Lock()
        async with self._resolving:
            if self._strategy is None:
                assert self._make_strategy is not None
                self._use(await self._make_strategy())
        return self.strategy

    # -- lifetime -------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client made here (never one that was given)."""
        if self._owns_http and self._http is not None:
            http, self._http = self._http, None
            await http.aclose()

    @property
    def http(self) -> Any:
        """The HTTP client token requests go through: the one given, or one made here
        that keeps no cookie (so handlers may call APIs for every user with it, each
        call authorized by its own token only)."""
        if self._http is None:
            jar = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
            self._http = httpx.AsyncClient(follow_redirects=False, timeout=30, cookies=jar)
        return self._http

    # -- for handlers ---------------------------------------------------------------------

    def session_id(self, request: Any) -> str | None:
        """The request's session id (its cookie), or ``None``; ``request`` is an ASGI
        scope or any request object with a ``.scope``. Whether it has a token is only
        known from :meth:`token`."""
        return _cookies(_scope_of(request)).get(self.session_cookie) or None

    def _session_client(self, session_id: str | None) -> Client:
        account = "login"
        if session_id is not None:  # store keys hold no secret: a hash of the session id
            account = "session-" + hashlib.sha256(session_id.encode()).hexdigest()
        return Client(
            self.strategy,
            store=self.store,
            http=self.http,
            account=account,
            **self.client_options,
        )

    async def client(self, request: Any) -> Client:
        """The :class:`Client` of the request's browser session (use its ``auth()``
        with httpx, its ``userinfo()``...). Raises :class:`LoginRequired` without a
        session cookie."""
        session_id = self.session_id(request)
        if session_id is None:
            raise LoginRequired("no session")
        await self.start()
        return self._session_client(session_id)

    async def token(self, request: Any) -> Token:
        """The signed-in user's valid token, refreshed when due (:meth:`Client.token`).
        Raises :class:`LoginRequired` without a session or when only a new login helps."""
        return await (await self.client(request)).token()

    def error_page(self, exc: BaseException, request: Any = None) -> ErrorPage:
        """The page for ``exc``: ``on_error``'s, else :func:`error_page`'s, its links
        pointing at this component's ``/login`` (under the request's ``root_path``)."""
        page = self.on_error(exc) if self.on_error is not None else None
        if page is None:
            login = self.login_path if request is None else self.login_url(request)
            page = error_page(exc, login_url=login)
        return page

    def login_url(self, request: Any, next_path: str | None = None) -> str:
        """The path of ``/login`` for this request (under its ``root_path``), with
        ``next`` when ``next_path`` is a path on this site."""
        scope = _scope_of(request)
        url = scope.get("root_path", "") + self.login_path
        target = safe_next(next_path)
        return url if target is None else f"{url}?next={quote(target, safe='/')}"

    # -- ASGI -----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the component's routes (mounted, or as the whole app)."""
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            raise ValueError(f"OAuthLogin serves HTTP, not {scope['type']!r}")
        if not await self._handle(scope, send):
            await self._send_page(send, ErrorPage(404, "Not found", "There is nothing here."))

    def wrap(self, app: _App) -> _App:
        """``app`` with the component's routes in front of it: requests to them are
        served here, the others go to ``app``. A :class:`LoginRequired` that ``app``
        raises before answering becomes a redirect to ``/login`` (a browser's ``GET``
        that accepts HTML) or a 401 page."""

        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and await self._handle(scope, send):
                return
            if scope["type"] != "http":
                await app(scope, receive, send)
                if scope["type"] == "lifespan":
                    await self.aclose()
                return
            started = False

            async def tracking_send(message: Message) -> None:
                nonlocal started
                started = True
                await send(message)

            try:
                await app(scope, receive, tracking_send)
            except LoginRequired as exc:
                if started:
                    raise
                await self._login_required(scope, send, exc)

        return cast("_App", wrapped)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _handle(self, scope: Scope, send: Send) -> bool:
        """Serve ``scope`` when it is one of the component's routes; ``False`` if not."""
        path = _route_path(scope)
        routes = {self.login_path: "GET", self.callback_path: "GET", self.logout_path: "POST"}
        if path not in routes:
            return False
        method = scope.get("method", "GET")
        if method != routes[path]:
            await self._send_page(
                send,
                ErrorPage(405, "Method not allowed", "Not here."),
                extra=[("Allow", routes[path])],
            )
            return True
        try:
            await self.start()
            if path == self.login_path:
                await self._login(scope, send)
            elif path == self.callback_path:
                await self._callback(scope, send)
            else:
                await self._logout(scope, send)
        except OAuthError as exc:
            await self._error(scope, send, exc)
        return True

    async def _login(self, scope: Scope, send: Send) -> None:
        query = bytes(scope.get("query_string", b""))
        target = None
        if len(query) <= MAX_QUERY_BYTES:
            target = safe_next(dict(parse_qsl(query.decode("latin-1"))).get("next"))
        start = await self._session_client(None).begin()
        value = start.state
        if target is not None:
            value += "." + base64.urlsafe_b64encode(target.encode()).decode().rstrip("=")
        cookie = self._cookie(
            self.state_cookie, value, self._state_cookie_path(scope), self.login_seconds
        )
        await self._redirect(send, start.url, [cookie])

    async def _callback(self, scope: Scope, send: Send) -> None:
        query_bytes = bytes(scope.get("query_string", b""))
        if len(query_bytes) > MAX_QUERY_BYTES:
            raise StateMismatch("the callback's query is too long")
        query = query_bytes.decode("latin-1")
        cookies = _cookies(scope)
        state_cookie, _, next_part = cookies.get(self.state_cookie, "").partition(".")
        state = dict(parse_qsl(query)).get("state", "")
        # Bind the login to the browser that started it (RFC 6749 section 10.12): a
        # callback opened in another browser (login CSRF) is refused and does not spend
        # the pending login.
        if not state_cookie or not secrets.compare_digest(state_cookie.encode(), state.encode()):
            raise StateMismatch("the login was not started in this browser")
        # A new random session id at every login: an id known before it is worthless.
        session_id = secrets.token_urlsafe(_SESSION_BYTES)
        separator = "&" if "?" in self.redirect_uri else "?"
        try:
            await self._session_client(session_id).complete(
                f"{self.redirect_uri}{separator}{query}"
            )
        except OAuthError as exc:  # this browser's login is spent or refused: drop its cookie
            await self._error(scope, send, exc, drop_state=True)
            return
        old = cookies.get(self.session_cookie)
        if old:
            await self._session_client(old).forget()
        target = self.after_login
        if next_part:
            try:
                decoded = base64.urlsafe_b64decode(next_part + "=" * (-len(next_part) % 4)).decode()
            except (binascii.Error, UnicodeDecodeError):
                decoded = None
            target = safe_next(decoded) or self.after_login
        await self._redirect(
            send,
            target,
            [
                self._cookie(self.session_cookie, session_id, "/", None),
                self._cookie(self.state_cookie, "", self._state_cookie_path(scope), 0),
            ],
        )

    def _from_another_site(self, scope: Scope) -> bool:
        """Whether a browser says the request comes from a page of another origin
        (``Sec-Fetch-Site`` other than ``same-origin``/``none``, or an ``Origin`` that is
        not the callback's, ``null`` included); requests without either header (not
        from a browser) are taken."""
        fetch_site = _header(scope, b"sec-fetch-site")
        if fetch_site is not None and fetch_site.strip().lower() not in ("same-origin", "none"):
            return True
        origin = _header(scope, b"origin")
        return origin is not None and origin.strip().lower() != _origin_of(self.redirect_uri)

    async def _logout(self, scope: Scope, send: Send) -> None:
        if self._from_another_site(scope):
            # A form on another site (a sibling subdomain's too: SameSite=Lax cookies go
            # with it) must not end this browser's session or revoke its tokens.
            await self._send_page(
                send, ErrorPage(403, "Logout refused", "Log out from this site's own pages.")
            )
            return
        session_id = _cookies(scope).get(self.session_cookie)
        target = self.after_logout
        if session_id:
            client = self._session_client(session_id)
            if self.strategy.end_session_endpoint is not None:
                target = await client.logout_url(
                    post_logout_redirect_uri=self.post_logout_redirect_uri
                )
            if self.revoke_on_logout and self.strategy.revocation_endpoint is not None:
                try:
                    await client.revoke()  # forgets first, whatever the server answers
                except (TokenRequestError, ServerUnavailable, InvalidResponse) as exc:
                    logger.warning("revocation at logout failed: %r", exc)
            else:
                await client.forget()
        await self._redirect(send, target, [self._cookie(self.session_cookie, "", "/", 0)])

    async def _error(
        self, scope: Scope, send: Send, exc: BaseException, *, drop_state: bool = False
    ) -> None:
        page = self.error_page(exc, scope)
        extra = []
        if drop_state:
            extra.append(
                (
                    "Set-Cookie",
                    self._cookie(self.state_cookie, "", self._state_cookie_path(scope), 0),
                )
            )
        await self._send_page(send, page, extra=extra)

    async def _login_required(self, scope: Scope, send: Send, exc: LoginRequired) -> None:
        accept = _header(scope, b"accept") or ""
        if scope.get("method") == "GET" and "text/html" in accept:
            path = scope.get("path", "/")
            query = bytes(scope.get("query_string", b"")).decode("latin-1")
            here = path + ("?" + query if query else "")
            await self._redirect(send, self.login_url(scope, here), [])
            return
        await self._error(scope, send, exc)

    # -- responses ------------------------------------------------------------------------

    def _state_cookie_path(self, scope: Mapping[str, Any]) -> str:
        return (scope.get("root_path", "") + self.callback_path) or "/"

    def _cookie(self, name: str, value: str, path: str, max_age: int | None) -> str:
        parts = [f"{name}={value}", f"Path={path}", "HttpOnly", "SameSite=Lax"]
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
            if max_age == 0:
                parts.append("Expires=Thu, 01 Jan 1970 00:00:00 GMT")
        if self.secure_cookies:
            parts.append("Secure")
        return "; ".join(parts)

    async def _redirect(self, send: Send, location: str, cookies: Iterable[str]) -> None:
        headers = [("Location", location), *(("Set-Cookie", c) for c in cookies)]
        await self._respond(send, 303, headers, b"")

    async def _send_page(
        self, send: Send, page: ErrorPage, extra: Iterable[tuple[str, str]] = ()
    ) -> None:
        headers = [("Content-Type", "text/html; charset=utf-8"), *page.headers.items(), *extra]
        await self._respond(send, page.status, headers, page.html.encode(), security=False)

    async def _respond(
        self,
        send: Send,
        status: int,
        headers: Iterable[tuple[str, str]],
        body: bytes,
        *,
        security: bool = True,
    ) -> None:
        merged = [
            *(SECURITY_HEADERS.items() if security else ()),
            *headers,
            ("Content-Length", str(len(body))),
        ]
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in merged],
            }
        )
        await send({"type": "http.response.body", "body": body})
