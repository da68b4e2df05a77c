"""The blocking driver: :class:`SyncClient` runs an async :class:`~anyoauth.Client` on
an anyio blocking portal (an event loop in a background thread), for scripts, WSGI apps
(Flask, Django) and notebooks.

It owns no flow rule: every call is the async client's, sent to the portal's event loop
and waited for. Every :class:`SyncClient` of one backend in a process shares one portal
(started with the first, stopped with the last), so clients sharing a store, its lock
included, run on the same loop, and any number of threads get one renewal. It owns the
portal's lifetime, the calling-thread checks (closed client, a running event loop) and
the synchronous ``httpx`` ``Auth`` (:func:`~anyoauth._httpx_auth.sync_auth_class`).
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import Future
from contextlib import AbstractContextManager, ExitStack
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, Self, TypeVar

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal

from ._client import Client
from ._core.device import DeviceAuthorization
from ._core.errors import ConfigurationError, OAuthError
from ._core.introspection import Introspection
from ._core.strategies import Strategy
from ._core.token import Token
from ._core.values import AuthorizationRequest
from ._http import DEFAULT_MAX_RESPONSE_BYTES
from ._httpx_auth import sync_auth_class
from ._retry import RetryPolicy
from ._scrub import scrub
from ._store import Store

if TYPE_CHECKING:
    from .agents._base import UserAgent

__all__ = ["SyncClient"]

P = ParamSpec("P")
R = TypeVar("R")

Backend = Literal["asyncio", "trio"]


class _SharedPortal:
    """One blocking portal per backend for the whole process, counted by its users:
    started by the first, stopped by the last; a child process (``fork``) starts its
    own (:meth:`forked`), as the parent's event-loop thread does not exist there."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._lock = threading.Lock()
        self._users = 0
        self._portal: BlockingPortal | None = None
        self._stack: ExitStack | None = None

    def acquire(self) -> BlockingPortal:
        with self._lock:
            if self._portal is None:
                stack = ExitStack()
                self._portal = stack.enter_context(start_blocking_portal(self.backend))
                self._stack, self._users = stack, 0
            self._users += 1
            return self._portal

    def forked(self) -> None:
        """In a child process: forget the parent's portal (never stopped from here: its
        thread is not in this process, and stopping it would wait forever) and a lock a
        parent thread may have held."""
        self._lock = threading.Lock()
        if self._stack is not None:
            _ABANDONED.append(self._stack)
        self._portal, self._stack, self._users = None, None, 0

    def release(self, portal: BlockingPortal) -> None:
        with self._lock:
            if portal is not self._portal:
                return  # a portal of the parent process, or one already stopped
            self._users -= 1
            if self._users > 0:
                return
            stack, self._stack, self._portal = self._stack, None, None
        if stack is not None:
            stack.close()


_PORTALS: dict[str, _SharedPortal] = {
    "asyncio": _SharedPortal("asyncio"),
    "trio": _SharedPortal("trio"),
}

_ABANDONED: list[ExitStack] = []
"""The parent's portals in a child process, kept so they are never finalized."""


def _after_fork_in_child() -> None:
    for shared in _PORTALS.values():
        shared.forked()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _running_loop() -> str | None:
    """The event loop running in this thread (``"asyncio"``, ``"trio"``), if any."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        return "asyncio"
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            trio.lowlevel.current_trio_token()
        except RuntimeError:
            pass
        else:
            return "trio"
    return None


def _in_notebook_kernel() -> bool:
    """Whether this is the main thread of a Jupyter (ipykernel) kernel: its cells run
    inside the kernel's event loop, where blocking is what any synchronous code does."""
    return "ipykernel" in sys.modules and threading.current_thread() is threading.main_thread()


def _scrubbed_sync(method: Callable[P, R]) -> Callable[P, R]:
    """``method``, whose :class:`OAuthError` leaves through :func:`scrub`, its arguments
    (the client, a URL or token given) dropped first (as :func:`scrubbed` does)."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except OAuthError as exc:
            del args, kwargs
            scrub(exc)
            raise

    return wrapper


class SyncClient:
    """A blocking :class:`Client`: the same strategy, store, single-flight renewal and
    errors, for code that does not run an event loop (scripts, Flask, Django,
    notebooks).

    Args:
        strategy: the flow to run (see :class:`Client`).
        store: where tokens and pending flows live; a :class:`MemoryStore` by default.
            Clients sharing a store (in this process or others) renew a token once.
        http: an ``httpx.AsyncClient`` (or httpx2's) to send token requests with, used
            only on the portal's event loop; by default one is made and closed here.
        account: tells apart several tokens of the same strategy in one store.
        clock: seconds since the epoch (see :class:`Client`).
        leeway: a token this close to its expiry counts as expired.
        timeout: the total deadline, in seconds, of one token request.
        max_response_bytes: token responses larger than this are refused.
        retries: when a failed token request is sent again (:class:`RetryPolicy`).
        backend: the portal's event loop, ``"asyncio"`` (default) or ``"trio"``.

    Each method is the :class:`Client` method of the same name, run on a blocking
    portal (:func:`anyio.from_thread.start_blocking_portal`) and waited for; one
    portal per backend serves every :class:`SyncClient` of the process. Any number of
    threads may call one client: a token is renewed once for all of them (and for
    every client sharing the store). Early refreshes run in the background on the
    portal, as inside ``async with Client(...)``.

    Use it as a context manager, or call :meth:`close` when done (a notebook may
    simply keep it); calls after :meth:`close` raise :class:`ConfigurationError`.
    Calls from inside a running event loop (async code, or a callback the client
    runs itself) raise :class:`ConfigurationError` instead of blocking the loop:
    async code uses :class:`Client`. The main thread of a Jupyter kernel, whose cells
    run inside its loop, may call it.
    """

    def __init__(
        self,
        strategy: Strategy,
        store: Store | None = None,
        http: Any = None,
        *,
        account: str = "default",
        clock: Callable[[], float] | None = None,
        leeway: float = 30.0,
        timeout: float = 30.0,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        retries: RetryPolicy | None = None,
        backend: Backend = "asyncio",
    ) -> None:
        if backend not in _PORTALS:
            raise ConfigurationError("backend must be 'asyncio' or 'trio'")
        self._check_thread("SyncClient()")
        self._client = Client(
            strategy,
            store,
            http,
            account=account,
            clock=clock,
            leeway=leeway,
            timeout=timeout,
            max_response_bytes=max_response_bytes,
            retries=retries,
        )
        self._shared = _PORTALS[backend]
        portal = self._shared.acquire()
        try:
            self._entered: AbstractContextManager[Client] | None = (
                portal.wrap_async_context_manager(self._client)
            )
            self._entered.__enter__()
        except BaseException:
            self._entered = None
            self._shared.release(portal)
            raise
        self._portal: BlockingPortal | None = portal
        self._pid = os.getpid()
        self._close_lock = threading.Lock()

    # -- lifetime ---------------------------------------------------------------------------

    def __repr__(self) -> str:
        state = " closed" if self._portal is None else ""
        return (
            f"<anyoauth.SyncClient {self.strategy.store_namespace} account={self.account!r}{state}>"
        )

    def __enter__(self) -> Self:
        """Enter: the client is closed on leaving."""
        self._running_portal()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the background refreshes, close the HTTP client if this client made it,
        and let go of the portal (stopped once no client uses it). Closing twice does
        nothing; any other call afterwards raises :class:`ConfigurationError`."""
        if self._portal is not None and self._pid == os.getpid():
            self._check_thread("SyncClient.close()")
        with self._close_lock:
            portal, self._portal = self._portal, None
            entered, self._entered = self._entered, None
        if portal is None:
            return
        try:
            if entered is not None and self._pid == os.getpid():
                entered.__exit__(None, None, None)
        finally:
            self._shared.release(portal)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._portal is None

    # -- what the async client is -------------------------------------------------------------

    @property
    def strategy(self) -> Strategy:
        """The flow this client runs."""
        return self._client.strategy

    @property
    def store(self) -> Store:
        """Where this client's token and pending logins live."""
        return self._client.store

    @property
    def account(self) -> str:
        """Tells apart several tokens of the same strategy in one store."""
        return self._client.account

    @property
    def token_key(self) -> str:
        """The store key of this client's token (no secret in it)."""
        return self._client.token_key

    # -- interactive flows ------------------------------------------------------------------

    @_scrubbed_sync
    def begin(self) -> AuthorizationRequest:
        """Start a login (:meth:`Client.begin`): the authorization URL, the pending flow
        saved."""
        return self._run("begin", self._client.begin)

    @_scrubbed_sync
    def complete(self, url: str) -> Token:
        """Finish a login from the URL the user agent landed on (:meth:`Client.complete`)."""
        return self._run("complete", functools.partial(self._client.complete, url))

    @_scrubbed_sync
    def login(self, agent: UserAgent | None = None) -> Token:
        """Run the whole interactive login in a user agent (:meth:`Client.login`); the
        agent runs on the portal's event loop."""
        return self._run("login", functools.partial(self._client.login, agent))

    @_scrubbed_sync
    def device_login(
        self, show: Callable[[DeviceAuthorization], Awaitable[None] | None] | None = None
    ) -> Token:
        """Run the device authorization grant (:meth:`Client.device_login`). ``show`` is
        called on the portal's event loop: it should return soon (a blocking one holds
        up every client of the portal), and it cannot call this client."""
        return self._run("device_login", functools.partial(self._client.device_login, show))

    # -- tokens -----------------------------------------------------------------------------

    @_scrubbed_sync
    def token(self, *, rejected: Token | None = None) -> Token:
        """A valid token (:meth:`Client.token`): the held one at once when it is not due
        for renewal, else the one renewal every thread and client sharing the store
        waits on."""
        self._running_portal()
        self._check_thread("SyncClient.token()")
        if rejected is None:
            fresh = self._client.fresh_token()
            if fresh is not None:
                return fresh
        return self._run("token", functools.partial(self._client.token, rejected=rejected))

    def fresh_token(self) -> Token | None:
        """The held token when :meth:`token` would hand it out at once, else ``None``
        (:meth:`Client.fresh_token`); never waits, never sends anything."""
        self._running_portal()
        return self._client.fresh_token()

    @_scrubbed_sync
    def refresh(self) -> Token:
        """Renew the token now (:meth:`Client.refresh`), once for every caller."""
        return self._run("refresh", self._client.refresh)

    @_scrubbed_sync
    def set_token(self, token: Token) -> None:
        """Store ``token`` as this client's token (:meth:`Client.set_token`)."""
        self._run("set_token", functools.partial(self._client.set_token, token))

    @_scrubbed_sync
    def forget(self) -> None:
        """Delete this client's stored token (:meth:`Client.forget`)."""
        self._run("forget", self._client.forget)

    # -- revocation, introspection, userinfo, logout ----------------------------------------

    @_scrubbed_sync
    def revoke(self) -> None:
        """Forget the token here and revoke it at the server (:meth:`Client.revoke`)."""
        self._run("revoke", self._client.revoke)

    @_scrubbed_sync
    def introspect(
        self,
        token: Token | str | None = None,
        *,
        token_type_hint: str | None = "access_token",  # noqa: S107 - a hint, no secret
    ) -> Introspection:
        """Ask the introspection endpoint about a token (:meth:`Client.introspect`)."""
        call = functools.partial(self._client.introspect, token, token_type_hint=token_type_hint)
        return self._run("introspect", call)

    @_scrubbed_sync
    def userinfo(self) -> Mapping[str, Any]:
        """The user's claims from the userinfo endpoint (:meth:`Client.userinfo`)."""
        return self._run("userinfo", self._client.userinfo)

    @_scrubbed_sync
    def logout_url(
        self,
        *,
        post_logout_redirect_uri: str | None = None,
        state: str | None = None,
        ui_locales: str | Iterable[str] | None = None,
    ) -> str:
        """The URL that ends the user's session at the server (:meth:`Client.logout_url`)."""
        call = functools.partial(
            self._client.logout_url,
            post_logout_redirect_uri=post_logout_redirect_uri,
            state=state,
            ui_locales=ui_locales,
        )
        return self._run("logout_url", call)

    @_scrubbed_sync
    def end_session(
        self,
        *,
        post_logout_redirect_uri: str | None = None,
        state: str | None = None,
        ui_locales: str | Iterable[str] | None = None,
    ) -> str | None:
        """Forget the token and return the URL that ends the session at the server
        (:meth:`Client.end_session`)."""
        call = functools.partial(
            self._client.end_session,
            post_logout_redirect_uri=post_logout_redirect_uri,
            state=state,
            ui_locales=ui_locales,
        )
        return self._run("end_session", call)

    # -- httpx and DPoP -----------------------------------------------------------------------

    def auth(self, module: ModuleType | None = None) -> Any:
        """An ``Auth`` for ``httpx.Client(auth=...)`` (or httpx2's ``Client``).

        The same rules as :meth:`Client.auth`: ``Authorization`` from :meth:`token` on
        every request, a DPoP-bound token with a fresh proof and the resource server's
        nonce challenge answered once (never with another origin's nonce), and on a 401
        a different token and one retry. ``module`` is ``httpx`` (default) or
        ``httpx2``.
        """
        self._running_portal()
        return sync_auth_class(module or httpx)(self)

    def dpop_proof(self, method: str, url: str, *, token: Token | None = None) -> str:
        """A new DPoP proof for a ``method`` request to ``url`` made with ``token``
        (:meth:`Client.dpop_proof`), made on the portal's event loop."""
        call = functools.partial(self._client.dpop_proof, method, url, token=token)
        return self._run("dpop_proof", _awaitable(call))

    def remember_dpop_nonce(self, url: str, nonce: str) -> None:
        """Remember the ``DPoP-Nonce`` the server of ``url`` answered with
        (:meth:`Client.remember_dpop_nonce`)."""
        call = functools.partial(self._client.remember_dpop_nonce, url, nonce)
        self._run("remember_dpop_nonce", _awaitable(call))

    # -- running on the portal ---------------------------------------------------------------

    def _check_thread(self, what: str) -> None:
        library = _running_loop()
        if library is None or _in_notebook_kernel():
            return
        raise ConfigurationError(
            f"{what} was called inside a running {library} event loop, which it would "
            "block (a deadlock when it is the client's own loop): in async code use "
            "anyoauth.Client and await its methods"
        )

    def _running_portal(self) -> BlockingPortal:
        portal = self._portal
        if portal is None:
            raise ConfigurationError("this SyncClient is closed: make a new one")
        if self._pid != os.getpid():
            # Its event-loop thread stayed in the parent process (fork).
            raise ConfigurationError(
                "this SyncClient was made in another process (before a fork): "
                "make a new one in this process"
            )
        return portal

    def _run(self, name: str, func: Callable[[], Awaitable[R]]) -> R:
        """``func()`` run on the portal's event loop, waited for; an interruption of
        the wait (``KeyboardInterrupt``, a signal handler's error) cancels it there."""
        portal = self._running_portal()
        self._check_thread(f"SyncClient.{name}()")

        async def call() -> R:
            # The portal's frames (never scrubbed) see only this closure, not a URL
            # with its code or a token given as an argument.
            return await func()

        future: Future[R] = portal.start_task_soon(call)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise


def _awaitable(func: Callable[[], R]) -> Callable[[], Awaitable[R]]:
    """``func`` (synchronous), to be called on the portal's event loop."""

    async def call() -> R:
        return func()

    return call
