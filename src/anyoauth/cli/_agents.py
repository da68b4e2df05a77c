"""The user agents of ``login``: which one a login uses (``--agent``, else what suits the
flow and the redirect URI), how it is built from the profile (the loopback listener's
address and port), and what it tells the user on the terminal. Each agent's module is
imported only when it is chosen.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import webbrowser
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .. import AgentError, Strategy
from ..sansio import is_loopback_host
from ._common import LOOPBACK_HOST, LOOPBACK_PATH, UsageError
from ._profiles import Profile
from ._providers import flow_traits
from ._terminal import in_daemon_thread, read_pasted, say

if TYPE_CHECKING:
    from ..agents import UserAgent

__all__ = [
    "AGENTS",
    "agent_name",
    "browser_usable",
    "loopback_redirect",
    "make_agent",
    "open_browser",
    "show_url",
]

AGENTS = ("system", "loopback", "embedded", "manual")
"""The user agents ``--agent`` chooses from."""


def browser_usable() -> bool:
    """Whether ``--agent system`` can open a graphical web browser here: ``$BROWSER`` is
    set, or there is a desktop session (on Linux and the like, ``$DISPLAY`` or
    ``$WAYLAND_DISPLAY``: without one, only a text browser in this very terminal)."""
    if os.environ.get("BROWSER"):
        return True
    desktop = sys.platform in ("darwin", "win32") or any(
        os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY")
    )
    if not desktop:
        return False
    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return True


def loopback_redirect(uri: str | None) -> tuple[str, int, str] | None:
    """``(host, port, path)`` of an ``http://`` loopback redirect URI, else ``None``."""
    if uri is None:
        return None
    parts = urlsplit(uri)
    if parts.scheme != "http" or not is_loopback_host(parts.hostname or ""):
        return None
    try:
        port = parts.port or 80
    except ValueError:
        return None
    return parts.hostname or LOOPBACK_HOST, port, parts.path or "/"


def agent_name(profile: Profile, strategy: Strategy) -> str:
    """The user agent for ``login``: ``--agent``, else what suits the flow and redirect URI."""
    if profile.agent is not None:
        return profile.agent
    if flow_traits(strategy).ends_on_provider_pages:
        return "embedded"
    if profile.redirect_uri is not None and loopback_redirect(profile.redirect_uri) is None:
        return "manual"  # a custom scheme or a web app's URI: the user pastes where it ended
    return "system"


def make_agent(name: str, profile: Profile, strategy: Strategy, timeout: float | None) -> UserAgent:
    """Build the user agent ``name``; each is imported only when chosen."""
    options: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
    if name in ("system", "loopback"):
        return _loopback_agent(name, profile, options)
    if profile.port is not None:
        raise UsageError(f"--port is for the loopback listener, not --agent {name}")
    if profile.redirect_uri is None and not flow_traits(strategy).ends_on_provider_pages:
        raise UsageError(
            f"--agent {name} needs --redirect-uri (the redirect URI your app registered)"
        )
    if name == "manual":
        from ..agents import ManualAgent

        return ManualAgent(input=read_pasted, output=say, **options)  # instructions: stderr
    if importlib.util.find_spec("playwright") is None:
        raise AgentError(
            "the embedded browser needs Playwright (pip install 'anyoauth[playwright]'); "
            "or use --agent manual"
        )
    from ..agents import EmbeddedBrowserAgent

    return EmbeddedBrowserAgent(**options)


def _loopback_agent(name: str, profile: Profile, options: dict[str, Any]) -> UserAgent:
    """The loopback listener on ``--redirect-uri``'s address, or ``--port``, or any port."""
    from ..agents import LoopbackAgent, SystemBrowserAgent

    loopback = loopback_redirect(profile.redirect_uri)
    if profile.redirect_uri is not None and loopback is None:
        raise UsageError(
            f"--agent {name} catches only http://{LOOPBACK_HOST}:PORT/... redirects; "
            "use --agent manual for this redirect URI"
        )
    host, port, path = loopback or (LOOPBACK_HOST, 0, LOOPBACK_PATH)
    if profile.port is not None:
        if loopback is not None and profile.port != port:
            raise UsageError("--port differs from the port of --redirect-uri")
        port = profile.port
    if name == "system":
        return SystemBrowserAgent(
            host=host, port=port, path=path, open_browser=open_browser, **options
        )
    return LoopbackAgent(host=host, port=port, path=path, open_browser=show_url, **options)


async def show_url(url: str) -> None:
    """``--agent loopback``: the user opens the login page."""
    say(f"To log in, open this address in a web browser on this machine:\n\n    {url}\n")


async def open_browser(url: str) -> None:
    """``--agent system``: open the login page with :mod:`webbrowser` (``$BROWSER``).

    ``url`` is the ``file://`` URL of the private launch page :class:`SystemBrowserAgent`
    writes, so the one-time start address never appears on the browser's command line.
    """
    say(
        "Opening the login page in your web browser. If it does not open, open this "
        f"address in a web browser on this machine:\n\n    {url}\n"
    )
    opened = await in_daemon_thread(webbrowser.open, url)
    if not opened:
        raise AgentError(
            "no web browser could be opened (the BROWSER environment variable chooses one); "
            "use --agent manual to paste the address instead"
        )
