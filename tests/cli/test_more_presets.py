"""``anyoauth login`` with the Apple, Auth0, Okta, Salesforce and Slack presets, each
run as ``python -m anyoauth`` against the emulator's provider paths on a loopback port
(``--server-url``): Apple's client secret signed from the ``--key-file``, Auth0's
``--audience``, Okta's ``--authorization-server``, the settings saved in the profile and
reused by ``token``, and what each preset says is missing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from joserfc.jwk import ECKey

from anyoauth.testing import ProviderEmulator

from .helpers import (
    EXIT_OK,
    EXIT_USAGE,
    FAKE_BROWSER_COMMAND,
    LOOPBACK_REDIRECT,
    Cli,
    assert_no_secrets,
    printed_token,
)

pytestmark = pytest.mark.anyio

APP_ID, APP_SECRET = "more-preset-app", "more-preset-secret-SENTINEL-5e6f"
POST_ID = "more-preset-form-app"  # sends its secret in the form (Auth0, Salesforce)
APPLE_ID, TEAM, KID = "com.example.cli", "TEAM123456", "KEY1234567"


@pytest.fixture
def app(emulator: ProviderEmulator) -> ProviderEmulator:
    """Confidential web apps (HTTP Basic; the secret in the form) and an Apple
    Services ID."""
    emulator.add_oauth_client(
        APP_ID, client_secret=APP_SECRET, redirect_uris=[LOOPBACK_REDIRECT], scopes=None
    )
    emulator.add_oauth_client(
        POST_ID, client_secret=APP_SECRET, redirect_uris=[LOOPBACK_REDIRECT],
        auth_method="client_secret_post", scopes=None,
    )  # fmt: skip
    emulator.add_oauth_client(
        APPLE_ID, client_secret="apple-registered", redirect_uris=[LOOPBACK_REDIRECT],
        auth_method="client_secret_post", require_pkce=False, scopes=None,
    )  # fmt: skip
    return emulator


def saved(cli: Cli, provider: str) -> dict[str, object]:
    data: dict[str, object] = json.loads(
        (cli.config_dir / "profiles" / provider / "default.json").read_text()
    )
    return data


def browser(secret: str | None = APP_SECRET) -> dict[str, str]:
    env = {"BROWSER": FAKE_BROWSER_COMMAND}
    if secret is not None:
        env["ANYOAUTH_CLIENT_SECRET"] = secret
    return env


async def test_apple_login_signs_its_client_secret_from_the_key_file(
    cli: Cli, app: ProviderEmulator, base: str, tmp_path: Path
) -> None:
    key = ECKey.generate_key("P-256")
    key_file = tmp_path / "AuthKey_KEY1234567.p8"
    key_file.write_bytes(key.as_pem(private=True))
    app.provider_quirks.register_apple_key(
        APPLE_ID, team_id=TEAM, key_id=KID, public_key=key.as_dict(private=False)
    )
    login = await cli.run(
        "login", "apple", "--client-id", APPLE_ID, "--server-url", base, "--team-id", TEAM,
        "--key-id", KID, "--key-file", str(key_file), "--scope", "openid", "--timeout", "20",
        env=browser(None),
    )  # fmt: skip
    assert login.returncode == EXIT_OK, login.stderr
    assert "Logged in to Apple" in login.stderr
    assert app.calls["apple.token"] == 1
    assert saved(cli, "apple")["endpoints"] == {
        "server_url": base, "team_id": TEAM, "key_id": KID, "key_file": str(key_file),
    }  # fmt: skip
    secret = app.provider_quirks.apple_secrets[0]
    assert secret not in cli.outputs()
    assert key.as_pem(private=True).decode().splitlines()[1] not in cli.outputs()
    await cli.run("token", "apple")
    assert_no_secrets(cli, [printed_token(cli, app)])


async def test_auth0_login_with_an_audience_then_token(
    cli: Cli, app: ProviderEmulator, base: str
) -> None:
    login = await cli.run(
        "login", "auth0", "--client-id", POST_ID, "--server-url", base,
        "--audience", "https://api.example", "--timeout", "20", env=browser(),
    )  # fmt: skip
    assert login.returncode == EXIT_OK, login.stderr
    assert "Logged in to Auth0" in login.stderr
    assert app.authorization_requests[-1]["audience"] == "https://api.example"
    assert saved(cli, "auth0")["endpoints"] == {
        "server_url": base, "audience": "https://api.example",
    }  # fmt: skip
    await cli.run("token", "auth0")
    assert_no_secrets(cli, [printed_token(cli, app)])


async def test_okta_login_on_a_custom_authorization_server(
    cli: Cli, app: ProviderEmulator, base: str
) -> None:
    login = await cli.run(
        "login", "okta", "--client-id", APP_ID, "--server-url", base,
        "--authorization-server", "default", "--timeout", "20", env=browser(),
    )  # fmt: skip
    assert login.returncode == EXIT_OK, login.stderr
    assert "Logged in to Okta" in login.stderr
    assert app.calls["okta.authorize"] == 1
    assert app.calls["okta.keys"] >= 1  # the id_token checked with the server's keys
    await cli.run("token", "okta")
    assert_no_secrets(cli, [printed_token(cli, app)])


async def test_salesforce_login_on_a_sandbox_host(
    cli: Cli, app: ProviderEmulator, base: str
) -> None:
    login = await cli.run(
        "login", "salesforce", "--client-id", POST_ID, "--server-url", base,
        "--timeout", "20", env=browser(),
    )  # fmt: skip
    assert login.returncode == EXIT_OK, login.stderr
    assert "Logged in to Salesforce" in login.stderr
    assert app.calls["salesforce.token"] == 1
    await cli.run("token", "salesforce")
    assert_no_secrets(cli, [printed_token(cli, app)])


async def test_more_presets_say_which_setting_is_missing(cli: Cli) -> None:
    keyless = await cli.run("login", "apple", "--client-id", "x", "--team-id", TEAM)
    assert keyless.returncode == EXIT_USAGE
    assert "apple needs" in keyless.stderr
    assert "--key-file" in keyless.stderr
    audienceless = await cli.run(
        "login", "auth0-client-credentials", "--client-id", "x", "--domain", "t.auth0.com",
        env={"ANYOAUTH_CLIENT_SECRET": "s"},
    )  # fmt: skip
    assert audienceless.returncode == EXIT_USAGE
    assert "auth0-client-credentials needs --audience" in audienceless.stderr
    secretless = await cli.run("login", "slack", "--client-id", "x", "--scope", "commands")
    assert secretless.returncode == EXIT_USAGE
    assert "slack needs a client secret" in secretless.stderr
