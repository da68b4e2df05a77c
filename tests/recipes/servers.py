"""Run the docs/recipes web apps as real server processes for the recipe tests.

Each worker is its own process group (``start_new_session``), so :meth:`AppProcess.stop`
can end the server and every process it started, and check that none is left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "docs" / "recipes"

START_SECONDS = 30.0
STOP_SECONDS = 10.0

Command = Callable[[int], list[str]]
"""The command line of one worker listening on 127.0.0.1 at the given port."""


def uvicorn(module: str) -> Command:
    """A worker run by uvicorn (asyncio)."""
    return lambda port: [
        *(sys.executable, "-m", "uvicorn", f"{module}:app"),
        *("--host", "127.0.0.1", "--port", str(port)),
        *("--log-level", "warning", "--no-access-log", "--timeout-graceful-shutdown", "3"),
    ]


def hypercorn(module: str, worker_class: str) -> Command:
    """A worker run by hypercorn, with the ``asyncio`` or ``trio`` worker class.

    ``--workers 0`` serves in hypercorn's own process rather than a child it spawns
    (what ``--workers N`` does): the same serving code, and it stops at once.
    """
    return lambda port: [
        *(sys.executable, "-m", "hypercorn", "--worker-class", worker_class, "--workers", "0"),
        *("--bind", f"127.0.0.1:{port}", "--graceful-timeout", "3", f"{module}:app"),
    ]


def aiohttp_web(module: str) -> Command:
    """A worker run by aiohttp's own runner (``python -m aiohttp.web``; asyncio)."""
    return lambda port: [
        *(sys.executable, "-m", "aiohttp.web", "-H", "127.0.0.1", "-P", str(port)),
        f"{module}:init_app",
    ]


def flask_run(module: str) -> Command:
    """A worker run by ``flask run``: werkzeug's threaded server (a thread per request)."""
    return lambda port: [
        *(sys.executable, "-m", "flask", "--app", f"{module}:app", "run"),
        *("--host", "127.0.0.1", "--port", str(port)),
        *("--no-reload", "--no-debugger", "--with-threads"),
    ]


_WSGI_SERVER = """
import logging, sys
from werkzeug.serving import run_simple
from werkzeug.utils import import_string
logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log: callback codes
run_simple("127.0.0.1", int(sys.argv[1]), import_string(sys.argv[2]), threaded=True)
"""


def wsgi(module: str) -> Command:
    """A WSGI application (``module:app``) in werkzeug's threaded HTTP server."""
    return lambda port: [sys.executable, "-c", _WSGI_SERVER, str(port), f"{module}:app"]


@dataclass
class AppProcess:
    """One worker process of a recipe app."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(
        cls, name: str, command: Command, port: int, env: Mapping[str, str], log: Path
    ) -> AppProcess:
        environment = {**os.environ, **env}
        environment["PYTHONPATH"] = os.pathsep.join(
            [str(RECIPES), *filter(None, [os.environ.get("PYTHONPATH")])]
        )
        with log.open("wb") as output:
            process = subprocess.Popen(  # noqa: S603
                command(port),
                cwd=RECIPES,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return cls(name, port, process, log)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def wait_ready(self, deadline: float) -> None:
        """Wait until ``GET /`` answers 200 (the app has discovered the provider)."""
        with httpx.Client(timeout=2) as http:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited at start:\n{self.output()}")
                try:
                    if http.get(self.url + "/").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} did not start in time:\n{self.output()}")
                time.sleep(0.05)

    def stop(self) -> bool:
        """Terminate the worker's whole process group; ``False`` if some process of it
        had to be killed after :data:`STOP_SECONDS` more (it is killed in any case)."""
        group = self.process.pid  # start_new_session: the pid is the group id
        _signal_group(group, signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            _signal_group(group, signal.SIGKILL)
            self.process.wait()
        deadline = time.monotonic() + STOP_SECONDS
        while _group_alive(group):  # children of the server, if it had any
            if time.monotonic() > deadline:
                _signal_group(group, signal.SIGKILL)
                return False
            time.sleep(0.05)
        return True


def _signal_group(group: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, sig)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True
