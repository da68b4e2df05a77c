"""Signed request objects (RFC 9101) in the core: what they carry, where they go, which
keys and algorithms sign them."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from joserfc import jws
from joserfc.jwk import ECKey, OKPKey, RSAKey

from anyoauth import AuthorizationCode, ConfigurationError, PrivateKeyJwt
from anyoauth.sansio import Flow, PushNeeded, ServerMetadata, State

NOW = 1_700_000_000.0
ISSUER = "https://as.example"
RSA = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"}, private=True)
EC = ECKey.generate_key("P-256", parameters={"kid": "ec-1"}, private=True)
ED = OKPKey.generate_key("Ed25519", private=True)


def strategy(**settings: Any) -> AuthorizationCode:
    values: dict[str, Any] = {
        "client_id": "app",
        "issuer": ISSUER,
        "authorization_endpoint": ISSUER + "/authorize",
        "token_endpoint": ISSUER + "/token",
        "pushed_authorization_request_endpoint": ISSUER + "/par",
        "redirect_uri": "https://app.example/cb",
        "scope": "profile",
        "sign_request_object": True,
        "request_object_key": EC,
    }
    values.update(settings)
    return AuthorizationCode(**values)


def decode(token: str, key: Any, algorithm: str) -> tuple[dict[str, Any], dict[str, Any]]:
    verified = jws.deserialize_compact(token, key, algorithms=[algorithm])
    return dict(verified.protected), json.loads(verified.payload)


def test_a_request_object_carries_every_authorization_parameter() -> None:
    flow = Flow(strategy(scope="openid profile", jwks_uri=ISSUER + "/jwks"))
    start = flow.begin(NOW)
    assert not isinstance(start, PushNeeded)
    query = dict(parse_qsl(urlsplit(start.url).query))
    header, claims = decode(query["request"], EC, "ES256")
    assert header == {"alg": "ES256", "typ": "oauth-authz-req+jwt", "kid": "ec-1"}
    assert claims["iss"] == "app"
    assert claims["aud"] == ISSUER
    assert claims["iat"] == claims["nbf"] == int(NOW)
    assert claims["exp"] == int(NOW) + 60
    assert claims["jti"]
    assert claims["client_id"] == "app"
    assert claims["response_type"] == "code"
    assert claims["redirect_uri"] == "https://app.example/cb"
    assert claims["scope"] == "openid profile"
    assert claims["state"] == start.pending.state
    assert claims["nonce"] == start.pending.nonce
    assert claims["code_challenge_method"] == "S256"
    assert len(claims["code_challenge"]) == 43


def test_by_value_the_url_carries_only_client_id_and_request() -> None:
    start = Flow(strategy()).start(NOW)
    assert [name for name, _ in parse_qsl(urlsplit(start.url).query)] == ["client_id", "request"]


def test_an_openid_request_repeats_response_type_and_scope_outside() -> None:
    start = Flow(strategy(scope="openid", jwks_uri=ISSUER + "/jwks")).start(NOW)
    query = dict(parse_qsl(urlsplit(start.url).query))
    assert set(query) == {"client_id", "request", "response_type", "scope"}
    assert query["scope"] == "openid"


def test_every_request_object_has_its_own_jti() -> None:
    signed = strategy()
    ids = set()
    for _ in range(5):
        query = dict(parse_qsl(urlsplit(Flow(signed).start(NOW).url).query))
        ids.add(decode(query["request"], EC, "ES256")[1]["jti"])
    assert len(ids) == 5


def test_through_par_the_push_carries_client_id_and_request() -> None:
    signed = strategy(
        push_authorization_request=True,
        client_auth="private_key_jwt",
        client_key=RSA,
        request_object_key=None,
    )
    flow = Flow(signed)
    started = flow.begin(NOW)
    assert isinstance(started, PushNeeded)
    assert flow.state is State.PUSHING
    pairs = parse_qsl(started.request.content.decode())
    names = [name for name, _ in pairs]
    assert names.count("client_id") == 1
    assert set(names) == {"client_id", "request", "client_assertion", "client_assertion_type"}
    header, claims = decode(dict(pairs)["request"], RSA, "RS256")
    assert header["typ"] == "oauth-authz-req+jwt"
    assert claims["state"] == started.pending.state


@pytest.mark.parametrize(("key", "algorithm"), [(RSA, "PS256"), (EC, "ES256"), (ED, "EdDSA")])
def test_the_algorithm_comes_from_the_key(key: Any, algorithm: str) -> None:
    assert strategy(request_object_key=key).request_object_signing_algorithm == algorithm


def test_the_private_key_jwt_key_and_algorithm_sign_by_default() -> None:
    signed = strategy(
        request_object_key=None,
        client_auth=PrivateKeyJwt("ES256", key=EC.as_dict(private=True)),
    )
    assert signed.request_object_signing_algorithm == "ES256"


@pytest.mark.parametrize("algorithm", ["none", "HS256", "RS1", "dir"])
def test_none_and_symmetric_algorithms_are_refused(algorithm: str) -> None:
    with pytest.raises(ConfigurationError, match="never none or HS"):
        strategy(request_object_algorithm=algorithm)


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"request_object_key": None}, "request_object_key"),
        ({"issuer": None}, "issuer"),
        ({"request_object_key": EC.as_dict(private=False)}, "not a public key"),
        ({"request_object_algorithm": "PS256"}, "does not fit"),
        ({"request_object_key": "not a key"}, "private RSA"),
        ({"request_object_lifetime": 0}, "lifetime"),
        ({"request_object_lifetime": 7200}, "lifetime"),
    ],
)
def test_unusable_signing_settings_are_refused(settings: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        strategy(**settings)


def test_a_parameter_that_would_replace_a_claim_is_refused() -> None:
    flow = Flow(strategy(extra_authorization_params={"aud": "https://other.example"}))
    with pytest.raises(ConfigurationError, match="aud"):
        flow.start(NOW)
    assert flow.state is State.FAILED


def test_the_url_needs_the_time_when_it_signs() -> None:
    with pytest.raises(ConfigurationError, match="now"):
        strategy().authorization_url(state="s", code_challenge=None)


def test_the_key_is_never_shown() -> None:
    signed = strategy(request_object_key=EC.as_dict(private=True))
    private = str(EC.as_dict(private=True)["d"])
    assert private not in repr(signed)
    assert private not in repr(signed._request_signer)


def _metadata(**fields: Any) -> ServerMetadata:
    document = {
        "issuer": ISSUER,
        "authorization_endpoint": ISSUER + "/authorize",
        "token_endpoint": ISSUER + "/token",
        **fields,
    }
    return ServerMetadata.from_dict(document, issuer=ISSUER)


def test_metadata_that_requires_signing_turns_it_on_with_an_accepted_algorithm() -> None:
    metadata = _metadata(
        require_signed_request_object=True,
        request_object_signing_alg_values_supported=["RS256", "PS256"],
    )
    configured = AuthorizationCode.from_metadata(
        metadata,
        client_id="app",
        redirect_uri="https://app.example/cb",
        client_auth="private_key_jwt",
        client_key=RSA,
    )
    assert configured.signs_request_object
    assert configured.request_object_signing_algorithm == "RS256"
    other = AuthorizationCode.from_metadata(
        metadata, client_id="app", redirect_uri="https://app.example/cb", request_object_key=RSA
    )
    assert other.request_object_signing_algorithm == "PS256"


def test_metadata_whose_algorithms_fit_no_key_is_refused() -> None:
    metadata = _metadata(
        require_signed_request_object=True, request_object_signing_alg_values_supported=["ES256"]
    )
    with pytest.raises(ConfigurationError, match="ES256"):
        AuthorizationCode.from_metadata(
            metadata, client_id="app", redirect_uri="https://app.example/cb", request_object_key=RSA
        )


def test_signing_stays_off_unless_asked_for() -> None:
    configured = AuthorizationCode.from_metadata(
        _metadata(request_object_signing_alg_values_supported=["PS256"]),
        client_id="app",
        redirect_uri="https://app.example/cb",
    )
    assert not configured.signs_request_object
    assert configured.request_object_signing_algorithm is None


def test_every_attempt_of_a_push_carries_its_own_request_object() -> None:
    started = Flow(strategy(push_authorization_request=True, client_secret="s" * 32)).begin(NOW)
    assert isinstance(started, PushNeeded)
    first = started.request
    assert first.rebuild is not None
    again = first.rebuild(NOW + 2)
    objects = [dict(parse_qsl(r.content.decode()))["request"] for r in (first, again)]
    claims = [decode(o, EC, "ES256")[1] for o in objects]
    assert claims[0]["jti"] != claims[1]["jti"]
    assert claims[1]["iat"] == int(NOW) + 2
    assert claims[0]["state"] == claims[1]["state"]
    assert again.rebuild is not None
