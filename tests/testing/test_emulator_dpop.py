"""The emulator's DPoP (RFC 9449), endpoint by endpoint, with proofs made by hand: tokens
bound to the proof's key at every grant, ``dpop_jkt`` codes, bound refresh tokens of
public clients, protected resources that take a bound token only with a proof, each
check of a proof, server nonces and the options that shape them."""

from __future__ import annotations

from typing import Any

import pytest

from anyoauth.testing import (
    OAUTH_METADATA_PATH,
    ManualClock,
)
from support.dpop_proofs import (
    API_URL,
    BASE,
    CLI,
    DEVICE_GRANT,
    DEVICE_URL,
    INTROSPECT_URL,
    REVOKE_URL,
    SVC,
    SVC_SECRET,
    TOKEN_URL,
    USERINFO_URL,
    WEB,
    Prover,
    Server,
    challenge_of,
    refused,
)


@pytest.fixture
def server() -> Server:
    return Server()


@pytest.fixture
def prover() -> Prover:
    return Prover()


# -- tokens bound at every grant ---------------------------------------------------------


def test_a_proof_at_the_token_endpoint_binds_the_access_token(
    server: Server, prover: Prover
) -> None:
    answer = server.client_credentials(prover.proof("POST", TOKEN_URL, now=server.now))
    assert answer.status == 200, answer.text
    token = answer.json()
    assert token["token_type"] == "DPoP"
    assert server.emulator.oauth_token_jkt(token["access_token"]) == prover.jkt


def test_a_token_request_without_a_proof_gets_a_bearer_token(server: Server) -> None:
    token = server.client_credentials().json()
    assert token["token_type"] == "Bearer"
    assert server.emulator.oauth_token_jkt(token["access_token"]) is None
    assert server.get(API_URL, f"Bearer {token['access_token']}").status == 200


@pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512", "EdDSA", "Ed25519", "PS256", "RS256"])
def test_proofs_of_every_allowed_algorithm_are_accepted(server: Server, alg: str) -> None:
    prover = Prover(alg)
    token = server.bound_token(prover)
    assert server.emulator.oauth_token_jkt(token) == prover.jkt
    assert server.api(token, prover).status == 200


def test_a_code_exchanged_with_a_proof_gives_bound_tokens_and_a_bound_public_refresh_token(
    server: Server, prover: Prover
) -> None:
    code, verifier = server.code()
    answer = server.exchange(code, verifier, prover.proof("POST", TOKEN_URL, now=server.now))
    tokens = answer.json()
    assert tokens["token_type"] == "DPoP"
    assert server.emulator.oauth_token_jkt(tokens["access_token"]) == prover.jkt
    introspection = server.post(
        INTROSPECT_URL, {"token": tokens["refresh_token"], "client_id": CLI}
    ).json()
    assert introspection["cnf"] == {"jkt": prover.jkt}
    renewed = server.refresh(
        tokens["refresh_token"], prover.proof("POST", TOKEN_URL, now=server.now)
    )
    assert renewed.status == 200, renewed.text
    assert renewed.json()["token_type"] == "DPoP"
    assert server.emulator.oauth_token_jkt(renewed.json()["access_token"]) == prover.jkt


def test_a_public_clients_bound_refresh_token_needs_a_proof_by_the_same_key(
    server: Server, prover: Prover
) -> None:
    code, verifier = server.code()
    tokens = server.exchange(code, verifier, prover.proof("POST", TOKEN_URL, now=server.now))
    refresh_token = tokens.json()["refresh_token"]
    refused(server.refresh(refresh_token))
    other = Prover()
    description = refused(
        server.refresh(refresh_token, other.proof("POST", TOKEN_URL, now=server.now)),
        "invalid_grant",
    )
    assert "another DPoP key" in description
    again = server.refresh(refresh_token, prover.proof("POST", TOKEN_URL, now=server.now))
    assert again.status == 200
    # The rotated refresh token stays bound to the same key.
    next_refresh = again.json()["refresh_token"]
    refused(
        server.refresh(next_refresh, other.proof("POST", TOKEN_URL, now=server.now)),
        "invalid_grant",
    )


def test_a_confidential_clients_refresh_token_is_not_bound(server: Server, prover: Prover) -> None:
    code, verifier = server.code(WEB)
    tokens = server.exchange(
        code, verifier, prover.proof("POST", TOKEN_URL, now=server.now), client_id=WEB
    ).json()
    assert tokens["token_type"] == "DPoP"
    introspection = server.post(
        INTROSPECT_URL,
        {
            "token": tokens["refresh_token"],
            "client_id": WEB,
            "client_secret": "web-SECRET-sentinel",
        },
    ).json()
    assert "cnf" not in introspection
    other = Prover()
    renewed = server.refresh(
        tokens["refresh_token"], other.proof("POST", TOKEN_URL, now=server.now), client_id=WEB
    ).json()
    assert server.emulator.oauth_token_jkt(renewed["access_token"]) == other.jkt


def test_the_device_grant_binds_the_token_to_the_polls_proof(
    server: Server, prover: Prover
) -> None:
    start = server.post(
        DEVICE_URL, {"client_id": CLI}, prover.proof("POST", DEVICE_URL, now=server.now)
    )
    assert start.status == 200, start.text
    device = start.json()
    server.emulator.approve_device(device["user_code"])
    form = {"grant_type": DEVICE_GRANT, "client_id": CLI, "device_code": device["device_code"]}
    answer = server.post(TOKEN_URL, form, prover.proof("POST", TOKEN_URL, now=server.now))
    assert answer.json()["token_type"] == "DPoP"
    assert server.emulator.oauth_token_jkt(answer.json()["access_token"]) == prover.jkt


# -- dpop_jkt at the authorization endpoint ---------------------------------------------


def test_a_code_bound_by_dpop_jkt_is_exchanged_with_a_proof_by_that_key(
    server: Server, prover: Prover
) -> None:
    code, verifier = server.code(dpop_jkt=prover.jkt)
    answer = server.exchange(code, verifier, prover.proof("POST", TOKEN_URL, now=server.now))
    assert answer.status == 200, answer.text
    assert answer.json()["token_type"] == "DPoP"


def test_a_code_bound_by_dpop_jkt_is_refused_without_a_proof(
    server: Server, prover: Prover
) -> None:
    code, verifier = server.code(dpop_jkt=prover.jkt)
    assert "needs a DPoP proof" in refused(server.exchange(code, verifier))


def test_a_malformed_dpop_jkt_is_refused_at_the_authorization_endpoint(server: Server) -> None:
    page = server.emulator.handle(
        "GET",
        f"{BASE}/oauth/authorize?client_id={CLI}&response_type=code"
        "&redirect_uri=http://127.0.0.1/callback&code_challenge_method=S256"
        f"&code_challenge={'a' * 43}&dpop_jkt=short",
    )
    assert page.status == 302
    assert "error=invalid_request" in (page.header("Location") or "")


# -- protected resources ----------------------------------------------------------------


def test_a_bound_token_with_its_proof_reaches_the_api_and_userinfo(
    server: Server, prover: Prover
) -> None:
    code, verifier = server.code(scope="openid profile")
    token = server.exchange(code, verifier, prover.proof("POST", TOKEN_URL, now=server.now)).json()[
        "access_token"
    ]
    assert server.api(token, prover).json()["client_id"] == CLI
    proof = prover.proof("GET", USERINFO_URL, now=server.now, token=token)
    userinfo = server.get(USERINFO_URL, f"DPoP {token}", proof)
    assert userinfo.status == 200, userinfo.text
    assert userinfo.json()["sub"]


def test_a_bound_token_sent_as_bearer_is_refused(server: Server, prover: Prover) -> None:
    token = server.bound_token(prover)
    answer = server.api(token, None, scheme="Bearer")
    refused(answer, "invalid_token", 401)
    assert challenge_of(answer).startswith('DPoP algs="')
    assert 'error="invalid_token"' in challenge_of(answer)
    # A proof alongside does not make a Bearer presentation acceptable.
    assert server.api(token, prover, scheme="Bearer").status == 401


def test_a_bearer_token_sent_as_dpop_is_refused(server: Server, prover: Prover) -> None:
    token = server.client_credentials().json()["access_token"]
    refused(server.api(token, prover), "invalid_token", 401)


def test_a_bound_token_without_a_proof_is_refused(server: Server, prover: Prover) -> None:
    token = server.bound_token(prover)
    answer = server.api(token, None)
    refused(answer, "invalid_dpop_proof", 401)
    assert 'error="invalid_dpop_proof"' in challenge_of(answer)


def test_a_resource_proof_needs_the_hash_of_the_token(server: Server, prover: Prover) -> None:
    token = server.bound_token(prover)
    refused(server.api(token, prover, claims={"ath": None}), status=401)
    description = refused(server.api(token, prover, claims={"ath": "x" * 43}), status=401)
    assert "ath" in description


def test_a_resource_proof_by_another_key_is_refused(server: Server, prover: Prover) -> None:
    token = server.bound_token(prover)
    description = refused(server.api(token, Prover()), status=401)
    assert "not the token's key" in description


def test_introspection_reports_the_binding_and_the_dpop_token_type(
    server: Server, prover: Prover
) -> None:
    token = server.bound_token(prover)
    form = {"token": token, "client_id": SVC, "client_secret": SVC_SECRET}
    answer = server.post(INTROSPECT_URL, form).json()
    assert answer["active"] is True
    assert answer["token_type"] == "DPoP"
    assert answer["cnf"] == {"jkt": prover.jkt}


def test_revocation_and_introspection_accept_a_proof_and_check_it(
    server: Server, prover: Prover
) -> None:
    token = server.bound_token(prover)
    form = {"token": token, "client_id": SVC, "client_secret": SVC_SECRET}
    good = prover.proof("POST", INTROSPECT_URL, now=server.now)
    assert server.post(INTROSPECT_URL, form, good).json()["active"] is True
    wrong_place = prover.proof("POST", TOKEN_URL, now=server.now)
    refused(server.post(REVOKE_URL, form, wrong_place))
    assert server.emulator.is_valid_token(token)
    assert (
        server.post(REVOKE_URL, form, prover.proof("POST", REVOKE_URL, now=server.now)).status
        == 200
    )
    assert not server.emulator.is_valid_token(token)


# -- each check of a proof --------------------------------------------------------------


def test_a_proof_for_another_method_is_refused(server: Server, prover: Prover) -> None:
    assert "htm" in refused(
        server.client_credentials(prover.proof("GET", TOKEN_URL, now=server.now))
    )


def test_a_proof_for_another_url_is_refused(server: Server, prover: Prover) -> None:
    proof = prover.proof("POST", BASE + "/oauth/other", now=server.now)
    assert "htu" in refused(server.client_credentials(proof))
    proof = prover.proof("POST", "https://other.test/oauth/token", now=server.now)
    assert "htu" in refused(server.client_credentials(proof))
    proof = prover.proof("POST", "http://emulator.test/oauth/token", now=server.now)
    assert "htu" in refused(server.client_credentials(proof))


@pytest.mark.parametrize(
    "htu",
    [
        TOKEN_URL + "?a=1",
        TOKEN_URL + "#frag",
        "HTTPS://EMULATOR.TEST/oauth/token",
        "https://emulator.test:443/oauth/token",
        "https://emulator.test/%6fauth/token",
    ],
)
def test_a_proofs_htu_is_compared_normalised_and_without_query_or_fragment(
    server: Server, prover: Prover, htu: str
) -> None:
    answer = server.client_credentials(
        prover.proof("POST", TOKEN_URL, now=server.now, claims={"htu": htu})
    )
    assert answer.status == 200, answer.text


def test_a_proof_on_a_loopback_port_names_the_port(prover: Prover) -> None:
    server = Server()
    url = "http://127.0.0.1:8765/oauth/token"
    form = {"grant_type": "client_credentials", "client_id": SVC, "client_secret": SVC_SECRET}
    assert server.post(url, form, prover.proof("POST", url, now=server.now)).status == 200
    no_port = prover.proof("POST", "http://127.0.0.1/oauth/token", now=server.now)
    refused(server.post(url, form, no_port))


@pytest.mark.parametrize("offset", [-61, 61, -3600, 86400])
def test_a_proof_issued_outside_the_window_is_refused(
    server: Server, prover: Prover, offset: int
) -> None:
    proof = prover.proof("POST", TOKEN_URL, now=server.now + offset)
    assert "iat" in refused(server.client_credentials(proof))


@pytest.mark.parametrize("offset", [-60, 0, 60])
def test_a_proof_issued_within_the_window_is_accepted(
    server: Server, prover: Prover, offset: int
) -> None:
    assert (
        server.client_credentials(prover.proof("POST", TOKEN_URL, now=server.now + offset)).status
        == 200
    )


def test_the_iat_window_is_an_option(prover: Prover) -> None:
    clock = ManualClock()
    server = Server(clock, oauth_dpop_iat_window=5)
    proof = prover.proof("POST", TOKEN_URL, now=clock.now)
    clock.advance(6)
    refused(server.client_credentials(proof))
    server.emulator.oauth_dpop_iat_window = 300
    assert server.emulator.oauth_dpop_iat_window == 300
    assert (
        server.client_credentials(prover.proof("POST", TOKEN_URL, now=clock.now - 200)).status
        == 200
    )


@pytest.mark.parametrize(
    "claims",
    [
        {"jti": None},
        {"jti": ""},
        {"jti": 7},
        {"htm": None},
        {"htu": None},
        {"iat": None},
        {"iat": "now"},
        {"iat": True},
    ],
)
def test_a_proof_missing_a_required_claim_is_refused(
    server: Server, prover: Prover, claims: dict[str, Any]
) -> None:
    refused(
        server.client_credentials(prover.proof("POST", TOKEN_URL, now=server.now, claims=claims))
    )


@pytest.mark.parametrize("typ", [None, "JWT", "jwt", "DPOP+JWT", "dpop"])
def test_a_proof_without_the_dpop_type_is_refused(
    server: Server, prover: Prover, typ: str | None
) -> None:
    proof = prover.proof("POST", TOKEN_URL, now=server.now, header={"typ": typ})
    assert "typ" in refused(server.client_credentials(proof))


def test_a_proof_without_a_jwk_is_refused(server: Server, prover: Prover) -> None:
    proof = prover.proof("POST", TOKEN_URL, now=server.now, header={"jwk": None, "kid": "k1"})
    assert "jwk" in refused(server.client_credentials(proof))


def test_only_the_configured_algorithms_are_accepted(prover: Prover) -> None:
    server = Server(oauth_dpop_algorithms=["ES256"])
    metadata = server.emulator.handle("GET", BASE + OAUTH_METADATA_PATH).json()
    assert metadata["dpop_signing_alg_values_supported"] == ["ES256"]
    assert server.client_credentials(prover.proof("POST", TOKEN_URL, now=server.now)).status == 200
    rsa = Prover("PS256")
    assert "alg" in refused(server.client_credentials(rsa.proof("POST", TOKEN_URL, now=server.now)))


def test_the_metadata_lists_the_dpop_algorithms(server: Server) -> None:
    metadata = server.emulator.handle("GET", BASE + OAUTH_METADATA_PATH).json()
    algorithms = metadata["dpop_signing_alg_values_supported"]
    assert "ES256" in algorithms
    assert not [alg for alg in algorithms if alg == "none" or alg.startswith("HS")]


def test_a_proofs_key_must_fit_its_algorithm(server: Server) -> None:
    p384 = Prover("ES384")
    proof = Prover("ES256").proof("POST", TOKEN_URL, now=server.now, header={"jwk": p384.jwk})
    assert "P-256" in refused(server.client_credentials(proof))
    rsa = Prover("RS256")
    proof = Prover("ES256").proof("POST", TOKEN_URL, now=server.now, header={"jwk": rsa.jwk})
    refused(server.client_credentials(proof))


# -- nonces -----------------------------------------------------------------------------


def test_a_token_request_without_the_nonce_is_challenged_then_accepted_with_it(
    prover: Prover,
) -> None:
    server = Server(oauth_dpop_nonce=True)
    challenge = server.client_credentials(prover.proof("POST", TOKEN_URL, now=server.now))
    refused(challenge, "use_dpop_nonce")
    nonce = challenge.header("DPoP-Nonce")
    assert nonce
    assert nonce == server.emulator.oauth_dpop_current_nonce
    answer = server.client_credentials(prover.proof("POST", TOKEN_URL, now=server.now, nonce=nonce))
    assert answer.status == 200, answer.text
    assert answer.header("DPoP-Nonce") == nonce


def test_a_stale_nonce_is_challenged_with_the_current_one(prover: Prover) -> None:
    server = Server(oauth_dpop_nonce=True)
    old = server.emulator.oauth_dpop_current_nonce
    new = server.emulator.rotate_oauth_dpop_nonce()
    assert new != old
    challenge = server.client_credentials(
        prover.proof("POST", TOKEN_URL, now=server.now, nonce=old)
    )
    refused(challenge, "use_dpop_nonce")
    assert challenge.header("DPoP-Nonce") == new


def test_a_resource_request_without_the_nonce_is_challenged_with_401(prover: Prover) -> None:
    server = Server(oauth_dpop_nonce=True)
    token = server.bound_token(prover, nonce=server.emulator.oauth_dpop_current_nonce)
    challenge = server.api(token, prover)
    refused(challenge, "use_dpop_nonce", 401)
    assert 'error="use_dpop_nonce"' in challenge_of(challenge)
    nonce = challenge.header("DPoP-Nonce")
    assert nonce
    assert server.api(token, prover, nonce=nonce).status == 200


def test_rotating_nonces_change_with_every_answer(prover: Prover) -> None:
    server = Server(oauth_dpop_nonce=True, oauth_dpop_nonce_rotates=True)
    first = server.client_credentials(prover.proof("POST", TOKEN_URL, now=server.now))
    nonce = first.header("DPoP-Nonce")
    answer = server.client_credentials(prover.proof("POST", TOKEN_URL, now=server.now, nonce=nonce))
    assert answer.status == 200
    fresh = answer.header("DPoP-Nonce")
    assert fresh
    assert fresh != nonce
    refused(
        server.client_credentials(prover.proof("POST", TOKEN_URL, now=server.now, nonce=nonce)),
        "use_dpop_nonce",
    )


def test_without_the_nonce_option_answers_carry_no_nonce(server: Server, prover: Prover) -> None:
    answer = server.client_credentials(prover.proof("POST", TOKEN_URL, now=server.now))
    assert answer.header("DPoP-Nonce") is None


def test_a_server_that_always_challenges_never_accepts_a_proof(prover: Prover) -> None:
    server = Server(oauth_dpop_always_challenge=True)
    nonce = None
    for _ in range(3):
        answer = server.client_credentials(
            prover.proof("POST", TOKEN_URL, now=server.now, nonce=nonce)
        )
        refused(answer, "use_dpop_nonce")
        assert answer.header("DPoP-Nonce") != nonce
        nonce = answer.header("DPoP-Nonce")
    server.emulator.oauth_dpop_always_challenge = False
    assert server.client_credentials(prover.proof("POST", TOKEN_URL, now=server.now)).status == 200


# -- options ----------------------------------------------------------------------------


def test_require_dpop_refuses_a_token_request_without_a_proof(prover: Prover) -> None:
    server = Server(oauth_require_dpop=True)
    assert "required" in refused(server.client_credentials())
    assert server.client_credentials(prover.proof("POST", TOKEN_URL, now=server.now)).status == 200
    answer = server.get(API_URL)
    assert answer.status == 401
    assert challenge_of(answer).startswith('DPoP algs="')


@pytest.mark.parametrize("token_type", ["DPoP", "Bearer", "N_A"])
def test_the_token_type_option_stages_a_lying_server(prover: Prover, token_type: str) -> None:
    server = Server(oauth_token_type=token_type)
    assert server.client_credentials().json()["token_type"] == token_type
    bound = server.client_credentials(prover.proof("POST", TOKEN_URL, now=server.now)).json()
    assert bound["token_type"] == token_type
    # The binding follows the proof, whatever the answer says.
    assert server.emulator.oauth_token_jkt(bound["access_token"]) == prover.jkt


def test_the_dpop_options_are_attributes() -> None:
    emulator = Server().emulator
    assert emulator.oauth_require_dpop is False
    assert emulator.oauth_dpop_nonce is False
    assert emulator.oauth_dpop_nonce_rotates is False
    assert emulator.oauth_dpop_always_challenge is False
    assert emulator.oauth_dpop_iat_window == 60
    assert emulator.oauth_token_type is None
    assert "ES256" in emulator.oauth_dpop_algorithms
    emulator.oauth_require_dpop = True
    emulator.oauth_dpop_nonce = True
    emulator.oauth_dpop_nonce_rotates = True
    emulator.oauth_token_type = "DPoP"
    emulator.oauth_dpop_algorithms = ["EdDSA"]
    assert emulator.oauth_require_dpop
    assert emulator.oauth_dpop_nonce
    assert emulator.oauth_dpop_nonce_rotates
    assert emulator.oauth_token_type == "DPoP"
    assert emulator.oauth_dpop_algorithms == ("EdDSA",)


def test_the_emulator_and_client_agree_on_thumbprints(prover: Prover) -> None:
    from support.internals import dpop

    key = dpop.DPoPKey.generate("ES256")
    server = Server()
    answer = server.client_credentials(key.proof("POST", TOKEN_URL, now=server.now))
    assert answer.status == 200, answer.text
    assert server.emulator.oauth_token_jkt(answer.json()["access_token"]) == key.thumbprint
    token = answer.json()["access_token"]
    proof = key.proof("GET", API_URL + "?q=1", now=server.now, access_token=token)
    assert server.get(API_URL + "?q=1", f"DPoP {token}", proof).status == 200
