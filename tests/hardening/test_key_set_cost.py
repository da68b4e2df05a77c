"""A key set costs bounded work: at most ``MAX_JWKS_KEYS`` entries, each key imported
once, and an id_token checked only against the entries that can have signed it.

Key imports are counted with a spy on joserfc's ``JWKRegistry.import_key`` (every
JWKS key anyoauth uses is imported through it), so the tests count work instead of
timing it. Every test makes its own keys: no import is saved by an earlier test.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, JWKRegistry, OKPKey, RSAKey

import anyoauth
from anyoauth._core import jose
from anyoauth.testing import OAUTH_JWKS_PATH, ManualClock, ProviderEmulator, browse

BASE = "https://as.example"
REDIRECT = "http://127.0.0.1:8123/callback"
SECRET = "SENTINEL-key-set-client-secret-0123456789"
ISSUER, CLIENT_ID, NOW = "https://as.example", "app", 1_700_000_000


class ImportSpy:
    """Counts the keys imported from JWKS entries."""

    def __init__(self) -> None:
        self.count = 0


@pytest.fixture
def imports(monkeypatch: pytest.MonkeyPatch) -> ImportSpy:
    spy = ImportSpy()
    original = JWKRegistry.import_key

    def counting(data: Any, key_type: Any = None, *args: Any, **kwargs: Any) -> Any:
        spy.count += 1
        return original(data, key_type, *args, **kwargs)

    monkeypatch.setattr(JWKRegistry, "import_key", counting)
    return spy


def public(key: Any, kid: str) -> dict[str, Any]:
    return {**key.as_dict(private=False), "kid": kid}


def signed(key: Any, alg: str, kid: str | None) -> str:
    claims = {"iss": ISSUER, "sub": "user", "aud": CLIENT_ID, "iat": NOW, "exp": NOW + 600}
    header = {"alg": alg, **({"kid": kid} if kid is not None else {})}
    return jwt.encode(header, claims, key, algorithms=[alg])


def check(token: str, keys: Any) -> dict[str, Any]:
    return jose.validate_id_token(
        token, jwks=keys, issuer=ISSUER, client_id=CLIENT_ID, now=NOW, nonce=None
    )


def many(count: int) -> list[dict[str, Any]]:
    """``count`` distinct, well-formed Ed25519 entries (small, cheap to make)."""
    template = OKPKey.generate_key("Ed25519", private=False).as_dict(private=False)
    return [{**template, "kid": f"filler-{i}"} for i in range(count)]


# -- the cap -------------------------------------------------------------------------------


def test_a_key_set_of_ten_thousand_keys_is_refused_unimported(imports: ImportSpy) -> None:
    signer = ECKey.generate_key("P-256", private=True)
    entries = [*many(9_999), public(signer, "real")]
    body = json.dumps({"keys": entries}).encode()
    with pytest.raises(jose.IdTokenInvalid, match="more than 100 keys"):
        jose.jwks_from_response(200, "application/json", body)
    # Handed to the check directly, it is refused as well.
    with pytest.raises(jose.IdTokenInvalid, match="more than"):
        check(signed(signer, "ES256", "real"), {"keys": entries})
    assert imports.count == 0


def test_a_key_set_at_the_cap_is_accepted() -> None:
    signer = ECKey.generate_key("P-256", private=True)
    entries = [*many(jose.MAX_JWKS_KEYS - 1), public(signer, "real")]
    keys = jose.jwks_from_response(200, "application/json", json.dumps({"keys": entries}).encode())
    assert len(keys["keys"]) == jose.MAX_JWKS_KEYS
    assert check(signed(signer, "ES256", "real"), keys)["sub"] == "user"


# -- only matching keys are imported, and each once ---------------------------------------


def test_only_the_entry_with_the_tokens_kid_is_imported(imports: ImportSpy) -> None:
    signer = ECKey.generate_key("P-256", private=True)
    keys = {"keys": [*many(60), public(signer, "real"), *many(39)]}
    assert check(signed(signer, "ES256", "real"), keys)["sub"] == "user"
    assert imports.count == 1


def test_without_a_kid_only_entries_of_the_algorithms_type_are_imported(
    imports: ImportSpy,
) -> None:
    signer = ECKey.generate_key("P-256", private=True)
    others = [public(ECKey.generate_key("P-256"), f"ec-{i}") for i in range(3)]
    p384 = public(ECKey.generate_key("P-384"), "p384")
    keys = {"keys": [*many(50), p384, *others, public(signer, "real")]}
    assert check(signed(signer, "ES256", None), keys)["sub"] == "user"
    assert imports.count == 4  # the P-256 keys; no Ed25519 or P-384 entry


def test_a_second_check_with_the_same_key_set_imports_nothing(imports: ImportSpy) -> None:
    signer = RSAKey.generate_key(2048, private=True)
    keys = {"keys": [*many(20), public(signer, "real")]}
    token = signed(signer, "RS256", "real")
    check(token, keys)
    assert imports.count == 1
    check(token, keys)
    check(signed(signer, "RS256", None), keys)
    assert imports.count == 1


def test_an_unchanged_key_set_fetched_again_imports_nothing(imports: ImportSpy) -> None:
    signer = ECKey.generate_key("P-256", private=True)
    body = json.dumps({"keys": [*many(30), public(signer, "real")]}).encode()
    first = jose.jwks_from_response(200, "application/json", body)
    assert imports.count == 31  # each entry is checked for usability once
    again = jose.jwks_from_response(200, "application/json", body)
    check(signed(signer, "ES256", "real"), again)
    assert again == first
    assert imports.count == 31


# -- through the client ---------------------------------------------------------------------


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def emulator(clock: ManualClock) -> ProviderEmulator:
    emulator = ProviderEmulator(clock=clock, base_url=BASE)
    emulator.add_oauth_client("web", client_secret=SECRET, redirect_uris=[REDIRECT], scopes=None)
    return emulator


class KeySetServer:
    """The emulator, with a key set of ``extra`` more entries when one is set."""

    def __init__(self, emulator: ProviderEmulator, module: ModuleType) -> None:
        self.emulator, self.module = emulator, module
        self.extra: list[dict[str, Any]] = []

    def __call__(self, request: Any) -> Any:
        answer = self.emulator.handle(
            request.method, str(request.url), request.headers.multi_items(), request.content
        )
        body = answer.body
        if request.url.path == OAUTH_JWKS_PATH and self.extra:
            document = json.loads(body)
            body = json.dumps({"keys": [*self.extra, *document["keys"]]}).encode()
        return self.module.Response(answer.status, headers=list(answer.headers), content=body)


@pytest.fixture
async def server(emulator: ProviderEmulator, http_module: ModuleType) -> KeySetServer:
    return KeySetServer(emulator, http_module)


@pytest.fixture
async def http(server: KeySetServer, http_module: ModuleType) -> AsyncIterator[Any]:
    transport = http_module.MockTransport(server)
    async with http_module.AsyncClient(transport=transport) as client:
        yield client


async def web_client(http: Any, clock: ManualClock) -> anyoauth.Client:
    metadata = await anyoauth.discover(BASE, http=http)
    strategy = anyoauth.AuthorizationCode.from_metadata(
        metadata, client_id="web", client_secret=SECRET, redirect_uri=REDIRECT, scope="openid"
    )
    return anyoauth.Client(strategy, http=http, clock=clock)


async def login(client: anyoauth.Client, http: Any) -> anyoauth.Token:
    start = await client.begin()
    return await client.complete(await browse(http, start.url))


@pytest.mark.anyio
async def test_refreshed_id_tokens_are_checked_without_importing_the_key_set_again(
    http: Any, clock: ManualClock, imports: ImportSpy
) -> None:
    async with await web_client(http, clock) as client:
        token = await login(client, http)
        assert token.id_token_claims is not None
        after_login = imports.count
        assert after_login == 1  # the emulator's one signing key
        for _ in range(3):
            clock.advance(3600)
            renewed = await client.token()
            assert renewed.id_token_claims is not None
            assert renewed.access_token != token.access_token
        assert imports.count == after_login


@pytest.mark.anyio
async def test_a_login_with_an_oversized_key_set_fails_typed_and_stores_nothing(
    http: Any, server: KeySetServer, clock: ManualClock, imports: ImportSpy
) -> None:
    server.extra = many(2_000)
    async with await web_client(http, clock) as client:
        with pytest.raises(anyoauth.InvalidIdToken, match="more than"):
            await login(client, http)
        assert await client.store.get_token(client.token_key) is None
    assert imports.count == 0


@pytest.mark.anyio
async def test_a_key_set_over_the_response_size_cap_fails_typed_and_stores_nothing(
    http: Any, server: KeySetServer, clock: ManualClock
) -> None:
    filler = "A" * 4096
    server.extra = [{"kty": "XX", "kid": f"big-{i}", "pad": filler} for i in range(300)]
    async with await web_client(http, clock) as client:
        with pytest.raises(anyoauth.TokenEndpointUnavailable, match="larger than"):
            await login(client, http)
        assert await client.store.get_token(client.token_key) is None
