"""``rediss://`` is verified on every RedisStore transport: the server's certificate must
chain to a trusted CA and name the host, or nothing (no ``AUTH``) is sent.

Real ``redis-server`` processes serve TLS only, with certificates made by ``trustme``:
one for another host name, one from a CA nobody trusts, one that is right. A recording
TLS listener stands in for a man in the middle, to show that a refused server never
receives the password. The nox ``tests`` session runs this file with the newest redis-py
and with the lowest one ``pyproject.toml`` allows.
"""

from __future__ import annotations

import ssl
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import hiredis
import pytest
import redis
import redis.asyncio
import trustme
from anyio.streams.tls import TLSStream

import anyoauth
from anyoauth import RedisStore
from anyoauth.stores import TransportName
from redis_server import RedisServer, TLSFiles, redis_executable
from stores.contract import make_token

pytestmark = [pytest.mark.anyio, pytest.mark.stack]

PASSWORD = "PASSWORD-SENTINEL-5d1e"


def transports(anyio_backend: str) -> list[TransportName]:
    """Every transport that runs on this backend (``auto`` is one of them)."""
    return ["redis-py", "anyio"] if anyio_backend == "asyncio" else ["anyio"]


@dataclass
class PKI:
    """A trusted CA (its PEM in ``ca_file``) and one nobody trusts."""

    directory: Path
    trusted: trustme.CA = field(default_factory=trustme.CA)
    untrusted: trustme.CA = field(default_factory=trustme.CA)

    @property
    def ca_file(self) -> str:
        return str(self.directory / "trusted-ca.pem")

    def files(self, name: str, ca: trustme.CA, *identities: str) -> TLSFiles:
        """A server certificate for ``identities`` issued by ``ca``, written to files."""
        leaf = ca.issue_cert(*identities)
        cert, key = self.directory / f"{name}.pem", self.directory / f"{name}.key"
        leaf.cert_chain_pems[0].write_to_path(str(cert))
        for pem in leaf.cert_chain_pems[1:]:
            pem.write_to_path(str(cert), append=True)
        leaf.private_key_pem.write_to_path(str(key))
        return TLSFiles(cert=str(cert), key=str(key), ca=self.ca_file)

    def server_context(self, files: TLSFiles) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(files.cert, files.key)
        return context


@pytest.fixture(scope="module")
def pki() -> Iterator[PKI]:
    with tempfile.TemporaryDirectory(prefix="anyoauth-pki-") as directory:
        made = PKI(Path(directory))
        made.trusted.cert_pem.write_to_path(made.ca_file)
        yield made


@contextmanager
def tls_redis(files: TLSFiles) -> Iterator[RedisServer]:
    """A TLS-only ``redis-server`` with ``files``' certificate, requiring PASSWORD."""
    executable = redis_executable()
    with tempfile.TemporaryDirectory(prefix="anyoauth-redis-tls-") as directory:
        server = RedisServer(executable, Path(directory), tls=files, password=PASSWORD)
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="module")
def wrong_host_server(pki: PKI) -> Iterator[RedisServer]:
    """Its certificate is from the trusted CA, for ``other.example``."""
    with tls_redis(pki.files("other", pki.trusted, "other.example")) as server:
        yield server


@pytest.fixture(scope="module")
def untrusted_server(pki: PKI) -> Iterator[RedisServer]:
    """Its certificate names 127.0.0.1 and localhost, from a CA nobody trusts."""
    files = pki.files("untrusted", pki.untrusted, "127.0.0.1", "localhost")
    with tls_redis(files) as server:
        yield server


@pytest.fixture(scope="module")
def good_server(pki: PKI) -> Iterator[RedisServer]:
    """Its certificate names 127.0.0.1 and localhost, from the trusted CA."""
    with tls_redis(pki.files("good", pki.trusted, "127.0.0.1", "localhost")) as server:
        yield server


def url(server: RedisServer, host: str = "127.0.0.1") -> str:
    return f"rediss://:{PASSWORD}@{host}:{server.tls_port}/0"


def assert_names_no_password(error: BaseException) -> None:
    """Neither the error nor anything it was raised from or during shows the password."""
    current: BaseException | None = error
    while current is not None:
        for text in (str(current), repr(current), repr(current.args)):
            assert PASSWORD not in text, text
        current = current.__cause__ or current.__context__


def trust(how: str, pki: PKI, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """Make the trusted CA trusted the way ``how`` says; returns the ``ca_file`` to pass."""
    if how == "SSL_CERT_FILE":
        monkeypatch.setenv("SSL_CERT_FILE", pki.ca_file)
        return None
    return pki.ca_file


def store(address: str, transport: TransportName, ca_file: str | None) -> RedisStore:
    # ca_file only when given, so the same call runs where RedisStore lacks it.
    if ca_file is None:
        return RedisStore(address, transport=transport, timeout=3)
    return RedisStore(address, transport=transport, timeout=3, ca_file=ca_file)


# -- a real redis-server ------------------------------------------------------------------


@pytest.mark.parametrize("how", ["ca_file", "SSL_CERT_FILE"])
async def test_a_certificate_for_another_host_name_is_refused(
    pki: PKI,
    wrong_host_server: RedisServer,
    anyio_backend: str,
    how: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ca_file = trust(how, pki, monkeypatch)
    for transport in transports(anyio_backend):
        async with store(url(wrong_host_server), transport, ca_file) as refused:
            with pytest.raises(anyoauth.StoreError) as caught:
                await refused.set_token("k", make_token())
        message = str(caught.value)
        assert "certificate" in message, (transport, message)
        assert "127.0.0.1" in message, (transport, message)
        assert_names_no_password(caught.value)
    with wrong_host_server.client() as r:
        assert r.dbsize() == 0


async def test_a_certificate_from_an_untrusted_ca_is_refused(
    pki: PKI, untrusted_server: RedisServer, anyio_backend: str
) -> None:
    for transport in transports(anyio_backend):
        for ca_file in (pki.ca_file, None):  # the trusted CA given, or the system's only
            async with store(url(untrusted_server), transport, ca_file) as refused:
                with pytest.raises(anyoauth.StoreError) as caught:
                    await refused.get_token("k")
            assert "certificate" in str(caught.value), (transport, str(caught.value))
            assert_names_no_password(caught.value)


@pytest.mark.parametrize("how", ["ca_file", "SSL_CERT_FILE"])
async def test_a_certificate_for_the_host_from_a_trusted_ca_carries_tokens(
    pki: PKI,
    good_server: RedisServer,
    anyio_backend: str,
    how: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ca_file = trust(how, pki, monkeypatch)
    for transport in transports(anyio_backend):
        for host in ("127.0.0.1", "localhost"):
            key = f"{transport}-{host}"
            async with store(url(good_server, host), transport, ca_file) as verified:
                await verified.set_token(key, make_token(f"AT-{key}"))
                assert await verified.get_token(key) == make_token(f"AT-{key}")
            with good_server.client() as r:
                assert r.exists(f"anyoauth:{key}") == 1


# -- a man in the middle ------------------------------------------------------------------


@dataclass
class Recording:
    """What a TLS listener saw: handshakes begun and completed, and the bytes it got."""

    handshakes: int = 0
    completed: int = 0
    received: bytearray = field(default_factory=bytearray)


@asynccontextmanager
async def recording_server(context: ssl.SSLContext) -> AsyncIterator[tuple[int, Recording]]:
    """A TLS listener on loopback that keeps every byte a client sends after the
    handshake and answers like a Redis server that has nothing stored."""
    recording = Recording()

    async def handle(client: anyio.abc.SocketStream) -> None:
        recording.handshakes += 1
        async with client:
            try:
                stream = await TLSStream.wrap(
                    client, server_side=True, ssl_context=context, standard_compatible=False
                )
            except (ssl.SSLError, OSError, anyio.BrokenResourceError, anyio.EndOfStream):
                return  # the client refused the certificate: nothing was sent
            recording.completed += 1
            reader = hiredis.Reader()
            try:
                while True:
                    data = await stream.receive()
                    recording.received += data
                    reader.feed(data)
                    while (command := reader.gets()) is not False:
                        name = bytes(command[0]).upper()
                        known = {b"AUTH", b"SELECT", b"CLIENT", b"PING"}
                        await stream.send(b"+OK\r\n" if name in known else b"$-1\r\n")
            except (anyio.EndOfStream, anyio.BrokenResourceError, ssl.SSLError, OSError):
                return

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610 - not Django
    failure: BaseException | None = None
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        try:
            yield port, recording
        except anyio.get_cancelled_exc_class():
            raise
        except BaseException as exc:  # raised below, outside the task group: no group
            failure = exc
        finally:
            tg.cancel_scope.cancel()
    if failure is not None:
        raise failure


async def test_a_server_with_a_wrong_certificate_never_receives_the_password(
    pki: PKI, anyio_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", pki.ca_file)
    right = pki.server_context(pki.files("mitm-right", pki.trusted, "127.0.0.1"))
    wrong = pki.server_context(pki.files("mitm-wrong", pki.trusted, "other.example"))
    for transport in transports(anyio_backend):
        # The listener records AUTH with the password when the certificate is right...
        async with recording_server(right) as (port, seen):
            address = f"rediss://:{PASSWORD}@127.0.0.1:{port}/0"
            async with store(address, transport, None) as talking:
                assert await talking.get_token("k") is None
        assert seen.completed >= 1, transport
        assert b"AUTH" in seen.received, transport
        assert PASSWORD.encode() in seen.received, transport
        # ... and gets nothing at all when it is not: the client stops in the handshake.
        async with recording_server(wrong) as (port, seen):
            address = f"rediss://:{PASSWORD}@127.0.0.1:{port}/0"
            async with store(address, transport, None) as refusing:
                with pytest.raises(anyoauth.StoreError) as caught:
                    await refusing.get_token("k")
        assert seen.handshakes >= 1, transport
        assert seen.completed == 0, transport
        assert bytes(seen.received) == b"", transport
        assert_names_no_password(caught.value)


# -- a redis.asyncio.Redis client the user gives ------------------------------------------


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # redis-py's client runs on asyncio
@pytest.mark.parametrize(
    "settings",
    [
        {"ssl_check_hostname": False},
        {"ssl_check_hostname": True, "ssl_cert_reqs": "none"},
        {"ssl_check_hostname": True, "ssl_cert_reqs": "optional"},
    ],
    ids=["no-host-name-check", "no-certificate-check", "optional-certificate"],
)
async def test_a_given_client_that_would_skip_a_check_is_refused(
    pki: PKI, good_server: RedisServer, settings: dict[str, Any]
) -> None:
    client = redis.asyncio.Redis(
        host="127.0.0.1",
        port=good_server.tls_port or 0,
        password=PASSWORD,
        ssl=True,
        ssl_ca_certs=pki.ca_file,
        **settings,
    )
    cluster = redis.asyncio.RedisCluster(
        host="127.0.0.1", port=1, ssl=True, ssl_ca_certs=pki.ca_file, **settings
    )
    givens: list[Any] = [client, cluster]  # a cluster client is checked the same way
    try:
        for given in givens:
            with pytest.raises(anyoauth.ConfigurationError, match="TLS") as caught:
                RedisStore(given)
            assert_names_no_password(caught.value)
    finally:
        await client.aclose()
        await cluster.aclose()


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # redis-py's client runs on asyncio
async def test_a_given_client_with_default_settings_never_sends_the_password_to_a_wrong_host(
    pki: PKI,
) -> None:
    # redis-py 5.x did not check host names by default (RedisStore refuses such a
    # client); every redis-py that pyproject.toml allows does.
    wrong = pki.server_context(pki.files("mitm-given", pki.trusted, "other.example"))
    async with recording_server(wrong) as (port, seen):
        client = redis.asyncio.Redis(
            host="127.0.0.1", port=port, password=PASSWORD, ssl=True, ssl_ca_certs=pki.ca_file
        )
        try:
            given = RedisStore(client)
            with pytest.raises(anyoauth.StoreError, match="certificate") as caught:
                await given.get_token("k")
            assert_names_no_password(caught.value)
        finally:
            await client.aclose()
    assert seen.completed == 0
    assert bytes(seen.received) == b""


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # redis-py's client runs on asyncio
async def test_a_given_client_that_checks_carries_tokens(
    pki: PKI, good_server: RedisServer
) -> None:
    client = redis.asyncio.Redis(
        host="127.0.0.1",
        port=good_server.tls_port or 0,
        password=PASSWORD,
        ssl=True,
        ssl_ca_certs=pki.ca_file,
        ssl_check_hostname=True,
    )
    try:
        given = RedisStore(client)
        await given.set_token("given", make_token("AT-given"))
        assert await given.get_token("given") == make_token("AT-given")
    finally:
        await client.aclose()


# -- configuration --------------------------------------------------------------------------


async def test_ca_file_is_only_for_a_rediss_url(pki: PKI, tmp_path: Path) -> None:
    with pytest.raises(anyoauth.ConfigurationError, match="rediss://"):
        RedisStore("redis://127.0.0.1:6379/0", ca_file=pki.ca_file)
    with pytest.raises(anyoauth.ConfigurationError, match="rediss://"):
        RedisStore("unix:///tmp/redis.sock", ca_file=pki.ca_file)
    missing = tmp_path / "missing.pem"
    with pytest.raises(anyoauth.ConfigurationError, match="ca_file"):
        RedisStore(f"rediss://:{PASSWORD}@127.0.0.1:6379/0", ca_file=missing)
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(anyoauth.ConfigurationError, match="ca_file") as caught:
        RedisStore(f"rediss://:{PASSWORD}@127.0.0.1:6379/0", ca_file=tmp_path / "junk.pem")
    assert_names_no_password(caught.value)
