"""Attacks on the emulated Keycloak's DPoP-bound tokens and pushed requests (Bank of
Georgia's realm): a stolen bound token replayed as a bearer token, with no proof, with
another key's proof, with a proof for another URL or another token, or with a replayed
proof; a token request with a bad proof; a pushed request used twice, by another client,
or after it expired. Each must be refused, so a bank client tested against the emulator
is tested against a server that refuses what an attacker would try."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlencode

import pytest

from anyoauth.testing import BOG_ACCOUNTS_PATH, ManualClock, ProviderEmulator
from support.dpop_proofs import Prover

BANK = "https://account.bog.test"
REALM = BANK + "/auth/realms/bog/protocol/openid-connect"
TOKEN_URL = REALM + "/token"
PAR_URL = REALM + "/ext/par/request"
ACCOUNTS = BANK + BOG_ACCOUNTS_PATH
SECRET = "bog-secret-SENTINEL-0123456789"
REDIRECT = "https://app.example/bog"


class Bank:
    """The emulated bank driven through ``handle()``: ``bog-client`` and ``other``."""

    def __init__(self) -> None:
        self.clock = ManualClock()
        self.emulator = ProviderEmulator(clock=self.clock, base_url=BANK)
        for client_id in ("bog-client", "other"):
            self.emulator.add_keycloak_client(client_id, SECRET, redirect_uris=[REDIRECT])

    @property
    def now(self) -> float:
        return self.clock.now

    def post(
        self, url: str, form: dict[str, str], proof: str | None, client_id: str = "bog-client"
    ) -> Any:
        basic = base64.b64encode(f"{client_id}:{SECRET}".encode()).decode()
        headers = [
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Authorization", f"Basic {basic}"),
        ]
        if proof is not None:
            headers.append(("DPoP", proof))
        return self.emulator.handle("POST", url, headers, urlencode(form).encode())

    def token(self, proof: str | None) -> Any:
        return self.post(TOKEN_URL, {"grant_type": "client_credentials"}, proof)

    def bound_token(self, prover: Prover) -> str:
        answer = self.token(prover.proof("POST", TOKEN_URL, now=self.now))
        assert answer.status == 200, answer.text
        assert answer.json()["token_type"] == "DPoP"
        token: str = answer.json()["access_token"]
        return token

    def accounts(self, authorization: str, proof: str | None = None) -> Any:
        headers = [("Authorization", authorization)]
        if proof is not None:
            headers.append(("DPoP", proof))
        return self.emulator.handle("GET", ACCOUNTS, headers)


@pytest.fixture
def bank() -> Bank:
    return Bank()


def refused(answer: Any, error: str, status: int = 401) -> None:
    assert answer.status == status, answer.text
    assert answer.json()["error"] == error
    if status == 401:
        assert answer.header("WWW-Authenticate").startswith("DPoP ")


def test_a_stolen_bound_bank_token_replayed_as_bearer_is_refused(bank: Bank) -> None:
    owner = Prover()
    token = bank.bound_token(owner)
    refused(bank.accounts(f"Bearer {token}"), "invalid_token")
    refused(bank.accounts(f"DPoP {token}"), "invalid_dpop_proof")
    # The owner still gets through.
    proof = owner.proof("GET", ACCOUNTS, now=bank.now, token=token)
    assert bank.accounts(f"DPoP {token}", proof).status == 200


def test_a_stolen_bound_bank_token_is_useless_with_another_key(bank: Bank) -> None:
    owner, attacker = Prover(), Prover()
    token = bank.bound_token(owner)
    own_key = attacker.proof("GET", ACCOUNTS, now=bank.now, token=token)
    refused(bank.accounts(f"DPoP {token}", own_key), "invalid_dpop_proof")
    forged = attacker.proof("GET", ACCOUNTS, now=bank.now, token=token, header={"jwk": owner.jwk})
    refused(bank.accounts(f"DPoP {token}", forged), "invalid_dpop_proof")


def test_a_bank_proof_for_another_url_token_or_time_is_refused(bank: Bank) -> None:
    owner = Prover()
    token = bank.bound_token(owner)
    other = bank.bound_token(owner)
    for proof in (
        owner.proof("GET", TOKEN_URL, now=bank.now, token=token),
        owner.proof("POST", ACCOUNTS, now=bank.now, token=token),
        owner.proof("GET", ACCOUNTS, now=bank.now, token=other),
        owner.proof("GET", ACCOUNTS, now=bank.now),
        owner.proof("GET", ACCOUNTS, now=bank.now - 60, token=token),
    ):
        refused(bank.accounts(f"DPoP {token}", proof), "invalid_dpop_proof")


def test_a_replayed_bank_proof_is_refused(bank: Bank) -> None:
    owner = Prover()
    token = bank.bound_token(owner)
    proof = owner.proof("GET", ACCOUNTS, now=bank.now, token=token)
    assert bank.accounts(f"DPoP {token}", proof).status == 200
    refused(bank.accounts(f"DPoP {token}", proof), "invalid_dpop_proof")
    token_proof = owner.proof("POST", TOKEN_URL, now=bank.now)
    assert bank.token(token_proof).status == 200
    refused(bank.token(token_proof), "invalid_dpop_proof", 400)


def test_a_bank_token_request_with_a_bad_proof_issues_nothing(bank: Bank) -> None:
    owner = Prover()
    for proof in (
        "not-a-jwt",
        owner.proof("POST", ACCOUNTS, now=bank.now),
        owner.proof("GET", TOKEN_URL, now=bank.now),
        owner.proof("POST", TOKEN_URL, now=bank.now, header={"typ": "JWT"}),
        owner.proof("POST", TOKEN_URL, now=bank.now - 60),
    ):
        answer = bank.token(proof)
        refused(answer, "invalid_dpop_proof", 400)
        assert "access_token" not in answer.json()
    assert bank.emulator.calls["keycloak.token"] == 5


def test_a_bearer_bank_token_sent_as_dpop_is_refused(bank: Bank) -> None:
    answer = bank.token(None)
    token = answer.json()["access_token"]
    assert answer.json()["token_type"] == "bearer"
    proof = Prover().proof("GET", ACCOUNTS, now=bank.now, token=token)
    refused(bank.accounts(f"DPoP {token}", proof), "invalid_token")
    assert bank.accounts(f"Bearer {token}").status == 200


def test_a_pushed_bank_request_works_once_for_its_client_until_it_expires(bank: Bank) -> None:
    form = {
        "client_id": "bog-client",
        "response_type": "token",
        "redirect_uri": REDIRECT,
        "scope": "corp",
        "state": "s1",
    }

    def push() -> str:
        answer = bank.post(PAR_URL, form, None)
        assert answer.status == 201, answer.text
        uri: str = answer.json()["request_uri"]
        return uri

    def authorize(client_id: str, request_uri: str) -> Any:
        query = urlencode({"client_id": client_id, "request_uri": request_uri})
        return bank.emulator.handle("GET", f"{REALM}/auth?{query}", [])

    uri = push()
    assert authorize("other", uri).status == 400  # another client's request_uri
    assert authorize("bog-client", uri).status == 200  # the consent page
    assert authorize("bog-client", uri).status == 400  # used up
    late = push()
    bank.clock.advance(61)
    assert authorize("bog-client", late).status == 400  # expired
    # A push naming an unregistered redirect_uri, or carrying a request_uri, is refused.
    evil = bank.post(PAR_URL, {**form, "redirect_uri": "https://evil.example/"}, None)
    assert evil.status == 400
    nested = bank.post(PAR_URL, {**form, "request_uri": uri}, None)
    assert nested.status == 400
    wrong_client = bank.post(PAR_URL, form, None, client_id="other")
    assert wrong_client.status == 400
