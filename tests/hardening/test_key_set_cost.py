"""A key set costs bounded work: at most ``MAX_JWKS_KEYS`` entries, each key imported
once, an id_token checked only against the entries that can have signed it and against
at most ``MAX_KEYS_TRIED`` of them, and only keys that verify cheaply are used.

Key imports are counted with a spy on joserfc's ``JWKRegistry.import_key`` (every
JWKS key anyoauth uses is imported through it) and signature verifications with a spy
on the algorithm models, so the tests count work instead of timing it. Every test
makes its own keys: no import is saved by an earlier test.

RSA entries that only have to be refused or to fail verification get a random odd
modulus instead of a generated key: a public JWK is all a key set holds, and nothing
checks that its modulus is a product of two primes.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, JWKRegistry, OKPKey, RSAKey

import anyoauth
from anyoauth import InvalidIdToken
from anyoauth.testing import OAUTH_JWKS_PATH, ManualClock, ProviderEmulator, browse
from support.internals import jose

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


class VerifySpy:
    """Counts the signature verifications of id_token checks."""

    def __init__(self) -> None:
        self.count = 0


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> VerifySpy:
    spy = VerifySpy()
    original = jose._alg_model

    class Counting:
        def __init__(self, model: Any) -> None:
            self.model = model

        def verify(self, *args: Any) -> Any:
            spy.count += 1
            return self.model.verify(*args)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.model, name)

    monkeypatch.setattr(jose, "_alg_model", lambda algorithm: Counting(original(algorithm)))
    return spy


def b64int(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def rsa_entry(kid: str | None, *, bits: int = 3072, e: int = 65537) -> dict[str, Any]:
    """A public RSA entry with a random odd ``bits``-bit modulus and exponent ``e``."""
    n = secrets.randbits(bits) | (1 << (bits - 1)) | 1
    entry = {"kty": "RSA", "n": b64int(n), "e": b64int(e), "use": "sig"}
    return {**entry, "kid": kid} if kid is not None else entry


def huge_exponent() -> int:
    """An odd public exponent of about 3070 bits: allowed by RFC 8017 below a 3072-bit
    modulus, and it makes one verification cost as much as a private-key operation."""
    return secrets.randbits(3070) | (1 << 3069) | 1


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
    with pytest.raises(InvalidIdToken, match="more than 100 keys"):
        jose.jwks_from_response(200, "application/json", body)
    # Handed to the check directly, it is refused as well.
    with pytest.raises(InvalidIdToken, match="more than"):
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
    others = [public(ECKey.generate_key("P-256"), f"ec-{i}") for i in range(2)]
    p384 = public(ECKey.generate_key("P-384"), "p384")
    keys = {"keys": [*many(50), p384, *others, public(signer, "real")]}
    assert check(signed(signer, "ES256", None), keys)["sub"] == "user"
    assert imports.count == 3  # the P-256 keys; no Ed25519 or P-384 entry


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


# -- few keys tried per check, and only keys that verify cheaply ---------------------------


def test_a_key_set_of_huge_exponent_keys_sharing_a_kid_costs_one_verification_per_check(
    imports: ImportSpy, verifications: VerifySpy
) -> None:
    signer = RSAKey.generate_key(2048, private=True)
    hostile = [rsa_entry("k", e=huge_exponent()) for _ in range(jose.MAX_JWKS_KEYS - 1)]
    keys = {"keys": [*hostile, public(signer, "k")]}
    token = signed(signer, "RS256", "k")
    for expected in (1, 2):
        assert check(token, keys)["sub"] == "user"
        assert verifications.count == expected
    assert imports.count == 1  # the huge-exponent entries are refused before any import
    fetched = jose.jwks_from_response(200, "application/json", json.dumps(keys).encode())
    assert fetched == {"keys": [public(signer, "k")]}


def test_a_forged_token_is_tried_against_at_most_three_keys_of_its_kid(
    imports: ImportSpy, verifications: VerifySpy
) -> None:
    keys = {"keys": [rsa_entry("k") for _ in range(jose.MAX_JWKS_KEYS)]}
    forged = signed(RSAKey.generate_key(2048, private=True), "RS256", "k")
    for checks in (1, 2):
        with pytest.raises(InvalidIdToken, match="signature verification failed"):
            check(forged, keys)
        assert verifications.count == checks * jose.MAX_KEYS_TRIED == checks * 3
    assert imports.count == jose.MAX_KEYS_TRIED


def test_a_forged_token_without_a_kid_is_tried_against_at_most_three_keys(
    imports: ImportSpy, verifications: VerifySpy
) -> None:
    keys = {"keys": [rsa_entry(None, bits=8192) for _ in range(jose.MAX_JWKS_KEYS)]}
    forged = signed(RSAKey.generate_key(2048, private=True), "RS256", None)
    with pytest.raises(InvalidIdToken, match="signature verification failed"):
        check(forged, keys)
    assert verifications.count == jose.MAX_KEYS_TRIED
    assert imports.count == jose.MAX_KEYS_TRIED


def test_the_key_that_verified_a_kid_is_tried_first_for_the_next_token(
    verifications: VerifySpy,
) -> None:
    signer = ECKey.generate_key("P-256", private=True)
    stale = [public(ECKey.generate_key("P-256"), "k") for _ in range(2)]
    keys = {"keys": [*stale, public(signer, "k")]}
    assert check(signed(signer, "ES256", "k"), keys)["sub"] == "user"
    assert verifications.count == 3
    for later in range(1, 4):
        assert check(signed(signer, "ES256", "k"), keys)["sub"] == "user"
        assert verifications.count == 3 + later


def test_a_signing_key_behind_three_others_of_its_kid_is_not_tried(
    verifications: VerifySpy,
) -> None:
    signer = ECKey.generate_key("P-256", private=True)
    others = [public(ECKey.generate_key("P-256"), "k") for _ in range(3)]
    with pytest.raises(InvalidIdToken, match="signature verification failed"):
        check(signed(signer, "ES256", "k"), {"keys": [*others, public(signer, "k")]})
    assert verifications.count == 3


def test_a_provider_like_key_set_verifies_each_token_with_one_key(
    imports: ImportSpy, verifications: VerifySpy
) -> None:
    rsa = [RSAKey.generate_key(2048, private=True) for _ in range(2)]
    ec = ECKey.generate_key("P-256", private=True)
    ed = OKPKey.generate_key("Ed25519", private=True)
    entries = [public(rsa[0], "r0"), public(rsa[1], "r1"), public(ec, "e0"), public(ed, "d0")]
    keys = jose.jwks_from_response(200, "application/json", json.dumps({"keys": entries}).encode())
    assert keys == {"keys": entries}
    imported = imports.count
    tokens = [
        signed(rsa[1], "RS256", "r1"),
        signed(rsa[0], "PS256", "r0"),
        signed(ec, "ES256", "e0"),
        signed(ed, "Ed25519", "d0"),
    ]
    for token in tokens:
        claims = jose.validate_id_token(
            token,
            jwks=keys,
            issuer=ISSUER,
            client_id=CLIENT_ID,
            now=NOW,
            nonce=None,
            algorithms=["RS256", "PS256", "ES256", "Ed25519"],
        )
        assert claims["sub"] == "user"
    assert verifications.count == len(tokens)
    assert imports.count == imported


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param(lambda: rsa_entry("k", e=huge_exponent()), id="3070-bit-exponent"),
        pytest.param(lambda: rsa_entry("k", e=2**32 + 1), id="exponent-2**32+1"),
        pytest.param(lambda: rsa_entry("k", e=2**64 + 1), id="exponent-2**64+1"),
        pytest.param(lambda: rsa_entry("k", e=65536), id="even-exponent"),
        pytest.param(lambda: rsa_entry("k", e=1), id="exponent-1"),
        pytest.param(lambda: rsa_entry("k", bits=8200), id="8200-bit-modulus"),
        pytest.param(lambda: rsa_entry("k", bits=16384), id="16384-bit-modulus"),
        pytest.param(lambda: public(ECKey.generate_key("secp256k1"), "k"), id="secp256k1-curve"),
    ],
)
def test_keys_that_verify_slowly_or_on_other_curves_are_skipped(
    entry: Any, imports: ImportSpy, verifications: VerifySpy
) -> None:
    refused = entry()
    body = json.dumps({"keys": [refused]}).encode()
    with pytest.raises(InvalidIdToken, match="no usable signature verification key"):
        jose.jwks_from_response(200, "application/json", body)
    signer = RSAKey.generate_key(2048, private=True)
    kept = public(signer, "real")
    fetched = jose.jwks_from_response(
        200, "application/json", json.dumps({"keys": [refused, kept]}).encode()
    )
    assert fetched == {"keys": [kept]}
    algorithm = "ES256" if refused["kty"] == "EC" else "RS256"
    token = signed(signer, "RS256", "k").split(".", 1)[1]
    header = base64.urlsafe_b64encode(json.dumps({"alg": algorithm, "kid": "k"}).encode())
    with pytest.raises(InvalidIdToken):
        check(header.rstrip(b"=").decode() + "." + token, {"keys": [refused]})
    assert verifications.count == 0
    assert imports.count == 1  # the usable key only


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param(lambda: rsa_entry("k", e=3), id="exponent-3"),
        pytest.param(lambda: rsa_entry("k", e=2**32 - 1), id="exponent-2**32-1"),
        pytest.param(lambda: rsa_entry("k", bits=2048), id="2048-bit-modulus"),
        pytest.param(lambda: rsa_entry("k", bits=8192), id="8192-bit-modulus"),
        pytest.param(lambda: public(ECKey.generate_key("P-521"), "k"), id="P-521-curve"),
    ],
)
def test_keys_within_the_limits_are_kept(entry: Any) -> None:
    kept = entry()
    body = json.dumps({"keys": [kept]}).encode()
    assert jose.jwks_from_response(200, "application/json", body) == {"keys": [kept]}


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
