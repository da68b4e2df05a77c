"""Turns the results into ``results.json``, ``results.md``, the plots and the target checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["evaluate_targets", "markdown", "plot", "write"]

DASH = "\u2013"  # an en dash, for ranges
OVERHEAD_TARGET = 1.03
STALL_TARGET_MS = 2.0
"""Drawn on the storm plot; the stall targets are the idle floor plus STALL_MARGIN_MS."""
STALL_MARGIN_MS = 1.0
"""A stall target: at most this much over the idle floor measured in the same run."""
LOGIN_TARGET = 1.3
COLD_TARGET = 1.3
CROWDED_BEGIN_TARGET_MS = 2.0
PENDING_TARGET_BYTES = 1024


def _n(value: float, digits: int = 1) -> str:
    if abs(value) >= 100 and digits <= 1:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _cell(row: dict[str, Any], digits: int = 1, key: str | None = None) -> str:
    data = row if key is None else row[key]
    low, high = _n(data["min"], digits), _n(data["max"], digits)
    return f"{_n(data['median'], digits)} ({low}{DASH}{high})"


def _ratio(row: dict[str, Any]) -> str:
    return f"{row['ratio']:.2f} ({row['ratio_min']:.2f}{DASH}{row['ratio_max']:.2f})"


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each with the measured value and whether it is met."""
    benches = results["benchmarks"]
    targets: list[dict[str, Any]] = []
    if "overhead" in benches:
        for transport, label in (("mock", "MockTransport"), ("loopback", "loopback server")):
            rows = benches["overhead"]["groups"][transport]["rows"]
            for family in ("httpx", "httpx2"):
                row = rows[f"anyoauth {family}"]
                targets.append(
                    {
                        "id": f"overhead-{transport}-{family}",
                        "target": f"per request, anyoauth / raw {family} <= {OVERHEAD_TARGET} "
                        f"({label})",
                        "value": f"{row['ratio']:.3f} ({row['extra']:+.1f} µs per request)",
                        "met": row["ratio"] <= OVERHEAD_TARGET,
                    }
                )
    if "storm" in benches:
        storm = benches["storm"]
        for name, row in storm["rows"].items():
            if not name.startswith("anyoauth"):
                continue
            calls = row["calls"]
            targets.append(
                {
                    "id": f"storm-calls-{name.split()[-1]}",
                    "target": f"refresh storm ({storm['tasks']:,} tasks, {name}): exactly 1 "
                    "token-endpoint call",
                    "value": f"{calls['min']}{DASH}{calls['max']} in every run",
                    "met": calls["min"] == calls["max"] == 1,
                }
            )
            floor = row["stall_idle_own_ms"]["median"]
            for phase, key in (
                ("while the refresh runs", "stall_refresh"),
                ("while the token is handed out", "stall_handout"),
            ):
                own = row[f"{key}_own_ms"]["median"]
                targets.append(
                    {
                        "id": f"{key.replace('_', '-')}-{name.split()[-1]}",
                        "target": f"longest event-loop stall {phase} ({name}) <= idle floor "
                        f"+ {STALL_MARGIN_MS:g} ms (both without CPU waits and collector passes)",
                        "value": f"{own:.2f} ms, idle floor {floor:.2f} ms (raw "
                        f"{_cell(row, 2, f'{key}_ms')} ms; idle floor raw "
                        f"{row['stall_idle_ms']['median']:.2f} ms)",
                        "met": own <= floor + STALL_MARGIN_MS,
                    }
                )
    if "fleet" in benches:
        row = benches["fleet"]["rows"]["anyoauth RedisStore (shared)"]
        targets.append(
            {
                "id": "fleet-calls",
                "target": f"fleet ({benches['fleet']['processes']} processes x "
                f"{benches['fleet']['tasks']:,} tasks, RedisStore): exactly 1 token-endpoint "
                "call per expiry",
                "value": "calls per expiry: " + ", ".join(map(str, row["calls_per_round"])),
                "met": set(row["calls_per_round"]) == {1},
            }
        )
    if "login" in benches:
        rows = benches["login"]["rows"]
        for name in ("anyoauth MemoryStore", "anyoauth RedisStore"):
            if name in rows:
                targets.append(
                    {
                        "id": f"login-{name.split()[-1].lower()}",
                        "target": f"login (code + PKCE), {name} within {LOGIN_TARGET}x of "
                        "the bare httpx POST",
                        "value": f"{rows[name]['ratio']:.2f}x",
                        "met": rows[name]["ratio"] <= LOGIN_TARGET,
                    }
                )
    if "tokens" in benches:
        row = benches["tokens"]["groups"]["cold client credentials"]["rows"]["anyoauth"]
        targets.append(
            {
                "id": "cold-client-credentials",
                "target": f"cold client-credentials fetch within {COLD_TARGET}x of the bare "
                "httpx POST",
                "value": f"{row['ratio']:.2f}x",
                "met": row["ratio"] <= COLD_TARGET,
            }
        )
    if "memory" in benches and "crowded" in benches["memory"]:
        crowded = benches["memory"]["crowded"]
        own = crowded["longest_put_own_ms"]
        targets.append(
            {
                "id": "crowded-begin",
                "target": f"MemoryStore with {benches['memory']['expired_flows']:,} pending: "
                f"longest put_pending (begin()'s store part) <= {CROWDED_BEGIN_TARGET_MS:g} ms "
                "without CPU waits",
                "value": f"{own:.2f} ms (raw {crowded['longest_put_ms']:.2f} ms; longest "
                f"begin() {crowded['longest_begin_own_ms']:.2f} ms)",
                "met": own <= CROWDED_BEGIN_TARGET_MS,
            }
        )
    if "memory" in benches:
        worst = max(r["median"] for r in benches["memory"]["rows"].values())
        targets.append(
            {
                "id": "pending-memory",
                "target": f"memory per pending flow (MemoryStore) < {PENDING_TARGET_BYTES} bytes",
                "value": f"at most {worst:.0f} bytes",
                "met": worst < PENDING_TARGET_BYTES,
            }
        )
    if "imports" in benches:
        loaded = benches["imports"]["optional_loaded"]
        targets.append(
            {
                "id": "lazy-extras",
                "target": "`import anyoauth` loads no optional extra or lazily imported "
                "dependency (" + ", ".join(benches["imports"]["optional_checked"]) + ")",
                "value": "loaded: " + (", ".join(loaded) if loaded else "none"),
                "met": not loaded,
            }
        )
    return targets


def _machine(results: dict[str, Any]) -> list[str]:
    m = results["machine"]
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
    load = results.get("load_average", {})
    return [
        f"- CPU: {m['cpu']}, {m['cores']} cores; {m['memory_gib']} GiB RAM; {m['os']}",
        f"- Python: {m['python']} ({m['python_build']})",
        f"- Packages: {packages}",
        f"- redis-server: {m['redis_server']}",
        f"- Load average (1 min) at start / end: {load.get('start', '?')} / {load.get('end', '?')}",
        f"- Run: {results['started']}, {results['duration_s']:.0f} s"
        + (" (quick mode)" if results.get("quick") else ""),
    ]


def markdown(results: dict[str, Any]) -> str:
    """The results as markdown tables (the docs page copies them)."""
    benches = results["benchmarks"]
    out = ["# anyoauth benchmark results", "", *_machine(results), "", "## Targets", ""]
    out += ["| target | measured | met |", "|---|---|---|"]
    for t in results["targets"]:
        out.append(f"| {t['target']} | {t['value']} | {'yes' if t['met'] else '**no**'} |")
    if "overhead" in benches:
        b = benches["overhead"]
        g = b["groups"]
        out += ["", f"## 1. {b['title']}", "", b["method"], ""]
        out += [
            f"µs per request: median (min{DASH}max); ratio to the raw client of the same "
            f"package (min{DASH}max of the per-round ratios). *Auth hook alone*: the "
            "contender's per-request auth work on a built request, against httpx's no-op "
            "`Auth()`.",
            "",
            "| contender | package | MockTransport | ratio | loopback server | ratio "
            "| auth hook alone |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, row in g["mock"]["rows"].items():
            loop = g["loopback"]["rows"][name]
            hook = g["hook"]["rows"].get(name)
            hook_text = f"{_cell(hook, 2)}" if hook else DASH
            out.append(
                f"| {name} | {row['family']} | {_cell(row)} | {_ratio(row)} | {_cell(loop)} | "
                f"{_ratio(loop)} | {hook_text} |"
            )
    if "storm" in benches:
        b = benches["storm"]
        out += ["", f"## 2. {b['title']}", "", b["method"], ""]
        out += [
            f"Storm runs, medians (min{DASH}max). *Answered*: time from the start of the "
            "storm until a task had its response. *Longest stall*: the longest the ticker "
            "waited during the whole storm.",
            "",
            "| contender | token calls | all answered (s) | p50 answered (ms) "
            "| p99 answered (ms) | longest stall (ms) |",
            "|---|---|---|---|---|---|",
        ]
        for name, row in b["rows"].items():
            calls = row["calls"]
            calls_text = str(calls["min"])
            if calls["min"] != calls["max"]:
                calls_text += f"{DASH}{calls['max']}"
            out.append(
                f"| {name} | {calls_text} | {_cell(row, 2, 'total_s')} | "
                f"{_cell(row, 0, 'answered_p50_ms')} | {_cell(row, 0, 'answered_p99_ms')} | "
                f"{_cell(row, 0, 'stall_max_ms')} |"
            )
        out += [
            "",
            f"Stall probes, medians (min{DASH}max), ms: the longest stall while the token "
            "request was in flight, once every task had started and was waiting. *Raw*: as "
            "measured; *without CPU waits*: minus the time the process waited for a CPU "
            "another process held (from `/proc/thread-self/schedstat`; the machine is "
            "shared). *Idle floor*: the same ticker for 100 ms before the storm, with "
            "nothing else to do. *After the token*: the longest stall from the token "
            "response to the last answer (the waiting tasks resuming).",
            "",
            "| contender | in flight, raw | in flight, without CPU waits | idle floor, raw "
            "| idle floor, without CPU waits | token request | after the token |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, row in b["rows"].items():
            out.append(
                f"| {name} | {_cell(row, 2, 'stall_refresh_ms')} | "
                f"{_cell(row, 2, 'stall_refresh_own_ms')} | {_cell(row, 2, 'stall_idle_ms')} | "
                f"{_cell(row, 2, 'stall_idle_own_ms')} | {_cell(row, 1, 'token_request_ms')} | "
                f"{_cell(row, 0, 'stall_handout_ms')} |"
            )
        out += [
            "",
            "The hand-out (from the token response to the last answer), ms, medians "
            f"(min{DASH}max): the longest stall raw; without CPU waits and without the "
            "garbage collector's passes (a full pass walks every object of the 10,000 "
            "tasks, whatever the contender does; how long they ran in that window is "
            "shown).",
            "",
            "| contender | hand-out stall, raw | without CPU waits and collector | collector "
            "in the window | idle floor, without CPU waits |",
            "|---|---|---|---|---|",
        ]
        for name, row in b["rows"].items():
            out.append(
                f"| {name} | {_cell(row, 1, 'stall_handout_ms')} | "
                f"{_cell(row, 2, 'stall_handout_own_ms')} | {_cell(row, 1, 'gc_handout_ms')} | "
                f"{_cell(row, 2, 'stall_idle_own_ms')} |"
            )
    if "fleet" in benches:
        b = benches["fleet"]
        out += ["", f"## 3. {b['title']}", "", b["method"], ""]
        out += [
            "| store | token calls per expiry (each round) | distinct tokens | p50 wait (ms) | "
            "p99 wait (ms) | max wait (ms) |",
            "|---|---|---|---|---|---|",
        ]
        for name, row in b["rows"].items():
            out.append(
                f"| {name} | {', '.join(map(str, row['calls_per_round']))} | "
                f"{row['distinct_tokens']['max']} | {_cell(row, 0, 'wait_p50_ms')} | "
                f"{_cell(row, 0, 'wait_p99_ms')} | {_cell(row, 0, 'wait_max_ms')} |"
            )
    if "login" in benches:
        b = benches["login"]
        out += ["", f"## 4. {b['title']}", "", b["method"], ""]
        out += [
            "| contender | µs per login | logins/s | ratio to bare httpx POST | "
            "ratio to bare httpx2 POST |",
            "|---|---|---|---|---|",
        ]
        for name, row in b["rows"].items():
            out.append(
                f"| {name} | {_cell(row)} | {row['logins_per_s']:,.0f} | {_ratio(row)} | "
                f"{row['ratio_httpx2_floor']:.2f} |"
            )
    if "memory" in benches:
        b = benches["memory"]
        e = b["expiry"]
        out += ["", f"## 5. {b['title']}", "", b["method"], ""]
        out += ["| strategy | bytes per pending flow |", "|---|---|"]
        for name, row in b["rows"].items():
            out.append(f"| {name} | {row['median']:.0f} |")
        out += [
            "",
            f"Expiring {b['expired_flows']:,} pending flows whose deadlines all passed: "
            f"the next {e['drain_puts']['median']:,.0f} `put_pending` calls drop them, "
            f"{_cell(e, 2, 'expire_s')} s in all ({e['per_flow_ns']['median'] / 1e3:.2f} µs "
            f"per flow); the longest single call took {_cell(e, 3, 'longest_put_ms')} ms. "
            f"Filling the store with them: {_cell(e, 1, 'fill_s')} s.",
        ]
        crowded = b.get("crowded")
        if crowded:
            out += [
                "",
                f"Crowded: with {b['expired_flows']:,} flows pending while as many more "
                "logins begin and complete, the longest `put_pending` (the store's part of "
                f"`begin()`) took {crowded['longest_put_ms']:.2f} ms, "
                f"{crowded['longest_put_own_ms']:.2f} ms without the time the process "
                "waited for a CPU; the longest of 2,000 `begin()` calls on that store took "
                f"{crowded['longest_begin_own_ms']:.2f} ms. The pending flows are frozen "
                "out of the garbage collector for this; one full collection over them "
                f"took {crowded['full_gc_ms']:.0f} ms (Python's, whatever the store).",
            ]
    if "tokens" in benches:
        b = benches["tokens"]
        out += ["", f"## 8. {b['title']}", "", b["method"], ""]
        out += [
            "| request | contender | µs per token | tokens/s | ratio to bare httpx POST |",
            "|---|---|---|---|---|",
        ]
        for group, g in b["groups"].items():
            for name, row in g["rows"].items():
                out.append(
                    f"| {group} | {name} | {_cell(row)} | {row['per_s']:,.0f} | {_ratio(row)} |"
                )
    if "imports" in benches:
        b = benches["imports"]
        out += ["", f"## 6. {b['title']}", "", b["method"], ""]
        out += ["| statement | ms | ratio to `import httpx` |", "|---|---|---|"]
        for name, row in b["rows"].items():
            out.append(f"| `{name}` | {_cell(row)} | {_ratio(row)} |")
        loaded = b["optional_loaded"]
        out += [
            "",
            f"Interpreter start (subtracted): {b['interpreter_start_ms']:.1f} ms. Optional "
            f"modules loaded by `import anyoauth`: {', '.join(loaded) if loaded else 'none'} "
            f"(checked: {', '.join(b['optional_checked'])}).",
            "",
            "Where `import anyoauth` spends its time (`-X importtime`, cumulative ms, one run; "
            "3 ms or more):",
            "",
            "| module | ms |",
            "|---|---|",
        ]
        for entry in b["breakdown"]:
            indent = "&nbsp;&nbsp;" * (entry["depth"] - 1)
            out.append(f"| {indent}`{entry['module']}` | {entry['cumulative_ms']:.1f} |")
    if "redirects" in benches:
        b = benches["redirects"]
        out += ["", f"## 7. {b['title']}", "", b["method"], ""]
        cases = list(b["groups"])
        out += [
            "| contender | " + " | ".join(f"{c} (µs) | ratio" for c in cases) + " |",
            "|---|" + "---|---|" * len(cases),
        ]
        for name in b["groups"][cases[0]]["rows"]:
            cells = []
            for case in cases:
                row = b["groups"][case]["rows"][name]
                cells += [_cell(row, 2), _ratio(row)]
            out.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def plot(results: dict[str, Any], timelines: dict[str, Any] | None, directory: Path) -> list[Path]:
    """``overhead.png`` and ``storm.png`` (headless, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []
    benches = results["benchmarks"]
    colors = {"httpx": "#4C72B0", "httpx2": "#55A868"}
    if "overhead" in benches:
        groups = benches["overhead"]["groups"]
        panels = [
            ("mock", "MockTransport (in-process)"),
            ("loopback", "Loopback server"),
            ("hook", "Auth hook alone"),
        ]
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
        for ax, (key, title) in zip(axes, panels, strict=True):
            rows = groups[key]["rows"]
            names = list(rows)
            medians = [rows[n]["median"] for n in names]
            low = [rows[n]["median"] - rows[n]["min"] for n in names]
            high = [rows[n]["max"] - rows[n]["median"] for n in names]
            bars = ax.barh(
                names,
                medians,
                xerr=[low, high],
                color=[colors[rows[n]["family"]] for n in names],
                capsize=3,
            )
            right = max(rows[n]["max"] for n in names)
            for bar, n in zip(bars, names, strict=True):
                ax.text(
                    right * 1.03,
                    bar.get_y() + bar.get_height() / 2,
                    f"{rows[n]['ratio']:.2f}x",
                    va="center",
                    fontsize=8,
                )
            ax.invert_yaxis()
            ax.set_title(title)
            ax.set_xlabel(f"µs per request (median, min{DASH}max)")
            ax.set_xlim(0, right * 1.2)
        from matplotlib.patches import Patch

        fig.legend(
            handles=[Patch(color=c, label=f"on {family}") for family, c in colors.items()],
            loc="upper left",
            ncol=2,
            frameon=False,
        )
        fig.suptitle("Per-request overhead with a valid token (ratio to the raw client)")
        fig.tight_layout()
        path = directory / "overhead.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    if "storm" in benches and timelines:
        palette = {
            "anyoauth httpx": "#C44E52",
            "anyoauth httpx2": "#DD8452",
            "authlib": "#55A868",
            "httpx-auth": "#8172B2",
        }
        fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7.5), sharex=True)
        for name, t in timelines.items():
            color = palette.get(name, "gray")
            finished = t["finished"]
            top.plot(finished, range(1, len(finished) + 1), color=color, label=name)
            ticks = t["ticks"]
            small = [(woke, (woke - due) * 1e3) for due, woke in ticks if woke - due <= 0.002]
            bottom.scatter(
                [x for x, _ in small], [max(y, 0.01) for _, y in small], color=color, s=2
            )
            stalls = [(due, woke) for due, woke in ticks if woke - due > 0.002]
            bottom.hlines(
                [(woke - due) * 1e3 for due, woke in stalls],
                [due for due, _ in stalls],
                [woke for _, woke in stalls],
                color=color,
                linewidth=2.5,
                label=name,
            )
            sent, answered = t["token_request"]
            for ax in (top, bottom):
                ax.axvspan(sent, answered, color=color, alpha=0.12)
        top.set_ylabel("tasks answered")
        top.legend(loc="upper left")
        top.set_title(
            f"Refresh storm: {benches['storm']['tasks']:,} tasks on an expired token "
            "(shaded: each contender's token request in flight)"
        )
        bottom.set_yscale("log")
        bottom.axhline(STALL_TARGET_MS, color="black", linestyle="--", linewidth=0.8)
        bottom.set_ylabel("event-loop stall (ms, log)")
        bottom.set_xlabel(
            "seconds since the storm started (a bar spans a stall; dots: on-time ticks)"
        )
        bottom.legend(loc="upper left")
        fig.tight_layout()
        path = directory / "storm.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def write(results: dict[str, Any], timelines: dict[str, Any] | None, directory: Path) -> None:
    """Write ``results.json``, ``results.md`` and the plots into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (directory / "results.md").write_text(markdown(results))
    plot(results, timelines, directory)
