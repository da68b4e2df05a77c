"""What an API URL or a resource server's redirect could make ``client.auth()`` give away
or believe. After a redirect to another origin, what that origin says is never taken as
the first one's: its nonce is never used at the first, and its 401 never costs a new
token. A user and password in an API URL never reach a proof."""

from __future__ import annotations

import base64
import json
from types import ModuleType
from typing import Any

import pytest

from anyoauth import Client, ClientCredentials, DPoPKey
from anyoauth.testing import ManualClock

pytestmark = pytest.mark.anyio

TOKEN_URL = "https://as.example/token"
API = "https://api.example/data"
ELSEWHERE = "https://cdn.example/data"
NOW = 1_700_000_000.0


def configure(key: DPoPKey | None) -> ClientCredentials:
    return ClientCredentials(
        client_id="svc", client_secret="s3cret", token_endpoint=TOKEN_URL, dpop_key=key
    )


@pytest.mark.parametrize("bound", [True, False], ids=["dpop", "bearer"])
async def test_a_redirect_to_another_origin_gets_nothing_of_the_first(
    http_module: ModuleType, bound: bool
) -> None:
    key = DPoPKey.generate()
    seen: list[Any] = []
    issued = 0

    def server(request: Any) -> Any:
        nonlocal issued
        seen.append(request)
        if request.url.host == "as.example":
            issued += 1
            kind = "DPoP" if bound else "Bearer"
            return http_module.Response(
                200, json={"access_token": f"AT-{issued}", "token_type": kind, "expires_in": 600}
            )
        if request.url.host == "api.example":
            return http_module.Response(302, headers={"Location": ELSEWHERE})
        return http_module.Response(
            401,
            headers={
                "WWW-Authenticate": 'DPoP error="use_dpop_nonce"',
                "DPoP-Nonce": "cdn-nonce",
            },
        )

    transport = http_module.MockTransport(server)
    async with http_module.AsyncClient(transport=transport) as http:
        client = Client(configure(key), http=http, clock=ManualClock(NOW))
        async with http_module.AsyncClient(
            transport=transport, auth=client.auth(), follow_redirects=True
        ) as api:
            for _ in range(3):
                response = await api.get(API)
                assert response.status_code == 401
    elsewhere = [r for r in seen if r.url.host == "cdn.example"]
    assert elsewhere
    for request in elsewhere:
        assert "authorization" not in request.headers
        # (the DPoP header itself follows: httpx strips only Authorization)
    assert key.nonce_for(API) is None
    assert issued == 1  # the other origin's 401 says nothing of the token


async def test_credentials_in_an_api_url_never_reach_a_proof(http_module: ModuleType) -> None:
    """httpx never sends a URL's user and password on the wire (and ``client.auth()``
    replaces the Basic header it would make of them): a proof's ``htu`` does not carry
    them either."""
    key = DPoPKey.generate()
    seen: list[Any] = []

    def server(request: Any) -> Any:
        seen.append(request)
        if request.url.host == "as.example":
            return http_module.Response(
                200, json={"access_token": "AT", "token_type": "DPoP", "expires_in": 600}
            )
        return http_module.Response(200)

    transport = http_module.MockTransport(server)
    async with http_module.AsyncClient(transport=transport) as http:
        client = Client(configure(key), http=http, clock=ManualClock(NOW))
        async with http_module.AsyncClient(transport=transport, auth=client.auth()) as api:
            await api.get("https://someone:pa55-SENTINEL@api.example/data?q=1")
        direct = client.dpop_proof("GET", "https://someone:pa55-SENTINEL@api.example/data")
    (request,) = [r for r in seen if r.url.host == "api.example"]
    for proof in (request.headers["dpop"], direct):
        claims = json.loads(base64.urlsafe_b64decode(proof.split(".")[1] + "=="))
        assert claims["htu"] == API
        assert "SENTINEL" not in json.dumps(claims)
    assert request.headers["authorization"] == "DPoP AT"
