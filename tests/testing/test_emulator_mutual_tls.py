"""The emulator's mutual-TLS registrations (RFC 8705): what a ``tls_client_auth`` or
``self_signed_tls_client_auth`` client must be registered with, and the metadata that
advertises mutual TLS only when asked to."""

from __future__ import annotations

import json

import pytest

from anyoauth.testing import ProviderEmulator


def test_a_tls_client_auth_client_needs_exactly_one_certificate_rule() -> None:
    emulator = ProviderEmulator()
    with pytest.raises(ValueError, match="tls_client_auth"):
        emulator.add_oauth_client("a", auth_method="tls_client_auth")
    with pytest.raises(ValueError, match="one"):
        emulator.add_oauth_client(
            "a",
            auth_method="tls_client_auth",
            tls_client_auth_subject_dn="CN=a",
            tls_client_auth_san_dns="a.example",
        )
    with pytest.raises(ValueError, match="tls_client_auth"):
        emulator.add_oauth_client("a", client_secret="s", tls_client_auth_san_dns="a.example")
    emulator.add_oauth_client("a", auth_method="tls_client_auth", tls_client_auth_san_dns="a")


def test_a_self_signed_client_needs_a_certificate_in_its_jwks() -> None:
    emulator = ProviderEmulator()
    with pytest.raises(ValueError, match="jwks"):
        emulator.add_oauth_client("d", auth_method="self_signed_tls_client_auth")
    with pytest.raises(ValueError, match="x5c"):
        emulator.add_oauth_client(
            "d",
            auth_method="self_signed_tls_client_auth",
            jwks={"keys": [{"kty": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}]},
        )


def test_a_client_of_a_certificate_method_presenting_none_in_process_is_refused() -> None:
    emulator = ProviderEmulator()
    emulator.add_oauth_client(
        "a",
        auth_method="tls_client_auth",
        tls_client_auth_san_dns="a.example",
        grant_types=["client_credentials"],
    )
    answer = emulator.handle(
        "POST",
        "https://as.example/mtls/oauth/token",
        {"Content-Type": "application/x-www-form-urlencoded"},
        b"grant_type=client_credentials&client_id=a",
    )
    assert answer.status == 401
    assert answer.json()["error"] == "invalid_client"
    assert emulator.calls["oauth.mtls.token"] == 1


@pytest.mark.parametrize("mutual_tls", [False, True])
def test_the_metadata_advertises_mutual_tls_only_when_asked(mutual_tls: bool) -> None:
    emulator = ProviderEmulator(oauth_mutual_tls=mutual_tls)
    document = json.loads(
        emulator.handle("GET", "https://as.example/.well-known/oauth-authorization-server").body
    )
    assert ("mtls_endpoint_aliases" in document) is mutual_tls
    assert ("tls_client_auth" in document["token_endpoint_auth_methods_supported"]) is mutual_tls
    assert document.get("tls_client_certificate_bound_access_tokens", False) is mutual_tls
    if mutual_tls:
        assert document["mtls_endpoint_aliases"]["revocation_endpoint"] == (
            "https://as.example/mtls/oauth/revoke"
        )
