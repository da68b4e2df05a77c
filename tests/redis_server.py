"""A real ``redis-server`` for the tests: started once per session on a free loopback port.

Fixtures (registered in ``tests/conftest.py``):

- ``redis_server`` (session): a :class:`RedisServer` controller; ``.url``,
  ``.stop()``, ``.start()`` (same port, so ``.url`` stays valid), ``.pause()`` /
  ``.resume()`` (a hung server), ``.flushall()``, ``.client()`` (a synchronous
  redis-py client for inspecting keys).
  With ``openssl`` on ``PATH`` it also serves TLS: ``.tls_url``, trusted through
  ``.ca_file`` (point ``SSL_CERT_FILE`` at it).
- ``redis_url`` (session): ``redis://127.0.0.1:PORT/0``.
- ``fresh_redis`` (function): the controller, with the server running and empty.

``RedisServer(..., persistent=True)`` keeps its data across ``stop()`` / ``start()``
(an fsynced append-only file), for outage tests that must not lose what was stored.
``RedisServer(..., tls=TLSFiles(...), password=...)`` serves TLS only (``--port 0``),
with the certificate given (e.g. made with ``trustme``), and requires that password.

Without ``redis-server`` on ``PATH`` these fixtures skip the test, unless ``CI`` or
``ANYOAUTH_REQUIRE_SERVICES`` is set: then they fail it, so CI never passes by skipping.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from services import services_required

if TYPE_CHECKING:
    import redis

__all__ = [
    "RedisServer",
    "TLSFiles",
    "fresh_redis",
    "redis_executable",
    "redis_server",
    "redis_url",
]

_START_SECONDS = 10.0


def free_port() -> int:
    """A loopback TCP port nobody listens on (at the time of asking)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class TLSFiles:
    """PEM files for a TLS ``redis-server``: its certificate chain, key and client CA."""

    cert: str
    key: str
    ca: str


def _simple_command(port: int | str, *args: str, timeout: float = 2.0) -> bytes:
    """Send one command and return the first line of the reply (for PING, FLUSHALL);
    ``port`` may be a Unix socket's path."""
    payload = f"*{len(args)}\r\n".encode()
    for arg in args:
        data = arg.encode()
        payload += b"$%d\r\n%s\r\n" % (len(data), data)
    if isinstance(port, str):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(port)
        except OSError:
            sock.close()
            raise
    else:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    with sock:
        sock.sendall(payload)
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    return reply.rstrip(b"\r\n")


class RedisServer:
    """One ``redis-server`` process without persistence, bound to 127.0.0.1."""

    def __init__(
        self,
        executable: str,
        directory: Path,
        *,
        persistent: bool = False,
        tls: TLSFiles | None = None,
        password: str | None = None,
    ) -> None:
        self.executable = executable
        self.directory = directory
        self.persistent = persistent
        """Keep the data across :meth:`stop` and :meth:`start` (an append-only file,
        fsynced on every write); without it a restart starts empty."""
        self.password = password
        """The password the server requires (``requirepass``), if any."""
        self.port = free_port()
        self.unix_socket = str(directory / "redis.sock")
        self.ca_file: str | None = None
        self.tls_port: int | None = None
        self._tls = tls
        self._process: subprocess.Popen[bytes] | None = None
        if tls is None:
            self._make_certificate()
        else:
            self.tls_port = free_port()

    def _make_certificate(self) -> None:
        """A self-signed certificate for 127.0.0.1, if ``openssl`` is there, for TLS."""
        openssl = shutil.which("openssl")
        if openssl is None:
            return
        cert, key = self.directory / "cert.pem", self.directory / "key.pem"
        done = subprocess.run(  # noqa: S603
            [
                *(openssl, "req", "-x509", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"),
                *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
                *("-addext", "subjectAltName=IP:127.0.0.1"),
                *("-keyout", str(key), "-out", str(cert)),
            ],
            capture_output=True,
            check=False,
        )
        if done.returncode == 0:
            self.ca_file = str(cert)
            self.tls_port = free_port()

    def __repr__(self) -> str:
        return f"<RedisServer {self.url} running={self.running}>"

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``; the same across :meth:`stop` and :meth:`start`."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def unix_url(self) -> str:
        """The same server through its Unix socket."""
        return f"unix://{self.unix_socket}?db=0"

    @property
    def tls_url(self) -> str | None:
        """``rediss://127.0.0.1:TLS_PORT/0``, trusted through :attr:`ca_file` (``None``
        without ``openssl``)."""
        return None if self.tls_port is None else f"rediss://127.0.0.1:{self.tls_port}/0"

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the server (on the same port as before) and wait until it answers PING."""
        if self.running:
            return
        log = self.directory / "redis.log"
        options = {
            "port": "0" if self._tls is not None else str(self.port),
            "bind": "127.0.0.1",
            "save": "",
            "appendonly": "yes" if self.persistent else "no",
            "appendfsync": "always",
            "dir": str(self.directory),
            "unixsocket": self.unix_socket,
            "unixsocketperm": "700",
            "daemonize": "no",
            "logfile": str(log),
        }
        if self.password is not None:
            options["requirepass"] = self.password
        if self._tls is not None:
            assert self.tls_port is not None
            options |= {
                "tls-port": str(self.tls_port),
                "tls-cert-file": self._tls.cert,
                "tls-key-file": self._tls.key,
                "tls-ca-cert-file": self._tls.ca,
                "tls-auth-clients": "no",
            }
        elif self.tls_port is not None and self.ca_file is not None:
            options |= {
                "tls-port": str(self.tls_port),
                "tls-cert-file": self.ca_file,
                "tls-key-file": str(self.directory / "key.pem"),
                "tls-ca-cert-file": self.ca_file,
                "tls-auth-clients": "no",
            }
        command = [self.executable]
        for name, value in options.items():
            command += [f"--{name}", value]
        self._process = subprocess.Popen(  # noqa: S603
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + _START_SECONDS
        while True:
            if self._process.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                self._process = None
                raise RuntimeError(f"redis-server exited at start:\n{tail}")
            try:
                # Over the Unix socket (the only plain way into a TLS-only server); a
                # server that wants a password answers NOAUTH, which is an answer too.
                reply = _simple_command(self.unix_socket, "PING", timeout=0.5)
                if reply == b"+PONG" or reply.startswith(b"-NOAUTH"):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not answer PING within {_START_SECONDS} s")
            time.sleep(0.02)

    def stop(self) -> None:
        """Terminate the server (its data is gone: there is no persistence)."""
        process, self._process = self._process, None
        if process is None:
            return
        process.send_signal(signal.SIGCONT)  # in case it was paused
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): it still accepts connections but answers nothing."""
        assert self._process is not None, "the server is not running"
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused server go on (SIGCONT)."""
        assert self._process is not None, "the server is not running"
        self._process.send_signal(signal.SIGCONT)

    def flushall(self) -> None:
        """Delete every key in every database."""
        reply = _simple_command(self.unix_socket, "FLUSHALL")
        if reply != b"+OK":
            raise RuntimeError(f"FLUSHALL failed: {reply!r}")

    def client(self, **kwargs: Any) -> redis.Redis:
        """A synchronous redis-py client for this server; close it (``with`` block)."""
        import redis

        kwargs.setdefault("password", self.password)
        if self._tls is not None:
            return redis.Redis(unix_socket_path=self.unix_socket, **kwargs)
        return redis.Redis(host="127.0.0.1", port=self.port, **kwargs)


def redis_executable() -> str:
    """The ``redis-server`` on ``PATH``; skips the test (fails it in CI) when there is none."""
    executable = shutil.which("redis-server")
    if executable is None:
        message = "redis-server is not installed (apt-get install redis-server)"
        if services_required():
            pytest.fail(f"{message}; CI / ANYOAUTH_REQUIRE_SERVICES requires it")
        pytest.skip(message)
    return executable


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A running ``redis-server`` for the whole session (skip or fail if there is none)."""
    executable = redis_executable()
    with tempfile.TemporaryDirectory(prefix="anyoauth-redis-") as directory:
        server = RedisServer(executable, Path(directory))
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisServer) -> str:
    """``redis://127.0.0.1:PORT/0`` of the session's server."""
    return redis_server.url


@pytest.fixture
def fresh_redis(redis_server: RedisServer) -> RedisServer:
    """The session's server, running (restarted if a test stopped it) and empty."""
    if redis_server.running:
        redis_server.resume()
    redis_server.start()
    redis_server.flushall()
    return redis_server
