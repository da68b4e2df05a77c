"""(3) Fleet refresh: 8 processes x 1,000 tasks sharing a RedisStore on a real redis-server.

Every worker process holds a ``Client`` on the same ``RedisStore``; each round moves
every worker's clock past the token's expiry and runs 1,000 concurrent ``token()``
calls in each. The loopback server's emulator counts token-endpoint calls per round;
each call's wait is timed in its worker. For contrast, the same fleet with a
``MemoryStore`` per process: what any per-process token cache does (authlib's client
and httpx-auth's cache live in one process's memory).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from typing import Any

from ._common import TOKEN_PATH, server_calls

__all__ = ["run"]

TITLE = "Fleet refresh"
PROCESSES = 8
TASKS = 1000


class _Worker:
    def __init__(self, store: str, token_url: str) -> None:
        self.process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "benchmarks._fleet_worker", store, token_url, str(TASKS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def line(self) -> str:
        assert self.process.stdout is not None
        text = self.process.stdout.readline()
        if not text:
            raise RuntimeError("a fleet worker exited early")
        return text.strip()

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.send("quit")
                self.process.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _fleet(store: str, server_url: str, rounds: int) -> list[dict[str, Any]]:
    workers = [_Worker(store, server_url + TOKEN_PATH) for _ in range(PROCESSES)]
    try:
        for worker in workers:
            if worker.line() != "ready":
                raise RuntimeError("a fleet worker did not start")
        results = []
        # Round 0 fetches the first token (and opens connections): a warm-up.
        for round_ in range(rounds + 1):
            offset = round_ * 400.0  # the emulator's tokens live 300 s
            before = server_calls(server_url)
            for worker in workers:
                worker.send(f"go {offset}")
            reports = [json.loads(worker.line()) for worker in workers]
            calls = server_calls(server_url) - before
            errors = [e for r in reports for e in r["errors"]]
            if errors:
                raise RuntimeError(f"fleet round {round_}: {len(errors)} errors: {errors[:3]}")
            waits = [w for r in reports for w in r["waits"]]
            if round_:
                results.append(
                    {
                        "calls": calls,
                        "distinct_tokens": len({t for r in reports for t in r["tokens"]}),
                        "wait_p50_ms": _percentile(waits, 0.5) * 1e3,
                        "wait_p99_ms": _percentile(waits, 0.99) * 1e3,
                        "wait_max_ms": max(waits) * 1e3,
                    }
                )
        return results
    finally:
        for worker in workers:
            worker.close()


def _summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for key in results[0]:
        values = [r[key] for r in results]
        row[key] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
    row["calls_per_round"] = [r["calls"] for r in results]
    return row


def run(server_url: str, redis_url: str, token_delay: float, *, quick: bool) -> dict[str, Any]:
    """Rounds of a RedisStore fleet and of a MemoryStore-per-process fleet."""
    rounds = 3 if quick else 6
    redis = _fleet(f"redis:{redis_url}", server_url, rounds)
    memory = _fleet("memory", server_url, 2 if quick else 3)
    return {
        "title": TITLE,
        "processes": PROCESSES,
        "tasks": TASKS,
        "token_delay_s": token_delay,
        "method": (
            f"{PROCESSES} worker processes x {TASKS:,} concurrent token() calls per expiry; "
            f"token endpoint on the loopback server ({token_delay * 1e3:.0f} ms); waits "
            "timed in each worker, percentiles over all calls of a round; medians over "
            "rounds (after a warm-up round that fetches the first token)."
        ),
        "rows": {
            "anyoauth RedisStore (shared)": _summary(redis),
            "per-process cache (MemoryStore)": _summary(memory),
        },
    }
