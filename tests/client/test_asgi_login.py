"""anyoauth.asgi.OAuthLogin in use: mounted under a path, as the whole ASGI app (its
lifespan), with a strategy made at start-up, refreshing the user's token on demand,
and refusing settings that cannot work. Attacks on it are in
tests/hardening/test_asgi_login.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

import anyoauth
from anyoauth.asgi import OAuthLogin
from anyoauth.testing import ManualClock, ProviderEmulator, browse

pytestmark = pytest.mark.anyio

ISSUER = "https://login.example"
SITE = "http://127.0.0.1:8000"
SECRET = "mounted-login-secret-" + "m" * 24


@pytest.fixture
def emulator() -> ProviderEmulator:
    emulator = ProviderEmulator(base_url=ISSUER)
    emulator.add_oauth_client("web", client_secret=SECRET, redirect_uris=[SITE + "/auth/callback"])
    return emulator


@pytest.fixture
async def provider(emulator: ProviderEmulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=emulator.mock_transport()) as http:
        yield http


def strategy(emulator: ProviderEmulator, **settings: Any) -> anyoauth.AuthorizationCode:
    endpoints = emulator.endpoints_oauth(ISSUER)
    return anyoauth.AuthorizationCode(
        client_id="web",
        client_secret=SECRET,
        authorization_endpoint=endpoints["authorization_endpoint"],
        token_endpoint=endpoints["token_endpoint"],
        redirect_uri=SITE + "/auth/callback",
        **settings,
    )


async def log_in(browser: httpx.AsyncClient, provider: httpx.AsyncClient) -> httpx.Response:
    started = await browser.get("/auth/login")
    assert started.status_code == 303
    callback = await browse(provider, started.headers["location"])
    return await browser.get(callback.removeprefix(SITE))


async def test_mounted_under_a_path_it_serves_its_routes_below_it(
    emulator: ProviderEmulator, provider: httpx.AsyncClient
) -> None:
    login = OAuthLogin(strategy(emulator), anyoauth.MemoryStore(), http=provider)

    async def me(request: Request) -> PlainTextResponse:
        token = await login.token(request)
        return PlainTextResponse(token.token_type)

    app = Starlette(routes=[Route("/me", me), Mount("/auth", login)])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=SITE) as browser:
        started = await browser.get("/auth/login")
        assert "Path=/auth/callback" in started.headers["set-cookie"]
        refused = await browser.get("/auth/callback?state=other&code=x")
        assert refused.status_code == 400
        assert 'href="/auth/login"' in refused.text
        assert (await browser.get("/auth/elsewhere")).status_code == 404
        done = await log_in(browser, provider)
        assert done.status_code == 303
        assert "Path=/;" in done.headers.get_list("set-cookie")[0]
        assert (await browser.get("/me")).text.lower() == "bearer"


async def test_as_the_whole_app_it_answers_the_lifespan_and_closes_its_client(
    emulator: ProviderEmulator,
) -> None:
    login = OAuthLogin(strategy(emulator), anyoauth.MemoryStore())
    made = login.http
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)

    await login({"type": "lifespan"}, receive, send)
    assert [m["type"] for m in sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
    assert made.is_closed


async def test_a_strategy_made_at_start_up_is_made_once(
    emulator: ProviderEmulator, provider: httpx.AsyncClient
) -> None:
    calls = 0

    async def discovered() -> anyoauth.AuthorizationCode:
        nonlocal calls
        calls += 1
        await anyio.sleep(0.01)
        return strategy(emulator)

    login = OAuthLogin(discovered, anyoauth.MemoryStore(), http=provider)
    with pytest.raises(anyoauth.ConfigurationError):
        login.strategy  # noqa: B018 - not known before start()
    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(login.start)
    assert calls == 1
    assert login.redirect_uri == SITE + "/auth/callback"
    assert not login.secure_cookies  # http on loopback

    async def not_a_strategy() -> Any:
        return "nope"

    with pytest.raises(anyoauth.ConfigurationError):
        await OAuthLogin(not_a_strategy, anyoauth.MemoryStore()).start()


async def test_the_users_token_is_refreshed_on_demand() -> None:
    clock = ManualClock()
    emulator = ProviderEmulator(base_url=ISSUER, clock=clock)
    emulator.add_oauth_client("web", client_secret=SECRET, redirect_uris=[SITE + "/auth/callback"])
    async with httpx.AsyncClient(transport=emulator.mock_transport()) as provider:
        login = OAuthLogin(
            strategy(emulator),
            anyoauth.MemoryStore(clock=clock),
            http=provider,
            client_options={"clock": clock},
        )
        app = Starlette(routes=[Mount("/auth", login)])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=SITE) as browser:
            await log_in(browser, provider)
            cookie = b"session=" + browser.cookies["session"].encode()
        scope = {"type": "http", "headers": [(b"cookie", cookie)]}
        first = await login.token(scope)
        before = emulator.calls["oauth.token"]
        assert (await login.token(scope)).access_token == first.access_token
        assert first.expires_at is not None
        clock.advance(first.expires_at - clock() + 1)
        second = await login.token(scope)
    assert emulator.calls["oauth.token"] == before + 1
    assert second.access_token != first.access_token
    assert emulator.is_valid_token(second.access_token)


async def test_settings_that_cannot_work_are_refused(emulator: ProviderEmulator) -> None:
    store = anyoauth.MemoryStore()
    good = strategy(emulator)
    unworkable: list[dict[str, Any]] = [
        {"login_path": "login"},
        {"session_cookie": "a b"},
        {"state_cookie": ""},
        {"after_login": "https://elsewhere.example/"},
        {"after_logout": "//elsewhere.example"},
    ]
    for settings in unworkable:
        with pytest.raises(anyoauth.ConfigurationError):
            OAuthLogin(good, store, **settings)
    service = anyoauth.ClientCredentials(
        client_id="service", client_secret=SECRET, token_endpoint=ISSUER + "/oauth/token"
    )
    for unusable in (service, strategy(emulator, response_mode="form_post")):
        with pytest.raises(anyoauth.ConfigurationError):
            OAuthLogin(unusable, store)
    with pytest.raises(TypeError):
        OAuthLogin("not a strategy", store)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        OAuthLogin(good, store).session_id(object())
