"""id_token algorithms taken from the server's metadata, and the id_token clock leeway."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

import anyoauth
from anyoauth import AuthorizationCode, Client
from anyoauth.testing import ManualClock, ProviderEmulator

from .helpers import BASE, EMULATED_SECRET, LOOPBACK_REDIRECT, login, metadata, web_app

pytestmark = pytest.mark.anyio


def _metadata(algorithms: list[str]) -> anyoauth.ServerMetadata:
    return anyoauth.ServerMetadata.from_dict(
        {
            "issuer": BASE,
            "authorization_endpoint": BASE + "/authorize",
            "token_endpoint": BASE + "/token",
            "jwks_uri": BASE + "/jwks",
            "id_token_signing_alg_values_supported": algorithms,
        },
        issuer=BASE,
    )


def _strategy(document: anyoauth.ServerMetadata, **settings: Any) -> AuthorizationCode:
    return AuthorizationCode.from_metadata(
        document, client_id="app", redirect_uri="https://app.example/cb", **settings
    )


def test_the_servers_algorithms_are_taken_in_its_order() -> None:
    strategy = _strategy(_metadata(["ES256", "EdDSA", "RS256"]))
    assert strategy.id_token_algorithms == ("ES256", "EdDSA", "RS256")


def test_an_algorithm_outside_the_defaults_is_taken() -> None:
    assert _strategy(_metadata(["ES384"])).id_token_algorithms == ("ES384",)


def test_the_users_algorithms_win_over_the_servers() -> None:
    strategy = _strategy(_metadata(["EdDSA"]), id_token_algorithms=["RS256"])
    assert strategy.id_token_algorithms == ("RS256",)


def test_without_a_list_the_defaults_stay() -> None:
    assert _strategy(_metadata([])).id_token_algorithms == ("RS256", "PS256", "ES256", "EdDSA")


def test_leeway_is_a_strategy_setting() -> None:
    assert _strategy(_metadata([])).id_token_leeway == 60.0
    assert _strategy(_metadata([]), id_token_leeway=0).id_token_leeway == 0
    assert _strategy(_metadata([]), id_token_leeway=600).id_token_leeway == 600


async def test_an_eddsa_signing_server_works_without_configuration(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    emulator.oauth_id_token_algorithm = "EdDSA"
    strategy = await web_app(http, scope="openid")
    assert strategy.id_token_algorithms == ("EdDSA",)
    async with Client(strategy, http=http, clock=clock) as client:
        token = await login(client, http)
        assert token.id_token_claims is not None
        assert token.id_token_claims["aud"] == "web"
        renewed = await client.refresh()
        assert renewed.id_token_claims is not None
        assert renewed.id_token_claims["sub"] == token.id_token_claims["sub"]


async def test_an_eddsa_id_token_is_refused_when_the_user_allows_rs256_only(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    emulator.oauth_id_token_algorithm = "EdDSA"
    strategy = await web_app(http, scope="openid", id_token_algorithms=["RS256"])
    async with Client(strategy, http=http, clock=clock) as client:
        with pytest.raises(anyoauth.InvalidIdToken):
            await login(client, http)


@pytest.mark.parametrize(("leeway", "accepted"), [(60.0, False), (180.0, True)])
async def test_the_leeway_decides_how_far_a_servers_clock_may_run_ahead(
    emulator: ProviderEmulator, http: Any, clock: ManualClock, leeway: float, accepted: bool
) -> None:
    # The server's clock runs two minutes ahead: its id_tokens are issued "in the future".
    emulator.oauth_id_token_claims = {"iat": int(clock.now) + 120}
    strategy = await web_app(http, scope="openid", id_token_leeway=leeway)
    async with Client(strategy, http=http, clock=clock) as client:
        if accepted:
            assert (await login(client, http)).id_token_claims is not None
        else:
            with pytest.raises(anyoauth.InvalidIdToken, match="iat"):
                await login(client, http)


async def test_an_expired_id_token_is_accepted_only_within_the_leeway(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    emulator.oauth_id_token_claims = {"exp": int(clock.now) - 30}
    strict = await web_app(http, scope="openid", id_token_leeway=0)
    async with Client(strict, http=http, clock=clock) as client:
        with pytest.raises(anyoauth.InvalidIdToken, match="exp"):
            await login(client, http)
    lenient = await web_app(http, scope="openid")
    async with Client(lenient, http=http, clock=clock) as client:
        assert (await login(client, http)).id_token_claims is not None


async def test_rs256_stays_the_emulators_default(http: Any, http_module: ModuleType) -> None:
    document = await metadata(http)
    assert document.id_token_signing_alg_values_supported == ("RS256",)
    strategy = AuthorizationCode.from_metadata(
        document, client_id="web", client_secret=EMULATED_SECRET, redirect_uri=LOOPBACK_REDIRECT
    )
    assert strategy.id_token_algorithms == ("RS256",)
