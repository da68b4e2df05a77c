"""(6) Import time: ``import anyoauth`` against ``import httpx`` and the peers.

Each statement runs in a fresh interpreter (``python -c``), many times, interleaved
with the others and with an empty interpreter start (``python -c pass``); the import
time is the median wall time minus the median empty start. A separate interpreter
lists which optional dependencies ``import anyoauth`` loaded (none should be).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from typing import Any

from ._harness import compare, rotation

__all__ = ["run"]

TITLE = "Import time"
STATEMENTS = {
    "python -c pass": "pass",
    "import httpx": "import httpx",
    "import httpx2": "import httpx2",
    "import anyoauth": "import anyoauth",
    "authlib's httpx client": "from authlib.integrations.httpx_client import AsyncOAuth2Client",
    "import httpx_auth": "import httpx_auth",
}
OPTIONAL = [
    "redis",
    "hiredis",
    "httpx2",
    "trio",
    "playwright",
    "platformdirs",
    "joserfc",
    "cryptography",
    "authlib",
    "anyoauth.testing",
]


def _wall(statement: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], check=True)  # noqa: S603
    return time.perf_counter() - started


def _loaded_by_anyoauth() -> list[str]:
    probe = (
        "import sys, json, anyoauth; "
        f"print(json.dumps([m for m in {OPTIONAL!r} if m in sys.modules]))"
    )
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    )
    loaded: list[str] = json.loads(done.stdout)
    return loaded


def _breakdown() -> list[dict[str, Any]]:
    """What ``import anyoauth`` spends its time on (``-X importtime``): the modules it
    imports directly (3 ms or more, largest first), each followed by its own largest."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import anyoauth"],
        check=True,
        capture_output=True,
        text=True,
    )
    tree: list[dict[str, Any]] = []
    parents: list[dict[str, Any]] = []  # depth-1 imports under the next top-level one
    children: list[dict[str, Any]] = []  # depth-2 imports under the next depth-1 one
    for line in done.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2].rstrip()
        depth = (len(name) - len(name.lstrip())) // 2
        entry = {"module": name.strip(), "depth": depth, "cumulative_ms": int(parts[1]) / 1e3}
        if depth == 2:
            children.append(entry)
        elif depth == 1:
            entry["children"], children = children, []
            parents.append(entry)
        elif depth == 0:
            if entry["module"] == "anyoauth":
                tree = parents
            parents, children = [], []
    rows: list[dict[str, Any]] = []
    for parent in sorted(tree, key=lambda e: -e["cumulative_ms"]):
        if parent["cumulative_ms"] < 3:
            continue
        kids = sorted(parent.pop("children"), key=lambda e: -e["cumulative_ms"])
        rows += [parent, *(k for k in kids if k["cumulative_ms"] >= 3)]
    return rows


def run(*, quick: bool) -> dict[str, Any]:
    """Median import times (ms) and the optional modules ``import anyoauth`` loads."""
    rounds = 8 if quick else 20
    names = list(STATEMENTS)
    for name in names:  # warm the file cache and the bytecode caches
        _wall(STATEMENTS[name])
    walls: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(rounds):
        for name in rotation(names, round_):
            walls[name].append(_wall(STATEMENTS[name]))
    empty = statistics.median(walls.pop("python -c pass"))
    imports = {name: [(w - empty) * 1e3 for w in values] for name, values in walls.items()}
    rows = compare(imports, "import httpx")
    return {
        "title": TITLE,
        "unit": "ms",
        "rounds": rounds,
        "interpreter_start_ms": empty * 1e3,
        "method": (
            "Wall time of `python -c STATEMENT` in a fresh process minus the median of "
            f"`python -c pass`; {rounds} runs each, interleaved; medians, min-max; ratio: "
            "median of the per-round ratios to `import httpx`."
        ),
        "rows": rows,
        "optional_checked": OPTIONAL,
        "optional_loaded": _loaded_by_anyoauth(),
        "breakdown": _breakdown(),
    }
