"""Attacks on the ASGI login component (anyoauth.asgi.OAuthLogin): another browser's
callback, replayed callbacks, open redirects through ``next``, session fixation,
hostile cookies and queries, and secrets leaking into pages or logs.

The component wraps a small ASGI app and is called through httpx's ASGI transport as a
browser would (cookies kept by the client); the provider emulator runs on a loopback
port and issues real codes and tokens.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest

import anyoauth
from anyoauth.asgi import OAuthLogin, safe_next
from anyoauth.testing import ProviderEmulator, browse

pytestmark = pytest.mark.anyio

APP = "http://127.0.0.1:8765"
REDIRECT_URI = APP + "/callback"
SECRET = "asgi-login-secret-" + "z" * 24


async def handler(scope: Any, receive: Any, send: Any) -> None:
    """The app behind the component: ``/me`` answers with the user's access token
    length (never the token), raising LoginRequired without a login."""
    login: OAuthLogin = scope["app_login"]
    token = await login.token(scope)
    body = f"token of {len(token.access_token)} characters".encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


@dataclass
class Site:
    emulator: ProviderEmulator
    login: OAuthLogin
    app: Any

    def browser(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url=APP, **kwargs
        )


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    emulator = ProviderEmulator()
    emulator.add_oauth_client("asgi-app", client_secret=SECRET, redirect_uris=[REDIRECT_URI])
    async with emulator.serve() as base_url:
        async with httpx.AsyncClient() as http:
            metadata = await anyoauth.discover(base_url, http=http)
        strategy = anyoauth.AuthorizationCode.from_metadata(
            metadata,
            client_id="asgi-app",
            client_secret=SECRET,
            redirect_uri=REDIRECT_URI,
            scope="openid profile",
        )
        async with OAuthLogin(strategy, anyoauth.MemoryStore()) as login:

            async def app(scope: Any, receive: Any, send: Any) -> None:
                scope["app_login"] = login
                await handler(scope, receive, send)

            yield Site(emulator, login, login.wrap(app))


async def callback_of(site: Site, browser: httpx.AsyncClient, login: str = "/login") -> str:
    started = await browser.get(login)
    assert started.status_code == 303, started.text
    async with httpx.AsyncClient() as user:  # the user at the provider
        callback = await browse(user, started.headers["location"])
    assert callback.startswith(REDIRECT_URI + "?")
    return callback


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """name -> the whole Set-Cookie header, for each cookie the response sets."""
    found = {}
    for header in response.headers.get_list("set-cookie"):
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        found.update(dict.fromkeys(cookie, header))
    return found


async def test_the_state_cookie_and_session_cookie_are_hardened(site: Site) -> None:
    async with site.browser() as browser:
        started = await browser.get("/login")
        assert started.headers["cache-control"] == "no-store"
        assert started.headers["referrer-policy"] == "no-referrer"
        state_cookie = set_cookies(started)["oauth_state"]
        for flag in ("HttpOnly", "SameSite=Lax", "Path=/callback", "Max-Age=600"):
            assert flag in state_cookie
        assert "Secure" not in state_cookie  # http on loopback: local development
        async with httpx.AsyncClient() as user:
            callback = await browse(user, started.headers["location"])
        done = await browser.get(path_of(callback))
        assert done.status_code == 303
        session_cookie = set_cookies(done)["session"]
        for flag in ("HttpOnly", "SameSite=Lax", "Path=/"):
            assert flag in session_cookie
        assert "Max-Age=0" in set_cookies(done)["oauth_state"]
        session_id = done.cookies["session"]
        assert len(session_id) >= 43  # 256 random bits
        me = await browser.get("/me")
        assert me.status_code == 200
        assert me.text.startswith("token of ")
    https = OAuthLogin(
        anyoauth.AuthorizationCode(
            client_id="c",
            authorization_endpoint="https://login.example.com/authorize",
            token_endpoint="https://login.example.com/token",
            redirect_uri="https://app.example.com/callback",
        ),
        anyoauth.MemoryStore(),
    )
    assert https.secure_cookies
    assert "Secure" in https._cookie("session", "x", "/", None)


async def test_a_callback_from_another_browser_is_refused_and_spends_nothing(
    site: Site,
) -> None:
    async with site.browser() as browser, site.browser() as victim:
        callback = await callback_of(site, browser)
        tokens = site.emulator.calls["oauth.token"]
        forced = await victim.get(path_of(callback))
        assert forced.status_code == 400
        assert "session" not in forced.cookies
        # A state cookie planted with another value does not help either.
        victim.cookies.set("oauth_state", "planted", domain="127.0.0.1")
        assert (await victim.get(path_of(callback))).status_code == 400
        assert site.emulator.calls["oauth.token"] == tokens
        done = await browser.get(path_of(callback))
        assert done.status_code == 303
        assert (await browser.get("/me")).status_code == 200
    # A victim in the middle of their own login keeps it: the forced callback neither
    # spends it nor drops its cookie.
    async with site.browser() as attacker, site.browser() as victim:
        forced_callback = await callback_of(site, attacker)
        own_callback = await callback_of(site, victim)
        forced = await victim.get(path_of(forced_callback))
        assert forced.status_code == 400
        assert "oauth_state" not in set_cookies(forced)
        assert (await victim.get(path_of(own_callback))).status_code == 303
        assert (await victim.get("/me")).status_code == 200


async def test_a_replayed_callback_is_refused(site: Site) -> None:
    async with site.browser() as browser:
        callback = await callback_of(site, browser)
        state = parse_qs(urlsplit(callback).query)["state"][0]
        assert (await browser.get(path_of(callback))).status_code == 303
        tokens = site.emulator.calls["oauth.token"]
        again = await browser.get(path_of(callback))  # the state cookie is gone
        assert again.status_code == 400
    async with site.browser(cookies={"oauth_state": state}) as replayer:
        replayed = await replayer.get(path_of(callback))
        assert replayed.status_code == 400
        assert "start again" in replayed.text
    assert site.emulator.calls["oauth.token"] == tokens


HOSTILE_NEXT = [
    "https://evil.example/",
    "//evil.example/",
    "/\\evil.example/",
    "\\\\evil.example",
    "/\t/evil.example",
    " /evil",
    "/ok\r\nSet-Cookie: session=attacker",
    "javascript:alert(1)",
    "evil.example",
    "/" + "a" * 5000,
    "/é",
]


@pytest.mark.parametrize("target", HOSTILE_NEXT)
async def test_next_never_leaves_the_site(site: Site, target: str) -> None:
    assert safe_next(target) is None
    async with site.browser() as browser:
        callback = await callback_of(site, browser, "/login?next=" + quote(target, safe=""))
        done = await browser.get(path_of(callback))
        assert done.status_code == 303
        assert done.headers["location"] == "/"
        assert "attacker" not in str(done.headers)


async def test_next_returns_to_a_path_on_the_site(site: Site) -> None:
    async with site.browser() as browser:
        callback = await callback_of(site, browser, "/login?next=" + quote("/me?tab=1&x=%2F"))
        done = await browser.get(path_of(callback))
        assert done.headers["location"] == "/me?tab=1&x=%2F"
        # A tampered state cookie (another next) no longer matches the login's state.
    async with site.browser() as browser:
        callback = await callback_of(site, browser, "/login?next=/me")
        state = browser.cookies["oauth_state"].partition(".")[0]
        browser.cookies.clear()
        browser.cookies.set("oauth_state", state + ".Ly9ldmlsLmV4YW1wbGU", domain="127.0.0.1")
        done = await browser.get(path_of(callback))
        assert done.status_code == 303
        assert done.headers["location"] == "/"  # "//evil.example" refused


async def test_a_session_id_chosen_by_an_attacker_is_never_adopted(site: Site) -> None:
    planted = "attacker-chosen-session-id"
    async with site.browser(cookies={"session": planted}) as browser:
        assert (await browser.get("/me")).status_code == 401
        callback = await callback_of(site, browser)
        done = await browser.get(path_of(callback))
        assert done.status_code == 303
        new_id = done.cookies["session"]
        assert new_id != planted
    async with site.browser(cookies={"session": new_id}) as user:
        assert (await user.get("/me")).status_code == 200
    async with site.browser(cookies={"session": planted}) as attacker:
        assert (await attacker.get("/me")).status_code == 401
    scope = {"type": "http", "headers": [(b"cookie", f"session={planted}".encode())]}
    with pytest.raises(anyoauth.LoginRequired):
        await site.login.token(scope)


async def test_hostile_cookies_and_queries_get_a_page_not_a_crash(site: Site) -> None:
    hostile_headers = [
        {"cookie": "session=" + "x" * 100_000},
        {"cookie": "; ".join(f"c{i}=v" for i in range(2000)) + "; session=a"},
        {"cookie": 'session="unterminated; oauth_state=;;;=;=x'},
        {"cookie": "oauth_state=" + "s" * 5000},
    ]
    async with site.browser() as browser:
        for headers in hostile_headers:
            assert (await browser.get("/me", headers=headers)).status_code == 401
            assert (
                await browser.get("/callback?state=x&code=y", headers=headers)
            ).status_code == 400
        huge = await browser.get("/callback?state=" + "s" * 20_000)
        assert huge.status_code == 400
        raw = await browser.get(httpx.URL(APP + "/callback", query=b"state=%ff%fe&code=%00"))
        assert raw.status_code == 400
        assert (await browser.get("/login?next=" + "%ff" * 3000)).status_code == 303
        assert (await browser.get("/logout")).status_code == 405
        assert (await browser.post("/login")).status_code == 405
        out = await browser.post("/logout", headers=hostile_headers[0])
        assert out.status_code == 303


async def test_login_required_sends_browsers_to_login_and_apis_a_401(site: Site) -> None:
    async with site.browser() as browser:
        api = await browser.get("/me")
        assert api.status_code == 401
        assert 'href="/login"' in api.text
        page = await browser.get("/me?x=1", headers={"accept": "text/html"})
        assert page.status_code == 303
        assert page.headers["location"] == "/login?next=/me%3Fx%3D1"


async def test_logout_revokes_and_forgets(site: Site) -> None:
    async with site.browser() as browser:
        callback = await callback_of(site, browser)
        await browser.get(path_of(callback))
        token = await site.login.token(
            {
                "type": "http",
                "headers": [(b"cookie", f"session={browser.cookies['session']}".encode())],
            }
        )
        assert site.emulator.is_valid_token(token.access_token)
        out = await browser.post("/logout")
        assert out.status_code == 303
        # The emulator names an end_session_endpoint: RP-initiated logout.
        assert "id_token_hint=" in out.headers["location"]
        assert "Max-Age=0" in set_cookies(out)["session"]
        assert not site.emulator.is_valid_token(token.access_token)
        assert (await browser.get("/me")).status_code == 401


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://evil.example"},
        {"origin": "null"},
        {"origin": "http://127.0.0.1:8766"},
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site", "origin": "http://sub.127.0.0.1.nip.io:8765"},
    ],
    ids=["other-origin", "null-origin", "other-port", "cross-site", "sibling-site"],
)
async def test_a_logout_posted_from_another_site_ends_nothing(
    site: Site, headers: dict[str, str]
) -> None:
    async with site.browser() as browser:
        callback = await callback_of(site, browser)
        await browser.get(path_of(callback))
        cookie = {
            "type": "http",
            "headers": [(b"cookie", f"session={browser.cookies['session']}".encode())],
        }
        token = await site.login.token(cookie)
        refused = await browser.post("/logout", headers=headers)
        assert refused.status_code == 403
        assert "session" not in set_cookies(refused)
        assert site.emulator.is_valid_token(token.access_token)
        assert (await browser.get("/me")).status_code == 200
        own = {"origin": APP, "sec-fetch-site": "same-origin"}
        out = await browser.post("/logout", headers=own)
        assert out.status_code == 303
        assert not site.emulator.is_valid_token(token.access_token)


async def test_no_secret_in_pages_or_logs(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    pages: list[str] = []
    async with site.browser() as browser:
        callback = await callback_of(site, browser)
        code = parse_qs(urlsplit(callback).query)["code"][0]
        done = await browser.get(path_of(callback))
        session_id = done.cookies["session"]
        scope = {"type": "http", "headers": [(b"cookie", f"session={session_id}".encode())]}
        token = await site.login.token(scope)
        pages.append((await browser.get(path_of(callback))).text)  # replayed
        site.emulator.add_oauth_client(
            "asgi-app", client_secret="other-" + "o" * 24, redirect_uris=[REDIRECT_URI]
        )
        failing = await callback_of(site, browser)
        refused = await browser.get(path_of(failing))
        assert refused.status_code == 502
        pages.append(refused.text)
        pages.append((await browser.post("/logout")).text)
    secrets = [SECRET, code, session_id, token.access_token, token.refresh_token or "-"]
    logged = "\n".join(
        f"{record.getMessage()} {record.exc_text or ''}"
        for record in caplog.records
        if record.name.startswith("anyoauth")
    )
    assert "login failure" in logged
    text = "\n".join(pages) + logged + repr(site.login)
    for secret in secrets:
        assert secret not in text
