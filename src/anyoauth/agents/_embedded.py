"""The embedded-browser agent: a browser window whose every navigation is watched.

Geni's desktop flow never redirects to the app: the provider sends its own window to
a special success or failure URL with the result in the fragment, and the app reads
that URL off the window. Two tools serve such flows:

- :class:`UrlWatcher` is the plain, IO-free part, for any webview of your own (Qt's
  ``urlChanged``, pywebview, a WebKit view...): feed it every URL the view navigates
  to and await :meth:`UrlWatcher.wait`.
- :class:`EmbeddedBrowserAgent` opens Chromium through Playwright (the optional
  extra ``anyoauth[playwright]``), with a fresh profile that is deleted afterwards,
  and feeds a :class:`UrlWatcher` from it.

RFC 8252 advises native apps to use the system browser, where the app cannot see or
touch what the user types; prefer the loopback agent wherever the provider accepts a
``redirect_uri``. The embedded browser exists because Geni's desktop flow needs it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import anyio
import anyio.from_thread
import anyio.to_thread

from .._core.errors import AgentError, ConfigurationError

if TYPE_CHECKING:
    # asyncio itself is imported where the browser thread needs it: ``import anyoauth``
    # does not pay for it.
    import asyncio

    from playwright.async_api import BrowserContext, CDPSession, Frame, Page, Playwright

    from .._core.strategies import Strategy
    from ._base import AgentSession

__all__ = ["Automation", "EmbeddedBrowserAgent", "UrlWatcher"]

Automation = Callable[["Page"], Awaitable[object]]
"""An ``automate`` hook: an async function given the Playwright ``Page`` of the login."""

CLOSED_REASON = "the login window was closed before the login finished"
"""The :class:`AgentError` message when the user closes the window."""

_CLOSE_SECONDS = 10.0
"""How long closing the browser may take before the driver is stopped regardless."""

T = TypeVar("T")

_NET_ERROR = re.compile(r"net::ERR_[A-Z0-9_]+")

PLAYWRIGHT_MINIMUM = (1, 53)
"""The oldest Playwright whose persistent contexts expose their browser (for the DevTools
session that holds every request)."""

_LANDING_HEADERS = (
    ("Content-Type", "text/html; charset=utf-8"),
    ("Content-Security-Policy", "default-src 'none'; base-uri 'none'; form-action 'none'"),
    ("Cache-Control", "no-store"),
    ("Referrer-Policy", "no-referrer"),
)
"""The headers of the empty document shown in place of the success or failure page."""

_PROFILE_PREFERENCES = {"net": {"network_prediction_options": 2}}
"""Chromium preferences of the fresh profile: no prerendering or prefetching of pages
(``2`` is "never"). Prerendered pages are fetched outside DevTools' request interception."""


_KEPT_TARGETS = frozenset({"browser", "browser_ui", "tab"})
"""DevTools target types left open when the watch ends: the browser and its own user
interface (a ``tab`` closes with its page)."""


class _Waiter(NamedTuple):
    event: anyio.Event
    thread: int
    token: Any


def _loop_token() -> Any:
    """A token for reaching the current event loop from other threads (anyio >= 4.11)."""
    try:
        from anyio.lowlevel import current_token
    except ImportError:  # pragma: no cover - older anyio: only anyio worker threads can wake
        return None
    return current_token()


def _wake(waiter: _Waiter) -> None:
    """Set ``waiter``'s event, from its own event loop thread or from any other thread."""
    if waiter.thread == threading.get_ident():
        waiter.event.set()
        return
    with suppress(anyio.RunFinishedError):  # its event loop has ended: nobody waits
        if waiter.token is None:  # pragma: no cover - older anyio
            anyio.from_thread.run_sync(waiter.event.set)
        else:
            anyio.from_thread.run_sync(waiter.event.set, token=waiter.token)


class UrlWatcher:
    """Watches a browser's URLs for the end of a flow: its success, failure or redirect URL.

    Call :meth:`feed` with every URL the browser navigates to, same-document
    fragment changes included (Geni lands on ``auth_success#access_token=...``).
    The first URL that lands exactly on one of the strategy's redirect endpoints
    (compared by parsed scheme, host, port and path, never by prefix) is kept;
    :meth:`wait` returns it, ready for ``Client.complete()``. Call :meth:`cancel`
    when the window goes away without a result (the user closed it).

    Every method is thread-safe: a GUI toolkit may call :meth:`feed` and
    :meth:`cancel` from its own thread while :meth:`wait` runs in an asyncio or
    trio event loop in another. With anyio older than 4.11, call them from other
    threads through ``anyio.from_thread.run_sync(watcher.feed, url)`` (inside an
    anyio worker thread) or a ``BlockingPortal``. For example, with Qt::

        watcher = UrlWatcher(client.strategy)
        view.urlChanged.connect(lambda qurl: watcher.feed(qurl.toString()))
        view.destroyed.connect(lambda: watcher.cancel())
        start = await client.begin()
        view.load(QUrl(start.url))
        token = await client.complete(await watcher.wait())

    Raises :class:`ConfigurationError` if the strategy has no URLs to watch for.
    """

    def __init__(self, strategy: Strategy) -> None:
        strategy.redirect_endpoints()  # raises ConfigurationError when there are none
        self._strategy = strategy
        self._lock = threading.Lock()
        self._result: str | None = None
        self._reason: str | None = None
        self._waiters: list[_Waiter] = []

    def __repr__(self) -> str:
        state = "matched" if self._result else "cancelled" if self._reason else "watching"
        return f"<UrlWatcher {self._strategy.store_namespace} {state}>"

    @property
    def result(self) -> str | None:
        """The URL that ended the flow, or ``None`` while none has (or after :meth:`cancel`)."""
        return self._result

    @property
    def done(self) -> bool:
        """Whether a URL matched or the watch was cancelled; later events are ignored."""
        return self._result is not None or self._reason is not None

    def feed(self, url: str) -> bool:
        """Report a URL the browser navigated to; ``True`` if it ended the flow.

        Only the first match counts: after a match, or after :meth:`cancel`,
        every call returns ``False`` and changes nothing.
        """
        if self.done or not isinstance(url, str) or not self._strategy.is_redirect(url):
            return False
        return self._finish(result=url)

    def cancel(self, reason: str = CLOSED_REASON) -> bool:
        """End the watch without a result: :meth:`wait` raises :class:`AgentError` with
        ``reason``. ``True`` if this ended it, ``False`` if it had already ended."""
        return self._finish(reason=reason)

    def _finish(self, *, result: str | None = None, reason: str | None = None) -> bool:
        with self._lock:
            if self.done:
                return False
            self._result, self._reason = result, reason
            waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            _wake(waiter)
        return True

    async def wait(self) -> str:
        """Wait until a URL ends the flow and return it.

        Raises :class:`AgentError` once :meth:`cancel` is called.
        """
        with self._lock:
            if not self.done:
                waiter = _Waiter(anyio.Event(), threading.get_ident(), _loop_token())
                self._waiters.append(waiter)
            else:
                waiter = None
        if waiter is not None:
            try:
                await waiter.event.wait()
            finally:
                with self._lock:
                    if waiter in self._waiters:
                        self._waiters.remove(waiter)
        if self._result is not None:
            return self._result
        raise AgentError(self._reason or CLOSED_REASON)


def _require_playwright() -> None:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            "the embedded browser needs Playwright: pip install 'anyoauth[playwright]'"
        ) from None
    version = _playwright_version()
    if version is not None and version < PLAYWRIGHT_MINIMUM:
        major, minor = PLAYWRIGHT_MINIMUM
        raise ConfigurationError(
            f"the embedded browser needs Playwright {major}.{minor} or newer: "
            "pip install -U 'anyoauth[playwright]'"
        )


def _playwright_version() -> tuple[int, int] | None:
    """The installed Playwright's major and minor version, ``None`` if unknown."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = re.match(r"(\d+)\.(\d+)", version("playwright"))
    except PackageNotFoundError:  # pragma: no cover - importable without metadata
        return None
    return (int(found[1]), int(found[2])) if found else None


SYSTEM_CHROMIUMS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
"""Browsers looked up on ``PATH`` when Playwright's own Chromium is not installed."""


def system_chromium(playwright_chromium: str) -> str | None:
    """The browser to run when no ``executable_path`` is given: ``None`` (Playwright's own,
    at ``playwright_chromium``) if it is installed, else the first of
    :data:`SYSTEM_CHROMIUMS` on ``PATH`` (``None`` if there is none either)."""
    if os.path.exists(playwright_chromium):
        return None
    return next(filter(None, map(shutil.which, SYSTEM_CHROMIUMS)), None)


def _sandboxed() -> bool:
    """Chromium's sandbox cannot start as root: turn it off (``--no-sandbox``) only then."""
    geteuid = getattr(os, "geteuid", None)
    return geteuid is None or geteuid() != 0


class EmbeddedBrowserAgent:
    """Runs the login in a Chromium window and watches its URL (Geni's desktop flow).

    Each login launches Chromium through Playwright with a fresh temporary profile
    (no cookies, history or saved passwords from anywhere), opens the authorization
    URL, and feeds every navigation of the window, fragment changes included, to a
    :class:`UrlWatcher`. Every request of the browser waits at Chromium's network
    layer for the agent's verdict; the window's navigation to the success or failure
    URL (redirects included) never reaches the network: Chromium shows an empty
    document in its place, every later request fails, every page is taken offline and
    every page and worker closed (WebSocket handshakes are not held: see the
    embedded-browser section of the agents guide), and the agent closes Chromium,
    deletes the profile and hands the URL, fragment included, to the client.

    Args:
        executable_path: the Chromium or Chrome to run, e.g. ``"/usr/bin/chromium"``;
            by default Playwright's own browser (``playwright install chromium``), or
            when that is not installed the first of :data:`SYSTEM_CHROMIUMS` on ``PATH``.
        headless: run without a window (tests, together with ``automate``).
        args: extra Chromium command-line flags. ``--no-sandbox`` is added only when
            running as root, where Chromium's sandbox cannot start.
        timeout: seconds the whole login may take, browser start included.
        automate: for tests and kiosk set-ups, an async function given the
            Playwright ``Page`` once the authorization page has loaded, e.g.
            ``lambda page: page.get_by_role("button", name="Allow", exact=True).click()``. It
            runs on the browser's own asyncio event loop in a worker thread (use
            only Playwright's async API in it); the watch goes on after it returns.
            An exception in it ends the login with :class:`AgentError`.
        temp_dir: the directory to create the temporary profile in (default: the
            system's temporary directory).

    Playwright's async API needs asyncio, so each login runs Playwright on an asyncio
    event loop of its own in a worker thread; the agent works the same from asyncio
    and trio. Cancelling the login, its timeout, an error or the user closing the
    window all close Chromium and delete the profile before the call returns.
    Raises :class:`ConfigurationError` if Playwright is not installed, and
    :class:`AgentError` if Chromium cannot start, the page cannot be loaded, the
    window is closed, or ``timeout`` passes.
    """

    def __init__(
        self,
        *,
        executable_path: str | os.PathLike[str] | None = None,
        headless: bool = False,
        args: Sequence[str] = (),
        timeout: float = 300.0,
        automate: Automation | None = None,
        temp_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if not timeout > 0:
            raise ConfigurationError("timeout must be positive")
        if isinstance(args, str):
            raise ConfigurationError("args must be a sequence of flags, not one string")
        self.executable_path = None if executable_path is None else os.fspath(executable_path)
        self.headless = headless
        self.args = tuple(args)
        self.timeout = timeout
        self.automate = automate
        self.temp_dir = None if temp_dir is None else os.fspath(temp_dir)

    def __repr__(self) -> str:
        browser = self.executable_path or "playwright's chromium"
        return f"<EmbeddedBrowserAgent {browser} headless={self.headless}>"

    @asynccontextmanager
    async def session(self, strategy: Strategy) -> AsyncIterator[AgentSession]:
        """A session for one login of ``strategy``; the strategy's own special URLs are
        kept (its ``redirect_uri`` is ``None``).

        Raises :class:`ConfigurationError` if Playwright is missing or the strategy
        has no URL to watch for, before anything is started.
        """
        _require_playwright()
        UrlWatcher(strategy)  # checks that there is something to watch for
        yield _EmbeddedSession(self, strategy)


class _EmbeddedSession:
    """One login in an :class:`EmbeddedBrowserAgent`."""

    def __init__(self, agent: EmbeddedBrowserAgent, strategy: Strategy) -> None:
        self._agent = agent
        self._strategy = strategy

    @property
    def redirect_uri(self) -> str | None:
        """``None``: the embedded browser watches the strategy's own URLs."""
        return None

    async def authorize(self, url: str) -> str:
        """Show ``url`` in Chromium and return the success or failure URL it lands on."""
        watcher = UrlWatcher(self._strategy)
        run = _BrowserRun(self._agent, url, watcher, self._strategy)
        result: str | None = None
        failure: AgentError | None = None
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(run.run)
            try:
                with anyio.move_on_after(self._agent.timeout):
                    result = await watcher.wait()
            except AgentError as exc:
                failure = exc
            finally:
                # Closes Chromium; the task group then waits for the browser thread.
                run.stop()
        if result is not None:
            return result
        if failure is None:
            raise AgentError(f"the login did not finish within {self._agent.timeout:g} s")
        raise failure from run.error


class _BrowserRun:
    """Chromium for one login, driven by Playwright's async API on an asyncio event loop
    of its own in a worker thread; :meth:`stop` may be called from any thread."""

    def __init__(
        self, agent: EmbeddedBrowserAgent, url: str, watcher: UrlWatcher, strategy: Strategy
    ) -> None:
        self._agent = agent
        self._url = url
        self._watcher = watcher
        self._strategy = strategy
        self._lock = threading.Lock()
        self._stopped = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self.error: BaseException | None = None
        """What ended the run early (a Playwright error, the ``automate`` hook's error)."""
        self._gate: _Gate | None = None

    async def run(self) -> None:
        """Run the browser thread to its end; failures end the watch, never raise."""
        try:
            # Not abandoned on cancellation: stop() makes it end promptly, and waiting
            # for it means no browser, driver or profile outlives the login.
            await anyio.to_thread.run_sync(self._thread_main, abandon_on_cancel=False)
        except Exception as exc:  # pragma: no cover - a bug here must not hang the login
            self._fail(exc, "the embedded browser failed")

    def stop(self) -> None:
        """Close the browser and end the run (thread-safe, idempotent)."""
        with self._lock:
            self._stopped = True
            loop, event = self._loop, self._stop_event
        if loop is not None and event is not None:
            with suppress(RuntimeError):  # the loop has already closed
                loop.call_soon_threadsafe(event.set)

    def _fail(self, exc: BaseException, reason: str) -> None:
        if not self._watcher.done:
            self.error = exc
            self._watcher.cancel(reason)

    # -- in the browser thread ---------------------------------------------------------

    def _thread_main(self) -> None:
        import asyncio

        try:
            profile = tempfile.mkdtemp(prefix="anyoauth-chromium-", dir=self._agent.temp_dir)
        except OSError as exc:
            self._fail(exc, f"no temporary profile could be created ({exc.strerror or exc})")
            return
        try:
            try:
                _write_preferences(profile)
            except OSError as exc:
                self._fail(exc, f"no temporary profile could be created ({exc.strerror or exc})")
                return
            asyncio.run(self._main(profile))
        finally:
            shutil.rmtree(profile, ignore_errors=True)
            self._watcher.cancel(CLOSED_REASON)  # no-op unless the run ended without a result

    async def _main(self, profile: str) -> None:
        import asyncio

        stop = asyncio.Event()
        with self._lock:
            if self._stopped:
                return
            self._loop, self._stop_event = asyncio.get_running_loop(), stop
        try:
            await self._work(profile, stop)
        except _Stopped:
            pass
        except _Failure as failure:
            self._report(failure)
        except Exception as exc:
            self._fail(exc, f"the embedded browser failed ({type(exc).__name__})")

    async def _work(self, profile: str, stop: asyncio.Event) -> None:
        import asyncio

        # Only the waits are interrupted when the run stops; the clean-up steps run to
        # their end (an interrupted one would leave the driver or Chromium running).
        playwright = await _start_playwright()
        try:
            context = await _until(stop, self._launch(playwright, profile))
            try:
                await _until(stop, self._show(context, stop))
            except _Failure as failure:
                # Reported before closing: closing fires "close" events that must not
                # be taken for the user closing the window.
                self._report(failure)
            finally:
                with suppress(Exception):
                    if self._gate is not None:
                        await self._gate.cut_off()
                    else:  # no page was shown: nothing but the browser to close
                        await asyncio.wait_for(context.set_offline(True), _CLOSE_SECONDS)
                with suppress(Exception):
                    await asyncio.wait_for(context.close(), _CLOSE_SECONDS)
        finally:
            # Stopping the driver also ends a browser it is still launching.
            await playwright.stop()

    def _report(self, failure: _Failure) -> None:
        self._fail(failure.__cause__ or failure, str(failure))

    async def _launch(self, playwright: Playwright, profile: str) -> BrowserContext:
        executable = self._agent.executable_path or system_chromium(
            playwright.chromium.executable_path
        )
        try:
            return await playwright.chromium.launch_persistent_context(
                profile,
                executable_path=executable,
                headless=self._agent.headless,
                args=list(self._agent.args),
                chromium_sandbox=_sandboxed(),
                ignore_default_args=["--enable-automation"],
                # A service worker could answer the success URL from its cache, out of
                # the gate's sight.
                service_workers="block",
                no_viewport=not self._agent.headless,
                timeout=0,  # the login's own deadline applies
            )
        except Exception as exc:
            # Playwright's launch errors name the executable and quote the browser's
            # log, never the authorization URL (it is opened only after the launch).
            first = str(exc).strip().splitlines()[:1]
            detail = f": {first[0][:300]}" if first else ""
            raise _Failure(f"Chromium could not be started{detail}") from exc

    async def _show(self, context: BrowserContext, stop: asyncio.Event) -> None:
        """Open the authorization page, run the ``automate`` hook, and watch until the
        run stops."""
        watcher = self._watcher
        page = context.pages[0] if context.pages else await context.new_page()

        def navigated(frame: Frame) -> None:
            # Same-document changes (history.pushState, fragments) load nothing: the
            # gate never sees them.
            if frame == page.main_frame and watcher.feed(frame.url):
                # The page is still open: cut it off before anything else.
                if self._gate is not None:
                    self._gate.cut_off()
                stop.set()

        def closed(_: object) -> None:
            if watcher.cancel(CLOSED_REASON):
                stop.set()

        page.on("framenavigated", navigated)
        page.on("close", closed)
        context.on("close", closed)
        self._gate = await _Gate.open(context, page, watcher, self._strategy, stop)
        try:
            await page.goto(self._url, wait_until="commit", timeout=0)
        except Exception as exc:
            if watcher.done:
                return
            match = _NET_ERROR.search(str(exc))
            detail = f" ({match[0]})" if match else ""
            raise _Failure(f"the authorization page could not be loaded{detail}") from exc
        if self._agent.automate is not None and not watcher.done:
            try:
                await self._agent.automate(page)
            except Exception as exc:
                if not watcher.done:
                    raise _Failure(f"the automate hook failed ({type(exc).__name__})") from exc
        await stop.wait()


def _write_preferences(profile: str) -> None:
    """Write the fresh profile's Chromium preferences (:data:`_PROFILE_PREFERENCES`)."""
    directory = os.path.join(profile, "Default")
    os.mkdir(directory)
    with open(os.path.join(directory, "Preferences"), "w", encoding="utf-8") as file:
        json.dump(_PROFILE_PREFERENCES, file)


class _Gate:
    """Every request of the browser (pages, frames, popups, workers; each hop of a
    redirect) waits here, at Chromium's network layer, for a verdict.

    It uses the DevTools ``Fetch`` domain on the browser target, which sees each hop
    of a redirect (Playwright's routes see only the first) together with its URL's
    fragment. Until the watch ends every request goes on. The window's navigation
    to the success or failure URL ends the watch with the URL, fragment included,
    and is answered locally with an empty document that may load nothing; the
    success and failure URLs are never fetched otherwise either. Once the watch has
    ended (a match, the window closed, the deadline), every request fails.

    WebSocket handshakes never pass through the ``Fetch`` domain. At the end of the
    watch :meth:`cut_off` takes every page offline and closes every page and worker;
    the requests failed after the end are failed only once that has taken effect, so
    no page or worker learns of the end before it is cut off.
    """

    def __init__(
        self,
        session: CDPSession,
        watcher: UrlWatcher,
        strategy: Strategy,
        main_frame: str,
        stop: asyncio.Event,
    ) -> None:
        self._session = session
        self._watcher = watcher
        self._strategy = strategy
        self._main_frame = main_frame
        self._stop = stop
        self._answers: set[asyncio.Future[None]] = set()
        self._context: BrowserContext | None = None
        self._cut: asyncio.Future[None] | None = None

    @classmethod
    async def open(
        cls,
        context: BrowserContext,
        page: Page,
        watcher: UrlWatcher,
        strategy: Strategy,
        stop: asyncio.Event,
    ) -> _Gate:
        """Hold every request of ``context``'s browser from now on; ``page`` is the window."""
        browser = context.browser
        if browser is None:  # pragma: no cover - Playwright < 1.53, refused before
            raise _Failure("the embedded browser needs a newer Playwright")
        page_session = await context.new_cdp_session(page)
        try:
            tree = await page_session.send("Page.getFrameTree")
        finally:
            with suppress(Exception):
                await page_session.detach()
        session = await browser.new_browser_cdp_session()
        gate = cls(session, watcher, strategy, str(tree["frameTree"]["frame"]["id"]), stop)
        gate._context = context
        session.on("Fetch.requestPaused", gate.paused)
        await session.send("Fetch.enable", {"patterns": [{"urlPattern": "*"}]})
        return gate

    def cut_off(self) -> asyncio.Future[None]:
        """Cut every page and worker off the network; a future done once that has taken
        effect (or failed, or :data:`_CLOSE_SECONDS` passed). Idempotent.

        Taking the context offline fails every request and WebSocket handshake of its
        pages and their dedicated workers, even should the DevTools session go away
        before the browser does; closing every page and worker (its unload handlers
        skipped) stops the rest, shared workers included, which the offline switch
        misses. Every step is sent at once, before any later verdict of the gate.
        """
        import asyncio

        if self._cut is None:
            steps: list[Awaitable[object]] = [self._close_targets()]
            if self._context is not None:
                steps.insert(0, self._context.set_offline(True))
            everything = asyncio.gather(*steps, return_exceptions=True)
            self._cut = asyncio.ensure_future(_settle(everything, _CLOSE_SECONDS))
        return self._cut

    async def _close_targets(self) -> None:
        import asyncio

        targets = (await self._session.send("Target.getTargets"))["targetInfos"]

        async def close(target_id: object) -> None:
            with suppress(Exception):  # already gone, or not closable on its own
                await self._session.send("Target.closeTarget", {"targetId": target_id})

        await asyncio.gather(
            *(
                close(target.get("targetId"))
                for target in targets
                if target.get("type") not in _KEPT_TARGETS
            )
        )

    def paused(self, event: dict[str, Any]) -> None:
        """Decide on one held request. Called for each in the order Chromium holds
        them: once a verdict ends the watch, every later request fails."""
        request_id = event.get("requestId")
        try:
            request = event["request"]
            url = f"{request['url']}{request.get('urlFragment') or ''}"
            if self._watcher.done:
                verdict = "fail"
            elif self._strategy.is_redirect(url):
                window = event.get("resourceType") == "Document" and (
                    event.get("frameId") == self._main_frame
                )
                verdict = "land" if window and self._watcher.feed(url) else "fail"
            else:
                verdict = "continue"
        except Exception:  # a malformed event: fail closed
            verdict = "fail"
        if verdict == "land":
            self._stop.set()
            headers = [{"name": name, "value": value} for name, value in _LANDING_HEADERS]
            self._answer(
                "Fetch.fulfillRequest",
                {"requestId": request_id, "responseCode": 200, "responseHeaders": headers},
            )
            self.cut_off()  # other pages (a popup) and workers may still run
        elif verdict == "continue":
            self._answer("Fetch.continueRequest", {"requestId": request_id})
        else:
            # After the end, the failure waits until every page is cut off: a page
            # must not learn of the end while it can still open a WebSocket.
            after = self.cut_off() if self._watcher.done else None
            self._answer(
                "Fetch.failRequest",
                {"requestId": request_id, "errorReason": "BlockedByClient"},
                after,
            )

    def _answer(
        self, method: str, params: dict[str, Any], after: asyncio.Future[None] | None = None
    ) -> None:
        import asyncio

        async def send() -> None:
            if after is not None:
                await asyncio.shield(after)  # never fails: see cut_off
            # The request may be gone already (its page closed, the browser closing).
            with suppress(Exception):
                await self._session.send(method, params)

        answer = asyncio.ensure_future(send())
        self._answers.add(answer)
        answer.add_done_callback(self._answers.discard)


async def _settle(step: Awaitable[object], seconds: float) -> None:
    """Await ``step`` for at most ``seconds``; its failure or timeout is ignored."""
    import asyncio

    with suppress(Exception):
        await asyncio.wait_for(step, seconds)


async def _start_playwright() -> Playwright:
    """Start Playwright's driver. Never interrupted: a cancelled start leaves it running."""
    from playwright.async_api import async_playwright

    try:
        return await async_playwright().start()
    except Exception as exc:
        raise _Failure(f"Playwright could not be started ({type(exc).__name__})") from exc


async def _until(stop: asyncio.Event, step: Coroutine[Any, Any, T]) -> T:
    """Await ``step`` unless ``stop`` is set first: then cancel it, wait for its
    clean-up, and raise :class:`_Stopped`."""
    import asyncio

    task = asyncio.ensure_future(step)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait((task, stopper), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not task.done():
            task.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await task
            raise _Stopped
    return task.result()


class _Stopped(Exception):
    """The run was stopped (a result, the deadline, cancellation) while a step waited."""


class _Failure(Exception):
    """Why the browser run ended early; its message names no URL. The underlying error
    is its ``__cause__``."""
