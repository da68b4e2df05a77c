"""On-demand refresh, introspection hints and id_token algorithms under attack
(docs/security.md, rule 28).

A server's ``id_token_signing_alg_values_supported`` only narrows what anyoauth accepts:
``none`` and HMAC are never taken from it, and a forged id_token signed so is refused; the
FAPI 2.0 profile narrows it further. An id_token leeway outside 0..600 s is refused. A
storm of explicit refreshes, from many callers of clients sharing a store, sends one
refresh, and a cancelled one still stores the rotated refresh token. A hint that is not
one of RFC 7662's is refused before anything is sent.
"""

from __future__ import annotations

import json
import math
from types import ModuleType
from typing import Any

import anyio
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

import anyoauth
from anyoauth import AuthorizationCode, ConfigurationError, InvalidIdToken, ServerMetadata

from .test_fapi2_downgrade import configure, document

pytestmark = pytest.mark.anyio

ISSUER = "https://as.example"
TOKEN = ISSUER + "/token"
NOW = 1_800_000_000


def _metadata(algorithms: list[str]) -> ServerMetadata:
    return ServerMetadata.from_dict(
        {
            "issuer": ISSUER,
            "authorization_endpoint": ISSUER + "/authorize",
            "token_endpoint": TOKEN,
            "jwks_uri": ISSUER + "/jwks",
            "id_token_signing_alg_values_supported": algorithms,
        },
        issuer=ISSUER,
    )


def _strategy(metadata: ServerMetadata, **settings: Any) -> AuthorizationCode:
    return AuthorizationCode.from_metadata(
        metadata,
        client_id="app",
        client_secret="secret-SENTINEL-0123456789",
        redirect_uri="https://app.example/cb",
        **settings,
    )


def _b64(data: dict[str, Any]) -> str:
    from base64 import urlsafe_b64encode

    return urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


CLAIMS = {"iss": ISSUER, "sub": "user", "aud": "app", "exp": NOW + 300, "iat": NOW}


@pytest.mark.parametrize(
    ("listed", "taken"),
    [
        (["none"], None),
        (["HS256", "HS384", "HS512"], None),
        (["none", "HS256", "RS256"], ("RS256",)),
        (["RS256", "none", "RS256", "hs256", "RSA-OAEP"], ("RS256",)),
    ],
    ids=["none", "hmac", "none-hmac-rs256", "junk"],
)
def test_a_server_listing_none_or_hmac_never_makes_them_accepted(
    listed: list[str], taken: tuple[str, ...] | None
) -> None:
    algorithms = _strategy(_metadata(listed)).id_token_algorithms
    assert "none" not in algorithms
    assert not any(a.upper().startswith("HS") for a in algorithms)
    assert algorithms == (taken or ("RS256", "PS256", "ES256", "EdDSA"))


@pytest.mark.parametrize("forgery", ["none", "hs256-with-the-public-key"])
def test_a_forged_id_token_is_refused_whatever_the_server_lists(forgery: str) -> None:
    key = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
    public = key.as_dict(private=False)
    jwks = {"keys": [public]}
    strategy = _strategy(_metadata(["none", "HS256", "RS256"]))
    if forgery == "none":
        token = f"{_b64({'alg': 'none', 'kid': 'k1'})}.{_b64(CLAIMS)}."
    else:
        secret = OctKey.import_key(json.dumps(public).encode())
        token = jwt.encode({"alg": "HS256", "kid": "k1"}, CLAIMS, secret, algorithms=["HS256"])
    with pytest.raises(InvalidIdToken):
        strategy.validate_id_token(token, jwks=jwks, now=NOW, nonce=None)
    honest = jwt.encode({"alg": "RS256", "kid": "k1"}, CLAIMS, key, algorithms=["RS256"])
    assert strategy.validate_id_token(honest, jwks=jwks, now=NOW, nonce=None)["sub"] == "user"


def test_the_fapi2_profile_narrows_the_servers_list() -> None:
    listed = ["RS256", "HS256", "none", "EdDSA"]
    metadata = ServerMetadata.from_dict(
        document(id_token_signing_alg_values_supported=listed), issuer="https://bank.example"
    )
    assert configure(metadata).id_token_algorithms == ("EdDSA",)


def test_a_server_listing_only_rs256_leaves_the_fapi2_defaults() -> None:
    metadata = ServerMetadata.from_dict(
        document(id_token_signing_alg_values_supported=["RS256"]), issuer="https://bank.example"
    )
    assert "RS256" not in configure(metadata).id_token_algorithms


@pytest.mark.parametrize(
    "leeway", [-1, -0.001, 600.5, 86_400, math.inf, -math.inf, math.nan, True, "60", None]
)
def test_a_leeway_outside_its_bounds_is_refused(leeway: Any) -> None:
    with pytest.raises(ConfigurationError, match="id_token_leeway"):
        _strategy(_metadata([]), id_token_leeway=leeway)


def test_the_leeway_is_held_to_when_validating() -> None:
    key = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
    jwks = {"keys": [key.as_dict(private=False)]}
    late = {**CLAIMS, "exp": NOW - 61}
    token = jwt.encode({"alg": "RS256", "kid": "k1"}, late, key, algorithms=["RS256"])
    for leeway in (0, 60):
        strategy = _strategy(_metadata(["RS256"]), id_token_leeway=leeway)
        with pytest.raises(InvalidIdToken, match="exp"):
            strategy.validate_id_token(token, jwks=jwks, now=NOW, nonce=None)
    lenient = _strategy(_metadata(["RS256"]), id_token_leeway=62)
    assert lenient.validate_id_token(token, jwks=jwks, now=NOW, nonce=None)["sub"] == "user"


def _rotating_server(module: ModuleType, sent: list[str], delay: float = 0.05) -> Any:
    async def handler(request: Any) -> Any:
        sent.append(request.content.decode())
        await anyio.sleep(delay)
        n = len(sent)
        body = {"access_token": f"AT{n}", "refresh_token": f"RT{n}", "expires_in": 3600}
        return module.Response(
            200, content=json.dumps(body).encode(), headers={"content-type": "application/json"}
        )

    return module.AsyncClient(transport=module.MockTransport(handler))


def _code_strategy() -> AuthorizationCode:
    return AuthorizationCode(
        client_id="app",
        client_secret="secret-SENTINEL-0123456789",
        authorization_endpoint=ISSUER + "/authorize",
        token_endpoint=TOKEN,
        redirect_uri="https://app.example/cb",
    )


async def test_an_explicit_refresh_storm_sends_one_request(http_module: ModuleType) -> None:
    sent: list[str] = []
    store = anyoauth.MemoryStore()
    first = anyoauth.Token(access_token="AT0", refresh_token="RT0", issued_at=0.0, expires_at=9e9)
    async with _rotating_server(http_module, sent) as http:
        clients = [anyoauth.Client(_code_strategy(), store, http=http) for _ in range(3)]
        await clients[0].set_token(first)
        for client in clients[1:]:
            assert await client.token() == first
        got: list[anyoauth.Token] = []

        async def refresh(client: anyoauth.Client) -> None:
            got.append(await client.refresh())

        async def rejected(client: anyoauth.Client) -> None:
            got.append(await client.token(rejected=first))

        async with anyio.create_task_group() as group:
            for i in range(60):
                group.start_soon(refresh if i % 3 else rejected, clients[i % 3])
    assert len(sent) == 1
    assert "RT0" in sent[0]
    assert {t.access_token for t in got} == {"AT1"}
    assert (await store.get_token(clients[0].token_key)) == got[0]


async def test_a_cancelled_explicit_refresh_keeps_the_rotated_refresh_token(
    http_module: ModuleType,
) -> None:
    sent: list[str] = []
    store = anyoauth.MemoryStore()
    first = anyoauth.Token(access_token="AT0", refresh_token="RT0", issued_at=0.0, expires_at=9e9)
    async with _rotating_server(http_module, sent, delay=0.2) as http:
        client = anyoauth.Client(_code_strategy(), store, http=http)
        await client.set_token(first)
        with anyio.move_on_after(0.05):
            await client.refresh()
        assert len(sent) == 1  # the request reached the server, which rotated RT0
        stored = await store.get_token(client.token_key)
        assert stored is not None
        assert stored.refresh_token == "RT1"


async def test_an_unknown_introspection_hint_sends_nothing(http_module: ModuleType) -> None:
    sent: list[str] = []
    strategy = AuthorizationCode(
        client_id="app",
        client_secret="secret-SENTINEL-0123456789",
        authorization_endpoint=ISSUER + "/authorize",
        token_endpoint=TOKEN,
        introspection_endpoint=ISSUER + "/introspect",
        redirect_uri="https://app.example/cb",
    )
    token = anyoauth.Token(access_token="AT", refresh_token="RT-SENTINEL", issued_at=0.0)
    async with _rotating_server(http_module, sent) as http:
        client = anyoauth.Client(strategy, http=http)
        for hint in ("refresh_token\r\nX: y", "id_token", "refresh_token ", 1):
            with pytest.raises(ConfigurationError) as caught:
                await client.introspect(token, token_type_hint=hint)  # type: ignore[arg-type]
            assert "RT-SENTINEL" not in str(caught.value)
    assert sent == []
