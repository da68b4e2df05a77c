"""URLs of the django-oauth-toolkit test server.

The toolkit is mounted at the server root, or under ``settings.DOT_SERVER_PREFIX``
(then the issuer has that path, and the RFC 8414 document is also served where strict
clients look for it: ``/.well-known/oauth-authorization-server/<prefix>``). The login
page is ``/accounts/login/`` either way.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from oauth2_provider import views as dot_views


def profile(request: HttpRequest) -> HttpResponse:
    """Where a login without ``next`` lands."""
    return HttpResponse(f"Logged in as {request.user}.", content_type="text/plain")


_prefix: str = settings.DOT_SERVER_PREFIX

urlpatterns: list[Any] = [
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/profile/", profile, name="profile"),
]

if _prefix:
    urlpatterns += [
        path(
            f".well-known/oauth-authorization-server/{_prefix}",
            dot_views.OAuthServerMetadataView.as_view(),
            name="rfc8414-metadata",
        ),
        path(f"{_prefix}/", include("oauth2_provider.urls")),
    ]
else:
    urlpatterns += [path("", include("oauth2_provider.urls"))]
