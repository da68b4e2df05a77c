"""Replay, cross-flow and cross-worker state, mix-up, and the loopback page (docs/security.md,
rules 1, 3 and 5): every bad redirect fails with a typed error before any token request is sent.

Logins run against the provider emulator; the cross-worker tests share a real
redis-server through separate ``RedisStore`` connections, one per "worker".
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import anyio
import pytest

import anyoauth
from anyoauth.agents import LoopbackAgent
from anyoauth.providers import Geni, Teamwork
from anyoauth.testing import ProviderEmulator, browse
from redis_server import RedisServer

from .common import SECRET

pytestmark = pytest.mark.anyio

BASE = "https://provider.example"
TW_ID, OTHER_ID = "tw-app", "tw-other"
REDIRECT = "https://app.example/teamwork"


@pytest.fixture
def emulator() -> ProviderEmulator:
    emulator = ProviderEmulator(base_url=BASE)
    emulator.add_teamwork_app(TW_ID, SECRET, redirect_uris=[REDIRECT])
    emulator.add_teamwork_app(OTHER_ID, SECRET, redirect_uris=[REDIRECT])
    emulator.add_geni_app("geni-app")
    return emulator


@pytest.fixture
async def http(emulator: ProviderEmulator, http_module: ModuleType) -> AsyncIterator[Any]:
    async with http_module.AsyncClient(transport=emulator.mock_transport(http_module)) as client:
        yield client


def teamwork(emulator: ProviderEmulator, client_id: str = TW_ID) -> anyoauth.Strategy:
    return Teamwork(client_id, SECRET, REDIRECT, **emulator.endpoints_teamwork(BASE))


async def landed(client: anyoauth.Client, http: Any) -> str:
    """Begin a login and click "allow": the redirect URL, code and state in it."""
    start = await client.begin()
    return await browse(http, start.url)


# -- replay and cross-flow ----------------------------------------------------------------------


async def test_a_replayed_redirect_is_refused(emulator: ProviderEmulator, http: Any) -> None:
    client = anyoauth.Client(teamwork(emulator), http=http)
    url = await landed(client, http)
    await client.complete(url)
    for _ in range(3):
        with pytest.raises(anyoauth.StateMismatch):
            await client.complete(url)
    assert emulator.calls["teamwork.token"] == 1


async def test_a_redirect_with_state_of_another_strategy_is_refused(
    emulator: ProviderEmulator, http: Any
) -> None:
    store = anyoauth.MemoryStore()
    mine = anyoauth.Client(teamwork(emulator), store, http=http)
    other = anyoauth.Client(teamwork(emulator, OTHER_ID), store, http=http)
    with pytest.raises(anyoauth.StateMismatch, match="another flow"):
        await other.complete(await landed(mine, http))
    geni = anyoauth.Client(Geni("geni-app", **emulator.endpoints_geni(BASE)), store, http=http)
    start = await geni.begin()
    with pytest.raises(anyoauth.StateMismatch, match="another flow"):
        await mine.complete(f"{REDIRECT}?code=C&state={start.state}")
    assert emulator.calls["teamwork.token"] == 0
    assert await store.get_token(mine.token_key) is None


async def test_a_forged_or_missing_state_is_refused(emulator: ProviderEmulator, http: Any) -> None:
    client = anyoauth.Client(teamwork(emulator), http=http)
    url = await landed(client, http)
    state = parse_qs(urlsplit(url).query)["state"][0]
    forged = [
        url.replace(state, state[:-1] + ("A" if state[-1] != "A" else "B")),
        url.replace(state, state.upper() if state.upper() != state else state.lower()),
        re.sub(r"&?state=[^&]*", "", url),
        url.replace(f"state={state}", "state="),
        url.replace(f"state={state}", f"state={state}&state={state}"),
    ]
    for bad in forged:
        with pytest.raises((anyoauth.StateError, anyoauth.MalformedRedirect)):
            await client.complete(bad)
    assert emulator.calls["teamwork.token"] == 0
    await client.complete(url)  # the real one still works: forgeries do not consume it
    assert emulator.calls["teamwork.token"] == 1


# -- across workers sharing a RedisStore --------------------------------------------------------


async def test_state_across_workers_sharing_redis(
    fresh_redis: RedisServer, emulator: ProviderEmulator, http_module: ModuleType
) -> None:
    """Worker 1 begins; whichever worker gets the redirect completes it, once; a replay
    on any worker, or the same state in a worker of another client, is refused."""
    async with AsyncExitStack() as stack:

        async def worker(client_id: str = TW_ID) -> tuple[anyoauth.Client, Any]:
            store = await stack.enter_async_context(anyoauth.RedisStore(fresh_redis.url))
            http = await stack.enter_async_context(
                http_module.AsyncClient(transport=emulator.mock_transport(http_module))
            )
            return anyoauth.Client(teamwork(emulator, client_id), store, http=http), http

        first, http = await worker()
        url = await landed(first, http)
        others = [(await worker())[0] for _ in range(8)]
        results: list[object] = []

        async def complete(client: anyoauth.Client) -> None:
            try:
                results.append(await client.complete(url))
            except anyoauth.OAuthError as exc:
                results.append(exc)

        async with anyio.create_task_group() as tg:
            for client in others:
                tg.start_soon(complete, client)
        tokens = [r for r in results if isinstance(r, anyoauth.Token)]
        assert len(tokens) == 1
        assert all(isinstance(r, anyoauth.StateMismatch) for r in results if r not in tokens)
        assert emulator.calls["teamwork.token"] == 1
        # Every worker sees the one token; the worker that began could replay nothing.
        assert await first.token() == tokens[0]
        with pytest.raises(anyoauth.StateMismatch):
            await first.complete(url)

        # A state begun by this client, delivered to a worker running another client.
        url = await landed(first, http)
        intruder, _ = await worker(OTHER_ID)
        with pytest.raises(anyoauth.StateMismatch, match="another flow"):
            await intruder.complete(url)
        assert emulator.calls["teamwork.token"] == 1
        assert await intruder.store.get_token(intruder.token_key) is None


# -- mix-up (RFC 9207) --------------------------------------------------------------------------


@pytest.mark.parametrize("sent", ["https://evil.example", "http://127.0.0.1:1", "", False])
async def test_a_wrong_or_missing_iss_is_a_mix_up(
    http_module: ModuleType, sent: str | bool
) -> None:
    """On a real port: the client configured from the server's metadata (which says it
    sends ``iss``) refuses an authorization response with another or no ``iss``, before
    the code is exchanged."""
    emulator = ProviderEmulator(oauth_send_iss=sent)
    redirect = "http://127.0.0.1:9/callback"
    emulator.add_oauth_client("web", client_secret=SECRET, redirect_uris=[redirect])
    async with emulator.serve() as base, http_module.AsyncClient() as http:
        metadata = await anyoauth.discover(base, http=http)
        assert metadata.authorization_response_iss_parameter_supported
        strategy = anyoauth.AuthorizationCode.from_metadata(
            metadata, client_id="web", client_secret=SECRET, redirect_uri=redirect
        )
        client = anyoauth.Client(strategy, http=http)
        with pytest.raises(anyoauth.IssuerMismatch):
            await client.complete(await landed(client, http))
    assert emulator.calls["oauth.token"] == 0


async def test_metadata_of_another_issuer_is_refused(http_module: ModuleType) -> None:
    emulator = ProviderEmulator(oauth_metadata_issuer="https://evil.example")
    async with emulator.serve() as base, http_module.AsyncClient() as http:
        with pytest.raises(anyoauth.DiscoveryError):
            await anyoauth.discover(base, http=http)


# -- the loopback page escapes what it reflects -------------------------------------------------


HOSTILE = "<script>alert(document.cookie)</script>\"'><img src=x onerror=alert(1)>&amp;"


async def test_the_loopback_page_escapes_a_hostile_error_description(http_client: Any) -> None:
    pages: list[Any] = []

    async def hostile_provider(start_url: str) -> None:
        """The "provider" sends the browser back with a scripted error_description."""
        start = await http_client.get(start_url)  # the client keeps the listener's cookie
        query = parse_qs(urlsplit(start.headers["location"]).query)
        back = (
            f"{query['redirect_uri'][0]}?error=access_denied"
            f"&error_description={quote(HOSTILE)}&state={query['state'][0]}"
        )
        pages.append(await http_client.get(back))

    strategy = anyoauth.AuthorizationCode(
        client_id="cli",
        authorization_endpoint="https://as.example/authorize",
        token_endpoint="https://as.example/token",
        redirect_uri="http://127.0.0.1/callback",
    )
    client = anyoauth.Client(strategy, http=http_client)
    with pytest.raises(anyoauth.AuthorizationDenied) as denied:
        await client.login(LoopbackAgent(open_browser=hostile_provider))
    assert denied.value.error_description == HOSTILE  # the provider's words, as data
    (page,) = pages
    assert page.status_code == 200
    text = page.text
    assert "<img" not in text
    assert "onerror=alert" not in text or "&lt;img" in text
    assert "alert(document.cookie)</script>" not in text
    assert "&lt;script&gt;alert(document.cookie)&lt;/script&gt;" in text
    assert "&quot;&#x27;&gt;&lt;img src=x onerror=alert(1)&gt;&amp;amp;" in text
    # At most the page's own relay script, allowed by hash; no inline script of theirs.
    assert text.count("<script") <= 1
    headers = {k.lower(): v for k, v in page.headers.items()}
    assert headers["cache-control"] == "no-store"
    assert headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in headers["content-security-policy"]
    assert "'unsafe-inline'" not in headers["content-security-policy"]
