"""What the measurements share: the emulated provider, the protected API and transports.

The identity provider is :class:`anyoauth.testing.ProviderEmulator` (a Keycloak realm
with a client-credentials client); the protected API is one route that accepts any
token the emulator issued. Both are reachable in-process (``MockTransport``) or on a
real loopback port (:mod:`benchmarks._server`, in its own process).
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from types import ModuleType
from typing import Any

import anyio

from anyoauth.testing import KEYCLOAK_REALM_PATH, ProviderEmulator

__all__ = [
    "API_HOST",
    "API_PATH",
    "CLIENT_ID",
    "CLIENT_SECRET",
    "ITEMS",
    "MOCK_IDP",
    "REALM",
    "TOKEN_PATH",
    "Gate",
    "api_response",
    "bearer_of",
    "make_emulator",
    "mock_handler",
    "router",
    "server_calls",
    "sync_timed",
]

REALM = "bench"
CLIENT_ID = "bench-client"
CLIENT_SECRET = "bench-secret"
TOKEN_PATH = KEYCLOAK_REALM_PATH.format(realm=REALM) + "/token"
API_PATH = "/api/items"
API_HOST = "api.bench"
MOCK_IDP = "https://sso.bench"
ITEMS = json.dumps({"items": [{"id": i, "name": f"item {i}"} for i in range(5)]}).encode()
_JSON = [("content-type", "application/json")]


def make_emulator() -> ProviderEmulator:
    """The identity provider every measurement talks to."""
    emulator = ProviderEmulator()
    emulator.add_keycloak_client(CLIENT_ID, CLIENT_SECRET, realm=REALM)
    return emulator


def bearer_of(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer ...`` (or ``DPoP ...``) value."""
    if authorization is None:
        return None
    scheme, _, token = authorization.partition(" ")
    # A DPoP-bound token's proof is the server's to check; the API here checks the token.
    return token if scheme.lower() in ("bearer", "dpop") and token else None


def api_response(emulator: ProviderEmulator, authorization: str | None) -> tuple[int, bytes]:
    """The protected API: 200 and a small JSON list for a token the emulator issued."""
    token = bearer_of(authorization)
    if token is None or not emulator.is_valid_token(token):
        return 401, b'{"error":"invalid_token"}'
    return 200, ITEMS


def mock_handler(emulator: ProviderEmulator, module: ModuleType) -> Callable[[Any], Any]:
    """A ``MockTransport`` handler: the API on :data:`API_PATH`, the emulator elsewhere."""

    def handler(request: Any) -> Any:
        if request.url.path == API_PATH:
            status, body = api_response(emulator, request.headers.get("authorization"))
            return module.Response(status, headers=_JSON, content=body)
        answer = emulator.handle(
            request.method, str(request.url), request.headers.multi_items(), request.content
        )
        return module.Response(answer.status, headers=list(answer.headers), content=answer.body)

    return handler


class Gate:
    """Holds token requests back while :attr:`event` is set to an unset event."""

    def __init__(self) -> None:
        self.event: anyio.Event | None = None

    async def wait(self) -> None:
        """Wait until the gate is open (at once when there is no gate)."""
        if self.event is not None:
            await self.event.wait()


def router(
    module: ModuleType,
    *,
    api: Callable[[Any], Any],
    inner: Any,
    log: list[tuple[float, float]],
    gate: Gate | None = None,
) -> Any:
    """An async transport of ``module``: requests to :data:`API_HOST` are answered
    in-process by ``api``; every other request (the token endpoint) goes through
    ``inner``, after ``gate`` opens, and its (sent, headers received) times are logged.
    """

    class Router(module.AsyncBaseTransport):  # type: ignore[name-defined,misc]
        async def handle_async_request(self, request: Any) -> Any:
            if request.url.host == API_HOST:
                return api(request)
            if gate is not None:
                await gate.wait()
            started = time.perf_counter()
            response = await inner.handle_async_request(request)
            log.append((started, time.perf_counter()))
            return response

        async def aclose(self) -> None:
            await inner.aclose()

    return Router()


def sync_timed(module: ModuleType, inner: Any, log: list[tuple[float, float]]) -> Any:
    """A sync transport of ``module`` that logs each request's (sent, headers received)."""

    class Timed(module.BaseTransport):  # type: ignore[name-defined,misc]
        def handle_request(self, request: Any) -> Any:
            started = time.perf_counter()
            response = inner.handle_request(request)
            log.append((started, time.perf_counter()))
            return response

        def close(self) -> None:
            inner.close()

    return Timed()


def server_calls(base_url: str, name: str = "keycloak.token") -> int:
    """How many requests the loopback server's emulator counted for endpoint ``name``."""
    with urllib.request.urlopen(base_url + "/_stats", timeout=10) as answer:  # noqa: S310
        counts: dict[str, int] = json.load(answer)
    return counts.get(name, 0)
