"""OAuth 2.0 login in a Quart app whose workers share Redis (docs/recipes/quart.md).

Copy this file and ``oauth_web.py``, set the environment (see ``oauth_web.Settings``),
and run it::

    hypercorn --workers 4 quart_app:app                          # asyncio
    hypercorn --worker-class trio --workers 4 quart_trio_app:app  # trio (quart-trio)

The routes are a blueprint so that the same code serves a ``Quart`` app on asyncio
and a ``QuartTrio`` app on trio (``quart_trio_app.py``).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from quart import Blueprint, Quart, Response, current_app, jsonify, request

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

login_routes = Blueprint("login", __name__)


@login_routes.while_app_serving
async def oauth_lifespan() -> AsyncGenerator[None, None]:
    """Per worker: discover the provider and open the Redis store and HTTP client."""
    async with open_oauth() as oauth:
        current_app.extensions["oauth"] = oauth
        yield


def get_oauth() -> OAuth:
    oauth: OAuth = current_app.extensions["oauth"]
    return oauth


def html_page(status: int, title: str, text_html: str) -> Response:
    return Response(
        page_html(title, text_html), status=status, headers=SECURITY_HEADERS, mimetype="text/html"
    )


def redirect(url: str) -> Response:
    return Response("", status=303, headers={**SECURITY_HEADERS, "Location": url})


@login_routes.get("/")
async def home() -> Response:
    text = HOME_LOGGED_IN if request.cookies.get(SESSION_COOKIE) else HOME_LOGGED_OUT
    return html_page(200, "Welcome", text)


@login_routes.get("/login")
async def login() -> Response:
    oauth = get_oauth()
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


@login_routes.get("/callback")
async def callback() -> Response:
    oauth = get_oauth()
    # The raw query string, not request.url: see OAuth.callback_url.
    session_id = await oauth.finish_login(
        request.query_string.decode("ascii", "replace"),
        state_cookie=request.cookies.get(STATE_COOKIE),
        old_session=request.cookies.get(SESSION_COOKIE),
    )
    response = redirect("/")
    response.set_cookie(
        SESSION_COOKIE, session_id, httponly=True, secure=oauth.secure_cookies, samesite="Lax"
    )
    response.delete_cookie(STATE_COOKIE)
    return response


@login_routes.get("/me")
async def me() -> Response:
    profile = await get_oauth().profile(request.cookies.get(SESSION_COOKIE))
    response = jsonify(profile)
    response.headers.update(SECURITY_HEADERS)
    return response


@login_routes.post("/logout")
async def logout() -> Response:
    await get_oauth().logout(request.cookies.get(SESSION_COOKIE))
    response = redirect("/")
    response.delete_cookie(SESSION_COOKIE)
    return response


@login_routes.app_errorhandler(anyoauth.OAuthError)
@login_routes.app_errorhandler(ApiError)
async def oauth_error(exc: Exception) -> Response:
    """Every anyoauth error (and ApiError) becomes a fixed page with the right status."""
    shown = failure(exc)
    return html_page(shown.status, shown.title, shown.text_html)


def create_app(app_class: type[Quart] = Quart) -> Quart:
    """A ``Quart`` app (or ``QuartTrio``, for trio) with the login routes."""
    app = app_class(__name__)
    app.register_blueprint(login_routes)
    return app


app = create_app()
