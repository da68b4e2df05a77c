"""Fixtures: a fresh configuration directory, the emulator on a loopback port, and the
command called in-process."""

from __future__ import annotations

import io
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
    InProcess,
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


@pytest.fixture
def main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> InProcess:
    """The command in-process, with no client id or secret in the environment, the
    configuration in ``tmp_path / "config"`` and a stdin that is not a terminal."""
    for name in ("ANYOAUTH_CLIENT_ID", "ANYOAUTH_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANYOAUTH_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal: no prompt
    return InProcess(capsys)
