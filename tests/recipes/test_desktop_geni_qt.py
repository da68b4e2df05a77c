"""The desktop Geni recipe's Qt adapter with a real QWebEngineView, offscreen.

Runs only where PySide6 with its WebEngine is installed (``pip install PySide6``:
about 700 MB, so the test environment leaves it out and this module is deselected;
``nox -s qt`` installs it and runs the module). The
window loads the emulator's consent page in Qt's Chromium, a script clicks Allow or
Don't Allow (or the window is closed), the adapter's ``urlChanged`` hook hands Geni's
success URL to the login, and the outcome comes back to the GUI thread.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from anyoauth.testing import ProviderEmulator

from .servers import RECIPES

# Deselected by default (pyproject's addopts: -m "not qt"); `nox -s qt` installs PySide6
# and runs this module alone.
pytestmark = pytest.mark.qt


@pytest.fixture(autouse=True)
def _webengine() -> None:
    """Selected with ``-m qt`` but without PySide6: say how to get it."""
    pytest.importorskip("PySide6.QtWebEngineWidgets", reason="nox -s qt installs PySide6")


SCRIPT = """
import sys
import threading
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

import anyoauth
from anyoauth.providers import Geni
from anyoauth.testing import GENI_AUTHORIZE_PATH, ProviderEmulator
from desktop_geni import SCOPES, WebviewLogin, make_qt_window, run_in_thread, signed_in_profile

base_url, store, decision = sys.argv[1:]
app = QApplication([])
app.setQuitOnLastWindowClosed(False)  # as main() does: closing the window is not the end
strategy = Geni("geni-qt", scope=SCOPES, **ProviderEmulator().endpoints_geni(base_url))
login = WebviewLogin(anyoauth.Client(strategy, store=anyoauth.FileStore(Path(store))))
window = make_qt_window(login)
clicked = []


def click(ok):
    if window.url().path() == GENI_AUTHORIZE_PATH and not clicked:
        clicked.append(True)
        if decision == "close":
            window.close()  # the user closes the login window
        else:
            script = f'document.querySelector("button[value={decision}]").click()'
            window.page().runJavaScript(script)


def finished(outcome):
    gui = threading.current_thread() is threading.main_thread()
    print("outcome:", repr(outcome), "in the GUI thread" if gui else "ELSEWHERE", flush=True)
    window.close()
    app.quit()


window.loadFinished.connect(click)
window.finished.connect(finished)
run_in_thread(
    lambda: signed_in_profile(login, window.open_url.emit, base_url + "/api/profile"),
    window.finished.emit,
)
QTimer.singleShot(30_000, app.quit)
app.exec()
"""


@pytest.mark.parametrize(
    ("decision", "outcome"),
    [
        ("allow", "outcome: {'id': 'profile-g6000000000000000001', 'name': 'Test User'}"),
        ("deny", "outcome: AuthorizationDenied("),
        ("close", "outcome: AgentError("),
    ],
)
def test_qt_webview_login(
    provider: tuple[ProviderEmulator, str], tmp_path: Path, decision: str, outcome: str
) -> None:
    emulator, base_url = provider
    emulator.add_geni_app("geni-qt")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(RECIPES), *sys.path]),
        "QT_QPA_PLATFORM": "offscreen",
        # Chromium's sandbox cannot run as root (containers, CI).
        "QTWEBENGINE_CHROMIUM_FLAGS": "--no-sandbox",
    }
    done = subprocess.run(  # noqa: S603 - Qt in its own process: one QApplication each
        [sys.executable, "-c", SCRIPT, base_url, str(tmp_path / "store"), decision],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert outcome in done.stdout, done.stdout + done.stderr[-3000:]
    assert "in the GUI thread" in done.stdout  # the signal was queued to the GUI thread
    assert emulator.calls["geni.authorize"] >= 1
