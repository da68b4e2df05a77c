"""Fixtures: a fresh configuration directory and the emulator on a loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from anyoauth.testing import ProviderEmulator

from .helpers import (
    BOG_ID,
    BOG_SECRET,
    DEVICE_GRANT,
    GENI_ID,
    KC_ID,
    KC_REALM,
    KC_SECRET,
    LOOPBACK_REDIRECT,
    SVC_ID,
    SVC_SECRET,
    TV_ID,
    TW_ID,
    TW_REDIRECT,
    TW_SECRET,
    WEB_ID,
    WEB_SECRET,
    Cli,
)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "config")


@pytest.fixture
def emulator() -> ProviderEmulator:
    # The device flow's clients poll without waiting: the tests approve at once.
    emulator = ProviderEmulator(oauth_device_interval=0)
    emulator.add_geni_app(GENI_ID)
    emulator.add_teamwork_app(TW_ID, TW_SECRET, redirect_uris=[TW_REDIRECT])
    emulator.add_keycloak_client(BOG_ID, BOG_SECRET, realm="bog")
    emulator.add_keycloak_client(KC_ID, KC_SECRET, realm=KC_REALM)
    emulator.add_oauth_client(WEB_ID, client_secret=WEB_SECRET, redirect_uris=[LOOPBACK_REDIRECT])
    emulator.add_oauth_client(
        TV_ID, auth_method="none", grant_types=[DEVICE_GRANT, "refresh_token"]
    )
    emulator.add_oauth_client(SVC_ID, client_secret=SVC_SECRET, grant_types=["client_credentials"])
    return emulator


@pytest.fixture
async def base(emulator: ProviderEmulator) -> AsyncIterator[str]:
    async with emulator.serve() as base_url:
        yield base_url
