"""A headless Chromium playing the user at django-oauth-toolkit's pages.

Built on ``tests/agents/chromium.py`` (Debian's ``chromium`` driven by Playwright on
an asyncio loop of its own, so these work from asyncio and trio tests alike; each call
starts a fresh browser, so the user always logs in):

- :func:`dot_browser` ``(chromium_path, server, *, deny=False)``: an ``open_browser``
  for :class:`anyoauth.agents.LoopbackAgent`: it opens the authorization URL, logs in
  as the seeded user, clicks ``Authorize`` (``Cancel`` with ``deny=True``) and waits
  for the loopback listener's last page.
- :func:`authorize_in_chromium`: the same with explicit credentials and options.
- :func:`dot_device_approver` ``(chromium_path, server, *, deny=False)``: an async
  ``approve(verification_uri, user_code)`` for the device flow (RFC 8628).
- :func:`approve_device_in_chromium`: the same with explicit credentials: opens the
  verification URI, logs in, enters the user code, clicks ``Accept`` (``Deny``) and
  waits for the toolkit's "Device Authorized" ("Device Denied") page.

A page the flow did not expect (a failed login, the toolkit's error page, an unknown
user code) raises :class:`BrowserFlowError` with the page's text, at once rather than
at the timeout.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import suppress
from typing import TYPE_CHECKING, Any

import anyio

from agents.chromium import (
    finish,
    launch_chromium,
    run_on_asyncio_thread,
    start_playwright,
)

if TYPE_CHECKING:
    from playwright.async_api import Locator, Page

    from .dot import DotServer

__all__ = [
    "LOOPBACK_DONE_TEXT",
    "BrowserFlowError",
    "approve_device_in_chromium",
    "authorize_in_chromium",
    "dot_browser",
    "dot_device_approver",
]

LOOPBACK_DONE_TEXT = "close this window"
"""Text on the last page of anyoauth's loopback listener (success and error alike)."""


class BrowserFlowError(AssertionError):
    """The browser reached a page the flow did not expect."""


async def _in_chromium(
    chromium_path: str, seconds: float, steps: Callable[[Page], Awaitable[None]]
) -> None:
    """Run ``steps(page)`` in a fresh headless Chromium (asyncio or trio caller); each
    Playwright wait may take ``seconds``; cancelling closes Chromium at once."""

    async def browse() -> None:
        playwright = await start_playwright()
        try:
            browser = await launch_chromium(playwright, chromium_path)
            try:
                page = await browser.new_page()
                page.set_default_timeout(seconds * 1000)
                await steps(page)
            finally:
                with suppress(Exception):
                    await browser.close()
        finally:
            await finish(playwright.stop())

    with anyio.fail_after(3 * seconds + 10.0):
        await run_on_asyncio_thread(browse)


async def _page_text(page: Page) -> str:
    with suppress(Exception):
        return " ".join((await page.inner_text("body")).split())[:1000]
    return "(no text)"


async def _fail(page: Page, what: str) -> BrowserFlowError:
    return BrowserFlowError(f"{what} at {page.url}: {await _page_text(page)}")


async def _visible(locator: Locator) -> bool:
    return await locator.count() > 0 and await locator.first.is_visible()


async def _log_in(page: Page, username: str, password: str) -> None:
    """Fill in the Django login form and submit it (waits for the next page)."""
    await page.fill("#id_username", username)
    await page.fill("#id_password", password)
    async with page.expect_navigation():
        await page.get_by_role("button", name="Log in", exact=True).click()
    if await _visible(page.locator("#login-error")):
        raise await _fail(page, f"logging in as {username!r} failed")


async def authorize_in_chromium(
    chromium_path: str,
    url: str,
    *,
    username: str,
    password: str,
    deny: bool = False,
    wait_for_text: str | None = LOOPBACK_DONE_TEXT,
    seconds: float = 20.0,
) -> None:
    """Open the authorization ``url``, log in, and click ``Authorize`` (``Cancel``).

    Then waits for a page showing ``wait_for_text`` (anyoauth's loopback listener says
    "... close this window"; ``None`` waits for the network to go idle). Raises
    :class:`BrowserFlowError` on a failed login or the toolkit's own error page (a
    bad ``client_id`` or ``redirect_uri``). If the toolkit redirects without asking
    (an error it can send to the redirect URI), no button is clicked.
    """

    async def steps(page: Page) -> None:
        await page.goto(url)
        login = page.locator("#login-form")
        consent = page.locator("#authorizationForm")
        error = page.get_by_role("heading", name=re.compile(r"^Error:"))
        done = page.get_by_text(wait_for_text) if wait_for_text is not None else None
        logged_in = False
        while True:
            if done is not None and await _visible(done):
                return
            if await _visible(error):
                raise await _fail(page, "the authorization server refused the request")
            if await _visible(login):
                if logged_in:
                    raise await _fail(page, "the login page came back")
                await _log_in(page, username, password)
                logged_in = True
                continue
            if await _visible(consent):
                button = "Cancel" if deny else "Authorize"
                async with page.expect_navigation():
                    await page.get_by_role("button", name=button, exact=True).click()
                break
            if done is None:
                break  # redirected straight to the client
            expected = login.or_(consent).or_(error).or_(done)
            await expected.first.wait_for()
        if done is not None:
            await done.wait_for()
        else:
            await page.wait_for_load_state("networkidle")

    await _in_chromium(chromium_path, seconds, steps)


def dot_browser(
    chromium_path: str,
    server: DotServer,
    *,
    deny: bool = False,
    wait_for_text: str | None = LOOPBACK_DONE_TEXT,
    seconds: float = 20.0,
) -> Callable[[str], Coroutine[Any, Any, None]]:
    """An ``open_browser`` for ``LoopbackAgent`` that logs in as ``server``'s user and
    approves (or, with ``deny=True``, cancels) the authorization request."""

    async def open_browser(url: str) -> None:
        await authorize_in_chromium(
            chromium_path,
            url,
            username=server.username,
            password=server.password,
            deny=deny,
            wait_for_text=wait_for_text,
            seconds=seconds,
        )

    return open_browser


async def approve_device_in_chromium(
    chromium_path: str,
    verification_uri: str,
    user_code: str | None,
    *,
    username: str,
    password: str,
    deny: bool = False,
    seconds: float = 20.0,
) -> None:
    """Approve (``deny=True``: deny) a device login at the toolkit's ``/device/`` pages.

    Opens ``verification_uri`` (``verification_uri_complete`` works too: then
    ``user_code`` may be ``None``, the form is filled in already), logs in, enters
    ``user_code``, clicks ``Verify``, then ``Accept`` (``Deny``), and waits for the
    "Device Authorized" ("Device Denied") page. Raises :class:`BrowserFlowError` when
    the toolkit refuses the code (unknown, expired or used) or the login fails.
    """

    async def steps(page: Page) -> None:
        await page.goto(verification_uri)
        await page.locator("#login-form").wait_for()
        await _log_in(page, username, password)
        field = page.locator("#id_user_code")
        await field.wait_for()
        if user_code is not None:
            await field.fill(user_code)
        async with page.expect_navigation():
            await page.get_by_role("button", name="Verify", exact=True).click()
        if await _visible(page.locator(".errorlist")):
            raise await _fail(page, "the authorization server refused the user code")
        decision = page.get_by_role("button", name="Deny" if deny else "Accept", exact=True)
        if not await _visible(decision):
            raise await _fail(page, "no Accept / Deny page")
        async with page.expect_navigation():
            await decision.click()
        status = "Device Denied" if deny else "Device Authorized"
        await page.get_by_role("heading", name=status).wait_for()

    await _in_chromium(chromium_path, seconds, steps)


def dot_device_approver(
    chromium_path: str, server: DotServer, *, deny: bool = False, seconds: float = 20.0
) -> Callable[[str, str | None], Coroutine[Any, Any, None]]:
    """An async ``approve(verification_uri, user_code)`` that logs in as ``server``'s
    user and accepts (``deny=True``: denies) the device."""

    async def approve(verification_uri: str, user_code: str | None) -> None:
        await approve_device_in_chromium(
            chromium_path,
            verification_uri,
            user_code,
            username=server.username,
            password=server.password,
            deny=deny,
            seconds=seconds,
        )

    return approve
