"""The command line without a provider: help, ``providers``, usage errors, no login yet.

Help, ``providers`` and ``token`` before any login run the real command in a
subprocess; the matrix of usage errors calls :func:`anyoauth.cli.main` in-process
(the same code, without an interpreter start per case).
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import anyoauth.__main__
from anyoauth import cli as command
from anyoauth import plugins

from .helpers import (
    EXIT_ERROR,
    EXIT_LOGIN_REQUIRED,
    EXIT_OK,
    EXIT_USAGE,
    TW_SECRET,
    Cli,
    InProcess,
)

SUBCOMMANDS = ["login", "token", "logout", "providers", "demo"]
ISSUER = "https://login.example"  # never reached: these errors come before any request


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
    if args == ["login", "--help"]:
        assert "--issuer URL" in result.stdout
        assert "--flow {code,device,client-credentials}" in result.stdout
    if args == ["logout", "--help"]:
        assert "--local" in result.stdout
        assert "RFC 7009" in result.stdout


def test_providers(cli: Cli) -> None:
    result = cli.run_sync("providers")
    assert result.returncode == EXIT_OK
    lines = result.stdout.splitlines()
    builtins = [
        line for line in lines if not line.startswith((" ", "provider plugins", "strategy"))
    ]
    assert [line.split()[0] for line in builtins] == [
        "geni",
        "teamwork",
        "bog",
        "keycloak",
        "google",
        "google-device",
        "entra",
        "entra-device",
        "entra-client-credentials",
        "github",
        "github-device",
        "gitlab",
        "gitlab-device",
        "apple",
        "auth0",
        "auth0-device",
        "auth0-client-credentials",
        "okta",
        "okta-device",
        "slack",
        "discord",
        "dropbox",
        "salesforce",
        "x",
        "oauth",
    ]
    assert all("default agent:" in line for line in builtins)
    # Installed plugins follow, as anyoauth.plugins sees them in this environment.
    installed = [i for i in plugins.describe() if not i.builtin]
    listed = [line.split()[0] for line in lines if line.startswith("  ")]
    assert listed == [i.name for i in installed]
    if installed:
        assert "provider plugins" in result.stdout
    assert "embedded" in lines[0]
    assert "default agent: system" in lines[1]
    assert "client credentials" in lines[2]
    oauth = len(builtins) - 1
    assert "discovery (--issuer)" in lines[oauth]
    assert "authorization code with PKCE, device code or client credentials" in lines[oauth]
    assert "Microsoft Entra ID" in lines[6]
    assert "GitHub: web application flow" in lines[9]
    assert result.stderr == ""


def test_main_entry_points() -> None:
    assert anyoauth.__main__.__all__ == ["main"]
    assert anyoauth.__main__.main is command.main
    assert command.main(["providers"]) == EXIT_OK
    assert command.main(["no-such-command"]) == EXIT_USAGE


def test_token_without_login(cli: Cli) -> None:
    result = cli.run_sync("token", "teamwork")
    assert result.returncode == EXIT_LOGIN_REQUIRED
    assert result.stdout == ""
    assert "anyoauth login teamwork" in result.stderr
    assert len(result.stderr.splitlines()) == 1


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
        (["login", "oauth", "--client-id", "x"], "oauth needs --issuer"),
        (["login", "oauth", "--issuer", ISSUER], "ANYOAUTH_CLIENT_ID"),
        (["login", "oauth", "--issuer", ISSUER, "--flow", "sideways"], "invalid choice"),
        (["login", "oauth", "--client-id", "x", "--issuer", "http://login.example"], "use https"),
        (["login", "oauth", "--client-id", "x", "--issuer", "ftp://login.example"], "https URL"),
        (["login", "oauth", "--client-id", "x", "--issuer", "https://[::1"], "https URL"),
        (["login", "oauth", "--client-id", "x", "--issuer", f"{ISSUER}?tenant=1"], "without query"),
        (["login", "oauth", "--client-id", "x", "--issuer", ISSUER, "--token-url", f"{ISSUER}/t"],
         "oauth does not take --token-url"),
        (["login", "keycloak", "--client-id", "x", "--issuer", ISSUER], "does not take --issuer"),
        (["login", "bog", "--client-id", "x", "--flow", "device"], "does not take --flow"),
        (
            ["login", "oauth", "--client-id", "x", "--issuer", ISSUER, "--flow", "device",
             "--agent", "loopback"],
            "--agent, --port and --redirect-uri are for --flow code, not --flow device",
        ),
        (
            ["login", "oauth", "--client-id", "x", "--issuer", ISSUER, "--flow",
             "client-credentials", "--port", "8123"],
            "are for --flow code",
        ),
        (
            ["login", "oauth", "--client-id", "x", "--issuer", ISSUER, "--flow",
             "client-credentials"],
            "--flow client-credentials needs a client secret",
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
    assert b"ServerUnavailable" in err
    assert TW_SECRET.encode() not in bytes(screen) + out + err
