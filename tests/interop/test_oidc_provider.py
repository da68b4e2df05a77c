"""anyoauth's client against panva's oidc-provider, a certified server we did not write.

The server (``op.py``) runs on loopback; a scripted user (``op_user.py``) logs in and
consents over plain HTTP. Through :class:`anyoauth.Client` and the server's own
metadata: discovery, authorization code + PKCE for a public client, with
``client_secret_basic`` and with ``private_key_jwt``, OpenID Connect id_tokens checked
against the server's keys, refresh with rotation, introspection, revocation, client
credentials, a denied login, and signed authorization responses (JARM: ``jwt``,
``query.jwt``) verified against the server's keys.

Then the harness checks itself with raw HTTP and hand-made JOSE: the features the
DPoP and PAR tests rely on are really on and enforced (a pushed request gets a
``request_uri``; a token request with a DPoP proof gets a ``DPoP`` token that the
userinfo endpoint refuses as a bearer and accepts with a proof; with nonces required
the first proof is answered ``use_dpop_nonce`` with a ``DPoP-Nonce`` header; a client
registered for PAR and DPoP-bound tokens is refused without them; over https with
mutual TLS, a client certificate authenticates a client and binds its token).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import trustme
from joserfc import jwt
from joserfc.jwk import ECKey

import anyoauth
from anyoauth import AuthorizationCode, Client, ClientCredentials, Token, discover
from interop.op import MTLS_CLIENT_DNS, REDIRECT_URI, OpClient, OpServer
from interop.op_user import ScriptedUser, authorize_as_user

pytestmark = pytest.mark.anyio


@pytest.fixture
async def http(http_module: ModuleType) -> AsyncIterator[Any]:
    async with http_module.AsyncClient(follow_redirects=False, timeout=20.0) as client:
        yield client


def secret_of(client: OpClient) -> str:
    assert client.client_secret is not None
    return client.client_secret


async def code_strategy(http: Any, server: OpServer, name: str, **kwargs: Any) -> AuthorizationCode:
    """An AuthorizationCode strategy for one registered client, from discovery."""
    client = server.clients[name]
    settings: dict[str, Any] = {
        "client_id": client.client_id,
        "redirect_uri": REDIRECT_URI,
    }
    if client.client_secret is not None:
        settings["client_secret"] = client.client_secret
    if client.auth_method == "private_key_jwt":
        settings.update(
            client_auth="private_key_jwt",
            client_key=dict(client.private_jwk or {}),
            client_assertion_algorithm=client.signing_alg,
        )
    settings.update(kwargs)
    return AuthorizationCode.from_metadata(await discover(server.issuer, http=http), **settings)


async def userinfo(http: Any, server: OpServer, token: Token) -> Any:
    return await http.get(
        server.userinfo_endpoint, headers={"Authorization": token.authorization_header}
    )


# -- discovery ---------------------------------------------------------------------------


async def test_discovery_reads_the_providers_metadata(op_server: OpServer, http: Any) -> None:
    metadata = await discover(op_server.issuer, http=http)
    assert metadata.issuer == op_server.issuer
    assert metadata.token_endpoint == op_server.token_endpoint
    assert metadata.revocation_endpoint == op_server.revocation_endpoint
    assert metadata.introspection_endpoint == op_server.introspection_endpoint
    assert metadata.userinfo_endpoint == op_server.userinfo_endpoint
    assert metadata.authorization_response_iss_parameter_supported
    assert metadata.code_challenge_methods_supported == ("S256",)
    assert "private_key_jwt" in metadata.token_endpoint_auth_methods_supported
    # What the DPoP, PAR, JAR and JARM tests rely on, as the provider publishes it.
    raw = metadata.raw
    assert raw["pushed_authorization_request_endpoint"] == op_server.par_endpoint
    assert "ES256" in raw["dpop_signing_alg_values_supported"]
    assert raw["request_parameter_supported"] is True
    assert {"jwt", "query.jwt", "form_post.jwt"} <= set(raw["response_modes_supported"])


# -- authorization code + PKCE -----------------------------------------------------------


async def test_public_client_code_flow_with_pkce_and_refresh_rotation(
    op_server: OpServer, http_module: ModuleType, http: Any
) -> None:
    strategy = await code_strategy(http, op_server, "public", scope="openid read")
    assert strategy.client_auth == "none"
    assert strategy.uses_pkce
    assert strategy.require_iss
    async with Client(strategy, http=http) as client:
        token = await client.login(ScriptedUser(http_module, login="pat"))
        assert token.token_type.lower() == "bearer"
        assert token.refresh_token
        assert token.id_token_claims is not None
        assert token.id_token_claims["sub"] == "pat"
        answer = await userinfo(http, op_server, token)
        assert answer.status_code == 200, answer.text
        assert answer.json()["sub"] == "pat"

        renewed = await client.token(rejected=token)
        assert renewed.access_token != token.access_token
        assert renewed.refresh_token not in (None, token.refresh_token)
        assert (await userinfo(http, op_server, renewed)).status_code == 200
        # The rotated-away refresh token is spent: the provider refuses it.
        stale = await http.post(
            op_server.token_endpoint,
            data={
                "grant_type": "refresh_token",
                "refresh_token": token.refresh_token,
                "client_id": op_server.clients["public"].client_id,
            },
        )
        assert stale.status_code == 400
        assert stale.json()["error"] == "invalid_grant"


async def test_confidential_openid_login_refresh_introspect_revoke(
    op_server: OpServer, http_module: ModuleType, http: Any
) -> None:
    strategy = await code_strategy(http, op_server, "basic", scope="openid email")
    assert strategy.client_auth == "client_secret_basic"
    assert strategy.requests_nonce
    async with Client(strategy, http=http) as client:
        token = await client.login(ScriptedUser(http_module))
        claims = token.id_token_claims
        assert claims is not None
        assert claims["iss"] == op_server.issuer
        assert claims["aud"] == op_server.clients["basic"].client_id
        assert claims["sub"] == "alice"
        info = (await userinfo(http, op_server, token)).json()
        assert info["email"] == "alice@example.test"

        renewed = await client.token(rejected=token)
        assert renewed.access_token != token.access_token
        assert renewed.refresh_token not in (None, token.refresh_token)
        assert renewed.id_token_claims is not None
        assert renewed.id_token_claims["sub"] == "alice"

        introspected = await client.introspect()
        assert introspected.active
        assert introspected.client_id == op_server.clients["basic"].client_id
        assert introspected.sub == "alice"
        # The rotated-away refresh token is spent (the old access token lives on
        # until it expires: this server does not revoke it on rotation).
        assert token.refresh_token is not None
        assert not (await client.introspect(token.refresh_token)).active

        await client.revoke()
        assert (await userinfo(http, op_server, renewed)).status_code == 401
        assert not (await client.introspect(renewed)).active
        with pytest.raises(anyoauth.LoginRequired):
            await client.token()


async def test_private_key_jwt_login_refresh_and_introspection(
    op_server: OpServer, http_module: ModuleType, http: Any
) -> None:
    strategy = await code_strategy(http, op_server, "private-key-jwt", scope="openid")
    assert strategy.client_auth == "private_key_jwt"
    async with Client(strategy, http=http) as client:
        token = await client.login(ScriptedUser(http_module, login="kim"))
        assert token.id_token_claims is not None
        assert token.id_token_claims["sub"] == "kim"
        assert (await userinfo(http, op_server, token)).status_code == 200
        renewed = await client.token(rejected=token)
        assert renewed.refresh_token not in (None, token.refresh_token)
        assert (await client.introspect()).active
        await client.revoke()
        assert not (await client.introspect(renewed)).active


async def test_a_wrong_client_key_is_refused(
    op_server: OpServer, http_module: ModuleType, http: Any
) -> None:
    other = ECKey.generate_key("P-256", auto_kid=True).as_dict(private=True)
    strategy = await code_strategy(
        http, op_server, "private-key-jwt", client_key=other, scope="openid"
    )
    async with Client(strategy, http=http) as client:
        with pytest.raises(anyoauth.TokenRequestError) as refused:
            await client.login(ScriptedUser(http_module))
    assert refused.value.error == "invalid_client"


async def test_denied_login(op_server: OpServer, http_module: ModuleType, http: Any) -> None:
    strategy = await code_strategy(http, op_server, "public", scope="openid")
    async with Client(strategy, http=http) as client:
        with pytest.raises(anyoauth.AuthorizationDenied) as denied:
            await client.login(ScriptedUser(http_module, deny=True))
        assert denied.value.error == "access_denied"
        assert denied.value.error_description == "End-User aborted interaction"
        with pytest.raises(anyoauth.LoginRequired):
            await client.token()


# -- client credentials ------------------------------------------------------------------


async def test_client_credentials_with_basic(op_server: OpServer, http: Any) -> None:
    service = op_server.clients["service"]
    strategy = ClientCredentials.from_metadata(
        await discover(op_server.issuer, http=http),
        client_id=service.client_id,
        client_secret=secret_of(service),
    )
    assert strategy.client_auth == "client_secret_basic"
    async with Client(strategy, http=http) as client:
        token = await client.token()
        assert token.expires_at is not None
        info = await client.introspect(token)
        assert info.active
        assert info.client_id == service.client_id
        other = await client.token(rejected=token)
        assert other.access_token != token.access_token


async def test_client_credentials_with_private_key_jwt(op_server: OpServer, http: Any) -> None:
    app = op_server.clients["private-key-jwt"]
    strategy = ClientCredentials.from_metadata(
        await discover(op_server.issuer, http=http),
        client_id=app.client_id,
        client_auth="private_key_jwt",
        client_key=dict(app.private_jwk or {}),
        client_assertion_algorithm=app.signing_alg,
    )
    async with Client(strategy, http=http) as client:
        token = await client.token()
        assert (await client.introspect(token)).active


async def test_client_credentials_with_a_wrong_secret(op_server: OpServer, http: Any) -> None:
    service = op_server.clients["service"]
    wrong = "wrong-" + secret_of(service)[:10]
    strategy = ClientCredentials(
        client_id=service.client_id,
        client_secret=wrong,
        token_endpoint=op_server.token_endpoint,
    )
    async with Client(strategy, http=http) as client:
        with pytest.raises(anyoauth.TokenRequestError) as refused:
            await client.token()
    assert refused.value.error == "invalid_client"
    assert wrong not in str(refused.value)


# -- the harness checks itself: DPoP and PAR are on and enforced ---------------------------


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def dpop_proof(
    key: ECKey,
    method: str,
    url: str,
    *,
    nonce: str | None = None,
    access_token: str | None = None,
) -> str:
    """An RFC 9449 proof made by hand (joserfc), independent of anyoauth's."""
    claims: dict[str, Any] = {
        "htm": method,
        "htu": url,
        "iat": int(time.time()),
        "jti": secrets.token_urlsafe(16),
    }
    if nonce is not None:
        claims["nonce"] = nonce
    if access_token is not None:
        digest = hashlib.sha256(access_token.encode()).digest()
        claims["ath"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    return jwt.encode(header, claims, key, algorithms=["ES256"])


def basic_auth(client: OpClient) -> tuple[str, str]:
    return (client.client_id, secret_of(client))


async def code_by_hand(
    http_module: ModuleType, server: OpServer, client: OpClient, *, par: bool, http: Any
) -> tuple[str, str]:
    """Authorize ``client`` (Basic auth) without anyoauth: returns (code, verifier)."""
    verifier, challenge = pkce_pair()
    params = {
        "client_id": client.client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "scope": "openid",
        "state": secrets.token_urlsafe(16),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    if par:
        pushed = await http.post(server.par_endpoint, data=params, auth=basic_auth(client))
        assert pushed.status_code == 201, pushed.text
        body = pushed.json()
        assert body["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
        assert body["expires_in"] > 0
        query = {"client_id": client.client_id, "request_uri": body["request_uri"]}
    else:
        query = params
    redirect = await authorize_as_user(
        http_module, f"{server.authorization_endpoint}?{urlencode(query)}"
    )
    answer = parse_qs(urlsplit(redirect).query)
    assert answer["state"] == [params["state"]]
    assert answer["iss"] == [server.issuer]
    return answer["code"][0], verifier


def token_form(code: str, verifier: str) -> dict[str, str]:
    return {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    }


async def test_harness_par_push_returns_a_request_uri_the_browser_can_use(
    op_server: OpServer, http_module: ModuleType, http: Any
) -> None:
    client = op_server.clients["basic"]
    code, verifier = await code_by_hand(http_module, op_server, client, par=True, http=http)
    answer = await http.post(
        op_server.token_endpoint, data=token_form(code, verifier), auth=basic_auth(client)
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["token_type"] == "Bearer"


async def test_harness_dpop_binds_the_token_and_userinfo_refuses_it_as_bearer(
    op_server: OpServer, http_module: ModuleType, http: Any
) -> None:
    client = op_server.clients["basic"]
    key = ECKey.generate_key("P-256")
    code, verifier = await code_by_hand(http_module, op_server, client, par=False, http=http)
    answer = await http.post(
        op_server.token_endpoint,
        data=token_form(code, verifier),
        auth=basic_auth(client),
        headers={"DPoP": dpop_proof(key, "POST", op_server.token_endpoint)},
    )
    assert answer.status_code == 200, answer.text
    token = answer.json()
    assert token["token_type"] == "DPoP"
    access = token["access_token"]

    # Sent as a bearer token, the bound token is refused.
    as_bearer = await http.get(
        op_server.userinfo_endpoint, headers={"Authorization": f"Bearer {access}"}
    )
    assert as_bearer.status_code == 401
    assert "invalid_token" in as_bearer.headers["www-authenticate"]
    # As a DPoP token without a proof: refused too.
    no_proof = await http.get(
        op_server.userinfo_endpoint, headers={"Authorization": f"DPoP {access}"}
    )
    assert no_proof.status_code in (400, 401)
    # With a proof from another key: refused.
    stranger = ECKey.generate_key("P-256")
    wrong_key = await http.get(
        op_server.userinfo_endpoint,
        headers={
            "Authorization": f"DPoP {access}",
            "DPoP": dpop_proof(stranger, "GET", op_server.userinfo_endpoint, access_token=access),
        },
    )
    assert wrong_key.status_code == 401
    # With a proof from the bound key (and ath): accepted.
    bound = await http.get(
        op_server.userinfo_endpoint,
        headers={
            "Authorization": f"DPoP {access}",
            "DPoP": dpop_proof(key, "GET", op_server.userinfo_endpoint, access_token=access),
        },
    )
    assert bound.status_code == 200, bound.text
    assert bound.json()["sub"] == "alice"


async def test_harness_nonce_required_answers_use_dpop_nonce_then_accepts(
    op_server_nonce: OpServer, http: Any
) -> None:
    server = op_server_nonce
    client = server.clients["service"]
    key = ECKey.generate_key("P-256")
    form = {"grant_type": "client_credentials"}
    first = await http.post(
        server.token_endpoint,
        data=form,
        auth=basic_auth(client),
        headers={"DPoP": dpop_proof(key, "POST", server.token_endpoint)},
    )
    assert first.status_code == 400, first.text
    assert first.json()["error"] == "use_dpop_nonce"
    nonce = first.headers["dpop-nonce"]
    assert nonce
    second = await http.post(
        server.token_endpoint,
        data=form,
        auth=basic_auth(client),
        headers={"DPoP": dpop_proof(key, "POST", server.token_endpoint, nonce=nonce)},
    )
    assert second.status_code == 200, second.text
    assert second.json()["token_type"] == "DPoP"


async def test_harness_a_par_and_dpop_client_is_refused_without_them(
    op_server: OpServer, http: Any
) -> None:
    client = op_server.clients["dpop-par"]
    _, challenge = pkce_pair()
    query: Mapping[str, str] = {
        "client_id": client.client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "scope": "openid",
        "state": "s",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    # Not pushed: the authorization endpoint refuses the request (to the redirect URI).
    refused = await http.get(f"{op_server.authorization_endpoint}?{urlencode(query)}")
    assert refused.status_code == 303
    error = parse_qs(urlsplit(refused.headers["location"]).query)
    assert error["error"] == ["invalid_request"]
    assert "pushed" in error["error_description"][0].lower()


def client_assertion(client: OpClient, audience: str) -> dict[str, str]:
    """``private_key_jwt`` form fields made by hand (joserfc)."""
    assert client.private_jwk is not None
    assert client.signing_alg is not None
    key = ECKey.import_key(dict(client.private_jwk))
    now = int(time.time())
    claims = {
        "iss": client.client_id,
        "sub": client.client_id,
        "aud": audience,
        "jti": secrets.token_urlsafe(16),
        "iat": now,
        "exp": now + 60,
    }
    header = {"alg": client.signing_alg, "kid": str(client.private_jwk["kid"])}
    return {
        "client_id": client.client_id,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": jwt.encode(header, claims, key, algorithms=[client.signing_alg]),
    }


async def pushed_code(
    http_module: ModuleType, server: OpServer, client: OpClient, key: ECKey, *, http: Any
) -> dict[str, str]:
    """Push ``client``'s request with a DPoP proof of ``key`` (the code is bound to it),
    authorize it; returns the code exchange form (without client authentication)."""
    verifier, challenge = pkce_pair()
    params = {
        "client_id": client.client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "scope": "openid",
        "state": secrets.token_urlsafe(16),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    pushed = await http.post(
        server.par_endpoint,
        data={**params, **client_assertion(client, server.issuer)},
        headers={"DPoP": dpop_proof(key, "POST", server.par_endpoint)},
    )
    assert pushed.status_code == 201, pushed.text
    query = {"client_id": client.client_id, "request_uri": pushed.json()["request_uri"]}
    redirect = await authorize_as_user(
        http_module, f"{server.authorization_endpoint}?{urlencode(query)}"
    )
    code = parse_qs(urlsplit(redirect).query)["code"][0]
    return token_form(code, verifier)


async def test_harness_a_dpop_bound_client_needs_the_pushed_keys_proof(
    op_server: OpServer, http_module: ModuleType, http: Any
) -> None:
    server = op_server
    client = server.clients["dpop-par"]
    key = ECKey.generate_key("P-256")

    # No proof: refused (the client's tokens must be DPoP-bound). A failed exchange
    # spends the code, so each attempt gets its own.
    form = await pushed_code(http_module, server, client, key, http=http)
    without = await http.post(
        server.token_endpoint, data={**form, **client_assertion(client, server.issuer)}
    )
    assert without.status_code == 400, without.text
    # A proof from another key than the one the request was pushed with: refused.
    form = await pushed_code(http_module, server, client, key, http=http)
    stranger = ECKey.generate_key("P-256")
    other_key = await http.post(
        server.token_endpoint,
        data={**form, **client_assertion(client, server.issuer)},
        headers={"DPoP": dpop_proof(stranger, "POST", server.token_endpoint)},
    )
    assert other_key.status_code == 400, other_key.text
    # The pushed key's proof: a DPoP token.
    form = await pushed_code(http_module, server, client, key, http=http)
    bound = await http.post(
        server.token_endpoint,
        data={**form, **client_assertion(client, server.issuer)},
        headers={"DPoP": dpop_proof(key, "POST", server.token_endpoint)},
    )
    assert bound.status_code == 200, bound.text
    assert bound.json()["token_type"] == "DPoP"


async def test_harness_mutual_tls_authenticates_and_binds_to_the_certificate(
    op_server_mtls: OpServer, http_module: ModuleType, tmp_path: Path
) -> None:
    server = op_server_mtls
    assert server.tls is not None
    assert server.issuer.startswith("https://127.0.0.1:")
    client = server.clients["mtls"]
    form = {"grant_type": "client_credentials", "client_id": client.client_id}
    async with http_module.AsyncClient(verify=server.tls.ssl_context(), timeout=20.0) as http:
        answer = await http.post(server.token_endpoint, data=form)
        assert answer.status_code == 200, answer.text
        access = answer.json()["access_token"]
        introspected = await http.post(
            server.introspection_endpoint, data={"token": access, "client_id": client.client_id}
        )
        assert introspected.status_code == 200, introspected.text
        assert introspected.json()["active"] is True
        assert "x5t#S256" in introspected.json()["cnf"]
    ssl_without_cert = server.tls.ssl_context(client_cert=False)
    async with http_module.AsyncClient(verify=ssl_without_cert, timeout=20.0) as http:
        refused = await http.post(server.token_endpoint, data=form)
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"] == "invalid_client"
    # The same name in a certificate from a CA the server does not trust: refused.
    forged = trustme.CA().issue_cert(MTLS_CLIENT_DNS)
    forged.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "forged.pem"))
    ssl_forged = server.tls.ssl_context(client_cert=False)
    ssl_forged.load_cert_chain(str(tmp_path / "forged.pem"))
    async with http_module.AsyncClient(verify=ssl_forged, timeout=20.0) as http:
        refused = await http.post(server.token_endpoint, data=form)
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"] == "invalid_client"


# -- signed authorization responses (JARM) -------------------------------------------------


@pytest.mark.parametrize("mode", ["jwt", "query.jwt"])
async def test_a_signed_authorization_response_is_verified_and_used(
    mode: str, op_server: OpServer, http_module: ModuleType, http: Any
) -> None:
    strategy = await code_strategy(http, op_server, "public", scope="openid", response_mode=mode)
    assert strategy.signs_responses
    async with Client(strategy, http=http) as client:
        token = await client.login(ScriptedUser(http_module, login="pat"))
    assert token.id_token_claims is not None
    assert token.id_token_claims["sub"] == "pat"
    assert (await userinfo(http, op_server, token)).status_code == 200
