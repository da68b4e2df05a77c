"""Nothing anyoauth shows a person carries a control character (DESIGN.md 12c).

- The device grant's ``verification_uri`` and ``verification_uri_complete`` must be
  printable, as ``user_code`` must: an answer with a terminal escape sequence is refused
  with :class:`InvalidTokenResponse` before anything is shown.
- The ``anyoauth`` command writes everything through one output path: ``token`` prints
  a token exactly or refuses; every other line (provider text, URLs, paths, profile
  names, errors) has its control characters escaped.

The command runs as a real subprocess, as in ``tests/cli``.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import anyoauth
from anyoauth import _cli
from anyoauth._core.device import DeviceAuthorization
from anyoauth._file_store import _digest
from anyoauth._store import dump_token
from anyoauth.providers import Keycloak
from anyoauth.testing import ProviderEmulator
from cli.helpers import EXIT_ERROR, EXIT_OK, Cli

from . import faultserver as fs
from .common import NOW, ORIGINAL

pytestmark = pytest.mark.anyio

ESCAPES = {
    "csi-clear": "\x1b[2J",
    "osc-title": "\x1b]0;owned\x07",
    "c1-csi": "\x9b31m",
    "bell": "\x07",
    "crlf": "\r\n",
    "nul": "\x00",
    "bidi": "\u202e",
}


def only_printable_lines(text: str) -> bool:
    """Whether ``text`` has no character a terminal acts on (newlines apart)."""
    return all(line.isprintable() for line in text.split("\n"))


# -- the device grant's verification URIs -------------------------------------------------------


def device_body(**fields: str) -> bytes:
    answer = {
        "device_code": "dc",
        "user_code": "ABCD-EFGH",
        "verification_uri": "https://as.example/activate",
        "expires_in": 600,
        "interval": 5,
        **fields,
    }
    return json.dumps(answer).encode()


@pytest.mark.parametrize("escape", list(ESCAPES.values()), ids=list(ESCAPES))
@pytest.mark.parametrize("field", ["verification_uri", "verification_uri_complete"])
def test_a_verification_uri_with_a_control_character_is_refused(field: str, escape: str) -> None:
    body = device_body(**{field: f"https://as.example/activate{escape}?user_code=ABCD"})
    with pytest.raises(anyoauth.InvalidTokenResponse, match=f"{field} has non-printable"):
        DeviceAuthorization.from_response(200, "application/json", body, received_at=NOW)


async def test_a_device_login_shows_nothing_when_the_verification_uri_is_unprintable(
    http_module: ModuleType,
) -> None:
    sent: list[str] = []

    def handler(request: Any) -> Any:
        sent.append(request.url.path)
        body = device_body(verification_uri_complete="https://as.example/a\x1b[2J\x1b]0;x\x07")
        return http_module.Response(200, content=body, headers={"content-type": "application/json"})

    shown: list[DeviceAuthorization] = []
    strategy = anyoauth.DeviceCode(
        client_id="tv",
        device_authorization_endpoint="https://as.example/device",
        token_endpoint="https://as.example/token",
        client_auth="none",
    )
    async with http_module.AsyncClient(transport=http_module.MockTransport(handler)) as http:
        client = anyoauth.Client(strategy, http=http)
        with pytest.raises(anyoauth.InvalidTokenResponse):
            await client.device_login(shown.append)
    assert shown == []
    assert sent == ["/device"]  # no poll


# -- the command's one output path ------------------------------------------------------------


@pytest.mark.parametrize("escape", list(ESCAPES.values()), ids=list(ESCAPES))
def test_the_command_escapes_every_control_character_it_would_print(escape: str) -> None:
    shown = _cli._printable(f"before {escape} after\nnext line")
    assert only_printable_lines(shown)
    assert shown.startswith("before \\")
    assert shown.endswith(" after\nnext line")
    assert _cli._printable("plain text: https://as.example/x?y=1\n") == (
        "plain text: https://as.example/x?y=1\n"
    )


KC_ID, KC_SECRET, KC_REALM = "kc-terminal", "kc-secret-SENTINEL-term", "staff"


@pytest.fixture
def emulator() -> ProviderEmulator:
    emulator = ProviderEmulator()
    emulator.add_keycloak_client(KC_ID, KC_SECRET, realm=KC_REALM)
    return emulator


def keycloak_login(server_url: str) -> list[str]:
    return ["login", "keycloak", "--server-url", server_url, "--realm", KC_REALM]


SECRET_ENV = {"ANYOAUTH_CLIENT_ID": KC_ID, "ANYOAUTH_CLIENT_SECRET": KC_SECRET}


async def test_the_token_command_never_prints_a_stored_token_with_control_characters(
    tmp_path: Path, emulator: ProviderEmulator
) -> None:
    cli = Cli(tmp_path / "config")
    async with emulator.serve() as base:
        login = await cli.run(*keycloak_login(f"{base}/auth"), env=SECRET_ENV)
        assert login.returncode == EXIT_OK, login.stderr
        # An older anyoauth stored what the server sent, control characters and all.
        strategy = Keycloak(f"{base}/auth", KC_REALM, KC_ID, KC_SECRET)
        key = anyoauth.Client(strategy, account="keycloak/default").token_key
        path = cli.config_dir / "store" / "tokens" / _digest(key)
        record = json.loads(dump_token(ORIGINAL))
        record.update(access_token="AT\r\nX-Injected: yes\x1b[2J", expires_at=NOW * 2)
        path.write_text(json.dumps(record))

        result = await cli.run("token", "keycloak")
    assert result.returncode == EXIT_ERROR
    assert result.stdout == ""
    assert "StoreError" in result.stderr
    assert only_printable_lines(result.stderr)
    assert path.read_text() == json.dumps(record)  # reported, not deleted


async def test_a_login_that_gets_a_token_with_control_characters_prints_and_saves_nothing(
    tmp_path: Path,
) -> None:
    cli = Cli(tmp_path / "config")
    answer = {"access_token": "AT\r\nX-Injected: yes\x1b[2J", "token_type": "Bearer"}
    async with fs.fault_server(default=fs.json_answer(200, answer)) as server:
        login = await cli.run(*keycloak_login(f"{server.url}/auth"), env=SECRET_ENV)
    assert login.returncode == EXIT_ERROR
    assert "InvalidTokenResponse" in login.stderr
    assert only_printable_lines(login.stdout + login.stderr)
    assert not (cli.config_dir / "profiles" / "keycloak" / "default.json").exists()
    tokens = cli.config_dir / "store" / "tokens"
    assert not tokens.exists() or not any(tokens.iterdir())


async def test_provider_text_with_escape_sequences_reaches_the_terminal_escaped(
    tmp_path: Path,
) -> None:
    cli = Cli(tmp_path / "config")
    error = {
        "error": "invalid_client\x1b[2J",
        "error_description": "no \x1b]0;owned\x07 such \u202e client\r\nfake: line",
    }
    async with fs.fault_server(default=fs.json_answer(401, error)) as server:
        login = await cli.run(*keycloak_login(f"{server.url}/auth"), env=SECRET_ENV)
    assert login.returncode == EXIT_ERROR
    assert "invalid_client" in login.stderr
    assert only_printable_lines(login.stdout + login.stderr)


async def test_a_path_given_on_the_command_line_is_shown_escaped(
    tmp_path: Path, emulator: ProviderEmulator
) -> None:
    cli = Cli(tmp_path / "config")
    config_dir = tmp_path / "conf\x1b[2J\x1b]0;owned\x07"
    async with emulator.serve() as base:
        login = await cli.run(
            *keycloak_login(f"{base}/auth"), "--config-dir", str(config_dir), env=SECRET_ENV
        )
    assert login.returncode == EXIT_OK, login.stderr
    assert "saved in" in login.stderr
    assert "conf\\x1b[2J\\x1b]0;owned\\x07" in login.stderr
    assert only_printable_lines(login.stdout + login.stderr)
