"""Fixtures: temporary distributions with entry points, and the installed example plugin.

``fake_distribution`` writes a real ``*.dist-info`` (``METADATA`` and
``entry_points.txt``) and the plugin's module into a temporary directory put on
``sys.path``, so :mod:`importlib.metadata` finds it exactly as it finds an
installed package. ``example_plugin`` needs ``examples/plugin-example`` installed
(``nox -s tests`` installs it); without it the tests skip, or fail when ``CI`` or
``ANYOAUTH_REQUIRE_SERVICES`` is set.
"""

from __future__ import annotations

import importlib.metadata
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from anyoauth import plugins
from services import services_required

from .helpers import EXAMPLE_DIR, EXAMPLE_DISTRIBUTION, FakeDistribution


@pytest.fixture(autouse=True)
def fresh_registry() -> Iterator[None]:
    """Every test reads the entry points afresh, and leaves no cached registry behind."""
    plugins.refresh()
    yield
    plugins.refresh()


@pytest.fixture
def fake_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeDistribution]:
    """``fake_distribution(name, entry_points, modules={}, version="1.0")`` installs a
    distribution on a temporary ``sys.path`` entry and refreshes the registries.

    ``entry_points`` maps a group to ``{entry point name: "module:attr"}``;
    ``modules`` maps a module name to its source.
    """
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    before = set(sys.modules)

    def install(
        name: str,
        entry_points: Mapping[str, Mapping[str, str]],
        modules: Mapping[str, str] | None = None,
        version: str = "1.0",
    ) -> Path:
        dist_info = site / f"{name.replace('-', '_')}-{version}.dist-info"
        dist_info.mkdir()
        (dist_info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        )
        sections = [
            f"[{group}]\n" + "".join(f"{ep} = {value}\n" for ep, value in points.items())
            for group, points in entry_points.items()
        ]
        (dist_info / "entry_points.txt").write_text("\n".join(sections))
        for module, source in (modules or {}).items():
            (site / f"{module}.py").write_text(source)
        importlib.invalidate_caches()
        plugins.refresh()
        return dist_info

    yield install
    for module in set(sys.modules) - before:
        if module.startswith("fake_"):
            del sys.modules[module]


@pytest.fixture
def example_plugin() -> importlib.metadata.Distribution:
    """The installed example plugin distribution (``examples/plugin-example``)."""
    try:
        return importlib.metadata.distribution(EXAMPLE_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        message = (
            f"{EXAMPLE_DISTRIBUTION} is not installed: pip install -e {EXAMPLE_DIR} "
            "(nox -s tests installs it)"
        )
        if services_required():
            pytest.fail(f"{message}; CI / ANYOAUTH_REQUIRE_SERVICES requires it")
        pytest.skip(message)
