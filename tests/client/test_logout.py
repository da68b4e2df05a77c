"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) against the emulator's
generic server: the logout URL carries the held id_token as ``id_token_hint``,
``end_session()`` forgets the local token, and the server ends the session."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

import anyoauth
from anyoauth import AuthorizationCode, Client
from anyoauth.testing import ManualClock, ProviderEmulator

from .helpers import EMULATED_SECRET, LOOPBACK_REDIRECT, login, web_app

pytestmark = pytest.mark.anyio

AFTER_LOGOUT = "https://app.example/signed-out"


@pytest.fixture
def registered(emulator: ProviderEmulator) -> ProviderEmulator:
    """The emulator, its "web" client registered with a post-logout redirect URI."""
    emulator.add_oauth_client(
        "web",
        client_secret=EMULATED_SECRET,
        redirect_uris=[LOOPBACK_REDIRECT],
        scopes=None,
        post_logout_redirect_uris=[AFTER_LOGOUT],
    )
    return emulator


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


async def test_end_session_forgets_the_token_and_the_server_ends_the_session(
    http: Any, clock: ManualClock, registered: ProviderEmulator
) -> None:
    client = Client(await web_app(http, scope="openid profile"), http=http, clock=clock)
    token = await login(client, http)
    url = await client.end_session(post_logout_redirect_uri=AFTER_LOGOUT, state="st-1")
    assert url is not None
    assert url.startswith(str(client.strategy.end_session_endpoint) + "?")
    assert _query(url) == {
        "id_token_hint": [token.extra["id_token"]],
        "client_id": ["web"],
        "post_logout_redirect_uri": [AFTER_LOGOUT],
        "state": ["st-1"],
    }
    assert await client.store.get_token(client.token_key) is None
    answer = await http.get(url)
    assert answer.status_code == 302
    assert answer.headers["location"] == f"{AFTER_LOGOUT}?state=st-1"
    assert registered.oauth_ended_sessions == ["web"]
    # The session's tokens are gone at the server too.
    introspected = await client.introspect(token)
    assert introspected.active is False


async def test_logout_url_builds_the_url_and_keeps_the_token(http: Any, clock: ManualClock) -> None:
    client = Client(await web_app(http, scope="openid"), http=http, clock=clock)
    token = await login(client, http)
    url = await client.logout_url(ui_locales=["fr-CA", "en"])
    assert _query(url)["ui_locales"] == ["fr-CA en"]
    assert _query(url)["id_token_hint"] == [token.extra["id_token"]]
    assert await client.store.get_token(client.token_key) == token


async def test_without_an_id_token_the_logout_url_names_the_client_only(
    http: Any, clock: ManualClock
) -> None:
    client = Client(await web_app(http, scope="profile"), http=http, clock=clock)
    await login(client, http)
    url = await client.end_session()
    assert url is not None
    assert _query(url) == {"client_id": ["web"]}


async def test_a_server_without_end_session_endpoint_gets_no_url_but_the_token_is_forgotten(
    http: Any, clock: ManualClock
) -> None:
    client = Client(
        await web_app(http, scope="openid", end_session_endpoint=None), http=http, clock=clock
    )
    await login(client, http)
    assert await client.end_session() is None
    assert await client.store.get_token(client.token_key) is None
    with pytest.raises(anyoauth.ConfigurationError, match="end_session_endpoint"):
        await client.logout_url()


async def test_the_server_refuses_a_post_logout_redirect_uri_not_registered(
    http: Any, clock: ManualClock, registered: ProviderEmulator
) -> None:
    client = Client(await web_app(http, scope="openid"), http=http, clock=clock)
    await login(client, http)
    url = await client.end_session(post_logout_redirect_uri="https://evil.example/")
    assert url is not None
    answer = await http.get(url)
    assert answer.status_code == 400
    assert "location" not in answer.headers
    assert registered.oauth_ended_sessions == []


def test_the_strategy_builds_the_logout_url_sans_io() -> None:
    strategy = AuthorizationCode(
        client_id="my app",
        authorization_endpoint="https://as.example/authorize",
        token_endpoint="https://as.example/token",
        end_session_endpoint="https://as.example/logout?tenant=1",
        redirect_uri="https://app.example/cb",
    )
    url = strategy.end_session_url(id_token_hint="a.b.c", state="s")
    assert url == "https://as.example/logout?tenant=1&id_token_hint=a.b.c&client_id=my+app&state=s"
