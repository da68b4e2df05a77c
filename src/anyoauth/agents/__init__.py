"""User agents: how ``Client.login()`` shows the user the authorization page and gets the
URL the flow ends on.

- :class:`LoopbackAgent` (RFC 8252): a one-shot listener on 127.0.0.1 (or ::1), port 0,
  paired with a browser; the default where the provider accepts a redirect_uri.
- :class:`SystemBrowserAgent`: the loopback listener with the platform's browser.
- :class:`EmbeddedBrowserAgent`: a Chromium window (playwright) whose every navigation
  is watched for the provider's success and failure URLs (Geni's desktop flow);
  :class:`UrlWatcher` does the same for any webview of your own (Qt, pywebview).
- :class:`ManualAgent`: prints the URL and reads the final URL a person pastes.

RFC 8252 advises the system browser for native apps; the embedded browser exists
because Geni's desktop flow ends on the provider's own pages.
"""

from __future__ import annotations

from .._core.strategies import Strategy, UserStep
from ._base import AgentSession as AgentSession
from ._base import UserAgent as UserAgent
from ._embedded import EmbeddedBrowserAgent as EmbeddedBrowserAgent
from ._embedded import UrlWatcher as UrlWatcher
from ._loopback import MAX_CONNECTIONS as MAX_CONNECTIONS
from ._loopback import MAX_REQUEST_BYTES as MAX_REQUEST_BYTES
from ._loopback import LoopbackAgent as LoopbackAgent
from ._loopback import SystemBrowserAgent as SystemBrowserAgent
from ._manual import ManualAgent as ManualAgent

__all__ = [
    "MAX_CONNECTIONS",
    "MAX_REQUEST_BYTES",
    "AgentSession",
    "EmbeddedBrowserAgent",
    "LoopbackAgent",
    "ManualAgent",
    "SystemBrowserAgent",
    "UrlWatcher",
    "UserAgent",
    "default_agent",
]


def default_agent(strategy: Strategy) -> UserAgent:
    """The user agent ``Client.login()`` uses for ``strategy`` when none is given.

    Flows that end on the provider's own special URLs (Geni's desktop flow) need the
    embedded browser; every other flow gets the loopback listener with the system
    browser (RFC 8252).
    """
    if strategy.user_step is UserStep.LANDING_PAGE:
        return EmbeddedBrowserAgent()
    return SystemBrowserAgent()
