"""Apple, Auth0, Okta, Slack, Discord, Dropbox, Salesforce and X as the emulator plays
them: each provider's own paths on the generic server, and the quirks of its answers.

As in :mod:`._provider_profiles`, the generic server does the OAuth work and each path
is a route to its handler, reshaped as the provider's documentation says:

* Apple (``/auth/authorize``, ``/auth/token``, ``/auth/keys``, ``/auth/revoke``): the
  client secret is an ES256 JWT checked against the key registered with
  :meth:`ProviderQuirks.register_apple_key` (``kid``, ``iss`` the team id, ``sub`` the
  client id, ``aud`` ``https://appleid.apple.com``, ``exp`` at most six months after
  ``iat`` and not past); an id_token is issued for ``name``/``email`` scopes (Apple needs
  no ``openid``); the first authorization of each client posts a ``user`` field
  (:attr:`ProviderQuirks.apple_user`), later ones do not; no ``iss`` in the answer.
* Auth0 (``/authorize``, ``/oauth/token``, ``/oauth/device/code``,
  ``/.well-known/jwks.json``, ``/userinfo``): clients that started there get id_tokens
  whose ``iss`` is the origin with a trailing ``/``.
* Okta (``/oauth2/v1/...`` of the org server, ``/oauth2/{server}/v1/...`` of a custom
  one: ``authorize``, ``token``, ``keys``, ``revoke``, ``introspect``, ``userinfo``,
  ``device/authorize``): id_tokens name the issuer of the server whose path issued them.
* Slack (``/oauth/v2/authorize``, ``/api/oauth.v2.access``): every error is HTTP 200
  with ``{"ok": false, "error": ...}``; success is ``ok: true`` with the bot token at the
  top level (``token_type`` ``bot``) or, with :attr:`ProviderQuirks.slack_token`
  ``"user"``, the user token under ``authed_user``; scopes comma-separated.
* Discord (``/oauth2/authorize``, ``/api/oauth2/token``, ``/api/oauth2/token/revoke``)
  and Dropbox (``/oauth2/authorize``, ``/oauth2/token``): no id_token, no ``iss``;
  Dropbox issues a refresh token only when the authorization asked for
  ``token_access_type=offline``, never a new one on refresh, and adds ``account_id``
  and ``uid``.
* Salesforce (``/services/oauth2/...``, ``/id/keys``): no ``expires_in``; ``issued_at``
  in milliseconds (:attr:`ProviderQuirks.salesforce_issued_at` replaces it),
  ``instance_url``, ``id`` and ``signature``; no new refresh token on refresh.
* X (``/i/oauth2/authorize``, ``/2/oauth2/token``, ``/2/oauth2/revoke``): PKCE is
  required; a refresh token only with ``offline.access``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode

import attrs

from ._toolkit import (
    EmulatorResponse,
    Handler,
    Reject,
    Request,
    Route,
    extra_claims,
    json_payload,
    oauth_error,
    with_payload,
    without_iss,
)

__all__ = [
    "APPLE_AUDIENCE",
    "ProviderQuirks",
    "QuirksHost",
    "more_provider_routes",
    "okta_route",
]

APPLE_AUDIENCE = "https://appleid.apple.com"
"""The ``aud`` Apple's client secret JWT must name."""
_APPLE_MAX_LIFETIME = 15_777_000
_DEFAULT_APPLE_USER = json.dumps(
    {"name": {"firstName": "Ada", "lastName": "Lovelace"}, "email": "ada@example.com"}
)


@attrs.define
class ProviderQuirks:
    """The emulated providers' knobs and records (:attr:`ProviderEmulator.provider_quirks`)."""

    apple_user: str = _DEFAULT_APPLE_USER
    """The ``user`` field Apple posts on a client's first authorization (JSON text,
    sent as given: a test may make it hostile)."""
    apple_secrets: list[str] = attrs.field(factory=list, repr=False)
    """Every Apple client secret JWT the token endpoint accepted, in order."""
    slack_token: str = "bot"
    """Which token Slack's exchange answers: ``"bot"`` (top level) or ``"user"``
    (under ``authed_user``)."""
    salesforce_issued_at: str | None = None
    """``issued_at`` Salesforce answers instead of the receipt time in milliseconds."""
    _apple_keys: dict[str, tuple[str, str, Any]] = attrs.field(factory=dict, repr=False)
    _apple_seen: set[str] = attrs.field(factory=set, repr=False)
    _auth0_clients: set[str] = attrs.field(factory=set, repr=False)
    _dropbox_offline: set[str] = attrs.field(factory=set, repr=False)

    def register_apple_key(
        self, client_id: str, *, team_id: str, key_id: str, public_key: Any
    ) -> None:
        """Accept client secrets of ``client_id`` signed by ``public_key`` (a JWK dict,
        PEM or joserfc EC key) under ``key_id`` for the team ``team_id``."""
        from joserfc.jwk import ECKey

        key = public_key if isinstance(public_key, ECKey) else ECKey.import_key(public_key)
        self._apple_keys[client_id] = (team_id, key_id, key)


class QuirksHost(Protocol):
    """What the provider routes need of the generic server."""

    id_token_claims: dict[str, object]
    silent_clients: set[str]
    response_extras: dict[str, list[tuple[str, str]]]
    quirks: ProviderQuirks
    clock: Callable[[], float]

    def client_secret_of(self, client_id: str) -> str | None: ...


def _form(request: Request) -> dict[str, str]:
    return dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))


def _client_of(request: Request) -> str:
    """The client id of a token request: from its Basic header or its form."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            pair = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (ValueError, binascii.Error):
            return ""
        return pair.partition(":")[0]
    return _form(request).get("client_id", "")


def _answer(handler: Handler, request: Request) -> EmulatorResponse:
    try:
        return handler(request)
    except Reject as refused:
        return refused.response


# -- Apple ----------------------------------------------------------------------------


def _apple_authorize(host: QuirksHost, handler: Handler) -> Handler:
    def answer(request: Request) -> EmulatorResponse:
        client_id = request.query.get("client_id", "")
        host.silent_clients.add(client_id)
        query = dict(request.query)
        scopes = query.get("scope", "").split()
        if {"name", "email"} & set(scopes) and "openid" not in scopes:
            query["scope"] = " ".join([*scopes, "openid"])  # Apple's id_token comes anyway
        if client_id and client_id not in host.quirks._apple_seen:
            host.quirks._apple_seen.add(client_id)
            host.response_extras[client_id] = [("user", host.quirks.apple_user)]
        return handler(attrs.evolve(request, query=query))

    return answer


def _apple_secret_refusal(host: QuirksHost, form: Mapping[str, str]) -> str | None:
    """Why the form's client secret JWT is refused, or ``None``."""
    from joserfc import jws
    from joserfc.errors import JoseError

    client_id = form.get("client_id", "")
    registered = host.quirks._apple_keys.get(client_id)
    secret = form.get("client_secret", "")
    if registered is None or not secret:
        return "unknown client or no client secret"
    team_id, key_id, key = registered
    try:
        header = json.loads(base64.urlsafe_b64decode(secret.split(".")[0] + "=="))
        compact = jws.deserialize_compact(secret, key, algorithms=["ES256"])
        claims = json.loads(compact.payload)
    except (JoseError, ValueError, IndexError, binascii.Error):
        return "the client secret is not an ES256 JWT signed by the registered key"
    now = host.clock()
    if header.get("kid") != key_id or header.get("alg") != "ES256":
        return "wrong kid or alg"
    if claims.get("iss") != team_id or claims.get("sub") != client_id:
        return "wrong iss or sub"
    if claims.get("aud") != APPLE_AUDIENCE:
        return "wrong aud"
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int) or not isinstance(exp, int):
        return "no iat or exp"
    if exp <= now or exp - iat > _APPLE_MAX_LIFETIME or iat > now + 60:
        return "expired, not yet valid or valid too long"
    return None


def _apple_client_auth(host: QuirksHost, handler: Handler, *, count: bool) -> Handler:
    """Check Apple's client secret JWT, then let the generic handler authenticate the
    client with its registered secret in the JWT's place."""

    def answer(request: Request) -> EmulatorResponse:
        form = _form(request)
        refusal = _apple_secret_refusal(host, form)
        if refusal is not None:
            return oauth_error(400, "invalid_client", refusal)
        if count:
            host.quirks.apple_secrets.append(form["client_secret"])
        form["client_secret"] = host.client_secret_of(form["client_id"]) or ""
        return handler(attrs.evolve(request, body=urlencode(form).encode()))

    return answer


# -- Auth0 ----------------------------------------------------------------------------


def _auth0_mark(host: QuirksHost, handler: Handler, *, query: bool) -> Handler:
    def answer(request: Request) -> EmulatorResponse:
        client_id = request.query.get("client_id") if query else _client_of(request)
        if client_id:
            host.quirks._auth0_clients.add(client_id)
            if query:  # Auth0's authorization responses carry no iss
                host.silent_clients.add(client_id)
        return handler(request)

    return answer


def _auth0_token(host: QuirksHost, handler: Handler) -> Handler:
    def answer(request: Request) -> EmulatorResponse:
        if _client_of(request) not in host.quirks._auth0_clients:
            return handler(request)
        with extra_claims(host, {"iss": request.base + "/"}):
            return handler(request)

    return answer


# -- Okta -----------------------------------------------------------------------------

_OKTA_ORG = re.compile(
    r"/oauth2/v1/(?P<rest>authorize|token|keys|revoke|introspect|userinfo|device/authorize)"
)
_OKTA_CUSTOM = re.compile(
    r"/oauth2/(?P<server>[A-Za-z0-9_-]{1,64})/v1/"
    r"(?P<rest>authorize|token|keys|revoke|introspect|userinfo|device/authorize)"
)
_OKTA_GENERIC = {
    "authorize": "/oauth/authorize",
    "token": "/oauth/token",
    "keys": "/oauth/jwks",
    "revoke": "/oauth/revoke",
    "introspect": "/oauth/introspect",
    "userinfo": "/oauth/userinfo",
    "device/authorize": "/oauth/device",
}


def okta_route(host: QuirksHost, generic: Mapping[str, Route], path: str) -> Route | None:
    """The Okta route of ``path`` (the org server's or a custom one's), or ``None``."""
    match = _OKTA_ORG.fullmatch(path) or _OKTA_CUSTOM.fullmatch(path)
    if match is None:
        return None
    server = match.groupdict().get("server")
    rest = match["rest"]
    route = generic[_OKTA_GENERIC[rest]]
    handler = route.handler
    if rest == "authorize":
        handler = without_iss(host, handler)
    elif rest == "token":
        inner = handler

        def handler(request: Request) -> EmulatorResponse:
            issuer = request.base if server is None else f"{request.base}/oauth2/{server}"
            with extra_claims(host, {"iss": issuer}):
                return inner(request)

    name = "okta." + rest.replace("/", "_")
    return Route(route.method, name, handler)


# -- Slack ----------------------------------------------------------------------------


def _slack_token(host: QuirksHost, handler: Handler) -> Handler:
    def answer(request: Request) -> EmulatorResponse:
        response = _answer(handler, request)
        payload = json_payload(response)
        if payload is None:
            return response
        if "error" in payload:
            return with_payload(response, {"ok": False, "error": payload["error"]}, 200)
        payload.pop("id_token", None)
        scope = " ".join(str(payload.pop("scope", "")).split())
        kind = host.quirks.slack_token
        refresh = _form(request).get("grant_type") == "refresh_token"
        token_fields: dict[str, Any] = {
            k: payload.pop(k)
            for k in ("access_token", "refresh_token", "expires_in")
            if k in payload
        }
        answer_: dict[str, Any] = {"ok": True, "app_id": "A0EMULATED", "team": {"id": "T0EMU"}}
        if refresh or kind == "bot":
            answer_.update(token_fields, token_type=kind, scope=",".join(scope.split()))
            if not refresh:
                answer_["bot_user_id"] = "U0BOT"
                answer_["authed_user"] = {"id": "U0USER"}
        else:
            answer_["authed_user"] = {
                "id": "U0USER",
                "scope": ",".join(scope.split()),
                "token_type": "user",
                **token_fields,
            }
        return with_payload(response, answer_, 200)

    return answer


# -- Discord, Dropbox -----------------------------------------------------------------


def _oauth2_authorize(host: QuirksHost, handler: Handler) -> Handler:
    def answer(request: Request) -> EmulatorResponse:
        client_id = request.query.get("client_id", "")
        host.silent_clients.add(client_id)
        if request.query.get("token_access_type") == "offline":
            host.quirks._dropbox_offline.add(client_id)
        else:
            host.quirks._dropbox_offline.discard(client_id)
        return handler(request)

    return answer


def _no_id_token(handler: Handler) -> Handler:
    def answer(request: Request) -> EmulatorResponse:
        response = handler(request)
        payload = json_payload(response)
        if payload is None or "id_token" not in payload:
            return response
        payload.pop("id_token")
        return with_payload(response, payload, response.status)

    return answer


def _dropbox_token(host: QuirksHost, handler: Handler) -> Handler:
    def answer(request: Request) -> EmulatorResponse:
        response = handler(request)
        payload = json_payload(response)
        if payload is None or "access_token" not in payload:
            return response
        refresh = _form(request).get("grant_type") == "refresh_token"
        if refresh or _client_of(request) not in host.quirks._dropbox_offline:
            payload.pop("refresh_token", None)
        payload.pop("id_token", None)
        payload.update(account_id="dbid:AAEMULATED", uid="12345")
        return with_payload(response, payload, response.status)

    return answer


# -- Salesforce -----------------------------------------------------------------------


def _salesforce_token(host: QuirksHost, handler: Handler) -> Handler:
    def answer(request: Request) -> EmulatorResponse:
        response = handler(request)
        payload = json_payload(response)
        if payload is None or "access_token" not in payload:
            return response
        payload.pop("expires_in", None)
        if _form(request).get("grant_type") == "refresh_token":
            payload.pop("refresh_token", None)
        issued = host.quirks.salesforce_issued_at
        payload["issued_at"] = str(int(host.clock() * 1000)) if issued is None else issued
        payload["instance_url"] = request.base
        payload["id"] = f"{request.base}/id/00D000000000001EAA/005000000000001AAA"
        payload["signature"] = base64.b64encode(b"emulated-signature").decode()
        return with_payload(response, payload, response.status)

    return answer


# -- X --------------------------------------------------------------------------------


def _x_authorize(host: QuirksHost, handler: Handler) -> Handler:
    def answer(request: Request) -> EmulatorResponse:
        host.silent_clients.add(request.query.get("client_id", ""))
        if "code_challenge" not in request.query:
            return oauth_error(400, "invalid_request", "PKCE is required (code_challenge).")
        return handler(request)

    return answer


def _x_token(handler: Handler) -> Handler:
    def answer(request: Request) -> EmulatorResponse:
        response = handler(request)
        payload = json_payload(response)
        if payload is None or "access_token" not in payload:
            return response
        payload.pop("id_token", None)
        if "offline.access" not in str(payload.get("scope", "")).split():
            payload.pop("refresh_token", None)
        return with_payload(response, payload, response.status)

    return answer


def more_provider_routes(host: QuirksHost, generic: Mapping[str, Route]) -> dict[str, Route]:
    """Apple's, Auth0's, Slack's, Discord's, Dropbox's, Salesforce's and X's exact
    paths (Okta's are variable: :func:`okta_route`), each a route to a generic handler
    whose answers are reshaped as the provider's are. Auth0's ``/oauth/token`` is the
    generic one, whose answers change only for clients that started on Auth0's paths."""

    def at(path: str, name: str, wrap: Callable[[Handler], Handler] | None = None) -> Route:
        route = generic[path]
        return Route(route.method, name, route.handler if wrap is None else wrap(route.handler))

    token = "/oauth/token"
    return {
        # Apple
        "/auth/authorize": at(
            "/oauth/authorize", "apple.authorize", lambda h: _apple_authorize(host, h)
        ),
        "/auth/token": at(token, "apple.token", lambda h: _apple_client_auth(host, h, count=True)),
        "/auth/keys": at("/oauth/jwks", "apple.keys"),
        "/auth/revoke": at(
            "/oauth/revoke", "apple.revoke", lambda h: _apple_client_auth(host, h, count=False)
        ),
        # Auth0
        "/authorize": at(
            "/oauth/authorize", "auth0.authorize", lambda h: _auth0_mark(host, h, query=True)
        ),
        token: at(token, "oauth.token", lambda h: _auth0_token(host, h)),
        "/oauth/device/code": at(
            "/oauth/device", "auth0.device_code", lambda h: _auth0_mark(host, h, query=False)
        ),
        "/.well-known/jwks.json": at("/oauth/jwks", "auth0.jwks"),
        "/userinfo": at("/oauth/userinfo", "auth0.userinfo"),
        # Slack
        "/oauth/v2/authorize": at(
            "/oauth/authorize", "slack.authorize", lambda h: without_iss(host, h)
        ),
        "/api/oauth.v2.access": at(token, "slack.access", lambda h: _slack_token(host, h)),
        # Discord and Dropbox (one authorization path)
        "/oauth2/authorize": at(
            "/oauth/authorize", "oauth2.authorize", lambda h: _oauth2_authorize(host, h)
        ),
        "/api/oauth2/token": at(token, "discord.token", _no_id_token),
        "/api/oauth2/token/revoke": at("/oauth/revoke", "discord.revoke"),
        "/oauth2/token": at(token, "dropbox.token", lambda h: _dropbox_token(host, h)),
        # Salesforce
        "/services/oauth2/authorize": at(
            "/oauth/authorize", "salesforce.authorize", lambda h: without_iss(host, h)
        ),
        "/services/oauth2/token": at(
            token, "salesforce.token", lambda h: _salesforce_token(host, h)
        ),
        "/services/oauth2/revoke": at("/oauth/revoke", "salesforce.revoke"),
        "/services/oauth2/introspect": at("/oauth/introspect", "salesforce.introspect"),
        "/services/oauth2/userinfo": at("/oauth/userinfo", "salesforce.userinfo"),
        "/id/keys": at("/oauth/jwks", "salesforce.keys"),
        # X
        "/i/oauth2/authorize": at(
            "/oauth/authorize", "x.authorize", lambda h: _x_authorize(host, h)
        ),
        "/2/oauth2/token": at(token, "x.token", _x_token),
        "/2/oauth2/revoke": at("/oauth/revoke", "x.revoke"),
    }
