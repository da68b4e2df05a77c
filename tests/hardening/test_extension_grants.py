"""Attacks on the extension grants: a replayed JWT bearer assertion, a server echoing the
subject and actor tokens of a token exchange into its error, a token exchange answer
whose token is not an access token (``N_A``) or whose ``issued_token_type`` is missing
or forged. No secret is shown, no ``N_A`` token is sent as a credential, and a refused
answer leaves the store untouched."""

from __future__ import annotations

import traceback
from typing import Any
from urllib.parse import parse_qs

import pytest
from joserfc.jwk import KeySet, RSAKey

import anyoauth
from anyoauth import Client, ClientCredentials, JwtBearer, TokenExchange
from anyoauth.sansio import ACCESS_TOKEN_TYPE, JWT_BEARER_GRANT, TOKEN_EXCHANGE_GRANT
from anyoauth.testing import ManualClock, ProviderEmulator

from .reachable import find_secrets

pytestmark = pytest.mark.anyio

BASE = "https://as.example"
SECRET = "client-secret-SENTINEL-0123456789abcdef"
KEY = RSAKey.generate_key(2048, parameters={"kid": "workload-1"}, private=True)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def emulator(clock: ManualClock) -> ProviderEmulator:
    emulator = ProviderEmulator(clock=clock, base_url=BASE)
    emulator.add_oauth_client("service", client_secret=SECRET, grant_types=["client_credentials"])
    emulator.add_oauth_client("gateway", client_secret=SECRET, grant_types=[TOKEN_EXCHANGE_GRANT])
    emulator.add_oauth_client(
        "workload",
        auth_method="none",
        grant_types=[JWT_BEARER_GRANT],
        jwks=KeySet([KEY]).as_dict(private=False),
    )
    return emulator


@pytest.fixture
async def http(emulator: ProviderEmulator, http_module: Any) -> Any:
    async with http_module.AsyncClient(transport=emulator.mock_transport(http_module)) as client:
        yield client


async def issued_token(http: Any, clock: ManualClock) -> str:
    service = ClientCredentials(
        client_id="service", client_secret=SECRET, token_endpoint=BASE + "/oauth/token"
    )
    async with Client(service, http=http, clock=clock) as client:
        return (await client.token()).access_token


def exchange(subject: str, **settings: Any) -> TokenExchange:
    return TokenExchange(
        client_id="gateway",
        client_secret=SECRET,
        token_endpoint=BASE + "/oauth/token",
        issuer=BASE,
        subject_token=subject,
        **settings,
    )


async def test_a_replayed_jwt_bearer_assertion_is_refused(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    strategy = JwtBearer(
        client_id="workload",
        client_auth="none",
        token_endpoint=BASE + "/oauth/token",
        issuer=BASE,
        assertion_key=KEY,
    )
    request = strategy.direct_token_request(now=clock())
    headers = dict(request.headers)
    first = await http.post(request.url, content=request.content, headers=headers)
    assert first.status_code == 200
    replayed = await http.post(request.url, content=request.content, headers=headers)
    assert replayed.status_code == 400
    assert replayed.json()["error"] == "invalid_grant"
    assert "used before" in replayed.json()["error_description"]
    # anyoauth itself never replays: every request and every retry is signed anew.
    retry = request.rebuild(clock()) if request.rebuild is not None else None
    assert retry is not None
    assert (
        parse_qs(retry.content.decode())["assertion"]
        != parse_qs(request.content.decode())["assertion"]
    )
    again = await http.post(retry.url, content=retry.content, headers=dict(retry.headers))
    assert again.status_code == 200


async def test_an_expired_or_misaddressed_jwt_bearer_assertion_is_refused(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    common: dict[str, Any] = {
        "client_id": "workload",
        "client_auth": "none",
        "token_endpoint": BASE + "/oauth/token",
        "assertion_key": KEY,
    }
    stale = JwtBearer(**common, issuer=BASE).direct_token_request(now=clock() - 120)
    elsewhere = JwtBearer(**common, issuer="https://other.example").direct_token_request(
        now=clock()
    )
    for request, reason in ((stale, "expired"), (elsewhere, "aud")):
        answer = await http.post(
            request.url, content=request.content, headers=dict(request.headers)
        )
        assert answer.status_code == 400
        assert reason in answer.json()["error_description"]


async def test_an_echoed_subject_token_is_redacted_from_the_error(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    subject = await issued_token(http, clock)
    actor = await issued_token(http, clock)
    emulator.oauth_token_exchange_attack = "echo_subject_token"
    strategy = exchange(subject, actor_token=actor, actor_token_type=ACCESS_TOKEN_TYPE)
    async with Client(strategy, http=http, clock=clock) as client:
        with pytest.raises(anyoauth.TokenRequestError) as refused:
            await client.token()
    error = refused.value
    assert "<redacted>" in (error.error_description or "")
    shown = str(error) + repr(error) + "".join(traceback.format_exception(error))
    assert subject not in shown
    assert actor not in shown
    assert find_secrets(error, [subject, actor, SECRET]) == []


async def test_an_n_a_access_token_is_never_sent_as_a_bearer(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    subject = await issued_token(http, clock)
    emulator.oauth_token_exchange_attack = "n_a_access_token"
    async with Client(exchange(subject), http=http, clock=clock) as client:
        token = await client.token()
        assert token.token_type == "N_A"
        calls = emulator.calls["oauth.api"]
        with pytest.raises(anyoauth.ConfigurationError, match="N_A") as refused:
            await http.get(BASE + "/api/me", auth=client.auth())
        assert emulator.calls["oauth.api"] == calls
    assert token.access_token not in str(refused.value)


@pytest.mark.parametrize(
    ("attack", "settings"),
    [
        ("forged_issued_token_type", {}),
        ("forged_issued_token_type", {"requested_token_type": ACCESS_TOKEN_TYPE}),
        ("missing_issued_token_type", {}),
    ],
)
async def test_a_forged_or_missing_issued_token_type_is_refused_and_nothing_stored(
    emulator: ProviderEmulator,
    http: Any,
    clock: ManualClock,
    attack: str,
    settings: dict[str, Any],
) -> None:
    subject = await issued_token(http, clock)
    emulator.oauth_token_exchange_attack = attack
    async with Client(exchange(subject, **settings), http=http, clock=clock) as client:
        with pytest.raises(anyoauth.InvalidResponse, match="issued") as refused:
            await client.token()
        assert await client.store.get_token(client.token_key) is None
    assert subject not in str(refused.value)


async def test_an_n_a_token_stored_for_an_exchange_is_never_used_by_another_strategy(
    clock: ManualClock,
) -> None:
    token = anyoauth.Token(access_token="not-an-access-token", token_type="N_A", issued_at=clock())
    bearer = ClientCredentials(
        client_id="service", client_secret=SECRET, token_endpoint=BASE + "/oauth/token"
    )
    assert not bearer.can_use(token)
    assert exchange("subject-token").can_use(token)
