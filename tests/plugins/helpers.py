"""What the plugin tests share."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

EXAMPLE_DISTRIBUTION = "anyoauth-plugin-example"
"""The example plugin's distribution name (``examples/plugin-example``)."""
EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "examples" / "plugin-example"

FakeDistribution = Callable[..., Path]
"""``fake_distribution(name, entry_points, modules=None, version="1.0")``."""
