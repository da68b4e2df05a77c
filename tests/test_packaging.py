"""What the package ships: the licence file its metadata names, a README that reads well
on the package index (no link there points into the repository), and extras that exist."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
README = (ROOT / "README.md").read_text()
RELATIVE_LINK = re.compile(r"\]\((?!https?://|#|mailto:)([^)\s]+)\)")


def _index_readme() -> str:
    """README.md as the build's readme hook rewrites it for the package index."""
    hook = PYPROJECT["tool"]["hatch"]["metadata"]["hooks"]["fancy-pypi-readme"]
    assert [fragment["path"] for fragment in hook["fragments"]] == ["README.md"]
    text = README
    for substitution in hook["substitutions"]:
        text = re.sub(substitution["pattern"], substitution["replacement"], text)
    return text


def test_the_licence_the_metadata_names_is_shipped() -> None:
    project = PYPROJECT["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "WITHOUT WARRANTY OF ANY KIND" in text


def test_the_readme_links_into_the_repository_resolve_here() -> None:
    targets = RELATIVE_LINK.findall(README)
    assert targets  # the README does link to its documentation
    for target in targets:
        assert (ROOT / target.split("#")[0]).is_file(), target


def test_the_package_index_gets_no_link_that_cannot_resolve_there() -> None:
    published = _index_readme()
    assert RELATIVE_LINK.findall(published) == []
    # Each link became its text and the file it named.
    for text, target in re.findall(
        r"\[([^\]]+)\]\(((?:docs|examples|benchmarks)/[^)\s]+)\)", README
    ):
        assert f"{text} (`{target}` in the source distribution)" in published


def test_the_all_extra_installs_every_other_extra() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    others = {name for name in extras if name != "all"}
    (everything,) = extras["all"]
    named = re.fullmatch(r"anyoauth\[([a-z0-9,]+)\]", everything)
    assert named is not None
    assert set(named[1].split(",")) == others
