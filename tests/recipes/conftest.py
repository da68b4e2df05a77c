"""Fixtures of the recipe tests; docs/recipes is importable from them (the desktop
recipe is tested in-process)."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import anyio.from_thread
import pytest

from anyoauth.testing import ProviderEmulator

from .servers import RECIPES

if str(RECIPES) not in sys.path:
    sys.path.insert(0, str(RECIPES))


@pytest.fixture(scope="module")
def provider() -> Iterator[tuple[ProviderEmulator, str]]:
    """The emulator on a loopback port, served from its own thread and event loop, so
    that app processes can discover it at start-up and threads that play a GUI can
    reach it while the test's main thread waits."""
    emulator = ProviderEmulator()
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(emulator.serve()) as base_url,
    ):
        yield emulator, base_url
