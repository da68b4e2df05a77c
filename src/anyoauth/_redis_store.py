"""A :class:`Store` in Redis, shared by every worker process (and machine) of a fleet.

The store's logic is written once against one tiny command interface, ``await
execute(*args)``, with two transports underneath:

- redis-py's asyncio client: used for a client the user passes in, and for a URL
  when running on asyncio;
- a small anyio-native RESP2 connection pool (replies parsed by hiredis' sans-IO
  reader): used for a URL when running on trio, and usable on asyncio too.

Both are imported lazily, so ``import anyoauth`` works without them installed.

TLS (``rediss://``) is verified the same way on both: the certificate chain against the
system's CAs (plus ``ca_file``) and the server's host name, whatever the redis-py
version; a given client that would skip either check is refused.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import math
import os
import random
import secrets
import ssl
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Protocol, Self

import anyio
import anyio.abc
import attrs

from ._core.errors import ConfigurationError, StoreError
from ._core.token import Token
from ._core.values import PendingFlow
from ._store import EXPIRED_GRACE, dump_pending, dump_token, load_pending, load_token
from ._store import token_fingerprint as _fingerprint

if TYPE_CHECKING:
    import hiredis
    import redis.asyncio

__all__ = ["RedisStore"]

logger = logging.getLogger("anyoauth")

_INSTALL_HINT = "install it with: pip install 'anyoauth[redis]'"
_FIRST_POLL = 0.002
_MIN_TTL_MS = 1000
_RECEIVE_SIZE = 65536

TransportName = Literal["auto", "redis-py", "anyio"]
Arg = bytes | str | int


# -- Lua scripts ----------------------------------------------------------------------


@attrs.frozen
class _Script:
    source: str
    sha: str = attrs.field(init=False)

    @sha.default
    def _sha(self) -> str:
        return hashlib.sha1(self.source.encode(), usedforsecurity=False).hexdigest()


# A token is a hash: v = the token's JSON, fp = its fingerprint. One script writes it,
# unconditionally (ARGV[1] = "0") or only if the stored fingerprint is ARGV[2]
# ("" = nothing stored); ARGV[5] is a TTL in milliseconds, "0" for none.
_WRITE_TOKEN = _Script(
    """
if ARGV[1] == '1' then
  local current = redis.call('HGET', KEYS[1], 'fp')
  if not current then current = '' end
  if current ~= ARGV[2] then return 0 end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[4], 'fp', ARGV[3])
if ARGV[5] ~= '0' then redis.call('PEXPIRE', KEYS[1], ARGV[5]) end
return 1
"""
)

# Compare-and-delete: only the holder (ARGV[1]) releases a lock.
_RELEASE_LOCK = _Script(
    """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
)


# -- the command interface --------------------------------------------------------------


class _NoScript(Exception):
    """The server does not know a script's SHA (EVALSHA answered NOSCRIPT)."""


class _Transport(Protocol):
    async def execute(self, command: str, *args: Arg) -> Any:
        """Run one command; StoreError on failure, _NoScript on NOSCRIPT."""
        ...

    async def aclose(self) -> None:
        """Close the connections this transport created."""
        ...


def _error_code(message: str) -> str:
    """The error code at the start of a Redis error reply (never the rest of it)."""
    word = message.split(" ", 1)[0]
    return word if word.isalpha() and word.isupper() else "ERR"


@attrs.frozen
class _Address:
    """Where the server is, parsed from a URL; ``str()`` never shows the password."""

    scheme: str
    host: str
    port: int
    path: str
    db: int
    username: str | None = attrs.field(repr=False)
    password: str | None = attrs.field(repr=False)

    def __str__(self) -> str:
        if self.scheme == "unix":
            return f"unix://{self.path}?db={self.db}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}/{self.db}"


def _parse_url(url: str) -> _Address:
    # No message below quotes the URL: it may carry a password.
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        raise ConfigurationError("the Redis URL is malformed") from None
    scheme = parts.scheme.lower()
    if scheme not in {"redis", "rediss", "unix"}:
        raise ConfigurationError("a Redis URL starts with redis://, rediss:// or unix://")
    try:
        query = urllib.parse.parse_qs(parts.query, keep_blank_values=True, strict_parsing=False)
    except ValueError:
        raise ConfigurationError("the Redis URL's query string is malformed") from None
    unknown = sorted(set(query) - {"db", "password"})
    if unknown:
        raise ConfigurationError(
            f"unsupported Redis URL option(s) {', '.join(unknown)}; for other options "
            "pass a redis.asyncio.Redis client"
        )
    username = urllib.parse.unquote(parts.username) if parts.username else None
    password = urllib.parse.unquote(parts.password) if parts.password is not None else None
    if "password" in query:
        password = query["password"][-1]
    db_text = query["db"][-1] if "db" in query else ""
    if not db_text and scheme != "unix":
        db_text = parts.path.strip("/")
    try:
        db = int(db_text or "0")
    except ValueError:
        raise ConfigurationError("the Redis database number must be an integer") from None
    if db < 0:
        raise ConfigurationError("the Redis database number must not be negative")
    path = urllib.parse.unquote(parts.path) if scheme == "unix" else ""
    if scheme == "unix" and not path:
        raise ConfigurationError("a unix:// Redis URL needs a socket path")
    return _Address(
        scheme=scheme,
        host=parts.hostname or "localhost",
        port=port or 6379,
        path=path,
        db=db,
        username=username,
        password=password,
    )


# -- transport 1: redis-py's asyncio client -------------------------------------------


class _RedisPyTransport:
    def __init__(
        self,
        client: redis.asyncio.Redis,
        *,
        owned: bool,
        where: str,
        timeout: float | None = None,
    ) -> None:
        import asyncio  # not at module level: ``import anyoauth`` need not load it

        from redis.exceptions import NoScriptError, RedisError, ResponseError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        self._client = client
        self._execute: Callable[..., Awaitable[Any]] = client.execute_command
        self._owned = owned
        self._where = where
        # The deadline of one whole command, for the client this store made (which has
        # no socket timeout: on Python 3.11 redis-py sends through asyncio.wait_for, a
        # task per command). A client the user gave keeps its own timeouts.
        self._timeout = timeout
        self._deadline = asyncio.timeout
        self._no_script: type[Exception] = NoScriptError
        self._response_error: type[Exception] = ResponseError
        self._timeout_errors: tuple[type[Exception], ...] = (RedisTimeoutError, TimeoutError)
        self._errors: tuple[type[Exception], ...] = (RedisError, OSError)

    async def execute(self, command: str, *args: Arg) -> Any:
        try:
            if self._timeout is None:
                return await self._execute(command, *args)
            # Edge-triggered, so redis-py still drops the cut-off connection and returns
            # it to its pool (its own clean-up awaits run), like its socket timeouts.
            async with self._deadline(self._timeout):
                return await self._execute(command, *args)
        except self._no_script:
            raise _NoScript from None
        except self._response_error as exc:
            raise StoreError(f"Redis refused {command} ({_error_code(str(exc))})") from None
        except self._timeout_errors:
            raise StoreError(f"no answer from Redis at {self._where} in time") from None
        except self._errors as exc:
            raise StoreError(_failure(exc, self._where)) from None

    async def aclose(self) -> None:
        if self._owned:
            await self._client.aclose()


def _redis_py_client(address: _Address, timeout: float, ca_file: str | None) -> redis.asyncio.Redis:
    try:
        import redis.asyncio
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
    except ImportError:
        raise ConfigurationError(f"RedisStore on asyncio needs redis-py; {_INSTALL_HINT}") from None
    common: dict[str, Any] = {
        "db": address.db,
        "username": address.username,
        "password": address.password,
        # No socket_timeout: _RedisPyTransport puts one deadline on each whole command.
        "socket_connect_timeout": timeout,
        # One immediate retry on a fresh connection covers a pooled connection the
        # server closed; every command this store sends is safe to repeat.
        "retry": Retry(NoBackoff(), 1),
        "protocol": 2,
    }
    if address.scheme == "unix":
        return redis.asyncio.Redis(unix_socket_path=address.path, **common)
    if address.scheme == "rediss":
        # Every check spelled out: redis-py before 6.0 did not check the host name
        # unless asked (ssl_check_hostname defaulted to False).
        common |= {
            "ssl": True,
            "ssl_cert_reqs": "required",
            "ssl_check_hostname": True,
            "ssl_ca_certs": ca_file,
        }
    return redis.asyncio.Redis(host=address.host, port=address.port, **common)


def _unverified_tls(client: object) -> str | None:
    """What a redis-py client's TLS connections would leave unchecked, or ``None``.

    Asks redis-py itself: an ``SSLConnection`` (never connected) is made from the
    client's ``ssl_*`` settings and the SSL context it would use is inspected, so each
    redis-py version's own defaults count. A client without TLS gives ``None``.
    """
    try:
        from redis.asyncio.connection import SSLConnection
    except ImportError:  # pragma: no cover - the client came from redis-py
        return None
    pool = getattr(client, "connection_pool", None)
    if pool is not None:
        connection_class = getattr(pool, "connection_class", None)
        kwargs = getattr(pool, "connection_kwargs", None)
    else:  # a cluster client keeps its nodes' connection settings itself
        kwargs = getattr(client, "connection_kwargs", None)
        connection_class = kwargs.get("connection_class") if isinstance(kwargs, dict) else None
    if not (isinstance(connection_class, type) and issubclass(connection_class, SSLConnection)):
        return None
    settings = {
        name: value
        for name, value in (kwargs.items() if isinstance(kwargs, dict) else ())
        if isinstance(name, str) and name.startswith("ssl_")
    }
    try:
        context = SSLConnection(**settings).ssl_context.get()
    except Exception as exc:  # any failure: it cannot be told safe
        return f"its TLS settings cannot be used ({type(exc).__name__})"
    if not isinstance(context, ssl.SSLContext):
        return "its TLS settings cannot be read"
    if context.verify_mode != ssl.CERT_REQUIRED:
        return "it does not verify the server's certificate (ssl_cert_reqs='required' does)"
    if not context.check_hostname:
        return "it does not check the server's host name (ssl_check_hostname=True does)"
    return None


def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    """The checks of a ``rediss://`` connection: chain (system CAs plus ``ca_file``) and
    host name, the same as redis-py is told to make."""
    context = ssl.create_default_context()
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=ca_file)
        except (OSError, ValueError) as exc:
            raise ConfigurationError(
                f"RedisStore cannot load the CA certificates in ca_file ({type(exc).__name__})"
            ) from None
    return context


def _failure(exc: BaseException, where: str) -> str:
    """A StoreError's message for a failure to talk to Redis; names no secret.

    A refused TLS certificate says why (OpenSSL's reason: host name or chain), found
    anywhere in the chain of causes redis-py or anyio wrapped it in.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            reason = str(current.verify_message or "verification failed")
            return f"the TLS certificate of Redis at {where} was refused: {reason}"
        current = current.__cause__ or current.__context__
    return f"cannot use Redis at {where} ({type(exc).__name__})"


# -- transport 2: anyio streams, RESP2, hiredis' reader ----------------------------------


def _encode(args: tuple[Arg, ...]) -> bytes:
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


class _Connection:
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


class _AnyioTransport:
    def __init__(
        self,
        address: _Address,
        *,
        timeout: float,
        max_connections: int,
        tls: ssl.SSLContext | None,
    ) -> None:
        try:
            import hiredis
        except ImportError:
            raise ConfigurationError(
                f"RedisStore on trio (or with transport='anyio') needs hiredis; {_INSTALL_HINT}"
            ) from None
        self._hiredis = hiredis
        self._address = address
        self._tls = tls
        self._timeout = timeout
        self._max_idle = max_connections
        self._limiter = anyio.CapacityLimiter(max_connections)
        self._idle: list[_Connection] = []
        self._closed = False
        self._broken: tuple[type[BaseException], ...] = (
            OSError,
            anyio.BrokenResourceError,
            anyio.ClosedResourceError,
            anyio.EndOfStream,
            hiredis.ProtocolError,
        )

    async def execute(self, command: str, *args: Arg) -> Any:
        payload = _encode((command, *args))
        async with self._limiter:
            reply = await self._round_trip(payload)
        if isinstance(reply, self._hiredis.ReplyError):
            code = _error_code(str(reply))
            if code == "NOSCRIPT":
                raise _NoScript
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
                raise StoreError(_failure(exc, str(self._address))) from None
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

    async def _discard(self, connection: _Connection | None) -> None:
        """Drop a failed connection and, as they probably failed too, the idle ones."""
        idle, self._idle = self._idle, []
        for other in [connection, *idle]:
            if other is not None:
                await other.discard()

    async def _connect(self) -> _Connection:
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
        connection = _Connection(stream, self._hiredis.Reader())
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

    async def _handshake(self, connection: _Connection, command: str, *args: Arg) -> None:
        reply = await connection.request(_encode((command, *args)))
        if isinstance(reply, self._hiredis.ReplyError):
            raise StoreError(
                f"Redis at {self._address} refused {command} ({_error_code(str(reply))})"
            )

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.discard()


def _current_backend() -> str:
    try:
        import sniffio
    except ImportError:  # pragma: no cover - trio depends on sniffio
        return "asyncio"
    try:
        return sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        raise ConfigurationError("RedisStore is used outside an event loop") from None


# -- the store ----------------------------------------------------------------------------


class RedisStore:
    """A :class:`Store` in Redis, for fleets of worker processes sharing logins and tokens.

    Args:
        url_or_client: a URL (``redis://[[user]:password@]host[:port][/db]``,
            ``rediss://...`` for TLS, or ``unix://[[user]:password@]/path/to.sock?db=N``),
            or a ``redis.asyncio.Redis`` client (asyncio only), which the store never
            closes. A client that uses TLS must verify the server's certificate and
            host name (``ssl_cert_reqs="required"``, ``ssl_check_hostname=True``), or
            :class:`ConfigurationError` is raised.
        prefix: put in front of every key the store writes.
        clock: seconds since the epoch, the clock the client uses; for TTLs.
        lock_poll: the longest pause, in seconds, between attempts to take a held
            lock (the first pause is 2 ms; each one doubles, with jitter).
        timeout: seconds one command (connecting included) may take.
        transport: ``"auto"`` uses redis-py's asyncio client on asyncio and an anyio
            RESP connection pool on trio; ``"redis-py"`` or ``"anyio"`` force one.
        max_connections: the most connections the anyio transport opens at once.
        ca_file: a PEM file of CA certificates to trust, besides the system's, for a
            ``rediss://`` URL (a private CA, or the server's self-signed certificate).

    A ``rediss://`` URL is verified on every transport and redis-py version allowed: the
    server's certificate must chain to a trusted CA (the system's, ``ca_file``'s, or
    those ``SSL_CERT_FILE`` names) and be issued for the URL's host name or IP address.
    Otherwise nothing is sent (no ``AUTH``) and :class:`StoreError` says the
    certificate was refused. There is no option to turn these checks off.

    With a URL it needs ``pip install 'anyoauth[redis]'`` (redis-py and hiredis);
    connections open on first use, and are closed by :meth:`aclose` (or ``async
    with``). Needs Redis 6.2 or newer.

    Keys are ``prefix + key``; tokens, pending flows and locks share that key space
    (the client's keys never collide: ``token:...``, ``pending:...``). Keys carry no
    secret; values do, so protect the server like a credential store. A token is a
    hash (its JSON and its :func:`token_fingerprint`), which makes
    :meth:`replace_token` one Lua script; it expires :data:`EXPIRED_GRACE` seconds
    after the token does when it cannot be refreshed, and never otherwise. Pending
    flows expire :data:`EXPIRED_GRACE` seconds after their deadline and are taken
    with ``GETDEL``. Locks are ``SET NX PX`` with a random owner, released by a
    compare-and-delete. Every failure of Redis raises :class:`StoreError`, whose
    message names no secret.
    """

    def __init__(
        self,
        url_or_client: str | redis.asyncio.Redis,
        *,
        prefix: str = "anyoauth:",
        clock: Callable[[], float] | None = None,
        lock_poll: float = 0.025,
        timeout: float = 5.0,
        transport: TransportName = "auto",
        max_connections: int = 8,
        ca_file: str | os.PathLike[str] | None = None,
    ) -> None:
        if not isinstance(prefix, str):
            raise ConfigurationError("prefix must be a string")
        if not lock_poll > 0 or not timeout > 0:
            raise ConfigurationError("lock_poll and timeout must be positive")
        if transport not in ("auto", "redis-py", "anyio"):
            raise ConfigurationError("transport must be 'auto', 'redis-py' or 'anyio'")
        if max_connections < 1:
            raise ConfigurationError("max_connections must be at least 1")
        self._client: redis.asyncio.Redis | None = None
        self._address: _Address | None = None
        self._ca_file = None if ca_file is None else os.fspath(ca_file)
        self._tls: ssl.SSLContext | None = None
        if isinstance(url_or_client, str):
            self._address = _parse_url(url_or_client)
            self._where = str(self._address)
            if self._address.scheme == "rediss":
                self._tls = _tls_context(self._ca_file)
            elif ca_file is not None:
                raise ConfigurationError("ca_file needs a rediss:// URL (TLS)")
        else:
            if ca_file is not None:
                raise ConfigurationError(
                    "ca_file applies to a rediss:// URL; give a client its CAs yourself "
                    "(ssl_ca_certs)"
                )
            execute = getattr(url_or_client, "execute_command", None)
            if not inspect.iscoroutinefunction(execute):
                raise ConfigurationError(
                    "RedisStore takes a URL or a redis.asyncio.Redis client (not redis.Redis)"
                )
            if transport == "anyio":
                raise ConfigurationError("transport='anyio' needs a URL, not a client")
            self._client = url_or_client
            self._where = _describe_client(url_or_client)
            problem = _unverified_tls(url_or_client)
            if problem is not None:
                raise ConfigurationError(
                    f"RedisStore refuses the Redis client {self._where} for TLS: {problem}"
                )
        self.prefix = prefix
        self._clock = clock or time.time
        self._lock_poll = max(lock_poll, _FIRST_POLL)
        self._timeout = timeout
        self._transport_name: TransportName = transport
        self._max_connections = max_connections
        self._transport: _Transport | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"<RedisStore {self._where} prefix={self.prefix!r}>"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections the store opened (never a client it was given).

        The store cannot be used afterwards.
        """
        self._closed = True
        transport, self._transport = self._transport, None
        if transport is not None:
            await transport.aclose()

    # -- tokens ---------------------------------------------------------------------------

    async def get_token(self, key: str) -> Token | None:
        """The token stored under ``key``, or ``None``."""
        data = await self._execute("HGET", self._key(key), "v")
        return None if data is None else load_token(data)

    async def set_token(self, key: str, token: Token) -> None:
        """Store ``token`` under ``key``, replacing any other (a fresh login)."""
        await self._write_token(key, None, token)

    async def replace_token(self, key: str, expected: Token | None, token: Token) -> bool:
        """Store ``token`` only if the stored token is still ``expected`` (atomic, in Lua).

        ``expected`` is compared by :func:`token_fingerprint`; ``None`` means "nothing
        stored". Returns whether ``token`` was written.
        """
        return await self._write_token(key, _fingerprint(expected), token)

    async def delete_token(self, key: str) -> None:
        """Forget the token under ``key`` (no error if there is none)."""
        await self._execute("DEL", self._key(key))

    async def _write_token(self, key: str, expected: str | None, token: Token) -> bool:
        conditional = "0" if expected is None else "1"
        args = (conditional, expected or "", _fingerprint(token), dump_token(token))
        written = await self._eval(_WRITE_TOKEN, self._key(key), *args, self._token_ttl(token))
        return bool(written)

    def _token_ttl(self, token: Token) -> int:
        """Milliseconds a token is kept: forever (0) if it can be refreshed or never expires."""
        if token.refresh_token or token.expires_at is None:
            return 0
        return self._ttl(token.expires_at)

    def _ttl(self, expires_at: float) -> int:
        if not math.isfinite(expires_at):
            return 0
        return max(_MIN_TTL_MS, math.ceil((expires_at + EXPIRED_GRACE - self._clock()) * 1000))

    # -- pending flows --------------------------------------------------------------------

    async def put_pending(self, key: str, pending: PendingFlow) -> None:
        """Keep ``pending`` under ``key`` until taken, or until its ``expires_at``
        plus :data:`EXPIRED_GRACE`."""
        ttl = self._ttl(pending.expires_at)
        args: tuple[Arg, ...] = ("PX", ttl) if ttl else ()
        await self._execute("SET", self._key(key), dump_pending(pending), *args)

    async def take_pending(self, key: str) -> PendingFlow | None:
        """Remove and return the pending flow under ``key``; ``None`` if there is none.

        Atomic (``GETDEL``): of every worker asking, at most one gets the flow.
        """
        data = await self._execute("GETDEL", self._key(key))
        return None if data is None else load_pending(data)

    # -- locks ----------------------------------------------------------------------------

    def lock(self, key: str, *, ttl: float, wait: float) -> AbstractAsyncContextManager[None]:
        """Hold the exclusive lock named ``key``, across every process sharing the
        server, for the body of an ``async with``.

        Waits at most ``wait`` seconds, then raises :class:`StoreError`; waiting can
        be cancelled. A holder that dies or hangs loses the lock after ``ttl``
        seconds, and a holder whose ``ttl`` ran out never releases a lock someone
        else took since. Not reentrant: a holder asking again waits for itself.
        """
        if not ttl > 0:
            raise ConfigurationError("a lock's ttl must be positive")
        return self._hold(self._key(key), max(1, math.ceil(ttl * 1000)), wait)

    @asynccontextmanager
    async def _hold(self, name: str, ttl_ms: int, wait: float) -> AsyncIterator[None]:
        owner = secrets.token_hex(16)
        await self._acquire(name, owner, ttl_ms, wait)
        try:
            yield
        finally:
            await self._release(name, owner)

    async def _acquire(self, name: str, owner: str, ttl_ms: int, wait: float) -> None:
        self._get_transport()  # configuration errors surface here, not as a lock timeout
        deadline = anyio.current_time() + max(wait, 0.0)
        pause = _FIRST_POLL
        sending = False
        try:
            while True:
                sending = True
                if await self._execute("SET", name, owner, "NX", "PX", ttl_ms):
                    return
                sending = False
                left = deadline - anyio.current_time()
                if left <= 0:
                    break
                jitter = random.uniform(0.5, 1.0)  # noqa: S311 - not a secret
                await anyio.sleep(min(left, pause * jitter))
                pause = min(pause * 2, self._lock_poll)
        except BaseException:
            if sending:
                # A SET cut short may still have taken the lock: give it back at once.
                await self._release(name, owner, held=False)
            raise
        raise StoreError(f"lock not acquired within {wait} s")

    async def _release(self, name: str, owner: str, *, held: bool = True) -> None:
        # Shielded, so a cancelled holder still releases; bounded, so a hung server
        # cannot hold the caller forever. A failure is not raised: it would hide the
        # body's own outcome, and the lock expires after its ttl anyway.
        with anyio.move_on_after(self._timeout, shield=True):
            try:
                await self._eval(_RELEASE_LOCK, name, owner)
            except StoreError:
                if held:
                    logger.warning("a Redis lock was not released; it expires after its ttl")

    # -- plumbing -------------------------------------------------------------------------

    def _key(self, key: str) -> str:
        return self.prefix + key

    async def _eval(self, script: _Script, key: str, *args: Arg) -> Any:
        try:
            return await self._execute("EVALSHA", script.sha, 1, key, *args)
        except _NoScript:
            return await self._execute("EVAL", script.source, 1, key, *args)

    async def _execute(self, command: str, *args: Arg) -> Any:
        return await self._get_transport().execute(command, *args)

    def _get_transport(self) -> _Transport:
        if self._closed:
            raise StoreError("this RedisStore is closed")
        if self._transport is None:
            self._transport = self._new_transport()
        return self._transport

    def _new_transport(self) -> _Transport:
        backend = _current_backend()
        if self._client is not None:
            if backend != "asyncio":
                raise ConfigurationError(
                    f"a redis.asyncio.Redis client only runs on asyncio, not {backend}; "
                    "give RedisStore a URL instead"
                )
            return _RedisPyTransport(self._client, owned=False, where=self._where)
        assert self._address is not None
        name = self._transport_name
        if name == "auto":
            name = "redis-py" if backend == "asyncio" else "anyio"
        if name == "redis-py":
            if backend != "asyncio":
                raise ConfigurationError(
                    f"transport='redis-py' only runs on asyncio, not {backend}"
                )
            client = _redis_py_client(self._address, self._timeout, self._ca_file)
            problem = _unverified_tls(client)
            if problem is not None:  # pragma: no cover - this redis-py ignored a setting
                raise ConfigurationError(f"redis-py cannot make a verified connection: {problem}")
            return _RedisPyTransport(client, owned=True, where=self._where, timeout=self._timeout)
        return _AnyioTransport(
            self._address,
            timeout=self._timeout,
            max_connections=self._max_connections,
            tls=self._tls,
        )


def _describe_client(client: object) -> str:
    """``client=Redis(host:port/db)`` without credentials."""
    pool = getattr(client, "connection_pool", None)
    kwargs = getattr(pool, "connection_kwargs", None)
    name = type(client).__name__
    if not isinstance(kwargs, dict):
        return f"client={name}"
    if kwargs.get("path"):
        return f"client={name}(unix://{kwargs['path']}?db={kwargs.get('db', 0)})"
    return f"client={name}({kwargs.get('host')}:{kwargs.get('port')}/{kwargs.get('db', 0)})"
