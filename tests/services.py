"""Whether a missing real component (Redis, Chromium, django-oauth-toolkit, the example
plugin) skips a test or fails it.

Outside CI a test that needs a component that is not installed is skipped; with ``CI``
or ``ANYOAUTH_REQUIRE_SERVICES`` set (``.ci/run`` sets both) it fails, so CI can never
pass by skipping.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

__all__ = ["missing_service", "services_required"]


def services_required() -> bool:
    """Whether a missing component must fail the run rather than skip."""
    return any(
        os.environ.get(name, "").strip().lower() not in {"", "0", "false", "no"}
        for name in ("CI", "ANYOAUTH_REQUIRE_SERVICES")
    )


def missing_service(message: str) -> NoReturn:
    """Skip the test for a missing component, or fail it where components are required."""
    if services_required():
        pytest.fail(f"{message}; CI / ANYOAUTH_REQUIRE_SERVICES requires it")
    pytest.skip(message)
