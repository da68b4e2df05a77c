"""Transport rules (docs/security.md, rules 7 and 8): https only, except loopback and an explicit
``allow_insecure``; token requests never follow redirects, so the ``Location`` never
receives credentials; the bearer token goes only in the ``Authorization`` header and
never to another origin.
"""

from __future__ import annotations

import ipaddress
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

import anyoauth
from anyoauth.providers import BankOfGeorgia, Geni, Keycloak, Teamwork
from anyoauth.sansio import is_loopback_host
from anyoauth.testing import ManualClock, ProviderEmulator, browse

from . import faultserver as fs
from .common import FRESH_BODY, ORIGINAL, SECRET, Waits, stored, strategy

pytestmark = pytest.mark.anyio

ENDPOINTS = (
    "authorization_endpoint",
    "token_endpoint",
    "revocation_endpoint",
    "introspection_endpoint",
    "jwks_uri",
    "issuer",
)
REMOTE = [
    "idp.example",
    "localhost.evil.example",
    "127.0.0.1.nip.io",
    "evil.localhost.example",
    "10.0.0.1",
    "0x7f000001",
    "2130706433",
    "127.1",
]
LOOPBACK = ["127.0.0.1", "127.0.0.53", "localhost", "app.localhost", "[::1]"]


def configured(field: str, url: str, **options: Any) -> anyoauth.Strategy:
    values: dict[str, Any] = {
        "client_id": "c",
        "authorization_endpoint": "https://as.example/authorize",
        "token_endpoint": "https://as.example/token",
        "redirect_uri": "https://app.example/cb",
        field: url,
    }
    if field == "jwks_uri":
        # id_tokens need an issuer; a loopback key set needs that issuer on loopback too.
        local = is_loopback_host(urlsplit(url).hostname or "")
        values["issuer"] = f"https://{urlsplit(url).netloc}" if local else "https://as.example"
    return anyoauth.Strategy(**values, **options)


# -- https only ----------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ENDPOINTS)
@pytest.mark.parametrize("host", REMOTE)
def test_http_endpoints_off_loopback_are_refused(field: str, host: str) -> None:
    with pytest.raises(anyoauth.ConfigurationError, match="https"):
        configured(field, f"http://{host}/x")
    configured(field, f"http://{host}/x", allow_insecure=True)  # the explicit test set-up
    configured(field, f"https://{host}/x")


@pytest.mark.parametrize("field", ENDPOINTS)
@pytest.mark.parametrize("host", LOOPBACK)
def test_http_on_loopback_is_allowed(field: str, host: str) -> None:
    configured(field, f"http://{host}:8080/x")


def _names_this_machine(host: str) -> bool:
    """127.0.0.0/8, ::1, ``localhost`` and ``*.localhost`` (RFC 6761), nothing else."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv4Address):
        return address in ipaddress.ip_network("127.0.0.0/8")
    return address == ipaddress.IPv6Address("::1")


@given(host=st.text(alphabet="abcdefhlostx0123456789.:-[]", min_size=1, max_size=24))
def test_http_is_allowed_exactly_on_loopback_hosts(host: str) -> None:
    url = f"http://{host}/token"
    try:
        configured("token_endpoint", url)
    except anyoauth.ConfigurationError:
        return
    assert _names_this_machine((urlsplit(url).hostname or "").lower()), url


@pytest.mark.parametrize(
    "make",
    [
        lambda: Teamwork("c", "s", "https://app.example/cb", token_url="http://idp.example/t"),
        lambda: Teamwork("c", "s", "https://app.example/cb", login_url="http://idp.example/l"),
        lambda: Geni("c", authorize_url="http://idp.example/authorize"),
        lambda: Keycloak("http://idp.example/auth", "realm", "c", "s"),
        lambda: BankOfGeorgia("c", "s", token_url="http://idp.example/token"),
        lambda: Teamwork("c", "s", "http://app.example/cb"),  # an http redirect off loopback
        lambda: configured("token_endpoint", "https://user:pw@as.example/token"),
        lambda: configured("token_endpoint", "ftp://as.example/token"),
        # Found by the fuzzer: these raised a bare ValueError (or failed only at send time).
        lambda: configured("token_endpoint", "https://as.example:99999/token"),
        lambda: configured("token_endpoint", "http://]/token"),
        lambda: configured("issuer", "https://[::1"),
        lambda: configured("redirect_uri", "http://[::1/cb"),
    ],
)
def test_presets_refuse_insecure_endpoints_too(make: Any) -> None:
    with pytest.raises(anyoauth.ConfigurationError):
        make()


@pytest.mark.parametrize("field", ["token_endpoint", "authorization_endpoint", "jwks_uri"])
async def test_discovered_http_endpoints_are_refused(http_module: ModuleType, field: str) -> None:
    document = {
        "issuer": "https://as.example",
        "authorization_endpoint": "https://as.example/authorize",
        "token_endpoint": "https://as.example/token",
        "jwks_uri": "https://as.example/jwks",
        field: f"http://as.example/{field}",
    }

    def answer(request: Any) -> Any:
        return http_module.Response(200, json=document)

    async with http_module.AsyncClient(transport=http_module.MockTransport(answer)) as http:
        with pytest.raises(anyoauth.DiscoveryError, match="https"):
            await anyoauth.discover("https://as.example", http=http)


# -- token requests never follow redirects -----------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("kind", ["refresh", "client-credentials", "code-exchange"])
async def test_token_requests_do_not_follow_redirects(
    http_module: ModuleType, status: int, kind: str
) -> None:
    """Even with a client configured to follow redirects, a redirect from the token
    endpoint is a typed error and the ``Location`` (another origin) receives nothing."""
    async with (
        fs.fault_server(default=fs.respond(200, FRESH_BODY)) as elsewhere,
        fs.fault_server(
            default=fs.respond(status, b"", headers=[("Location", elsewhere.url + "/steal")])
        ) as endpoint,
        http_module.AsyncClient(follow_redirects=True) as http,
    ):
        url = endpoint.url + "/token"
        if kind == "client-credentials":
            grant: anyoauth.Strategy = anyoauth.ClientCredentials(
                client_id="svc",
                client_secret=SECRET,
                token_endpoint=url,
                client_auth="client_secret_post",
            )
        elif kind == "code-exchange":
            grant = Teamwork("tw", SECRET, "https://app.example/cb", token_url=url)
        else:
            grant = strategy(url)
        client = anyoauth.Client(grant, http=http, clock=ManualClock(), retries=Waits().policy())
        if kind == "refresh":
            await client.set_token(ORIGINAL)
        before = await stored(client)

        async def token_request() -> anyoauth.Token:
            if kind == "code-exchange":
                start = await client.begin()
                return await client.complete(f"https://app.example/cb?code=C&state={start.state}")
            return await client.token()

        with pytest.raises(anyoauth.InvalidTokenResponse) as raised:
            await token_request()
        assert raised.value.status_code == status
        assert await stored(client) == before
    assert len(endpoint.requests) == 1
    assert (
        SECRET in endpoint.requests[0].body.decode()
        or "authorization" in endpoint.requests[0].headers
    )
    assert elsewhere.connections == 0  # the credentials went nowhere else


async def test_revocation_and_key_set_requests_do_not_follow_redirects(
    http_module: ModuleType,
) -> None:
    async with (
        fs.fault_server(default=fs.respond(200, b"{}")) as elsewhere,
        fs.fault_server(
            default=fs.respond(307, b"", headers=[("Location", elsewhere.url + "/steal")])
        ) as endpoint,
        http_module.AsyncClient(follow_redirects=True) as http,
    ):
        client = anyoauth.Client(
            strategy(endpoint.url + "/token", revocation_endpoint=endpoint.url + "/revoke"),
            http=http,
            clock=ManualClock(),
        )
        await client.set_token(ORIGINAL)
        with pytest.raises(anyoauth.InvalidTokenResponse):
            await client.revoke()
    assert elsewhere.connections == 0


# -- the bearer token: only in the Authorization header, only to its origin ----------------------


async def test_the_bearer_goes_only_in_the_header_and_never_to_another_origin(
    http_module: ModuleType,
) -> None:
    async with (
        fs.fault_server(default=fs.respond(200, b'{"ok": true}')) as other_origin,
        fs.fault_server(
            fs.respond(302, b"", headers=[("Location", other_origin.url + "/landing")]),
            default=fs.respond(200, b'{"ok": true}'),
        ) as api,
        http_module.AsyncClient(follow_redirects=True) as http,
    ):
        client = anyoauth.Client(
            strategy("https://as.example/token"), http=http, clock=ManualClock()
        )
        held = anyoauth.Token(access_token="SENTINEL-bearer-token", issued_at=0.0)
        await client.set_token(held)
        response = await http.post(api.url + "/data?x=1", content=b"payload", auth=client.auth())
        assert response.status_code == 200
        response = await http.get(api.url + "/data", auth=client.auth())
        assert response.status_code == 200
    # The API saw the bearer in the header, nowhere else.
    for request in api.requests:
        assert request.headers["authorization"] == "Bearer SENTINEL-bearer-token"
        assert "SENTINEL" not in request.target
        assert b"SENTINEL" not in request.body
    # The redirect to another origin was followed without it.
    (landing,) = other_origin.requests
    assert "authorization" not in landing.headers
    assert all("SENTINEL" not in value for value in landing.headers.values())


async def test_no_client_credentials_on_key_set_and_discovery_requests(
    http_module: ModuleType,
) -> None:
    emulator = ProviderEmulator()
    redirect = "http://127.0.0.1:9/cb"
    emulator.add_oauth_client("web", client_secret=SECRET, redirect_uris=[redirect])
    async with (
        fs.fault_server(default=fs.emulator(emulator)) as server,
        http_module.AsyncClient() as http,
    ):
        metadata = await anyoauth.discover(server.url, http=http)
        web = anyoauth.AuthorizationCode.from_metadata(
            metadata, client_id="web", client_secret=SECRET, redirect_uri=redirect, scope="openid"
        )
        client = anyoauth.Client(web, http=http)
        start = await client.begin()
        token = await client.complete(await browse(http, start.url))
        assert token.id_token_claims is not None
    for request in server.requests:
        if request.method == "GET":
            assert "authorization" not in request.headers, request.target
            assert SECRET not in request.target
    token_requests = [r for r in server.requests if r.target == "/oauth/token"]
    assert len(token_requests) == 1
