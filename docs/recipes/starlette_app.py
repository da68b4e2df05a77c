"""OAuth 2.0 login in a Starlette app whose workers share Redis (docs/recipes/starlette.md).

Copy this file and ``oauth_web.py``, set the environment, and run it::

    export OAUTH_ISSUER=https://login.example.com OAUTH_CLIENT_ID=web \\
        OAUTH_CLIENT_SECRET=... OAUTH_REDIRECT_URI=https://app.example.com/callback \\
        REDIS_URL=redis://cache.internal:6379/0
    uvicorn starlette_app:app --workers 4                         # asyncio
    hypercorn --worker-class trio --workers 4 starlette_app:app   # trio

anyoauth's login component serves ``/login`` (starts a login and sends the browser to
the provider), ``/callback`` (finishes it in whichever worker it lands on) and
``POST /logout``; the app's own routes are ``/`` and ``/me``, which calls the API with
the session's token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

import anyoauth
from oauth_web import (
    HOME_LOGGED_IN,
    HOME_LOGGED_OUT,
    SECURITY_HEADERS,
    ApiError,
    page_html,
    web_login,
)

web = web_login()


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    """Per worker: discover the provider; close the store and HTTP client at the end."""
    async with web.running():
        yield


async def home(request: Request) -> Response:
    text = HOME_LOGGED_IN if web.login.session_id(request) else HOME_LOGGED_OUT
    return HTMLResponse(page_html("Welcome", text), headers=SECURITY_HEADERS)


async def me(request: Request) -> Response:
    return JSONResponse(await web.profile(request), headers=SECURITY_HEADERS)


async def oauth_error(request: Request, exc: Exception) -> Response:
    """Every anyoauth error (and ApiError) becomes a fixed page with the right status."""
    page = web.login.error_page(exc, request)
    return HTMLResponse(page.html, status_code=page.status, headers=page.headers)


site = Starlette(
    routes=[Route("/", home), Route("/me", me)],
    exception_handlers={anyoauth.OAuthError: oauth_error, ApiError: oauth_error},
    lifespan=lifespan,
)
app = web.login.wrap(site)  # /login, /callback and POST /logout in front of the site
