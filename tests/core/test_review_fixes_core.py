"""Regressions for review findings in the sans-IO core: the id_token subject binding
across refreshes, implicit id_tokens, token answers in the wrong state, the login's
nonce on refresh, hostile numbers and URLs, and device authorization answers."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from anyoauth import (
    AuthorizationCode,
    ConfigurationError,
    DeviceCode,
    DiscoveryError,
    Implicit,
    InvalidIdToken,
    InvalidTokenResponse,
    InvalidTransition,
    ServerMetadata,
    Strategy,
    Token,
)
from anyoauth._core.device import DeviceAuthorization
from anyoauth._core.machine import Flow, State
from anyoauth._core.metadata import metadata_urls
from anyoauth._core.revocation import Introspection

NOW = 1_700_000_000.0
ISSUER = "https://as.example"
AUTHORIZE = f"{ISSUER}/authorize"
TOKEN = f"{ISSUER}/token"
JWKS_URI = f"{ISSUER}/jwks"
DEVICE = f"{ISSUER}/device"
REDIRECT = "http://127.0.0.1:8765/callback"
JSON = "application/json"

RSA = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
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


def oidc_strategy() -> AuthorizationCode:
    return code_strategy(scope="openid profile", issuer=ISSUER, jwks_uri=JWKS_URI)


def started(strategy: Strategy) -> tuple[Flow, dict[str, str]]:
    flow = Flow(strategy)
    request = flow.start(NOW)
    return flow, dict(parse_qsl(urlsplit(request.url).query))


def exchanging(strategy: Strategy) -> tuple[Flow, str]:
    flow, params = started(strategy)
    url = f"{REDIRECT}?code=c&state={params['state']}"
    flow.receive_redirect(strategy.read_redirect(url), NOW)
    assert flow.state is State.EXCHANGING
    return flow, params.get("nonce", "")


def id_token(**claims: Any) -> str:
    values: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "alice",
        "aud": "app",
        "iat": int(NOW),
        "exp": int(NOW) + 300,
    }
    values.update(claims)
    return jwt.encode({"alg": "RS256", "kid": RSA.kid}, values, RSA)


def device_answer(**overrides: Any) -> bytes:
    payload: dict[str, Any] = {
        "device_code": "dc-secret",
        "user_code": "WDJB-MJHT",
        "verification_uri": f"{ISSUER}/device/verify",
        "expires_in": 600,
        "interval": 5,
    }
    payload.update(overrides)
    return json.dumps(payload).encode()


def metadata(**fields: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "issuer": ISSUER,
        "authorization_endpoint": AUTHORIZE,
        "token_endpoint": TOKEN,
        "jwks_uri": JWKS_URI,
    }
    document.update(fields)
    return document


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


def state_of(flow: Flow) -> State:
    """The flow's state, read afresh (a call in between may have changed it)."""
    return flow.state


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
