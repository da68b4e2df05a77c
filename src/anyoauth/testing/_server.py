"""The emulator on a real loopback port: an anyio listener whose h11 connections pass
each request to a sans-IO ``handle`` function (:meth:`ProviderEmulator.handle`).

With a server ``ssl.SSLContext`` every connection is TLS; the certificate a client
presents (mutual TLS, verified by the context) is :data:`PEER_CERTIFICATE` (DER) while
``handle`` answers its requests. A failed handshake closes its connection and is logged at
debug level only.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import h11
from anyio.streams.tls import TLSAttribute, TLSStream

from ._toolkit import MAX_BODY_BYTES, PEER_CERTIFICATE, EmulatorResponse

Handle = Callable[[str, str, list[tuple[str, str]], bytes], EmulatorResponse]
"""Answers one request: ``handle(method, absolute_url, headers, body)``; the client's TLS
certificate, if any, is :data:`PEER_CERTIFICATE` meanwhile."""

logger = logging.getLogger("anyoauth.testing")

_RECEIVE_SIZE = 64 * 1024
_DRAIN_SECONDS = 2.0
_DRAIN_BYTES = 16 * MAX_BODY_BYTES
_STREAM_ERRORS = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream)
_HANDSHAKE_SECONDS = 10.0


class _TooLarge(Exception):
    pass


@asynccontextmanager
async def serve(
    handle: Handle, host: str, port: int, *, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[str]:
    """Serve ``handle`` until the block exits (over TLS with ``ssl_context``); yield the
    base URL."""
    listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
    async with listener:
        bound = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610
        authority = f"[{host}]" if ":" in host else host
        scheme = "http" if ssl_context is None else "https"
        base_url = f"{scheme}://{authority}:{bound}"
        connection = _Connections(handle, base_url, ssl_context)
        # Entered by hand so that an exception raised in the body is not wrapped
        # in an exception group by the task group.
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        try:
            task_group.start_soon(listener.serve, connection.run)
            yield base_url
        finally:
            task_group.cancel_scope.cancel()
            await task_group.__aexit__(None, None, None)


class _Connections:
    def __init__(
        self, handle: Handle, base_url: str, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.handle = handle
        self.base_url = base_url
        self.scheme = base_url.partition(":")[0]
        self.ssl_context = ssl_context

    async def run(self, stream: anyio.abc.SocketStream) -> None:
        async with stream:
            certificate: bytes | None = None
            if self.ssl_context is not None:
                try:
                    with anyio.fail_after(_HANDSHAKE_SECONDS):
                        tls = await TLSStream.wrap(
                            stream,
                            server_side=True,
                            ssl_context=self.ssl_context,
                            standard_compatible=False,
                        )
                except (*_STREAM_ERRORS, ssl.SSLError, OSError, TimeoutError) as exc:
                    logger.debug("emulator TLS handshake failed (%s)", type(exc).__name__)
                    return
                certificate = tls.extra(TLSAttribute.peer_certificate_binary, None)  # noqa: S610
                served: anyio.abc.ByteStream = tls
            else:
                served = stream
            try:
                await self._serve(served, h11.Connection(h11.SERVER), certificate)
            except (*_STREAM_ERRORS, ssl.SSLError):
                pass
            except Exception:
                logger.exception("emulator connection failed")

    async def _serve(
        self, stream: anyio.abc.ByteStream, conn: h11.Connection, certificate: bytes | None
    ) -> None:
        while True:
            try:
                event = await _next_event(stream, conn)
                if not isinstance(event, h11.Request):
                    return
                body = await _read_body(stream, conn, event)
                response = self._answer(event, body, certificate)
            except h11.RemoteProtocolError:
                if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    await _send(stream, conn, EmulatorResponse(status=400), close=True)
                return
            except _TooLarge:
                too_large = EmulatorResponse(status=413, body=b"request body too large\n")
                await _send(stream, conn, too_large, close=True)
                await _drain(stream)
                return
            await _send(stream, conn, response, head=event.method == b"HEAD")
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()

    def _answer(
        self, request: h11.Request, body: bytes, certificate: bytes | None
    ) -> EmulatorResponse:
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers]
        host = next((v for k, v in headers if k.lower() == "host"), None)
        base = f"{self.scheme}://{host}" if host else self.base_url
        target = request.target.decode("latin-1")
        method = request.method.decode("ascii")
        try:
            presented = PEER_CERTIFICATE.set(certificate)
            try:
                return self.handle(method, base + target, headers, body)
            finally:
                PEER_CERTIFICATE.reset(presented)
        except Exception:
            logger.exception("emulator failed to answer")
            return EmulatorResponse(status=500, body=b"internal error\n")


async def _next_event(
    stream: anyio.abc.ByteStream, conn: h11.Connection
) -> h11.Event | type[h11.PAUSED]:
    while True:
        event = conn.next_event()
        if event is h11.PAUSED or isinstance(event, h11.Event):
            return event
        try:
            data = await stream.receive(_RECEIVE_SIZE)
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            data = b""
        conn.receive_data(data)


async def _drain(stream: anyio.abc.ByteStream) -> None:
    """Read and drop what the client still sends, so that closing does not reset the
    connection before it has read the response."""
    await stream.send_eof()
    with anyio.move_on_after(_DRAIN_SECONDS):
        received = 0
        while received < _DRAIN_BYTES:
            received += len(await stream.receive(_RECEIVE_SIZE))


async def _read_body(
    stream: anyio.abc.ByteStream, conn: h11.Connection, request: h11.Request
) -> bytes:
    length = dict(request.headers).get(b"content-length")
    if length is not None and int(length) > MAX_BODY_BYTES:
        raise _TooLarge
    body = bytearray()
    while True:
        event = await _next_event(stream, conn)
        if isinstance(event, h11.Data):
            body += event.data
            if len(body) > MAX_BODY_BYTES:
                raise _TooLarge
        elif isinstance(event, h11.EndOfMessage):
            return bytes(body)
        else:
            raise h11.RemoteProtocolError("incomplete request body")


async def _send(
    stream: anyio.abc.ByteStream,
    conn: h11.Connection,
    response: EmulatorResponse,
    *,
    close: bool = False,
    head: bool = False,
) -> None:
    headers = [(k, v) for k, v in response.headers if k.lower() != "content-length"]
    headers.append(("Content-Length", str(len(response.body))))
    if close:
        headers.append(("Connection", "close"))
    data = conn.send(h11.Response(status_code=response.status, headers=headers))
    if not head:
        data += conn.send(h11.Data(data=response.body))
    await stream.send(data + conn.send(h11.EndOfMessage()))
