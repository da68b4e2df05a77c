"""The transport over redis-py's asyncio client, and the TLS checks of a redis-py client.

RedisStore uses it for a ``redis.asyncio.Redis`` client the user passes in (never
closed by the store) and, on asyncio, for a URL (a client the store makes and closes).
redis-py is imported only when one is made, so ``import anyoauth`` works without it.

A client made for a ``rediss://`` URL spells out every TLS check (certificate chain and
host name) whatever the redis-py version; :func:`unverified_tls` asks redis-py what a
given client would leave unchecked, so the store can refuse it.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

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
    import redis.asyncio

__all__ = ["RedisPyTransport", "describe_client", "redis_py_client", "unverified_tls"]


class RedisPyTransport:
    """Commands sent through a redis-py asyncio client (closed on ``aclose`` if ``owned``)."""

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
            raise NoScript from None
        except self._response_error as exc:
            raise StoreError(f"Redis refused {command} ({error_code(str(exc))})") from None
        except self._timeout_errors:
            raise StoreError(f"no answer from Redis at {self._where} in time") from None
        except self._errors as exc:
            raise StoreError(describe_failure(exc, self._where)) from None

    async def aclose(self) -> None:
        if self._owned:
            await self._client.aclose()


def redis_py_client(address: Address, timeout: float, ca_file: str | None) -> redis.asyncio.Redis:
    """The redis-py client RedisStore makes for a URL: one deadline per command (set by
    :class:`RedisPyTransport`), one retry on a fresh connection, and for ``rediss://``
    every TLS check spelled out."""
    try:
        import redis.asyncio
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
    except ImportError:
        raise ConfigurationError(f"RedisStore on asyncio needs redis-py; {INSTALL_HINT}") from None
    common: dict[str, Any] = {
        "db": address.db,
        "username": address.username,
        "password": address.password,
        # No socket_timeout: RedisPyTransport puts one deadline on each whole command.
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


def unverified_tls(client: object) -> str | None:
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


def describe_client(client: object) -> str:
    """``client=Redis(host:port/db)`` without credentials."""
    pool = getattr(client, "connection_pool", None)
    kwargs = getattr(pool, "connection_kwargs", None)
    name = type(client).__name__
    if not isinstance(kwargs, dict):
        return f"client={name}"
    if kwargs.get("path"):
        return f"client={name}(unix://{kwargs['path']}?db={kwargs.get('db', 0)})"
    return f"client={name}({kwargs.get('host')}:{kwargs.get('port')}/{kwargs.get('db', 0)})"
