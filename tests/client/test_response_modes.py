"""Response modes end to end against the emulator: the signed JARM modes (``jwt``,
``query.jwt``, ``fragment.jwt``, ``form_post.jwt``) and ``form_post``, through
``Client.complete`` and through the loopback agent (a form post, relayed)."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

import anyoauth
from agents.chromium import open_in_chromium
from anyoauth import AuthorizationCode, Client, ConfigurationError, Implicit, discover
from anyoauth.agents import LoopbackAgent
from anyoauth.testing import ManualClock, ProviderEmulator, browse
from support.form_post import RelayForm, post_like_a_browser, submit_relay

from .helpers import BASE, EMULATED_SECRET, LOOPBACK_REDIRECT, web_app

pytestmark = pytest.mark.anyio

SIGNED_MODES = ["jwt", "query.jwt", "fragment.jwt", "form_post.jwt"]


@pytest.mark.parametrize("mode", [*SIGNED_MODES, "form_post", "query", "fragment"])
async def test_a_login_in_every_response_mode(
    mode: str, http: Any, emulator: ProviderEmulator, clock: ManualClock
) -> None:
    strategy = await web_app(http, response_mode=mode)
    async with Client(strategy, http=http, clock=clock) as client:
        start = await client.begin()
        landed = await browse(http, start.url)
        token = await client.complete(landed)
    assert emulator.is_valid_token(token.access_token)
    assert emulator.authorization_requests[-1]["response_mode"] == mode
    # Where the answer came: a signed one carries nothing but ``response``.
    parts = urlsplit(landed)
    params = dict(parse_qsl(parts.fragment if "fragment" in mode else parts.query))
    if mode in SIGNED_MODES:
        assert set(params) == {"response"}
        assert emulator.calls["oauth.jwks"] == 1
    else:
        assert {"code", "state", "iss"} <= set(params)
        assert emulator.calls["oauth.jwks"] == 0
    assert emulator.calls["oauth.token"] == 1


@pytest.mark.parametrize("mode", ["jwt", "form_post.jwt"])
async def test_a_pushed_request_asks_for_a_signed_response(
    mode: str, http: Any, emulator: ProviderEmulator, clock: ManualClock
) -> None:
    strategy = await web_app(http, response_mode=mode, push_authorization_request=True)
    async with Client(strategy, http=http, clock=clock) as client:
        start = await client.begin()
        assert "response_mode" not in start.url  # it went with the push
        landed = await browse(http, start.url)
        token = await client.complete(landed)
    assert emulator.is_valid_token(token.access_token)
    assert set(dict(parse_qsl(urlsplit(landed).query))) == {"response"}


async def test_the_key_set_is_fetched_once_for_several_signed_logins(
    http: Any, emulator: ProviderEmulator, clock: ManualClock
) -> None:
    strategy = await web_app(http, response_mode="jwt")
    async with Client(strategy, http=http, clock=clock) as client:
        for _ in range(3):
            start = await client.begin()
            await client.complete(await browse(http, start.url))
    assert emulator.calls["oauth.jwks"] == 1
    assert emulator.calls["oauth.token"] == 3


async def test_a_rotated_signing_key_is_fetched_again(
    http: Any, emulator: ProviderEmulator, clock: ManualClock
) -> None:
    strategy = await web_app(http, response_mode="query.jwt")
    async with Client(strategy, http=http, clock=clock) as client:
        start = await client.begin()
        await client.complete(await browse(http, start.url))
        emulator.rotate_oauth_signing_key(keep_old=False)
        start = await client.begin()
        token = await client.complete(await browse(http, start.url))
    assert emulator.is_valid_token(token.access_token)
    assert emulator.calls["oauth.jwks"] == 2


async def test_a_signed_denial_is_the_providers_refusal(
    http: Any, emulator: ProviderEmulator, clock: ManualClock
) -> None:
    strategy = await web_app(http, response_mode="jwt")
    async with Client(strategy, http=http, clock=clock) as client:
        start = await client.begin()
        landed = await browse(http, start.url, decision="deny")
        with pytest.raises(anyoauth.AuthorizationDenied) as denied:
            await client.complete(landed)
    assert denied.value.error == "access_denied"
    assert set(dict(parse_qsl(urlsplit(landed).query))) == {"response"}
    assert emulator.calls["oauth.token"] == 0


async def test_an_implicit_token_in_a_signed_fragment(
    http: Any, emulator: ProviderEmulator, clock: ManualClock
) -> None:
    metadata = await discover(BASE, http=http)
    strategy = Implicit.from_metadata(
        metadata, client_id="legacy", redirect_uri=LOOPBACK_REDIRECT, response_mode="jwt"
    )
    async with Client(strategy, http=http, clock=clock) as client:
        start = await client.begin()
        landed = await browse(http, start.url)
        token = await client.complete(landed)
    assert "#response=" in landed
    assert emulator.is_valid_token(token.access_token)
    assert token.expires_at == clock() + 3600


async def test_metadata_advertises_the_modes_and_algorithms(http: Any) -> None:
    metadata = await discover(BASE, http=http)
    assert set(SIGNED_MODES) <= set(metadata.response_modes_supported)
    assert "form_post" in metadata.response_modes_supported
    assert metadata.authorization_signing_alg_values_supported == ("RS256",)
    strategy = await web_app(http)
    assert strategy.response_mode is None  # never turned on from metadata
    assert strategy.authorization_signing_algorithms == ("RS256",)
    assert "response_mode" not in strategy.authorization_url(state="s", code_challenge=None)


async def test_a_mode_the_server_does_not_list_is_refused(http: Any) -> None:
    metadata = await discover(BASE, http=http)
    narrow = anyoauth.ServerMetadata.from_dict(
        {**metadata.raw, "response_modes_supported": ["query", "fragment"]}, issuer=BASE
    )
    with pytest.raises(ConfigurationError, match="does not list response_mode=jwt"):
        AuthorizationCode.from_metadata(
            narrow,
            client_id="web",
            client_secret=EMULATED_SECRET,
            redirect_uri=LOOPBACK_REDIRECT,
            response_mode="jwt",
        )


# -- through the loopback agent: a form post reaches the listener -----------------------------


@pytest.fixture
def served_emulator() -> ProviderEmulator:
    return ProviderEmulator()


@pytest.fixture
async def base_url(served_emulator: ProviderEmulator) -> AsyncIterator[str]:
    async with served_emulator.serve() as base_url:
        yield base_url


@pytest.mark.parametrize("mode", ["form_post", "form_post.jwt", "fragment.jwt", "query.jwt"])
async def test_a_loopback_login_in_every_mode(
    mode: str, served_emulator: ProviderEmulator, base_url: str, http_client: Any
) -> None:
    agent_port = _free_port()
    redirect = f"http://127.0.0.1:{agent_port}/callback"
    served_emulator.add_oauth_client(
        "desktop", redirect_uris=[redirect], auth_method="none", grant_types=["authorization_code"]
    )
    pages: list[Any] = []

    async def user(url: str) -> None:
        landed = await browse(http_client, url)
        if mode.startswith("form_post"):
            relay = await post_like_a_browser(http_client, landed, origin=base_url)
            assert "Finishing login" in relay.text
            pages.append(await submit_relay(http_client, relay))
        elif mode.startswith("fragment"):
            # The listener's relay page posts the fragment back (its script's part).
            address, _, fragment = landed.partition("#")
            relay_page = await http_client.get(address)
            form = RelayForm(relay_page.text)
            form.fields["fragment"] = fragment
            pages.append(await http_client.post(address, data=form.fields))
        else:
            pages.append(await http_client.get(landed))

    metadata = await discover(base_url, http=http_client)
    strategy = AuthorizationCode.from_metadata(
        metadata, client_id="desktop", redirect_uri=redirect, response_mode=mode
    )
    agent = LoopbackAgent(port=agent_port, open_browser=user)
    async with Client(strategy, http=http_client) as client:
        token = await client.login(agent)
    assert served_emulator.is_valid_token(token.access_token)
    (page,) = pages
    assert page.status_code == 200
    assert "Login received" in page.text
    assert served_emulator.calls["oauth.token"] == 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("mode", ["form_post", "form_post.jwt"])
async def test_a_form_post_login_in_a_real_browser(mode: str, chromium_path: str) -> None:
    """Chromium posts the provider's form across sites (``localhost`` to ``127.0.0.1``),
    without the listener's ``SameSite=Lax`` cookie; the listener's relay page posts it
    again with the cookie."""
    port = _free_port()
    redirect = f"http://127.0.0.1:{port}/callback"
    emulator = ProviderEmulator()
    emulator.add_oauth_client(
        "desktop", redirect_uris=[redirect], auth_method="none", grant_types=["authorization_code"]
    )
    async with emulator.serve() as served:
        base = served.replace("127.0.0.1", "localhost")
        async with Client(
            AuthorizationCode.from_metadata(
                await discover(base), client_id="desktop", redirect_uri=redirect, response_mode=mode
            )
        ) as client:
            agent = LoopbackAgent(
                port=port,
                open_browser=lambda url: open_in_chromium(chromium_path, url),
                timeout=40,
            )
            token = await client.login(agent)
    assert emulator.is_valid_token(token.access_token)
    assert emulator.calls["oauth.token"] == 1


# -- the JARM page's example ------------------------------------------------------------------


JARM_PAGE = Path(__file__).resolve().parents[2] / "docs" / "fapi" / "jarm.md"
JARM_EXAMPLES = [
    block
    for block in re.findall(r"```python\n(.+?)```", JARM_PAGE.read_text(), re.S)
    if "async def test_" in block
]


async def test_the_jarm_page_example_runs() -> None:
    assert len(JARM_EXAMPLES) == 1
    namespace: dict[str, Any] = {}
    exec(compile(JARM_EXAMPLES[0], str(JARM_PAGE), "exec"), namespace)  # noqa: S102
    await namespace["test_a_signed_login"]()
