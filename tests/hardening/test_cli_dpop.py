"""The DPoP private key the command saves in a profile (``login --dpop``) never leaves
the profile file: no stdout, stderr or log record of any command shows one of its
private members, whether the command succeeds, is misused, meets a refusing server or
reads a saved key that is broken.

The real command runs in a subprocess (tests/cli/helpers.py) against the emulator,
whose token answers are DPoP-bound (tests/cli/dpop_server.py); the log records are
caught in-process at DEBUG.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from anyoauth import DPoPKey
from cli.dpop_server import BindingEmulator, binding_server
from cli.helpers import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_USAGE,
    SVC_ID,
    SVC_SECRET,
    Cli,
    InProcess,
    assert_no_secrets,
)

PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi")


@pytest.fixture
def server() -> Iterator[tuple[str, BindingEmulator]]:
    yield from binding_server()


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "config")


@pytest.fixture
def main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> InProcess:
    """The command in-process, configured in ``tmp_path / "config"``, without a terminal."""
    for name in ("ANYOAUTH_CLIENT_ID", "ANYOAUTH_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANYOAUTH_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    return InProcess(capsys)


def profile_path(config: Path) -> Path:
    return config / "profiles" / "oauth" / "default.json"


def private_values(config: Path) -> list[str]:
    jwk = json.loads(profile_path(config).read_text())["dpop"]["jwk"]
    values = [jwk[name] for name in PRIVATE_MEMBERS if name in jwk]
    assert values
    return values


def login_args(base: str, *more: str) -> list[str]:
    return [
        "login", "oauth", "--issuer", base, "--client-id", SVC_ID,
        "--flow", "client-credentials", *more,
    ]  # fmt: skip


@pytest.mark.parametrize("algorithm", ["ES256", "RS256"])
def test_the_dpop_key_never_reaches_stdout_or_stderr(
    cli: Cli, server: tuple[str, BindingEmulator], algorithm: str
) -> None:
    base, emulator = server
    secret = {"ANYOAUTH_CLIENT_SECRET": SVC_SECRET}
    login = cli.run_sync(*login_args(base, "--dpop-alg", algorithm), env=secret)
    assert login.returncode == EXIT_OK, login.stderr
    keys = private_values(cli.config_dir)
    runs = [
        ("login", "oauth"),  # the saved key again
        ("token", "oauth"),
        ("token", "oauth", "--headers", "GET", "https://api.example/me"),
        ("token", "oauth", "--headers", "GET", "not a url"),
        ("token", "oauth", "--headers", "G T", "https://api.example/me"),
        ("token", "oauth", "--profile", "other"),
        ("login", "oauth", "--client-secret", "wrong-secret-value"),  # refused: exit 1
        ("login", "oauth", "--issuer", "http://127.0.0.1:9", "--dpop"),  # unreachable
        ("login", "teamwork", "--client-id", "x", "--dpop"),
        ("logout", "oauth"),
        ("logout", "oauth", "--forget-profile"),
    ]
    codes = [cli.run_sync(*args).returncode for args in runs]
    assert codes[:3] == [EXIT_OK, EXIT_OK, EXIT_OK]
    assert codes[3:5] == [EXIT_USAGE, EXIT_USAGE]
    assert codes[6] == EXIT_ERROR
    assert codes[-2:] == [EXIT_OK, EXIT_OK]
    everything = cli.outputs()
    for value in keys:
        assert value not in everything
    assert_no_secrets(cli, [])
    assert emulator.proofs  # the key was in use throughout


def test_the_dpop_key_never_reaches_a_log_record(
    main: InProcess,
    tmp_path: Path,
    server: tuple[str, BindingEmulator],
    caplog: pytest.LogCaptureFixture,
) -> None:
    base, emulator = server
    caplog.set_level(logging.DEBUG)
    assert main(*login_args(base, "--dpop", "--client-secret", SVC_SECRET))[0] == EXIT_OK
    keys = private_values(tmp_path / "config")
    assert main("token", "oauth", "--headers", "POST", "https://api.example/x")[0] == EXIT_OK
    emulator.bind = False  # a new key, and a server that answers with a bearer token
    assert main("login", "oauth", "--new-dpop-key")[0] == EXIT_OK
    keys += private_values(tmp_path / "config")
    assert main("login", "oauth", "--client-secret", "wrong-secret-value")[0] == EXIT_ERROR
    assert main("logout", "oauth")[0] == EXIT_OK
    assert caplog.records
    for record in caplog.records:
        text = f"{record.getMessage()} {record.args!r} {record.exc_text or ''}"
        for value in keys:
            assert value not in text


@pytest.mark.parametrize(
    "tamper",
    [
        {"d": "another-private-value-SENTINEL-x9"},
        {"d": "AAAA"},
        {"crv": "P-384"},
        {"kty": "oct", "k": "c2VjcmV0LWtleS1TRU5USU5FTC1tYXRlcmlhbA"},
        {"x": "not-the-public-point-of-this-key"},
    ],
)
def test_a_broken_saved_key_is_never_shown(
    cli: Cli, tamper: dict[str, str], tmp_path: Path
) -> None:
    key = DPoPKey.generate()
    jwk = key.private_jwk() | tamper
    profile = {
        "version": 3,
        "provider": "oauth",
        "name": "default",
        "client_id": SVC_ID,
        "client_secret": SVC_SECRET,
        "redirect_uri": None,
        "scope": [],
        "endpoints": {},
        "agent": None,
        "port": None,
        "issuer": "http://127.0.0.1:9",
        "flow": "client-credentials",
        "client_auth": "client_secret_basic",
        "server": {"token_endpoint": "http://127.0.0.1:9/oauth/token"},
        "require_iss": False,
        "dpop": {"alg": "ES256", "jwk": jwk},
    }
    path = profile_path(cli.config_dir)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(profile))
    path.chmod(0o600)
    for command in ("token", "logout"):
        run = cli.run_sync(command, "oauth")
        assert run.returncode == EXIT_USAGE, run.stderr
        assert "DPoP key saved in profile default is unusable" in run.stderr
        assert "--new-dpop-key" in run.stderr
        assert len(run.stderr.splitlines()) == 1
    everything = cli.outputs()
    for name, value in jwk.items():
        if name not in ("kty", "crv"):
            assert value not in everything
    assert_no_secrets(cli, [])
