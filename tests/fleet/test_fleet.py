"""A fleet of worker processes sharing a FileStore or RedisStore refreshes once per expiry.

Eight real processes, hundreds of tasks each, against the provider emulator on a
real loopback port (Keycloak client credentials with rotating refresh tokens).
The emulator counts token-endpoint calls: exactly one per expiry.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

from anyoauth.testing import ProviderEmulator

from .worker import CLIENT_ID, CLIENT_SECRET, REALM

pytestmark = [pytest.mark.anyio, pytest.mark.stack]

WORKER = Path(__file__).with_name("worker.py")
PROCESSES = 8
TASKS = 300
ROUNDS = 3


@pytest.fixture(params=["file", "redis"])
def store_spec(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "file":
        return f"file:{tmp_path / 'store'}"
    url: str = request.getfixturevalue("fresh_redis").url
    return f"redis:{url}"


class Worker:
    def __init__(self, process: Process) -> None:
        self.process = process
        assert process.stdout is not None
        self.lines = BufferedByteReceiveStream(process.stdout)

    async def line(self) -> str:
        return (await self.lines.receive_until(b"\n", 1 << 20)).decode()

    async def send(self, text: str) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.send(text.encode() + b"\n")


async def test_fleet_refreshes_once_per_expiry(
    store_spec: str, anyio_backend: str, tmp_path: Path
) -> None:
    offset = 0.0
    emulator = ProviderEmulator(clock=lambda: time.time() + offset)
    emulator.add_keycloak_client(CLIENT_ID, CLIENT_SECRET, realm=REALM, refresh_tokens=True)
    async with emulator.serve() as base, anyio.create_task_group():
        workers: list[Worker] = []
        try:
            with anyio.fail_after(60):  # a hang guard, not a performance assertion
                for i in range(PROCESSES):
                    log = (tmp_path / f"worker-{i}.log").open("wb")
                    process = await anyio.open_process(
                        [sys.executable, str(WORKER), anyio_backend, store_spec, base, str(TASKS)],
                        stderr=log,
                    )
                    log.close()
                    workers.append(Worker(process))
                for worker in workers:
                    assert await worker.line() == "ready"
            for round_ in range(ROUNDS):
                offset = round_ * 400.0  # every round starts after the last token expired
                before = emulator.calls["keycloak.token"]
                with anyio.fail_after(60):
                    for worker in workers:
                        await worker.send(f"go {offset}")
                    reports: list[dict[str, Any]] = [
                        json.loads(await worker.line()) for worker in workers
                    ]
                assert [r["errors"] for r in reports] == [[]] * PROCESSES
                tokens = {t for r in reports for t in r["tokens"]}
                assert len(tokens) == 1, f"round {round_}: {len(tokens)} different tokens"
                assert emulator.calls["keycloak.token"] - before == 1, f"round {round_}"
            for worker in workers:
                await worker.send("quit")
            with anyio.fail_after(30):
                for worker in workers:
                    assert await worker.process.wait() == 0
        finally:
            for worker in workers:
                if worker.process.returncode is None:
                    worker.process.kill()
                await worker.process.aclose()
        logs = "".join((tmp_path / f"worker-{i}.log").read_text() for i in range(PROCESSES))
        assert CLIENT_SECRET not in logs
