"""The command's modules reach the terminal only through ``anyoauth.cli._terminal``:
no other module prints, writes to a stream, or prompts. (What the one output path
escapes is proven in tests/hardening/test_terminal_output.py.)"""

from __future__ import annotations

import ast
from pathlib import Path

import anyoauth.cli

PACKAGE = Path(anyoauth.cli.__file__).parent
TERMINAL = PACKAGE / "_terminal.py"


def terminal_calls(path: Path) -> list[str]:
    """The calls in ``path`` that could put text on a terminal by themselves."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in {"print", "input"}:
            found.append(f"{path.name}:{node.lineno}: {func.id}()")
        elif isinstance(func, ast.Attribute) and func.attr in {"write", "writelines", "getpass"}:
            found.append(f"{path.name}:{node.lineno}: .{func.attr}()")
    return found


def test_only_the_terminal_module_writes_to_the_terminal() -> None:
    modules = sorted(PACKAGE.glob("*.py"))
    assert TERMINAL in modules
    assert [call for path in modules if path != TERMINAL for call in terminal_calls(path)] == []
    assert terminal_calls(TERMINAL)  # the scan sees the writes where they are
