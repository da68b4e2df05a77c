"""The command interface RedisStore is written against, and what every transport shares.

A transport runs one Redis command at a time, ``await execute(command, *args)``, and
turns every failure into :class:`~anyoauth.StoreError` (or :class:`NoScript` when the
server does not know a script). This module owns that interface (:class:`Transport`),
the server's address parsed from a URL (:class:`Address`, whose ``str()`` never shows a
password), the TLS checks of a ``rediss://`` URL (:func:`tls_context`) and the messages
a failure gets (:func:`error_code`, :func:`describe_failure`), which name no secret.

The transports: :mod:`anyoauth._redis_py_transport` (redis-py's asyncio client) and
:mod:`anyoauth._redis_resp` (RESP2 over anyio streams). Neither redis-py nor hiredis is
imported here.
"""

from __future__ import annotations

import ssl
import urllib.parse
from typing import Any, Protocol

import attrs

from ._core.errors import ConfigurationError

__all__ = [
    "INSTALL_HINT",
    "Address",
    "Arg",
    "NoScript",
    "Transport",
    "describe_failure",
    "error_code",
    "parse_url",
    "tls_context",
]

INSTALL_HINT = "install it with: pip install 'anyoauth[redis]'"

Arg = bytes | str | int
"""One argument of a command, sent as a bulk string."""


class NoScript(Exception):
    """The server does not know a script's SHA (EVALSHA answered NOSCRIPT)."""


class Transport(Protocol):
    """Runs commands on one Redis server for a RedisStore."""

    async def execute(self, command: str, *args: Arg) -> Any:
        """Run one command; StoreError on failure, NoScript on NOSCRIPT."""
        ...

    async def aclose(self) -> None:
        """Close the connections this transport created."""
        ...


def error_code(message: str) -> str:
    """The error code at the start of a Redis error reply (never the rest of it)."""
    word = message.split(" ", 1)[0]
    return word if word.isalpha() and word.isupper() else "ERR"


@attrs.frozen
class Address:
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


def parse_url(url: str) -> Address:
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
    return Address(
        scheme=scheme,
        host=parts.hostname or "localhost",
        port=port or 6379,
        path=path,
        db=db,
        username=username,
        password=password,
    )


def tls_context(ca_file: str | None) -> ssl.SSLContext:
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


def describe_failure(exc: BaseException, where: str) -> str:
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
