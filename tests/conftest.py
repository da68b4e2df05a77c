"""Shared fixtures: every async test runs on asyncio and trio, with httpx or httpx2.

The HTTP package under test is chosen by ``ANYOAUTH_TEST_HTTP`` (``httpx`` by
default; the nox ``tests`` session runs the suite once with each). Its second run
also installs the lowest redis-py allowed and sets ``ANYOAUTH_TEST_STACK_ONLY``: then
only the tests whose code differs between the two runs are collected, those that use
the HTTP package's clients or a redis-server (through the fixtures below, or marked
``stack``); every other test ran, unchanged, in the first run.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import pytest
from hypothesis import settings

from agents.chromium import chromium_path  # noqa: F401
from redis_server import fresh_redis, redis_server, redis_url  # noqa: F401

HTTP_PACKAGE = os.environ.get("ANYOAUTH_TEST_HTTP", "httpx")

# Property tests check what is computed, not how fast: the suite runs one worker per
# core, and a loaded machine makes one example slow now and then (a deadline failure
# that says nothing about the code).
settings.register_profile("anyoauth", deadline=None)
settings.load_profile("anyoauth")

STACK_FIXTURES = frozenset(
    {"http_module", "http_client", "redis_server", "redis_url", "fresh_redis"}
)
"""Fixtures through which a test's code depends on the HTTP package or the redis-py version."""


def depends_on_the_stack(item: pytest.Item) -> bool:
    """Whether ``item`` runs different code with httpx2 or the lowest redis-py."""
    fixtures = set(getattr(item, "fixturenames", ()))
    return bool(STACK_FIXTURES & fixtures) or item.get_closest_marker("stack") is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With ``ANYOAUTH_TEST_STACK_ONLY`` set, keep only the tests that depend on the stack."""
    if os.environ.get("ANYOAUTH_TEST_STACK_ONLY", "").strip().lower() in {"", "0", "false", "no"}:
        return
    kept = [item for item in items if depends_on_the_stack(item)]
    dropped = [item for item in items if not depends_on_the_stack(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = kept


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run every ``anyio``-marked test on both backends."""
    return str(request.param)


@pytest.fixture(scope="session")
def http_module() -> ModuleType:
    """The HTTP package users' clients come from in this run: ``httpx`` or ``httpx2``."""
    return importlib.import_module(HTTP_PACKAGE)


@pytest.fixture
async def http_client(http_module: ModuleType) -> AsyncIterator[Any]:
    """A plain AsyncClient of :func:`http_module` for talking to real loopback servers."""
    async with http_module.AsyncClient(follow_redirects=False) as client:
        yield client
