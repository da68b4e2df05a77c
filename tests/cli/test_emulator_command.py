"""``anyoauth emulator``: the emulator served on its own, so that a user can try
``login`` and ``token`` without a provider account; and ``anyoauth --version``."""

from __future__ import annotations

import re

import anyio
import httpx
import pytest

import anyoauth
from anyoauth.testing import browse

from .helpers import EXIT_OK, Cli

ISSUER = re.compile(r"issuer (http://127\.0\.0\.1:\d+)\n")
COMPLETE_URL = re.compile(r"(http://127\.0\.0\.1:\d+/device\?user_code=\S+)")


async def _read_stdout_until(process: anyio.abc.Process, pattern: re.Pattern[str]) -> str:
    """What the process printed on stdout up to a match of ``pattern``; the match's group."""
    return (await _stdout_until(process, pattern))[1]


async def _stdout_until(process: anyio.abc.Process, pattern: re.Pattern[str]) -> tuple[str, str]:
    assert process.stdout is not None
    seen = b""
    with anyio.fail_after(30):
        while not (found := pattern.search(seen.decode())):
            seen += await process.stdout.receive()
    return seen.decode(), found[1]


@pytest.mark.anyio
async def test_a_user_logs_in_to_the_served_emulator_and_prints_tokens(cli: Cli) -> None:
    server = await cli.open("emulator", "--port", "0")
    try:
        issuer = await _read_stdout_until(server.process, ISSUER)
        login = await cli.open(
            "login", "oauth", "--issuer", issuer, "--client-id", "anyoauth-cli",
            "--flow", "device", "--scope", "openid",
        )  # fmt: skip
        url = (await login.wait_for(COMPLETE_URL.pattern))[1]
        async with httpx.AsyncClient() as browser:  # the user, on another device
            await browse(browser, url, decision="allow")
        result = await login.finish()
        assert result.returncode == EXIT_OK, result.stderr
        assert f"Logged in to {issuer}" in result.stderr

        printed = await cli.run("token", "oauth")
        assert printed.returncode == EXIT_OK, printed.stderr
        access_token = printed.stdout.strip()
        async with httpx.AsyncClient() as http:  # the emulator knows the token it issued
            answer = await http.get(
                f"{issuer}/oauth/userinfo", headers={"Authorization": f"Bearer {access_token}"}
            )
        assert answer.status_code == 200
    finally:
        server.process.terminate()
        await server.finish()


@pytest.mark.anyio
async def test_the_emulator_prints_commands_that_name_its_own_issuer(cli: Cli) -> None:
    server = await cli.open("emulator", "--port", "0")
    try:
        printed, _ = await _stdout_until(server.process, re.compile(r"(Stop it with Ctrl-C)"))
    finally:
        server.process.terminate()
        await server.finish()
    base = ISSUER.search(printed)
    assert base is not None
    assert f"anyoauth login oauth --issuer {base[1]} --client-id anyoauth-cli" in printed
    async with httpx.AsyncClient() as http:  # and it has stopped
        with pytest.raises(httpx.ConnectError):
            await http.get(base[1])


@pytest.mark.anyio
async def test_a_taken_port_is_a_one_line_error(cli: Cli) -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    async with listener:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610
        result = await cli.run("emulator", "--port", str(port))
    assert result.returncode == 1
    assert result.stderr.startswith("anyoauth: ")
    assert result.stderr.count("\n") == 1


def test_version_names_the_installed_version(cli: Cli) -> None:
    result = cli.run_sync("--version")
    assert result.returncode == EXIT_OK
    assert result.stdout == f"anyoauth {anyoauth.__version__}\n"
