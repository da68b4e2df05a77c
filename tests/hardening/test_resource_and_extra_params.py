"""Attacks on resource indicators (RFC 8707), audiences and extra parameters: extras that
try to override a protocol parameter, hostile resource values and sizes (a fragment, a
relative URI, control characters, huge values, too many, duplicates), resources
reordered or duplicated on the way, and secrets echoed by errors or reprs."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from joserfc.jwk import RSAKey

import anyoauth
from anyoauth import (
    AuthorizationCode,
    Client,
    ClientCredentials,
    ConfigurationError,
    ExtensionGrant,
    JwtBearer,
    Token,
    TokenExchange,
)
from anyoauth.sansio import PROTOCOL_PARAMETERS, PendingFlow
from anyoauth.testing import ManualClock, ProviderEmulator

from .reachable import find_secrets

pytestmark = pytest.mark.anyio

BASE = "https://as.example"
SECRET = "client-secret-SENTINEL-0123456789abcdef"
HIDDEN = "EXTRA-VALUE-SENTINEL-7f7f7f"
NOW = 1_700_000_000.0
KEY = RSAKey.generate_key(2048, private=True)
RESOURCES = ("https://a.example/", "urn:example:b", "https://c.example/x?y=1")


def code(**settings: Any) -> AuthorizationCode:
    values: dict[str, Any] = {
        "client_id": "app",
        "client_secret": SECRET,
        "authorization_endpoint": BASE + "/authorize",
        "token_endpoint": BASE + "/token",
        "redirect_uri": "https://app.example/cb",
        "pushed_authorization_request_endpoint": BASE + "/par",
    }
    values.update(settings)
    return AuthorizationCode(**values)


SETTINGS = ("extra_authorization_params", "extra_token_params", "extra_refresh_params")


@pytest.mark.parametrize("setting", SETTINGS)
@pytest.mark.parametrize("name", sorted(PROTOCOL_PARAMETERS))
def test_no_extra_parameter_can_override_a_protocol_parameter(setting: str, name: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        code(**{setting: {name: HIDDEN}})
    assert setting in str(refused.value)
    assert name in str(refused.value)
    assert HIDDEN not in str(refused.value)


@pytest.mark.parametrize("name", sorted(PROTOCOL_PARAMETERS - {"resource", "audience"}))
@pytest.mark.parametrize("kind", [ClientCredentials, TokenExchange, JwtBearer])
def test_no_grants_token_params_can_override_a_protocol_parameter(
    kind: type[anyoauth.Strategy], name: str
) -> None:
    settings: dict[str, Any] = {
        "client_id": "svc",
        "client_secret": SECRET,
        "token_endpoint": BASE + "/token",
        "token_params": {name: HIDDEN},
    }
    if kind is TokenExchange:
        settings["subject_token"] = "SUBJECT-abc"
    if kind is JwtBearer:
        settings["assertion_key"] = KEY
    with pytest.raises(ConfigurationError, match=name) as refused:
        kind(**settings)
    assert HIDDEN not in str(refused.value)


def test_a_repeated_extra_cannot_smuggle_a_protocol_parameter_among_pairs() -> None:
    with pytest.raises(ConfigurationError, match="grant_type"):
        code(extra_token_params=[("x", "1"), ("grant_type", "client_credentials")])


@pytest.mark.parametrize("setting", SETTINGS)
@pytest.mark.parametrize("name", ["Redirect_URI", "GRANT_TYPE", "Code_Verifier", "\u017ftate"])
def test_a_protocol_parameter_in_another_letter_case_is_refused(setting: str, name: str) -> None:
    # Servers reading form fields case-insensitively (ASP.NET) take these for the real ones.
    with pytest.raises(ConfigurationError, match=setting) as refused:
        code(**{setting: {name: HIDDEN}})
    assert HIDDEN not in str(refused.value)


def test_a_grants_token_params_in_another_letter_case_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="token_params"):
        ClientCredentials(
            client_id="svc",
            client_secret=SECRET,
            token_endpoint=BASE + "/token",
            token_params={"Client_Secret": HIDDEN},
        )


@pytest.mark.parametrize("name", [b"state", b"redirect_uri", b"Redirect_Uri"])
def test_a_bytes_name_encoding_to_a_protocol_parameter_is_refused(name: bytes) -> None:
    # The form encoder writes b"state" as state: the check must see the same name.
    with pytest.raises(ConfigurationError, match="extra_authorization_params"):
        code(extra_authorization_params={name: "https://evil.example/"})


HOSTILE_RESOURCES: list[Any] = [
    "https://api.example/#fragment",
    "https://api.example/#",
    "relative/path",
    "/absolute/path",
    "//host.example/x",
    "",
    "https://api.example/\r\nX-Injected: 1",
    "https://api.example/ space",
    "https://api.exämple/",
    "https://api.example/\x00",
    "1https://x",
    "https://api.example/" + "a" * 2100,
    "https://user:p4ssw0rd-SENTINEL@api.example/",
    "https://token-SENTINEL-abcdef@api.example/",
    "https://[::1/",
    ["https://a.example/", "https://a.example/"],
    [f"https://r{i}.example/" for i in range(21)],
    [b"https://bytes.example/"],
    [None],
    42,
]


@pytest.mark.parametrize("setting", ["resource", "token_resource"])
@pytest.mark.parametrize("value", HOSTILE_RESOURCES, ids=range(len(HOSTILE_RESOURCES)))
def test_a_hostile_resource_is_refused_without_being_echoed(setting: str, value: Any) -> None:
    with pytest.raises(ConfigurationError) as refused:
        code(**{setting: value})
    message = str(refused.value)
    assert setting in message
    if isinstance(value, str) and len(value) > 10:
        assert value not in message


@pytest.mark.parametrize(
    "value", ["", "has space", "tab\there", "x" * 2100, ["a", "a"], [str(i) for i in range(21)]]
)
def test_a_hostile_audience_is_refused(value: Any) -> None:
    with pytest.raises(ConfigurationError, match="audience"):
        code(audience=value)


def test_a_token_resource_outside_the_authorized_resources_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="token_resource"):
        code(resource=RESOURCES[:1], token_resource=RESOURCES[1])


@pytest.mark.parametrize(
    "extras",
    [
        {"": "x"},
        {"a b": "x"},
        {"x" * 129: "x"},
        {"x": "v" * 9000},
        {"x": 1},
        [("x",)],
        {f"p{i}": "v" for i in range(51)},
        "x=1",
    ],
    ids=range(8),
)
def test_malformed_or_oversized_extras_are_refused(extras: Any) -> None:
    with pytest.raises(ConfigurationError, match="extra_token_params"):
        code(extra_token_params=extras)


def _resources_in(url_or_body: str) -> list[str]:
    return [v for k, v in parse_qsl(url_or_body) if k == "resource"]


def test_resources_are_never_duplicated_or_reordered_in_any_request() -> None:
    strategy = code(resource=RESOURCES)
    pending = PendingFlow(
        state="s",
        binding=strategy.store_namespace,
        created_at=NOW,
        expires_at=NOW + 600,
        code_verifier="v" * 43,
    )
    url = strategy.authorization_url(state="s", code_challenge="c")
    pushed = strategy.pushed_authorization_request(state="s", code_challenge="c", now=NOW)
    exchange = strategy.code_exchange_request("c0de", pending, now=NOW)
    refresh = strategy.refresh_request(
        Token(access_token="a", refresh_token="r", issued_at=NOW), now=NOW
    )
    assert refresh is not None
    assert _resources_in(urlsplit(url).query) == list(RESOURCES)
    for request in (pushed, exchange, refresh):
        assert _resources_in(request.content.decode()) == list(RESOURCES)


def test_extra_values_never_show_in_a_repr() -> None:
    strategy = code(extra_token_params={"pin": HIDDEN}, extra_refresh_params={"pin": HIDDEN})
    assert HIDDEN not in repr(strategy)
    grant = ExtensionGrant(
        client_id="svc",
        client_secret=SECRET,
        token_endpoint=BASE + "/token",
        grant_type="urn:example:grant",
        token_params={"ticket": HIDDEN},
    )
    assert HIDDEN not in repr(grant)
    assert HIDDEN not in repr(grant.direct_token_request(now=NOW))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


async def test_a_server_echoing_a_secret_grant_parameter_does_not_show_it(
    clock: ManualClock, http_module: Any
) -> None:
    def echo(request: Any) -> Any:
        body = request.content.decode()
        return http_module.Response(
            400,
            json={"error": "invalid_grant", "error_description": f"bad request {body}"},
        )

    grant = ExtensionGrant(
        client_id="svc",
        client_secret=SECRET,
        token_endpoint=BASE + "/token",
        grant_type="urn:example:grant",
        token_params={"pin": HIDDEN},
        secret_params="pin",
    )
    transport = http_module.MockTransport(echo)
    async with (
        http_module.AsyncClient(transport=transport) as http,
        Client(grant, http=http, clock=clock) as client,
    ):
        with pytest.raises(anyoauth.OAuthError) as refused:
            await client.token()
    assert find_secrets(refused.value, [HIDDEN, SECRET]) == []


async def test_the_emulator_refuses_resources_the_grant_did_not_cover(
    clock: ManualClock, http_module: Any
) -> None:
    emulator = ProviderEmulator(clock=clock, base_url=BASE)
    emulator.add_oauth_client("svc", client_secret=SECRET, grant_types=["client_credentials"])
    emulator.oauth_allowed_resources = ["https://a.example/"]
    grant = ClientCredentials(
        client_id="svc",
        client_secret=SECRET,
        token_endpoint=BASE + "/oauth/token",
        resource="https://elsewhere.example/",
    )
    transport = emulator.mock_transport(http_module)
    async with (
        http_module.AsyncClient(transport=transport) as http,
        Client(grant, http=http, clock=clock) as client,
    ):
        with pytest.raises(anyoauth.TokenRequestError) as refused:
            await client.token()
    assert refused.value.error == "invalid_target"
    assert find_secrets(refused.value, [SECRET]) == []
