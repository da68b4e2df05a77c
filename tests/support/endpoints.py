"""A scripted HTTP endpoint for the clients' ``MockTransport``: it answers each request
from a script and keeps what it was sent."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import anyio.lowlevel

Answer = Callable[[Any], Any]
"""Given a request, a response of the HTTP package, or an exception for the endpoint to
raise (a network failure: ``ConnectError``, ``ReadTimeout``, ...)."""


class ScriptedEndpoint:
    """A ``MockTransport`` handler: ``answers[i]`` answers request number ``i`` and the
    last one answers every later request.

    Every request is kept in :attr:`requests`; with a ``clock``, the time each arrived is
    kept in :attr:`times`. Each request passes one checkpoint, as a real exchange does.
    """

    def __init__(
        self, module: ModuleType, *answers: Answer, clock: Callable[[], float] | None = None
    ) -> None:
        if not answers:
            raise ValueError("a scripted endpoint needs at least one answer")
        self.module = module
        """The HTTP package (``httpx`` or ``httpx2``) whose responses the answers build."""
        self.answers = answers
        self.clock = clock
        self.requests: list[Any] = []
        """Every request received, in order."""
        self.times: list[float] = []
        """The clock's time at each request (only with a ``clock``)."""

    @property
    def count(self) -> int:
        """How many requests arrived."""
        return len(self.requests)

    async def __call__(self, request: Any) -> Any:
        self.requests.append(request)
        if self.clock is not None:
            self.times.append(self.clock())
        await anyio.lowlevel.checkpoint()
        answer = self.answers[min(len(self.requests), len(self.answers)) - 1](request)
        if isinstance(answer, BaseException):
            raise answer
        return answer
