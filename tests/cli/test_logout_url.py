"""``anyoauth logout`` with a provider that names an end_session_endpoint (OpenID
Connect RP-Initiated Logout): it prints the URL that ends the session at the provider
(its ``id_token_hint`` the stored id_token), after revoking and deleting the token as
before; ``--local`` prints none."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from anyoauth import FileStore
from anyoauth.testing import ProviderEmulator

from .helpers import (
    EXIT_OK,
    FAKE_BROWSER_COMMAND,
    SVC_ID,
    SVC_SECRET,
    WEB_ID,
    WEB_SECRET,
    Cli,
    assert_no_secrets,
    printed_token,
)
from .test_oauth import token_key

pytestmark = pytest.mark.anyio


async def _login(cli: Cli, base: str) -> None:
    login = await cli.run(
        "login", "oauth", "--issuer", base, "--client-id", WEB_ID, "--scope", "openid",
        "--timeout", "20",
        env={"BROWSER": FAKE_BROWSER_COMMAND, "ANYOAUTH_CLIENT_SECRET": WEB_SECRET},
    )  # fmt: skip
    assert login.returncode == EXIT_OK, login.stderr


async def test_logout_prints_the_providers_logout_url_with_the_id_token_hint(
    cli: Cli, emulator: ProviderEmulator, base: str
) -> None:
    await _login(cli, base)
    stored = await FileStore(cli.config_dir / "store").get_token(token_key(cli))
    assert stored is not None
    id_token = stored.extra["id_token"]
    await cli.run("token", "oauth")
    token = printed_token(cli, emulator)

    logout = await cli.run("logout", "oauth")
    assert logout.returncode == EXIT_OK, logout.stderr
    assert "token revoked at the provider, local token deleted" in logout.stderr
    assert "To end the session at the provider too, open:" in logout.stderr
    [url] = logout.stdout.splitlines()
    assert url.startswith(emulator.endpoints_oauth(base)["end_session_endpoint"] + "?")
    assert parse_qs(urlsplit(url).query) == {"id_token_hint": [id_token], "client_id": [WEB_ID]}
    assert id_token not in logout.stderr  # the hint goes to stdout only
    assert not emulator.is_valid_token(token)
    assert_no_secrets(cli, [token])


async def test_logout_local_prints_no_logout_url(
    cli: Cli, emulator: ProviderEmulator, base: str
) -> None:
    await _login(cli, base)
    local = await cli.run("logout", "oauth", "--local")
    assert local.returncode == EXIT_OK, local.stderr
    assert local.stdout == ""
    assert "nothing was revoked at the provider" in local.stderr
    assert emulator.calls["oauth.revoke"] == 0


async def test_a_service_logout_prints_no_logout_url(
    cli: Cli, emulator: ProviderEmulator, base: str
) -> None:
    login = await cli.run(
        "login", "oauth", "--issuer", base, "--client-id", SVC_ID,
        "--flow", "client-credentials", env={"ANYOAUTH_CLIENT_SECRET": SVC_SECRET},
    )  # fmt: skip
    assert login.returncode == EXIT_OK, login.stderr
    logout = await cli.run("logout", "oauth")
    assert logout.returncode == EXIT_OK, logout.stderr
    assert logout.stdout == ""
