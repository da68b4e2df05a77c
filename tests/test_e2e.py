"""The Geni, Teamwork and Bank of Georgia flows end to end against the emulator on a real
loopback port."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import pytest

import anyoauth
from anyoauth.providers import BankOfGeorgia, Geni, Keycloak, Teamwork
from anyoauth.testing import ProviderEmulator, browse
from support.internals import run_demo

pytestmark = pytest.mark.anyio

GENI_ID = "geni-app"
TW_ID, TW_SECRET = "tw-app", "tw-secret-SENTINEL"
TW_REDIRECT = "myapp://teamwork/cb"
BOG_ID, BOG_SECRET = "bog-client", "bog:secret+with%odd chars"
BOG_REDIRECT = "https://app.example/bog/cb"


@pytest.fixture
def emulator() -> ProviderEmulator:
    emulator = ProviderEmulator()
    emulator.add_geni_app(GENI_ID)
    emulator.add_teamwork_app(TW_ID, TW_SECRET, redirect_uris=[TW_REDIRECT])
    emulator.add_keycloak_client(BOG_ID, BOG_SECRET, realm="bog", redirect_uris=[BOG_REDIRECT])
    emulator.add_keycloak_client("kc-client", "kc-secret", realm="staff")
    return emulator


@pytest.fixture
async def base_url(emulator: ProviderEmulator) -> AsyncIterator[str]:
    async with emulator.serve() as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        yield base_url


async def _login(client: anyoauth.Client, browser: Any, decision: str = "allow") -> anyoauth.Token:
    start = await client.begin()
    return await client.complete(await browse(browser, start.url, decision=decision))


async def test_geni_allow_and_deny(
    emulator: ProviderEmulator, base_url: str, http_client: Any
) -> None:
    strategy = Geni(GENI_ID, scope=["basic"], **emulator.endpoints_geni(base_url))
    async with anyoauth.Client(strategy, http=http_client) as client:
        token = await _login(client, http_client)
        assert token.token_type == "Bearer"
        assert token.expires_at is not None
        assert token.scope == "basic"
        profile = await http_client.get(
            f"{base_url}/api/profile", headers={"Authorization": token.authorization_header}
        )
        assert profile.status_code == 200
        with pytest.raises(anyoauth.AuthorizationDenied) as denied:
            await _login(client, http_client, "deny")
        assert denied.value.error == "unauthorized"
        assert denied.value.error_description == "user canceled"


async def test_geni_percent_encoded_fragment(
    emulator: ProviderEmulator, base_url: str, http_client: Any
) -> None:
    emulator.geni_percent_encode_fragment = True
    strategy = Geni(GENI_ID, **emulator.endpoints_geni(base_url))
    async with anyoauth.Client(strategy, http=http_client) as client:
        start = await client.begin()
        landed = await browse(http_client, start.url, decision="allow")
        assert "access_token%3D" in landed
        token = await client.complete(landed)
        assert emulator.is_valid_token(token.access_token)


async def test_teamwork_allow_deny_and_replay(
    emulator: ProviderEmulator, base_url: str, http_client: Any
) -> None:
    strategy = Teamwork(TW_ID, TW_SECRET, TW_REDIRECT, **emulator.endpoints_teamwork(base_url))
    async with anyoauth.Client(strategy, http=http_client) as client:
        start = await client.begin()
        landed = await browse(http_client, start.url, decision="allow")
        token = await client.complete(landed)
        assert token.expires_at is None
        assert token.refresh_token is None
        assert token.extra["status"] == "ok"
        api = token.extra["installation"]["apiEndPoint"]
        me = await http_client.get(
            f"{api}projects/api/v3/me.json", headers={"Authorization": token.authorization_header}
        )
        assert me.status_code == 200
        assert emulator.calls["teamwork.token"] == 1
        with pytest.raises(anyoauth.StateMismatch):
            await client.complete(landed)
        assert emulator.calls["teamwork.token"] == 1
        with pytest.raises(anyoauth.AuthorizationDenied) as denied:
            await _login(client, http_client, "deny")
        assert denied.value.error == "access_denied"
        assert emulator.calls["teamwork.token"] == 1


async def test_teamwork_wrong_secret(
    emulator: ProviderEmulator, base_url: str, http_client: Any
) -> None:
    strategy = Teamwork(TW_ID, "wrong", TW_REDIRECT, **emulator.endpoints_teamwork(base_url))
    async with anyoauth.Client(strategy, http=http_client) as client:
        with pytest.raises(anyoauth.TokenRequestError) as info:
            await _login(client, http_client)
        assert info.value.status_code == 401
        assert await client.store.get_token(client.token_key) is None


async def test_bog_client_credentials_and_authorize_step(
    emulator: ProviderEmulator, base_url: str, http_client: Any
) -> None:
    urls = emulator.endpoints_keycloak(base_url, "bog")
    strategy = BankOfGeorgia(BOG_ID, BOG_SECRET, redirect_uri=BOG_REDIRECT, locale="ka", **urls)
    async with anyoauth.Client(strategy, http=http_client) as client:
        token = await client.token()
        assert token.extra["app_id"]
        assert "not-before-policy" in token.extra
        assert "refresh_expires_in" in token.extra
        assert await client.token() is token
        assert emulator.calls["keycloak.token"] == 1
        implicit = await _login(client, http_client)
        assert implicit.token_type.lower() == "bearer"
        assert emulator.is_valid_token(implicit.access_token)


async def test_bog_fragment_response_mode(
    emulator: ProviderEmulator, base_url: str, http_client: Any
) -> None:
    emulator.keycloak_response_mode = "fragment"
    urls = emulator.endpoints_keycloak(base_url, "bog")
    strategy = BankOfGeorgia(BOG_ID, BOG_SECRET, redirect_uri=BOG_REDIRECT, **urls)
    async with anyoauth.Client(strategy, http=http_client) as client:
        start = await client.begin()
        landed = await browse(http_client, start.url, decision="allow")
        assert "#access_token=" in landed
        assert emulator.is_valid_token((await client.complete(landed)).access_token)


async def test_keycloak_wrong_secret(
    emulator: ProviderEmulator, base_url: str, http_client: Any
) -> None:
    urls = emulator.endpoints_keycloak(base_url, "staff")
    strategy = Keycloak(base_url, "staff", "kc-client", "nope", **urls)
    async with anyoauth.Client(strategy, http=http_client) as client:
        with pytest.raises(anyoauth.TokenRequestError) as info:
            await client.token()
        assert info.value.error == "unauthorized_client"
        assert info.value.status_code == 401


async def test_in_process_emulator(emulator: ProviderEmulator, http_module: ModuleType) -> None:
    transport = emulator.mock_transport(http_module)
    async with http_module.AsyncClient(transport=transport) as http:
        base = "https://emulator.test"
        strategy = Teamwork(TW_ID, TW_SECRET, TW_REDIRECT, **emulator.endpoints_teamwork(base))
        async with anyoauth.Client(strategy, http=http) as client:
            token = await _login(client, http)
            assert emulator.is_valid_token(token.access_token)


async def test_demo_passes_and_leaks_nothing() -> None:
    out = io.StringIO()
    assert await run_demo(out) == 0
    text = out.getvalue()
    assert "FAIL" not in text
    assert "tkn.v1_" not in text
