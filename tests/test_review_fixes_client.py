"""Regressions of the client review: deadlines, revocation, logout races, device polls,
discovery fallbacks and the store lock's ttl."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs

import anyio
import anyio.abc
import anyio.lowlevel
import pytest

import anyoauth
from support.internals import LOCK_SENDS, set_default_http_timeout

pytestmark = pytest.mark.anyio

ISS = "https://as.example"
TOKEN = ISS + "/token"
REVOKE = ISS + "/revoke"
DEVICE = ISS + "/device"
SECRET = "s" * 40


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def form(request: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


def answer(module: ModuleType, payload: Any, status: int = 200) -> Any:
    return module.Response(
        status, content=json.dumps(payload).encode(), headers={"content-type": "application/json"}
    )


def mock(module: ModuleType, handler: Callable[[Any], Any]) -> Any:
    return module.AsyncClient(transport=module.MockTransport(handler))


def code_strategy(token_endpoint: str = TOKEN) -> anyoauth.AuthorizationCode:
    return anyoauth.AuthorizationCode(
        client_id="web",
        client_secret=SECRET,
        authorization_endpoint=ISS + "/auth",
        token_endpoint=token_endpoint,
        redirect_uri="http://127.0.0.1:8123/cb",
        revocation_endpoint=REVOKE,
    )


# -- the client's deadline governs, not the HTTP client's own timeouts -----------------------


@asynccontextmanager
async def slow_server(delay: float, handle: Callable[[bytes], bytes]) -> AsyncIterator[str]:
    """A loopback HTTP server answering ``handle(body)`` ``delay`` seconds after a request."""

    async def serve(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            raw = b""
            while b"\r\n\r\n" not in raw:
                raw += await stream.receive(65536)
            head, _, rest = raw.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            while len(rest) < length:
                rest += await stream.receive(65536)
            await anyio.sleep(delay)
            await stream.send(handle(rest))

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, serve)
        try:
            yield f"http://127.0.0.1:{port}/token"
        finally:
            tg.cancel_scope.cancel()


def http_answer(status: bytes, body: bytes) -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body) + body
    )


@pytest.fixture
def default_timeout(monkeypatch: pytest.MonkeyPatch) -> float:
    """The HTTP packages' default timeout (5 s) played by 0.05 s, so the tests are quick."""
    set_default_http_timeout(monkeypatch, 0.05)
    return 0.05


def test_the_default_http_client_has_no_timeout_of_its_own() -> None:
    strategy = anyoauth.ClientCredentials(
        client_id="svc", client_secret=SECRET, token_endpoint=TOKEN
    )
    client = anyoauth.Client(strategy, timeout=30)
    timeout = client._client().timeout
    assert (timeout.connect, timeout.read, timeout.write, timeout.pool) == (None,) * 4


async def test_an_answer_slower_than_the_http_clients_default_timeout_is_waited_for(
    http_module: ModuleType, default_timeout: float
) -> None:
    body = b'{"access_token":"at","expires_in":100}'
    async with (
        slow_server(0.5, lambda _: http_answer(b"200 OK", body)) as url,
        http_module.AsyncClient(timeout=default_timeout) as http,
    ):
        strategy = anyoauth.ClientCredentials(
            client_id="svc", client_secret=SECRET, token_endpoint=url
        )
        token = await anyoauth.Client(strategy, http=http, timeout=30).token()
    assert token.access_token == "at"


async def test_a_slow_refresh_is_not_resent_and_the_session_kept(
    http_module: ModuleType, default_timeout: float
) -> None:
    valid = {"r1"}
    seen: list[str] = []

    def handle(content: bytes) -> bytes:
        refresh_token = parse_qs(content.decode())["refresh_token"][0]
        seen.append(refresh_token)
        if refresh_token not in valid:
            return http_answer(b"400 Bad Request", b'{"error":"invalid_grant"}')
        valid.discard(refresh_token)
        valid.add("r2")
        return http_answer(
            b"200 OK", b'{"access_token":"a2","refresh_token":"r2","expires_in":100}'
        )

    clock = Clock()
    async with (
        slow_server(0.5, handle) as url,
        http_module.AsyncClient(timeout=default_timeout) as http,
    ):
        store = anyoauth.MemoryStore(clock=clock)
        client = anyoauth.Client(code_strategy(url), store, http=http, timeout=30, clock=clock)
        await client.set_token(
            anyoauth.Token(
                access_token="a1",
                refresh_token="r1",
                issued_at=clock.now,
                expires_at=clock.now + 100,
            )
        )
        clock.now += 200
        token = await client.token()
    assert token.refresh_token == "r2"
    assert seen == ["r1"]


# -- revocation and logout ------------------------------------------------------------------


async def test_revoke_revokes_the_stored_token_not_a_stale_copy(http_module: ModuleType) -> None:
    clock = Clock()
    revoked: list[str] = []

    def handler(request: Any) -> Any:
        if request.url == REVOKE:
            revoked.append(form(request)["token"])
            return http_module.Response(200)
        return answer(http_module, {"access_token": "a2", "refresh_token": "r2", "expires_in": 100})

    store = anyoauth.MemoryStore(clock=clock)
    async with mock(http_module, handler) as http:
        a = anyoauth.Client(code_strategy(), store, http=http, clock=clock)
        b = anyoauth.Client(code_strategy(), store, http=http, clock=clock)
        await a.set_token(
            anyoauth.Token(
                access_token="a1",
                refresh_token="r1",
                issued_at=clock.now,
                expires_at=clock.now + 100,
            )
        )
        clock.now += 200
        assert (await b.token()).refresh_token == "r2"  # b rotates r1 to r2; a holds r1
        await a.revoke()
    # The current (stored) refresh token first, then the stale copy's, then access tokens.
    assert revoked == ["r2", "r1", "a2", "a1"]
    assert await store.get_token(a.token_key) is None


async def test_revoke_sends_each_token_once(http_module: ModuleType) -> None:
    revoked: list[str] = []

    def handler(request: Any) -> Any:
        revoked.append(form(request)["token"])
        return http_module.Response(200)

    async with mock(http_module, handler) as http:
        client = anyoauth.Client(code_strategy(), http=http)
        await client.set_token(anyoauth.Token(access_token="a1", refresh_token="r1", issued_at=0))
        await client.revoke()
    assert revoked == ["r1", "a1"]


async def test_logout_sticks_while_a_renewal_is_in_flight(http_module: ModuleType) -> None:
    clock = Clock()
    arrived, release = anyio.Event(), anyio.Event()
    got: list[anyoauth.Token] = []

    async def handler(request: Any) -> Any:
        if request.url == REVOKE:
            return http_module.Response(200)
        arrived.set()
        await release.wait()
        return answer(http_module, {"access_token": "a2", "expires_in": 100})

    strategy = anyoauth.ClientCredentials(
        client_id="svc", client_secret=SECRET, token_endpoint=TOKEN, revocation_endpoint=REVOKE
    )
    store = anyoauth.MemoryStore(clock=clock)
    async with mock(http_module, handler) as http:
        client = anyoauth.Client(strategy, store, http=http, clock=clock)
        await client.set_token(
            anyoauth.Token(access_token="a1", issued_at=clock.now, expires_at=clock.now + 100)
        )
        clock.now += 200

        async def renew() -> None:
            got.append(await client.token())

        async with anyio.create_task_group() as tg:
            tg.start_soon(renew)
            await arrived.wait()
            await client.revoke()
            release.set()
    assert [t.access_token for t in got] == ["a2"]  # the caller that asked still gets it
    assert await store.get_token(client.token_key) is None
    assert client._held is None


async def test_forget_waits_for_a_siblings_renewal(http_module: ModuleType) -> None:
    """Another client sharing the store renews meanwhile: the logout waits for its lock,
    so the renewed token cannot be stored after the deletion."""
    clock = Clock()
    arrived, release = anyio.Event(), anyio.Event()

    async def handler(request: Any) -> Any:
        arrived.set()
        await release.wait()
        return answer(http_module, {"access_token": "a2", "expires_in": 100})

    strategy = anyoauth.ClientCredentials(
        client_id="svc", client_secret=SECRET, token_endpoint=TOKEN
    )
    store = anyoauth.MemoryStore(clock=clock)
    async with mock(http_module, handler) as http:
        worker = anyoauth.Client(strategy, store, http=http, clock=clock)
        other = anyoauth.Client(strategy, store, http=http, clock=clock)
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.token)
            await arrived.wait()
            tg.start_soon(other.forget)
            await anyio.lowlevel.checkpoint()
            release.set()
    assert await store.get_token(other.token_key) is None


async def test_the_store_lock_outlives_every_request_of_a_renewal(
    http_module: ModuleType,
) -> None:
    ttls: list[float] = []
    store = anyoauth.MemoryStore()
    lock = store.lock

    def recording_lock(key: str, *, ttl: float, wait: float) -> Any:
        ttls.append(ttl)
        return lock(key, ttl=ttl, wait=wait)

    store.lock = recording_lock  # type: ignore[method-assign]

    def handler(request: Any) -> Any:
        return answer(http_module, {"access_token": "a", "expires_in": 100})

    strategy = anyoauth.ClientCredentials(
        client_id="svc", client_secret=SECRET, token_endpoint=TOKEN
    )
    async with mock(http_module, handler) as http:
        await anyoauth.Client(strategy, store, http=http, timeout=10).token()
    assert ttls
    assert ttls[0] >= LOCK_SENDS * 10 > 2 * 10


# -- the device grant -----------------------------------------------------------------------


@pytest.fixture
def fake_sleep(monkeypatch: pytest.MonkeyPatch) -> tuple[Clock, list[float]]:
    """The device login's waits move a fake clock instead of taking time."""
    clock = Clock()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.now += seconds
        await anyio.lowlevel.checkpoint()

    monkeypatch.setattr(anyio, "sleep", sleep)
    return clock, waits


def device_strategy() -> anyoauth.DeviceCode:
    return anyoauth.DeviceCode(
        client_id="tv",
        device_authorization_endpoint=DEVICE,
        token_endpoint=TOKEN,
        client_auth="none",
    )


def device_answer(module: ModuleType, expires_in: int, interval: int) -> Any:
    return answer(
        module,
        {
            "device_code": "dc",
            "user_code": "UC",
            "expires_in": expires_in,
            "verification_uri": "https://as.example/activate",
            "interval": interval,
        },
    )


@pytest.mark.parametrize("lost", ["ReadTimeout", "ConnectError"])
async def test_device_login_survives_a_lost_poll(
    http_module: ModuleType, fake_sleep: tuple[Clock, list[float]], lost: str
) -> None:
    clock, waits = fake_sleep
    polls: list[str] = []

    def handler(request: Any) -> Any:
        if request.url == DEVICE:
            return device_answer(http_module, 600, 1)
        polls.append("poll")
        if len(polls) == 1:
            return answer(http_module, {"error": "authorization_pending"}, 400)
        if len(polls) == 2:
            raise getattr(http_module, lost)("simulated", request=request)
        return answer(http_module, {"access_token": "at", "expires_in": 100})

    async with mock(http_module, handler) as http:
        client = anyoauth.Client(
            device_strategy(), http=http, clock=clock, retries=anyoauth.RetryPolicy.none()
        )
        token = await client.device_login(lambda d: None)
    assert token.access_token == "at"
    assert len(polls) == 3
    # One interval, one interval, then the backoff of a slow_down (interval + 5 s).
    assert waits == [1.0, 1.0, 6.0]


async def test_device_login_does_not_wait_past_the_codes_expiry(
    http_module: ModuleType, fake_sleep: tuple[Clock, list[float]]
) -> None:
    clock, waits = fake_sleep

    def handler(request: Any) -> Any:
        if request.url == DEVICE:
            return device_answer(http_module, 10, 500)
        raise AssertionError("no poll after the code expired")

    async with mock(http_module, handler) as http:
        client = anyoauth.Client(device_strategy(), http=http, clock=clock)
        with pytest.raises(anyoauth.FlowExpired):
            await client.device_login(lambda d: None)
    assert waits == [10.0]


async def test_device_login_gives_up_on_lost_polls_when_the_code_expires(
    http_module: ModuleType, fake_sleep: tuple[Clock, list[float]]
) -> None:
    clock, _ = fake_sleep
    polls: list[str] = []

    def handler(request: Any) -> Any:
        if request.url == DEVICE:
            return device_answer(http_module, 60, 5)
        polls.append("poll")
        raise http_module.ReadTimeout("simulated", request=request)

    async with mock(http_module, handler) as http:
        client = anyoauth.Client(
            device_strategy(), http=http, clock=clock, retries=anyoauth.RetryPolicy.none()
        )
        with pytest.raises(anyoauth.FlowExpired):
            await client.device_login(lambda d: None)
    assert 1 < len(polls) < 10


# -- discovery ------------------------------------------------------------------------------


def metadata(issuer: str) -> dict[str, str]:
    return {
        "issuer": issuer,
        "authorization_endpoint": issuer + "/auth",
        "token_endpoint": issuer + "/token",
    }


@pytest.mark.parametrize(
    "first",
    [
        (403, "text/plain", b"AccessDenied"),
        (500, "text/plain", b"oops"),
        (200, "text/html", b"<html>app</html>"),
        (200, "application/json", b"[1, 2]"),
    ],
)
async def test_discovery_tries_the_oidc_location_after_other_answers(
    http_module: ModuleType, first: tuple[int, str, bytes]
) -> None:
    status, content_type, body = first

    def handler(request: Any) -> Any:
        if request.url.path == "/.well-known/openid-configuration":
            return answer(http_module, metadata(ISS))
        return http_module.Response(status, content=body, headers={"content-type": content_type})

    async with mock(http_module, handler) as http:
        found = await anyoauth.discover(ISS, http=http)
    assert found.token_endpoint == ISS + "/token"


async def test_discovery_stops_at_a_document_of_another_issuer(http_module: ModuleType) -> None:
    def handler(request: Any) -> Any:
        if request.url.path == "/.well-known/openid-configuration":
            return answer(http_module, metadata(ISS))
        return answer(http_module, metadata("https://other.example"))

    async with mock(http_module, handler) as http:
        with pytest.raises(anyoauth.DiscoveryError):
            await anyoauth.discover(ISS, http=http)


async def test_discovery_fails_when_no_location_answers(http_module: ModuleType) -> None:
    def handler(request: Any) -> Any:
        return http_module.Response(403, content=b"no")

    async with mock(http_module, handler) as http:
        with pytest.raises(anyoauth.DiscoveryError, match="HTTP 403"):
            await anyoauth.discover(ISS, http=http)


# -- retries sign a fresh client assertion ----------------------------------------------------


async def test_a_retry_signs_a_fresh_client_assertion(http_module: ModuleType) -> None:
    from joserfc.jwk import RSAKey

    key = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
    jtis: list[str] = []
    bodies: list[dict[str, str]] = []

    def handler(request: Any) -> Any:
        body = form(request)
        bodies.append(body)
        payload = body["client_assertion"].split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        jtis.append(claims["jti"])
        if len(jtis) == 1:
            return http_module.Response(503, headers={"retry-after": "0"})
        return answer(http_module, {"access_token": "at", "expires_in": 100})

    strategy = anyoauth.ClientCredentials(
        client_id="svc",
        token_endpoint=TOKEN,
        client_auth="private_key_jwt",
        client_key=key.as_dict(private=True),
        scope="a b",
    )
    async with mock(http_module, handler) as http:
        retries = anyoauth.RetryPolicy(backoff=0, jitter=0)
        token = await anyoauth.Client(strategy, http=http, retries=retries).token()
    assert token.access_token == "at"
    assert len(set(jtis)) == 2
    for body in bodies:
        del body["client_assertion"]
    assert bodies[0] == bodies[1]  # all else the same


# -- a key-set outage never loses a rotated refresh token ------------------------------------


async def test_a_key_set_outage_keeps_the_rotated_refresh_token(http_module: ModuleType) -> None:
    from joserfc import jwt
    from joserfc.jwk import KeySet, RSAKey

    old_key = RSAKey.generate_key(2048, parameters={"kid": "old"}, private=True)
    new_key = RSAKey.generate_key(2048, parameters={"kid": "new"}, private=True)
    clock = Clock()
    jwks_answers: list[int] = []
    strategy = anyoauth.AuthorizationCode(
        client_id="web",
        client_secret=SECRET,
        authorization_endpoint=ISS + "/auth",
        token_endpoint=TOKEN,
        redirect_uri="http://127.0.0.1:8123/cb",
        issuer=ISS,
        jwks_uri=ISS + "/jwks",
        scope="openid",
    )

    def handler(request: Any) -> Any:
        if str(request.url) == ISS + "/jwks":
            jwks_answers.append(1)
            if len(jwks_answers) == 1:  # the prefetch: only the old key is published
                return answer(http_module, KeySet([old_key]).as_dict(private=False))
            return http_module.Response(500)  # then the key set is down
        claims = {"iss": ISS, "sub": "alice", "aud": "web", "iat": int(clock.now)}
        claims["exp"] = int(clock.now) + 300
        signed = jwt.encode({"alg": "RS256", "kid": "new"}, claims, new_key)
        return answer(
            http_module,
            {"access_token": "a2", "refresh_token": "r2", "expires_in": 100, "id_token": signed},
        )

    store = anyoauth.MemoryStore(clock=clock)
    async with mock(http_module, handler) as http:
        client = anyoauth.Client(strategy, store, http=http, clock=clock)
        held = anyoauth.Token(
            access_token="a1",
            refresh_token="r1",
            issued_at=clock.now,
            expires_at=clock.now + 100,
            id_token_claims={"sub": "alice", "iss": ISS},
        )
        await client.set_token(held)
        clock.now += 200
        token = await client.token()
        stored = await store.get_token(client.token_key)
    assert len(jwks_answers) == 2
    assert token.refresh_token == "r2"
    assert stored is not None
    assert stored.refresh_token == "r2"
    assert "id_token" not in stored.extra
    assert stored.id_token_claims is not None
    assert stored.id_token_claims["sub"] == "alice"
