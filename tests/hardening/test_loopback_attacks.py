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
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import anyio
import anyio.abc
import attrs
import httpx
import pytest

import anyoauth
from agents.chromium import (
    CHROMIUM_FLAGS,
    finish,
    run_on_asyncio_thread,
    running_as_root,
    start_playwright,
)
from anyoauth.agents import LoopbackAgent
from anyoauth.agents._loopback import MAX_CONNECTIONS
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
            browser = await playwright.chromium.launch(
                executable_path=chromium_path,
                headless=True,
                args=list(CHROMIUM_FLAGS),
                chromium_sandbox=not running_as_root(),
            )
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
