"""anyoauth's signed request objects (RFC 9101, JAR) against panva's oidc-provider.

Through :class:`anyoauth.Client` only (the request objects and client assertions are
anyoauth's): code + PKCE + ``private_key_jwt`` with the authorization parameters in a
request object signed with the client's key, by value in the URL and pushed (PAR);
a client registered with ``require_signed_request_object`` is refused an unsigned
request (by value and pushed) and a request object signed with a key it did not
register, and logs in with a signed one; a client held to the FAPI 2.0 profile with
PAR, DPoP and a signed request object.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc.jwk import ECKey
from joserfc.jws import extract_compact

import anyoauth
from anyoauth import AuthorizationCode, Client, DPoPKey, discover
from interop.op import REDIRECT_URI, OpServer
from interop.op_user import ScriptedUser, authorize_as_user

pytestmark = pytest.mark.anyio


@pytest.fixture
async def http(http_module: ModuleType) -> AsyncIterator[Any]:
    async with http_module.AsyncClient(follow_redirects=False, timeout=20.0) as client:
        yield client


async def jar_strategy(http: Any, server: OpServer, name: str, **kwargs: Any) -> AuthorizationCode:
    """A ``private_key_jwt`` code strategy for one registered client, from discovery;
    request objects are signed with the same key unless ``kwargs`` say otherwise."""
    client = server.clients[name]
    settings: dict[str, Any] = {
        "client_id": client.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid",
        "client_auth": "private_key_jwt",
        "client_key": dict(client.private_jwk or {}),
        "client_assertion_algorithm": client.signing_alg,
        "sign_request_object": True,
    }
    settings.update(kwargs)
    return AuthorizationCode.from_metadata(await discover(server.issuer, http=http), **settings)


def request_object_of(url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The (header, claims) of the request object in an authorization URL, unverified."""
    request = parse_qs(urlsplit(url).query)["request"][0]
    compact = extract_compact(request.encode())
    return dict(compact.protected), dict(json.loads(compact.payload))


async def test_a_signed_request_object_by_value(
    op_server: OpServer, http_module: ModuleType, http: Any
) -> None:
    # A client that may sign (not registered to have to): the URL carries client_id and
    # the request object, plus response_type and scope (OpenID Connect Core 6.1).
    server = op_server
    strategy = await jar_strategy(http, server, "private-key-jwt")
    # From the server's request_object_signing_alg_values_supported and the key.
    assert strategy.request_object_signing_algorithm == "ES256"
    async with Client(strategy, http=http) as client:
        start = await client.begin()
        query = parse_qs(urlsplit(start.url).query)
        assert set(query) == {"client_id", "request", "response_type", "scope"}
        header, claims = request_object_of(start.url)
        assert header["typ"] == "oauth-authz-req+jwt"
        assert header["alg"] == "ES256"
        assert claims["iss"] == claims["client_id"] == server.clients["private-key-jwt"].client_id
        assert claims["aud"] == server.issuer
        assert claims["redirect_uri"] == REDIRECT_URI
        assert claims["code_challenge_method"] == "S256"
        token = await client.complete(await authorize_as_user(http_module, start.url))
        assert token.id_token_claims is not None
        assert token.id_token_claims["sub"] == "alice"
        # The nonce inside the signed object is the one the id_token carries.
        assert token.id_token_claims["nonce"] == claims["nonce"]


async def test_a_client_that_must_sign_logs_in_with_a_signed_request_object(
    op_server: OpServer, http_module: ModuleType, http: Any
) -> None:
    server = op_server
    strategy = await jar_strategy(http, server, "jar")
    async with Client(strategy, http=http) as client:
        token = await client.login(ScriptedUser(http_module, login="ria"))
        assert token.id_token_claims is not None
        assert token.id_token_claims["sub"] == "ria"
        renewed = await client.token(rejected=token)
        assert renewed.access_token != token.access_token


async def test_a_signed_request_object_pushed(
    op_server: OpServer, http_module: ModuleType, http: Any
) -> None:
    # PAR + JAR: the push carries client_id, the request object and the client
    # assertion; the browser sees only client_id and request_uri.
    server = op_server
    strategy = await jar_strategy(http, server, "jar", push_authorization_request=True)
    seen = len(server.log())
    async with Client(strategy, http=http) as client:
        start = await client.begin()
        assert set(parse_qs(urlsplit(start.url).query)) == {"client_id", "request_uri"}
        token = await client.complete(await authorize_as_user(http_module, start.url))
        assert token.id_token_claims is not None
        assert token.id_token_claims["sub"] == "alice"
    log = server.log()[seen:]
    assert "POST" in log
    assert " /request " in log
    assert "error" not in log.lower(), log


async def test_an_unsigned_request_is_refused_for_a_client_that_must_sign(
    op_server: OpServer, http_module: ModuleType, http: Any
) -> None:
    server = op_server
    strategy = await jar_strategy(http, server, "jar", sign_request_object=False)
    async with Client(strategy, http=http) as client:
        with pytest.raises(anyoauth.AuthorizationDenied) as denied:
            await client.login(ScriptedUser(http_module))
    assert denied.value.error == "invalid_request"
    assert denied.value.error_description == "Request Object must be used by this client"


async def test_an_unsigned_push_is_refused_for_a_client_that_must_sign(
    op_server: OpServer, http_module: ModuleType, http: Any
) -> None:
    server = op_server
    strategy = await jar_strategy(
        http, server, "jar", sign_request_object=False, push_authorization_request=True
    )
    async with Client(strategy, http=http) as client:
        with pytest.raises(anyoauth.TokenRequestError) as refused:
            await client.begin()
    assert refused.value.error == "invalid_request"
    assert refused.value.error_description == "Request Object must be used by this client"


@pytest.mark.parametrize("par", [False, True])
async def test_a_request_object_signed_with_an_unregistered_key_is_refused(
    op_server: OpServer, http_module: ModuleType, http: Any, par: bool
) -> None:
    server = op_server
    stranger = ECKey.generate_key("P-256", auto_kid=True).as_dict(private=True)
    strategy = await jar_strategy(
        http,
        server,
        "jar",
        request_object_key=stranger,
        request_object_algorithm="ES256",
        push_authorization_request=par,
    )
    async with Client(strategy, http=http) as client:
        if par:
            # The push is refused (the client assertion is right, the object is not).
            with pytest.raises(anyoauth.TokenRequestError) as refused:
                await client.begin()
            assert refused.value.error == "invalid_request_object"
        else:
            with pytest.raises(anyoauth.AuthorizationDenied) as denied:
                await client.login(ScriptedUser(http_module))
            assert denied.value.error == "invalid_request_object"
            assert denied.value.error_description == "could not validate Request Object"


async def test_a_fapi2_client_with_par_dpop_and_a_signed_request_object(
    op_server: OpServer, http_module: ModuleType, http: Any
) -> None:
    # oidc-provider's FAPI 2.0 profile for this client (PAR, PKCE S256, DPoP-bound
    # tokens, assertions for the issuer), with the pushed parameters in a request object.
    server = op_server
    strategy = await jar_strategy(
        http,
        server,
        "fapi2",
        push_authorization_request=True,
        dpop_key=DPoPKey.generate("ES256"),
    )
    async with Client(strategy, http=http) as client:
        token = await client.login(ScriptedUser(http_module))
        assert token.token_type == "DPoP"
        assert token.id_token_claims is not None
        answer = await http.get(server.userinfo_endpoint, auth=client.auth())
        assert answer.status_code == 200, answer.text
        assert answer.json()["sub"] == "alice"
