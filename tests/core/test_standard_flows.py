"""The standard strategies in the core: code + PKCE, implicit, device grant, client
authentication methods, RFC 9207 ``iss``, id_token validation through the machine,
server metadata, revocation and introspection answers."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey, RSAKey

from anyoauth import (
    AuthorizationCode,
    AuthorizationDenied,
    ConfigurationError,
    DeviceAuthorization,
    DeviceCode,
    DiscoveryError,
    FlowExpired,
    Implicit,
    Introspection,
    InvalidIdToken,
    InvalidTokenResponse,
    InvalidTransition,
    IssuerMismatch,
    ServerMetadata,
    StateMissing,
    Strategy,
    Token,
    TokenEndpointUnavailable,
    TokenRequestError,
)
from anyoauth.sansio import (
    ASSERTION_TYPE,
    Flow,
    KeysNeeded,
    State,
    basic_credentials,
    check_revocation_response,
    metadata_urls,
)

NOW = 1_700_000_000.0
ISSUER = "https://as.example"
AUTHORIZE = f"{ISSUER}/authorize"
TOKEN = f"{ISSUER}/token"
JWKS_URI = f"{ISSUER}/jwks"
DEVICE = f"{ISSUER}/device"
REDIRECT = "http://127.0.0.1:8765/callback"
JSON = "application/json"

RSA = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
OTHER_RSA = RSAKey.generate_key(2048, parameters={"kid": "k2"}, private=True)
JWKS = KeySet([RSA]).as_dict(private=False)


def body(**payload: Any) -> bytes:
    return json.dumps(payload).encode()


def code_strategy(**kwargs: Any) -> AuthorizationCode:
    values: dict[str, Any] = {
        "client_id": "app",
        "authorization_endpoint": AUTHORIZE,
        "token_endpoint": TOKEN,
        "redirect_uri": REDIRECT,
    }
    values.update(kwargs)
    return AuthorizationCode(**values)


def redirect_of(url: str, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"{REDIRECT}?{query}"


def state_of(flow: Flow) -> State:
    """The flow's state, read afresh (a call in between may have changed it)."""
    return flow.state


def started(strategy: Strategy) -> tuple[Flow, dict[str, str]]:
    flow = Flow(strategy)
    request = flow.start(NOW)
    return flow, dict(parse_qsl(urlsplit(request.url).query))


def id_token(key: RSAKey = RSA, **claims: Any) -> str:
    values: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "alice",
        "aud": "app",
        "iat": int(NOW),
        "exp": int(NOW) + 300,
    }
    values.update(claims)
    return jwt.encode({"alg": "RS256", "kid": key.kid}, values, key)


# -- authorization code + PKCE --------------------------------------------------------


def test_code_flow_sends_a_fresh_s256_challenge_and_the_verifier() -> None:
    strategy = code_strategy()
    flow, params = started(strategy)
    assert params["response_type"] == "code"
    assert params["code_challenge_method"] == "S256"
    assert flow.pending is not None
    verifier = flow.pending.code_verifier
    assert verifier is not None
    digest = hashlib.sha256(verifier.encode()).digest()
    assert params["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert "nonce" not in params  # no openid scope
    request = flow.receive_redirect(
        flow.strategy.read_redirect(redirect_of(REDIRECT, code="c1", state=params["state"])), NOW
    )
    assert not isinstance(request, Token)
    form = parse_qs(request.content.decode())
    assert form["code_verifier"] == [verifier]
    assert form["grant_type"] == ["authorization_code"]
    assert form["redirect_uri"] == [REDIRECT]
    _, other = started(strategy)
    assert other["code_challenge"] != params["code_challenge"]


@pytest.mark.parametrize("missing", ["authorization_endpoint", "token_endpoint", "redirect_uri"])
def test_code_flow_needs_its_endpoints(missing: str) -> None:
    with pytest.raises(ConfigurationError, match=missing):
        code_strategy(**{missing: None})


def test_code_flow_refuses_response_type_token() -> None:
    with pytest.raises(ConfigurationError):
        code_strategy(response_type="token")


def test_implicit_flow_reads_the_token_from_the_fragment() -> None:
    strategy = Implicit(client_id="app", authorization_endpoint=AUTHORIZE, redirect_uri=REDIRECT)
    flow, params = started(strategy)
    assert params["response_type"] == "token"
    assert "code_challenge" not in params
    url = f"{REDIRECT}#access_token=at&token_type=bearer&expires_in=60&state={params['state']}"
    token = flow.receive_redirect(strategy.read_redirect(url), NOW)
    assert isinstance(token, Token)
    assert token.access_token == "at"
    assert token.expires_at == NOW + 60
    assert flow.state is State.HOLDING_TOKEN
    # A token in the query string is not this flow's answer.
    flow, params = started(strategy)
    with pytest.raises(StateMissing):
        flow.receive_redirect(
            strategy.read_redirect(f"{REDIRECT}?access_token=at&state={params['state']}"), NOW
        )


# -- client authentication ----------------------------------------------------------------


def form_of(strategy: Strategy) -> tuple[dict[str, list[str]], dict[str, str]]:
    request = strategy.form_request([("grant_type", "x")], now=NOW)
    return parse_qs(request.content.decode()), dict(request.headers)


def test_basic_credentials_are_form_encoded_unless_the_server_takes_them_raw() -> None:
    secret = "a+b:c%d é"
    encoded, headers = form_of(code_strategy(client_secret=secret))
    assert headers["Authorization"] == basic_credentials("app", secret)
    decoded = base64.b64decode(headers["Authorization"].split()[1]).decode()
    assert decoded == "app:a%2Bb%3Ac%25d+%C3%A9"
    assert "client_secret" not in encoded
    _, headers = form_of(code_strategy(client_secret=secret, basic_form_encoded=False))
    assert base64.b64decode(headers["Authorization"].split()[1]).decode() == f"app:{secret}"


def test_raw_basic_credentials_cannot_carry_a_colon_in_the_client_id() -> None:
    with pytest.raises(ConfigurationError, match="':'"):
        code_strategy(client_id="a:b", client_secret="s", basic_form_encoded=False)


def test_client_secret_post_and_public_clients() -> None:
    form, headers = form_of(code_strategy(client_secret="s", client_auth="client_secret_post"))
    assert form["client_id"] == ["app"]
    assert form["client_secret"] == ["s"]
    assert "Authorization" not in headers
    form, headers = form_of(code_strategy(client_auth="none"))
    assert form["client_id"] == ["app"]
    assert "client_secret" not in form
    assert "Authorization" not in headers


def test_private_key_jwt_signs_an_assertion_for_the_token_endpoint() -> None:
    strategy = code_strategy(client_auth="private_key_jwt", client_key=RSA.as_dict(private=True))
    form, headers = form_of(strategy)
    assert "Authorization" not in headers
    assert form["client_assertion_type"] == [ASSERTION_TYPE]
    decoded = jwt.decode(form["client_assertion"][0], RSA)
    assert decoded.header["alg"] == "RS256"
    assert decoded.header["kid"] == "k1"
    claims = decoded.claims
    assert claims["iss"] == claims["sub"] == "app"
    assert claims["aud"] == TOKEN
    assert claims["exp"] > claims["iat"] == int(NOW)
    again, _ = form_of(strategy)
    assert jwt.decode(again["client_assertion"][0], RSA).claims["jti"] != claims["jti"]
    assert str(RSA.as_dict(private=True)["d"]) not in repr(strategy)


def test_private_key_jwt_with_an_ec_key() -> None:
    key = ECKey.generate_key("P-256", private=True)
    strategy = code_strategy(
        client_auth="private_key_jwt", client_key=key, client_assertion_algorithm="ES256"
    )
    form, _ = form_of(strategy)
    assert jwt.decode(form["client_assertion"][0], key).claims["sub"] == "app"


def test_client_secret_jwt_signs_with_the_secret() -> None:
    secret = "s" * 40
    form, _ = form_of(code_strategy(client_auth="client_secret_jwt", client_secret=secret))
    decoded = jwt.decode(form["client_assertion"][0], OctKey.import_key(secret))
    assert decoded.header["alg"] == "HS256"
    assert decoded.claims["aud"] == TOKEN


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"client_auth": "private_key_jwt"}, "client_key"),
        ({"client_auth": "client_secret_jwt"}, "client_secret"),
        ({"client_auth": "private_key_jwt", "client_key": "not a key"}, "private_key_jwt"),
        (
            {
                "client_auth": "private_key_jwt",
                "client_key": RSA.as_dict(private=True),
                "client_assertion_algorithm": "none",
            },
            "private_key_jwt",
        ),
        (
            {
                "client_auth": "private_key_jwt",
                "client_key": RSA.as_dict(private=False),
            },
            "private_key_jwt",
        ),
        ({"client_auth": "client_secret_jwt", "client_secret": "short"}, "client_secret_jwt"),
        ({"client_auth": "mtls"}, "client_auth"),
    ],
)
def test_bad_client_authentication_is_refused_when_configured(
    kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(ConfigurationError, match=match):
        code_strategy(**kwargs)


# -- RFC 9207 iss ------------------------------------------------------------------------


def test_iss_must_match_the_configured_issuer() -> None:
    strategy = code_strategy(issuer=ISSUER)
    flow, params = started(strategy)
    url = redirect_of(REDIRECT, code="c", state=params["state"], iss=ISSUER)
    assert not isinstance(flow.receive_redirect(strategy.read_redirect(url), NOW), Token)
    for wrong in ("https://evil.example", "https://as.example/", "https://as.example.evil"):
        flow, params = started(strategy)
        url = redirect_of(REDIRECT, code="c", state=params["state"], iss=wrong)
        with pytest.raises(IssuerMismatch):
            flow.receive_redirect(strategy.read_redirect(url), NOW)
        assert flow.state is State.FAILED


def test_iss_is_required_when_the_server_says_it_sends_it() -> None:
    lax = code_strategy(issuer=ISSUER)
    flow, params = started(lax)
    url = redirect_of(REDIRECT, code="c", state=params["state"])
    assert not isinstance(flow.receive_redirect(lax.read_redirect(url), NOW), Token)
    strict = code_strategy(issuer=ISSUER, require_iss=True)
    flow, params = started(strict)
    url = redirect_of(REDIRECT, code="c", state=params["state"])
    with pytest.raises(IssuerMismatch, match="no iss"):
        flow.receive_redirect(strict.read_redirect(url), NOW)
    with pytest.raises(ConfigurationError):
        code_strategy(require_iss=True)


def test_an_error_redirect_without_iss_is_the_denial_it_is() -> None:
    strategy = code_strategy(issuer=ISSUER, require_iss=True)
    flow, params = started(strategy)
    url = redirect_of(REDIRECT, error="access_denied", state=params["state"])
    with pytest.raises(AuthorizationDenied):
        flow.receive_redirect(strategy.read_redirect(url), NOW)


def test_an_error_redirect_from_another_issuer_is_a_mix_up_not_a_denial() -> None:
    strategy = code_strategy(issuer=ISSUER)
    flow, params = started(strategy)
    url = redirect_of(REDIRECT, error="access_denied", state=params["state"], iss="https://evil")
    with pytest.raises(IssuerMismatch):
        flow.receive_redirect(strategy.read_redirect(url), NOW)


# -- OpenID Connect id_token through the machine ----------------------------------------


def oidc_strategy(**kwargs: Any) -> AuthorizationCode:
    return code_strategy(scope="openid profile", issuer=ISSUER, jwks_uri=JWKS_URI, **kwargs)


def exchanging(strategy: Strategy) -> tuple[Flow, str]:
    flow, params = started(strategy)
    assert flow.pending is not None
    url = redirect_of(REDIRECT, code="c", state=params["state"])
    flow.receive_redirect(strategy.read_redirect(url), NOW)
    assert flow.state is State.EXCHANGING
    return flow, params.get("nonce", "")


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


def test_symmetric_or_none_id_token_algorithms_cannot_be_configured() -> None:
    for algorithms in (("HS256",), ("none",), ()):
        with pytest.raises(ConfigurationError):
            oidc_strategy(id_token_algorithms=algorithms)


# -- device authorization grant ---------------------------------------------------------


def device_strategy(**kwargs: Any) -> DeviceCode:
    return DeviceCode(
        client_id="tv",
        device_authorization_endpoint=DEVICE,
        token_endpoint=TOKEN,
        scope="read",
        **kwargs,
    )


def device_answer(**overrides: Any) -> bytes:
    payload: dict[str, Any] = {
        "device_code": "dc-secret",
        "user_code": "WDJB-MJHT",
        "verification_uri": f"{ISSUER}/device/verify",
        "expires_in": 600,
        "interval": 5,
    }
    payload.update(overrides)
    return json.dumps({k: v for k, v in payload.items() if v is not None}).encode()


def polling_flow(**answer: Any) -> Flow:
    flow = Flow(device_strategy())
    request = flow.request_device_code(NOW)
    assert request.url == DEVICE
    assert parse_qs(request.content.decode()) == {"scope": ["read"], "client_id": ["tv"]}
    device = flow.receive_device_code(200, JSON, device_answer(**answer), NOW)
    assert "dc-secret" not in repr(device)
    assert flow.state is State.AWAITING_APPROVAL
    return flow


def test_device_flow_polls_until_approved() -> None:
    flow = polling_flow()
    assert flow.next_poll_at == NOW + 5
    request = flow.poll(NOW + 5)
    form = parse_qs(request.content.decode())
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:device_code"]
    assert form["device_code"] == ["dc-secret"]
    pending = body(error="authorization_pending")
    assert flow.receive_poll_response(400, JSON, pending, NOW + 5) is None
    assert flow.state is State.AWAITING_APPROVAL
    assert flow.next_poll_at == NOW + 10
    flow.poll(NOW + 10)
    assert flow.receive_poll_response(400, JSON, body(error="slow_down"), NOW + 10) is None
    assert flow.next_poll_at == NOW + 20  # interval 5 -> 10
    flow.poll(NOW + 20)
    token = flow.receive_poll_response(200, JSON, body(access_token="at"), NOW + 20)
    assert isinstance(token, Token)
    assert state_of(flow) is State.HOLDING_TOKEN


def test_device_flow_denied_expired_and_late() -> None:
    flow = polling_flow()
    flow.poll(NOW + 5)
    with pytest.raises(AuthorizationDenied):
        flow.receive_poll_response(400, JSON, body(error="access_denied"), NOW + 5)
    assert flow.state is State.FAILED
    flow = polling_flow()
    flow.poll(NOW + 5)
    with pytest.raises(FlowExpired):
        flow.receive_poll_response(400, JSON, body(error="expired_token"), NOW + 5)
    flow = polling_flow()
    with pytest.raises(FlowExpired):
        flow.poll(NOW + 600)
    assert flow.state is State.FAILED
    flow = polling_flow()
    flow.poll(NOW + 5)
    with pytest.raises(TokenRequestError):
        flow.receive_poll_response(401, JSON, body(error="invalid_client"), NOW + 5)


def test_device_flow_cannot_poll_twice_without_an_answer() -> None:
    flow = polling_flow()
    flow.poll(NOW + 5)
    with pytest.raises(InvalidTransition):
        flow.poll(NOW + 6)


@pytest.mark.parametrize(
    "answer",
    [
        {"device_code": None},
        {"user_code": ""},
        {"verification_uri": None},
        {"verification_uri": "http://evil.example/device"},
        {"expires_in": "soon"},
        {"interval": -1},
    ],
)
def test_bad_device_authorization_answers(answer: dict[str, Any]) -> None:
    flow = Flow(device_strategy())
    flow.request_device_code(NOW)
    with pytest.raises(InvalidTokenResponse):
        flow.receive_device_code(200, JSON, device_answer(**answer), NOW)
    assert flow.state is State.FAILED


def test_device_strategy_is_not_a_redirect_flow() -> None:
    strategy = device_strategy()
    assert not strategy.interactive
    with pytest.raises(ConfigurationError):
        Flow(strategy).start(NOW)
    with pytest.raises(ConfigurationError):
        Flow(code_strategy()).request_device_code(NOW)


# -- metadata ----------------------------------------------------------------------------


def test_metadata_urls() -> None:
    assert metadata_urls("https://as.example") == (
        "https://as.example/.well-known/oauth-authorization-server",
        "https://as.example/.well-known/openid-configuration",
    )
    assert metadata_urls("https://as.example/tenant/1") == (
        "https://as.example/.well-known/oauth-authorization-server/tenant/1",
        "https://as.example/tenant/1/.well-known/openid-configuration",
        "https://as.example/.well-known/openid-configuration/tenant/1",
    )
    with pytest.raises(DiscoveryError):
        metadata_urls("https://as.example/?q=1")


def metadata(**fields: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "issuer": ISSUER,
        "authorization_endpoint": AUTHORIZE,
        "token_endpoint": TOKEN,
        "jwks_uri": JWKS_URI,
        "revocation_endpoint": f"{ISSUER}/revoke",
        "device_authorization_endpoint": DEVICE,
        "authorization_response_iss_parameter_supported": True,
    }
    document.update(fields)
    return {k: v for k, v in document.items() if v is not None}


def test_metadata_configures_a_strategy() -> None:
    meta = ServerMetadata.from_response(200, JSON, body(**metadata()), issuer=ISSUER)
    strategy = AuthorizationCode.from_metadata(
        meta, client_id="app", client_secret="s", redirect_uri=REDIRECT, scope="openid"
    )
    assert strategy.token_endpoint == TOKEN
    assert strategy.issuer == ISSUER
    assert strategy.require_iss
    assert strategy.verifies_id_tokens
    assert strategy.requests_nonce
    assert strategy.client_auth == "client_secret_basic"
    assert strategy.revocation_endpoint == f"{ISSUER}/revoke"
    public = AuthorizationCode.from_metadata(meta, client_id="app", redirect_uri=REDIRECT)
    assert public.client_auth == "none"
    device = DeviceCode.from_metadata(meta, client_id="tv")
    assert device.device_authorization_endpoint == DEVICE
    post_only = ServerMetadata.from_dict(
        metadata(token_endpoint_auth_methods_supported=["client_secret_post"]), issuer=ISSUER
    )
    strategy = AuthorizationCode.from_metadata(
        post_only, client_id="app", client_secret="s", redirect_uri=REDIRECT
    )
    assert strategy.client_auth == "client_secret_post"


@pytest.mark.parametrize(
    ("document", "match"),
    [
        (metadata(issuer="https://evil.example"), "another issuer"),
        (metadata(issuer=None), "another issuer"),
        (metadata(token_endpoint="http://as.example/token"), "token_endpoint is not https"),
        (metadata(jwks_uri=42), "jwks_uri"),
        (metadata(grant_types_supported="code"), "grant_types_supported"),
        (metadata(authorization_response_iss_parameter_supported="yes"), "iss_parameter"),
    ],
)
def test_bad_metadata_is_refused(document: dict[str, Any], match: str) -> None:
    with pytest.raises(DiscoveryError, match=match):
        ServerMetadata.from_response(200, JSON, body(**document), issuer=ISSUER)


def test_metadata_answers_that_are_not_documents() -> None:
    for status, answer in ((404, b"{}"), (200, b"<html>"), (200, b"[]")):
        with pytest.raises(DiscoveryError):
            ServerMetadata.from_response(status, JSON, answer, issuer=ISSUER)


def test_http_metadata_is_accepted_on_loopback_or_when_allowed() -> None:
    local = "http://127.0.0.1:9000"
    document = {"issuer": local, "token_endpoint": f"{local}/token"}
    assert ServerMetadata.from_dict(document, issuer=local).token_endpoint == f"{local}/token"
    remote = {"issuer": "http://as.test", "token_endpoint": "http://as.test/token"}
    with pytest.raises(DiscoveryError):
        ServerMetadata.from_dict(remote, issuer="http://as.test")
    meta = ServerMetadata.from_dict(remote, issuer="http://as.test", allow_insecure=True)
    assert meta.token_endpoint == "http://as.test/token"


# -- revocation and introspection ---------------------------------------------------------


def test_revocation_answers() -> None:
    check_revocation_response(200, None, b"")
    with pytest.raises(TokenRequestError) as caught:
        check_revocation_response(400, JSON, body(error="unsupported_token_type"))
    assert caught.value.error == "unsupported_token_type"
    with pytest.raises(TokenEndpointUnavailable):
        check_revocation_response(503, "text/html", b"<html>down</html>")
    with pytest.raises(TokenRequestError):
        check_revocation_response(401, JSON, body(error="invalid_client"))
    with pytest.raises(InvalidTokenResponse):
        check_revocation_response(302, "text/html", b"")


def test_introspection_answers() -> None:
    active = Introspection.from_response(
        200,
        JSON,
        body(active=True, scope="read", client_id="app", exp=NOW + 60, aud=["a", "b"], ext=1),
    )
    assert active.active
    assert active.scope == "read"
    assert active.aud == ("a", "b")
    assert active.exp == NOW + 60
    assert active.extra == {"ext": 1}
    inactive = Introspection.from_response(200, JSON, body(active=False, scope="ignored"))
    assert inactive == Introspection(active=False)
    for status, answer in ((200, body(scope="x")), (200, b"[]"), (200, body(active=True, exp="x"))):
        with pytest.raises(InvalidTokenResponse):
            Introspection.from_response(status, JSON, answer)
    with pytest.raises(TokenRequestError):
        Introspection.from_response(401, JSON, body(error="invalid_client"))


def test_revocation_and_introspection_requests_authenticate_the_client() -> None:
    strategy = code_strategy(
        client_secret="s",
        revocation_endpoint=f"{ISSUER}/revoke",
        introspection_endpoint=f"{ISSUER}/introspect",
    )
    revoke = strategy.revocation_request("rt", token_type_hint="refresh_token", now=NOW)
    assert revoke.url == f"{ISSUER}/revoke"
    assert parse_qs(revoke.content.decode()) == {
        "token": ["rt"],
        "token_type_hint": ["refresh_token"],
    }
    assert dict(revoke.headers)["Authorization"].startswith("Basic ")
    assert "rt" not in repr(revoke)
    introspect = strategy.introspection_request("at", now=NOW)
    assert introspect.url == f"{ISSUER}/introspect"
    with pytest.raises(ConfigurationError):
        code_strategy().revocation_request("rt", now=NOW)
    with pytest.raises(ConfigurationError):
        code_strategy().introspection_request("rt", now=NOW)


# -- regressions found by review -----------------------------------------------------------


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


def test_token_response_is_refused_before_the_redirect_was_validated() -> None:
    strategy = code_strategy(client_secret="s" * 40)
    pending = Flow(strategy).start(NOW).pending
    flow = Flow.resume(strategy, pending)
    with pytest.raises(InvalidTransition):
        flow.receive_token_response(200, JSON, body(access_token="injected"), NOW)
    assert flow.state is State.FAILED
    assert flow.token is None


@pytest.mark.parametrize("state", [State.CREATED, State.HOLDING_TOKEN, State.EXPIRED])
def test_token_response_needs_a_sent_token_request(state: State) -> None:
    flow = Flow(code_strategy(), state=state)
    with pytest.raises(InvalidTransition):
        flow.receive_token_response(200, JSON, body(access_token="x"), NOW)
    assert flow.state is State.FAILED


def test_token_response_is_refused_while_polling_or_verifying() -> None:
    device = DeviceCode(client_id="tv", device_authorization_endpoint=DEVICE, token_endpoint=TOKEN)
    flow = Flow(device)
    flow.request_device_code(NOW)
    flow.receive_device_code(200, JSON, device_answer(), NOW)
    flow.poll(NOW + 5)
    assert state_of(flow) is State.POLLING
    with pytest.raises(InvalidTransition):
        flow.receive_token_response(200, JSON, body(access_token="x"), NOW + 5)
    assert state_of(flow) is State.FAILED

    flow, nonce = exchanging(oidc_strategy())
    answer = body(access_token="a", id_token=id_token(nonce=nonce))
    assert not isinstance(flow.receive_token_response(200, JSON, answer, NOW), Token)
    assert state_of(flow) is State.VERIFYING
    with pytest.raises(InvalidTransition):
        flow.receive_token_response(200, JSON, answer, NOW, keys=JWKS)
    assert state_of(flow) is State.FAILED


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


def test_device_authorization_with_a_huge_integer_is_a_typed_error() -> None:
    huge = json.loads("1" + "0" * 400)
    for field in ("expires_in", "interval"):
        with pytest.raises(InvalidTokenResponse):
            DeviceAuthorization.from_response(
                200, JSON, device_answer(**{field: huge}), received_at=NOW
            )


def test_introspection_with_a_huge_integer_is_a_typed_error() -> None:
    for field in ("exp", "iat", "nbf"):
        answer = b'{"active":true,"' + field.encode() + b'":1' + b"0" * 400 + b"}"
        with pytest.raises(InvalidTokenResponse):
            Introspection.from_response(200, JSON, answer)


@pytest.mark.parametrize(
    "fields",
    [
        {"token_endpoint": "https://[::1"},
        {"token_endpoint": "https://as.example:99999/token"},
        {"jwks_uri": "https://as.example:port/jwks"},
        {"registration_endpoint": "https://[::1"},
    ],
)
def test_metadata_with_an_unparsable_url_is_a_discovery_error(fields: dict[str, Any]) -> None:
    with pytest.raises(DiscoveryError):
        ServerMetadata.from_dict(metadata(**fields), issuer=ISSUER)


def test_an_unparsable_issuer_is_a_discovery_error() -> None:
    for issuer in ("https://[::1", "https://as.example:99999"):
        with pytest.raises(DiscoveryError):
            metadata_urls(issuer)
        with pytest.raises(DiscoveryError):
            ServerMetadata.from_dict({"issuer": issuer}, issuer=issuer)


def test_a_redirect_uri_with_a_bad_port_is_refused_at_construction() -> None:
    for uri in ("http://127.0.0.1:99999/cb", "http://127.0.0.1:port/cb", "https://[::1/cb"):
        with pytest.raises(ConfigurationError):
            code_strategy(redirect_uri=uri)
    strategy = code_strategy()
    assert strategy.is_redirect("https://elsewhere.example/") is False


def test_device_verification_uri_follows_allow_insecure() -> None:
    insecure = "http://as.example/device/verify"
    answer = device_answer(verification_uri=insecure)
    with pytest.raises(InvalidTokenResponse):
        DeviceCode(
            client_id="tv", device_authorization_endpoint=DEVICE, token_endpoint=TOKEN
        ).read_device_authorization(200, JSON, answer, NOW)
    strategy = DeviceCode(
        client_id="tv",
        device_authorization_endpoint=DEVICE,
        token_endpoint=TOKEN,
        allow_insecure=True,
    )
    device = strategy.read_device_authorization(200, JSON, answer, NOW)
    assert device.verification_uri == insecure


@pytest.mark.parametrize("user_code", ["WDJB\x1b[2J", "AB\nCD", "AB\u202eCD", "\x00"])
def test_a_user_code_with_control_characters_is_refused(user_code: str) -> None:
    with pytest.raises(InvalidTokenResponse, match="user_code"):
        DeviceAuthorization.from_response(
            200, JSON, device_answer(user_code=user_code), received_at=NOW
        )


def test_a_user_code_with_spaces_and_letters_is_fine() -> None:
    device = DeviceAuthorization.from_response(
        200, JSON, device_answer(user_code="WDJB MJHT-ÄÖ"), received_at=NOW
    )
    assert device.user_code == "WDJB MJHT-ÄÖ"


def test_two_servers_with_one_client_id_never_share_a_binding() -> None:
    """Tokens and pending logins are keyed by the binding: a refresh token of one server
    must never be sent to another that issued the same client_id."""
    from anyoauth import AuthorizationCode, ClientCredentials

    def code(issuer: str) -> AuthorizationCode:
        return AuthorizationCode(
            client_id="web",
            authorization_endpoint=f"{issuer}/authorize",
            token_endpoint=f"{issuer}/token",
            redirect_uri="http://127.0.0.1/callback",
            issuer=issuer,
        )

    a, b = code("https://a.example"), code("https://b.example")
    assert a.binding != b.binding
    assert a.binding == code("https://a.example").binding
    assert a.binding.startswith("authorization-code:web:")
    realm_a = ClientCredentials(
        client_id="svc", client_secret="s", token_endpoint="https://kc/realms/a/token"
    )
    realm_b = ClientCredentials(
        client_id="svc", client_secret="s", token_endpoint="https://kc/realms/b/token"
    )
    assert realm_a.binding != realm_b.binding
