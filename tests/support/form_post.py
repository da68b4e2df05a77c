"""A browser's part in form post response modes (``form_post``, ``form_post.jwt``), for
tests whose browser is an HTTP client (no JavaScript).

:func:`anyoauth.testing.browse` returns a form post response as the URL
``Client.complete`` takes (the form's action, its fields as the query); these helpers
play what a browser does with it instead: post the fields to the action with the
provider's ``Origin``, then submit the listener's relay form, as its script would.
"""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit


class RelayForm(HTMLParser):
    """A page's one form: its action and hidden fields."""

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


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def scripts_allowed(page: str, csp: str) -> list[str]:
    """The page's inline scripts, each checked against the page's CSP hashes."""
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    for script in scripts:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    return scripts


async def post_like_a_browser(http: Any, landed: str, *, origin: str) -> Any:
    """Post the form post response ``landed`` (from ``browse``) to its action with the
    ``Origin`` a browser names, as the provider's page does; return the answer."""
    action, _, query = landed.partition("?")
    return await http.post(
        action,
        data=dict(parse_qsl(query, keep_blank_values=True)),
        headers={"Origin": origin},
    )


async def submit_relay(http: Any, page: Any) -> Any:
    """Submit the loopback listener's relay form, as its inline script does."""
    assert page.status_code == 200, page.text
    (script,) = scripts_allowed(page.text, page.headers["content-security-policy"])
    assert "submit()" in script
    form = RelayForm(page.text)
    target = urljoin(str(page.url), form.action)
    return await http.post(target, data=form.fields, headers={"Origin": origin_of(target)})
