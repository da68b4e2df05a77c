"""OAuth 2.0 login in an aiohttp app whose workers share Redis (docs/recipes/aiohttp.md).

Copy this file and ``oauth_web.py``, set the environment (see ``oauth_web.Settings``),
and run one process per core, e.g. under gunicorn's aiohttp worker or as::

    python -m aiohttp.web -H 127.0.0.1 -P 8081 aiohttp_app:init_app

aiohttp runs on asyncio only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

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

OAUTH = web.AppKey("oauth", OAuth)
routes = web.RouteTableDef()


async def oauth_context(app: web.Application) -> AsyncIterator[None]:
    """Per worker: discover the provider and open the Redis store and HTTP client."""
    async with open_oauth() as oauth:
        app[OAUTH] = oauth
        yield


def html_page(status: int, title: str, text_html: str) -> web.Response:
    return web.Response(
        status=status,
        text=page_html(title, text_html),
        content_type="text/html",
        headers=SECURITY_HEADERS,
    )


def redirect(url: str) -> web.Response:
    return web.Response(status=303, headers={**SECURITY_HEADERS, "Location": url})


@routes.get("/")
async def home(request: web.Request) -> web.Response:
    text = HOME_LOGGED_IN if request.cookies.get(SESSION_COOKIE) else HOME_LOGGED_OUT
    return html_page(200, "Welcome", text)


@routes.get("/login")
async def login(request: web.Request) -> web.Response:
    oauth = request.app[OAUTH]
    start = await oauth.start_login()
    response = redirect(start.url)
    response.set_cookie(
        STATE_COOKIE,
        start.state,
        max_age=LOGIN_SECONDS,
        httponly=True,
        secure=oauth.secure_cookies,
        samesite="Lax",
    )
    return response


@routes.get("/callback")
async def callback(request: web.Request) -> web.Response:
    oauth = request.app[OAUTH]
    # The raw (still percent-encoded) query string, not request.url: see
    # OAuth.callback_url. (request.query_string is decoded: do not use it here.)
    session_id = await oauth.finish_login(
        request.rel_url.raw_query_string,
        state_cookie=request.cookies.get(STATE_COOKIE),
        old_session=request.cookies.get(SESSION_COOKIE),
    )
    response = redirect("/")
    response.set_cookie(
        SESSION_COOKIE, session_id, httponly=True, secure=oauth.secure_cookies, samesite="Lax"
    )
    response.del_cookie(STATE_COOKIE)
    return response


@routes.get("/me")
async def me(request: web.Request) -> web.Response:
    profile = await request.app[OAUTH].profile(request.cookies.get(SESSION_COOKIE))
    return web.json_response(profile, headers=SECURITY_HEADERS)


@routes.post("/logout")
async def logout(request: web.Request) -> web.Response:
    await request.app[OAUTH].logout(request.cookies.get(SESSION_COOKIE))
    response = redirect("/")
    response.del_cookie(SESSION_COOKIE)
    return response


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def oauth_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every anyoauth error (and ApiError) becomes a fixed page with the right status."""
    try:
        return await handler(request)
    except (anyoauth.OAuthError, ApiError) as exc:
        shown = failure(exc)
        return html_page(shown.status, shown.title, shown.text_html)


def init_app(argv: list[str] | None = None) -> web.Application:
    """The app; ``python -m aiohttp.web ... aiohttp_app:init_app`` calls this."""
    app = web.Application(middlewares=[oauth_errors])
    app.cleanup_ctx.append(oauth_context)
    app.add_routes(routes)
    return app


if __name__ == "__main__":
    web.run_app(init_app(), host="127.0.0.1", port=8081)
