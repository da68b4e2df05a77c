"""docs/plugins.md shows the example plugin's real code, so the guide cannot drift from it.

(Its ``async def test_`` example runs in tests/test_docs.py with every other one.)
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from .helpers import EXAMPLE_DIR

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
SOURCE = EXAMPLE_DIR / "src" / "anyoauth_plugin_example" / "__init__.py"
MARK = "# src/anyoauth_plugin_example/__init__.py"


def test_the_guide_quotes_the_example_package_verbatim() -> None:
    source = SOURCE.read_text()
    blocks = re.findall(r"```python\n(.+?)```", GUIDE.read_text(), re.S)
    quoted = [b.split("\n", 1)[1] for b in blocks if b.startswith(MARK)]
    assert len(quoted) == 3
    for block in quoted:
        assert block in source, block[:200]
    for needed in ("class AcmeCode", "def parse_token_response", "def Acme("):
        assert any(needed in block for block in quoted)


def test_the_guide_declares_the_example_entry_points() -> None:
    blocks = re.findall(r"```toml\n(.+?)```", GUIDE.read_text(), re.S)
    assert len(blocks) == 1
    shown = tomllib.loads(blocks[0])["project"]
    real = tomllib.loads((EXAMPLE_DIR / "pyproject.toml").read_text())["project"]
    assert shown["name"] == real["name"]
    assert shown["entry-points"] == real["entry-points"]
