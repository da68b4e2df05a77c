"""``Client.device_login()`` and the device grant (RFC 8628): approval, denial, expiry,
``login()`` routing a device strategy there, and polls lost on the network."""

from __future__ import annotations

import re
from types import ModuleType
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import pytest

import anyoauth
from anyoauth import (
    Client,
    DeviceAuthorization,
    DeviceCode,
)
from anyoauth.testing import ManualClock, ProviderEmulator

from .helpers import BASE, TOKEN_ENDPOINT, answer, metadata, mock

pytestmark = pytest.mark.anyio


async def advance_forever(clock: ManualClock, step: float) -> None:
    while True:
        await anyio.sleep(0.01)
        clock.advance(step)


DEVICE = BASE + "/device"


@pytest.fixture
def fake_sleep(monkeypatch: pytest.MonkeyPatch) -> tuple[ManualClock, list[float]]:
    """The device login's waits move a fake clock instead of taking time."""
    clock = ManualClock()
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
        token_endpoint=TOKEN_ENDPOINT,
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


async def test_device_grant(emulator: ProviderEmulator, http: Any, clock: ManualClock) -> None:
    strategy = DeviceCode.from_metadata(await metadata(http), client_id="tv", scope="read")
    shown: list[DeviceAuthorization] = []

    async def show(device: DeviceAuthorization) -> None:
        shown.append(device)
        emulator.approve_device(device.user_code)

    async with Client(strategy, http=http, clock=clock) as client:
        token = await client.device_login(show)
        assert shown
        assert shown[0].user_code
        assert emulator.is_valid_token(token.access_token)
        assert await client.token() == token


async def test_device_grant_denied(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    strategy = DeviceCode.from_metadata(await metadata(http), client_id="tv")

    def deny(device: DeviceAuthorization) -> None:
        emulator.approve_device(device.user_code, allow=False)

    async with Client(strategy, http=http, clock=clock) as client:
        with pytest.raises(anyoauth.AuthorizationDenied):
            await client.device_login(deny)


async def test_device_grant_expires_when_nobody_approves(
    emulator: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    emulator.oauth_device_expires_in = 30
    strategy = DeviceCode.from_metadata(await metadata(http), client_id="tv")
    seen: list[DeviceAuthorization] = []
    async with Client(strategy, http=http, clock=clock) as client:
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(advance_forever, clock, 5.0)
                with pytest.raises(anyoauth.FlowExpired):
                    await client.device_login(seen.append)
                tg.cancel_scope.cancel()
    assert len(seen) == 1


async def test_login_routes_a_device_grant_to_device_login(
    emulator: ProviderEmulator, http: Any, capsys: pytest.CaptureFixture[str], clock: ManualClock
) -> None:
    strategy = DeviceCode.from_metadata(await metadata(http), client_id="tv")

    async def approve_when_shown() -> None:
        while True:
            found = re.search(r"enter the code (\S+)", capsys.readouterr().err)
            if found:
                emulator.approve_device(found.group(1))
                return
            await anyio.sleep(0.01)

    async with Client(strategy, http=http, clock=clock) as client, anyio.create_task_group() as tg:
        tg.start_soon(approve_when_shown)
        with anyio.fail_after(20):
            token = await client.login()
        assert emulator.is_valid_token(token.access_token)


# -- lost polls and the code's expiry --------------------------------------------------


@pytest.mark.parametrize("lost", ["ReadTimeout", "ConnectError"])
async def test_device_login_survives_a_lost_poll(
    http_module: ModuleType, fake_sleep: tuple[ManualClock, list[float]], lost: str
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
    http_module: ModuleType, fake_sleep: tuple[ManualClock, list[float]]
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
    http_module: ModuleType, fake_sleep: tuple[ManualClock, list[float]]
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
