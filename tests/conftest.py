"""Shared fixtures: every async test runs on asyncio and trio, with httpx or httpx2.

The HTTP package under test is chosen by ``ANYOAUTH_TEST_HTTP`` (``httpx`` by
default; the nox ``tests`` session runs the suite once with each).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import pytest

from agents.chromium import chromium_path  # noqa: F401
from redis_server import fresh_redis, redis_server, redis_url  # noqa: F401

HTTP_PACKAGE = os.environ.get("ANYOAUTH_TEST_HTTP", "httpx")


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
