"""Attacks on the emulator's DPoP checks (RFC 9449): forged, unsigned, HMAC and tampered
proofs, private keys in the header, replayed and redirected proofs, stolen bound tokens,
codes and refresh tokens used with another key, and hostile sizes. The emulator must
refuse each, so that a client tested against it is tested against a strict server."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest

from anyoauth.testing import ManualClock

# The replay cache's bound is the emulator's own; its tests keep their own internals.
from anyoauth.testing._dpop import DPoPProofError, DPoPVerifier
from anyoauth.testing._toolkit import Request
from support.dpop_proofs import (
    API_URL,
    BASE,
    INTROSPECT_URL,
    SVC,
    SVC_SECRET,
    TOKEN_URL,
    Prover,
    Server,
    b64url,
    hmac_signed,
    honest_claims,
    refused,
    unsigned,
)


@pytest.fixture
def server() -> Server:
    return Server()


@pytest.fixture
def prover() -> Prover:
    return Prover()


def segments(proof: str) -> list[str]:
    return proof.split(".")


def decoded(segment: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    )
    return value


# -- forged and tampered proofs ---------------------------------------------------------


def test_a_proof_naming_the_victims_key_but_signed_by_the_attacker_is_refused(
    server: Server, prover: Prover
) -> None:
    attacker = Prover()
    forged = attacker.proof("POST", TOKEN_URL, now=server.now, header={"jwk": prover.jwk})
    assert "signature" in refused(server.client_credentials(forged))


def test_a_proof_with_tampered_claims_is_refused(server: Server, prover: Prover) -> None:
    captured = prover.proof("POST", BASE + "/oauth/revoke", now=server.now)
    head, claims, signature = segments(captured)
    changed = {**decoded(claims), "htu": TOKEN_URL}
    tampered = ".".join([head, b64url(json.dumps(changed).encode()), signature])
    assert "signature" in refused(server.client_credentials(tampered))


def test_an_unsigned_proof_is_refused(server: Server, prover: Prover) -> None:
    header = {"typ": "dpop+jwt", "alg": "none", "jwk": prover.jwk}
    proof = unsigned(header, honest_claims("POST", TOKEN_URL, server.now))
    refused(server.client_credentials(proof))


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_an_hmac_proof_is_refused_whatever_key_it_names(
    server: Server, prover: Prover, alg: str
) -> None:
    claims = honest_claims("POST", TOKEN_URL, server.now)
    # Keyed with the public key's bytes (algorithm confusion) ...
    header = {"typ": "dpop+jwt", "alg": alg, "jwk": prover.jwk}
    secret = json.dumps(prover.jwk).encode()
    assert "alg" in refused(server.client_credentials(hmac_signed(header, claims, secret)))
    # ... or naming a symmetric key outright.
    oct_jwk = {"kty": "oct", "k": b64url(b"attacker-chosen-secret")}
    header = {"typ": "dpop+jwt", "alg": alg, "jwk": oct_jwk}
    proof = hmac_signed(
        header, honest_claims("POST", TOKEN_URL, server.now), b"attacker-chosen-secret"
    )
    refused(server.client_credentials(proof))


def test_an_rsa_key_named_under_an_ec_algorithm_is_refused(server: Server) -> None:
    rsa = Prover("PS256")
    # Control: the key under its own family signs acceptable proofs.
    assert server.client_credentials(rsa.proof("POST", TOKEN_URL, now=server.now)).status == 200
    ec = Prover("ES256")
    forged = ec.proof("POST", TOKEN_URL, now=server.now, header={"jwk": rsa.jwk})
    refused(server.client_credentials(forged))


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256"])
def test_a_jwk_holding_its_private_key_is_refused(server: Server, alg: str) -> None:
    prover = Prover(alg)
    private = dict(prover.key.as_dict(private=True))
    proof = prover.proof("POST", TOKEN_URL, now=server.now, header={"jwk": private})
    assert "private" in refused(server.client_credentials(proof))


# -- replayed and redirected proofs -----------------------------------------------------


def test_a_replayed_proof_is_refused_at_the_token_endpoint(server: Server, prover: Prover) -> None:
    proof = prover.proof("POST", TOKEN_URL, now=server.now)
    assert server.client_credentials(proof).status == 200
    assert "jti" in refused(server.client_credentials(proof))


def test_a_replayed_proof_is_refused_at_a_resource(server: Server, prover: Prover) -> None:
    token = server.bound_token(prover)
    proof = prover.proof("GET", API_URL, now=server.now, token=token)
    assert server.get(API_URL, f"DPoP {token}", proof).status == 200
    assert "jti" in refused(server.get(API_URL, f"DPoP {token}", proof), status=401)


def test_a_replayed_proof_is_never_accepted_as_time_passes(prover: Prover) -> None:
    clock = ManualClock()
    server = Server(clock)
    proof = prover.proof("POST", TOKEN_URL, now=clock.now)
    assert server.client_credentials(proof).status == 200
    for step in (1, 30, 29, 1, 1, 600):
        clock.advance(step)
        refused(server.client_credentials(proof))


def test_a_proof_captured_at_one_endpoint_is_refused_at_another(
    server: Server, prover: Prover
) -> None:
    token = server.bound_token(prover)
    form = {"token": token, "client_id": SVC, "client_secret": SVC_SECRET}
    at_introspection = prover.proof("POST", INTROSPECT_URL, now=server.now)
    assert "htu" in refused(server.client_credentials(at_introspection))
    at_token = prover.proof("POST", TOKEN_URL, now=server.now)
    assert "htm" in refused(server.get(API_URL, f"DPoP {token}", at_token), status=401)
    assert server.post(INTROSPECT_URL, form, at_introspection).status == 200


def test_a_resource_proof_made_for_another_token_is_refused(server: Server, prover: Prover) -> None:
    mine, other = server.bound_token(prover), server.bound_token(prover)
    proof = prover.proof("GET", API_URL, now=server.now, token=other)
    assert "ath" in refused(server.get(API_URL, f"DPoP {mine}", proof), status=401)


def test_two_dpop_headers_are_refused_even_when_both_are_valid(
    server: Server, prover: Prover
) -> None:
    first = prover.proof("POST", TOKEN_URL, now=server.now)
    second = prover.proof("POST", TOKEN_URL, now=server.now)
    assert "exactly one" in refused(server.client_credentials([first, second]))
    assert "exactly one" in refused(server.client_credentials(f"{first}, {second}"))
    # Neither proof was spent by the refused request.
    assert server.client_credentials(first).status == 200


# -- stolen tokens, codes and refresh tokens ---------------------------------------------


def test_a_stolen_bound_token_is_useless_without_its_key(server: Server, prover: Prover) -> None:
    token = server.bound_token(prover)
    attacker = Prover()
    refused(server.api(token, None, scheme="Bearer"), "invalid_token", 401)
    refused(server.api(token, None), status=401)
    refused(server.api(token, attacker), status=401)
    forged = attacker.proof("GET", API_URL, now=server.now, token=token, header={"jwk": prover.jwk})
    refused(server.get(API_URL, f"DPoP {token}", forged), status=401)
    # The owner still gets through.
    assert server.api(token, prover).status == 200


def test_a_stolen_code_bound_by_dpop_jkt_is_useless_with_another_key(
    server: Server, prover: Prover
) -> None:
    code, verifier = server.code(dpop_jkt=prover.jkt)
    attacker = Prover()
    answer = server.exchange(code, verifier, attacker.proof("POST", TOKEN_URL, now=server.now))
    assert "dpop_jkt" in refused(answer, "invalid_grant")
    owner = server.exchange(code, verifier, prover.proof("POST", TOKEN_URL, now=server.now))
    assert owner.status == 200, owner.text


def test_a_stolen_public_refresh_token_is_useless_with_another_key(
    server: Server, prover: Prover
) -> None:
    code, verifier = server.code()
    tokens = server.exchange(code, verifier, prover.proof("POST", TOKEN_URL, now=server.now)).json()
    attacker = Prover()
    stolen = tokens["refresh_token"]
    refused(
        server.refresh(stolen, attacker.proof("POST", TOKEN_URL, now=server.now)), "invalid_grant"
    )
    refused(server.refresh(stolen))
    assert server.refresh(stolen, prover.proof("POST", TOKEN_URL, now=server.now)).status == 200


def test_a_lying_token_type_does_not_unbind_a_token(prover: Prover) -> None:
    server = Server(oauth_token_type="Bearer")
    token = server.bound_token(prover)
    refused(server.api(token, None, scheme="Bearer"), "invalid_token", 401)


# -- hostile sizes and values ------------------------------------------------------------


def test_an_oversized_proof_is_refused_before_it_is_decoded(server: Server) -> None:
    huge = "A" * 10_000_000 + "." + "B" * 10 + "." + "C" * 10
    started = time.perf_counter()
    answer = server.client_credentials(huge)
    elapsed = time.perf_counter() - started
    assert "over 8192 bytes" in refused(answer)
    assert elapsed < 0.5


def test_a_proof_just_under_the_size_limit_is_refused_as_malformed(server: Server) -> None:
    refused(server.client_credentials("e30." + "A" * 8000 + ".AA"))
    refused(server.client_credentials("not a jwt"))
    refused(server.client_credentials("..."))
    refused(server.client_credentials("!!.??.**"))


def test_a_huge_rsa_key_is_refused_unimported(server: Server) -> None:
    modulus = b"\xff" * 1024 + b"\x01"  # 8200 bits
    jwk = {"kty": "RSA", "n": b64url(modulus), "e": "AQAB"}
    header = {"typ": "dpop+jwt", "alg": "RS256", "jwk": jwk}
    proof = hmac_signed(header, honest_claims("POST", TOKEN_URL, server.now), b"x")
    assert "2048 to 4096" in refused(server.client_credentials(proof))
    big_exponent = {"kty": "RSA", "n": b64url(b"\xc1" * 256), "e": b64url(b"\x01" * 384)}
    header = {"typ": "dpop+jwt", "alg": "RS256", "jwk": big_exponent}
    proof = hmac_signed(header, honest_claims("POST", TOKEN_URL, server.now), b"x")
    assert "exponent" in refused(server.client_credentials(proof))


@pytest.mark.parametrize("iat", [float("nan"), float("inf"), float("-inf")])
def test_a_proof_issued_at_no_real_time_is_refused(
    server: Server, prover: Prover, iat: float
) -> None:
    # json.loads reads NaN and Infinity; NaN compares false with every bound.
    proof = prover.proof("POST", TOKEN_URL, now=server.now, claims={"iat": iat})
    assert "iat" in refused(server.client_credentials(proof))


def test_a_long_jti_is_refused(server: Server, prover: Prover) -> None:
    proof = prover.proof("POST", TOKEN_URL, now=server.now, claims={"jti": "j" * 257})
    assert "jti" in refused(server.client_credentials(proof))


def test_nothing_from_a_proof_reaches_the_answers_headers(server: Server, prover: Prover) -> None:
    token = server.bound_token(prover)
    hostile = "x\r\nSet-Cookie: stolen=1\r\n"
    honest = {"typ": "dpop+jwt", "alg": "ES256", "jwk": prover.jwk}
    for changed in ({"typ": hostile}, {"alg": hostile}, {"jwk": {"kty": hostile}}):
        claims = honest_claims("GET", API_URL, server.now, htu=hostile, ath=hostile)
        proof = hmac_signed({**honest, **changed}, claims, b"x")
        answer = server.get(API_URL, f"DPoP {token}", proof)
        assert answer.status == 401
        assert all("\r" not in v and "\n" not in v for _, v in answer.headers)
        assert "stolen" not in "".join(v for _, v in answer.headers)
        assert "stolen" not in answer.text


def test_only_asymmetric_algorithms_can_be_allowed() -> None:
    emulator = Server().emulator
    for bad in (["none"], ["HS256"], ["ES256", "HS512"]):
        with pytest.raises(ValueError, match="asymmetric"):
            emulator.oauth_dpop_algorithms = bad
    assert "HS256" not in emulator.oauth_dpop_algorithms


def test_the_replay_cache_is_bounded_and_forgets_what_time_would_refuse(prover: Prover) -> None:
    clock = ManualClock()
    verifier = DPoPVerifier(clock, replay_capacity=3, iat_window=60)

    def request(proof: str) -> Request:
        return Request("POST", "/oauth/token", {}, {"dpop": proof}, b"", BASE)

    for _ in range(3):
        assert verifier.verify(request(prover.proof("POST", TOKEN_URL, now=clock.now)))
    with pytest.raises(DPoPProofError, match="Too many"):
        verifier.verify(request(prover.proof("POST", TOKEN_URL, now=clock.now)))
    clock.advance(61)
    # The remembered proofs are now too old to be accepted anyway: they are forgotten.
    assert verifier.verify(request(prover.proof("POST", TOKEN_URL, now=clock.now)))
    assert "remembered=1" in repr(verifier)


def test_a_client_credentials_request_with_a_bad_proof_issues_nothing(
    server: Server, prover: Prover
) -> None:
    before = server.emulator.calls["oauth.token"]
    refused(server.client_credentials(prover.proof("GET", TOKEN_URL, now=server.now)))
    assert server.emulator.calls["oauth.token"] == before + 1
    assert "tokens=0" in repr(server.emulator)
