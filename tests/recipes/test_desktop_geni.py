"""The desktop Geni recipe (docs/recipes/desktop_geni.py), headless.

A plain thread plays the GUI toolkit and its webview: it takes the URL the login
asks it to show, loads the emulator's consent page over real HTTP, clicks, and
reports every URL a webview would (a blank page, the authorize page, a lookalike of
the success URL, then Geni's success URL with the token in its fragment) to the
recipe's ``WebviewLogin`` from that non-async thread. The login itself runs in the
recipe's ``run_in_thread``, on asyncio and on trio, exactly as under Qt.
"""

from __future__ import annotations

import queue
import re
import threading
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

import anyoauth
from anyoauth.providers import Geni
from anyoauth.testing import GENI_PROFILE_PATH, GENI_SUCCESS_PATH, ProviderEmulator
from desktop_geni import SCOPES, WebviewLogin, run_in_thread, signed_in_profile

APP_KEY = "geni-desktop-recipe"
WAIT = 30.0


@pytest.fixture(params=["asyncio", "trio"])
def backend(request: pytest.FixtureRequest) -> str:
    """The event loop the recipe's login thread runs."""
    return str(request.param)


@pytest.fixture
def geni(provider: tuple[ProviderEmulator, str]) -> tuple[ProviderEmulator, str]:
    emulator, base_url = provider
    emulator.add_geni_app(APP_KEY)
    return emulator, base_url


class FakeWebview:
    """A webview and the GUI thread that owns it, in one plain thread.

    ``show(url)`` posts to that thread (as a GUI toolkit's queued signal would);
    ``action`` is what the user does on the consent page: ``"allow"``, ``"deny"``, or
    ``"close"`` the window.
    """

    def __init__(self, login: WebviewLogin, action: str = "allow") -> None:
        self.login = login
        self.action = action
        self.reported: list[str] = []
        self._posted: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._gui, name="gui", daemon=True)
        self._thread.start()

    def show(self, url: str) -> None:
        self._posted.put(url)

    def join(self) -> None:
        """The app is done: the GUI thread ends (at once, if it was never shown)."""
        self._posted.put(None)
        self._thread.join(WAIT)
        assert not self._thread.is_alive()

    def _report(self, url: str) -> None:
        self.reported.append(url)
        self.login.url_changed(url)  # from this thread, never from an event loop

    def _gui(self) -> None:
        self._report("about:blank")
        url = self._posted.get(timeout=WAIT)
        if url is None:
            return  # nothing was shown: the stored token was enough
        with httpx.Client(follow_redirects=False, timeout=WAIT) as http:
            consent = http.get(url)
            assert consent.status_code == 200
            self._report(url)
            state = dict(httpx.QueryParams(urlsplit(url).query))["state"]
            parts = urlsplit(url)
            # A page on another host whose URL looks like the success URL: ignored.
            lookalike = f"{parts.scheme}://{parts.hostname}.evil:{parts.port}{GENI_SUCCESS_PATH}"
            self._report(f"{lookalike}#access_token=forged&expires_in=3600&state={state}")
            if self.action == "close":
                self.login.window_closed()
                return
            action = unescape(_find(r'<form method="post" action="([^"]+)"', consent.text))
            ticket = _find(r'name="ticket" value="([^"]+)"', consent.text)
            decided = http.post(
                urljoin(url, action), data={"ticket": ticket, "decision": self.action}
            )
            assert decided.status_code in (302, 303)
            landing = urljoin(url, decided.headers["location"])
            assert http.get(landing.partition("#")[0]).status_code == 200
            self._report(landing)  # Geni's auth_success#access_token=... (or auth_failed)


def _find(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    assert match is not None, pattern
    return match[1]


def run_app(login: WebviewLogin, view: FakeWebview, profile_url: str, backend: str) -> Any:
    """The recipe's login thread, as ``main()`` starts it; returns its outcome."""
    outcome: queue.Queue[object] = queue.Queue()
    thread = run_in_thread(
        lambda: signed_in_profile(login, view.show, profile_url), outcome.put, backend=backend
    )
    result = outcome.get(timeout=WAIT)
    thread.join(WAIT)
    view.join()
    return result


def make_login(base_url: str, tmp_path: Path) -> WebviewLogin:
    strategy = Geni(APP_KEY, scope=SCOPES, **ProviderEmulator().endpoints_geni(base_url))
    return WebviewLogin(anyoauth.Client(strategy, store=anyoauth.FileStore(tmp_path)))


def test_login_in_a_webview_then_the_stored_token(
    geni: tuple[ProviderEmulator, str], backend: str, tmp_path: Path
) -> None:
    emulator, base_url = geni
    profile_url = base_url + GENI_PROFILE_PATH
    login = make_login(base_url, tmp_path)
    view = FakeWebview(login)
    profile = run_app(login, view, profile_url, backend)
    assert profile == {"id": "profile-g6000000000000000001", "name": "Test User"}
    blank, authorize, lookalike, success = view.reported
    assert blank == "about:blank"
    assert "display=desktop" in authorize
    assert ".evil:" in lookalike
    assert success.startswith(base_url + GENI_SUCCESS_PATH + "#access_token=")
    assert login.watcher.result == success

    # The app starts again: the stored token is used, no window is shown.
    calls = emulator.calls["geni.authorize"]
    again = make_login(base_url, tmp_path)
    idle = FakeWebview(again)
    assert run_app(again, idle, profile_url, backend) == profile
    assert idle.reported == ["about:blank"]
    assert emulator.calls["geni.authorize"] == calls


def test_declined_login(geni: tuple[ProviderEmulator, str], backend: str, tmp_path: Path) -> None:
    _, base_url = geni
    login = make_login(base_url, tmp_path)
    outcome = run_app(login, FakeWebview(login, "deny"), base_url + GENI_PROFILE_PATH, backend)
    assert isinstance(outcome, anyoauth.AuthorizationDenied)
    assert outcome.error_description == "user canceled"


def test_window_closed(geni: tuple[ProviderEmulator, str], backend: str, tmp_path: Path) -> None:
    _, base_url = geni
    login = make_login(base_url, tmp_path)
    outcome = run_app(login, FakeWebview(login, "close"), base_url + GENI_PROFILE_PATH, backend)
    assert isinstance(outcome, anyoauth.AgentError)
    assert login.watcher.result is None
