"""Mutual TLS in the sans-IO core (RFC 8705): the two certificate client authentication
methods, certificate thumbprints and bindings, the metadata's mTLS fields and the
strategies' use of the endpoint aliases."""

from __future__ import annotations

import base64
import hashlib
import ssl
from typing import Any
from urllib.parse import parse_qsl

import pytest
import trustme

import anyoauth
from anyoauth import (
    ClientCredentials,
    ConfigurationError,
    DeviceCode,
    SelfSignedTlsClientAuth,
    ServerMetadata,
    TlsClientAuth,
)
from anyoauth.sansio import ClientAuthMethod
from support.oauth_server import ISSUER, NOW, REDIRECT, code_strategy, redirect_of, started

CA = trustme.CA()
PEM = CA.issue_cert("app.example").cert_chain_pems[0].bytes()
DER = ssl.PEM_cert_to_DER_cert(PEM.decode())
ALIASES = {
    "token_endpoint": "https://mtls.as.example/token",
    "revocation_endpoint": "https://mtls.as.example/revoke",
    "introspection_endpoint": "https://mtls.as.example/introspect",
    "device_authorization_endpoint": "https://mtls.as.example/device",
    "userinfo_endpoint": "https://mtls.as.example/userinfo",
}


def document(**extra: Any) -> dict[str, Any]:
    return {
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}/authorize",
        "token_endpoint": f"{ISSUER}/token",
        "revocation_endpoint": f"{ISSUER}/revoke",
        "introspection_endpoint": f"{ISSUER}/introspect",
        "device_authorization_endpoint": f"{ISSUER}/device",
        "userinfo_endpoint": f"{ISSUER}/userinfo",
        **extra,
    }


def form(content: bytes) -> dict[str, str]:
    return dict(parse_qsl(content.decode()))


@pytest.mark.parametrize(
    ("name", "kind"),
    [("tls_client_auth", TlsClientAuth), ("self_signed_tls_client_auth", SelfSignedTlsClientAuth)],
)
def test_the_mtls_method_names_build_methods_that_send_only_the_client_id(
    name: str, kind: type[ClientAuthMethod]
) -> None:
    strategy = ClientCredentials(
        client_id="app",
        token_endpoint=f"{ISSUER}/token",
        client_auth=name,  # type: ignore[arg-type]
    )
    assert type(strategy.authentication) is kind
    assert strategy.authentication.name == name
    assert strategy.authentication.uses_client_certificate
    assert strategy.uses_client_certificate
    request = strategy.direct_token_request(now=NOW)
    assert request is not None
    assert form(request.content) == {"grant_type": "client_credentials", "client_id": "app"}
    assert not any(header.lower() == "authorization" for header, _ in request.headers)


def test_secret_and_key_methods_use_no_client_certificate() -> None:
    strategy = ClientCredentials(
        client_id="app", client_secret="s", token_endpoint=f"{ISSUER}/token"
    )
    assert not strategy.authentication.uses_client_certificate
    assert not strategy.uses_client_certificate


def test_the_thumbprint_is_the_base64url_sha256_of_the_der_certificate() -> None:
    expected = base64.urlsafe_b64encode(hashlib.sha256(DER).digest()).rstrip(b"=").decode()
    assert anyoauth.certificate_thumbprint(PEM) == expected
    assert anyoauth.certificate_thumbprint(PEM.decode()) == expected
    assert anyoauth.certificate_thumbprint(DER) == expected


@pytest.mark.parametrize("value", [b"", b"not a certificate", "-----BEGIN CERTIFICATE-----\n!!"])
def test_a_thumbprint_of_something_else_is_a_configuration_error(value: str | bytes) -> None:
    with pytest.raises(ConfigurationError):
        anyoauth.certificate_thumbprint(value)


def test_a_binding_holds_only_for_the_certificate_its_cnf_names() -> None:
    other = CA.issue_cert("other.example").cert_chain_pems[0].bytes()
    claims = {"active": True, "cnf": {"x5t#S256": anyoauth.certificate_thumbprint(PEM)}}
    assert anyoauth.is_certificate_bound(claims, PEM)
    assert not anyoauth.is_certificate_bound(claims, other)
    assert not anyoauth.is_certificate_bound({"active": True}, PEM)
    assert not anyoauth.is_certificate_bound({"cnf": {"jkt": "x"}}, PEM)
    assert not anyoauth.is_certificate_bound({"cnf": "x"}, PEM)


def test_metadata_reads_the_aliases_and_the_bound_tokens_flag() -> None:
    metadata = ServerMetadata.from_dict(
        document(mtls_endpoint_aliases=ALIASES, tls_client_certificate_bound_access_tokens=True),
        issuer=ISSUER,
    )
    assert dict(metadata.mtls_endpoint_aliases) == ALIASES
    assert metadata.tls_client_certificate_bound_access_tokens is True
    assert metadata.endpoint("token_endpoint", mtls=True) == ALIASES["token_endpoint"]
    assert metadata.endpoint("token_endpoint") == f"{ISSUER}/token"
    assert metadata.endpoint("userinfo_endpoint") == f"{ISSUER}/userinfo"
    assert metadata.endpoint("jwks_uri", mtls=True) is None
    assert metadata.endpoint("not_an_endpoint") is None


def test_metadata_without_mtls_fields_has_none() -> None:
    metadata = ServerMetadata.from_dict(document(), issuer=ISSUER)
    assert dict(metadata.mtls_endpoint_aliases) == {}
    assert metadata.tls_client_certificate_bound_access_tokens is False


def test_a_non_boolean_bound_tokens_flag_is_refused() -> None:
    with pytest.raises(anyoauth.DiscoveryError, match="tls_client_certificate_bound"):
        ServerMetadata.from_dict(
            document(tls_client_certificate_bound_access_tokens="yes"), issuer=ISSUER
        )


def test_from_metadata_uses_the_aliases_for_an_mtls_client() -> None:
    metadata = ServerMetadata.from_dict(document(mtls_endpoint_aliases=ALIASES), issuer=ISSUER)
    strategy = DeviceCode.from_metadata(
        metadata, client_id="tv", client_auth="self_signed_tls_client_auth"
    )
    assert strategy.use_mtls_endpoint_aliases
    assert (
        strategy.device_authorization_request(now=NOW).url
        == ALIASES["device_authorization_endpoint"]
    )
    assert strategy.device_token_request("dc", now=NOW).url == ALIASES["token_endpoint"]
    assert strategy.revocation_request("t", now=NOW).url == ALIASES["revocation_endpoint"]
    assert strategy.introspection_request("t", now=NOW).url == ALIASES["introspection_endpoint"]
    # The configured endpoints themselves stay what the metadata says.
    assert strategy.token_endpoint == f"{ISSUER}/token"


def test_from_metadata_keeps_plain_endpoints_for_other_clients() -> None:
    metadata = ServerMetadata.from_dict(document(mtls_endpoint_aliases=ALIASES), issuer=ISSUER)
    strategy = ClientCredentials.from_metadata(metadata, client_id="svc", client_secret="s")
    assert not strategy.use_mtls_endpoint_aliases
    assert not strategy.uses_client_certificate
    request = strategy.direct_token_request(now=NOW)
    assert request is not None
    assert request.url == f"{ISSUER}/token"


def test_a_client_authentication_value_with_a_certificate_turns_the_aliases_on() -> None:
    metadata = ServerMetadata.from_dict(document(mtls_endpoint_aliases=ALIASES), issuer=ISSUER)
    strategy = ClientCredentials.from_metadata(
        metadata, client_id="svc", client_auth=TlsClientAuth()
    )
    request = strategy.direct_token_request(now=NOW)
    assert request is not None
    assert request.url == ALIASES["token_endpoint"]


def exchange_url(strategy: anyoauth.AuthorizationCode) -> str:
    flow, params = started(strategy)
    request = flow.receive_redirect(
        strategy.read_redirect(redirect_of(REDIRECT, code="c", state=params["state"])), NOW
    )
    assert isinstance(request, anyoauth.HttpRequest)
    return request.url


def test_aliases_can_be_asked_for_without_mtls_client_authentication() -> None:
    strategy = code_strategy(mtls_endpoint_aliases=ALIASES, use_mtls_endpoint_aliases=True)
    assert strategy.uses_client_certificate
    assert exchange_url(strategy) == ALIASES["token_endpoint"]


def test_aliases_without_use_change_nothing() -> None:
    strategy = code_strategy(mtls_endpoint_aliases=ALIASES)
    assert not strategy.uses_client_certificate
    assert exchange_url(strategy) == strategy.token_endpoint


@pytest.mark.parametrize("aliases", [{"token_endpoint": 5}, {3: "https://a/"}, ["x"]])
def test_malformed_aliases_are_a_configuration_error(aliases: Any) -> None:
    with pytest.raises(ConfigurationError, match="mtls_endpoint_aliases"):
        code_strategy(mtls_endpoint_aliases=aliases)


def test_a_client_without_an_http_client_refuses_mutual_tls() -> None:
    strategy = ClientCredentials(
        client_id="app", token_endpoint=f"{ISSUER}/token", client_auth="tls_client_auth"
    )
    with pytest.raises(ConfigurationError, match="client certificate"):
        anyoauth.Client(strategy)
