"""Run the real ``anyoauth`` command (``python -m anyoauth``) in a subprocess."""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import anyio
import attrs
import pytest
from anyio.abc import ByteReceiveStream, Process

import anyoauth
from anyoauth import cli as command
from anyoauth.testing import ProviderEmulator

# The directory the anyoauth under test was imported from: subprocesses import the same.
IMPORT_ROOT = str(Path(anyoauth.__file__).resolve().parent.parent)
FAKE_BROWSER = Path(__file__).with_name("fake_browser.py")
FAKE_BROWSER_COMMAND = f"{shlex.quote(sys.executable)} {shlex.quote(str(FAKE_BROWSER))} %s"
"""``$BROWSER`` for the fake browser: the system-browser agent opens the login page with it."""
TIMEOUT = 30.0  # a hang guard, not a performance assertion

# Apps registered on the emulator by the fixtures.
GENI_ID = "geni-cli-app"
TW_ID, TW_SECRET = "tw-cli-app", "tw-secret-SENTINEL-7f3a"
TW_REDIRECT = "myapp://teamwork/cb"
BOG_ID, BOG_SECRET = "bog-cli-client", "bog:secret+SENTINEL%odd chars"
KC_ID, KC_SECRET, KC_REALM = "kc-cli-client", "kc-secret-SENTINEL-91b2", "staff"
# Clients of the emulator's generic OAuth 2.0 / OpenID Connect server (provider oauth).
WEB_ID, WEB_SECRET = "oauth-web-app", "oauth-web-secret-SENTINEL-5e6f"  # code flow
TV_ID = "oauth-tv-app"  # a public client of the device flow
SVC_ID, SVC_SECRET = "oauth-svc", "oauth-svc:secret+SENTINEL%odd chars"  # client credentials
LOOPBACK_REDIRECT = "http://127.0.0.1/callback"  # registered: any port matches (RFC 8252)
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SECRETS = (TW_SECRET, BOG_SECRET, KC_SECRET, WEB_SECRET, SVC_SECRET)

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_LOGIN_REQUIRED, EXIT_AGENT_ERROR = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130


@attrs.frozen
class Result:
    """What one run of the command did."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


class Cli:
    """The ``anyoauth`` command with its own configuration directory.

    Every run is kept in :attr:`runs`, so tests can check that no output anywhere
    holds a secret.
    """

    def __init__(self, config_dir: Path) -> None:
        self.config_dir = config_dir
        self.runs: list[Result] = []

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """A clean environment: no ANYOAUTH_* or BROWSER of the caller's, this config dir."""
        env = {
            k: v for k, v in os.environ.items() if not k.startswith("ANYOAUTH_") and k != "BROWSER"
        }
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [IMPORT_ROOT, env.get("PYTHONPATH")]))
        env["PYTHONWARNINGS"] = "error"
        env["ANYOAUTH_CONFIG_DIR"] = str(self.config_dir)
        env.update(extra or {})
        return env

    @staticmethod
    def command(*args: str) -> list[str]:
        return [sys.executable, "-m", "anyoauth", *args]

    def _keep(self, args: tuple[str, ...], code: int, out: bytes, err: bytes) -> Result:
        result = Result(args, code, out.decode(), err.decode())
        self.runs.append(result)
        return result

    async def run(
        self, *args: str, env: Mapping[str, str] | None = None, stdin: str = ""
    ) -> Result:
        """Run the command to its end while the event loop (the emulator) keeps serving."""
        with anyio.fail_after(TIMEOUT):
            done = await anyio.run_process(
                self.command(*args), input=stdin.encode(), env=self.env(env), check=False
            )
        return self._keep(args, done.returncode, done.stdout, done.stderr)

    def run_sync(self, *args: str, env: Mapping[str, str] | None = None, stdin: str = "") -> Result:
        """Run the command when no server needs the event loop."""
        done = subprocess.run(  # noqa: S603 - our own interpreter and module
            self.command(*args),
            input=stdin.encode(),
            env=self.env(env),
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
        )
        return self._keep(args, done.returncode, done.stdout, done.stderr)

    async def open(self, *args: str, env: Mapping[str, str] | None = None) -> Interactive:
        """Start the command with pipes, to talk to it while it runs."""
        process = await anyio.open_process(self.command(*args), env=self.env(env))
        return Interactive(self, args, process)

    def outputs(self) -> str:
        """Everything every run printed, stdout and stderr."""
        return "\n".join(r.stdout + r.stderr for r in self.runs)

    def stderr(self) -> str:
        """Everything every run printed on stderr."""
        return "\n".join(r.stderr for r in self.runs)


class Interactive:
    """A running command: read its stderr as it comes, type into its stdin."""

    def __init__(self, cli: Cli, args: tuple[str, ...], process: Process) -> None:
        self.cli = cli
        self.args = args
        self.process = process
        self.err = bytearray()
        self.out = bytearray()

    async def wait_for(self, pattern: str) -> re.Match[str]:
        """Read stderr until ``pattern`` matches what was read so far."""
        assert self.process.stderr is not None
        with anyio.fail_after(TIMEOUT):
            while True:
                found = re.search(pattern, self.err.decode(errors="replace"))
                if found:
                    return found
                try:
                    self.err += await self.process.stderr.receive()
                except anyio.EndOfStream:
                    raise AssertionError(
                        f"the command ended without printing {pattern!r}: {self.err.decode()}"
                    ) from None

    async def type(self, line: str) -> None:
        """Type ``line`` and Enter, then close stdin."""
        assert self.process.stdin is not None
        await self.process.stdin.send(line.encode() + b"\n")
        await self.process.stdin.aclose()

    async def finish(self) -> Result:
        """Wait for the end; the :class:`Result` holds everything it printed."""
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        try:
            with anyio.fail_after(TIMEOUT):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(_drain, self.process.stdout, self.out)
                    tg.start_soon(_drain, self.process.stderr, self.err)
                code = await self.process.wait()
        finally:
            if self.process.returncode is None:
                self.process.kill()
            await self.process.aclose()
        return self.cli._keep(self.args, code, bytes(self.out), bytes(self.err))


class InProcess:
    """:func:`anyoauth.cli.main` called directly (the ``main`` fixture gives it a clean
    environment and stdin): the same code as the real command, without an interpreter
    start per run."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        code = command.main(list(args))
        out, err = self.capsys.readouterr()
        return code, out, err


async def _drain(stream: ByteReceiveStream, into: bytearray) -> None:
    while True:
        try:
            into += await stream.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            return


def assert_no_secrets(cli: Cli, tokens: list[str]) -> None:
    """No client secret in any output; no access token on any stderr."""
    everything, stderr = cli.outputs(), cli.stderr()
    for secret in SECRETS:
        assert secret not in everything
    for token in tokens:
        assert token not in stderr
        for run in cli.runs:
            if run.args[0] != "token":
                assert token not in run.stdout
    assert "Traceback" not in stderr


def printed_token(cli: Cli, emulator: ProviderEmulator) -> str:
    """The last run was ``token``: its stdout is exactly one valid token and a newline."""
    run = cli.runs[-1]
    assert run.returncode == EXIT_OK, run.stderr
    assert run.stdout.endswith("\n")
    assert run.stdout.count("\n") == 1
    token = run.stdout[:-1]
    assert token
    assert token.strip() == token
    assert emulator.is_valid_token(token)
    assert run.stderr == ""
    return token


def free_port() -> int:
    """A loopback port nobody listens on (right now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# How ``anyoauth login`` draws a QR code: each character two modules, top and bottom,
# a lit half a light module.
_LIT = {
    " ": (False, False),
    "\u2580": (True, False),
    "\u2584": (False, True),
    "\u2588": (True, True),
}
QR_BORDER = 2


def drawn_qr_matrix(lines: list[str]) -> list[list[bool]]:
    """The modules (``True``: dark) of a QR code drawn by the command, its quiet zone
    of light modules checked and cut off."""
    grid: list[list[bool]] = []
    for line in lines:
        top = [not _LIT[char][0] for char in line]
        bottom = [not _LIT[char][1] for char in line]
        grid += [top, bottom]
    size = len(grid[0])
    grid = grid[:size]  # the last line's lower half lies below the drawing
    assert len(grid) == size
    assert all(len(row) == size for row in grid)
    border = [grid[i] for i in (*range(QR_BORDER), *range(size - QR_BORDER, size))]
    assert not any(any(row) for row in border)
    assert not any(
        row[i] for row in grid for i in (*range(QR_BORDER), *range(size - QR_BORDER, size))
    )
    return [row[QR_BORDER : size - QR_BORDER] for row in grid[QR_BORDER : size - QR_BORDER]]


def segno_matrix(text: str) -> list[list[bool]]:
    """segno's full-size QR code of ``text``, as rows of modules (``True``: dark)."""
    import segno

    return [[bool(module) for module in row] for row in segno.make(text, micro=False).matrix]
