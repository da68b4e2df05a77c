"""Fixtures: a fresh configuration directory and the emulator on a loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from anyoauth.testing import ProviderEmulator

from .helpers import (
    BOG_ID,
    BOG_SECRET,
    GENI_ID,
    KC_ID,
    KC_REALM,
    KC_SECRET,
    TW_ID,
    TW_REDIRECT,
    TW_SECRET,
    Cli,
)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "config")


@pytest.fixture
def emulator() -> ProviderEmulator:
    emulator = ProviderEmulator()
    emulator.add_geni_app(GENI_ID)
    emulator.add_teamwork_app(TW_ID, TW_SECRET, redirect_uris=[TW_REDIRECT])
    emulator.add_keycloak_client(BOG_ID, BOG_SECRET, realm="bog")
    emulator.add_keycloak_client(KC_ID, KC_SECRET, realm=KC_REALM)
    return emulator


@pytest.fixture
async def base(emulator: ProviderEmulator) -> AsyncIterator[str]:
    async with emulator.serve() as base_url:
        yield base_url
