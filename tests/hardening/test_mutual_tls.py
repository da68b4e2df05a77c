"""Mutual TLS under attack (RFC 8705): certificates that are not the client's, no
certificate, an untrusted one, a bound token replayed over another connection, aliases
that would leave https, and the client's private key kept out of every repr, log and
error."""

from __future__ import annotations

import logging
import traceback
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType

import pytest

import anyoauth
from anyoauth.testing import OAUTH_API_PATH, ProviderEmulator
from support.mtls import ClientCertificate, Pki

pytestmark = pytest.mark.anyio


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


@pytest.fixture
def app_cert(pki: Pki) -> ClientCertificate:
    return pki.client("app.example")


@pytest.fixture
def emulator(app_cert: ClientCertificate) -> ProviderEmulator:
    emulator = ProviderEmulator(oauth_mutual_tls=True)
    emulator.add_oauth_client(
        "app",
        auth_method="tls_client_auth",
        tls_client_auth_subject_dn=app_cert.subject_dn,
        grant_types=["client_credentials"],
    )
    emulator.add_oauth_client(
        "other",
        auth_method="tls_client_auth",
        tls_client_auth_san_dns="other.example",
        grant_types=["client_credentials"],
    )
    return emulator


@pytest.fixture
async def base(emulator: ProviderEmulator, pki: Pki) -> AsyncIterator[str]:
    async with emulator.serve(ssl_context=pki.server_context()) as url:
        yield url


def strategy(base: str, client_id: str = "app") -> anyoauth.ClientCredentials:
    return anyoauth.ClientCredentials(
        client_id=client_id,
        issuer=base,
        token_endpoint=base + "/mtls/oauth/token",
        introspection_endpoint=base + "/mtls/oauth/introspect",
        client_auth="tls_client_auth",
    )


async def token_with(
    base: str, pki: Pki, http_module: ModuleType, certificate: ClientCertificate | None
) -> anyoauth.Token:
    async with (
        http_module.AsyncClient(verify=pki.client_context(certificate)) as http,
        anyoauth.Client(strategy(base), http=http) as client,
    ):
        return await client.token()


async def test_a_certificate_of_another_client_is_refused(
    base: str, pki: Pki, http_module: ModuleType
) -> None:
    with pytest.raises(anyoauth.TokenRequestError) as caught:
        await token_with(base, pki, http_module, pki.client("other.example"))
    assert caught.value.error == "invalid_client"


async def test_a_wrong_certificate_of_the_trusted_authority_is_refused(
    base: str, pki: Pki, http_module: ModuleType
) -> None:
    # Same authority, same common name, but another certificate: its subject DN differs.
    with pytest.raises(anyoauth.TokenRequestError) as caught:
        await token_with(base, pki, http_module, pki.client("app.example"))
    assert caught.value.error == "invalid_client"


async def test_a_client_presenting_no_certificate_is_refused(
    base: str, pki: Pki, http_module: ModuleType
) -> None:
    with pytest.raises(anyoauth.TokenRequestError) as caught:
        await token_with(base, pki, http_module, None)
    assert caught.value.error == "invalid_client"


async def test_a_certificate_the_server_does_not_trust_fails_the_handshake(
    emulator: ProviderEmulator, pki: Pki, http_module: ModuleType
) -> None:
    intruder = pki.self_signed("intruder", trusted=False)
    async with emulator.serve(ssl_context=pki.server_context(tls12=True)) as base:
        with pytest.raises(anyoauth.ServerUnavailable, match="TLS"):
            await token_with(base, pki, http_module, intruder)
    assert emulator.calls["oauth.mtls.token"] == 0


async def test_a_bound_token_replayed_over_another_clients_connection_is_refused(
    base: str, pki: Pki, http_module: ModuleType, app_cert: ClientCertificate
) -> None:
    token = await token_with(base, pki, http_module, app_cert)
    stolen = {"Authorization": f"Bearer {token.access_token}"}
    for certificate in (pki.client("other.example"), pki.client("app.example"), None):
        async with http_module.AsyncClient(verify=pki.client_context(certificate)) as api:
            answer = await api.get(base + OAUTH_API_PATH, headers=stolen)
        assert answer.status_code == 401
        assert answer.json()["error"] == "invalid_token"


async def test_a_forged_certificate_header_binds_nothing(
    base: str, pki: Pki, http_module: ModuleType, app_cert: ClientCertificate
) -> None:
    # The emulator learns the certificate from the TLS connection alone.
    async with http_module.AsyncClient(verify=pki.client_context(None)) as http:
        answer = await http.post(
            base + "/mtls/oauth/token",
            data={"grant_type": "client_credentials", "client_id": "app"},
            headers={"X-SSL-Client-Cert": app_cert.pem.decode().strip().replace("\n", " ")},
        )
    assert answer.status_code == 401


async def test_the_client_key_never_appears_in_reprs_logs_or_errors(
    base: str,
    pki: Pki,
    http_module: ModuleType,
    caplog: pytest.LogCaptureFixture,
) -> None:
    intruder = pki.client("other.example")
    key_body = _key_body(intruder)
    seen: list[str] = []
    caplog.set_level(logging.DEBUG)
    tls = pki.client_context(intruder)
    async with (
        http_module.AsyncClient(verify=tls) as http,
        anyoauth.Client(strategy(base), http=http) as client,
    ):
        seen += [repr(client), repr(client.strategy), repr(client.strategy.authentication)]
        seen += [repr(tls), repr(http)]
        try:
            await client.token()
        except anyoauth.OAuthError as exc:
            seen += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
        else:  # pragma: no cover - the server must refuse another client's certificate
            pytest.fail("a certificate of another client was accepted")
    seen += [record.getMessage() for record in caplog.records]
    assert all(key_body not in text for text in seen)
    assert all(chunk not in text for text in seen for chunk in _chunks(key_body))


def test_loading_a_bad_key_or_password_shows_neither(pki: Pki, tmp_path: Path) -> None:
    app = pki.client("app.example")
    other = pki.client("other.example")
    key_body = _key_body(other)
    with pytest.raises(anyoauth.ConfigurationError) as mismatch:
        anyoauth.client_tls_context(app.certificate, other.key, cafile=pki.ca_file)
    encrypted = tmp_path / "encrypted.key"
    from cryptography.hazmat.primitives import serialization

    loaded = serialization.load_pem_private_key(other.key.read_bytes(), None)
    encrypted.write_bytes(
        loaded.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"SENTINEL-key-password"),
        )
    )
    with pytest.raises(anyoauth.ConfigurationError) as wrong_password:
        anyoauth.client_tls_context(
            other.certificate, encrypted, password="SENTINEL-wrong-password", cafile=pki.ca_file
        )
    with pytest.raises(anyoauth.ConfigurationError) as missing:
        anyoauth.client_tls_context(tmp_path / "absent.pem", cafile=pki.ca_file)
    for caught in (mismatch, wrong_password, missing):
        text = str(caught.value) + "".join(traceback.format_exception(caught.value))
        assert "SENTINEL" not in text
        assert key_body not in text
        assert caught.value.__cause__ is None


@pytest.mark.parametrize(
    ("issuer", "alias"),
    [
        ("https://as.example", "http://mtls.as.example/token"),
        ("https://as.example", "http://127.0.0.1:8443/token"),
        ("https://as.example", "http://mtls.localhost/token"),
    ],
)
def test_aliases_that_leave_https_are_refused(issuer: str, alias: str) -> None:
    aliases = {"token_endpoint": alias}
    document = {"issuer": issuer, "token_endpoint": issuer + "/token"}
    with pytest.raises(anyoauth.DiscoveryError, match="mtls_endpoint_aliases"):
        anyoauth.ServerMetadata.from_dict(
            {**document, "mtls_endpoint_aliases": aliases}, issuer=issuer
        )
    unchecked = anyoauth.ServerMetadata(issuer=issuer, mtls_endpoint_aliases=aliases)
    with pytest.raises(anyoauth.ConfigurationError, match="mtls_endpoint_aliases"):
        anyoauth.ClientCredentials.from_metadata(
            unchecked, client_id="app", client_auth="tls_client_auth"
        )


def test_an_alias_carrying_credentials_is_refused() -> None:
    with pytest.raises(anyoauth.ConfigurationError, match="credentials"):
        anyoauth.ClientCredentials(
            client_id="app",
            token_endpoint="https://as.example/token",
            client_auth="tls_client_auth",
            mtls_endpoint_aliases={"token_endpoint": "https://user:pw@mtls.as.example/token"},
            use_mtls_endpoint_aliases=True,
        )


def _key_body(certificate: ClientCertificate) -> str:
    lines = certificate.key.read_text().strip().splitlines()
    return "".join(line for line in lines if not line.startswith("-----"))


def _chunks(text: str, size: int = 24) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text) - size, size)]
