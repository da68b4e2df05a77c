"""Userinfo answers and RP-initiated logout under attack (docs/security.md, rule 29).

A userinfo answer about another user (its ``sub`` not the id_token's) is refused, JSON or
signed; a forged signed answer (tampered, signed by an unknown key, ``alg`` ``none``,
HMAC with the public key, another issuer or audience) is refused; an oversized or
non-JSON answer is refused; an error that echoes the token does not show it. The logout
URL carries no secret but the ``id_token_hint``, refuses an unsafe
``post_logout_redirect_uri``, and the hint is never logged. Logins run against the
emulator's generic server; hostile answers replace its userinfo endpoint's.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator, Callable
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

import anyoauth
from anyoauth import AuthorizationCode, Client, discover
from anyoauth.testing import ManualClock, ProviderEmulator, browse

pytestmark = pytest.mark.anyio

BASE = "https://as.example"
REDIRECT = "http://127.0.0.1:8123/callback"
SECRET = "client-secret-SENTINEL-0123456789abcdef"
USERINFO = "/oauth/userinfo"

Forge = Callable[[Any, dict[str, Any]], Any]


@pytest.fixture
def emulator(clock: ManualClock) -> ProviderEmulator:
    emulator = ProviderEmulator(clock=clock, base_url=BASE)
    emulator.add_oauth_client(
        "web",
        client_secret=SECRET,
        redirect_uris=[REDIRECT],
        post_logout_redirect_uris=["https://app.example/bye"],
    )
    return emulator


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


class Hostile:
    """The emulator, except that the userinfo endpoint's answer goes through ``forge``
    (which sees the emulator's genuine answer and the claims in it)."""

    def __init__(self, emulator: ProviderEmulator, module: ModuleType) -> None:
        self.inner = emulator.mock_transport(module)
        self.module = module
        self.forge: Forge | None = None

    async def __call__(self, request: Any) -> Any:
        answer = await self.inner.handle_async_request(request)
        if request.url.path != USERINFO or self.forge is None:
            return answer
        await answer.aread()
        return self.forge(request, answer)


@pytest.fixture
async def hostile(
    emulator: ProviderEmulator, http_module: ModuleType
) -> AsyncIterator[tuple[Hostile, Any]]:
    server = Hostile(emulator, http_module)
    async with http_module.AsyncClient(transport=http_module.MockTransport(server)) as http:
        yield server, http


async def logged_in(http: Any, clock: ManualClock) -> tuple[Client, anyoauth.Token]:
    strategy = AuthorizationCode.from_metadata(
        await discover(BASE, http=http),
        client_id="web",
        client_secret=SECRET,
        redirect_uri=REDIRECT,
        scope="openid profile email",
    )
    client = Client(strategy, http=http, clock=clock)
    start = await client.begin()
    token = await client.complete(await browse(http, start.url))
    return client, token


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt_answer(module: ModuleType, value: str) -> Any:
    return module.Response(200, headers={"Content-Type": "application/jwt"}, content=value.encode())


async def test_a_json_userinfo_answer_about_another_user_is_refused(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    client, _ = await logged_in(http, clock)
    emulator.oauth_userinfo_sub = "someone-else"
    with pytest.raises(anyoauth.UserinfoSubjectMismatch):
        await client.userinfo()


async def test_a_signed_userinfo_answer_about_another_user_is_refused(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    client, _ = await logged_in(http, clock)
    emulator.oauth_userinfo_signed = True
    emulator.oauth_userinfo_sub = "someone-else"
    with pytest.raises(anyoauth.UserinfoSubjectMismatch):
        await client.userinfo()


@pytest.fixture
async def http(emulator: ProviderEmulator, http_module: ModuleType) -> AsyncIterator[Any]:
    async with http_module.AsyncClient(transport=emulator.mock_transport(http_module)) as http:
        yield http


def _claims(token: anyoauth.Token, **changes: Any) -> dict[str, Any]:
    assert token.id_token_claims is not None
    claims = {"sub": token.id_token_claims["sub"], "iss": BASE, "aud": "web", "name": "N"}
    claims.update(changes)
    return claims


@pytest.mark.parametrize(
    "attack", ["tampered", "unknown_key", "alg_none", "alg_hs256", "wrong_iss", "wrong_aud"]
)
async def test_a_forged_signed_userinfo_answer_is_refused(
    hostile: tuple[Hostile, Any],
    emulator: ProviderEmulator,
    clock: ManualClock,
    http_module: ModuleType,
    attack: str,
) -> None:
    server, http = hostile
    client, token = await logged_in(http, clock)
    genuine_key = emulator._oauth._signing_key()
    jwks_fetches = emulator.calls["oauth.jwks"]

    def forge(request: Any, answer: Any) -> Any:
        claims = _claims(token)
        if attack == "wrong_iss":
            claims["iss"] = "https://evil.example"
        if attack == "wrong_aud":
            claims["aud"] = "another-client"
        key: Any = RSAKey.generate_key(2048) if attack == "unknown_key" else genuine_key
        header = {"alg": "RS256", "kid": "other" if attack == "unknown_key" else key.kid}
        if attack == "alg_none":
            none = _b64(json.dumps({"alg": "none"}).encode())
            value = f"{none}.{_b64(json.dumps(claims).encode())}."
        elif attack == "alg_hs256":
            public = json.dumps(genuine_key.as_dict(private=False)).encode()
            secret = OctKey.import_key(public)
            value = jwt.encode(
                {"alg": "HS256", "kid": key.kid}, claims, secret, algorithms=["HS256"]
            )
        else:
            value = jwt.encode(header, claims, key, algorithms=["RS256"])
        if attack == "tampered":
            head, _, rest = value.partition(".")
            signature = rest.rpartition(".")[2]
            other = _b64(json.dumps({**claims, "email": "attacker@evil.example"}).encode())
            value = f"{head}.{other}.{signature}"
        return _jwt_answer(http_module, value)

    server.forge = forge
    with pytest.raises(anyoauth.InvalidUserinfo) as caught:
        await client.userinfo()
    assert not isinstance(caught.value, anyoauth.UserinfoSubjectMismatch)
    # An unknown key costs one key set fetch, never more.
    assert emulator.calls["oauth.jwks"] <= jwks_fetches + 1


async def test_an_oversized_userinfo_answer_is_refused(
    hostile: tuple[Hostile, Any], clock: ManualClock, http_module: ModuleType
) -> None:
    server, http = hostile
    client, token = await logged_in(http, clock)
    server.forge = lambda request, answer: http_module.Response(
        200, json=_claims(token, padding="x" * (300 * 1024))
    )
    with pytest.raises(anyoauth.ServerUnavailable, match="larger than"):
        await client.userinfo()


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/html", b"<html>login</html>"),
        ("application/json", b"not json"),
        ("application/json", b"[1, 2]"),
        ("application/json", b'{"name": "no sub"}'),
        ("application/jwt", b"not.a.jwt.at.all"),
        ("application/json", b"[" * 100_000),
    ],
)
async def test_a_userinfo_answer_that_is_no_claims_is_refused(
    hostile: tuple[Hostile, Any],
    clock: ManualClock,
    http_module: ModuleType,
    content_type: str,
    body: bytes,
) -> None:
    server, http = hostile
    client, _ = await logged_in(http, clock)
    server.forge = lambda request, answer: http_module.Response(
        200, headers={"Content-Type": content_type}, content=body
    )
    with pytest.raises(anyoauth.InvalidUserinfo):
        await client.userinfo()


async def test_a_userinfo_error_echoing_the_token_does_not_show_it(
    hostile: tuple[Hostile, Any], clock: ManualClock, http_module: ModuleType
) -> None:
    server, http = hostile
    client, token = await logged_in(http, clock)

    def forge(request: Any, answer: Any) -> Any:
        sent = request.headers["authorization"].partition(" ")[2]
        challenge = f'Bearer error="insufficient_scope", error_description="token {sent}"'
        return http_module.Response(403, headers={"WWW-Authenticate": challenge})

    server.forge = forge
    with pytest.raises(anyoauth.UserinfoError) as caught:
        await client.userinfo()
    assert caught.value.error == "insufficient_scope"
    assert token.access_token not in str(caught.value)
    assert token.access_token not in repr(caught.value.args)


async def test_the_logout_url_carries_no_secret_but_the_id_token_hint_and_logs_none(
    http: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    client, token = await logged_in(http, clock)
    caplog.set_level(logging.DEBUG, logger="anyoauth")
    url = await client.end_session(
        post_logout_redirect_uri="https://app.example/bye", state="s1", ui_locales="en"
    )
    assert url is not None
    query = parse_qs(urlsplit(url).query)
    assert set(query) == {
        "id_token_hint",
        "client_id",
        "post_logout_redirect_uri",
        "state",
        "ui_locales",
    }
    assert token.refresh_token is not None
    for secret in (token.access_token, token.refresh_token, SECRET):
        assert secret not in url
    id_token = token.extra["id_token"]
    assert id_token not in caplog.text
    assert id_token[-20:] not in caplog.text


@pytest.mark.parametrize(
    "target",
    [
        "http://app.example/bye",  # plain http off loopback
        "https://app.example/bye#frag",
        "/relative",
        "https://app.example/\nbye",
    ],
)
async def test_an_unsafe_post_logout_redirect_uri_is_refused_before_anything_is_forgotten(
    http: Any, clock: ManualClock, target: str
) -> None:
    client, token = await logged_in(http, clock)
    with pytest.raises(anyoauth.ConfigurationError):
        await client.end_session(post_logout_redirect_uri=target)
    assert await client.store.get_token(client.token_key) == token


async def test_the_server_refuses_an_open_post_logout_redirect(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    client, _ = await logged_in(http, clock)
    url = await client.end_session(post_logout_redirect_uri="https://evil.example/phish")
    assert url is not None
    answer = await http.get(url)
    assert answer.status_code == 400
    assert "location" not in answer.headers
    assert emulator.oauth_ended_sessions == []


async def test_a_forged_id_token_hint_ends_no_session(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    client, token = await logged_in(http, clock)
    head, payload, signature = token.extra["id_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = f"{head}.{_b64(json.dumps({**claims, 'aud': 'victim'}).encode())}.{signature}"
    url = client.strategy.end_session_url(id_token_hint=forged)
    answer = await http.get(url)
    assert answer.status_code == 400
    assert emulator.oauth_ended_sessions == []
