"""Timing helpers shared by the measurements: interleaved rounds, summaries, ratios."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

__all__ = [
    "Batch",
    "SyncBatch",
    "compare",
    "interleave",
    "interleave_sync",
    "rotation",
    "summarize",
]

Batch = Callable[[int], Awaitable[float]]
"""Runs ``n`` operations and returns the seconds they took."""

SyncBatch = Callable[[int], float]
"""Runs ``n`` operations and returns the seconds they took (no event loop)."""


def summarize(samples: Sequence[float]) -> dict[str, Any]:
    """Median, min, max and count of a list of samples."""
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "n": len(samples),
    }


def compare(samples: Mapping[str, Sequence[float]], baseline: str) -> dict[str, dict[str, Any]]:
    """Summaries of every contender plus how it compares with ``baseline``.

    Round ``i`` of a contender ran next to round ``i`` of the baseline, under the same
    machine load, so they are compared pairwise: ``ratio`` is the median of the per-round
    ratios (``ratio_min``/``ratio_max`` their extremes) and ``extra`` the median of the
    per-round differences. ``ratio_of_medians`` is given too.
    """
    base = samples[baseline]
    base_median = statistics.median(base)
    out: dict[str, dict[str, Any]] = {}
    for name, values in samples.items():
        summary = summarize(values)
        paired = [a / b for a, b in zip(values, base, strict=True)]
        summary["ratio"] = statistics.median(paired)
        summary["ratio_min"] = min(paired)
        summary["ratio_max"] = max(paired)
        summary["ratio_of_medians"] = summary["median"] / base_median
        summary["extra"] = statistics.median(a - b for a, b in zip(values, base, strict=True))
        out[name] = summary
    return out


def rotation(names: Sequence[str], round_: int) -> list[str]:
    """The order of round ``round_``: rotated each round, reversed every other cycle,
    so every contender runs in every position and after every other contender."""
    k = round_ % len(names)
    order = [*names[k:], *names[:k]]
    if (round_ // len(names)) % 2:
        order.reverse()
    return order


async def interleave(
    contenders: Mapping[str, Batch], *, rounds: int, n: int, warmup: int
) -> dict[str, list[float]]:
    """Microseconds per operation of each contender, one batch of ``n`` per round.

    Every contender first runs ``warmup`` operations; then each round runs one batch of
    every contender in :func:`rotation` order. The garbage collector is run before each
    batch (and stays on during it), so no batch pays for another's garbage.
    """
    names = list(contenders)
    for name in names:
        await contenders[name](warmup)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(rounds):
        for name in rotation(names, round_):
            gc.collect()
            elapsed = await contenders[name](n)
            samples[name].append(elapsed / n * 1e6)
    return samples


def interleave_sync(
    contenders: Mapping[str, SyncBatch], *, rounds: int, n: int, warmup: int
) -> dict[str, list[float]]:
    """:func:`interleave` for code without an event loop."""
    names = list(contenders)
    for name in names:
        contenders[name](warmup)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(rounds):
        for name in rotation(names, round_):
            gc.collect()
            elapsed = contenders[name](n)
            samples[name].append(elapsed / n * 1e6)
    return samples


def now() -> float:
    """The benchmark clock (``time.perf_counter``)."""
    return time.perf_counter()
