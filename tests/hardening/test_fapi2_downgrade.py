"""A server's metadata cannot talk a client held to the FAPI 2.0 profile down: a missing
PAR endpoint, an unknown issuer, weak signing algorithms or plain http are refused with
the rule they break, never silently accepted."""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest
from joserfc.jwk import ECKey

from anyoauth import (
    AuthorizationCode,
    ConfigurationError,
    DPoPKey,
    InvalidResponse,
    ServerMetadata,
)

ISSUER = "https://bank.example"
KEY = ECKey.generate_key("P-256", private=True).as_dict(private=True)


def document(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}/authorize",
        "token_endpoint": f"{ISSUER}/token",
        "pushed_authorization_request_endpoint": f"{ISSUER}/par",
        "require_pushed_authorization_requests": True,
        "authorization_response_iss_parameter_supported": True,
        "dpop_signing_alg_values_supported": ["ES256", "PS256"],
        "id_token_signing_alg_values_supported": ["PS256", "ES256"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
    }
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def configure(metadata: ServerMetadata, **settings: Any) -> AuthorizationCode:
    values: dict[str, Any] = {
        "client_id": "app",
        "redirect_uri": "https://app.example/cb",
        "client_key": KEY,
        "client_assertion_algorithm": "ES256",
        "dpop_key": DPoPKey.generate("ES256"),
        "profile": "fapi2",
    }
    values.update(settings)
    return AuthorizationCode.from_metadata(metadata, **values)


def test_an_honest_server_configures_the_whole_profile() -> None:
    strategy = configure(ServerMetadata.from_dict(document(), issuer=ISSUER))
    assert strategy.push_authorization_request
    assert strategy.require_iss
    assert strategy.uses_pkce
    assert strategy.authentication.name == "private_key_jwt"


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        (
            {
                "pushed_authorization_request_endpoint": None,
                "require_pushed_authorization_requests": None,
            },
            "pushed authorization requests",
        ),
        ({"dpop_signing_alg_values_supported": ["RS256"]}, "DPoP"),
    ],
    ids=["no-par", "rs256-only-dpop"],
)
def test_metadata_cannot_turn_a_rule_off(changes: dict[str, Any], rule: str) -> None:
    metadata = ServerMetadata.from_dict(document(**changes), issuer=ISSUER)
    with pytest.raises(ConfigurationError, match=rule):
        configure(metadata)


def test_iss_is_required_whatever_the_server_says() -> None:
    metadata = ServerMetadata.from_dict(
        document(authorization_response_iss_parameter_supported=False), issuer=ISSUER
    )
    assert configure(metadata).require_iss


def test_a_server_listing_only_weak_id_token_algorithms_leaves_none_to_accept() -> None:
    metadata = ServerMetadata.from_dict(document(), issuer=ISSUER)
    with pytest.raises(ConfigurationError, match="PS256, ES256 or EdDSA signatures only"):
        configure(metadata, id_token_algorithms=("RS256",))


def test_a_loopback_http_server_is_refused_even_when_allowed_elsewhere() -> None:
    base = "http://127.0.0.1:9000"
    metadata = ServerMetadata.from_dict(
        document(
            issuer=base,
            authorization_endpoint=f"{base}/authorize",
            token_endpoint=f"{base}/token",
            pushed_authorization_request_endpoint=f"{base}/par",
        ),
        issuer=base,
    )
    with pytest.raises(ConfigurationError, match="https to every server"):
        configure(metadata)


def test_a_client_secret_cannot_stand_in_for_the_strong_methods() -> None:
    metadata = ServerMetadata.from_dict(
        document(token_endpoint_auth_methods_supported=["client_secret_basic"]), issuer=ISSUER
    )
    with pytest.raises(ConfigurationError, match="private_key_jwt or mutual-TLS"):
        configure(
            metadata, client_key=None, client_secret="s3cret", client_auth="client_secret_basic"
        )


def test_signed_responses_are_held_to_the_profiles_algorithms() -> None:
    """A signed authorization response (JARM) is a signature like the others: under the
    profile it is accepted only in PS256, ES256 or EdDSA, whatever the server lists."""
    metadata = ServerMetadata.from_dict(
        document(
            jwks_uri=f"{ISSUER}/jwks",
            authorization_signing_alg_values_supported=["RS256", "PS256", "ES256"],
        ),
        issuer=ISSUER,
    )
    strategy = configure(metadata, response_mode="jwt")
    assert set(strategy.authorization_signing_algorithms) == {"PS256", "ES256"}
    unlisted = ServerMetadata.from_dict(document(jwks_uri=f"{ISSUER}/jwks"), issuer=ISSUER)
    default = configure(unlisted, response_mode="jwt")
    assert "RS256" not in default.authorization_signing_algorithms
    with pytest.raises(ConfigurationError, match="PS256, ES256 or EdDSA signatures only"):
        configure(metadata, response_mode="jwt", authorization_signing_algorithms=("RS256",))


def test_a_bearer_token_is_refused_when_dpop_is_the_only_sender_constraint() -> None:
    """Under the profile a token must be sender-constrained: a server answering a DPoP
    client with a plain bearer token (no certificate to bind it either) is refused, not
    used unbound."""
    strategy = configure(ServerMetadata.from_dict(document(), issuer=ISSUER))
    body = json.dumps({"access_token": "AT", "token_type": "Bearer", "expires_in": 60})
    with pytest.raises(InvalidResponse):
        strategy.parse_token_response(200, "application/json", body.encode(), 1_700_000_000.0)
    bound = json.dumps({"access_token": "AT", "token_type": "DPoP", "expires_in": 60})
    token = strategy.parse_token_response(200, "application/json", bound.encode(), 1_700_000_000.0)
    assert token.dpop_jkt == strategy.dpop_key.thumbprint  # type: ignore[union-attr]
    assert not strategy.can_use(attrs.evolve(token, token_type="Bearer", dpop_jkt=None))
