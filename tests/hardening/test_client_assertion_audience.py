"""JWT client assertions name one audience and cannot be replayed at another server
(docs/security.md, rule 12; draft-ietf-oauth-rfc7523bis).

A hostile server whose metadata names another (honest) server's token endpoint gets
every assertion the client sends to its own device authorization, revocation,
introspection and token endpoints. Each one is replayed at the honest server's token
endpoint, which must refuse it. Both servers are the provider emulator on real
loopback ports; the client reaches the hostile one through discovery.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AsyncExitStack
from types import ModuleType
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import attrs
import pytest
from joserfc.jwk import KeySet, RSAKey

import anyoauth
from anyoauth.testing import (
    OAUTH_DEVICE_AUTHORIZATION_PATH,
    OAUTH_INTROSPECTION_PATH,
    OAUTH_METADATA_PATH,
    OAUTH_REVOCATION_PATH,
    OAUTH_TOKEN_PATH,
    OPENID_CONFIGURATION_PATH,
    EmulatorResponse,
    ManualClock,
    ProviderEmulator,
)

from .common import NOW, Waits

pytestmark = pytest.mark.anyio

CLIENT_ID = "shared-client"
"""One client registered with both servers, with the same key or secret."""
HS_SECRET = "SENTINEL-jwt-client-secret-of-ample-length-0123456789"
KEY = RSAKey.generate_key(2048, parameters={"kid": "client-key"}, private=True)
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
GRANTS = ["client_credentials", "refresh_token", DEVICE_GRANT]

Auth = Literal["private_key_jwt", "client_secret_jwt"]


def claims_of(assertion: str) -> dict[str, Any]:
    payload = assertion.split(".")[1]
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert isinstance(decoded, dict)
    return decoded


def register(emulator: ProviderEmulator, auth: Auth) -> None:
    private = auth == "private_key_jwt"
    emulator.add_oauth_client(
        CLIENT_ID,
        client_secret=None if private else HS_SECRET,
        grant_types=GRANTS,
        auth_method=auth,
        jwks=KeySet([KEY]).as_dict(private=False) if private else None,
    )


def credentials(auth: Auth) -> dict[str, Any]:
    if auth == "private_key_jwt":
        return {"client_auth": auth, "client_key": KEY.as_dict(private=True)}
    return {"client_auth": auth, "client_secret": HS_SECRET}


def _json(document: object) -> EmulatorResponse:
    body = json.dumps(document).encode()
    return EmulatorResponse(status=200, headers=(("Content-Type", "application/json"),), body=body)


_CANNED = {
    OAUTH_DEVICE_AUTHORIZATION_PATH: _json(
        {
            "device_code": "hostile-device-code",
            "user_code": "BCDF-GHJK",
            "verification_uri": "https://hostile.example/device",
            "expires_in": 600,
            "interval": 5,
        }
    ),
    OAUTH_INTROSPECTION_PATH: _json({"active": False}),
    OAUTH_REVOCATION_PATH: EmulatorResponse(status=200),
    OAUTH_TOKEN_PATH: _json(
        {"access_token": "hostile-token", "token_type": "Bearer", "expires_in": 3600}
    ),
}
"""What the hostile server answers, whoever asks: it checks no client authentication."""


class HostileServer(ProviderEmulator):
    """Serves metadata as the emulator does, except that it names another server's
    token endpoint; keeps every client assertion it receives (with the URL it was
    posted to) and answers every request as if it were well authenticated."""

    def __init__(self) -> None:
        super().__init__()
        self.token_endpoint: str | None = None
        """The token endpoint the metadata names."""
        self.received: list[tuple[str, str]] = []
        """(URL posted to, client assertion) of every request that carried one."""

    def handle(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> EmulatorResponse:
        form = parse_qs(body.decode("utf-8", "replace"))
        for assertion in form.get("client_assertion", []):
            self.received.append((url.split("?")[0], assertion))
        path = urlsplit(url).path
        if method == "POST" and path in _CANNED:
            return _CANNED[path]
        answer = super().handle(method, url, headers, body)
        if path in (OAUTH_METADATA_PATH, OPENID_CONFIGURATION_PATH) and answer.status == 200:
            document = json.loads(answer.body)
            document["token_endpoint"] = self.token_endpoint
            answer = attrs.evolve(answer, body=json.dumps(document).encode())
        return answer


@attrs.define
class Servers:
    honest: ProviderEmulator
    honest_base: str
    hostile: HostileServer
    hostile_base: str


@pytest.fixture(params=["issuer_or_endpoint", "issuer"])
async def servers(request: pytest.FixtureRequest) -> AsyncIterator[Servers]:
    """The honest server checks ``aud`` as deployed servers do (its issuer or the URL
    posted to) or as draft-ietf-oauth-rfc7523bis asks (its issuer only)."""
    honest = ProviderEmulator(oauth_assertion_audience=request.param)
    hostile = HostileServer()
    async with AsyncExitStack() as stack:
        honest_base = await stack.enter_async_context(honest.serve())
        hostile_base = await stack.enter_async_context(hostile.serve())
        hostile.token_endpoint = honest.endpoints_oauth(honest_base)["token_endpoint"]
        yield Servers(honest, honest_base, hostile, hostile_base)


class _Stop(Exception):
    pass


def _stop(_device: anyoauth.DeviceAuthorization) -> None:
    raise _Stop


async def _replay(http: Any, token_endpoint: str, assertion: str) -> Any:
    return await http.post(
        token_endpoint,
        data={
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
    )


@pytest.mark.parametrize("auth", ["private_key_jwt", "client_secret_jwt"])
@pytest.mark.parametrize("audience", [None, "endpoint"])
async def test_assertions_sent_to_a_hostile_server_are_refused_at_another_servers_token_endpoint(
    servers: Servers,
    http_module: ModuleType,
    auth: Auth,
    audience: Literal["endpoint"] | None,
) -> None:
    register(servers.honest, auth)
    honest_token = servers.honest.endpoints_oauth(servers.honest_base)["token_endpoint"]
    hostile = servers.hostile.endpoints_oauth(servers.hostile_base)
    settings = {"client_id": CLIENT_ID, **credentials(auth)}
    if audience is not None:
        settings["assertion_audience"] = audience
    async with http_module.AsyncClient() as http:
        metadata = await anyoauth.discover(servers.hostile_base, http=http)
        assert metadata.token_endpoint == honest_token  # the injection
        device = anyoauth.DeviceCode.from_metadata(metadata, **settings)
        async with anyoauth.Client(device, http=http) as client:
            with pytest.raises(_Stop):
                await client.device_login(_stop)
            await client.introspect("SENTINEL-some-access-token")
            await client.set_token(
                anyoauth.Token(
                    access_token="SENTINEL-AT", refresh_token="SENTINEL-RT", issued_at=NOW
                )
            )
            await client.revoke()
        # The hostile server's own token endpoint gets assertions as well.
        own = anyoauth.ClientCredentials.from_metadata(
            metadata, token_endpoint=hostile["token_endpoint"], **settings
        )
        async with anyoauth.Client(own, http=http) as client:
            assert (await client.token()).access_token == "hostile-token"

        received = servers.hostile.received
        posted_to = sorted({url for url, _ in received})
        assert posted_to == sorted(
            hostile[name]
            for name in (
                "device_authorization_endpoint",
                "introspection_endpoint",
                "revocation_endpoint",
                "token_endpoint",
            )
        )
        assert len(received) == 5  # device, introspection, two revocations, token
        for url, assertion in received:
            replayed = await _replay(http, honest_token, assertion)
            assert replayed.status_code == 401, (url, replayed.text)
            assert replayed.json()["error"] == "invalid_client"
            aud = claims_of(assertion)["aud"]
            assert aud == (url if audience == "endpoint" else servers.hostile_base)
        assert servers.honest.calls["oauth.token"] == len(received)

        # The honest server does accept this client's own assertions made for it.
        for mode in (None, "endpoint"):
            mine = anyoauth.ClientCredentials(
                **{**settings, "assertion_audience": mode},
                issuer=servers.honest_base,
                token_endpoint=honest_token,
            )
            if mode == "endpoint" and servers.honest.oauth_assertion_audience == "issuer":
                continue
            async with anyoauth.Client(mine, http=http) as client:
                assert servers.honest.is_valid_token((await client.token()).access_token)


# -- the audience of each request, sans-IO ---------------------------------------------------

ISSUER = "https://as.example/realms/one"
ENDPOINTS: dict[str, Any] = {
    "token_endpoint": "https://as.example/realms/one/protocol/token",
    "device_authorization_endpoint": "https://as.example/realms/one/protocol/device",
    "revocation_endpoint": "https://as.example/realms/one/protocol/revoke",
    "introspection_endpoint": "https://as.example/realms/one/protocol/introspect",
}


def device_strategy(auth: Auth = "private_key_jwt", **options: Any) -> anyoauth.DeviceCode:
    return anyoauth.DeviceCode(client_id=CLIENT_ID, **ENDPOINTS, **credentials(auth), **options)


def requests_of(strategy: anyoauth.DeviceCode, now: float = NOW) -> list[anyoauth.HttpRequest]:
    token = anyoauth.Token(access_token="at", refresh_token="rt", issued_at=now)
    refresh = strategy.refresh_request(token, now=now)
    assert refresh is not None
    return [
        strategy.device_authorization_request(now=now),
        strategy.device_token_request("device-code", now=now),
        refresh,
        strategy.revocation_request("rt", token_type_hint="refresh_token", now=now),
        strategy.introspection_request("at", now=now),
    ]


def assertion_of(request: anyoauth.HttpRequest) -> str:
    form = parse_qs(request.content.decode())
    assert form["client_assertion_type"] == [ASSERTION_TYPE]
    (assertion,) = form["client_assertion"]
    return assertion


@pytest.mark.parametrize("auth", ["private_key_jwt", "client_secret_jwt"])
def test_the_assertion_audience_is_the_issuer_as_one_string_at_every_endpoint(auth: Auth) -> None:
    for options in ({}, {"assertion_audience": "issuer"}):
        requests = requests_of(device_strategy(auth, issuer=ISSUER, **options))
        assert {r.url for r in requests} == set(ENDPOINTS.values())
        for request in requests:
            aud = claims_of(assertion_of(request))["aud"]
            assert type(aud) is str
            assert aud == ISSUER
            assert f'"aud":"{ISSUER}"' in _payload_text(assertion_of(request))


def _payload_text(assertion: str) -> str:
    payload = assertion.split(".")[1]
    return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()


def test_the_issuer_audience_keeps_the_servers_spelling_of_the_issuer() -> None:
    metadata = anyoauth.ServerMetadata.from_dict(
        {"issuer": ISSUER + "/", **ENDPOINTS}, issuer=ISSUER
    )
    strategy = anyoauth.DeviceCode.from_metadata(
        metadata, client_id=CLIENT_ID, **credentials("private_key_jwt")
    )
    for request in requests_of(strategy):
        assert claims_of(assertion_of(request))["aud"] == ISSUER + "/"


@pytest.mark.parametrize("options", [{"assertion_audience": "endpoint", "issuer": ISSUER}, {}])
def test_an_endpoint_audience_is_the_url_the_assertion_is_posted_to(
    options: dict[str, Any],
) -> None:
    """Chosen explicitly, or without a configured issuer: never the token endpoint's URL
    on a request that goes elsewhere."""
    for request in requests_of(device_strategy(**options)):
        assert claims_of(assertion_of(request))["aud"] == request.url


def test_every_request_gets_a_fresh_assertion() -> None:
    strategy = device_strategy(issuer=ISSUER)
    first, second = requests_of(strategy, NOW), requests_of(strategy, NOW + 30)
    claims = [claims_of(assertion_of(r)) for r in first + second]
    assert len({c["jti"] for c in claims}) == len(claims)
    assert [c["iat"] for c in claims] == [int(NOW)] * 5 + [int(NOW + 30)] * 5
    assert all(c["exp"] == c["iat"] + 60 for c in claims)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"assertion_audience": "issuer"}, "needs the issuer"),
        ({"assertion_audience": "token_endpoint", "issuer": ISSUER}, "assertion_audience"),
    ],
)
def test_an_unusable_assertion_audience_is_a_configuration_error(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(anyoauth.ConfigurationError, match=message):
        device_strategy(**options)


@pytest.mark.parametrize("audience", [None, "endpoint"])
async def test_a_retried_revocation_is_re_signed_for_the_same_audience(
    http_module: ModuleType, audience: str | None
) -> None:
    received: list[dict[str, Any]] = []

    def handler(request: Any) -> Any:
        received.append(claims_of(parse_qs(request.content.decode())["client_assertion"][0]))
        if len(received) == 1:
            return http_module.Response(503, headers={"retry-after": "0"})
        return http_module.Response(200)

    strategy = device_strategy(issuer=ISSUER, assertion_audience=audience)
    transport = http_module.MockTransport(handler)
    async with http_module.AsyncClient(transport=transport) as http:
        client = anyoauth.Client(strategy, http=http, clock=ManualClock(), retries=Waits().policy())
        await client.set_token(anyoauth.Token(access_token="at", issued_at=NOW))
        await client.revoke()
    expected = ENDPOINTS["revocation_endpoint"] if audience == "endpoint" else ISSUER
    assert [c["aud"] for c in received] == [expected, expected]
    assert received[0]["jti"] != received[1]["jti"]
