"""``Client.revoke()`` (RFC 7009) and ``Client.introspect()`` (RFC 7662)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs

import pytest

import anyoauth
from anyoauth import (
    AuthorizationCode,
    Client,
    discover,
)
from anyoauth.testing import ManualClock, ProviderEmulator, browse

pytestmark = pytest.mark.anyio


BASE = "https://as.example"


REDIRECT = "http://127.0.0.1:8123/callback"


EMULATED_SECRET = "client-secret-SENTINEL-0123456789abcdef"


DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def emulator(clock: ManualClock) -> ProviderEmulator:
    emulator = ProviderEmulator(clock=clock, base_url=BASE, oauth_device_interval=0)
    emulator.add_oauth_client(
        "web", client_secret=EMULATED_SECRET, redirect_uris=[REDIRECT], scopes=None
    )
    emulator.add_oauth_client(
        "spa", redirect_uris=[REDIRECT], auth_method="none", grant_types=["authorization_code"]
    )
    emulator.add_oauth_client(
        "legacy", redirect_uris=[REDIRECT], auth_method="none", grant_types=["implicit"]
    )
    emulator.add_oauth_client("tv", auth_method="none", grant_types=[DEVICE_GRANT, "refresh_token"])
    emulator.add_oauth_client(
        "service", client_secret=EMULATED_SECRET, grant_types=["client_credentials"]
    )
    return emulator


@pytest.fixture
async def http(emulator: ProviderEmulator, http_module: ModuleType) -> AsyncIterator[Any]:
    transport = emulator.mock_transport(http_module)
    async with http_module.AsyncClient(transport=transport) as client:
        yield client


async def metadata(http: Any) -> anyoauth.ServerMetadata:
    return await discover(BASE, http=http)


async def web_app(http: Any, **settings: Any) -> AuthorizationCode:
    """The confidential "web" client, configured from the emulator's metadata."""
    values: dict[str, Any] = {
        "client_id": "web",
        "client_secret": EMULATED_SECRET,
        "redirect_uri": REDIRECT,
    }
    values.update(settings)
    return AuthorizationCode.from_metadata(await metadata(http), **values)


async def login(client: Client, http: Any, decision: str = "allow") -> anyoauth.Token:
    start = await client.begin()
    return await client.complete(await browse(http, start.url, decision=decision))


ISS = "https://as.example"


TOKEN = ISS + "/token"


REVOKE = ISS + "/revoke"


SECRET = "s" * 40


def form(request: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


def answer(module: ModuleType, payload: Any, status: int = 200) -> Any:
    return module.Response(
        status, content=json.dumps(payload).encode(), headers={"content-type": "application/json"}
    )


def mock(module: ModuleType, handler: Callable[[Any], Any]) -> Any:
    return module.AsyncClient(transport=module.MockTransport(handler))


def code_strategy(token_endpoint: str = TOKEN) -> anyoauth.AuthorizationCode:
    return anyoauth.AuthorizationCode(
        client_id="web",
        client_secret=SECRET,
        authorization_endpoint=ISS + "/auth",
        token_endpoint=token_endpoint,
        redirect_uri="http://127.0.0.1:8123/cb",
        revocation_endpoint=REVOKE,
    )


async def test_revoke_then_login_required(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    strategy = await web_app(http)
    async with Client(strategy, http=http, clock=clock) as client:
        token = await login(client, http)
        info = await client.introspect()
        assert info.active
        assert info.client_id == "web"
        await client.revoke()
        assert not emulator.is_valid_token(token.access_token)
        with pytest.raises(anyoauth.LoginRequired):
            await client.token()
        assert not (await client.introspect(token)).active
        await client.revoke()  # nothing held: nothing to do


async def test_revoke_needs_an_endpoint(http: Any, clock: ManualClock) -> None:
    strategy = await web_app(http, revocation_endpoint=None, introspection_endpoint=None)
    async with Client(strategy, http=http, clock=clock) as client:
        with pytest.raises(anyoauth.ConfigurationError):
            await client.revoke()
        with pytest.raises(anyoauth.ConfigurationError):
            await client.introspect("x")


async def test_revoke_revokes_the_stored_token_not_a_stale_copy(http_module: ModuleType) -> None:
    clock = ManualClock()
    revoked: list[str] = []

    def handler(request: Any) -> Any:
        if request.url == REVOKE:
            revoked.append(form(request)["token"])
            return http_module.Response(200)
        return answer(http_module, {"access_token": "a2", "refresh_token": "r2", "expires_in": 100})

    store = anyoauth.MemoryStore(clock=clock)
    async with mock(http_module, handler) as http:
        a = anyoauth.Client(code_strategy(), store, http=http, clock=clock)
        b = anyoauth.Client(code_strategy(), store, http=http, clock=clock)
        await a.set_token(
            anyoauth.Token(
                access_token="a1",
                refresh_token="r1",
                issued_at=clock.now,
                expires_at=clock.now + 100,
            )
        )
        clock.now += 200
        assert (await b.token()).refresh_token == "r2"  # b rotates r1 to r2; a holds r1
        await a.revoke()
    # The current (stored) refresh token first, then the stale copy's, then access tokens.
    assert revoked == ["r2", "r1", "a2", "a1"]
    assert await store.get_token(a.token_key) is None


async def test_revoke_sends_each_token_once(http_module: ModuleType) -> None:
    revoked: list[str] = []

    def handler(request: Any) -> Any:
        revoked.append(form(request)["token"])
        return http_module.Response(200)

    async with mock(http_module, handler) as http:
        client = anyoauth.Client(code_strategy(), http=http)
        await client.set_token(anyoauth.Token(access_token="a1", refresh_token="r1", issued_at=0))
        await client.revoke()
    assert revoked == ["r1", "a1"]
