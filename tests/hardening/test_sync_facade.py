"""What misuse or interruption of ``SyncClient`` could do: calls after ``close()``, calls
from inside a running event loop (someone else's, or the client's own) that would block
or deadlock it, an interrupted wait (``KeyboardInterrupt``) that could leave a renewal
running or the shared portal wedged, and tokens or codes showing in a repr or in a
traceback rendered with its frames' locals."""

from __future__ import annotations

import functools
import os
import queue
import signal
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import anyio.from_thread
import pytest

import anyoauth
import anyoauth.providers
from anyoauth import ClientCredentials, SyncClient, Token
from anyoauth.testing import ProviderEmulator
from anyoauth.testing._oauth_server import OAUTH_TOKEN_PATH

from .faultserver import FaultServer, emulator, fault_server, hang, json_answer

SECRET = "sync-secret-SENTINEL-0123456789"
ACCESS = "sync-access-SENTINEL-0123456789"
REFRESH = "sync-refresh-SENTINEL-0123456789"


@pytest.fixture
def portal() -> Iterator[anyio.from_thread.BlockingPortal]:
    """The test's own event-loop thread, for its servers."""
    with anyio.from_thread.start_blocking_portal() as portal:
        yield portal


def served(portal: anyio.from_thread.BlockingPortal, *script: Any, **options: Any) -> Any:
    return portal.wrap_async_context_manager(fault_server(*script, **options))


def service(server: FaultServer, **options: Any) -> ClientCredentials:
    return ClientCredentials(
        client_id="svc",
        client_secret=SECRET,
        token_endpoint=server.url + OAUTH_TOKEN_PATH,
        **options,
    )


def wait_for(condition: Any, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def rendered(error: BaseException) -> str:
    """The error as an error tracker shows it: message, chain and every frame's locals."""
    lines = traceback.TracebackException.from_exception(error, capture_locals=True).format()
    return repr(error) + "".join(lines)


def test_every_call_after_close_is_refused(portal: Any) -> None:
    with served(portal, default=hang()) as server:
        client = SyncClient(service(server))
        auth = client.auth()
        client.close()
        calls: list[Callable[[], object]] = [
            client.token,
            client.fresh_token,
            client.refresh,
            client.begin,
            client.forget,
            client.revoke,
            client.userinfo,
            client.introspect,
            client.auth,
            lambda: client.complete("https://app.example/cb?code=c&state=s"),
            lambda: client.dpop_proof("GET", "https://api.example/"),
            lambda: client.set_token(Token(access_token=ACCESS, issued_at=0)),
            lambda: auth.sync_auth_flow(None).send(None),
        ]
        for call in calls:
            with pytest.raises(anyoauth.ConfigurationError, match="closed"):
                call()
        with pytest.raises(anyoauth.ConfigurationError, match="closed"), client:
            pass
        assert server.connections == 0


def test_the_last_client_closed_stops_the_portal_thread() -> None:
    before = set(threading.enumerate())
    clients = [SyncClient(anyoauth.providers.BankOfGeorgia("id", "secret")) for _ in range(3)]
    started = set(threading.enumerate()) - before
    assert len(started) == 1  # one shared event-loop thread for all three
    for client in clients:
        client.close()
    (thread,) = started
    thread.join(5)
    assert not thread.is_alive()


@pytest.mark.parametrize("library", ["asyncio", "trio"])
def test_a_call_from_a_running_event_loop_is_refused_not_blocked(portal: Any, library: str) -> None:
    with served(portal, default=hang()) as server, SyncClient(service(server)) as client:

        async def from_async_code() -> None:
            with pytest.raises(anyoauth.ConfigurationError, match=f"running {library} event"):
                client.token()
            for call in (client.refresh, client.begin, client.forget):
                with pytest.raises(anyoauth.ConfigurationError, match="running"):
                    call()
            with pytest.raises(anyoauth.ConfigurationError, match=r"anyoauth\.Client"):
                SyncClient(service(server))

        anyio.run(from_async_code, backend=library)
        # Even a token held, which would need no wait, is not handed out there.
        client.set_token(Token(access_token=ACCESS, issued_at=time.time()))
        anyio.run(from_async_code, backend=library)
        assert client.token().access_token == ACCESS
        assert server.connections == 0


def test_a_callback_calling_its_own_client_is_refused_not_deadlocked(portal: Any) -> None:
    device = {
        "device_code": "dc",
        "user_code": "WDJB-MJHT",
        "verification_uri": "https://as.example/device",
        "expires_in": 600,
    }
    with served(portal, json_answer(200, device), default=hang()) as server:
        strategy = anyoauth.DeviceCode(
            client_id="tv",
            device_authorization_endpoint=server.url + "/device",
            token_endpoint=server.url + "/token",
        )
        with SyncClient(strategy) as client:

            def show(_: anyoauth.DeviceAuthorization) -> None:
                client.token()  # on the client's own event loop

            started = time.monotonic()
            with pytest.raises(anyoauth.ConfigurationError, match="running asyncio event loop"):
                client.device_login(show)
            assert time.monotonic() - started < 5
            # The client still works afterwards.
            with pytest.raises(anyoauth.LoginRequired):
                client.token()


def test_an_interrupted_wait_cancels_the_renewal_and_leaves_the_portal_working(
    portal: Any,
) -> None:
    """A ``KeyboardInterrupt`` (Ctrl-C) while a thread waits on the portal cancels the
    request on the portal's loop: the connection is dropped, the next call starts a
    new renewal instead of joining a stuck one, and other clients are served."""
    provider = ProviderEmulator()
    provider.add_oauth_client("svc", client_secret=SECRET, grant_types=["client_credentials"])
    with served(portal, hang(), hang(), default=emulator(provider)) as server:
        client = SyncClient(service(server))
        previous = signal.signal(signal.SIGALRM, _interrupt)
        try:
            for attempt in (1, 2):
                # Ctrl-C once the token request has reached the (silent) server.
                interrupter = threading.Thread(
                    target=_interrupt_when, args=(lambda n=attempt: len(server.requests) == n,)
                )
                interrupter.start()
                with pytest.raises(KeyboardInterrupt):
                    client.token()
                interrupter.join()
        finally:
            signal.signal(signal.SIGALRM, previous)
        # Neither hanging request is joined: the third renewal gets the emulator's token.
        assert client.token().token_type == "Bearer"
        assert len(server.requests) == 3
        with SyncClient(service(server)) as other:
            assert other.token().access_token
        client.close()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _interrupt_when(condition: Callable[[], bool]) -> None:
    """Signal the main thread (its handler raises ``KeyboardInterrupt``) once
    ``condition()`` holds."""
    wait_for(condition, seconds=30)
    main = threading.main_thread().ident
    assert main is not None
    signal.pthread_kill(main, signal.SIGALRM)


def caught(call: Any) -> BaseException:
    """The error ``call()`` raises; this frame (the test's own) forgets ``call`` and
    the URL or token it was given, so only anyoauth's frames are judged."""
    try:
        call()
    except BaseException as exc:
        del call
        return exc
    raise AssertionError("no error")


def test_no_token_or_code_in_reprs_or_rendered_errors(portal: Any) -> None:
    refused = json_answer(400, {"error": "invalid_grant", "error_description": REFRESH})
    with served(portal, default=refused) as server:
        strategy = anyoauth.AuthorizationCode(
            client_id="web",
            client_secret=SECRET,
            authorization_endpoint=server.url + "/authorize",
            token_endpoint=server.url + OAUTH_TOKEN_PATH,
            introspection_endpoint=server.url + "/introspect",
            redirect_uri="https://app.example/cb",
        )
        with SyncClient(strategy) as client:
            client.set_token(
                Token(access_token=ACCESS, refresh_token=REFRESH, issued_at=0, expires_at=1)
            )
            texts = [repr(client), repr(client.auth()), str(client.fresh_token())]
            errors = [
                caught(client.refresh),
                caught(client.token),
                caught(
                    functools.partial(
                        client.complete, "https://app.example/cb?code=code-SENTINEL-0&state=st"
                    )
                ),
                caught(functools.partial(client.introspect, ACCESS)),
            ]
    assert [type(e) for e in errors] == [
        anyoauth.LoginRequired,
        anyoauth.LoginRequired,
        anyoauth.StateMismatch,
        anyoauth.TokenRequestError,
    ]
    texts += [rendered(error) for error in errors]
    for text in texts:
        for secret in (ACCESS, REFRESH, SECRET, "code-SENTINEL"):
            assert secret not in text


def test_a_client_used_after_a_fork_refuses_instead_of_hanging(portal: Any) -> None:
    """The portal's thread stays in the parent: a child that calls the parent's client
    is refused at once (exit status 0); a new client of its own works (status 0 too)."""
    provider = ProviderEmulator()
    provider.add_oauth_client("svc", client_secret=SECRET, grant_types=["client_credentials"])
    with (
        served(portal, default=emulator(provider)) as server,
        SyncClient(service(server)) as client,
    ):
        assert client.token().access_token
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads
            pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            status = 1
            try:
                try:
                    client.token()
                except anyoauth.ConfigurationError as exc:
                    if "another process" in str(exc):
                        with SyncClient(service(server)) as own:
                            status = 0 if own.token().access_token else 2
            finally:
                os._exit(status)
        deadline = time.monotonic() + 20
        while (done := os.waitpid(pid, os.WNOHANG)) == (0, 0):
            assert time.monotonic() < deadline, "the child hangs"
            time.sleep(0.02)
        assert os.waitstatus_to_exitcode(done[1]) == 0
        assert client.token().access_token  # the parent's client is untouched


class _HeldInSteps(Token):
    """A token whose renewal margin is asked in steps the test sees: every time the
    client works it out (while holding this token), the portal waits for the test."""

    asked: Any = None
    answered: Any = None

    def renewal_margin(self, leeway: float) -> float:
        type(self).asked.put(None)
        type(self).answered.get(timeout=5)
        return super().renewal_margin(leeway)


def test_a_token_read_while_another_is_held_is_never_one_due_for_renewal(portal: Any) -> None:
    """fresh_token() and token() read the held token without the portal: a thread
    reading while the portal holds another token must see the old (fresh) one or none,
    never the new one judged by the old one's expiry."""
    now = time.time()
    current = Token(access_token=ACCESS, issued_at=now, expires_at=now + 3600)
    stale = _HeldInSteps(access_token="stale-SENTINEL", issued_at=now - 7200, expires_at=now - 60)
    _HeldInSteps.asked, _HeldInSteps.answered = queue.Queue(), queue.Queue()
    with served(portal, default=hang()) as server, SyncClient(service(server)) as client:
        client.set_token(current)
        setting = threading.Thread(target=client.set_token, args=(stale,))
        setting.start()
        seen = []
        while setting.is_alive() or not _HeldInSteps.asked.empty():
            try:
                _HeldInSteps.asked.get(timeout=0.05)
            except queue.Empty:
                continue
            seen.append(client.fresh_token())
            _HeldInSteps.answered.put(None)
        setting.join()
        assert seen, "the client never judged the token"
        assert all(token is None or token is current for token in seen)
        assert client.fresh_token() is None
