"""DPoP (RFC 9449) from the client's side: a fresh proof on every request to the
authorization server and with every use of a bound token, server nonces answered once,
and a bound token that is never sent as a bearer token nor used without its key."""

from __future__ import annotations

import base64
import hashlib
import json
import warnings
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jws
from joserfc.jwk import JWKRegistry

import anyoauth
from anyoauth import AuthorizationCode, Client, ClientCredentials, DPoPKey, MemoryStore, Token
from anyoauth.testing import OAUTH_API_PATH, ManualClock, OAuthEndpoints, ProviderEmulator, browse

from .helpers import BASE, EMULATED_SECRET, LOOPBACK_REDIRECT, web_app

pytestmark = pytest.mark.anyio

TOKEN_URL = "https://as.example/token"
REVOKE_URL = "https://as.example/revoke"
API = "https://api.example/data?page=2#top"
NOW = 1_700_000_000.0


class _Verifier(jws.JWSRegistry):
    max_header_length = 4096


def proof_of(request: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The DPoP proof a request carries: header and claims, signature checked with the
    key the proof names."""
    values = request.headers.get_list("dpop")
    assert len(values) == 1, "exactly one DPoP header"
    proof = values[0]
    header = json.loads(base64.urlsafe_b64decode(proof.split(".")[0] + "=="))
    key = JWKRegistry.import_key(header["jwk"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        verified = jws.deserialize_compact(
            proof, key, registry=_Verifier(algorithms=[header["alg"]])
        )
    return header, json.loads(verified.payload)


def ath(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def json_answer(module: ModuleType, status: int, payload: dict[str, Any], **headers: str) -> Any:
    return module.Response(
        status,
        json=payload,
        headers={k.replace("_", "-"): v for k, v in headers.items()},
    )


class DPoPServer:
    """A token endpoint and API that check proofs the way RFC 9449 asks, with a nonce
    they may demand, and that record what they saw."""

    def __init__(self, module: ModuleType, *, nonce: str | None = None) -> None:
        self.module = module
        self.nonce = nonce
        self.token_requests: list[Any] = []
        self.api_requests: list[Any] = []
        self.jtis: set[str] = set()
        self.issued = 0
        self.token_type = "DPoP"
        self.bound: dict[str, str] = {}
        self.api_nonce: str | None = None
        self.api_challenges_left = 0

    def _check(self, request: Any, access_token: str | None) -> dict[str, Any]:
        header, claims = proof_of(request)
        assert header["typ"] == "dpop+jwt"
        assert claims["jti"] not in self.jtis, "a proof is never reused"
        self.jtis.add(claims["jti"])
        assert claims["htm"] == request.method
        url = urlsplit(str(request.url))
        assert claims["htu"] == f"{url.scheme}://{url.netloc}{url.path}"
        if access_token is None:
            assert "ath" not in claims
        else:
            assert claims["ath"] == ath(access_token)
        claims["jkt"] = JWKRegistry.import_key(header["jwk"]).thumbprint()
        return claims

    def __call__(self, request: Any) -> Any:
        if request.url.host == "api.example":
            return self.api(request)
        self.token_requests.append(request)
        if "dpop" not in request.headers:  # a bearer token for a client without a key
            self.issued += 1
            return json_answer(
                self.module,
                200,
                {"access_token": f"AT-{self.issued}", "token_type": "Bearer", "expires_in": 60},
            )
        claims = self._check(request, None)
        if self.nonce is not None and claims.get("nonce") != self.nonce:
            return json_answer(
                self.module,
                400,
                {"error": "use_dpop_nonce", "error_description": "nonce needed"},
                DPoP_Nonce=self.nonce,
            )
        if request.url.path == "/revoke":
            return self.module.Response(200)
        self.issued += 1
        access = f"AT-{self.issued}"
        self.bound[access] = claims["jkt"]
        return json_answer(
            self.module,
            200,
            {
                "access_token": access,
                "token_type": self.token_type,
                "expires_in": 3600,
                "refresh_token": f"RT-{self.issued}",
            },
        )

    def api(self, request: Any) -> Any:
        self.api_requests.append(request)
        scheme, _, access = request.headers["authorization"].partition(" ")
        if scheme != "DPoP" or "dpop" not in request.headers:
            return self.module.Response(
                401, headers={"WWW-Authenticate": 'DPoP error="invalid_token"'}
            )
        claims = self._check(request, access)
        if claims["jkt"] != self.bound.get(access):
            return self.module.Response(
                401, headers={"WWW-Authenticate": 'DPoP error="invalid_token"'}
            )
        if self.api_nonce is not None and (
            claims.get("nonce") != self.api_nonce or self.api_challenges_left > 0
        ):
            self.api_challenges_left = max(0, self.api_challenges_left - 1)
            return self.module.Response(
                401,
                headers={
                    "WWW-Authenticate": 'DPoP error="use_dpop_nonce", algs="ES256"',
                    "DPoP-Nonce": self.api_nonce,
                },
            )
        return self.module.Response(200, json={"ok": True})


def service(key: DPoPKey | None, **settings: Any) -> ClientCredentials:
    values: dict[str, Any] = {
        "client_id": "svc",
        "client_secret": "s3cret-SENTINEL",
        "token_endpoint": TOKEN_URL,
        "revocation_endpoint": REVOKE_URL,
        "dpop_key": key,
    }
    values.update(settings)
    return ClientCredentials(**values)


@pytest.fixture
def key() -> DPoPKey:
    return DPoPKey.generate()


async def test_the_token_request_carries_a_proof_and_the_bound_token_goes_with_one(
    http_module: ModuleType, key: DPoPKey
) -> None:
    server = DPoPServer(http_module)
    clock = ManualClock(NOW)
    async with http_module.AsyncClient(transport=http_module.MockTransport(server)) as http:
        client = Client(service(key), http=http, clock=clock)
        token = await client.token()
        assert token.token_type == "DPoP"
        assert token.dpop_jkt == key.thumbprint
        _, claims = proof_of(server.token_requests[0])
        assert claims["htm"] == "POST"
        assert claims["htu"] == TOKEN_URL
        assert claims["iat"] == int(NOW)
        async with http_module.AsyncClient(
            transport=http_module.MockTransport(server), auth=client.auth(http_module)
        ) as api:
            response = await api.post(API, content=b"x")
    assert response.status_code == 200
    sent = server.api_requests[0]
    assert sent.headers["authorization"] == f"DPoP {token.access_token}"
    _, claims = proof_of(sent)
    assert claims["htu"] == "https://api.example/data"  # no query, no fragment
    assert claims["ath"] == ath(token.access_token)


async def test_a_server_nonce_is_answered_with_one_retry_and_remembered(
    http_module: ModuleType, key: DPoPKey
) -> None:
    server = DPoPServer(http_module, nonce="n-1")
    clock = ManualClock(NOW)
    async with http_module.AsyncClient(transport=http_module.MockTransport(server)) as http:
        client = Client(service(key), http=http, clock=clock)
        await client.token()
        assert len(server.token_requests) == 2
        assert "nonce" not in proof_of(server.token_requests[0])[1]
        assert proof_of(server.token_requests[1])[1]["nonce"] == "n-1"
        # The next request to the same server carries the nonce from the start.
        await client.revoke()
    assert len(server.token_requests) == 4  # revoke: refresh token, then access token
    assert all(proof_of(r)[1]["nonce"] == "n-1" for r in server.token_requests[2:])
    assert key.nonce_for(TOKEN_URL) == "n-1"


async def test_a_server_that_keeps_asking_for_a_nonce_gets_one_retry(
    http_module: ModuleType, key: DPoPKey
) -> None:
    answers: list[Any] = []

    def always_challenge(request: Any) -> Any:
        answers.append(request)
        return json_answer(
            http_module, 400, {"error": "use_dpop_nonce"}, DPoP_Nonce=f"n-{len(answers)}"
        )

    async with http_module.AsyncClient(
        transport=http_module.MockTransport(always_challenge)
    ) as http:
        client = Client(service(key), http=http, clock=ManualClock(NOW))
        with pytest.raises(anyoauth.TokenRequestError) as caught:
            await client.token()
    assert caught.value.error == "use_dpop_nonce"
    assert len(answers) == 2
    assert proof_of(answers[1])[1]["nonce"] == "n-1"


async def test_a_hostile_nonce_is_never_put_in_a_proof(
    http_module: ModuleType, key: DPoPKey
) -> None:
    sent: list[Any] = []

    def hostile(request: Any) -> Any:
        sent.append(request)
        return json_answer(
            http_module, 400, {"error": "use_dpop_nonce"}, DPoP_Nonce='a"b' + "x" * 10
        )

    async with http_module.AsyncClient(transport=http_module.MockTransport(hostile)) as http:
        client = Client(service(key), http=http, clock=ManualClock(NOW))
        with pytest.raises(anyoauth.TokenRequestError):
            await client.token()
    assert all("nonce" not in proof_of(request)[1] for request in sent)
    key.remember_nonce(TOKEN_URL, "n" * 2000)
    assert key.nonce_for(TOKEN_URL) is None


async def test_every_retry_carries_a_new_proof(http_module: ModuleType, key: DPoPKey) -> None:
    server = DPoPServer(http_module)
    seen: list[Any] = []

    def flaky(request: Any) -> Any:
        seen.append(request)
        if len(seen) == 1:
            return http_module.Response(503)
        return server(request)

    async with http_module.AsyncClient(transport=http_module.MockTransport(flaky)) as http:
        client = Client(
            service(key),
            http=http,
            clock=ManualClock(NOW),
            retries=anyoauth.RetryPolicy(backoff=0.0),
        )
        await client.token()
    jtis = {proof_of(request)[1]["jti"] for request in seen}
    assert len(seen) == 2
    assert len(jtis) == 2


async def test_a_resource_server_nonce_is_answered_once_without_a_new_token(
    http_module: ModuleType, key: DPoPKey
) -> None:
    server = DPoPServer(http_module)
    server.api_nonce = "rs-1"
    async with http_module.AsyncClient(transport=http_module.MockTransport(server)) as http:
        client = Client(service(key), http=http, clock=ManualClock(NOW))
        async with http_module.AsyncClient(
            transport=http_module.MockTransport(server), auth=client.auth(http_module)
        ) as api:
            assert (await api.get(API)).status_code == 200
            assert len(server.api_requests) == 2
            assert proof_of(server.api_requests[1])[1]["nonce"] == "rs-1"
            # Remembered for that server: the next call needs no challenge.
            assert (await api.get(API)).status_code == 200
            assert len(server.api_requests) == 3
            # A server that asks again right after: one retry, then its answer.
            server.api_challenges_left = 2
            response = await api.get(API)
    assert response.status_code == 401
    assert len(server.api_requests) == 5
    assert server.issued == 1  # a nonce challenge is no reason for a new token


async def test_the_authorization_request_names_the_key(key: DPoPKey) -> None:
    strategy = AuthorizationCode(
        client_id="web",
        authorization_endpoint="https://as.example/authorize",
        token_endpoint=TOKEN_URL,
        redirect_uri="https://app.example/cb",
        dpop_key=key,
    )
    async with Client(strategy) as client:
        start = await client.begin()
    query = parse_qs(urlsplit(start.url).query)
    assert query["dpop_jkt"] == [key.thumbprint]


async def test_a_dpop_token_is_refused_without_a_key(http_module: ModuleType) -> None:
    def answer(request: Any) -> Any:
        assert "dpop" not in request.headers
        return json_answer(
            http_module, 200, {"access_token": "AT", "token_type": "DPoP", "expires_in": 60}
        )

    async with http_module.AsyncClient(transport=http_module.MockTransport(answer)) as http:
        client = Client(service(None), http=http, clock=ManualClock(NOW))
        with pytest.raises(anyoauth.InvalidResponse):
            await client.token()
        assert client.fresh_token() is None


async def test_a_bearer_token_with_a_key_is_sent_as_a_bearer_token_without_a_proof(
    http_module: ModuleType, key: DPoPKey
) -> None:
    server = DPoPServer(http_module)
    server.token_type = "Bearer"
    seen: list[Any] = []

    def api(request: Any) -> Any:
        seen.append(request)
        return http_module.Response(200)

    async with http_module.AsyncClient(transport=http_module.MockTransport(server)) as http:
        client = Client(service(key), http=http, clock=ManualClock(NOW))
        token = await client.token()
        assert token.token_type == "Bearer"
        assert token.dpop_jkt is None
        async with http_module.AsyncClient(
            transport=http_module.MockTransport(api), auth=client.auth(http_module)
        ) as other:
            await other.get(API)
    assert seen[0].headers["authorization"] == f"Bearer {token.access_token}"
    assert "dpop" not in seen[0].headers


async def test_a_stored_token_bound_to_another_key_is_not_used(
    http_module: ModuleType, key: DPoPKey, caplog: pytest.LogCaptureFixture
) -> None:
    server = DPoPServer(http_module)
    store = MemoryStore()
    async with http_module.AsyncClient(transport=http_module.MockTransport(server)) as http:
        first = Client(service(key), store, http=http, clock=ManualClock(NOW))
        shared = await first.token()
        same_key = Client(
            service(DPoPKey.load(key.private_jwk())), store, http=http, clock=ManualClock(NOW)
        )
        assert (await same_key.token()).access_token == shared.access_token
        other_key = Client(service(DPoPKey.generate()), store, http=http, clock=ManualClock(NOW))
        fresh = await other_key.token()
        no_key = Client(service(None), store, http=http, clock=ManualClock(NOW))
        bearer = await no_key.token()
    assert "bound to a DPoP key this client does not hold" in caplog.text
    assert fresh.access_token != shared.access_token
    assert fresh.dpop_jkt != shared.dpop_jkt
    assert bearer.token_type == "Bearer"
    assert server.issued == 3


def test_the_bound_key_survives_a_store() -> None:
    token = Token(
        access_token="AT", token_type="DPoP", issued_at=NOW, expires_at=NOW + 60, dpop_jkt="jkt-1"
    )
    assert Token.from_dict(token.to_dict()).dpop_jkt == "jkt-1"
    old = token.to_dict()
    del old["dpop_jkt"]
    assert Token.from_dict(old).dpop_jkt is None


def test_a_strategy_refuses_a_dpop_key_of_another_kind() -> None:
    with pytest.raises(anyoauth.ConfigurationError, match="DPoPKey"):
        service({"kty": "EC"})  # type: ignore[arg-type]


async def test_a_proof_by_hand_carries_the_token_hash_and_the_nonce(
    http_module: ModuleType, key: DPoPKey
) -> None:
    client = Client(service(key), clock=ManualClock(NOW))
    token = Token(access_token="AT-x", token_type="DPoP", issued_at=NOW)
    client.remember_dpop_nonce("https://api.example/other", "n-9")

    class Carrier:
        headers = http_module.Headers({"DPoP": client.dpop_proof("get", API, token=token)})

    _, claims = proof_of(Carrier)
    assert claims["htm"] == "GET"
    assert claims["ath"] == ath("AT-x")
    assert claims["nonce"] == "n-9"
    without = Client(service(None))
    with pytest.raises(anyoauth.ConfigurationError):
        without.dpop_proof("GET", API)
    await client.aclose()


def test_from_metadata_refuses_a_key_the_server_does_not_take() -> None:
    metadata = anyoauth.ServerMetadata.from_dict(
        {
            "issuer": "https://as.example",
            "token_endpoint": TOKEN_URL,
            "dpop_signing_alg_values_supported": ["ES256", "EdDSA"],
        },
        issuer="https://as.example",
    )
    assert metadata.dpop_signing_alg_values_supported == ("ES256", "EdDSA")
    for algorithm in ("ES256", "EdDSA", "Ed25519"):
        key = DPoPKey.generate(algorithm)
        strategy = ClientCredentials.from_metadata(metadata, client_id="c", dpop_key=key)
        assert strategy.dpop_key is key
    with pytest.raises(anyoauth.ConfigurationError, match="PS256"):
        ClientCredentials.from_metadata(metadata, client_id="c", dpop_key=DPoPKey.generate("PS256"))
    silent = anyoauth.ServerMetadata.from_dict(
        {"issuer": "https://as.example", "token_endpoint": TOKEN_URL}, issuer="https://as.example"
    )
    key = DPoPKey.generate("PS256")
    assert ClientCredentials.from_metadata(silent, client_id="c", dpop_key=key).dpop_key is key


# -- against the emulator's strict server ----------------------------------------------------


async def test_a_public_code_flow_client_keeps_its_bound_tokens_fresh(
    emulator: ProviderEmulator, http: Any, clock: ManualClock, http_module: ModuleType
) -> None:
    """dpop_jkt binds the code, the bound refresh token renews with the same key, and
    a rotating server nonce is followed at both servers."""
    emulator.add_oauth_client(
        "native",
        redirect_uris=[LOOPBACK_REDIRECT],
        auth_method="none",
        grant_types=["authorization_code", "refresh_token"],
    )
    emulator.oauth_dpop_nonce = True
    emulator.oauth_dpop_nonce_rotates = True
    key = DPoPKey.generate("EdDSA")
    strategy = await web_app(http, client_id="native", client_secret=None, dpop_key=key)
    async with Client(strategy, http=http, clock=clock) as client:
        start = await client.begin()
        assert parse_qs(urlsplit(start.url).query)["dpop_jkt"] == [key.thumbprint]
        first = await client.complete(await browse(http, start.url))
        assert first.token_type == "DPoP"
        assert emulator.oauth_token_jkt(first.access_token) == key.thumbprint
        async with http_module.AsyncClient(
            transport=emulator.mock_transport(http_module), auth=client.auth(http_module)
        ) as api:
            assert (await api.get(BASE + OAUTH_API_PATH)).status_code == 200
            clock.advance(3600)
            assert (await api.get(BASE + OAUTH_API_PATH)).status_code == 200
        second = await client.token()
    assert second.access_token != first.access_token
    assert second.token_type == "DPoP"
    assert emulator.oauth_token_jkt(second.access_token) == key.thumbprint


async def test_the_emulator_refuses_the_bound_token_without_the_proof(
    emulator: ProviderEmulator, http: Any, clock: ManualClock, endpoints: OAuthEndpoints
) -> None:
    key = DPoPKey.generate()
    strategy = ClientCredentials(
        client_id="service",
        client_secret=EMULATED_SECRET,
        token_endpoint=endpoints["token_endpoint"],
        dpop_key=key,
    )
    async with Client(strategy, http=http, clock=clock) as client:
        token = await client.token()
    answer = await http.get(
        BASE + OAUTH_API_PATH, headers={"Authorization": f"Bearer {token.access_token}"}
    )
    assert answer.status_code == 401
    assert 'error="invalid_token"' in answer.headers["www-authenticate"]
