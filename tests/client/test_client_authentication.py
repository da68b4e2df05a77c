"""How the client authenticates itself on its requests: JWT assertions, raw Basic
credentials, a wrong secret, and a fresh assertion for every retry."""

from __future__ import annotations

import base64
import json
from types import ModuleType
from typing import Any

import pytest
from joserfc.jwk import KeySet, RSAKey

import anyoauth
from anyoauth import (
    Client,
    ClientCredentials,
)
from anyoauth.testing import ManualClock, OAuthEndpoints, ProviderEmulator

from .helpers import EMULATED_SECRET, TOKEN_ENDPOINT, answer, form, mock

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("auth_method", ["client_secret_jwt", "private_key_jwt"])
async def test_jwt_client_authentication(
    emulator: ProviderEmulator,
    http: Any,
    endpoints: OAuthEndpoints,
    auth_method: str,
    clock: ManualClock,
) -> None:
    key = RSAKey.generate_key(2048, parameters={"kid": "client-1"}, private=True)
    private = auth_method == "private_key_jwt"
    emulator.add_oauth_client(
        "jwt-service",
        client_secret=None if private else EMULATED_SECRET,
        grant_types=["client_credentials"],
        auth_method=auth_method,  # type: ignore[arg-type]
        jwks=KeySet([key]).as_dict(private=False) if private else None,
    )
    strategy = ClientCredentials(
        client_id="jwt-service",
        client_secret=None if private else EMULATED_SECRET,
        token_endpoint=endpoints["token_endpoint"],
        client_auth=auth_method,  # type: ignore[arg-type]
        client_key=key if private else None,
    )
    async with Client(strategy, http=http, clock=clock) as client:
        token = await client.token()
        assert emulator.is_valid_token(token.access_token)
    wrong = RSAKey.generate_key(2048, parameters={"kid": "client-1"}, private=True)
    if auth_method == "private_key_jwt":
        bad = ClientCredentials(
            client_id="jwt-service",
            token_endpoint=endpoints["token_endpoint"],
            client_auth="private_key_jwt",
            client_key=wrong,
        )
        async with Client(bad, http=http, clock=clock) as client:
            with pytest.raises(anyoauth.TokenRequestError) as refused:
                await client.token()
            assert refused.value.error == "invalid_client"


async def test_raw_basic_credentials(
    emulator: ProviderEmulator, http: Any, endpoints: OAuthEndpoints, clock: ManualClock
) -> None:
    secret = "raw+secret:with%chars-0123456789"
    emulator.add_oauth_client(
        "raw", client_secret=secret, grant_types=["client_credentials"], basic_form_encoded=False
    )
    common: dict[str, Any] = {
        "client_id": "raw",
        "client_secret": secret,
        "token_endpoint": endpoints["token_endpoint"],
    }
    async with Client(
        ClientCredentials(**common, basic_form_encoded=False), http=http, clock=clock
    ) as c:
        assert (await c.token()).access_token
    async with Client(ClientCredentials(**common), http=http, clock=clock) as c:
        with pytest.raises(anyoauth.TokenRequestError) as refused:
            await c.token()
        assert refused.value.error == "invalid_client"


async def test_wrong_secret_is_a_typed_error(
    http: Any, endpoints: OAuthEndpoints, clock: ManualClock
) -> None:
    strategy = ClientCredentials(
        client_id="service", client_secret="wrong", token_endpoint=endpoints["token_endpoint"]
    )
    async with Client(strategy, http=http, clock=clock) as client:
        with pytest.raises(anyoauth.TokenRequestError) as refused:
            await client.token()
        assert refused.value.error == "invalid_client"
        assert "wrong" not in str(refused.value)


async def test_a_retry_signs_a_fresh_client_assertion(http_module: ModuleType) -> None:
    from joserfc.jwk import RSAKey

    key = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
    jtis: list[str] = []
    bodies: list[dict[str, str]] = []

    def handler(request: Any) -> Any:
        body = form(request)
        bodies.append(body)
        payload = body["client_assertion"].split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        jtis.append(claims["jti"])
        if len(jtis) == 1:
            return http_module.Response(503, headers={"retry-after": "0"})
        return answer(http_module, {"access_token": "at", "expires_in": 100})

    strategy = anyoauth.ClientCredentials(
        client_id="svc",
        token_endpoint=TOKEN_ENDPOINT,
        client_auth="private_key_jwt",
        client_key=key.as_dict(private=True),
        scope="a b",
    )
    async with mock(http_module, handler) as http:
        retries = anyoauth.RetryPolicy(backoff=0, jitter=0)
        token = await anyoauth.Client(strategy, http=http, retries=retries).token()
    assert token.access_token == "at"
    assert len(set(jtis)) == 2
    for body in bodies:
        del body["client_assertion"]
    assert bodies[0] == bodies[1]  # all else the same
