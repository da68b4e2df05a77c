"""``anyoauth login`` sends a saved client secret only where it was saved for: the same
client id and the same endpoints (issuer, token, device authorization, revocation,
introspection; presets' overrides included; for ``oauth`` the endpoints its metadata
names). Pointed at another server it asks again, or without a terminal exits 2; the
other server never receives the saved secret.

The real command runs in a subprocess (tests/cli/helpers.py) against two emulators on
loopback ports, A and B; B records every request it receives. The same client id is
registered at both, with a different secret each.
"""

from __future__ import annotations

import base64
import json
import os
import select
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from urllib.parse import quote, quote_plus, unquote_plus

import anyio.from_thread
import pytest

from anyoauth.testing import EmulatorResponse, ProviderEmulator
from cli.helpers import EXIT_OK, EXIT_USAGE, Cli, assert_no_secrets

CLIENT_ID = "shared-client-id"
SECRET_A = "secret-of-server-A-SENTINEL-4c1e"
SECRET_B = "secret-of-server-B-SENTINEL-9d7a"
REALM = "staff"


class RecordingEmulator(ProviderEmulator):
    """The emulator, keeping every request it answered."""

    def __init__(self) -> None:
        super().__init__()
        self.received: list[tuple[str, str, dict[str, str], bytes]] = []

    def handle(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> EmulatorResponse:
        items = headers.items() if isinstance(headers, Mapping) else headers
        kept = {name.lower(): value for name, value in items}
        self.received.append((method, url, kept, body))
        return super().handle(method, url, kept, body)

    def token_requests(self) -> list[tuple[str, str, dict[str, str], bytes]]:
        return [r for r in self.received if r[0] == "POST" and r[1].endswith("token")]

    def ever_received(self, secret: str) -> bool:
        """Whether any request carried ``secret``: raw, form- or percent-encoded, or
        inside HTTP Basic credentials."""
        forms = {secret, quote_plus(secret), quote(secret, safe="")}
        for _, url, headers, body in self.received:
            text = url + "\n" + "\n".join(headers.values()) + "\n" + body.decode("latin-1")
            if any(form in text for form in forms):
                return True
            scheme, _, credentials = headers.get("authorization", "").partition(" ")
            if scheme.lower() == "basic":
                decoded = base64.b64decode(credentials + "==").decode("latin-1")
                if secret in decoded or secret in unquote_plus(decoded):
                    return True
        return False


@pytest.fixture
def servers() -> Iterator[tuple[str, RecordingEmulator, str, RecordingEmulator]]:
    a, b = RecordingEmulator(), RecordingEmulator()
    for emulator, secret in ((a, SECRET_A), (b, SECRET_B)):
        emulator.add_keycloak_client(CLIENT_ID, secret, realm=REALM)
        emulator.add_keycloak_client(CLIENT_ID, secret, realm="bog")
        emulator.add_oauth_client(
            CLIENT_ID, client_secret=secret, grant_types=["client_credentials"]
        )
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(a.serve()) as base_a,
        portal.wrap_async_context_manager(b.serve()) as base_b,
    ):
        yield base_a, a, base_b, b


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "config")


def keycloak(base: str) -> list[str]:
    return ["--server-url", f"{base}/auth", "--realm", REALM]


def bog_token_url(base: str) -> str:
    return f"{base}/auth/realms/bog/protocol/openid-connect/token"


def test_a_saved_secret_is_not_sent_to_another_keycloak_server(
    cli: Cli, servers: tuple[str, RecordingEmulator, str, RecordingEmulator]
) -> None:
    base_a, a, base_b, b = servers
    first = cli.run_sync(
        "login", "keycloak", "--client-id", CLIENT_ID, *keycloak(base_a),
        env={"ANYOAUTH_CLIENT_SECRET": SECRET_A},
    )  # fmt: skip
    assert first.returncode == EXIT_OK, first.stderr
    assert a.ever_received(SECRET_A)

    # Same profile, same client id, server B; no secret given and no terminal.
    moved = cli.run_sync("login", "keycloak", *keycloak(base_b))
    assert moved.returncode == EXIT_USAGE, moved.stderr
    assert "secret" in moved.stderr
    assert "ANYOAUTH_CLIENT_SECRET" in moved.stderr
    assert b.token_requests() == []
    assert not b.ever_received(SECRET_A)

    # Given B's secret, the login works and B only ever saw its own secret.
    done = cli.run_sync(
        "login", "keycloak", *keycloak(base_b), env={"ANYOAUTH_CLIENT_SECRET": SECRET_B}
    )
    assert done.returncode == EXIT_OK, done.stderr
    assert len(b.token_requests()) == 1
    assert b.ever_received(SECRET_B)
    assert not b.ever_received(SECRET_A)
    # The saved profile now holds B's secret: the same server again needs nothing.
    again = cli.run_sync("login", "keycloak")
    assert again.returncode == EXIT_OK, again.stderr
    assert not b.ever_received(SECRET_A)
    assert_no_secrets(cli, [])
    assert SECRET_A not in cli.outputs()
    assert SECRET_B not in cli.outputs()


def test_a_saved_secret_is_not_sent_to_an_overridden_token_endpoint(
    cli: Cli, servers: tuple[str, RecordingEmulator, str, RecordingEmulator]
) -> None:
    base_a, _, base_b, b = servers
    first = cli.run_sync(
        "login", "bog", "--client-id", CLIENT_ID, "--token-url", bog_token_url(base_a),
        env={"ANYOAUTH_CLIENT_SECRET": SECRET_A},
    )  # fmt: skip
    assert first.returncode == EXIT_OK, first.stderr
    moved = cli.run_sync("login", "bog", "--token-url", bog_token_url(base_b))
    assert moved.returncode == EXIT_USAGE, moved.stderr
    assert b.received == []


def test_a_saved_secret_is_not_sent_where_the_issuers_metadata_moved_it(
    cli: Cli, servers: tuple[str, RecordingEmulator, str, RecordingEmulator]
) -> None:
    """The saved oauth profile names another token endpoint than the issuer's metadata
    names now: the secret was saved for that one, and is not sent to the new one."""
    _, _, base_b, b = servers
    # What a login at a time when B's metadata named another token endpoint had saved.
    path = cli.config_dir / "profiles" / "oauth" / "default.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "version": 2,
        "provider": "oauth",
        "name": "default",
        "client_id": CLIENT_ID,
        "client_secret": SECRET_A,
        "redirect_uri": None,
        "scope": [],
        "endpoints": {},
        "agent": None,
        "port": None,
        "issuer": base_b,
        "flow": "client-credentials",
        "client_auth": "client_secret_basic",
        "server": {"token_endpoint": "https://login.old.example/token"},
        "require_iss": False,
    }
    path.write_text(json.dumps(profile))
    path.chmod(0o600)
    moved = cli.run_sync("login", "oauth")
    assert moved.returncode == EXIT_USAGE, moved.stderr
    assert b.token_requests() == []
    assert not b.ever_received(SECRET_A)


def test_a_saved_secret_is_reused_for_the_same_client_and_endpoints(
    cli: Cli, servers: tuple[str, RecordingEmulator, str, RecordingEmulator]
) -> None:
    base_a, a, _, _ = servers
    first = cli.run_sync(
        "login", "oauth", "--issuer", base_a, "--client-id", CLIENT_ID,
        "--flow", "client-credentials", env={"ANYOAUTH_CLIENT_SECRET": SECRET_A},
    )  # fmt: skip
    assert first.returncode == EXIT_OK, first.stderr
    again = cli.run_sync("login", "oauth")
    assert again.returncode == EXIT_OK, again.stderr
    assert len(a.token_requests()) == 2
    kc = cli.run_sync(
        "login", "keycloak", "--client-id", CLIENT_ID, *keycloak(base_a),
        env={"ANYOAUTH_CLIENT_SECRET": SECRET_A},
    )  # fmt: skip
    assert kc.returncode == EXIT_OK, kc.stderr
    kc_again = cli.run_sync("login", "keycloak", *keycloak(base_a))
    assert kc_again.returncode == EXIT_OK, kc_again.stderr
    assert len(a.token_requests()) == 4


# Runs the command with a pseudo-terminal as its controlling terminal and stdin.
_ON_A_TERMINAL = """
import os, sys
os.setsid()
tty = os.open(sys.argv[1], os.O_RDWR)
os.dup2(tty, 0)
os.execv(sys.executable, [sys.executable, "-m", "anyoauth", *sys.argv[2:]])
"""


def _read_until(fd: int, text: bytes, seen: bytearray) -> None:
    while text not in seen:
        ready, _, _ = select.select([fd], [], [], 20)
        assert ready, f"no {text!r} on the terminal: {bytes(seen)!r}"
        seen += os.read(fd, 4096)


def test_on_a_terminal_the_secret_for_another_server_is_asked_for(
    cli: Cli, servers: tuple[str, RecordingEmulator, str, RecordingEmulator]
) -> None:
    base_a, _, base_b, b = servers
    first = cli.run_sync(
        "login", "keycloak", "--client-id", CLIENT_ID, *keycloak(base_a),
        env={"ANYOAUTH_CLIENT_SECRET": SECRET_A},
    )  # fmt: skip
    assert first.returncode == EXIT_OK, first.stderr
    master, slave = os.openpty()
    try:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [
                sys.executable, "-c", _ON_A_TERMINAL, os.ttyname(slave),
                "login", "keycloak", *keycloak(base_b),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=cli.env(),
        )  # fmt: skip
        screen = bytearray()
        _read_until(master, b"client secret (not echoed): ", screen)
        assert b.received == []  # nothing was sent before the answer
        os.write(master, SECRET_B.encode() + b"\n")
        out, err = process.communicate(timeout=20)
    finally:
        os.close(slave)
        os.close(master)
    assert process.returncode == EXIT_OK, err
    assert b"other endpoints" in err
    assert b.ever_received(SECRET_B)
    assert not b.ever_received(SECRET_A)
    assert SECRET_A.encode() not in out + err
