"""Faults on the token endpoint (docs/security.md, rules 6 and
10): each one gives a typed error within
the client's total deadline, and the stored token and refresh token stay exactly as they
were. Every fault runs twice: in-process (an httpx/httpx2 MockTransport) and on a real
loopback port (``faultserver``, which misbehaves byte by byte).

The client refreshes an expired token, so the retry rules show too: the number of
requests the endpoint saw is asserted for every fault (see ``test_retries.py`` for the
rules themselves).
"""

from __future__ import annotations

import gzip
import tracemalloc
from contextlib import AsyncExitStack
from types import ModuleType

import anyio
import pytest

import anyoauth
from anyoauth.testing import ManualClock
from redis_server import free_port
from support.internals import DEFAULT_MAX_RESPONSE_BYTES

from . import faultserver as fs
from .catalogue import (
    BIG,
    CASES,
    GUARD,
    IDS,
    PIECE,
    Case,
    Endpoint,
    gzip_bomb,
    wire_fault,
)
from .common import FRESH, FRESH_BODY, ORIGINAL, Waits, stored, strategy

pytestmark = pytest.mark.anyio


async def refresh_fails(client: anyoauth.Client, case: Case) -> anyoauth.OAuthError:
    """Refresh, expecting ``case.error`` within the client's deadline; the store untouched."""
    before = await stored(client)
    assert before is not None
    with anyio.fail_after(case.timeout + GUARD), pytest.raises(anyoauth.OAuthError) as raised:
        await client.token()
    assert type(raised.value) is case.error, repr(raised.value)
    assert await stored(client) == before  # access token and refresh token untouched
    return raised.value


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_in_process(http_module: ModuleType, case: Case) -> None:
    endpoint = Endpoint(http_module, case.name)
    waits = Waits()
    async with http_module.AsyncClient(transport=http_module.MockTransport(endpoint)) as http:
        client = anyoauth.Client(
            strategy("https://as.example/token"),
            http=http,
            clock=ManualClock(),
            timeout=case.timeout,
            retries=waits.policy(),
        )
        await client.set_token(ORIGINAL)
        error = await refresh_fails(client, case)
    assert endpoint.count == case.requests
    assert len(waits.waits) == case.requests - 1
    if case.name == "50mb-declared":
        assert endpoint.pulled == 0  # refused on its Content-Length, unread
    if case.name == "50mb-chunked":
        assert endpoint.pulled <= DEFAULT_MAX_RESPONSE_BYTES + PIECE
    if case.name == "slow-loris":
        assert "within 0.5 s" in str(error)  # the total deadline fired
    if case.name == "gzip-bomb":
        assert "larger than" in str(error)


# -- on a real loopback port ----------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_on_loopback(http_module: ModuleType, case: Case) -> None:
    waits = Waits()
    # A per-read timeout short enough for "read-timeout", and long enough that only the
    # total deadline can stop the slow-loris body (one byte every 0.05 s).
    per_read = 0.2 if case.name == "read-timeout" else 5.0
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(
            http_module.AsyncClient(timeout=http_module.Timeout(per_read))
        )
        server: fs.FaultServer | None = None
        if case.name == "connection-refused":
            url = f"http://127.0.0.1:{free_port()}/token"
        else:
            server = await stack.enter_async_context(
                fs.fault_server(default=wire_fault(case.name), tls=case.name == "tls-failure")
            )
            url = server.url + "/token"
        client = anyoauth.Client(
            strategy(url),
            http=http,
            clock=ManualClock(),
            timeout=case.timeout,
            retries=waits.policy(),
        )
        await client.set_token(ORIGINAL)
        await refresh_fails(client, case)
        assert len(waits.waits) == case.requests - 1
        if server is None:
            return
        if case.name == "tls-failure":
            assert server.connections == 1  # a TLS failure is not retried
            assert server.requests == []
            return
        assert len(server.requests) == case.requests
        assert {r.headers["accept-encoding"] for r in server.requests} == {"identity"}
        if case.name == "50mb-declared":
            # Refused on its Content-Length: only what the kernel buffered was sent.
            assert server.body_bytes_sent < BIG // 4
        if case.name == "50mb-chunked":
            assert server.body_bytes_sent < BIG // 4


# -- huge bodies are never held whole ---------------------------------------------------------


async def test_a_gzip_bomb_is_never_inflated_whole(http_module: ModuleType) -> None:
    endpoint = Endpoint(http_module, "gzip-bomb")
    gzip_bomb()  # compressed before measuring
    async with http_module.AsyncClient(transport=http_module.MockTransport(endpoint)) as http:
        client = anyoauth.Client(
            strategy("https://as.example/token"),
            http=http,
            clock=ManualClock(),
            retries=Waits().policy(),
        )
        await client.set_token(ORIGINAL)
        tracemalloc.start()
        try:
            with pytest.raises(anyoauth.TokenEndpointUnavailable, match="larger than"):
                await client.token()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 8 * DEFAULT_MAX_RESPONSE_BYTES  # far from the 50 MB it inflates to


async def test_a_compressed_token_response_within_the_cap_is_read(
    http_module: ModuleType,
) -> None:
    """A server that compresses although asked for ``identity`` still works."""
    async with (
        fs.fault_server(
            default=fs.respond(
                200, gzip.compress(FRESH_BODY), headers=[("Content-Encoding", "gzip")]
            )
        ) as server,
        http_module.AsyncClient() as http,
    ):
        client = anyoauth.Client(strategy(server.url + "/token"), http=http, clock=ManualClock())
        await client.set_token(ORIGINAL)
        token = await client.token()
    assert token.access_token == FRESH["access_token"]
    assert token.refresh_token == FRESH["refresh_token"]


@pytest.mark.parametrize("encoding", ["br", "gzip, gzip", "compress"])
async def test_an_unknown_content_encoding_is_typed(http_module: ModuleType, encoding: str) -> None:
    async with (
        fs.fault_server(
            default=fs.respond(200, FRESH_BODY, headers=[("Content-Encoding", encoding)])
        ) as server,
        http_module.AsyncClient() as http,
    ):
        client = anyoauth.Client(strategy(server.url + "/token"), http=http, clock=ManualClock())
        await client.set_token(ORIGINAL)
        before = await stored(client)
        with pytest.raises(anyoauth.TokenEndpointUnavailable, match="content encoding"):
            await client.token()
        assert await stored(client) == before
    assert len(server.requests) == 1


# -- the other token requests: a code exchange and client credentials store nothing -------


FAULT_SAMPLE = ["503", "reset-mid-body", "html-200", "50mb-chunked", "slow-loris"]


@pytest.mark.parametrize("name", FAULT_SAMPLE)
async def test_a_failed_code_exchange_stores_nothing(http_module: ModuleType, name: str) -> None:
    endpoint = Endpoint(http_module, name)
    case = next(c for c in CASES if c.name == name)
    waits = Waits()
    async with http_module.AsyncClient(transport=http_module.MockTransport(endpoint)) as http:
        client = anyoauth.Client(
            strategy("https://as.example/token"),
            http=http,
            clock=ManualClock(),
            timeout=case.timeout,
            retries=waits.policy(),
        )
        start = await client.begin()
        with anyio.fail_after(case.timeout + GUARD), pytest.raises(case.error):
            await client.complete(f"https://app.example/callback?code=C0DE&state={start.state}")
        assert await stored(client) is None
    # A lost answer to a code exchange is never resent: the code works once.
    assert endpoint.count == (3 if name == "503" else 1)


@pytest.mark.parametrize("name", FAULT_SAMPLE)
async def test_a_failed_client_credentials_grant_stores_nothing(
    http_module: ModuleType, name: str
) -> None:
    endpoint = Endpoint(http_module, name)
    case = next(c for c in CASES if c.name == name)
    async with http_module.AsyncClient(transport=http_module.MockTransport(endpoint)) as http:
        client = anyoauth.Client(
            anyoauth.ClientCredentials(
                client_id="svc", client_secret="s", token_endpoint="https://as.example/token"
            ),
            http=http,
            timeout=case.timeout,
            retries=Waits().policy(),
        )
        with anyio.fail_after(case.timeout + GUARD), pytest.raises(case.error):
            await client.token()
        assert await stored(client) is None
    assert endpoint.count == (3 if name == "503" else 1)
