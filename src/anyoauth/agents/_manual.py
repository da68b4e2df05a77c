"""The manual agent: for machines without a browser, print the authorization URL and
read the address a person pastes back (:class:`ManualAgent`)."""

from __future__ import annotations

import builtins
import inspect
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread
import attrs

from .._core.errors import AgentError
from .._core.text import printable
from ._base import check_callable as _check_callable
from ._base import check_positive as _check_positive

if TYPE_CHECKING:
    from .._core.strategies import Strategy

__all__ = ["ManualAgent"]


_INSTRUCTIONS = """\
To log in, open this address in a web browser:

    {url}

When the login is done, the browser ends on another address (the page may fail to
load; that is fine). Copy that whole address from the address bar and paste it here.
"""
_PROMPT = "Address the browser ended on: "


def _print_to_stderr(text: str) -> None:
    """The default output: ``text`` on stderr, any character a terminal acts on escaped."""
    print(printable(text), file=sys.stderr, flush=True)


def _read_line(prompt: str) -> str:
    sys.stderr.write(printable(prompt))
    sys.stderr.flush()
    return builtins.input()


async def _read_stdin(prompt: str) -> str:
    return await anyio.to_thread.run_sync(_read_line, prompt, abandon_on_cancel=True)


@attrs.frozen(kw_only=True)
class ManualAgent:
    """For machines without a browser: print the URL, read the address a person pastes.

    The person opens the authorization URL on any device, logs in, and pastes the
    address the browser ends on (the redirect, even when that page fails to load).
    The strategy keeps its own ``redirect_uri``.

    Args:
        input: an async callable given a prompt, returning the pasted line; by
            default the builtin :func:`input` in a worker thread (on stdin).
        output: a callable (plain or async) given the instructions with the URL; by
            default they are printed to stderr, any control character escaped.
        timeout: seconds to wait for the paste before raising :class:`AgentError`.
    """

    input: Callable[[str], Awaitable[str]] | None = attrs.field(
        default=None, validator=_check_callable
    )
    """Reads the pasted address (async); ``None`` reads a line from stdin."""
    output: Callable[[str], object] | None = attrs.field(default=None, validator=_check_callable)
    """Shows the instructions and URL (plain or async); ``None`` prints to stderr."""
    timeout: float = attrs.field(default=900.0, validator=_check_positive)
    """Seconds to wait for the paste."""

    @asynccontextmanager
    async def session(self, strategy: Strategy) -> AsyncIterator[_ManualSession]:
        """A session that keeps the strategy's ``redirect_uri`` and holds nothing."""
        yield _ManualSession(self)


class _ManualSession:
    """One login by copy and paste."""

    def __init__(self, agent: ManualAgent) -> None:
        self._agent = agent

    @property
    def redirect_uri(self) -> None:
        """``None``: the strategy's own ``redirect_uri`` is used."""
        return None

    async def authorize(self, url: str) -> str:
        """Show the instructions with ``url`` and return the address pasted back.

        Raises :class:`AgentError` when the input ends, is empty, or does not come
        within the agent's deadline.
        """
        agent = self._agent
        read = agent.input or _read_stdin
        write = agent.output or _print_to_stderr
        line: str | None = None
        with anyio.move_on_after(agent.timeout):
            shown = write(_INSTRUCTIONS.format(url=url))
            if inspect.isawaitable(shown):
                await shown
            try:
                line = await read(_PROMPT)
            except EOFError:
                raise AgentError("the input ended before an address was pasted") from None
        if line is None:
            raise AgentError(f"no address was pasted within {agent.timeout:g} s")
        line = line.strip()
        if not line:
            raise AgentError("no address was pasted")
        return line
