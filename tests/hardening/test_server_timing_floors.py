"""Floors on server-given timings (docs/security.md, rule 17): a hostile or broken server
cannot make anyoauth flood it.

- A device authorization answer's ``interval`` is kept at or above one second (RFC 8628
  sets no minimum; ``0`` made the client poll thousands of times a second).
- Short-lived tokens (under 10 s: ``expires_in`` 0, 1, a few seconds) are not renewed
  on every ``token()`` call, nor twice a second: renewals pause, 1 s doubling to 60 s,
  and from the third such token in a row a caller whose token has expired gets
  :class:`TokenExpiredOnArrival`; every token the server issued is stored. The pace is
  stored with the token: several clients sharing a store (MemoryStore, FileStore,
  RedisStore), a new client per call, and ``anyoauth token`` run again and again all
  keep it.

Time is a fake clock moved by the tests (and by a fake ``anyio.sleep`` for the device
grant's waits), so counts, not timings, are asserted, except for the command, which
runs as real processes against a real loopback server.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import anyio.lowlevel
import attrs
import pytest

import anyoauth
from anyoauth import DeviceAuthorization
from anyoauth.testing import ManualClock, ProviderEmulator
from cli.helpers import EXIT_ERROR, EXIT_OK, SVC_ID, SVC_SECRET, Cli
from redis_server import RedisServer
from support.endpoints import ScriptedEndpoint

from .common import NOW, SECRET

pytestmark = pytest.mark.anyio

MIN_INTERVAL = 1.0
"""The floor anyoauth keeps between device grant polls, whatever interval the server names."""
BORN_EXPIRED_LIMIT = 3
"""Born-expired tokens in a row that raise ``TokenExpiredOnArrival``."""

TOKEN_URL = "https://as.example/token"
DEVICE_URL = "https://as.example/device"


def respond(module: ModuleType, payload: Any, status: int = 200) -> Any:
    return module.Response(
        status, content=json.dumps(payload).encode(), headers={"content-type": "application/json"}
    )


# -- the device grant's polling interval ------------------------------------------------------


def device_answer(**fields: Any) -> bytes:
    answer = {
        "device_code": "dc",
        "user_code": "ABCD-EFGH",
        "verification_uri": "https://as.example/activate",
        "expires_in": 600,
        **fields,
    }
    return json.dumps({k: v for k, v in answer.items() if v is not None}).encode()


@pytest.mark.parametrize(
    ("interval", "used"),
    [(0, 1.0), (0.001, 1.0), ("0", 1.0), (None, 5.0), (1, 1.0), (3, 3.0), (10**9, 600.0)],
)
def test_the_poll_interval_has_a_floor_of_one_second(interval: Any, used: float) -> None:
    device = DeviceAuthorization.from_response(
        200, "application/json", device_answer(interval=interval), received_at=NOW
    )
    assert device.interval == used
    # Also for a device authorization built or changed by code.
    assert attrs.evolve(device, interval=0).interval == MIN_INTERVAL


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> tuple[ManualClock, list[float]]:
    """The device login's waits move a fake clock instead of taking time."""
    clock = ManualClock()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.now += seconds
        await anyio.lowlevel.checkpoint()

    monkeypatch.setattr(anyio, "sleep", sleep)
    return clock, waits


async def test_a_zero_interval_cannot_make_the_device_grant_poll_faster_than_the_floor(
    http_module: ModuleType, fake_time: tuple[ManualClock, list[float]]
) -> None:
    clock, waits = fake_time
    polls: list[float] = []
    runaway = 1000

    def handler(request: Any) -> Any:
        if request.url.path == "/device":
            return respond(http_module, json.loads(device_answer(interval=0, expires_in=30)))
        polls.append(clock.now)
        if len(polls) >= runaway:  # the old client's loop, stopped
            return respond(http_module, {"error": "access_denied"}, 400)
        return respond(http_module, {"error": "authorization_pending"}, 400)

    strategy = anyoauth.DeviceCode(
        client_id="tv",
        device_authorization_endpoint=DEVICE_URL,
        token_endpoint=TOKEN_URL,
        client_auth="none",
    )
    async with http_module.AsyncClient(transport=http_module.MockTransport(handler)) as http:
        client = anyoauth.Client(strategy, http=http, clock=clock)
        with pytest.raises(anyoauth.FlowExpired):
            await client.device_login(lambda device: None)
    # 30 s of a code's life at one poll a second at most.
    assert len(polls) <= 30
    assert all(b - a >= MIN_INTERVAL for a, b in itertools.pairwise(polls))
    assert all(wait >= MIN_INTERVAL for wait in waits[:-1])


# -- tokens that arrive already expired -------------------------------------------------------


def test_the_renewal_pause_doubles_to_a_cap_and_a_good_token_ends_it() -> None:
    from anyoauth.sansio import MAX_RENEWAL_PAUSE, RenewalPace

    previous, pauses = None, []
    for n in range(10):
        issued = NOW + 100 * n
        token = RenewalPace.stamp(
            anyoauth.Token(access_token="AT", issued_at=issued, expires_at=issued), previous
        )
        pauses.append(RenewalPace.of(token, issued).not_before - issued)
        previous = token
    assert pauses == [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]
    assert MAX_RENEWAL_PAUSE == 60
    assert previous is not None
    assert RenewalPace.of(previous, previous.issued_at).exhausted
    good = anyoauth.Token(access_token="AT", issued_at=NOW, expires_at=NOW + 300)
    assert RenewalPace.of(RenewalPace.stamp(good, previous), NOW) == RenewalPace()
    assert RenewalPace.stamp(good, previous).renewal_streak == 0


def token_endpoint(
    module: ModuleType,
    lifetimes: Callable[[int], Any],
    *,
    rotating: bool = False,
    clock: ManualClock | None = None,
) -> ScriptedEndpoint:
    """A token endpoint that answers request number ``n`` with ``expires_in`` set to
    ``lifetimes(n)`` (and a new refresh token each time if ``rotating``)."""

    def answer(request: Any) -> Any:
        payload: dict[str, Any] = {
            "access_token": f"AT-{endpoint.count}",
            "token_type": "Bearer",
            "expires_in": lifetimes(endpoint.count),
        }
        if rotating:
            payload["refresh_token"] = f"RT-{endpoint.count}"
        return respond(module, payload)

    endpoint = ScriptedEndpoint(module, answer, clock=clock)
    return endpoint


def credentials() -> anyoauth.ClientCredentials:
    return anyoauth.ClientCredentials(
        client_id="svc", client_secret=SECRET, token_endpoint=TOKEN_URL
    )


@pytest.mark.parametrize("expires_in", [0, "0", 0.5, "0.2"])
async def test_born_expired_tokens_are_not_renewed_on_every_call(
    http_module: ModuleType, expires_in: Any
) -> None:
    endpoint = token_endpoint(http_module, lambda n: expires_in)
    clock = ManualClock()
    errors: list[anyoauth.TokenExpiredOnArrival] = []
    async with http_module.AsyncClient(transport=http_module.MockTransport(endpoint)) as http:
        client = anyoauth.Client(credentials(), http=http, clock=clock)
        for _ in range(1000):  # 1000 calls over 100 s
            try:
                token = await client.token()
            except anyoauth.TokenExpiredOnArrival as exc:
                errors.append(exc)
            else:
                assert token.access_token == f"AT-{endpoint.count}"
            clock.now += 0.1
        stored = await client.store.get_token(client.token_key)
    # Requests at 0, 1, 3, 7, 15, 31, 63 s: the pause doubles from 1 s.
    assert endpoint.count == 7
    assert errors
    assert all(exc.count >= BORN_EXPIRED_LIMIT for exc in errors)
    assert stored is not None
    assert stored.access_token == f"AT-{endpoint.count}"  # every issued token is stored


async def test_the_third_born_expired_token_in_a_row_is_a_typed_error_and_is_stored(
    http_module: ModuleType,
) -> None:
    endpoint = token_endpoint(http_module, lambda n: 0, rotating=True)
    clock = ManualClock()
    strategy = anyoauth.AuthorizationCode(
        client_id="web",
        client_secret=SECRET,
        authorization_endpoint="https://as.example/authorize",
        token_endpoint=TOKEN_URL,
        redirect_uri="https://app.example/callback",
    )
    async with http_module.AsyncClient(transport=http_module.MockTransport(endpoint)) as http:
        client = anyoauth.Client(strategy, http=http, clock=clock)
        await client.set_token(
            anyoauth.Token(
                access_token="AT-0", refresh_token="RT-0", issued_at=NOW - 600, expires_at=NOW
            )
        )
        assert (await client.token()).access_token == "AT-1"
        assert (await client.token()).access_token == "AT-1"  # within the pause: no request
        clock.now += 1
        assert (await client.token()).access_token == "AT-2"
        clock.now += 2
        with pytest.raises(anyoauth.TokenExpiredOnArrival) as raised:
            await client.token()
        assert isinstance(raised.value, anyoauth.InvalidTokenResponse)
        assert raised.value.count == 3
        assert raised.value.retry_at == clock.now + 4
        # The rotated refresh token of the third answer is kept all the same.
        stored = await client.store.get_token(client.token_key)
        assert stored is not None
        assert (stored.access_token, stored.refresh_token) == ("AT-3", "RT-3")
        # During the pause every caller gets the error, and no request is sent.
        clock.now += 3.9
        with pytest.raises(anyoauth.TokenExpiredOnArrival):
            await client.token()
        assert endpoint.count == 3


async def test_a_stored_token_issued_in_the_future_holds_no_renewal_off(
    http_module: ModuleType,
) -> None:
    # A clock running ahead on a host sharing the store, or a tampered record: the pace
    # must not count from an issue time that has not come yet (it would refuse
    # renewals, or raise TokenExpiredOnArrival, for as long as the time lies).
    endpoint = token_endpoint(http_module, lambda n: 300)
    clock = ManualClock()
    async with http_module.AsyncClient(transport=http_module.MockTransport(endpoint)) as http:
        client = anyoauth.Client(credentials(), http=http, clock=clock)
        ahead = anyoauth.Token(access_token="AT-0", issued_at=NOW + 365 * 86400, expires_at=NOW - 1)
        await client.set_token(attrs.evolve(ahead, renewal_streak=BORN_EXPIRED_LIMIT))
        token = await client.token()
    assert token.access_token == "AT-1"
    assert endpoint.count == 1
    assert token.renewal_streak == 0


@pytest.mark.parametrize("field", ["issued_at", "expires_at"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_stored_token_with_a_time_that_is_not_finite_is_unreadable(
    field: str, value: str
) -> None:
    from anyoauth.stores import dump_token, load_token

    good = anyoauth.Token(access_token="AT", issued_at=NOW, expires_at=NOW + 300)
    record = json.loads(dump_token(attrs.evolve(good, renewal_streak=BORN_EXPIRED_LIMIT)))
    record[field] = value
    with pytest.raises(anyoauth.StoreError, match="unreadable"):
        load_token(json.dumps(record).encode())
    times = {"issued_at": NOW, "expires_at": NOW + 300, field: float(value)}
    with pytest.raises(ValueError, match="finite"):
        anyoauth.Token(
            access_token="AT", issued_at=times["issued_at"], expires_at=times["expires_at"]
        )


async def test_a_token_with_time_left_ends_the_streak(http_module: ModuleType) -> None:
    lifetimes = {1: 0, 2: 0, 3: 300, 4: 0, 5: 0}
    endpoint = token_endpoint(http_module, lambda n: lifetimes.get(n, 300))
    clock = ManualClock()
    async with http_module.AsyncClient(transport=http_module.MockTransport(endpoint)) as http:
        client = anyoauth.Client(credentials(), http=http, clock=clock)
        for _ in range(5):
            await client.token()  # never raises: at most two born-expired in a row
            clock.now += 301
    assert endpoint.count == 5


async def test_a_rejected_born_expired_token_is_not_renewed_during_the_pause(
    http_module: ModuleType,
) -> None:
    endpoint = token_endpoint(http_module, lambda n: 0)
    api_calls: list[str] = []

    async def handler(request: Any) -> Any:
        if request.url.host == "as.example":
            return await endpoint(request)
        api_calls.append(request.headers["authorization"])
        return http_module.Response(401)

    clock = ManualClock()
    async with http_module.AsyncClient(transport=http_module.MockTransport(handler)) as http:
        client = anyoauth.Client(credentials(), http=http, clock=clock)
        async with http_module.AsyncClient(
            transport=http_module.MockTransport(handler), auth=client.auth()
        ) as api:
            with pytest.raises(anyoauth.TokenExpiredOnArrival):
                await api.get("https://api.example/me")
    assert endpoint.count == 1
    assert api_calls == ["Bearer AT-1"]


async def test_a_login_starts_a_fresh_streak(http_module: ModuleType) -> None:
    endpoint = token_endpoint(http_module, lambda n: 0)
    clock = ManualClock()
    async with http_module.AsyncClient(transport=http_module.MockTransport(endpoint)) as http:
        client = anyoauth.Client(credentials(), http=http, clock=clock)
        await client.token()
        await client.set_token(
            anyoauth.Token(access_token="AT-login", issued_at=clock.now, expires_at=clock.now)
        )
        assert (await client.token()).access_token == "AT-2"  # renewed at once


# -- the pace is stored with the token ---------------------------------------------------------

# Requests at 0, 1, 3, 7, 15, 31 and 63 s: what one client sends in 100 s.
REQUESTS_IN_100_S = 7


async def share_one_pace(http_module: ModuleType, stores: Sequence[anyoauth.Store]) -> None:
    """One client per store (all on the same data), taking turns for 100 s against a
    server that issues tokens with ``expires_in: 0``: together they send what one
    client would."""
    clock = ManualClock()
    endpoint = token_endpoint(http_module, lambda n: 0, clock=clock)
    async with http_module.AsyncClient(transport=http_module.MockTransport(endpoint)) as http:
        clients = [
            anyoauth.Client(credentials(), store, http=http, clock=clock) for store in stores
        ]
        late: list[float] = []
        for turn in range(1000):
            try:
                await clients[turn % len(clients)].token()
            except anyoauth.TokenExpiredOnArrival as exc:
                late.append(exc.retry_at - clock.now)
            clock.now += 0.1
        stored = await stores[0].get_token(clients[0].token_key)
    assert endpoint.count == REQUESTS_IN_100_S
    assert late
    assert all(wait > 0 for wait in late)
    assert stored is not None
    assert stored.access_token == f"AT-{endpoint.count}"
    assert stored.renewal_streak == endpoint.count


async def test_clients_sharing_a_memory_store_keep_one_renewal_pace(
    http_module: ModuleType,
) -> None:
    store = anyoauth.MemoryStore()
    await share_one_pace(http_module, [store] * 4)


async def test_clients_sharing_a_file_store_keep_one_renewal_pace(
    http_module: ModuleType, tmp_path: Path
) -> None:
    # One FileStore object per client, as separate processes would have.
    await share_one_pace(http_module, [anyoauth.FileStore(tmp_path / "store") for _ in range(4)])


async def test_clients_sharing_a_redis_store_keep_one_renewal_pace(
    http_module: ModuleType, fresh_redis: RedisServer
) -> None:
    stores = [anyoauth.RedisStore(fresh_redis.url) for _ in range(4)]
    try:
        await share_one_pace(http_module, stores)
    finally:
        for store in stores:
            await store.aclose()


async def test_a_new_client_for_every_call_keeps_the_renewal_pace(http_module: ModuleType) -> None:
    clock = ManualClock()
    endpoint = token_endpoint(http_module, lambda n: 0)
    store = anyoauth.MemoryStore()
    async with http_module.AsyncClient(transport=http_module.MockTransport(endpoint)) as http:
        for _ in range(1000):
            client = anyoauth.Client(credentials(), store, http=http, clock=clock)
            with contextlib.suppress(anyoauth.TokenExpiredOnArrival):
                await client.token()
            clock.now += 0.1
    assert endpoint.count == REQUESTS_IN_100_S


@pytest.mark.parametrize("expires_in", [1, "1", 2, 5, 9.5])
async def test_a_token_of_a_few_seconds_is_renewed_at_most_once_a_minute_in_the_end(
    http_module: ModuleType, expires_in: Any
) -> None:
    clock = ManualClock()
    endpoint = token_endpoint(http_module, lambda n: expires_in, clock=clock)
    lifetime = float(expires_in)
    handed_out: list[tuple[float, anyoauth.Token]] = []
    errors: list[tuple[float, anyoauth.TokenExpiredOnArrival]] = []
    async with http_module.AsyncClient(transport=http_module.MockTransport(endpoint)) as http:
        client = anyoauth.Client(credentials(), http=http, clock=clock)
        for _ in range(2400):  # 10 minutes, 4 calls a second
            try:
                handed_out.append((clock.now, await client.token()))
            except anyoauth.TokenExpiredOnArrival as exc:
                errors.append((clock.now, exc))
            clock.now += 0.25
    times = endpoint.times
    # The pause after each doubles from 1 s to 60 s: 7 requests in the first 64 s (or
    # 70 s: early renewals at half a lifetime come first), then one a minute.
    assert len(times) <= REQUESTS_IN_100_S + math.ceil((600 - 63) / 60)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(gap >= 60 for gap in gaps[REQUESTS_IN_100_S - 1 :])
    assert all(gap >= min(lifetime / 2, 1) for gap in gaps)
    # The newest token is handed out: with time left, or expired early in a streak.
    for now, token in handed_out:
        assert token.access_token == f"AT-{sum(t <= now for t in times)}"
        assert not token.is_expired(now) or token.renewal_streak < BORN_EXPIRED_LIMIT
    assert errors
    assert all(exc.count >= BORN_EXPIRED_LIMIT and exc.retry_at > now for now, exc in errors)


async def test_a_token_of_ten_seconds_or_more_is_renewed_at_half_its_lifetime_without_pause(
    http_module: ModuleType,
) -> None:
    clock = ManualClock()
    endpoint = token_endpoint(http_module, lambda n: 10, clock=clock)
    async with http_module.AsyncClient(transport=http_module.MockTransport(endpoint)) as http:
        client = anyoauth.Client(credentials(), http=http, clock=clock)
        for _ in range(400):  # 100 s
            token = await client.token()  # never raises
            assert not token.is_expired(clock.now)
            clock.now += 0.25
    gaps = [b - a for a, b in itertools.pairwise(endpoint.times)]
    assert gaps == [5.0] * len(gaps)
    assert len(endpoint.times) == 20


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # the command's processes do the work
async def test_anyoauth_token_run_again_and_again_keeps_the_renewal_pace(tmp_path: Path) -> None:
    emulator = ProviderEmulator(oauth_expires_in=0)
    emulator.add_oauth_client(SVC_ID, client_secret=SVC_SECRET, grant_types=["client_credentials"])
    cli = Cli(tmp_path / "config")
    runs = 8
    async with emulator.serve() as base:
        login = await cli.run(
            "login", "oauth", "--issuer", base, "--client-id", SVC_ID,
            "--flow", "client-credentials", env={"ANYOAUTH_CLIENT_SECRET": SVC_SECRET},
        )  # fmt: skip
        assert login.returncode == EXIT_OK, login.stderr
        assert emulator.calls["oauth.token"] == 1
        started = time.monotonic()
        results = [await cli.run("token", "oauth") for _ in range(runs)]
        elapsed = time.monotonic() - started
    for result in results:
        if result.returncode == EXIT_OK:
            assert result.stdout.count("\n") == 1
        else:
            assert result.returncode == EXIT_ERROR
            assert "TokenExpiredOnArrival" in result.stderr
            assert "Traceback" not in result.stderr
    # The login's token starts no streak: the first run renews it; then renewals pause
    # 1, 2, 4... s from each token's issue, whichever process reads it.
    bound = 2 + math.floor(math.log2(elapsed + 1))
    assert bound < 1 + runs  # (one request per run would break it)
    assert emulator.calls["oauth.token"] <= bound
