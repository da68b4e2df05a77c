"""``Client.backchannel_login()`` (OpenID CIBA Core 1.0) against the emulator's generic
server: poll and ping modes, denial, expiry, a validated id_token, the
request's parameters, ``receive_ping`` waking the login, and ``login()`` pointing
elsewhere."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import anyio
import pytest

import anyoauth
from anyoauth import BackchannelAuthorization, Ciba, Client
from anyoauth.testing import ManualClock, ProviderEmulator

from .helpers import BASE, EMULATED_SECRET, metadata

pytestmark = pytest.mark.anyio

CIBA_GRANT = "urn:openid:params:grant-type:ciba"
NOTIFY = "https://bank-app.example/ciba/notify"


@pytest.fixture
def bank(emulator: ProviderEmulator) -> ProviderEmulator:
    """The emulator with two CIBA clients: ``teller`` polls, ``kiosk`` is pinged."""
    for client_id in ("teller", "kiosk"):
        emulator.add_oauth_client(
            client_id, client_secret=EMULATED_SECRET, grant_types=[CIBA_GRANT, "refresh_token"]
        )
    emulator.set_oauth_backchannel_mode("kiosk", "ping", NOTIFY)
    emulator.oauth_ciba_interval = 0
    return emulator


async def ciba(http: Any, client_id: str = "teller", **settings: Any) -> Ciba:
    mode = "ping" if client_id == "kiosk" else "poll"
    settings.setdefault("delivery_mode", mode)
    return Ciba.from_metadata(
        await metadata(http), client_id=client_id, client_secret=EMULATED_SECRET, **settings
    )


@pytest.fixture
async def notifier(http_module: ModuleType) -> AsyncIterator[tuple[Any, list[Client]]]:
    """An HTTP client whose POSTs reach the kiosk's notification endpoint: a handler
    that passes each ping to the registered client's ``receive_ping``."""
    clients: list[Client] = []

    async def endpoint(request: Any) -> Any:
        try:
            clients[0].receive_ping(request.headers.get("authorization"), request.content)
        except anyoauth.InvalidNotification as exc:
            return http_module.Response(exc.status_code)
        return http_module.Response(204)

    transport = http_module.MockTransport(endpoint)
    async with http_module.AsyncClient(transport=transport) as client:
        yield client, clients


async def test_poll_mode_login_returns_a_token_with_verified_identity(
    bank: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    shown: list[BackchannelAuthorization] = []

    def approve(approval: BackchannelAuthorization) -> None:
        shown.append(approval)
        bank.approve_backchannel("alice@bank.example")

    async with Client(await ciba(http), http=http, clock=clock) as client:
        token = await client.backchannel_login(
            login_hint="alice@bank.example", binding_message="Pay 12.50 EUR", show=approve
        )
        assert bank.is_valid_token(token.access_token)
        assert token.id_token_claims is not None
        assert token.id_token_claims["sub"] == "emulated-user-1"
        assert await client.token() == token
    assert shown[0].binding_message == "Pay 12.50 EUR"
    assert shown[0].mode == "poll"
    assert "auth_req_id" not in repr(shown[0])


async def test_the_request_carries_hint_options_and_openid_scope(
    bank: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    async with Client(await ciba(http, scope="openid profile"), http=http, clock=clock) as client:
        await client.backchannel_login(
            login_hint="bob",
            binding_message="Sign in at the till",
            requested_expiry=120,
            acr_values=["urn:bank:strong"],
            show=lambda _: bank.approve_backchannel("bob"),
        )
    (sent,) = bank.oauth_backchannel_received
    assert sent["scope"] == "openid profile"
    assert sent["login_hint"] == "bob"
    assert sent["binding_message"] == "Sign in at the till"
    assert sent["requested_expiry"] == "120"
    assert sent["acr_values"] == "urn:bank:strong"
    assert "client_notification_token" not in sent


async def test_denial_raises_authorization_denied(
    bank: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    async with Client(await ciba(http), http=http, clock=clock) as client:
        with pytest.raises(anyoauth.AuthorizationDenied):
            await client.backchannel_login(
                login_hint="alice", show=lambda _: bank.approve_backchannel("alice", allow=False)
            )
        assert await client.store.get_token(client.token_key) is None


async def test_a_request_nobody_approves_expires(
    bank: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    bank.oauth_ciba_expires_in = 3

    async def later() -> None:
        while True:
            await anyio.sleep(0.01)
            clock.advance(1.0)

    async with Client(await ciba(http), http=http, clock=clock) as client:
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(later)
                with pytest.raises(anyoauth.FlowExpired):
                    await client.backchannel_login(login_hint="nobody")
                tg.cancel_scope.cancel()


async def test_ping_wakes_the_login_before_its_interval(
    bank: ProviderEmulator, http: Any, clock: ManualClock, notifier: tuple[Any, list[Client]]
) -> None:
    bank.oauth_ciba_interval = 300  # without the ping, the first poll waits 5 minutes
    notify_http, registry = notifier
    statuses: list[int] = []

    async with Client(await ciba(http, "kiosk"), http=http, clock=clock) as client:
        registry.append(client)

        async def deliver() -> None:
            await anyio.sleep(0.05)
            statuses.extend(await bank.deliver_backchannel_notifications(notify_http))

        async with anyio.create_task_group() as tg:

            def show(approval: BackchannelAuthorization) -> None:
                assert approval.mode == "ping"
                assert "client_notification_token" not in repr(approval)
                bank.approve_backchannel("dave")
                tg.start_soon(deliver)

            with anyio.fail_after(5):
                token = await client.backchannel_login(login_hint="dave", show=show)
    assert statuses == [204]
    assert bank.is_valid_token(token.access_token)
    (sent,) = bank.oauth_backchannel_received
    assert len(sent["client_notification_token"]) >= 43  # 256 bits, base64url


async def test_ping_mode_still_polls_at_the_interval_when_no_ping_comes(
    bank: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    bank.oauth_ciba_interval = 1
    async with Client(await ciba(http, "kiosk"), http=http, clock=clock) as client:
        with anyio.fail_after(10):
            token = await client.backchannel_login(
                login_hint="erin", show=lambda _: bank.approve_backchannel("erin")
            )
    assert bank.is_valid_token(token.access_token)


async def test_each_login_sends_a_fresh_notification_token(
    bank: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    bank.oauth_ciba_interval = 1
    async with Client(await ciba(http, "kiosk"), http=http, clock=clock) as client:
        for user in ("f1", "f2"):

            def approve(_: BackchannelAuthorization, user: str = user) -> None:
                bank.approve_backchannel(user)

            with anyio.fail_after(10):
                await client.backchannel_login(login_hint=user, show=approve)
    first, second = bank.oauth_backchannel_received
    assert first["client_notification_token"] != second["client_notification_token"]


async def test_login_points_a_ciba_strategy_to_backchannel_login(
    bank: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    async with Client(await ciba(http), http=http, clock=clock) as client:
        with pytest.raises(anyoauth.ConfigurationError, match="backchannel_login"):
            await client.login()


async def test_backchannel_login_refuses_other_strategies_and_bad_hints(
    bank: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    strategy = anyoauth.ClientCredentials(
        client_id="service", client_secret=EMULATED_SECRET, token_endpoint=BASE + "/oauth/token"
    )
    async with Client(strategy, http=http, clock=clock) as client:
        with pytest.raises(anyoauth.ConfigurationError, match="not a backchannel"):
            await client.backchannel_login(login_hint="alice")
    async with Client(await ciba(http), http=http, clock=clock) as client:
        with pytest.raises(anyoauth.ConfigurationError, match="exactly one"):
            await client.backchannel_login(login_hint="a", id_token_hint="b")
        with pytest.raises(anyoauth.ConfigurationError, match="exactly one"):
            await client.backchannel_login()
    assert bank.oauth_backchannel_received == []
