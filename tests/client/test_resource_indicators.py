"""Resource indicators (RFC 8707), audiences and extra parameters against the emulator's
generic server: the resources reach the authorization request (plain, pushed, signed),
the device authorization and every token and refresh request; the issued token's
audience is the resource asked for; extra token and refresh parameters arrive; and
``ExtensionGrant`` runs a grant type anyoauth does not ship, renewed single-flight."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from joserfc.jwk import KeySet, RSAKey

import anyoauth
from anyoauth import (
    Client,
    ClientCredentials,
    DeviceAuthorization,
    DeviceCode,
    ExtensionGrant,
    MemoryStore,
)
from anyoauth.testing import ManualClock, OAuthEndpoints, ProviderEmulator, browse

from .helpers import EMULATED_SECRET, LOOPBACK_REDIRECT, login, metadata, web_app

pytestmark = pytest.mark.anyio

ORDERS = "https://orders.example/"
BILLING = "https://billing.example/api"
GRANT = "https://grants.example/partner-ticket"


def sent(emulator: ProviderEmulator, index: int = -1) -> list[tuple[str, str]]:
    return list(emulator.oauth_token_requests[index])


def values(pairs: list[tuple[str, str]], name: str) -> list[str]:
    return [value for key, value in pairs if key == name]


async def test_a_code_login_for_two_resources_gets_a_token_for_the_one_named(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    emulator.oauth_one_resource_per_token = True
    emulator.oauth_required_token_params = {"tenant": "acme"}
    emulator.oauth_required_refresh_params = {"tenant": "acme", "reason": "renew"}
    strategy = await web_app(
        http,
        scope="openid profile",
        resource=[ORDERS, BILLING],
        token_resource=ORDERS,
        extra_token_params={"tenant": "acme"},
        extra_refresh_params=[("tenant", "acme"), ("reason", "renew")],
    )
    async with Client(strategy, http=http, clock=clock) as client:
        start = await client.begin()
        assert start.url.count("resource=") == 2
        token = await login(client, http)
        exchange = sent(emulator)
        assert values(exchange, "resource") == [ORDERS]
        assert values(exchange, "tenant") == ["acme"]
        assert (await client.introspect(token)).aud == (ORDERS,)
        renewed = await client.refresh()
        refresh = sent(emulator)
        assert values(refresh, "grant_type") == ["refresh_token"]
        assert values(refresh, "resource") == [ORDERS]
        assert values(refresh, "reason") == ["renew"]
        assert renewed.access_token != token.access_token
        assert (await client.introspect(renewed)).aud == (ORDERS,)


async def test_several_resources_at_a_one_per_token_server_are_invalid_target(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    emulator.oauth_one_resource_per_token = True
    strategy = await web_app(http, resource=[ORDERS, BILLING])
    async with Client(strategy, http=http, clock=clock) as client:
        with pytest.raises(anyoauth.TokenRequestError) as refused:
            await login(client, http)
    assert refused.value.error == "invalid_target"


async def test_without_narrowing_every_resource_goes_to_the_token_request(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    strategy = await web_app(http, resource=[ORDERS, BILLING])
    async with Client(strategy, http=http, clock=clock) as client:
        token = await login(client, http)
        assert values(sent(emulator), "resource") == [ORDERS, BILLING]
        assert (await client.introspect(token)).aud == (ORDERS, BILLING)


async def test_an_unknown_resource_is_refused_at_the_authorization_endpoint(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    emulator.oauth_allowed_resources = [ORDERS]
    strategy = await web_app(http, resource=[ORDERS, BILLING])
    async with Client(strategy, http=http, clock=clock) as client:
        with pytest.raises(anyoauth.AuthorizationDenied) as denied:
            await login(client, http)
    assert denied.value.error == "invalid_target"
    assert emulator.oauth_token_requests == []


@pytest.mark.parametrize("mode", ["push", "sign", "push+sign"])
async def test_resources_travel_in_pushed_and_signed_requests(
    emulator: ProviderEmulator, http: Any, clock: ManualClock, mode: str
) -> None:
    key = RSAKey.generate_key(2048, parameters={"kid": "jar-r"}, private=True)
    emulator.add_oauth_client(
        "jar-web",
        client_secret=EMULATED_SECRET,
        redirect_uris=[LOOPBACK_REDIRECT],
        jwks=KeySet([key]).as_dict(private=False),
    )
    emulator.oauth_allowed_resources = [ORDERS, BILLING]
    settings: dict[str, Any] = {"push_authorization_request": "push" in mode}
    if "sign" in mode:
        settings["request_object_key"] = key
        settings["sign_request_object"] = True
    strategy = await web_app(
        http, client_id="jar-web", resource=[ORDERS, BILLING], token_resource=(), **settings
    )
    async with Client(strategy, http=http, clock=clock) as client:
        start = await client.begin()
        assert "resource=" not in start.url
        token = await client.complete(await browse(http, start.url))
        # No resource at the token endpoint: the token covers every authorized one.
        assert values(sent(emulator), "resource") == []
        assert (await client.introspect(token)).aud == (ORDERS, BILLING)


async def test_client_credentials_with_a_resource_and_an_audience(
    emulator: ProviderEmulator, http: Any, clock: ManualClock, endpoints: OAuthEndpoints
) -> None:
    emulator.oauth_required_token_params = {"purpose": "batch"}
    strategy = ClientCredentials(
        client_id="service",
        client_secret=EMULATED_SECRET,
        token_endpoint=endpoints["token_endpoint"],
        introspection_endpoint=endpoints["introspection_endpoint"],
        resource=ORDERS,
        audience="orders-api",
        extra_token_params={"purpose": "batch"},
    )
    async with Client(strategy, http=http, clock=clock) as client:
        token = await client.token()
        assert (await client.introspect(token)).aud == (ORDERS, "orders-api")
    request = sent(emulator)
    assert values(request, "resource") == [ORDERS]
    assert values(request, "audience") == ["orders-api"]


async def test_a_refused_resource_is_invalid_target_for_client_credentials(
    emulator: ProviderEmulator, http: Any, clock: ManualClock, endpoints: OAuthEndpoints
) -> None:
    emulator.oauth_allowed_resources = [BILLING]
    strategy = ClientCredentials(
        client_id="service",
        client_secret=EMULATED_SECRET,
        token_endpoint=endpoints["token_endpoint"],
        resource=ORDERS,
    )
    async with Client(strategy, http=http, clock=clock) as client:
        with pytest.raises(anyoauth.TokenRequestError) as refused:
            await client.token()
    assert refused.value.error == "invalid_target"


async def test_a_device_login_for_a_resource(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    strategy = DeviceCode.from_metadata(
        await metadata(http), client_id="tv", resource=ORDERS, extra_token_params={"x": "1"}
    )

    def approve(device: DeviceAuthorization) -> None:
        emulator.approve_device(device.user_code)

    async with Client(strategy, http=http, clock=clock) as client:
        token = await client.device_login(approve)
    poll = sent(emulator)
    assert values(poll, "resource") == [ORDERS]
    assert values(poll, "x") == ["1"]
    assert emulator.is_valid_token(token.access_token)


def partner_grant(endpoints: OAuthEndpoints, **settings: Any) -> ExtensionGrant:
    values: dict[str, Any] = {
        "client_id": "service",
        "client_secret": EMULATED_SECRET,
        "token_endpoint": endpoints["token_endpoint"],
        "grant_type": GRANT,
        "token_params": [("ticket", "T-123")],
    }
    values.update(settings)
    return ExtensionGrant(**values)


async def test_an_extension_grant_gets_a_token_once_for_concurrent_callers(
    emulator: ProviderEmulator, http: Any, clock: ManualClock, endpoints: OAuthEndpoints
) -> None:
    emulator.oauth_extension_grants[GRANT] = ("ticket", "T-123")
    strategy = partner_grant(endpoints, resource=ORDERS)
    tokens: list[anyoauth.Token] = []
    async with Client(strategy, http=http, clock=clock) as client:

        async def fetch() -> None:
            tokens.append(await client.token())

        async with anyio.create_task_group() as group:
            for _ in range(5):
                group.start_soon(fetch)
    assert len(emulator.oauth_token_requests) == 1
    assert len({token.access_token for token in tokens}) == 1
    request = sent(emulator)
    assert values(request, "grant_type") == [GRANT]
    assert values(request, "ticket") == ["T-123"]
    assert values(request, "resource") == [ORDERS]


async def test_an_extension_grant_is_run_again_when_its_token_expires(
    emulator: ProviderEmulator, http: Any, clock: ManualClock, endpoints: OAuthEndpoints
) -> None:
    emulator.oauth_extension_grants[GRANT] = ("ticket", "T-123")
    store = MemoryStore()
    async with Client(partner_grant(endpoints), http=http, clock=clock, store=store) as client:
        first = await client.token()
        clock.advance(3600)
        second = await client.token()
    assert first.access_token != second.access_token
    assert [values(list(r), "grant_type") for r in emulator.oauth_token_requests] == [
        [GRANT],
        [GRANT],
    ]


async def test_an_extension_grant_with_a_wrong_parameter_is_refused(
    emulator: ProviderEmulator, http: Any, clock: ManualClock, endpoints: OAuthEndpoints
) -> None:
    emulator.oauth_extension_grants[GRANT] = ("ticket", "T-999")
    async with Client(partner_grant(endpoints), http=http, clock=clock) as client:
        # As for client credentials: a refused grant needs new credentials.
        with pytest.raises(anyoauth.LoginRequired, match="invalid_grant"):
            await client.token()
