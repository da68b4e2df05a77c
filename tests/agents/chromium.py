"""A real Chromium for the tests: Debian's ``chromium`` driven by the ``playwright`` package.

Fixtures (registered in ``tests/conftest.py``):

- ``chromium_path`` (session): the Chromium executable: ``ANYOAUTH_CHROMIUM``, else
  ``/usr/bin/chromium``, else ``chromium`` on ``PATH``.

Helpers:

- :data:`CHROMIUM_FLAGS`: the flags the tests run Chromium with.
- :func:`open_in_chromium`: a headless Chromium as the "system browser" of the
  loopback agent: it loads a URL, clicks the consent button, waits for the
  listener's last page, and closes.
- :func:`run_on_asyncio_thread`: runs Playwright's async API (which needs asyncio)
  from asyncio or trio, on an event loop of its own in a worker thread;
  :func:`start_playwright` and :func:`finish` keep a cancellation from cutting the
  driver's start or stop short.
- :func:`running_as_root`: Chromium's sandbox is turned off (``--no-sandbox``) only then.

Without Chromium or the ``playwright`` package these fixtures skip the test, unless
``CI`` or ``ANYOAUTH_REQUIRE_SERVICES`` is set: then they fail it, so CI never passes
by skipping. ``.ci/install-chromium`` installs Debian's ``chromium``. Playwright never
downloads a browser here (no ``playwright install``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import TYPE_CHECKING, TypeVar

import anyio
import anyio.to_thread
import pytest

from services import missing_service

if TYPE_CHECKING:
    from playwright.async_api import Browser, Playwright

__all__ = [
    "CHROMIUM_FLAGS",
    "chromium_path",
    "finish",
    "launch_chromium",
    "open_in_chromium",
    "run_on_asyncio_thread",
    "running_as_root",
    "start_playwright",
]

T = TypeVar("T")

CHROMIUM_FLAGS = (
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
"""Flags for Chromium in the tests (``--no-sandbox`` is added by Playwright when the
sandbox is off, which the tests ask for only when running as root)."""

DEFAULT_CHROMIUM = "/usr/bin/chromium"


def running_as_root() -> bool:
    """Whether this process runs as root, where Chromium's sandbox cannot start."""
    geteuid = getattr(os, "geteuid", None)
    return geteuid is not None and geteuid() == 0


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """The Chromium executable for the session (skip, or fail under CI, without one)."""
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        missing_service(
            "the playwright package is not installed (pip install 'anyoauth[playwright]')"
        )
    configured = os.environ.get("ANYOAUTH_CHROMIUM")
    if configured:
        if not os.access(configured, os.X_OK):
            missing_service(f"ANYOAUTH_CHROMIUM={configured!r} is not an executable file")
        return configured
    if os.access(DEFAULT_CHROMIUM, os.X_OK):
        return DEFAULT_CHROMIUM
    found = shutil.which("chromium")
    if found is None:
        missing_service(
            "Chromium is not installed (run .ci/install-chromium, or apt-get install "
            "chromium; ANYOAUTH_CHROMIUM names another executable)"
        )
    return found


async def run_on_asyncio_thread(function: Callable[[], Awaitable[T]]) -> T:
    """Run ``function()`` on an asyncio event loop of its own in a worker thread.

    Playwright's async API needs asyncio; this runs it from asyncio or trio alike.
    Cancelling the caller cancels the coroutine (its ``finally`` blocks run, so the
    browser closes) and waits for the thread to end, so nothing outlives the call.
    """
    lock = threading.Lock()
    running: list[tuple[asyncio.AbstractEventLoop, asyncio.Task[object]]] = []
    cancelled = False
    outcome: list[T] = []
    failure: list[BaseException] = []
    finished = anyio.Event()

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        with lock:
            if cancelled:
                return
            running.append((asyncio.get_running_loop(), task))
        with suppress(asyncio.CancelledError):
            outcome.append(await function())

    async def thread() -> None:
        try:
            await anyio.to_thread.run_sync(lambda: asyncio.run(main()), abandon_on_cancel=False)
        except Exception as exc:
            failure.append(exc)
        finally:
            finished.set()

    def cancel() -> None:
        nonlocal cancelled
        with lock:
            cancelled = True
            targets = list(running)
        for loop, task in targets:
            with suppress(RuntimeError):  # the loop has closed already
                loop.call_soon_threadsafe(task.cancel)

    async with anyio.create_task_group() as task_group:
        task_group.start_soon(thread)
        try:
            await finished.wait()
        finally:
            cancel()
    if failure:
        raise failure[0]
    if not outcome:
        raise RuntimeError("the asyncio thread was cancelled")
    return outcome[0]


async def finish(step: Awaitable[T]) -> T:
    """Await ``step`` to its end even if the caller is cancelled meanwhile (the
    cancellation is raised afterwards): starting or stopping Playwright's driver must
    not be cut short, or the driver process outlives its event loop."""
    task = asyncio.ensure_future(step)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with suppress(Exception):
            await task
        raise


async def start_playwright() -> Playwright:
    """Start Playwright's driver (async API); if the caller is cancelled meanwhile, the
    start is finished and the driver stopped before the cancellation is raised."""
    from playwright.async_api import async_playwright

    starting = asyncio.ensure_future(async_playwright().start())
    try:
        return await asyncio.shield(starting)
    except asyncio.CancelledError:
        with suppress(Exception):
            await (await starting).stop()
        raise


async def launch_chromium(playwright: Playwright, chromium_path: str) -> Browser:
    """Debian's Chromium started headless by ``playwright`` with the flags every test
    uses (:data:`CHROMIUM_FLAGS`; no sandbox when running as root)."""
    return await playwright.chromium.launch(
        executable_path=chromium_path,
        headless=True,
        args=list(CHROMIUM_FLAGS),
        chromium_sandbox=not running_as_root(),
    )


async def open_in_chromium(
    chromium_path: str,
    url: str,
    *,
    click: str | None = "Allow",
    wait_for_text: str | None = "close this window",
    seconds: float = 20.0,
) -> None:
    """Open ``url`` in a fresh headless Chromium, like a user's system browser.

    Clicks the button named ``click`` on the first page (the emulator's consent page:
    ``"Allow"`` or ``"Don't Allow"``; ``None`` clicks nothing), then waits until a page
    shows ``wait_for_text`` (the loopback listener's last page says "... close this
    window"; ``None`` waits for the network to go idle), and closes Chromium; each step
    may take ``seconds``. Works on asyncio and trio; cancelling it closes Chromium at
    once. Use it as
    ``LoopbackAgent(open_browser=lambda url: open_in_chromium(path, url))``.
    """

    async def browse() -> None:
        playwright = await start_playwright()
        try:
            browser = await launch_chromium(playwright, chromium_path)
            try:
                page = await browser.new_page()
                page.set_default_timeout(seconds * 1000)
                await page.goto(url)
                if click is not None:
                    await page.get_by_role("button", name=click, exact=True).click()
                if wait_for_text is not None:
                    await page.get_by_text(wait_for_text).wait_for()
                else:
                    await page.wait_for_load_state("networkidle")
            finally:
                with suppress(Exception):
                    await browser.close()
        finally:
            # Stopping the driver also ends the browser if closing it was cut short.
            await finish(playwright.stop())

    with anyio.fail_after(seconds + 10.0):
        await run_on_asyncio_thread(browse)
