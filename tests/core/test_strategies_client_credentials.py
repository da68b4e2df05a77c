"""The client credentials strategy: what it needs and the token request it sends."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest

from anyoauth import (
    ClientCredentials,
    ConfigurationError,
)

SECRET = "SENTINEL-SECRET-d00d"
TOKEN_URL = "https://idp.example/token"
NOW = 1_700_000_000.0


def test_client_credentials_requires_token_endpoint_and_secret() -> None:
    with pytest.raises(ConfigurationError):
        ClientCredentials(client_id="c", client_secret=SECRET)
    with pytest.raises(ConfigurationError):
        ClientCredentials(client_id="c", token_endpoint=TOKEN_URL)


def test_client_credentials_token_params() -> None:
    strategy = ClientCredentials(
        client_id="c",
        client_secret=SECRET,
        token_endpoint=TOKEN_URL,
        scope="a b",
        token_params={"audience": "api"},
    )
    body = parse_qs(strategy.direct_token_request(now=NOW).content.decode())
    assert body == {"grant_type": ["client_credentials"], "scope": ["a b"], "audience": ["api"]}
