"""Pushed authorization requests (RFC 9126) in the core: the strategy's settings, the
push request, the answer's parser and the machine's PUSHING state."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from anyoauth import (
    AuthorizationCode,
    AuthorizationRequest,
    ConfigurationError,
    DiscoveryError,
    InvalidResponse,
    InvalidTransition,
    OAuthError,
    ServerUnavailable,
    TokenRequestError,
)
from anyoauth.sansio import (
    TRANSITIONS,
    Event,
    Flow,
    PushedAuthorization,
    PushNeeded,
    ServerMetadata,
    State,
)

NOW = 1_700_000_000.0
ISSUER = "https://as.example"
PAR = ISSUER + "/par"
SECRET = "par-secret-SENTINEL-0123456789"
JSON_TYPE = "application/json"


def strategy(**settings: Any) -> AuthorizationCode:
    values: dict[str, Any] = {
        "client_id": "app",
        "client_secret": SECRET,
        "issuer": ISSUER,
        "authorization_endpoint": ISSUER + "/authorize",
        "token_endpoint": ISSUER + "/token",
        "pushed_authorization_request_endpoint": PAR,
        "push_authorization_request": True,
        "redirect_uri": "https://app.example/cb",
        "scope": "profile",
    }
    values.update(settings)
    return AuthorizationCode(**values)


def answer(payload: object, status: int = 201) -> tuple[int, str, bytes]:
    return status, JSON_TYPE, json.dumps(payload).encode()


def pushed(flow: Flow) -> PushNeeded:
    started = flow.begin(NOW)
    assert isinstance(started, PushNeeded)
    return started


# -- settings and metadata ------------------------------------------------------------------


def test_metadata_with_par_fields_is_read() -> None:
    document = {
        "issuer": ISSUER,
        "authorization_endpoint": ISSUER + "/authorize",
        "token_endpoint": ISSUER + "/token",
        "pushed_authorization_request_endpoint": PAR,
        "require_pushed_authorization_requests": True,
    }
    metadata = ServerMetadata.from_dict(document, issuer=ISSUER)
    assert metadata.pushed_authorization_request_endpoint == PAR
    assert metadata.require_pushed_authorization_requests
    assert not metadata.require_signed_request_object
    configured = AuthorizationCode.from_metadata(
        metadata, client_id="app", redirect_uri="https://app.example/cb"
    )
    assert configured.pushed_authorization_request_endpoint == PAR
    assert configured.push_authorization_request


def test_metadata_that_does_not_require_par_leaves_pushing_off() -> None:
    document = {
        "issuer": ISSUER,
        "authorization_endpoint": ISSUER + "/authorize",
        "token_endpoint": ISSUER + "/token",
        "pushed_authorization_request_endpoint": PAR,
    }
    configured = AuthorizationCode.from_metadata(
        ServerMetadata.from_dict(document, issuer=ISSUER),
        client_id="app",
        redirect_uri="https://app.example/cb",
    )
    assert configured.pushed_authorization_request_endpoint == PAR
    assert not configured.push_authorization_request
    assert isinstance(Flow(configured).begin(NOW), AuthorizationRequest)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("require_pushed_authorization_requests", "yes"),
        ("require_signed_request_object", 1),
        ("pushed_authorization_request_endpoint", "http://elsewhere.example/par"),
        ("request_object_signing_alg_values_supported", "PS256"),
    ],
)
def test_bad_par_metadata_is_refused(field: str, value: object) -> None:
    document = {"issuer": ISSUER, field: value}
    with pytest.raises(DiscoveryError, match=field):
        ServerMetadata.from_dict(document, issuer=ISSUER)


def test_pushing_needs_the_endpoint() -> None:
    with pytest.raises(ConfigurationError, match="pushed_authorization_request_endpoint"):
        strategy(pushed_authorization_request_endpoint=None)


def test_a_plain_http_par_endpoint_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="pushed_authorization_request_endpoint"):
        strategy(pushed_authorization_request_endpoint="http://as.example/par")


# -- the push -------------------------------------------------------------------------------


def test_begin_asks_for_the_push_with_client_authentication() -> None:
    flow = Flow(strategy(scope="openid profile", jwks_uri=ISSUER + "/jwks"))
    started = pushed(flow)
    assert flow.state is State.PUSHING
    request = started.request
    assert request.method == "POST"
    assert request.url == PAR
    assert dict(request.headers)["Authorization"].startswith("Basic ")
    params = dict(parse_qsl(request.content.decode()))
    assert params["client_id"] == "app"
    assert params["response_type"] == "code"
    assert params["redirect_uri"] == "https://app.example/cb"
    assert params["scope"] == "openid profile"
    assert params["state"] == started.pending.state
    assert params["code_challenge_method"] == "S256"
    assert params["nonce"] == started.pending.nonce
    assert "client_secret" not in params


def test_the_push_carries_the_client_id_once_with_post_authentication() -> None:
    flow = Flow(strategy(client_auth="client_secret_post"))
    pairs = parse_qsl(pushed(flow).request.content.decode())
    assert [name for name, _ in pairs].count("client_id") == 1
    assert ("client_secret", SECRET) in pairs


def test_the_push_answer_gives_a_url_with_only_client_id_and_request_uri() -> None:
    flow = Flow(strategy())
    started = pushed(flow)
    request = flow.receive_push_response(
        *answer({"request_uri": "urn:ietf:params:oauth:request_uri:abc", "expires_in": 90}),
        NOW + 1,
    )
    assert flow.state is State.AWAITING_REDIRECT
    parts = urlsplit(request.url)
    assert parts.path == "/authorize"
    assert parse_qsl(parts.query) == [
        ("client_id", "app"),
        ("request_uri", "urn:ietf:params:oauth:request_uri:abc"),
    ]
    assert request.pending == started.pending
    assert request.url_expires_at == NOW + 91
    assert request.expires_at == NOW + 600
    assert "abc" not in repr(request)


def test_a_pushed_login_completes_like_any_other() -> None:
    flow = Flow(strategy())
    started = pushed(flow)
    flow.receive_push_response(*answer({"request_uri": "urn:x", "expires_in": 60}), NOW)
    state = started.pending.state
    redirect, _ = Flow.redirect_key(
        flow.strategy, f"https://app.example/cb?code=c0de&state={state}"
    )
    exchange = flow.receive_redirect(redirect, NOW + 5)
    assert flow.state is State.EXCHANGING
    assert ("code", "c0de") in parse_qsl(exchange.content.decode())  # type: ignore[union-attr]


def test_the_url_never_outlives_the_flow() -> None:
    flow = Flow(strategy(state_ttl=30))
    pushed(flow)
    request = flow.receive_push_response(*answer({"request_uri": "urn:x", "expires_in": 600}), NOW)
    assert request.url_expires_at == NOW + 30


def test_start_refuses_a_pushing_strategy() -> None:
    flow = Flow(strategy())
    with pytest.raises(ConfigurationError, match="begin"):
        flow.start(NOW)
    assert flow.state is State.FAILED


def test_a_lost_push_fails_the_flow() -> None:
    flow = Flow(strategy())
    pushed(flow)
    with pytest.raises(ServerUnavailable):
        flow.push_failed(ServerUnavailable("the server is down"))
    assert flow.state is State.FAILED


def test_a_push_answer_is_taken_only_while_pushing() -> None:
    flow = Flow(strategy(push_authorization_request=False))
    flow.begin(NOW)
    with pytest.raises(InvalidTransition):
        flow.receive_push_response(*answer({"request_uri": "urn:x", "expires_in": 60}), NOW)
    assert flow.state is State.FAILED


def test_the_table_has_the_push_transitions() -> None:
    assert TRANSITIONS[State.CREATED, Event.PUSH_REQUESTED] is State.PUSHING
    assert TRANSITIONS[State.PUSHING, Event.AUTHORIZATION_STARTED] is State.AWAITING_REDIRECT
    assert TRANSITIONS[State.PUSHING, Event.PUSH_REFUSED] is State.FAILED


# -- the answer -----------------------------------------------------------------------------


def test_an_error_answer_is_the_servers_error() -> None:
    flow = Flow(strategy())
    pushed(flow)
    with pytest.raises(TokenRequestError) as refused:
        flow.receive_push_response(
            *answer({"error": "invalid_request", "error_description": "bad scope"}, 400), NOW
        )
    assert refused.value.error == "invalid_request"
    assert refused.value.error_description == "bad scope"
    assert flow.state is State.FAILED


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (200, {"request_uri": "urn:x", "expires_in": 60}, "201"),
        (201, {"expires_in": 60}, "no request_uri"),
        (201, {"request_uri": "", "expires_in": 60}, "no request_uri"),
        (201, {"request_uri": 7, "expires_in": 60}, "no request_uri"),
        (201, {"request_uri": "urn:" + "x" * 2000, "expires_in": 60}, "longer than"),
        (201, {"request_uri": "urn:x\r\nSet-Cookie: a=b", "expires_in": 60}, "control"),
        (201, {"request_uri": "urn:x y", "expires_in": 60}, "whitespace"),
        (201, {"request_uri": "urn:x"}, "expires_in"),
        (201, {"request_uri": "urn:x", "expires_in": 0}, "expires_in"),
        (201, {"request_uri": "urn:x", "expires_in": -5}, "expires_in"),
        (201, {"request_uri": "urn:x", "expires_in": "60"}, "expires_in"),
        (201, {"request_uri": "urn:x", "expires_in": True}, "expires_in"),
        (201, ["urn:x"], "not a JSON object"),
    ],
)
def test_answers_that_are_no_push_answer_are_refused(
    status: int, body: object, reason: str
) -> None:
    flow = Flow(strategy())
    pushed(flow)
    with pytest.raises(InvalidResponse, match=reason):
        flow.receive_push_response(*answer(body, status), NOW)
    assert flow.state is State.FAILED


@pytest.mark.parametrize("body", [b"<html>oops</html>", b"NaN", b"[" * 100_000])
def test_bodies_that_are_not_json_objects_are_refused(body: bytes) -> None:
    with pytest.raises(InvalidResponse):
        PushedAuthorization.from_response(201, JSON_TYPE, body, received_at=NOW)


def test_a_non_finite_or_huge_expires_in_is_refused_or_capped() -> None:
    with pytest.raises(InvalidResponse):
        PushedAuthorization.from_response(
            201, JSON_TYPE, b'{"request_uri": "urn:x", "expires_in": NaN}', received_at=NOW
        )
    huge = PushedAuthorization.from_response(
        201,
        JSON_TYPE,
        b'{"request_uri": "urn:x", "expires_in": 1' + b"0" * 400 + b"}",
        received_at=NOW,
    )
    assert huge.expires_at == NOW + 3600


def test_a_short_expires_in_is_respected() -> None:
    flow = Flow(strategy())
    pushed(flow)
    request = flow.receive_push_response(*answer({"request_uri": "urn:x", "expires_in": 1}), NOW)
    assert request.url_expires_at == NOW + 1


def test_errors_of_the_push_are_oauth_errors() -> None:
    assert issubclass(TokenRequestError, OAuthError)
    assert issubclass(InvalidResponse, OAuthError)
