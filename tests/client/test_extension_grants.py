"""The extension grants against the emulator's generic server: token exchange (RFC 8693)
of a token the server issued for another audience, an id_token or a refresh token, and
the JWT bearer grant (RFC 7523), each renewed single-flight by running the grant again,
a JWT bearer assertion signed anew for every renewal and every retry."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import anyio
import attrs
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

import anyoauth
from anyoauth import Client, ClientCredentials, JwtBearer, TokenExchange
from anyoauth.providers import KeycloakTokenExchange
from anyoauth.sansio import (
    ACCESS_TOKEN_TYPE,
    ID_TOKEN_TYPE,
    JWT_BEARER_GRANT,
    REFRESH_TOKEN_TYPE,
    TOKEN_EXCHANGE_GRANT,
)
from anyoauth.testing import ManualClock, OAuthEndpoints, ProviderEmulator

from .helpers import BASE, EMULATED_SECRET

pytestmark = pytest.mark.anyio

API = BASE + "/api/me"
KEY = RSAKey.generate_key(2048, parameters={"kid": "workload-1"}, private=True)


def register_exchanger(emulator: ProviderEmulator) -> None:
    emulator.add_oauth_client(
        "gateway", client_secret=EMULATED_SECRET, grant_types=[TOKEN_EXCHANGE_GRANT]
    )


async def subject_token(http: Any, endpoints: OAuthEndpoints, clock: ManualClock) -> str:
    """An access token of the emulator's "service" client: the token to exchange."""
    service = ClientCredentials(
        client_id="service",
        client_secret=EMULATED_SECRET,
        token_endpoint=endpoints["token_endpoint"],
    )
    async with Client(service, http=http, clock=clock) as client:
        return (await client.token()).access_token


def exchanger(endpoints: OAuthEndpoints, subject: str, **settings: Any) -> TokenExchange:
    return TokenExchange(
        client_id="gateway",
        client_secret=EMULATED_SECRET,
        token_endpoint=endpoints["token_endpoint"],
        issuer=endpoints["issuer"],
        subject_token=subject,
        **settings,
    )


async def test_exchanged_access_token_calls_the_api_for_the_subject(
    emulator: ProviderEmulator, http: Any, endpoints: OAuthEndpoints, clock: ManualClock
) -> None:
    register_exchanger(emulator)
    subject = await subject_token(http, endpoints, clock)
    strategy = exchanger(
        endpoints,
        subject,
        audience=["orders"],
        resource=["https://orders.example/"],
        requested_token_type=ACCESS_TOKEN_TYPE,
    )
    async with Client(strategy, http=http, clock=clock) as client:
        token = await client.token()
        assert token.extra["issued_token_type"] == ACCESS_TOKEN_TYPE
        assert token.access_token != subject
        answer = await http.get(API, auth=client.auth())
    assert answer.status_code == 200
    assert answer.json()["sub"] == "service"  # the subject token's subject
    assert answer.json()["client_id"] == "gateway"


@pytest.mark.parametrize("requested", [ID_TOKEN_TYPE, REFRESH_TOKEN_TYPE])
async def test_a_token_that_is_no_access_token_is_handed_out_but_never_sent(
    emulator: ProviderEmulator,
    http: Any,
    endpoints: OAuthEndpoints,
    clock: ManualClock,
    requested: str,
) -> None:
    register_exchanger(emulator)
    subject = await subject_token(http, endpoints, clock)
    strategy = exchanger(endpoints, subject, requested_token_type=requested)
    async with Client(strategy, http=http, clock=clock) as client:
        token = await client.token()
        assert token.token_type == "N_A"
        assert token.extra["issued_token_type"] == requested
        calls = emulator.calls["oauth.api"]
        with pytest.raises(anyoauth.ConfigurationError, match="N_A"):
            await http.get(API, auth=client.auth())
        assert emulator.calls["oauth.api"] == calls


async def test_an_invalid_subject_token_is_refused_by_the_server(
    emulator: ProviderEmulator, http: Any, endpoints: OAuthEndpoints, clock: ManualClock
) -> None:
    register_exchanger(emulator)
    strategy = exchanger(endpoints, "not-a-token-of-this-server")
    async with Client(strategy, http=http, clock=clock) as client:
        with pytest.raises(anyoauth.LoginRequired, match="grant was refused") as refused:
            await client.token()
    cause = refused.value.__cause__
    assert isinstance(cause, anyoauth.TokenRequestError)
    assert cause.error == "invalid_grant"


async def test_exchanged_token_is_renewed_single_flight_by_exchanging_again(
    emulator: ProviderEmulator, http: Any, endpoints: OAuthEndpoints, clock: ManualClock
) -> None:
    register_exchanger(emulator)
    subject = await subject_token(http, endpoints, clock)
    emulator.oauth_expires_in = 600
    # The subject token outlives the exchanged one: the service's token was issued
    # with the emulator's 3600 s, the exchange with 600 s.
    async with Client(exchanger(endpoints, subject), http=http, clock=clock) as client:
        first = await client.token()
        before = emulator.calls["oauth.token"]
        clock.now += 700
        tokens: list[anyoauth.Token] = []

        async def call() -> None:
            tokens.append(await client.token())

        async with anyio.create_task_group() as tg:
            for _ in range(50):
                tg.start_soon(call)
    assert emulator.calls["oauth.token"] == before + 1
    assert {t.access_token for t in tokens} != {first.access_token}
    assert len({t.access_token for t in tokens}) == 1


async def test_a_new_subject_token_gets_a_token_of_its_own(
    emulator: ProviderEmulator, http: Any, endpoints: OAuthEndpoints, clock: ManualClock
) -> None:
    register_exchanger(emulator)
    store = anyoauth.MemoryStore(clock=clock)
    one = await subject_token(http, endpoints, clock)
    two = await subject_token(http, endpoints, clock)
    strategy = exchanger(endpoints, one)
    async with Client(strategy, http=http, clock=clock, store=store) as client:
        first = await client.token()
    evolved = attrs.evolve(strategy, subject_token=two)
    async with Client(evolved, http=http, clock=clock, store=store) as client:
        second = await client.token()
    assert second.access_token != first.access_token


async def test_token_exchange_with_dpop_binds_the_exchanged_token(
    emulator: ProviderEmulator, http: Any, endpoints: OAuthEndpoints, clock: ManualClock
) -> None:
    register_exchanger(emulator)
    subject = await subject_token(http, endpoints, clock)
    strategy = exchanger(endpoints, subject, dpop_key=anyoauth.DPoPKey.generate())
    async with Client(strategy, http=http, clock=clock) as client:
        token = await client.token()
        assert token.token_type == "DPoP"
        answer = await http.get(API, auth=client.auth())
    assert answer.status_code == 200


# -- the JWT bearer grant ----------------------------------------------------------------


def register_workload(emulator: ProviderEmulator) -> None:
    emulator.add_oauth_client(
        "workload",
        auth_method="none",
        grant_types=[JWT_BEARER_GRANT],
        jwks=KeySet([KEY]).as_dict(private=False),
    )


def workload(endpoints: OAuthEndpoints, **settings: Any) -> JwtBearer:
    return JwtBearer(
        client_id="workload",
        client_auth="none",
        token_endpoint=endpoints["token_endpoint"],
        issuer=endpoints["issuer"],
        assertion_key=KEY,
        **settings,
    )


def assertion_of(request: Any) -> dict[str, Any]:
    sent = parse_qs(request.content.decode())["assertion"][0]
    return dict(jwt.decode(sent, KEY, algorithms=["PS256"]).claims)


async def test_jwt_bearer_token_is_for_the_assertion_subject(
    emulator: ProviderEmulator, http: Any, endpoints: OAuthEndpoints, clock: ManualClock
) -> None:
    register_workload(emulator)
    async with Client(workload(endpoints, subject="user-42"), http=http, clock=clock) as client:
        answer = await http.get(API, auth=client.auth())
    assert answer.status_code == 200
    assert answer.json()["sub"] == "user-42"


async def test_jwt_bearer_renewal_signs_a_new_assertion_single_flight(
    emulator: ProviderEmulator,
    http: Any,
    http_module: Any,
    endpoints: OAuthEndpoints,
    clock: ManualClock,
) -> None:
    register_workload(emulator)
    seen: list[dict[str, Any]] = []
    inner = emulator.mock_transport(http_module)

    async def spy(request: Any) -> Any:
        if request.url.path.endswith("/oauth/token"):
            seen.append(assertion_of(request))
        return await inner.handle_async_request(request)

    transport = http_module.MockTransport(spy)
    async with (
        http_module.AsyncClient(transport=transport) as spied,
        Client(workload(endpoints), http=spied, clock=clock) as client,
    ):
        await client.token()
        clock.now += 3600
        async with anyio.create_task_group() as tg:
            for _ in range(30):
                tg.start_soon(client.token)
    assert len(seen) == 2
    assert seen[0]["jti"] != seen[1]["jti"]
    assert seen[1]["iat"] == seen[0]["iat"] + 3600


async def test_jwt_bearer_retry_after_a_server_error_carries_a_fresh_assertion(
    emulator: ProviderEmulator, http_module: Any, endpoints: OAuthEndpoints, clock: ManualClock
) -> None:
    register_workload(emulator)
    seen: list[dict[str, Any]] = []
    inner = emulator.mock_transport(http_module)

    async def flaky(request: Any) -> Any:
        seen.append(assertion_of(request))
        if len(seen) == 1:
            return http_module.Response(503, json={"error": "temporarily_unavailable"})
        return await inner.handle_async_request(request)

    async with http_module.AsyncClient(transport=http_module.MockTransport(flaky)) as flaky_http:
        client = Client(workload(endpoints), http=flaky_http, clock=clock)
        token = await client.token()
    assert emulator.is_valid_token(token.access_token)
    assert len(seen) == 2
    assert seen[0]["jti"] != seen[1]["jti"]


async def test_jwt_bearer_with_private_key_jwt_client_authentication(
    emulator: ProviderEmulator, http: Any, endpoints: OAuthEndpoints, clock: ManualClock
) -> None:
    emulator.add_oauth_client(
        "confidential-workload",
        auth_method="private_key_jwt",
        grant_types=[JWT_BEARER_GRANT],
        jwks=KeySet([KEY]).as_dict(private=False),
    )
    strategy = JwtBearer(
        client_id="confidential-workload",
        token_endpoint=endpoints["token_endpoint"],
        issuer=endpoints["issuer"],
        client_auth="private_key_jwt",
        client_key=KEY,
    )
    async with Client(strategy, http=http, clock=clock) as client:
        token = await client.token()
    assert emulator.is_valid_token(token.access_token)


async def test_jwt_bearer_signed_by_an_unknown_key_is_refused(
    emulator: ProviderEmulator, http: Any, endpoints: OAuthEndpoints, clock: ManualClock
) -> None:
    register_workload(emulator)
    other = RSAKey.generate_key(2048, parameters={"kid": "workload-1"}, private=True)
    strategy = attrs.evolve(workload(endpoints), assertion_key=other)
    async with Client(strategy, http=http, clock=clock) as client:
        with pytest.raises(anyoauth.LoginRequired, match="grant was refused") as refused:
            await client.token()
    cause = refused.value.__cause__
    assert isinstance(cause, anyoauth.TokenRequestError)
    assert cause.error == "invalid_grant"


async def test_keycloak_token_exchange_preset_exchanges_at_the_given_token_endpoint(
    emulator: ProviderEmulator, http: Any, endpoints: OAuthEndpoints, clock: ManualClock
) -> None:
    register_exchanger(emulator)
    subject = await subject_token(http, endpoints, clock)
    strategy = KeycloakTokenExchange(
        client_id="gateway",
        client_secret=EMULATED_SECRET,
        token_url=endpoints["token_endpoint"],
        subject_token=subject,
        audience="orders",
    )
    async with Client(strategy, http=http, clock=clock) as client:
        token = await client.token()
        answer = await http.get(API, auth=client.auth())
    assert token.extra["issued_token_type"] == ACCESS_TOKEN_TYPE
    assert answer.json()["sub"] == "service"
