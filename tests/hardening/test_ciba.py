"""CIBA attacks (docs/security.md, rule 34): pings and hostile backchannel servers.

- A ping must carry ``Authorization: Bearer <client_notification_token>`` of a login
  this client is waiting for (compared in constant time) and that login's
  ``auth_req_id``: forged (wrong or missing token, another scheme), replayed, for an
  unknown ``auth_req_id``, malformed or huge pings raise :class:`InvalidNotification`
  with the status to answer (401 or 400) and wake nothing; the login then keeps its
  own pace (it polls at the interval).
- A hostile interval (``0``) never makes the client poll faster than once a second; a
  huge ``expires_in`` is capped at a day.
- The ``auth_req_id`` and the notification token are secrets: never in a log record,
  a repr, or an error, even when the server echoes them.
- A ``binding_message`` with control characters is refused before any request.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import anyoauth
from anyoauth import BackchannelAuthorization, Ciba, Client, InvalidNotification
from anyoauth.testing import ManualClock, ProviderEmulator

pytestmark = pytest.mark.anyio

BASE = "https://as.example"
SECRET = "bank-client-secret-SENTINEL-0123456789"
CIBA_GRANT = "urn:openid:params:grant-type:ciba"
NOTIFY = "https://kiosk.example/ciba/notify"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def bank(clock: ManualClock) -> ProviderEmulator:
    emulator = ProviderEmulator(clock=clock, base_url=BASE)
    for client_id in ("teller", "kiosk"):
        emulator.add_oauth_client(client_id, client_secret=SECRET, grant_types=[CIBA_GRANT])
    emulator.set_oauth_backchannel_mode("kiosk", "ping", NOTIFY)
    return emulator


@pytest.fixture
async def http(bank: ProviderEmulator, http_module: ModuleType) -> AsyncIterator[Any]:
    async with http_module.AsyncClient(transport=bank.mock_transport(http_module)) as client:
        yield client


async def strategy(http: Any, client_id: str) -> Ciba:
    metadata = await anyoauth.discover(BASE, http=http)
    mode = "ping" if client_id == "kiosk" else "poll"
    return Ciba.from_metadata(
        metadata, client_id=client_id, client_secret=SECRET, delivery_mode=mode
    )


@pytest.fixture
async def notify_http(http_module: ModuleType) -> AsyncIterator[tuple[Any, list[Client]]]:
    """POSTs to the kiosk's notification endpoint reach ``receive_ping`` of the client
    in the list; a refusal answers its status."""
    clients: list[Client] = []

    async def endpoint(request: Any) -> Any:
        try:
            clients[0].receive_ping(request.headers.get("authorization"), request.content)
        except InvalidNotification as exc:
            return http_module.Response(exc.status_code)
        return http_module.Response(204)

    async with http_module.AsyncClient(transport=http_module.MockTransport(endpoint)) as client:
        yield client, clients


async def pinged_login(
    bank: ProviderEmulator, http: Any, notify: tuple[Any, list[Client]], clock: ManualClock
) -> tuple[list[int], BackchannelAuthorization, Client]:
    """A kiosk login whose user approves at once, and whose pings are delivered; the
    statuses the notification endpoint answered, the login's answer and its client."""
    notify_http, registry = notify
    statuses: list[int] = []
    seen: list[BackchannelAuthorization] = []
    client = Client(await strategy(http, "kiosk"), http=http, clock=clock)
    registry.append(client)

    async def deliver() -> None:
        await anyio.sleep(0.05)
        statuses.extend(await bank.deliver_backchannel_notifications(notify_http))

    async with anyio.create_task_group() as tg:

        def show(approval: BackchannelAuthorization) -> None:
            seen.append(approval)
            bank.approve_backchannel("dave")
            tg.start_soon(deliver)

        with anyio.fail_after(10):
            await client.backchannel_login(login_hint="dave", show=show)
    return statuses, seen[0], client


@pytest.mark.parametrize(
    ("attack", "status"), [("wrong_notification_token", 401), ("wrong_auth_req_id", 400)]
)
async def test_a_forged_ping_is_refused_and_the_login_keeps_its_own_pace(
    bank: ProviderEmulator,
    http: Any,
    notify_http: tuple[Any, list[Client]],
    clock: ManualClock,
    attack: str,
    status: int,
) -> None:
    bank.oauth_ciba_attack = attack
    bank.oauth_ciba_interval = 1
    statuses, _, client = await pinged_login(bank, http, notify_http, clock)
    assert statuses == [status]
    # The login still ended: by its own poll at the interval, not by the forged ping.
    assert await client.token()
    await client.aclose()


def ping_of(approval: BackchannelAuthorization) -> tuple[str, bytes]:
    assert approval.client_notification_token is not None
    body = json.dumps({"auth_req_id": approval.auth_req_id}).encode()
    return f"Bearer {approval.client_notification_token}", body


async def test_a_replayed_ping_and_a_ping_after_the_login_are_refused(
    bank: ProviderEmulator, http: Any, notify_http: tuple[Any, list[Client]], clock: ManualClock
) -> None:
    bank.oauth_ciba_interval = 300
    statuses, approval, client = await pinged_login(bank, http, notify_http, clock)
    assert statuses == [204]
    header, body = ping_of(approval)
    with pytest.raises(InvalidNotification) as caught:
        client.receive_ping(header, body)  # the login is over: nothing waits for it
    assert caught.value.status_code == 401
    await client.aclose()


async def test_a_second_ping_for_a_waiting_login_wakes_nothing(
    bank: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    bank.oauth_ciba_interval = 300
    refusals: list[InvalidNotification] = []
    async with Client(await strategy(http, "kiosk"), http=http, clock=clock) as client:

        def show(approval: BackchannelAuthorization) -> None:
            header, body = ping_of(approval)
            client.receive_ping(header, body)
            try:
                client.receive_ping(header, body)
            except InvalidNotification as exc:
                refusals.append(exc)
            bank.approve_backchannel("gil")

        with anyio.fail_after(10):
            await client.backchannel_login(login_hint="gil", show=show)
    (refusal,) = refusals
    assert refusal.status_code == 400
    assert "already" in str(refusal)


@pytest.mark.parametrize(
    ("header", "body", "status"),
    [
        (None, b"", 401),
        ("Basic dGVsbGVyOnM=", b"{}", 401),
        ("Bearer", b"{}", 401),
        ("Bearer not-the-token", b'{"auth_req_id": "x"}', 401),
        ("Bearer bad\x1b[31mtoken", b"{}", 401),
        ("<token>", b"not json", 400),
        ("<token>", b'["auth_req_id"]', 400),
        ("<token>", b'{"auth_req_id": 5}', 400),
        ("<token>", b'{"auth_req_id": "someone-else"}', 400),
        ("<token>", b"{" + b" " * 20000 + b"}", 400),
    ],
)
async def test_malformed_and_unknown_pings_are_refused_without_waking(
    bank: ProviderEmulator,
    http: Any,
    clock: ManualClock,
    header: str | None,
    body: bytes,
    status: int,
) -> None:
    bank.oauth_ciba_interval = 1
    refusals: list[InvalidNotification] = []
    shown: list[tuple[str, str, str]] = []
    async with Client(await strategy(http, "kiosk"), http=http, clock=clock) as client:

        def show(approval: BackchannelAuthorization) -> None:
            token = approval.client_notification_token
            assert token is not None
            sent = header.replace("<token>", f"Bearer {token}") if header else header
            try:
                client.receive_ping(sent, body)
            except InvalidNotification as exc:
                refusals.append(exc)
                shown.append((str(exc), token, approval.auth_req_id))
            bank.approve_backchannel("hal")
            # A valid ping for this login still works after a refused one.
            client.receive_ping(*ping_of(approval))

        with anyio.fail_after(10):
            await client.backchannel_login(login_hint="hal", show=show)
    (refusal,) = refusals
    assert refusal.status_code == status
    ((message, token, auth_req_id),) = shown
    assert token not in message
    assert auth_req_id not in message


async def test_a_ping_to_a_client_with_no_waiting_login_is_refused(
    bank: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    async with Client(await strategy(http, "kiosk"), http=http, clock=clock) as client:
        with pytest.raises(InvalidNotification) as caught:
            client.receive_ping("Bearer anything", b'{"auth_req_id": "x"}')
    assert caught.value.status_code == 401


async def test_interval_zero_never_polls_faster_than_once_a_second(
    bank: ProviderEmulator, http: Any, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    bank.oauth_ciba_interval = 0
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.now += seconds
        if len(waits) == 5:
            bank.approve_backchannel("ivy")
        await anyio.lowlevel.checkpoint()

    monkeypatch.setattr(anyio, "sleep", sleep)
    async with Client(await strategy(http, "teller"), http=http, clock=clock) as client:
        await client.backchannel_login(login_hint="ivy")
    assert len(waits) == 5
    assert min(waits) >= 1.0


async def test_a_huge_expires_in_is_capped_at_a_day(
    bank: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    bank.oauth_ciba_expires_in = 10**15
    seen: list[BackchannelAuthorization] = []
    async with Client(await strategy(http, "teller"), http=http, clock=clock) as client:

        def show(approval: BackchannelAuthorization) -> None:
            seen.append(approval)
            bank.approve_backchannel("jo")

        await client.backchannel_login(login_hint="jo", show=show)
    assert seen[0].expires_at <= clock() + 24 * 3600


async def test_auth_req_id_and_notification_token_are_never_logged(
    bank: ProviderEmulator,
    http: Any,
    notify_http: tuple[Any, list[Client]],
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    bank.oauth_ciba_interval = 1
    statuses, approval, client = await pinged_login(bank, http, notify_http, clock)
    await client.aclose()
    assert statuses == [204]
    text = caplog.text + "".join(repr(r.args) for r in caplog.records)
    assert approval.auth_req_id not in text
    assert str(approval.client_notification_token) not in text
    assert approval.auth_req_id not in repr(approval)


async def test_an_echoed_auth_req_id_is_redacted_from_the_error(http_module: ModuleType) -> None:
    auth_req_id = "arid-ECHOED-SECRET-0123456789"

    async def server(request: Any) -> Any:
        if request.url.path == "/bc":
            return http_module.Response(
                200, json={"auth_req_id": auth_req_id, "expires_in": 60, "interval": 1}
            )
        form = request.content.decode()
        return http_module.Response(
            400,
            json={
                "error": "transaction_failed",
                "error_description": f"failed for {auth_req_id} ({form})",
            },
        )

    ciba = Ciba(
        client_id="teller",
        client_secret=SECRET,
        backchannel_authentication_endpoint=BASE + "/bc",
        token_endpoint=BASE + "/token",
        scope="openid",
    )
    async with (
        http_module.AsyncClient(transport=http_module.MockTransport(server)) as http,
        Client(ciba, http=http) as client,
    ):
        with anyio.fail_after(10), pytest.raises(anyoauth.TokenRequestError) as caught:
            await client.backchannel_login(login_hint="kim")
    error = caught.value
    assert error.error == "transaction_failed"
    for shown in (str(error), repr(error), str(error.error_description)):
        assert auth_req_id not in shown
        assert SECRET not in shown


@pytest.mark.parametrize(
    "message", ["Pay\x1b[2J 5 EUR", "Pay\r\nX-Evil: 1", "\u202eRUE 5 yaP", "x" * 257, ""]
)
async def test_a_binding_message_with_control_characters_is_refused_before_sending(
    bank: ProviderEmulator, http: Any, clock: ManualClock, message: str
) -> None:
    async with Client(await strategy(http, "teller"), http=http, clock=clock) as client:
        with pytest.raises(anyoauth.ConfigurationError, match="binding_message"):
            await client.backchannel_login(login_hint="lee", binding_message=message)
    assert bank.oauth_backchannel_received == []
