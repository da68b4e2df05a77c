"""OAuth 2.0 login in a Litestar app whose workers share Redis (docs/recipes/litestar.md).

Copy this file and ``oauth_web.py``, set the environment (see ``oauth_web.Settings``),
and run it::

    uvicorn litestar_app:app --workers 4

anyoauth's login component serves ``/login``, ``/callback`` and ``POST /logout`` in
front of the app; its handlers get the user's token from ``web.login``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, MediaType, Request, Response, get

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
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    """Per worker: discover the provider; close the store and HTTP client at the end."""
    async with web.running():
        yield


@get("/", media_type=MediaType.HTML)
async def home(request: Request[Any, Any, Any]) -> Response[str]:
    text = HOME_LOGGED_IN if web.login.session_id(request) else HOME_LOGGED_OUT
    return Response(page_html("Welcome", text), headers=SECURITY_HEADERS, media_type=MediaType.HTML)


@get("/me")
async def me(request: Request[Any, Any, Any]) -> Response[Any]:
    return Response(await web.profile(request), headers=SECURITY_HEADERS)


def oauth_error(request: Request[Any, Any, Any], exc: Exception) -> Response[str]:
    """Every anyoauth error (and ApiError) becomes a fixed page with the right status."""
    page = web.login.error_page(exc, request)
    return Response(
        page.html, status_code=page.status, headers=dict(page.headers), media_type=MediaType.HTML
    )


site = Litestar(
    [home, me],
    exception_handlers={anyoauth.OAuthError: oauth_error, ApiError: oauth_error},
    lifespan=[lifespan],
    openapi_config=None,
)
app = web.login.wrap(site)  # /login, /callback and POST /logout in front of the site
