"""The device authorization grant (RFC 8628) in the core: the device authorization
answer, polling, and what may be shown to a person."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import pytest

from anyoauth import (
    AuthorizationDenied,
    ConfigurationError,
    DeviceAuthorization,
    DeviceCode,
    FlowExpired,
    InvalidTokenResponse,
    InvalidTransition,
    Token,
    TokenRequestError,
)
from anyoauth.sansio import (
    Flow,
    State,
)
from support.oauth_server import (
    DEVICE,
    JSON,
    NOW,
    TOKEN,
    body,
    code_strategy,
    device_answer,
    state_of,
)


def device_strategy(**kwargs: Any) -> DeviceCode:
    return DeviceCode(
        client_id="tv",
        device_authorization_endpoint=DEVICE,
        token_endpoint=TOKEN,
        scope="read",
        **kwargs,
    )


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


def test_device_authorization_with_a_huge_integer_is_a_typed_error() -> None:
    huge = json.loads("1" + "0" * 400)
    for field in ("expires_in", "interval"):
        with pytest.raises(InvalidTokenResponse):
            DeviceAuthorization.from_response(
                200, JSON, device_answer(**{field: huge}), received_at=NOW
            )


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
