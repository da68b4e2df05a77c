"""OAuth 2.0 login in a FastAPI app whose workers share Redis (docs/recipes/starlette.md).

FastAPI is Starlette underneath: this is ``starlette_app.py`` with FastAPI's routes,
dependencies and cookie parameters. Copy it with ``oauth_web.py`` and run it::

    uvicorn fastapi_app:app --workers 4                         # asyncio
    hypercorn --worker-class trio --workers 4 fastapi_app:app   # trio
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Cookie, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

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
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, OAuth]]:
    """Per worker: discover the provider and open the Redis store and HTTP client."""
    async with open_oauth() as oauth:
        yield {"oauth": oauth}


app = FastAPI(lifespan=lifespan, openapi_url=None)


def get_oauth(request: Request) -> OAuth:
    """The worker's :class:`OAuth`, made by ``lifespan``."""
    oauth: OAuth = request.state.oauth
    return oauth


OAuthDep = Annotated[OAuth, Depends(get_oauth)]
Session = Annotated[str | None, Cookie(alias=SESSION_COOKIE)]
LoginState = Annotated[str | None, Cookie(alias=STATE_COOKIE)]


def redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)


@app.get("/", response_class=HTMLResponse)
async def home(session: Session = None) -> Response:
    text = HOME_LOGGED_IN if session else HOME_LOGGED_OUT
    return HTMLResponse(page_html("Welcome", text), headers=SECURITY_HEADERS)


@app.get("/login")
async def login(oauth: OAuthDep) -> Response:
    start = await oauth.start_login()
    response = redirect(start.url)
    response.set_cookie(
        STATE_COOKIE,
        start.state,
        max_age=LOGIN_SECONDS,
        httponly=True,
        secure=oauth.secure_cookies,
        samesite="lax",
    )
    return response


@app.get("/callback")
async def callback(
    request: Request, oauth: OAuthDep, session: Session = None, login_state: LoginState = None
) -> Response:
    # The raw query, not str(request.url): see OAuth.callback_url.
    session_id = await oauth.finish_login(request.url.query, login_state, session)
    response = redirect("/")
    response.set_cookie(
        SESSION_COOKIE, session_id, httponly=True, secure=oauth.secure_cookies, samesite="lax"
    )
    response.delete_cookie(STATE_COOKIE)
    return response


@app.get("/me")
async def me(oauth: OAuthDep, session: Session = None) -> Response:
    return JSONResponse(await oauth.profile(session), headers=SECURITY_HEADERS)


@app.post("/logout")
async def logout(oauth: OAuthDep, session: Session = None) -> Response:
    await oauth.logout(session)
    response = redirect("/")
    response.delete_cookie(SESSION_COOKIE)
    return response


@app.exception_handler(anyoauth.OAuthError)
@app.exception_handler(ApiError)
async def oauth_error(request: Request, exc: Exception) -> Response:
    """Every anyoauth error (and ApiError) becomes a fixed page with the right status."""
    shown = failure(exc)
    content = page_html(shown.title, shown.text_html)
    return HTMLResponse(content, status_code=shown.status, headers=SECURITY_HEADERS)
