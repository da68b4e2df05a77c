"""Attacks on the client's DPoP: its private key never shows, no proof is ever sent twice,
a server cannot make it loop or put its own text in a proof, an echoed proof never
reaches an error, and a bound token never leaves without a proof of its key."""

from __future__ import annotations

import base64
import json
import logging
import traceback
from types import ModuleType
from typing import Any

import pytest

import anyoauth
from anyoauth import Client, ClientCredentials, DPoPKey, MemoryStore, Token
from anyoauth.testing import ManualClock

pytestmark = pytest.mark.anyio

TOKEN_URL = "https://as.example/token"
API = "https://api.example/data"
NOW = 1_700_000_000.0


def claims_of(request: Any) -> dict[str, Any]:
    proof = request.headers["dpop"]
    payload = proof.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "==")))


def strategy(key: DPoPKey | None) -> ClientCredentials:
    return ClientCredentials(
        client_id="svc",
        client_secret="s3cret-SENTINEL",
        token_endpoint=TOKEN_URL,
        introspection_endpoint="https://as.example/introspect",
        revocation_endpoint="https://as.example/revoke",
        dpop_key=key,
    )


def private_parts(key: DPoPKey) -> list[str]:
    jwk = key.private_jwk()
    return [jwk[name] for name in ("d", "p", "q", "dp", "dq", "qi") if name in jwk]


async def test_the_private_key_never_shows_in_reprs_logs_or_errors(
    http_module: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    key = DPoPKey.generate()
    secret_parts = private_parts(key)
    assert secret_parts

    def refuse(request: Any) -> Any:
        return http_module.Response(400, json={"error": "invalid_client"})

    caplog.set_level(logging.DEBUG, logger="anyoauth")
    async with http_module.AsyncClient(transport=http_module.MockTransport(refuse)) as http:
        client = Client(strategy(key), http=http, clock=ManualClock(NOW))
        with pytest.raises(anyoauth.TokenRequestError) as caught:
            await client.token()
    shown = "\n".join(
        [
            repr(key),
            str(key),
            repr(client.strategy),
            repr(client),
            caplog.text,
            "".join(traceback.format_exception(caught.value)),
            repr(caught.value.__dict__),
        ]
    )
    for part in secret_parts:
        assert part not in shown


async def test_no_proof_is_sent_twice(http_module: ModuleType) -> None:
    """Across retries, nonce challenges, renewals and API calls, every proof is new."""
    key = DPoPKey.generate()
    proofs: list[str] = []
    issued = 0

    def server(request: Any) -> Any:
        nonlocal issued
        proofs.append(request.headers["dpop"])
        if request.url.host == "api.example":
            if len(proofs) % 3 == 0:
                return http_module.Response(
                    401,
                    headers={
                        "WWW-Authenticate": 'DPoP error="use_dpop_nonce"',
                        "DPoP-Nonce": f"rs-{len(proofs)}",
                    },
                )
            return http_module.Response(200)
        if len(proofs) % 4 == 1:
            return http_module.Response(503)
        if len(proofs) % 4 == 2:
            return http_module.Response(
                400, json={"error": "use_dpop_nonce"}, headers={"DPoP-Nonce": f"n-{len(proofs)}"}
            )
        issued += 1
        return http_module.Response(
            200, json={"access_token": f"AT-{issued}", "token_type": "DPoP", "expires_in": 60}
        )

    clock = ManualClock(NOW)
    transport = http_module.MockTransport(server)
    async with http_module.AsyncClient(transport=transport) as http:
        client = Client(
            strategy(key), http=http, clock=clock, retries=anyoauth.RetryPolicy(backoff=0.0)
        )
        async with http_module.AsyncClient(transport=transport, auth=client.auth()) as api:
            for _ in range(5):
                for _ in range(4):
                    await api.get(API)
                clock.advance(61)
    assert issued == 5
    assert len(proofs) > 30
    assert len(set(proofs)) == len(proofs)
    assert len({claims_of_text(proof)["jti"] for proof in proofs}) == len(proofs)


def claims_of_text(proof: str) -> dict[str, Any]:
    return dict(json.loads(base64.urlsafe_b64decode(proof.split(".")[1] + "==")))


async def test_a_server_that_always_asks_for_a_nonce_gets_two_requests(
    http_module: ModuleType,
) -> None:
    key = DPoPKey.generate()
    seen: list[Any] = []

    def server(request: Any) -> Any:
        seen.append(request)
        return http_module.Response(
            400, json={"error": "use_dpop_nonce"}, headers={"DPoP-Nonce": f"n{len(seen)}"}
        )

    async with http_module.AsyncClient(transport=http_module.MockTransport(server)) as http:
        client = Client(strategy(key), http=http, clock=ManualClock(NOW))
        with pytest.raises(anyoauth.TokenRequestError):
            await client.token()
        with pytest.raises(anyoauth.ProviderError):
            await client.introspect("some-token")
    assert len(seen) == 4  # two for the token, two for the introspection


@pytest.mark.parametrize(
    "nonce",
    [
        'a"b',
        "a\\b",
        "a b",
        "caf\u00e9",
        "\x00x",
        "x\r\nInjected: 1",
        "n" * 1025,
        "",
    ],
    ids=["quote", "backslash", "space", "non-ascii", "nul", "crlf", "oversized", "empty"],
)
async def test_a_hostile_nonce_never_reaches_a_proof(http_module: ModuleType, nonce: str) -> None:
    key = DPoPKey.generate()
    seen: list[Any] = []

    def server(request: Any) -> Any:
        seen.append(request)
        return http_module.Response(
            400,
            json={"error": "use_dpop_nonce"},
            headers=[(b"DPoP-Nonce", nonce.encode("utf-8"))],
        )

    async with http_module.AsyncClient(transport=http_module.MockTransport(server)) as http:
        client = Client(strategy(key), http=http, clock=ManualClock(NOW))
        with pytest.raises(anyoauth.TokenRequestError):
            await client.token()
    assert key.nonce_for(TOKEN_URL) is None
    assert all("nonce" not in claims_of(request) for request in seen)


async def test_an_echoed_proof_never_reaches_the_error(http_module: ModuleType) -> None:
    key = DPoPKey.generate()

    def echo(request: Any) -> Any:
        proof = request.headers["dpop"]
        return http_module.Response(
            400, json={"error": "invalid_dpop_proof", "error_description": f"bad proof {proof}"}
        )

    async with http_module.AsyncClient(transport=http_module.MockTransport(echo)) as http:
        client = Client(strategy(key), http=http, clock=ManualClock(NOW))
        with pytest.raises(anyoauth.TokenRequestError) as caught:
            await client.token()
    text = "".join(traceback.format_exception(caught.value))
    assert "bad proof" in text
    assert "eyJ" not in text  # no part of the JWT


async def test_a_bound_token_never_leaves_without_its_key(http_module: ModuleType) -> None:
    """A DPoP token in a store read by a client without the key is never sent: not to
    the API, not to be introspected, not to be revoked."""
    seen: list[Any] = []

    def server(request: Any) -> Any:
        seen.append(request)
        return http_module.Response(
            200, json={"access_token": "AT-bearer", "token_type": "Bearer", "expires_in": 60}
        )

    store = MemoryStore()
    client_without_key = Client(strategy(None), store, clock=ManualClock(NOW))
    bound = Token(
        access_token="AT-bound-SENTINEL",
        token_type="DPoP",
        issued_at=NOW,
        expires_at=NOW + 600,
        refresh_token="RT-bound-SENTINEL",
        dpop_jkt=DPoPKey.generate().thumbprint,
    )
    await store.set_token(client_without_key.token_key, bound)
    async with http_module.AsyncClient(transport=http_module.MockTransport(server)) as http:
        client = Client(strategy(None), store, http=http, clock=ManualClock(NOW))
        with pytest.raises(anyoauth.LoginRequired):
            await client.introspect()
        await client.revoke()
        await store.set_token(client.token_key, bound)
        async with http_module.AsyncClient(
            transport=http_module.MockTransport(server), auth=client.auth()
        ) as api:
            await api.get(API)
    assert [r.url.path for r in seen] == ["/token", "/data"]
    for request in seen:
        sent = request.headers.get("authorization", "") + request.content.decode()
        assert "AT-bound-SENTINEL" not in sent
        assert "RT-bound-SENTINEL" not in sent
