"""Fixtures of the client tests: a clock, and the three kinds of server the clients talk
to through their HTTP package's ``MockTransport``.

- ``http``: an HTTP client whose requests reach the emulator's generic OAuth 2.0 /
  OpenID Connect server (``emulator``, at :data:`~client.helpers.BASE`).
- ``routed_http``: an HTTP client whose requests reach the handler a test sets with
  :func:`~client.helpers.use` (a :class:`~support.endpoints.ScriptedEndpoint`).
- ``server_http``: an HTTP client whose requests reach ``server``, a scripted token
  endpoint and bearer API (:class:`~client.helpers.Server`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from types import ModuleType
from typing import Any

import pytest

from anyoauth.testing import ManualClock, OAuthEndpoints, ProviderEmulator
from support.internals import set_default_http_timeout

from .helpers import BASE, DEVICE_GRANT, EMULATED_SECRET, LOOPBACK_REDIRECT, Server


@pytest.fixture
def clock() -> ManualClock:
    """The clients' (and the emulator's) clock; it moves only when a test moves it."""
    return ManualClock()


@pytest.fixture
def emulator(clock: ManualClock) -> ProviderEmulator:
    """The emulator's generic server with a confidential web client, a public single-page
    app, a legacy implicit client, a device ("tv") and a service."""
    emulator = ProviderEmulator(clock=clock, base_url=BASE, oauth_device_interval=0)
    emulator.add_oauth_client(
        "web", client_secret=EMULATED_SECRET, redirect_uris=[LOOPBACK_REDIRECT], scopes=None
    )
    emulator.add_oauth_client(
        "spa",
        redirect_uris=[LOOPBACK_REDIRECT],
        auth_method="none",
        grant_types=["authorization_code"],
    )
    emulator.add_oauth_client(
        "legacy", redirect_uris=[LOOPBACK_REDIRECT], auth_method="none", grant_types=["implicit"]
    )
    emulator.add_oauth_client("tv", auth_method="none", grant_types=[DEVICE_GRANT, "refresh_token"])
    emulator.add_oauth_client(
        "service", client_secret=EMULATED_SECRET, grant_types=["client_credentials"]
    )
    return emulator


@pytest.fixture
async def http(emulator: ProviderEmulator, http_module: ModuleType) -> AsyncIterator[Any]:
    """An HTTP client talking to ``emulator``."""
    transport = emulator.mock_transport(http_module)
    async with http_module.AsyncClient(transport=transport) as client:
        yield client


@pytest.fixture
def endpoints(emulator: ProviderEmulator) -> OAuthEndpoints:
    """The endpoints of ``emulator``'s generic server."""
    return emulator.endpoints_oauth(BASE)


@pytest.fixture
async def routed_http(http_module: ModuleType) -> AsyncIterator[Any]:
    """An HTTP client whose requests go to the handler set by :func:`client.helpers.use`."""
    holder: dict[str, Callable[[Any], Any]] = {}

    async def route(request: Any) -> Any:
        return await holder["handler"](request)

    async with http_module.AsyncClient(transport=http_module.MockTransport(route)) as client:
        client.route = holder
        yield client


@pytest.fixture
def ok_payload() -> dict[str, Any]:
    """A Keycloak (Bank of Georgia) client-credentials token answer."""
    return {
        "access_token": "AT-SENTINEL",
        "token_type": "bearer",
        "expires_in": 300,
        "refresh_expires_in": 0,
        "not-before-policy": 0,
        "scope": "corp",
        "app_id": "42",
    }


@pytest.fixture
async def server(http_module: ModuleType, clock: ManualClock) -> Server:
    """A scripted token endpoint (refresh with rotation) and bearer API."""
    return Server(http_module, clock)


@pytest.fixture
async def server_http(http_module: ModuleType, server: Server) -> AsyncIterator[Any]:
    """An HTTP client talking to ``server``."""
    async with http_module.AsyncClient(transport=http_module.MockTransport(server)) as client:
        yield client


@pytest.fixture
def default_timeout(monkeypatch: pytest.MonkeyPatch) -> float:
    """The HTTP packages' default timeout (5 s) played by 0.05 s, so the tests are quick."""
    set_default_http_timeout(monkeypatch, 0.05)
    return 0.05
