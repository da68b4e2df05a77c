"""Rich authorization requests (RFC 9396) in the sans-IO core: the strategy setting, the
``authorization_details`` parameter of every request that carries it, the request
object's array claim, tokens and introspection answers that keep the granted details,
the metadata's supported types and the typed error of ``invalid_authorization_details``."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import attrs
import pytest
from joserfc import jws
from joserfc.jwk import RSAKey

import anyoauth
from anyoauth import (
    AuthorizationCode,
    ClientCredentials,
    ConfigurationError,
    DeviceCode,
    InvalidResponse,
    ServerMetadata,
    Token,
)
from anyoauth._core.authorization_details import (
    MAX_AUTHORIZATION_DETAILS,
    MAX_AUTHORIZATION_DETAILS_SIZE,
)
from anyoauth._core.introspection import Introspection
from anyoauth._core.token import parse_token_response
from anyoauth._core.values import PendingFlow

AS = "https://as.example"
PAYMENT = {
    "type": "payment_initiation",
    "actions": ["initiate"],
    "instructedAmount": {"currency": "EUR", "amount": "123.50"},
    "creditorAccount": {"iban": "DE02100100109307118603"},
}
ACCOUNTS = {"type": "account_information", "actions": ["read"], "locations": [AS + "/accounts"]}


def code_flow(**settings: Any) -> AuthorizationCode:
    values: dict[str, Any] = {
        "client_id": "web",
        "client_secret": "s",
        "authorization_endpoint": AS + "/authorize",
        "token_endpoint": AS + "/token",
        "redirect_uri": "https://app.example/cb",
        "authorization_details": [PAYMENT],
    }
    values.update(settings)
    return AuthorizationCode(**values)


def form_of(request: anyoauth.HttpRequest) -> dict[str, list[str]]:
    return parse_qs(request.content.decode())


def sent_details(pairs: dict[str, list[str]]) -> Any:
    (text,) = pairs["authorization_details"]
    return json.loads(text)


def test_the_setting_is_a_frozen_copy_the_caller_cannot_change() -> None:
    amount = {"value": "1.00"}
    tags = ["a"]
    mine: list[dict[str, Any]] = [{"type": "payment_initiation", "amount": amount, "tags": tags}]
    strategy = code_flow(authorization_details=mine)
    amount["value"] = "999.00"
    tags.append("b")
    mine.append({"type": "sneaked_in"})
    (detail,) = strategy.authorization_details
    assert detail["amount"]["value"] == "1.00"
    assert detail["tags"] == ("a",)
    with pytest.raises(TypeError):
        detail["amount"] = {}  # type: ignore[index]
    assert code_flow(authorization_details=[dict(mine[0])]) != strategy


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ({"type": "x"}, "array of objects"),
        ("[]", "array of objects"),
        ([{"type": ""}], "non-empty string type"),
        ([{"actions": ["read"]}], "non-empty string type"),
        ([{"type": 7}], "non-empty string type"),
        ([{"type": "a\nb"}], "printable"),
        ([{"type": "t" * 300}], "printable"),
        ([{"type": "x", "when": {1, 2}}], "set"),
        ([{"type": "x", "n": float("nan")}], "not finite"),
        ([{"type": "x", 1: "a"}], "member name"),
        ([{"type": "x", "blob": b"raw"}], "bytes"),
        ([{"type": "x", "big": "y" * MAX_AUTHORIZATION_DETAILS_SIZE}], "larger than"),
        ([{"type": "x"}] * (MAX_AUTHORIZATION_DETAILS + 1), "more than"),
    ],
)
def test_details_that_are_not_typed_json_objects_are_refused(value: Any, named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        code_flow(authorization_details=value)


def test_deeply_nested_details_are_refused() -> None:
    nested: Any = "leaf"
    for _ in range(40):
        nested = {"n": nested}
    with pytest.raises(ConfigurationError, match="nests too deeply"):
        code_flow(authorization_details=[{"type": "x", "deep": nested}])


def test_the_authorization_url_carries_one_json_array() -> None:
    strategy = code_flow(authorization_details=[PAYMENT, ACCOUNTS])
    url = strategy.authorization_url(state="s" * 43, code_challenge=None)
    pairs = parse_qsl(urlsplit(url).query)
    assert [name for name, _ in pairs].count("authorization_details") == 1
    assert json.loads(dict(pairs)["authorization_details"]) == [PAYMENT, ACCOUNTS]


def test_no_details_send_no_parameter() -> None:
    strategy = code_flow(authorization_details=())
    url = strategy.authorization_url(state="s" * 43, code_challenge=None)
    assert "authorization_details" not in url
    pending = PendingFlow(state="s" * 43, binding="b", created_at=0, expires_at=600)
    assert "authorization_details" not in form_of(
        strategy.code_exchange_request("c", pending, now=0)
    )


def test_a_push_carries_the_details() -> None:
    strategy = code_flow(
        pushed_authorization_request_endpoint=AS + "/par", push_authorization_request=True
    )
    request = strategy.pushed_authorization_request(state="s" * 43, code_challenge=None, now=0)
    assert sent_details(form_of(request)) == [PAYMENT]


def test_a_request_object_carries_the_details_as_an_array_claim() -> None:
    key = RSAKey.generate_key(2048, private=True)
    strategy = code_flow(issuer=AS, sign_request_object=True, request_object_key=key)
    url = strategy.authorization_url(state="s" * 43, code_challenge=None, now=1_700_000_000)
    query = dict(parse_qsl(urlsplit(url).query))
    assert "authorization_details" not in query
    claims = jws.deserialize_compact(query["request"], key, algorithms=["PS256"]).payload
    assert json.loads(claims)["authorization_details"] == [PAYMENT]


def test_client_credentials_and_device_authorization_send_the_details() -> None:
    service = ClientCredentials(
        client_id="svc",
        client_secret="s",
        token_endpoint=AS + "/token",
        authorization_details=[ACCOUNTS],
    )
    assert sent_details(form_of(service.direct_token_request(now=0))) == [ACCOUNTS]
    device = DeviceCode(
        client_id="tv",
        client_auth="none",
        device_authorization_endpoint=AS + "/device",
        token_endpoint=AS + "/token",
        authorization_details=[ACCOUNTS],
    )
    assert sent_details(form_of(device.device_authorization_request(now=0))) == [ACCOUNTS]
    assert "authorization_details" not in form_of(device.device_token_request("dc", now=0))


def test_token_details_go_to_the_code_exchange_and_every_refresh() -> None:
    narrowed = [{"type": "payment_initiation", "actions": ["initiate"]}]
    strategy = code_flow(token_authorization_details=narrowed)
    pending = PendingFlow(state="s" * 43, binding="b", created_at=0, expires_at=600)
    assert sent_details(form_of(strategy.code_exchange_request("c", pending, now=0))) == narrowed
    token = Token(access_token="a", issued_at=0, refresh_token="r")
    refresh = strategy.refresh_request(token, now=0)
    assert refresh is not None
    assert sent_details(form_of(refresh)) == narrowed
    plain = code_flow()
    refresh = plain.refresh_request(token, now=0)
    assert refresh is not None
    assert "authorization_details" not in form_of(refresh)


def test_a_strategy_repr_shows_the_types_only() -> None:
    shown = repr(code_flow(authorization_details=[PAYMENT, ACCOUNTS]))
    assert "types('payment_initiation', 'account_information')" in shown
    assert "DE02100100109307118603" not in shown
    assert "123.50" not in shown


def test_a_token_answer_keeps_the_granted_details() -> None:
    body = {"access_token": "a", "token_type": "Bearer", "authorization_details": [PAYMENT]}
    token = parse_token_response(200, "application/json", json.dumps(body).encode(), received_at=0)
    assert token.authorization_details is not None
    assert token.authorization_details[0]["type"] == "payment_initiation"
    assert "authorization_details" not in token.extra
    assert "DE02100100109307118603" not in repr(token)
    assert "types('payment_initiation')" in repr(token)
    again = Token.from_dict(json.loads(json.dumps(token.to_dict())))
    assert again.to_dict() == token.to_dict()
    assert again.to_dict()["authorization_details"] == [PAYMENT]


def test_a_token_without_details_has_none_and_old_records_still_load() -> None:
    token = parse_token_response(200, None, b'{"access_token":"a"}', received_at=0)
    assert token.authorization_details is None
    record = token.to_dict()
    del record["authorization_details"]
    assert Token.from_dict(record).authorization_details is None


@pytest.mark.parametrize(
    "details",
    [
        {"type": "x"},
        json.dumps([PAYMENT]),
        [{"actions": ["read"]}],
        [{"type": ""}],
        ["payment_initiation"],
        [{"type": "x", "pad": "y" * 20_000}],
        [{"type": "\x1b]0;owned\x07"}],
    ],
)
def test_a_malformed_details_answer_is_refused(details: Any) -> None:
    body = json.dumps({"access_token": "a", "authorization_details": details}).encode()
    with pytest.raises(InvalidResponse, match=r"authorization_details|type") as refused:
        parse_token_response(200, "application/json", body, received_at=0)
    assert "yyyy" not in str(refused.value)
    assert "owned" not in str(refused.value)


def test_introspection_exposes_the_details() -> None:
    body = json.dumps({"active": True, "authorization_details": [ACCOUNTS]}).encode()
    found = Introspection.from_response(200, "application/json", body)
    assert found.authorization_details is not None
    assert found.authorization_details[0]["actions"] == ("read",)
    assert "authorization_details" not in found.extra
    bad = json.dumps({"active": True, "authorization_details": {"type": "x"}}).encode()
    with pytest.raises(InvalidResponse, match="array of objects"):
        Introspection.from_response(200, "application/json", bad)


def test_metadata_lists_the_supported_types_and_from_metadata_refuses_others() -> None:
    document = {
        "issuer": AS,
        "authorization_endpoint": AS + "/authorize",
        "token_endpoint": AS + "/token",
        "authorization_details_types_supported": ["payment_initiation"],
    }
    metadata = ServerMetadata.from_dict(document, issuer=AS)
    assert metadata.authorization_details_types_supported == ("payment_initiation",)
    settings = {"client_id": "web", "redirect_uri": "https://app.example/cb"}
    ok = AuthorizationCode.from_metadata(metadata, authorization_details=[PAYMENT], **settings)
    assert ok.authorization_details[0]["type"] == "payment_initiation"
    with pytest.raises(ConfigurationError, match="account_information"):
        AuthorizationCode.from_metadata(metadata, authorization_details=[ACCOUNTS], **settings)
    with pytest.raises(ConfigurationError, match="account_information"):
        AuthorizationCode.from_metadata(
            metadata, token_authorization_details=[ACCOUNTS], **settings
        )
    silent = ServerMetadata.from_dict(
        {**document, "authorization_details_types_supported": []}, issuer=AS
    )
    assert AuthorizationCode.from_metadata(silent, authorization_details=[ACCOUNTS], **settings)


def test_invalid_authorization_details_is_a_typed_error_with_a_clear_message() -> None:
    body = b'{"error":"invalid_authorization_details"}'
    with pytest.raises(anyoauth.TokenRequestError) as refused:
        parse_token_response(400, "application/json", body, received_at=0)
    assert refused.value.error == "invalid_authorization_details"
    assert "refused the authorization_details" in str(refused.value)
    denied = anyoauth.AuthorizationDenied("invalid_authorization_details")
    assert "RFC 9396" in str(denied)
    described = anyoauth.AuthorizationDenied("invalid_authorization_details", "unknown type")
    assert str(described) == "invalid_authorization_details: unknown type"


def test_details_keep_their_order_and_unicode() -> None:
    detail = {"type": "payment_initiation", "creditorName": "Zoë Müller", "z": 1, "a": 2}
    strategy = code_flow(authorization_details=[detail])
    url = strategy.authorization_url(state="s" * 43, code_challenge=None)
    sent = json.loads(dict(parse_qsl(urlsplit(url).query))["authorization_details"])
    assert sent == [detail]
    assert list(sent[0]) == ["type", "creditorName", "z", "a"]
    assert attrs.evolve(strategy).authorization_details == strategy.authorization_details
