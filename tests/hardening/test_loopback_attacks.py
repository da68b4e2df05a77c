"""Other local programs attacking a loopback login, with a real Chromium as the user's browser.

The user logs in through :class:`LoopbackAgent` in a headless Chromium, on the
emulator's generic server reached as ``http://localhost:PORT`` (another site than the
listener's ``127.0.0.1``, so the listener's ``SameSite=Lax`` cookie has to survive the
provider's cross-site redirect back). Meanwhile an attacker, a plain httpx client on
the same machine, sends the listener what another local user can: another account's
code, a result with the victim's state (read off an old-style command line) but without
the browser's cookie, a made-up error, a flood of idle and slow connections, and the
one-time start address itself. The victim gets their own token every time, or, when
the start address was used by someone else, an :class:`AgentError`; never the
attacker's token and never the attacker's error.

The system browser is also started as :mod:`webbrowser` starts it (``$BROWSER``, a real
Chromium) while an attacker polls every process's command line for the start
address: it finds none (only the path of a launch page it cannot read), so it cannot
open the address before the user's browser does.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
import secrets
import shlex
import signal
import socket
import stat
import tempfile
import webbrowser
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import anyio
import anyio.abc
import attrs
import httpx
import pytest

import anyoauth
from agents.chromium import (
    CHROMIUM_FLAGS,
    finish,
    launch_chromium,
    run_on_asyncio_thread,
    running_as_root,
    start_playwright,
)
from anyoauth.agents import MAX_CONNECTIONS, LoopbackAgent, SystemBrowserAgent
from anyoauth.testing import ProviderEmulator, browse

pytestmark = pytest.mark.anyio

CLIENT = "desktop-app"
VICTIM_SCOPE = "victim-files"
ATTACKER_SCOPE = "attacker-files"
FORGED_TEXT = "Your account was locked. Call 555-0100 to unlock it."
DONE_TEXT = "close this window"
STOPPED_TEXT = "already used"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def challenge_of(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


@attrs.define
class Login:
    """One victim login: the provider, the listener's port, and what the attacker saw."""

    emulator: ProviderEmulator
    base: str
    port: int
    answers: list[httpx.Response] = attrs.field(factory=list)
    browser_text: list[str] = attrs.field(factory=list)

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}/callback"

    @property
    def authorization_endpoint(self) -> str:
        return self.emulator.endpoints_oauth(self.base)["authorization_endpoint"]

    def strategy(self) -> anyoauth.Strategy:
        endpoints = self.emulator.endpoints_oauth(self.base)
        return anyoauth.AuthorizationCode(
            client_id=CLIENT,
            scope=VICTIM_SCOPE,
            redirect_uri=self.redirect_uri,
            authorization_endpoint=endpoints["authorization_endpoint"],
            token_endpoint=endpoints["token_endpoint"],
        )

    def victim_request(self) -> dict[str, str]:
        """The victim's authorization request, as the provider received it."""
        (request,) = [
            r for r in self.emulator.authorization_requests if r.get("scope") == VICTIM_SCOPE
        ]
        return request

    async def attacker_code(self, http: httpx.AsyncClient, state: str, challenge: str) -> str:
        """The attacker logs in at the same provider for their own account."""
        query = urlencode(
            {
                "response_type": "code",
                "client_id": CLIENT,
                "redirect_uri": self.redirect_uri,
                "scope": ATTACKER_SCOPE,
                "state": state,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        landed = await browse(http, f"{self.authorization_endpoint}?{query}")
        assert landed.startswith(self.redirect_uri + "?")
        return parse_qs(urlsplit(landed).query)["code"][0]

    async def send(self, http: httpx.AsyncClient, query: str, cookie: str | None = None) -> None:
        """The attacker's request to the listener's redirect URI (never following it)."""
        headers = {"Cookie": cookie} if cookie is not None else {}
        self.answers.append(await http.get(f"{self.redirect_uri}?{query}", headers=headers))

    def assert_all_ignored(self) -> None:
        assert self.answers
        for answer in self.answers:
            assert answer.status_code == 403
            assert "does not belong to the login in progress" in answer.text
            assert "Login received" not in answer.text
            assert FORGED_TEXT not in answer.text


@pytest.fixture
async def login() -> AsyncIterator[Login]:
    emulator = ProviderEmulator()
    port = free_port()
    emulator.add_oauth_client(
        CLIENT,
        redirect_uris=[f"http://127.0.0.1:{port}/callback"],
        auth_method="none",
        grant_types=["authorization_code"],
    )
    async with emulator.serve() as served:
        # localhost is another site than 127.0.0.1: the redirect back is cross-site.
        base = served.replace("://127.0.0.1:", "://localhost:")
        assert base != served
        yield Login(emulator, base, port)


Hook = Callable[[], Awaitable[None]]


async def in_chromium(
    chromium_path: str,
    start_url: str,
    seen: list[str],
    *,
    on_consent_page: Hook | None = None,
    click: bool = True,
    wait_for_text: str | None = DONE_TEXT,
    seconds: float = 20.0,
) -> None:
    """The victim's browser: opens ``start_url``, lets ``on_consent_page`` run (on the
    browser's asyncio loop) while the provider's consent page shows, clicks Allow,
    and waits for ``wait_for_text``; the last page's text goes to ``seen``."""

    async def steps() -> None:
        playwright = await start_playwright()
        try:
            browser = await launch_chromium(playwright, chromium_path)
            try:
                page = await browser.new_page()
                page.set_default_timeout(seconds * 1000)
                await page.goto(start_url)
                if on_consent_page is not None:
                    await page.get_by_role("button", name="Allow", exact=True).wait_for()
                    await on_consent_page()
                if click:
                    await page.get_by_role("button", name="Allow", exact=True).click()
                if wait_for_text is not None:
                    await page.get_by_text(wait_for_text).wait_for()
                seen.append(await page.inner_text("body"))
            finally:
                with suppress(Exception):
                    await browser.close()
        finally:
            await finish(playwright.stop())

    with anyio.fail_after(seconds + 10.0):
        await run_on_asyncio_thread(steps)


def assert_victims_token(login: Login, token: anyoauth.Token) -> None:
    assert token.scope == VICTIM_SCOPE
    assert login.emulator.is_valid_token(token.access_token)
    assert login.emulator.calls["oauth.token"] == 1
    assert DONE_TEXT in login.browser_text[-1]


async def test_another_accounts_code_without_the_state_is_ignored(
    chromium_path: str, login: Login, http_client: Any
) -> None:
    async def attack() -> None:
        async with httpx.AsyncClient() as attacker:
            verifier = secrets.token_urlsafe(48)
            code = await login.attacker_code(
                attacker, "attackers-own-state", challenge_of(verifier)
            )
            await login.send(attacker, f"code={code}")
            await login.send(attacker, f"code={code}&state=attackers-own-state")
            await login.send(attacker, f"code={code}&state=")

    async def open_browser(url: str) -> None:
        await in_chromium(chromium_path, url, login.browser_text, on_consent_page=attack)

    agent = LoopbackAgent(port=login.port, open_browser=open_browser, timeout=60)
    async with anyoauth.Client(login.strategy(), http=http_client) as client:
        token = await client.login(agent)
    assert_victims_token(login, token)
    login.assert_all_ignored()


async def test_the_right_state_without_the_browsers_cookie_is_ignored(
    chromium_path: str, login: Login, http_client: Any
) -> None:
    async def attack() -> None:
        # The attacker learned the victim's state and PKCE challenge (older versions
        # put the whole authorization URL on the browser's command line) and gets a
        # code for their own account bound to them.
        victim = login.victim_request()
        async with httpx.AsyncClient() as attacker:
            code = await login.attacker_code(attacker, victim["state"], victim["code_challenge"])
            query = f"code={code}&state={victim['state']}"
            await login.send(attacker, query)
            await login.send(attacker, query, cookie=f"anyoauth-login-{login.port}=guessed")
            await login.send(attacker, query, cookie="anyoauth-login=x; session=y")

    async def open_browser(url: str) -> None:
        await in_chromium(chromium_path, url, login.browser_text, on_consent_page=attack)

    agent = LoopbackAgent(port=login.port, open_browser=open_browser, timeout=60)
    async with anyoauth.Client(login.strategy(), http=http_client) as client:
        token = await client.login(agent)
    assert_victims_token(login, token)
    login.assert_all_ignored()


async def test_a_forged_error_without_the_state_or_cookie_is_ignored(
    chromium_path: str, login: Login, http_client: Any
) -> None:
    async def attack() -> None:
        forged = urlencode({"error": "access_denied", "error_description": FORGED_TEXT})
        state = login.victim_request()["state"]
        async with httpx.AsyncClient() as attacker:
            await login.send(attacker, forged)
            await login.send(attacker, forged + "&state=made-up")
            await login.send(attacker, forged + f"&state={state}")  # no cookie

    async def open_browser(url: str) -> None:
        await in_chromium(chromium_path, url, login.browser_text, on_consent_page=attack)

    agent = LoopbackAgent(port=login.port, open_browser=open_browser, timeout=60)
    async with anyoauth.Client(login.strategy(), http=http_client) as client:
        token = await client.login(agent)
    assert_victims_token(login, token)
    login.assert_all_ignored()


async def test_idle_and_slow_connections_do_not_keep_the_redirect_out(
    chromium_path: str, login: Login, http_client: Any
) -> None:
    idle: list[anyio.abc.SocketStream] = []
    loris_sent = 0

    async def slow_loris() -> None:
        nonlocal loris_sent
        request = f"GET /callback?code=loris HTTP/1.1\r\nHost: 127.0.0.1:{login.port}\r\n"
        async with await anyio.connect_tcp("127.0.0.1", login.port) as stream:
            with suppress(anyio.BrokenResourceError):  # closed at the read deadline
                for byte in request.encode():
                    await stream.send(bytes([byte]))
                    loris_sent += 1
                    await anyio.sleep(0.1)
            await anyio.sleep_forever()

    async def open_browser(url: str) -> None:
        # Before the browser even starts: more idle connections than the listener
        # holds, and one that sends its request a byte at a time.
        for _ in range(MAX_CONNECTIONS + 16):
            idle.append(await anyio.connect_tcp("127.0.0.1", login.port))
        tg.start_soon(slow_loris)
        await anyio.sleep(0.5)
        await in_chromium(chromium_path, url, login.browser_text)

    # A read deadline longer than the whole login: only the connection limit helps.
    agent = LoopbackAgent(port=login.port, open_browser=open_browser, timeout=60, read_timeout=60)
    async with (
        anyoauth.Client(login.strategy(), http=http_client) as client,
        anyio.create_task_group() as tg,
    ):
        token = await client.login(agent)
        tg.cancel_scope.cancel()
    assert_victims_token(login, token)
    assert loris_sent > 3  # it was still sending while the login went through
    # The oldest idle connections were closed to make room.
    with anyio.fail_after(5), pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
        await idle[0].receive()
    for stream in idle:
        await stream.aclose()


async def test_a_start_url_opened_first_by_another_program_stops_the_login(
    chromium_path: str, login: Login, http_client: Any
) -> None:
    stolen: list[httpx.Response] = []

    async def open_browser(url: str) -> None:
        # The attacker reads the start address off the browser's command line and
        # opens it before the browser does.
        async with httpx.AsyncClient() as attacker:
            stolen.append(await attacker.get(url))
        await in_chromium(
            chromium_path, url, login.browser_text, click=False, wait_for_text=STOPPED_TEXT
        )

    agent = LoopbackAgent(port=login.port, open_browser=open_browser, timeout=15)
    async with anyoauth.Client(login.strategy(), http=http_client) as client:
        with pytest.raises(anyoauth.AgentError, match="opened a second time") as stopped:
            await client.login(agent)
    assert "state" not in str(stopped.value)
    (first,) = stolen
    assert first.status_code == 302
    assert first.headers["location"].startswith(login.authorization_endpoint + "?")
    assert STOPPED_TEXT in login.browser_text[-1]
    # The attacker finishes a login for their own account with the cookie it got:
    # the listener is gone.
    async with httpx.AsyncClient(cookies=first.cookies) as attacker:
        landed = await browse(attacker, first.headers["location"])
        with pytest.raises(httpx.ConnectError):
            await attacker.get(landed)
    assert login.emulator.calls["oauth.token"] == 0


async def test_a_start_url_opened_again_after_the_browser_stops_the_login(
    chromium_path: str, login: Login, http_client: Any
) -> None:
    async def attack() -> None:
        async with httpx.AsyncClient() as attacker:
            login.answers.append(await attacker.get(start[0]))

    start: list[str] = []

    async def open_browser(url: str) -> None:
        start.append(url)
        await in_chromium(
            chromium_path,
            url,
            login.browser_text,
            on_consent_page=attack,
            click=False,
            wait_for_text=None,
        )
        await anyio.sleep_forever()

    agent = LoopbackAgent(port=login.port, open_browser=open_browser, timeout=15)
    async with anyoauth.Client(login.strategy(), http=http_client) as client:
        with pytest.raises(anyoauth.AgentError, match="opened a second time"):
            await client.login(agent)
    (second,) = login.answers
    assert second.status_code == 403
    assert STOPPED_TEXT in second.text
    assert "location" not in second.headers
    assert "set-cookie" not in second.headers
    assert login.emulator.calls["oauth.token"] == 0


async def test_past_the_connection_limit_the_oldest_idle_connection_is_closed() -> None:
    agent = LoopbackAgent(read_timeout=60)
    strategy = anyoauth.AuthorizationCode(
        client_id=CLIENT,
        redirect_uri="http://127.0.0.1/callback",
        authorization_endpoint="https://as.example/authorize",
        token_endpoint="https://as.example/token",
    )
    async with agent.session(strategy) as session, anyio.create_task_group() as tg:
        port = urlsplit(session.redirect_uri).port
        assert port is not None
        tg.start_soon(session.authorize, "https://as.example/authorize?state=s")
        idle = [await anyio.connect_tcp("127.0.0.1", port) for _ in range(MAX_CONNECTIONS)]
        # A fresh connection past the limit is served, not refused...
        async with await anyio.connect_tcp("127.0.0.1", port) as fresh:
            await fresh.send(
                f"GET /favicon.ico HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
            )
            with anyio.fail_after(5):
                assert (await fresh.receive()).startswith(b"HTTP/1.1 404 ")
        # ... and the oldest idle one was closed for it; the newer ones are still open.
        with anyio.fail_after(5), pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
            await idle[0].receive()
        with anyio.move_on_after(0.2) as still_open:
            await idle[-1].receive()
        assert still_open.cancelled_caught
        for stream in idle:
            await stream.aclose()
        tg.cancel_scope.cancel()


# -- the system browser's command line ------------------------------------------------------

START_ADDRESS = re.compile(rb"127\.0\.0\.1:[0-9]+/start/[A-Za-z0-9_-]{43}")


def command_lines() -> dict[int, list[bytes]]:
    """What every local user can read: each process's command line (``/proc/PID/cmdline``)."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with suppress(OSError):
                found[int(entry)] = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
    return found


@attrs.define
class Snooper:
    """Another local user polling the process table for the login's start address.

    Start addresses are looked for in every process; launch pages (``file_urls``) only
    in the processes of this test's browser, those whose command line names ``marker``
    (its profile directory): browsers of tests running beside it have their own."""

    marker: bytes
    start_urls: list[str] = attrs.field(factory=list)
    file_urls: set[str] = attrs.field(factory=set)
    modes: list[tuple[int, int]] = attrs.field(factory=list)
    scans: int = 0

    def scan(self) -> str | None:
        self.scans += 1
        for argv in command_lines().values():
            for arg in argv:
                if (match := START_ADDRESS.search(arg)) is not None:
                    self.start_urls.append("http://" + match.group().decode())
                if (
                    arg.startswith(b"file://")
                    and b"anyoauth" in arg
                    and any(self.marker in other for other in argv)
                ):
                    self.file_urls.add(arg.decode())
                    with suppress(OSError):
                        page = Path(unquote(urlsplit(arg.decode()).path))
                        self.modes.append((page.parent.stat().st_mode, page.stat().st_mode))
        return self.start_urls[0] if self.start_urls else None


async def drive_cdp_browser(profile: Path, seen: list[str], seconds: float = 30.0) -> None:
    """The user at the browser the agent launched: attaches over the DevTools port the
    browser was started with, clicks Allow on the consent page, waits for the
    listener's last page, and closes the browser."""
    from playwright.async_api import Browser

    active = profile / "DevToolsActivePort"
    with anyio.fail_after(seconds):
        while not active.exists() or not active.read_text().strip():  # noqa: ASYNC110 - the browser writes it
            await anyio.sleep(0.05)
    port = int(active.read_text().split()[0])

    async def steps() -> None:
        playwright = await start_playwright()
        try:
            browser: Browser = await playwright.chromium.connect_over_cdp(
                f"http://127.0.0.1:{port}"
            )
            try:
                while not (browser.contexts and browser.contexts[0].pages):  # noqa: ASYNC110 - polling
                    await asyncio.sleep(0.05)
                page = browser.contexts[0].pages[0]
                page.set_default_timeout(seconds * 1000)
                await page.get_by_role("button", name="Allow", exact=True).click()
                await page.get_by_text(DONE_TEXT).wait_for()
                seen.append(await page.inner_text("body"))
            finally:
                with suppress(Exception):
                    cdp = await browser.new_browser_cdp_session()
                    await cdp.send("Browser.close")
        finally:
            await finish(playwright.stop())

    with anyio.fail_after(seconds + 10.0):
        await run_on_asyncio_thread(steps)


def end_browser(profile: Path) -> None:
    """Kill the processes of the browser started with ``profile``, if any still run."""
    marker = f"--user-data-dir={profile}".encode()
    for pid, argv in command_lines().items():
        if marker in argv:
            with suppress(OSError):
                os.kill(pid, signal.SIGKILL)


async def test_the_system_browsers_command_line_never_shows_the_start_url(
    chromium_path: str,
    login: Login,
    http_client: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # The platform browser, as webbrowser starts it: $BROWSER names a real Chromium,
    # started with the URL the agent opens as its last argument.
    profile = tmp_path / "profile"
    command = [
        chromium_path,
        "--headless=new",
        *(["--no-sandbox"] if running_as_root() else []),
        f"--user-data-dir={profile}",
        "--remote-debugging-port=0",
        *CHROMIUM_FLAGS,
        "%s",
    ]
    monkeypatch.setenv("BROWSER", shlex.join(command))
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(webbrowser, "_tryorder", None)  # read $BROWSER afresh
    monkeypatch.setattr(webbrowser, "_browsers", {})
    snooper = Snooper(marker=os.fsencode(profile))
    attacks: list[int] = []
    browser_done = anyio.Event()

    async def attacker() -> None:
        while (url := snooper.scan()) is None:  # noqa: ASYNC110 - polling /proc
            await anyio.sleep(0.005)
        # Found: open it first and log in for the attacker's own account.
        async with httpx.AsyncClient() as http:
            start = await http.get(url)
            location = urlsplit(start.headers["location"])
            query = {k: v[0] for k, v in parse_qs(location.query).items()}
            query["scope"] = ATTACKER_SCOPE
            landed = await browse(http, location._replace(query=urlencode(query)).geturl())
            attacks.append((await http.get(landed)).status_code)

    async def user() -> None:
        try:
            await drive_cdp_browser(profile, login.browser_text)
        finally:
            browser_done.set()

    agent = SystemBrowserAgent(port=login.port, timeout=60)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(attacker)
            tg.start_soon(user)
            async with anyoauth.Client(login.strategy(), http=http_client) as client:
                token = await client.login(agent)
            with anyio.move_on_after(30):
                await browser_done.wait()
            tg.cancel_scope.cancel()
    finally:
        end_browser(profile)
    assert snooper.start_urls == []
    assert attacks == []
    assert snooper.scans > 10
    assert_victims_token(login, token)
    # The browser was started with a launch page's file:// URL: private while it
    # existed, and gone now.
    (file_url,) = snooper.file_urls
    assert not launch_page(file_url).parent.exists()
    for directory_mode, file_mode in snooper.modes:
        assert stat.S_IMODE(directory_mode) == 0o700
        assert stat.S_IMODE(file_mode) == 0o600


def launch_page(url: str) -> Path:
    """The launch page's path, from its ``file://`` URL."""
    assert url.startswith("file:///")
    return Path(unquote(urlsplit(url).path))


@pytest.mark.parametrize("end", ["start address opened", "deadline", "cancelled"])
async def test_the_launch_page_is_private_and_removed_when_it_is_used_or_the_login_ends(
    end: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    opened: list[str] = []
    seen = anyio.Event()

    async def opener(url: str) -> None:
        opened.append(url)
        seen.set()

    agent = SystemBrowserAgent(open_browser=opener, timeout=2 if end == "deadline" else 30)
    strategy = anyoauth.AuthorizationCode(
        client_id=CLIENT,
        redirect_uri="http://127.0.0.1/callback",
        authorization_endpoint="https://as.example/authorize",
        token_endpoint="https://as.example/token",
    )
    async with agent.session(strategy) as session, anyio.create_task_group() as tg:
        failures: list[BaseException] = []

        async def authorize() -> None:
            try:
                await session.authorize("https://as.example/authorize?state=s")
            except anyoauth.AgentError as exc:
                failures.append(exc)

        tg.start_soon(authorize)
        with anyio.fail_after(5):
            await seen.wait()
        (url,) = opened
        page = launch_page(url)
        # A file only this user can read, in a fresh directory only this user can enter,
        # in the private runtime directory; it sends the browser to the start address.
        assert page.parent.parent == runtime
        assert stat.S_IMODE(page.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(page.stat().st_mode) == 0o600
        assert page.parent.stat().st_uid == page.stat().st_uid == os.geteuid()
        assert os.listdir(page.parent) == [page.name]
        text = page.read_text()
        assert session.start_url in text
        assert session.start_url not in url
        assert 'name="referrer" content="no-referrer"' in text
        if end == "start address opened":
            async with httpx.AsyncClient() as browser:
                first = await browser.get(session.start_url)
            assert first.status_code == 302
            assert not page.parent.exists()  # gone at once, while the login goes on
            assert not failures
            tg.cancel_scope.cancel()
        elif end == "cancelled":
            assert page.exists()
            tg.cancel_scope.cancel()
    if end == "deadline":
        (failure,) = failures
        assert "within" in str(failure)
    assert not page.parent.exists()
    assert list(runtime.iterdir()) == []


async def test_the_launch_page_avoids_a_runtime_directory_others_can_enter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o755)
    runtime.chmod(0o755)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # read $TMPDIR afresh
    opened: list[str] = []

    async def opener(url: str) -> None:
        page = launch_page(url)
        opened.append(url)
        assert page.parent.parent == tmp_path
        assert stat.S_IMODE(page.parent.stat().st_mode) == 0o700

    agent = SystemBrowserAgent(open_browser=opener, timeout=0.5)
    strategy = anyoauth.AuthorizationCode(
        client_id=CLIENT,
        redirect_uri="http://127.0.0.1/callback",
        authorization_endpoint="https://as.example/authorize",
        token_endpoint="https://as.example/token",
    )
    async with agent.session(strategy) as session:
        with pytest.raises(anyoauth.AgentError, match="within"):
            await session.authorize("https://as.example/authorize?state=s")
    assert len(opened) == 1
    assert list(runtime.iterdir()) == []
    assert not launch_page(opened[0]).parent.exists()
