"""anyoauth's own requests never carry the app's HTTP client defaults (docs/security.md, rule 15).

An app hands its ``AsyncClient`` to anyoauth as ``http=`` (for its proxy, TLS and
connection pool). That client's default ``auth``, ``headers`` and ``cookies``, its
event hooks and the userinfo of a URL are the app's own credentials: none of them may
reach the authorization server or the key-set host. Cookies the authorization server
sets stay out of the app's jar, and the client's transport (mounts, proxies, TLS) is
still the one used.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from types import ModuleType
from typing import Any

import anyio
import pytest

import anyoauth
from anyoauth.testing import ManualClock, ProviderEmulator, browse

from . import faultserver as fs
from .common import FRESH, FRESH_BODY, ORIGINAL, SECRET, strategy

pytestmark = pytest.mark.anyio

APP_USER = "app-user"
APP_PASSWORD = "APP-basic-password"
APP_KEY = "APP-api-key"
APP_COOKIE = "APP-session-cookie"
APP_URL_PASSWORD = "APP-url-password"
APP_HOOK = "APP-hook-header"
APP_MARKS = (APP_USER, APP_PASSWORD, APP_KEY, APP_COOKIE, APP_URL_PASSWORD, APP_HOOK)
"""What the app's client would add to a request; anyoauth's requests carry none of it."""

WEB_SECRET = "web-client-secret"
SVC_SECRET = "service-client-secret"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
BROWSER = "test-browser"


def app_client(http_module: ModuleType, **options: Any) -> Any:
    """An app's client: its own Basic credentials, API key, session cookie, a base URL
    with userinfo and a request hook that adds one more header."""

    async def hook(request: Any) -> None:
        request.headers["X-Hooked"] = APP_HOOK

    return http_module.AsyncClient(
        auth=http_module.BasicAuth(APP_USER, APP_PASSWORD),
        headers={"X-Api-Key": APP_KEY, "User-Agent": "app/1.0"},
        cookies={"app_session": APP_COOKIE},
        base_url=f"https://{APP_USER}:{APP_URL_PASSWORD}@api.app.example",
        event_hooks={"request": [hook]},
        **options,
    )


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def assert_clean(received: fs.Received, allowed_authorization: set[str]) -> None:
    """``received`` (a request anyoauth sent) carries nothing of the app's client."""
    headers = received.headers
    assert "x-api-key" not in headers
    assert "x-hooked" not in headers
    assert "cookie" not in headers
    assert headers.get("user-agent") == "anyoauth"
    authorization = headers.get("authorization")
    assert authorization is None or authorization in allowed_authorization
    text = repr(headers) + received.target + received.body.decode("latin-1")
    for mark in APP_MARKS:
        assert mark not in text
    if authorization is not None:
        decoded = base64.b64decode(authorization.split()[1]).decode()
        assert APP_USER not in decoded


@pytest.fixture
def emulator() -> ProviderEmulator:
    emulator = ProviderEmulator(oauth_device_interval=0)
    emulator.add_oauth_client(
        "web", client_secret=WEB_SECRET, redirect_uris=["http://127.0.0.1/callback"]
    )
    emulator.add_oauth_client(
        "service",
        client_secret=SVC_SECRET,
        grant_types=["client_credentials"],
        auth_method="client_secret_post",
    )
    emulator.add_oauth_client("tv", auth_method="none", grant_types=[DEVICE_GRANT, "refresh_token"])
    return emulator


@pytest.fixture
async def wire(
    emulator: ProviderEmulator, http_module: ModuleType
) -> AsyncIterator[tuple[fs.FaultServer, Any, Any]]:
    """The emulator on a real loopback port; the app's client; a clean browser."""
    async with AsyncExitStack() as stack:
        server = await stack.enter_async_context(fs.fault_server(default=fs.emulator(emulator)))
        app = await stack.enter_async_context(app_client(http_module))
        browser = await stack.enter_async_context(
            http_module.AsyncClient(headers={"User-Agent": BROWSER})
        )
        yield server, app, browser


async def test_no_request_anyoauth_sends_carries_the_apps_client_defaults(
    emulator: ProviderEmulator, wire: tuple[fs.FaultServer, Any, Any], http_module: ModuleType
) -> None:
    server, http, browser = wire
    base = server.url

    # Discovery, then a code login with an id_token (the key set), a refresh,
    # introspection and revocation, all with client_secret_basic.
    metadata = await anyoauth.discover(base, http=http)
    web = anyoauth.AuthorizationCode.from_metadata(
        metadata,
        client_id="web",
        client_secret=WEB_SECRET,
        redirect_uri="http://127.0.0.1/callback",
        scope=["openid", "profile"],
    )
    async with anyoauth.Client(web, http=http) as oidc:
        start = await oidc.begin()
        token = await oidc.complete(await browse(browser, start.url))
        assert token.id_token_claims is not None
        refreshed = await oidc.token(rejected=token)
        assert refreshed.access_token != token.access_token
        assert (await oidc.introspect()).active
        await oidc.revoke()

    # The device grant (authorization, then polls) of a public client.
    device = anyoauth.DeviceCode.from_metadata(metadata, client_id="tv")
    approved = anyoauth.Client(device, http=http).device_login(
        lambda shown: emulator.approve_device(shown.user_code)
    )
    assert (await approved).access_token

    # Client credentials with client_secret_post.
    service = anyoauth.ClientCredentials.from_metadata(
        metadata, client_id="service", client_secret=SVC_SECRET, client_auth="client_secret_post"
    )
    assert (await anyoauth.Client(service, http=http).token()).access_token

    own = [r for r in server.requests if r.headers.get("user-agent") != BROWSER]
    paths = {r.target.partition("?")[0] for r in own}
    expected = emulator.endpoints_oauth(base)
    for name in (
        "metadata_url",
        "token_endpoint",
        "jwks_uri",
        "introspection_endpoint",
        "revocation_endpoint",
        "device_authorization_endpoint",
    ):
        assert expected[name].removeprefix(base) in paths, name
    assert len(own) >= 9
    for received in own:
        assert_clean(received, {basic("web", WEB_SECRET)})
    # The app's own requests still get the app's defaults: the client was not changed.
    built = http.build_request("GET", "/me")
    assert built.headers["x-api-key"] == APP_KEY
    assert APP_COOKIE in built.headers["cookie"]
    assert isinstance(http.auth, http_module.BasicAuth)


async def test_an_issuer_url_with_userinfo_sends_no_basic_credentials(
    emulator: ProviderEmulator, http_module: ModuleType
) -> None:
    async with (
        fs.fault_server(default=fs.emulator(emulator)) as server,
        http_module.AsyncClient() as http,
    ):
        issuer = server.url.replace("://", f"://{APP_USER}:{APP_URL_PASSWORD}@")
        with pytest.raises(anyoauth.DiscoveryError):
            # The emulator names its issuer without the userinfo: no metadata matches.
            await anyoauth.discover(issuer, http=http)
    assert server.requests
    for received in server.requests:
        assert "authorization" not in received.headers
        assert_clean(received, set())


async def test_cookies_the_server_sets_stay_out_of_the_apps_jar(http_module: ModuleType) -> None:
    set_cookie = [("Set-Cookie", "as_session=AS-cookie; Path=/"), ("Set-Cookie", "lb=x; Path=/")]
    async with (
        fs.fault_server(
            fs.json_answer(200, FRESH, headers=set_cookie),
            fs.json_answer(200, FRESH, headers=set_cookie),
        ) as server,
        app_client(http_module) as http,
    ):
        client = anyoauth.Client(strategy(server.url + "/token"), http=http, clock=ManualClock())
        await client.set_token(ORIGINAL)
        assert (await client.token()).access_token == FRESH["access_token"]
        await client.set_token(ORIGINAL)
        assert (await client.token()).access_token == FRESH["access_token"]
        assert {cookie.name for cookie in http.cookies.jar} == {"app_session"}
    # The second request did not send back what the first answer set either.
    assert len(server.requests) == 2
    for received in server.requests:
        assert_clean(received, {basic("hardening-client", SECRET)})


async def test_own_requests_use_the_clients_transport_for_the_url(http_module: ModuleType) -> None:
    """The app's client decides how to reach a host (a mount, a proxy, TLS settings):
    anyoauth's request goes through the transport mounted for its URL."""
    seen: list[Any] = []

    def handler(request: Any) -> Any:
        seen.append(request)
        return http_module.Response(
            200, content=FRESH_BODY, headers={"Content-Type": "application/json"}
        )

    mounted = http_module.MockTransport(handler)
    async with app_client(http_module, mounts={"https://as.example": mounted}) as http:
        client = anyoauth.Client(
            strategy("https://as.example/token"), http=http, clock=ManualClock()
        )
        await client.set_token(ORIGINAL)
        assert (await client.token()).access_token == FRESH["access_token"]
    assert len(seen) == 1
    request = seen[0]
    assert str(request.url) == "https://as.example/token"
    assert request.headers["authorization"] == basic("hardening-client", SECRET)
    assert "x-api-key" not in request.headers
    assert "cookie" not in request.headers
    assert "x-hooked" not in request.headers


async def test_a_redirect_from_the_token_endpoint_is_not_followed_with_the_apps_client(
    http_module: ModuleType,
) -> None:
    async with (
        fs.fault_server(default=fs.respond(200, FRESH_BODY)) as elsewhere,
        fs.fault_server(
            fs.respond(307, b"", headers=[("Location", elsewhere.url + "/token")])
        ) as server,
        app_client(http_module, follow_redirects=True) as http,
    ):
        client = anyoauth.Client(strategy(server.url + "/token"), http=http, clock=ManualClock())
        await client.set_token(ORIGINAL)
        with pytest.raises(anyoauth.InvalidTokenResponse):
            await client.token()
    assert elsewhere.connections == 0
    assert len(server.requests) == 1
    assert_clean(server.requests[0], {basic("hardening-client", SECRET)})


async def test_one_client_can_carry_anyoauths_auth_and_send_its_token_requests(
    http_module: ModuleType,
) -> None:
    """``client.auth()`` acts on the app's requests only: the token request sent with the
    same ``AsyncClient`` does not go through it (no bearer sent to the token endpoint,
    no renewal waiting for itself)."""
    emulator = ProviderEmulator()
    emulator.add_oauth_client(
        "service", client_secret=SVC_SECRET, grant_types=["client_credentials"]
    )
    async with (
        fs.fault_server(default=fs.emulator(emulator)) as server,
        http_module.AsyncClient(base_url=server.url) as api,
    ):
        endpoints = emulator.endpoints_oauth(server.url)
        service = anyoauth.ClientCredentials(
            client_id="service",
            client_secret=SVC_SECRET,
            token_endpoint=endpoints["token_endpoint"],
        )
        async with anyoauth.Client(service, http=api, timeout=5) as client:
            api.auth = client.auth()
            with anyio.fail_after(10):
                response = await api.get("/api/me")
            assert response.status_code == 200
    token_requests = [r for r in server.requests if r.method == "POST"]
    assert len(token_requests) == 1
    assert token_requests[0].headers["authorization"] == basic("service", SVC_SECRET)
    api_requests = [r for r in server.requests if r.method == "GET"]
    assert api_requests[0].headers["authorization"].startswith("Bearer ")
