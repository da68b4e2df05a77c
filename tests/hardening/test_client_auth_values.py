"""Attacks on client authentication given as values: replayed assertions across retries,
one method shared by two clients, secrets of a method of one's own echoed back."""

from __future__ import annotations

import base64
import json
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs

import anyio.lowlevel
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

import anyoauth
from anyoauth import ClientCredentials, ClientSecretBasic, PrivateKeyJwt, TokenRequestError
from support.client_auth import SignedHeader

pytestmark = pytest.mark.anyio

ISSUER = "https://as.example"
TOKEN_URL = "https://as.example/token"
NOW = 1_700_000_000.0
KEY = RSAKey.generate_key(2048, private=True)
SIGNATURE_KEY = "SENTINEL-signature-key-77"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        self.now += 1.0  # every reading a second later: every assertion a new iat
        return self.now


class Server:
    """A token endpoint that answers each request with the next of ``answers`` and keeps
    what it was sent."""

    def __init__(self, http_module: ModuleType, answers: list[Any]) -> None:
        self.module = http_module
        self.answers = answers
        self.seen: list[Any] = []

    async def __call__(self, request: Any) -> Any:
        await anyio.lowlevel.checkpoint()
        self.seen.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def forms(self) -> list[dict[str, list[str]]]:
        return [parse_qs(request.content.decode()) for request in self.seen]


def ok(http_module: ModuleType) -> Any:
    return http_module.Response(200, json={"access_token": "at", "token_type": "Bearer"})


async def fetch(http_module: ModuleType, strategy: anyoauth.Strategy, server: Server) -> Any:
    policy = anyoauth.RetryPolicy(sleep=lambda _seconds: anyio.lowlevel.checkpoint())
    transport = http_module.MockTransport(server)
    async with http_module.AsyncClient(transport=transport) as http:
        client = anyoauth.Client(strategy, http=http, clock=Clock(), retries=policy)
        return await client.token()


async def test_no_signed_assertion_is_sent_twice_across_retries(http_module: ModuleType) -> None:
    server = Server(
        http_module,
        [
            http_module.Response(503),
            http_module.ConnectError("refused"),
            ok(http_module),
        ],
    )
    strategy = ClientCredentials(
        client_id="svc",
        token_endpoint=TOKEN_URL,
        issuer=ISSUER,
        client_auth=PrivateKeyJwt(key=KEY.as_dict(private=True)),
    )
    await fetch(http_module, strategy, server)
    assertions = [form["client_assertion"][0] for form in server.forms()]
    assert len(assertions) == 3
    claims = [jwt.decode(a, KEY).claims for a in assertions]
    assert len({c["jti"] for c in claims}) == 3
    assert {c["aud"] for c in claims} == {ISSUER}
    assert len({c["iat"] for c in claims}) == 3


async def test_one_basic_method_shared_by_two_clients_sends_each_its_own_id(
    http_module: ModuleType,
) -> None:
    shared = ClientSecretBasic("SENTINEL-shared-secret")
    sent: list[str] = []
    for client_id in ("first", "second", "first"):
        server = Server(http_module, [ok(http_module)])
        strategy = ClientCredentials(
            client_id=client_id, token_endpoint=TOKEN_URL, client_auth=shared
        )
        await fetch(http_module, strategy, server)
        header = server.seen[0].headers["authorization"]
        sent.append(base64.b64decode(header.split()[1]).decode().partition(":")[0])
    assert sent == ["first", "second", "first"]


async def test_an_echoed_secret_of_a_method_of_ones_own_never_reaches_the_error(
    http_module: ModuleType,
) -> None:
    async def echo(request: Any) -> Any:
        await anyio.lowlevel.checkpoint()
        signature = request.headers["x-signature"]
        body = {"error": "invalid_client", "error_description": f"bad signature {signature}"}
        return http_module.Response(401, content=json.dumps(body).encode())

    strategy = ClientCredentials(
        client_id="svc", token_endpoint=TOKEN_URL, client_auth=SignedHeader(SIGNATURE_KEY)
    )
    transport = http_module.MockTransport(echo)
    async with http_module.AsyncClient(transport=transport) as http:
        client = anyoauth.Client(strategy, http=http, clock=Clock())
        with pytest.raises(TokenRequestError) as info:
            await client.token()
    shown = str(info.value) + repr(info.value) + str(info.value.error_description)
    assert "bad signature" in shown
    assert SIGNATURE_KEY not in shown
