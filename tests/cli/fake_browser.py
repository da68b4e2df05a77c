"""A stand-in for a person's web browser, for the ``BROWSER`` environment variable.

``python fake_browser.py URL`` opens the login page at URL on the provider emulator
(following a ``file://`` launch page to the address it forwards to first),
clicks Allow (or the button ``FAKE_BROWSER_DECISION`` names), and follows the
redirect to the application's loopback listener, as a browser would.

It always exits 0, so that :mod:`webbrowser` never goes on to try a real browser;
problems are reported on stderr, and the login then fails on its deadline.
"""

from __future__ import annotations

import html
import os
import re
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import anyio
import httpx

from anyoauth.testing import browse


def forwarded(url: str) -> str:
    """Where a ``file://`` launch page (what the system-browser agent opens) sends the
    browser: its ``<meta http-equiv="refresh">`` target, read as a browser would."""
    if not url.startswith("file://"):
        return url
    page = Path(unquote(urlsplit(url).path)).read_text(encoding="utf-8")
    match = re.search(r'http-equiv="refresh" content="0;url=([^"]+)"', page)
    if match is None:
        raise ValueError("the page forwards nowhere")
    return html.unescape(match.group(1))


async def visit(url: str) -> None:
    """Click the consent page at ``url`` and deliver the redirect to the listener."""
    url = forwarded(url)
    decision = os.environ.get("FAKE_BROWSER_DECISION", "allow")
    async with httpx.AsyncClient(timeout=10) as http:
        landed = await browse(http, url, decision=decision)
        response = await http.get(landed)
    if response.status_code != 200:
        print(f"fake browser: the listener answered HTTP {response.status_code}", file=sys.stderr)


def main(argv: list[str]) -> int:
    """Open ``argv[1]``; always returns 0 (see the module docstring)."""
    if len(argv) != 2:
        print("usage: fake_browser.py URL", file=sys.stderr)
        return 0
    try:
        anyio.run(visit, argv[1])
    except Exception as exc:
        print(f"fake browser: {type(exc).__name__}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
