"""The core does no IO: it imports no async, HTTP or socket library, and reads no clock."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import anyoauth

PACKAGE_DIR = Path(anyoauth.__file__).resolve().parent
CORE_DIR = PACKAGE_DIR / "_core"
CORE_FILES = sorted(CORE_DIR.rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = path.relative_to(CORE_DIR).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(("anyoauth._core", *parts))


CORE_MODULES = {_module_name(p) for p in CORE_FILES}

# Must never be loaded by importing the core (checked at run time, transitively).
FORBIDDEN_LOADED = {
    "anyio",
    "httpx",
    "httpx2",
    "httpcore",
    "trio",
    "sniffio",
    "asyncio",
    "socket",
    "ssl",
    "selectors",
}

# Must never be imported by a core module (checked in the source).
FORBIDDEN_IMPORTS = FORBIDDEN_LOADED | {
    "time",
    "requests",
    "aiohttp",
    "urllib.request",
    "http.client",
    "anyoauth._client",
    "anyoauth._store",
    "anyoauth.testing",
}

# Runs in a fresh interpreter. It imports the core without running
# anyoauth/__init__.py (which pulls in the async client): a bare package
# object stands in for ``anyoauth`` so only the core's own imports happen.
PROBE = """
import importlib, importlib.util, json, pkgutil, sys, types
spec = importlib.util.find_spec("anyoauth")
package = types.ModuleType("anyoauth")
package.__path__ = list(spec.submodule_search_locations)
sys.modules["anyoauth"] = package
core = importlib.import_module("anyoauth._core")
names = ["anyoauth._core"]
names += [m.name for m in pkgutil.walk_packages(core.__path__, "anyoauth._core.")]
names.append("anyoauth.providers")
for name in names:
    importlib.import_module(name)
print(json.dumps({"imported": names, "loaded": sorted(sys.modules)}))
"""


def test_importing_the_core_loads_no_io_library() -> None:
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-I", "-c", PROBE],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    imported = set(report["imported"])
    expected = CORE_MODULES
    assert expected <= imported
    assert len(expected) >= 5
    loaded = {name.split(".", 1)[0] for name in report["loaded"]}
    assert not (loaded & FORBIDDEN_LOADED), sorted(loaded & FORBIDDEN_LOADED)
    assert "anyoauth._client" not in report["loaded"]


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif node.level > 0:
                package = ".".join(("anyoauth", "_core")[: 2 - (node.level - 1)])
                module = f"{package}.{node.module}" if node.module else package
                found.add(module)
                found.update(f"{module}.{alias.name}" for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "__import__"
        ):
            found.add("<dynamic import>")
    return found


def _is_forbidden(module: str) -> bool:
    return any(module == bad or module.startswith(bad + ".") for bad in FORBIDDEN_IMPORTS)


def test_there_are_core_modules_to_check() -> None:
    assert {
        f"anyoauth._core.{name}"
        for name in ("errors", "machine", "redirect", "strategies", "strategies.base", "token")
    } <= CORE_MODULES


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: p.name)
def test_core_module_imports_no_io_library(path: Path) -> None:
    imported = _imported_modules(path)
    bad = sorted(m for m in imported if _is_forbidden(m) or m == "<dynamic import>")
    assert not bad, f"{path.name} imports {bad}"


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: p.name)
def test_core_module_reads_no_clock(path: Path) -> None:
    """Time is injected: no ``datetime.now()``/``today()``/``utcnow()`` in the core."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    calls = [
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"now", "utcnow", "today", "monotonic", "perf_counter"}
    ]
    assert not calls, f"{path.name} reads the clock: {calls}"


def test_the_import_scanner_sees_forbidden_imports(tmp_path: Path) -> None:
    """The static check would catch each spelling of a forbidden import."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import httpx\nfrom anyio import Event\nimport urllib.request\nfrom .. import _client\n"
        "from time import time\n",
        encoding="utf-8",
    )
    imported = _imported_modules(sample)
    assert {"httpx", "anyio", "urllib.request", "anyoauth._client", "time"} <= {
        m for m in imported if _is_forbidden(m)
    }


def test_the_core_imports_no_authlib() -> None:
    code = "import sys, anyoauth; print(any(m.split('.')[0] == 'authlib' for m in sys.modules))"
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed statement
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "False"
