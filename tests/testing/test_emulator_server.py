"""The loopback server: HTTP/1.1 keep-alive, concurrency, limits and a clean shutdown."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import anyio
import h11
import httpx
import pytest

from anyoauth.testing import (
    GENI_AUTHORIZE_PATH,
    GENI_SUCCESS_PATH,
    MAX_BODY_BYTES,
    TEAMWORK_TOKEN_PATH,
    ProviderEmulator,
    browse,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def emulator() -> ProviderEmulator:
    emulator = ProviderEmulator()
    emulator.add_geni_app("geni-app")
    return emulator


def port_of(base_url: str) -> int:
    port = urlsplit(base_url).port
    assert port is not None
    return port


async def exchange(
    stream: anyio.abc.SocketStream, conn: h11.Connection, request: h11.Request, body: bytes = b""
) -> tuple[h11.Response, bytes]:
    await stream.send(
        conn.send(request) + conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage())
    )
    response: h11.Response | None = None
    data = b""
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await stream.receive())
        elif isinstance(event, h11.Response):
            response = event
        elif isinstance(event, h11.Data):
            data += event.data
        elif isinstance(event, h11.EndOfMessage):
            assert response is not None
            return response, data


def get(path: str, host: str) -> h11.Request:
    return h11.Request(method="GET", target=path, headers=[("Host", host)])


async def test_keep_alive_serves_several_requests_on_one_connection(
    emulator: ProviderEmulator,
) -> None:
    async with emulator.serve() as base:
        host = urlsplit(base).netloc
        async with await anyio.connect_tcp("127.0.0.1", port_of(base)) as stream:
            conn = h11.Connection(h11.CLIENT)
            for path in (GENI_SUCCESS_PATH, "/nothing", GENI_SUCCESS_PATH):
                response, body = await exchange(stream, conn, get(path, host))
                assert response.status_code in (200, 404)
                assert body
                conn.start_next_cycle()
    assert emulator.calls["geni.auth_success"] == 2
    assert emulator.calls["not_found"] == 1


async def test_concurrent_connections(emulator: ProviderEmulator) -> None:
    results: list[str] = []
    async with emulator.serve() as base:
        url = f"{base}{GENI_AUTHORIZE_PATH}?client_id=geni-app&response_type=token&display=desktop"

        async def user() -> None:
            async with httpx.AsyncClient() as http:
                results.append(await browse(http, url))

        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                for _ in range(20):
                    tg.start_soon(user)
    tokens = {
        dict(p.split("=") for p in r.split("#")[1].split("&"))["access_token"] for r in results
    }
    assert len(tokens) == 20
    assert all(emulator.is_valid_token(t) for t in tokens)


async def test_generated_urls_follow_the_host_header(emulator: ProviderEmulator) -> None:
    emulator.add_teamwork_app("tw", "secret", ["myapp://cb"])
    async with emulator.serve() as base, httpx.AsyncClient() as http:
        localhost = base.replace("127.0.0.1", "localhost")
        page = await http.get(f"{base}/launchpad/login?client_id=tw&redirect_uri=myapp://cb")
        assert page.status_code == 200
        answer = await http.get(
            f"{base}{GENI_AUTHORIZE_PATH}?client_id=nope",
            headers={"Host": urlsplit(localhost).netloc},
        )
        assert answer.headers["Location"].startswith(f"{localhost}/platform/oauth/auth_failed#")


async def test_bodies_over_one_mebibyte_are_refused(emulator: ProviderEmulator) -> None:
    async with emulator.serve() as base, httpx.AsyncClient() as http:
        headers = {"Content-Type": "application/json"}
        limit = await http.post(
            base + TEAMWORK_TOKEN_PATH, content=b" " * MAX_BODY_BYTES, headers=headers
        )
        assert limit.status_code == 400
        assert limit.json()["error"] == "invalid_request"
        over = await http.post(
            base + TEAMWORK_TOKEN_PATH, content=b" " * (MAX_BODY_BYTES + 1), headers=headers
        )
        assert over.status_code == 413

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(MAX_BODY_BYTES // 65536 + 1):
                yield b" " * 65536

        chunked = await http.post(base + TEAMWORK_TOKEN_PATH, content=chunks(), headers=headers)
        assert chunked.status_code == 413
        assert (await http.get(base + GENI_SUCCESS_PATH)).status_code == 200
    assert emulator.calls["teamwork.token"] == 1


async def test_malformed_requests_get_400_and_a_closed_connection(
    emulator: ProviderEmulator,
) -> None:
    async with (
        emulator.serve() as base,
        await anyio.connect_tcp("127.0.0.1", port_of(base)) as stream,
    ):
        await stream.send(b"NOT AN HTTP REQUEST\r\n\r\n")
        received = b""
        with anyio.fail_after(5):
            while True:
                try:
                    received += await stream.receive()
                except anyio.EndOfStream:
                    break
        assert received.startswith(b"HTTP/1.1 400 ")


async def test_shutdown_closes_idle_connections_and_the_port(emulator: ProviderEmulator) -> None:
    with anyio.fail_after(10):
        async with emulator.serve() as base:
            idle = await anyio.connect_tcp("127.0.0.1", port_of(base))
            async with httpx.AsyncClient() as http:
                assert (await http.get(base + GENI_SUCCESS_PATH)).status_code == 200
                pooled = http
            assert pooled.is_closed
        async with idle:
            with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                await idle.receive()
        with pytest.raises(OSError):  # noqa: PT011
            await anyio.connect_tcp("127.0.0.1", port_of(base))


async def test_exceptions_in_the_block_are_not_wrapped(emulator: ProviderEmulator) -> None:
    with pytest.raises(KeyError, match="boom"):
        async with emulator.serve():
            raise KeyError("boom")


async def test_serve_on_ipv6_loopback(emulator: ProviderEmulator) -> None:
    try:
        async with emulator.serve(host="::1") as base, httpx.AsyncClient() as http:
            assert base.startswith("http://[::1]:")
            assert (await http.get(base + GENI_SUCCESS_PATH)).status_code == 200
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
