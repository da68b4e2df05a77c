"""Token values and the validation of token endpoint answers."""

from __future__ import annotations

import json
import math
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from anyoauth import InvalidTokenResponse, Token, TokenRequestError
from anyoauth.sansio import parse_token_response

NOW = 1_700_000_000.0
ACCESS = "SENTINEL-ACCESS-7f3a"
REFRESH = "SENTINEL-REFRESH-91bc"
EXTRA_VALUE = "SENTINEL-EXTRA-55de"

JSON = "application/json"


def _json(payload: object) -> bytes:
    return json.dumps(payload).encode()


def _parse(status: int, body: bytes, content_type: str | None = JSON) -> Token:
    return parse_token_response(status, content_type, body, received_at=NOW)


def _short_id(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 24 else f"{text[:12]}...({len(text)} chars)"


# -- Token.from_response ------------------------------------------------------------


def test_token_type_defaults_to_bearer() -> None:
    token = Token.from_response({"access_token": ACCESS}, received_at=NOW)
    assert token.token_type == "Bearer"
    assert token.authorization_header == f"Bearer {ACCESS}"


def test_an_accepted_token_type_is_kept_as_given() -> None:
    token = Token.from_response(
        {"access_token": ACCESS, "token_type": "MAC"}, received_at=NOW, token_types={"mac"}
    )
    assert token.token_type == "MAC"


@pytest.mark.parametrize(
    ("expires_in", "seconds"),
    [(3600, 3600.0), (0, 0.0), (86400.5, 86400.5), ("86400", 86400.0), (" 300 ", 300.0)],
)
def test_expires_at_is_receipt_plus_expires_in(expires_in: object, seconds: float) -> None:
    token = Token.from_response({"access_token": ACCESS, "expires_in": expires_in}, received_at=NOW)
    assert token.issued_at == NOW
    assert token.expires_at == NOW + seconds
    assert token.expires_in(NOW + 10) == seconds - 10


@given(st.integers(min_value=0, max_value=10 * 365 * 24 * 3600), st.booleans())
def test_any_plausible_lifetime_is_accepted(seconds: int, as_string: bool) -> None:
    value: object = str(seconds) if as_string else seconds
    token = Token.from_response({"access_token": ACCESS, "expires_in": value}, received_at=NOW)
    assert token.expires_at == NOW + seconds


def test_no_expires_in_means_no_expiry() -> None:
    token = Token.from_response({"access_token": ACCESS}, received_at=NOW)
    assert token.expires_at is None
    assert token.expires_in(NOW) is None
    assert not token.is_expired(NOW + 100 * 365 * 24 * 3600, leeway=1e9)


@pytest.mark.parametrize(
    "expires_in",
    [
        "soon",
        "1 hour",
        "0x10",
        -1,
        "-5",
        math.nan,
        math.inf,
        -math.inf,
        "nan",
        "inf",
        True,
        False,
        [3600],
        {"seconds": 3600},
        10**12,
        1e300,
        10**400,
        "1e400",
    ],
    ids=_short_id,
)
def test_bad_expires_in_is_a_value_error(expires_in: object) -> None:
    with pytest.raises(ValueError, match="expires_in"):
        Token.from_response({"access_token": ACCESS, "expires_in": expires_in}, received_at=NOW)


def test_empty_expires_in_is_absent() -> None:
    token = Token.from_response({"access_token": ACCESS, "expires_in": ""}, received_at=NOW)
    assert token.expires_at is None


@pytest.mark.parametrize("access_token", [None, "", 123, ["x"], {"t": "x"}], ids=repr)
def test_access_token_must_be_a_non_empty_string(access_token: object) -> None:
    payload: dict[str, Any] = {"token_type": "bearer"}
    if access_token is not None:
        payload["access_token"] = access_token
    with pytest.raises(ValueError, match="access_token"):
        Token.from_response(payload, received_at=NOW)


def test_teamwork_fields_are_kept() -> None:
    installation = {
        "id": 42,
        "name": "Acme",
        "region": "US",
        "apiEndPoint": "https://acme.teamwork.com/",
        "url": "https://acme.teamwork.com/",
        "company": {"id": 1, "name": "Acme Inc", "logo": ""},
    }
    user = {"id": 7, "firstName": "Ada", "lastName": "L", "email": "ada@example.com"}
    payload = {
        "access_token": "tkn.v1_abc",
        "installation": installation,
        "status": "ok",
        "user": user,
    }
    token = Token.from_response(payload, received_at=NOW)
    assert token.extra == {"installation": installation, "status": "ok", "user": user}
    assert token.expires_at is None
    assert token.refresh_token is None


def test_keycloak_fields_are_kept() -> None:
    payload = {
        "access_token": ACCESS,
        "token_type": "bearer",
        "expires_in": 300,
        "refresh_expires_in": 1800,
        "refresh_token": REFRESH,
        "not-before-policy": 0,
        "scope": "corp profile",
        "app_id": "app-123",
        "session_state": "ss",
    }
    token = Token.from_response(payload, received_at=NOW)
    assert token.extra == {
        "refresh_expires_in": 1800,
        "not-before-policy": 0,
        "app_id": "app-123",
        "session_state": "ss",
    }
    assert token.refresh_token == REFRESH
    assert token.scope == "corp profile"
    assert token.token_type == "bearer"
    assert token.expires_at == NOW + 300


def test_extra_cannot_be_changed_through_the_token() -> None:
    token = Token.from_response({"access_token": ACCESS, "app_id": "a"}, received_at=NOW)
    with pytest.raises(TypeError):
        token.extra["app_id"] = "b"  # type: ignore[index]


def _full_token() -> Token:
    return Token.from_response(
        {
            "access_token": ACCESS,
            "refresh_token": REFRESH,
            "expires_in": 60,
            "scope": "read write",
            "id_token": EXTRA_VALUE,
            "user": {"email": EXTRA_VALUE},
        },
        received_at=NOW,
    )


@pytest.mark.parametrize("render", [repr, str], ids=["repr", "str"])
def test_repr_and_str_show_no_secrets(render: Any) -> None:
    text = render(_full_token())
    assert ACCESS not in text
    assert REFRESH not in text
    assert EXTRA_VALUE not in text
    assert "id_token" in text  # which fields exist is fine to show


def test_to_dict_from_dict_round_trip() -> None:
    token = _full_token()
    data = json.loads(json.dumps(token.to_dict()))
    again = Token.from_dict(data)
    assert again == token
    assert dict(again.extra) == dict(token.extra)
    assert again.refresh_token == REFRESH
    assert again.access_token == ACCESS


def test_round_trip_without_expiry() -> None:
    token = Token.from_response({"access_token": ACCESS}, received_at=NOW)
    again = Token.from_dict(json.loads(json.dumps(token.to_dict())))
    assert again == token
    assert again.expires_at is None


@pytest.mark.parametrize("field", ["access_token", "expires_at", "refresh_token", "extra"])
def test_token_is_frozen(field: str) -> None:
    token = _full_token()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        setattr(token, field, None)


def test_is_expired_with_leeway() -> None:
    token = Token(access_token=ACCESS, issued_at=NOW, expires_at=NOW + 100)
    assert not token.is_expired(NOW + 99.9)
    assert token.is_expired(NOW + 100)
    assert token.is_expired(NOW + 101)
    assert not token.is_expired(NOW + 89.9, leeway=10)
    assert token.is_expired(NOW + 90, leeway=10)


# -- parse_token_response -----------------------------------------------------------


def test_success() -> None:
    body = _json({"access_token": ACCESS, "token_type": "Bearer", "expires_in": 3600})
    token = _parse(200, body)
    assert token.access_token == ACCESS
    assert token.expires_at == NOW + 3600
    assert token.issued_at == NOW


@pytest.mark.parametrize("status", [200, 400, 502])
def test_html_body_is_invalid(status: int) -> None:
    body = b"<!DOCTYPE html><html><body><h1>Bad Gateway</h1></body></html>"
    with pytest.raises(InvalidTokenResponse) as info:
        _parse(status, body, "text/html; charset=utf-8")
    assert info.value.status_code == status


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b'[{"access_token": "x"}]',
        b'"access_token"',
        b"null",
        b"42",
        b'{"access_token": "abc", "expires_in": 36',
        b"",
        b"\xff\xfe\x00garbage",
        b"access_token=abc&token_type=bearer",
    ],
    ids=repr,
)
def test_non_object_bodies_are_invalid(body: bytes) -> None:
    with pytest.raises(InvalidTokenResponse) as info:
        _parse(200, body)
    assert info.value.status_code == 200


@pytest.mark.parametrize(
    "body",
    [b"[" * 10_000, b'{"a":' * 10_000],
    ids=["deep-array", "deep-object"],
)
def test_deeply_nested_json_is_invalid(body: bytes) -> None:
    with pytest.raises(InvalidTokenResponse):
        _parse(200, body)


def test_huge_integer_expires_in_is_invalid() -> None:
    body = b'{"access_token": "abc", "expires_in": 1' + b"0" * 400 + b"}"
    with pytest.raises(InvalidTokenResponse):
        _parse(200, body)


def test_oauth_error_object() -> None:
    body = _json(
        {
            "error": "invalid_grant",
            "error_description": "Code expired",
            "error_uri": "https://p.example/errors/invalid_grant",
        }
    )
    with pytest.raises(TokenRequestError) as info:
        _parse(400, body)
    err = info.value
    assert err.error == "invalid_grant"
    assert err.error_description == "Code expired"
    assert err.error_uri == "https://p.example/errors/invalid_grant"
    assert err.status_code == 400


def test_error_object_with_200_status_is_still_an_error() -> None:
    with pytest.raises(TokenRequestError) as info:
        _parse(200, _json({"error": "slow_down"}))
    assert info.value.error == "slow_down"


def test_teamwork_style_error() -> None:
    body = _json({"status": "error", "message": "Invalid code"})
    with pytest.raises(TokenRequestError) as info:
        _parse(400, body)
    assert info.value.error_description == "Invalid code"
    assert info.value.status_code == 400


def test_error_status_without_error_object_is_not_a_token() -> None:
    with pytest.raises((TokenRequestError, InvalidTokenResponse)):
        _parse(500, _json({"access_token": ACCESS}))


@pytest.mark.parametrize("payload", [{"access_token": ""}, {"token_type": "bearer"}], ids=repr)
def test_missing_or_empty_access_token_is_invalid(payload: dict[str, Any]) -> None:
    with pytest.raises(InvalidTokenResponse):
        _parse(200, _json(payload))


@pytest.mark.parametrize(
    "expires_in", ["NaN", "Infinity", "-Infinity", "-1", '"soon"', "true", "1e400"]
)
def test_bad_expires_in_in_a_response_is_invalid(expires_in: str) -> None:
    body = b'{"access_token": "abc", "expires_in": ' + expires_in.encode() + b"}"
    with pytest.raises(InvalidTokenResponse):
        _parse(200, body)


def test_invalid_response_does_not_echo_the_body() -> None:
    body = _json({"access_token": "", "secret_thing": EXTRA_VALUE})
    with pytest.raises(InvalidTokenResponse) as info:
        _parse(200, body)
    assert EXTRA_VALUE not in str(info.value)


_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["", "3600", "Bearer", "tkn.v1_x", "error"])
)
_json_values = st.recursive(
    _json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
_token_like = st.fixed_dictionaries(
    {},
    optional={
        "access_token": _json_values,
        "token_type": _json_values,
        "expires_in": _json_values,
        "refresh_token": _json_values,
        "scope": _json_values,
        "error": _json_values,
        "error_description": _json_values,
        "status": _json_values,
        "message": _json_values,
    },
)


@given(
    status=st.integers(min_value=100, max_value=599),
    content_type=st.none() | st.sampled_from([JSON, "text/html", "text/plain; charset=utf-8"]),
    body=st.binary(max_size=300)
    | _json_values.map(lambda v: json.dumps(v).encode())
    | _token_like.map(lambda v: json.dumps(v).encode()),
)
def test_any_answer_is_a_token_or_a_typed_error(
    status: int, content_type: str | None, body: bytes
) -> None:
    outcome: Token | InvalidTokenResponse | TokenRequestError
    try:
        outcome = parse_token_response(status, content_type, body, received_at=NOW)
    except (InvalidTokenResponse, TokenRequestError) as exc:
        outcome = exc
    if isinstance(outcome, Token):
        assert 200 <= status < 300
        assert isinstance(outcome.access_token, str)
        assert outcome.access_token
        assert outcome.expires_at is None or NOW <= outcome.expires_at < math.inf
    else:
        assert outcome.status_code == status
