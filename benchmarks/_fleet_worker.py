"""One worker process of the fleet measurement (driven by :mod:`benchmarks.fleet`).

``python -m benchmarks._fleet_worker STORE TOKEN_URL TASKS``, where STORE is
``redis:URL`` or ``memory``. It prints ``ready``; then for each ``go OFFSET`` line on
stdin it moves its clock to ``time.time() + OFFSET`` (so the held token has expired),
runs TASKS concurrent ``client.token()`` calls and prints one JSON line: how long each
call waited (seconds), the fingerprints of the tokens it got, and the errors. ``quit`` ends it.
"""

from __future__ import annotations

import json
import sys
import time

import anyio
import anyio.to_thread

import anyoauth
from anyoauth.providers import Keycloak
from anyoauth.stores import token_fingerprint

from ._common import CLIENT_ID, CLIENT_SECRET, REALM


async def _round(client: anyoauth.Client, tasks: int) -> dict[str, object]:
    waits: list[float] = []
    tokens: set[str] = set()
    errors: list[str] = []

    async def call() -> None:
        started = time.perf_counter()
        try:
            tokens.add(token_fingerprint(await client.token()))
        except anyoauth.OAuthError as exc:
            errors.append(type(exc).__name__)
        waits.append(time.perf_counter() - started)

    async with anyio.create_task_group() as tg:
        for _ in range(tasks):
            tg.start_soon(call)
    return {"waits": waits, "tokens": sorted(tokens), "errors": errors}


async def _main(store_spec: str, token_url: str, tasks: int) -> None:
    offset = 0.0

    def clock() -> float:
        return time.time() + offset

    store: anyoauth.Store
    if store_spec.startswith("redis:"):
        store = anyoauth.RedisStore(store_spec.removeprefix("redis:"), clock=clock)
    else:
        store = anyoauth.MemoryStore(clock=clock)
    server = token_url.split("/auth/realms/", 1)[0] + "/auth"
    strategy = Keycloak(server, REALM, CLIENT_ID, CLIENT_SECRET, token_url=token_url)
    client = anyoauth.Client(strategy, store, clock=clock)
    print("ready", flush=True)
    while True:
        line = (await anyio.to_thread.run_sync(sys.stdin.readline)).split()
        if not line or line[0] == "quit":
            break
        offset = float(line[1])
        print(json.dumps(await _round(client, tasks)), flush=True)
    await client.aclose()
    if isinstance(store, anyoauth.RedisStore):
        await store.aclose()


if __name__ == "__main__":
    spec, url, count = sys.argv[1:4]
    anyio.run(_main, spec, url, int(count))
