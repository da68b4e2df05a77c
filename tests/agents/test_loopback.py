"""The loopback listener, the system browser agent and the manual agent, on real ports."""

from __future__ import annotations

import base64
import builtins
import hashlib
import html
import re
import socket
import webbrowser
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit

import anyio
import anyio.abc
import anyio.from_thread
import pytest

import anyoauth
from anyoauth.agents import (
    MAX_REQUEST_BYTES,
    AgentSession,
    LoopbackAgent,
    ManualAgent,
    SystemBrowserAgent,
    UserAgent,
)
from anyoauth.providers import Geni, Keycloak, Teamwork
from anyoauth.testing import ProviderEmulator, browse

pytestmark = pytest.mark.anyio

TW_ID, TW_SECRET = "tw-app", "tw-secret-SENTINEL"
KC_ID, KC_SECRET = "kc-app", "kc-secret-SENTINEL"
PLAIN = anyoauth.Strategy(
    client_id="plain",
    authorization_endpoint="https://as.example/authorize",
    token_endpoint="https://as.example/token",
)  # no redirect_uri: each agent's own settings decide where it listens
SECURITY_HEADERS = {
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
}


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_of(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


async def assert_closed(port: int, host: str = "127.0.0.1") -> None:
    try:
        stream = await anyio.connect_tcp(host, port)
    except OSError:
        return
    await stream.aclose()
    pytest.fail(f"port {port} is still open")


async def wait_until_open(port: int) -> None:
    with anyio.fail_after(5):
        while True:
            try:
                stream = await anyio.connect_tcp("127.0.0.1", port)
            except OSError:
                await anyio.sleep(0.01)
            else:
                await stream.aclose()
                return


def assert_secure(headers: Mapping[str, str]) -> None:
    lowered = {k.lower(): v for k, v in headers.items()}
    for name, value in SECURITY_HEADERS.items():
        assert lowered.get(name) == value, name
    csp = lowered["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "'unsafe-inline'" not in csp
    assert lowered["content-type"] == "text/html; charset=utf-8"


class Raw:
    """A response read off a raw socket: the listener always closes after one."""

    def __init__(self, data: bytes) -> None:
        head, _, self.body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split(" ")[1])
        self.headers = dict(line.split(": ", 1) for line in lines[1:])

    @property
    def text(self) -> str:
        return self.body.decode()


async def raw(port: int, data: bytes) -> Raw:
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(data)
        received = b""
        with anyio.fail_after(5):
            while True:
                try:
                    received += await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    break
    return Raw(received)


def get(target: str, port: int, method: str = "GET", cookie: str | None = None) -> bytes:
    extra = f"Cookie: {cookie}\r\n" if cookie else ""
    return f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}\r\n".encode()


class Form(HTMLParser):
    """The relay page's form: its action and fields."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action = values["action"]
        elif tag == "input":
            self.fields[values["name"]] = values["value"]


def relay_script(page: str, csp: str) -> str:
    """The page's one inline script, checked against the CSP hash."""
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp
    return str(scripts[0])


AUTHORIZATION_URL = "https://as.example/authorize?state=s"


class Waiting:
    """``authorize()`` running in the background of a test."""

    def __init__(self, session: AgentSession) -> None:
        self.session = session
        self.url: str | None = None
        self.error: Exception | None = None
        self.done = anyio.Event()

    @property
    def port(self) -> int:
        assert self.session.redirect_uri is not None
        return port_of(self.session.redirect_uri)

    async def run(self) -> None:
        try:
            self.url = await self.session.authorize(AUTHORIZATION_URL)
        except Exception as exc:
            self.error = exc
        finally:
            self.done.set()

    @property
    def start_url(self) -> str:
        url = getattr(self.session, "start_url", None)
        assert isinstance(url, str)
        return url

    async def open(self) -> str:
        """Open the start address as the browser would; return its cookie (name=value)."""
        start = urlsplit(self.start_url)
        response = await raw(self.port, get(start.path, self.port))
        assert response.status == 302
        assert response.headers["Location"] == AUTHORIZATION_URL
        assert_secure(response.headers)
        cookie = response.headers["Set-Cookie"]
        attributes = [part.strip() for part in cookie.split(";")]
        assert "HttpOnly" in attributes
        assert "SameSite=Lax" in attributes
        assert f"Path={urlsplit(self.session.redirect_uri or '').path}" in attributes
        assert attributes[0].startswith(f"anyoauth-login-{self.port}=")
        return attributes[0]

    async def result(self) -> str:
        with anyio.fail_after(5):
            await self.done.wait()
        if self.error is not None:
            raise self.error
        assert self.url is not None
        return self.url


@asynccontextmanager
async def waiting(agent: LoopbackAgent) -> AsyncIterator[Waiting]:
    async with agent.session(PLAIN) as session, anyio.create_task_group() as tg:
        assert isinstance(session, AgentSession)
        task = Waiting(session)
        tg.start_soon(task.run)
        yield task


Opener = Callable[[str], Awaitable[None]]


def fake_browser(http: Any, pages: list[Any], decision: str = "allow") -> Opener:
    """Clicks the emulator's consent page, then loads the redirect like a browser:
    without the fragment."""

    async def open_browser(url: str) -> None:
        final = await browse(http, url, decision=decision)
        pages.append(await http.get(final.partition("#")[0]))

    return open_browser


@pytest.fixture
def emulator() -> ProviderEmulator:
    return ProviderEmulator()


@pytest.fixture
async def base_url(emulator: ProviderEmulator) -> AsyncIterator[str]:
    async with emulator.serve() as base_url:
        yield base_url


def teamwork(emulator: ProviderEmulator, base_url: str, port: int) -> anyoauth.Strategy:
    redirect = f"http://127.0.0.1:{port}/callback"
    emulator.add_teamwork_app(TW_ID, TW_SECRET, redirect_uris=[redirect])
    return Teamwork(TW_ID, TW_SECRET, redirect, **emulator.endpoints_teamwork(base_url))


# -- whole logins through Client.login ----------------------------------------------------


async def test_teamwork_login(emulator: ProviderEmulator, base_url: str, http_client: Any) -> None:
    port = free_port()
    pages: list[Any] = []
    agent = LoopbackAgent(port=port, open_browser=fake_browser(http_client, pages))
    assert isinstance(agent, UserAgent)
    async with anyoauth.Client(teamwork(emulator, base_url, port), http=http_client) as client:
        token = await client.login(agent)
    assert token.access_token.startswith("tkn.v1_")
    assert emulator.is_valid_token(token.access_token)
    assert emulator.calls["teamwork.token"] == 1
    assert emulator.authorization_requests[0]["redirect_uri"] == f"http://127.0.0.1:{port}/callback"
    (page,) = pages
    assert page.status_code == 200
    assert "Login received; you can close this window." in page.text
    assert_secure(page.headers)
    await assert_closed(port)


async def test_teamwork_denied(emulator: ProviderEmulator, base_url: str, http_client: Any) -> None:
    port = free_port()
    pages: list[Any] = []
    agent = LoopbackAgent(port=port, open_browser=fake_browser(http_client, pages, "deny"))
    async with anyoauth.Client(teamwork(emulator, base_url, port), http=http_client) as client:
        with pytest.raises(anyoauth.AuthorizationDenied) as denied:
            await client.login(agent)
    assert denied.value.error == "access_denied"
    assert emulator.calls["teamwork.token"] == 0
    assert "The provider reported an error: access_denied." in pages[0].text
    await assert_closed(port)


async def test_a_result_with_a_wrong_state_is_ignored_and_the_real_one_counts(
    emulator: ProviderEmulator, base_url: str, http_client: Any
) -> None:
    port = free_port()
    ignored: list[Any] = []

    async def forging_browser(url: str) -> None:
        final = await browse(http_client, url)
        ignored.append(await http_client.get(re.sub(r"state=[^&]*", "state=forged", final)))
        ignored.append(await http_client.get(re.sub(r"&?state=[^&]*", "", final)))
        await http_client.get(final)

    agent = LoopbackAgent(port=port, open_browser=forging_browser)
    async with anyoauth.Client(teamwork(emulator, base_url, port), http=http_client) as client:
        token = await client.login(agent)
    assert emulator.is_valid_token(token.access_token)
    assert [page.status_code for page in ignored] == [403, 403]
    assert all("does not belong to the login" in page.text for page in ignored)
    assert emulator.calls["teamwork.token"] == 1
    await assert_closed(port)


async def test_fragment_result_through_the_relay_page(http_client: Any) -> None:
    emulator = ProviderEmulator(keycloak_response_mode="fragment")
    port = free_port()
    redirect = f"http://127.0.0.1:{port}/callback"
    emulator.add_keycloak_client(KC_ID, KC_SECRET, realm="staff", redirect_uris=[redirect])
    pages: list[Any] = []

    async def relaying_browser(url: str) -> None:
        """Plays the relay page's script: httpx runs no JavaScript."""
        final = await browse(http_client, url)
        address, _, fragment = final.partition("#")
        assert address == redirect
        assert "access_token=" in fragment
        page = await http_client.get(address)
        assert page.status_code == 200
        assert_secure(page.headers)
        script = relay_script(page.text, page.headers["content-security-policy"])
        assert "location.hash" in script
        assert "replaceState" in script
        assert "form.submit()" in script
        form = Form(page.text)
        assert set(form.fields) == {"relay", "query", "fragment"}
        # A post with an empty fragment is refused and ends nothing.
        empty = await http_client.post(
            urljoin(address, form.action), data={**form.fields, "fragment": ""}
        )
        assert empty.status_code == 400
        assert "carries no login result" in empty.text
        pages.append(
            await http_client.post(
                urljoin(address, form.action), data={**form.fields, "fragment": fragment}
            )
        )

    async with emulator.serve() as base:
        strategy = Keycloak(
            base + "/auth",
            "staff",
            KC_ID,
            KC_SECRET,
            redirect_uri=redirect,
            **emulator.endpoints_keycloak(base, realm="staff"),
        )
        agent = LoopbackAgent(port=port, open_browser=relaying_browser)
        async with anyoauth.Client(strategy, http=http_client) as client:
            token = await client.login(agent)
    assert emulator.is_valid_token(token.access_token)
    assert emulator.calls["keycloak.token"] == 0
    (page,) = pages
    assert page.status_code == 200
    assert "Login received" in page.text
    assert_secure(page.headers)
    await assert_closed(port)


async def test_timeout_raises_agent_error_and_closes(http_client: Any) -> None:
    port = free_port()
    strategy = Teamwork(TW_ID, TW_SECRET, f"http://127.0.0.1:{port}/callback")
    async with anyoauth.Client(strategy, http=http_client) as client:
        with pytest.raises(anyoauth.AgentError, match="no login result"):
            await client.login(LoopbackAgent(port=port, timeout=0.2))
    await assert_closed(port)


async def test_cancellation_closes_the_port(http_client: Any) -> None:
    port = free_port()
    strategy = Teamwork(TW_ID, TW_SECRET, f"http://127.0.0.1:{port}/callback")
    async with (
        anyoauth.Client(strategy, http=http_client) as client,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(client.login, LoopbackAgent(port=port))
        await wait_until_open(port)
        tg.cancel_scope.cancel()
    await assert_closed(port)


async def test_failing_opener_raises_agent_error(http_client: Any) -> None:
    port = free_port()

    async def broken(url: str) -> None:
        raise RuntimeError(f"cannot show {url}")

    strategy = Teamwork(TW_ID, TW_SECRET, f"http://127.0.0.1:{port}/callback")
    async with anyoauth.Client(strategy, http=http_client) as client:
        with pytest.raises(anyoauth.AgentError) as failed:
            await client.login(LoopbackAgent(port=port, open_browser=broken))
    assert "state=" not in str(failed.value)
    assert isinstance(failed.value.__cause__, RuntimeError)
    await assert_closed(port)


# -- the listener itself ------------------------------------------------------------------


async def test_stray_requests_do_not_end_the_login(http_client: Any) -> None:
    async with waiting(LoopbackAgent()) as task:
        port = task.port
        strays = {
            "favicon": (get("/favicon.ico", port), {404}),
            "other path": (get("/other?code=c&state=s", port), {404}),
            "longer path": (get("/callback/x?code=c&state=s", port), {404}),
            "prefix path": (get("/callbackx?code=c&state=s", port), {404}),
            "head": (get("/callback?code=c&state=s", port, "HEAD"), {405}),
            "put": (get("/callback?code=c&state=s", port, "PUT"), {405}),
            "garbage": (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", {400}),
            "not http": (b"hello there\r\n\r\n", {400}),
            "other host": (
                b"GET /callback?code=c&state=s HTTP/1.1\r\nHost: evil.example\r\n\r\n",
                {400},
            ),
            "no host": (b"GET /callback?code=c&state=s HTTP/1.0\r\n\r\n", {400}),
            "huge url": (
                get("/callback?code=c&state=" + "s" * MAX_REQUEST_BYTES, port),
                {413, 431},
            ),
            "huge body": (
                f"POST /callback HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Content-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {4 * MAX_REQUEST_BYTES}\r\n\r\n".encode()
                + b"a" * 4 * MAX_REQUEST_BYTES,
                {413},
            ),
            "forged post": (
                f"POST /callback HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 40\r\n\r\n"
                "relay=guess&fragment=access_token%3Dtok1".encode(),
                {403},
            ),
            "relay page": (get("/callback", port), {200}),
            "relay page, other query": (get("/callback?lang=en", port), {200}),
        }
        for name, (request, statuses) in strays.items():
            response = await raw(port, request)
            assert response.status in statuses, name
            assert_secure(response.headers)
            assert response.headers["Connection"] == "close"
            if request.startswith(b"HEAD"):
                assert response.body == b""
            assert not task.done.is_set(), name
        # A result without the start address's cookie does not count.
        response = await raw(port, get("/callback?code=c&state=s", port))
        assert response.status == 403
        assert not task.done.is_set()
        await http_client.get(task.start_url)  # the client keeps the cookie
        # A connection that never finishes its request, and one that sends nothing,
        # do not hold up the result.
        async with (
            await anyio.connect_tcp("127.0.0.1", port) as slow,
            await anyio.connect_tcp("127.0.0.1", port),
        ):
            await slow.send(b"GET /callback?code=slow&state=s HTTP/1.1\r\nHost: 127.0")
            answer = await http_client.get(f"http://127.0.0.1:{port}/callback?code=c&state=s")
            assert answer.status_code == 200
            assert_secure(answer.headers)
            assert await task.result() == f"http://127.0.0.1:{port}/callback?code=c&state=s"
            with anyio.fail_after(2), pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                await slow.receive()
    await assert_closed(port)


async def test_slow_connections_are_closed_at_the_read_deadline() -> None:
    async with waiting(LoopbackAgent(read_timeout=0.2)) as task:
        async with await anyio.connect_tcp("127.0.0.1", task.port) as slow:
            await slow.send(b"GET /callback?code=c")
            with anyio.fail_after(2), pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                await slow.receive()
        assert not task.done.is_set()
        cookie = await task.open()
        response = await raw(task.port, get("/callback?code=c&state=s", task.port, cookie=cookie))
        assert response.status == 200
        await task.result()


async def test_reflected_values_are_escaped() -> None:
    description = "<script>alert(1)</script> & more"
    async with waiting(LoopbackAgent()) as task:
        port = task.port
        relay = await raw(port, get('/callback?lang="><script>alert(2)</script>', port))
        assert relay.status == 200
        assert "<script>alert(2)" not in relay.text
        assert "&quot;&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in relay.text
        target = f"/callback?error=access_denied&error_description={quote(description)}&state=s"
        page = await raw(port, get(target, port, cookie=await task.open()))
        assert page.status == 200
        assert_secure(page.headers)
        assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page.text
        assert "<script>" not in page.text
        assert "The provider reported an error: access_denied." in page.text
        assert await task.result() == f"http://127.0.0.1:{port}{target}"


async def test_fragment_post_builds_the_redirect_url() -> None:
    async with waiting(LoopbackAgent(path="/cb")) as task:
        port = task.port
        page = await raw(port, get("/cb?iss=https%3A%2F%2Fas.example", port))
        relay_script(page.text, page.headers["Content-Security-Policy"])
        form = Form(page.text)
        assert form.action == "/cb"
        assert form.fields["query"] == "iss=https%3A%2F%2Fas.example"
        body = "&".join(
            f"{k}={quote(v, safe='')}"
            for k, v in {**form.fields, "fragment": "#access_token=t&state=s"}.items()
        )
        post = (
            f"POST /cb HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {await task.open()}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n\r\n{body}"
        )
        answer = await raw(port, post.encode())
        assert answer.status == 200
        assert "Login received" in answer.text
        assert await task.result() == (
            f"http://127.0.0.1:{port}/cb?iss=https%3A%2F%2Fas.example#access_token=t&state=s"
        )


async def test_a_session_serves_one_login() -> None:
    async with waiting(LoopbackAgent()) as task:
        cookie = await task.open()
        await raw(task.port, get("/callback?code=c&state=s", task.port, cookie=cookie))
        await task.result()
        with pytest.raises(anyoauth.AgentError, match="one login"):
            await task.session.authorize("https://as.example/authorize")


async def test_the_start_url_works_once_and_a_second_use_stops_the_login() -> None:
    async with waiting(LoopbackAgent()) as task:
        await task.open()
        start = urlsplit(task.start_url).path
        wrong = start[:-1] + ("A" if start[-1] != "A" else "B")
        assert (await raw(task.port, get(wrong, task.port))).status == 404
        assert (await raw(task.port, get(start, task.port, "HEAD"))).status == 405
        assert not task.done.is_set()
        again = await raw(task.port, get(start, task.port))
        assert again.status == 403
        assert "Location" not in again.headers
        assert "Set-Cookie" not in again.headers
        with pytest.raises(anyoauth.AgentError, match="opened a second time"):
            await task.result()
    await assert_closed(task.port)


async def test_an_unsafe_authorization_url_or_one_without_a_single_state_is_refused() -> None:
    for url in (
        "https://as.example/authorize",
        "https://as.example/authorize?state=a&state=b",
        "https://as.example/authorize?state=s\r\nSet-Cookie: x=y",
        "javascript:alert(1)//?state=s",
    ):
        async with LoopbackAgent().session(PLAIN) as session:
            with pytest.raises(anyoauth.ConfigurationError, match=r"one state|http\(s\) URL"):
                await session.authorize(url)


async def test_ipv6_loopback() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 support")
    try:
        free_port("::1")
    except OSError:
        pytest.skip("no IPv6 loopback")
    async with waiting(LoopbackAgent(host="::1")) as task:
        assert task.session.redirect_uri is not None
        assert task.session.redirect_uri.startswith("http://[::1]:")
        assert task.start_url.startswith(f"http://[::1]:{task.port}/start/")
        start = urlsplit(task.start_url).path
        async with await anyio.connect_tcp("::1", task.port) as stream:
            await stream.send(f"GET {start} HTTP/1.1\r\nHost: [::1]:{task.port}\r\n\r\n".encode())
            answer = await stream.receive()
        assert answer.startswith(b"HTTP/1.1 302 ")
        cookie = re.search(rb"Set-Cookie: ([^;]+);", answer)
        assert cookie is not None
        async with await anyio.connect_tcp("::1", task.port) as stream:
            await stream.send(
                f"GET /callback?code=c&state=s HTTP/1.1\r\nHost: [::1]:{task.port}\r\n".encode()
                + b"Cookie: "
                + cookie[1]
                + b"\r\n\r\n"
            )
            assert (await stream.receive()).startswith(b"HTTP/1.1 200 ")
        assert await task.result() == f"http://[::1]:{task.port}/callback?code=c&state=s"
    await assert_closed(task.port, "::1")


@pytest.mark.parametrize(
    "options",
    [
        {"host": "0.0.0.0"},  # noqa: S104
        {"host": "localhost"},
        {"host": "example.com"},
        {"host": "127.0.0.2"},
        {"host": "::"},
        {"port": -1},
        {"port": 65536},
        {"path": "callback"},
        {"path": "//evil.example/cb"},
        {"path": "/cb?x=1"},
        {"path": "/cb#x"},
        {"path": "/a//b"},
        {"path": '/"><script>'},
        {"timeout": 0},
        {"open_browser": "firefox"},
    ],
)
def test_bad_arguments_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(anyoauth.ConfigurationError):
        LoopbackAgent(**options)


async def test_flows_without_a_redirect_uri_are_refused() -> None:
    port = free_port()
    with pytest.raises(anyoauth.ConfigurationError, match="embedded"):
        async with LoopbackAgent(port=port).session(Geni("geni-app")):
            pass
    await assert_closed(port)


async def test_a_busy_port_is_an_agent_error() -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    async with listener:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610
        with pytest.raises(anyoauth.AgentError, match="cannot listen"):
            async with LoopbackAgent(port=port).session(PLAIN):
                pass


# -- the system browser -------------------------------------------------------------------


async def test_system_browser_login(
    emulator: ProviderEmulator,
    base_url: str,
    http_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = free_port()
    opened: list[str] = []
    launched = anyio.Event()

    def fake_open(url: str, new: int = 0, autoraise: bool = True) -> bool:
        opened.append(url)
        anyio.from_thread.run_sync(launched.set)
        return True

    async def user() -> None:
        await launched.wait()
        # The browser is started with a private launch page, which forwards it to
        # the listener's one-time start address.
        page = Path(unquote(urlsplit(opened[0]).path)).read_text()  # noqa: ASYNC240
        start = re.search(r'http-equiv="refresh" content="0;url=([^"]+)"', page)
        assert start is not None
        final = await browse(http_client, html.unescape(start[1]))
        await http_client.get(final)

    monkeypatch.setattr(webbrowser, "open", fake_open)
    async with (
        anyoauth.Client(teamwork(emulator, base_url, port), http=http_client) as client,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(user)
        token = await client.login(SystemBrowserAgent(port=port))
    assert emulator.is_valid_token(token.access_token)
    (url,) = opened
    assert url.startswith("file:///")
    assert "/start/" not in url
    assert not Path(unquote(urlsplit(url).path)).parent.exists()
    await assert_closed(port)


@pytest.mark.parametrize("failure", ["false", "error"])
async def test_system_browser_failure(
    failure: str, http_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fake_open(url: str, new: int = 0, autoraise: bool = True) -> bool:
        if failure == "error":
            raise webbrowser.Error("could not locate runnable browser")
        return False

    monkeypatch.setattr(webbrowser, "open", fake_open)
    port = free_port()
    strategy = Teamwork(TW_ID, TW_SECRET, f"http://127.0.0.1:{port}/callback")
    async with anyoauth.Client(strategy, http=http_client) as client:
        with pytest.raises(anyoauth.AgentError, match="open the login URL yourself") as failed:
            await client.login(SystemBrowserAgent(port=port))
    assert "state" not in str(failed.value)
    assert "http" not in str(failed.value)
    await assert_closed(port)


# -- manual paste -------------------------------------------------------------------------


def shown_url(text: str) -> str:
    match = re.search(r"^\s+(https?://\S+)$", text, re.M)
    assert match is not None
    return match[1]


async def test_manual_paste(emulator: ProviderEmulator, base_url: str, http_client: Any) -> None:
    redirect = "myapp://teamwork/cb"
    emulator.add_teamwork_app(TW_ID, TW_SECRET, redirect_uris=[redirect])
    strategy = Teamwork(TW_ID, TW_SECRET, redirect, **emulator.endpoints_teamwork(base_url))
    shown: list[str] = []

    async def paste(prompt: str) -> str:
        assert prompt
        return "  " + await browse(http_client, shown_url(shown[0])) + "\n"

    agent = ManualAgent(input=paste, output=shown.append)
    assert isinstance(agent, UserAgent)
    async with anyoauth.Client(strategy, http=http_client) as client:
        token = await client.login(agent)
    assert emulator.is_valid_token(token.access_token)
    assert emulator.authorization_requests[0]["redirect_uri"] == redirect


async def test_manual_default_streams(
    http_client: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(builtins, "input", lambda: " http://127.0.0.1/callback?code=c&state=s ")
    async with ManualAgent().session(PLAIN) as session:
        assert session.redirect_uri is None
        url = await session.authorize("https://as.example/authorize?state=s")
    assert url == "http://127.0.0.1/callback?code=c&state=s"
    assert "https://as.example/authorize?state=s" in capsys.readouterr().err


async def read_forever(prompt: str) -> str:
    await anyio.sleep_forever()
    raise AssertionError


async def empty(prompt: str) -> str:
    return " \n"


async def end_of_input(prompt: str) -> str:
    raise EOFError


@pytest.mark.parametrize(
    ("read", "message"),
    [(empty, "no address"), (end_of_input, "input ended"), (read_forever, "within 0.1 s")],
)
async def test_manual_failures(read: Callable[[str], Awaitable[str]], message: str) -> None:
    shown: list[str] = []

    async def show(text: str) -> None:
        shown.append(text)

    agent = ManualAgent(input=read, output=show, timeout=0.1)
    async with agent.session(PLAIN) as session:
        with pytest.raises(anyoauth.AgentError, match=message):
            await session.authorize("https://as.example/authorize?state=s")
    assert shown_url(shown[0]) == "https://as.example/authorize?state=s"
