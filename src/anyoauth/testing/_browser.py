"""An HTTP user agent that reads a consent page and clicks a button."""

from __future__ import annotations

import html
from collections.abc import Mapping
from html.parser import HTMLParser
from typing import Protocol
from urllib.parse import urlencode, urljoin, urlsplit

from ..agents._loopback import is_start_url

__all__ = ["BrowseError", "browse"]

MAX_HOPS = 10
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}


class BrowseError(Exception):
    """:func:`browse` could not reach a result: no consent form, an error page, a loop.

    Its message names pages without their query strings or fragments.
    """


class _Response(Protocol):
    @property
    def status_code(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def text(self) -> str: ...


class AsyncHTTPClient(Protocol):
    """The part of an ``httpx.AsyncClient`` or ``httpx2.AsyncClient`` that :func:`browse` uses."""

    async def request(
        self,
        method: str,
        url: str,
        *,
        data: Mapping[str, str] | None = None,
        follow_redirects: bool = ...,
    ) -> _Response:
        """Send one request."""
        ...


class _ConsentForm(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.pairs: list[tuple[str, str]] = []
        self.buttons: list[tuple[str, str]] = []
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form" and self.action is None and values.get("method", "").lower() == "post":
            self.action = values.get("action", "")
            self._depth = 1
        elif self._depth and tag in ("input", "button"):
            kind = values.get("type", "submit" if tag == "button" else "text").lower()
            if kind == "hidden" and "name" in values:
                self.fields[values["name"]] = values.get("value", "")
                self.pairs.append((values["name"], values.get("value", "")))
            elif kind == "submit" and "name" in values:
                self.buttons.append((values["name"], values.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._depth:
            self._depth = 0


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _problem(response: _Response) -> str:
    start = response.text.find("<p>")
    end = response.text.find("</p>", start)
    return html.unescape(response.text[start + 3 : end]).strip()[:200] if 0 <= start < end else ""


async def browse(
    http: AsyncHTTPClient,
    authorization_url: str,
    *,
    decision: str = "allow",
) -> str:
    """Open ``authorization_url`` like a user would, click Allow or Don't Allow, return
    the URL the browser ends on.

    ``http`` is an ``httpx.AsyncClient`` or ``httpx2.AsyncClient`` that reaches the
    emulator (a real port or :meth:`ProviderEmulator.mock_transport`); ``decision`` is
    the value of the submit button to click, ``"allow"`` or ``"deny"`` on the
    emulator's pages. Redirects are followed by hand while they stay on the
    authorization URL's origin (fragments kept in the result, never sent); a redirect
    elsewhere (the app's ``redirect_uri``, a custom scheme) is returned without being
    requested. A form post response (``response_mode=form_post`` or ``form_post.jwt``:
    a page whose form posts to another origin) is not posted either: its action is
    returned with the form's fields as the query, the URL ``Client.complete`` takes for
    such a strategy (post the fields yourself to play the browser). Error redirects are
    returned too; :class:`BrowseError` is raised when there is no consent form or a page
    fails.

    ``authorization_url`` may also be the one-time start address a
    :class:`~anyoauth.agents.LoopbackAgent` gives its ``open_browser``: it is opened
    first, and its redirect to the authorization URL followed, like a browser would.
    ``http`` must keep the cookie that address sets (httpx clients do) and send it
    with the request to the listener.
    """
    if is_start_url(authorization_url):
        start = await http.request("GET", authorization_url, follow_redirects=False)
        location = start.headers.get("location")
        if start.status_code not in _REDIRECTS or location is None:
            detail = _problem(start)
            raise BrowseError(
                f"HTTP {start.status_code} at the loopback start address: {detail}".rstrip(": ")
            )
        authorization_url = urljoin(authorization_url, location)
    origin = _origin(authorization_url)
    url = authorization_url
    response = await http.request("GET", url.partition("#")[0], follow_redirects=False)
    submitted = False
    for _ in range(MAX_HOPS):
        if response.status_code in _REDIRECTS and "location" in response.headers:
            url = urljoin(url, response.headers["location"])
            if _origin(url) != origin:
                return url
            response = await http.request("GET", url.partition("#")[0], follow_redirects=False)
            continue
        if response.status_code != 200:
            detail = _problem(response)
            raise BrowseError(f"HTTP {response.status_code} at {_path(url)}: {detail}".rstrip(": "))
        form = _ConsentForm()
        form.feed(response.text)
        form.close()
        if form.action is not None and _origin(urljoin(url, form.action)) != origin:
            action = urljoin(url, form.action)
            return f"{action}{'&' if '?' in action else '?'}{urlencode(form.pairs)}"
        if submitted:
            return url
        if form.action is None and url != authorization_url:
            return url
        button = next(((n, v) for n, v in form.buttons if v == decision), None)
        if form.action is None or button is None:
            raise BrowseError(f"no consent form with a {decision!r} button at {_path(url)}")
        url = urljoin(url, form.action)
        fields = {**form.fields, button[0]: button[1]}
        response = await http.request("POST", url, data=fields, follow_redirects=False)
        submitted = True
    raise BrowseError(f"more than {MAX_HOPS} redirects from {_path(authorization_url)}")
