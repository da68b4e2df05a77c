"""anyoauth's client against django-oauth-toolkit, an authorization server we did not write.

Every flow runs through :class:`anyoauth.Client` with the server's own metadata, a real
loopback listener and a real headless Chromium that logs in and clicks Authorize:
authorization code + PKCE (public, and confidential with OpenID Connect), implicit,
client credentials with Basic, refresh with rotation, the device grant, revocation,
introspection and discovery; and each flow's denial and error paths.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import anyio
import attrs
import pytest

import anyoauth
from anyoauth import (
    AuthorizationCode,
    Client,
    ClientCredentials,
    DeviceAuthorization,
    DeviceCode,
    Implicit,
    MemoryStore,
    PendingFlow,
    Token,
    discover,
)
from anyoauth.agents import LoopbackAgent
from anyoauth.sansio import Flow, pending_key
from interop.browser import dot_browser, dot_device_approver
from interop.dot import DotApp, DotServer

pytestmark = pytest.mark.anyio


@pytest.fixture
async def http(http_module: Any) -> AsyncIterator[Any]:
    async with http_module.AsyncClient(follow_redirects=False, timeout=20.0) as client:
        yield client


def secret_of(app: DotApp) -> str:
    assert app.client_secret is not None
    return app.client_secret


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def bearer_works(http: Any, server: DotServer, token: Token) -> bool:
    response = await http.get(
        server.userinfo_endpoint, headers={"Authorization": token.authorization_header}
    )
    return bool(response.status_code == 200)


async def code_strategy(http: Any, server: DotServer, app: str, **kwargs: Any) -> AuthorizationCode:
    dot = server.apps[app]
    return AuthorizationCode.from_metadata(
        await discover(server.issuer, http=http),
        client_id=dot.client_id,
        client_secret=dot.client_secret,
        redirect_uri="http://127.0.0.1/callback",  # the loopback agent sets the port
        **kwargs,
    )


# -- discovery ---------------------------------------------------------------------------


async def test_discovery_from_the_servers_metadata(dot_server: DotServer, http: Any) -> None:
    metadata = await discover(dot_server.issuer, http=http)
    assert metadata.issuer == dot_server.issuer
    assert metadata.token_endpoint == dot_server.token_endpoint
    assert metadata.revocation_endpoint == dot_server.revocation_endpoint
    assert metadata.introspection_endpoint == dot_server.introspection_endpoint
    assert metadata.jwks_uri == dot_server.jwks_uri
    assert metadata.authorization_response_iss_parameter_supported
    assert "S256" in metadata.code_challenge_methods_supported


async def test_discovery_with_a_path_issuer(dot_server_path_issuer: DotServer, http: Any) -> None:
    server = dot_server_path_issuer
    metadata = await discover(server.issuer, http=http)
    assert metadata.issuer == server.issuer
    assert metadata.authorization_endpoint == server.authorization_endpoint


async def test_discovery_refuses_another_issuer(dot_server: DotServer, http: Any) -> None:
    # The server is real; asking it for an issuer it is not must fail.
    impostor = dot_server.issuer.replace("127.0.0.1", "localhost")
    with pytest.raises(anyoauth.DiscoveryError, match="another issuer"):
        await discover(impostor, http=http)


# -- authorization code + PKCE ------------------------------------------------------------


async def test_public_client_code_flow_with_pkce(
    dot_server: DotServer, chromium_path: str, http: Any
) -> None:
    strategy = await code_strategy(http, dot_server, "code-public", scope="read")
    assert strategy.client_auth == "none"
    assert strategy.uses_pkce
    assert strategy.require_iss
    agent = LoopbackAgent(open_browser=dot_browser(chromium_path, dot_server), timeout=60)
    async with Client(strategy, http=http) as client:
        token = await client.login(agent)
        assert token.refresh_token
        assert token.scope == "read"
        assert (await _introspect_as_resource_server(http, dot_server, token)).active
        assert await client.token() == token


async def test_confidential_openid_login_refresh_introspect_revoke(
    dot_server: DotServer, chromium_path: str, http: Any
) -> None:
    strategy = await code_strategy(http, dot_server, "code-confidential", scope="openid read")
    assert strategy.client_auth == "client_secret_basic"
    assert strategy.requests_nonce
    agent = LoopbackAgent(open_browser=dot_browser(chromium_path, dot_server), timeout=60)
    async with Client(strategy, http=http) as client:
        token = await client.login(agent)
        claims = token.id_token_claims
        assert claims is not None
        assert claims["iss"] == dot_server.issuer
        assert claims["aud"] == dot_server.apps["code-confidential"].client_id
        assert await bearer_works(http, dot_server, token)

        # Refresh with rotation: a new access and refresh token, the id_token checked again.
        renewed = await client.token(rejected=token)
        assert renewed.access_token != token.access_token
        assert renewed.refresh_token not in (None, token.refresh_token)
        assert renewed.id_token_claims is not None
        assert renewed.id_token_claims["sub"] == claims["sub"]
        assert await bearer_works(http, dot_server, renewed)
        assert await client.token() == renewed

        info = await client.introspect()
        assert info.active
        assert info.client_id == dot_server.apps["code-confidential"].client_id
        assert not (await client.introspect(token)).active  # rotated away

        await client.revoke()
        assert not await bearer_works(http, dot_server, renewed)
        assert not (await client.introspect(renewed)).active
        with pytest.raises(anyoauth.LoginRequired):
            await client.token()


async def test_a_revoked_refresh_token_means_login_required(
    dot_server: DotServer, chromium_path: str, http: Any
) -> None:
    strategy = await code_strategy(http, dot_server, "code-confidential", scope="read")
    agent = LoopbackAgent(open_browser=dot_browser(chromium_path, dot_server), timeout=60)
    store = MemoryStore()
    async with Client(strategy, store=store, http=http) as client:
        token = await client.login(agent)
    # Another client of the same store revokes; this one still holds the old token.
    async with Client(strategy, store=store, http=http) as other:
        await other.revoke()
    async with Client(strategy, store=store, http=http) as client:
        await client.set_token(token)
        with pytest.raises(anyoauth.LoginRequired):
            await client.token(rejected=token)
        assert await store.get_token(client.token_key) is None


async def test_denied_login(dot_server: DotServer, chromium_path: str, http: Any) -> None:
    strategy = await code_strategy(http, dot_server, "code-public")
    agent = LoopbackAgent(
        open_browser=dot_browser(chromium_path, dot_server, deny=True), timeout=60
    )
    async with Client(strategy, http=http) as client:
        with pytest.raises(anyoauth.AuthorizationDenied) as denied:
            await client.login(agent)
        assert denied.value.error == "access_denied"
        with pytest.raises(anyoauth.LoginRequired):
            await client.token()


async def fixed_port_login(client: Client, agent: LoopbackAgent) -> tuple[str, PendingFlow]:
    """Run the browser part of a login by hand; return the redirect URL and the pending
    flow (taken back out of the store, so the test can tamper with it)."""
    start = await client.begin()
    key = "pending:" + pending_key(start.state)
    pending = await client.store.take_pending(key)
    assert pending is not None
    async with agent.session(client.strategy) as session:
        url = await session.authorize(start.url)
    return url, pending


async def test_wrong_verifier_and_reused_code(
    dot_server: DotServer, chromium_path: str, http: Any
) -> None:
    port = free_port()
    base = await code_strategy(http, dot_server, "code-confidential")
    strategy_fixed = attrs.evolve(base, redirect_uri=f"http://127.0.0.1:{port}/callback")
    agent = LoopbackAgent(
        port=port, open_browser=dot_browser(chromium_path, dot_server), timeout=60
    )
    async with Client(strategy_fixed, http=http) as client:
        # A wrong PKCE verifier: the server refuses the code.
        url, pending = await fixed_port_login(client, agent)
        forged = attrs.evolve(pending, code_verifier="x" * 64)
        await client.store.put_pending("pending:" + pending_key(pending.state), forged)
        with pytest.raises(anyoauth.TokenRequestError) as refused:
            await client.complete(url)
        assert refused.value.error == "invalid_grant"

        # A code used twice: the second exchange is refused by the server.
        url, pending = await fixed_port_login(client, agent)
        await client.store.put_pending("pending:" + pending_key(pending.state), pending)
        token = await client.complete(url)
        assert token.access_token
        flow = Flow.resume(strategy_fixed, pending)
        request = flow.receive_redirect(strategy_fixed.read_redirect(url), pending.created_at)
        assert not isinstance(request, Token)
        answer = await http.post(
            request.url, headers=dict(request.headers), content=request.content
        )
        with pytest.raises(anyoauth.TokenRequestError) as reused:
            flow.receive_token_response(
                answer.status_code, answer.headers.get("content-type"), answer.content, 0
            )
        assert reused.value.error == "invalid_grant"
        # The same redirect through the client never reaches the server: its state is spent.
        with pytest.raises(anyoauth.StateMismatch):
            await client.complete(url)


# -- implicit -----------------------------------------------------------------------------


async def test_implicit_grant_through_the_fragment_relay(
    dot_server: DotServer, chromium_path: str, http: Any
) -> None:
    app = dot_server.apps["implicit"]
    metadata = await discover(dot_server.issuer, http=http)
    strategy = Implicit.from_metadata(
        metadata,
        client_id=app.client_id,
        redirect_uri="http://127.0.0.1/callback",
        scope="read",
    )
    agent = LoopbackAgent(open_browser=dot_browser(chromium_path, dot_server), timeout=60)
    async with Client(strategy, http=http) as client:
        token = await client.login(agent)
        assert token.refresh_token is None
        assert token.expires_at is not None
        introspected = await _introspect_as_resource_server(http, dot_server, token)
        assert introspected.active


async def _introspect_as_resource_server(
    http: Any, server: DotServer, token: Token
) -> anyoauth.Introspection:
    app = server.apps["resource-server"]
    strategy = ClientCredentials(
        client_id=app.client_id,
        client_secret=secret_of(app),
        token_endpoint=server.token_endpoint,
        introspection_endpoint=server.introspection_endpoint,
    )
    async with Client(strategy, http=http) as client:
        return await client.introspect(token)


# -- client credentials ------------------------------------------------------------------


@pytest.mark.parametrize("app_name", ["service", "service-special"])
async def test_client_credentials_with_basic(
    dot_server: DotServer, http: Any, app_name: str
) -> None:
    app = dot_server.apps[app_name]
    strategy = ClientCredentials.from_metadata(
        await discover(dot_server.issuer, http=http),
        client_id=app.client_id,
        client_secret=secret_of(app),
    )
    assert strategy.client_auth == "client_secret_basic"
    async with Client(strategy, http=http) as client:
        token = await client.token()
        assert token.expires_at is not None
        assert (await _introspect_as_resource_server(http, dot_server, token)).active
        # A 401 from a resource server: a fresh grant, not the same token.
        other = await client.token(rejected=token)
        assert other.access_token != token.access_token


async def test_client_credentials_with_a_wrong_secret(dot_server: DotServer, http: Any) -> None:
    app = dot_server.apps["service"]
    wrong = "wrong-" + secret_of(app)[:10]
    strategy = ClientCredentials(
        client_id=app.client_id, client_secret=wrong, token_endpoint=dot_server.token_endpoint
    )
    async with Client(strategy, http=http) as client:
        with pytest.raises(anyoauth.TokenRequestError) as refused:
            await client.token()
    assert refused.value.error == "invalid_client"
    assert wrong not in str(refused.value)


async def test_raw_basic_credentials_fail_where_the_server_decodes_them(
    dot_server: DotServer, http: Any
) -> None:
    # The secret holds '+', '%', ':' and a space: sent raw, DOT decodes it into another one.
    app = dot_server.apps["service-special"]
    strategy = ClientCredentials(
        client_id=app.client_id,
        client_secret=secret_of(app),
        token_endpoint=dot_server.token_endpoint,
        basic_form_encoded=False,
    )
    async with Client(strategy, http=http) as client:
        with pytest.raises(anyoauth.TokenRequestError) as refused:
            await client.token()
    assert refused.value.error == "invalid_client"


# -- device grant -------------------------------------------------------------------------


async def device_strategy(http: Any, server: DotServer) -> DeviceCode:
    app = server.apps["device"]
    return DeviceCode.from_metadata(
        await discover(server.issuer, http=http),
        client_id=app.client_id,
        # DOT does not list its device endpoint in its metadata.
        device_authorization_endpoint=server.device_authorization_endpoint,
    )


async def test_device_grant(dot_server: DotServer, chromium_path: str, http: Any) -> None:
    strategy = await device_strategy(http, dot_server)
    approver = dot_device_approver(chromium_path, dot_server)
    shown: list[DeviceAuthorization] = []
    async with Client(strategy, http=http) as client, anyio.create_task_group() as tg:

        def show(device: DeviceAuthorization) -> None:
            shown.append(device)
            # The user approves on another device while the client polls.
            tg.start_soon(approver, device.verification_uri, device.user_code)

        with anyio.fail_after(90):
            token = await client.device_login(show)
        assert shown[0].interval == dot_server.device_interval
        assert token.refresh_token
        assert (await _introspect_as_resource_server(http, dot_server, token)).active
        renewed = await client.token(rejected=token)
        assert renewed.refresh_token != token.refresh_token


async def test_device_grant_denied(dot_server: DotServer, chromium_path: str, http: Any) -> None:
    strategy = await device_strategy(http, dot_server)
    denier = dot_device_approver(chromium_path, dot_server, deny=True)
    async with Client(strategy, http=http) as client, anyio.create_task_group() as tg:

        def show(device: DeviceAuthorization) -> None:
            tg.start_soon(denier, device.verification_uri, device.user_code)

        with anyio.fail_after(90), pytest.raises(anyoauth.AuthorizationDenied):
            await client.device_login(show)
