"""The standard flows through :class:`anyoauth.Client` against the emulator's generic
OAuth 2.0 / OpenID Connect server: discovery, code + PKCE with an id_token, refresh
with rotation, revocation, introspection, the device grant, client authentication
methods, and the mix-up and key-rotation cases."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import anyio
import pytest
from joserfc.jwk import KeySet, RSAKey

import anyoauth
from anyoauth import (
    AuthorizationCode,
    Client,
    ClientCredentials,
    DeviceAuthorization,
    DeviceCode,
    Implicit,
    discover,
)
from anyoauth.testing import ManualClock, OAuthEndpoints, ProviderEmulator, browse

pytestmark = pytest.mark.anyio

BASE = "https://as.example"
REDIRECT = "http://127.0.0.1:8123/callback"
SECRET = "client-secret-SENTINEL-0123456789abcdef"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def emulator(clock: ManualClock) -> ProviderEmulator:
    emulator = ProviderEmulator(clock=clock, base_url=BASE, oauth_device_interval=0)
    emulator.add_oauth_client("web", client_secret=SECRET, redirect_uris=[REDIRECT], scopes=None)
    emulator.add_oauth_client(
        "spa", redirect_uris=[REDIRECT], auth_method="none", grant_types=["authorization_code"]
    )
    emulator.add_oauth_client(
        "legacy", redirect_uris=[REDIRECT], auth_method="none", grant_types=["implicit"]
    )
    emulator.add_oauth_client("tv", auth_method="none", grant_types=[DEVICE_GRANT, "refresh_token"])
    emulator.add_oauth_client("service", client_secret=SECRET, grant_types=["client_credentials"])
    return emulator


@pytest.fixture
async def http(emulator: ProviderEmulator, http_module: ModuleType) -> AsyncIterator[Any]:
    transport = emulator.mock_transport(http_module)
    async with http_module.AsyncClient(transport=transport) as client:
        yield client


@pytest.fixture
def endpoints(emulator: ProviderEmulator) -> OAuthEndpoints:
    return emulator.endpoints_oauth(BASE)


async def metadata(http: Any) -> anyoauth.ServerMetadata:
    return await discover(BASE, http=http)


async def web_app(http: Any, **settings: Any) -> AuthorizationCode:
    """The confidential "web" client, configured from the emulator's metadata."""
    values: dict[str, Any] = {"client_id": "web", "client_secret": SECRET, "redirect_uri": REDIRECT}
    values.update(settings)
    return AuthorizationCode.from_metadata(await metadata(http), **values)


async def login(client: Client, http: Any, decision: str = "allow") -> anyoauth.Token:
    start = await client.begin()
    return await client.complete(await browse(http, start.url, decision=decision))


async def test_discovery_reads_the_servers_metadata(http: Any, endpoints: OAuthEndpoints) -> None:
    meta = await metadata(http)
    assert meta.issuer == BASE
    assert meta.token_endpoint == endpoints["token_endpoint"]
    assert meta.device_authorization_endpoint == endpoints["device_authorization_endpoint"]
    assert meta.authorization_response_iss_parameter_supported
    assert "S256" in meta.code_challenge_methods_supported


async def test_discovery_refuses_metadata_for_another_issuer(
    emulator: ProviderEmulator, http: Any
) -> None:
    emulator.oauth_metadata_issuer = "https://evil.example"
    with pytest.raises(anyoauth.DiscoveryError, match="another issuer"):
        await discover(BASE, http=http)


async def test_discovery_of_an_unknown_server(http_module: ModuleType, clock: ManualClock) -> None:
    def handler(request: Any) -> Any:
        return http_module.Response(404, text="not here")

    async with http_module.AsyncClient(transport=http_module.MockTransport(handler)) as http:
        with pytest.raises(anyoauth.DiscoveryError, match="HTTP 404"):
            await discover(BASE, http=http)


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


async def test_revoke_then_login_required(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    strategy = await web_app(http)
    async with Client(strategy, http=http, clock=clock) as client:
        token = await login(client, http)
        info = await client.introspect()
        assert info.active
        assert info.client_id == "web"
        await client.revoke()
        assert not emulator.is_valid_token(token.access_token)
        with pytest.raises(anyoauth.LoginRequired):
            await client.token()
        assert not (await client.introspect(token)).active
        await client.revoke()  # nothing held: nothing to do


async def test_revoke_needs_an_endpoint(http: Any, clock: ManualClock) -> None:
    strategy = await web_app(http, revocation_endpoint=None, introspection_endpoint=None)
    async with Client(strategy, http=http, clock=clock) as client:
        with pytest.raises(anyoauth.ConfigurationError):
            await client.revoke()
        with pytest.raises(anyoauth.ConfigurationError):
            await client.introspect("x")


async def test_implicit_flow(http: Any, endpoints: OAuthEndpoints, clock: ManualClock) -> None:
    strategy = Implicit(
        client_id="legacy",
        authorization_endpoint=endpoints["authorization_endpoint"],
        redirect_uri=REDIRECT,
        issuer=BASE,
    )
    async with Client(strategy, http=http, clock=clock) as client:
        token = await login(client, http)
        assert token.refresh_token is None
        assert token.expires_at is not None


async def test_device_grant(emulator: ProviderEmulator, http: Any, clock: ManualClock) -> None:
    strategy = DeviceCode.from_metadata(await metadata(http), client_id="tv", scope="read")
    shown: list[DeviceAuthorization] = []

    async def show(device: DeviceAuthorization) -> None:
        shown.append(device)
        emulator.approve_device(device.user_code)

    async with Client(strategy, http=http, clock=clock) as client:
        token = await client.device_login(show)
        assert shown
        assert shown[0].user_code
        assert emulator.is_valid_token(token.access_token)
        assert await client.token() == token


async def test_device_grant_denied(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    strategy = DeviceCode.from_metadata(await metadata(http), client_id="tv")

    def deny(device: DeviceAuthorization) -> None:
        emulator.approve_device(device.user_code, allow=False)

    async with Client(strategy, http=http, clock=clock) as client:
        with pytest.raises(anyoauth.AuthorizationDenied):
            await client.device_login(deny)


async def advance_forever(clock: ManualClock, step: float) -> None:
    while True:
        await anyio.sleep(0.01)
        clock.advance(step)


async def test_device_grant_expires_when_nobody_approves(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    emulator.oauth_device_expires_in = 30
    strategy = DeviceCode.from_metadata(await metadata(http), client_id="tv")
    seen: list[DeviceAuthorization] = []
    async with Client(strategy, http=http, clock=clock) as client:
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(advance_forever, clock, 5.0)
                with pytest.raises(anyoauth.FlowExpired):
                    await client.device_login(seen.append)
                tg.cancel_scope.cancel()
    assert len(seen) == 1


async def test_login_routes_a_device_grant_to_device_login(
    emulator: ProviderEmulator, http: Any, capsys: pytest.CaptureFixture[str], clock: ManualClock
) -> None:
    strategy = DeviceCode.from_metadata(await metadata(http), client_id="tv")

    async def approve_when_shown() -> None:
        while True:
            found = re.search(r"enter the code (\S+)", capsys.readouterr().err)
            if found:
                emulator.approve_device(found.group(1))
                return
            await anyio.sleep(0.01)

    async with Client(strategy, http=http, clock=clock) as client, anyio.create_task_group() as tg:
        tg.start_soon(approve_when_shown)
        with anyio.fail_after(20):
            token = await client.login()
        assert emulator.is_valid_token(token.access_token)


@pytest.mark.parametrize("auth_method", ["client_secret_jwt", "private_key_jwt"])
async def test_jwt_client_authentication(
    emulator: ProviderEmulator,
    http: Any,
    endpoints: OAuthEndpoints,
    auth_method: str,
    clock: ManualClock,
) -> None:
    key = RSAKey.generate_key(2048, parameters={"kid": "client-1"}, private=True)
    private = auth_method == "private_key_jwt"
    emulator.add_oauth_client(
        "jwt-service",
        client_secret=None if private else SECRET,
        grant_types=["client_credentials"],
        auth_method=auth_method,  # type: ignore[arg-type]
        jwks=KeySet([key]).as_dict(private=False) if private else None,
    )
    strategy = ClientCredentials(
        client_id="jwt-service",
        client_secret=None if private else SECRET,
        token_endpoint=endpoints["token_endpoint"],
        client_auth=auth_method,  # type: ignore[arg-type]
        client_key=key if private else None,
    )
    async with Client(strategy, http=http, clock=clock) as client:
        token = await client.token()
        assert emulator.is_valid_token(token.access_token)
    wrong = RSAKey.generate_key(2048, parameters={"kid": "client-1"}, private=True)
    if auth_method == "private_key_jwt":
        bad = ClientCredentials(
            client_id="jwt-service",
            token_endpoint=endpoints["token_endpoint"],
            client_auth="private_key_jwt",
            client_key=wrong,
        )
        async with Client(bad, http=http, clock=clock) as client:
            with pytest.raises(anyoauth.TokenRequestError) as refused:
                await client.token()
            assert refused.value.error == "invalid_client"


async def test_raw_basic_credentials(
    emulator: ProviderEmulator, http: Any, endpoints: OAuthEndpoints, clock: ManualClock
) -> None:
    secret = "raw+secret:with%chars-0123456789"
    emulator.add_oauth_client(
        "raw", client_secret=secret, grant_types=["client_credentials"], basic_form_encoded=False
    )
    common: dict[str, Any] = {
        "client_id": "raw",
        "client_secret": secret,
        "token_endpoint": endpoints["token_endpoint"],
    }
    async with Client(
        ClientCredentials(**common, basic_form_encoded=False), http=http, clock=clock
    ) as c:
        assert (await c.token()).access_token
    async with Client(ClientCredentials(**common), http=http, clock=clock) as c:
        with pytest.raises(anyoauth.TokenRequestError) as refused:
            await c.token()
        assert refused.value.error == "invalid_client"


async def test_wrong_secret_is_a_typed_error(
    http: Any, endpoints: OAuthEndpoints, clock: ManualClock
) -> None:
    strategy = ClientCredentials(
        client_id="service", client_secret="wrong", token_endpoint=endpoints["token_endpoint"]
    )
    async with Client(strategy, http=http, clock=clock) as client:
        with pytest.raises(anyoauth.TokenRequestError) as refused:
            await client.token()
        assert refused.value.error == "invalid_client"
        assert "wrong" not in str(refused.value)
