"""Logging in with :class:`anyoauth.Client`: ``begin()`` and ``complete()`` through the
redirect flows. Every bad redirect fails before any token request and a state is used
once; the code flow with PKCE and an id_token, the implicit flows, denials, and the
mix-up and key-rotation cases against the emulator."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

import anyoauth
from anyoauth import (
    Client,
    Implicit,
)
from anyoauth.providers import Geni, Teamwork
from anyoauth.testing import ManualClock, OAuthEndpoints, ProviderEmulator, browse
from support.endpoints import ScriptedEndpoint

from .helpers import BASE, LOOPBACK_REDIRECT, REDIRECT, SECRET, bog, login, teamwork, use, web_app

pytestmark = pytest.mark.anyio


# -- state validation: every bad redirect fails before any token request ---------------


async def test_complete_exchanges_code_once(
    routed_http: Any, http_module: ModuleType, clock: ManualClock
) -> None:
    tw = {"access_token": "tkn.v1_SENTINEL", "status": "ok", "installation": {"id": 1}}
    endpoint = use(
        routed_http, ScriptedEndpoint(http_module, lambda r: http_module.Response(200, json=tw))
    )
    client = anyoauth.Client(teamwork(), http=routed_http, clock=clock)
    start = await client.begin()
    token = await client.complete(f"{REDIRECT}?code=CODE-1&state={start.state}")
    assert token.access_token == "tkn.v1_SENTINEL"
    assert token.expires_at is None
    assert token.extra["installation"] == {"id": 1}
    assert len(endpoint.requests) == 1
    body = json.loads(endpoint.requests[0].content)
    assert body == {
        "code": "CODE-1",
        "client_id": "tw-client",
        "client_secret": SECRET,
        "redirect_uri": REDIRECT,
    }
    assert await client.token() == token
    clock.now += 10 * 365 * 86400
    assert await client.token() == token  # no expiry: valid until revoked


@pytest.mark.parametrize(
    ("make_url", "error"),
    [
        (lambda state: f"{REDIRECT}?code=C", anyoauth.StateMissing),
        (lambda state: f"{REDIRECT}?code=C&state=not-{state}", anyoauth.StateMismatch),
        (
            lambda state: f"https://evil.example/callback?code=C&state={state}",
            anyoauth.RedirectMismatch,
        ),
        (
            lambda state: f"https://app.example@evil.example/callback?code=C&state={state}",
            anyoauth.RedirectMismatch,
        ),
        (lambda state: f"{REDIRECT}?state={state}", anyoauth.MalformedRedirect),
        (lambda state: f"{REDIRECT}?code=C&code=D&state={state}", anyoauth.MalformedRedirect),
        (
            lambda state: f"{REDIRECT}?error=access_denied&state={state}",
            anyoauth.AuthorizationDenied,
        ),
    ],
)
async def test_bad_redirects_send_no_token_request(
    routed_http: Any,
    http_module: ModuleType,
    clock: ManualClock,
    make_url: Callable[[str], str],
    error: type[Exception],
) -> None:
    endpoint = use(routed_http, ScriptedEndpoint(http_module, lambda r: http_module.Response(500)))
    client = anyoauth.Client(teamwork(), http=routed_http, clock=clock)
    start = await client.begin()
    with pytest.raises(error):
        await client.complete(make_url(start.state))
    assert endpoint.requests == []
    assert await client.store.get_token(client.token_key) is None


async def test_state_is_single_use(
    routed_http: Any, http_module: ModuleType, clock: ManualClock
) -> None:
    payload = {"access_token": "tkn.v1_x", "status": "ok"}
    endpoint = use(
        routed_http,
        ScriptedEndpoint(http_module, lambda r: http_module.Response(200, json=payload)),
    )
    client = anyoauth.Client(teamwork(), http=routed_http, clock=clock)
    start = await client.begin()
    url = f"{REDIRECT}?code=C&state={start.state}"
    await client.complete(url)
    with pytest.raises(anyoauth.StateMismatch):
        await client.complete(url)
    assert len(endpoint.requests) == 1


async def test_a_failed_redirect_consumes_the_state(
    routed_http: Any, http_module: ModuleType, clock: ManualClock
) -> None:
    endpoint = use(routed_http, ScriptedEndpoint(http_module, lambda r: http_module.Response(500)))
    client = anyoauth.Client(teamwork(), http=routed_http, clock=clock)
    start = await client.begin()
    with pytest.raises(anyoauth.AuthorizationDenied):
        await client.complete(f"{REDIRECT}?error=access_denied&state={start.state}")
    with pytest.raises(anyoauth.StateMismatch):
        await client.complete(f"{REDIRECT}?code=C&state={start.state}")
    assert endpoint.requests == []


async def test_expired_flow(routed_http: Any, http_module: ModuleType, clock: ManualClock) -> None:
    endpoint = use(routed_http, ScriptedEndpoint(http_module, lambda r: http_module.Response(500)))
    client = anyoauth.Client(teamwork(), http=routed_http, clock=clock)
    start = await client.begin()
    assert start.expires_at == clock.now + 600
    clock.now = start.expires_at
    with pytest.raises(anyoauth.FlowExpired):
        await client.complete(f"{REDIRECT}?code=C&state={start.state}")
    assert endpoint.requests == []


async def test_state_of_another_strategy_is_rejected(
    routed_http: Any, http_module: ModuleType, clock: ManualClock
) -> None:
    endpoint = use(routed_http, ScriptedEndpoint(http_module, lambda r: http_module.Response(500)))
    store = anyoauth.MemoryStore(clock=clock)
    first = anyoauth.Client(teamwork(), store, http=routed_http, clock=clock)
    other = anyoauth.Client(
        Teamwork("other-client", SECRET, REDIRECT), store, http=routed_http, clock=clock
    )
    start = await first.begin()
    with pytest.raises(anyoauth.StateMismatch):
        await other.complete(f"{REDIRECT}?code=C&state={start.state}")
    assert endpoint.requests == []


# -- the code flow against the emulator ------------------------------------------------


async def test_code_flow_with_pkce_and_an_id_token(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    strategy = await web_app(http, scope="openid profile")
    async with Client(strategy, http=http, clock=clock) as client:
        token = await login(client, http)
        assert token.id_token_claims is not None
        assert token.id_token_claims["aud"] == "web"
        assert token.refresh_token
        sent = emulator.authorization_requests[-1]
        assert sent["code_challenge_method"] == "S256"
        assert sent["nonce"]
        assert emulator.is_valid_token(token.access_token)
        # Refresh with rotation: the old refresh token stops working.
        clock.advance(3600)
        renewed = await client.token()
        assert renewed.access_token != token.access_token
        assert renewed.refresh_token != token.refresh_token
        assert renewed.id_token_claims is not None
        assert renewed.id_token_claims["sub"] == token.id_token_claims["sub"]
        assert emulator.is_valid_token(renewed.access_token)


async def test_a_denied_login_and_a_reused_code(
    emulator: ProviderEmulator, http: Any, endpoints: OAuthEndpoints, clock: ManualClock
) -> None:
    strategy = await web_app(http, client_id="spa", client_secret=None)
    assert strategy.client_auth == "none"
    async with Client(strategy, http=http, clock=clock) as client:
        with pytest.raises(anyoauth.AuthorizationDenied) as denied:
            await login(client, http, "deny")
        assert denied.value.error == "access_denied"
        start = await client.begin()
        landed = await browse(http, start.url)
        await client.complete(landed)
        # The same redirect again: its state is spent, nothing is sent.
        calls = emulator.calls["oauth.token"]
        with pytest.raises(anyoauth.StateMismatch):
            await client.complete(landed)
        assert emulator.calls["oauth.token"] == calls


async def test_a_wrong_verifier_is_refused_by_the_server(http: Any) -> None:
    # Another client's pending flow cannot be completed with this one's verifier:
    # exchange the code of flow A with the verifier of flow B.
    strategy = await web_app(http, client_id="spa", client_secret=None)
    from anyoauth.sansio import Flow

    first, second = Flow(strategy), Flow(strategy)
    a, b = first.start(0), second.start(0)
    landed = await browse(http, a.url)
    redirect = strategy.read_redirect(landed)
    assert second.pending is not None
    forged = anyoauth.PendingFlow(
        state=a.pending.state,
        binding=a.pending.binding,
        created_at=0,
        expires_at=a.pending.expires_at,
        code_verifier=b.pending.code_verifier,
    )
    flow = Flow.resume(strategy, forged)
    request = flow.receive_redirect(redirect, 1)
    assert not isinstance(request, anyoauth.Token)
    response = await http.post(request.url, headers=dict(request.headers), content=request.content)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


async def test_mix_up_a_wrong_iss_is_refused_before_the_exchange(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    strategy = await web_app(http)
    emulator.oauth_send_iss = "https://evil.example"
    async with Client(strategy, http=http, clock=clock) as client:
        before = sum(emulator.calls.values())
        start = await client.begin()
        landed = await browse(http, start.url)
        with pytest.raises(anyoauth.IssuerMismatch):
            await client.complete(landed)
        # Only the two browser requests (authorize, consent) reached the server.
        assert sum(emulator.calls.values()) - before <= 2
        emulator.oauth_send_iss = False
        start = await client.begin()
        with pytest.raises(anyoauth.IssuerMismatch, match="no iss"):
            await client.complete(await browse(http, start.url))


async def test_a_rotated_signing_key_is_fetched_once(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    strategy = await web_app(http, scope="openid")
    async with Client(strategy, http=http, clock=clock) as client:
        await login(client, http)
        jwks_calls = emulator.calls["oauth.jwks"]
        await login(client, http)
        assert emulator.calls["oauth.jwks"] == jwks_calls  # cached
        emulator.rotate_oauth_signing_key(keep_old=False)
        token = await login(client, http)
        assert token.id_token_claims is not None
        assert emulator.calls["oauth.jwks"] == jwks_calls + 1


async def test_a_forged_nonce_fails_the_login(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    strategy = await web_app(http, scope="openid")
    emulator.oauth_id_token_claims = {"nonce": "forged"}
    async with Client(strategy, http=http, clock=clock) as client:
        with pytest.raises(anyoauth.InvalidIdToken, match="nonce"):
            await login(client, http)
        with pytest.raises(anyoauth.LoginRequired):
            await client.token()


# -- implicit flows --------------------------------------------------------------------


async def test_implicit_flow(http: Any, endpoints: OAuthEndpoints, clock: ManualClock) -> None:
    strategy = Implicit(
        client_id="legacy",
        authorization_endpoint=endpoints["authorization_endpoint"],
        redirect_uri=LOOPBACK_REDIRECT,
        issuer=BASE,
    )
    async with Client(strategy, http=http, clock=clock) as client:
        token = await login(client, http)
        assert token.refresh_token is None
        assert token.expires_at is not None


async def test_geni_implicit_token_then_login_required(
    routed_http: Any, clock: ManualClock
) -> None:
    client = anyoauth.Client(Geni("geni-app"), http=routed_http, clock=clock)
    start = await client.begin()
    token = await client.complete(
        "https://www.geni.com/platform/oauth/auth_success"
        f"#access_token=GENI-SENTINEL&expires_in=86400&state={start.state}"
    )
    assert token.token_type == "Bearer"
    assert token.expires_at == clock.now + 86400
    assert "state" not in token.extra
    assert await client.token() == token
    clock.now += 86400
    with pytest.raises(anyoauth.LoginRequired):
        await client.token()


@pytest.mark.parametrize(
    "fragment",
    [
        "expires_in=86400",
        "access_token=&expires_in=1",
        "access_token=x&expires_in=soon",
        "access_token=x&expires_in=-5",
    ],
)
async def test_geni_bad_fragment(routed_http: Any, clock: ManualClock, fragment: str) -> None:
    client = anyoauth.Client(Geni("geni-app"), http=routed_http, clock=clock)
    start = await client.begin()
    with pytest.raises(anyoauth.MalformedRedirect):
        await client.complete(
            f"https://www.geni.com/platform/oauth/auth_success#{fragment}&state={start.state}"
        )
    assert await client.store.get_token(client.token_key) is None


async def test_geni_denial_carries_provider_words(routed_http: Any, clock: ManualClock) -> None:
    client = anyoauth.Client(Geni("geni-app"), http=routed_http, clock=clock)
    await client.begin()
    with pytest.raises(anyoauth.AuthorizationDenied) as info:
        await client.complete(
            "https://www.geni.com/platform/oauth/auth_failed#status=unauthorized&message=user+canceled"
        )
    assert info.value.error == "unauthorized"
    assert info.value.error_description == "user canceled"


async def test_bog_authorize_step_reads_query_or_fragment(
    routed_http: Any, clock: ManualClock
) -> None:
    for sep in ("?", "#"):
        client = anyoauth.Client(bog(), http=routed_http, clock=clock)
        start = await client.begin()
        token = await client.complete(
            f"https://app.example/bog{sep}access_token=BOG-AT&token_type=bearer"
            f"&expires_in=300&state={start.state}"
        )
        assert token.access_token == "BOG-AT"
