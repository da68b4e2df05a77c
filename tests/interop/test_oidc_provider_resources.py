"""Resource indicators (RFC 8707) against panva's oidc-provider, a certified server we did
not write: an OpenID Connect code + PKCE login naming a resource gets a JWT access token
whose ``aud`` is the resource (the resource goes to the token request too, as the server
needs with ``openid``), its refresh keeps it, several authorized resources need
``token_resource`` to name the one a token is for, and client credentials take one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

import anyoauth
from anyoauth import AuthorizationCode, Client, ClientCredentials, discover
from interop.op import OTHER_RESOURCE_SERVER, REDIRECT_URI, RESOURCE_SERVER, OpServer
from interop.op_user import ScriptedUser

pytestmark = pytest.mark.anyio


@pytest.fixture
async def http(http_module: ModuleType) -> AsyncIterator[Any]:
    async with http_module.AsyncClient(follow_redirects=False, timeout=20.0) as client:
        yield client


async def claims_of(http: Any, server: OpServer, access_token: str) -> dict[str, Any]:
    """The claims of a JWT access token, its signature verified with the server's keys."""
    keys = KeySet.import_key_set((await http.get(server.jwks_uri)).json())
    token = jwt.decode(access_token, keys, algorithms=["RS256", "PS256", "ES256", "EdDSA"])
    return dict(token.claims)


async def web_login_strategy(http: Any, server: OpServer, **settings: Any) -> AuthorizationCode:
    client = server.clients["basic"]
    return AuthorizationCode.from_metadata(
        await discover(server.issuer, http=http),
        client_id=client.client_id,
        client_secret=client.client_secret,
        redirect_uri=REDIRECT_URI,
        **settings,
    )


async def test_an_openid_login_for_a_resource_gets_a_jwt_for_it_and_refresh_keeps_it(
    op_server_resources: OpServer, http_module: ModuleType, http: Any
) -> None:
    server = op_server_resources
    strategy = await web_login_strategy(http, server, scope="openid read", resource=RESOURCE_SERVER)
    async with Client(strategy, http=http) as client:
        token = await client.login(ScriptedUser(http_module))
        assert token.id_token_claims is not None
        claims = await claims_of(http, server, token.access_token)
        assert claims["aud"] == RESOURCE_SERVER
        assert claims["scope"] == "read"
        renewed = await client.refresh()
        assert renewed.access_token != token.access_token
        assert (await claims_of(http, server, renewed.access_token))["aud"] == RESOURCE_SERVER


async def test_two_authorized_resources_and_a_token_for_the_one_named(
    op_server_resources: OpServer, http_module: ModuleType, http: Any
) -> None:
    server = op_server_resources
    strategy = await web_login_strategy(
        http,
        server,
        scope="openid read",
        resource=[RESOURCE_SERVER, OTHER_RESOURCE_SERVER],
        token_resource=OTHER_RESOURCE_SERVER,
    )
    async with Client(strategy, http=http) as client:
        token = await client.login(ScriptedUser(http_module))
        claims = await claims_of(http, server, token.access_token)
        assert claims["aud"] == OTHER_RESOURCE_SERVER


async def test_several_resources_at_its_token_endpoint_are_invalid_target(
    op_server_resources: OpServer, http_module: ModuleType, http: Any
) -> None:
    server = op_server_resources
    strategy = await web_login_strategy(
        http, server, scope="openid read", resource=[RESOURCE_SERVER, OTHER_RESOURCE_SERVER]
    )
    async with Client(strategy, http=http) as client:
        with pytest.raises(anyoauth.TokenRequestError) as refused:
            await client.login(ScriptedUser(http_module))
    assert refused.value.error == "invalid_target"


async def test_client_credentials_for_a_resource(op_server_resources: OpServer, http: Any) -> None:
    server = op_server_resources
    service = server.clients["service"]
    strategy = ClientCredentials(
        client_id=service.client_id,
        client_secret=service.client_secret,
        token_endpoint=server.token_endpoint,
        scope="read",
        resource=RESOURCE_SERVER,
    )
    async with Client(strategy, http=http) as client:
        token = await client.token()
    claims = await claims_of(http, server, token.access_token)
    assert claims["aud"] == RESOURCE_SERVER
    assert claims["client_id"] == service.client_id
