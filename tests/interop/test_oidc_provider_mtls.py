"""anyoauth's mutual TLS (RFC 8705) against panva's oidc-provider over https.

Through :class:`anyoauth.Client` with an HTTP client made from
:func:`anyoauth.client_tls_context` (certificates made by ``trustme``):
``tls_client_auth`` for client credentials and for code + PKCE with refresh, the
tokens bound to the certificate (``cnf.x5t#S256``, checked with
:func:`anyoauth.is_certificate_bound` on anyoauth's introspection); the bound token
accepted at userinfo over a connection presenting the certificate and refused over one
with another certificate or none; ``self_signed_tls_client_auth`` with a certificate
registered as the ``x5c`` of the client's key; and a server publishing
``mtls_endpoint_aliases`` on another port, which :meth:`Strategy.from_metadata` turns on
for a certificate-authenticated client (the server's request log shows every call went
to the aliases with the certificate).
"""

from __future__ import annotations

import re
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import anyoauth
from anyoauth import AuthorizationCode, Client, ClientCredentials, discover
from interop.op import REDIRECT_URI, OpServer, OpTls
from interop.op_user import ScriptedUser

pytestmark = pytest.mark.anyio


def tls_of(server: OpServer) -> OpTls:
    assert server.tls is not None
    return server.tls


def certificate_context(server: OpServer, certificate: Path | None) -> ssl.SSLContext:
    """A client context trusting the server's CA, presenting ``certificate`` (a PEM
    file with its key) when given."""
    tls = tls_of(server)
    if certificate is None:
        return ssl.create_default_context(cafile=str(tls.ca))
    return anyoauth.client_tls_context(certificate, cafile=tls.ca)


@pytest.fixture
async def http(http_module: ModuleType, op_server_mtls: OpServer) -> AsyncIterator[Any]:
    """An HTTP client presenting the ``mtls`` client's certificate."""
    context = certificate_context(op_server_mtls, tls_of(op_server_mtls).client_cert)
    async with http_module.AsyncClient(verify=context, timeout=20.0) as client:
        yield client


def browser(http_module: ModuleType, server: OpServer) -> ScriptedUser:
    """The scripted user, trusting the server's CA (and presenting no certificate)."""
    return ScriptedUser(http_module, verify=certificate_context(server, None))


async def userinfo_over(
    http_module: ModuleType, server: OpServer, certificate: Path | None, authorization: str
) -> Any:
    """GET userinfo over a fresh connection presenting ``certificate`` (or none)."""
    context = certificate_context(server, certificate)
    async with http_module.AsyncClient(verify=context, timeout=20.0) as other:
        return await other.get(server.userinfo_endpoint, headers={"Authorization": authorization})


async def test_tls_client_auth_client_credentials_bound_to_the_certificate(
    op_server_mtls: OpServer, http: Any
) -> None:
    server = op_server_mtls
    app = server.clients["mtls"]
    metadata = await discover(server.issuer, http=http)
    assert metadata.raw["tls_client_certificate_bound_access_tokens"] is True
    assert "tls_client_auth" in metadata.token_endpoint_auth_methods_supported
    strategy = ClientCredentials.from_metadata(
        metadata, client_id=app.client_id, client_auth="tls_client_auth"
    )
    async with Client(strategy, http=http) as client:
        token = await client.token()
        assert token.token_type.lower() == "bearer"
        info = await client.introspect()
        assert info.active
        assert info.client_id == app.client_id
        certificate = tls_of(server).client_cert.read_bytes()
        assert anyoauth.is_certificate_bound(info.extra, certificate)
        # Not bound to another certificate (the self-signed one).
        other = tls_of(server).self_signed_cert.read_bytes()
        assert not anyoauth.is_certificate_bound(info.extra, other)


async def test_tls_client_auth_code_flow_with_a_certificate_bound_token(
    op_server_mtls: OpServer, http_module: ModuleType, http: Any
) -> None:
    server = op_server_mtls
    tls = tls_of(server)
    strategy = AuthorizationCode.from_metadata(
        await discover(server.issuer, http=http),
        client_id=server.clients["mtls"].client_id,
        redirect_uri=REDIRECT_URI,
        scope="openid",
        client_auth="tls_client_auth",
    )
    assert strategy.uses_client_certificate
    async with Client(strategy, http=http) as client:
        token = await client.login(browser(http_module, server))
        assert token.id_token_claims is not None
        assert token.id_token_claims["sub"] == "alice"
        assert anyoauth.is_certificate_bound(
            (await client.introspect()).extra, tls.client_cert.read_bytes()
        )
        # The same certificate: accepted, through client.auth().
        answer = await http.get(server.userinfo_endpoint, auth=client.auth())
        assert answer.status_code == 200, answer.text
        assert answer.json()["sub"] == "alice"
        # Stolen: over a connection with no certificate, or another one, refused.
        stolen = token.authorization_header
        for certificate in (None, tls.self_signed_cert):
            refused = await userinfo_over(http_module, server, certificate, stolen)
            assert refused.status_code == 401, refused.text
            assert "invalid_token" in refused.headers["www-authenticate"]

        # Refresh (tls_client_auth again): the new token is bound to the same
        # certificate.
        renewed = await client.token(rejected=token)
        assert renewed.access_token != token.access_token
        assert anyoauth.is_certificate_bound(
            (await client.introspect(renewed)).extra, tls.client_cert.read_bytes()
        )
        again = await http.get(server.userinfo_endpoint, auth=client.auth())
        assert again.status_code == 200, again.text


async def test_self_signed_tls_client_auth(
    op_server_mtls: OpServer, http_module: ModuleType
) -> None:
    server = op_server_mtls
    tls = tls_of(server)
    app = server.clients["mtls-self-signed"]
    context = certificate_context(server, tls.self_signed_cert)
    async with http_module.AsyncClient(verify=context, timeout=20.0) as http:
        strategy = ClientCredentials.from_metadata(
            await discover(server.issuer, http=http),
            client_id=app.client_id,
            client_auth="self_signed_tls_client_auth",
        )
        async with Client(strategy, http=http) as client:
            await client.token()
            info = await client.introspect()
            assert info.active
            assert info.client_id == app.client_id
            assert anyoauth.is_certificate_bound(info.extra, tls.self_signed_cert.read_bytes())


async def test_self_signed_tls_client_auth_with_an_unregistered_certificate(
    op_server_mtls: OpServer, http: Any
) -> None:
    # The CA-issued certificate of the other client is not the one registered.
    server = op_server_mtls
    strategy = ClientCredentials.from_metadata(
        await discover(server.issuer, http=http),
        client_id=server.clients["mtls-self-signed"].client_id,
        client_auth="self_signed_tls_client_auth",
    )
    async with Client(strategy, http=http) as client:
        with pytest.raises(anyoauth.TokenRequestError) as refused:
            await client.token()
    assert refused.value.error == "invalid_client"


# -- endpoint aliases ----------------------------------------------------------------------


def requests_in(log: str) -> list[tuple[str, str, str, str]]:
    """The server's request log lines: (method, host, path, cert|nocert)."""
    return re.findall(r"^request (\S+) (\S+) (\S+) (\S+)$", log, re.M)


async def test_mtls_endpoint_aliases_from_metadata(
    op_server_mtls_aliases: OpServer, http_module: ModuleType
) -> None:
    server = op_server_mtls_aliases
    tls = tls_of(server)
    alias_host = str(server.mtls_origin).removeprefix("https://")
    issuer_host = server.issuer.removeprefix("https://")
    context = certificate_context(server, tls.client_cert)
    async with http_module.AsyncClient(verify=context, timeout=20.0) as http:
        metadata = await discover(server.issuer, http=http)
        aliases = metadata.mtls_endpoint_aliases
        assert aliases["token_endpoint"] == f"{server.mtls_origin}/token"
        assert set(aliases) == {
            "token_endpoint",
            "pushed_authorization_request_endpoint",
            "revocation_endpoint",
            "introspection_endpoint",
            "userinfo_endpoint",
        }
        strategy = AuthorizationCode.from_metadata(
            metadata,
            client_id=server.clients["mtls"].client_id,
            redirect_uri=REDIRECT_URI,
            scope="openid",
            client_auth="tls_client_auth",
            push_authorization_request=True,
        )
        assert strategy.use_mtls_endpoint_aliases
        userinfo = metadata.endpoint("userinfo_endpoint", mtls=True)
        assert userinfo == f"{server.mtls_origin}/me"
        seen = len(server.log())
        async with Client(strategy, http=http) as client:
            token = await client.login(browser(http_module, server))
            assert token.id_token_claims is not None
            renewed = await client.token(rejected=token)
            info = await client.introspect()
            assert anyoauth.is_certificate_bound(info.extra, tls.client_cert.read_bytes())
            answer = await http.get(userinfo, auth=client.auth())
            assert answer.status_code == 200, answer.text
            # The bound token at the issuer's own userinfo endpoint, which asks for no
            # certificate: refused.
            refused = await http.get(
                server.userinfo_endpoint, headers={"Authorization": renewed.authorization_header}
            )
            assert refused.status_code == 401, refused.text
            assert "invalid_token" in refused.headers["www-authenticate"]
            await client.revoke()
        # Push, code exchange, refresh, introspection, userinfo and revocation (of the
        # refresh token, then the access token) went to the aliases, each presenting
        # the certificate; only the browser and the refused userinfo call used the
        # issuer's port.
        calls = requests_in(server.log()[seen:])
        to_aliases = [(method, path) for method, host, path, cert in calls if host == alias_host]
        assert to_aliases == [
            ("POST", "/request"),
            ("POST", "/token"),
            ("POST", "/token"),
            ("POST", "/token/introspection"),
            ("GET", "/me"),
            ("POST", "/token/revocation"),
            ("POST", "/token/revocation"),
        ]
        assert all(cert == "cert" for _, host, _, cert in calls if host == alias_host)
        on_issuer = [
            path
            for _, host, path, _ in calls
            if host == issuer_host and not path.startswith(("/auth", "/interaction"))
        ]
        assert on_issuer == ["/jwks", "/me"], calls


async def test_without_the_aliases_tls_client_auth_fails_at_the_plain_endpoint(
    op_server_mtls_aliases: OpServer, http_module: ModuleType
) -> None:
    # The same client told not to use the aliases: its certificate is never asked for
    # on the issuer's port, so the token endpoint does not know the client.
    server = op_server_mtls_aliases
    context = certificate_context(server, tls_of(server).client_cert)
    async with http_module.AsyncClient(verify=context, timeout=20.0) as http:
        strategy = ClientCredentials.from_metadata(
            await discover(server.issuer, http=http),
            client_id=server.clients["mtls"].client_id,
            client_auth="tls_client_auth",
            use_mtls_endpoint_aliases=False,
        )
        async with Client(strategy, http=http) as client:
            with pytest.raises(anyoauth.TokenRequestError) as refused:
                await client.token()
    assert refused.value.error == "invalid_client"
