"""The documentation covers every public name and cannot drift from the code."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import sys
from pathlib import Path

import pytest

import anyoauth
from anyoauth.sansio import state_diagram

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(ROOT / "tools"))
import module_graph  # noqa: E402 - tools/module_graph.py draws docs/architecture.md's pictures

PUBLIC_MODULES = [
    "anyoauth",
    "anyoauth.agents",
    "anyoauth.asgi",
    "anyoauth.plugins",
    "anyoauth.providers",
    "anyoauth.sansio",
    "anyoauth.stores",
    "anyoauth.testing",
]


def _public_names() -> list[tuple[str, str]]:
    names = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        names += [(module_name, name) for name in module.__all__]
    return names


def _docs_text() -> str:
    return "\n".join(p.read_text() for p in sorted(DOCS.glob("*.md")))


@pytest.mark.parametrize(("module_name", "name"), _public_names())
def test_every_public_name_is_documented(module_name: str, name: str) -> None:
    assert re.search(rf"`{re.escape(name)}[`(]", _docs_text()) or f"`{name}`" in _docs_text(), (
        f"{module_name}.{name} is not mentioned in docs/"
    )
    obj = getattr(importlib.import_module(module_name), name)
    if inspect.isclass(obj) or inspect.isfunction(obj):
        assert inspect.getdoc(obj), f"{module_name}.{name} has no docstring"


def test_state_diagram_matches_transition_table() -> None:
    page = (DOCS / "state-machine.md").read_text()
    assert f"```mermaid\n{state_diagram()}```" in page


def test_architecture_pictures_match_the_code() -> None:
    page = (DOCS / "architecture.md").read_text()
    for name, container in module_graph.GRAPHS.items():
        drawn = f"<!-- module-graph:{name}:begin -->\n```mermaid\n"
        drawn += module_graph.module_graph(container)
        assert f"{drawn}```\n<!-- module-graph:{name}:end -->" in page, (
            f"docs/architecture.md's {name} picture is stale: run python tools/module_graph.py"
        )


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```sh\n(.+?)\n```", readme)
    assert len(commands) == 2, "the README has exactly two commands"
    demo, tests = commands
    assert demo.endswith("nox -s demo")
    ci = (ROOT / ".ci" / "run").read_text()
    assert tests in ci.splitlines()


def _example_tests() -> list[tuple[str, str]]:
    """Every ``async def test_...`` example in the README and docs/ (its sections too), by file."""
    examples = []
    for path in [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]:
        for source in re.findall(r"```python\n(.+?)```", path.read_text(), re.S):
            if re.search(r"^async def test_\w+\(\)", source, re.M):
                examples.append((path.relative_to(ROOT).as_posix(), source))
    return examples


@pytest.mark.anyio
@pytest.mark.parametrize(("path", "source"), _example_tests(), ids=lambda v: v[:30])
async def test_documented_test_examples_run(path: str, source: str) -> None:
    namespace: dict[str, object] = {}
    exec(compile(source, path, "exec"), namespace)  # noqa: S102
    tests = [v for k, v in namespace.items() if k.startswith("test_")]
    assert tests
    for test in tests:
        assert inspect.iscoroutinefunction(test)
        await test()


def test_documented_examples_are_found() -> None:
    assert {path for path, _ in _example_tests()} >= {
        "README.md",
        "docs/testing.md",
        "docs/fapi/dpop.md",
        "docs/fapi/fapi2.md",
    }


def _python_blocks() -> list[tuple[str, str]]:
    """Every ``python`` code block in the README and docs/ (recipes included)."""
    blocks = []
    for path in [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]:
        for source in re.findall(r"```python\n(.+?)```", path.read_text(), re.S):
            blocks.append((path.relative_to(ROOT).as_posix(), source))
    return blocks


@pytest.mark.parametrize(("path", "source"), _python_blocks(), ids=lambda v: v[:30])
def test_every_python_block_compiles(path: str, source: str) -> None:
    """Snippets that are not whole tests (they need a real provider) at least compile,
    top-level ``await`` allowed, and every anyoauth name they use exists, so a renamed
    class or module shows up here."""
    compile(source, path, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("anyoauth"):
            module = importlib.import_module(node.module or "")
            for alias in node.names:
                assert hasattr(module, alias.name), f"{path}: {node.module}.{alias.name}"
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "anyoauth"
        ):
            assert hasattr(anyoauth, node.attr), f"{path}: anyoauth.{node.attr}"
