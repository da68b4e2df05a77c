"""(2) Refresh storm: 10,000 concurrent tasks on an expired token.

Each task sends one ``GET /api/items`` through the contender's client. The API is
answered in-process (``MockTransport``); the token endpoint is the emulator on a real
loopback server in another process that answers after a fixed delay (a real identity
provider's latency), so a contender that blocks the event loop during the token request
shows it. A ticker task sleeps 1 ms at a time and records how late it wakes up: its
lateness is how long the event loop was kept from running anything else. On a shared
machine part of that lateness is the process waiting for a CPU another process holds;
the kernel counts that time (``/proc/thread-self/schedstat``), and the *own* stalls
leave it out.

Contenders: anyoauth on httpx and on httpx2, authlib's ``AsyncOAuth2Client`` (client
credentials, on httpx2) and httpx-auth's ``OAuth2ClientCredentials`` (on httpx). Two
kinds of run, interleaved and repeated:

- *storm*: all tasks are started at once on the expired token; token-endpoint calls,
  when the tasks had their answers, and the longest stalls;
- *stall probe*: the same, but the token request is held back (a gate in the
  transport) until every task has started and is waiting, so the stall measured while
  the token request is in flight belongs to the refresh, not to starting 10,000 tasks.
  httpx-auth fetches tokens with a blocking client inside the auth flow, so its token
  request cannot be held back, and needs not be: it runs before any other task.
"""

from __future__ import annotations

import gc
import os
import statistics
import time
from contextlib import AsyncExitStack
from typing import Any

import anyio
import attrs
import httpx

import anyoauth
from anyoauth.providers import Keycloak

from ._common import (
    API_HOST,
    API_PATH,
    CLIENT_ID,
    CLIENT_SECRET,
    ITEMS,
    REALM,
    TOKEN_PATH,
    Gate,
    router,
    server_calls,
    sync_timed,
)
from ._harness import rotation

__all__ = ["run"]

TITLE = "Refresh storm"
TICK = 0.001
IDLE = 0.1
API_URL = f"https://{API_HOST}{API_PATH}"
_JSON = [("content-type", "application/json")]


@attrs.define
class _Contender:
    name: str
    get: Any
    expire: Any
    log: list[tuple[float, float]]
    gate: Gate | None


async def _make(stack: AsyncExitStack, name: str, base: str) -> _Contender:
    from authlib.integrations.httpx_client import AsyncOAuth2Client
    from httpx_auth import OAuth2, OAuth2ClientCredentials

    from .overhead import _authlib_module

    token_url = base + TOKEN_PATH
    log: list[tuple[float, float]] = []
    gate = Gate()

    def api(module: Any) -> Any:
        def answer(request: Any) -> Any:
            # The token comes from the loopback server: check that one is attached.
            if not request.headers.get("authorization", "").startswith("Bearer "):
                return module.Response(401)
            return module.Response(200, headers=_JSON, content=ITEMS)

        return answer

    if name.startswith("anyoauth"):
        import httpx2

        module = httpx2 if name.endswith("httpx2") else httpx
        transport = router(
            module, api=api(module), inner=module.AsyncHTTPTransport(), log=log, gate=gate
        )
        token_http = await stack.enter_async_context(module.AsyncClient(transport=transport))
        strategy = Keycloak(f"{base}/auth", REALM, CLIENT_ID, CLIENT_SECRET, token_url=token_url)
        client = anyoauth.Client(strategy, http=token_http)
        api_client = await stack.enter_async_context(
            module.AsyncClient(transport=transport, auth=client.auth())
        )
        await client.token()

        async def expire_anyoauth() -> None:
            held = await client.token()
            await client.set_token(attrs.evolve(held, expires_at=time.time() - 1))

        return _Contender(name, api_client.get, expire_anyoauth, log, gate)
    if name == "authlib":
        module = _authlib_module()
        transport = router(
            module, api=api(module), inner=module.AsyncHTTPTransport(), log=log, gate=gate
        )
        authlib_client = AsyncOAuth2Client(
            CLIENT_ID,
            CLIENT_SECRET,
            token_endpoint=token_url,
            grant_type="client_credentials",
            transport=transport,
        )
        await stack.enter_async_context(authlib_client)
        await authlib_client.fetch_token()

        async def expire_authlib() -> None:
            authlib_client.token["expires_at"] = int(time.time()) - 3600

        return _Contender(name, authlib_client.get, expire_authlib, log, gate)
    if name == "httpx-auth":
        token_client = httpx.Client(transport=sync_timed(httpx, httpx.HTTPTransport(), log))
        stack.callback(token_client.close)
        auth = OAuth2ClientCredentials(
            token_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, client=token_client
        )
        transport = router(httpx, api=api(httpx), inner=httpx.AsyncHTTPTransport(), log=log)
        api_client = await stack.enter_async_context(
            httpx.AsyncClient(transport=transport, auth=auth)
        )
        await api_client.get(API_URL)

        async def expire_httpx_auth() -> None:
            cache = OAuth2.token_cache
            bearer, *_ = cache.tokens[auth.state]
            cache.tokens[auth.state] = (bearer, time.time() - 1)

        return _Contender(name, api_client.get, expire_httpx_auth, log, None)
    raise ValueError(name)


class _CpuWait:
    """Seconds this thread has waited for a CPU while runnable (another process had it),
    from ``/proc/thread-self/schedstat``; always 0 where that file does not exist."""

    def __init__(self) -> None:
        try:
            self._fd: int | None = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
        except OSError:
            self._fd = None

    def __call__(self) -> float:
        if self._fd is None:
            return 0.0
        return int(os.pread(self._fd, 128, 0).split()[1]) / 1e9

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


Tick = tuple[float, float, float, float]
"""When a tick was due, when it ran, when the previous tick ran, and how long the thread
waited for a CPU in between."""


async def _ticker(samples: list[Tick], stop: anyio.Event) -> None:
    cpu_wait = _CpuWait()
    try:
        waited, last = cpu_wait(), time.perf_counter()
        due = last + TICK
        while not stop.is_set():
            await anyio.sleep(max(0.0, due - time.perf_counter()))
            woke, now_waited = time.perf_counter(), cpu_wait()
            samples.append((due, woke, last, now_waited - waited))
            waited, last = now_waited, woke
            due = woke + TICK
    finally:
        cpu_wait.close()


class _Collections:
    """When the garbage collector ran: (start, end) of each collection, while on."""

    def __init__(self) -> None:
        self.spans: list[tuple[float, float]] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.spans.append((self._started, time.perf_counter()))

    def within(self, start: float, end: float) -> float:
        """Seconds of collection inside [start, end]."""
        return sum(max(0.0, min(b, end) - max(a, start)) for a, b in self.spans)

    def __enter__(self) -> _Collections:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        gc.callbacks.remove(self)


def _stall(
    samples: list[Tick],
    start: float,
    end: float,
    *,
    own: bool = False,
    collections: _Collections | None = None,
) -> float:
    """The longest time the ticker was kept waiting inside [start, end] (clipped).

    With ``own``, minus the time the process waited for a CPU meanwhile (the machine
    is shared), and minus the garbage collector's passes (``collections``: a full pass
    walks every object of the 10,000 tasks, whatever the contender does), what is left
    being the event loop's own doing. The CPU wait is known per tick interval, so a
    stall clipped to part of an interval is charged its share.
    """
    longest = 0.0
    for due, woke, last, waited in samples:
        if woke > start and due < end:
            low, high = max(due, start), min(woke, end)
            span = high - low
            if own:
                span -= waited * span / max(woke - last, span)
                if collections is not None:
                    span -= collections.within(low, high)
            longest = max(longest, span)
    return longest


async def _storm(c: _Contender, base: str, tasks: int, *, probe: bool) -> dict[str, Any]:
    await c.expire()
    gate = anyio.Event() if probe and c.gate is not None else None
    if c.gate is not None:
        c.gate.event = gate
    samples: list[Tick] = []
    finished: list[float] = []
    failures = 0
    arrived = 0
    calls_before = server_calls(base)
    first_log = len(c.log)
    stop = anyio.Event()
    everyone = anyio.Event()

    async def one() -> None:
        nonlocal failures, arrived
        arrived += 1
        if arrived == tasks:
            everyone.set()
        response = await c.get(API_URL)
        finished.append(time.perf_counter())
        if response.status_code != 200:
            failures += 1

    with _Collections() as collections:
        async with anyio.create_task_group() as outer:
            outer.start_soon(_ticker, samples, stop)
            idle_from = time.perf_counter()
            await anyio.sleep(IDLE)
            began = time.perf_counter()
            released = began
            async with anyio.create_task_group() as tg:
                for _ in range(tasks):
                    tg.start_soon(one)
                if gate is not None:
                    await everyone.wait()
                    await anyio.sleep(0.02)  # every task parked; nothing left to run
                    released = time.perf_counter()
                    gate.set()
            stop.set()
    if c.gate is not None:
        c.gate.event = None
    if failures:
        raise RuntimeError(f"{c.name}: {failures} requests failed")
    calls = server_calls(base) - calls_before
    sent, answered = c.log[first_log]
    finished.sort()
    end = finished[-1]
    return {
        "calls": calls,
        "total_s": end - began,
        "answered_p50_ms": (finished[len(finished) // 2] - began) * 1e3,
        "answered_p99_ms": (finished[int(len(finished) * 0.99)] - began) * 1e3,
        "stall_idle_ms": _stall(samples, idle_from + TICK, began) * 1e3,
        "stall_idle_own_ms": _stall(
            samples, idle_from + TICK, began, own=True, collections=collections
        )
        * 1e3,
        "stall_max_ms": _stall(samples, began, end) * 1e3,
        "stall_refresh_ms": _stall(samples, max(sent, released), answered) * 1e3,
        "stall_refresh_own_ms": _stall(
            samples, max(sent, released), answered, own=True, collections=collections
        )
        * 1e3,
        "stall_handout_ms": _stall(samples, answered, end) * 1e3,
        "stall_handout_own_ms": _stall(samples, answered, end, own=True, collections=collections)
        * 1e3,
        "gc_handout_ms": collections.within(answered, end) * 1e3,
        "token_request_ms": (answered - sent) * 1e3,
        "timeline": {  # seconds since the storm began
            "token_request": (sent - began, answered - began),
            "ticks": [(due - began, woke - began) for due, woke, _, _ in samples],
            "finished": [t - began for t in finished],
        },
    }


def _median_row(runs: list[dict[str, Any]], keys: list[str]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for key in keys:
        values = [r[key] for r in runs]
        row[key] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
    return row


async def run(server_url: str, token_delay: float, *, quick: bool) -> dict[str, Any]:
    """Storm and stall-probe runs of every contender, interleaved, repeated."""
    tasks = 10_000
    storm_runs, probe_runs = (1, 2) if quick else (3, 5)
    names = ["anyoauth httpx", "anyoauth httpx2", "authlib", "httpx-auth"]
    storms: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    probes: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    async with AsyncExitStack() as stack:
        contenders = {n: await _make(stack, n, server_url) for n in names}
        for name in names:  # warm-up: one small storm each
            await _storm(contenders[name], server_url, 500, probe=False)
        for repeat in range(max(storm_runs, probe_runs)):
            for name in rotation(names, repeat):
                contender = contenders[name]
                if repeat < storm_runs:
                    storms[name].append(await _storm(contender, server_url, tasks, probe=False))
                if repeat < probe_runs:
                    probes[name].append(await _storm(contender, server_url, tasks, probe=True))
    rows: dict[str, Any] = {}
    timelines: dict[str, Any] = {}
    for name in names:
        row = _median_row(
            storms[name], ["total_s", "answered_p50_ms", "answered_p99_ms", "stall_max_ms"]
        )
        row |= _median_row(
            probes[name],
            [
                "stall_idle_ms",
                "stall_idle_own_ms",
                "stall_refresh_ms",
                "stall_refresh_own_ms",
                "stall_handout_ms",
                "stall_handout_own_ms",
                "gc_handout_ms",
                "token_request_ms",
            ],
        )
        calls = [r["calls"] for r in storms[name] + probes[name]]
        row["calls"] = {"median": statistics.median(calls), "min": min(calls), "max": max(calls)}
        rows[name] = row
        middle = sorted(storms[name], key=lambda r: r["total_s"])[len(storms[name]) // 2]
        timelines[name] = middle["timeline"]
    return {
        "title": TITLE,
        "tasks": tasks,
        "storm_runs": storm_runs,
        "probe_runs": probe_runs,
        "token_delay_s": token_delay,
        "tick_s": TICK,
        "method": (
            f"{tasks:,} tasks each send one API request through the contender's client on "
            f"an expired token; the token endpoint is on a loopback server (another process) "
            f"that answers after {token_delay * 1e3:.0f} ms. Stall = the longest lateness of "
            f"a {TICK * 1e3:.0f} ms ticker task. {storm_runs} storms and {probe_runs} stall "
            "probes per contender, contenders interleaved."
        ),
        "rows": rows,
        "timelines": timelines,
    }
