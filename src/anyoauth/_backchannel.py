"""The driver's side of CIBA (OpenID Client-Initiated Backchannel Authentication Core
1.0): the logins waiting for their user, and the pings that wake them.

:class:`BackchannelWaiters` belongs to one :class:`~anyoauth.Client`: each running
:meth:`~anyoauth.Client.backchannel_login` registers its flow here while it waits;
:meth:`~anyoauth.Client.receive_ping` checks a ping against them (the rules are the
core's :func:`~anyoauth._core.ciba.check_ping`) and wakes the one it is for. Every wait
is anyio's, so it runs on asyncio and trio.
"""

from __future__ import annotations

import anyio

from ._core.ciba import BackchannelAuthorization, InvalidNotification, check_ping
from ._core.machine import Flow, State

__all__ = ["BackchannelWaiters", "Waiter"]


class Waiter:
    """One login waiting for its user: its flow, and the event a ping sets."""

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self.woken = anyio.Event()
        self.pinged = False

    def __repr__(self) -> str:
        return f"<Waiter {self.flow.state}>"

    async def wait(self, seconds: float) -> None:
        """Wait ``seconds`` or until a ping, whichever comes first; then re-arm."""
        with anyio.move_on_after(max(0.0, seconds)):
            await self.woken.wait()
        if self.woken.is_set():
            self.woken = anyio.Event()


class BackchannelWaiters:
    """The backchannel logins of one client that are waiting for their user."""

    def __init__(self) -> None:
        self._waiting: list[Waiter] = []

    def __repr__(self) -> str:
        return f"<BackchannelWaiters {len(self._waiting)} waiting>"

    def add(self, flow: Flow) -> Waiter:
        """Register ``flow`` (until :meth:`remove`)."""
        waiter = Waiter(flow)
        self._waiting.append(waiter)
        return waiter

    def remove(self, waiter: Waiter) -> None:
        """Forget ``waiter``: a ping for it is refused from now on."""
        if waiter in self._waiting:
            self._waiting.remove(waiter)

    def receive(self, authorization: str | None, body: bytes | str, now: float) -> None:
        """Check a ping and wake the login it is for; :class:`InvalidNotification`
        otherwise (nothing is woken)."""
        pending: dict[int, Waiter] = {}
        approvals: list[BackchannelAuthorization] = []
        for waiter in self._waiting:
            approval = waiter.flow.backchannel
            if approval is not None and approval.mode == "ping":
                pending[id(approval)] = waiter
                approvals.append(approval)
        matched = pending[id(check_ping(authorization, body, approvals))]
        if matched.pinged:
            # The server pings once; a second one is a replay (or a retry of one already
            # taken): it wakes nothing.
            raise InvalidNotification("the notification was already received")
        matched.pinged = True
        if matched.flow.state in (State.AWAITING_APPROVAL, State.POLLING):
            matched.flow.notified(now)
        matched.woken.set()
