"""A scripted user at oidc-provider's development login and consent pages, over plain HTTP.

oidc-provider's ``devInteractions`` show two HTML forms: a login (any login, any
password) and a consent ("Continue"). :func:`authorize_as_user` follows the
authorization URL with a cookie-keeping HTTP client of its own, posts both forms, and
returns the URL the provider finally redirects to (the client's redirect URI with the
response), without fetching it. :class:`ScriptedUser` is the same as an anyoauth user
agent, for :meth:`anyoauth.Client.login`.

A page the flow did not expect (oidc-provider's error page, a form it cannot fill)
raises :class:`UserFlowError` with the page's text.
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import ModuleType
from typing import Any
from urllib.parse import urljoin, urlsplit

import attrs

from anyoauth import Strategy

__all__ = ["ScriptedUser", "UserFlowError", "authorize_as_user"]

_FORM = re.compile(r'<form[^>]*action="([^"]+)"[^>]*method="post"[^>]*>(.*?)</form>', re.S)
_PROMPT = re.compile(r'name="prompt" value="(login|consent)"')
_ABORT = re.compile(r'href="([^"]*/abort)"')
_MAX_STEPS = 12


class UserFlowError(AssertionError):
    """The provider showed a page the scripted user did not expect."""


def _text(body: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())[:1500]


async def authorize_as_user(
    http_module: ModuleType,
    url: str,
    *,
    login: str = "alice",
    password: str = "any password",  # noqa: S107 (the dev login takes any)
    deny: bool = False,
    verify: Any = True,
) -> str:
    """Open ``url``, log in as ``login``, approve (``deny=True``: abort) and return the
    URL the provider redirects to outside its own origin (the client's callback).
    ``verify`` is the browser's TLS verification (an ``ssl.SSLContext`` for an https
    provider with a test CA)."""
    origin = urlsplit(url)[:2]
    async with http_module.AsyncClient(
        follow_redirects=False, timeout=20.0, verify=verify
    ) as browser:
        response = await browser.get(url)
        for _ in range(_MAX_STEPS):
            if response.is_redirect:
                location = urljoin(str(response.url), str(response.headers["location"]))
                if urlsplit(location)[:2] != origin:
                    return location
                response = await browser.get(location)
                continue
            body = str(response.text)
            if response.status_code != 200:
                raise UserFlowError(f"{response.status_code} at {response.url}: {_text(body)}")
            prompt = _PROMPT.search(body)
            form = _FORM.search(body)
            if prompt is None or form is None:
                raise UserFlowError(f"no login or consent form at {response.url}: {_text(body)}")
            action = urljoin(str(response.url), html.unescape(form[1]))
            if prompt[1] == "login":
                fields = {"prompt": "login", "login": login, "password": password}
            elif deny:
                abort = _ABORT.search(body)
                target = (
                    urljoin(str(response.url), html.unescape(abort[1]))
                    if abort
                    else action.rsplit("/", 1)[0] + "/abort"
                )
                response = await browser.get(target)
                continue
            else:
                fields = {"prompt": "consent"}
            response = await browser.post(action, data=fields)
    raise UserFlowError(f"no redirect to the client after {_MAX_STEPS} pages")


@attrs.frozen
class _Session:
    http_module: ModuleType
    login: str
    deny: bool
    verify: Any

    @property
    def redirect_uri(self) -> str | None:
        return None  # the strategy's own redirect URI; nothing listens there

    async def authorize(self, url: str) -> str:
        return await authorize_as_user(
            self.http_module, url, login=self.login, deny=self.deny, verify=self.verify
        )


@attrs.frozen
class ScriptedUser:
    """A user agent (:class:`anyoauth.agents.UserAgent`) that is :func:`authorize_as_user`."""

    http_module: ModuleType
    login: str = "alice"
    deny: bool = False
    verify: Any = True
    """The browser's TLS verification (see :func:`authorize_as_user`)."""

    @asynccontextmanager
    async def session(self, strategy: Strategy) -> AsyncIterator[Any]:
        yield _Session(self.http_module, self.login, self.deny, self.verify)
