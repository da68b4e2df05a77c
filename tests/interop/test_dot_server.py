"""Smoke tests of the django-oauth-toolkit test server, with raw httpx.

They check the server and the browser helpers the interop tests build on, not
anyoauth's client: requests are made by hand, and the loopback redirect is received
by anyoauth's ``LoopbackAgent`` only. They also pin the toolkit's behaviour that
clients meet (see the comments marked "DOT:").
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, quote_plus, urlencode, urlsplit

import anyio
import httpx
import pytest

import anyoauth
from anyoauth.agents import LoopbackAgent
from interop.browser import BrowserFlowError, dot_browser, dot_device_approver
from interop.dot import DotApp, DotServer

pytestmark = pytest.mark.anyio

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(follow_redirects=False, timeout=10.0) as client:
        yield client


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified (the signature is not what these tests check)."""
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def fragment_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).fragment).items()}


def form_encoded_basic(client_id: str, client_secret: str) -> str:
    """RFC 6749 2.3.1: both halves form-encoded, then Basic."""
    raw = f"{quote_plus(client_id)}:{quote_plus(client_secret)}"
    return "Basic " + base64.b64encode(raw.encode()).decode("ascii")


def secret_of(app: DotApp) -> str:
    assert app.client_secret is not None
    return app.client_secret


async def browser_login(
    chromium_path: str,
    server: DotServer,
    app: DotApp,
    params: dict[str, str],
    *,
    deny: bool = False,
) -> tuple[str, str]:
    """Send Chromium through the authorization endpoint to a loopback listener; return
    the redirect URI used and the URL the server redirected to."""
    agent = LoopbackAgent(open_browser=dot_browser(chromium_path, server, deny=deny), timeout=60)
    strategy = anyoauth.Strategy(
        client_id=app.client_id,
        authorization_endpoint=server.authorization_endpoint,
        token_endpoint=server.token_endpoint,
        redirect_uri="http://127.0.0.1/callback",
        allow_insecure=True,
    )
    async with agent.session(strategy) as session:
        query = {"client_id": app.client_id, "redirect_uri": session.redirect_uri, **params}
        url = f"{server.authorization_endpoint}?{urlencode(query)}"
        return session.redirect_uri, await session.authorize(url)


def pkce() -> tuple[str, dict[str, str]]:
    verifier = secrets.token_urlsafe(48)
    challenge = b64url(hashlib.sha256(verifier.encode()).digest())
    return verifier, {"code_challenge": challenge, "code_challenge_method": "S256"}


# -- discovery ------------------------------------------------------------------------


async def test_rfc8414_metadata(dot_server: DotServer, client: httpx.AsyncClient) -> None:
    base = dot_server.base_url
    assert dot_server.issuer == base
    assert dot_server.metadata_url == f"{base}/.well-known/oauth-authorization-server"
    response = await client.get(dot_server.metadata_url)
    assert response.status_code == 200
    doc = response.json()
    assert doc["issuer"] == base
    assert doc["authorization_endpoint"] == f"{base}/authorize/"
    assert doc["token_endpoint"] == f"{base}/token/"
    assert doc["revocation_endpoint"] == f"{base}/revoke_token/"
    assert doc["introspection_endpoint"] == f"{base}/introspect/"
    assert doc["jwks_uri"] == f"{base}/.well-known/jwks.json"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert set(doc["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
    }
    assert DEVICE_GRANT in doc["grant_types_supported"]
    # DOT: the device authorization endpoint is not advertised (neither here nor in
    # the OpenID configuration); clients must be told it.
    assert "device_authorization_endpoint" not in doc
    assert dot_server.endpoints["device_authorization"] == f"{base}/device-authorization/"


async def test_openid_configuration_and_jwks(
    dot_server: DotServer, client: httpx.AsyncClient
) -> None:
    response = await client.get(dot_server.openid_configuration_url)
    assert response.status_code == 200
    doc = response.json()
    assert doc["issuer"] == dot_server.issuer
    assert doc["token_endpoint"] == dot_server.token_endpoint
    assert doc["userinfo_endpoint"] == dot_server.userinfo_endpoint
    assert doc["authorization_response_iss_parameter_supported"] is True
    keys = (await client.get(doc["jwks_uri"])).json()["keys"]
    assert [(k["kty"], k["alg"], k["use"]) for k in keys] == [("RSA", "RS256", "sig")]


async def test_path_issuer_metadata(
    dot_server_path_issuer: DotServer, client: httpx.AsyncClient
) -> None:
    server = dot_server_path_issuer
    base, issuer = server.base_url, server.issuer
    assert issuer == f"{base}/o"
    # RFC 8414 3.1: the well-known segment goes between the host and the issuer's path;
    # DOT also serves the OIDC-style form (issuer + /.well-known/...).
    for url in (
        f"{base}/.well-known/oauth-authorization-server/o",
        f"{issuer}/.well-known/oauth-authorization-server",
        f"{issuer}/.well-known/openid-configuration",
    ):
        response = await client.get(url)
        assert response.status_code == 200, url
        doc = response.json()
        assert doc["issuer"] == issuer, url
        assert doc["token_endpoint"] == f"{issuer}/token/", url
        assert doc["authorization_endpoint"] == server.authorization_endpoint, url
    assert server.metadata_url == f"{base}/.well-known/oauth-authorization-server/o"
    assert (await client.get(f"{base}/.well-known/openid-configuration")).status_code == 404


# -- client credentials, introspection, revocation -------------------------------------


async def test_client_credentials_introspection_and_revocation(
    dot_server: DotServer, client: httpx.AsyncClient
) -> None:
    service = dot_server.apps["service"]
    resource_server = dot_server.apps["resource-server"]
    response = await client.post(
        dot_server.token_endpoint,
        data={"grant_type": "client_credentials", "scope": "read"},
        auth=(service.client_id, secret_of(service)),
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    token = response.json()
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == dot_server.access_token_lifetime
    assert token["scope"] == "read"
    assert "refresh_token" not in token
    access_token = token["access_token"]

    # Introspection: a confidential client's credentials (Basic or in the body) ...
    rs_auth = (resource_server.client_id, secret_of(resource_server))
    response = await client.post(
        dot_server.introspection_endpoint, data={"token": access_token}, auth=rs_auth
    )
    assert response.status_code == 200
    info = response.json()
    assert info["active"] is True
    assert info["client_id"] == service.client_id
    assert info["scope"] == "read"
    assert isinstance(info["exp"], int)
    # ... or a bearer token with the "introspection" scope; nothing else.
    response = await client.post(
        dot_server.token_endpoint,
        data={"grant_type": "client_credentials", "scope": "introspection"},
        auth=rs_auth,
    )
    introspector = response.json()["access_token"]
    response = await client.post(
        dot_server.introspection_endpoint,
        data={"token": access_token},
        headers={"Authorization": f"Bearer {introspector}"},
    )
    assert response.json()["active"] is True
    for headers in ({}, {"Authorization": f"Bearer {access_token}"}):
        response = await client.post(
            dot_server.introspection_endpoint, data={"token": access_token}, headers=headers
        )
        assert response.status_code == 403  # DOT: 403 with an empty body, not 401

    # Revocation (RFC 7009): 200 with an empty body, for unknown tokens too.
    service_auth = (service.client_id, secret_of(service))
    for value in (access_token, "no-such-token"):
        response = await client.post(
            dot_server.revocation_endpoint, data={"token": value}, auth=service_auth
        )
        assert (response.status_code, response.content) == (200, b"")
    response = await client.post(
        dot_server.introspection_endpoint, data={"token": access_token}, auth=rs_auth
    )
    assert response.json() == {"active": False}


async def test_basic_credentials_are_form_decoded(
    dot_server: DotServer, client: httpx.AsyncClient
) -> None:
    app = dot_server.apps["service-special"]
    secret = secret_of(app)
    assert {"+", "%", ":", " "} <= set(secret)
    data = {"grant_type": "client_credentials"}
    # DOT form-decodes both halves of Basic credentials (RFC 6749 2.3.1), so they must
    # be form-encoded first; sent raw, "+" turns into a space and the secret is wrong.
    response = await client.post(dot_server.token_endpoint, data=data, auth=(app.client_id, secret))
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_client"}
    response = await client.post(
        dot_server.token_endpoint,
        data=data,
        headers={"Authorization": form_encoded_basic(app.client_id, secret)},
    )
    assert response.status_code == 200, response.text
    response = await client.post(
        dot_server.token_endpoint,
        data={**data, "client_id": app.client_id, "client_secret": secret},
    )
    assert response.status_code == 200, response.text


# -- authorization code with PKCE, in Chromium ----------------------------------------


async def test_authorization_code_with_pkce(
    dot_server: DotServer, chromium_path: str, client: httpx.AsyncClient
) -> None:
    app = dot_server.apps["code-public"]
    verifier, challenge = pkce()
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    params = {
        "response_type": "code",
        "scope": "openid profile read",
        "state": state,
        "nonce": nonce,
        **challenge,
    }
    redirect_uri, result = await browser_login(chromium_path, dot_server, app, params)
    assert result.startswith(redirect_uri + "?")
    received = query_of(result)
    assert received["state"] == state
    assert received["iss"] == dot_server.issuer  # RFC 9207

    exchange = {
        "grant_type": "authorization_code",
        "code": received["code"],
        "redirect_uri": redirect_uri,
        "client_id": app.client_id,
        "code_verifier": verifier,
    }
    response = await client.post(dot_server.token_endpoint, data=exchange)
    assert response.status_code == 200, response.text
    token = response.json()
    assert token["token_type"] == "Bearer"
    assert token["scope"] == "openid profile read"
    claims = jwt_claims(token["id_token"])
    assert claims["iss"] == dot_server.issuer
    assert claims["aud"] == app.client_id
    assert claims["nonce"] == nonce
    # A code works once.
    response = await client.post(dot_server.token_endpoint, data=exchange)
    assert (response.status_code, response.json()) == (400, {"error": "invalid_grant"})

    # Refresh: the refresh token rotates; the response has a new id_token (no nonce).
    refresh = {"grant_type": "refresh_token", "client_id": app.client_id}
    response = await client.post(
        dot_server.token_endpoint, data={**refresh, "refresh_token": token["refresh_token"]}
    )
    assert response.status_code == 200, response.text
    renewed = response.json()
    assert renewed["refresh_token"] != token["refresh_token"]
    assert renewed["scope"] == token["scope"]
    assert "nonce" not in jwt_claims(renewed["id_token"])
    response = await client.get(
        dot_server.userinfo_endpoint,
        headers={"Authorization": f"Bearer {renewed['access_token']}"},
    )
    assert response.status_code == 200
    assert response.json()["sub"] == claims["sub"]
    # Reusing the rotated-out refresh token fails and revokes the whole family.
    response = await client.post(
        dot_server.token_endpoint, data={**refresh, "refresh_token": token["refresh_token"]}
    )
    assert (response.status_code, response.json()) == (400, {"error": "invalid_grant"})
    response = await client.post(
        dot_server.token_endpoint, data={**refresh, "refresh_token": renewed["refresh_token"]}
    )
    assert (response.status_code, response.json()) == (400, {"error": "invalid_grant"})


async def test_pkce_is_required(
    dot_server: DotServer, chromium_path: str, client: httpx.AsyncClient
) -> None:
    app = dot_server.apps["code-confidential"]
    params = {"response_type": "code", "scope": "read", "state": "s1"}
    _, result = await browser_login(chromium_path, dot_server, app, params)
    received = query_of(result)
    assert received["error"] == "invalid_request"
    assert received["error_description"] == "Code challenge required."
    assert received["state"] == "s1"


async def test_confidential_client_and_denial(
    dot_server: DotServer, chromium_path: str, client: httpx.AsyncClient
) -> None:
    app = dot_server.apps["code-confidential"]
    verifier, challenge = pkce()
    params = {"response_type": "code", "scope": "read", "state": "s2", **challenge}
    _, result = await browser_login(chromium_path, dot_server, app, params, deny=True)
    # DOT: error redirects carry no "iss", though RFC 9207 asks for it there too.
    assert query_of(result) == {"error": "access_denied", "state": "s2"}

    redirect_uri, result = await browser_login(chromium_path, dot_server, app, params)
    exchange = {
        "grant_type": "authorization_code",
        "code": query_of(result)["code"],
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    response = await client.post(dot_server.token_endpoint, data=exchange)
    assert response.status_code == 401  # a confidential client must authenticate
    response = await client.post(
        dot_server.token_endpoint,
        data=exchange,
        headers={"Authorization": form_encoded_basic(app.client_id, secret_of(app))},
    )
    assert response.status_code == 200, response.text
    assert set(response.json()) >= {"access_token", "refresh_token", "expires_in"}


async def test_implicit_grant(dot_server: DotServer, chromium_path: str) -> None:
    app = dot_server.apps["implicit"]
    params = {"response_type": "token", "scope": "read", "state": "s3"}
    redirect_uri, result = await browser_login(chromium_path, dot_server, app, params)
    assert result.startswith(redirect_uri + "#")
    received = fragment_of(result)
    assert received["token_type"] == "Bearer"
    assert received["state"] == "s3"
    assert received["iss"] == dot_server.issuer
    assert received["access_token"]

    _, result = await browser_login(chromium_path, dot_server, app, params, deny=True)
    # DOT: the implicit grant's error comes in the query, not the fragment.
    assert query_of(result) == {"error": "access_denied", "state": "s3"}


async def test_unknown_client_shows_an_error_page(
    dot_server: DotServer, chromium_path: str
) -> None:
    app = DotApp("nobody", "no-such-client", None, "public", "authorization-code", ())
    with pytest.raises(anyoauth.AgentError) as caught:
        await browser_login(
            chromium_path, dot_server, app, {"response_type": "code", "state": "s4"}
        )
    assert isinstance(caught.value.__cause__, BrowserFlowError)
    assert "Invalid client_id parameter value" in str(caught.value.__cause__)


# -- device authorization grant -------------------------------------------------------


async def poll_device_token(
    server: DotServer, client: httpx.AsyncClient, app: DotApp, grant: dict[str, Any]
) -> tuple[httpx.Response, int]:
    """Poll the token endpoint every ``interval`` seconds until it stops answering
    ``authorization_pending``; return the last response and the number of polls."""
    polls = 0
    with anyio.fail_after(60):
        while True:
            await anyio.sleep(grant["interval"])
            polls += 1
            response = await client.post(
                server.token_endpoint,
                data={
                    "grant_type": DEVICE_GRANT,
                    "device_code": grant["device_code"],
                    "client_id": app.client_id,
                },
            )
            if response.json().get("error") != "authorization_pending":
                return response, polls


@pytest.mark.parametrize("deny", [False, True], ids=["accept", "deny"])
async def test_device_flow(
    dot_server: DotServer, chromium_path: str, client: httpx.AsyncClient, deny: bool
) -> None:
    app = dot_server.apps["device"]
    response = await client.post(
        dot_server.device_authorization_endpoint,
        data={"client_id": app.client_id, "scope": "openid read"},
    )
    assert response.status_code == 200, response.text
    grant = response.json()
    assert grant["interval"] == dot_server.device_interval == 1
    assert grant["verification_uri"] == dot_server.endpoints["device_verification"]
    assert grant["verification_uri_complete"].endswith(f"?user_code={grant['user_code']}")
    assert grant["expires_in"] > 0

    approve = dot_device_approver(chromium_path, dot_server, deny=deny)
    async with anyio.create_task_group() as tg:
        tg.start_soon(approve, grant["verification_uri"], grant["user_code"])
        response, polls = await poll_device_token(dot_server, client, app, grant)
    assert polls >= 2  # at least one authorization_pending first
    if deny:
        assert (response.status_code, response.json()) == (400, {"error": "access_denied"})
        return
    assert response.status_code == 200, response.text
    token = response.json()
    assert token["scope"] == "openid read"
    assert set(token) >= {"access_token", "refresh_token", "expires_in", "token_type"}
    assert "id_token" not in token  # DOT: none for the device grant, even with openid


async def test_device_flow_with_complete_uri_and_unknown_code(
    dot_server: DotServer, chromium_path: str, client: httpx.AsyncClient
) -> None:
    app = dot_server.apps["device"]
    grant = (
        await client.post(
            dot_server.device_authorization_endpoint, data={"client_id": app.client_id}
        )
    ).json()
    approve = dot_device_approver(chromium_path, dot_server)
    with pytest.raises(BrowserFlowError, match="Incorrect user code"):
        await approve(grant["verification_uri"], "WRONGCDE")
    await approve(grant["verification_uri_complete"], None)
    response, _ = await poll_device_token(dot_server, client, app, grant)
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "read write"  # the default scopes
    # DOT: an unknown device_code is a 404 with a non-standard error code.
    response = await client.post(
        dot_server.token_endpoint,
        data={"grant_type": DEVICE_GRANT, "device_code": "nope", "client_id": app.client_id},
    )
    assert (response.status_code, response.json()) == (404, {"error": "device_not_found"})
