"""A :class:`Store` in Redis, shared by every worker process (and machine) of a fleet.

This module owns the store's logic: the keys, the values and their TTLs, the Lua
scripts (compare-and-set of a token, compare-and-delete of a lock), lock polling, and
which transport runs the commands. The logic is written once against one tiny
command interface, ``await execute(*args)`` (:mod:`anyoauth._redis_transport`), with
two transports underneath:

- redis-py's asyncio client (:mod:`anyoauth._redis_py_transport`): used for a client
  the user passes in, and for a URL when running on asyncio;
- a small anyio-native RESP2 connection pool (replies parsed by hiredis' sans-IO
  reader, :mod:`anyoauth._redis_resp`): used for a URL when running on trio, and
  usable on asyncio too.

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
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

import anyio
import attrs

from ._core.errors import ConfigurationError, StoreError
from ._core.token import Token
from ._core.values import PendingFlow
from ._redis_py_transport import (
    RedisPyTransport,
    describe_client,
    redis_py_client,
    unverified_tls,
)
from ._redis_resp import AnyioTransport
from ._redis_transport import Address, Arg, NoScript, Transport, parse_url, tls_context
from ._store import EXPIRED_GRACE, dump_pending, dump_token, load_pending, load_token
from ._store import token_fingerprint as _fingerprint

if TYPE_CHECKING:
    import redis.asyncio

__all__ = ["RedisStore", "TransportName"]

logger = logging.getLogger("anyoauth")

_FIRST_POLL = 0.002
_MIN_TTL_MS = 1000

TransportName = Literal["auto", "redis-py", "anyio"]
"""Which transport a RedisStore uses (see its ``transport`` argument)."""


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
        self._address: Address | None = None
        self._ca_file = None if ca_file is None else os.fspath(ca_file)
        self._tls: ssl.SSLContext | None = None
        if isinstance(url_or_client, str):
            self._address = parse_url(url_or_client)
            self._where = str(self._address)
            if self._address.scheme == "rediss":
                self._tls = tls_context(self._ca_file)
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
            self._where = describe_client(url_or_client)
            problem = unverified_tls(url_or_client)
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
        self._transport: Transport | None = None
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
        except NoScript:
            return await self._execute("EVAL", script.source, 1, key, *args)

    async def _execute(self, command: str, *args: Arg) -> Any:
        return await self._get_transport().execute(command, *args)

    def _get_transport(self) -> Transport:
        if self._closed:
            raise StoreError("this RedisStore is closed")
        if self._transport is None:
            self._transport = self._new_transport()
        return self._transport

    def _new_transport(self) -> Transport:
        backend = _current_backend()
        if self._client is not None:
            if backend != "asyncio":
                raise ConfigurationError(
                    f"a redis.asyncio.Redis client only runs on asyncio, not {backend}; "
                    "give RedisStore a URL instead"
                )
            return RedisPyTransport(self._client, owned=False, where=self._where)
        assert self._address is not None
        name = self._transport_name
        if name == "auto":
            name = "redis-py" if backend == "asyncio" else "anyio"
        if name == "redis-py":
            if backend != "asyncio":
                raise ConfigurationError(
                    f"transport='redis-py' only runs on asyncio, not {backend}"
                )
            client = redis_py_client(self._address, self._timeout, self._ca_file)
            problem = unverified_tls(client)
            if problem is not None:  # pragma: no cover - this redis-py ignored a setting
                raise ConfigurationError(f"redis-py cannot make a verified connection: {problem}")
            return RedisPyTransport(client, owned=True, where=self._where, timeout=self._timeout)
        return AnyioTransport(
            self._address,
            timeout=self._timeout,
            max_connections=self._max_connections,
            tls=self._tls,
        )


def _current_backend() -> str:
    try:
        import sniffio
    except ImportError:  # pragma: no cover - trio depends on sniffio
        return "asyncio"
    try:
        return sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        raise ConfigurationError("RedisStore is used outside an event loop") from None
