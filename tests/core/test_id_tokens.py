"""OpenID Connect id_tokens through the flow machine: the nonce, the key set the flow
asks for, validation failures, and the subject a refresh must keep."""

from __future__ import annotations

import json
from typing import Any

import pytest
from joserfc.jwk import KeySet

from anyoauth import (
    ConfigurationError,
    Implicit,
    InvalidIdToken,
    Token,
    TokenEndpointUnavailable,
)
from anyoauth.sansio import (
    Flow,
    KeysNeeded,
    State,
)
from support.oauth_server import (
    AUTHORIZE,
    ISSUER,
    JSON,
    JWKS,
    JWKS_URI,
    NOW,
    OTHER_RSA,
    REDIRECT,
    RSA,
    body,
    code_strategy,
    exchanging,
    id_token,
    oidc_strategy,
    started,
    state_of,
)


def test_openid_flow_sends_a_nonce_and_validates_the_id_token() -> None:
    flow, nonce = exchanging(oidc_strategy())
    assert nonce
    answer = body(access_token="at", token_type="Bearer", id_token=id_token(nonce=nonce))
    token = flow.receive_token_response(200, JSON, answer, NOW, keys=JWKS)
    assert isinstance(token, Token)
    assert token.id_token_claims is not None
    assert token.id_token_claims["sub"] == "alice"
    assert flow.state is State.HOLDING_TOKEN
    assert "alice" not in repr(token)


def test_without_keys_the_flow_asks_for_the_key_set() -> None:
    flow, nonce = exchanging(oidc_strategy())
    answer = body(access_token="at", id_token=id_token(nonce=nonce))
    needed = flow.receive_token_response(200, JSON, answer, NOW)
    assert isinstance(needed, KeysNeeded)
    assert needed.request.method == "GET"
    assert needed.request.url == JWKS_URI
    assert flow.state is State.VERIFYING
    token = flow.receive_keys(200, JSON, json.dumps(JWKS).encode(), NOW)
    assert token.id_token_claims is not None
    assert flow.keys is not None
    assert state_of(flow) is State.HOLDING_TOKEN


def test_a_rotated_signing_key_is_fetched_again() -> None:
    flow, nonce = exchanging(oidc_strategy())
    answer = body(access_token="at", id_token=id_token(OTHER_RSA, nonce=nonce))
    needed = flow.receive_token_response(200, JSON, answer, NOW, keys=JWKS)
    assert isinstance(needed, KeysNeeded)
    rotated = KeySet([RSA, OTHER_RSA]).as_dict(private=False)
    token = flow.receive_keys(200, JSON, json.dumps(rotated).encode(), NOW)
    assert token.id_token_claims is not None


def test_a_key_set_without_the_key_fails_the_flow() -> None:
    flow, nonce = exchanging(oidc_strategy())
    answer = body(access_token="at", id_token=id_token(OTHER_RSA, nonce=nonce))
    assert isinstance(flow.receive_token_response(200, JSON, answer, NOW), KeysNeeded)
    with pytest.raises(InvalidIdToken):
        flow.receive_keys(200, JSON, json.dumps(JWKS).encode(), NOW)
    assert flow.state is State.FAILED


@pytest.mark.parametrize(
    "claims",
    [
        {"nonce": "another"},
        {"iss": "https://evil.example"},
        {"aud": "other-app"},
        {"exp": int(NOW) - 3600},
    ],
)
def test_a_bad_id_token_fails_the_flow(claims: dict[str, Any]) -> None:
    flow, nonce = exchanging(oidc_strategy())
    values = {"nonce": nonce, **claims}
    answer = body(access_token="at", id_token=id_token(**values))
    with pytest.raises(InvalidIdToken) as caught:
        flow.receive_token_response(200, JSON, answer, NOW, keys=JWKS)
    assert flow.state is State.FAILED
    assert nonce not in str(caught.value)


def test_a_missing_id_token_fails_an_openid_flow() -> None:
    flow, _ = exchanging(oidc_strategy())
    with pytest.raises(InvalidIdToken, match="no id_token"):
        flow.receive_token_response(200, JSON, body(access_token="at"), NOW, keys=JWKS)


def test_an_unverifiable_id_token_is_dropped_never_handed_out() -> None:
    strategy = code_strategy(scope="openid")
    flow, params = exchanging(strategy)
    assert params == ""  # no nonce: nothing can check the id_token
    answer = body(access_token="at", id_token=id_token(nonce="x"), other="kept")
    token = flow.receive_token_response(200, JSON, answer, NOW)
    assert isinstance(token, Token)
    assert "id_token" not in token.extra
    assert token.extra["other"] == "kept"
    assert token.id_token_claims is None


def test_implicit_does_not_hand_out_an_unverified_id_token() -> None:
    strategy = Implicit(
        client_id="app",
        authorization_endpoint=AUTHORIZE,
        redirect_uri=REDIRECT,
        issuer=ISSUER,
        jwks_uri=JWKS_URI,
        scope="openid",
    )
    assert strategy.verifies_id_tokens
    flow, params = started(strategy)
    forged = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9."
    url = f"{REDIRECT}#access_token=at&token_type=bearer&state={params['state']}&id_token={forged}"
    token = flow.receive_redirect(strategy.read_redirect(url), NOW)
    assert isinstance(token, Token)
    assert token.access_token == "at"
    assert "id_token" not in token.extra
    assert token.id_token_claims is None
    assert flow.state is State.HOLDING_TOKEN


def test_symmetric_or_none_id_token_algorithms_cannot_be_configured() -> None:
    for algorithms in (("HS256",), ("none",), ()):
        with pytest.raises(ConfigurationError):
            oidc_strategy(id_token_algorithms=algorithms)


# -- refreshes -------------------------------------------------------------------------


def test_flow_refresh_after_oidc_code_exchange() -> None:
    flow, nonce = exchanging(oidc_strategy())
    answer = body(access_token="a1", refresh_token="r1", id_token=id_token(nonce=nonce))
    first = flow.receive_token_response(200, JSON, answer, NOW, keys=JWKS)
    assert isinstance(first, Token)
    assert flow.pending is None
    flow.refresh(NOW + 20)
    # OIDC 12.2: a refresh answer may have no id_token, and one it has carries no nonce.
    second = flow.receive_token_response(
        200, JSON, body(access_token="a2", refresh_token="r2"), NOW + 20, keys=JWKS
    )
    assert isinstance(second, Token)
    assert second.id_token_claims is not None
    assert second.id_token_claims["sub"] == "alice"
    flow.refresh(NOW + 40)
    third = flow.receive_token_response(
        200, JSON, body(access_token="a3", id_token=id_token()), NOW + 40, keys=JWKS
    )
    assert isinstance(third, Token)
    assert third.refresh_token == "r2"


def test_a_refreshed_id_token_must_name_the_same_subject() -> None:
    strategy = oidc_strategy()
    held = Token(
        access_token="old",
        issued_at=NOW - 100,
        expires_at=NOW - 1,
        refresh_token="r",
        id_token_claims={"sub": "alice"},
    )
    flow = Flow.holding(strategy, held)
    flow.refresh(NOW)
    answer = body(access_token="new", id_token=id_token(sub="mallory"))
    with pytest.raises(InvalidIdToken, match="another subject"):
        flow.receive_token_response(200, JSON, answer, NOW, keys=JWKS)
    flow = Flow.holding(strategy, held)
    flow.refresh(NOW)
    token = flow.receive_token_response(200, JSON, body(access_token="new"), NOW, keys=JWKS)
    assert isinstance(token, Token)
    assert token.refresh_token == "r"


def test_the_subject_binding_survives_a_refresh_without_id_token() -> None:
    strategy = oidc_strategy()
    held = Token(
        access_token="a1",
        refresh_token="r1",
        issued_at=NOW - 100,
        expires_at=NOW - 1,
        id_token_claims={"sub": "alice", "iss": ISSUER},
    )
    flow = Flow.holding(strategy, held)
    flow.refresh(NOW)
    second = flow.receive_token_response(200, JSON, body(access_token="a2"), NOW, keys=JWKS)
    assert isinstance(second, Token)
    assert second.refresh_token == "r1"
    assert second.id_token_claims is not None
    assert second.id_token_claims["sub"] == "alice"
    flow.refresh(NOW)
    answer = body(access_token="a3", id_token=id_token(sub="mallory"))
    with pytest.raises(InvalidIdToken, match="another subject"):
        flow.receive_token_response(200, JSON, answer, NOW, keys=JWKS)
    assert flow.state is State.FAILED


def test_a_refreshed_id_token_replaces_the_carried_claims() -> None:
    held = Token(
        access_token="a1", refresh_token="r1", issued_at=NOW, id_token_claims={"sub": "alice"}
    )
    flow = Flow.holding(oidc_strategy(), held)
    flow.refresh(NOW)
    answer = body(access_token="a2", id_token=id_token(sub="alice", name="Alice"))
    token = flow.receive_token_response(200, JSON, answer, NOW, keys=JWKS)
    assert isinstance(token, Token)
    assert token.id_token_claims is not None
    assert token.id_token_claims.get("name") == "Alice"


def test_a_key_set_outage_keeps_a_refreshed_token_without_its_id_token() -> None:
    held = Token(
        access_token="old",
        issued_at=NOW - 100,
        expires_at=NOW - 1,
        refresh_token="r1",
        id_token_claims={"sub": "alice"},
    )
    flow = Flow.holding(oidc_strategy(), held)
    flow.refresh(NOW)
    answer = body(access_token="new", refresh_token="r2", id_token=id_token(OTHER_RSA))
    assert isinstance(flow.receive_token_response(200, JSON, answer, NOW, keys=JWKS), KeysNeeded)
    token = flow.keys_unavailable(TokenEndpointUnavailable("key set down"), NOW)
    assert token.refresh_token == "r2"  # the rotated refresh token is not lost
    assert "id_token" not in token.extra  # the unchecked id_token is not handed out
    assert token.id_token_claims == {"sub": "alice"}
    assert state_of(flow) is State.HOLDING_TOKEN


def test_a_key_set_outage_fails_a_login() -> None:
    flow, nonce = exchanging(oidc_strategy())
    answer = body(access_token="at", id_token=id_token(OTHER_RSA, nonce=nonce))
    assert isinstance(flow.receive_token_response(200, JSON, answer, NOW, keys=JWKS), KeysNeeded)
    with pytest.raises(TokenEndpointUnavailable):
        flow.keys_unavailable(TokenEndpointUnavailable("key set down"), NOW)
    assert state_of(flow) is State.FAILED
