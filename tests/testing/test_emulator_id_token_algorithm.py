"""The emulator's ``oauth_id_token_algorithm``: id_tokens signed with EdDSA (an Ed25519
key in the key set) and the metadata listing the one algorithm it signs with."""

from __future__ import annotations

import base64
import hashlib
import json
from types import ModuleType
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

import anyoauth
from anyoauth.testing import OAUTH_JWKS_PATH, ManualClock, ProviderEmulator, browse

pytestmark = pytest.mark.anyio

BASE = "https://emulator.test"
REDIRECT = "http://127.0.0.1:8123/cb"
SECRET = "s" * 32


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def _login(http: Any, emulator: ProviderEmulator, clock: ManualClock) -> anyoauth.Token:
    metadata = await anyoauth.discover(BASE, http=http)
    strategy = anyoauth.AuthorizationCode.from_metadata(
        metadata,
        client_id="web",
        client_secret=SECRET,
        redirect_uri=REDIRECT,
        scope="openid",
    )
    async with anyoauth.Client(strategy, http=http, clock=clock) as client:
        start = await client.begin()
        return await client.complete(await browse(http, start.url))


async def test_eddsa_id_tokens_verify_with_the_published_ed25519_key(
    http_module: ModuleType,
) -> None:
    clock = ManualClock()
    emulator = ProviderEmulator(clock=clock, base_url=BASE, oauth_id_token_algorithm="EdDSA")
    emulator.add_oauth_client("web", client_secret=SECRET, redirect_uris=[REDIRECT])
    transport = emulator.mock_transport(http_module)
    async with http_module.AsyncClient(transport=transport) as http:
        listed = (await anyoauth.discover(BASE, http=http)).id_token_signing_alg_values_supported
        assert listed == ("EdDSA",)
        token = await _login(http, emulator, clock)
        keys = (await http.get(BASE + OAUTH_JWKS_PATH)).json()["keys"]
    id_token = token.extra["id_token"]
    head, body, signature = id_token.split(".")
    header = json.loads(_unb64(head))
    assert header["alg"] == "EdDSA"
    okp = [k for k in keys if k["kty"] == "OKP"]
    assert [k["kid"] for k in okp] == [header["kid"]]
    assert okp[0]["crv"] == "Ed25519"
    assert "d" not in okp[0]
    public = Ed25519PublicKey.from_public_bytes(_unb64(okp[0]["x"]))
    public.verify(_unb64(signature), f"{head}.{body}".encode())  # raises if forged
    claims = json.loads(_unb64(body))
    digest = hashlib.sha512(token.access_token.encode()).digest()
    assert _unb64(claims["at_hash"]) == digest[:32]


def test_only_the_known_algorithms_are_taken() -> None:
    emulator = ProviderEmulator()
    assert emulator.oauth_id_token_algorithm == "RS256"
    for value in ("HS256", "none", "ES256"):
        with pytest.raises(ValueError, match="oauth_id_token_algorithm"):
            emulator.oauth_id_token_algorithm = value
        with pytest.raises(ValueError, match="oauth_id_token_algorithm"):
            ProviderEmulator(oauth_id_token_algorithm=value)
