"""Rich authorization requests under attack (docs/security.md, rule 33).

A server answering malformed ``authorization_details`` (not an array, a detail without
``type``, a JSON string, 100 kB of them) at the token or introspection endpoint is
refused with :class:`InvalidResponse` and nothing is stored; a server granting other
details than asked for is recorded as it answered, never as asked; a caller changing its
dicts after making the strategy changes nothing sent; a hostile ``type`` cannot add a
parameter or reach a terminal; the details themselves (amounts, accounts) never reach a
log, a repr or an error, only their types. Logins run against the emulator's generic
server with its ``authorization_details`` attack knob.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from typing import Any
from urllib.parse import parse_qs

import pytest

import anyoauth
from anyoauth import AuthorizationCode, Client, ClientCredentials, MemoryStore, discover
from anyoauth.testing import ManualClock, ProviderEmulator, browse

pytestmark = pytest.mark.anyio

BASE = "https://as.example"
REDIRECT = "http://127.0.0.1:8123/callback"
SECRET = "client-secret-SENTINEL-0123456789abcdef"
IBAN = "DE02-IBAN-SENTINEL-100100109307118603"
PAYMENT = {
    "type": "payment_initiation",
    "instructedAmount": {"currency": "EUR", "amount": "987654.32"},
    "creditorAccount": {"iban": IBAN},
}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def emulator(clock: ManualClock) -> ProviderEmulator:
    emulator = ProviderEmulator(clock=clock, base_url=BASE)
    emulator.add_oauth_client("web", client_secret=SECRET, redirect_uris=[REDIRECT])
    emulator.add_oauth_client("service", client_secret=SECRET, grant_types=["client_credentials"])
    return emulator


@pytest.fixture
async def http(emulator: ProviderEmulator, http_module: Any) -> Any:
    async with http_module.AsyncClient(transport=emulator.mock_transport(http_module)) as client:
        yield client


def service(**settings: Any) -> ClientCredentials:
    values: dict[str, Any] = {
        "client_id": "service",
        "client_secret": SECRET,
        "token_endpoint": BASE + "/oauth/token",
        "introspection_endpoint": BASE + "/oauth/introspect",
        "authorization_details": [PAYMENT],
    }
    values.update(settings)
    return ClientCredentials(**values)


async def web(http: Any, **settings: Any) -> AuthorizationCode:
    values: dict[str, Any] = {
        "client_id": "web",
        "client_secret": SECRET,
        "redirect_uri": REDIRECT,
        "authorization_details": [PAYMENT],
    }
    values.update(settings)
    return AuthorizationCode.from_metadata(await discover(BASE, http=http), **values)


def shows_nothing(error: BaseException) -> None:
    text = "".join(traceback.format_exception(error))
    for hidden in (IBAN, "987654.32", SECRET, "x" * 64):
        assert hidden not in text


@pytest.mark.parametrize("attack", ["not_array", "no_type", "string", "huge"])
async def test_a_malformed_details_answer_is_refused_and_nothing_is_stored(
    emulator: ProviderEmulator, http: Any, clock: ManualClock, attack: str
) -> None:
    emulator.oauth_authorization_details_attack = attack
    store = MemoryStore()
    async with Client(service(), http=http, clock=clock, store=store) as client:
        with pytest.raises(anyoauth.InvalidResponse, match=r"authorization_details|type") as bad:
            await client.token()
        assert await store.get_token(client.token_key) is None
    shows_nothing(bad.value)


@pytest.mark.parametrize("attack", ["not_array", "no_type", "huge"])
async def test_a_malformed_details_answer_to_a_code_login_is_refused(
    emulator: ProviderEmulator, http: Any, clock: ManualClock, attack: str
) -> None:
    strategy = await web(http)
    emulator.oauth_authorization_details_attack = attack
    store = MemoryStore()
    async with Client(strategy, http=http, clock=clock, store=store) as client:
        start = await client.begin()
        with pytest.raises(anyoauth.InvalidResponse) as bad:
            await client.complete(await browse(http, start.url))
        assert await store.get_token(client.token_key) is None
    shows_nothing(bad.value)


async def test_a_malformed_details_introspection_answer_is_refused(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    async with Client(service(), http=http, clock=clock) as client:
        await client.token()
        emulator.oauth_authorization_details_attack = "huge"
        with pytest.raises(anyoauth.InvalidResponse, match="larger than") as bad:
            await client.introspect()
    shows_nothing(bad.value)


async def test_other_details_than_asked_are_kept_as_the_server_granted_them(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    emulator.oauth_authorization_details_attack = "other"
    async with Client(service(), http=http, clock=clock) as client:
        token = await client.token()
    assert token.authorization_details is not None
    granted = [detail["type"] for detail in token.authorization_details]
    assert granted == ["payment_initiation", "all_accounts"]
    assert client.strategy.authorization_details[0]["type"] == "payment_initiation"
    assert len(client.strategy.authorization_details) == 1


async def test_changing_the_callers_dicts_after_construction_changes_nothing_sent(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    mine = json.loads(json.dumps(PAYMENT))
    details = [mine]
    strategy = service(authorization_details=details)
    mine["instructedAmount"]["amount"] = "1.00"
    mine["type"] = "all_accounts"
    details.append({"type": "admin"})
    request = strategy.direct_token_request(now=clock())
    sent = parse_qs(request.content.decode())["authorization_details"]
    assert json.loads(sent[0]) == [PAYMENT]
    async with Client(strategy, http=http, clock=clock) as client:
        token = await client.token()
    assert emulator.oauth_token_details(token.access_token) == [PAYMENT]


async def test_a_hostile_type_cannot_add_a_parameter(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    hostile = 'x"]&scope=admin&grant_type=password&authorization_details=[{"type":"y'
    strategy = service(authorization_details=[{"type": hostile}])
    form = parse_qs(strategy.direct_token_request(now=clock()).content.decode())
    assert form["grant_type"] == ["client_credentials"]
    assert "scope" not in form
    assert json.loads(form["authorization_details"][0]) == [{"type": hostile}]
    async with Client(strategy, http=http, clock=clock) as client:
        token = await client.token()
    assert token.scope != "admin"
    assert emulator.oauth_token_details(token.access_token) == [{"type": hostile}]


ASKED = {"authorization_details": [PAYMENT]}
NARROWED = {"authorization_details": (), "token_authorization_details": [PAYMENT]}


@pytest.mark.parametrize(
    ("setting", "details"),
    [
        ("extra_authorization_params", ASKED),
        ("extra_token_params", ASKED),
        ("extra_refresh_params", ASKED),
        ("token_params", ASKED),
        ("extra_authorization_params", NARROWED),
        ("extra_token_params", NARROWED),
        ("extra_refresh_params", NARROWED),
    ],
)
def test_no_extra_parameter_can_send_details_beside_the_details_settings(
    setting: str, details: dict[str, Any]
) -> None:
    smuggled = {setting: {"authorization_details": '[{"type":"smuggled"}]'}}
    with pytest.raises(anyoauth.ConfigurationError, match=setting) as refused:
        service(**details, **smuggled)
    assert "authorization_details" in str(refused.value)
    assert "smuggled" not in str(refused.value)


@pytest.mark.parametrize("kind", ["a\r\nb", "\x1b]0;owned\x07", "tab\there", "\u202eevil"])
def test_a_type_with_control_characters_is_refused(kind: str) -> None:
    with pytest.raises(anyoauth.ConfigurationError, match="printable") as refused:
        service(authorization_details=[{"type": kind}])
    assert kind not in str(refused.value)


def test_details_repeating_one_list_inside_itself_are_refused_at_once() -> None:
    """Sixteen references to one list, six levels deep: 16**6 strings once written out.
    Refused for its size before it is copied out, not after seconds of copying."""
    shared: Any = "v"
    for _ in range(6):
        shared = [shared] * 16
    started = time.monotonic()
    with pytest.raises(anyoauth.ConfigurationError, match="larger than"):
        service(authorization_details=[{"type": "account_information", "x": shared}])
    assert time.monotonic() - started < 1.0


async def test_a_refusal_naming_an_unlisted_type_is_bounded(
    emulator: ProviderEmulator, http: Any
) -> None:
    emulator.oauth_authorization_details_types = ["account_information"]
    long = "urn:" + "t" * 200
    with pytest.raises(anyoauth.ConfigurationError) as refused:
        await web(http, authorization_details=[{"type": long}])
    assert long not in str(refused.value)
    assert len(str(refused.value)) < 300


async def test_details_never_reach_logs_or_reprs_beyond_their_types(
    emulator: ProviderEmulator, http: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # Pushed: the details stay off the browser's URL (which the test's browser logs).
    strategy = await web(
        http, token_authorization_details=[PAYMENT], push_authorization_request=True
    )
    store = MemoryStore()
    async with Client(strategy, http=http, clock=clock, store=store) as client:
        start = await client.begin()
        token = await client.complete(await browse(http, start.url))
        renewed = await client.refresh()
        found = await client.introspect()
        shown = [repr(strategy), repr(token), repr(renewed), repr(found), repr(client), str(token)]
    assert renewed.authorization_details is not None
    for text in shown:
        assert IBAN not in text
        assert "987654.32" not in text
    assert "payment_initiation" in repr(token)
    own = [record for record in caplog.records if record.name.startswith("anyoauth")]
    assert own
    for record in caplog.records:
        message = record.getMessage()
        assert IBAN not in message
        assert "987654.32" not in message
