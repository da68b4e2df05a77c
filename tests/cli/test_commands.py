"""The command line without a provider: help, ``providers``, usage errors, no login yet.

Help, ``providers`` and ``token`` before any login run the real command in a
subprocess; the matrix of usage errors calls :func:`anyoauth._cli.main` in-process
(the same code, without an interpreter start per case).
"""

from __future__ import annotations

import io
import os
import select
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import anyoauth.__main__
from anyoauth import _cli

from .helpers import EXIT_ERROR, EXIT_LOGIN_REQUIRED, EXIT_OK, EXIT_USAGE, TW_SECRET, Cli

SUBCOMMANDS = ["login", "token", "logout", "providers", "demo"]


@pytest.mark.parametrize("args", [["--help"], *([name, "--help"] for name in SUBCOMMANDS)])
def test_help(cli: Cli, args: list[str]) -> None:
    # A secret in the environment never shows up as a default in the help.
    result = cli.run_sync(*args, env={"ANYOAUTH_CLIENT_SECRET": TW_SECRET})
    assert result.returncode == EXIT_OK, result.stderr
    assert result.stdout.startswith("usage: anyoauth")
    assert result.stderr == ""
    assert TW_SECRET not in result.stdout
    if args == ["--help"]:
        for name in SUBCOMMANDS:
            assert f"\n    {name}" in result.stdout
        for status in ("0 ", "1 ", "2 ", "3 ", "4 ", "130"):
            assert f"\n  {status}" in result.stdout


def test_providers(cli: Cli) -> None:
    result = cli.run_sync("providers")
    assert result.returncode == EXIT_OK
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["geni", "teamwork", "bog", "keycloak"]
    assert all("default agent:" in line for line in lines)
    assert "embedded" in lines[0]
    assert "default agent: system" in lines[1]
    assert "client credentials" in lines[2]
    assert result.stderr == ""


def test_main_entry_points() -> None:
    assert anyoauth.__main__.__all__ == ["main"]
    assert anyoauth.__main__.main is _cli.main
    assert _cli.main(["providers"]) == EXIT_OK
    assert _cli.main(["no-such-command"]) == EXIT_USAGE


def test_token_without_login(cli: Cli) -> None:
    result = cli.run_sync("token", "teamwork")
    assert result.returncode == EXIT_LOGIN_REQUIRED
    assert result.stdout == ""
    assert "anyoauth login teamwork" in result.stderr
    assert len(result.stderr.splitlines()) == 1


class InProcess:
    """``anyoauth._cli.main`` called directly, with a clean environment and stdin."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        code = _cli.main(list(args))
        out, err = self.capsys.readouterr()
        return code, out, err


@pytest.fixture
def main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> InProcess:
    for name in ("ANYOAUTH_CLIENT_ID", "ANYOAUTH_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANYOAUTH_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal: no prompt
    return InProcess(capsys)


def test_token_without_login_names_the_profile(main: InProcess) -> None:
    code, out, err = main("token", "bog", "--profile", "work")
    assert code == EXIT_LOGIN_REQUIRED
    assert out == ""
    assert "anyoauth login bog --profile work" in err


def test_logout_without_login(main: InProcess) -> None:
    code, _, err = main("logout", "geni")
    assert code == EXIT_OK
    assert "not logged in" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["login", "nowhere"], "invalid choice"),
        (["token"], "required"),
        (["login", "bog", "--profile", "../etc"], "profile name"),
        (["login", "teamwork", "--port", "70000"], "port"),
        (["login", "teamwork", "--client-id", "x"], "ANYOAUTH_CLIENT_SECRET"),
        (["login", "teamwork"], "ANYOAUTH_CLIENT_ID"),
        (["login", "teamwork", "--client-id", "x", "--scope", "a"], "does not take --scope"),
        (["login", "geni", "--client-id", "x", "--client-secret", "s"], "--client-secret"),
        (["login", "geni", "--client-id", "x", "--realm", "r"], "does not take --realm"),
        (
            ["login", "keycloak", "--client-id", "x", "--client-secret", "s"],
            "--server-url and --realm",
        ),
        (
            ["login", "bog", "--client-id", "x", "--client-secret", "s", "--agent", "manual"],
            "need --redirect-uri",
        ),
        (
            ["login", "bog", "--client-id", "x", "--client-secret", "s", "--token-url", "http://example.com/t"],
            "ConfigurationError: token_endpoint must use https",
        ),
        (
            ["login", "teamwork", "--client-id", "x", "--client-secret", "s", "--agent", "manual"],
            "needs --redirect-uri",
        ),
        (
            ["login", "teamwork", "--client-id", "x", "--client-secret", "s", "--agent", "system",
             "--redirect-uri", "myapp://cb"],
            "use --agent manual",
        ),
        (
            ["login", "teamwork", "--client-id", "x", "--client-secret", "s",
             "--redirect-uri", "http://127.0.0.1:8123/cb", "--port", "8124"],
            "--port differs",
        ),
        (
            ["login", "teamwork", "--client-id", "x", "--client-secret", "s",
             "--redirect-uri", "myapp://cb", "--port", "8124"],
            "--port is for the loopback listener",
        ),
        (
            ["login", "geni", "--client-id", "x", "--agent", "loopback"],
            "ConfigurationError: geni flows end on the provider's own pages",
        ),
    ],
)  # fmt: skip
def test_usage_errors(main: InProcess, tmp_path: Path, args: list[str], message: str) -> None:
    code, out, err = main(*args)
    assert code == EXIT_USAGE, err
    assert message in err
    assert out == ""
    assert "Traceback" not in err
    assert not (tmp_path / "config" / "profiles").exists()


def test_secrets_are_never_echoed_in_errors(main: InProcess) -> None:
    code, out, err = main(
        "login", "bog", "--client-id", "x", "--client-secret", TW_SECRET,
        "--token-url", "http://example.com/t",
    )  # fmt: skip
    assert code == EXIT_USAGE
    assert TW_SECRET not in out + err


def test_configuration_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    platformdirs = pytest.importorskip("platformdirs")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("ANYOAUTH_CONFIG_DIR", raising=False)
    default = Path(platformdirs.user_config_dir("anyoauth"))
    assert _cli._Config.locate(None).root == default
    monkeypatch.setenv("ANYOAUTH_CONFIG_DIR", str(tmp_path / "env"))
    assert _cli._Config.locate(None).root == tmp_path / "env"
    assert _cli._Config.locate(str(tmp_path / "opt")).root == tmp_path / "opt"


def test_profile_repr_hides_the_secret() -> None:
    profile = _cli.Profile(provider="bog", client_id="id", client_secret=TW_SECRET)
    assert TW_SECRET not in repr(profile)
    assert _cli.Profile.from_json(profile.to_json()) == profile
    with pytest.raises(ValueError, match="not a profile"):
        _cli.Profile.from_json(b'{"version": 1, "provider": 3}')


# Runs the command with a pseudo-terminal as its controlling terminal and stdin.
_ON_A_TERMINAL = """
import os, sys
os.setsid()
tty = os.open(sys.argv[1], os.O_RDWR)  # a session leader's first terminal becomes its own
os.dup2(tty, 0)
os.execv(sys.executable, [sys.executable, "-m", "anyoauth", *sys.argv[2:]])
"""


def _read_until(fd: int, text: bytes, seen: bytearray) -> None:
    while text not in seen:
        ready, _, _ = select.select([fd], [], [], 20)
        assert ready, f"no {text!r} on the terminal: {bytes(seen)!r}"
        seen += os.read(fd, 4096)


def test_secret_prompt_does_not_echo(cli: Cli) -> None:
    with socket.socket() as sock:  # a port nobody listens on: the token request fails
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    master, slave = os.openpty()
    try:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [
                sys.executable, "-c", _ON_A_TERMINAL, os.ttyname(slave),
                "login", "bog", "--client-id", "x", "--token-url", f"http://127.0.0.1:{port}/t",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=cli.env(),
        )  # fmt: skip
        screen = bytearray()
        _read_until(master, b"client secret (not echoed): ", screen)
        os.write(master, TW_SECRET.encode() + b"\n")
        out, err = process.communicate(timeout=20)
        while select.select([master], [], [], 0.2)[0]:
            screen += os.read(master, 4096)
    finally:
        os.close(slave)  # kept open until here: without it, reading the master fails
        os.close(master)
    assert process.returncode == EXIT_ERROR, err
    assert b"TokenEndpointUnavailable" in err
    assert TW_SECRET.encode() not in bytes(screen) + out + err


def test_login_reuses_the_saved_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ANYOAUTH_CLIENT_ID", "ANYOAUTH_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal: no prompt
    provider = _cli.PROVIDERS["teamwork"]
    saved = _cli.Profile(
        provider="teamwork",
        client_id="tw-id",
        client_secret=TW_SECRET,
        endpoints={"token_url": "http://127.0.0.1:1/token.json"},
        agent="system",
        port=8765,
    )

    def profile(*args: str) -> _cli.Profile:
        parsed = _cli._parser().parse_args(["login", "teamwork", *args])
        return _cli._login_profile(provider, parsed, saved)

    again = profile()  # nothing given: everything, the secret included, comes back
    assert again == saved
    # A new user agent: the saved agent and port are not mixed into it.
    manual = profile("--agent", "manual", "--redirect-uri", "myapp://cb")
    assert (manual.agent, manual.port, manual.redirect_uri) == ("manual", None, "myapp://cb")
    assert manual.endpoints == saved.endpoints
    assert manual.client_secret == TW_SECRET
    # Another client id never gets the saved secret.
    with pytest.raises(_cli._UsageError, match="needs a client secret"):
        profile("--client-id", "other-id")
