"""OpenID CIBA (Client-Initiated Backchannel Authentication Core 1.0) against panva's
oidc-provider, a certified server we did not write: ``Client.backchannel_login()`` in
poll mode and in ping mode (the provider's ping reaches this test's own loopback
notification endpoint, which hands it to ``Client.receive_ping``), a denial, and the
provider's id_token validated."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from types import ModuleType
from typing import Any

import anyio
import anyio.abc
import pytest

import anyoauth
from anyoauth import BackchannelAuthorization, Ciba, Client, discover
from interop.op import CibaOp

pytestmark = pytest.mark.anyio


@pytest.fixture
async def http(http_module: ModuleType) -> AsyncIterator[Any]:
    async with http_module.AsyncClient(follow_redirects=False, timeout=20.0) as client:
        yield client


async def strategy(http: Any, op: CibaOp, name: str, **settings: Any) -> Ciba:
    client = op.clients[name]
    return Ciba.from_metadata(
        await discover(op.server.issuer, http=http),
        client_id=client.client_id,
        client_secret=client.client_secret,
        delivery_mode="ping" if name == "ciba-ping" else "poll",
        **settings,
    )


def decide_later(
    op: CibaOp, hint: str, allow: bool, tg: anyio.abc.TaskGroup
) -> Callable[..., None]:
    """A ``show`` that has the user decide, in a thread (the provider pings this test's
    endpoint before it answers the decision)."""

    def show(approval: BackchannelAuthorization) -> None:
        async def decide() -> None:
            await anyio.sleep(0.2)
            await anyio.to_thread.run_sync(lambda: op.decide(hint, allow=allow))

        tg.start_soon(decide)

    return show


async def test_poll_mode_login_at_oidc_provider(op_server_ciba: CibaOp, http: Any) -> None:
    metadata = (await discover(op_server_ciba.server.issuer, http=http)).raw
    assert set(metadata["backchannel_token_delivery_modes_supported"]) == {"poll", "ping"}
    async with (
        Client(await strategy(http, op_server_ciba, "ciba-poll"), http=http) as client,
        anyio.create_task_group() as tg,
    ):
        with anyio.fail_after(30):
            token = await client.backchannel_login(
                login_hint="alice",
                binding_message="Till 3",
                show=decide_later(op_server_ciba, "alice", True, tg),
            )
    assert token.id_token_claims is not None
    assert token.id_token_claims["sub"] == "alice"
    assert token.refresh_token


async def test_a_denial_at_oidc_provider_raises_authorization_denied(
    op_server_ciba: CibaOp, http: Any
) -> None:
    async with (
        Client(await strategy(http, op_server_ciba, "ciba-poll"), http=http) as client,
        anyio.create_task_group() as tg,
    ):
        with anyio.fail_after(30), pytest.raises(anyoauth.AuthorizationDenied):
            await client.backchannel_login(
                login_hint="bob", show=decide_later(op_server_ciba, "bob", False, tg)
            )


async def serve_notifications(
    client_box: list[Client], statuses: list[int], *, task_status: anyio.abc.TaskStatus[int]
) -> None:
    """A loopback notification endpoint: one HTTP/1.1 request per connection, handed to
    the client's ``receive_ping``; answers 204, or the refusal's status."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)

    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            data = b""
            while b"\r\n\r\n" not in data:
                data += await stream.receive()
            head, _, body = data.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {
                k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])
            }
            length = int(headers.get("content-length", "0"))
            while len(body) < length:
                body += await stream.receive()
            status = 204
            try:
                client_box[0].receive_ping(headers.get("authorization"), body)
            except anyoauth.InvalidNotification as exc:
                status = exc.status_code
            statuses.append(status)
            await stream.send(
                f"HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".encode()
            )

    async with listener:
        task_status.started(listener.extra(anyio.abc.SocketAttribute.local_port))  # noqa: S610
        await listener.serve(handle)


async def test_ping_mode_login_at_oidc_provider(op_server_ciba: CibaOp, http: Any) -> None:
    client = Client(await strategy(http, op_server_ciba, "ciba-ping"), http=http)
    statuses: list[int] = []
    async with client, anyio.create_task_group() as tg:
        port = await tg.start(serve_notifications, [client], statuses)
        await anyio.to_thread.run_sync(
            lambda: op_server_ciba.send_pings_to(f"http://127.0.0.1:{port}")
        )
        started = anyio.current_time()
        with anyio.fail_after(30):
            token = await client.backchannel_login(
                login_hint="carol", show=decide_later(op_server_ciba, "carol", True, tg)
            )
        # Woken by the ping: sooner than the 5 s interval oidc-provider's clients wait.
        assert anyio.current_time() - started < 4.5
        tg.cancel_scope.cancel()
    assert statuses == [204]
    assert token.id_token_claims is not None
    assert token.id_token_claims["sub"] == "carol"
