"""anyoauth's DPoP (RFC 9449) and PAR (RFC 9126) against panva's oidc-provider.

Through :class:`anyoauth.Client` only (the proofs, pushes and client assertions are
anyoauth's): code + PKCE + PAR + DPoP + ``private_key_jwt`` end to end, with the
browser sent only ``client_id`` and ``request_uri``; ``client.auth()`` at the userinfo
endpoint with a bound token; refresh of DPoP-bound tokens (for a public client the
refresh token is bound too); a server that requires DPoP nonces, answered once at the
authorization server and once at the resource server; the bound token refused when
replayed without a proof; a client held to oidc-provider's FAPI 2.0 profile; PAR
turned on by the server's metadata.

These tests use the strategy options ``dpop_key`` and ``push_authorization_request``.
On a tree that does not have them yet they are expected to fail with the
``AttributeError`` / ``TypeError`` of the missing option (strict: once the options
exist they must pass).
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
from anyoauth import AuthorizationCode, Client, Token, discover
from interop.op import REDIRECT_URI, OpServer, start_op_server
from interop.op_user import ScriptedUser, authorize_as_user

HAS_DPOP_AND_PAR = hasattr(anyoauth, "DPoPKey") and {
    "dpop_key",
    "push_authorization_request",
} <= set(attrs.fields_dict(AuthorizationCode))

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.xfail(
        not HAS_DPOP_AND_PAR,
        reason="this tree has no DPoPKey / dpop_key / push_authorization_request yet",
        raises=(AttributeError, TypeError),
        strict=True,
    ),
]


@pytest.fixture
async def http(http_module: ModuleType) -> AsyncIterator[Any]:
    async with http_module.AsyncClient(follow_redirects=False, timeout=20.0) as client:
        yield client


API: Any = anyoauth
"""The package, typed loosely: the names these tests use may not exist on this tree."""


def new_dpop_key() -> Any:
    return API.DPoPKey.generate("ES256")


async def fapi_strategy(http: Any, server: OpServer, name: str, **kwargs: Any) -> AuthorizationCode:
    """A DPoP + PAR code strategy for one registered client, from discovery."""
    client = server.clients[name]
    settings: dict[str, Any] = {
        "client_id": client.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid",
        "dpop_key": new_dpop_key(),
        "push_authorization_request": True,
    }
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


async def test_code_pkce_par_dpop_private_key_jwt_end_to_end(
    op_server: OpServer, http_module: ModuleType, http: Any
) -> None:
    server = op_server
    strategy = await fapi_strategy(http, server, "dpop-par")
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
    strategy = await fapi_strategy(http, server, "dpop-par")
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
    strategy = await fapi_strategy(http, server, "dpop-par")
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
    loose: Any = strategy
    other = attrs.evolve(loose, dpop_key=new_dpop_key())
    async with Client(other, http=http) as thief:
        await thief.set_token(renewed)
        with pytest.raises(anyoauth.LoginRequired):
            await thief.token(rejected=renewed)


async def test_nonces_required_by_the_authorization_and_resource_server(
    op_server_nonce: OpServer, http_module: ModuleType, http: Any
) -> None:
    # Every proof needs a server nonce: the PAR push, the code exchange, the refresh
    # and the userinfo call are each answered use_dpop_nonce first, then retried once.
    server = op_server_nonce
    strategy = await fapi_strategy(http, server, "dpop-par")
    async with Client(strategy, http=http) as client:
        token = await client.login(ScriptedUser(http_module))
        assert token.token_type == "DPoP"
        answer = await http.get(server.userinfo_endpoint, auth=client.auth())
        assert answer.status_code == 200, answer.text
        renewed = await client.token(rejected=token)
        assert renewed.token_type == "DPoP"
    assert "use_dpop_nonce" in server.log() or "nonce is required" in server.log()


async def test_a_client_held_to_the_fapi2_profile(
    op_server: OpServer, http_module: ModuleType, http: Any
) -> None:
    # oidc-provider checks this client against FAPI 2.0: PAR, PKCE S256, sender-
    # constrained tokens, client assertions whose aud is the issuer, ES256 id_tokens.
    server = op_server
    strategy = await fapi_strategy(http, server, "fapi2")
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
