"""The quirks of the Apple, Slack and Salesforce presets cannot be turned against the
client: Slack's ``ok: false`` at HTTP 200 is never a token, Apple's client secret JWT and
its key are never shown and the secret is renewed before it expires, Salesforce's
millisecond ``issued_at`` is never misread into a longer-lived token, and Apple's unsigned
``user`` form field is read strictly, hostile content refused before any token request."""

from __future__ import annotations

import json
import logging
from types import ModuleType
from typing import Any

import pytest
from joserfc.jwk import ECKey

from anyoauth import (
    Client,
    ConfigurationError,
    InvalidResponse,
    MalformedRedirect,
    TokenRequestError,
)
from anyoauth.providers import Apple, AppleClientSecret, Salesforce, Slack, salesforce_expiry
from anyoauth.testing import ManualClock, ProviderEmulator, browse

SITE = "https://idp.test"
REDIRECT = "https://app.example/callback"
NOW = 1_700_000_000.0
TEAM, KID, APPLE_ID = "TEAM123456", "KEY1234567", "com.example.web"
JSON = "application/json"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def key() -> ECKey:
    return ECKey.generate_key("P-256")


def slack() -> Slack:
    return Slack("c", "slack-secret-SENTINEL", REDIRECT, scope="commands", server_url=SITE)


# -- Slack ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        {"ok": False, "error": "invalid_code", "access_token": "xoxb-NOT-A-TOKEN"},
        {"ok": False, "access_token": "xoxb-NOT-A-TOKEN", "token_type": "bot"},
        {"access_token": "xoxb-NOT-A-TOKEN", "token_type": "bot"},
        {"ok": "true", "access_token": "xoxb-NOT-A-TOKEN", "token_type": "bot"},
        {"ok": 1, "access_token": "xoxb-NOT-A-TOKEN", "token_type": "bot"},
        {"ok": False, "error": "\u202eevil\nline", "access_token": "xoxb-NOT-A-TOKEN"},
        {"ok": False, "error": "x" * 10_000},
    ],
)
def test_slack_ok_false_at_http_200_is_never_a_token(answer: dict[str, Any]) -> None:
    with pytest.raises((TokenRequestError, InvalidResponse)) as caught:
        slack().parse_token_response(200, JSON, json.dumps(answer).encode(), NOW)
    text = f"{caught.value}{caught.value!r}"
    assert "xoxb-NOT-A-TOKEN" not in text
    assert "\u202e" not in text
    assert len(text) < 1000


def test_slack_error_names_slacks_error() -> None:
    body = json.dumps({"ok": False, "error": "invalid_code"}).encode()
    with pytest.raises(TokenRequestError) as caught:
        slack().parse_token_response(200, JSON, body, NOW)
    assert caught.value.error == "invalid_code"


def test_slack_user_token_of_a_bot_strategy_is_never_handed_out() -> None:
    body = json.dumps(
        {
            "ok": True,
            "token_type": "bot",
            "access_token": "xoxb-bot",
            "scope": "commands",
            "authed_user": {"id": "U1", "token_type": "user", "access_token": "xoxp-user"},
        }
    ).encode()
    token = slack().parse_token_response(200, JSON, body, NOW)
    assert token.access_token == "xoxb-bot"
    assert "xoxp-user" not in repr(token)


# -- Apple: the client secret ---------------------------------------------------------


@pytest.mark.anyio
async def test_apple_client_secret_is_never_in_any_output(
    key: ECKey, clock: ManualClock, http_module: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    pem = key.as_pem(private=True)
    emulator = ProviderEmulator(clock=clock, base_url=SITE)
    emulator.add_oauth_client(
        APPLE_ID, client_secret="apple-registered", redirect_uris=[REDIRECT],
        auth_method="client_secret_post", require_pkce=False, scopes=None,
    )  # fmt: skip
    emulator.provider_quirks.register_apple_key(
        APPLE_ID, team_id=TEAM, key_id=KID, public_key=key.as_dict(private=False)
    )
    strategy = Apple(APPLE_ID, REDIRECT, team_id=TEAM, key_id=KID, private_key=pem, server_url=SITE)
    seen: list[str] = [repr(strategy), str(strategy), repr(strategy.client_auth)]
    async with (
        http_module.AsyncClient(transport=emulator.mock_transport(http_module)) as http,
        Client(strategy, http=http, clock=clock) as client,
    ):
        start = await client.begin()
        token = await client.complete(await browse(http, start.url))
        seen += [repr(client), repr(token), str(token)]
        # A refused secret (another team's key registered) fails without showing it.
        emulator.provider_quirks.register_apple_key(
            APPLE_ID, team_id=TEAM, key_id=KID,
            public_key=ECKey.generate_key("P-256").as_dict(private=False),
        )  # fmt: skip
        start = await client.begin()
        with pytest.raises(TokenRequestError) as caught:
            await client.complete(await browse(http, start.url))
        seen += [str(caught.value), repr(caught.value)]
    request = strategy.form_request([("grant_type", "authorization_code")], now=clock())
    seen += [repr(request), str(request)]
    seen.append(caplog.text)
    secrets = emulator.provider_quirks.apple_secrets
    assert secrets
    secret = strategy.client_auth.secret(client_id=APPLE_ID, now=clock())  # type: ignore[union-attr]
    everything = "\n".join(seen)
    for value in (*secrets, secret, secret.split(".")[2]):
        assert value not in everything
    for line in pem.decode().splitlines()[1:-1]:
        assert line not in everything


def test_apple_client_secret_is_renewed_before_it_expires_and_after_the_clock_goes_back(
    key: ECKey,
) -> None:
    auth = AppleClientSecret(team_id=TEAM, key_id=KID, key=key, lifetime=4000)
    first = auth.secret(client_id=APPLE_ID, now=NOW)
    assert auth.secret(client_id=APPLE_ID, now=NOW + 2999) == first  # 1001 s left: kept
    renewed = auth.secret(client_id=APPLE_ID, now=NOW + 3001)  # 999 s left: renewed
    assert renewed != first
    back = auth.secret(client_id=APPLE_ID, now=NOW - 3600)  # the clock went back
    assert back not in (first, renewed)
    claims = json.loads(_b64(back.split(".")[1]))
    assert claims["iat"] == int(NOW - 3600)
    assert claims["exp"] == int(NOW - 3600) + 4000


@pytest.mark.parametrize("lifetime", [0, -1, 59, 15_777_001, float("inf"), float("nan")])
def test_apple_client_secret_lifetime_beyond_six_months_is_refused(
    key: ECKey, lifetime: float
) -> None:
    with pytest.raises(ConfigurationError):
        AppleClientSecret(team_id=TEAM, key_id=KID, key=key, lifetime=lifetime)


def test_apple_key_that_is_not_p256_is_refused_without_showing_it(tmp_path: Any) -> None:
    rsa_pem = (
        __import__("joserfc.jwk", fromlist=["RSAKey"])
        .RSAKey.generate_key(2048)
        .as_pem(private=True)
    )
    for material in (
        rsa_pem,
        b"-----BEGIN PRIVATE KEY-----\nSENTINELKEYTEXT\n-----END PRIVATE KEY-----\n",
    ):
        key_file = tmp_path / "AuthKey.p8"
        key_file.write_bytes(material)
        with pytest.raises(ConfigurationError) as caught:
            Apple(APPLE_ID, REDIRECT, team_id=TEAM, key_id=KID, key_file=key_file)
        assert "SENTINELKEYTEXT" not in str(caught.value)
        assert "PRIVATE" not in str(caught.value)


def _b64(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# -- Salesforce -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("issued_at", "left"),
    [
        (str(int(NOW * 1000)), 7200),  # milliseconds: as documented
        (str(int(NOW * 1000) - 600_000), 6600),  # ten minutes ago
        (int(NOW * 1000), 7200),  # a number rather than a string
        (str(int(NOW)), 7200),  # seconds, misread as 1970: not trusted
        (str(int(NOW * 1000) + 86_400_000), 7200),  # a day ahead: never extends the life
        (str(int(NOW * 1_000_000)), 7200),  # microseconds
        ("1.7e12", 7200),
        ("-1700000000000", 7200),
        ("", 7200),
        (None, 7200),
        (True, 7200),
        ("9" * 40, 7200),
        (str(int(NOW * 1000) - 8_000_000), 7200),  # older than the session: not trusted
    ],
)
def test_salesforce_millisecond_issued_at_is_never_misread(issued_at: Any, left: float) -> None:
    assert salesforce_expiry(issued_at, NOW, 7200) == pytest.approx(left)
    answer = {"access_token": "00Dx!AQ", "token_type": "Bearer", "issued_at": issued_at}
    strategy = Salesforce("c", "s", REDIRECT)
    token = strategy.parse_token_response(200, JSON, json.dumps(answer).encode(), NOW)
    assert token.expires_at is not None
    assert NOW < token.expires_at <= NOW + 7200


def test_salesforce_expires_in_when_sent_is_used_as_is() -> None:
    answer = {"access_token": "00Dx!AQ", "token_type": "Bearer", "expires_in": 60}
    token = Salesforce("c", "s", REDIRECT).parse_token_response(
        200, JSON, json.dumps(answer).encode(), NOW
    )
    assert token.expires_at == NOW + 60


# -- Apple: the user form field -------------------------------------------------------

HOSTILE_USERS = [
    "x" * 5000,
    "not json",
    "[1, 2]",
    '"a string"',
    "[" * 2000 + "]" * 2000,
    json.dumps({"name": "Ada"}),
    json.dumps({"name": {"firstName": 5}}),
    json.dumps({"name": {"firstName": "Ada\u202eevil"}}),
    json.dumps({"name": {"firstName": "Ada\r\nSet-Cookie: x=1"}}),
    json.dumps({"email": "a" * 300}),
    json.dumps({"email": None}),
    json.dumps({"email": {"$ne": 1}}),
]


@pytest.mark.anyio
@pytest.mark.parametrize("user", HOSTILE_USERS)
async def test_hostile_form_post_user_field_is_refused_before_any_token_request(
    key: ECKey, clock: ManualClock, http_module: ModuleType, user: str
) -> None:
    emulator = ProviderEmulator(clock=clock, base_url=SITE)
    emulator.add_oauth_client(
        APPLE_ID, client_secret="apple-registered", redirect_uris=[REDIRECT],
        auth_method="client_secret_post", require_pkce=False, scopes=None,
    )  # fmt: skip
    emulator.provider_quirks.register_apple_key(
        APPLE_ID, team_id=TEAM, key_id=KID, public_key=key.as_dict(private=False)
    )
    emulator.provider_quirks.apple_user = user
    strategy = Apple(
        APPLE_ID, REDIRECT, team_id=TEAM, key_id=KID, private_key=key.as_pem(private=True),
        server_url=SITE,
    )  # fmt: skip
    async with (
        http_module.AsyncClient(transport=emulator.mock_transport(http_module)) as http,
        Client(strategy, http=http, clock=clock) as client,
    ):
        start = await client.begin()
        landed = await browse(http, start.url)
        with pytest.raises(MalformedRedirect) as caught:
            await client.complete(landed)
    assert emulator.calls["apple.token"] == 0
    assert "evil" not in str(caught.value)
    assert "Set-Cookie" not in str(caught.value)


def test_form_post_user_field_keeps_only_names_and_email_as_data() -> None:
    from anyoauth.providers import read_apple_user

    user = read_apple_user(
        json.dumps(
            {
                "name": {"firstName": "<script>alert(1)</script>", "lastName": "O'Neil", "x": 1},
                "email": "a@example.com",
                "__proto__": {"admin": True},
                "is_admin": True,
            }
        )
    )
    assert user == {
        "name": {"firstName": "<script>alert(1)</script>", "lastName": "O'Neil"},
        "email": "a@example.com",
    }
