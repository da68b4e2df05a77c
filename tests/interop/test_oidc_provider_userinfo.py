"""``Client.userinfo()`` and RP-initiated logout against panva's oidc-provider, a
certified server we did not write: userinfo with a bearer token and with a DPoP-bound
one (a proof with ``ath``), the ``sub`` matching the id_token's, and the logout URL the
provider's end-session endpoint accepts (its ``id_token_hint`` an id_token it issued)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from anyoauth import AuthorizationCode, Client, DPoPKey, discover
from interop.op import REDIRECT_URI, OpServer
from interop.op_user import ScriptedUser

pytestmark = pytest.mark.anyio


@pytest.fixture
async def http(http_module: ModuleType) -> AsyncIterator[Any]:
    async with http_module.AsyncClient(follow_redirects=False, timeout=20.0) as client:
        yield client


async def strategy_for(http: Any, server: OpServer, name: str, **kwargs: Any) -> AuthorizationCode:
    client = server.clients[name]
    settings: dict[str, Any] = {"client_id": client.client_id, "redirect_uri": REDIRECT_URI}
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


async def test_userinfo_of_a_confidential_openid_login(
    op_server: OpServer, http_module: ModuleType, http: Any
) -> None:
    strategy = await strategy_for(http, op_server, "basic", scope="openid email")
    assert strategy.userinfo_endpoint == op_server.userinfo_endpoint
    async with Client(strategy, http=http) as client:
        token = await client.login(ScriptedUser(http_module))
        claims = await client.userinfo()
        assert token.id_token_claims is not None
        assert claims["sub"] == token.id_token_claims["sub"] == "alice"
        assert claims["email"] == "alice@example.test"


async def test_userinfo_with_a_dpop_bound_token(
    op_server: OpServer, http_module: ModuleType, http: Any
) -> None:
    strategy = await strategy_for(
        http, op_server, "dpop", scope="openid", dpop_key=DPoPKey.generate("ES256")
    )
    async with Client(strategy, http=http) as client:
        token = await client.login(ScriptedUser(http_module))
        assert token.token_type == "DPoP"
        claims = await client.userinfo()
        assert claims["sub"] == "alice"


async def test_the_providers_end_session_endpoint_takes_the_logout_url(
    op_server: OpServer, http_module: ModuleType, http: Any
) -> None:
    strategy = await strategy_for(http, op_server, "basic", scope="openid")
    assert strategy.end_session_endpoint is not None
    async with Client(strategy, http=http) as client:
        token = await client.login(ScriptedUser(http_module))
        url = await client.end_session(state="after-logout")
        assert url is not None
        query = parse_qs(urlsplit(url).query)
        assert query["id_token_hint"] == [token.extra["id_token"]]
        assert client.fresh_token() is None
        # The provider asks the user to confirm the logout: the hint was accepted.
        answer = await http.get(url)
        assert answer.status_code == 200, answer.text
        assert "logout" in answer.text.lower()
        # A hint it did not issue is refused.
        head, payload, _ = token.extra["id_token"].split(".")
        forged = strategy.end_session_url(id_token_hint=f"{head}.{payload}.AAAA")
        assert (await http.get(forged)).status_code == 400
