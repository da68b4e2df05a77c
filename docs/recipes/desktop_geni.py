"""A desktop app logs in to Geni in its own webview (docs/recipes/desktop-geni.md).

Geni's desktop flow never redirects to the app: Geni sends the webview to its own
``auth_success`` page with the token in the URL's fragment, and the app reads it off
the webview's URL. Any webview that reports URL changes (Qt's ``urlChanged``,
pywebview, WebKitGTK's ``notify::uri``...) does, through ``anyoauth.agents.UrlWatcher``.

The file has three parts:

- :class:`WebviewLogin` and :func:`signed_in_profile`: toolkit-free. The GUI calls
  ``url_changed()`` and ``window_closed()`` from its own thread; the login runs in an
  anyio event loop (asyncio or trio) in another thread.
- :func:`run_in_thread`: runs that event loop beside the GUI, which owns the main thread.
- :func:`make_qt_window` and :func:`main`: the Qt (PySide6) adapter, a QWebEngineView.

Run it with ``pip install anyoauth PySide6`` and ``GENI_APP_KEY=... python desktop_geni.py``.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import httpx
import platformdirs

import anyoauth
from anyoauth.agents import UrlWatcher
from anyoauth.providers import Geni

T = TypeVar("T")

GENI_PROFILE_URL = "https://www.geni.com/api/profile"
SCOPES = ["basic"]


class WebviewLogin:
    """One Geni login shown in a webview the GUI owns.

    Call :meth:`url_changed` for every URL the webview reports (fragment changes
    included) and :meth:`window_closed` when the user closes it; both are safe from
    any thread. :meth:`run` starts the login, asks ``show`` to open the authorization
    URL, and returns the token once the webview lands on Geni's success URL.
    """

    def __init__(self, client: anyoauth.Client) -> None:
        self.client = client
        self.watcher = UrlWatcher(client.strategy)  # matches Geni's success/failure URLs

    def url_changed(self, url: str) -> None:
        """From the GUI thread: the webview is now at ``url``."""
        self.watcher.feed(url)  # exact scheme/host/port/path match, never by prefix

    def window_closed(self) -> None:
        """From the GUI thread: the user closed the window; :meth:`run` raises AgentError."""
        self.watcher.cancel()

    async def run(self, show: Callable[[str], None]) -> anyoauth.Token:
        """Log in; ``show(url)`` must open ``url`` in the webview and be thread-safe
        (it is called from the login's thread: post it to the GUI thread).

        Raises ``AuthorizationDenied`` when the user declines, ``AgentError`` when the
        window is closed, and ``complete()``'s errors.
        """
        start = await self.client.begin()
        show(start.url)
        return await self.client.complete(await self.watcher.wait())


async def signed_in_profile(
    login: WebviewLogin,
    show: Callable[[str], None],
    profile_url: str = GENI_PROFILE_URL,
) -> Any:
    """The app's async work: a token (the stored one if it is still valid, else a login
    in the webview) and one API call with it."""
    client = login.client
    async with client:
        try:
            await client.token()  # a stored, unexpired token: no window at all
        except anyoauth.LoginRequired:
            # Geni's desktop flow has no refresh token: an expired token means a new login.
            await login.run(show)
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.get(profile_url, auth=client.auth())
            response.raise_for_status()
            return response.json()


def run_in_thread(
    work: Callable[[], Awaitable[T]],
    done: Callable[[T | Exception], None],
    backend: str = "asyncio",
) -> threading.Thread:
    """Run ``work`` in an anyio event loop (``backend`` ``"asyncio"`` or ``"trio"``) in a
    new thread, and pass its result, or the exception it raised, to ``done`` (from that
    thread: post it to the GUI thread)."""

    def target() -> None:
        try:
            result = anyio.run(work, backend=backend)
        except Exception as exc:  # handed to the GUI, which shows it
            done(exc)
        else:
            done(result)

    thread = threading.Thread(target=target, name="login", daemon=True)
    thread.start()
    return thread


# -- Qt (PySide6): the toolkit-specific part -------------------------------------------


def make_qt_window(login: WebviewLogin) -> Any:
    """A ``QWebEngineView`` window for ``login``: every URL change goes to
    ``login.url_changed``, closing it to ``login.window_closed``. Its ``open_url`` and
    ``finished`` signals may be emitted from any thread; Qt queues them to the GUI
    thread. Create it in the GUI thread, after the ``QApplication``.
    """
    from PySide6.QtCore import QUrl, Signal  # type: ignore[import-not-found]
    from PySide6.QtWebEngineWidgets import QWebEngineView  # type: ignore[import-not-found]

    class LoginWindow(QWebEngineView):  # type: ignore[misc]
        open_url = Signal(str)
        finished = Signal(object)

        def __init__(self) -> None:
            super().__init__()
            self.setWindowTitle("Sign in to Geni")
            self.resize(900, 700)
            self.urlChanged.connect(self._url_changed)
            self.open_url.connect(self._open)

        def _url_changed(self, url: Any) -> None:
            # Fully encoded, fragment included: what complete() parses.
            login.url_changed(bytes(url.toEncoded()).decode("ascii"))

        def _open(self, url: str) -> None:
            self.load(QUrl(url))
            self.show()

        def closeEvent(self, event: Any) -> None:
            login.window_closed()  # nothing happens if the login already ended
            super().closeEvent(event)

    return LoginWindow()


def main() -> int:
    """Show the signed-in user's Geni profile name, logging in first if needed."""
    from PySide6.QtWidgets import QApplication, QMessageBox  # type: ignore[import-not-found]

    app = QApplication(sys.argv)
    app.setQuitOnLastWindowClosed(False)  # the login window closing is not the end
    client = anyoauth.Client(
        Geni(os.environ["GENI_APP_KEY"], scope=SCOPES),
        # The token survives restarts (in 0600 files) until it expires.
        store=anyoauth.FileStore(platformdirs.user_data_path("geni-desktop-example")),
    )
    login = WebviewLogin(client)
    window = make_qt_window(login)

    def finished(outcome: object) -> None:  # in the GUI thread
        window.close()
        if isinstance(outcome, anyoauth.AuthorizationDenied):
            QMessageBox.warning(None, "Geni", "Access was not granted.")
        elif isinstance(outcome, anyoauth.AgentError):
            pass  # the user closed the login window
        elif isinstance(outcome, Exception):
            QMessageBox.critical(None, "Geni", f"The login failed ({type(outcome).__name__}).")
        else:
            name = outcome.get("name") if isinstance(outcome, dict) else None
            QMessageBox.information(None, "Geni", f"Signed in as {name}.")
        app.quit()

    window.finished.connect(finished)
    run_in_thread(lambda: signed_in_profile(login, window.open_url.emit), window.finished.emit)
    return int(app.exec())


if __name__ == "__main__":
    sys.exit(main())
