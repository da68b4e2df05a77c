"""DPoP proofs (RFC 9449): what a proof carries, and the key behind it."""

from __future__ import annotations

import base64
import hashlib
import json
import warnings
from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import ECKey, JWKRegistry, RSAKey

from anyoauth import ConfigurationError
from support.internals import dpop

NOW = 1_700_000_000.75
URL = "https://as.example/token?client=1#frag"


class _Verifier(jws.JWSRegistry):
    max_header_length = 4096  # an RSA key's JWK makes a header larger than the default


def decode(proof: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The proof's header and claims, its signature checked with the key it carries."""
    header = json.loads(base64.urlsafe_b64decode(proof.split(".")[0] + "=="))
    key = JWKRegistry.import_key(header["jwk"])
    registry = _Verifier(algorithms=[header["alg"]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # joserfc flags "EdDSA" (RFC 9864)
        verified = jws.deserialize_compact(proof, key, registry=registry)
    return header, json.loads(verified.payload)


@pytest.mark.parametrize("algorithm", dpop.DPOP_ALGORITHMS)
def test_a_proof_carries_the_public_key_and_verifies_with_it(algorithm: str) -> None:
    key = dpop.DPoPKey.generate(algorithm)
    header, claims = decode(key.proof("post", URL, now=NOW))
    assert header["typ"] == "dpop+jwt"
    assert header["alg"] == algorithm
    assert header["jwk"] == key.public_jwk
    assert "d" not in header["jwk"]
    assert claims["htm"] == "POST"
    assert claims["htu"] == "https://as.example/token"
    assert claims["iat"] == int(NOW)
    assert "nonce" not in claims
    assert "ath" not in claims


def test_every_proof_has_a_new_jti() -> None:
    key = dpop.DPoPKey.generate()
    jtis = {decode(key.proof("GET", URL, now=NOW))[1]["jti"] for _ in range(50)}
    assert len(jtis) == 50
    assert all(len(jti) >= 22 for jti in jtis)  # at least 128 bits


def test_a_proof_answers_the_servers_nonce_and_binds_the_access_token() -> None:
    key = dpop.DPoPKey.generate()
    _, claims = decode(key.proof("GET", URL, now=NOW, nonce="srv-nonce", access_token="AT.1"))
    assert claims["nonce"] == "srv-nonce"
    expected = base64.urlsafe_b64encode(hashlib.sha256(b"AT.1").digest()).rstrip(b"=").decode()
    assert claims["ath"] == expected == dpop.access_token_hash("AT.1")


def test_the_thumbprint_is_rfc_7638s() -> None:
    # RFC 7638 3.1's example key and thumbprint.
    jwk: dict[str, str | list[str]] = {
        "kty": "RSA",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L"
            "6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ"
            "5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbIS"
            "D08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kE"
            "gU8awapJzKnqDKgw"
        ),
        "e": "AQAB",
    }
    public = RSAKey.import_key(jwk)
    assert public.thumbprint() == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    key = dpop.DPoPKey.generate()
    assert key.thumbprint == ECKey.import_key(key.public_jwk).thumbprint()


def test_a_shared_private_jwk_makes_the_same_key() -> None:
    key = dpop.DPoPKey.generate("ES256")
    again = dpop.DPoPKey.load(key.private_jwk(), "ES256")
    assert again.thumbprint == key.thumbprint
    assert again.public_jwk == key.public_jwk


def test_the_repr_never_shows_the_private_key() -> None:
    key = dpop.DPoPKey.generate()
    private = str(key.private_jwk()["d"])
    assert private not in repr(key)
    assert key.thumbprint in repr(key)


@pytest.mark.parametrize("algorithm", ["none", "HS256", "ES256K", "RS1", ""])
def test_a_key_never_signs_with_none_or_a_shared_secret(algorithm: str) -> None:
    with pytest.raises(ConfigurationError, match="DPoP key signs with one of"):
        dpop.DPoPKey.generate(algorithm)


def test_a_key_that_does_not_fit_its_algorithm_is_refused() -> None:
    rsa = RSAKey.generate_key(2048, private=True).as_dict(private=True)
    with pytest.raises(ConfigurationError, match="DPoP key"):
        dpop.DPoPKey.load(rsa, "ES256")
    public_only = ECKey.generate_key("P-256", private=True).as_dict(private=False)
    with pytest.raises(ConfigurationError, match="DPoP key"):
        dpop.DPoPKey.load(public_only, "ES256")


@pytest.mark.parametrize(
    ("url", "htu"),
    [
        ("https://as.example/token", "https://as.example/token"),
        ("https://as.example/token?a=1", "https://as.example/token"),
        ("https://as.example/token#x", "https://as.example/token"),
        ("https://as.example:8443/p/q?a=1#x", "https://as.example:8443/p/q"),
    ],
)
def test_htu_is_the_url_without_query_and_fragment(url: str, htu: str) -> None:
    assert dpop.htu_of(url) == htu
