"""The embedded-browser agent and the URL watcher, against a real headless Chromium and the
provider emulator on a loopback port; and the loopback agent with Chromium as the browser."""

from __future__ import annotations

import http.server
import os
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import anyio
import anyio.to_thread
import pytest
from anyio import wait_all_tasks_blocked

import anyoauth
from agents.chromium import CHROMIUM_FLAGS, open_in_chromium
from anyoauth.agents import AgentSession, EmbeddedBrowserAgent, UrlWatcher, default_agent
from anyoauth.providers import BankOfGeorgia, Geni, Keycloak, Teamwork
from anyoauth.testing import ProviderEmulator
from support.internals import CLOSED_REASON, system_chromium

if TYPE_CHECKING:
    from playwright.async_api import Page

pytestmark = pytest.mark.anyio

GENI = Geni("geni-app")
SUCCESS = "https://www.geni.com/platform/oauth/auth_success"
FAILURE = "https://www.geni.com/platform/oauth/auth_failed"


# -- helpers -------------------------------------------------------------------------------


def free_port() -> int:
    """A loopback port nobody listens on (at the time of asking)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _proc_table() -> dict[int, tuple[int, bytes]]:
    """pid -> (parent pid, command line) of every live process."""
    table: dict[int, tuple[int, bytes]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                fields = stat.read().rpartition(b")")[2].split()
            with open(f"/proc/{entry.name}/cmdline", "rb") as cmdline:
                command = cmdline.read()
        except OSError:
            continue
        if fields[0] != b"Z":
            table[int(entry.name)] = (int(fields[1]), command)
    return table


def browser_processes(profile_root: Path) -> list[int]:
    """Chromium processes using a profile under ``profile_root``, and the Playwright
    driver or Chromium processes this test process started."""
    if not Path("/proc/self/stat").exists():  # pragma: no cover - not Linux
        pytest.skip("needs /proc")
    table = _proc_table()
    found = [pid for pid, (_, command) in table.items() if str(profile_root).encode() in command]
    for pid, (parent, command) in table.items():
        while parent in table and parent != os.getpid():
            parent = table[parent][0]
        if parent == os.getpid() and (b"playwright" in command or b"chromium" in command):
            found.append(pid)
    return sorted(set(found))


def leftovers(tmp_path: Path) -> tuple[list[str], list[int]]:
    """What a login left under ``tmp_path`` (profiles) and in the process table."""
    return sorted(os.listdir(tmp_path)), browser_processes(tmp_path)


def click(name: str) -> Callable[[Page], Any]:
    """An ``automate`` hook that clicks the consent button called ``name``."""

    async def automate(page: Page) -> None:
        await page.get_by_role("button", name=name, exact=True).click()

    return automate


@pytest.fixture
def emulator() -> ProviderEmulator:
    emulator = ProviderEmulator()
    emulator.add_geni_app("geni-app")
    return emulator


@pytest.fixture
async def base_url(emulator: ProviderEmulator) -> AsyncIterator[str]:
    async with emulator.serve() as base:
        yield base


@pytest.fixture
async def geni_client(emulator: ProviderEmulator, base_url: str) -> AsyncIterator[anyoauth.Client]:
    async with anyoauth.Client(Geni("geni-app", **emulator.endpoints_geni(base_url))) as client:
        yield client


def agent(chromium_path: str, tmp_path: Path, **options: Any) -> EmbeddedBrowserAgent:
    """A headless agent whose profiles go under ``tmp_path``."""
    options.setdefault("timeout", 30.0)
    return EmbeddedBrowserAgent(
        executable_path=chromium_path,
        headless=True,
        args=CHROMIUM_FLAGS,
        temp_dir=tmp_path,
        **options,
    )


# -- UrlWatcher ----------------------------------------------------------------------------


def test_watcher_ignores_everything_but_the_special_urls() -> None:
    watcher = UrlWatcher(GENI)
    assert not watcher.feed("about:blank")
    assert not watcher.feed("https://www.geni.com/platform/oauth/authorize?client_id=x")
    assert not watcher.feed("https://www.geni.com/platform/oauth/authorize#consent")
    assert watcher.result is None
    assert not watcher.done
    assert watcher.feed(f"{SUCCESS}#access_token=t&expires_in=60")
    assert watcher.result == f"{SUCCESS}#access_token=t&expires_in=60"
    assert watcher.done
    assert "t&" not in repr(watcher)


def test_watcher_sees_fragment_only_changes() -> None:
    watcher = UrlWatcher(GENI)
    assert not watcher.feed("https://www.geni.com/platform/oauth/auth_succes")
    assert watcher.feed(f"{SUCCESS}#access_token%3Dt%26expires_in%3D60")


@pytest.mark.parametrize(
    "url",
    [
        "https://WWW.GENI.COM/platform/oauth/auth_success#access_token=t",
        "https://www.geni.com:443/platform/oauth/auth_success#access_token=t",
        f"{FAILURE}#status=unauthorized&message=user+canceled",
        f"{SUCCESS}?x=1#access_token=t",
    ],
)
def test_watcher_matches_by_parsed_components(url: str) -> None:
    assert UrlWatcher(GENI).feed(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://www.geni.com@evil.example/platform/oauth/auth_success#access_token=t",
        "https://ok@www.geni.com/platform/oauth/auth_success#access_token=t",
        "https://www.geni.com.evil.example/platform/oauth/auth_success#access_token=t",
        "https://evil.example/platform/oauth/auth_success#access_token=t",
        "https://geni.com/platform/oauth/auth_success#access_token=t",
        "https://evil.example/https://www.geni.com/platform/oauth/auth_success",
        "https://evil.example/?next=https://www.geni.com/platform/oauth/auth_success",
        "https://evil.example/#https://www.geni.com/platform/oauth/auth_success",
        "https://www.geni.com/platform/oauth/auth_success/more#access_token=t",
        "https://www.geni.com/platform/oauth/auth_successful#access_token=t",
        "https://www.geni.com/platform/oauth/AUTH_SUCCESS#access_token=t",
        "http://www.geni.com/platform/oauth/auth_success#access_token=t",
        "https://www.geni.com:8443/platform/oauth/auth_success#access_token=t",
        "https://www.geni.com/platform/oauth/authorize?next=/platform/oauth/auth_success",
        "https://www.geni.com/platform/oauth/auth_success\n#access_token=t",
        "javascript:location='https://www.geni.com/platform/oauth/auth_success'",
        "chrome-error://chromewebdata/",
        "",
        "not a url",
    ],
)
def test_watcher_never_matches_lookalikes(url: str) -> None:
    watcher = UrlWatcher(GENI)
    assert not watcher.feed(url)
    assert watcher.result is None


async def test_only_the_first_match_counts() -> None:
    watcher = UrlWatcher(GENI)
    assert watcher.feed(f"{FAILURE}#status=unauthorized&message=user+canceled")
    assert not watcher.feed(f"{SUCCESS}#access_token=t")
    assert not watcher.cancel("closed")
    assert await watcher.wait() == f"{FAILURE}#status=unauthorized&message=user+canceled"
    assert await watcher.wait() == watcher.result


async def test_wait_returns_when_a_later_url_matches() -> None:
    watcher = UrlWatcher(GENI)
    results: list[str] = []
    async with anyio.create_task_group() as tg:

        async def waiter() -> None:
            results.append(await watcher.wait())

        tg.start_soon(waiter)
        tg.start_soon(waiter)
        await wait_all_tasks_blocked()
        assert not watcher.feed("https://www.geni.com/platform/oauth/authorize")
        assert watcher.feed(f"{SUCCESS}#access_token=t")
    assert results == [f"{SUCCESS}#access_token=t"] * 2


async def test_cancel_makes_wait_raise_agent_error() -> None:
    watcher = UrlWatcher(GENI)
    async with anyio.create_task_group() as tg:

        async def cancel_soon() -> None:
            await wait_all_tasks_blocked()
            assert watcher.cancel("the user closed the window")

        tg.start_soon(cancel_soon)
        with pytest.raises(anyoauth.AgentError, match="the user closed the window"):
            await watcher.wait()
    assert not watcher.feed(f"{SUCCESS}#access_token=t")
    assert watcher.result is None
    with pytest.raises(anyoauth.AgentError, match="closed the window"):
        await watcher.wait()
    assert not watcher.cancel()


async def test_a_cancelled_wait_leaves_the_watcher_usable() -> None:
    watcher = UrlWatcher(GENI)
    with anyio.move_on_after(0.01):
        await watcher.wait()
    assert watcher.feed(f"{SUCCESS}#access_token=t")
    assert await watcher.wait() == f"{SUCCESS}#access_token=t"


@pytest.mark.parametrize("action", ["feed", "cancel"])
async def test_feed_and_cancel_from_another_thread(action: str) -> None:
    """A GUI toolkit calls the watcher from its own thread while the loop waits."""
    watcher = UrlWatcher(GENI)
    outcome: list[object] = []

    def gui_thread() -> None:
        if action == "feed":
            outcome.append(watcher.feed("https://www.geni.com/platform/oauth/authorize"))
            outcome.append(watcher.feed(f"{SUCCESS}#access_token=t"))
        else:
            outcome.append(watcher.cancel("window destroyed"))

    thread = threading.Thread(target=gui_thread)
    async with anyio.create_task_group() as tg:

        async def start_thread() -> None:
            await wait_all_tasks_blocked()
            thread.start()

        tg.start_soon(start_thread)
        with anyio.fail_after(10):
            if action == "feed":
                assert await watcher.wait() == f"{SUCCESS}#access_token=t"
            else:
                with pytest.raises(anyoauth.AgentError, match="window destroyed"):
                    await watcher.wait()
    await anyio.to_thread.run_sync(thread.join)
    assert outcome == ([False, True] if action == "feed" else [True])


def test_watcher_needs_urls_to_watch_for() -> None:
    with pytest.raises(anyoauth.ConfigurationError):
        UrlWatcher(Keycloak("https://kc.example/auth", "realm", "id", "secret"))


# -- EmbeddedBrowserAgent without a browser --------------------------------------------------


def test_default_agent_for_geni_is_the_embedded_browser() -> None:
    assert isinstance(default_agent(GENI), EmbeddedBrowserAgent)


@pytest.mark.parametrize("options", [{"timeout": 0}, {"timeout": -1.0}, {"args": "--no-first-run"}])
def test_bad_arguments_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(anyoauth.ConfigurationError):
        EmbeddedBrowserAgent(**options)


def test_default_browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    own = tmp_path / "playwright-chromium"
    system = tmp_path / "bin" / "chromium-browser"
    system.parent.mkdir()
    system.write_text("#!/bin/sh\n")
    system.chmod(0o755)
    monkeypatch.setenv("PATH", str(system.parent))
    assert system_chromium(str(own)) == str(system)  # Playwright's own is not installed
    own.write_text("")
    assert system_chromium(str(own)) is None  # Playwright's own is used
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    own.unlink()
    assert system_chromium(str(own)) is None  # left to Playwright, which says what is missing


async def test_session_keeps_the_strategys_special_urls() -> None:
    agent = EmbeddedBrowserAgent(executable_path="/usr/bin/chromium", headless=True)
    assert "/usr/bin/chromium" in repr(agent)
    async with agent.session(GENI) as session:
        assert isinstance(session, AgentSession)
        assert session.redirect_uri is None
    with pytest.raises(anyoauth.ConfigurationError):
        async with agent.session(Keycloak("https://kc.example/auth", "r", "id", "secret")):
            pass  # pragma: no cover


async def test_missing_playwright_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "playwright", None)
    monkeypatch.setitem(sys.modules, "playwright.async_api", None)
    async with anyoauth.Client(GENI) as client:
        with pytest.raises(anyoauth.ConfigurationError, match=r"'anyoauth\[playwright\]'"):
            await client.login(EmbeddedBrowserAgent())


async def test_an_old_playwright_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("playwright.async_api")
    monkeypatch.setattr("importlib.metadata.version", lambda name: "1.52.0")
    with pytest.raises(anyoauth.ConfigurationError, match=r"Playwright 1\.53 or newer"):
        async with EmbeddedBrowserAgent().session(GENI):
            pass  # pragma: no cover


async def test_a_browser_that_cannot_start_is_an_agent_error(
    chromium_path: str, geni_client: anyoauth.Client, tmp_path: Path
) -> None:
    broken = EmbeddedBrowserAgent(executable_path=tmp_path / "no-chromium", headless=True)
    with pytest.raises(anyoauth.AgentError, match="Chromium could not be started") as caught:
        await geni_client.login(broken)
    assert caught.value.__cause__ is not None


async def test_a_profile_that_cannot_be_created_is_an_agent_error(
    geni_client: anyoauth.Client, tmp_path: Path
) -> None:
    pytest.importorskip("playwright.async_api")
    nowhere = EmbeddedBrowserAgent(headless=True, temp_dir=tmp_path / "missing")
    with pytest.raises(anyoauth.AgentError, match="no temporary profile could be created"):
        await geni_client.login(nowhere)


# -- EmbeddedBrowserAgent with Chromium ------------------------------------------------------


@pytest.mark.parametrize("percent_encoded", [False, True], ids=["plain", "percent-encoded"])
async def test_geni_desktop_login(
    chromium_path: str,
    tmp_path: Path,
    emulator: ProviderEmulator,
    base_url: str,
    geni_client: anyoauth.Client,
    percent_encoded: bool,
) -> None:
    emulator.geni_percent_encode_fragment = percent_encoded
    during: list[Any] = []

    async def allow(page: Page) -> None:
        during.extend(leftovers(tmp_path))
        await click("Allow")(page)

    token = await geni_client.login(agent(chromium_path, tmp_path, automate=allow))

    assert emulator.is_valid_token(token.access_token)
    assert token.expires_at is not None
    assert emulator.calls["geni.authorize"] == 1
    assert emulator.calls["geni.decision"] == 1
    assert emulator.calls["geni.auth_success"] == 0  # the success page is never fetched
    assert emulator.authorization_requests[0]["display"] == "desktop"
    # A temporary profile and a Chromium using it existed during the login...
    assert len(during[0]) == 1
    assert during[0][0].startswith("anyoauth-chromium-")
    assert during[1]
    # ... and neither is left afterwards.
    assert leftovers(tmp_path) == ([], [])


class _Pages(http.server.BaseHTTPRequestHandler):
    """A provider whose success page would load more and navigate away."""

    paths: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.paths.append(self.path)
        if self.path == "/start":
            self.send_response(302)
            self.send_header("Location", "/done#access_token=t")
            self.end_headers()
            return
        body = (
            b'<img src="/pixel.png"><script src="/script.js"></script>'
            b'<script>location.replace("/elsewhere")</script>'
        )
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


async def test_nothing_more_is_fetched_after_the_match(chromium_path: str, tmp_path: Path) -> None:
    _Pages.paths = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        strategy = anyoauth.ImplicitDesktop(
            client_id="app", authorization_endpoint=f"{base}/start", success_url=f"{base}/done"
        )
        async with agent(chromium_path, tmp_path).session(strategy) as session:
            assert await session.authorize(f"{base}/start") == f"{base}/done#access_token=t"
    finally:
        await anyio.to_thread.run_sync(server.shutdown)
        server.server_close()
        await anyio.to_thread.run_sync(thread.join)
    assert _Pages.paths == ["/start"]  # the success page itself is never fetched
    assert leftovers(tmp_path) == ([], [])


async def test_geni_denied(
    chromium_path: str,
    tmp_path: Path,
    emulator: ProviderEmulator,
    geni_client: anyoauth.Client,
) -> None:
    with pytest.raises(anyoauth.AuthorizationDenied) as caught:
        await geni_client.login(agent(chromium_path, tmp_path, automate=click("Don't Allow")))
    assert caught.value.error == "unauthorized"
    assert caught.value.error_description == "user canceled"
    assert emulator.calls["geni.auth_failed"] == 0  # the failure page is never fetched
    with pytest.raises(anyoauth.LoginRequired):
        await geni_client.token()
    assert leftovers(tmp_path) == ([], [])


async def test_timeout_is_an_agent_error_and_leaves_nothing(
    chromium_path: str, tmp_path: Path, geni_client: anyoauth.Client
) -> None:
    async def hang(page: Page) -> None:
        await anyio.sleep(3600)  # interrupted when the login times out

    started = time.monotonic()
    with pytest.raises(anyoauth.AgentError, match=r"did not finish within 1.5 s"):
        await geni_client.login(agent(chromium_path, tmp_path, timeout=1.5, automate=hang))
    assert time.monotonic() - started < 10
    assert leftovers(tmp_path) == ([], [])


async def test_timeout_while_chromium_starts(
    chromium_path: str, tmp_path: Path, geni_client: anyoauth.Client
) -> None:
    with pytest.raises(anyoauth.AgentError, match="did not finish"):
        await geni_client.login(agent(chromium_path, tmp_path, timeout=0.2))
    assert leftovers(tmp_path) == ([], [])


@pytest.mark.parametrize("delay", [0.1, 0.5])
async def test_cancellation_closes_chromium(
    chromium_path: str, tmp_path: Path, geni_client: anyoauth.Client, delay: float
) -> None:
    """Cancelled while Playwright's driver or Chromium starts, nothing is left behind
    (the timeout test covers a cancellation once the page is shown)."""
    with anyio.move_on_after(delay):
        await geni_client.login(agent(chromium_path, tmp_path))
    assert leftovers(tmp_path) == ([], [])


async def test_closing_the_window_is_an_agent_error(
    chromium_path: str, tmp_path: Path, geni_client: anyoauth.Client
) -> None:
    async def close(page: Page) -> None:
        # Chromium sometimes never finishes closing a page that is still loading.
        await page.wait_for_load_state("load")
        await page.close()

    with pytest.raises(anyoauth.AgentError, match=CLOSED_REASON):
        await geni_client.login(agent(chromium_path, tmp_path, automate=close))
    assert leftovers(tmp_path) == ([], [])


async def test_an_unreachable_page_is_an_agent_error(
    chromium_path: str, tmp_path: Path, emulator: ProviderEmulator, base_url: str
) -> None:
    endpoints = emulator.endpoints_geni(base_url)
    endpoints["authorize_url"] = f"http://127.0.0.1:{free_port()}/platform/oauth/authorize"
    async with anyoauth.Client(Geni("geni-app", **endpoints)) as client:
        with pytest.raises(anyoauth.AgentError, match=r"could not be loaded \(net::ERR_") as caught:
            await client.login(agent(chromium_path, tmp_path))
    assert "state=" not in str(caught.value)
    assert leftovers(tmp_path) == ([], [])


# -- LoopbackAgent with Chromium as the system browser -----------------------------------------


async def assert_port_closed(port: int) -> None:
    try:
        stream = await anyio.connect_tcp("127.0.0.1", port)
    except OSError:
        return
    await stream.aclose()  # pragma: no cover
    pytest.fail(f"port {port} is still open")


async def test_teamwork_through_loopback_and_chromium(chromium_path: str) -> None:
    from anyoauth.agents import LoopbackAgent

    port = free_port()
    redirect_uri = f"http://127.0.0.1:{port}/callback"
    emulator = ProviderEmulator()
    emulator.add_teamwork_app("tw-app", "tw-secret", redirect_uris=[redirect_uri])
    async with emulator.serve() as base:
        strategy = Teamwork(
            "tw-app", "tw-secret", redirect_uri, **emulator.endpoints_teamwork(base)
        )
        loopback = LoopbackAgent(
            port=port, open_browser=lambda url: open_in_chromium(chromium_path, url), timeout=30
        )
        async with anyoauth.Client(strategy) as client:
            token = await client.login(loopback)
    assert emulator.is_valid_token(token.access_token)
    assert token.extra["installation"]["apiEndPoint"] == f"{base}/"
    assert emulator.calls["teamwork.token"] == 1
    await assert_port_closed(port)


async def test_bank_of_georgia_fragment_through_the_relay_page(chromium_path: str) -> None:
    from anyoauth.agents import LoopbackAgent

    port = free_port()
    redirect_uri = f"http://127.0.0.1:{port}/callback"
    emulator = ProviderEmulator(keycloak_response_mode="fragment")
    emulator.add_keycloak_client("bog-app", "bog-secret", redirect_uris=[redirect_uri])
    async with emulator.serve() as base:
        strategy = BankOfGeorgia(
            "bog-app", "bog-secret", redirect_uri=redirect_uri, **emulator.endpoints_keycloak(base)
        )
        loopback = LoopbackAgent(
            port=port, open_browser=lambda url: open_in_chromium(chromium_path, url), timeout=30
        )
        async with anyoauth.Client(strategy) as client:
            token = await client.login(loopback)
    assert emulator.is_valid_token(token.access_token)
    assert token.token_type.lower() == "bearer"
    assert emulator.calls["keycloak.decision"] == 1
    assert emulator.calls["keycloak.token"] == 0  # the token came through the fragment
    await assert_port_closed(port)


async def test_a_redirect_with_a_wrong_state_is_ignored(chromium_path: str) -> None:
    from anyoauth.agents import LoopbackAgent

    port = free_port()
    redirect_uri = f"http://127.0.0.1:{port}/callback"
    emulator = ProviderEmulator()
    emulator.add_teamwork_app("tw-app", "tw-secret", redirect_uris=[redirect_uri])

    async def forged(url: str) -> None:
        # An attacker's page sends the browser to the listener with its own code: the
        # listener ignores it and keeps waiting for the real result.
        await open_in_chromium(
            chromium_path,
            f"{redirect_uri}?code=forged&state=wrong",
            click=None,
            wait_for_text="does not belong to the login in progress",
        )

    async with emulator.serve() as base:
        strategy = Teamwork(
            "tw-app", "tw-secret", redirect_uri, **emulator.endpoints_teamwork(base)
        )
        async with anyoauth.Client(strategy) as client:
            with pytest.raises(anyoauth.AgentError, match="no login result"):
                await client.login(LoopbackAgent(port=port, open_browser=forged, timeout=5))
    assert emulator.calls["teamwork.token"] == 0
    await assert_port_closed(port)
