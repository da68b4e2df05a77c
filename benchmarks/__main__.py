"""``python -m benchmarks``: run the measurements and write ``benchmarks/results/``."""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import anyio

from . import report
from ._machine import machine_info
from ._redis import INSTALL_HINT, RedisServer, find_redis_server

BENCHMARKS = (
    "imports",
    "redirects",
    "memory",
    "overhead",
    "login",
    "tokens",
    "storm",
    "fleet",
)
NEEDS_SERVER = {"overhead", "storm", "fleet"}
NEEDS_REDIS = {"login", "fleet"}
PEERS = {
    "authlib": "authlib",
    "httpx_auth": "httpx-auth",
    "httpx2": "httpx2",
    "matplotlib": "matplotlib",
    "redis": "redis",
    "hiredis": "hiredis",
    "pyinstrument": "pyinstrument",
}
RESULTS = Path(__file__).resolve().parent / "results"


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure anyoauth against raw httpx, authlib and httpx-auth.",
    )
    parser.add_argument(
        "--only", nargs="+", choices=BENCHMARKS, metavar="NAME", help="run only these"
    )
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    parser.add_argument(
        "--token-delay",
        type=float,
        default=0.1,
        help="seconds the loopback token endpoint takes to answer (default 0.1)",
    )
    parser.add_argument(
        "--results",
        type=Path,
        help="output directory (default: benchmarks/results, or benchmarks/results/scratch "
        "for --quick and --only runs, so they never replace a full run's results)",
    )
    parser.add_argument(
        "--profile",
        choices=("request", "login", "login-redis", "redirect"),
        help="profile one hot path with pyinstrument instead of benchmarking",
    )
    return parser.parse_args()


def main() -> int:
    """Run the selected measurements; write the results; 2 if something is missing."""
    args = _arguments()
    if args.results is None:
        args.results = RESULTS / "scratch" if args.quick or args.only else RESULTS
    missing = [pip for module, pip in PEERS.items() if importlib.util.find_spec(module) is None]
    if missing:
        print(
            "missing: " + ", ".join(missing) + "; run `nox -s bench`, or pip install them",
            file=sys.stderr,
        )
        return 2
    if args.profile:
        from .profile import profile

        path = profile(args.profile, args.results)
        _log(f"wrote {path}")
        return 0
    selected = [b for b in BENCHMARKS if args.only is None or b in args.only]
    redis_executable = find_redis_server()
    if NEEDS_REDIS & set(selected) and redis_executable is None:
        print(f"error: {INSTALL_HINT}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    load_start = _load()
    results: dict[str, Any] = {
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": machine_info(redis_executable),
        "benchmarks": {},
    }
    timelines = None
    durations: dict[str, float] = {}
    with ExitStack() as stack:
        server_url = redis_url = ""
        if NEEDS_SERVER & set(selected):
            from ._server import ServerProcess

            server_url = stack.enter_context(ServerProcess(args.token_delay))
            _log(f"loopback server at {server_url} (token endpoint delay {args.token_delay} s)")
        if NEEDS_REDIS & set(selected):
            redis_url = stack.enter_context(RedisServer(redis_executable))
            _log(f"redis-server at {redis_url}")
        quick = args.quick
        runners: dict[str, Callable[[], dict[str, Any]]] = {}

        def imports() -> dict[str, Any]:
            from . import imports as m

            return m.run(quick=quick)

        def redirects() -> dict[str, Any]:
            from . import redirects as m

            return m.run(quick=quick)

        def memory() -> dict[str, Any]:
            from . import memory as m

            return m.run(quick=quick)

        def overhead() -> dict[str, Any]:
            from . import overhead as m

            result: dict[str, Any] = anyio.run(lambda: m.run(server_url, quick=quick))
            return result

        def login() -> dict[str, Any]:
            from . import login as m

            result: dict[str, Any] = anyio.run(lambda: m.run(redis_url, quick=quick))
            return result

        def tokens() -> dict[str, Any]:
            from . import tokens as m

            result: dict[str, Any] = anyio.run(lambda: m.run(quick=quick))
            return result

        def storm() -> dict[str, Any]:
            from . import storm as m

            result: dict[str, Any] = anyio.run(
                lambda: m.run(server_url, args.token_delay, quick=quick)
            )
            return result

        def fleet() -> dict[str, Any]:
            from . import fleet as m

            return m.run(server_url, redis_url, args.token_delay, quick=quick)

        runners = {
            "imports": imports,
            "redirects": redirects,
            "memory": memory,
            "overhead": overhead,
            "login": login,
            "tokens": tokens,
            "storm": storm,
            "fleet": fleet,
        }
        for name in selected:
            _log(f"{name}...")
            began = time.perf_counter()
            result = runners[name]()
            durations[name] = round(time.perf_counter() - began, 1)
            if name == "storm":
                timelines = result.pop("timelines")
            results["benchmarks"][name] = result
            _log(f"{name} done in {durations[name]:.0f} s")
    results["duration_s"] = time.perf_counter() - started
    results["durations_s"] = durations
    results["load_average"] = {"start": load_start, "end": _load()}
    results["targets"] = report.evaluate_targets(results)
    report.write(results, timelines, args.results)
    _log(f"wrote {args.results}/results.json, results.md and the plots")
    for target in results["targets"]:
        mark = "met   " if target["met"] else "MISSED"
        print(f"{mark} {target['target']}: {target['value']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
