"""A small RESP2 client over anyio streams, with hiredis' sans-IO reader parsing replies.

RedisStore uses it for a URL on trio (redis-py's client runs only on asyncio), and on
asyncio with ``transport="anyio"``. It owns encoding a command (:func:`encode_command`),
one connection's request/reply (:class:`Connection`), and a bounded pool of
connections with connecting, ``AUTH``/``SELECT``, TLS, a deadline per command and one
retry on a fresh connection (:class:`AnyioTransport`). hiredis is imported only when a
transport is made, so ``import anyoauth`` works without it.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from ._core.errors import ConfigurationError, StoreError
from ._redis_transport import (
    INSTALL_HINT,
    Address,
    Arg,
    NoScript,
    describe_failure,
    error_code,
)

if TYPE_CHECKING:
    import hiredis

__all__ = ["AnyioTransport", "Connection", "encode_command"]

_RECEIVE_SIZE = 65536


def encode_command(args: tuple[Arg, ...]) -> bytes:
    """A command as a RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode()
        else:
            data = b"%d" % arg
        out += (b"$%d\r\n" % len(data), data, b"\r\n")
    return b"".join(out)


class Connection:
    """One stream to the server and the reader parsing what it receives."""

    def __init__(self, stream: anyio.abc.ByteStream, reader: hiredis.Reader) -> None:
        self.stream = stream
        self.reader = reader

    async def request(self, payload: bytes) -> Any:
        await self.stream.send(payload)
        while True:
            reply = self.reader.gets()
            if reply is not False:
                return reply
            self.reader.feed(await self.stream.receive(_RECEIVE_SIZE))

    async def discard(self) -> None:
        # Shielded: under a cancelled scope, trio re-raises Cancelled once the stream is
        # closed, which would stop a caller closing several connections after the first.
        with anyio.CancelScope(shield=True):
            await anyio.aclose_forcefully(self.stream)


class AnyioTransport:
    """A pool of at most ``max_connections`` RESP2 connections over anyio streams."""

    def __init__(
        self,
        address: Address,
        *,
        timeout: float,
        max_connections: int,
        tls: ssl.SSLContext | None,
    ) -> None:
        try:
            import hiredis
        except ImportError:
            raise ConfigurationError(
                f"RedisStore on trio (or with transport='anyio') needs hiredis; {INSTALL_HINT}"
            ) from None
        self._hiredis = hiredis
        self._address = address
        self._tls = tls
        self._timeout = timeout
        self._max_idle = max_connections
        self._limiter = anyio.CapacityLimiter(max_connections)
        self._idle: list[Connection] = []
        self._closed = False
        self._broken: tuple[type[BaseException], ...] = (
            OSError,
            anyio.BrokenResourceError,
            anyio.ClosedResourceError,
            anyio.EndOfStream,
            hiredis.ProtocolError,
        )

    async def execute(self, command: str, *args: Arg) -> Any:
        payload = encode_command((command, *args))
        async with self._limiter:
            reply = await self._round_trip(payload)
        if isinstance(reply, self._hiredis.ReplyError):
            code = error_code(str(reply))
            if code == "NOSCRIPT":
                raise NoScript
            raise StoreError(f"Redis refused {command} ({code})")
        return reply

    async def _round_trip(self, payload: bytes) -> Any:
        for attempt in range(2):
            connection = self._idle.pop() if self._idle and attempt == 0 else None
            reused = connection is not None
            try:
                with anyio.fail_after(self._timeout):
                    if connection is None:
                        connection = await self._connect()
                    reply = await connection.request(payload)
            except TimeoutError:
                await self._discard(connection)
                raise StoreError(
                    f"no answer from Redis at {self._address} within {self._timeout} s"
                ) from None
            except self._broken as exc:
                await self._discard(connection)
                if reused:
                    # The server may have closed an idle connection (restart, timeout):
                    # try once more on a new one. Every command here is safe to repeat.
                    continue
                raise StoreError(describe_failure(exc, str(self._address))) from None
            except BaseException:
                # Cancelled (or failed) mid-command: the connection's state is unknown.
                await self._discard(connection)
                raise
            if self._closed or len(self._idle) >= self._max_idle:
                await connection.discard()
            else:
                self._idle.append(connection)
            return reply
        raise AssertionError("unreachable")  # pragma: no cover

    async def _discard(self, connection: Connection | None) -> None:
        """Drop a failed connection and, as they probably failed too, the idle ones."""
        idle, self._idle = self._idle, []
        for other in [connection, *idle]:
            if other is not None:
                await other.discard()

    async def _connect(self) -> Connection:
        address = self._address
        stream: anyio.abc.ByteStream
        if address.scheme == "unix":
            stream = await anyio.connect_unix(address.path)
        elif address.scheme == "rediss":
            assert self._tls is not None
            stream = await anyio.connect_tcp(
                address.host,
                address.port,
                tls=True,
                ssl_context=self._tls,
                tls_hostname=address.host,
                tls_standard_compatible=False,
            )
        else:
            stream = await anyio.connect_tcp(address.host, address.port)
        connection = Connection(stream, self._hiredis.Reader())
        try:
            if address.password is not None:
                auth: tuple[Arg, ...] = (address.password,)
                if address.username:
                    auth = (address.username, *auth)
                await self._handshake(connection, "AUTH", *auth)
            if address.db:
                await self._handshake(connection, "SELECT", address.db)
        except BaseException:
            await connection.discard()
            raise
        return connection

    async def _handshake(self, connection: Connection, command: str, *args: Arg) -> None:
        reply = await connection.request(encode_command((command, *args)))
        if isinstance(reply, self._hiredis.ReplyError):
            raise StoreError(
                f"Redis at {self._address} refused {command} ({error_code(str(reply))})"
            )

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.discard()
