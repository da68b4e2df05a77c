"""OAuth 2.0 login in a Django project whose workers share Redis (docs/recipes/django_wsgi.md).

A whole project in one module: its settings, URLs, views and WSGI application. Copy
this file, ``oauth_wsgi.py`` and ``oauth_web.py``, set the environment, and run it::

    export OAUTH_ISSUER=https://login.example.com OAUTH_CLIENT_ID=web \\
        OAUTH_CLIENT_SECRET=... OAUTH_REDIRECT_URI=https://app.example.com/callback \\
        REDIS_URL=redis://cache.internal:6379/0 DJANGO_ALLOWED_HOSTS=app.example.com
    gunicorn --workers 4 --threads 8 django_wsgi_app:app

In a project of your own, the views and the middleware go in an app, the settings in
``settings.py``, and ``SyncOAuth.open()`` in the app's ``AppConfig.ready()``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable

import django
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import path
from django.views.decorators.http import require_GET, require_POST

import anyoauth
from oauth_web import (
    HOME_LOGGED_IN,
    HOME_LOGGED_OUT,
    LOGIN_SECONDS,
    SECURITY_HEADERS,
    SESSION_COOKIE,
    STATE_COOKIE,
    ApiError,
    failure,
    page_html,
)
from oauth_wsgi import SyncOAuth

settings.configure(
    DEBUG=False,
    # Django signs nothing here (the session is anyoauth's, in Redis): a fresh key will do.
    SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50),
    ALLOWED_HOSTS=os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(","),
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[f"{__name__}.OAuthErrors"],
    INSTALLED_APPS=[],
)
django.setup()
oauth = SyncOAuth.open()  # per worker: discovery, the Redis store, the HTTP clients


class HttpResponseSeeOther(HttpResponseRedirect):
    status_code = 303


def see_other(url: str) -> HttpResponse:
    return HttpResponseSeeOther(url, headers=SECURITY_HEADERS)


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    text = HOME_LOGGED_IN if request.COOKIES.get(SESSION_COOKIE) else HOME_LOGGED_OUT
    return HttpResponse(page_html("Welcome", text), headers=SECURITY_HEADERS)


@require_GET
def login(request: HttpRequest) -> HttpResponse:
    start = oauth.start_login()
    response = see_other(start.url)
    response.set_cookie(
        STATE_COOKIE,
        start.state,
        max_age=LOGIN_SECONDS,
        httponly=True,
        secure=oauth.secure_cookies,
        samesite="Lax",  # sent along on the provider's top-level redirect back to us
    )
    return response


@require_GET
def callback(request: HttpRequest) -> HttpResponse:
    # The raw query string, not build_absolute_uri(): behind a proxy that is the
    # internal URL; the flow needs the registered redirect URI.
    session_id = oauth.finish_login(
        request.META.get("QUERY_STRING", ""),
        state_cookie=request.COOKIES.get(STATE_COOKIE),
        old_session=request.COOKIES.get(SESSION_COOKIE),
    )
    response = see_other("/")
    response.set_cookie(
        SESSION_COOKIE, session_id, httponly=True, secure=oauth.secure_cookies, samesite="Lax"
    )
    response.delete_cookie(STATE_COOKIE)
    return response


@require_GET
def me(request: HttpRequest) -> HttpResponse:
    profile = oauth.profile(request.COOKIES.get(SESSION_COOKIE))
    return JsonResponse(profile, headers=SECURITY_HEADERS)


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    oauth.logout(request.COOKIES.get(SESSION_COOKIE))
    response = see_other("/")
    response.delete_cookie(SESSION_COOKIE)
    return response


class OAuthErrors:
    """Middleware: every anyoauth error (and ApiError) becomes a fixed page with the
    right status."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if not isinstance(exc, anyoauth.OAuthError | ApiError):
            return None
        shown = failure(exc)
        content = page_html(shown.title, shown.text_html)
        return HttpResponse(content, status=shown.status, headers=SECURITY_HEADERS)


urlpatterns = [
    path("", home),
    path("login", login),
    path("callback", callback),
    path("me", me),
    path("logout", logout),
]

app = WSGIHandler()  # what django.core.wsgi.get_wsgi_application() returns after setup()
