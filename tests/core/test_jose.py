"""Client assertions, JWKS documents and ID token validation (the core's jose module).

Tokens under test are signed with joserfc (or by hand), not with the code under
test, and client assertions are verified with joserfc or cryptography directly.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import math
import subprocess
import sys
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, Key, OctKey, OKPKey, RSAKey

from anyoauth import InvalidIdToken
from support.internals import (
    CLIENT_SECRET_JWT_ALGORITHMS,
    DEFAULT_ID_TOKEN_ALGORITHMS,
    ID_TOKEN_ALGORITHMS,
    PRIVATE_KEY_JWT_ALGORITHMS,
    client_assertion,
    jose,
    jwks_from_response,
    load_client_key,
    validate_id_token,
)

NOW = 1_700_000_000.0
ISSUER = "https://login.example.com"
CLIENT_ID = "client-123"
TOKEN_URL = "https://login.example.com/oauth2/token"
NONCE = "SENTINEL-NONCE-4c1d"
ACCESS_TOKEN = "SENTINEL-ACCESS-9e2b"
SECRET = "SENTINEL-SECRET-" + "s" * 48  # 64 bytes: long enough for HS512
SHORT_SECRET = "SENTINEL-SHORT"
JSON = "application/json"


# -- keys (generated once per test session) ------------------------------------------


@functools.cache
def rsa_key(name: str = "a") -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": f"rsa-{name}"})


@functools.cache
def ec_key(curve: str = "P-256") -> ECKey:
    return ECKey.generate_key(curve, parameters={"kid": f"ec-{curve}"})


@functools.cache
def ed_key(name: str = "a") -> OKPKey:
    return OKPKey.generate_key("Ed25519", parameters={"kid": f"ed-{name}"})


@functools.cache
def weak_rsa_native() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - a deliberately weak key


def weak_rsa_key(*, private: bool = True) -> RSAKey:
    """A 1024-bit RSAKey; joserfc warns when importing one, which tests do on purpose."""
    native = weak_rsa_native()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        return RSAKey.import_key(native if private else native.public_key())


def public_jwk(key: Key) -> dict[str, Any]:
    return dict(key.as_dict(private=False))


def private_jwk(key: Key) -> dict[str, Any]:
    return dict(key.as_dict(private=True))


def jwks(*keys: Key) -> dict[str, Any]:
    return {"keys": [public_jwk(k) for k in keys]}


def pem(native: Any) -> bytes:
    data: bytes = native.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return data


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64json(value: object) -> str:
    return b64(json.dumps(value).encode())


def decode_part(token: str, index: int) -> dict[str, Any]:
    part = token.split(".")[index]
    result: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return result


def jose_decode(token: str, key: Key, algorithm: str) -> jwt.Token:
    """Verify with joserfc itself; it warns (SecurityWarning) for EdDSA by design."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        return jwt.decode(token, key, algorithms=[algorithm])


# -- client assertions ---------------------------------------------------------------

KEYS_BY_ALG: dict[str, Callable[[], Key]] = {
    "RS256": rsa_key,
    "RS384": rsa_key,
    "RS512": rsa_key,
    "PS256": rsa_key,
    "PS384": rsa_key,
    "PS512": rsa_key,
    "ES256": lambda: ec_key("P-256"),
    "ES384": lambda: ec_key("P-384"),
    "ES512": lambda: ec_key("P-521"),
    "EdDSA": ed_key,
    "Ed25519": ed_key,
}


def test_allow_lists() -> None:
    assert {"RS256", "PS256", "ES256", "EdDSA"} <= PRIVATE_KEY_JWT_ALGORITHMS
    assert set(CLIENT_SECRET_JWT_ALGORITHMS) == {"HS256", "HS384", "HS512"}
    assert not {"none", "HS256"} & ID_TOKEN_ALGORITHMS
    assert set(DEFAULT_ID_TOKEN_ALGORITHMS) <= ID_TOKEN_ALGORITHMS
    assert set(KEYS_BY_ALG) == PRIVATE_KEY_JWT_ALGORITHMS - {"Ed448"}


@pytest.mark.parametrize("algorithm", sorted(KEYS_BY_ALG))
def test_private_key_jwt_round_trip(algorithm: str) -> None:
    key = KEYS_BY_ALG[algorithm]()
    token = client_assertion(
        client_id=CLIENT_ID,
        audience=TOKEN_URL,
        key=private_jwk(key),
        algorithm=algorithm,
        now=NOW + 0.75,
        lifetime=120,
    )
    public = type(key).import_key(public_jwk(key))
    decoded = jose_decode(token, public, algorithm)
    assert decoded.header["alg"] == algorithm
    assert decoded.header["kid"] == key.kid
    claims = decoded.claims
    assert claims["iss"] == claims["sub"] == CLIENT_ID
    assert claims["aud"] == TOKEN_URL
    assert claims["iat"] == int(NOW)
    assert claims["exp"] == int(NOW) + 120
    assert isinstance(claims["jti"], str)
    assert len(claims["jti"]) >= 32


@pytest.mark.parametrize("algorithm", sorted(CLIENT_SECRET_JWT_ALGORITHMS))
def test_client_secret_jwt_round_trip(algorithm: str) -> None:
    token = client_assertion(
        client_id=CLIENT_ID, audience=ISSUER, key=SECRET, algorithm=algorithm, now=NOW
    )
    decoded = jose_decode(token, OctKey.import_key(SECRET.encode()), algorithm)
    assert decoded.header == {"alg": algorithm, "typ": "JWT"}
    assert decoded.claims["aud"] == ISSUER
    assert decoded.claims["exp"] == int(NOW) + 60
    # A different secret does not verify it.
    with pytest.raises(Exception, match="bad_signature"):
        jose_decode(token, OctKey.import_key(SECRET.encode() + b"x"), algorithm)


def test_client_secret_jwt_accepts_bytes_oct_jwk_and_octkey() -> None:
    secret = SECRET.encode()
    oct_jwk = {"kty": "oct", "k": b64(secret), "kid": "s1"}
    for key in (secret, oct_jwk, OctKey.import_key(secret)):
        token = client_assertion(
            client_id=CLIENT_ID, audience=ISSUER, key=key, algorithm="HS256", now=NOW
        )
        assert jose_decode(token, OctKey.import_key(secret), "HS256").claims["sub"] == CLIENT_ID
    token = client_assertion(
        client_id=CLIENT_ID, audience=ISSUER, key=oct_jwk, algorithm="HS256", now=NOW
    )
    assert decode_part(token, 0)["kid"] == "s1"


def test_eddsa_assertion_verifies_with_cryptography() -> None:
    native = ed25519.Ed25519PrivateKey.generate()
    token = client_assertion(
        client_id=CLIENT_ID, audience=TOKEN_URL, key=pem(native), algorithm="EdDSA", now=NOW
    )
    header_b64, payload_b64, signature_b64 = token.split(".")
    signature = base64.urlsafe_b64decode(signature_b64 + "=" * (-len(signature_b64) % 4))
    native.public_key().verify(signature, f"{header_b64}.{payload_b64}".encode())
    assert decode_part(token, 0) == {"alg": "EdDSA", "typ": "JWT"}


@pytest.mark.parametrize(
    ("algorithm", "make"),
    [
        ("RS256", lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        ("ES256", lambda: ec.generate_private_key(ec.SECP256R1())),
        ("ES384", lambda: ec.generate_private_key(ec.SECP384R1())),
        ("EdDSA", ed25519.Ed25519PrivateKey.generate),
    ],
)
@pytest.mark.parametrize("as_text", [False, True])
def test_pem_keys(algorithm: str, make: Callable[[], Any], *, as_text: bool) -> None:
    native = make()
    data = pem(native)
    key = data.decode() if as_text else data
    token = client_assertion(
        client_id=CLIENT_ID, audience=TOKEN_URL, key=key, algorithm=algorithm, now=NOW
    )
    assert "kid" not in decode_part(token, 0)  # a PEM key has no kid
    public = native.public_key()
    verify_key: Key
    if algorithm.startswith("RS"):
        verify_key = RSAKey.import_key(public)
    elif algorithm.startswith("ES"):
        verify_key = ECKey.import_key(public)
    else:
        verify_key = OKPKey.import_key(public)
    assert jose_decode(token, verify_key, algorithm).claims["iss"] == CLIENT_ID


def test_traditional_rsa_pem_is_accepted() -> None:
    native = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    data = native.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    assert data.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    assert load_client_key(data, "PS256").is_private


def test_jti_is_random_unless_given() -> None:
    def make(jti: str | None = None) -> dict[str, Any]:
        token = client_assertion(
            client_id=CLIENT_ID, audience=TOKEN_URL, key=SECRET, algorithm="HS256", now=NOW, jti=jti
        )
        return decode_part(token, 1)

    assert make()["jti"] != make()["jti"]
    assert make("fixed-jti")["jti"] == "fixed-jti"


def test_load_client_key_result_is_reusable() -> None:
    loaded = load_client_key(private_jwk(rsa_key()), "RS256")
    assert isinstance(loaded, RSAKey)
    assert loaded.is_private
    token = client_assertion(
        client_id=CLIENT_ID, audience=TOKEN_URL, key=loaded, algorithm="RS256", now=NOW
    )
    assert jose_decode(token, rsa_key(), "RS256").claims["sub"] == CLIENT_ID
    # The same loaded key is checked again against another algorithm.
    with pytest.raises(ValueError, match="does not fit ES256"):
        client_assertion(
            client_id=CLIENT_ID, audience=TOKEN_URL, key=loaded, algorithm="ES256", now=NOW
        )


@pytest.mark.parametrize("algorithm", ["none", "None", "NONE"])
def test_none_algorithm_is_refused(algorithm: str) -> None:
    with pytest.raises(ValueError, match="'none' algorithm cannot authenticate"):
        client_assertion(
            client_id=CLIENT_ID, audience=TOKEN_URL, key=SECRET, algorithm=algorithm, now=NOW
        )
    with pytest.raises(ValueError, match="'none'"):
        load_client_key(SECRET, algorithm)


@pytest.mark.parametrize("algorithm", ["RS1", "ES256K", "HS1", "rs256", "", "A128KW", "dir"])
def test_unknown_algorithms_are_refused(algorithm: str) -> None:
    with pytest.raises(ValueError, match="unsupported client assertion algorithm"):
        load_client_key(private_jwk(rsa_key()), algorithm)


def _x25519_jwk() -> dict[str, Any]:
    return private_jwk(OKPKey.generate_key("X25519"))


MISMATCHES: list[tuple[str, str, Callable[[], object], str]] = [
    ("rsa key for ES256", "ES256", lambda: private_jwk(rsa_key()), "does not fit ES256"),
    ("P-256 key for ES384", "ES384", lambda: private_jwk(ec_key("P-256")), "does not fit ES384"),
    ("EC key for RS256", "RS256", lambda: private_jwk(ec_key()), "does not fit RS256"),
    ("Ed25519 key for ES256", "ES256", lambda: private_jwk(ed_key()), "does not fit ES256"),
    ("X25519 key for EdDSA", "EdDSA", _x25519_jwk, "does not fit EdDSA"),
    ("secret for RS256", "RS256", lambda: SECRET, "needs a private key"),
    ("oct JWK for RS256", "RS256", lambda: {"kty": "oct", "k": b64(SECRET.encode())}, "symmetric"),
    ("OctKey for RS256", "RS256", lambda: OctKey.import_key(SECRET.encode()), "symmetric"),
    ("RSA JWK for HS256", "HS256", lambda: private_jwk(rsa_key()), "client secret"),
    ("RSAKey for HS256", "HS256", rsa_key, "client secret"),
    ("PEM for HS256", "HS256", lambda: pem(ec_key().private_key), "looks like a PEM"),
    ("public JWK", "RS256", lambda: public_jwk(rsa_key()), "public key"),
    ("public RSAKey", "RS256", lambda: RSAKey.import_key(public_jwk(rsa_key())), "public key"),
    ("public PEM", "RS256", lambda: rsa_key().as_bytes(private=False), "cannot load the PEM"),
    (
        "weak RSA JWK",
        "RS256",
        lambda: private_jwk(weak_rsa_key()),
        "2048 bits",
    ),
    ("weak RSA PEM", "RS256", lambda: pem(weak_rsa_native()), "2048 bits"),
    ("weak RSAKey", "RS256", weak_rsa_key, "2048 bits"),
    (
        "JWK alg RS512",
        "RS256",
        lambda: {**private_jwk(rsa_key()), "alg": "RS512"},
        "does not fit RS256",
    ),
    (
        "JWK use enc",
        "RS256",
        lambda: {**private_jwk(rsa_key()), "use": "enc"},
        "does not fit RS256",
    ),
    (
        "key_ops verify",
        "RS256",
        lambda: {**private_jwk(rsa_key()), "key_ops": ["verify"]},
        "key_ops",
    ),
    (
        "oct key_ops verify",
        "HS256",
        lambda: {"kty": "oct", "k": b64(SECRET.encode()), "key_ops": ["verify"]},
        "key_ops",
    ),
    (
        "oct alg HS512",
        "HS256",
        lambda: {"kty": "oct", "k": b64(SECRET.encode()), "alg": "HS512"},
        "does not fit HS256",
    ),
    ("no kty", "RS256", lambda: {"n": "AQAB", "e": "AQAB"}, "kty"),
    (
        "broken RSA JWK",
        "RS256",
        lambda: {"kty": "RSA", "n": "!!", "e": "AQAB", "d": "AQAB"},
        "malformed",
    ),
    ("broken EC JWK", "ES256", lambda: {**private_jwk(ec_key()), "x": "AAAA"}, "malformed"),
    ("garbage text", "RS256", lambda: "not a key at all", "needs a private key"),
    ("a number", "RS256", lambda: 42, "unsupported key"),
    ("a number for HS256", "HS256", lambda: 42, "client secret"),
]


@pytest.mark.parametrize(
    ("algorithm", "make", "message"), [m[1:] for m in MISMATCHES], ids=[m[0] for m in MISMATCHES]
)
def test_key_algorithm_mismatch_is_refused(
    algorithm: str, make: Callable[[], object], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as excinfo:
        load_client_key(make(), algorithm)  # type: ignore[arg-type]
    assert SECRET not in str(excinfo.value)
    assert "PRIVATE KEY" not in str(excinfo.value)


def test_encrypted_pem_is_refused() -> None:
    native = ec.generate_private_key(ec.SECP256R1())
    data = native.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"password"),
    )
    with pytest.raises(ValueError, match="cannot load the PEM private key"):
        load_client_key(data, "ES256")


@pytest.mark.parametrize(("algorithm", "length"), [("HS256", 32), ("HS384", 48), ("HS512", 64)])
def test_short_hmac_secrets_are_refused(algorithm: str, length: int) -> None:
    load_client_key("k" * length, algorithm)
    with pytest.raises(ValueError, match=f"at least {length} bytes") as excinfo:
        load_client_key("k" * (length - 1), algorithm)
    assert "k" * (length - 1) not in str(excinfo.value)
    with pytest.raises(ValueError, match="at least 32 bytes") as excinfo:
        load_client_key(SHORT_SECRET, "HS256")
    assert SHORT_SECRET not in str(excinfo.value)
    with pytest.raises(ValueError, match="at least 32 bytes"):
        load_client_key("", "HS256")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"client_id": ""}, "client_id"),
        ({"audience": ""}, "audience"),
        ({"lifetime": 0}, "lifetime"),
        ({"lifetime": -5}, "lifetime"),
        ({"lifetime": math.inf}, "lifetime"),
        ({"now": math.nan}, "now"),
        ({"jti": ""}, "jti"),
    ],
)
def test_client_assertion_argument_checks(kwargs: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "audience": TOKEN_URL,
        "key": SECRET,
        "algorithm": "HS256",
        "now": NOW,
        **kwargs,
    }
    with pytest.raises(ValueError, match=message):
        client_assertion(**arguments)


# -- ID tokens -----------------------------------------------------------------------


def id_claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "user-1",
        "aud": CLIENT_ID,
        "iat": int(NOW) - 10,
        "exp": int(NOW) + 3600,
        "nonce": NONCE,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def sign(
    key: Key,
    algorithm: str,
    claims: dict[str, Any] | None = None,
    *,
    header: dict[str, Any] | None = None,
    kid: bool = True,
) -> str:
    """Sign an ID token with joserfc (independently of the code under test)."""
    full_header: dict[str, Any] = {"alg": algorithm}
    if kid and key.kid:
        full_header["kid"] = key.kid
    full_header.update(header or {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        return jwt.encode(
            full_header, id_claims() if claims is None else claims, key, algorithms=[algorithm]
        )


def validate(token: str, keys: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "jwks": jwks(rsa_key(), ec_key(), ed_key()) if keys is None else keys,
        "issuer": ISSUER,
        "client_id": CLIENT_ID,
        "now": NOW,
        "nonce": NONCE,
        **kwargs,
    }
    return validate_id_token(token, **arguments)


def expect_invalid(
    token: str, message: str, keys: dict[str, Any] | None = None, **kwargs: Any
) -> InvalidIdToken:
    with pytest.raises(InvalidIdToken, match=message) as excinfo:
        validate(token, keys, **kwargs)
    text = str(excinfo.value)
    for secret in (token, NONCE, ACCESS_TOKEN, *token.split(".")):
        assert len(secret) < 8 or secret not in text
    return excinfo.value


@pytest.mark.parametrize(
    ("algorithm", "make"),
    [
        ("RS256", rsa_key),
        ("PS256", rsa_key),
        ("ES256", ec_key),
        ("EdDSA", ed_key),
    ],
)
def test_valid_id_token(algorithm: str, make: Callable[[], Key]) -> None:
    claims = validate(sign(make(), algorithm))
    assert claims == id_claims()


def test_other_algorithms_only_when_allowed() -> None:
    token = sign(ec_key("P-384"), "ES384")
    keys = jwks(ec_key("P-384"))
    expect_invalid(token, "alg 'ES384' is not allowed", keys)
    assert validate(token, keys, algorithms=["ES384"])["sub"] == "user-1"


def test_key_selected_by_kid() -> None:
    other = rsa_key("b")
    keys = jwks(rsa_key(), other, ec_key())
    assert validate(sign(other, "RS256"), keys)["sub"] == "user-1"
    assert validate(sign(rsa_key(), "RS256"), keys)["sub"] == "user-1"


def test_without_kid_every_fitting_key_is_tried() -> None:
    keys = jwks(ec_key(), rsa_key(), rsa_key("b"))
    assert validate(sign(rsa_key("b"), "RS256", kid=False), keys)["sub"] == "user-1"
    assert validate(sign(ec_key(), "ES256", kid=False), keys)["sub"] == "user-1"


def test_jwks_keys_without_kid_match_tokens_without_kid() -> None:
    entry = public_jwk(rsa_key())
    del entry["kid"]
    assert validate(sign(rsa_key(), "RS256", kid=False), {"keys": [entry]})["sub"] == "user-1"


def test_bad_signature() -> None:
    # Signed by another key that claims the JWKS key's kid.
    forged = sign(rsa_key("b"), "RS256", header={"kid": rsa_key().kid})
    error = expect_invalid(forged, "signature verification failed")
    assert not error.unknown_key


def test_tampered_payload() -> None:
    header, _, signature = sign(rsa_key(), "RS256").split(".")
    tampered = f"{header}.{b64json(id_claims(sub='admin'))}.{signature}"
    expect_invalid(tampered, "signature verification failed")


def test_tampered_signature_bytes() -> None:
    token = sign(ec_key(), "ES256")
    header, payload, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[5] ^= 1
    expect_invalid(f"{header}.{payload}.{b64(bytes(raw))}", "signature verification failed")


def test_unknown_kid_asks_for_a_jwks_refresh() -> None:
    token = sign(rsa_key("b"), "RS256")
    error = expect_invalid(token, "no JWKS key has the id_token's kid", jwks(rsa_key()))
    assert error.unknown_key
    # After the refetch the new key is there.
    assert validate(token, jwks(rsa_key(), rsa_key("b")))["sub"] == "user-1"


@pytest.mark.parametrize("keys", [{}, {"keys": []}, {"keys": "nope"}, {"other": 1}])
def test_empty_or_missing_jwks_asks_for_a_refresh(keys: dict[str, Any]) -> None:
    with pytest.raises(InvalidIdToken) as unknown:
        validate(sign(rsa_key(), "RS256"), keys)
    assert unknown.value.unknown_key
    with pytest.raises(InvalidIdToken) as unknown:
        validate(sign(rsa_key(), "RS256", kid=False), keys)
    assert unknown.value.unknown_key


def test_no_kid_and_no_fitting_key_asks_for_a_refresh() -> None:
    error = expect_invalid(sign(ec_key(), "ES256", kid=False), "no JWKS key fits", jwks(rsa_key()))
    assert error.unknown_key


def test_kid_of_a_key_of_another_type_is_invalid_not_unknown() -> None:
    token = sign(ec_key(), "ES256", header={"kid": rsa_key().kid})
    error = expect_invalid(token, "does not fit ES256", jwks(rsa_key()))
    assert not error.unknown_key


def test_wrong_curve_is_not_used() -> None:
    token = sign(ec_key("P-384"), "ES384", header={"kid": "k"})
    entry = {**public_jwk(ec_key("P-256")), "kid": "k"}
    expect_invalid(token, "does not fit ES384", {"keys": [entry]}, algorithms=["ES384"])


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"use": "enc"}, "use enc"),
        ({"key_ops": ["encrypt"]}, "key_ops without verify"),
        ({"key_ops": "verify"}, "key_ops not a list"),
        ({"d": "AQAB"}, "private member"),
    ],
)
def test_jwks_keys_not_for_verification_are_ignored(change: dict[str, Any], reason: str) -> None:
    del reason
    keys = {"keys": [{**public_jwk(rsa_key()), **change}]}
    with pytest.raises(InvalidIdToken) as unknown:
        validate(sign(rsa_key(), "RS256"), keys)
    assert unknown.value.unknown_key


def test_jwks_key_with_another_alg_is_not_used() -> None:
    keys = {"keys": [{**public_jwk(rsa_key()), "alg": "RS512"}]}
    expect_invalid(sign(rsa_key(), "RS256"), "does not fit RS256", keys)
    keys = {"keys": [{**public_jwk(rsa_key()), "alg": "RS256", "use": "sig"}]}
    assert validate(sign(rsa_key(), "RS256"), keys)["sub"] == "user-1"


def test_embedded_header_keys_are_ignored() -> None:
    attacker = rsa_key("b")
    header = {"jwk": public_jwk(attacker), "jku": "https://evil.example/jwks", "kid": "rsa-a"}
    expect_invalid(sign(attacker, "RS256", header=header), "signature verification failed")


@pytest.mark.parametrize("alg", ["none", "None"])
def test_alg_none_token_is_refused(alg: str) -> None:
    header = b64json({"alg": alg, "kid": rsa_key().kid})
    for token in (f"{header}.{b64json(id_claims())}.", f"{header}.{b64json(id_claims())}.AAAA"):
        error = expect_invalid(token, "is not allowed")
        assert not error.unknown_key


def test_hs256_signed_with_the_public_key_is_refused() -> None:
    """Key confusion: the JWKS key's public bytes used as an HMAC secret."""
    public = rsa_key()
    candidates = [
        public.as_bytes(private=False),  # PEM of the public key
        json.dumps(public_jwk(public)).encode(),
        base64.urlsafe_b64decode(str(public["n"]) + "=="),
    ]
    for secret in candidates:
        header = b64json({"alg": "HS256", "kid": public.kid})
        payload = b64json(id_claims())
        mac = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        expect_invalid(f"{header}.{payload}.{b64(mac)}", "alg 'HS256' is not allowed")


@pytest.mark.parametrize("algorithms", [["none"], ["HS256"], ["RS256", "HS512"], [], ["XX"]])
def test_symmetric_or_none_algorithms_cannot_be_allowed(algorithms: list[str]) -> None:
    with pytest.raises(ValueError, match="algorithms") as excinfo:
        validate(sign(rsa_key(), "RS256"), algorithms=algorithms)
    assert not isinstance(excinfo.value, InvalidIdToken)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"now": math.nan}, "now"), ({"leeway": -1}, "leeway"), ({"leeway": math.inf}, "leeway")],
)
def test_validate_argument_checks(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate(sign(rsa_key(), "RS256"), **kwargs)


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        (id_claims(iss="https://evil.example.com"), "iss is not the expected issuer"),
        (id_claims(iss=ISSUER + "/"), "iss is not the expected issuer"),
        (id_claims(iss=None), "iss is not the expected issuer"),
        (id_claims(sub=None), "no sub"),
        (id_claims(sub=""), "no sub"),
        (id_claims(aud="other-client"), "aud does not contain"),
        (id_claims(aud=["other-client"]), "aud does not contain"),
        (id_claims(aud=None), "aud is missing"),
        (id_claims(aud=[]), "aud is missing"),
        (id_claims(aud=[CLIENT_ID, 7]), "aud is missing or malformed"),
        (id_claims(aud=[CLIENT_ID, "other"]), "several audiences but no azp"),
        (id_claims(aud=[CLIENT_ID, "other"], azp="other"), "azp is not this client_id"),
        (id_claims(azp="other"), "azp is not this client_id"),
        (id_claims(exp=None), "no exp"),
        (id_claims(exp=int(NOW) - 61), "expired"),
        (id_claims(exp=int(NOW) - 60), "expired"),
        (id_claims(exp="2000000000"), "exp is not a number"),
        (id_claims(exp=True), "exp is not a number"),
        (id_claims(exp=10**400), "exp is not a usable number"),
        (id_claims(iat=None), "no iat"),
        (id_claims(iat=int(NOW) + 61), "iat is in the future"),
        (id_claims(iat="now"), "iat is not a number"),
        (id_claims(nbf=int(NOW) + 3000), "not valid yet"),
        (id_claims(nonce=None), "no nonce although one was sent"),
        (id_claims(nonce="SENTINEL-OTHER-NONCE"), "nonce does not match"),
        (id_claims(nonce=12), "no nonce"),
    ],
)
def test_failed_claim_checks(claims: dict[str, Any], message: str) -> None:
    error = expect_invalid(sign(rsa_key(), "RS256", claims), message)
    assert not error.unknown_key
    assert "SENTINEL-OTHER-NONCE" not in str(error)


@pytest.mark.parametrize(
    "claims",
    [
        id_claims(aud=[CLIENT_ID]),
        id_claims(aud=[CLIENT_ID, "other"], azp=CLIENT_ID),
        id_claims(azp=CLIENT_ID),
        id_claims(exp=int(NOW) - 59),  # within the leeway
        id_claims(iat=int(NOW) + 59),
        id_claims(nbf=int(NOW) + 59),
        id_claims(exp=NOW + 0.5, iat=NOW - 0.5),  # fractional NumericDates
        id_claims(extra={"nested": [1, 2]}),
    ],
)
def test_accepted_claims(claims: dict[str, Any]) -> None:
    assert validate(sign(rsa_key(), "RS256", claims)) == claims


def test_leeway_is_configurable() -> None:
    token = sign(rsa_key(), "RS256", id_claims(exp=int(NOW) - 5))
    assert validate(token, leeway=10)["sub"] == "user-1"
    expect_invalid(token, "expired", leeway=0)
    expect_invalid(token, "expired", leeway=5)


def test_nonce_is_optional_when_none_was_sent() -> None:
    # Refresh responses repeat (or drop) the original nonce.
    assert validate(sign(rsa_key(), "RS256"), nonce=None)["nonce"] == NONCE
    assert "nonce" not in validate(sign(rsa_key(), "RS256", id_claims(nonce=None)), nonce=None)


def at_hash(access_token: str, digest: Callable[[bytes], Any]) -> str:
    value: bytes = digest(access_token.encode()).digest()
    return b64(value[: len(value) // 2])


@pytest.mark.parametrize(
    ("algorithm", "make", "digest"),
    [
        ("RS256", rsa_key, hashlib.sha256),
        ("PS384", rsa_key, hashlib.sha384),
        ("ES256", ec_key, hashlib.sha256),
        ("ES512", lambda: ec_key("P-521"), hashlib.sha512),
        ("EdDSA", ed_key, hashlib.sha512),
    ],
)
def test_at_hash(algorithm: str, make: Callable[[], Key], digest: Callable[[bytes], Any]) -> None:
    key = make()
    keys = jwks(key)
    algorithms = [algorithm]
    good = sign(key, algorithm, id_claims(at_hash=at_hash(ACCESS_TOKEN, digest)))
    claims = validate(good, keys, algorithms=algorithms, access_token=ACCESS_TOKEN)
    assert claims["at_hash"] == at_hash(ACCESS_TOKEN, digest)
    # Not checked without an access token; absent at_hash is fine.
    validate(good, keys, algorithms=algorithms)
    plain = sign(key, algorithm)
    validate(plain, keys, algorithms=algorithms, access_token=ACCESS_TOKEN)
    # A different access token does not match.
    expect_invalid(
        good,
        "at_hash does not match",
        keys,
        algorithms=algorithms,
        access_token=ACCESS_TOKEN + "x",
    )
    wrong_type = sign(key, algorithm, id_claims(at_hash=5))
    expect_invalid(wrong_type, "at_hash", keys, algorithms=algorithms, access_token=ACCESS_TOKEN)


def sign_by_hand(header: dict[str, Any], payload: bytes) -> str:
    """RS256 with cryptography directly, for headers joserfc refuses to produce."""
    signing_input = f"{b64json(header)}.{b64(payload)}"
    private = rsa_key().private_key
    assert private is not None
    signature = private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64(signature)}"


def test_hand_signed_tokens_are_accepted() -> None:
    """The by-hand signer is right, so the refusals below are about the header."""
    header = {"alg": "RS256", "kid": rsa_key().kid}
    assert validate(sign_by_hand(header, json.dumps(id_claims()).encode()))["sub"] == "user-1"


def test_crit_and_b64_headers_are_refused() -> None:
    header = {"alg": "RS256", "kid": rsa_key().kid, "crit": ["exp"], "exp": 1}
    expect_invalid(sign_by_hand(header, json.dumps(id_claims()).encode()), "critical")
    unencoded = {"alg": "RS256", "b64": False, "crit": ["b64"], "kid": rsa_key().kid}
    expect_invalid(sign_by_hand(unencoded, json.dumps(id_claims()).encode()), "critical")


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("", "not a compact JWS"),
        ("a.b", "not a compact JWS"),
        ("a.b.c.d.e", "encrypted ID tokens are not supported"),
        ("!!!.e30.AAAA", "well-formed"),
        (f"{b64json([1, 2])}.e30.AAAA", "well-formed"),
        (f"{b64json({'kid': 'x'})}.e30.AAAA", "no alg"),
        (f"{b64json({'alg': 5})}.e30.AAAA", "no alg"),
        (b64(b'{"alg": NaN}') + ".e30.AAAA", "well-formed"),
        (f"{b64json({'alg': 'RS256'})}.e30.AAA=", "well-formed"),  # padding
        (f"{b64json({'alg': 'RS256'})}.e30.AAB", "well-formed"),  # non-canonical
        (f"{b64json({'alg': 'RS256', 'kid': 7})}.e30.AAAA", "kid is not a string"),
        ("x" * 70_000, "too large"),
    ],
)
def test_malformed_tokens(token: str, message: str) -> None:
    expect_invalid(token, message)


def test_non_string_token() -> None:
    with pytest.raises(InvalidIdToken, match="not a string"):
        validate_id_token(
            12,  # type: ignore[arg-type]
            jwks=jwks(rsa_key()),
            issuer=ISSUER,
            client_id=CLIENT_ID,
            now=NOW,
            nonce=None,
        )


def test_signed_payload_that_is_not_an_object() -> None:
    key = rsa_key()
    header = {"alg": "RS256", "kid": key.kid}
    from joserfc import jws

    token = jws.serialize_compact(header, b"[1, 2, 3]", key, algorithms=["RS256"])
    expect_invalid(token, "payload is not a JSON object")


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_garbage_tokens_only_raise_id_token_invalid(token: str) -> None:
    with pytest.raises(InvalidIdToken):
        validate(token)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(
    header=st.dictionaries(
        st.sampled_from(["alg", "kid", "typ", "crit", "b64", "jwk", "x5c"]),
        json_values | st.sampled_from(["RS256", "ES256", "EdDSA", "none", "HS256", "rsa-a"]),
    ),
    payload=st.binary(max_size=64) | json_values.map(lambda v: json.dumps(v).encode()),
    signature=st.binary(max_size=300),
)
@settings(max_examples=300, deadline=None)
def test_garbage_jws_only_raises_id_token_invalid(
    header: dict[str, Any], payload: bytes, signature: bytes
) -> None:
    token = f"{b64json(header)}.{b64(payload)}.{b64(signature)}"
    with pytest.raises(InvalidIdToken) as excinfo:
        validate(token)
    assert NONCE not in str(excinfo.value)


# -- JWKS documents ------------------------------------------------------------------


def test_jwks_from_response_keeps_usable_keys() -> None:
    document = {
        "keys": [
            public_jwk(rsa_key()),
            {**public_jwk(rsa_key("b")), "use": "enc"},
            {"kty": "oct", "k": b64(SECRET.encode()), "kid": "sym"},
            {"kty": "ML-DSA-65", "kid": "pq", "pub": "AAAA"},
            {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
            public_jwk(weak_rsa_key(private=False)),
            dict(OKPKey.generate_key("X25519").as_dict(private=False)),
            private_jwk(ec_key("P-384")),
            {**public_jwk(ec_key()), "key_ops": ["encrypt"]},
            "not an object",
            public_jwk(ed_key()),
            public_jwk(ec_key()),
        ]
    }
    result = jwks_from_response(200, "application/jwk-set+json", json.dumps(document).encode())
    assert result == {"keys": [public_jwk(rsa_key()), public_jwk(ed_key()), public_jwk(ec_key())]}
    assert validate(sign(ec_key(), "ES256"), result)["sub"] == "user-1"


@pytest.mark.parametrize("content_type", [JSON, "text/plain; charset=utf-8", None])
def test_jwks_content_type_is_not_enforced(content_type: str | None) -> None:
    body = json.dumps(jwks(rsa_key())).encode()
    assert jwks_from_response(200, content_type, body) == jwks(rsa_key())


@pytest.mark.parametrize(
    ("status", "content_type", "body", "message"),
    [
        (404, JSON, json.dumps(jwks(rsa_key())).encode(), "HTTP 404"),
        (500, JSON, b"{}", "HTTP 500"),
        (200, "text/html", b"<html>login</html>", r"not a JSON object \(text/html\)"),
        (200, JSON, b"[]", "not a JSON object"),
        (200, JSON, b'{"keys": NaN}', "not a JSON object"),
        (200, JSON, b"\xff\xfe", "not a JSON object"),
        (200, JSON, b"[" * 100_000, "not a JSON object|nested too deeply"),
        (200, JSON, b"{}", "no 'keys' list"),
        (200, JSON, b'{"keys": {}}', "no 'keys' list"),
        (200, JSON, b'{"keys": []}', "no usable"),
        (200, JSON, b'{"keys": [{"kty": "oct", "k": "AAAA"}]}', "no usable"),
    ],
)
def test_bad_jwks_documents(
    status: int, content_type: str | None, body: bytes, message: str
) -> None:
    with pytest.raises(InvalidIdToken, match=message):
        jwks_from_response(status, content_type, body)


jwk_like = st.fixed_dictionaries(
    {"kty": st.sampled_from(["RSA", "EC", "OKP", "oct", "XX"])},
    optional={
        "n": st.text(max_size=20) | st.integers(),
        "e": st.sampled_from(["AQAB", "AA", ""]) | st.integers(),
        "crv": st.sampled_from(["P-256", "P-384", "Ed25519", "X25519", "secp256k1", "nope"]),
        "x": st.text(max_size=60),
        "y": st.text(max_size=60),
        "kid": st.text(max_size=5) | st.integers(),
        "use": st.sampled_from(["sig", "enc"]) | st.integers(),
        "key_ops": st.lists(st.sampled_from(["verify", "sign", "encrypt"])) | st.text(max_size=5),
        "alg": st.sampled_from(["RS256", "ES256", "none"]) | st.integers(),
    },
)


@given(st.lists(jwk_like | json_values, max_size=5))
@settings(max_examples=300, deadline=None)
def test_garbage_jwks_entries_only_raise_id_token_invalid(entries: list[Any]) -> None:
    body = json.dumps({"keys": entries}).encode()
    try:
        result = jwks_from_response(200, JSON, body)
    except InvalidIdToken:
        return
    assert result["keys"]
    # Whatever was kept is usable by validate_id_token without surprises.
    with pytest.raises(InvalidIdToken):
        validate(sign(rsa_key(), "RS256"), result)


@given(st.binary(max_size=200))
@settings(max_examples=200, deadline=None)
def test_garbage_jwks_bodies_only_raise_id_token_invalid(body: bytes) -> None:
    with pytest.raises(InvalidIdToken):
        jwks_from_response(200, JSON, body)


# -- sans-IO -------------------------------------------------------------------------

PROBE = """
import importlib, importlib.util, json, sys, types
spec = importlib.util.find_spec("anyoauth")
package = types.ModuleType("anyoauth")
package.__path__ = list(spec.submodule_search_locations)
sys.modules["anyoauth"] = package
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(sys.modules)))
"""


def test_importing_jose_defers_joserfc() -> None:
    """joserfc loads cryptography.x509, which loads socket: it is imported on first use."""
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-I", "-c", PROBE, jose.__name__],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    loaded = {name.split(".", 1)[0] for name in json.loads(result.stdout)}
    assert not loaded & {"joserfc", "cryptography", "socket"}


@pytest.mark.parametrize("algorithm", ["EdDSA", "Ed448"])
def test_ed448_id_token_and_at_hash(algorithm: str) -> None:
    """Ed448 hashes at_hash with SHAKE256 to 114 bytes (OpenID Connect Core errata)."""
    key = OKPKey.generate_key("Ed448", parameters={"kid": "ed448"})
    digest = hashlib.shake_256(ACCESS_TOKEN.encode()).digest(114)
    claims = id_claims(at_hash=b64(digest[:57]))
    token = sign(key, algorithm, claims)
    keys = jwks(key)
    assert validate(token, keys, algorithms=[algorithm], access_token=ACCESS_TOKEN) == claims
    expect_invalid(token, "at_hash", keys, algorithms=[algorithm], access_token=ACCESS_TOKEN + "x")
    # An Ed448 key is never used for an "Ed25519" token.
    _, payload, signature = token.split(".")
    relabelled = f"{b64json({'alg': 'Ed25519', 'kid': 'ed448'})}.{payload}.{signature}"
    expect_invalid(relabelled, "does not fit Ed25519", keys, algorithms=["Ed25519"])
