"""The Keycloak presets with DPoP and pushed authorization requests, end to end against
the emulated Keycloak (Bank of Georgia's realm ``bog``): client credentials tokens bound
to the client's key, used through ``client.auth()`` at the bank's accounts API, kept
bound when refetched or refreshed, and the implicit step pushed to the realm's
``ext/par/request`` endpoint."""

from __future__ import annotations

from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from anyoauth import Client, DPoPKey, TokenRequestError
from anyoauth.providers import BankOfGeorgia, Keycloak
from anyoauth.testing import BOG_ACCOUNTS_PATH, ManualClock, ProviderEmulator, browse

pytestmark = pytest.mark.anyio

BANK = "https://account.bog.test"
BANK_SECRET = "bog-secret-SENTINEL-0123456789"
BANK_REDIRECT = "https://app.example/bog"
ACCOUNTS = BANK + BOG_ACCOUNTS_PATH


@pytest.fixture
def bank(clock: ManualClock) -> ProviderEmulator:
    """The emulated bank: ``bog-client`` plain, ``bog-rotating`` with refresh tokens,
    ``bog-strict`` requiring DPoP, ``bog-pushed`` requiring pushed requests."""
    emulator = ProviderEmulator(clock=clock, base_url=BANK)
    emulator.add_keycloak_client("bog-client", BANK_SECRET, redirect_uris=[BANK_REDIRECT])
    emulator.add_keycloak_client("bog-rotating", BANK_SECRET, refresh_tokens=True)
    emulator.add_keycloak_client("bog-strict", BANK_SECRET, require_dpop=True)
    emulator.add_keycloak_client(
        "bog-pushed",
        BANK_SECRET,
        redirect_uris=[BANK_REDIRECT],
        require_pushed_authorization_requests=True,
    )
    return emulator


@pytest.fixture
async def bank_http(bank: ProviderEmulator, http_module: ModuleType) -> Any:
    async with http_module.AsyncClient(transport=bank.mock_transport(http_module)) as http:
        yield http


def bank_client(
    bank: ProviderEmulator, client_id: str = "bog-client", **settings: Any
) -> BankOfGeorgia:
    return BankOfGeorgia(client_id, BANK_SECRET, **bank.endpoints_keycloak(BANK), **settings)


async def accounts(http_module: ModuleType, bank: ProviderEmulator, client: Client) -> Any:
    transport = bank.mock_transport(http_module)
    async with http_module.AsyncClient(transport=transport, auth=client.auth()) as api:
        return await api.get(ACCOUNTS)


async def test_bog_with_a_dpop_key_gets_a_bound_token_the_accounts_api_takes(
    bank: ProviderEmulator, bank_http: Any, http_module: ModuleType, clock: ManualClock
) -> None:
    key = DPoPKey.generate()
    async with Client(bank_client(bank, dpop_key=key), http=bank_http, clock=clock) as client:
        token = await client.token()
        answer = await accounts(http_module, bank, client)
    assert token.token_type == "DPoP"
    assert token.dpop_jkt == key.thumbprint == bank.keycloak_token_jkt(token.access_token)
    assert answer.status_code == 200
    assert answer.json()[0]["Currency"] == "GEL"
    assert answer.request.headers["authorization"] == f"DPoP {token.access_token}"
    assert "dpop" in answer.request.headers


async def test_bog_without_a_key_still_gets_and_sends_a_bearer_token(
    bank: ProviderEmulator, bank_http: Any, http_module: ModuleType, clock: ManualClock
) -> None:
    async with Client(bank_client(bank), http=bank_http, clock=clock) as client:
        token = await client.token()
        answer = await accounts(http_module, bank, client)
    assert token.token_type.lower() == "bearer"
    assert bank.keycloak_token_jkt(token.access_token) is None
    assert answer.status_code == 200
    assert answer.request.headers["authorization"] == f"Bearer {token.access_token}"
    assert "dpop" not in answer.request.headers


async def test_bog_refetches_an_expired_token_bound_to_the_same_key(
    bank: ProviderEmulator, bank_http: Any, http_module: ModuleType, clock: ManualClock
) -> None:
    key = DPoPKey.generate()
    async with Client(bank_client(bank, dpop_key=key), http=bank_http, clock=clock) as client:
        first = await client.token()
        clock.advance(301)
        second = await client.token()
        answer = await accounts(http_module, bank, client)
    assert second.access_token != first.access_token
    assert bank.keycloak_token_jkt(second.access_token) == key.thumbprint
    assert second.token_type == "DPoP"
    assert answer.status_code == 200
    assert bank.calls["keycloak.token"] == 2


async def test_keycloak_refresh_keeps_the_new_access_token_bound(
    bank: ProviderEmulator, bank_http: Any, http_module: ModuleType, clock: ManualClock
) -> None:
    key = DPoPKey.generate()
    strategy = bank_client(bank, "bog-rotating", dpop_key=key)
    async with Client(strategy, http=bank_http, clock=clock) as client:
        first = await client.token()
        assert first.refresh_token is not None
        clock.advance(301)
        second = await client.token()
        answer = await accounts(http_module, bank, client)
    # Keycloak binds a confidential client's access tokens, not its refresh token: the
    # refresh request carries a proof, and the new access token is bound to its key.
    assert second.refresh_token not in (None, first.refresh_token)
    assert second.token_type == "DPoP"
    assert bank.keycloak_token_jkt(second.access_token) == key.thumbprint
    assert answer.status_code == 200


async def test_a_realm_requiring_dpop_refuses_a_client_without_a_key(
    bank: ProviderEmulator, bank_http: Any, clock: ManualClock
) -> None:
    async with Client(bank_client(bank, "bog-strict"), http=bank_http, clock=clock) as client:
        with pytest.raises(TokenRequestError) as caught:
            await client.token()
        assert caught.value.error == "invalid_dpop_proof"
        keyed = Client(
            bank_client(bank, "bog-strict", dpop_key=DPoPKey.generate()),
            http=bank_http,
            clock=clock,
        )
        async with keyed:
            assert (await keyed.token()).token_type == "DPoP"


async def test_bog_pushes_its_login_to_the_realms_par_endpoint(
    bank: ProviderEmulator, bank_http: Any, http_module: ModuleType, clock: ManualClock
) -> None:
    strategy = BankOfGeorgia(
        "bog-pushed",
        BANK_SECRET,
        redirect_uri=BANK_REDIRECT,
        locale="ka",
        push_authorization_request=True,
        dpop_key=DPoPKey.generate(),
        **bank.endpoints_keycloak(BANK, par=True),
    )
    async with Client(strategy, http=bank_http, clock=clock) as client:
        start = await client.begin()
        query = dict(parse_qsl(urlsplit(start.url).query))
        assert set(query) == {"client_id", "request_uri"}
        assert query["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
        landing = await browse(bank_http, start.url)
        token = await client.complete(landing)
        answer = await accounts(http_module, bank, client)
    assert bank.calls["keycloak.par"] == 1
    assert bank.authorization_requests[-1]["kc_locale"] == "ka"
    # Keycloak issues no DPoP token in the front channel: the implicit step's is a bearer,
    # sent as one.
    assert token.token_type.lower() == "bearer"
    assert answer.status_code == 200
    assert answer.request.headers["authorization"] == f"Bearer {token.access_token}"


async def test_a_client_requiring_pushed_requests_refuses_a_plain_login(
    bank: ProviderEmulator, bank_http: Any, clock: ManualClock
) -> None:
    strategy = bank_client(bank, "bog-pushed", redirect_uri=BANK_REDIRECT)
    async with Client(strategy, http=bank_http, clock=clock) as client:
        start = await client.begin()
    answer = await bank_http.get(start.url)
    assert answer.status_code == 400
    assert "Pushed Authorization Request is only allowed" in answer.text
    assert bank.calls["keycloak.par"] == 0


async def test_generic_keycloak_preset_with_dpop_and_par(
    bank: ProviderEmulator, bank_http: Any, clock: ManualClock
) -> None:
    bank.add_keycloak_client("staff", BANK_SECRET, realm="staff", redirect_uris=[BANK_REDIRECT])
    key = DPoPKey.generate()
    strategy = Keycloak(
        BANK + "/auth",
        "staff",
        "staff",
        BANK_SECRET,
        redirect_uri=BANK_REDIRECT,
        dpop_key=key,
        push_authorization_request=True,
    )
    assert strategy.pushed_authorization_request_endpoint == bank.endpoints_keycloak(
        BANK, "staff", par=True
    ).get("par_url")
    async with Client(strategy, http=bank_http, clock=clock) as client:
        token = await client.token()
        start = await client.begin()
        login = await client.complete(await browse(bank_http, start.url))
    assert bank.keycloak_token_jkt(token.access_token) == key.thumbprint
    assert login.token_type.lower() == "bearer"
    assert bank.calls["keycloak.par"] == 1
