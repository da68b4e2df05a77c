"""What ``anyoauth status`` and the device flow's QR code write cannot leak a secret
or drive a terminal (docs/security.md, rule 14).

- ``status`` (text and ``--json``) reads profile files that may have been edited by
  hand: whatever they hold (a client secret or a DPoP key's private member copied into
  the issuer, the client id or the flow; escape sequences and bidi overrides in any
  field; a file naming another profile), no secret appears and no character a terminal
  acts on is written.
- The QR code is drawn with block characters and spaces only, whatever the text it
  encodes: a hostile address (the library refuses one before, this is the drawing's
  own guarantee) reaches the terminal as modules, never as characters.

The command runs as a real subprocess, as in ``tests/cli``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anyoauth import DPoPKey
from anyoauth.cli._terminal import qr_lines
from cli.helpers import EXIT_OK, Cli, drawn_qr_matrix, segno_matrix

SECRET = "status-secret-SENTINEL-4c1d"
ESCAPE = "\x1b]52;c;cHduZWQ=\x07\x1b[2J\u202e\u009b31m"


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "config")


def hostile_profiles(config: Path) -> list[str]:
    """Profile files with secrets and escape sequences where text is shown; the
    secrets they hold."""
    key = DPoPKey.generate("ES256").private_jwk()
    private = key["d"]
    profiles = {
        # The secret is also the issuer: building its strategy fails and the error
        # would quote it.
        ("oauth", "default"): {
            "version": 3,
            "client_id": f"id{ESCAPE}{private}",
            "client_secret": SECRET,
            "issuer": SECRET,
            "flow": "device",
            "client_auth": "none",
            "server": {"token_endpoint": f"https://as.example/{SECRET}"},
            "dpop": {"alg": "ES256", "jwk": key},
        },
        # A usable profile whose endpoints hold the secret and escape sequences.
        ("oauth", "work"): {
            "version": 2,
            "client_id": "work-client",
            "client_secret": SECRET,
            "issuer": f"https://as.example/{SECRET}",
            "flow": "client-credentials",
            "client_auth": "client_secret_basic",
            "server": {"token_endpoint": f"https://as.example/{SECRET}/token"},
        },
        # A file that names another profile and provider, with escapes in them.
        ("oauth", "other"): {
            "version": 1,
            "provider": f"oauth{ESCAPE}",
            "name": f"x{ESCAPE}",
            "client_id": SECRET,
            "client_secret": SECRET,
        },
        ("keycloak", "default"): {
            "version": 1,
            "client_id": f"kc{ESCAPE}",
            "client_secret": SECRET,
            "endpoints": {"server_url": f"https://{SECRET}.example", "realm": ESCAPE},
        },
    }
    for (provider, name), data in profiles.items():
        document = {"provider": provider, "name": name, **data}
        path = config / "profiles" / provider / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_text(json.dumps(document))
        path.chmod(0o600)
    (config / "profiles" / "oauth" / f"bad{ESCAPE}.json").write_text("[]")
    return [SECRET, private]


def test_status_never_prints_a_secret_or_a_control_character_from_hostile_profiles(
    cli: Cli,
) -> None:
    secrets = hostile_profiles(cli.config_dir)
    text = cli.run_sync("status")
    as_json = cli.run_sync("status", "--json")
    for run in (text, as_json):
        assert run.returncode == EXIT_OK, run.stderr
        for secret in secrets:
            assert secret not in run.stdout + run.stderr
        for output in (run.stdout, run.stderr):
            assert all(line.isprintable() for line in output.split("\n"))
        assert "Traceback" not in run.stderr
    assert as_json.stdout.isascii()
    rows = json.loads(as_json.stdout)
    assert len(rows) == 5
    assert all("client_secret" not in row and "dpop_jwk" not in row for row in rows)
    assert "[redacted]" in as_json.stdout  # the secret copied into shown fields
    assert "\\x1b" in text.stdout + text.stderr  # escapes shown, not acted on


@pytest.mark.parametrize(
    "text",
    [
        f"https://as.example/device?user_code={ESCAPE}",
        "\x00\r\n\t\x7f" * 20,
        "\u202e" + "x" * 500,
    ],
    ids=["escapes", "controls", "bidi-long"],
)
def test_the_qr_code_of_a_hostile_address_is_drawn_with_block_characters_only(
    text: str,
) -> None:
    lines = qr_lines(text)
    assert set("".join(lines)) <= {" ", "\u2580", "\u2584", "\u2588"}
    assert drawn_qr_matrix(lines) == segno_matrix(text)
