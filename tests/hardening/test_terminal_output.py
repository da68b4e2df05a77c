"""Nothing anyoauth shows a person carries a control character (docs/security.md, rule 14).

- The device grant's ``verification_uri`` and ``verification_uri_complete`` must be
  printable, as ``user_code`` must: an answer with a terminal escape sequence is refused
  with :class:`InvalidTokenResponse` before anything is shown.
- Every URL anyoauth takes from server metadata or configuration is visible ASCII:
  one with whitespace, a control (ESC, C1) or bidi character is refused with
  :class:`DiscoveryError` or :class:`ConfigurationError`.
- The ``anyoauth`` command writes everything through one output path: ``token`` prints
  a token exactly or refuses; every other line (provider text, URLs, paths, profile
  names, errors, the library's log warnings) has its control characters escaped.
- What the library itself writes for a person (:class:`ManualAgent`'s and the device
  grant's default output) has its control characters escaped.

The command runs as a real subprocess, as in ``tests/cli``.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import anyoauth
from anyoauth import DeviceAuthorization, ServerMetadata
from anyoauth.agents import ManualAgent
from anyoauth.providers import Keycloak
from anyoauth.sansio import ENDPOINT_FIELDS
from anyoauth.stores import dump_token
from anyoauth.testing import ProviderEmulator
from cli.helpers import EXIT_ERROR, EXIT_OK, Cli
from support.internals import (
    cli_module,
    file_store_digest,
    printable,
    replace_command,
    show_device_code,
)

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
# What a URL must not carry: the above, a space, a tab, and a printable non-ASCII letter
# (an IRI is taken percent-encoded only).
URL_HAZARDS = {**ESCAPES, "space": " ", "tab": "\t", "del": "\x7f", "non-ascii": "\u00e9"}


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
    shown = printable(f"before {escape} after\nnext line")
    assert only_printable_lines(shown)
    assert shown.startswith("before \\")
    assert shown.endswith(" after\nnext line")
    assert printable("plain text: https://as.example/x?y=1\n") == (
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
        path = cli.config_dir / "store" / "tokens" / file_store_digest(key)
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
    assert "InvalidResponse" in login.stderr
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


# -- URLs from server metadata and configuration -----------------------------------------------

URL_REFUSED = "has whitespace, control or non-ASCII characters"
METADATA_URL_FIELDS = ["issuer", *ENDPOINT_FIELDS, "mtls_endpoint_aliases"]


def metadata_with(field: str, hazard: str) -> tuple[dict[str, Any], str]:
    """A metadata document whose ``field`` holds a URL with ``hazard``, and its issuer."""
    issuer = "https://as.example"
    document: dict[str, Any] = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
    }
    bad = f"{issuer}/x{hazard}y"
    if field == "issuer":
        issuer = document["issuer"] = bad
    elif field == "mtls_endpoint_aliases":
        document[field] = {"token_endpoint": bad}
    else:
        document[field] = bad
    return document, issuer


@pytest.mark.parametrize("hazard", list(URL_HAZARDS.values()), ids=list(URL_HAZARDS))
@pytest.mark.parametrize("field", METADATA_URL_FIELDS)
def test_metadata_with_a_url_that_is_not_visible_ascii_is_refused(field: str, hazard: str) -> None:
    document, issuer = metadata_with(field, hazard)
    with pytest.raises(anyoauth.DiscoveryError, match=re.escape(f"{field} {URL_REFUSED}")):
        ServerMetadata.from_dict(document, issuer=issuer, allow_insecure=True)


def test_metadata_with_visible_ascii_urls_is_accepted() -> None:
    document, issuer = metadata_with("jwks_uri", "%E2%80%AE")  # U+202E, percent-encoded
    assert ServerMetadata.from_dict(document, issuer=issuer).jwks_uri == (
        "https://as.example/x%E2%80%AEy"
    )


@pytest.mark.parametrize("hazard", list(URL_HAZARDS.values()), ids=list(URL_HAZARDS))
async def test_discovery_for_an_issuer_that_is_not_visible_ascii_sends_nothing(
    hazard: str,
) -> None:
    async with fs.fault_server(default=fs.json_answer(404, {})) as server:
        with pytest.raises(anyoauth.DiscoveryError, match=re.escape(f"issuer {URL_REFUSED}")):
            await anyoauth.discover(f"{server.url}/x{hazard}y")
    assert server.requests == []


def configured(field: str, url: str) -> anyoauth.Strategy:
    """A strategy with ``url`` as its ``field``."""
    settings: dict[str, Any]
    if field == "device_authorization_endpoint":
        settings = {"token_endpoint": "https://as.example/token", field: url}
        return anyoauth.DeviceCode(client_id="c", **settings)
    if field in ("success_url", "failure_url"):
        settings = {
            "authorization_endpoint": "https://as.example/authorize",
            "success_url": "https://as.example/ok",
            "failure_url": "https://as.example/no",
            field: url,
        }
        return anyoauth.ImplicitDesktop(client_id="c", **settings)
    settings = {
        "authorization_endpoint": "https://as.example/authorize",
        "token_endpoint": "https://as.example/token",
        "redirect_uri": "http://127.0.0.1:9/cb",
        field: url,
    }
    return anyoauth.AuthorizationCode(client_id="c", **settings)


CONFIGURED_URL_FIELDS = [
    "authorization_endpoint",
    "token_endpoint",
    "redirect_uri",
    "issuer",
    "jwks_uri",
    "revocation_endpoint",
    "introspection_endpoint",
    "device_authorization_endpoint",
    "success_url",
    "failure_url",
]


@pytest.mark.parametrize("hazard", list(URL_HAZARDS.values()), ids=list(URL_HAZARDS))
@pytest.mark.parametrize("field", CONFIGURED_URL_FIELDS)
def test_a_configured_url_that_is_not_visible_ascii_is_refused(field: str, hazard: str) -> None:
    url = f"https://as.example/x{hazard}y" if field != "redirect_uri" else f"myapp://x{hazard}y"
    with pytest.raises(anyoauth.ConfigurationError, match=re.escape(f"{field} {URL_REFUSED}")):
        configured(field, url)


@pytest.mark.parametrize("field", CONFIGURED_URL_FIELDS)
def test_a_configured_percent_encoded_iri_is_accepted(field: str) -> None:
    url = "https://as.example/caf%C3%A9" if field != "redirect_uri" else "myapp://caf%C3%A9"
    assert getattr(configured(field, url), field) == url


C1_AND_BIDI = "\x9b2J\x9b31mFAKE PROMPT\u202e"


async def test_a_login_against_metadata_with_a_hostile_jwks_uri_prints_no_control_character(
    tmp_path: Path,
) -> None:
    cli = Cli(tmp_path / "config")
    async with fs.fault_server(default=fs.json_answer(500, {"error": "server_error"})) as server:
        base = server.url
        metadata = {
            "issuer": base,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "jwks_uri": f"{base}/jwks/{C1_AND_BIDI}",
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
        }
        server.next_at("/.well-known/oauth-authorization-server", fs.json_answer(200, metadata))
        token = {"access_token": "AT-123", "token_type": "Bearer", "expires_in": 3600}
        server.next_at("/token", fs.json_answer(200, token))
        login = await cli.open(
            *("login", "oauth", "--issuer", base, "--flow", "code", "--agent", "manual"),
            *("--scope", "openid", "--redirect-uri", "http://127.0.0.1:9/cb"),
            env={"ANYOAUTH_CLIENT_ID": "cid", "ANYOAUTH_CLIENT_SECRET": "s3cret-value-xyz"},
        )
        asked = await login.wait_for(r"state=([A-Za-z0-9_-]+)|DiscoveryError")
        if asked.group(1) is not None:  # the metadata was taken: finish the login
            await login.type(f"http://127.0.0.1:9/cb?code=abc&state={asked.group(1)}")
        result = await login.finish()
    assert only_printable_lines(result.stdout + result.stderr)
    assert result.returncode == EXIT_ERROR
    assert f"jwks_uri {URL_REFUSED}" in result.stderr
    assert [r.target for r in server.requests] == ["/.well-known/oauth-authorization-server"]


def test_the_command_writes_library_warnings_escaped(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def warn(_args: object) -> int:
        logging.getLogger("anyoauth.client").warning("key set of %s failed", C1_AND_BIDI)
        return EXIT_OK

    replace_command(monkeypatch, "providers", warn)
    assert cli_module.main(["providers"]) == EXIT_OK
    shown = capsys.readouterr()
    assert only_printable_lines(shown.out + shown.err)
    assert shown.err == "anyoauth: warning: key set of \\x9b2J\\x9b31mFAKE PROMPT\\u202e failed\n"
    assert logging.getLogger("anyoauth").handlers == []  # the command's handler is gone


# -- what the library writes for a person ------------------------------------------------------

HOSTILE_URL = "https://as.example/authorize\x1b]0;owned\x07\x1b[2J\x9b31m\u202e?state=s"


async def test_the_manual_agent_shows_a_hostile_url_escaped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def end_of_input(_prompt: str) -> str:
        raise EOFError

    strategy = configured("authorization_endpoint", "https://as.example/authorize")
    async with ManualAgent(input=end_of_input).session(strategy) as session:
        with pytest.raises(anyoauth.AgentError, match="input ended"):
            await session.authorize(HOSTILE_URL)
    shown = capsys.readouterr()
    assert only_printable_lines(shown.out + shown.err)
    assert "authorize\\x1b]0;owned\\x07\\x1b[2J\\x9b31m\\u202e?state=s" in shown.err


def test_the_default_device_code_output_is_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    device = DeviceAuthorization(
        device_code="dc",
        user_code="AB\x1b[2JCD",
        verification_uri=HOSTILE_URL,
        expires_at=NOW + 600,
        interval=5,
    )
    show_device_code(device)
    shown = capsys.readouterr()
    assert only_printable_lines(shown.out + shown.err)
    assert "enter the code AB\\x1b[2JCD" in shown.err
