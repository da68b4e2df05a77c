"""The emulator's Keycloak refresh tokens for client credentials: issued, rotated, single use."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

import anyoauth
from anyoauth.providers import Keycloak
from anyoauth.testing import ManualClock, ProviderEmulator

pytestmark = pytest.mark.anyio

BASE = "https://emulator.test"


def client(emulator: ProviderEmulator, http: Any, clock: ManualClock) -> anyoauth.Client:
    strategy = Keycloak(
        f"{BASE}/auth", "corp", "svc", "svc-secret", **emulator.endpoints_keycloak(BASE, "corp")
    )
    return anyoauth.Client(strategy, http=http, clock=clock)


async def test_refresh_tokens_rotate_and_are_single_use(http_module: ModuleType) -> None:
    clock = ManualClock(1_700_000_000.0)
    emulator = ProviderEmulator(clock=clock)
    emulator.add_keycloak_client("svc", "svc-secret", realm="corp", refresh_tokens=True)
    async with http_module.AsyncClient(transport=emulator.mock_transport(http_module)) as http:
        c = client(emulator, http, clock)
        first = await c.token()
        assert first.refresh_token
        assert first.extra["refresh_expires_in"] == 1800
        clock.advance(301)
        second = await c.token()
        assert second.refresh_token not in (None, first.refresh_token)
        assert emulator.calls["keycloak.token"] == 2
        assert emulator.is_valid_token(second.access_token)
        # The spent refresh token is refused the way Keycloak refuses it, and a client
        # credentials client then simply starts afresh.
        await c.set_token(first)
        third = await c.token()
        assert third.access_token not in (first.access_token, second.access_token)
        assert emulator.calls["keycloak.token"] == 4
        # With the client credentials themselves refused too, the provider's words surface.
        emulator.add_keycloak_client("svc", "rotated-secret", realm="corp", refresh_tokens=True)
        await c.set_token(first)
        with pytest.raises(anyoauth.TokenRequestError) as raised:
            await c.token()
        assert raised.value.error == "unauthorized_client"


async def test_no_refresh_tokens_unless_enabled(http_module: ModuleType) -> None:
    clock = ManualClock(1_700_000_000.0)
    emulator = ProviderEmulator(clock=clock)
    emulator.add_keycloak_client("svc", "svc-secret", realm="corp")
    async with http_module.AsyncClient(transport=emulator.mock_transport(http_module)) as http:
        token = await client(emulator, http, clock).token()
    assert token.refresh_token is None
    assert token.extra["refresh_expires_in"] == 0
