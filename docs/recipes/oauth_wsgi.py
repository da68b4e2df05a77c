"""The synchronous half of the WSGI recipes (Flask, Django): the same login steps as
``oauth_web.py``, with :class:`anyoauth.SyncClient` instead of ``anyoauth.Client``.
Settings, pages and failures are ``oauth_web``'s own.

A browser session is a random id in an HttpOnly cookie; its token lives in the shared
store under a hash of that id. Pending logins and tokens are in Redis, so any worker
(any process, any thread) can finish a login another one started, and a token is
refreshed once for the whole fleet.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

import anyio
import httpx

import anyoauth
from oauth_web import ApiError, Settings, cookieless_jar


@dataclass(frozen=True)
class SyncOAuth:
    """Everything the handlers need; one per worker process, made at start-up by
    :meth:`open`."""

    settings: Settings
    strategy: anyoauth.AuthorizationCode
    store: anyoauth.RedisStore
    http: httpx.AsyncClient
    """Sends the token requests, on the SyncClients' event loop (never used here)."""
    api: httpx.Client
    """Calls the API, from the handlers' threads."""
    app_client: anyoauth.SyncClient
    """Starts logins; open for the worker's life, it keeps the event loop that the store
    and ``http`` live on running between requests."""

    @classmethod
    def open(cls, settings: Settings | None = None) -> SyncOAuth:
        """Per worker, at start-up: discover the provider, make the strategy, the Redis
        store, the HTTP clients and the app's own SyncClient."""
        settings = settings or Settings.from_env()
        metadata = anyio.run(anyoauth.discover, settings.issuer)
        strategy = anyoauth.AuthorizationCode.from_metadata(
            metadata,
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            redirect_uri=settings.redirect_uri,
            scope=settings.scope,
        )
        store = anyoauth.RedisStore(settings.redis_url)
        http = httpx.AsyncClient(timeout=30, follow_redirects=False, cookies=cookieless_jar())
        api = httpx.Client(timeout=30, follow_redirects=False, cookies=cookieless_jar())
        app_client = anyoauth.SyncClient(strategy, store, http)
        return cls(settings, strategy, store, http, api, app_client)

    @property
    def secure_cookies(self) -> bool:
        """Whether cookies get ``Secure`` (always, once the app is served over https)."""
        return self.settings.redirect_uri.startswith("https://")

    def client(self, session_id: str) -> anyoauth.SyncClient:
        """A client for one browser session (its token stored under a hash of the id);
        use it in a ``with`` block: it is closed at the end of the request."""
        account = "session-" + hashlib.sha256(session_id.encode()).hexdigest()
        return anyoauth.SyncClient(self.strategy, self.store, self.http, account=account)

    def callback_url(self, query: str) -> str:
        """The registered redirect URI with the callback's raw query (never the
        request's own URL, which behind a proxy is the internal one)."""
        separator = "&" if "?" in self.settings.redirect_uri else "?"
        return f"{self.settings.redirect_uri}{separator}{query}"

    def start_login(self) -> anyoauth.AuthorizationRequest:
        """Step 1 (``/login``): save a pending login in Redis; send the browser to
        ``.url`` and set the state cookie to ``.state``."""
        return self.app_client.begin()

    def finish_login(self, query: str, state_cookie: str | None, old_session: str | None) -> str:
        """Step 2 (``/callback``): complete the login of this browser and return the new
        session id; raises anyoauth's errors (``oauth_web.failure`` says what to show)."""
        state = httpx.QueryParams(query).get("state", "")
        # Bind the login to the browser that started it (RFC 6749 section 10.12).
        if not state_cookie or not secrets.compare_digest(state_cookie.encode(), state.encode()):
            raise anyoauth.StateMismatch("the login was not started in this browser")
        session_id = secrets.token_urlsafe(32)  # a new session id at every login
        with self.client(session_id) as client:
            client.complete(self.callback_url(query))
        if old_session:
            self.logout(old_session)
        return session_id

    def profile(self, session_id: str | None) -> Any:
        """``/me``: call the API with the session's token. ``client.auth()`` sets it,
        refreshes it once for every thread and worker when it is about to expire, and
        retries once on a 401; ``LoginRequired`` when only a new login can help."""
        if not session_id:
            raise anyoauth.LoginRequired("no session")
        with self.client(session_id) as client:
            try:
                response = self.api.get(self.settings.api_url, auth=client.auth())
            except httpx.HTTPError as exc:
                raise ApiError(f"API unreachable: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise ApiError(f"API answered {response.status_code}")
        return response.json()

    def logout(self, session_id: str | None) -> None:
        """``POST /logout``: forget the session's token (nothing is revoked)."""
        if session_id:
            with self.client(session_id) as client:
                client.forget()
