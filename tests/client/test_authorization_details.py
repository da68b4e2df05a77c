"""Rich authorization requests (RFC 9396) against the emulator's generic server: details
asked for in a code login (plain, pushed, in a signed request object), client
credentials and the device grant come back granted on the token, survive a refresh and
the store, narrow at the token endpoint, show in introspection; a refused type is the
server's typed error."""

from __future__ import annotations

from typing import Any

import pytest
from joserfc.jwk import KeySet, RSAKey

import anyoauth
from anyoauth import Client, ClientCredentials, DeviceCode, MemoryStore
from anyoauth.testing import ManualClock, ProviderEmulator, browse

from .helpers import BASE, EMULATED_SECRET, LOOPBACK_REDIRECT, login, metadata, web_app

pytestmark = pytest.mark.anyio

PAYMENT = {
    "type": "payment_initiation",
    "actions": ["initiate", "status"],
    "instructedAmount": {"currency": "EUR", "amount": "123.50"},
    "creditorName": "Merchant A",
}
ACCOUNTS = {"type": "account_information", "actions": ["read"]}


def plain(details: Any) -> list[dict[str, Any]] | None:
    if details is None:
        return None
    thawed = anyoauth.Token(access_token="a", issued_at=0, authorization_details=details)
    result: list[dict[str, Any]] = thawed.to_dict()["authorization_details"]
    return result


async def test_a_code_login_gets_the_granted_details_on_the_token(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    strategy = await web_app(http, scope="openid", authorization_details=[PAYMENT, ACCOUNTS])
    store = MemoryStore()
    async with Client(strategy, http=http, clock=clock, store=store) as client:
        token = await login(client, http)
        assert plain(token.authorization_details) == [PAYMENT, ACCOUNTS]
        assert emulator.oauth_token_details(token.access_token) == [PAYMENT, ACCOUNTS]
        found = await client.introspect()
        assert plain(found.authorization_details) == [PAYMENT, ACCOUNTS]
        key = client.token_key
    stored = await store.get_token(key)
    assert stored is not None
    assert plain(stored.authorization_details) == [PAYMENT, ACCOUNTS]


async def test_pushed_and_signed_requests_carry_the_details(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    key = RSAKey.generate_key(2048, parameters={"kid": "rar-1"}, private=True)
    emulator.add_oauth_client(
        "rar-web",
        client_secret=EMULATED_SECRET,
        redirect_uris=[LOOPBACK_REDIRECT],
        jwks=KeySet([key]).as_dict(private=False),
    )
    emulator.oauth_require_signed_request_object = True
    for pushed in (False, True):
        strategy = await web_app(
            http,
            client_id="rar-web",
            request_object_key=key,
            push_authorization_request=pushed,
            authorization_details=[PAYMENT],
        )
        async with Client(strategy, http=http, clock=clock) as client:
            token = await login(client, http)
        assert plain(token.authorization_details) == [PAYMENT]
    assert emulator.calls["oauth.par"] == 1


async def test_client_credentials_and_the_device_grant_get_their_details(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    found = await metadata(http)
    service = ClientCredentials.from_metadata(
        found, client_id="service", client_secret=EMULATED_SECRET, authorization_details=[ACCOUNTS]
    )
    async with Client(service, http=http, clock=clock) as client:
        token = await client.token()
    assert plain(token.authorization_details) == [ACCOUNTS]

    device = DeviceCode.from_metadata(found, client_id="tv", authorization_details=[ACCOUNTS])

    async def approve(shown: anyoauth.DeviceAuthorization) -> None:
        emulator.approve_device(shown.user_code)

    async with Client(device, http=http, clock=clock) as client:
        token = await client.device_login(approve)
    assert plain(token.authorization_details) == [ACCOUNTS]


async def test_a_refresh_keeps_the_details_its_answer_leaves_out(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    strategy = await web_app(http, authorization_details=[PAYMENT])
    async with Client(strategy, http=http, clock=clock) as client:
        first = await login(client, http)
        emulator.oauth_authorization_details_attack = "omit_on_refresh"
        renewed = await client.refresh()
    assert renewed.access_token != first.access_token
    assert plain(renewed.authorization_details) == [PAYMENT]
    assert emulator.oauth_token_details(renewed.access_token) == [PAYMENT]


async def test_token_details_narrow_what_the_token_carries(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    strategy = await web_app(
        http, authorization_details=[PAYMENT, ACCOUNTS], token_authorization_details=[ACCOUNTS]
    )
    async with Client(strategy, http=http, clock=clock) as client:
        token = await login(client, http)
        assert plain(token.authorization_details) == [ACCOUNTS]
        renewed = await client.refresh()
    assert plain(renewed.authorization_details) == [ACCOUNTS]


async def test_token_details_beyond_the_grant_are_refused(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    strategy = await web_app(
        http, authorization_details=[ACCOUNTS], token_authorization_details=[PAYMENT]
    )
    store = MemoryStore()
    async with Client(strategy, http=http, clock=clock, store=store) as client:
        with pytest.raises(anyoauth.TokenRequestError) as refused:
            await login(client, http)
        assert await store.get_token(client.token_key) is None
    assert refused.value.error == "invalid_authorization_details"


async def test_an_unsupported_type_is_refused_at_the_authorization_endpoint(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    strategy = await web_app(http, authorization_details=[PAYMENT])
    emulator.oauth_authorization_details_types = ["account_information"]
    async with Client(strategy, http=http, clock=clock) as client:
        start = await client.begin()
        with pytest.raises(anyoauth.AuthorizationDenied) as denied:
            await client.complete(await browse(http, start.url))
    assert denied.value.error == "invalid_authorization_details"


async def test_an_unsupported_type_is_refused_at_the_token_endpoint(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    service = ClientCredentials(
        client_id="service",
        client_secret=EMULATED_SECRET,
        token_endpoint=BASE + "/oauth/token",
        authorization_details=[PAYMENT],
    )
    emulator.oauth_authorization_details_types = ["account_information"]
    async with Client(service, http=http, clock=clock) as client:
        with pytest.raises(anyoauth.TokenRequestError) as refused:
            await client.token()
    assert refused.value.error == "invalid_authorization_details"
    assert refused.value.status_code == 400


async def test_from_metadata_refuses_a_type_the_server_does_not_list(
    emulator: ProviderEmulator, http: Any
) -> None:
    emulator.oauth_authorization_details_types = ["account_information"]
    found = await metadata(http)
    assert found.authorization_details_types_supported == ("account_information",)
    with pytest.raises(anyoauth.ConfigurationError, match="payment_initiation"):
        await web_app(http, authorization_details=[PAYMENT])
    assert await web_app(http, authorization_details=[ACCOUNTS])
