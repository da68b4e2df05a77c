"""The Apple, Auth0, Okta, Slack, Discord, Dropbox, Salesforce and X presets end to end
against the emulator's provider paths and quirks: Apple's self-signed, renewed client
secret, form_post answer and first-login ``user`` field; Auth0's audience, trailing-slash
issuer, device and client credentials grants; Okta's org and custom authorization
servers; Slack's ``ok`` answers with bot or user tokens; Discord without PKCE and its
revocation; Dropbox's offline access; Salesforce's millisecond ``issued_at`` and
``instance_url``; X's required PKCE and rotating refresh tokens."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import pytest
from joserfc.jwk import ECKey

from anyoauth import Client, DeviceAuthorization, InvalidIdToken, TokenRequestError
from anyoauth.providers import (
    Apple,
    Auth0,
    Auth0ClientCredentials,
    Auth0Device,
    Discord,
    Dropbox,
    Okta,
    OktaDevice,
    Salesforce,
    Slack,
    X,
)
from anyoauth.testing import ManualClock, ProviderEmulator, browse

pytestmark = pytest.mark.anyio

SITE = "https://idp.test"
SECRET = "more-preset-secret-SENTINEL-0123456789"
REDIRECT = "https://app.example/callback"
DEVICE = "urn:ietf:params:oauth:grant-type:device_code"
TEAM, KID = "TEAM123456", "KEY1234567"


@pytest.fixture
def apple_key() -> ECKey:
    return ECKey.generate_key("P-256")


@pytest.fixture
def provider(clock: ManualClock, apple_key: ECKey) -> ProviderEmulator:
    """One emulator playing every provider, with the clients each preset needs."""
    emulator = ProviderEmulator(clock=clock, base_url=SITE, oauth_device_interval=1)
    methods: tuple[tuple[str, Literal["client_secret_post", "client_secret_basic"], bool], ...]
    methods = (
        ("post", "client_secret_post", False),
        ("basic", "client_secret_basic", False),
        ("basic-pkce", "client_secret_basic", True),
    )
    for client_id, method, pkce in methods:
        emulator.add_oauth_client(
            client_id,
            client_secret=SECRET,
            redirect_uris=[REDIRECT],
            auth_method=method,
            require_pkce=pkce,
            scopes=None,
        )
    emulator.add_oauth_client(
        "public", redirect_uris=[REDIRECT], auth_method="none", require_pkce=True, scopes=None
    )
    emulator.add_oauth_client(
        "cli", grant_types=[DEVICE, "refresh_token"], auth_method="none", scopes=None
    )
    emulator.add_oauth_client(
        "m2m", client_secret=SECRET, grant_types=["client_credentials"],
        auth_method="client_secret_post", scopes=None,
    )  # fmt: skip
    emulator.add_oauth_client(
        "com.example.web", client_secret="apple-registered-secret", redirect_uris=[REDIRECT],
        auth_method="client_secret_post", require_pkce=False, scopes=None,
    )  # fmt: skip
    emulator.provider_quirks.register_apple_key(
        "com.example.web", team_id=TEAM, key_id=KID, public_key=apple_key.as_dict(private=False)
    )
    return emulator


@pytest.fixture
async def http(provider: ProviderEmulator, http_module: ModuleType) -> Any:
    async with http_module.AsyncClient(transport=provider.mock_transport(http_module)) as h:
        yield h


async def code_login(client: Client, http: Any) -> Any:
    start = await client.begin()
    return start, await client.complete(await browse(http, start.url))


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def apple(key: ECKey, **settings: Any) -> Apple:
    return Apple(
        "com.example.web", REDIRECT, team_id=TEAM, key_id=KID,
        private_key=key.as_pem(private=True), server_url=SITE, **settings,
    )  # fmt: skip


# -- Apple ----------------------------------------------------------------------------


async def test_apple_posts_the_answer_and_keeps_the_first_user_field_once(
    provider: ProviderEmulator, http: Any, clock: ManualClock, apple_key: ECKey
) -> None:
    strategy = apple(apple_key)
    async with Client(strategy, http=http, clock=clock) as client:
        start, first = await code_login(client, http)
        _start, second = await code_login(client, http)
    asked = query_of(start.url)
    assert asked["response_mode"] == "form_post"
    assert asked["scope"] == "name email"
    assert asked["nonce"]
    assert "code_challenge" not in asked  # Apple documents no PKCE for the web flow
    assert first.extra["user"] == {
        "name": {"firstName": "Ada", "lastName": "Lovelace"},
        "email": "ada@example.com",
    }
    assert "user" not in second.extra  # Apple sends it on the first authorization only
    assert first.id_token_claims is not None
    assert first.id_token_claims["iss"] == SITE
    assert first.id_token_claims["nonce"] == asked["nonce"]
    assert provider.calls["apple.token"] == 2
    assert provider.calls["apple.keys"] >= 1


async def test_apple_client_secret_is_signed_kept_and_renewed_before_it_expires(
    provider: ProviderEmulator, http: Any, clock: ManualClock, apple_key: ECKey
) -> None:
    strategy = apple(apple_key, secret_lifetime=3600)
    async with Client(strategy, http=http, clock=clock) as client:
        await code_login(client, http)
        clock.advance(600)
        await code_login(client, http)  # the same secret: three quarters of it are left
        clock.advance(2400)  # 3000 s old: less than a quarter left, a new one is signed
        await code_login(client, http)
    secrets = provider.provider_quirks.apple_secrets
    assert len(secrets) == 3
    assert secrets[0] == secrets[1] != secrets[2]
    header = json.loads(_b64(secrets[2].split(".")[0]))
    claims = json.loads(_b64(secrets[2].split(".")[1]))
    assert header == {"alg": "ES256", "kid": KID}
    assert claims["iss"] == TEAM
    assert claims["sub"] == "com.example.web"
    assert claims["aud"] == "https://appleid.apple.com"
    assert claims["exp"] - claims["iat"] == 3600


async def test_apple_refuses_an_id_token_of_another_issuer(
    provider: ProviderEmulator, http: Any, clock: ManualClock, apple_key: ECKey
) -> None:
    provider.oauth_id_token_claims = {"iss": "https://appleid.apple.com.evil"}
    async with Client(apple(apple_key), http=http, clock=clock) as client:
        with pytest.raises(InvalidIdToken):
            await code_login(client, http)


def _b64(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# -- Auth0 ----------------------------------------------------------------------------


async def test_auth0_sends_the_audience_and_validates_the_trailing_slash_issuer(
    provider: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    strategy = Auth0("post", SECRET, REDIRECT, server_url=SITE, audience="https://api.example")
    assert strategy.issuer == SITE + "/"
    async with Client(strategy, http=http, clock=clock) as client:
        start, token = await code_login(client, http)
    asked = query_of(start.url)
    assert urlsplit(start.url).path == "/authorize"
    assert asked["audience"] == "https://api.example"
    assert "offline_access" in asked["scope"]
    assert token.refresh_token is not None
    assert token.id_token_claims is not None
    assert token.id_token_claims["iss"] == SITE + "/"
    assert provider.calls["auth0.authorize"] == 1
    assert provider.calls["auth0.jwks"] >= 1


async def test_auth0_device_login_and_client_credentials_with_an_audience(
    provider: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    shown: list[DeviceAuthorization] = []

    async def show(device: DeviceAuthorization) -> None:
        shown.append(device)
        provider.approve_device(device.user_code)

    async with Client(Auth0Device("cli", server_url=SITE), http=http, clock=clock) as client:
        token = await client.device_login(show)
    assert token.id_token_claims is not None
    assert token.id_token_claims["iss"] == SITE + "/"
    assert provider.calls["auth0.device_code"] == 1
    m2m = Auth0ClientCredentials("m2m", SECRET, audience="https://api.example", server_url=SITE)
    async with Client(m2m, http=http, clock=clock) as client:
        await client.token()
    sent = dict(provider.oauth_token_requests[-1])
    assert sent["grant_type"] == "client_credentials"
    assert sent["audience"] == "https://api.example"


# -- Okta -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("server", "issuer_path"),
    [(None, ""), ("default", "/oauth2/default"), ("aus9x", "/oauth2/aus9x")],
)
async def test_okta_id_tokens_name_the_issuer_of_their_authorization_server(
    provider: ProviderEmulator, http: Any, clock: ManualClock, server: str | None, issuer_path: str
) -> None:
    strategy = Okta("basic-pkce", SECRET, REDIRECT, server_url=SITE, authorization_server=server)
    async with Client(strategy, http=http, clock=clock) as client:
        start, token = await code_login(client, http)
    assert urlsplit(start.url).path == f"{issuer_path or '/oauth2'}/v1/authorize"
    assert token.id_token_claims is not None
    assert token.id_token_claims["iss"] == SITE + issuer_path
    assert provider.calls["okta.token"] == 1


async def test_okta_refuses_a_token_of_another_authorization_server(
    provider: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    # Configured for the custom server, but sent to the org server's endpoints.
    strategy = Okta(
        "basic-pkce", SECRET, REDIRECT, server_url=SITE, authorization_server="default",
        authorize_url=SITE + "/oauth2/v1/authorize", token_url=SITE + "/oauth2/v1/token",
    )  # fmt: skip
    async with Client(strategy, http=http, clock=clock) as client:
        with pytest.raises(InvalidIdToken):
            await code_login(client, http)


async def test_okta_device_login_on_the_default_server(
    provider: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    async def show(device: DeviceAuthorization) -> None:
        provider.approve_device(device.user_code)

    strategy = OktaDevice("cli", server_url=SITE, authorization_server="default")
    async with Client(strategy, http=http, clock=clock) as client:
        token = await client.device_login(show)
    assert token.id_token_claims is not None
    assert token.id_token_claims["iss"] == SITE + "/oauth2/default"
    assert provider.calls["okta.device_authorize"] == 1


# -- Slack ----------------------------------------------------------------------------


async def test_slack_hands_out_the_bot_token_and_keeps_the_user_part(
    provider: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    strategy = Slack(
        "basic", SECRET, REDIRECT, scope=["chat:write", "commands"], user_scope="search:read",
        server_url=SITE,
    )  # fmt: skip
    async with Client(strategy, http=http, clock=clock) as client:
        start, token = await code_login(client, http)
    asked = query_of(start.url)
    assert asked["scope"] == "chat:write,commands"
    assert asked["user_scope"] == "search:read"
    assert token.token_type == "Bearer"
    assert token.extra["slack_token_type"] == "bot"
    assert token.extra["authed_user"] == {"id": "U0USER"}
    assert token.extra["bot_user_id"] == "U0BOT"
    assert provider.calls["slack.access"] == 1


async def test_slack_user_token_comes_from_authed_user_and_refreshes(
    provider: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    provider.provider_quirks.slack_token = "user"
    strategy = Slack("basic", SECRET, REDIRECT, user_scope="search:read", server_url=SITE)
    assert strategy.token_kind == "user"
    async with Client(strategy, http=http, clock=clock) as client:
        _start, token = await code_login(client, http)
        assert token.extra["slack_token_type"] == "user"
        assert token.extra["authed_user_id"] == "U0USER"
        assert token.refresh_token is not None  # token rotation on
        clock.advance(token.expires_at - clock() + 1)
        refreshed = await client.token()
    assert refreshed.access_token != token.access_token
    assert refreshed.extra["slack_token_type"] == "user"


async def test_slack_ok_false_at_http_200_is_an_error(
    provider: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    strategy = Slack("basic", "wrong-secret", REDIRECT, scope="commands", server_url=SITE)
    async with Client(strategy, http=http, clock=clock) as client:
        with pytest.raises(TokenRequestError) as caught:
            await code_login(client, http)
    assert caught.value.error == "invalid_client"
    assert caught.value.status_code == 200


# -- Discord --------------------------------------------------------------------------


async def test_discord_confidential_client_without_pkce_then_revokes(
    provider: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    strategy = Discord("basic", SECRET, REDIRECT, prompt="consent", server_url=SITE)
    async with Client(strategy, http=http, clock=clock) as client:
        start, token = await code_login(client, http)
        await client.revoke()
    asked = query_of(start.url)
    assert "code_challenge" not in asked
    assert asked["prompt"] == "consent"
    assert asked["scope"] == "identify email"
    assert "id_token" not in token.extra
    assert provider.calls["discord.token"] == 1
    assert provider.calls["discord.revoke"] >= 1


async def test_discord_public_client_uses_pkce(
    provider: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    async with Client(
        Discord("public", None, REDIRECT, server_url=SITE), http=http, clock=clock
    ) as c:
        start, _token = await code_login(c, http)
    assert query_of(start.url)["code_challenge_method"] == "S256"


# -- Dropbox --------------------------------------------------------------------------


async def test_dropbox_offline_access_brings_a_refresh_token_kept_across_refreshes(
    provider: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    strategy = Dropbox("basic-pkce", SECRET, REDIRECT, scope="files.content.read", server_url=SITE)
    async with Client(strategy, http=http, clock=clock) as client:
        start, token = await code_login(client, http)
        assert token.refresh_token is not None
        clock.advance(token.expires_at - clock() + 1)
        refreshed = await client.token()
    assert query_of(start.url)["token_access_type"] == "offline"
    assert refreshed.refresh_token == token.refresh_token  # Dropbox's does not rotate
    assert refreshed.access_token != token.access_token
    assert token.extra["account_id"] == "dbid:AAEMULATED"


async def test_dropbox_online_access_has_no_refresh_token(
    provider: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    strategy = Dropbox("public", None, REDIRECT, offline=False, server_url=SITE)
    async with Client(strategy, http=http, clock=clock) as client:
        start, token = await code_login(client, http)
    assert "token_access_type" not in query_of(start.url)
    assert token.refresh_token is None


# -- Salesforce -----------------------------------------------------------------------


async def test_salesforce_expiry_from_issued_at_in_milliseconds(
    provider: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    strategy = Salesforce("post", SECRET, REDIRECT, server_url=SITE, session_timeout=3600)
    async with Client(strategy, http=http, clock=clock) as client:
        _start, token = await code_login(client, http)
        assert token.expires_at == pytest.approx(clock() + 3600, abs=1)
        assert token.extra["instance_url"] == SITE
        assert token.extra["id"].startswith(SITE + "/id/")
        assert token.extra["issued_at"] == str(int(clock() * 1000))
        clock.advance(3601)
        refreshed = await client.token()
    assert refreshed.refresh_token == token.refresh_token  # not re-sent, kept
    assert refreshed.expires_at == pytest.approx(clock() + 3600, abs=1)
    assert provider.calls["salesforce.token"] == 2


# -- X --------------------------------------------------------------------------------


async def test_x_requires_pkce_and_rotates_refresh_tokens(
    provider: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    strategy = X("basic-pkce", SECRET, REDIRECT, server_url=SITE)
    async with Client(strategy, http=http, clock=clock) as client:
        start, token = await code_login(client, http)
        clock.advance(token.expires_at - clock() + 1)
        refreshed = await client.token()
    assert query_of(start.url)["code_challenge_method"] == "S256"
    assert token.refresh_token is not None
    assert refreshed.refresh_token not in (None, token.refresh_token)
    assert provider.calls["x.token"] == 2


async def test_x_without_offline_access_gets_no_refresh_token(
    provider: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    strategy = X("public", None, REDIRECT, scope="tweet.read users.read", server_url=SITE)
    async with Client(strategy, http=http, clock=clock) as client:
        _start, token = await code_login(client, http)
    assert token.refresh_token is None
