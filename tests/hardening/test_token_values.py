"""Token values and token types are checked before anything uses them (docs/security.md, rule 14).

A token with a space, a control or a non-ASCII character (CR/LF would add headers to
``Authorization: Bearer …``, ESC would drive a terminal, NUL would cut a C string) is
refused with a typed error in every flow, and nothing stored changes. Only ``Bearer``
tokens are used unless a strategy declares another type it knows how to use. A token
an older version stored with such characters is never handed out, nor is one it stored
with a type the strategy cannot use (``Basic``, ``DPoP``, ``N_A``): that one counts as
no token, and is never sent anywhere.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar
from urllib.parse import urlencode

import attrs
import pytest

import anyoauth
from anyoauth.providers import BankOfGeorgia, Geni, Teamwork
from anyoauth.stores import dump_token, load_token
from anyoauth.testing import ManualClock
from redis_server import RedisServer
from support.internals import file_store_digest

from .common import NOW, ORIGINAL, SECRET, stored

pytestmark = pytest.mark.anyio

TOKEN_URL = "https://as.example/token"
REDIRECT = "https://app.example/callback"
GOOD: dict[str, Any] = {
    "access_token": "AT-good.value_~+/=",
    "refresh_token": "RT-good",
    "token_type": "Bearer",
    "expires_in": 300,
}

BAD_TOKENS = {
    "crlf": "AT\r\nX-Injected: yes",
    "lf": "AT\nX-Injected: yes",
    "cr": "AT\rX",
    "nul": "AT\x00X",
    "esc": "AT\x1b[2J\x1b]0;owned\x07",
    "space": "AT two",
    "tab": "AT\tX",
    "del": "AT\x7f",
    "c1-csi": "AT\x9b31m",
    "non-ascii": "AT\u00e9",
    "bidi": "AT\u202eX",
}
REFUSED_TYPES = [
    "DPoP",
    "N_A",
    "Basic",
    "mac",
    "Bearer\r\nX-Injected: yes",
    "bearer ",
    "be\u0430rer",
]
ACCEPTED_TYPES = ["Bearer", "bearer", "BEARER", None]


def bad_payloads() -> Iterator[Any]:
    for name, value in BAD_TOKENS.items():
        yield pytest.param({**GOOD, "access_token": value}, id=f"access_token-{name}")
    for name in ("crlf", "nul", "esc", "space", "non-ascii"):
        yield pytest.param({**GOOD, "refresh_token": BAD_TOKENS[name]}, id=f"refresh_token-{name}")
    for name in ("crlf", "esc"):
        yield pytest.param({**GOOD, "id_token": "h.p.s" + BAD_TOKENS[name]}, id=f"id_token-{name}")
    for token_type in REFUSED_TYPES:
        yield pytest.param({**GOOD, "token_type": token_type}, id=f"token_type-{token_type!r}")


def with_type(token_type: str | None) -> dict[str, Any]:
    payload = {k: v for k, v in GOOD.items() if k != "token_type"}
    return payload if token_type is None else {**payload, "token_type": token_type}


def respond(module: ModuleType, payload: Any) -> Any:
    return module.Response(
        200, content=json.dumps(payload).encode(), headers={"content-type": "application/json"}
    )


# -- the flows: each gets one answer from the server and returns the token --------------------


@attrs.frozen
class Case:
    """A flow: its strategy, the token it starts with, and how it asks for a token."""

    name: str
    strategy: Callable[[], anyoauth.Strategy]
    start: anyoauth.Token
    run: Callable[[anyoauth.Client, Any], Awaitable[anyoauth.Token]]
    refused: type[anyoauth.OAuthError] = anyoauth.InvalidTokenResponse
    in_redirect: bool = False


async def login(client: anyoauth.Client, payload: Any) -> anyoauth.Token:
    start = await client.begin()
    return await client.complete(f"{REDIRECT}?code=the-code&state={start.state}")


async def renew(client: anyoauth.Client, payload: Any) -> anyoauth.Token:
    return await client.token()


async def fragment_login(client: anyoauth.Client, payload: Any) -> anyoauth.Token:
    start = await client.begin()
    strategy = client.strategy
    assert isinstance(strategy, anyoauth.ImplicitDesktop)
    params = {k: v for k, v in payload.items() if v is not None}
    fragment = urlencode({**params, "state": start.state})
    return await client.complete(f"{strategy.success_url}#{fragment}")


# Expired, so that token() renews: with a refresh token (refresh) or without (a new grant).
EXPIRED = attrs.evolve(ORIGINAL)
EXPIRED_NO_REFRESH = attrs.evolve(ORIGINAL, refresh_token=None)

CASES = [
    Case(
        "authorization-code",
        lambda: anyoauth.AuthorizationCode(
            client_id="web",
            client_secret=SECRET,
            authorization_endpoint="https://as.example/authorize",
            token_endpoint=TOKEN_URL,
            redirect_uri=REDIRECT,
        ),
        EXPIRED,
        login,
    ),
    Case(
        "refresh",
        lambda: anyoauth.AuthorizationCode(
            client_id="web",
            client_secret=SECRET,
            authorization_endpoint="https://as.example/authorize",
            token_endpoint=TOKEN_URL,
            redirect_uri=REDIRECT,
        ),
        EXPIRED,
        renew,
    ),
    Case(
        "client-credentials",
        lambda: anyoauth.ClientCredentials(
            client_id="svc", client_secret=SECRET, token_endpoint=TOKEN_URL
        ),
        EXPIRED_NO_REFRESH,
        renew,
    ),
    Case(
        "bank-of-georgia",
        lambda: BankOfGeorgia("bog", SECRET, token_url=TOKEN_URL),
        EXPIRED_NO_REFRESH,
        renew,
    ),
    Case(
        "teamwork-json",
        lambda: Teamwork("tw", SECRET, REDIRECT, token_url=TOKEN_URL),
        EXPIRED_NO_REFRESH,
        login,
    ),
    Case(
        "geni-fragment",
        lambda: Geni("geni"),
        EXPIRED_NO_REFRESH,
        fragment_login,
        refused=anyoauth.MalformedRedirect,
        in_redirect=True,
    ),
]


async def run_case(
    http_module: ModuleType, case: Case, payload: Any
) -> tuple[anyoauth.Client, list[Any], Callable[[], Awaitable[anyoauth.Token]]]:
    """A client of ``case`` holding its start token, whose server answers ``payload``."""
    sent: list[Any] = []

    def handler(request: Any) -> Any:
        sent.append(request)
        return respond(http_module, payload)

    http = http_module.AsyncClient(transport=http_module.MockTransport(handler))
    client = anyoauth.Client(case.strategy(), http=http, clock=ManualClock())
    await client.set_token(case.start)

    async def go() -> anyoauth.Token:
        try:
            return await case.run(client, payload)
        finally:
            await http.aclose()

    return client, sent, go


def refused_cases() -> Iterator[Any]:
    for case in CASES:
        for payload in bad_payloads():
            if case.in_redirect and "id_token" in payload.values[0]:
                continue  # an implicit redirect's id_token is dropped unread, never used
            yield pytest.param(case, *payload.values, id=f"{case.name}-{payload.id}")


@pytest.mark.parametrize(("case", "payload"), list(refused_cases()))
async def test_a_token_with_unsafe_characters_or_an_unknown_type_is_refused_and_nothing_stored(
    http_module: ModuleType, case: Case, payload: dict[str, Any]
) -> None:
    client, sent, go = await run_case(http_module, case, payload)
    before = await stored(client)
    with pytest.raises(case.refused) as raised:
        await go()
    assert await stored(client) == before  # the old token, exactly
    assert client._held is None or client._held == case.start
    assert len(sent) == (0 if case.in_redirect else 1)
    text = f"{raised.value} {raised.value!r}"
    for value in (payload["access_token"], payload["refresh_token"]):
        assert value not in text
    assert text.isprintable()


@pytest.mark.parametrize("token_type", ACCEPTED_TYPES, ids=repr)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
async def test_a_bearer_token_in_any_case_or_without_a_type_is_accepted(
    http_module: ModuleType, case: Case, token_type: str | None
) -> None:
    client, _, go = await run_case(http_module, case, with_type(token_type))
    token = await go()
    assert token.access_token == GOOD["access_token"]
    assert token.authorization_header == f"Bearer {GOOD['access_token']}"
    assert await client.store.get_token(client.token_key) == token


async def test_a_strategy_that_requires_token_type_refuses_a_response_without_one(
    http_module: ModuleType,
) -> None:
    strict = anyoauth.ClientCredentials(
        client_id="svc", client_secret=SECRET, token_endpoint=TOKEN_URL, missing_token_type=None
    )
    transport = http_module.MockTransport(lambda request: respond(http_module, with_type(None)))
    async with http_module.AsyncClient(transport=transport) as http:
        client = anyoauth.Client(strict, http=http, clock=ManualClock())
        with pytest.raises(anyoauth.InvalidTokenResponse, match="token_type is missing"):
            await client.token()
        assert await client.store.get_token(client.token_key) is None


@attrs.frozen(kw_only=True)
class ProofOfPossession(anyoauth.ClientCredentials):
    """A strategy that declares it knows how to use DPoP-bound tokens."""

    token_types: ClassVar[frozenset[str]] = frozenset({"bearer", "dpop"})


async def test_a_strategy_that_declares_another_token_type_gets_it(
    http_module: ModuleType,
) -> None:
    transport = http_module.MockTransport(lambda request: respond(http_module, with_type("DPoP")))
    async with http_module.AsyncClient(transport=transport) as http:
        client = anyoauth.Client(
            ProofOfPossession(client_id="svc", client_secret=SECRET, token_endpoint=TOKEN_URL),
            http=http,
            clock=ManualClock(),
        )
        token = await client.token()
    assert token.token_type == "DPoP"
    assert token.authorization_header == f"DPoP {GOOD['access_token']}"


def test_a_missing_token_type_must_be_one_the_strategy_uses() -> None:
    with pytest.raises(anyoauth.ConfigurationError, match="missing_token_type"):
        anyoauth.ClientCredentials(
            client_id="svc",
            client_secret=SECRET,
            token_endpoint=TOKEN_URL,
            missing_token_type="DPoP",
        )


async def test_a_device_grant_refuses_a_polled_token_with_control_characters(
    http_module: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    import anyio
    import anyio.lowlevel

    clock = ManualClock()

    async def sleep(seconds: float) -> None:
        clock.now += seconds
        await anyio.lowlevel.checkpoint()

    monkeypatch.setattr(anyio, "sleep", sleep)

    def handler(request: Any) -> Any:
        if request.url.path == "/device":
            device = {
                "device_code": "dc",
                "user_code": "ABCD-EFGH",
                "verification_uri": "https://as.example/activate",
                "expires_in": 600,
            }
            return respond(http_module, device)
        return respond(http_module, {**GOOD, "access_token": BAD_TOKENS["crlf"]})

    strategy = anyoauth.DeviceCode(
        client_id="tv",
        device_authorization_endpoint="https://as.example/device",
        token_endpoint=TOKEN_URL,
        client_auth="none",
    )
    async with http_module.AsyncClient(transport=http_module.MockTransport(handler)) as http:
        client = anyoauth.Client(strategy, http=http, clock=clock)
        await client.set_token(EXPIRED)
        before = await stored(client)
        with pytest.raises(anyoauth.InvalidTokenResponse):
            await client.device_login(lambda device: None)
        assert await stored(client) == before


# -- values themselves ------------------------------------------------------------------------


@pytest.mark.parametrize("value", list(BAD_TOKENS.values()), ids=list(BAD_TOKENS))
@pytest.mark.parametrize("field", ["access_token", "refresh_token", "token_type"])
def test_a_token_object_never_holds_unsafe_characters(field: str, value: str) -> None:
    fields: dict[str, Any] = {"access_token": "AT", "issued_at": NOW, field: value}
    with pytest.raises(ValueError, match=field):
        anyoauth.Token(**fields)
    changes: dict[str, Any] = {field: value}
    with pytest.raises(ValueError, match=field):
        attrs.evolve(anyoauth.Token(access_token="AT", issued_at=NOW), **changes)


def test_visible_ascii_beyond_the_bearer_alphabet_is_a_valid_token() -> None:
    # RFC 6750's b64token is narrower, but real tokens use more of VSCHAR (Salesforce: "!").
    token = anyoauth.Token(access_token="00Dx0!AQ4AQ.ab-c_d~e+f/g=", issued_at=NOW)
    assert token.authorization_header == "Bearer 00Dx0!AQ4AQ.ab-c_d~e+f/g="


# -- tokens an older version stored ------------------------------------------------------------


def legacy_record(access_token: str, refresh_token: str | None = ORIGINAL.refresh_token) -> bytes:
    """What an older anyoauth's store wrote: :func:`dump_token`'s format, values unchecked."""
    data = json.loads(dump_token(ORIGINAL))
    data.update(access_token=access_token, refresh_token=refresh_token, expires_at=NOW + 3600)
    return json.dumps(data).encode()


@pytest.mark.parametrize("value", list(BAD_TOKENS.values()), ids=list(BAD_TOKENS))
def test_a_stored_token_with_unsafe_characters_is_unreadable(value: str) -> None:
    with pytest.raises(anyoauth.StoreError, match="unreadable"):
        load_token(legacy_record(value))
    with pytest.raises(anyoauth.StoreError, match="unreadable"):
        load_token(legacy_record("AT-fine", refresh_token=value))


async def check_legacy_store(
    http_module: ModuleType, store: anyoauth.Store, plant: Callable[[str, bytes], Awaitable[None]]
) -> None:
    sent: list[Any] = []

    def handler(request: Any) -> Any:
        sent.append(request)
        return respond(http_module, GOOD)

    strategy = anyoauth.ClientCredentials(
        client_id="svc", client_secret=SECRET, token_endpoint=TOKEN_URL
    )
    async with http_module.AsyncClient(transport=http_module.MockTransport(handler)) as http:
        client = anyoauth.Client(strategy, store, http=http, clock=ManualClock())
        neighbour = anyoauth.Client(
            strategy, store, http=http, clock=ManualClock(), account="other"
        )
        kept = attrs.evolve(ORIGINAL, expires_at=NOW + 3600)
        await neighbour.set_token(kept)
        await plant(client.token_key, legacy_record(BAD_TOKENS["crlf"]))

        with pytest.raises(anyoauth.StoreError, match="unreadable"):
            await client.token()
        assert sent == []  # nothing handed out, nothing sent
        assert await neighbour.token() == kept  # nothing else stored is lost
        # A new login replaces the unreadable token.
        await client.set_token(attrs.evolve(kept, access_token="AT-relogin"))
        assert (await client.token()).access_token == "AT-relogin"


async def test_a_file_store_written_by_an_older_version_never_hands_out_such_a_token(
    http_module: ModuleType, tmp_path: Path
) -> None:
    store = anyoauth.FileStore(tmp_path / "store")

    async def plant(key: str, record: bytes) -> None:
        path = tmp_path / "store" / "tokens" / file_store_digest(key)
        path.write_bytes(record)
        os.chmod(path, 0o600)

    await check_legacy_store(http_module, store, plant)


async def test_a_redis_store_written_by_an_older_version_never_hands_out_such_a_token(
    http_module: ModuleType, fresh_redis: RedisServer
) -> None:
    import redis

    async def plant(key: str, record: bytes) -> None:
        direct = redis.Redis(host="127.0.0.1", port=fresh_redis.port)
        try:
            direct.hset("anyoauth:" + key, mapping={"v": record, "fp": "legacy"})
        finally:
            direct.close()

    async with anyoauth.RedisStore(fresh_redis.url) as store:
        await check_legacy_store(http_module, store, plant)


# -- stored tokens of a type the strategy cannot use ---------------------------------------------

STORED_TYPES = ["Basic", "DPoP", "N_A", "mac"]


def typed_record(token_type: str) -> bytes:
    """What an older anyoauth stored from a server answering ``token_type``: valid values,
    time left."""
    data = json.loads(dump_token(ORIGINAL))
    data.update(token_type=token_type, expires_at=NOW + 3600)
    return json.dumps(data).encode()


async def check_stored_type(
    http_module: ModuleType,
    store: anyoauth.Store,
    plant: Callable[[str, bytes], Awaitable[None]],
    token_type: str,
) -> None:
    sent: list[Any] = []

    def handler(request: Any) -> Any:
        sent.append(request)
        if request.url.host == "as.example":
            return respond(http_module, GOOD)
        return http_module.Response(200)

    service = anyoauth.ClientCredentials(
        client_id="svc", client_secret=SECRET, token_endpoint=TOKEN_URL
    )
    web = anyoauth.AuthorizationCode(
        client_id="web",
        client_secret=SECRET,
        authorization_endpoint="https://as.example/authorize",
        token_endpoint=TOKEN_URL,
        redirect_uri=REDIRECT,
    )
    async with http_module.AsyncClient(transport=http_module.MockTransport(handler)) as http:
        client = anyoauth.Client(service, store, http=http, clock=ManualClock())
        user = anyoauth.Client(web, store, http=http, clock=ManualClock())
        neighbour = anyoauth.Client(service, store, http=http, clock=ManualClock(), account="other")
        kept = attrs.evolve(ORIGINAL, access_token="AT-neighbour", expires_at=NOW + 3600)
        await neighbour.set_token(kept)
        await plant(client.token_key, typed_record(token_type))
        await plant(user.token_key, typed_record(token_type))

        # A flow that needs a login: no token to use, and its refresh token is not sent.
        with pytest.raises(anyoauth.LoginRequired):
            await user.token()
        assert sent == []
        left = await store.get_token(user.token_key)
        assert left is not None
        assert left.token_type == token_type  # not deleted either: a login replaces it

        # Client credentials: a new Bearer token, which replaces the stored one.
        async with http_module.AsyncClient(
            transport=http_module.MockTransport(handler), auth=client.auth()
        ) as api:
            await api.get("https://api.example/me")
        assert [r.headers.get("authorization") for r in sent if r.url.host == "api.example"] == [
            f"Bearer {GOOD['access_token']}"
        ]
        renewed = await store.get_token(client.token_key)
        assert renewed is not None
        assert (renewed.token_type, renewed.access_token) == ("Bearer", GOOD["access_token"])
        assert await neighbour.token() == kept  # nothing else stored is lost
    for request in sent:  # the stored token went nowhere
        seen = str(request.url) + str(request.headers) + request.content.decode()
        assert ORIGINAL.access_token not in seen
        assert str(ORIGINAL.refresh_token) not in seen


@pytest.mark.parametrize("token_type", STORED_TYPES)
async def test_a_stored_token_of_a_type_the_strategy_cannot_use_is_never_sent(
    http_module: ModuleType, token_type: str
) -> None:
    store = anyoauth.MemoryStore()

    async def plant(key: str, record: bytes) -> None:
        await store.set_token(key, load_token(record))

    await check_stored_type(http_module, store, plant, token_type)


@pytest.mark.parametrize("token_type", STORED_TYPES)
async def test_a_file_store_token_of_a_type_the_strategy_cannot_use_is_never_sent(
    http_module: ModuleType, tmp_path: Path, token_type: str
) -> None:
    store = anyoauth.FileStore(tmp_path / "store")

    async def plant(key: str, record: bytes) -> None:
        path = tmp_path / "store" / "tokens" / file_store_digest(key)
        path.write_bytes(record)
        os.chmod(path, 0o600)

    await check_stored_type(http_module, store, plant, token_type)


@pytest.mark.parametrize("token_type", STORED_TYPES)
async def test_a_redis_store_token_of_a_type_the_strategy_cannot_use_is_never_sent(
    http_module: ModuleType, fresh_redis: RedisServer, token_type: str
) -> None:
    import redis

    async def plant(key: str, record: bytes) -> None:
        direct = redis.Redis(host="127.0.0.1", port=fresh_redis.port)
        try:
            direct.hset("anyoauth:" + key, mapping={"v": record, "fp": "legacy"})
        finally:
            direct.close()

    async with anyoauth.RedisStore(fresh_redis.url) as store:
        await check_stored_type(http_module, store, plant, token_type)
