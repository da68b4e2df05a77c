"""Authorization server metadata (RFC 8414, OpenID Connect Discovery): where it is
looked for, how it configures a strategy, and what is refused."""

from __future__ import annotations

from typing import Any

import pytest

from anyoauth import (
    AuthorizationCode,
    DeviceCode,
    DiscoveryError,
    ServerMetadata,
)
from anyoauth.sansio import (
    metadata_urls,
)
from support.oauth_server import AUTHORIZE, DEVICE, ISSUER, JSON, JWKS_URI, REDIRECT, TOKEN, body


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
