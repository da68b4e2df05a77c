"""The user-agent protocol (how ``Client.login()`` shows the user the authorization page),
and the checks every agent's settings share."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from .._core.errors import ConfigurationError

if TYPE_CHECKING:
    from .._core.strategies import Strategy

__all__ = ["AgentSession", "UserAgent", "check_callable", "check_positive"]


@runtime_checkable
class AgentSession(Protocol):
    """One login in a user agent: where the redirect goes, and the wait for it."""

    @property
    def redirect_uri(self) -> str | None:
        """The ``redirect_uri`` this session catches (a loopback listener's URL), or
        ``None`` to keep the strategy's own (special URLs an embedded browser watches)."""
        ...

    async def authorize(self, url: str) -> str:
        """Show ``url`` to the user and return the URL the flow ended on: the redirect,
        or the provider's success or failure URL. (The loopback listener sends the
        browser to ``url`` through a one-time start address of its own.) Raises
        :class:`AgentError` when the user agent fails or its deadline passes."""
        ...


@runtime_checkable
class UserAgent(Protocol):
    """Something that can show the user an authorization page: a loopback listener plus
    the system browser, an embedded browser, or a person pasting URLs."""

    def session(self, strategy: Strategy) -> AbstractAsyncContextManager[AgentSession]:
        """Open a session for one login of ``strategy``; closing it frees everything it
        holds (ports, browser windows, profiles)."""
        ...


def check_positive(_instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    """An attrs validator: a positive number of seconds."""
    if not value > 0:
        raise ConfigurationError(f"{attribute.name} must be a positive number of seconds")


def check_callable(_instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    """An attrs validator: a callable, or ``None``."""
    if value is not None and not callable(value):
        raise ConfigurationError(f"{attribute.name} must be callable or None")
