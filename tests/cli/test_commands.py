"""The command line without a provider: help, ``providers``, usage errors, no login yet.

Help, ``providers`` and ``token`` before any login run the real command in a
subprocess; the matrix of usage errors calls :func:`anyoauth._cli.main` in-process
(the same code, without an interpreter start per case).
"""

from __future__ import annotations

import io
import json
import os
import select
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest

import anyoauth.__main__
from anyoauth import AuthorizationCode, ClientCredentials, DeviceCode, ServerMetadata, _cli, plugins

from .helpers import EXIT_ERROR, EXIT_LOGIN_REQUIRED, EXIT_OK, EXIT_USAGE, TW_SECRET, Cli

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
    assert "discovery (--issuer)" in lines[4]
    assert "authorization code with PKCE, device code or client credentials" in lines[4]
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
    assert b"ServerUnavailable" in err
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


def test_profile_versions() -> None:
    oauth = _cli.Profile(
        provider="oauth",
        client_id="id",
        issuer="https://login.example",
        flow="device",
        client_auth="none",
        server={"token_endpoint": "https://login.example/token"},
        require_iss=True,
    )
    assert json.loads(oauth.to_json())["version"] == 2
    assert _cli.Profile.from_json(oauth.to_json()) == oauth
    plain = _cli.Profile(provider="geni", client_id="id")
    assert json.loads(plain.to_json())["version"] == 1
    assert "issuer" not in json.loads(plain.to_json())
    assert _cli.Profile.from_json(plain.to_json()) == plain
    # Version 1 documents carry no oauth settings, even if a hand edit adds some.
    v1 = json.loads(plain.to_json()) | {"issuer": "https://x.example", "flow": "device"}
    assert _cli.Profile.from_json(json.dumps(v1).encode()) == plain
    for bad in (
        {"version": 3},
        {"flow": "sideways"},
        {"client_auth": "private_key_jwt"},
        {"require_iss": "yes"},
        {"server": ["https://x.example"]},
    ):
        data = json.loads(oauth.to_json()) | bad
        with pytest.raises(ValueError):  # noqa: PT011 - the message says what was wrong
            _cli.Profile.from_json(json.dumps(data).encode())


def test_a_version_1_oauth_profile_does_not_fit(main: InProcess, tmp_path: Path) -> None:
    path = tmp_path / "config" / "profiles" / "oauth" / "default.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(_cli.Profile(provider="oauth", client_id="x").to_json())
    code, _, err = main("token", "oauth")
    assert code == EXIT_USAGE
    assert "does not fit oauth" in err


def metadata(**fields: object) -> ServerMetadata:
    document = {"issuer": ISSUER, "token_endpoint": f"{ISSUER}/token", **fields}
    return ServerMetadata.from_dict(document, issuer=ISSUER)


CODE = {"authorization_endpoint": f"{ISSUER}/authorize"}
DEVICE = {"device_authorization_endpoint": f"{ISSUER}/device"}
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@pytest.mark.parametrize(
    ("fields", "browser", "profile", "flow"),
    [
        ({**CODE, **DEVICE}, True, {}, "code"),
        ({**CODE, **DEVICE}, False, {}, "device"),
        ({**CODE, **DEVICE}, False, {"agent": "loopback"}, "code"),
        ({**CODE, **DEVICE}, False, {"redirect_uri": "http://127.0.0.1:8123/cb"}, "code"),
        # Listed grants count; a device endpoint without a grant list means the grant.
        ({**CODE, **DEVICE, "grant_types_supported": [DEVICE_GRANT]}, True, {}, "device"),
        ({**DEVICE, "grant_types_supported": ["client_credentials"]}, True,
         {"client_secret": "s" * 16}, "client-credentials"),
        ({}, True, {"client_secret": "s" * 16}, "client-credentials"),
        (CODE, False, {}, "no web browser to log in with"),
        ({}, True, {}, "offers no flow anyoauth can run"),
        ({"grant_types_supported": ["authorization_code"]}, True, {"client_secret": "s" * 16},
         "offers no flow anyoauth can run"),
    ],
)  # fmt: skip
def test_default_flow(
    monkeypatch: pytest.MonkeyPatch,
    fields: dict[str, object],
    browser: bool,
    profile: dict[str, Any],
    flow: str,
) -> None:
    monkeypatch.setattr(_cli, "_browser_usable", lambda: browser)
    settings = attrs.evolve(_cli.Profile(provider="oauth", client_id="x", issuer=ISSUER), **profile)
    if flow in ("code", "device", "client-credentials"):
        assert _cli._default_flow(settings, metadata(**fields)) == flow
    else:
        with pytest.raises(_cli._UsageError, match=flow):
            _cli._default_flow(settings, metadata(**fields))


def test_discovered_settings() -> None:
    found = metadata(
        **CODE,
        revocation_endpoint=f"{ISSUER}/revoke",
        userinfo_endpoint=f"{ISSUER}/userinfo",
        token_endpoint_auth_methods_supported=["client_secret_post"],
        authorization_response_iss_parameter_supported=True,
    )
    public = _cli.Profile(provider="oauth", client_id="x", issuer=ISSUER, flow="code")
    profile = _cli._discovered(public, found)
    assert profile.client_auth == "none"
    assert profile.require_iss
    assert dict(profile.server) == {
        "authorization_endpoint": f"{ISSUER}/authorize",
        "token_endpoint": f"{ISSUER}/token",
        "revocation_endpoint": f"{ISSUER}/revoke",
    }
    strategy = _cli.PROVIDERS["oauth"].build(profile)
    assert isinstance(strategy, AuthorizationCode)
    assert (strategy.uses_pkce, strategy.require_iss, strategy.issuer) == (True, True, ISSUER)
    assert strategy.revocation_endpoint == f"{ISSUER}/revoke"
    # The server lists only client_secret_post: a confidential client uses it.
    secret = attrs.evolve(public, client_secret=TW_SECRET, flow="client-credentials")
    confidential = _cli._discovered(secret, found)
    assert confidential.client_auth == "client_secret_post"
    assert isinstance(_cli.PROVIDERS["oauth"].build(confidential), ClientCredentials)
    # A flow the server has no endpoint for is a configuration error.
    with pytest.raises(_cli._UsageError, match="offers no device flow: its metadata has no "):
        _cli._discovered(attrs.evolve(public, flow="device"), found)
    # The device flow keeps no user agent settings.
    device = attrs.evolve(public, flow="device", agent="loopback", port=8123)
    built = _cli._discovered(device, metadata(**DEVICE))
    assert (built.agent, built.port, built.redirect_uri) == (None, None, None)
    assert isinstance(_cli.PROVIDERS["oauth"].build(built), DeviceCode)


def test_browser_usable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BROWSER", "true")
    assert _cli._browser_usable()
    monkeypatch.delenv("BROWSER")
    if sys.platform.startswith("linux"):
        assert not _cli._browser_usable()  # a console or SSH session
