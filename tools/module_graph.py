"""The module-dependency pictures of docs/architecture.md, drawn from the code.

:func:`module_graph` reads the imports of a package's modules with grimp (the graph
library import-linter checks the layering with) and draws one Mermaid flowchart: one box
per module or sub-package of the container, grouped in the layers its import-linter
contract (``[tool.importlinter]`` in pyproject.toml) names, top layer first, and an arrow
for every import between two boxes. tools/docs_hooks.py redraws them on every docs build;
tests/test_docs.py keeps the copies committed in docs/architecture.md equal to them.
"""

from __future__ import annotations

import functools
import sys
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent

GRAPHS = {"package": "anyoauth", "core": "anyoauth._core"}
"""The pictures: marker name -> the container whose children are drawn."""


@functools.cache
def _graph() -> grimp.ImportGraph:
    source = str(ROOT / "src")
    if source not in sys.path:
        sys.path.insert(0, source)
    return grimp.build_graph("anyoauth", include_external_packages=False, cache_dir=None)


def _layers(container: str) -> list[list[str]]:
    """The layers (top first) of the contract whose container is ``container``, each a
    list of child names."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    for contract in config["tool"]["importlinter"]["contracts"]:
        if contract.get("type") == "layers" and contract.get("containers") == [container]:
            return [[name.strip() for name in layer.split("|")] for layer in contract["layers"]]
    raise LookupError(f"no layers contract has the container {container}")


def _child(module: str, container: str) -> str | None:
    """The child of ``container`` that ``module`` is or is in; ``None`` outside it."""
    if not module.startswith(container + "."):
        return None
    return module[len(container) + 1 :].split(".", 1)[0]


def _node(name: str) -> str:
    return "m_" + name.strip("_").replace(".", "_") if name else "m_root"


def module_graph(container: str) -> str:
    """A Mermaid flowchart of ``container``'s children, their layers and their imports."""
    graph = _graph()
    edges: set[tuple[str, str]] = set()
    for module in graph.modules:
        source = _child(module, container)
        if source is None:
            continue
        for imported in graph.find_modules_directly_imported_by(module):
            target = _child(imported, container)
            if target is not None and target != source:
                edges.add((source, target))
    lines = ["flowchart TB"]
    for number, layer in enumerate(_layers(container), start=1):
        lines.append(f'    subgraph layer{number}[" "]')
        lines.append("        direction LR")
        lines += [f'        {_node(name)}["{name}"]' for name in layer]
        lines.append("    end")
    lines += [f"    {_node(a)} --> {_node(b)}" for a, b in sorted(edges)]
    return "\n".join(lines) + "\n"


def redraw(page: str) -> str:
    """``page`` (docs/architecture.md's text) with every picture drawn afresh."""
    for name, container in GRAPHS.items():
        begin, end = f"<!-- module-graph:{name}:begin -->", f"<!-- module-graph:{name}:end -->"
        start, stop = page.index(begin) + len(begin), page.index(end)
        page = f"{page[:start]}\n```mermaid\n{module_graph(container)}```\n{page[stop:]}"
    return page


if __name__ == "__main__":
    # Redraws the pictures committed in docs/architecture.md.
    path = ROOT / "docs" / "architecture.md"
    path.write_text(redraw(path.read_text(encoding="utf-8")), encoding="utf-8")
