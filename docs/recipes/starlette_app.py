"""OAuth 2.0 login in a Starlette app whose workers share Redis (docs/recipes/starlette.md).

Copy this file and ``oauth_web.py``, set the environment, and run it::

    export OAUTH_ISSUER=https://login.example.com OAUTH_CLIENT_ID=web \\
        OAUTH_CLIENT_SECRET=... OAUTH_REDIRECT_URI=https://app.example.com/callback \\
        REDIS_URL=redis://cache.internal:6379/0
    uvicorn starlette_app:app --workers 4                         # asyncio
    hypercorn --worker-class trio --workers 4 starlette_app:app   # trio

``/login`` starts a login and sends the browser to the provider, ``/callback``
finishes it in whichever worker it lands on, ``/me`` calls the API with the
session's token, ``POST /logout`` forgets it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

import anyoauth
from oauth_web import (
    HOME_LOGGED_IN,
    HOME_LOGGED_OUT,
    LOGIN_SECONDS,
    SECURITY_HEADERS,
    SESSION_COOKIE,
    STATE_COOKIE,
    ApiError,
    OAuth,
    failure,
    open_oauth,
    page_html,
)


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[dict[str, OAuth]]:
    """Per worker: discover the provider and open the Redis store and HTTP client."""
    async with open_oauth() as oauth:
        yield {"oauth": oauth}  # every request's request.state.oauth


def redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)


async def home(request: Request) -> Response:
    text = HOME_LOGGED_IN if request.cookies.get(SESSION_COOKIE) else HOME_LOGGED_OUT
    return HTMLResponse(page_html("Welcome", text), headers=SECURITY_HEADERS)


async def login(request: Request) -> Response:
    oauth: OAuth = request.state.oauth
    start = await oauth.start_login()
    response = redirect(start.url)
    response.set_cookie(
        STATE_COOKIE,
        start.state,
        max_age=LOGIN_SECONDS,
        httponly=True,
        secure=oauth.secure_cookies,
        samesite="lax",  # sent along on the provider's top-level redirect back to us
    )
    return response


async def callback(request: Request) -> Response:
    oauth: OAuth = request.state.oauth
    # request.url.query, not str(request.url): behind a proxy the URL is the internal
    # one; the flow needs the registered redirect URI (see OAuth.callback_url).
    session_id = await oauth.finish_login(
        request.url.query,
        state_cookie=request.cookies.get(STATE_COOKIE),
        old_session=request.cookies.get(SESSION_COOKIE),
    )
    response = redirect("/")
    response.set_cookie(
        SESSION_COOKIE, session_id, httponly=True, secure=oauth.secure_cookies, samesite="lax"
    )
    response.delete_cookie(STATE_COOKIE)
    return response


async def me(request: Request) -> Response:
    oauth: OAuth = request.state.oauth
    profile = await oauth.profile(request.cookies.get(SESSION_COOKIE))
    return JSONResponse(profile, headers=SECURITY_HEADERS)


async def logout(request: Request) -> Response:
    oauth: OAuth = request.state.oauth
    await oauth.logout(request.cookies.get(SESSION_COOKIE))
    response = redirect("/")
    response.delete_cookie(SESSION_COOKIE)
    return response


async def oauth_error(request: Request, exc: Exception) -> Response:
    """Every anyoauth error (and ApiError) becomes a fixed page with the right status."""
    shown = failure(exc)
    content = page_html(shown.title, shown.text_html)
    return HTMLResponse(content, status_code=shown.status, headers=SECURITY_HEADERS)


app = Starlette(
    routes=[
        Route("/", home),
        Route("/login", login),
        Route("/callback", callback),
        Route("/me", me),
        Route("/logout", logout, methods=["POST"]),
    ],
    exception_handlers={anyoauth.OAuthError: oauth_error, ApiError: oauth_error},
    lifespan=lifespan,
)
