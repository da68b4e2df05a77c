"""OAuth 2.0 login in a Flask app whose workers share Redis (docs/recipes/flask.md).

Copy this file, ``oauth_wsgi.py`` and ``oauth_web.py``, set the environment, and run it::

    export OAUTH_ISSUER=https://login.example.com OAUTH_CLIENT_ID=web \\
        OAUTH_CLIENT_SECRET=... OAUTH_REDIRECT_URI=https://app.example.com/callback \\
        REDIS_URL=redis://cache.internal:6379/0
    gunicorn --workers 4 --threads 8 flask_app:app

``/login`` starts a login and sends the browser to the provider, ``/callback``
finishes it in whichever worker it lands on, ``/me`` calls the API with the
session's token, ``POST /logout`` forgets it.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, make_response, request

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

# The development server's access log would write each callback URL, code included.
logging.getLogger("werkzeug").setLevel(logging.WARNING)

app = Flask(__name__)
oauth = SyncOAuth.open()  # per worker: discovery, the Redis store, the HTTP clients


def see_other(url: str) -> Response:
    return Response(status=303, headers={"Location": url, **SECURITY_HEADERS})


@app.get("/")
def home() -> Response:
    text = HOME_LOGGED_IN if request.cookies.get(SESSION_COOKIE) else HOME_LOGGED_OUT
    return make_response(page_html("Welcome", text), 200, SECURITY_HEADERS)


@app.get("/login")
def login() -> Response:
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


@app.get("/callback")
def callback() -> Response:
    # The raw query string, not request.url: behind a proxy the URL is the internal one.
    session_id = oauth.finish_login(
        request.query_string.decode("latin-1"),
        state_cookie=request.cookies.get(STATE_COOKIE),
        old_session=request.cookies.get(SESSION_COOKIE),
    )
    response = see_other("/")
    response.set_cookie(
        SESSION_COOKIE, session_id, httponly=True, secure=oauth.secure_cookies, samesite="Lax"
    )
    response.delete_cookie(STATE_COOKIE)
    return response


@app.get("/me")
def me() -> Response:
    response = jsonify(oauth.profile(request.cookies.get(SESSION_COOKIE)))
    response.headers.update(SECURITY_HEADERS)
    return response


@app.post("/logout")
def logout() -> Response:
    oauth.logout(request.cookies.get(SESSION_COOKIE))
    response = see_other("/")
    response.delete_cookie(SESSION_COOKIE)
    return response


@app.errorhandler(anyoauth.OAuthError)
@app.errorhandler(ApiError)
def oauth_error(exc: Exception) -> Response:
    """Every anyoauth error (and ApiError) becomes a fixed page with the right status."""
    shown = failure(exc)
    return make_response(page_html(shown.title, shown.text_html), shown.status, SECURITY_HEADERS)
