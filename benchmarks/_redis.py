"""Starts a throwaway ``redis-server`` on a free loopback port (no persistence)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

__all__ = ["INSTALL_HINT", "RedisServer", "find_redis_server"]

INSTALL_HINT = (
    "redis-server is not on PATH; install it (Debian/Ubuntu: sudo apt-get install "
    "redis-server, macOS: brew install redis) and run the benchmarks again"
)


def find_redis_server() -> str | None:
    """The ``redis-server`` executable on ``PATH``, if any."""
    return shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """``with RedisServer() as url:`` runs ``redis-server`` until the block ends."""

    def __init__(self, executable: str | None = None) -> None:
        found = executable or find_redis_server()
        if found is None:
            raise RuntimeError(INSTALL_HINT)
        self.executable = found
        self.port = _free_port()
        self.version = ""
        self._directory: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def __enter__(self) -> str:
        self._directory = tempfile.TemporaryDirectory(prefix="anyoauth-bench-redis-")
        directory = Path(self._directory.name)
        options = {
            "port": str(self.port),
            "bind": "127.0.0.1",
            "save": "",
            "appendonly": "no",
            "dir": str(directory),
            "daemonize": "no",
            "logfile": str(directory / "redis.log"),
        }
        command = [self.executable]
        for name, value in options.items():
            command += [f"--{name}", value]
        self._process = subprocess.Popen(  # noqa: S603
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 10
        while not _ping(self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError("redis-server did not start")
            time.sleep(0.02)
        done = subprocess.run(  # noqa: S603
            [self.executable, "--version"], capture_output=True, text=True, check=False
        )
        self.version = done.stdout.strip()
        return self.url

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._directory is not None:
            self._directory.cleanup()
            self._directory = None

    def __repr__(self) -> str:
        return f"<RedisServer {self.url}>"
