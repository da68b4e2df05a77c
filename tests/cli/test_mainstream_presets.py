"""``anyoauth login`` with the Google, Microsoft Entra ID, GitHub and GitLab presets,
each run as ``python -m anyoauth`` against the emulator's provider paths on a loopback
port (``--server-url``): the code flows through the fake system browser, the device
flows approved as the user, the settings saved in the profile and reused by ``token``.
"""

from __future__ import annotations

import json
import re

import pytest

from anyoauth.testing import ProviderEmulator

from .helpers import (
    EXIT_OK,
    EXIT_USAGE,
    FAKE_BROWSER_COMMAND,
    LOOPBACK_REDIRECT,
    TV_ID,
    Cli,
    Interactive,
    assert_no_secrets,
    printed_token,
)

pytestmark = pytest.mark.anyio

APP_ID, APP_SECRET = "preset-web-app", "preset-web-secret-SENTINEL-7a8b"
USER_CODE = r"enter the code ([A-Z0-9]{4}-[A-Z0-9]{4})"
TENANT = "0b1c2d3e-4f50-4617-8283-94a5b6c7d8e9"


@pytest.fixture
def app(emulator: ProviderEmulator) -> ProviderEmulator:
    """A confidential web app that sends its secret in the form, as these presets do."""
    emulator.add_oauth_client(
        APP_ID,
        client_secret=APP_SECRET,
        redirect_uris=[LOOPBACK_REDIRECT],
        auth_method="client_secret_post",
        scopes=None,
    )
    return emulator


def saved(cli: Cli, provider: str) -> dict[str, object]:
    data: dict[str, object] = json.loads(
        (cli.config_dir / "profiles" / provider / "default.json").read_text()
    )
    return data


async def approve(login: Interactive, emulator: ProviderEmulator) -> None:
    emulator.approve_device((await login.wait_for(USER_CODE))[1])


async def test_gitlab_self_managed_login_then_token(
    cli: Cli, app: ProviderEmulator, base: str
) -> None:
    login = await cli.run(
        "login", "gitlab", "--client-id", APP_ID, "--server-url", base, "--timeout", "20",
        env={"BROWSER": FAKE_BROWSER_COMMAND, "ANYOAUTH_CLIENT_SECRET": APP_SECRET},
    )  # fmt: skip
    assert login.returncode == EXIT_OK, login.stderr
    assert "Logged in to GitLab" in login.stderr
    asked = app.authorization_requests[-1]
    assert asked["code_challenge_method"] == "S256"
    assert asked["nonce"]  # OpenID Connect: checked with the instance's keys
    assert app.calls["gitlab.discovery_keys"] == 1
    assert saved(cli, "gitlab")["endpoints"] == {"server_url": base}
    await cli.run("token", "gitlab")
    assert_no_secrets(cli, [printed_token(cli, app)])


async def test_entra_login_with_a_tenant_then_token(
    cli: Cli, app: ProviderEmulator, base: str
) -> None:
    app.entra_tenant = TENANT
    login = await cli.run(
        "login", "entra", "--client-id", APP_ID, "--server-url", base,
        "--tenant", "organizations", "--timeout", "20",
        env={"BROWSER": FAKE_BROWSER_COMMAND, "ANYOAUTH_CLIENT_SECRET": APP_SECRET},
    )  # fmt: skip
    assert login.returncode == EXIT_OK, login.stderr
    assert "Logged in to Microsoft Entra ID" in login.stderr
    assert app.calls["entra.authorize"] == 1
    assert app.calls["entra.token"] == 1
    assert "offline_access" in app.authorization_requests[-1]["scope"]
    assert saved(cli, "entra")["endpoints"] == {"server_url": base, "tenant": "organizations"}
    await cli.run("token", "entra")
    assert_no_secrets(cli, [printed_token(cli, app)])


async def test_github_device_login(cli: Cli, emulator: ProviderEmulator, base: str) -> None:
    login = await cli.open("login", "github-device", "--client-id", TV_ID, "--server-url", base)
    await approve(login, emulator)
    result = await login.finish()
    assert result.returncode == EXIT_OK, result.stderr
    assert "Logged in to GitHub" in result.stderr
    assert emulator.calls["github.device_code"] == 1
    assert emulator.calls["github.access_token"] >= 1
    await cli.run("token", "github-device")
    assert_no_secrets(cli, [printed_token(cli, emulator)])


async def test_presets_say_which_setting_is_missing(cli: Cli) -> None:
    tenantless = await cli.run("login", "entra-client-credentials", "--client-id", "x")
    assert tenantless.returncode == EXIT_USAGE
    assert "entra-client-credentials needs --tenant" in tenantless.stderr
    secretless = await cli.run("login", "google-device", "--client-id", "x")
    assert secretless.returncode == EXIT_USAGE
    assert re.search(r"google-device needs a client secret", secretless.stderr)
