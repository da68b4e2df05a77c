"""``anyoauth.discover()``: reading a server's metadata, the locations it tries, and the
issuer check."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

import anyoauth
from anyoauth import (
    discover,
)
from anyoauth.testing import ManualClock, OAuthEndpoints, ProviderEmulator

from .helpers import BASE, answer, metadata, mock

pytestmark = pytest.mark.anyio


def metadata_document(issuer: str) -> dict[str, str]:
    return {
        "issuer": issuer,
        "authorization_endpoint": issuer + "/auth",
        "token_endpoint": issuer + "/token",
    }


async def test_discovery_reads_the_servers_metadata(http: Any, endpoints: OAuthEndpoints) -> None:
    meta = await metadata(http)
    assert meta.issuer == BASE
    assert meta.token_endpoint == endpoints["token_endpoint"]
    assert meta.device_authorization_endpoint == endpoints["device_authorization_endpoint"]
    assert meta.authorization_response_iss_parameter_supported
    assert "S256" in meta.code_challenge_methods_supported


async def test_discovery_refuses_metadata_for_another_issuer(
    emulator: ProviderEmulator, http: Any
) -> None:
    emulator.oauth_metadata_issuer = "https://evil.example"
    with pytest.raises(anyoauth.DiscoveryError, match="another issuer"):
        await discover(BASE, http=http)


async def test_discovery_of_an_unknown_server(http_module: ModuleType, clock: ManualClock) -> None:
    def handler(request: Any) -> Any:
        return http_module.Response(404, text="not here")

    async with http_module.AsyncClient(transport=http_module.MockTransport(handler)) as http:
        with pytest.raises(anyoauth.DiscoveryError, match="HTTP 404"):
            await discover(BASE, http=http)


@pytest.mark.parametrize(
    "first",
    [
        (403, "text/plain", b"AccessDenied"),
        (500, "text/plain", b"oops"),
        (200, "text/html", b"<html>app</html>"),
        (200, "application/json", b"[1, 2]"),
    ],
)
async def test_discovery_tries_the_oidc_location_after_other_answers(
    http_module: ModuleType, first: tuple[int, str, bytes]
) -> None:
    status, content_type, body = first

    def handler(request: Any) -> Any:
        if request.url.path == "/.well-known/openid-configuration":
            return answer(http_module, metadata_document(BASE))
        return http_module.Response(status, content=body, headers={"content-type": content_type})

    async with mock(http_module, handler) as http:
        found = await anyoauth.discover(BASE, http=http)
    assert found.token_endpoint == BASE + "/token"


async def test_discovery_stops_at_a_document_of_another_issuer(http_module: ModuleType) -> None:
    def handler(request: Any) -> Any:
        if request.url.path == "/.well-known/openid-configuration":
            return answer(http_module, metadata_document(BASE))
        return answer(http_module, metadata_document("https://other.example"))

    async with mock(http_module, handler) as http:
        with pytest.raises(anyoauth.DiscoveryError):
            await anyoauth.discover(BASE, http=http)


async def test_discovery_fails_when_no_location_answers(http_module: ModuleType) -> None:
    def handler(request: Any) -> Any:
        return http_module.Response(403, content=b"no")

    async with mock(http_module, handler) as http:
        with pytest.raises(anyoauth.DiscoveryError, match="HTTP 403"):
            await anyoauth.discover(BASE, http=http)
