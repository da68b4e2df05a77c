"""The Google, Microsoft Entra ID, GitHub and GitLab presets end to end against the
emulator's provider paths and quirks: Google's offline access, scheme-less issuer and
``verification_url`` device answer with 428 polls; Entra ID's tenant-templated issuer
with users of several tenants; GitHub's form-encoded answers, errors at HTTP 200,
comma-separated scopes and expiring user tokens; GitLab on a self-managed URL with
rotating refresh tokens and the device grant."""

from __future__ import annotations

from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import anyio
import anyio.lowlevel
import pytest

from anyoauth import Client, DeviceAuthorization, InvalidIdToken, TokenRequestError
from anyoauth.providers import (
    EntraDevice,
    EntraID,
    GitHub,
    GitHubDevice,
    GitLab,
    GitLabDevice,
    Google,
    GoogleDevice,
)
from anyoauth.testing import ManualClock, ProviderEmulator, browse

pytestmark = pytest.mark.anyio

SITE = "https://idp.test"
SECRET = "preset-secret-SENTINEL-0123456789"
REDIRECT = "https://app.example/callback"
DEVICE = "urn:ietf:params:oauth:grant-type:device_code"
TENANT_A = "11111111-2222-4333-8444-555555555555"
TENANT_B = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"


@pytest.fixture
def provider(clock: ManualClock) -> ProviderEmulator:
    """One emulator playing every provider: a web app and a device app."""
    emulator = ProviderEmulator(clock=clock, base_url=SITE, oauth_device_interval=1)
    emulator.add_oauth_client(
        "web",
        client_secret=SECRET,
        redirect_uris=[REDIRECT],
        auth_method="client_secret_post",
        scopes=None,
    )
    emulator.add_oauth_client(
        "tv",
        client_secret=SECRET,
        grant_types=[DEVICE, "refresh_token"],
        auth_method="client_secret_post",
        scopes=None,
    )
    emulator.add_oauth_client(
        "cli", grant_types=[DEVICE, "refresh_token"], auth_method="none", scopes=None
    )
    return emulator


@pytest.fixture
async def http(provider: ProviderEmulator, http_module: ModuleType) -> Any:
    async with http_module.AsyncClient(transport=provider.mock_transport(http_module)) as h:
        yield h


async def code_login(client: Client, http: Any) -> Any:
    start = await client.begin()
    return start, await client.complete(await browse(http, start.url))


def approving(provider: ProviderEmulator, shown: list[DeviceAuthorization]) -> Any:
    async def show(device: DeviceAuthorization) -> None:
        shown.append(device)
        provider.approve_device(device.user_code)

    return show


# -- Google ---------------------------------------------------------------------------


async def test_google_asks_offline_access_and_validates_the_scheme_less_issuer(
    provider: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    strategy = Google("web", SECRET, REDIRECT, server_url=SITE, prompt="consent")
    async with Client(strategy, http=http, clock=clock) as client:
        start, token = await code_login(client, http)
    query = dict(parse_qsl(urlsplit(start.url).query))
    assert query["access_type"] == "offline"
    assert query["prompt"] == "consent"
    assert query["code_challenge_method"] == "S256"
    assert urlsplit(start.url).path == "/o/oauth2/v2/auth"
    assert token.refresh_token is not None
    assert token.id_token_claims is not None
    assert token.id_token_claims["iss"] == "idp.test"
    assert provider.calls["google.token"] == 1


async def test_google_without_offline_sends_no_access_type(clock: ManualClock) -> None:
    strategy = Google("web", SECRET, REDIRECT, offline=False)
    assert "access_type" not in strategy.extra_authorization_params
    assert strategy.issuer == "https://accounts.google.com"
    assert strategy.token_endpoint == "https://oauth2.googleapis.com/token"


async def test_google_device_reads_verification_url_and_polls_through_428(
    provider: ProviderEmulator,
    http: Any,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shown: list[DeviceAuthorization] = []
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        # The user approves while the client waits after its first (pending) poll.
        waits.append(seconds)
        if len(waits) == 2:
            provider.approve_device(shown[0].user_code)
        await anyio.lowlevel.checkpoint()

    async def show(device: DeviceAuthorization) -> None:
        shown.append(device)

    monkeypatch.setattr(anyio, "sleep", sleep)
    strategy = GoogleDevice("tv", SECRET, server_url=SITE)
    async with Client(strategy, http=http, clock=clock) as client:
        token = await client.device_login(show)
    assert shown[0].verification_uri == SITE + "/device"
    assert shown[0].verification_uri_complete is None
    assert token.id_token_claims is not None
    assert token.id_token_claims["iss"] == "idp.test"
    assert provider.calls["google.device"] == 1
    assert provider.calls["google.token"] == 2  # one 428 pending poll, then the token


# -- Microsoft Entra ID ---------------------------------------------------------------


async def test_entra_accepts_users_of_any_tenant_each_with_its_own_issuer(
    provider: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    strategy = EntraID("web", SECRET, REDIRECT, server_url=SITE)
    assert strategy.issuer == SITE + "/{tenantid}/v2.0"
    tids = []
    for tenant in (TENANT_A, TENANT_B):
        provider.entra_tenant = tenant
        async with Client(strategy, http=http, clock=clock) as client:
            start, token = await code_login(client, http)
        assert token.id_token_claims is not None
        assert token.id_token_claims["iss"] == f"{SITE}/{tenant}/v2.0"
        tids.append(token.id_token_claims["tid"])
        assert token.refresh_token is not None  # offline_access
    assert tids == [TENANT_A, TENANT_B]
    assert urlsplit(start.url).path == "/common/oauth2/v2.0/authorize"
    assert "offline_access" in dict(parse_qsl(urlsplit(start.url).query))["scope"]


async def test_entra_pinned_to_tenants_refuses_a_user_of_another(
    provider: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    strategy = EntraID("web", SECRET, REDIRECT, server_url=SITE, tenants=[TENANT_A])
    provider.entra_tenant = TENANT_B
    async with Client(strategy, http=http, clock=clock) as client:
        with pytest.raises(InvalidIdToken, match="tenant"):
            await code_login(client, http)


async def test_entra_single_tenant_app_has_the_tenant_issuer(
    provider: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    provider.entra_tenant = TENANT_A
    strategy = EntraID("web", SECRET, REDIRECT, server_url=SITE, tenant=TENANT_A)
    assert strategy.issuer == f"{SITE}/{TENANT_A}/v2.0"
    async with Client(strategy, http=http, clock=clock) as client:
        _start, token = await code_login(client, http)
    assert token.id_token_claims is not None
    assert token.id_token_claims["tid"] == TENANT_A


async def test_entra_organizations_refuses_a_personal_account(
    provider: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    provider.entra_tenant = "9188040d-6c67-4c5b-b112-36a304b66dad"
    strategy = EntraID("web", SECRET, REDIRECT, server_url=SITE, tenant="organizations")
    async with Client(strategy, http=http, clock=clock) as client:
        with pytest.raises(InvalidIdToken):
            await code_login(client, http)


async def test_entra_device_login(
    provider: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    shown: list[DeviceAuthorization] = []
    strategy = EntraDevice("cli", server_url=SITE)
    async with Client(strategy, http=http, clock=clock) as client:
        token = await client.device_login(approving(provider, shown))
    assert token.id_token_claims is not None
    assert token.id_token_claims["iss"] == f"{SITE}/{provider.entra_tenant}/v2.0"
    assert provider.calls["entra.device_authorization"] == 1


async def test_entra_discovery_names_the_templated_issuer(
    provider: ProviderEmulator, http: Any
) -> None:
    answer = await http.get(SITE + "/common/v2.0/.well-known/openid-configuration")
    document = answer.json()
    assert document["issuer"] == SITE + "/{tenantid}/v2.0"
    assert document["token_endpoint"] == SITE + "/common/oauth2/v2.0/token"


# -- GitHub ---------------------------------------------------------------------------


async def test_github_code_flow_reads_comma_scopes_and_expiring_user_tokens(
    provider: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    strategy = GitHub("web", SECRET, REDIRECT, server_url=SITE, scope="repo read:org")
    async with Client(strategy, http=http, clock=clock) as client:
        start, token = await code_login(client, http)
        clock.advance(3601)
        renewed = await client.token()
    assert urlsplit(start.url).path == "/login/oauth/authorize"
    assert token.scope == "repo read:org"
    assert token.extra["refresh_token_expires_in"] == 15_897_600
    assert token.id_token_claims is None
    assert renewed.access_token != token.access_token
    assert renewed.refresh_token not in (None, token.refresh_token)
    assert provider.calls["github.access_token"] == 2


async def test_github_bad_code_at_http_200_is_an_error(
    provider: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    strategy = GitHub("web", "wrong-secret", REDIRECT, server_url=SITE)
    async with Client(strategy, http=http, clock=clock) as client:
        with pytest.raises(TokenRequestError) as caught:
            await code_login(client, http)
    assert caught.value.status_code == 200
    assert caught.value.error == "invalid_client"


async def test_github_answers_a_form_unless_json_is_asked(
    provider: ProviderEmulator, http: Any
) -> None:
    answer = await http.post(
        SITE + "/login/device/code", data={"client_id": "cli", "scope": "repo"}
    )
    assert answer.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert "device_code" in dict(parse_qsl(answer.text))
    answer = await http.post(
        SITE + "/login/device/code",
        data={"client_id": "cli"},
        headers={"Accept": "application/json"},
    )
    assert answer.json()["verification_uri"] == SITE + "/device"


async def test_github_device_login(
    provider: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    shown: list[DeviceAuthorization] = []
    strategy = GitHubDevice("cli", server_url=SITE, scope="repo,gist")
    async with Client(strategy, http=http, clock=clock) as client:
        token = await client.device_login(approving(provider, shown))
    assert token.scope == "repo gist"
    assert provider.calls["github.device_code"] == 1


async def test_github_device_polls_through_pending_answers_at_http_200(
    provider: ProviderEmulator,
    http: Any,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shown: list[DeviceAuthorization] = []

    async def sleep(seconds: float) -> None:
        if len(shown) == 1 and provider.calls["github.access_token"] == 1:
            provider.approve_device(shown[0].user_code)
        await anyio.lowlevel.checkpoint()

    async def show(device: DeviceAuthorization) -> None:
        shown.append(device)

    monkeypatch.setattr(anyio, "sleep", sleep)
    async with Client(GitHubDevice("cli", server_url=SITE), http=http, clock=clock) as client:
        token = await client.device_login(show)
    assert token.access_token
    assert provider.calls["github.access_token"] == 2  # pending (at HTTP 200), then the token


# -- GitLab ---------------------------------------------------------------------------


async def test_gitlab_self_managed_code_flow_rotates_refresh_tokens(
    provider: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    strategy = GitLab("web", SECRET, REDIRECT, server_url=SITE)
    assert strategy.issuer == SITE
    async with Client(strategy, http=http, clock=clock) as client:
        start, token = await code_login(client, http)
        clock.advance(3601)
        renewed = await client.token()
    assert dict(parse_qsl(urlsplit(start.url).query))["code_challenge_method"] == "S256"
    assert token.id_token_claims is not None
    assert token.id_token_claims["iss"] == SITE
    assert renewed.refresh_token not in (None, token.refresh_token)
    assert provider.calls["gitlab.discovery_keys"] >= 1


async def test_gitlab_device_login(
    provider: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    shown: list[DeviceAuthorization] = []
    strategy = GitLabDevice("cli", server_url=SITE)
    async with Client(strategy, http=http, clock=clock) as client:
        token = await client.device_login(approving(provider, shown))
    assert token.id_token_claims is not None
    assert provider.calls["gitlab.authorize_device"] == 1
