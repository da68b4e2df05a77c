"""Whole flows through browse(), in-process and on a loopback port, with httpx and httpx2."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Callable
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import attrs
import pytest

from anyoauth.testing import (
    BOG_ACCOUNTS_PATH,
    GENI_FAILURE_PATH,
    GENI_PROFILE_PATH,
    GENI_SUCCESS_PATH,
    BrowseError,
    ProviderEmulator,
    browse,
)

pytestmark = pytest.mark.anyio

GENI_ID = "geni-app"
TW_ID, TW_SECRET = "tw-app", "tw-SECRET-sentinel"
TW_REDIRECT = "myapp://teamwork/cb"
TW_WEB_REDIRECT = "https://app.example/teamwork/cb"
KC_ID, KC_SECRET = "bog-client", "b:o+g% SECRET"
KC_REDIRECT = "https://app.example/bog"


@attrs.frozen
class Site:
    http: Any
    base: str
    module: ModuleType


@pytest.fixture
def emulator() -> ProviderEmulator:
    emulator = ProviderEmulator()
    emulator.add_geni_app(GENI_ID)
    emulator.add_teamwork_app(
        TW_ID, TW_SECRET, [TW_REDIRECT, TW_WEB_REDIRECT], allowed_origins=["https://app.example"]
    )
    emulator.add_keycloak_client(KC_ID, KC_SECRET, redirect_uris=[KC_REDIRECT])
    return emulator


@pytest.fixture(params=["httpx", "httpx2"])
def package(request: pytest.FixtureRequest) -> ModuleType:
    return importlib.import_module(str(request.param))


@pytest.fixture(params=["in-process", "loopback"])
async def site(
    request: pytest.FixtureRequest, emulator: ProviderEmulator, package: ModuleType
) -> AsyncIterator[Site]:
    if request.param == "in-process":
        transport = emulator.mock_transport(package)
        async with package.AsyncClient(transport=transport) as http:
            yield Site(http, "https://emulator.test", package)
    else:
        async with emulator.serve() as base, package.AsyncClient() as http:
            yield Site(http, base, package)


def with_query(url: str, **params: str) -> str:
    return f"{url}?{urlencode(params)}"


def query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def fragment(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).fragment))


def geni_url(emulator: ProviderEmulator, site: Site, **params: str) -> str:
    authorize = emulator.endpoints_geni(site.base)["authorize_url"]
    return with_query(authorize, response_type="token", display="desktop", **params)


def teamwork_url(emulator: ProviderEmulator, site: Site, **params: str) -> str:
    return with_query(emulator.endpoints_teamwork(site.base)["login_url"], **params)


def keycloak_url(emulator: ProviderEmulator, site: Site, **params: str) -> str:
    authorize = emulator.endpoints_keycloak(site.base, "bog")["authorize_url"]
    return with_query(authorize, response_type="token", scope="corp", **params)


async def test_geni_allow_and_deny(emulator: ProviderEmulator, site: Site) -> None:
    url = geni_url(emulator, site, client_id=GENI_ID, state="s1", scope="basic")
    landed = await browse(site.http, url)
    assert landed.startswith(f"{site.base}{GENI_SUCCESS_PATH}#access_token=")
    token = fragment(landed)["access_token"]
    assert fragment(landed)["state"] == "s1"
    profile = await site.http.get(
        site.base + GENI_PROFILE_PATH, headers={"Authorization": f"Bearer {token}"}
    )
    assert profile.status_code == 200
    denied = await browse(site.http, url, decision="deny")
    assert denied.startswith(f"{site.base}{GENI_FAILURE_PATH}#")
    assert fragment(denied) == {"status": "unauthorized", "message": "user canceled", "state": "s1"}
    assert emulator.calls["geni.auth_success"] == emulator.calls["geni.auth_failed"] == 1


async def test_geni_percent_encoded_fragment(emulator: ProviderEmulator, site: Site) -> None:
    emulator.geni_percent_encode_fragment = True
    landed = await browse(site.http, geni_url(emulator, site, client_id=GENI_ID))
    raw = urlsplit(landed).fragment
    assert raw.startswith("access_token%3D")
    assert emulator.is_valid_token(dict(parse_qsl(unquote(raw)))["access_token"])


async def test_geni_authorize_error_url_is_returned(emulator: ProviderEmulator, site: Site) -> None:
    landed = await browse(site.http, geni_url(emulator, site, client_id="unknown"))
    assert landed.startswith(f"{site.base}{GENI_FAILURE_PATH}#")
    assert fragment(landed)["error"] == "invalid_client"


@pytest.mark.parametrize("redirect_uri", [TW_REDIRECT, TW_WEB_REDIRECT])
async def test_teamwork_allow_deny_and_exchange(
    emulator: ProviderEmulator, site: Site, redirect_uri: str
) -> None:
    url = teamwork_url(emulator, site, client_id=TW_ID, redirect_uri=redirect_uri, state="s1")
    landed = await browse(site.http, url)
    assert landed.startswith(f"{redirect_uri}?code=")
    assert query(landed)["state"] == "s1"
    body = {
        "code": query(landed)["code"],
        "client_id": TW_ID,
        "client_secret": TW_SECRET,
        "redirect_uri": redirect_uri,
    }
    token_url = emulator.endpoints_teamwork(site.base)["token_url"]
    headers = {"Origin": "https://app.example"}
    answer = await site.http.post(token_url, json=body, headers=headers)
    assert answer.status_code == 200
    payload = answer.json()
    me = await site.http.get(
        f"{payload['installation']['apiEndPoint']}projects/api/v3/me.json",
        headers={"Authorization": f"Bearer {payload['access_token']}"},
    )
    assert me.status_code == 200
    assert (await site.http.post(token_url, json=body, headers=headers)).status_code == 400
    assert (await site.http.post(token_url, data=body, headers=headers)).status_code == 400
    denied = await browse(site.http, url, decision="deny")
    assert query(denied)["error"] == "access_denied"
    assert emulator.calls["teamwork.token"] == 3
    assert emulator.calls["not_found"] == 0


@pytest.mark.parametrize("mode", ["query", "fragment"])
async def test_keycloak_allow_and_deny(emulator: ProviderEmulator, site: Site, mode: str) -> None:
    url = keycloak_url(
        emulator,
        site,
        client_id=KC_ID,
        redirect_uri=KC_REDIRECT,
        kc_locale="ka",
        response_mode=mode,
    )
    landed = await browse(site.http, url)
    answer = query(landed) if mode == "query" else fragment(landed)
    assert answer["token_type"] == "bearer"
    assert emulator.is_valid_token(answer["access_token"])
    denied = await browse(site.http, url, decision="deny")
    assert denied == f"{KC_REDIRECT}{'?' if mode == 'query' else '#'}error=access_denied"
    assert emulator.calls["not_found"] == 0


async def test_keycloak_client_credentials(emulator: ProviderEmulator, site: Site) -> None:
    token_url = emulator.endpoints_keycloak(site.base, "bog")["token_url"]
    form = {"grant_type": "client_credentials"}
    auth = (quote(KC_ID, safe=""), quote(KC_SECRET, safe=""))
    answer = await site.http.post(token_url, data=form, auth=auth)
    assert answer.status_code == 200
    token = answer.json()["access_token"]
    accounts = await site.http.get(
        site.base + BOG_ACCOUNTS_PATH, headers={"Authorization": f"Bearer {token}"}
    )
    assert accounts.status_code == 200
    wrong = await site.http.post(token_url, data=form, auth=(KC_ID, KC_SECRET))
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "unauthorized_client"
    assert emulator.calls["keycloak.token"] == 2


async def test_browse_raises_on_error_pages(emulator: ProviderEmulator, site: Site) -> None:
    url = teamwork_url(emulator, site, client_id=TW_ID, redirect_uri="myapp://evil", state="S-1")
    with pytest.raises(
        BrowseError, match=r"HTTP 400 at .*/launchpad/login: The redirect_uri"
    ) as info:
        await browse(site.http, url)
    assert "S-1" not in str(info.value)
    assert "?" not in str(info.value).split(":", 2)[-1].split(" ")[0]
    with pytest.raises(BrowseError, match="no consent form"):
        await browse(site.http, f"{site.base}{GENI_SUCCESS_PATH}")
    with pytest.raises(BrowseError, match="HTTP 401"):
        await browse(site.http, f"{site.base}{GENI_PROFILE_PATH}")


async def test_browse_does_not_follow_with_a_redirect_following_client(
    emulator: ProviderEmulator, package: ModuleType
) -> None:
    transport = emulator.mock_transport(package)
    async with package.AsyncClient(transport=transport, follow_redirects=True) as http:
        url = with_query(
            "https://emulator.test/launchpad/login", client_id=TW_ID, redirect_uri=TW_WEB_REDIRECT
        )
        assert (await browse(http, url)).startswith(f"{TW_WEB_REDIRECT}?code=")
    assert emulator.calls["not_found"] == 0


def scripted(package: ModuleType, pages: Callable[[Any], Any]) -> Any:
    return package.AsyncClient(transport=package.MockTransport(pages))


async def test_browse_follows_relative_urls_and_returns_off_origin_redirects(
    package: ModuleType,
) -> None:
    seen: list[str] = []

    def pages(request: Any) -> Any:
        seen.append(f"{request.method} {request.url}")
        if request.url.path == "/start":
            return package.Response(302, headers={"Location": "/consent?x=1"})
        if request.url.path == "/consent":
            form = (
                '<form method="POST" action="decide"><input type="hidden" name="t" value="1">'
                '<input type="submit" name="choice" value="allow"></form>'
            )
            return package.Response(200, html=form)
        assert request.content == b"t=1&choice=allow"
        return package.Response(303, headers={"Location": "https://elsewhere.example/cb#frag"})

    async with scripted(package, pages) as http:
        landed = await browse(http, "https://idp.example/start#ignored")
    assert landed == "https://elsewhere.example/cb#frag"
    assert seen == [
        "GET https://idp.example/start",
        "GET https://idp.example/consent?x=1",
        "POST https://idp.example/decide",
    ]


@pytest.mark.parametrize(
    ("page", "message"),
    [
        ("<p>nothing to click</p>", "no consent form"),
        (
            '<form method="post" action="/d"><button name="x" value="deny">No</button></form>',
            "'allow'",
        ),
        (
            '<form method="get" action="/d"><button name="x" value="allow">Ok</button></form>',
            "no consent",
        ),
    ],
)
async def test_browse_needs_a_post_form_with_the_button(
    package: ModuleType, page: str, message: str
) -> None:
    async with scripted(package, lambda request: package.Response(200, html=page)) as http:
        with pytest.raises(BrowseError, match=message):
            await browse(http, "https://idp.example/start")


async def test_browse_gives_up_on_redirect_loops(package: ModuleType) -> None:
    def loop(request: Any) -> Any:
        return package.Response(302, headers={"Location": "/again"})

    async with scripted(package, loop) as http:
        with pytest.raises(BrowseError, match="more than 10 redirects"):
            await browse(http, "https://idp.example/start")
