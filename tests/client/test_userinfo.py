"""``Client.userinfo()`` against the emulator's generic server (OpenID Connect Core 5.3):
JSON and signed answers, the ``sub`` held to the id_token's, DPoP-bound tokens with a
proof, error answers and one more try with a new token after a 401."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest

import anyoauth
from anyoauth import AuthorizationCode, Client, DPoPKey, Token
from anyoauth.testing import ManualClock, ProviderEmulator

from .helpers import EMULATED_SECRET, login, metadata, web_app

pytestmark = pytest.mark.anyio

OPENID = "openid profile email"


async def test_userinfo_returns_the_users_claims_for_the_id_tokens_subject(
    http: Any, clock: ManualClock
) -> None:
    client = Client(await web_app(http, scope=OPENID), http=http, clock=clock)
    token = await login(client, http)
    claims = await client.userinfo()
    assert token.id_token_claims is not None
    assert claims["sub"] == token.id_token_claims["sub"]
    assert claims["email_verified"] is True
    assert "given_name" in claims


async def test_the_strategy_takes_the_userinfo_and_end_session_endpoints_from_metadata(
    http: Any,
) -> None:
    found = await metadata(http)
    strategy = await web_app(http, scope=OPENID)
    assert strategy.userinfo_endpoint == found.userinfo_endpoint
    assert strategy.end_session_endpoint == found.end_session_endpoint
    assert strategy.end_session_endpoint is not None


async def test_a_signed_userinfo_answer_is_verified_and_its_claims_returned(
    http: Any, clock: ManualClock, emulator: ProviderEmulator
) -> None:
    emulator.oauth_userinfo_signed = True
    client = Client(await web_app(http, scope=OPENID), http=http, clock=clock)
    token = await login(client, http)
    claims = await client.userinfo()
    assert token.id_token_claims is not None
    assert claims["sub"] == token.id_token_claims["sub"]
    assert claims["aud"] == "web"
    assert claims["iss"] == client.strategy.issuer
    assert emulator.calls["oauth.userinfo"] == 1


async def test_a_signed_userinfo_answer_after_a_key_rotation_fetches_the_key_set_again(
    http: Any, clock: ManualClock, emulator: ProviderEmulator
) -> None:
    emulator.oauth_userinfo_signed = True
    client = Client(await web_app(http, scope=OPENID), http=http, clock=clock)
    await login(client, http)
    fetched = emulator.calls["oauth.jwks"]
    emulator.rotate_oauth_signing_key(keep_old=False)
    claims = await client.userinfo()
    assert claims["aud"] == "web"
    assert emulator.calls["oauth.jwks"] == fetched + 1


@pytest.mark.parametrize("nonce", [False, True])
async def test_a_dpop_bound_token_asks_userinfo_with_a_proof(
    clock: ManualClock, http_module: ModuleType, nonce: bool
) -> None:
    emulator = ProviderEmulator(clock=clock, base_url="https://as.example", oauth_dpop_nonce=nonce)
    emulator.add_oauth_client(
        "web",
        client_secret=EMULATED_SECRET,
        redirect_uris=["http://127.0.0.1:8123/callback"],
    )
    async with http_module.AsyncClient(transport=emulator.mock_transport(http_module)) as http:
        strategy = await web_app(http, scope=OPENID, dpop_key=DPoPKey.generate())
        client = Client(strategy, http=http, clock=clock)
        token = await login(client, http)
        assert token.token_type == "DPoP"
        claims = await client.userinfo()
        assert token.id_token_claims is not None
        assert claims["sub"] == token.id_token_claims["sub"]


async def test_a_token_without_openid_scope_gets_a_userinfo_error_with_the_challenges_error(
    http: Any, clock: ManualClock
) -> None:
    client = Client(await web_app(http, scope="profile"), http=http, clock=clock)
    await login(client, http)
    with pytest.raises(anyoauth.UserinfoError) as caught:
        await client.userinfo()
    assert caught.value.error == "insufficient_scope"
    assert caught.value.status_code == 403


async def test_without_a_userinfo_endpoint_userinfo_is_a_configuration_error(
    clock: ManualClock,
) -> None:
    strategy = AuthorizationCode(
        client_id="c",
        authorization_endpoint="https://as.example/authorize",
        token_endpoint="https://as.example/token",
        redirect_uri="https://a.example/cb",
    )
    async with Client(strategy, clock=clock) as client:
        with pytest.raises(anyoauth.ConfigurationError, match="userinfo"):
            await client.userinfo()


def _scripted(module: ModuleType, seen: list[str], *, refuse: int) -> Any:
    """A token endpoint issuing ``t1``, ``t2``... on refresh, and a userinfo endpoint
    refusing the first ``refuse`` tokens it sees with a 401."""
    issued = [0]

    def handle(request: Any) -> Any:
        if request.url.path == "/token":
            issued[0] += 1
            payload = {
                "access_token": f"t{issued[0]}",
                "token_type": "Bearer",
                "refresh_token": f"r{issued[0]}",
                "expires_in": 3600,
            }
            return module.Response(200, json=payload)
        seen.append(request.headers["authorization"])
        if len(seen) <= refuse:
            challenge = 'Bearer error="invalid_token", error_description="expired"'
            return module.Response(401, headers={"WWW-Authenticate": challenge})
        return module.Response(200, json={"sub": "u1", "name": "U"})

    return module.MockTransport(handle)


def _strategy() -> AuthorizationCode:
    return AuthorizationCode(
        client_id="c",
        authorization_endpoint="https://as.example/authorize",
        token_endpoint="https://as.example/token",
        userinfo_endpoint="https://as.example/userinfo",
        redirect_uri="https://a.example/cb",
    )


async def test_a_401_gets_a_new_token_and_asks_userinfo_once_more(
    clock: ManualClock, http_module: ModuleType
) -> None:
    seen: list[str] = []
    async with http_module.AsyncClient(transport=_scripted(http_module, seen, refuse=1)) as http:
        client = Client(_strategy(), http=http, clock=clock)
        await client.set_token(
            Token(access_token="t0", refresh_token="r0", issued_at=clock(), expires_at=None)
        )
        claims = await client.userinfo()
    assert dict(claims) == {"sub": "u1", "name": "U"}
    assert seen == ["Bearer t0", "Bearer t1"]


async def test_a_second_401_raises_the_challenges_error(
    clock: ManualClock, http_module: ModuleType
) -> None:
    seen: list[str] = []
    async with http_module.AsyncClient(transport=_scripted(http_module, seen, refuse=5)) as http:
        client = Client(_strategy(), http=http, clock=clock)
        await client.set_token(
            Token(access_token="t0", refresh_token="r0", issued_at=clock(), expires_at=None)
        )
        with pytest.raises(anyoauth.UserinfoError) as caught:
            await client.userinfo()
    assert caught.value.error == "invalid_token"
    assert caught.value.status_code == 401
    assert len(seen) == 2


async def test_a_token_without_id_token_claims_takes_the_answers_sub_as_is(
    clock: ManualClock, http_module: ModuleType
) -> None:
    seen: list[str] = []
    async with http_module.AsyncClient(transport=_scripted(http_module, seen, refuse=0)) as http:
        client = Client(_strategy(), http=http, clock=clock)
        await client.set_token(Token(access_token="t0", issued_at=clock(), expires_at=None))
        claims = await client.userinfo()
    assert claims["sub"] == "u1"
    with pytest.raises(TypeError):
        claims["sub"] = "x"  # type: ignore[index]
    assert json.dumps(dict(claims))
