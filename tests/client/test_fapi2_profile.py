"""A client held to the FAPI 2.0 profile logs in end to end against the emulator's
strict server: pushed request, PKCE, iss, private_key_jwt, DPoP with server nonces."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from joserfc.jwk import ECKey, KeySet

from anyoauth import AuthorizationCode, Client, DPoPKey
from anyoauth.testing import OAUTH_API_PATH, ManualClock, ProviderEmulator, browse

from .helpers import BASE, LOOPBACK_REDIRECT, metadata

pytestmark = pytest.mark.anyio


async def test_a_fapi2_client_logs_in_and_calls_the_api(
    emulator: ProviderEmulator, http: Any, clock: ManualClock, http_module: Any
) -> None:
    key = ECKey.generate_key("P-256", parameters={"kid": "fapi-1"}, private=True)
    emulator.add_oauth_client(
        "fapi-app",
        redirect_uris=[LOOPBACK_REDIRECT],
        auth_method="private_key_jwt",
        jwks=KeySet([key]).as_dict(private=False),
    )
    emulator.oauth_require_pushed_authorization_requests = True
    emulator.oauth_require_dpop = True
    emulator.oauth_dpop_nonce = True
    dpop = DPoPKey.generate("ES256")
    strategy = AuthorizationCode.from_metadata(
        await metadata(http),
        client_id="fapi-app",
        redirect_uri=LOOPBACK_REDIRECT,
        client_key=key.as_dict(private=True),
        client_assertion_algorithm="ES256",
        dpop_key=dpop,
        profile="fapi2",
    )
    assert strategy.push_authorization_request
    assert strategy.require_iss
    async with Client(strategy, http=http, clock=clock) as client:
        start = await client.begin()
        assert set(dict(parse_qsl(urlsplit(start.url).query))) == {"client_id", "request_uri"}
        token = await client.complete(await browse(http, start.url))
        async with http_module.AsyncClient(
            transport=emulator.mock_transport(http_module), auth=client.auth(http_module)
        ) as api:
            assert (await api.get(BASE + OAUTH_API_PATH)).status_code == 200
    assert token.token_type == "DPoP"
    assert emulator.oauth_token_jkt(token.access_token) == dpop.thumbprint
    assert emulator.calls["oauth.par"] == 2  # the first push was asked for a DPoP nonce
