"""What happens to a flow, told to the machine as inputs (a lost poll, a refused refresh),
the one expiry rule, the key set a flow wants first, and strategies that declare their
user step instead of being recognised by class."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any, ClassVar
from urllib.parse import parse_qs

import anyio.lowlevel
import attrs
import pytest

import anyoauth
from anyoauth import (
    AuthorizationCode,
    ClientCredentials,
    DeviceCode,
    FlowExpired,
    InvalidTransition,
    LoginRequired,
    ServerUnavailable,
    Strategy,
    Token,
    TokenRequestError,
    UserStep,
)
from anyoauth.agents import EmbeddedBrowserAgent, SystemBrowserAgent, default_agent
from anyoauth.providers import BankOfGeorgia, Geni
from anyoauth.sansio import (
    DeviceAuthorization,
    Event,
    Flow,
    HttpRequest,
    Redirect,
    RefreshRefused,
    State,
)

NOW = 1_700_000_000.0
TOKEN_URL = "https://idp.example/token"
DEVICE_URL = "https://idp.example/device"
ISSUER = "https://idp.example"
JWKS_URL = "https://idp.example/jwks"


def body(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def form(request: HttpRequest) -> dict[str, list[str]]:
    return parse_qs(request.content.decode())


def device() -> DeviceCode:
    return DeviceCode(
        client_id="tv", device_authorization_endpoint=DEVICE_URL, token_endpoint=TOKEN_URL
    )


DEVICE_ANSWER = body(
    device_code="dc",
    user_code="UC",
    verification_uri="https://idp.example/v",
    expires_in=60,
    interval=5,
)


def polling(strategy: Strategy | None = None, answer: bytes = DEVICE_ANSWER) -> Flow:
    """A device flow with its first poll out (sent at NOW + 5)."""
    flow = Flow(strategy or device())
    flow.request_device_code(NOW)
    flow.receive_device_code(200, "application/json", answer, NOW)
    flow.poll(NOW + 5)
    return flow


# -- a lost poll -----------------------------------------------------------------------


def test_a_lost_poll_backs_off_and_waits_for_the_next_one() -> None:
    flow = polling()
    flow.poll_lost(ServerUnavailable("the server's answer was lost"), NOW + 6)
    assert flow.state is State.AWAITING_APPROVAL
    assert flow.device is not None
    assert flow.device.interval == 10
    assert flow.next_poll_at == NOW + 16
    assert form(flow.poll(NOW + 16))["device_code"] == ["dc"]


def test_lost_polls_grow_the_interval_like_slow_down() -> None:
    flow = polling()
    flow.poll_lost(ServerUnavailable("lost"), NOW + 6)
    flow.poll(NOW + 16)
    flow.receive_poll_response(400, "application/json", body(error="slow_down"), NOW + 17)
    assert flow.device is not None
    assert flow.device.interval == 15


def test_a_lost_poll_does_not_outlive_the_device_code() -> None:
    flow = polling()
    flow.poll_lost(ServerUnavailable("lost"), NOW + 59)
    with pytest.raises(FlowExpired):
        flow.poll(NOW + 60)
    assert flow.state is State.FAILED


def test_a_lost_poll_is_only_taken_while_a_poll_is_out() -> None:
    flow = polling()
    flow.poll_lost(ServerUnavailable("lost"), NOW + 6)
    with pytest.raises(InvalidTransition):
        flow.poll_lost(ServerUnavailable("lost again"), NOW + 7)
    assert flow.state is State.FAILED


# -- a refused refresh -----------------------------------------------------------------


def holding(strategy: Strategy) -> Flow:
    token = Token(access_token="at-1", refresh_token="rt-1", issued_at=NOW, expires_at=NOW + 60)
    return Flow.holding(strategy, token)


def refused(strategy: Strategy) -> Flow:
    flow = holding(strategy)
    flow.refresh(NOW)
    result = flow.receive_token_response(400, "application/json", body(error="invalid_grant"), NOW)
    assert isinstance(result, RefreshRefused)
    return flow


def code_strategy() -> AuthorizationCode:
    return AuthorizationCode(
        client_id="app",
        authorization_endpoint="https://idp.example/authorize",
        token_endpoint=TOKEN_URL,
        redirect_uri="https://app.example/cb",
    )


def service() -> ClientCredentials:
    return ClientCredentials(client_id="svc", client_secret="s", token_endpoint=TOKEN_URL)


def test_a_refused_refresh_of_a_login_gives_the_token_up() -> None:
    flow = refused(code_strategy())
    old = flow.token
    with pytest.raises(LoginRequired, match=r"refresh token was refused \(invalid_grant\)") as info:
        flow.refresh_refused(NOW)
    assert flow.state is State.FAILED
    assert flow.discarded is old
    assert flow.token is None
    assert isinstance(info.value.__cause__, TokenRequestError)


def test_a_refused_refresh_of_a_service_starts_a_new_grant() -> None:
    flow = refused(service())
    request = flow.refresh_refused(NOW)
    assert flow.state.name == "EXCHANGING"
    assert form(request)["grant_type"] == ["client_credentials"]
    assert flow.discarded is None
    token = flow.receive_token_response(
        200, "application/json", body(access_token="at-2", token_type="Bearer"), NOW
    )
    assert isinstance(token, Token)
    assert token.refresh_token is None  # a new grant keeps nothing of the refused token
    assert flow.state is State.HOLDING_TOKEN


def test_a_refused_refresh_is_answered_once() -> None:
    flow = refused(service())
    flow.refresh_refused(NOW)
    with pytest.raises(InvalidTransition):
        flow.refresh_refused(NOW)


def test_a_refused_grant_of_the_clients_own_asks_for_a_login() -> None:
    flow = Flow(service())
    flow.request_token(NOW)
    result = flow.receive_token_response(400, "application/json", body(error="invalid_grant"), NOW)
    assert isinstance(result, RefreshRefused)  # another holder may have a token: look first
    with pytest.raises(LoginRequired):
        flow.refresh_refused(NOW)
    assert flow.discarded is None
    assert flow.state is State.FAILED


def test_a_refused_code_is_no_refused_renewal() -> None:
    flow = Flow(code_strategy())
    start = flow.start(NOW)
    flow.receive_redirect(Redirect({"code": "c", "state": start.state}), NOW)
    with pytest.raises(TokenRequestError):
        flow.receive_token_response(400, "application/json", body(error="invalid_grant"), NOW)
    assert flow.state is State.FAILED


def test_the_refused_state_and_its_exits_are_in_the_transition_table() -> None:
    assert (
        anyoauth.sansio.TRANSITIONS[State.REFRESHING, Event.REFRESH_REFUSED]
        is State.REFRESH_REFUSED
    )
    assert (
        anyoauth.sansio.TRANSITIONS[State.REFRESH_REFUSED, Event.TOKEN_REQUESTED]
        is State.EXCHANGING
    )
    assert anyoauth.sansio.TRANSITIONS[State.POLLING, Event.POLL_LOST] is State.AWAITING_APPROVAL


# -- one expiry rule -------------------------------------------------------------------


def test_a_short_lived_token_is_due_at_half_its_life_not_at_the_leeway() -> None:
    token = Token(access_token="a", issued_at=NOW, expires_at=NOW + 20)
    assert token.renewal_margin(30) == 10
    assert not token.renewal_due(NOW + 9, 30)
    assert token.renewal_due(NOW + 10, 30)
    flow = Flow.holding(code_strategy(), token)
    assert flow.check_expiry(NOW + 9, leeway=30) is State.HOLDING_TOKEN
    assert flow.check_expiry(NOW + 10, leeway=30) is State.EXPIRED


def test_a_token_of_unknown_lifetime_is_never_due() -> None:
    token = Token(access_token="a", issued_at=NOW)
    assert not token.renewal_due(NOW + 10**9, 30)


def test_a_token_expiring_before_its_issue_gets_no_extra_life() -> None:
    token = Token(access_token="a", issued_at=NOW, expires_at=NOW - 5)
    assert token.renewal_margin(30) == 0
    assert token.renewal_due(NOW - 5, 30)


# -- the key set a flow wants first ----------------------------------------------------


def oidc(scope: str) -> AuthorizationCode:
    return attrs.evolve(code_strategy(), issuer=ISSUER, jwks_uri=JWKS_URL, scope=scope)


def test_an_openid_flow_wants_the_key_set_before_its_token_request() -> None:
    request = Flow(oidc("openid profile")).key_set_wanted(None)
    assert request is not None
    assert (request.method, request.url) == ("GET", JWKS_URL)


def test_a_known_key_set_or_no_openid_scope_wants_none() -> None:
    assert Flow(oidc("openid")).key_set_wanted({"keys": []}) is None
    assert Flow(oidc("profile")).key_set_wanted(None) is None
    assert Flow(code_strategy()).key_set_wanted(None) is None


# -- capabilities instead of classes ---------------------------------------------------


@attrs.frozen(kw_only=True)
class PluginDevice(Strategy):
    """A device flow of a plugin: not a DeviceCode subclass, its own request shapes."""

    name: ClassVar[str] = "plugin-device"
    device_url: str = DEVICE_URL

    @property
    def user_step(self) -> UserStep:
        return UserStep.DEVICE

    def device_authorization_request(self, *, now: float) -> HttpRequest:
        return self.form_request([("want", "code")], now=now, url=self.device_url)

    def read_device_authorization(
        self, status_code: int, content_type: str | None, body: bytes, now: float
    ) -> DeviceAuthorization:
        payload = json.loads(body)
        return DeviceAuthorization(
            device_code=payload["handle"],
            user_code=payload["pin"],
            verification_uri="https://idp.example/pin",
            expires_at=now + 60,
            interval=1,
        )

    def device_token_request(self, device_code: str, *, now: float) -> HttpRequest:
        return self.form_request([("grant_type", "pin"), ("handle", device_code)], now=now)


@attrs.frozen(kw_only=True)
class PluginLanding(Strategy):
    """A plugin flow that ends on the provider's own page."""

    name: ClassVar[str] = "plugin-landing"

    @property
    def user_step(self) -> UserStep:
        return UserStep.LANDING_PAGE


def plugin_device() -> PluginDevice:
    return PluginDevice(client_id="tv", token_endpoint=TOKEN_URL)


def test_a_plugin_device_flow_runs_through_the_machine() -> None:
    flow = Flow(plugin_device())
    assert form(flow.request_device_code(NOW))["want"] == ["code"]
    shown = flow.receive_device_code(200, "application/json", body(handle="h", pin="P"), NOW)
    assert shown.user_code == "P"
    assert form(flow.poll(NOW + 1)) == {"grant_type": ["pin"], "handle": ["h"], "client_id": ["tv"]}
    flow.poll_lost(ServerUnavailable("lost"), NOW + 2)
    flow.poll(flow.next_poll_at)
    token = flow.receive_poll_response(
        200, "application/json", body(access_token="at", token_type="Bearer"), NOW + 9
    )
    assert isinstance(token, Token)


def test_a_flow_without_a_device_step_cannot_ask_for_a_device_code() -> None:
    flow = Flow(code_strategy())
    with pytest.raises(anyoauth.ConfigurationError, match="not a device grant"):
        flow.request_device_code(NOW)


def test_the_user_step_picks_the_default_agent() -> None:
    landing = PluginLanding(
        client_id="app",
        authorization_endpoint="https://idp.example/authorize",
        redirect_uri="https://app.example/cb",
    )
    assert isinstance(default_agent(landing), EmbeddedBrowserAgent)
    assert isinstance(default_agent(code_strategy()), SystemBrowserAgent)


@pytest.mark.parametrize(
    ("strategy", "step"),
    [
        (code_strategy(), UserStep.REDIRECT),
        (service(), UserStep.NONE),
        (device(), UserStep.DEVICE),
        (Geni("g"), UserStep.LANDING_PAGE),
        (
            BankOfGeorgia("b", "s", redirect_uri="https://app.example/cb"),
            UserStep.REDIRECT,
        ),
    ],
    ids=["code", "client-credentials", "device", "geni", "bog-authorize"],
)
def test_each_strategy_declares_its_user_step(strategy: Strategy, step: UserStep) -> None:
    assert strategy.user_step is step
    assert strategy.interactive is (step in (UserStep.REDIRECT, UserStep.LANDING_PAGE))


class DeviceServer:
    """The plugin's provider: a pin, one ``authorization_pending``, then a token."""

    def __init__(self, http_module: ModuleType) -> None:
        self.module = http_module
        self.polls = 0

    async def __call__(self, request: Any) -> Any:
        await anyio.lowlevel.checkpoint()
        fields = parse_qs(request.content.decode())
        if request.url.path == "/device":
            return self.module.Response(200, json={"handle": "h-1", "pin": "PIN"})
        assert fields["handle"] == ["h-1"]
        self.polls += 1
        if self.polls == 1:
            return self.module.Response(400, json={"error": "authorization_pending"})
        return self.module.Response(200, json={"access_token": "at-pin", "token_type": "Bearer"})


@pytest.mark.anyio
async def test_a_plugin_device_flow_logs_in_through_the_client(http_module: ModuleType) -> None:
    server = DeviceServer(http_module)
    transport = http_module.MockTransport(server)
    async with http_module.AsyncClient(transport=transport) as http:
        client = anyoauth.Client(plugin_device(), http=http)
        token = await client.login()  # the user step, not the class, says: a device login
        assert await client.token() is token
    assert token.access_token == "at-pin"
    assert server.polls == 2
