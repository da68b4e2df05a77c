"""``Client.userinfo()`` against django-oauth-toolkit, an authorization server we did
not write: after a confidential OpenID Connect login through a real browser, the
server's userinfo endpoint answers the user's claims, its ``sub`` the id_token's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from anyoauth import AuthorizationCode, Client, discover
from anyoauth.agents import LoopbackAgent
from interop.browser import dot_browser
from interop.dot import DotServer

pytestmark = pytest.mark.anyio


@pytest.fixture
async def http(http_module: Any) -> AsyncIterator[Any]:
    async with http_module.AsyncClient(follow_redirects=False, timeout=20.0) as client:
        yield client


async def test_userinfo_after_a_confidential_openid_login(
    dot_server: DotServer, chromium_path: str, http: Any
) -> None:
    app = dot_server.apps["code-confidential"]
    strategy = AuthorizationCode.from_metadata(
        await discover(dot_server.issuer, http=http),
        client_id=app.client_id,
        client_secret=app.client_secret,
        redirect_uri="http://127.0.0.1/callback",  # the loopback agent sets the port
        scope="openid read",
        # The RFC 8414 document discover() reads first names no userinfo endpoint here
        # (the OpenID Connect one does): given as configured.
        userinfo_endpoint=dot_server.userinfo_endpoint,
    )
    agent = LoopbackAgent(open_browser=dot_browser(chromium_path, dot_server), timeout=60)
    async with Client(strategy, http=http) as client:
        token = await client.login(agent)
        claims = await client.userinfo()
        assert token.id_token_claims is not None
        assert claims["sub"] == token.id_token_claims["sub"]
