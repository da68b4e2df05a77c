"""Providers come from :mod:`anyoauth.plugins`: the built-in presets take the options,
secret and words they always had, a preset's signature decides which options it takes,
and an installed plugin's provider (the example plugin's Acme ID) logs in, prints and
refreshes tokens and logs out through the real command, against the emulator's generic
server answering in Acme's envelope.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

import attrs
import pytest

from anyoauth import Client, ClientCredentials, FileStore, Strategy, plugins
from anyoauth.cli._common import PLACEHOLDER_REDIRECT, UsageError
from anyoauth.cli._profiles import Profile
from anyoauth.cli._providers import PresetProvider, builtin_providers, get_provider
from anyoauth.providers import TEAMWORK_TOKEN_URL
from anyoauth.testing import OAUTH_TOKEN_PATH, EmulatorResponse, ProviderEmulator
from plugins.helpers import EXAMPLE_DIR, EXAMPLE_DISTRIBUTION
from services import missing_service

from .helpers import (
    EXIT_LOGIN_REQUIRED,
    EXIT_OK,
    EXIT_USAGE,
    FAKE_BROWSER_COMMAND,
    LOOPBACK_REDIRECT,
    Cli,
    InProcess,
    assert_no_secrets,
    printed_token,
)

ACME_ID, ACME_SECRET = "acme-cli-app", "acme-secret-SENTINEL-3c9d"

BUILT_IN = {
    "geni": ("Geni", False, {"scope", "authorize_url", "token_url", "success_url", "failure_url"}),
    "teamwork": ("Teamwork", True, {"client_secret", "redirect_uri", "authorize_url", "token_url"}),
    "bog": (
        "Bank of Georgia",
        True,
        {"client_secret", "redirect_uri", "server_url", "realm", "authorize_url", "token_url"},
    ),
    "keycloak": (
        "Keycloak",
        True,
        {
            "client_secret",
            "redirect_uri",
            "scope",
            "server_url",
            "realm",
            "authorize_url",
            "token_url",
        },
    ),
}
_CODE = {"client_secret", "redirect_uri", "scope", "server_url", "authorize_url", "token_url"}
_DEVICE = {"client_secret", "scope", "server_url", "token_url"}
BUILT_IN.update(
    {
        "google": ("Google", False, _CODE),
        "google-device": ("Google", True, _DEVICE),
        "entra": ("Microsoft Entra ID", False, {*_CODE, "tenant"}),
        "entra-device": ("Microsoft Entra ID", False, {*_DEVICE, "tenant"}),
        "entra-client-credentials": ("Microsoft Entra ID", False, {*_DEVICE, "tenant"}),
        "github": ("GitHub", True, _CODE),
        "github-device": ("GitHub", False, {"scope", "server_url", "token_url"}),
        "gitlab": ("GitLab", False, _CODE),
        "gitlab-device": ("GitLab", False, _DEVICE),
        "apple": (
            "Apple",
            False,
            {*_CODE - {"client_secret"}, "team_id", "key_id", "key_file"},
        ),
        "auth0": ("Auth0", False, {*_CODE, "domain", "audience"}),
        "auth0-device": ("Auth0", False, {*_DEVICE - {"client_secret"}, "domain", "audience"}),
        "auth0-client-credentials": ("Auth0", True, {*_DEVICE, "domain", "audience"}),
        "okta": ("Okta", False, {*_CODE, "domain", "authorization_server"}),
        "okta-device": (
            "Okta",
            False,
            {*_DEVICE - {"client_secret"}, "domain", "authorization_server"},
        ),
        "slack": ("Slack", True, _CODE),
        "discord": ("Discord", False, _CODE),
        "dropbox": ("Dropbox", False, _CODE),
        "salesforce": ("Salesforce", False, _CODE),
        "x": ("X", False, _CODE),
    }
)


def test_the_built_in_presets_take_the_options_they_always_took() -> None:
    for name, (title, needs_secret, options) in BUILT_IN.items():
        provider = get_provider(name)
        assert isinstance(provider, PresetProvider)
        assert provider.preset is plugins.get_provider(name)
        assert (provider.title, provider.needs_secret, set(provider.options)) == (
            title,
            needs_secret,
            options,
        )
    assert [p.name for p in builtin_providers()] == [*BUILT_IN, "oauth"]


def test_a_preset_gets_the_settings_given_and_its_defaults_for_the_rest() -> None:
    teamwork = get_provider("teamwork")
    login_url = "https://staging.teamwork.example/launchpad/login"
    strategy = teamwork.build(
        Profile(
            provider="teamwork",
            client_id="tw",
            client_secret="s3cret",
            endpoints={"authorize_url": login_url},
        )
    )
    assert strategy.authorization_endpoint == login_url  # --authorize-url is its login_url
    assert strategy.redirect_uri == PLACEHOLDER_REDIRECT  # required: the listener's
    assert strategy.token_endpoint == TEAMWORK_TOKEN_URL  # the preset's default
    with pytest.raises(UsageError, match="teamwork needs a client secret"):
        teamwork.build(Profile(provider="teamwork", client_id="tw"))
    keycloak = Profile(provider="keycloak", client_id="kc", client_secret="s3cret")
    for endpoints in ({}, {"server_url": "https://sso.example"}, {"realm": "staff"}):
        with pytest.raises(UsageError, match="keycloak needs --server-url and --realm"):
            get_provider("keycloak").build(attrs.evolve(keycloak, endpoints=endpoints))


def lab(client_id: str, scope: Iterable[str] | None = None, /, *, token_url: str) -> Strategy:
    """A preset with positional-only parameters and a required endpoint."""
    return ClientCredentials(
        client_id=client_id, client_secret="built-in", scope=scope, token_endpoint=token_url
    )


def workspace(client_id: str, workspace: str) -> Strategy:
    """A preset with a required parameter no option sets."""
    return ClientCredentials(client_id=client_id, client_secret="s", token_endpoint=workspace)


def test_a_presets_signature_decides_its_options() -> None:
    provider = PresetProvider.from_preset("lab", lab)
    assert provider.options == {"scope", "token_url"}
    assert not provider.needs_secret
    settings = Profile(provider="lab", client_id="c")
    with pytest.raises(UsageError, match="lab needs --token-url"):
        provider.build(settings)
    token_url = "https://lab.example/token"
    built = provider.build(attrs.evolve(settings, endpoints={"token_url": token_url}))
    assert (built.client_id, built.scope, built.token_endpoint) == ("c", (), token_url)
    scoped = attrs.evolve(settings, endpoints={"token_url": token_url}, scope=("a", "b"))
    assert provider.build(scoped).scope == ("a", "b")

    unsettable = PresetProvider.from_preset("workspace", workspace)
    with pytest.raises(UsageError, match="the workspace preset needs workspace, which the command"):
        unsettable.build(Profile(provider="workspace", client_id="c"))


@pytest.fixture
def example_plugin() -> importlib.metadata.Distribution:
    """The installed example plugin distribution (``examples/plugin-example``)."""
    try:
        return importlib.metadata.distribution(EXAMPLE_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        missing_service(f"{EXAMPLE_DISTRIBUTION} is not installed: pip install -e {EXAMPLE_DIR}")


def test_a_plugin_provider_takes_the_options_of_its_preset(
    example_plugin: importlib.metadata.Distribution, main: InProcess, tmp_path: Path
) -> None:
    code, out, err = main("login", "--help")
    assert code == EXIT_OK
    listed = re.search(r"\n  PROVIDER +(.*?)\n\n", out, re.S)
    assert listed is not None
    assert " ".join(listed[1].split()).replace("- ", "-") == (
        "acme, apple, auth0, auth0-client-credentials, auth0-device, bog, discord, dropbox, "
        "entra, entra-client-credentials, entra-device, geni, github, github-device, gitlab, "
        "gitlab-device, google, google-device, keycloak, oauth, okta, okta-device, "
        "salesforce, slack, teamwork, x"
    )
    for args, message in [
        (["--client-id", "x", "--token-url", "https://id.acme.example/t"], "does not take"),
        (["--client-id", "x"], "acme needs a client secret: set ANYOAUTH_CLIENT_SECRET"),
        ([], "acme needs a client id"),
    ]:
        code, out, err = main("login", "acme", *args)
        assert (code, out) == (EXIT_USAGE, ""), err
        assert message in err
    assert not (tmp_path / "config" / "profiles").exists()


class AcmeEmulator(ProviderEmulator):
    """The emulator, its generic server's token endpoint answering like Acme ID."""

    def handle(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> EmulatorResponse:
        answer = super().handle(method, url, headers, body)
        if urlsplit(url).path != OAUTH_TOKEN_PATH:
            return answer
        payload = answer.json()
        if answer.status == 200:
            payload["expires_at"] = self.clock() + payload.pop("expires_in")
            wrapped = {"data": payload, "meta": {"request_id": "req-1"}}
        else:
            error = {"code": payload["error"], "detail": payload.get("error_description")}
            wrapped = {"errors": [error]}
        return attrs.evolve(answer, body=json.dumps(wrapped).encode())


@pytest.mark.anyio
async def test_a_plugin_provider_logs_in_prints_tokens_and_logs_out(
    example_plugin: importlib.metadata.Distribution, cli: Cli
) -> None:
    emulator = AcmeEmulator()
    emulator.add_oauth_client(
        ACME_ID,
        client_secret=ACME_SECRET,
        redirect_uris=[LOOPBACK_REDIRECT],
        auth_method="client_secret_post",
    )
    async with emulator.serve() as base:
        login = await cli.run(
            "login", "acme", "--client-id", ACME_ID, "--server-url", base, "--timeout", "20",
            env={"BROWSER": FAKE_BROWSER_COMMAND, "ANYOAUTH_CLIENT_SECRET": ACME_SECRET},
        )  # fmt: skip
        assert login.returncode == EXIT_OK, login.stderr
        assert "Opening the login page in your web browser" in login.stderr
        assert "Logged in to acme (profile default): a token valid for " in login.stderr
        assert "Print it with `anyoauth token acme`." in login.stderr
        asked = emulator.authorization_requests[-1]
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/callback", asked["redirect_uri"])
        assert asked["code_challenge_method"] == "S256"
        assert emulator.calls["oauth.token"] == 1
        path = cli.config_dir / "profiles" / "acme" / "default.json"
        saved = json.loads(path.read_text())
        assert (saved["version"], saved["provider"], saved["client_id"]) == (1, "acme", ACME_ID)
        assert saved["endpoints"] == {"server_url": base}
        assert saved["client_secret"] == ACME_SECRET

        await cli.run("token", "acme")
        first = printed_token(cli, emulator)
        assert emulator.calls["oauth.token"] == 1  # the stored token

        # A token about to expire is refreshed, its answer unwrapped by the plugin.
        strategy = get_provider("acme").build(Profile.from_json(path.read_bytes()))
        assert type(strategy) is plugins.get_strategy("acme")
        key = Client(strategy, account="acme/default").token_key
        store = FileStore(cli.config_dir / "store")
        stored = await store.get_token(key)
        assert stored is not None
        assert stored.refresh_token
        now = time.time()
        await store.set_token(key, attrs.evolve(stored, issued_at=now - 3590, expires_at=now + 10))
        await cli.run("token", "acme")
        second = printed_token(cli, emulator)
        assert second != first
        assert emulator.calls["oauth.token"] == 2

        # Acme ID has no revocation endpoint: logout deletes the token here only.
        logout = await cli.run("logout", "acme")
        assert logout.returncode == EXIT_OK, logout.stderr
        assert (
            "Logged out of acme (profile default): token deleted; nothing was revoked at the "
            "provider." in logout.stderr
        )
        assert await store.get_token(key) is None
        after = await cli.run("token", "acme")
        assert after.returncode == EXIT_LOGIN_REQUIRED
        assert "run `anyoauth login acme`" in after.stderr
    assert ACME_SECRET not in cli.outputs()
    assert_no_secrets(cli, [first, second])
