"""Profiles of anyoauth's hot paths with pyinstrument, for explaining the numbers.

``python -m benchmarks --profile NAME`` writes ``results/profile-NAME.txt``:

- ``request``: requests through ``client.auth()`` on a ``MockTransport``;
- ``login``: ``begin()`` + ``complete()`` with a ``MemoryStore``;
- ``login-redis``: the same with a ``RedisStore`` on a throwaway redis-server;
- ``redirect``: reading and validating a Geni success URL.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx

import anyoauth
from anyoauth.providers import Keycloak

from ._common import (
    API_PATH,
    CLIENT_ID,
    CLIENT_SECRET,
    MOCK_IDP,
    REALM,
    TOKEN_PATH,
    make_emulator,
    mock_handler,
)

__all__ = ["PROFILES", "profile"]

PROFILES = ("request", "login", "login-redis", "redirect")


async def _request() -> Callable[[], Awaitable[object]]:
    emulator = make_emulator()
    transport = httpx.MockTransport(mock_handler(emulator, httpx))
    strategy = Keycloak(
        f"{MOCK_IDP}/auth", REALM, CLIENT_ID, CLIENT_SECRET, token_url=MOCK_IDP + TOKEN_PATH
    )
    client = anyoauth.Client(strategy, http=httpx.AsyncClient(transport=transport))
    await client.token()
    api = httpx.AsyncClient(transport=transport, auth=client.auth())
    url = "https://api.bench" + API_PATH
    return lambda: api.get(url)


async def _login(store: anyoauth.Store | None = None) -> Callable[[], Awaitable[object]]:
    from .login import AUTHORIZE_URL, CODE, REDIRECT_URI, TOKEN_URL, _transport
    from .login import CLIENT_ID as APP_ID
    from .login import CLIENT_SECRET as APP_SECRET

    strategy = anyoauth.Strategy(
        client_id=APP_ID,
        client_secret=APP_SECRET,
        authorization_endpoint=AUTHORIZE_URL,
        token_endpoint=TOKEN_URL,
        redirect_uri=REDIRECT_URI,
    )
    client = anyoauth.Client(
        strategy,
        store or anyoauth.MemoryStore(),
        http=httpx.AsyncClient(transport=_transport(httpx)),
    )

    async def login() -> object:
        start = await client.begin()
        return await client.complete(f"{REDIRECT_URI}?code={CODE}&state={start.state}")

    return login


async def _redirect() -> Callable[[], Awaitable[object]]:
    from .redirects import _cases

    op = _cases()["Geni success URL"]["anyoauth"]

    async def read() -> object:
        return op()

    return read


async def _profile(name: str, seconds: float, redis_url: str | None = None) -> str:
    from pyinstrument import Profiler

    async def login_redis() -> Callable[[], Awaitable[object]]:
        assert redis_url is not None
        store = anyoauth.RedisStore(redis_url, prefix="bench-profile:")
        return await _login(store)

    makers: dict[str, Callable[[], Awaitable[Callable[[], Awaitable[object]]]]] = {
        "request": _request,
        "login": _login,
        "login-redis": login_redis,
        "redirect": _redirect,
    }
    op = await makers[name]()
    for _ in range(500):
        await op()
    profiler = Profiler(interval=0.0002, async_mode="disabled")
    count = 0
    profiler.start()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for _ in range(100):
            await op()
        count += 100
    profiler.stop()
    header = f"profile {name}: {count:,} operations in {seconds:.0f} s (with the profiler on)\n"
    text: str = profiler.output_text(unicode=True, color=False)
    return header + text.replace(str(Path.cwd()) + "/", "")


def profile(name: str, directory: Path, seconds: float = 5.0) -> Path:
    """Profile one hot path and write ``profile-NAME.txt`` into ``directory``."""
    if name == "login-redis":
        from ._redis import RedisServer

        with RedisServer() as redis_url:
            text: Any = anyio.run(_profile, name, seconds, redis_url)
    else:
        text = anyio.run(_profile, name, seconds)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"profile-{name}.txt"
    path.write_text(str(text))
    return path
