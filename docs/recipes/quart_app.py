"""OAuth 2.0 login in a Quart app whose workers share Redis (docs/recipes/quart.md).

Copy this file and ``oauth_web.py``, set the environment (see ``oauth_web.Settings``),
and run it::

    hypercorn --workers 4 quart_app:app                          # asyncio
    hypercorn --worker-class trio --workers 4 quart_trio_app:app  # trio (quart-trio)

The routes are a blueprint so that the same code serves a ``Quart`` app on asyncio
and a ``QuartTrio`` app on trio (``quart_trio_app.py``). anyoauth's login component
serves ``/login``, ``/callback`` and ``POST /logout`` in front of the app.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from quart import Blueprint, Quart, Response, jsonify, request

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
login_routes = Blueprint("login", __name__)


@login_routes.while_app_serving
async def oauth_lifespan() -> AsyncGenerator[None, None]:
    """Per worker: discover the provider; close the store and HTTP client at the end."""
    async with web.running():
        yield


def html_page(status: int, text_html: str, headers: dict[str, str]) -> Response:
    return Response(text_html, status=status, headers=headers, mimetype="text/html")


@login_routes.get("/")
async def home() -> Response:
    text = HOME_LOGGED_IN if web.login.session_id(request) else HOME_LOGGED_OUT
    return html_page(200, page_html("Welcome", text), SECURITY_HEADERS)


@login_routes.get("/me")
async def me() -> Response:
    response = jsonify(await web.profile(request))
    response.headers.update(SECURITY_HEADERS)
    return response


@login_routes.app_errorhandler(anyoauth.OAuthError)
@login_routes.app_errorhandler(ApiError)
async def oauth_error(exc: Exception) -> Response:
    """Every anyoauth error (and ApiError) becomes a fixed page with the right status."""
    page = web.login.error_page(exc, request)
    return html_page(page.status, page.html, dict(page.headers))


def create_app(app_class: type[Quart] = Quart) -> Quart:
    """A ``Quart`` app (or ``QuartTrio``, for trio) with the login in front of it."""
    app = app_class(__name__)
    app.register_blueprint(login_routes)
    app.asgi_app = web.login.wrap(app.asgi_app)  # type: ignore[method-assign]
    return app


app = create_app()
