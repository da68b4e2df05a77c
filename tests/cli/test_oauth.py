"""The ``oauth`` provider: any OAuth 2.0 / OpenID Connect server, found by discovery.

Each command runs as ``python -m anyoauth`` in a subprocess against the emulator's
generic server on a loopback port, whose issuer is ``http://127.0.0.1:PORT``.
The tests approve device codes as the user with ``emulator.approve_device`` (the
emulator runs in the test's process) and click the consent page with the fake
browser. No output of any run may hold a client secret, and only ``token``'s
stdout may hold an access token.
"""

from __future__ import annotations

import json
import re
import stat
import sys
import time

import attrs
import pytest

from anyoauth import Client, FileStore
from anyoauth.cli._profiles import Profile
from anyoauth.cli._providers import get_provider
from anyoauth.testing import ProviderEmulator

from .helpers import (
    EXIT_ERROR,
    EXIT_LOGIN_REQUIRED,
    EXIT_OK,
    FAKE_BROWSER_COMMAND,
    KC_ID,
    KC_REALM,
    KC_SECRET,
    SVC_ID,
    SVC_SECRET,
    TV_ID,
    WEB_ID,
    WEB_SECRET,
    Cli,
    Interactive,
    assert_no_secrets,
    free_port,
    printed_token,
)

pytestmark = pytest.mark.anyio

USER_CODE = r"enter the code ([A-Z0-9]{4}-[A-Z0-9]{4})"
SERVER_FIELDS = {
    "authorization_endpoint",
    "token_endpoint",
    "device_authorization_endpoint",
    "revocation_endpoint",
    "introspection_endpoint",
    "jwks_uri",
    "end_session_endpoint",
}


def saved_profile(cli: Cli, name: str = "default") -> dict[str, object]:
    path = cli.config_dir / "profiles" / "oauth" / f"{name}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data: dict[str, object] = json.loads(path.read_text())
    return data


def token_key(cli: Cli, name: str = "default") -> str:
    """The store key of the profile's token, from the profile as ``token`` reads it."""
    path = cli.config_dir / "profiles" / "oauth" / f"{name}.json"
    strategy = get_provider("oauth").build(Profile.from_json(path.read_bytes()))
    return Client(strategy, account=f"oauth/{name}").token_key


async def approve(login: Interactive, emulator: ProviderEmulator) -> str:
    """Read the user code the command prints and approve it as the user; the code."""
    user_code = (await login.wait_for(USER_CODE))[1]
    emulator.approve_device(user_code)
    return user_code


async def test_client_credentials(cli: Cli, emulator: ProviderEmulator, base: str) -> None:
    login = await cli.run(
        "login", "oauth", "--issuer", base, "--client-id", SVC_ID,
        "--flow", "client-credentials", env={"ANYOAUTH_CLIENT_SECRET": SVC_SECRET},
    )  # fmt: skip
    assert login.returncode == EXIT_OK, login.stderr
    assert login.stdout == ""
    assert f"Logged in to {base} (profile default) with the client-credentials flow" in (
        login.stderr
    )
    assert emulator.calls["oauth.metadata"] == 1
    assert emulator.calls["oauth.token"] == 1

    # The profile holds what `token` and `logout` need without discovering again.
    saved = saved_profile(cli)
    assert saved["version"] == 2
    assert saved["issuer"] == base
    assert saved["flow"] == "client-credentials"
    assert saved["client_auth"] == "client_secret_basic"
    assert saved["client_secret"] == SVC_SECRET
    assert saved["require_iss"] is True
    assert saved["server"] == {
        name: url for name, url in emulator.endpoints_oauth(base).items() if name in SERVER_FIELDS
    }

    await cli.run("token", "oauth")
    first = printed_token(cli, emulator)
    assert emulator.calls["oauth.token"] == 1  # the stored token
    assert emulator.calls["oauth.metadata"] == 1  # no discovery

    # logout revokes the token at the server, then forgets it.
    logout = await cli.run("logout", "oauth")
    assert logout.returncode == EXIT_OK, logout.stderr
    assert "token revoked at the provider" in logout.stderr
    assert not emulator.is_valid_token(first)
    assert emulator.calls["oauth.revoke"] == 1  # an access token only: no refresh token

    # The profile stays: client credentials fetch a new token; --local only forgets it.
    await cli.run("token", "oauth")
    second = printed_token(cli, emulator)
    assert second != first
    local = await cli.run("logout", "oauth", "--local")
    assert local.returncode == EXIT_OK, local.stderr
    assert "token deleted; nothing was revoked at the provider" in local.stderr
    assert emulator.is_valid_token(second)
    assert emulator.calls["oauth.revoke"] == 1
    assert emulator.calls["oauth.metadata"] == 1
    assert_no_secrets(cli, [first, second])


async def test_code_flow_through_the_system_browser(
    cli: Cli, emulator: ProviderEmulator, base: str
) -> None:
    # No --flow: with a browser at hand (the fake one), the code flow is the default.
    login = await cli.run(
        "login", "oauth", "--issuer", base, "--client-id", WEB_ID, "--scope", "openid",
        "profile", "--timeout", "20",
        env={"BROWSER": FAKE_BROWSER_COMMAND, "ANYOAUTH_CLIENT_SECRET": WEB_SECRET},
    )  # fmt: skip
    assert login.returncode == EXIT_OK, login.stderr
    assert "Opening the login page in your web browser" in login.stderr
    assert "with the code flow" in login.stderr
    assert emulator.calls["oauth.decision"] == 1
    assert emulator.calls["oauth.token"] == 1
    asked = emulator.authorization_requests[-1]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/callback", asked["redirect_uri"])
    assert asked["code_challenge_method"] == "S256"  # PKCE
    assert asked["scope"] == "openid profile"
    assert asked["nonce"]  # OpenID Connect: the id_token was checked with the server's keys
    assert emulator.calls["oauth.jwks"] == 1
    saved = saved_profile(cli)
    assert (saved["flow"], saved["client_auth"]) == ("code", "client_secret_basic")
    assert saved["redirect_uri"] is None  # the listener's own, on any port

    await cli.run("token", "oauth")
    first = printed_token(cli, emulator)

    # A token about to expire is refreshed with the refresh token, at the saved endpoint.
    store = FileStore(cli.config_dir / "store")
    key = token_key(cli)
    stored = await store.get_token(key)
    assert stored is not None
    assert stored.refresh_token
    now = time.time()
    await store.set_token(key, attrs.evolve(stored, issued_at=now - 3590, expires_at=now + 10))
    await cli.run("token", "oauth")
    second = printed_token(cli, emulator)
    assert second != first
    assert emulator.calls["oauth.token"] == 2
    assert emulator.calls["oauth.metadata"] == 1

    # logout revokes the refresh token (its whole grant) and the access token.
    logout = await cli.run("logout", "oauth", "--forget-profile")
    assert logout.returncode == EXIT_OK, logout.stderr
    assert "token revoked at the provider, local token and profile deleted" in logout.stderr
    assert emulator.calls["oauth.revoke"] == 2
    assert not emulator.is_valid_token(second)
    assert not (cli.config_dir / "profiles" / "oauth" / "default.json").exists()
    assert await store.get_token(key) is None
    assert_no_secrets(cli, [first, second])


async def test_device_flow_then_token_offline(cli: Cli, emulator: ProviderEmulator) -> None:
    async with emulator.serve() as base:
        login = await cli.open(
            "login", "oauth", "--issuer", base, "--client-id", TV_ID, "--flow", "device"
        )
        await approve(login, emulator)
        result = await login.finish()
    assert result.returncode == EXIT_OK, result.stderr
    assert f"open this address in a web browser on any device:\n\n    {base}/device\n" in (
        result.stderr
    )
    assert f"Logged in to {base} (profile default) with the device flow" in result.stderr
    assert saved_profile(cli)["client_auth"] == "none"  # a public client

    # The server is gone: `token` still works, from the profile and the store.
    await cli.run("token", "oauth")
    token = printed_token(cli, emulator)
    await cli.run("token", "oauth")
    assert printed_token(cli, emulator) == token

    # Revocation fails, but the local token is deleted all the same.
    logout = await cli.run("logout", "oauth")
    assert logout.returncode == EXIT_ERROR
    [line] = logout.stderr.splitlines()
    assert line.startswith(f"anyoauth: the local token of {base} (profile default) was deleted")
    assert "but revoking the token at the provider failed (ServerUnavailable:" in line
    assert emulator.is_valid_token(token)  # never revoked
    after = await cli.run("token", "oauth")
    assert after.returncode == EXIT_LOGIN_REQUIRED
    assert "anyoauth login oauth" in after.stderr
    assert_no_secrets(cli, [token])


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="a desktop-less session is Linux's"
)
async def test_device_flow_is_the_default_without_a_browser(
    cli: Cli, emulator: ProviderEmulator, base: str
) -> None:
    no_desktop = {"DISPLAY": "", "WAYLAND_DISPLAY": ""}
    login = await cli.open("login", "oauth", "--issuer", base, "--client-id", TV_ID, env=no_desktop)
    await approve(login, emulator)
    first = await login.finish()
    assert first.returncode == EXIT_OK, first.stderr
    assert "with the device flow" in first.stderr
    assert saved_profile(cli)["flow"] == "device"

    # Logging in again needs no option: issuer, client id and flow come from the profile.
    again = await cli.open("login", "oauth")
    await approve(again, emulator)
    second = await again.finish()
    assert second.returncode == EXIT_OK, second.stderr
    assert emulator.calls["oauth.metadata"] == 2  # login always discovers
    assert emulator.calls["oauth.device_authorization"] == 2

    await cli.run("token", "oauth")
    token = printed_token(cli, emulator)
    logout = await cli.run("logout", "oauth")
    assert "token revoked at the provider" in logout.stderr
    assert not emulator.is_valid_token(token)
    assert_no_secrets(cli, [token])


async def test_discovery_failures(cli: Cli, emulator: ProviderEmulator, base: str) -> None:
    def login(issuer: str) -> list[str]:
        return ["login", "oauth", "--issuer", issuer, "--client-id", TV_ID]

    # No metadata at that issuer; nobody listening.
    nowhere = await cli.run(*login(f"{base}/tenant-42"))
    offline = await cli.run(*login(f"http://127.0.0.1:{free_port()}"))
    # Metadata naming another issuer: a mix-up or an impersonation.
    emulator.oauth_metadata_issuer = "https://login.example"
    impostor = await cli.run(*login(base))
    for result, words in [
        (nowhere, "no metadata found for the issuer"),
        (offline, "no metadata found for the issuer"),
        (impostor, "the metadata names another issuer than the one configured"),
    ]:
        assert result.returncode == EXIT_ERROR
        assert result.stdout == ""
        [line] = result.stderr.splitlines()
        assert line.startswith(f"anyoauth: DiscoveryError: {words}")
    assert "HTTP 404" in nowhere.stderr
    assert emulator.calls["oauth.device_authorization"] == 0
    assert not (cli.config_dir / "profiles").exists()
    assert_no_secrets(cli, [])


# A profile as the previous release (profile version 1) wrote it.
V1_KEYCLOAK: dict[str, object] = {
    "agent": None,
    "client_id": KC_ID,
    "client_secret": KC_SECRET,
    "endpoints": {"realm": KC_REALM, "server_url": "BASE/auth"},
    "name": "default",
    "port": None,
    "provider": "keycloak",
    "redirect_uri": None,
    "scope": [],
    "version": 1,
}


async def test_version_1_profiles_still_work(
    cli: Cli, emulator: ProviderEmulator, base: str
) -> None:
    path = cli.config_dir / "profiles" / "keycloak" / "default.json"
    path.parent.mkdir(parents=True, mode=0o700)
    text = json.dumps(V1_KEYCLOAK).replace("BASE", base)
    path.write_text(text)
    path.chmod(0o600)
    await cli.run("token", "keycloak")
    token = printed_token(cli, emulator)
    logout = await cli.run("logout", "keycloak")
    assert logout.returncode == EXIT_OK
    assert "nothing was revoked at the provider" in logout.stderr  # Keycloak preset: no endpoint
    # Logging in again writes the same version 1 document an older anyoauth can read.
    login = await cli.run("login", "keycloak")
    assert login.returncode == EXIT_OK, login.stderr
    assert json.loads(path.read_text()) == json.loads(text)
    assert_no_secrets(cli, [token])
