"""Attacks on pushed authorization requests (RFC 9126) and signed request objects
(RFC 9101): forged, tampered, replayed, expired or another client's requests are
refused by the emulator's server; hostile push answers are refused by the client, which
shows no secret of the push in any error and no signing key anywhere."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from joserfc import jws
from joserfc.jwk import ECKey, KeySet, OctKey, RSAKey

import anyoauth
from anyoauth import AuthorizationCode, Client, MemoryStore
from anyoauth.testing import ManualClock, ProviderEmulator

from .reachable import find_secrets

pytestmark = pytest.mark.anyio

BASE = "https://as.example"
PAR = BASE + "/oauth/par"
AUTHORIZE = BASE + "/oauth/authorize"
REDIRECT = "http://127.0.0.1:8123/callback"
SECRET = "par-jar-SECRET-SENTINEL-0123456789"
KEY = ECKey.generate_key("P-256", parameters={"kid": "k1"}, private=True)
OTHER_KEY = ECKey.generate_key("P-256", parameters={"kid": "k1"}, private=True)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def emulator(clock: ManualClock) -> ProviderEmulator:
    emulator = ProviderEmulator(clock=clock, base_url=BASE)
    for client_id in ("alice", "mallory"):
        emulator.add_oauth_client(
            client_id,
            client_secret=SECRET,
            redirect_uris=[REDIRECT],
            jwks=KeySet([KEY]).as_dict(private=False),
        )
    return emulator


def _basic(client_id: str) -> tuple[str, str]:
    pair = base64.b64encode(f"{client_id}:{SECRET}".encode()).decode()
    return ("Authorization", f"Basic {pair}")


def _params(client_id: str = "alice", **more: str) -> dict[str, str]:
    return {
        "client_id": client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": "profile",
        "state": "s" * 43,
        "code_challenge": "c" * 43,
        "code_challenge_method": "S256",
        **more,
    }


def _request_object(
    clock: ManualClock,
    *,
    key: Any = KEY,
    alg: str = "ES256",
    typ: str = "oauth-authz-req+jwt",
    **claims: Any,
) -> str:
    now = int(clock())
    payload: dict[str, Any] = {
        **_params(),
        "iss": "alice",
        "aud": BASE,
        "iat": now,
        "nbf": now,
        "exp": now + 60,
        "jti": f"jti-{now}-{len(claims)}-{alg}-{typ}",
    }
    for name, value in claims.items():
        if value is None:
            payload.pop(name, None)
        else:
            payload[name] = value
    return jws.serialize_compact(
        {"alg": alg, "typ": typ, "kid": "k1"}, json.dumps(payload).encode(), key, algorithms=[alg]
    )


def _push(
    emulator: ProviderEmulator, client_id: str = "alice", **form: str
) -> tuple[int, dict[str, Any]]:
    body = urlencode(form or _params(client_id)).encode()
    headers = [_basic(client_id), ("Content-Type", "application/x-www-form-urlencoded")]
    answer = emulator.handle("POST", PAR, headers, body)
    return answer.status, answer.json()


def _authorize(emulator: ProviderEmulator, **query: str) -> int:
    return emulator.handle("GET", f"{AUTHORIZE}?{urlencode(query)}").status


# -- the server: request_uri values ------------------------------------------------------------


def test_a_replayed_request_uri_is_refused(emulator: ProviderEmulator) -> None:
    status, answer = _push(emulator)
    assert status == 201
    uri = answer["request_uri"]
    assert _authorize(emulator, client_id="alice", request_uri=uri) == 200
    assert _authorize(emulator, client_id="alice", request_uri=uri) == 400


def test_a_request_uri_of_another_client_is_refused(emulator: ProviderEmulator) -> None:
    _, answer = _push(emulator)
    uri = answer["request_uri"]
    assert _authorize(emulator, client_id="mallory", request_uri=uri) == 400
    # Refusing another client's attempt does not spend the request of its own client.
    assert _authorize(emulator, client_id="alice", request_uri=uri) == 200


def test_an_expired_request_uri_is_refused(emulator: ProviderEmulator, clock: ManualClock) -> None:
    _, answer = _push(emulator)
    clock.advance(61)
    assert _authorize(emulator, client_id="alice", request_uri=answer["request_uri"]) == 400


def test_a_guessed_request_uri_is_refused(emulator: ProviderEmulator) -> None:
    _push(emulator)
    guess = "urn:ietf:params:oauth:request_uri:" + "A" * 32
    assert _authorize(emulator, client_id="alice", request_uri=guess) == 400


def test_a_push_without_client_authentication_is_refused(emulator: ProviderEmulator) -> None:
    body = urlencode(_params()).encode()
    headers = [("Content-Type", "application/x-www-form-urlencoded")]
    answer = emulator.handle("POST", PAR, headers, body)
    assert answer.status == 401
    assert answer.json()["error"] == "invalid_client"


def test_a_pushed_request_uri_inside_a_push_is_refused(emulator: ProviderEmulator) -> None:
    status, answer = _push(emulator, **_params(request_uri="urn:ietf:params:oauth:request_uri:x"))
    assert status == 400
    assert answer["error"] == "invalid_request"


# -- the server: request objects -----------------------------------------------------------------


def _forgeries(clock: ManualClock) -> Iterator[tuple[str, str]]:
    good = _request_object(clock)
    head, body, signature = good.split(".")
    tampered = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    tampered["redirect_uri"] = "http://127.0.0.1:9999/steal"
    forged_body = base64.urlsafe_b64encode(json.dumps(tampered).encode()).rstrip(b"=").decode()
    yield "another key", _request_object(clock, key=OTHER_KEY)
    yield "tampered", f"{head}.{forged_body}.{signature}"
    yield "no signature", f"{head}.{body}."
    yield "wrong typ", _request_object(clock, typ="JWT")
    yield "wrong iss", _request_object(clock, iss="mallory")
    yield "wrong aud", _request_object(clock, aud="https://other.example")
    yield "expired", _request_object(clock, exp=int(clock()) - 1)
    yield "not yet valid", _request_object(clock, nbf=int(clock()) + 300)
    yield "no exp", _request_object(clock, exp=None)
    yield "too long-lived", _request_object(clock, exp=int(clock()) + 86_400)
    yield "another client's id", _request_object(clock, client_id="mallory")
    public_as_secret = OctKey.import_key(json.dumps(KEY.as_dict(private=False)).encode())
    yield "HS256 with the public key", _request_object(clock, key=public_as_secret, alg="HS256")
    unsigned_head = base64.urlsafe_b64encode(b'{"alg":"none","typ":"oauth-authz-req+jwt"}')
    yield "alg none", f"{unsigned_head.rstrip(b'=').decode()}.{body}."
    yield "huge", _request_object(clock, padding="x" * 70_000)


def test_forged_or_tampered_request_objects_are_refused(
    emulator: ProviderEmulator, clock: ManualClock
) -> None:
    for name, forged in _forgeries(clock):
        status, answer = _push(emulator, client_id="alice", request=forged)
        assert status == 400, name
        assert answer["error"] == "invalid_request_object", name
        assert _authorize(emulator, client_id="alice", request=forged) == 400, name


def test_a_replayed_request_object_is_refused(
    emulator: ProviderEmulator, clock: ManualClock
) -> None:
    signed = _request_object(clock)
    assert _authorize(emulator, client_id="alice", request=signed) == 200
    assert _authorize(emulator, client_id="alice", request=signed) == 400


def test_parameters_outside_the_request_object_are_ignored(
    emulator: ProviderEmulator, clock: ManualClock
) -> None:
    signed = _request_object(clock)
    query = {
        "client_id": "alice",
        "request": signed,
        "redirect_uri": "http://127.0.0.1:9999/steal",
        "scope": "email",
    }
    answer = emulator.handle("GET", f"{AUTHORIZE}?{urlencode(query)}")
    assert answer.status == 200
    assert "9999" not in answer.text


def test_a_server_that_requires_signing_refuses_plain_pushes(emulator: ProviderEmulator) -> None:
    emulator.oauth_require_signed_request_object = True
    status, answer = _push(emulator)
    assert status == 400
    assert answer["error"] == "invalid_request"


# -- the client: hostile push answers, echoed secrets, keys ---------------------------------------


def _strategy(**settings: Any) -> AuthorizationCode:
    values: dict[str, Any] = {
        "client_id": "alice",
        "client_secret": SECRET,
        "issuer": BASE,
        "authorization_endpoint": AUTHORIZE,
        "token_endpoint": BASE + "/oauth/token",
        "pushed_authorization_request_endpoint": PAR,
        "push_authorization_request": True,
        "redirect_uri": REDIRECT,
    }
    values.update(settings)
    return AuthorizationCode(**values)


@pytest.mark.parametrize(
    "override",
    [
        {"request_uri": "urn:ietf:params:oauth:request_uri:" + "A" * 100_000},
        {"request_uri": "urn:x\r\nLocation: https://evil.example/"},
        {"request_uri": None},
        {"expires_in": 0},
        {"expires_in": -60},
        {"expires_in": "forever"},
        {"expires_in": None},
    ],
    ids=["huge", "header injection", "missing", "zero", "negative", "text", "no expiry"],
)
async def test_a_hostile_push_answer_is_refused_and_nothing_is_kept(
    emulator: ProviderEmulator, clock: ManualClock, override: dict[str, object]
) -> None:
    emulator.oauth_par_response = override
    store = MemoryStore()
    transport = emulator.mock_transport()
    async with (
        httpx.AsyncClient(transport=transport) as http,
        Client(_strategy(), http=http, clock=clock, store=store) as client,
    ):
        with pytest.raises(anyoauth.InvalidResponse):
            await client.begin()
    assert "pending=0" in repr(store)


async def test_a_short_lived_request_uri_is_reported(
    emulator: ProviderEmulator, clock: ManualClock
) -> None:
    emulator.oauth_par_response = {"expires_in": 1}
    async with (
        httpx.AsyncClient(transport=emulator.mock_transport()) as http,
        Client(_strategy(), http=http, clock=clock) as client,
    ):
        start = await client.begin()
    assert start.url_expires_at == clock() + 1


async def test_an_echoed_push_shows_no_secret_in_the_error(clock: ManualClock) -> None:
    rsa = RSAKey.generate_key(2048, private=True)
    sent: list[bytes] = []

    def echo(request: httpx.Request) -> httpx.Response:
        sent.append(request.content)
        echoed = f"{request.headers} {request.content.decode()}"
        return httpx.Response(
            400, json={"error": "invalid_request", "error_description": echoed * 3}
        )

    strategies = [
        _strategy(client_auth="client_secret_post"),
        _strategy(),
        _strategy(
            client_secret=None,
            client_auth="private_key_jwt",
            client_key=rsa,
            sign_request_object=True,
        ),
    ]
    for strategy in strategies:
        async with (
            httpx.AsyncClient(transport=httpx.MockTransport(echo)) as http,
            Client(strategy, http=http, clock=clock) as client,
        ):
            with pytest.raises(anyoauth.TokenRequestError) as refused:
                await client.begin()
        pairs = dict(parse_qsl(sent[-1].decode()))
        secrets = [SECRET] + [pairs[n] for n in ("client_assertion", "request") if n in pairs]
        assert refused.value.error == "invalid_request"
        assert find_secrets(refused.value, secrets) == []
        for secret in secrets:
            assert secret[20:60] not in str(refused.value)


async def test_the_request_object_key_is_never_shown(clock: ManualClock) -> None:
    private = KEY.as_dict(private=True)
    d = str(private["d"])
    strategy = _strategy(sign_request_object=True, request_object_key=private)
    assert d not in repr(strategy)
    assert d not in str(strategy)
    assert d not in repr(strategy._request_signer)
    with pytest.raises(anyoauth.ConfigurationError) as refused:
        _strategy(
            sign_request_object=True, request_object_key=private, request_object_algorithm="PS256"
        )
    # The constructor's own frames hold the caller's arguments, as any constructor's do;
    # what the error itself carries shows nothing of the key.
    shown = [str(refused.value), repr(refused.value), *map(str, refused.value.args)]
    assert not any(d in text for text in shown)
    assert refused.value.__cause__ is None

    def down(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, text="down")

    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(down)) as http,
        Client(strategy, http=http, clock=clock, timeout=0.5) as client,
    ):
        with pytest.raises(anyoauth.OAuthError) as failed:
            await client.begin()
    assert find_secrets(failed.value, [d]) == []


def test_request_objects_in_a_url_carry_no_secret_parameter(clock: ManualClock) -> None:
    strategy = _strategy(
        push_authorization_request=False, sign_request_object=True, request_object_key=KEY
    )
    url = anyoauth.sansio.Flow(strategy).start(clock())
    query = dict(parse_qsl(urlsplit(url.url).query))
    claims = json.loads(base64.urlsafe_b64decode(query["request"].split(".")[1] + "=="))
    assert not set(claims) & {"client_secret", "code_verifier", "client_assertion"}
    assert SECRET not in url.url
