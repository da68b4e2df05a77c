"""Logins whose strategy has no ``redirect_uri``: ``begin()`` refuses the code and
implicit flows clearly; the Keycloak presets' optional
authorize step is skipped by ``login()`` without an agent (a client credentials token,
logged), and run only with an agent that supplies a redirect URI."""

from __future__ import annotations

import logging
from types import ModuleType
from typing import Any

import pytest

from anyoauth import Client, ConfigurationError, Implicit, UserStep
from anyoauth.agents import ManualAgent
from anyoauth.providers import BankOfGeorgia
from anyoauth.testing import ManualClock, OAuthEndpoints, ProviderEmulator

from .helpers import web_app

pytestmark = pytest.mark.anyio

BANK = "https://account.bog.test"
BANK_SECRET = "bog-secret-SENTINEL-0123456789"


async def test_begin_without_redirect_uri_says_what_to_do(http: Any) -> None:
    strategy = await web_app(http, redirect_uri=None)
    assert strategy.user_step is UserStep.REDIRECT
    async with Client(strategy, http=http) as client:
        with pytest.raises(ConfigurationError) as refused:
            await client.begin()
    message = str(refused.value)
    assert "needs a redirect_uri" in message
    assert "client.login() with a loopback agent" in message


async def test_implicit_begin_without_redirect_uri_is_refused(
    http: Any, endpoints: OAuthEndpoints
) -> None:
    strategy = Implicit(
        client_id="legacy", authorization_endpoint=endpoints["authorization_endpoint"]
    )
    async with Client(strategy, http=http) as client:
        with pytest.raises(ConfigurationError, match="needs a redirect_uri"):
            await client.begin()


async def test_an_agent_without_redirect_uri_cannot_log_in_a_code_flow(http: Any) -> None:
    strategy = await web_app(http, redirect_uri=None)
    agent = ManualAgent(input=_never, output=lambda text: None)
    async with Client(strategy, http=http) as client:
        with pytest.raises(ConfigurationError, match="loopback agent"):
            await client.login(agent)


async def _never(prompt: str) -> str:
    raise AssertionError("the user was asked to paste a URL")


@pytest.fixture
def bank(clock: ManualClock) -> ProviderEmulator:
    emulator = ProviderEmulator(clock=clock, base_url=BANK)
    emulator.add_keycloak_client(
        "bog-client", BANK_SECRET, redirect_uris=["https://app.example/bog"]
    )
    return emulator


@pytest.fixture
async def bank_http(bank: ProviderEmulator, http_module: ModuleType) -> Any:
    async with http_module.AsyncClient(transport=bank.mock_transport(http_module)) as http:
        yield http


def bank_client(bank: ProviderEmulator) -> BankOfGeorgia:
    return BankOfGeorgia("bog-client", BANK_SECRET, **bank.endpoints_keycloak(BANK))


async def test_bog_login_without_agent_fetches_client_credentials_and_says_so(
    bank: ProviderEmulator, bank_http: Any, caplog: pytest.LogCaptureFixture
) -> None:
    strategy = bank_client(bank)
    assert strategy.user_step is UserStep.NONE
    with caplog.at_level(logging.INFO, logger="anyoauth"):
        async with Client(strategy, http=bank_http) as client:
            token = await client.login()
    assert bank.is_valid_token(token.access_token)
    assert bank.calls["keycloak.token"] == 1
    assert any(
        "authorize step is skipped" in record.getMessage()
        and "client credentials" in record.getMessage()
        for record in caplog.records
    )


async def test_bog_login_with_an_agent_without_redirect_uri_is_refused(
    bank: ProviderEmulator, bank_http: Any
) -> None:
    agent = ManualAgent(input=_never, output=lambda text: None)
    async with Client(bank_client(bank), http=bank_http) as client:
        with pytest.raises(ConfigurationError) as refused:
            await client.login(agent)
        assert await client.store.get_token(client.token_key) is None
    assert "only with a redirect_uri" in str(refused.value)
    assert bank.calls["keycloak.token"] == 0
