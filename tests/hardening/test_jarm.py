"""Signed authorization responses (JARM) and form post response modes under attack
(docs/security.md, rule 25).

A forged signed response (tampered, another issuer, another audience, expired, signed by
an unknown key, ``alg`` ``none``, HMAC with the public key) is refused before any token
request is sent; unsigned parameters never stand in for a signed response; the state read
without verification only finds the pending flow; hostile sizes are refused. At the
loopback listener a form post login takes its result only from a post (from the
authorization server's origin when the browser names one), relayed with the browser's
cookie. Logins run against the emulator's generic server.
"""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import anyio
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

import anyoauth
from anyoauth import AuthorizationCode, Client, InvalidAuthorizationResponse, discover
from anyoauth.agents import LoopbackAgent
from anyoauth.agents._loopback import MAX_REQUEST_BYTES
from anyoauth.testing import ManualClock, ProviderEmulator, browse
from support.form_post import RelayForm, post_like_a_browser, submit_relay

pytestmark = pytest.mark.anyio

BASE = "https://as.example"
REDIRECT = "http://127.0.0.1:8123/callback"
SECRET = "client-secret-SENTINEL-0123456789abcdef"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def emulator(clock: ManualClock) -> ProviderEmulator:
    emulator = ProviderEmulator(clock=clock, base_url=BASE)
    emulator.add_oauth_client("web", client_secret=SECRET, redirect_uris=[REDIRECT], scopes=None)
    return emulator


@pytest.fixture
async def http(emulator: ProviderEmulator, http_module: ModuleType) -> AsyncIterator[Any]:
    async with http_module.AsyncClient(transport=emulator.mock_transport(http_module)) as client:
        yield client


async def signed_client(http: Any, clock: ManualClock, mode: str = "jwt") -> Client:
    strategy = AuthorizationCode.from_metadata(
        await discover(BASE, http=http),
        client_id="web",
        client_secret=SECRET,
        redirect_uri=REDIRECT,
        response_mode=mode,
    )
    return Client(strategy, http=http, clock=clock)


def b64json(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def claims_of(url: str) -> dict[str, Any]:
    response = dict(parse_qsl(urlsplit(url).query))["response"]
    payload = response.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


@pytest.mark.parametrize(
    ("attack", "check"),
    [
        ("tampered", "signature verification failed"),
        ("wrong_iss", "iss is not the issuer"),
        ("wrong_aud", "aud is not this client_id"),
        ("expired", "has expired"),
        ("unknown_key", "no JWKS key has the response's kid"),
        ("alg_none", "alg 'none' is not allowed"),
        ("alg_hs256", "alg 'HS256' is not allowed"),
    ],
)
@pytest.mark.parametrize("mode", ["jwt", "fragment.jwt", "form_post.jwt"])
async def test_every_forged_signed_response_is_refused_before_any_token_request(
    attack: str, check: str, mode: str, emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    emulator.oauth_jarm_attack = attack
    async with await signed_client(http, clock, mode) as client:
        start = await client.begin()
        landed = await browse(http, start.url)
        with pytest.raises(InvalidAuthorizationResponse, match=check) as caught:
            await client.complete(landed)
        assert await client.store.get_token(client.token_key) is None
    assert emulator.calls["oauth.token"] == 0
    assert emulator.calls["oauth.jwks"] == 1
    assert "forged" not in str(caught.value)
    assert start.state not in str(caught.value)


async def test_an_unknown_key_is_looked_for_once_more_and_never_more(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    async with await signed_client(http, clock) as client:
        start = await client.begin()
        await client.complete(await browse(http, start.url))
        emulator.oauth_jarm_attack = "unknown_key"
        for _ in range(2):
            start = await client.begin()
            with pytest.raises(InvalidAuthorizationResponse, match="no JWKS key has"):
                await client.complete(await browse(http, start.url))
    # One fetch for the first login; each forged login fetches once (a rotation?) only.
    assert emulator.calls["oauth.jwks"] == 3
    assert emulator.calls["oauth.token"] == 1


async def test_unsigned_parameters_never_stand_in_for_a_signed_response(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    async with await signed_client(http, clock) as client:
        start = await client.begin()
        landed = await browse(http, start.url)
        code = claims_of(landed)["code"]
        # The real code and state, unsigned (a downgrade), or next to the signed response.
        for params in (
            {"code": code, "state": start.state, "iss": BASE},
            {"response": dict(parse_qsl(urlsplit(landed).query))["response"], "code": "mine"},
            {"error": "access_denied", "state": start.state},
        ):
            with pytest.raises(InvalidAuthorizationResponse):
                await client.complete(f"{REDIRECT}?{urlencode(params)}")
        assert emulator.calls["oauth.token"] == 0
        # Refused before the pending login was looked up: the real answer still works.
        token = await client.complete(landed)
    assert emulator.is_valid_token(token.access_token)


async def test_a_forged_response_carrying_the_real_state_is_refused(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    attacker = RSAKey.generate_key(2048, parameters={"kid": "attacker"})
    async with await signed_client(http, clock) as client:
        start = await client.begin()
        landed = await browse(http, start.url)
        claims = {**claims_of(landed), "code": "attackers-code"}
        forged = jwt.encode({"alg": "RS256", "kid": "attacker"}, claims, attacker)
        with pytest.raises(InvalidAuthorizationResponse):
            await client.complete(f"{REDIRECT}?{urlencode({'response': forged})}")
        # The state was read unverified to find the login, which is spent like any login
        # answered with its state: the real answer cannot complete it afterwards.
        with pytest.raises(anyoauth.StateMismatch):
            await client.complete(landed)
    assert emulator.calls["oauth.token"] == 0


async def test_an_unverified_state_of_no_login_finds_nothing(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    async with await signed_client(http, clock) as client:
        start = await client.begin()
        landed = await browse(http, start.url)
        head, _payload, signature = dict(parse_qsl(urlsplit(landed).query))["response"].split(".")
        for state in ("guessed", "", None):
            claims = {**claims_of(landed), "state": state}
            forged = f"{head}.{b64json(claims)}.{signature}"
            with pytest.raises((anyoauth.StateMismatch, anyoauth.StateMissing)):
                await client.complete(f"{REDIRECT}?{urlencode({'response': forged})}")
        token = await client.complete(landed)
    assert emulator.is_valid_token(token.access_token)
    assert emulator.calls["oauth.token"] == 1


def b64text(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "response",
    [
        "e30." + "A" * 17_000 + ".sig",
        b64json({"alg": "RS256"}) + "." + b64json({"a": 1}) + ".sig",
        b64json({"alg": "RS256"})
        + "."
        + b64text('{"state":' + "[" * 4000 + "]" * 4000 + "}")
        + ".x",
        ".".join(["e30"] * 5),
        "e30." + ("W" * 999 + "]" * 999) + ".x",
    ],
    ids=["oversized", "no-state", "deeply-nested", "encrypted", "garbage"],
)
async def test_hostile_signed_responses_are_refused_cheaply(
    response: str, emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    async with await signed_client(http, clock) as client:
        await client.begin()
        with anyio.fail_after(2), pytest.raises((anyoauth.RedirectError, anyoauth.StateError)):
            await client.complete(f"{REDIRECT}?{urlencode({'response': response})}")
    assert emulator.calls["oauth.token"] == 0
    assert emulator.calls["oauth.jwks"] == 0


# -- form post at the loopback listener --------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served() -> ProviderEmulator:
    return ProviderEmulator()


@pytest.fixture
async def base_url(served: ProviderEmulator) -> AsyncIterator[str]:
    async with served.serve() as base_url:
        yield base_url


async def loopback_login(
    served: ProviderEmulator,
    base_url: str,
    http_client: Any,
    mode: str,
    attack: Any,
) -> anyoauth.Token:
    port = free_port()
    redirect = f"http://127.0.0.1:{port}/callback"
    served.add_oauth_client(
        "desktop", redirect_uris=[redirect], auth_method="none", grant_types=["authorization_code"]
    )

    async def user(url: str) -> None:
        landed = await browse(http_client, url)
        await attack(landed, base_url)
        relay = await post_like_a_browser(http_client, landed, origin=base_url)
        page = await submit_relay(http_client, relay)
        assert "Login received" in page.text

    strategy = AuthorizationCode.from_metadata(
        await discover(base_url, http=http_client),
        client_id="desktop",
        redirect_uri=redirect,
        response_mode=mode,
    )
    async with Client(strategy, http=http_client) as client:
        return await client.login(LoopbackAgent(port=port, open_browser=user, timeout=10))


@pytest.mark.parametrize("mode", ["form_post", "form_post.jwt"])
async def test_a_form_post_login_ignores_its_result_in_the_address(
    mode: str, served: ProviderEmulator, base_url: str, http_client: Any
) -> None:
    ignored: list[Any] = []

    async def in_the_address(landed: str, _base: str) -> None:
        # The very parameters, with the browser's cookie, in a GET: not how this
        # provider answers, so not the result.
        ignored.append(await http_client.get(landed))

    token = await loopback_login(served, base_url, http_client, mode, in_the_address)
    assert served.is_valid_token(token.access_token)
    (page,) = ignored
    assert page.status_code == 403
    assert "expects the provider to post its result" in page.text
    assert served.calls["oauth.token"] == 1


async def test_a_form_post_from_another_origin_is_ignored(
    served: ProviderEmulator, base_url: str, http_client: Any
) -> None:
    answers: list[Any] = []

    async def from_elsewhere(landed: str, _base: str) -> None:
        answers.append(
            await post_like_a_browser(http_client, landed, origin="https://evil.example")
        )

    token = await loopback_login(served, base_url, http_client, "form_post", from_elsewhere)
    assert served.is_valid_token(token.access_token)
    assert [a.status_code for a in answers] == [403]
    assert served.calls["oauth.token"] == 1


async def test_a_relayed_form_post_without_the_browsers_cookie_is_ignored(
    served: ProviderEmulator, base_url: str, http_client: Any, http_module: ModuleType
) -> None:
    answers: list[Any] = []

    async def another_program(landed: str, base: str) -> None:
        # Another local program, without the browser's cookie, that knows the victim's
        # state and the relay form (it asked the listener for it) posts an attacker's code.
        action, _, query = landed.partition("?")
        params = dict(parse_qsl(query))
        async with http_module.AsyncClient() as attacker:
            relay = await attacker.post(
                action, data={**params, "code": "attackers-code"}, headers={"Origin": "null"}
            )
            assert relay.status_code == 200
            form = RelayForm(relay.text)
            answers.append(await attacker.post(action, data=form.fields))
            answers.append(await attacker.get(landed))

    token = await loopback_login(served, base_url, http_client, "form_post", another_program)
    assert served.is_valid_token(token.access_token)
    assert [a.status_code for a in answers] == [403, 403]
    assert served.calls["oauth.token"] == 1


async def test_an_oversized_form_post_is_refused_and_ends_nothing(
    served: ProviderEmulator, base_url: str, http_client: Any
) -> None:
    answers: list[Any] = []

    async def oversized(landed: str, base: str) -> None:
        action = landed.partition("?")[0]
        body = {"response": "A" * (MAX_REQUEST_BYTES + 1)}
        answers.append(await http_client.post(action, data=body, headers={"Origin": base}))

    token = await loopback_login(served, base_url, http_client, "form_post.jwt", oversized)
    assert served.is_valid_token(token.access_token)
    assert [a.status_code for a in answers] == [413]
