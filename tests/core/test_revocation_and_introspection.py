"""Token revocation (RFC 7009) and introspection (RFC 7662) in the core: the requests
and the reading of their answers."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest

from anyoauth import (
    ConfigurationError,
    Introspection,
    InvalidTokenResponse,
    TokenEndpointUnavailable,
    TokenRequestError,
)
from anyoauth.sansio import (
    check_revocation_response,
)
from support.oauth_server import ISSUER, JSON, NOW, body, code_strategy


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


def test_introspection_with_a_huge_integer_is_a_typed_error() -> None:
    for field in ("exp", "iat", "nbf"):
        answer = b'{"active":true,"' + field.encode() + b'":1' + b"0" * 400 + b"}"
        with pytest.raises(InvalidTokenResponse):
            Introspection.from_response(200, JSON, answer)
