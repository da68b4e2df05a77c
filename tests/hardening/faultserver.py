"""A token endpoint on a real loopback port that misbehaves byte by byte.

:func:`fault_server` listens on 127.0.0.1 (a free port) and answers each connection's
one request with the next :data:`Fault` of its ``script`` (then with ``default``):
well-formed answers, a connection reset in the middle of the body, a body cut
short, a slow-loris body, a 50 MB body, silence, or the provider emulator's own
answer. It counts connections, requests and the body bytes it managed to send,
so tests can assert what the client did without timing anything.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import attrs
import h11

from anyoauth.testing import ProviderEmulator

__all__ = [
    "Exchange",
    "Fault",
    "FaultServer",
    "close_silently",
    "emulator",
    "fault_server",
    "hang",
    "huge",
    "json_answer",
    "processed_then_reset",
    "reset_mid_body",
    "respond",
    "slow_loris",
    "truncated",
]

CHUNK = 64 * 1024
_STREAM_ERRORS = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream, OSError)


@attrs.define
class Received:
    """One request the server read whole."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes = attrs.field(repr=False)


@attrs.define(eq=False)
class Exchange:
    """One connection's request, and the means to answer it badly."""

    stream: anyio.abc.SocketStream
    request: Received
    server: FaultServer

    async def send(self, data: bytes) -> None:
        await self.stream.send(data)

    async def send_head(
        self, status: int, headers: Sequence[tuple[str, str]], length: int | None
    ) -> None:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
        lines += [f"{name}: {value}" for name, value in headers]
        if length is None:
            lines.append("Transfer-Encoding: chunked")
        else:
            lines.append(f"Content-Length: {length}")
        lines.append("Connection: close")
        await self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    async def send_body(self, data: bytes) -> None:
        await self.send(data)
        self.server.body_bytes_sent += len(data)

    async def reset(self) -> None:
        """Abort the connection with a TCP RST (SO_LINGER 0), not a clean close."""
        raw = self.stream.extra(anyio.abc.SocketAttribute.raw_socket)  # noqa: S610
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await self.stream.aclose()


Fault = Callable[[Exchange], Awaitable[None]]
"""Answers (or fails to answer) one request."""

_REASONS = {
    200: "OK",
    302: "Found",
    307: "Temporary Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


@attrs.define(eq=False)
class FaultServer:
    """What the server saw. ``script`` is consumed one fault per request."""

    url: str
    script: list[Fault]
    default: Fault | None
    connections: int = 0
    requests: list[Received] = attrs.Factory(list)
    answers: list[bytes] = attrs.Factory(list)
    """Bodies of the emulator's answers (:func:`emulator`)."""
    body_bytes_sent: int = 0
    _at: list[tuple[str, Fault]] = attrs.Factory(list)

    def next_at(self, path: str, fault: Fault) -> None:
        """Answer the next request for ``path`` (ignoring its query) with ``fault``."""
        self._at.append((path, fault))

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    async def _serve(self, stream: anyio.abc.SocketStream) -> None:
        self.connections += 1
        async with stream:
            try:
                request = await _read_request(stream)
            except (h11.RemoteProtocolError, *_STREAM_ERRORS):
                return  # not HTTP (a TLS handshake, say), or the client went away
            self.requests.append(request)
            fault = self._pop_at(request.target.partition("?")[0])
            if fault is None:
                fault = self.script.pop(0) if self.script else self.default
            if fault is None:
                return
            # The client hanging up is what a fault server expects.
            with contextlib.suppress(*_STREAM_ERRORS):
                await fault(Exchange(stream, request, self))

    def _pop_at(self, path: str) -> Fault | None:
        for index, (where, fault) in enumerate(self._at):
            if where == path:
                del self._at[index]
                return fault
        return None


async def _read_request(stream: anyio.abc.SocketStream) -> Received:
    conn = h11.Connection(h11.SERVER)
    head: h11.Request | None = None
    body = bytearray()
    with anyio.fail_after(10):
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive(CHUNK))
            elif isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
            else:
                raise h11.RemoteProtocolError("unexpected event")
    assert head is not None
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in head.headers}
    return Received(
        method=head.method.decode("ascii"),
        target=head.target.decode("latin-1"),
        headers=headers,
        body=bytes(body),
    )


@asynccontextmanager
async def fault_server(
    *script: Fault, default: Fault | None = None, tls: bool = False
) -> AsyncIterator[FaultServer]:
    """Serve on a free loopback port until the block exits.

    ``tls=True`` only changes the URL's scheme to ``https``: the server still speaks
    plain HTTP, which is how a TLS failure is staged.
    """
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    async with listener, anyio.create_task_group() as tg:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610
        scheme = "https" if tls else "http"
        server = FaultServer(
            url=f"{scheme}://127.0.0.1:{port}", script=list(script), default=default
        )
        tg.start_soon(listener.serve, server._serve)
        try:
            yield server
        finally:
            tg.cancel_scope.cancel()


# -- faults ----------------------------------------------------------------------------------


def respond(
    status: int,
    body: bytes | str = b"",
    *,
    content_type: str | None = "application/json",
    headers: Sequence[tuple[str, str]] = (),
) -> Fault:
    """A well-formed answer."""
    data = body.encode() if isinstance(body, str) else body

    async def fault(exchange: Exchange) -> None:
        extra = [("Content-Type", content_type)] if content_type else []
        await exchange.send_head(status, [*extra, *headers], len(data))
        await exchange.send_body(data)

    return fault


def json_answer(status: int, payload: object, *, headers: Sequence[tuple[str, str]] = ()) -> Fault:
    """A well-formed JSON answer."""
    return respond(status, json.dumps(payload), headers=headers)


def reset_mid_body(payload: bytes) -> Fault:
    """Declare the whole payload, send half of it, then reset the connection."""

    async def fault(exchange: Exchange) -> None:
        await exchange.send_head(200, [("Content-Type", "application/json")], len(payload))
        await exchange.send_body(payload[: len(payload) // 2])
        await anyio.sleep(0.01)  # let the half reach the client before the RST
        await exchange.reset()

    return fault


def truncated(payload: bytes) -> Fault:
    """Declare the whole payload, send half of it, then close cleanly (FIN)."""

    async def fault(exchange: Exchange) -> None:
        await exchange.send_head(200, [("Content-Type", "application/json")], len(payload))
        await exchange.send_body(payload[: len(payload) // 2])
        await exchange.stream.aclose()

    return fault


def slow_loris(interval: float, length: int = 4096) -> Fault:
    """Declare ``length`` bytes, then send one byte every ``interval`` seconds, forever."""

    async def fault(exchange: Exchange) -> None:
        await exchange.send_head(200, [("Content-Type", "application/json")], length)
        for _ in range(length):
            await exchange.send_body(b" ")
            await anyio.sleep(interval)

    return fault


def huge(size: int, *, declared: bool) -> Fault:
    """A ``size``-byte body (a JSON string), sent as long as the client reads it; with
    ``declared`` its length is in ``Content-Length``, else it is chunked."""

    async def fault(exchange: Exchange) -> None:
        await exchange.send_head(
            200, [("Content-Type", "application/json")], size if declared else None
        )
        sent = 0
        piece = b"x" * CHUNK
        while sent < size:
            data = piece[: size - sent]
            if declared:
                await exchange.send_body(data)
            else:
                await exchange.send(b"%x\r\n" % len(data))
                await exchange.send_body(data)
                await exchange.send(b"\r\n")
            sent += len(data)
        if not declared:
            await exchange.send(b"0\r\n\r\n")

    return fault


def hang() -> Fault:
    """Read the request, then never answer."""

    async def fault(exchange: Exchange) -> None:
        await anyio.sleep_forever()

    return fault


def close_silently() -> Fault:
    """Read the request, then close without a word."""

    async def fault(exchange: Exchange) -> None:
        await exchange.stream.aclose()

    return fault


def emulator(provider: ProviderEmulator) -> Fault:
    """The provider emulator's own answer: the endpoint working as it should."""

    async def fault(exchange: Exchange) -> None:
        request = exchange.request
        base = f"http://{request.headers.get('host', '127.0.0.1')}"
        answer = provider.handle(
            request.method, base + request.target, list(request.headers.items()), request.body
        )
        exchange.server.answers.append(answer.body)
        await exchange.send_head(answer.status, list(answer.headers), len(answer.body))
        await exchange.send_body(answer.body)

    return fault


def processed_then_reset(provider: ProviderEmulator) -> Fault:
    """The emulator handles the request (a refresh rotates its refresh token), then the
    connection is reset half-way through the answer: the client never learns the result."""

    async def fault(exchange: Exchange) -> None:
        request = exchange.request
        base = f"http://{request.headers.get('host', '127.0.0.1')}"
        answer = provider.handle(
            request.method, base + request.target, list(request.headers.items()), request.body
        )
        await exchange.send_head(answer.status, list(answer.headers), len(answer.body))
        await exchange.send_body(answer.body[: len(answer.body) // 2])
        await anyio.sleep(0.01)
        await exchange.reset()

    return fault
