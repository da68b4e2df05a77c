"""The FAPI 2.0 profile switch: what it turns on, and the rule each bad setting breaks."""

from __future__ import annotations

from typing import Any

import pytest
from joserfc.jwk import ECKey, RSAKey

from anyoauth import (
    AuthorizationCode,
    ClientCredentials,
    CodeJsonExchange,
    ConfigurationError,
    DeviceCode,
    DPoPKey,
    Implicit,
    ServerMetadata,
)
from anyoauth.sansio import FAPI2_ALGORITHMS, FAPI2_RULES

ISSUER = "https://bank.example"
EC_KEY = ECKey.generate_key("P-256", private=True).as_dict(private=True)


def settings(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "client_id": "app",
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}/authorize",
        "token_endpoint": f"{ISSUER}/token",
        "pushed_authorization_request_endpoint": f"{ISSUER}/par",
        "jwks_uri": f"{ISSUER}/jwks",
        "redirect_uri": "https://app.example/cb",
        "client_auth": "private_key_jwt",
        "client_key": EC_KEY,
        "client_assertion_algorithm": "ES256",
        "dpop_key": DPoPKey.generate("ES256"),
        "profile": "fapi2",
    }
    values.update(changes)
    return values


def refused(rule: str, cls: type = AuthorizationCode, **changes: Any) -> str:
    with pytest.raises(ConfigurationError) as caught:
        cls(**settings(**changes))
    message = str(caught.value)
    assert message.startswith(f"fapi2 requires {rule}: "), message
    return message


def test_the_profile_turns_on_what_it_requires() -> None:
    strategy = AuthorizationCode(
        **settings(
            uses_pkce=False,
            id_token_algorithms=("RS256", "PS256", "ES256", "EdDSA"),
        )
    )
    assert strategy.uses_pkce
    assert strategy.push_authorization_request
    assert strategy.require_iss
    assert strategy.id_token_algorithms == ("PS256", "ES256", "EdDSA")
    assert set(strategy.id_token_algorithms) <= FAPI2_ALGORITHMS


def test_without_the_profile_nothing_is_turned_on() -> None:
    strategy = AuthorizationCode(**settings(profile=None, uses_pkce=False))
    assert not strategy.uses_pkce
    assert not strategy.push_authorization_request
    assert not strategy.require_iss


def test_every_rule_is_named() -> None:
    assert [rule.name for rule in FAPI2_RULES] == [
        "the authorization code flow only",
        "PKCE with S256",
        "pushed authorization requests (RFC 9126)",
        "iss in authorization responses (RFC 9207)",
        "sender-constrained tokens: DPoP or mutual TLS",
        "private_key_jwt or mutual-TLS client authentication",
        "PS256, ES256 or EdDSA signatures only",
        "https to every server",
    ]


def test_the_implicit_grant_is_refused() -> None:
    refused(
        "the authorization code flow only",
        Implicit,
        token_endpoint=None,
        pushed_authorization_request_endpoint=None,
    )


def test_the_device_grant_is_refused() -> None:
    refused(
        "the authorization code flow only",
        DeviceCode,
        authorization_endpoint=None,
        pushed_authorization_request_endpoint=None,
        redirect_uri=None,
        device_authorization_endpoint=f"{ISSUER}/device",
    )


def test_the_json_code_exchange_is_refused() -> None:
    message = refused(
        "the authorization code flow only",
        CodeJsonExchange,
        client_secret="s3cret",
        client_auth="client_secret_basic",
        client_key=None,
        client_assertion_algorithm=None,
    )
    assert "JSON" in message


def test_a_server_without_pushed_authorization_requests_is_refused() -> None:
    refused("pushed authorization requests (RFC 9126)", pushed_authorization_request_endpoint=None)


def test_an_unknown_issuer_is_refused() -> None:
    message = refused("iss in authorization responses (RFC 9207)", issuer=None)
    assert "issuer" in message


def test_a_bearer_client_is_refused() -> None:
    refused("sender-constrained tokens: DPoP or mutual TLS", dpop_key=None)


@pytest.mark.parametrize(
    ("auth", "extra"),
    [
        ("client_secret_basic", {"client_secret": "s"}),
        ("client_secret_post", {"client_secret": "s"}),
        ("client_secret_jwt", {"client_secret": "s" * 32}),
        ("none", {}),
    ],
)
def test_weak_client_authentication_is_refused(auth: str, extra: dict[str, Any]) -> None:
    refused(
        "private_key_jwt or mutual-TLS client authentication",
        client_auth=auth,
        client_key=None,
        client_assertion_algorithm=None,
        **extra,
    )


def test_mutual_tls_meets_both_rules_without_dpop() -> None:
    strategy = AuthorizationCode(
        **settings(client_auth="tls_client_auth", client_key=None, client_assertion_algorithm=None),
    )
    assert strategy.uses_client_certificate
    ClientCredentials(
        **settings(
            client_auth="tls_client_auth",
            client_key=None,
            client_assertion_algorithm=None,
            dpop_key=None,
            authorization_endpoint=None,
            pushed_authorization_request_endpoint=None,
            redirect_uri=None,
        )
    )


def test_rsa_pkcs1_signatures_are_refused() -> None:
    rsa = RSAKey.generate_key(2048, private=True).as_dict(private=True)
    refused(
        "PS256, ES256 or EdDSA signatures only",
        client_key=rsa,
        client_assertion_algorithm="RS256",
    )
    refused("PS256, ES256 or EdDSA signatures only", dpop_key=DPoPKey.generate("RS256"))
    refused("PS256, ES256 or EdDSA signatures only", dpop_key=DPoPKey.generate("ES384"))
    refused(
        "PS256, ES256 or EdDSA signatures only",
        sign_request_object=True,
        request_object_key=rsa,
        request_object_algorithm="RS256",
    )
    AuthorizationCode(**settings(client_key=rsa, client_assertion_algorithm="PS256"))
    AuthorizationCode(**settings(dpop_key=DPoPKey.generate("EdDSA")))


def test_id_token_algorithms_outside_the_profile_alone_are_refused() -> None:
    refused("PS256, ES256 or EdDSA signatures only", id_token_algorithms=("RS256",))


@pytest.mark.parametrize(
    "changes",
    [
        {"allow_insecure": True},
        {
            "issuer": "http://127.0.0.1:8000",
            "authorization_endpoint": "http://127.0.0.1:8000/authorize",
            "token_endpoint": "http://127.0.0.1:8000/token",
            "pushed_authorization_request_endpoint": "http://127.0.0.1:8000/par",
            "jwks_uri": "http://127.0.0.1:8000/jwks",
        },
    ],
    ids=["allow-insecure", "loopback-http-server"],
)
def test_plain_http_is_refused(changes: dict[str, Any]) -> None:
    refused("https to every server", **changes)


def test_a_loopback_redirect_stays_allowed() -> None:
    strategy = AuthorizationCode(**settings(redirect_uri="http://127.0.0.1:8400/callback"))
    assert strategy.profile == "fapi2"


def test_an_unknown_profile_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="profile must be one of fapi2"):
        AuthorizationCode(**settings(profile="fapi1"))


def test_from_metadata_applies_the_profile() -> None:
    metadata = ServerMetadata.from_dict(
        {
            "issuer": ISSUER,
            "authorization_endpoint": f"{ISSUER}/authorize",
            "token_endpoint": f"{ISSUER}/token",
            "pushed_authorization_request_endpoint": f"{ISSUER}/par",
            "jwks_uri": f"{ISSUER}/jwks",
            "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic"],
        },
        issuer=ISSUER,
    )
    strategy = AuthorizationCode.from_metadata(
        metadata,
        client_id="app",
        redirect_uri="https://app.example/cb",
        client_key=EC_KEY,
        client_assertion_algorithm="ES256",
        dpop_key=DPoPKey.generate(),
        profile="fapi2",
    )
    assert strategy.authentication.name == "private_key_jwt"
    assert strategy.push_authorization_request
    assert strategy.require_iss
    with pytest.raises(ConfigurationError, match="sender-constrained"):
        AuthorizationCode.from_metadata(
            metadata,
            client_id="app",
            redirect_uri="https://app.example/cb",
            client_key=EC_KEY,
            client_assertion_algorithm="ES256",
            profile="fapi2",
        )


def test_the_docs_page_lists_every_rule() -> None:
    from pathlib import Path

    page = (Path(__file__).parents[2] / "docs" / "fapi" / "fapi2.md").read_text()
    for rule in FAPI2_RULES:
        assert f"| {rule.name} |" in page
