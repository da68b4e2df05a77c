"""Floors on server-given timings (DESIGN.md 12f): a hostile or broken server cannot make
anyoauth flood it.

- A device authorization answer's ``interval`` is kept at or above one second (RFC 8628
  sets no minimum; ``0`` made the client poll thousands of times a second).
- Tokens that arrive already expired (``expires_in: 0``) are not renewed on every
  ``token()`` call: renewals pause, 1 s doubling to 60 s, and the third such token in a
  row raises :class:`TokenExpiredOnArrival`; every token the server issued is stored.

Time is a fake clock moved by the tests (and by a fake ``anyio.sleep`` for the device
grant's waits), so counts, not timings, are asserted.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import anyio
import anyio.lowlevel
import attrs
import pytest

import anyoauth
from anyoauth._core.device import DeviceAuthorization

from .common import NOW, SECRET, Clock

pytestmark = pytest.mark.anyio

MIN_INTERVAL = 1.0
"""The floor of the device grant's polling interval (``anyoauth._core.device``)."""
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
def fake_time(monkeypatch: pytest.MonkeyPatch) -> tuple[Clock, list[float]]:
    """The device login's waits move a fake clock instead of taking time."""
    clock = Clock()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.now += seconds
        await anyio.lowlevel.checkpoint()

    monkeypatch.setattr(anyio, "sleep", sleep)
    return clock, waits


async def test_a_zero_interval_cannot_make_the_device_grant_poll_faster_than_the_floor(
    http_module: ModuleType, fake_time: tuple[Clock, list[float]]
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
    from anyoauth._core.token import MAX_RENEWAL_PAUSE, RenewalPace

    born_expired = anyoauth.Token(access_token="AT", issued_at=NOW, expires_at=NOW)
    pace, pauses = RenewalPace(), []
    for _ in range(10):
        pace = pace.received(born_expired, NOW)
        pauses.append(pace.not_before - NOW)
    assert pauses == [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]
    assert MAX_RENEWAL_PAUSE == 60
    assert pace.exhausted
    good = anyoauth.Token(access_token="AT", issued_at=NOW, expires_at=NOW + 300)
    assert pace.received(good, NOW) == RenewalPace()
    assert not RenewalPace().received(good, NOW).exhausted


@attrs.define
class Endpoint:
    """A token endpoint that answers each request with the next ``expires_in``."""

    module: ModuleType
    lifetimes: Callable[[int], Any]
    requests: int = 0
    rotating: bool = False

    def __call__(self, request: Any) -> Any:
        self.requests += 1
        payload: dict[str, Any] = {
            "access_token": f"AT-{self.requests}",
            "token_type": "Bearer",
            "expires_in": self.lifetimes(self.requests),
        }
        if self.rotating:
            payload["refresh_token"] = f"RT-{self.requests}"
        return respond(self.module, payload)


def credentials() -> anyoauth.ClientCredentials:
    return anyoauth.ClientCredentials(
        client_id="svc", client_secret=SECRET, token_endpoint=TOKEN_URL
    )


@pytest.mark.parametrize("expires_in", [0, "0", 0.5, "0.2"])
async def test_born_expired_tokens_are_not_renewed_on_every_call(
    http_module: ModuleType, expires_in: Any
) -> None:
    endpoint = Endpoint(http_module, lambda n: expires_in)
    clock = Clock()
    errors: list[anyoauth.TokenExpiredOnArrival] = []
    async with http_module.AsyncClient(transport=http_module.MockTransport(endpoint)) as http:
        client = anyoauth.Client(credentials(), http=http, clock=clock)
        for _ in range(1000):  # 1000 calls over 100 s
            try:
                token = await client.token()
            except anyoauth.TokenExpiredOnArrival as exc:
                errors.append(exc)
            else:
                assert token.access_token == f"AT-{endpoint.requests}"
            clock.now += 0.1
        stored = await client.store.get_token(client.token_key)
    # Requests at 0, 1, 3, 7, 15, 31, 63 s: the pause doubles from 1 s.
    assert endpoint.requests == 7
    assert errors
    assert all(exc.count >= BORN_EXPIRED_LIMIT for exc in errors)
    assert stored is not None
    assert stored.access_token == f"AT-{endpoint.requests}"  # every issued token is stored


async def test_the_third_born_expired_token_in_a_row_is_a_typed_error_and_is_stored(
    http_module: ModuleType,
) -> None:
    endpoint = Endpoint(http_module, lambda n: 0, rotating=True)
    clock = Clock()
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
        assert endpoint.requests == 3


async def test_a_token_with_time_left_ends_the_streak(http_module: ModuleType) -> None:
    lifetimes = {1: 0, 2: 0, 3: 300, 4: 0, 5: 0}
    endpoint = Endpoint(http_module, lambda n: lifetimes.get(n, 300))
    clock = Clock()
    async with http_module.AsyncClient(transport=http_module.MockTransport(endpoint)) as http:
        client = anyoauth.Client(credentials(), http=http, clock=clock)
        for _ in range(5):
            await client.token()  # never raises: at most two born-expired in a row
            clock.now += 301
    assert endpoint.requests == 5


async def test_a_rejected_born_expired_token_is_not_renewed_during_the_pause(
    http_module: ModuleType,
) -> None:
    endpoint = Endpoint(http_module, lambda n: 0)
    api_calls: list[str] = []

    def handler(request: Any) -> Any:
        if request.url.host == "as.example":
            return endpoint(request)
        api_calls.append(request.headers["authorization"])
        return http_module.Response(401)

    clock = Clock()
    async with http_module.AsyncClient(transport=http_module.MockTransport(handler)) as http:
        client = anyoauth.Client(credentials(), http=http, clock=clock)
        async with http_module.AsyncClient(
            transport=http_module.MockTransport(handler), auth=client.auth()
        ) as api:
            with pytest.raises(anyoauth.TokenExpiredOnArrival):
                await api.get("https://api.example/me")
    assert endpoint.requests == 1
    assert api_calls == ["Bearer AT-1"]


async def test_a_login_starts_a_fresh_streak(http_module: ModuleType) -> None:
    endpoint = Endpoint(http_module, lambda n: 0)
    clock = Clock()
    async with http_module.AsyncClient(transport=http_module.MockTransport(endpoint)) as http:
        client = anyoauth.Client(credentials(), http=http, clock=clock)
        await client.token()
        await client.set_token(
            anyoauth.Token(access_token="AT-login", issued_at=clock.now, expires_at=clock.now)
        )
        assert (await client.token()).access_token == "AT-2"  # renewed at once
