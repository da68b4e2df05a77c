"""The command's conveniences: the device flow's QR code (segno's matrix of the address,
drawn with block characters) and progress line (on a terminal only), ``anyoauth
status``, ``token --json`` and ``--header``, and errors that name the next command.

The login runs are the real command in a subprocess against the emulator; a terminal
is a pseudo-terminal the test reads. No output may hold a client secret, and only
``token``'s stdout an access token.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import attrs
import pytest

from anyoauth import FileStore
from anyoauth.testing import ProviderEmulator

from .dpop_server import BindingEmulator, binding_server
from .helpers import (
    EXIT_LOGIN_REQUIRED,
    EXIT_OK,
    EXIT_USAGE,
    SVC_ID,
    SVC_SECRET,
    TIMEOUT,
    TV_ID,
    Cli,
    InProcess,
    assert_no_secrets,
    drawn_qr_matrix,
    printed_token,
    segno_matrix,
)
from .test_oauth import USER_CODE, approve, token_key

pytestmark = pytest.mark.anyio

QR_INTRO = re.compile(r"Or scan this QR code with a phone \(it fills the code in\):\n\n")
COMPLETE = re.compile(r"This address fills the code in for you:\n\n    (\S+)\n")
PROGRESS = re.compile(
    r"\r[|/\\-] waiting for approval: \d+:\d\d elapsed, the code expires in \d+:\d\d"
)


def drawn_qr(stderr: str) -> list[str]:
    """The lines of the QR code a device login printed (without their indent)."""
    start = QR_INTRO.search(stderr)
    assert start is not None, stderr
    lines = []
    for line in stderr[start.end() :].split("\n"):
        if not line:
            break
        assert line.startswith("    ")
        lines.append(line[4:])
    return lines


def device_login(base: str, *more: str) -> list[str]:
    return ["login", "oauth", "--issuer", base, "--client-id", TV_ID, "--flow", "device", *more]


async def test_a_device_login_draws_segnos_qr_code_of_the_address_that_fills_in_the_code(
    cli: Cli, emulator: ProviderEmulator, base: str
) -> None:
    login = await cli.open(*device_login(base, "--qr"))  # forced: stderr is a pipe
    user_code = await approve(login, emulator)
    result = await login.finish()
    assert result.returncode == EXIT_OK, result.stderr
    complete = COMPLETE.search(result.stderr)
    assert complete is not None
    assert complete[1] == f"{base}/device?user_code={user_code}"
    assert drawn_qr_matrix(drawn_qr(result.stderr)) == segno_matrix(complete[1])
    assert "\r" not in result.stderr  # no progress line in a pipe
    assert_no_secrets(cli, [])


async def test_a_device_login_in_a_pipe_shows_no_qr_code_and_no_progress_line(
    cli: Cli, emulator: ProviderEmulator, base: str
) -> None:
    login = await cli.open(*device_login(base))
    await approve(login, emulator)
    result = await login.finish()
    assert result.returncode == EXIT_OK, result.stderr
    assert "QR code" not in result.stderr
    assert not set(result.stderr) & {"\u2580", "\u2584", "\u2588", "\r"}
    assert "Logged in to" in result.stderr


class Terminal:
    """A command whose stderr is a pseudo-terminal the test reads."""

    def __init__(self) -> None:
        self.master, self.slave = pty.openpty()
        self.text = ""

    async def read_until(self, pattern: re.Pattern[str] | None) -> None:
        """Read until ``pattern`` matches, or (``None``) until the command closes it."""
        with anyio.fail_after(TIMEOUT):
            while pattern is None or not pattern.search(self.text):
                try:
                    chunk = await anyio.to_thread.run_sync(
                        os.read, self.master, 65536, abandon_on_cancel=True
                    )
                except OSError:  # EIO: the command has ended
                    chunk = b""
                if not chunk:
                    assert pattern is None, self.text
                    return
                # The terminal turns each newline into CR LF.
                self.text += chunk.decode().replace("\r\n", "\n")


@pytest.mark.parametrize("qr", ["", "--no-qr"])
async def test_a_device_login_on_a_terminal_shows_the_qr_code_and_a_progress_line(
    cli: Cli, emulator: ProviderEmulator, base: str, qr: str
) -> None:
    terminal = Terminal()
    process = await anyio.open_process(
        cli.command(*device_login(base, *filter(None, [qr]))),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=terminal.slave,
        env=cli.env(),
    )
    os.close(terminal.slave)
    try:
        await terminal.read_until(PROGRESS)
        user_code = re.search(USER_CODE, terminal.text)
        assert user_code is not None
        emulator.approve_device(user_code[1])
        await terminal.read_until(None)
        with anyio.fail_after(TIMEOUT):
            code = await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
        await process.aclose()
        os.close(terminal.master)
    text = terminal.text
    assert code == EXIT_OK, text
    if qr:
        assert "QR code" not in text
    else:
        complete = COMPLETE.search(text)
        assert complete is not None
        assert drawn_qr_matrix(drawn_qr(text)) == segno_matrix(complete[1])
    # The progress line is redrawn in place, then blanked before the outcome.
    frames = PROGRESS.findall(text)
    assert frames
    last = text.rindex("\r", 0, text.index("Logged in to"))
    assert text[text.rindex("\r", 0, last) : last].strip() == ""
    assert text[last + 1 :].startswith("Logged in to")
    assert "\x1b" not in text


def statuses(cli: Cli) -> dict[str, dict[str, object]]:
    """``status --json``, by provider/profile."""
    run = cli.runs[-1]
    assert run.returncode == EXIT_OK, run.stderr
    return {f"{row['provider']}/{row['profile']}": row for row in json.loads(run.stdout)}


async def test_status_lists_every_profile_with_its_token_and_whether_it_renews(
    cli: Cli, emulator: ProviderEmulator, base: str
) -> None:
    empty = await cli.run("status")
    assert empty.returncode == EXIT_OK
    assert empty.stdout == ""
    assert "no saved profile in" in empty.stderr
    assert "`anyoauth login PROVIDER`" in empty.stderr

    login = await cli.open(*device_login(base))
    await approve(login, emulator)
    assert (await login.finish()).returncode == EXIT_OK
    secret = {"ANYOAUTH_CLIENT_SECRET": SVC_SECRET}
    service = ["login", "oauth", "--profile", "svc", "--issuer", base, "--client-id", SVC_ID]
    for name in ("svc", "gone"):
        service[3] = name
        run = await cli.run(*service, "--flow", "client-credentials", env=secret)
        assert run.returncode == EXIT_OK, run.stderr
    assert (await cli.run("logout", "oauth", "--profile", "gone", "--local")).returncode == 0
    await cli.run("token", "oauth")
    user_token = printed_token(cli, emulator)
    await cli.run("token", "oauth", "--profile", "svc")
    service_token = printed_token(cli, emulator)
    broken = cli.config_dir / "profiles" / "oauth" / "broken.json"
    broken.write_text("{not json")

    await cli.run("status", "--json")
    rows = statuses(cli)
    assert set(rows) == {"oauth/broken", "oauth/default", "oauth/gone", "oauth/svc"}
    default = rows["oauth/default"]
    assert default["server"] == base
    assert default["client_id"] == TV_ID
    assert (default["flow"], default["token"], default["can_refresh"]) == ("device", "valid", True)
    assert isinstance(default["expires_in"], int)
    assert 0 < default["expires_in"] <= 3600
    assert default["dpop_bound"] is False
    assert default["problem"] is None
    svc = rows["oauth/svc"]
    assert (svc["flow"], svc["token"], svc["can_refresh"]) == ("client-credentials", "valid", True)
    gone = rows["oauth/gone"]
    assert (gone["token"], gone["expires_at"], gone["can_refresh"]) == ("none", None, True)
    assert rows["oauth/broken"]["problem"] == (
        "the profile file is unreadable; run `anyoauth login oauth --profile broken`"
    )

    # An expired token says so (the store is edited as time would).
    store = FileStore(cli.config_dir / "store")
    key = token_key(cli)
    stored = await store.get_token(key)
    assert stored is not None
    past = time.time() - 7200
    await store.set_token(key, attrs.evolve(stored, issued_at=past, expires_at=past + 60))
    await cli.run("status", "--json")
    assert statuses(cli)["oauth/default"]["token"] == "expired"

    text = await cli.run("status")
    assert text.returncode == EXIT_OK
    header, *lines = text.stdout.splitlines()
    assert header.split() == ["PROVIDER", "PROFILE", "FLOW", "TOKEN", "RENEWABLE", "DPOP", "SERVER"]
    by_profile = {line.split()[1]: line for line in lines}
    assert set(by_profile) == {"broken", "default", "gone", "svc"}
    assert re.search(r"valid, \d+ min left +yes +no +" + re.escape(base), by_profile["svc"])
    assert "expired" in by_profile["default"]
    assert "no token" in by_profile["gone"]
    assert "unusable" in by_profile["broken"]
    assert "anyoauth: oauth (profile broken): the profile file is unreadable" in text.stderr
    assert_no_secrets(cli, [user_token, service_token])


async def test_token_json_and_header(cli: Cli, emulator: ProviderEmulator, base: str) -> None:
    login = [
        "login", "oauth", "--issuer", base, "--client-id", SVC_ID,
        "--flow", "client-credentials", "--scope", "read", "--scope", "write",
    ]  # fmt: skip
    run = await cli.run(*login, env={"ANYOAUTH_CLIENT_SECRET": SVC_SECRET})
    assert run.returncode == EXIT_OK, run.stderr
    await cli.run("token", "oauth")
    token = printed_token(cli, emulator)

    as_json = await cli.run("token", "oauth", "--json")
    assert as_json.returncode == EXIT_OK, as_json.stderr
    assert as_json.stderr == ""
    data = json.loads(as_json.stdout)
    assert set(data) == {"access_token", "token_type", "expires_at", "expires_in", "scope"}
    assert data["access_token"] == token
    assert data["token_type"].lower() == "bearer"
    assert 0 < data["expires_in"] <= 3600
    assert abs(data["expires_at"] - (time.time() + data["expires_in"])) < 5
    assert data["scope"] == ["read", "write"]

    header = await cli.run("token", "oauth", "--header")
    assert header.returncode == EXIT_OK, header.stderr
    assert header.stdout == f"Authorization: Bearer {token}\n"

    both = await cli.run("token", "oauth", "--json", "--header")
    assert both.returncode == EXIT_USAGE
    assert "not allowed with argument" in both.stderr
    assert_no_secrets(cli, [token])


@pytest.fixture
def server() -> Iterator[tuple[str, BindingEmulator]]:
    yield from binding_server()


def test_header_refuses_a_dpop_bound_token_and_names_headers_instead(
    cli: Cli, server: tuple[str, BindingEmulator]
) -> None:
    base, _ = server
    login = cli.run_sync(
        "login", "oauth", "--issuer", base, "--client-id", SVC_ID,
        "--flow", "client-credentials", "--dpop", env={"ANYOAUTH_CLIENT_SECRET": SVC_SECRET},
    )  # fmt: skip
    assert login.returncode == EXIT_OK, login.stderr
    refused = cli.run_sync("token", "oauth", "--header")
    assert refused.returncode == EXIT_USAGE
    assert refused.stdout == ""
    [line] = refused.stderr.splitlines()
    assert "the token is DPoP-bound" in line
    assert "use `anyoauth token oauth --headers METHOD URL` instead of --header" in line

    as_json = cli.run_sync("token", "oauth", "--json")
    assert as_json.returncode == EXIT_OK, as_json.stderr
    assert json.loads(as_json.stdout)["token_type"] == "DPoP"
    status = cli.run_sync("status", "--json")
    [row] = json.loads(status.stdout)
    assert (row["dpop_bound"], row["dpop_key"]) == (True, True)
    assert_no_secrets(cli, [json.loads(as_json.stdout)["access_token"]])


def test_errors_name_the_command_to_run_next(main: InProcess, tmp_path: Path) -> None:
    code, out, err = main("token", "oauth", "--profile", "work")
    assert (code, out) == (EXIT_LOGIN_REQUIRED, "")
    assert err == (
        "anyoauth: not logged in to oauth (profile work); run `anyoauth login oauth "
        "--profile work --issuer URL --client-id ID` first (`anyoauth status` lists the "
        "saved profiles)\n"
    )
    code, out, err = main("token", "teamwork")
    assert code == EXIT_LOGIN_REQUIRED
    assert "run `anyoauth login teamwork --client-id ID` first" in err

    code, out, err = main("logout", "oauth", "--profile", "work")
    assert code == EXIT_OK
    assert "nothing to log out of (`anyoauth status` lists the saved profiles)" in err
    assert len(err.splitlines()) == 1

    broken = tmp_path / "config" / "profiles" / "oauth" / "work.json"
    broken.parent.mkdir(parents=True)
    broken.write_text("{not json")
    code, out, err = main("token", "oauth", "--profile", "work")
    assert (code, out) == (EXIT_USAGE, "")
    assert err.endswith("is unreadable; run `anyoauth login oauth --profile work` again\n")
    assert len(err.splitlines()) == 1
