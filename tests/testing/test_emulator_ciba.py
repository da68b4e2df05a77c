"""The emulator's OpenID CIBA endpoint, as a server: its metadata, what it refuses, the
token endpoint's answers (pending, ``slow_down``, expiry, denial, tokens), the pings
it queues, and the knobs that spoil them."""

from __future__ import annotations

import base64
import json
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

import pytest

from anyoauth.testing import ManualClock, ProviderEmulator

BASE = "https://as.example"
SECRET = "ciba-secret-0123456789abcdef"
CIBA = "urn:openid:params:grant-type:ciba"
NOTIFY = "https://kiosk.example/notify"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def emulator(clock: ManualClock) -> ProviderEmulator:
    emulator = ProviderEmulator(clock=clock, base_url=BASE)
    for client_id in ("teller", "kiosk"):
        emulator.add_oauth_client(client_id, client_secret=SECRET, grant_types=[CIBA])
    emulator.add_oauth_client("web", client_secret=SECRET)
    emulator.set_oauth_backchannel_mode("kiosk", "ping", NOTIFY)
    return emulator


def post(
    emulator: ProviderEmulator, path: str, client_id: str, **form: str
) -> tuple[int, dict[str, Any]]:
    basic = base64.b64encode(f"{client_id}:{SECRET}".encode()).decode()
    answer = emulator.handle(
        "POST",
        BASE + path,
        {"Content-Type": "application/x-www-form-urlencoded", "Authorization": f"Basic {basic}"},
        urlencode(form).encode(),
    )
    return answer.status, json.loads(answer.body)


def start(emulator: ProviderEmulator, client_id: str = "teller", **form: str) -> str:
    status, body = post(emulator, "/oauth/bc-authorize", client_id, **{"scope": "openid", **form})
    assert status == 200, body
    return str(body["auth_req_id"])


def redeem(emulator: ProviderEmulator, auth_req_id: str, client_id: str = "teller") -> Any:
    return post(emulator, "/oauth/token", client_id, grant_type=CIBA, auth_req_id=auth_req_id)


def test_metadata_lists_the_endpoint_and_the_modes(emulator: ProviderEmulator) -> None:
    document = json.loads(emulator.handle("GET", BASE + "/.well-known/openid-configuration").body)
    assert document["backchannel_authentication_endpoint"] == BASE + "/oauth/bc-authorize"
    assert document["backchannel_token_delivery_modes_supported"] == ["poll", "ping"]
    assert CIBA in document["grant_types_supported"]


@pytest.mark.parametrize(
    ("client_id", "form", "error"),
    [
        ("web", {"scope": "openid", "login_hint": "a"}, "unauthorized_client"),
        ("teller", {"scope": "read", "login_hint": "a"}, "invalid_scope"),
        ("teller", {"scope": "openid"}, "invalid_request"),
        ("teller", {"scope": "openid", "login_hint": "a", "id_token_hint": "b"}, "invalid_request"),
        ("kiosk", {"scope": "openid", "login_hint": "a"}, "invalid_request"),
        (
            "teller",
            {"scope": "openid", "login_hint": "a", "binding_message": "\x1b[2J"},
            "invalid_binding_message",
        ),
    ],
)
def test_bad_requests_are_refused(
    emulator: ProviderEmulator, client_id: str, form: dict[str, str], error: str
) -> None:
    status, body = post(emulator, "/oauth/bc-authorize", client_id, **form)
    assert (status, body["error"]) == (400, error)


def test_pending_then_slow_down_then_tokens_once(
    emulator: ProviderEmulator, clock: ManualClock
) -> None:
    emulator.oauth_ciba_interval = 5
    auth_req_id = start(emulator, login_hint="alice", binding_message="Pay 5")
    assert emulator.oauth_backchannel_requests == [("alice", "Pay 5")]
    assert redeem(emulator, auth_req_id)[1]["error"] == "authorization_pending"
    clock.advance(1)
    assert redeem(emulator, auth_req_id)[1]["error"] == "slow_down"
    emulator.approve_backchannel("alice")
    status, tokens = redeem(emulator, auth_req_id)
    assert status == 200
    assert emulator.is_valid_token(tokens["access_token"])
    assert "id_token" in tokens
    assert redeem(emulator, auth_req_id)[1]["error"] == "invalid_grant"
    assert redeem(emulator, auth_req_id, "kiosk")[1]["error"] == "invalid_grant"


def test_denied_and_expired_requests(emulator: ProviderEmulator, clock: ManualClock) -> None:
    denied = start(emulator, login_hint="bob")
    emulator.approve_backchannel("bob", allow=False)
    assert redeem(emulator, denied)[1]["error"] == "access_denied"
    emulator.oauth_ciba_expires_in = 30
    expired = start(emulator, login_hint="carol", requested_expiry="10")
    clock.advance(10)
    assert redeem(emulator, expired)[1]["error"] == "expired_token"
    with pytest.raises(ValueError, match="no undecided"):
        emulator.approve_backchannel("carol")


def recorder(http_module: ModuleType, status: int) -> tuple[Any, list[Any]]:
    """An HTTP client whose POSTs are recorded and answered ``status``."""
    seen: list[Any] = []

    def endpoint(request: Any) -> Any:
        seen.append(request)
        return http_module.Response(status)

    return http_module.AsyncClient(transport=http_module.MockTransport(endpoint)), seen


@pytest.mark.anyio
async def test_a_ping_client_gets_its_notification_queued(
    emulator: ProviderEmulator, http_module: ModuleType
) -> None:
    auth_req_id = start(emulator, "kiosk", login_hint="dan", client_notification_token="tok-1")
    emulator.approve_backchannel("dan")
    http, seen = recorder(http_module, 204)
    async with http:
        assert await emulator.deliver_backchannel_notifications(http) == [204]
        assert await emulator.deliver_backchannel_notifications(http) == []
    (ping,) = seen
    assert str(ping.url) == NOTIFY
    assert ping.headers["authorization"] == "Bearer tok-1"
    assert json.loads(ping.content) == {"auth_req_id": auth_req_id}


@pytest.mark.anyio
@pytest.mark.parametrize("attack", ["wrong_notification_token", "wrong_auth_req_id"])
async def test_the_attack_knobs_spoil_the_ping(
    emulator: ProviderEmulator, http_module: ModuleType, attack: str
) -> None:
    emulator.oauth_ciba_attack = attack
    auth_req_id = start(emulator, "kiosk", login_hint="eve", client_notification_token="tok-2")
    emulator.approve_backchannel("eve")
    http, seen = recorder(http_module, 401)
    async with http:
        assert await emulator.deliver_backchannel_notifications(http) == [401]
    (ping,) = seen
    spoilt_token = ping.headers["authorization"] != "Bearer tok-2"
    spoilt_id = json.loads(ping.content)["auth_req_id"] != auth_req_id
    assert spoilt_token is (attack == "wrong_notification_token")
    assert spoilt_id is (attack == "wrong_auth_req_id")
    with pytest.raises(ValueError, match="oauth_ciba_attack"):
        emulator.oauth_ciba_attack = "push"
