"""Google, Microsoft Entra ID, GitHub and GitLab as the emulator plays them: each
provider's own paths on the generic server, and the quirks of its answers.

The generic server (:mod:`._oauth_server`) does the OAuth work; each provider's paths
are routes to its handlers whose answers are reshaped as the provider's documentation
says its answers are (the path chooses the provider, so one emulator plays them all):

* Google (``/o/oauth2/v2/auth``, ``/token``, ``/device/code``, ``/oauth2/v3/certs``,
  ``/revoke``, ``/v1/userinfo``): the device answer names ``verification_url`` (no
  ``verification_uri``, no ``verification_uri_complete``); a pending device poll is
  HTTP 428; id_tokens name the issuer without its scheme (Google's
  ``accounts.google.com`` form).
* Microsoft Entra ID (``/{tenant}/oauth2/v2.0/authorize``, ``.../token``,
  ``.../devicecode``, ``/{tenant}/discovery/v2.0/keys``,
  ``/{tenant}/v2.0/.well-known/openid-configuration``): the metadata's issuer is the
  template ``{base}/{tenantid}/v2.0``; id_tokens carry the signing-in user's ``tid``
  (:attr:`ProfileHost.entra_tenant`, or the personal-accounts tenant under
  ``consumers``) and ``iss`` that template filled with it; authorization responses
  carry no ``iss``.
* GitHub (``/login/oauth/authorize``, ``/login/oauth/access_token``,
  ``/login/device/code``): answers are form-encoded unless the request's ``Accept``
  names ``application/json``; errors come with HTTP 200; ``scope`` is
  comma-separated; a refresh token comes with ``refresh_token_expires_in``; no
  id_token; authorization responses carry no ``iss``.
* GitLab (the generic ``/oauth/...`` paths, plus ``/oauth/authorize_device`` and
  ``/oauth/discovery/keys``): the standard answers, refresh tokens rotating.

User-set id_token claims (``oauth_id_token_claims``) still override the provider's, so
a test can forge an Entra token whose ``iss`` names another tenant than its ``tid``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Protocol
from urllib.parse import urlencode

import attrs

from ._toolkit import (
    EmulatorResponse,
    Handler,
    Reject,
    Request,
    Route,
    extra_claims,
    json_payload,
    with_payload,
    without_iss,
)

__all__ = [
    "ENTRA_CONSUMERS_TID",
    "ENTRA_DEFAULT_TID",
    "GITHUB_REFRESH_TOKEN_EXPIRES_IN",
    "ProfileHost",
    "entra_route",
    "provider_routes",
]

ENTRA_DEFAULT_TID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
"""The tenant of the emulated Entra ID user unless a test names another."""
ENTRA_CONSUMERS_TID = "9188040d-6c67-4c5b-b112-36a304b66dad"
"""Entra ID's tenant of personal Microsoft accounts."""
GITHUB_REFRESH_TOKEN_EXPIRES_IN = 15_897_600
"""GitHub's refresh token lifetime for expiring user tokens: six months, in seconds."""

_ENTRA_PATH = re.compile(
    r"/(?P<tenant>[A-Za-z0-9][A-Za-z0-9.-]{0,99})"
    r"(?P<rest>/oauth2/v2\.0/(?:authorize|token|devicecode)|/discovery/v2\.0/keys"
    r"|/v2\.0/\.well-known/openid-configuration)"
)


class ProfileHost(Protocol):
    """What the provider routes need of the generic server."""

    id_token_claims: dict[str, object]
    entra_tenant: str
    silent_clients: set[str]


# -- Google ---------------------------------------------------------------------------


def _google_token(host: ProfileHost, handler: Handler) -> Handler:
    def answer(request: Request) -> EmulatorResponse:
        bare = request.base.split("://", 1)[-1]
        with extra_claims(host, {"iss": bare}):
            response = handler(request)
        payload = json_payload(response)
        if payload is not None and payload.get("error") == "authorization_pending":
            return attrs.evolve(response, status=428)
        return response

    return answer


def _google_device(handler: Handler) -> Handler:
    def answer(request: Request) -> EmulatorResponse:
        response = handler(request)
        payload = json_payload(response)
        if response.status != 200 or payload is None:
            return response
        payload["verification_url"] = payload.pop("verification_uri")
        payload.pop("verification_uri_complete", None)
        return with_payload(response, payload, 200)

    return answer


# -- GitHub ---------------------------------------------------------------------------


def _github(handler: Handler) -> Handler:
    def answer(request: Request) -> EmulatorResponse:
        try:
            response = handler(request)
        except Reject as refused:  # client authentication failed: GitHub says so at 200
            response = refused.response
        payload = json_payload(response)
        if payload is None:
            return response
        if isinstance(payload.get("scope"), str):
            payload["scope"] = ",".join(payload["scope"].split())
        if "refresh_token" in payload:
            payload["refresh_token_expires_in"] = GITHUB_REFRESH_TOKEN_EXPIRES_IN
        payload.pop("id_token", None)
        status = 200 if "error" in payload else response.status
        if "application/json" in request.headers.get("accept", ""):
            return with_payload(response, payload, status)
        headers = tuple(
            (k, "application/x-www-form-urlencoded; charset=utf-8")
            if k.lower() == "content-type"
            else (k, v)
            for k, v in response.headers
        )
        body = urlencode([(k, str(v)) for k, v in payload.items()]).encode()
        return EmulatorResponse(status=status, headers=headers, body=body)

    return answer


# -- Entra ID -------------------------------------------------------------------------


def _entra_tid(host: ProfileHost, tenant: str) -> str:
    return ENTRA_CONSUMERS_TID if tenant.lower() == "consumers" else host.entra_tenant


def _entra_token(host: ProfileHost, tenant: str, handler: Handler) -> Handler:
    def answer(request: Request) -> EmulatorResponse:
        tid = _entra_tid(host, tenant)
        with extra_claims(host, {"iss": f"{request.base}/{tid}/v2.0", "tid": tid}):
            return handler(request)

    return answer


def _entra_metadata(tenant: str, handler: Handler) -> Handler:
    def answer(request: Request) -> EmulatorResponse:
        response = handler(request)
        payload = json_payload(response)
        if payload is None:
            return response
        prefix = f"{request.base}/{tenant}"
        named = {
            "authorization_endpoint": "/oauth2/v2.0/authorize",
            "token_endpoint": "/oauth2/v2.0/token",
            "device_authorization_endpoint": "/oauth2/v2.0/devicecode",
            "jwks_uri": "/discovery/v2.0/keys",
        }
        document = {k: v for k, v in payload.items() if k not in named}
        document.update({k: prefix + v for k, v in named.items()})
        document["issuer"] = f"{request.base}/{{tenantid}}/v2.0"
        document["authorization_response_iss_parameter_supported"] = False
        for name in ("pushed_authorization_request_endpoint", "mtls_endpoint_aliases"):
            document.pop(name, None)
        document["require_pushed_authorization_requests"] = False
        return with_payload(response, document, response.status)

    return answer


def entra_route(host: ProfileHost, generic: Mapping[str, Route], path: str) -> Route | None:
    """The Entra ID route of ``path`` (its tenant in the path), or ``None``."""
    match = _ENTRA_PATH.fullmatch(path)
    if match is None:
        return None
    tenant, rest = match["tenant"], match["rest"]
    by_suffix: dict[str, tuple[str, Callable[[Route], Handler]]] = {
        "/oauth2/v2.0/authorize": ("/oauth/authorize", lambda r: without_iss(host, r.handler)),
        "/oauth2/v2.0/token": ("/oauth/token", lambda r: _entra_token(host, tenant, r.handler)),
        "/oauth2/v2.0/devicecode": ("/oauth/device", lambda r: r.handler),
        "/discovery/v2.0/keys": ("/oauth/jwks", lambda r: r.handler),
        "/v2.0/.well-known/openid-configuration": (
            "/.well-known/openid-configuration",
            lambda r: _entra_metadata(tenant, r.handler),
        ),
    }
    inner, wrap = by_suffix[rest]
    route = generic[inner]
    name = "entra." + route.name.removeprefix("oauth.")
    return Route(route.method, name, wrap(route))


def provider_routes(host: ProfileHost, generic: Mapping[str, Route]) -> dict[str, Route]:
    """Google's, GitHub's and GitLab's exact paths, each a route to a generic handler
    whose answers are reshaped as the provider's are."""

    def at(path: str, name: str, handler: Handler | None = None) -> Route:
        route = generic[path]
        return Route(route.method, name, handler or route.handler)

    return {
        "/o/oauth2/v2/auth": at("/oauth/authorize", "google.authorize"),
        "/token": at(
            "/oauth/token", "google.token", _google_token(host, generic["/oauth/token"].handler)
        ),
        "/device/code": at(
            "/oauth/device", "google.device", _google_device(generic["/oauth/device"].handler)
        ),
        "/oauth2/v3/certs": at("/oauth/jwks", "google.certs"),
        "/revoke": at("/oauth/revoke", "google.revoke"),
        "/v1/userinfo": at("/oauth/userinfo", "google.userinfo"),
        "/login/oauth/authorize": at(
            "/oauth/authorize",
            "github.authorize",
            without_iss(host, generic["/oauth/authorize"].handler),
        ),
        "/login/oauth/access_token": at(
            "/oauth/token", "github.access_token", _github(generic["/oauth/token"].handler)
        ),
        "/login/device/code": at(
            "/oauth/device", "github.device_code", _github(generic["/oauth/device"].handler)
        ),
        "/oauth/authorize_device": at("/oauth/device", "gitlab.authorize_device"),
        "/oauth/discovery/keys": at("/oauth/jwks", "gitlab.discovery_keys"),
    }
