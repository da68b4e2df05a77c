"""``anyoauth login``, ``token`` and ``logout`` for real, against the emulator on loopback.

Each command runs as ``python -m anyoauth`` in a subprocess while the test's event
loop serves the emulator. No output of any run may hold a client secret, and only
``token``'s stdout may hold an access token.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import attrs
import httpx
import pytest

from anyoauth import Client, FileStore
from anyoauth.providers import BankOfGeorgia
from anyoauth.testing import ProviderEmulator, browse

from .helpers import (
    BOG_ID,
    BOG_SECRET,
    EXIT_AGENT_ERROR,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_LOGIN_REQUIRED,
    EXIT_OK,
    FAKE_BROWSER_COMMAND,
    GENI_ID,
    KC_ID,
    KC_REALM,
    KC_SECRET,
    TW_ID,
    TW_REDIRECT,
    TW_SECRET,
    Cli,
    assert_no_secrets,
    free_port,
    printed_token,
)

pytestmark = pytest.mark.anyio

LOGIN_URL = r"http://127\.0\.0\.1:\d+/launchpad/login\?\S+"


def bog_login(base: str) -> list[str]:
    token_url = f"{base}/auth/realms/bog/protocol/openid-connect/token"
    return ["login", "bog", "--client-id", BOG_ID, "--token-url", token_url]


def teamwork_login(base: str, *more: str) -> list[str]:
    return [
        "login", "teamwork", "--client-id", TW_ID,
        "--authorize-url", f"{base}/launchpad/login",
        "--token-url", f"{base}/launchpad/v1/token.json",
        *more,
    ]  # fmt: skip


async def test_bog_login_token_logout(cli: Cli, emulator: ProviderEmulator, base: str) -> None:
    login = await cli.run(*bog_login(base), "--client-secret", BOG_SECRET)
    assert login.returncode == EXIT_OK, login.stderr
    assert login.stdout == ""
    assert "Logged in to Bank of Georgia" in login.stderr
    assert emulator.calls["keycloak.token"] == 1

    await cli.run("token", "bog")
    first = printed_token(cli, emulator)
    assert emulator.calls["keycloak.token"] == 1  # the stored token was used

    # logout deletes the token but keeps the profile: client credentials refetch.
    logout = await cli.run("logout", "bog")
    assert logout.returncode == EXIT_OK
    assert "token deleted" in logout.stderr
    await cli.run("token", "bog")
    second = printed_token(cli, emulator)
    assert second != first
    assert emulator.calls["keycloak.token"] == 2

    # --forget-profile deletes the profile (and the secret in it) too.
    forget = await cli.run("logout", "bog", "--forget-profile")
    assert forget.returncode == EXIT_OK
    assert not list((cli.config_dir / "profiles" / "bog").iterdir())
    after = await cli.run("token", "bog")
    assert after.returncode == EXIT_LOGIN_REQUIRED
    assert "anyoauth login bog" in after.stderr
    assert after.stdout == ""
    assert emulator.calls["keycloak.token"] == 2
    assert_no_secrets(cli, [first, second])


async def test_token_refetches_a_token_about_to_expire(
    cli: Cli, emulator: ProviderEmulator, base: str
) -> None:
    login = await cli.run(*bog_login(base), env={"ANYOAUTH_CLIENT_SECRET": BOG_SECRET})
    assert login.returncode == EXIT_OK, login.stderr
    # Make the stored token a 300 s token with 10 s left: inside the client's 30 s leeway.
    store = FileStore(cli.config_dir / "store")
    token_url = f"{base}/auth/realms/bog/protocol/openid-connect/token"
    strategy = BankOfGeorgia(BOG_ID, BOG_SECRET, token_url=token_url)
    key = Client(strategy, account="bog/default").token_key
    stored = await store.get_token(key)
    assert stored is not None
    now = time.time()
    await store.set_token(key, attrs.evolve(stored, issued_at=now - 290, expires_at=now + 10))

    await cli.run("token", "bog")
    fresh = printed_token(cli, emulator)
    assert fresh != stored.access_token
    assert emulator.calls["keycloak.token"] == 2
    renewed = await store.get_token(key)
    assert renewed is not None
    assert renewed.access_token == fresh
    assert_no_secrets(cli, [fresh, stored.access_token])


async def test_keycloak_credentials_from_the_environment_and_profiles(
    cli: Cli, emulator: ProviderEmulator, base: str
) -> None:
    env = {"ANYOAUTH_CLIENT_ID": KC_ID, "ANYOAUTH_CLIENT_SECRET": KC_SECRET}
    server = ["--server-url", f"{base}/auth", "--realm", KC_REALM]
    first = await cli.run("login", "keycloak", *server, env=env)
    assert first.returncode == EXIT_OK, first.stderr
    second = await cli.run("login", "keycloak", "--profile", "ops", *server, env=env)
    assert second.returncode == EXIT_OK, second.stderr
    assert "anyoauth token keycloak --profile ops" in second.stderr

    await cli.run("token", "keycloak")
    default_token = printed_token(cli, emulator)
    await cli.run("token", "keycloak", "--profile", "ops")
    ops_token = printed_token(cli, emulator)
    assert default_token != ops_token  # two profiles, two tokens
    assert emulator.calls["keycloak.token"] == 2

    # A second login reuses the saved profile: no option, no environment needed.
    again = await cli.run("login", "keycloak")
    assert again.returncode == EXIT_OK, again.stderr
    assert emulator.calls["keycloak.token"] == 3  # login always asks the provider
    assert_no_secrets(cli, [default_token, ops_token])


async def test_wrong_client_secret(cli: Cli, emulator: ProviderEmulator, base: str) -> None:
    wrong = "not-the-secret-SENTINEL-0c1d"
    result = await cli.run(*bog_login(base), env={"ANYOAUTH_CLIENT_SECRET": wrong})
    assert result.returncode == EXIT_ERROR
    [line] = result.stderr.splitlines()
    assert line.startswith("anyoauth: TokenRequestError: unauthorized_client")
    assert "(HTTP 401)" in line
    assert wrong not in result.stderr
    # Nothing was saved: there is no profile to fetch a token with.
    assert (await cli.run("token", "bog")).returncode == EXIT_LOGIN_REQUIRED
    assert_no_secrets(cli, [])


async def test_teamwork_manual_paste(cli: Cli, emulator: ProviderEmulator, base: str) -> None:
    args = teamwork_login(base, "--redirect-uri", TW_REDIRECT, "--agent", "manual")
    login = await cli.open(*args, env={"ANYOAUTH_CLIENT_SECRET": TW_SECRET})
    url = (await login.wait_for(LOGIN_URL)).group(0)
    await login.wait_for("Address the browser ended on: ")
    async with httpx.AsyncClient() as browser:
        landed = await browse(browser, url, decision="allow")
    assert landed.startswith(TW_REDIRECT + "?")
    await login.type(landed)
    result = await login.finish()
    assert result.returncode == EXIT_OK, result.stderr
    assert "Logged in to Teamwork" in result.stderr
    assert emulator.calls["teamwork.token"] == 1
    [code] = parse_qs(urlsplit(landed).query)["code"]
    assert code not in result.stderr

    await cli.run("token", "teamwork")
    token = printed_token(cli, emulator)
    assert emulator.calls["teamwork.token"] == 1

    # Teamwork tokens cannot be fetched again without the user: after logout, exit 3.
    assert (await cli.run("logout", "teamwork")).returncode == EXIT_OK
    after = await cli.run("token", "teamwork")
    assert after.returncode == EXIT_LOGIN_REQUIRED
    assert "LoginRequired" in after.stderr
    assert "anyoauth login teamwork" in after.stderr
    assert_no_secrets(cli, [token])


async def test_teamwork_denied(cli: Cli, emulator: ProviderEmulator, base: str) -> None:
    # A redirect URI that is not loopback http implies the manual agent.
    args = teamwork_login(base, "--redirect-uri", TW_REDIRECT, "--client-secret", TW_SECRET)
    login = await cli.open(*args)
    url = (await login.wait_for(LOGIN_URL)).group(0)
    async with httpx.AsyncClient() as browser:
        landed = await browse(browser, url, decision="deny")
    await login.type(landed)
    result = await login.finish()
    assert result.returncode == EXIT_ERROR
    last = result.stderr.splitlines()[-1]
    assert last.startswith("anyoauth: AuthorizationDenied: access_denied")
    assert "The user denied access." in last
    assert emulator.calls["teamwork.token"] == 0
    assert (await cli.run("token", "teamwork")).returncode == EXIT_LOGIN_REQUIRED
    assert_no_secrets(cli, [])


async def test_geni_manual_paste(cli: Cli, emulator: ProviderEmulator, base: str) -> None:
    urls = emulator.endpoints_geni(base)
    login = await cli.open(
        "login", "geni", "--client-id", GENI_ID, "--agent", "manual", "--scope", "basic",
        "--authorize-url", urls["authorize_url"], "--success-url", urls["success_url"],
        "--failure-url", urls["failure_url"], "--token-url", urls["token_url"],
    )  # fmt: skip
    url = (await login.wait_for(r"http://127\.0\.0\.1:\d+/platform/oauth/authorize\?\S+")).group(0)
    async with httpx.AsyncClient() as browser:
        landed = await browse(browser, url, decision="allow")
    assert landed.startswith(urls["success_url"] + "#access_token=")
    await login.type(landed)
    result = await login.finish()
    assert result.returncode == EXIT_OK, result.stderr
    assert "valid for 24 h" in result.stderr
    assert emulator.authorization_requests[-1]["display"] == "desktop"
    await cli.run("token", "geni")
    assert_no_secrets(cli, [printed_token(cli, emulator)])


async def test_manual_agent_without_input(cli: Cli, base: str) -> None:
    args = teamwork_login(base, "--redirect-uri", TW_REDIRECT, "--client-secret", TW_SECRET)
    result = await cli.run(*args, stdin="")  # stdin at its end: nothing will be pasted
    assert result.returncode == EXIT_AGENT_ERROR
    assert "AgentError" in result.stderr.splitlines()[-1]
    assert_no_secrets(cli, [])


async def test_ctrl_c(cli: Cli, base: str) -> None:
    args = teamwork_login(base, "--redirect-uri", TW_REDIRECT, "--client-secret", TW_SECRET)
    login = await cli.open(*args)
    await login.wait_for("Address the browser ended on: ")
    login.process.send_signal(signal.SIGINT)
    result = await login.finish()  # promptly: nothing is left waiting for stdin
    assert result.returncode == EXIT_INTERRUPTED
    assert result.stderr.splitlines()[-1].endswith("anyoauth: interrupted")
    assert_no_secrets(cli, [])


async def test_teamwork_system_browser(cli: Cli, emulator: ProviderEmulator, base: str) -> None:
    port = free_port()
    redirect = f"http://127.0.0.1:{port}/callback"
    emulator.add_teamwork_app(TW_ID, TW_SECRET, redirect_uris=[redirect])
    browser = FAKE_BROWSER_COMMAND
    args = teamwork_login(base, "--agent", "system", "--port", str(port), "--timeout", "20")
    login = await cli.run(*args, env={"BROWSER": browser, "ANYOAUTH_CLIENT_SECRET": TW_SECRET})
    assert login.returncode == EXIT_OK, login.stderr
    assert "Opening the login page in your web browser" in login.stderr
    assert emulator.calls["teamwork.decision"] == 1
    assert emulator.calls["teamwork.token"] == 1
    assert emulator.authorization_requests[-1]["redirect_uri"] == redirect

    await cli.run("token", "teamwork")
    token = printed_token(cli, emulator)
    assert_no_secrets(cli, [token])


async def test_bog_authorize_step_through_the_loopback_listener(
    cli: Cli, emulator: ProviderEmulator, base: str
) -> None:
    # --redirect-uri on loopback: the listener binds its port and path.
    redirect = f"http://127.0.0.1:{free_port()}/bog/done"
    emulator.add_keycloak_client(BOG_ID, BOG_SECRET, realm="bog", redirect_uris=[redirect])
    browser = FAKE_BROWSER_COMMAND
    urls = emulator.endpoints_keycloak(base, "bog")
    login = await cli.run(
        "login", "bog", "--client-id", BOG_ID, "--redirect-uri", redirect,
        "--authorize-url", urls["authorize_url"], "--token-url", urls["token_url"],
        "--timeout", "20",
        env={"BROWSER": browser, "ANYOAUTH_CLIENT_SECRET": BOG_SECRET},
    )  # fmt: skip
    assert login.returncode == EXIT_OK, login.stderr
    assert emulator.calls["keycloak.decision"] == 1
    assert emulator.calls["keycloak.token"] == 0  # the token came in the redirect
    await cli.run("token", "bog")
    assert_no_secrets(cli, [printed_token(cli, emulator)])


async def test_file_permissions(cli: Cli, emulator: ProviderEmulator, base: str) -> None:
    cli.config_dir.mkdir(mode=0o755)
    os.chmod(cli.config_dir, 0o755)  # noqa: S103 - a laxer directory is tightened
    login = await cli.run(*bog_login(base), env={"ANYOAUTH_CLIENT_SECRET": BOG_SECRET})
    assert login.returncode == EXIT_OK, login.stderr

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    root = cli.config_dir
    profile = root / "profiles" / "bog" / "default.json"
    assert mode(root) == 0o700
    assert mode(root / "profiles") == 0o700
    assert mode(profile.parent) == 0o700
    assert mode(profile) == 0o600
    assert mode(root / "store") == 0o700
    token_files = [p for p in (root / "store" / "tokens").iterdir() if p.is_file()]
    assert len(token_files) == 1
    assert mode(token_files[0]) == 0o600
    # The profile holds what later commands need, the secret included (documented).
    saved = json.loads(profile.read_text())
    assert saved["client_id"] == BOG_ID
    assert saved["client_secret"] == BOG_SECRET
    assert saved["endpoints"]["token_url"].startswith(base)
    everything = list(root.rglob("*"))
    assert all(mode(p) == (0o700 if p.is_dir() else 0o600) for p in everything)
    assert_no_secrets(cli, [])
