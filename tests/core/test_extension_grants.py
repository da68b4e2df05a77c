"""The extension grant strategies, sans-IO: the token exchange request (RFC 8693) and the
checks of its answer, and the JWT bearer grant's assertion (RFC 7523), signed anew for
every request and every retry."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import attrs
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from anyoauth import (
    ConfigurationError,
    DPoPKey,
    InvalidResponse,
    JwtBearer,
    TokenExchange,
    UserStep,
    plugins,
    providers,
)
from anyoauth.sansio import (
    ACCESS_TOKEN_TYPE,
    ID_TOKEN_TYPE,
    JWT_BEARER_GRANT,
    REFRESH_TOKEN_TYPE,
    TOKEN_EXCHANGE_GRANT,
)

SECRET = "SENTINEL-SECRET-d00d"
SUBJECT_TOKEN = "SUBJECT-TOKEN-SENTINEL-0123"
ACTOR_TOKEN = "ACTOR-TOKEN-SENTINEL-4567"
TOKEN_URL = "https://idp.example/token"
ISSUER = "https://idp.example"
NOW = 1_700_000_000.0
RSA = RSAKey.generate_key(2048, parameters={"kid": "svc-1"}, private=True)


def exchange(**settings: Any) -> TokenExchange:
    values: dict[str, Any] = {
        "client_id": "api-gateway",
        "client_secret": SECRET,
        "token_endpoint": TOKEN_URL,
        "subject_token": SUBJECT_TOKEN,
    }
    return TokenExchange(**{**values, **settings})


def body(request: Any) -> dict[str, list[str]]:
    return parse_qs(request.content.decode())


def answer(**fields: Any) -> bytes:
    payload = {"access_token": "issued-token", "token_type": "Bearer", "expires_in": 300}
    payload.update(fields)
    return json.dumps({k: v for k, v in payload.items() if v is not None}).encode()


# -- token exchange --------------------------------------------------------------------------


def test_exchange_request_carries_every_parameter_once_and_repeats_targets() -> None:
    strategy = exchange(
        actor_token=ACTOR_TOKEN,
        actor_token_type=ACCESS_TOKEN_TYPE,
        requested_token_type=ACCESS_TOKEN_TYPE,
        resource=["https://api.one.example/", "urn:example:two"],
        audience=("orders", "billing"),
        scope="read write",
        token_params={"extra": "1"},
    )
    assert strategy.user_step is UserStep.NONE
    assert strategy.has_direct_grant
    sent = body(strategy.direct_token_request(now=NOW))
    assert sent == {
        "grant_type": [TOKEN_EXCHANGE_GRANT],
        "subject_token": [SUBJECT_TOKEN],
        "subject_token_type": [ACCESS_TOKEN_TYPE],
        "actor_token": [ACTOR_TOKEN],
        "actor_token_type": [ACCESS_TOKEN_TYPE],
        "requested_token_type": [ACCESS_TOKEN_TYPE],
        "resource": ["https://api.one.example/", "urn:example:two"],
        "audience": ["orders", "billing"],
        "scope": ["read write"],
        "extra": ["1"],
    }


def test_exchange_request_knows_the_subject_and_actor_tokens_are_secrets() -> None:
    strategy = exchange(actor_token=ACTOR_TOKEN, actor_token_type=ACCESS_TOKEN_TYPE)
    request = strategy.direct_token_request(now=NOW)
    assert {SUBJECT_TOKEN, ACTOR_TOKEN} <= request.secrets
    assert SUBJECT_TOKEN not in repr(strategy)
    assert ACTOR_TOKEN not in repr(strategy)
    assert SUBJECT_TOKEN not in repr(request)


@pytest.mark.parametrize(
    "settings",
    [
        {"token_endpoint": None},
        {"subject_token": ""},
        {"subject_token": "has space"},
        {"actor_token": ACTOR_TOKEN},
        {"actor_token_type": ACCESS_TOKEN_TYPE},
        {"subject_token_type": "bad type"},
        {"resource": ["https://api.example/#frag"]},
        {"resource": ["relative/path"]},
        {"audience": [""]},
    ],
)
def test_exchange_refuses_incomplete_or_malformed_settings(settings: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError) as refused:
        exchange(**settings)
    assert SUBJECT_TOKEN not in str(refused.value)


def test_exchange_answer_keeps_issued_token_type_on_the_token() -> None:
    strategy = exchange()
    token = strategy.parse_token_response(
        200, "application/json", answer(issued_token_type=ACCESS_TOKEN_TYPE), NOW
    )
    assert token.extra["issued_token_type"] == ACCESS_TOKEN_TYPE
    assert token.token_type == "Bearer"


def test_exchange_answer_without_issued_token_type_is_refused() -> None:
    with pytest.raises(InvalidResponse, match="issued_token_type"):
        exchange().parse_token_response(200, "application/json", answer(), NOW)


@pytest.mark.parametrize("issued", [7, "", "has space", "x" * 300])
def test_exchange_answer_with_a_malformed_issued_token_type_is_refused(issued: object) -> None:
    with pytest.raises(InvalidResponse):
        exchange().parse_token_response(
            200, "application/json", answer(issued_token_type=issued or None), NOW
        )


def test_exchange_answer_of_another_type_than_requested_is_refused() -> None:
    strategy = exchange(requested_token_type=ACCESS_TOKEN_TYPE)
    with pytest.raises(InvalidResponse, match="is not the"):
        strategy.parse_token_response(
            200, "application/json", answer(issued_token_type=JWT_BEARER_GRANT), NOW
        )


@pytest.mark.parametrize("issued", [ID_TOKEN_TYPE, REFRESH_TOKEN_TYPE])
def test_a_token_that_is_no_access_token_typed_bearer_is_refused(issued: str) -> None:
    with pytest.raises(InvalidResponse, match="N_A"):
        exchange().parse_token_response(
            200, "application/json", answer(issued_token_type=issued), NOW
        )


def test_n_a_token_is_accepted_by_token_exchange_only() -> None:
    strategy = exchange(requested_token_type=ID_TOKEN_TYPE)
    token = strategy.parse_token_response(
        200, "application/json", answer(token_type="N_A", issued_token_type=ID_TOKEN_TYPE), NOW
    )
    assert token.token_type == "N_A"
    assert strategy.can_use(token)
    other = JwtBearer(client_id="svc", token_endpoint=TOKEN_URL, client_key=RSA)
    assert not other.can_use(token)
    with pytest.raises(InvalidResponse):
        other.parse_token_response(200, "application/json", answer(token_type="N_A"), NOW)


def test_exchange_is_renewed_by_exchanging_again_not_by_refresh() -> None:
    strategy = exchange()
    token = strategy.parse_token_response(
        200,
        "application/json",
        answer(issued_token_type=ACCESS_TOKEN_TYPE, refresh_token="r-1"),
        NOW,
    )
    assert token.refresh_token == "r-1"
    assert strategy.refresh_request(token, now=NOW) is None


def test_each_exchange_has_a_store_namespace_of_its_own() -> None:
    one = exchange()
    assert one.store_namespace.startswith("token-exchange:api-gateway:")
    assert SUBJECT_TOKEN not in one.store_namespace
    others = [
        attrs.evolve(one, subject_token="another-subject"),
        exchange(audience="orders"),
        exchange(requested_token_type=ID_TOKEN_TYPE),
        exchange(scope="read"),
    ]
    assert len({one.store_namespace, *(o.store_namespace for o in others)}) == 5
    assert exchange().store_namespace == one.store_namespace


def test_exchange_request_carries_a_dpop_proof() -> None:
    key = DPoPKey.generate()
    request = exchange(dpop_key=key).direct_token_request(now=NOW)
    assert dict(request.headers)["DPoP"].count(".") == 2
    assert request.rebuild is not None


def test_keycloak_token_exchange_preset_uses_the_realm_token_endpoint() -> None:
    strategy = providers.KeycloakTokenExchange(
        "https://kc.example/",
        "demo",
        "requester",
        SECRET,
        subject_token=SUBJECT_TOKEN,
        audience="target-client",
        requested_token_type=ID_TOKEN_TYPE,
    )
    assert strategy.token_endpoint == (
        "https://kc.example/realms/demo/protocol/openid-connect/token"
    )
    assert strategy.issuer == "https://kc.example/realms/demo"
    sent = body(strategy.direct_token_request(now=NOW))
    assert sent["audience"] == ["target-client"]
    assert sent["subject_token_type"] == [ACCESS_TOKEN_TYPE]
    assert sent["requested_token_type"] == [ID_TOKEN_TYPE]
    with pytest.raises(ConfigurationError):
        providers.KeycloakTokenExchange(client_id="c", subject_token=SUBJECT_TOKEN)


def test_extension_grants_are_in_the_plugin_registry() -> None:
    registry = plugins.strategies()
    assert registry["token-exchange"] is TokenExchange
    assert registry["jwt-bearer"] is JwtBearer
    assert registry["keycloak-token-exchange"] is providers.KeycloakTokenExchange


# -- the JWT bearer grant --------------------------------------------------------------------


def grant_claims(request: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    assertion = body(request)["assertion"][0]
    token = jwt.decode(assertion, RSA, algorithms=["PS256", "RS256"])
    return dict(token.header), dict(token.claims)


def test_jwt_bearer_assertion_names_issuer_subject_and_audience() -> None:
    strategy = JwtBearer(
        client_id="svc",
        token_endpoint=TOKEN_URL,
        issuer=ISSUER,
        assertion_key=RSA,
        subject="user-42",
        assertion_issuer="workload-7",
        assertion_claims={"tenant": "t1"},
        scope="read",
    )
    request = strategy.direct_token_request(now=NOW)
    sent = body(request)
    assert sent["grant_type"] == [JWT_BEARER_GRANT]
    assert sent["scope"] == ["read"]
    assert sent["client_id"] == ["svc"]  # no client authentication: client_id only
    header, claims = grant_claims(request)
    assert header == {"alg": "PS256", "typ": "JWT", "kid": "svc-1"}
    assert claims["iss"] == "workload-7"
    assert claims["sub"] == "user-42"
    assert claims["aud"] == ISSUER
    assert claims["tenant"] == "t1"
    assert claims["iat"] == int(NOW)
    assert claims["exp"] == int(NOW) + 60
    assert len(claims["jti"]) >= 32


def test_jwt_bearer_defaults_to_the_client_and_the_token_endpoint() -> None:
    strategy = JwtBearer(client_id="svc", token_endpoint=TOKEN_URL, client_key=RSA)
    _, claims = grant_claims(strategy.direct_token_request(now=NOW))
    assert claims["iss"] == claims["sub"] == "svc"
    assert claims["aud"] == TOKEN_URL
    endpoint = attrs.evolve(strategy, issuer=ISSUER, assertion_audience="endpoint")
    assert grant_claims(endpoint.direct_token_request(now=NOW))[1]["aud"] == TOKEN_URL


def test_jwt_bearer_signs_anew_for_every_request_and_retry() -> None:
    strategy = JwtBearer(client_id="svc", token_endpoint=TOKEN_URL, client_key=RSA)
    first = strategy.direct_token_request(now=NOW)
    assert first.rebuild is not None
    retry = first.rebuild(NOW + 5)
    again = retry.rebuild(NOW + 9) if retry.rebuild is not None else None
    renewal = strategy.direct_token_request(now=NOW + 3600)
    jtis = {grant_claims(r)[1]["jti"] for r in (first, retry, again, renewal) if r is not None}
    assert len(jtis) == 4
    assert grant_claims(retry)[1]["iat"] == int(NOW + 5)
    assert body(first)["assertion"][0] in first.secrets


def test_jwt_bearer_with_client_authentication_and_dpop() -> None:
    strategy = JwtBearer(
        client_id="svc",
        token_endpoint=TOKEN_URL,
        issuer=ISSUER,
        client_auth="private_key_jwt",
        client_key=RSA,
        dpop_key=DPoPKey.generate(),
    )
    first = strategy.direct_token_request(now=NOW)
    sent = body(first)
    assert "client_assertion" in sent
    assert "assertion" in sent
    assert sent["client_assertion"] != sent["assertion"]
    assert "DPoP" in dict(first.headers)
    assert first.rebuild is not None
    retry = first.rebuild(NOW + 1)
    assert body(retry)["assertion"] != sent["assertion"]
    assert dict(retry.headers)["DPoP"] != dict(first.headers)["DPoP"]


def test_jwt_bearer_picks_the_algorithm_from_the_key() -> None:
    ec = ECKey.generate_key("P-256", private=True)
    strategy = JwtBearer(client_id="svc", token_endpoint=TOKEN_URL, assertion_key=ec)
    assert strategy.assertion_signing_algorithm == "ES256"


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"assertion_key": RSA, "assertion_algorithm": "HS256"},
        {"assertion_key": RSA, "assertion_algorithm": "ES256"},
        {"assertion_key": RSA, "assertion_lifetime": 0},
        {"assertion_key": RSA, "assertion_lifetime": 7200},
        {"assertion_key": RSA, "assertion_claims": {"aud": "elsewhere"}},
        {"assertion_key": RSA, "subject": ""},
        {"assertion_key": RSA, "token_endpoint": None},
    ],
)
def test_jwt_bearer_refuses_bad_settings(settings: dict[str, Any]) -> None:
    values: dict[str, Any] = {"client_id": "svc", "token_endpoint": TOKEN_URL}
    with pytest.raises(ConfigurationError):
        JwtBearer(**{**values, **settings})


def test_jwt_bearer_key_never_shows_in_a_repr() -> None:
    strategy = JwtBearer(client_id="svc", token_endpoint=TOKEN_URL, assertion_key=RSA)
    private = RSA.as_dict(private=True)["d"]
    assert str(private) not in repr(strategy)
