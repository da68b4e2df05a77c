"""What the numbers were measured on: CPU, cores, memory, OS, Python and package versions."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["PACKAGES", "machine_info"]

PACKAGES = (
    "anyoauth",
    "httpx",
    "httpcore",
    "httpx2",
    "httpcore2",
    "authlib",
    "httpx-auth",
    "anyio",
    "attrs",
    "h11",
    "redis",
    "hiredis",
    "matplotlib",
    "pyinstrument",
)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _redis_version(executable: str | None) -> str | None:
    if executable is None:
        return None
    done = subprocess.run(  # noqa: S603
        [executable, "--version"], capture_output=True, text=True, check=False
    )
    for word in done.stdout.split():
        if word.startswith("v="):
            return word[2:]
    return done.stdout.strip() or None


def machine_info(redis_executable: str | None) -> dict[str, Any]:
    """A JSON-ready description of this machine and of the software measured."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "python_build": " ".join(platform.python_build()),
        "packages": {name: _version(name) for name in PACKAGES},
        "redis_server": _redis_version(redis_executable),
    }
