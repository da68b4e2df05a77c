"""One worker process of a fleet sharing a token store (driven by tests/fleet/test_fleet.py).

Usage: ``python worker.py BACKEND STORE BASE_URL TASKS``, where STORE is ``file:PATH``
or ``redis:URL``. The worker prints ``ready``, then for each ``go OFFSET`` line on
stdin moves its clock to ``time.time() + OFFSET``, runs TASKS concurrent
``client.token()`` calls and prints one JSON line: the distinct token fingerprints
it got, the errors, and the slowest call in seconds. ``quit`` ends it.
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

REALM = "fleet"
CLIENT_ID = "fleet-client"
CLIENT_SECRET = "fleet-secret-SENTINEL"


def make_store(spec: str) -> anyoauth.Store:
    kind, _, where = spec.partition(":")
    if kind == "file":
        return anyoauth.FileStore(where)
    if kind == "redis":
        return anyoauth.RedisStore(where)
    raise SystemExit(f"unknown store {spec!r}")


def strategy(base_url: str) -> anyoauth.Strategy:
    token_url = f"{base_url}/auth/realms/{REALM}/protocol/openid-connect/token"
    return Keycloak(f"{base_url}/auth", REALM, CLIENT_ID, CLIENT_SECRET, token_url=token_url)


async def run_round(client: anyoauth.Client, tasks: int) -> dict[str, object]:
    seen: set[str] = set()
    errors: list[str] = []
    slowest = 0.0

    async def call() -> None:
        nonlocal slowest
        started = time.perf_counter()
        try:
            seen.add(token_fingerprint(await client.token()))
        except anyoauth.OAuthError as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        slowest = max(slowest, time.perf_counter() - started)

    async with anyio.create_task_group() as tg:
        for _ in range(tasks):
            tg.start_soon(call)
    return {"tokens": sorted(seen), "errors": errors, "slowest": slowest}


async def main(store_spec: str, base_url: str, tasks: int) -> None:
    offset = 0.0
    store = make_store(store_spec)
    client = anyoauth.Client(strategy(base_url), store, clock=lambda: time.time() + offset)
    print("ready", flush=True)
    while True:
        line = (await anyio.to_thread.run_sync(sys.stdin.readline)).split()
        if not line or line[0] == "quit":
            break
        offset = float(line[1])
        print(json.dumps(await run_round(client, tasks)), flush=True)
    await client.aclose()
    close = getattr(store, "aclose", None)
    if close is not None:
        await close()


if __name__ == "__main__":
    backend, store_spec, base, n = sys.argv[1:5]
    anyio.run(main, store_spec, base, int(n), backend=backend)
