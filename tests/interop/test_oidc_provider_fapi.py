"""anyoauth's DPoP (RFC 9449) and PAR (RFC 9126) against panva's oidc-provider.

Through :class:`anyoauth.Client` only (the proofs, pushes and client assertions are
anyoauth's): code + PKCE + PAR + DPoP + ``private_key_jwt`` end to end, with the
browser sent only ``client_id`` and ``request_uri``; ``client.auth()`` at the userinfo
endpoint with a bound token; refresh of DPoP-bound tokens (for a public client the
refresh token is bound too); a server that requires DPoP nonces, answered once at the
authorization server and once at the resource server; the bound token refused when
replayed without a proof; a client held to oidc-provider's FAPI 2.0 profile; PAR
turned on by the server's metadata.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs
import pytest

import anyoauth
from anyoauth import AuthorizationCode, Client, DPoPKey, MemoryStore, Token, discover
from interop.op import REDIRECT_URI, OpServer, start_op_server
from interop.op_user import ScriptedUser, authorize_as_user

pytestmark = pytest.mark.anyio


@pytest.fixture
async def http(http_module: ModuleType) -> AsyncIterator[Any]:
    async with http_module.AsyncClient(follow_redirects=False, timeout=20.0) as client:
        yield client


def new_dpop_key() -> DPoPKey:
    return DPoPKey.generate("ES256")


async def fapi_strategy(
    http: Any, server: OpServer, name: str, *, par: bool = False, **kwargs: Any
) -> AuthorizationCode:
    """A DPoP (and with ``par``, PAR) code strategy for one registered client, from
    discovery."""
    client = server.clients[name]
    settings: dict[str, Any] = {
        "client_id": client.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid",
        "dpop_key": new_dpop_key(),
    }
    if par:
        settings["push_authorization_request"] = True
    if client.auth_method == "private_key_jwt":
        settings.update(
            client_auth="private_key_jwt",
            client_key=dict(client.private_jwk or {}),
            client_assertion_algorithm=client.signing_alg,
        )
    settings.update(kwargs)
    return AuthorizationCode.from_metadata(await discover(server.issuer, http=http), **settings)


async def login_by_hand(client: Client, http_module: ModuleType) -> tuple[str, Token]:
    """begin() / the scripted user / complete(): returns (authorization URL, token)."""
    start = await client.begin()
    redirect = await authorize_as_user(http_module, start.url)
    return start.url, await client.complete(redirect)


async def raw_userinfo(http: Any, server: OpServer, authorization: str) -> Any:
    return await http.get(server.userinfo_endpoint, headers={"Authorization": authorization})


async def test_code_pkce_dpop_private_key_jwt_end_to_end(
    op_server: OpServer, http_module: ModuleType, http: Any
) -> None:
    server = op_server
    strategy = await fapi_strategy(http, server, "dpop")
    async with Client(strategy, http=http) as client:
        url, token = await login_by_hand(client, http_module)
        # The authorization request names the key (dpop_jkt, RFC 9449 10).
        query = parse_qs(urlsplit(url).query)
        assert query["dpop_jkt"] == [strategy.dpop_key.thumbprint if strategy.dpop_key else ""]
        assert token.token_type == "DPoP"
        assert token.id_token_claims is not None
        assert token.id_token_claims["sub"] == "alice"
        answer = await http.get(server.userinfo_endpoint, auth=client.auth())
        assert answer.status_code == 200, answer.text
        assert answer.json()["sub"] == "alice"


async def test_code_pkce_par_dpop_private_key_jwt_end_to_end(
    op_server: OpServer, http_module: ModuleType, http: Any
) -> None:
    server = op_server
    strategy = await fapi_strategy(http, server, "dpop-par", par=True)
    async with Client(strategy, http=http) as client:
        url, token = await login_by_hand(client, http_module)
        # The browser saw only client_id and request_uri (RFC 9126 4).
        query = parse_qs(urlsplit(url).query)
        assert set(query) == {"client_id", "request_uri"}
        assert query["request_uri"][0].startswith("urn:ietf:params:oauth:request_uri:")
        assert token.token_type == "DPoP"
        assert token.id_token_claims is not None
        assert token.id_token_claims["sub"] == "alice"

        # client.auth() sends Authorization: DPoP plus a proof with ath: the provider
        # accepts it at its userinfo endpoint.
        answer = await http.get(server.userinfo_endpoint, auth=client.auth())
        assert answer.status_code == 200, answer.text
        assert answer.json()["sub"] == "alice"


async def test_a_bound_token_replayed_without_a_proof_is_refused(
    op_server: OpServer, http_module: ModuleType, http: Any
) -> None:
    server = op_server
    strategy = await fapi_strategy(http, server, "dpop")
    async with Client(strategy, http=http) as client:
        token = await client.login(ScriptedUser(http_module))
        assert token.token_type == "DPoP"
        # Stolen and replayed: as a bearer, and as DPoP without a proof.
        as_bearer = await raw_userinfo(http, server, f"Bearer {token.access_token}")
        assert as_bearer.status_code == 401
        no_proof = await raw_userinfo(http, server, f"DPoP {token.access_token}")
        assert no_proof.status_code in (400, 401)
        # The holder of the key still gets through.
        assert (await http.get(server.userinfo_endpoint, auth=client.auth())).status_code == 200


async def test_refresh_of_a_dpop_bound_token(
    op_server: OpServer, http_module: ModuleType, http: Any
) -> None:
    server = op_server
    strategy = await fapi_strategy(http, server, "dpop")
    async with Client(strategy, http=http) as client:
        token = await client.login(ScriptedUser(http_module))
        renewed = await client.token(rejected=token)
        assert renewed.token_type == "DPoP"
        assert renewed.access_token != token.access_token
        assert renewed.refresh_token not in (None, token.refresh_token)
        answer = await http.get(server.userinfo_endpoint, auth=client.auth())
        assert answer.status_code == 200, answer.text


async def test_refresh_of_a_public_clients_bound_refresh_token(
    op_server: OpServer, http_module: ModuleType, http: Any
) -> None:
    # A public client's refresh token is bound to its DPoP key (RFC 9449 5): the
    # refresh succeeds only with a proof of the same key.
    server = op_server
    strategy = await fapi_strategy(http, server, "public")
    async with Client(strategy, http=http) as client:
        token = await client.login(ScriptedUser(http_module))
        assert token.token_type == "DPoP"
        renewed = await client.token(rejected=token)
        assert renewed.token_type == "DPoP"
        assert renewed.refresh_token not in (None, token.refresh_token)
    # The same refresh token with another key: refused by the provider.
    other = attrs.evolve(strategy, dpop_key=new_dpop_key())
    async with Client(other, http=http) as thief:
        await thief.set_token(renewed)
        with pytest.raises(anyoauth.LoginRequired):
            await thief.token(rejected=renewed)


@pytest.mark.parametrize("par", [False, True])
async def test_nonces_required_by_the_authorization_and_resource_server(
    op_server_nonce: OpServer, http_module: ModuleType, http: Any, par: bool
) -> None:
    # Every proof needs a server nonce. The first request to the authorization server
    # (the PAR push, or the code exchange) is answered use_dpop_nonce and retried once
    # with the nonce; later requests to that origin carry the remembered nonce.
    server = op_server_nonce
    strategy = await fapi_strategy(http, server, "dpop-par" if par else "dpop", par=par)
    store = MemoryStore()
    seen = len(server.log())
    async with Client(strategy, store=store, http=http) as client:
        token = await client.login(ScriptedUser(http_module))
        assert token.token_type == "DPoP"
        renewed = await client.token(rejected=token)
        assert renewed.token_type == "DPoP"
    challenges = server.log()[seen:]
    endpoint = "/request" if par else "/token"
    assert challenges.count("use_dpop_nonce") == 1, challenges
    assert f"POST {endpoint} UseDpopNonce" in challenges

    # Another process of the fleet loads the same key (no nonce remembered yet): its
    # first call with the stored token, at the userinfo endpoint, is answered
    # WWW-Authenticate: DPoP error="use_dpop_nonce"; client.auth() retries once.
    assert strategy.dpop_key is not None
    same_key = DPoPKey.load(strategy.dpop_key.private_jwk(), "ES256")
    seen = len(server.log())
    async with Client(attrs.evolve(strategy, dpop_key=same_key), store=store, http=http) as other:
        answer = await http.get(server.userinfo_endpoint, auth=other.auth())
        assert answer.status_code == 200, answer.text
    challenges = server.log()[seen:]
    assert challenges.count("use_dpop_nonce") == 1, challenges
    assert "GET /me UseDpopNonce" in challenges


async def test_a_client_held_to_the_fapi2_profile(
    op_server: OpServer, http_module: ModuleType, http: Any
) -> None:
    # oidc-provider checks this client against FAPI 2.0: PAR, PKCE S256, sender-
    # constrained tokens, client assertions whose aud is the issuer, ES256 id_tokens.
    server = op_server
    strategy = await fapi_strategy(http, server, "fapi2", par=True)
    async with Client(strategy, http=http) as client:
        token = await client.login(ScriptedUser(http_module))
        assert token.token_type == "DPoP"
        assert token.id_token_claims is not None
        answer = await http.get(server.userinfo_endpoint, auth=client.auth())
        assert answer.status_code == 200, answer.text


async def test_par_from_metadata_when_the_server_requires_it(
    tmp_path: Path, http_module: ModuleType, http: Any
) -> None:
    with start_op_server(tmp_path, require_par=True) as server:
        metadata = await discover(server.issuer, http=http)
        assert metadata.raw["require_pushed_authorization_requests"] is True
        app = server.clients["basic"]
        strategy = AuthorizationCode.from_metadata(
            metadata,
            client_id=app.client_id,
            client_secret=app.client_secret,
            redirect_uri=REDIRECT_URI,
            scope="openid",
        )
        loose: Any = strategy
        assert loose.push_authorization_request
        async with Client(strategy, http=http) as client:
            url, token = await login_by_hand(client, http_module)
            assert set(parse_qs(urlsplit(url).query)) == {"client_id", "request_uri"}
            assert token.token_type.lower() == "bearer"
