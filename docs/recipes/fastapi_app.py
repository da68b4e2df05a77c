"""OAuth 2.0 login in a FastAPI app whose workers share Redis (docs/recipes/starlette.md).

FastAPI is Starlette underneath: this is ``starlette_app.py`` with FastAPI's routes
and dependencies. Copy it with ``oauth_web.py`` and run it::

    uvicorn fastapi_app:app --workers 4                         # asyncio
    hypercorn --worker-class trio --workers 4 fastapi_app:app   # trio
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

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
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Per worker: discover the provider; close the store and HTTP client at the end."""
    async with web.running():
        yield


api = FastAPI(lifespan=lifespan, openapi_url=None)


async def user_token(request: Request) -> anyoauth.Token:
    """The signed-in user's token (refreshed when due); LoginRequired without one."""
    return await web.login.token(request)


UserToken = Annotated[anyoauth.Token, Depends(user_token)]


@api.get("/", response_class=HTMLResponse)
async def home(request: Request) -> Response:
    text = HOME_LOGGED_IN if web.login.session_id(request) else HOME_LOGGED_OUT
    return HTMLResponse(page_html("Welcome", text), headers=SECURITY_HEADERS)


@api.get("/me")
async def me(request: Request, token: UserToken) -> Response:
    return JSONResponse(await web.profile(request), headers=SECURITY_HEADERS)


@api.exception_handler(anyoauth.OAuthError)
@api.exception_handler(ApiError)
async def oauth_error(request: Request, exc: Exception) -> Response:
    """Every anyoauth error (and ApiError) becomes a fixed page with the right status."""
    page = web.login.error_page(exc, request)
    return HTMLResponse(page.html, status_code=page.status, headers=page.headers)


app = web.login.wrap(api)  # /login, /callback and POST /logout in front of the API
