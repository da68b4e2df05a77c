"""Redirect URIs the loopback listener takes its host, port and path from.

A strategy's loopback ``redirect_uri`` decides where :class:`LoopbackAgent` listens.
One the listener cannot serve exactly (dot segments a browser rewrites, a query the
provider would append to, user information, ``localhost`` or another loopback
address it does not bind, a bad port) is refused before anything is bound; a
contradiction with the agent's own settings too. Once listening, the listener counts
a result only on the derived path: the default ``/callback``, a path that normalises
to the derived one, and longer paths are ignored, and the login goes on.
"""

from __future__ import annotations

import re
import socket
from typing import Any

import anyio
import pytest

import anyoauth
from anyoauth import ConfigurationError
from anyoauth.agents import LoopbackAgent

pytestmark = pytest.mark.anyio


def strategy(redirect_uri: str) -> anyoauth.Strategy:
    return anyoauth.Strategy(
        client_id="plain",
        authorization_endpoint="https://as.example/authorize",
        token_endpoint="https://as.example/token",
        redirect_uri=redirect_uri,
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def is_open(port: int) -> bool:
    try:
        stream = await anyio.connect_tcp("127.0.0.1", port)
    except OSError:
        return False
    await stream.aclose()
    return True


async def request(port: int, target: str, cookie: str = "") -> bytes:
    extra = f"Cookie: {cookie}\r\n" if cookie else ""
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(
            f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}\r\n".encode()
        )
        received = b""
        with anyio.fail_after(5):
            while True:
                try:
                    received += await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    return received


async def open_session(redirect_uri: str) -> None:
    async with LoopbackAgent().session(strategy(redirect_uri)):
        pytest.fail("the listener was bound")


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1/a/../cb",
        "http://127.0.0.1/%2e%2e/cb",
        "http://127.0.0.1/./cb",
        "http://127.0.0.1/cb/%2E",
        "http://127.0.0.1//cb",
        "http://127.0.0.1:{port}/cb?next=https://evil.example",
        "http://127.0.0.1:{port}/cb?",
        "http://user:pass@127.0.0.1:{port}/cb",
        "http://localhost:{port}/cb",
        "http://127.0.0.2:{port}/cb",
        "http://127.0.0.1:99999/cb",
    ],
)
async def test_a_redirect_uri_the_listener_cannot_serve_exactly_is_refused(
    redirect_uri: str,
) -> None:
    port = free_port()
    with pytest.raises(ConfigurationError):
        await open_session(redirect_uri.format(port=port))
    assert not await is_open(port)


async def test_conflicting_settings_bind_nothing() -> None:
    mine, theirs = free_port(), free_port()
    with pytest.raises(ConfigurationError, match=f"port {mine} .*{theirs}"):
        async with LoopbackAgent(port=mine).session(strategy(f"http://127.0.0.1:{theirs}/cb")):
            pytest.fail("the listener was bound")
    assert not await is_open(mine)
    assert not await is_open(theirs)


async def test_the_listener_counts_a_result_only_on_the_derived_path() -> None:
    port = free_port()
    redirect_uri = f"http://127.0.0.1:{port}/cb"
    result: list[str] = []
    async with LoopbackAgent().session(strategy(redirect_uri)) as session:
        assert session.redirect_uri == redirect_uri

        async def wait() -> None:
            result.append(await session.authorize("https://as.example/authorize?state=s"))

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            start = await request(port, "/start/" + session.start_url.rsplit("/", 1)[1])
            found = re.search(rb"Set-Cookie: ([^;]+); Path=([^;]+);", start)
            assert found is not None
            assert found.group(2) == b"/cb"
            cookie = found.group(1).decode()
            for stray in ("/callback", "/x/../cb", "/cb/", "/cb/x", "/CB", "/%63b"):
                answer: Any = await request(port, f"{stray}?code=c&state=s", cookie)
                assert answer.startswith(b"HTTP/1.1 404 "), stray
            assert result == []
            answer = await request(port, "/cb?code=c&state=s", cookie)
            assert answer.startswith(b"HTTP/1.1 200 ")
    assert result == [f"{redirect_uri}?code=c&state=s"]
    assert not await is_open(port)
