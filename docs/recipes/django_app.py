"""OAuth 2.0 login in a Django app served by Django's ASGI handler, workers sharing
Redis (docs/recipes/django.md).

One file for the example: settings, URLs and views. Copy it and ``oauth_web.py``, set
the environment (see ``oauth_web.Settings``, and ``DJANGO_SECRET_KEY``), and run it::

    uvicorn django_app:app --workers 4

anyoauth's login component serves ``/login``, ``/callback`` and ``POST /logout`` in
front of Django; the async views get the user's token from ``web.login``. Django's
ASGI handler runs on asyncio only.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Awaitable, Callable

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    ROOT_URLCONF=__name__,
    ALLOWED_HOSTS=os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(","),
    SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(32),
    MIDDLEWARE=["django.middleware.security.SecurityMiddleware"],
)
django.setup()

from django.core.asgi import get_asgi_application  # noqa: E402 (after settings)
from django.http import HttpRequest, HttpResponse, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402

import anyoauth  # noqa: E402
from oauth_web import (  # noqa: E402
    HOME_LOGGED_IN,
    HOME_LOGGED_OUT,
    SECURITY_HEADERS,
    ApiError,
    page_html,
    web_login,
)

web = web_login()
View = Callable[[HttpRequest], Awaitable[HttpResponse]]


def oauth_pages(view: View) -> View:
    """Every anyoauth error (and ApiError) becomes a fixed page with the right status
    (Django would answer 500 and log a traceback)."""

    async def answered(request: HttpRequest) -> HttpResponse:
        try:
            return await view(request)
        except (anyoauth.OAuthError, ApiError) as exc:
            page = web.login.error_page(exc, request)
            return HttpResponse(page.html, status=page.status, headers=page.headers)

    return answered


async def home(request: HttpRequest) -> HttpResponse:
    text = HOME_LOGGED_IN if web.login.session_id(request) else HOME_LOGGED_OUT
    return HttpResponse(page_html("Welcome", text), headers=SECURITY_HEADERS)


@oauth_pages
async def me(request: HttpRequest) -> HttpResponse:
    return JsonResponse(await web.profile(request), headers=SECURITY_HEADERS)


urlpatterns = [path("", home), path("me", me)]
app = web.login.wrap(get_asgi_application())  # /login, /callback, POST /logout first
