"""Signed authorization responses (JARM) in the core: the JWT's validation, the strategy
settings that ask for a response mode, and the flow that believes a signed response only
once it is verified.

Responses under test are signed with joserfc (or by hand), not with the code under test.
"""

from __future__ import annotations

import base64
import functools
import json
from typing import Any
from urllib.parse import urlencode

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, Key, OctKey, RSAKey

from anyoauth import (
    AuthorizationCode,
    ConfigurationError,
    Implicit,
    InvalidAuthorizationResponse,
    StateMismatch,
    StateMissing,
)
from anyoauth.sansio import (
    Flow,
    HttpRequest,
    KeysNeeded,
    Redirect,
    ResponseLocation,
    State,
    pending_key,
    validate_authorization_response,
)
from anyoauth.sansio import unverified_response_state as unverified_state

NOW = 1_700_000_000.0
ISSUER = "https://as.example"
CLIENT_ID = "client-123"
REDIRECT = "https://app.example/callback"
JSON = "application/json"


@functools.cache
def rsa_key(name: str = "a") -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": f"rsa-{name}"})


@functools.cache
def ec_key() -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": "ec-1"})


def jwks(*keys: Key) -> dict[str, Any]:
    return {"keys": [key.as_dict(private=False) for key in keys]}


def b64json(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def signed(
    claims: dict[str, Any] | None = None,
    *,
    key: Key | None = None,
    alg: str = "RS256",
    drop: tuple[str, ...] = (),
    **overrides: Any,
) -> str:
    key = key or rsa_key()
    body: dict[str, Any] = {
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "exp": int(NOW) + 300,
        "code": "CODE-SENTINEL",
        "state": "state-1",
        **(claims or {}),
        **overrides,
    }
    for name in drop:
        body.pop(name)
    return jwt.encode({"alg": alg, "kid": key.kid or "rsa-a"}, body, key, algorithms=[alg])


def validate(response: str, keys: dict[str, Any] | None = None, **kw: Any) -> dict[str, str]:
    return validate_authorization_response(
        response,
        jwks=keys if keys is not None else jwks(rsa_key()),
        issuer=ISSUER,
        client_id=CLIENT_ID,
        now=kw.pop("now", NOW),
        **kw,
    )


# -- the JWT ---------------------------------------------------------------------------


def test_a_valid_response_gives_its_parameters() -> None:
    params = validate(signed({"iss": ISSUER, "expires_in": 3600, "nested": {"a": 1}}))
    assert params == {
        "iss": ISSUER,
        "code": "CODE-SENTINEL",
        "state": "state-1",
        "expires_in": "3600",
    }


def test_an_audience_list_holding_the_client_is_accepted() -> None:
    assert validate(signed(aud=["other", CLIENT_ID]))["code"] == "CODE-SENTINEL"


def test_an_ec_signed_response_verifies_with_an_allowed_algorithm() -> None:
    response = signed(key=ec_key(), alg="ES256")
    assert validate(response, jwks(ec_key()), algorithms=("ES256",))["state"] == "state-1"


@pytest.mark.parametrize(
    ("response", "check"),
    [
        (signed(iss="https://evil.example"), "iss is not the issuer"),
        (signed(drop=("iss",)), "iss is not the issuer"),
        (signed(aud="another-client"), "aud is not this client_id"),
        (signed(aud=["a", "b"]), "aud is not this client_id"),
        (signed(drop=("aud",)), "aud is not this client_id"),
        (signed(exp=int(NOW) - 31), "has expired"),
        (signed(drop=("exp",)), "has no exp"),
        (signed(exp="tomorrow"), "exp is not a number"),
        (signed(exp=True), "exp is not a number"),
        (signed(nbf=int(NOW) + 120), "not valid yet"),
    ],
)
def test_a_claim_that_does_not_fit_is_refused(response: str, check: str) -> None:
    with pytest.raises(InvalidAuthorizationResponse, match=check) as caught:
        validate(response)
    assert not caught.value.unknown_key
    assert "CODE-SENTINEL" not in str(caught.value)


def test_expiry_allows_a_small_leeway() -> None:
    assert validate(signed(exp=int(NOW) - 29))["state"] == "state-1"


def test_alg_none_is_refused() -> None:
    header = b64json({"alg": "none"})
    payload = b64json({"iss": ISSUER, "aud": CLIENT_ID, "exp": NOW + 300, "state": "s"})
    with pytest.raises(InvalidAuthorizationResponse, match="alg 'none' is not allowed"):
        validate(f"{header}.{payload}.")


def test_hmac_with_the_public_key_as_secret_is_refused() -> None:
    public = json.dumps(rsa_key().as_dict(private=False)).encode()
    forged = signed(key=OctKey.import_key(public), alg="HS256")
    with pytest.raises(InvalidAuthorizationResponse, match="alg 'HS256' is not allowed"):
        validate(forged)


def test_an_algorithm_outside_the_allow_list_is_refused() -> None:
    with pytest.raises(InvalidAuthorizationResponse, match="alg 'RS256' is not allowed"):
        validate(signed(), algorithms=("PS256",))


@pytest.mark.parametrize("algorithms", [("none",), ("HS256",), ()])
def test_the_allow_list_itself_takes_only_asymmetric_algorithms(
    algorithms: tuple[str, ...],
) -> None:
    with pytest.raises(ValueError, match="asymmetric"):
        validate(signed(), algorithms=algorithms)


def test_a_tampered_payload_fails_the_signature() -> None:
    head, _payload, signature = signed().split(".")
    forged = b64json({"iss": ISSUER, "aud": CLIENT_ID, "exp": NOW + 300, "code": "mine"})
    with pytest.raises(InvalidAuthorizationResponse, match="signature verification failed"):
        validate(f"{head}.{forged}.{signature}")


def test_an_unknown_key_asks_for_the_key_set_again() -> None:
    with pytest.raises(InvalidAuthorizationResponse, match="no JWKS key has") as caught:
        validate(signed(key=rsa_key("other")))
    assert caught.value.unknown_key


def test_a_key_in_the_header_is_never_used() -> None:
    intruder = rsa_key("intruder")
    header = {"alg": "RS256", "kid": "rsa-a", "jwk": intruder.as_dict(private=False)}
    body = {"iss": ISSUER, "aud": CLIENT_ID, "exp": int(NOW) + 300, "state": "s"}
    forged = jwt.encode(header, body, intruder, algorithms=["RS256"])
    with pytest.raises(InvalidAuthorizationResponse, match="signature verification failed"):
        validate(forged)


@pytest.mark.parametrize(
    ("response", "check"),
    [
        ("a.b.c.d.e", "encrypted JARM responses are not supported"),
        ("", "empty"),
        ("not-a-jwt", "not a compact JWS"),
        ("x" * 20_000, "longer than"),
        (f"{b64json({'alg': 'RS256'})}.{b64json([1])}.", "signature verification failed"),
    ],
)
def test_what_is_no_signed_response_is_refused(response: str, check: str) -> None:
    with pytest.raises(InvalidAuthorizationResponse, match=check):
        validate(response)


def test_the_state_read_unverified_is_only_the_states() -> None:
    assert unverified_state(signed(key=rsa_key("anyone"))) == "state-1"
    assert unverified_state(signed(drop=("state",))) is None
    assert unverified_state(signed(state=7)) is None
    with pytest.raises(InvalidAuthorizationResponse, match="encrypted"):
        unverified_state("a.b.c.d.e")


# -- the strategy ------------------------------------------------------------------------


def strategy(**settings: Any) -> AuthorizationCode:
    values: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "authorization_endpoint": f"{ISSUER}/authorize",
        "token_endpoint": f"{ISSUER}/token",
        "redirect_uri": REDIRECT,
        "issuer": ISSUER,
        "jwks_uri": f"{ISSUER}/jwks",
        "client_auth": "none",
    }
    values.update(settings)
    return AuthorizationCode(**values)


def test_no_response_mode_sends_none_and_reads_as_before() -> None:
    plain = strategy()
    assert "response_mode" not in plain.authorization_url(state="s", code_challenge=None)
    assert not plain.signs_responses
    assert not plain.posts_responses
    assert plain.response_parameters_at is ResponseLocation.QUERY


@pytest.mark.parametrize(
    ("mode", "location", "signs", "posts"),
    [
        ("query", ResponseLocation.QUERY, False, False),
        ("fragment", ResponseLocation.FRAGMENT, False, False),
        ("form_post", ResponseLocation.QUERY, False, True),
        ("jwt", ResponseLocation.QUERY, True, False),
        ("query.jwt", ResponseLocation.QUERY, True, False),
        ("fragment.jwt", ResponseLocation.FRAGMENT, True, False),
        ("form_post.jwt", ResponseLocation.QUERY, True, True),
    ],
)
def test_each_mode_is_sent_and_read_where_it_arrives(
    mode: str, location: ResponseLocation, signs: bool, posts: bool
) -> None:
    chosen = strategy(response_mode=mode)
    assert f"response_mode={mode}" in chosen.authorization_url(state="s", code_challenge=None)
    assert chosen.response_parameters_at is location
    assert chosen.signs_responses is signs
    assert chosen.posts_responses is posts


def test_jwt_for_a_token_response_reads_the_fragment() -> None:
    implicit = Implicit(
        client_id=CLIENT_ID,
        authorization_endpoint=f"{ISSUER}/authorize",
        redirect_uri=REDIRECT,
        issuer=ISSUER,
        jwks_uri=f"{ISSUER}/jwks",
        response_mode="jwt",
    )
    assert implicit.response_parameters_at is ResponseLocation.FRAGMENT


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"response_mode": "json"}, "response_mode must be None or one of"),
        ({"response_mode": "jwt", "jwks_uri": None}, "needs the issuer and jwks_uri"),
        ({"response_mode": "form_post.jwt", "issuer": None}, "needs the issuer and jwks_uri"),
        ({"authorization_signing_algorithms": ("none",)}, "asymmetric"),
        ({"authorization_signing_algorithms": ("HS256",)}, "asymmetric"),
        ({"authorization_signing_algorithms": ()}, "asymmetric"),
    ],
)
def test_a_configuration_that_cannot_work_is_refused(
    settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        strategy(**settings)


@pytest.mark.parametrize("mode", ["query", "query.jwt"])
def test_a_token_is_never_asked_for_in_a_query(mode: str) -> None:
    with pytest.raises(ConfigurationError, match="cannot carry a token response"):
        Implicit(
            client_id=CLIENT_ID,
            authorization_endpoint=f"{ISSUER}/authorize",
            redirect_uri=REDIRECT,
            issuer=ISSUER,
            jwks_uri=f"{ISSUER}/jwks",
            response_mode=mode,
        )


# -- the flow ----------------------------------------------------------------------------


def started(mode: str = "jwt") -> tuple[AuthorizationCode, Flow, str]:
    chosen = strategy(response_mode=mode)
    flow = Flow(chosen)
    request = flow.start(NOW)
    return chosen, flow, request.state


def url_with(state: str, **claims: Any) -> str:
    return f"{REDIRECT}?{urlencode({'response': signed(state=state, **claims)})}"


def test_a_signed_redirect_finds_its_flow_and_is_believed_once_verified() -> None:
    chosen, flow, state = started()
    redirect, key = Flow.redirect_key(chosen, url_with(state))
    assert key == pending_key(state)  # found by the state inside the (unverified) JWT
    needed = flow.receive_response(redirect, NOW + 1)
    assert isinstance(needed, KeysNeeded)
    assert needed.request.url == f"{ISSUER}/jwks"
    assert flow.state is State.VERIFYING_RESPONSE
    body = json.dumps(jwks(rsa_key())).encode()
    request = flow.receive_response_keys(200, JSON, body, NOW + 2)
    assert isinstance(request, HttpRequest)
    assert b"code=CODE-SENTINEL" in request.content
    assert flow.state in {State.EXCHANGING}  # (a set: mypy narrowed the property above)
    assert flow.keys == jwks(rsa_key())


def test_a_known_key_set_verifies_without_a_fetch() -> None:
    chosen, flow, state = started("query.jwt")
    redirect, _key = Flow.redirect_key(chosen, url_with(state))
    request = flow.receive_response(redirect, NOW + 1, keys=jwks(rsa_key()))
    assert isinstance(request, HttpRequest)
    assert flow.state is State.EXCHANGING


def test_a_known_key_set_without_the_key_is_fetched_again() -> None:
    chosen, flow, state = started()
    redirect, _key = Flow.redirect_key(chosen, url_with(state))
    needed = flow.receive_response(redirect, NOW + 1, keys=jwks(rsa_key("old")))
    assert isinstance(needed, KeysNeeded)


def test_the_state_is_compared_again_after_verification() -> None:
    # A flow resumed for another state (as a store lookup gone wrong would) is not
    # completed by the verified response of this one.
    chosen, flow, _state = started()
    redirect, _key = Flow.redirect_key(chosen, url_with("another-state"))
    with pytest.raises(StateMismatch):
        flow.receive_response(redirect, NOW + 1, keys=jwks(rsa_key()))
    assert flow.state is State.FAILED


def test_receive_redirect_refuses_a_signed_response_it_cannot_verify() -> None:
    chosen, flow, state = started()
    redirect, _key = Flow.redirect_key(chosen, url_with(state))
    with pytest.raises(ConfigurationError, match="receive_response"):
        flow.receive_redirect(redirect, NOW + 1)
    assert flow.state is State.FAILED


def test_a_key_set_that_cannot_be_fetched_fails_the_login() -> None:
    from anyoauth import ServerUnavailable

    chosen, flow, state = started()
    redirect, _key = Flow.redirect_key(chosen, url_with(state))
    flow.receive_response(redirect, NOW + 1)
    with pytest.raises(ServerUnavailable):
        flow.keys_unavailable(ServerUnavailable("down"), NOW + 2)
    assert flow.state is State.FAILED


def test_an_unusable_key_set_fails_the_login() -> None:
    chosen, flow, state = started()
    redirect, _key = Flow.redirect_key(chosen, url_with(state))
    flow.receive_response(redirect, NOW + 1)
    with pytest.raises(InvalidAuthorizationResponse, match="key set is unusable"):
        flow.receive_response_keys(200, JSON, b"[]", NOW + 2)
    assert flow.state is State.FAILED


def test_an_expired_flow_fails_before_the_key_set_is_asked_for() -> None:
    from anyoauth import FlowExpired

    chosen, flow, state = started()
    redirect, _key = Flow.redirect_key(chosen, url_with(state))
    with pytest.raises(FlowExpired):
        flow.receive_response(redirect, NOW + 10_000)


def test_a_signed_response_without_state_is_state_missing() -> None:
    chosen, _flow, _state = started()
    url = f"{REDIRECT}?{urlencode({'response': signed(drop=('state',))})}"
    with pytest.raises(StateMissing):
        Flow.redirect_key(chosen, url)


@pytest.mark.parametrize(
    ("params", "check"),
    [
        ({"code": "c", "state": "s"}, "carries no signed response"),
        ({"error": "access_denied", "state": "s"}, r"unsigned error \(access_denied\)"),
        ({"response": "x.y.z", "code": "c"}, "unsigned parameters came with"),
        ({"response": "x.y.z", "state": "s"}, "unsigned parameters came with"),
    ],
)
def test_unsigned_parameters_are_refused_before_any_lookup(
    params: dict[str, str], check: str
) -> None:
    chosen, _flow, _state = started()
    with pytest.raises(InvalidAuthorizationResponse, match=check):
        Flow.redirect_key(chosen, f"{REDIRECT}?{urlencode(params)}")


def test_verify_response_reads_only_the_signed_parameters() -> None:
    chosen = strategy(response_mode="jwt")
    verified = chosen.verify_response(
        Redirect({"response": signed()}), jwks=jwks(rsa_key()), now=NOW
    )
    assert verified.params == {"iss": ISSUER, "code": "CODE-SENTINEL", "state": "state-1"}
    plain = strategy()
    untouched = Redirect({"code": "c"})
    assert plain.verify_response(untouched, jwks={}, now=NOW) is untouched
