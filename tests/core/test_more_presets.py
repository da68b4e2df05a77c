"""The Apple, Auth0, Okta, Slack, Discord, Dropbox, Salesforce and X presets' settings,
sans-IO: each provider's real endpoints, refused settings, presets that survive
``attrs.evolve`` (the loopback agent's redirect URI) with every setting kept, and the
flow keeping Apple's ``user`` field on the login's token only."""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest
from joserfc.jwk import ECKey

from anyoauth import ConfigurationError, Token
from anyoauth.providers import (
    Apple,
    AppleClientSecret,
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
from anyoauth.sansio import Flow

SECRET = "more-preset-secret-SENTINEL-77"
REDIRECT = "https://app.example/cb"
NOW = 1_700_000_000.0


@pytest.fixture(scope="module")
def pem() -> bytes:
    return ECKey.generate_key("P-256").as_pem(private=True)


def apple(pem: bytes, **settings: Any) -> Apple:
    return Apple(
        "com.example.web", REDIRECT, team_id="TEAM123456", key_id="KEY1234567",
        private_key=pem, **settings,
    )  # fmt: skip


def test_the_real_endpoints(pem: bytes) -> None:
    a = apple(pem)
    assert (a.authorization_endpoint, a.token_endpoint, a.jwks_uri, a.issuer) == (
        "https://appleid.apple.com/auth/authorize",
        "https://appleid.apple.com/auth/token",
        "https://appleid.apple.com/auth/keys",
        "https://appleid.apple.com",
    )
    auth0 = Auth0("c", domain="acme.eu.auth0.com")
    assert auth0.issuer == "https://acme.eu.auth0.com/"
    assert auth0.jwks_uri == "https://acme.eu.auth0.com/.well-known/jwks.json"
    assert Auth0Device("c", domain="acme.eu.auth0.com").device_authorization_endpoint == (
        "https://acme.eu.auth0.com/oauth/device/code"
    )
    org = Okta("c", domain="acme.okta.com")
    assert (org.issuer, org.token_endpoint) == (
        "https://acme.okta.com",
        "https://acme.okta.com/oauth2/v1/token",
    )
    custom = OktaDevice("c", domain="acme.okta.com", authorization_server="aus1")
    assert custom.issuer == "https://acme.okta.com/oauth2/aus1"
    assert custom.device_authorization_endpoint == (
        "https://acme.okta.com/oauth2/aus1/v1/device/authorize"
    )
    slack = Slack("c", SECRET, scope="commands")
    assert slack.token_endpoint == "https://slack.com/api/oauth.v2.access"
    assert slack.authorization_endpoint == "https://slack.com/oauth/v2/authorize"
    discord = Discord("c", SECRET)
    assert discord.revocation_endpoint == "https://discord.com/api/oauth2/token/revoke"
    dropbox = Dropbox("c")
    assert dropbox.token_endpoint == "https://api.dropboxapi.com/oauth2/token"
    assert dropbox.extra_authorization_params == {"token_access_type": "offline"}
    sandbox = Salesforce("c", server_url="https://test.salesforce.com")
    assert sandbox.token_endpoint == "https://test.salesforce.com/services/oauth2/token"
    assert sandbox.issuer == "https://test.salesforce.com"
    x = X("c", SECRET)
    assert (x.authorization_endpoint, x.token_endpoint) == (
        "https://x.com/i/oauth2/authorize",
        "https://api.x.com/2/oauth2/token",
    )


def test_client_authentication_follows_each_providers_docs(pem: bytes) -> None:
    assert isinstance(apple(pem).client_auth, AppleClientSecret)
    assert Auth0("c", SECRET, domain="a.auth0.com").client_auth == "client_secret_post"
    assert Okta("c", SECRET, domain="a.okta.com").client_auth == "client_secret_basic"
    assert Slack("c", SECRET, scope="commands").client_auth == "client_secret_basic"
    assert (Discord("c", SECRET).client_auth, Discord("c", SECRET).uses_pkce) == (
        "client_secret_basic",
        False,
    )
    assert (Discord("c").client_auth, Discord("c").uses_pkce) == ("none", True)
    assert Dropbox("c").client_auth == "none"
    assert X("c", SECRET).client_auth == "client_secret_basic"
    assert X("c").client_auth == "none"


@pytest.mark.parametrize(
    "make",
    [
        lambda: Auth0("c"),
        lambda: Auth0("c", domain="https://a.auth0.com"),
        lambda: Okta("c", domain="a.okta.com/x"),
        lambda: Okta("c", domain="a.okta.com", authorization_server="../x"),
        lambda: Auth0ClientCredentials("c", SECRET, audience=(), domain="a.auth0.com"),
        lambda: Slack("c", SECRET),
        lambda: Slack("c", SECRET, scope="commands", token="admin"),
        lambda: Slack("c", SECRET, user_scope="search:read", token="bot"),
        lambda: Discord("c", SECRET, prompt="login"),
        lambda: Dropbox("c", scope="files content read"),
        lambda: Salesforce("c", session_timeout=0),
        lambda: Salesforce("c", session_timeout=float("inf")),
        lambda: X("c", SECRET, uses_pkce=False),
    ],
)
def test_settings_a_provider_does_not_take_are_refused(make: object) -> None:
    with pytest.raises(ConfigurationError):
        make()  # type: ignore[operator]


@pytest.mark.parametrize(
    "settings",
    [
        {"team_id": "TEAM123456"},
        {"team_id": "team", "key_id": "KEY1234567", "private_key": b"x"},
        {"team_id": "TEAM123456", "key_id": "KEY1234567"},
    ],
)
def test_apple_needs_its_ids_and_one_key(settings: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        Apple("com.example.web", REDIRECT, **settings)  # type: ignore[arg-type]


def test_apple_posts_only_when_name_or_email_is_asked(pem: bytes) -> None:
    assert apple(pem).response_mode == "form_post"
    assert apple(pem, scope="openid").response_mode is None
    assert apple(pem).requests_nonce


def test_presets_survive_evolve_with_every_setting_kept(pem: bytes) -> None:
    for strategy in (
        apple(pem),
        Auth0("c", SECRET, domain="a.auth0.com", audience="https://api"),
        Okta("c", SECRET, domain="a.okta.com", authorization_server="default"),
        Slack("c", SECRET, user_scope="search:read"),
        Discord("c", SECRET, prompt="none"),
        Dropbox("c", offline=False),
        Salesforce("c", SECRET, session_timeout=900),
        X("c", SECRET),
    ):
        moved = attrs.evolve(strategy, redirect_uri="http://127.0.0.1:8123/cb")
        assert moved.redirect_uri == "http://127.0.0.1:8123/cb"
        assert attrs.evolve(moved, redirect_uri=strategy.redirect_uri) == strategy


def test_the_login_token_keeps_apples_user_field_and_a_refresh_does_not(pem: bytes) -> None:
    strategy = apple(pem, issuer=None, jwks_uri=None)  # no id_token check: the hook alone
    flow = Flow(strategy)
    start = flow.start(NOW)
    state = dict(x.split("=", 1) for x in start.url.split("?", 1)[1].split("&"))["state"]
    user = json.dumps({"name": {"firstName": "Ada"}, "email": "ada@example.com", "x": 1})
    redirect, _key = Flow.redirect_key(
        strategy, f"{REDIRECT}?code=c0de&state={state}&user={_quote(user)}"
    )
    flow.receive_redirect(redirect, NOW)
    answer = {"access_token": "at-1", "token_type": "Bearer", "expires_in": 60}
    answer["refresh_token"] = "rt-1"
    token = flow.receive_token_response(200, "application/json", json.dumps(answer).encode(), NOW)
    assert isinstance(token, Token)
    assert token.extra["user"] == {"name": {"firstName": "Ada"}, "email": "ada@example.com"}
    flow.check_expiry(NOW + 61)
    flow.refresh(NOW + 61)
    refreshed = flow.receive_token_response(
        200, "application/json", json.dumps({**answer, "access_token": "at-2"}).encode(), NOW + 61
    )
    assert isinstance(refreshed, Token)
    assert "user" not in refreshed.extra


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")
