"""Pushed authorization requests (RFC 9126) and signed request objects (RFC 9101)
against the emulator's generic server: the login works unchanged for the caller, the
browser gets only ``client_id`` and ``request_uri`` (or ``request``), and a refused
push keeps nothing."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from joserfc.jwk import ECKey, KeySet, RSAKey

import anyoauth
from anyoauth import AuthorizationCode, Client, MemoryStore
from anyoauth.testing import BrowseError, ManualClock, ProviderEmulator, browse

from .helpers import BASE, EMULATED_SECRET, LOOPBACK_REDIRECT, login, metadata, web_app

pytestmark = pytest.mark.anyio


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def _signing_client(emulator: ProviderEmulator, key: Any, *, client_id: str = "signer") -> None:
    emulator.add_oauth_client(
        client_id,
        redirect_uris=[LOOPBACK_REDIRECT],
        auth_method="private_key_jwt",
        jwks=KeySet([key]).as_dict(private=False),
    )


async def test_a_server_that_requires_pushing_gets_the_parameters_pushed(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    emulator.oauth_require_pushed_authorization_requests = True
    strategy = await web_app(http, scope="openid profile")
    assert strategy.push_authorization_request
    async with Client(strategy, http=http, clock=clock) as client:
        start = await client.begin()
        query = _query(start.url)
        assert set(query) == {"client_id", "request_uri"}
        assert query["client_id"] == "web"
        assert query["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
        assert start.url_expires_at == clock() + 60
        assert start.expires_at == clock() + strategy.state_ttl
        token = await client.complete(await browse(http, start.url))
    assert emulator.is_valid_token(token.access_token)
    assert token.id_token_claims is not None
    assert emulator.calls["oauth.par"] == 1


async def test_login_pushes_without_the_caller_knowing(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    strategy = await web_app(http, push_authorization_request=True)
    seen: list[str] = []

    class Agent:
        def session(self, strategy: AuthorizationCode) -> Any:
            from contextlib import asynccontextmanager

            @asynccontextmanager
            async def opened() -> Any:
                class Session:
                    redirect_uri = None

                    async def authorize(self, url: str) -> str:
                        seen.append(url)
                        return await browse(http, url)

                yield Session()

            return opened()

    async with Client(strategy, http=http, clock=clock) as client:
        token = await client.login(Agent())  # type: ignore[arg-type]
    assert emulator.is_valid_token(token.access_token)
    assert set(_query(seen[0])) == {"client_id", "request_uri"}


async def test_an_unpushed_request_is_refused_by_a_server_that_requires_pushing(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    strategy = await web_app(http)
    emulator.oauth_require_pushed_authorization_requests = True
    async with Client(strategy, http=http, clock=clock) as client:
        start = await client.begin()
        with pytest.raises(BrowseError):
            await browse(http, start.url)
    assert emulator.calls["oauth.par"] == 0


async def test_a_refused_push_raises_the_servers_error_and_keeps_nothing(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    emulator.add_oauth_client(
        "narrow",
        client_secret=EMULATED_SECRET,
        redirect_uris=[LOOPBACK_REDIRECT],
        scopes=["profile"],
    )
    strategy = await web_app(
        http, client_id="narrow", scope="email", push_authorization_request=True
    )
    store = MemoryStore()
    async with Client(strategy, http=http, clock=clock, store=store) as client:
        with pytest.raises(anyoauth.TokenRequestError) as refused:
            await client.begin()
    assert refused.value.error == "invalid_scope"
    assert EMULATED_SECRET not in str(refused.value)
    assert "pending=0" in repr(store)


async def test_a_request_uri_is_refused_once_it_expired(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    emulator.oauth_par_expires_in = 5
    strategy = await web_app(http, push_authorization_request=True)
    async with Client(strategy, http=http, clock=clock) as client:
        start = await client.begin()
        assert start.url_expires_at == clock() + 5
        clock.advance(6)
        with pytest.raises(BrowseError):
            await browse(http, start.url)


async def test_pushed_signed_request_with_private_key_jwt(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    key = ECKey.generate_key("P-256", parameters={"kid": "signer-1"}, private=True)
    _signing_client(emulator, key)
    emulator.oauth_require_pushed_authorization_requests = True
    emulator.oauth_require_signed_request_object = True
    strategy = AuthorizationCode.from_metadata(
        await metadata(http),
        client_id="signer",
        redirect_uri=LOOPBACK_REDIRECT,
        client_auth="private_key_jwt",
        client_key=key.as_dict(private=True),
        client_assertion_algorithm="ES256",
        scope="openid",
    )
    assert strategy.push_authorization_request
    assert strategy.signs_request_object
    assert strategy.request_object_signing_algorithm == "ES256"
    async with Client(strategy, http=http, clock=clock) as client:
        token = await login(client, http)
    assert emulator.is_valid_token(token.access_token)
    assert token.id_token_claims is not None


async def test_signed_request_by_value(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    key = RSAKey.generate_key(2048, parameters={"kid": "jar-1"}, private=True)
    emulator.add_oauth_client(
        "jar-web",
        client_secret=EMULATED_SECRET,
        redirect_uris=[LOOPBACK_REDIRECT],
        jwks=KeySet([key]).as_dict(private=False),
    )
    emulator.oauth_require_signed_request_object = True
    strategy = await web_app(http, client_id="jar-web", request_object_key=key, scope="profile")
    assert strategy.signs_request_object
    assert not strategy.push_authorization_request
    assert strategy.request_object_signing_algorithm == "PS256"
    async with Client(strategy, http=http, clock=clock) as client:
        start = await client.begin()
        assert set(_query(start.url)) == {"client_id", "request"}
        token = await client.complete(await browse(http, start.url))
    assert emulator.is_valid_token(token.access_token)
    assert emulator.calls["oauth.par"] == 0


async def test_an_unsigned_request_is_refused_by_a_server_that_requires_signing(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    strategy = await web_app(http)
    emulator.oauth_require_signed_request_object = True
    async with Client(strategy, http=http, clock=clock) as client:
        start = await client.begin()
        landed = await browse(http, start.url)
        with pytest.raises(anyoauth.AuthorizationDenied) as denied:
            await client.complete(landed)
    assert denied.value.error == "invalid_request"


async def test_the_emulator_metadata_advertises_par_and_jar(http: Any) -> None:
    found = await metadata(http)
    assert found.pushed_authorization_request_endpoint == BASE + "/oauth/par"
    assert not found.require_pushed_authorization_requests
    assert found.request_parameter_supported
    assert "PS256" in found.request_object_signing_alg_values_supported
    assert "none" not in found.request_object_signing_alg_values_supported


async def test_a_pushed_login_with_a_dpop_key_gets_a_bound_token(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    emulator.oauth_require_pushed_authorization_requests = True
    emulator.oauth_dpop_nonce = True
    key = anyoauth.DPoPKey.generate()
    strategy = await web_app(http, dpop_key=key)
    async with Client(strategy, http=http, clock=clock) as client:
        token = await login(client, http)
    assert token.token_type == "DPoP"
    assert emulator.oauth_token_jkt(token.access_token) == key.thumbprint
    assert emulator.calls["oauth.par"] >= 1
