"""docs/security.md cannot drift from the tests: every test it cites exists, and every
hardening test is cited."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "security.md"
CITED = re.compile(r"(tests/[\w/]+\.py)::(\w+)")
DEFINED = re.compile(r"^(?:async )?def (test_\w+)\(", re.M)


def cited() -> set[tuple[str, str]]:
    return set(CITED.findall(PAGE.read_text()))


def test_every_cited_test_exists() -> None:
    missing = [
        f"{path}::{name}"
        for path, name in sorted(cited())
        if not (ROOT / path).is_file() or name not in DEFINED.findall((ROOT / path).read_text())
    ]
    assert missing == []


def test_every_hardening_test_is_cited() -> None:
    names = cited()
    uncited = [
        f"{path.relative_to(ROOT).as_posix()}::{name}"
        for path in sorted((ROOT / "tests" / "hardening").glob("test_*.py"))
        if path.name != "test_security_doc.py"
        for name in DEFINED.findall(path.read_text())
        if (path.relative_to(ROOT).as_posix(), name) not in names
    ]
    assert uncited == []
