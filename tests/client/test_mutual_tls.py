"""Mutual TLS end to end (RFC 8705): the emulator on a real TLS loopback port asks for
client certificates (made by trustme); the client authenticates with its certificate
(``tls_client_auth``, ``self_signed_tls_client_auth``) at the mTLS endpoint aliases of
the server's metadata, and the certificate-bound token works toward the emulator's API
only over a connection presenting the same certificate."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import anyoauth
from anyoauth.testing import OAUTH_API_PATH, OAUTH_USERINFO_PATH, ProviderEmulator, browse
from support.mtls import ClientCertificate, Pki

pytestmark = pytest.mark.anyio

REDIRECT = "http://127.0.0.1:8123/callback"


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    """A certificate authority and its files under ``tmp_path``."""
    return Pki(tmp_path)


@pytest.fixture
def app_cert(pki: Pki) -> ClientCertificate:
    """The ``tls_client_auth`` client's certificate, issued by the authority."""
    return pki.client("app.example")


@pytest.fixture
def other_cert(pki: Pki) -> ClientCertificate:
    """A certificate of the same authority for another client."""
    return pki.client("other.example")


@pytest.fixture
def self_signed_cert(pki: Pki) -> ClientCertificate:
    """The ``self_signed_tls_client_auth`` client's certificate."""
    return pki.self_signed("device-7")


@pytest.fixture
def emulator(
    app_cert: ClientCertificate, other_cert: ClientCertificate, self_signed_cert: ClientCertificate
) -> ProviderEmulator:
    """The generic server advertising mutual TLS, with one client per method."""
    emulator = ProviderEmulator(oauth_mutual_tls=True)
    emulator.add_oauth_client(
        "app",
        auth_method="tls_client_auth",
        tls_client_auth_subject_dn=app_cert.subject_dn,
        grant_types=["authorization_code", "refresh_token", "client_credentials"],
        redirect_uris=[REDIRECT],
    )
    emulator.add_oauth_client(
        "other",
        auth_method="tls_client_auth",
        tls_client_auth_san_dns="other.example",
        grant_types=["client_credentials"],
    )
    emulator.add_oauth_client(
        "device",
        auth_method="self_signed_tls_client_auth",
        jwks=self_signed_cert.jwks(),
        grant_types=["client_credentials"],
    )
    return emulator


@pytest.fixture
async def base(emulator: ProviderEmulator, pki: Pki) -> AsyncIterator[str]:
    """The emulator's https base URL on loopback (also its issuer)."""
    async with emulator.serve(ssl_context=pki.server_context()) as url:
        yield url


def tls_http(http_module: ModuleType, pki: Pki, certificate: ClientCertificate | None) -> Any:
    """An HTTP client trusting the authority and presenting ``certificate``."""
    return http_module.AsyncClient(verify=pki.client_context(certificate))


async def metadata(http_module: ModuleType, pki: Pki, base: str) -> anyoauth.ServerMetadata:
    async with tls_http(http_module, pki, None) as http:
        return await anyoauth.discover(base, http=http)


async def test_metadata_advertises_mutual_tls_and_its_aliases(
    base: str, pki: Pki, http_module: ModuleType
) -> None:
    found = await metadata(http_module, pki, base)
    assert found.tls_client_certificate_bound_access_tokens is True
    assert found.mtls_endpoint_aliases["token_endpoint"] == base + "/mtls/oauth/token"
    assert {"tls_client_auth", "self_signed_tls_client_auth"} <= set(
        found.token_endpoint_auth_methods_supported
    )
    assert found.endpoint("userinfo_endpoint", mtls=True) == base + "/mtls" + OAUTH_USERINFO_PATH
    assert found.endpoint("userinfo_endpoint") == base + OAUTH_USERINFO_PATH


async def test_client_credentials_with_tls_client_auth_get_a_certificate_bound_token(
    base: str,
    pki: Pki,
    http_module: ModuleType,
    emulator: ProviderEmulator,
    app_cert: ClientCertificate,
    other_cert: ClientCertificate,
) -> None:
    strategy = anyoauth.ClientCredentials.from_metadata(
        await metadata(http_module, pki, base), client_id="app", client_auth="tls_client_auth"
    )
    assert strategy.use_mtls_endpoint_aliases
    async with (
        tls_http(http_module, pki, app_cert) as http,
        anyoauth.Client(strategy, http=http) as client,
    ):
        token = await client.token()
        introspection = await client.introspect()
        # The token, introspection and (below) the API requests all went to the aliases.
        assert emulator.calls["oauth.mtls.token"] == 1
        assert emulator.calls["oauth.mtls.introspect"] == 1
        assert emulator.calls["oauth.token"] == emulator.calls["oauth.introspect"] == 0
        assert anyoauth.is_certificate_bound(introspection.extra, app_cert.pem)
        assert not anyoauth.is_certificate_bound(introspection.extra, other_cert.pem)
        assert introspection.extra["cnf"] == {"x5t#S256": app_cert.thumbprint}

        # The bound token works over a connection presenting the same certificate...
        async with tls_http(http_module, pki, app_cert) as api:
            api.auth = client.auth()
            answer = await api.get(base + OAUTH_API_PATH)
            assert answer.status_code == 200
            assert answer.json()["client_id"] == "app"
    # ...and not with another certificate or none.
    for certificate in (other_cert, None):
        async with tls_http(http_module, pki, certificate) as api:
            refused = await api.get(
                base + OAUTH_API_PATH, headers={"Authorization": f"Bearer {token.access_token}"}
            )
            assert refused.status_code == 401
            assert refused.json()["error"] == "invalid_token"


async def test_a_code_flow_with_tls_client_auth_exchanges_refreshes_and_revokes_at_the_aliases(
    base: str,
    pki: Pki,
    http_module: ModuleType,
    emulator: ProviderEmulator,
    app_cert: ClientCertificate,
) -> None:
    strategy = anyoauth.AuthorizationCode.from_metadata(
        await metadata(http_module, pki, base),
        client_id="app",
        client_auth="tls_client_auth",
        redirect_uri=REDIRECT,
        scope="openid profile",
    )
    async with (
        tls_http(http_module, pki, None) as browser,
        tls_http(http_module, pki, app_cert) as http,
        anyoauth.Client(strategy, http=http) as client,
    ):
        start = await client.begin()
        token = await client.complete(await browse(browser, start.url))
        assert token.id_token_claims is not None
        userinfo = await http.get(
            str(strategy.mtls_endpoint_aliases["userinfo_endpoint"]),
            headers={"Authorization": f"Bearer {token.access_token}"},
        )
        assert userinfo.status_code == 200
        assert userinfo.json()["sub"]
        renewed = await client.token(rejected=token)
        assert renewed.access_token != token.access_token
        await client.revoke()
    assert emulator.calls["oauth.mtls.token"] == 2  # the code exchange and the refresh
    assert emulator.calls["oauth.mtls.revoke"] == 2  # the refresh token, then the access token
    assert emulator.calls["oauth.mtls.userinfo"] == 1
    assert emulator.calls["oauth.token"] == emulator.calls["oauth.revoke"] == 0


async def test_self_signed_tls_client_auth_gets_a_token_bound_to_its_certificate(
    base: str,
    pki: Pki,
    http_module: ModuleType,
    emulator: ProviderEmulator,
    self_signed_cert: ClientCertificate,
    app_cert: ClientCertificate,
) -> None:
    strategy = anyoauth.ClientCredentials.from_metadata(
        await metadata(http_module, pki, base),
        client_id="device",
        client_auth=anyoauth.SelfSignedTlsClientAuth(),
    )
    async with (
        tls_http(http_module, pki, self_signed_cert) as http,
        anyoauth.Client(strategy, http=http) as client,
    ):
        token = await client.token()
        introspection = await client.introspect()
    assert emulator.calls["oauth.mtls.token"] == 1
    assert introspection.extra["cnf"] == {"x5t#S256": self_signed_cert.thumbprint}
    for certificate, status in ((self_signed_cert, 200), (app_cert, 401), (None, 401)):
        async with tls_http(http_module, pki, certificate) as api:
            answer = await api.get(
                base + OAUTH_API_PATH, headers={"Authorization": f"Bearer {token.access_token}"}
            )
            assert answer.status_code == status


async def test_a_public_client_can_ask_for_certificate_bound_tokens_through_the_aliases(
    base: str, pki: Pki, http_module: ModuleType, emulator: ProviderEmulator
) -> None:
    certificate = pki.client("spa.example")
    emulator.add_oauth_client("spa", auth_method="none", redirect_uris=[REDIRECT])
    strategy = anyoauth.AuthorizationCode.from_metadata(
        await metadata(http_module, pki, base),
        client_id="spa",
        redirect_uri=REDIRECT,
        use_mtls_endpoint_aliases=True,
    )
    assert strategy.uses_client_certificate
    async with (
        tls_http(http_module, pki, None) as browser,
        tls_http(http_module, pki, certificate) as http,
        anyoauth.Client(strategy, http=http) as client,
    ):
        start = await client.begin()
        token = await client.complete(await browse(browser, start.url))
        bound = await http.get(
            base + OAUTH_API_PATH, headers={"Authorization": f"Bearer {token.access_token}"}
        )
        assert bound.status_code == 200
    assert emulator.calls["oauth.mtls.token"] == 1
    async with tls_http(http_module, pki, None) as api:
        refused = await api.get(
            base + OAUTH_API_PATH, headers={"Authorization": f"Bearer {token.access_token}"}
        )
        assert refused.status_code == 401


async def test_a_client_without_a_certificate_keeps_plain_endpoints_and_bearer_tokens(
    base: str, pki: Pki, http_module: ModuleType, emulator: ProviderEmulator
) -> None:
    emulator.add_oauth_client(
        "plain", client_secret="s3cret-plain", grant_types=["client_credentials"]
    )
    strategy = anyoauth.ClientCredentials.from_metadata(
        await metadata(http_module, pki, base), client_id="plain", client_secret="s3cret-plain"
    )
    assert not strategy.use_mtls_endpoint_aliases
    async with (
        tls_http(http_module, pki, None) as http,
        anyoauth.Client(strategy, http=http) as client,
    ):
        token = await client.token()
        assert "cnf" not in (await client.introspect()).extra
        api = await http.get(
            base + OAUTH_API_PATH, headers={"Authorization": f"Bearer {token.access_token}"}
        )
        assert api.status_code == 200
    assert emulator.calls["oauth.token"] == 1
    assert emulator.calls["oauth.mtls.token"] == 0


DOCS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "fapi" / "mtls.md"


async def test_the_documented_mutual_tls_example_runs() -> None:
    import inspect
    import re

    examples = [
        source
        for source in re.findall(r"```python\n(.+?)```", DOCS_PAGE.read_text(), re.S)
        if re.search(r"^async def test_\w+\(\)", source, re.M)
    ]
    assert len(examples) == 1
    namespace: dict[str, Any] = {}
    exec(compile(examples[0], str(DOCS_PAGE), "exec"), namespace)  # noqa: S102
    tests = [value for name, value in namespace.items() if name.startswith("test_")]
    assert tests
    for test in tests:
        assert inspect.iscoroutinefunction(test)
        await test()
