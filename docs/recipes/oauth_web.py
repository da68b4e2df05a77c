"""The framework-neutral half of the web recipes: settings, start-up, the login steps
and what each failure shows the user. Each ``*_app.py`` beside it is the other half,
the few lines that bind these to one framework's requests, cookies and responses.

The ASGI apps (Starlette, FastAPI, Quart, Litestar, Django) use :func:`web_login`:
anyoauth's login component (``anyoauth.asgi.OAuthLogin``) serves their ``/login``,
``/callback`` and ``/logout``. aiohttp is not ASGI: its app uses :class:`OAuth`, the
same steps written out.

A browser session is a random id in an HttpOnly cookie; its token lives in the shared
store under a hash of that id (anyoauth's ``account=``). Pending logins and tokens are
in Redis, so any worker can finish a login another one started, and every worker sees
every session's token.
"""

from __future__ import annotations

import hashlib
import html
import logging
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx

import anyoauth
from anyoauth.asgi import ErrorPage, OAuthLogin

logger = logging.getLogger("recipes")

SESSION_COOKIE = "session"
"""The browser's session id (random); its token is stored under a hash of it."""
STATE_COOKIE = "oauth_state"
"""The ``state`` of the login this browser started; the callback must carry the same."""
LOGIN_SECONDS = 600
"""How long a started login may take (anyoauth's default ``state_ttl``)."""

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    # The callback's URL holds the code: never send it on in a Referer header.
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


class ApiError(Exception):
    """The API the app calls with the user's token failed or was unreachable."""


@dataclass(frozen=True)
class Failure:
    """What the user sees when something fails: a status and fixed words."""

    status: int
    title: str
    text_html: str
    """Markup written here, never the error's own words (they may quote the provider)."""


START_AGAIN = 'This login expired or was already used. Please <a href="/login">start again</a>.'
LATER = "Please try again later."

# The first class that matches wins: AuthorizationDenied (also a ProviderError) is first.
FAILURES: list[tuple[type[Exception], Failure]] = [
    (
        anyoauth.AuthorizationDenied,
        Failure(403, "Login cancelled", 'Access was not granted. <a href="/login">Try again</a>.'),
    ),
    # StateMismatch (unknown or used state, another browser's login), FlowExpired,
    # StateMissing; RedirectError: a malformed callback, a mix-up (IssuerMismatch).
    (anyoauth.StateError, Failure(400, "Login failed", START_AGAIN)),
    (anyoauth.RedirectError, Failure(400, "Login failed", START_AGAIN)),
    (anyoauth.LoginRequired, Failure(401, "Not logged in", 'Please <a href="/login">log in</a>.')),
    # The token endpoint refused the code or our credentials, answered nonsense, or
    # could not be reached: the provider (or our registration there) is at fault.
    (anyoauth.TokenRequestError, Failure(502, "The login service refused us", LATER)),
    (anyoauth.InvalidTokenResponse, Failure(502, "The login service failed", LATER)),
    (anyoauth.TokenEndpointUnavailable, Failure(502, "The login service is unreachable", LATER)),
    (ApiError, Failure(502, "The API failed", LATER)),
    (anyoauth.StoreError, Failure(503, "Temporarily unavailable", LATER)),
]


def failure(exc: Exception) -> Failure:
    """The page for an anyoauth error (or :class:`ApiError`); the error itself is logged
    (anyoauth's messages never contain a secret), not shown."""
    for kind, shown in FAILURES:
        if isinstance(exc, kind):
            logger.log(logging.WARNING if shown.status >= 500 else logging.INFO, "%r", exc)
            return shown
    logger.error("OAuth failure: %r", exc)
    return Failure(500, "Something went wrong", LATER)


def page_html(title: str, text_html: str) -> str:
    """A minimal HTML page; ``text_html`` is trusted markup, never request data."""
    title = html.escape(title)
    return f"<!doctype html><title>{title}</title><h1>{title}</h1><p>{text_html}</p>"


HOME_LOGGED_IN = (
    '<a href="/me">Your profile</a> <form method="post" action="/logout">'
    '<button type="submit">Log out</button></form>'
)
HOME_LOGGED_OUT = '<a href="/login">Log in</a>'


@dataclass(frozen=True)
class Settings:
    """The app's OAuth settings, from the environment."""

    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str
    """The public callback URL, exactly as registered with the provider."""
    redis_url: str
    api_url: str
    scope: str

    @classmethod
    def from_env(cls) -> Settings:
        issuer = os.environ["OAUTH_ISSUER"]
        return cls(
            issuer=issuer,
            client_id=os.environ["OAUTH_CLIENT_ID"],
            client_secret=os.environ["OAUTH_CLIENT_SECRET"],
            redirect_uri=os.environ["OAUTH_REDIRECT_URI"],
            redis_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
            api_url=os.environ.get("API_URL", issuer.rstrip("/") + "/api/me"),
            scope=os.environ.get("OAUTH_SCOPE", "profile"),
        )


@dataclass(frozen=True)
class OAuth:
    """Everything the handlers need; one per worker process, made at start-up by
    :func:`open_oauth`."""

    settings: Settings
    strategy: anyoauth.AuthorizationCode
    store: anyoauth.RedisStore
    http: httpx.AsyncClient

    @property
    def secure_cookies(self) -> bool:
        """Whether cookies get ``Secure`` (always, once the app is served over https)."""
        return self.settings.redirect_uri.startswith("https://")

    def client(self, session_id: str | None = None) -> anyoauth.Client:
        """A client for one browser session: its token is stored under the session.

        Starting a login needs no session: the pending login is stored under its
        ``state``, and the session that completes it gets the token. Clients are cheap;
        the store and the HTTP client are shared by the whole worker.
        """
        account = "default"
        if session_id is not None:  # store keys hold no secret: hash the session id
            account = "session-" + hashlib.sha256(session_id.encode()).hexdigest()
        return anyoauth.Client(self.strategy, store=self.store, http=self.http, account=account)

    def callback_url(self, query: str) -> str:
        """The URL the provider sent the browser to, as the flow expects it.

        Behind a reverse proxy or load balancer the request's own URL is the internal
        one (``http://10.0.0.7:8000/callback``), but the flow accepts only the
        registered redirect URI: rebuild it from the setting and the raw query string
        rather than trusting ``request.url`` or ``X-Forwarded-*`` headers.
        """
        separator = "&" if "?" in self.settings.redirect_uri else "?"
        return f"{self.settings.redirect_uri}{separator}{query}"

    async def start_login(self) -> anyoauth.AuthorizationRequest:
        """Step 1 (``/login``): save a pending login in Redis; send the browser to
        ``.url`` and set :data:`STATE_COOKIE` to ``.state``."""
        return await self.client().begin()

    async def finish_login(
        self, query: str, state_cookie: str | None, old_session: str | None
    ) -> str:
        """Step 2 (``/callback``): complete the login of this browser and return the new
        session id to set in :data:`SESSION_COOKIE`; then delete :data:`STATE_COOKIE`.

        Raises anyoauth's errors; :func:`failure` says what to show for each.
        """
        state = httpx.QueryParams(query).get("state", "")
        # Bind the login to the browser that started it (RFC 6749 section 10.12): a
        # callback URL opened in another browser (login CSRF) is refused, and does not
        # spend the pending login.
        if not state_cookie or not secrets.compare_digest(state_cookie.encode(), state.encode()):
            raise anyoauth.StateMismatch("the login was not started in this browser")
        # A new session id at every login: an id known before the login is worthless.
        session_id = secrets.token_urlsafe(32)
        await self.client(session_id).complete(self.callback_url(query))
        if old_session:
            await self.client(old_session).forget()
        return session_id

    async def profile(self, session_id: str | None) -> Any:
        """``/me``: call the API with the session's token.

        ``client.auth()`` sets the bearer token, refreshes it when it is about to
        expire (once for the whole fleet, through the store's lock) and retries once
        on a 401; it raises ``LoginRequired`` when only a new login can help.
        """
        if not session_id:
            raise anyoauth.LoginRequired("no session")
        auth = self.client(session_id).auth()
        try:
            response = await self.http.get(self.settings.api_url, auth=auth)
        except httpx.HTTPError as exc:
            raise ApiError(f"API unreachable: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise ApiError(f"API answered {response.status_code}")
        return response.json()

    async def logout(self, session_id: str | None) -> None:
        """``POST /logout``: forget the session's token (nothing is revoked)."""
        if session_id:
            await self.client(session_id).forget()


def cookieless_jar() -> CookieJar:
    """A cookie jar that keeps no cookie and sends none.

    The worker's one HTTP client calls the API for every user. An API (or a proxy or
    load balancer in front of it) that sets a session cookie would otherwise get
    user A's cookie back with user B's calls, and could answer B with A's data: each
    call must be authorized by its own bearer token only. The policy refuses every
    cookie (no domain is allowed), so connection pooling stays shared and cookies
    never are.
    """
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


@asynccontextmanager
async def open_oauth(settings: Settings | None = None) -> AsyncIterator[OAuth]:
    """Per worker, at start-up: one HTTP client (shared by every user's calls, so it
    keeps no cookies), the Redis store, the provider's metadata (``discover``) and the
    ``AuthorizationCode`` strategy made from it."""
    settings = settings or Settings.from_env()
    async with (
        httpx.AsyncClient(timeout=30, follow_redirects=False, cookies=cookieless_jar()) as http,
        anyoauth.RedisStore(settings.redis_url) as store,
    ):
        metadata = await anyoauth.discover(settings.issuer, http=http)
        strategy = anyoauth.AuthorizationCode.from_metadata(
            metadata,
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            redirect_uri=settings.redirect_uri,
            scope=settings.scope,
        )
        yield OAuth(settings, strategy, store, http)


def api_failure(exc: BaseException) -> ErrorPage | None:
    """The login component's ``on_error`` hook: the page for :class:`ApiError`; the
    component's own pages for anyoauth's errors (the table of :data:`FAILURES`)."""
    if isinstance(exc, ApiError):
        logger.warning("%r", exc)
        return ErrorPage(502, "The API failed", LATER)
    return None


@dataclass(frozen=True)
class WebLogin:
    """What an ASGI app's handlers need: the login component (which serves
    ``/login``, ``/callback`` and ``POST /logout``) and the API it calls. One per
    worker process, made at import by :func:`web_login`."""

    settings: Settings
    login: OAuthLogin
    store: anyoauth.RedisStore

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The app's lifespan: discover the provider at start-up, close the HTTP
        client and the Redis connections at shutdown."""
        async with self.login, self.store:
            await self.login.start()
            yield

    async def profile(self, request: object) -> Any:
        """``/me``: call the API with the session's token.

        The session's client's ``auth()`` sets the bearer token, refreshes it when it is
        about to expire (once for the whole fleet, through the store's lock) and retries
        once on a 401; it raises ``LoginRequired`` when only a new login can help. The
        component's HTTP client keeps no cookie, so every user's call shares it.
        """
        auth = (await self.login.client(request)).auth()
        try:
            response = await self.login.http.get(self.settings.api_url, auth=auth)
        except httpx.HTTPError as exc:
            raise ApiError(f"API unreachable: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise ApiError(f"API answered {response.status_code}")
        return response.json()


def web_login(settings: Settings | None = None) -> WebLogin:
    """Per worker, at import: the login component with a Redis store (connections open
    on first use) and a strategy discovered from the issuer at start-up."""
    settings = settings or Settings.from_env()

    async def discovered() -> anyoauth.AuthorizationCode:
        metadata = await anyoauth.discover(settings.issuer, http=login.http)
        return anyoauth.AuthorizationCode.from_metadata(
            metadata,
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            redirect_uri=settings.redirect_uri,
            scope=settings.scope,
        )

    store = anyoauth.RedisStore(settings.redis_url)
    login = OAuthLogin(discovered, store, on_error=api_failure)
    return WebLogin(settings, login, store)
