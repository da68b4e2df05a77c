"""The recipe pages in docs/recipes show the code the tests run, never a copy that drifts:
every Python block in a page is an excerpt of a recipe file (each of its statements, a
function, a class or an assignment, is in the file, compared as syntax trees so that
the block may be dedented and formatted for the page), and every recipe file has a page
that links to it."""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from pathlib import Path

import pytest

from .servers import RECIPES

PAGES = sorted(RECIPES.glob("*.md"))
SOURCES = {path.name: path.read_text() for path in RECIPES.glob("*.py")}


def _blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.+?)```", page.read_text(), re.S)


def _parse(source: str) -> ast.Module:
    """``source``'s syntax tree, docstrings cleaned (a dedented method's docstring is
    indented less than in its class)."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        value = node.value if isinstance(node, ast.Expr) else None
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            value.value = inspect.cleandoc(value.value)
    return tree


def _statements() -> set[str]:
    """Every statement of every recipe file, at any depth, as ``ast.dump`` text."""
    return {
        ast.dump(node)
        for source in SOURCES.values()
        for node in ast.walk(_parse(source))
        if isinstance(node, ast.stmt)
    }


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_python_blocks_are_excerpts_of_the_recipes(page: Path) -> None:
    known = _statements()
    for block in _blocks(page):
        for node in _parse(textwrap.dedent(block)).body:
            assert ast.dump(node) in known, (
                f"{page.name}: this is in no docs/recipes/*.py:\n{ast.unparse(node)}"
            )


def test_every_recipe_file_has_a_page() -> None:
    linked = {
        target for page in PAGES for target in re.findall(r"\]\(([\w.]+\.py)\)", page.read_text())
    }
    assert set(SOURCES) == linked
    assert sum(len(_blocks(page)) for page in PAGES) >= 10
