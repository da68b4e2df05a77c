"""The flow state machine: the transition table and the Flow that follows it."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import string
from urllib.parse import parse_qs, parse_qsl, urlsplit

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from anyoauth import (
    AuthorizationDenied,
    AuthorizationRequest,
    ClientCredentials,
    ConfigurationError,
    DeviceCode,
    FlowExpired,
    HttpRequest,
    InvalidTransition,
    LoginRequired,
    MalformedRedirect,
    OAuthError,
    PendingFlow,
    RedirectMismatch,
    StateMismatch,
    StateMissing,
    Strategy,
    Token,
    TokenEndpointUnavailable,
    TokenRequestError,
)
from anyoauth.sansio import (
    TERMINAL_STATES,
    TRANSITIONS,
    Event,
    Flow,
    Redirect,
    RefreshRefused,
    State,
    new_code_verifier,
    pending_key,
    s256_challenge,
    state_diagram,
)
from support.headers import header
from support.oauth_server import (
    DEVICE,
    JSON,
    JWKS,
    NOW,
    TOKEN,
    body,
    device_answer,
    exchanging,
    id_token,
    oidc_strategy,
    state_of,
)
from support.oauth_server import code_strategy as pkce_code_strategy

REDIRECT_URI = "https://app.example/callback"
TOKEN_URL = "https://idp.example/token"
AUTHORIZE_URL = "https://idp.example/authorize"
UNRESERVED = set(string.ascii_letters + string.digits + "-._~")
URLSAFE = set(string.ascii_letters + string.digits + "-_")

ALL_PAIRS = list(itertools.product(State, Event))


def code_strategy(**overrides: object) -> Strategy:
    settings: dict[str, object] = {
        "client_id": "client-1",
        "client_secret": "secret-1",
        "authorization_endpoint": AUTHORIZE_URL,
        "token_endpoint": TOKEN_URL,
        "redirect_uri": REDIRECT_URI,
    }
    settings.update(overrides)
    return Strategy(**settings)  # type: ignore[arg-type]


def implicit_strategy() -> Strategy:
    return code_strategy(response_type="token")


def client_credentials() -> ClientCredentials:
    return ClientCredentials(client_id="svc", client_secret="svc-secret", token_endpoint=TOKEN_URL)


def query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def form(request: HttpRequest) -> dict[str, list[str]]:
    return parse_qs(request.content.decode(), keep_blank_values=True)


def started(strategy: Strategy | None = None) -> tuple[Flow, AuthorizationRequest]:
    flow = Flow(strategy or code_strategy())
    return flow, flow.start(NOW)


def redirect_to(**params: str) -> Redirect:
    return Redirect(params)


def token_body(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def b64url_sha256(text: str) -> str:
    digest = hashlib.sha256(text.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


# -- the transition table -----------------------------------------------------------


@pytest.mark.parametrize(("state", "event"), ALL_PAIRS, ids=lambda v: v.name)
def test_every_pair(state: State, event: Event) -> None:
    flow = Flow(code_strategy(), state=state)
    if (state, event) in TRANSITIONS:
        assert flow.handle(event) is TRANSITIONS[state, event]
        assert flow.state is TRANSITIONS[state, event]
    else:
        with pytest.raises(InvalidTransition) as info:
            flow.handle(event)
        assert (info.value.state, info.value.event) == (state, event)
        assert flow.state is State.FAILED


@given(st.sampled_from(State), st.sampled_from(Event))
def test_handle_follows_the_table(state: State, event: Event) -> None:
    flow = Flow(code_strategy(), state=state)
    target = TRANSITIONS.get((state, event))
    try:
        flow.handle(event)
    except InvalidTransition:
        assert target is None
        assert flow.state is State.FAILED
    else:
        assert target is not None
        assert flow.state is target


@pytest.mark.parametrize("event", list(Event), ids=lambda e: e.name)
def test_failed_is_terminal(event: Event) -> None:
    assert State.FAILED in TERMINAL_STATES
    assert (State.FAILED, event) not in TRANSITIONS
    flow = Flow(code_strategy(), state=State.FAILED)
    with pytest.raises(InvalidTransition):
        flow.handle(event)
    assert flow.state is State.FAILED


def test_no_terminal_state_has_a_way_out() -> None:
    for state, _event in TRANSITIONS:
        assert state not in TERMINAL_STATES


def test_every_state_is_reachable_from_created() -> None:
    reached = {State.CREATED}
    frontier = [State.CREATED]
    while frontier:
        current = frontier.pop()
        for (source, _event), target in TRANSITIONS.items():
            if source is current and target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(State)


def test_nothing_leads_back_to_created() -> None:
    assert State.CREATED not in TRANSITIONS.values()


def test_a_token_is_only_held_after_a_redirect_an_exchange_a_poll_or_verification() -> None:
    sources = {s for (s, _e), t in TRANSITIONS.items() if t is State.HOLDING_TOKEN}
    assert sources == {
        State.AWAITING_REDIRECT,
        State.VERIFYING_RESPONSE,
        State.EXCHANGING,
        State.REFRESHING,
        State.POLLING,
        State.VERIFYING,
    }
    assert (State.CREATED, Event.TOKEN_RECEIVED) not in TRANSITIONS


def test_state_diagram_draws_every_transition() -> None:
    diagram = state_diagram()
    lines = set(diagram.splitlines())
    for (state, event), target in TRANSITIONS.items():
        assert f"    {state.name} --> {target.name}: {event.value}" in lines
    assert f"    {State.FAILED.name} --> [*]" in lines


@given(
    st.sampled_from(State),
    st.lists(st.sampled_from(Event), max_size=30),
)
def test_random_event_sequences(start: State, events: list[Event]) -> None:
    flow = Flow(code_strategy(), state=start)
    failed = start is State.FAILED
    for event in events:
        expected = None if failed else TRANSITIONS.get((flow.state, event))
        try:
            flow.handle(event)
        except InvalidTransition:
            assert expected is None
        else:
            assert expected is not None
            assert flow.state is expected
        assert flow.state in set(State)
        if failed:
            assert flow.state is State.FAILED
        failed = flow.state is State.FAILED


# -- start ----------------------------------------------------------------------------


def test_start_moves_to_awaiting_redirect() -> None:
    flow, request = started()
    assert flow.state is State.AWAITING_REDIRECT
    assert flow.pending is request.pending


def test_state_has_at_least_128_bits() -> None:
    states = [Flow(code_strategy()).start(NOW).state for _ in range(2_000)]
    assert len(set(states)) == len(states)
    for value in states[:50]:
        assert len(value) >= 43
        assert set(value) <= URLSAFE
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        assert len(raw) >= 16


def test_state_is_in_the_url() -> None:
    _, request = started()
    assert query(request.url)["state"] == request.state == request.pending.state


def test_pending_flow_deadline_and_binding() -> None:
    strategy = code_strategy(state_ttl=90.0)
    _, request = started(strategy)
    pending = request.pending
    assert pending.created_at == NOW
    assert pending.expires_at == NOW + 90.0
    assert request.expires_at == NOW + 90.0
    assert pending.binding == strategy.binding


def test_pending_flow_round_trips_and_hides_secrets() -> None:
    _, request = started(code_strategy(uses_pkce=True))
    pending = request.pending
    assert PendingFlow.from_dict(json.loads(json.dumps(pending.to_dict()))) == pending
    assert pending.code_verifier is not None
    for text in (repr(pending), repr(request)):
        assert pending.state not in text
        assert pending.code_verifier not in text


def test_pkce_challenge_is_s256_of_the_verifier() -> None:
    _, request = started(code_strategy(uses_pkce=True))
    verifier = request.pending.code_verifier
    assert verifier is not None
    assert 43 <= len(verifier) <= 128
    assert set(verifier) <= UNRESERVED
    params = query(request.url)
    assert params["code_challenge_method"] == "S256"
    assert params["code_challenge"] == b64url_sha256(verifier)
    assert "=" not in params["code_challenge"]


def test_pkce_verifier_is_fresh_per_flow() -> None:
    verifiers = {started(code_strategy(uses_pkce=True))[1].pending.code_verifier for _ in range(50)}
    assert len(verifiers) == 50


def test_no_pkce_unless_the_strategy_uses_it() -> None:
    _, request = started(code_strategy(uses_pkce=False))
    assert request.pending.code_verifier is None
    params = query(request.url)
    assert "code_challenge" not in params
    assert "code_challenge_method" not in params


def test_start_twice_fails() -> None:
    flow, _ = started()
    with pytest.raises(InvalidTransition):
        flow.start(NOW)
    assert flow.state is State.FAILED


def test_start_without_a_user_step_fails() -> None:
    flow = Flow(client_credentials())
    with pytest.raises(ConfigurationError):
        flow.start(NOW)
    assert flow.state is State.FAILED


# -- receive_redirect -----------------------------------------------------------------


def test_code_redirect_returns_the_exchange_request() -> None:
    flow, request = started(code_strategy(uses_pkce=True))
    result = flow.receive_redirect(redirect_to(code="the-code", state=request.state), NOW + 5)
    assert isinstance(result, HttpRequest)
    assert flow.state is State.EXCHANGING
    assert result.method == "POST"
    assert result.url == TOKEN_URL
    body = form(result)
    assert body["grant_type"] == ["authorization_code"]
    assert body["code"] == ["the-code"]
    assert body["redirect_uri"] == [REDIRECT_URI]
    assert body["code_verifier"] == [request.pending.code_verifier]


def test_implicit_redirect_returns_the_token() -> None:
    flow, request = started(implicit_strategy())
    result = flow.receive_redirect(
        redirect_to(access_token="tok", expires_in="600", state=request.state), NOW + 5
    )
    assert isinstance(result, Token)
    assert result.access_token == "tok"
    assert result.expires_at == NOW + 5 + 600
    assert flow.state is State.HOLDING_TOKEN
    assert flow.token is result
    assert "state" not in result.extra


def _assert_rejected(
    flow: Flow, redirect: Redirect, now: float, error: type[OAuthError]
) -> OAuthError:
    with pytest.raises(error) as info:
        flow.receive_redirect(redirect, now)
    assert flow.state is State.FAILED
    assert flow.token is None
    return info.value


def test_wrong_state_is_a_mismatch() -> None:
    flow, request = started()
    _assert_rejected(flow, redirect_to(code="c", state=request.state + "x"), NOW, StateMismatch)


def test_state_of_another_flow_is_a_mismatch() -> None:
    flow, _ = started()
    _, other = started()
    _assert_rejected(flow, redirect_to(code="c", state=other.state), NOW, StateMismatch)


@pytest.mark.parametrize("params", [{"code": "c"}, {"code": "c", "state": ""}], ids=repr)
def test_missing_state(params: dict[str, str]) -> None:
    flow, _ = started()
    _assert_rejected(flow, Redirect(params), NOW, StateMissing)


def test_expired_flow() -> None:
    flow, request = started(code_strategy(state_ttl=60.0))
    _assert_rejected(flow, redirect_to(code="c", state=request.state), NOW + 60.0, FlowExpired)


def test_flow_just_before_its_deadline_is_accepted() -> None:
    flow, request = started(code_strategy(state_ttl=60.0))
    result = flow.receive_redirect(redirect_to(code="c", state=request.state), NOW + 59.999)
    assert isinstance(result, HttpRequest)


def test_state_checked_before_expiry() -> None:
    flow, _ = started(code_strategy(state_ttl=60.0))
    _assert_rejected(flow, redirect_to(code="c", state="forged"), NOW + 3600, StateMismatch)


def test_binding_of_another_strategy_is_a_mismatch() -> None:
    _, request = started(code_strategy(client_id="client-a"))
    flow = Flow.resume(code_strategy(client_id="client-b"), request.pending)
    assert flow.state is State.AWAITING_REDIRECT
    _assert_rejected(flow, redirect_to(code="c", state=request.state), NOW, StateMismatch)


def test_error_redirect_is_denied_with_the_provider_words() -> None:
    flow, request = started()
    redirect = redirect_to(
        error="access_denied",
        error_description="The user said no",
        error_uri="https://idp.example/why",
        state=request.state,
    )
    err = _assert_rejected(flow, redirect, NOW, AuthorizationDenied)
    assert isinstance(err, AuthorizationDenied)
    assert err.error == "access_denied"
    assert err.error_description == "The user said no"
    assert err.error_uri == "https://idp.example/why"


def test_error_redirect_with_a_wrong_state_is_a_mismatch() -> None:
    flow, _ = started()
    _assert_rejected(flow, redirect_to(error="access_denied", state="forged"), NOW, StateMismatch)


def test_code_redirect_without_code_is_malformed() -> None:
    flow, request = started()
    _assert_rejected(flow, redirect_to(state=request.state), NOW, MalformedRedirect)


def test_implicit_redirect_without_token_is_malformed() -> None:
    flow, request = started(implicit_strategy())
    _assert_rejected(flow, redirect_to(state=request.state), NOW, MalformedRedirect)


def test_implicit_redirect_with_bad_expiry_is_malformed() -> None:
    flow, request = started(implicit_strategy())
    redirect = redirect_to(access_token="t", expires_in="-5", state=request.state)
    _assert_rejected(flow, redirect, NOW, MalformedRedirect)


def test_a_redirect_is_used_once() -> None:
    flow, request = started()
    flow.receive_redirect(redirect_to(code="c", state=request.state), NOW)
    with pytest.raises(InvalidTransition):
        flow.receive_redirect(redirect_to(code="c", state=request.state), NOW)
    assert flow.state is State.FAILED


def test_redirect_before_start_fails() -> None:
    flow = Flow(code_strategy())
    with pytest.raises(InvalidTransition):
        flow.receive_redirect(redirect_to(code="c", state="s"), NOW)
    assert flow.state is State.FAILED


def test_non_ascii_state_is_a_mismatch() -> None:
    flow, _ = started()
    _assert_rejected(flow, redirect_to(code="c", state="é✓"), NOW, StateMismatch)


def test_lone_surrogate_state_is_a_mismatch() -> None:
    """A URL watcher may hand over any str; a bad state must still fail the flow cleanly."""
    flow, _ = started()
    redirect, _key = Flow.redirect_key(code_strategy(), f"{REDIRECT_URI}?code=c&state=\ud800")
    _assert_rejected(flow, redirect, NOW, StateMismatch)


def test_errors_while_building_the_exchange_fail_the_flow() -> None:
    """A code flow whose strategy cannot build the exchange still ends FAILED."""
    flow, request = started(code_strategy(token_endpoint=None))
    with pytest.raises(OAuthError):
        flow.receive_redirect(redirect_to(code="c", state=request.state), NOW)
    assert flow.state is State.FAILED


@given(
    use_state=st.sampled_from(["right", "wrong", "missing", "empty"]),
    implicit=st.booleans(),
    extra=st.dictionaries(
        st.sampled_from(
            ["code", "access_token", "expires_in", "token_type", "error", "refresh_token", "scope"]
        ),
        st.text(max_size=12),
    ),
    delay=st.floats(min_value=0, max_value=1_200),
)
def test_receive_redirect_returns_a_result_or_fails_the_flow(
    use_state: str, implicit: bool, extra: dict[str, str], delay: float
) -> None:
    flow, request = started(implicit_strategy() if implicit else code_strategy())
    params = dict(extra)
    if use_state != "missing":
        params["state"] = {"right": request.state, "wrong": "nope", "empty": ""}[use_state]
    try:
        result = flow.receive_redirect(Redirect(params), NOW + delay)
    except OAuthError:
        assert flow.state is State.FAILED
        return
    assert use_state == "right"
    assert delay < 600
    assert "error" not in params
    if implicit:
        assert isinstance(result, Token)
        assert flow.state is State.HOLDING_TOKEN
    else:
        assert isinstance(result, HttpRequest)
        assert flow.state is State.EXCHANGING


# -- redirect_key ---------------------------------------------------------------------


def test_redirect_key_is_a_digest_of_the_state() -> None:
    _, request = started()
    redirect, key = Flow.redirect_key(
        code_strategy(), f"{REDIRECT_URI}?code=c&state={request.state}"
    )
    assert redirect.state == request.state
    assert key == hashlib.sha256(request.state.encode()).hexdigest()
    assert key == pending_key(request.state)
    assert request.state not in key
    assert re.fullmatch(r"[0-9a-f]{64}", key)


def test_redirect_key_of_a_state_less_error_is_a_denial() -> None:
    with pytest.raises(AuthorizationDenied) as info:
        Flow.redirect_key(
            code_strategy(), f"{REDIRECT_URI}?error=access_denied&error_description=no"
        )
    assert info.value.error == "access_denied"
    assert info.value.error_description == "no"


def test_redirect_key_of_a_state_less_success_is_missing_state() -> None:
    with pytest.raises(StateMissing):
        Flow.redirect_key(code_strategy(), f"{REDIRECT_URI}?code=c")


def test_redirect_key_of_another_url_is_a_mismatch() -> None:
    with pytest.raises(RedirectMismatch):
        Flow.redirect_key(code_strategy(), "https://evil.example/callback?code=c&state=s")


# -- refresh and token responses -------------------------------------------------------


def held(refresh_token: str | None, strategy: Strategy | None = None) -> Flow:
    token = Token(
        access_token="old-access",
        issued_at=NOW,
        expires_at=NOW + 60,
        refresh_token=refresh_token,
    )
    return Flow.holding(strategy or code_strategy(), token)


def test_refresh_without_refresh_token_needs_a_login() -> None:
    flow = held(None)
    with pytest.raises(LoginRequired):
        flow.refresh(NOW)
    assert flow.state is State.FAILED


def test_refresh_request() -> None:
    flow = held("old-refresh")
    request = flow.refresh(NOW)
    assert flow.state is State.REFRESHING
    assert request.method == "POST"
    assert request.url == TOKEN_URL
    assert header(request, "Content-Type") == "application/x-www-form-urlencoded"
    body = form(request)
    assert body["grant_type"] == ["refresh_token"]
    assert body["refresh_token"] == ["old-refresh"]


def test_refresh_from_expired() -> None:
    flow = held("old-refresh")
    assert flow.check_expiry(NOW + 60) is State.EXPIRED
    flow.refresh(NOW)
    assert flow.state is State.REFRESHING


def test_refresh_keeps_the_old_refresh_token_when_none_is_sent() -> None:
    flow = held("old-refresh")
    flow.refresh(NOW)
    token = flow.receive_token_response(
        200, "application/json", token_body(access_token="new-access", expires_in=60), NOW + 30
    )
    assert isinstance(token, Token)
    assert token.access_token == "new-access"
    assert token.refresh_token == "old-refresh"
    assert token.expires_at == NOW + 30 + 60
    assert flow.state is State.HOLDING_TOKEN
    assert flow.token is token


def test_refresh_takes_a_rotated_refresh_token() -> None:
    flow = held("old-refresh")
    flow.refresh(NOW)
    token = flow.receive_token_response(
        200,
        "application/json",
        token_body(access_token="new-access", refresh_token="new-refresh"),
        NOW + 30,
    )
    assert isinstance(token, Token)
    assert token.refresh_token == "new-refresh"


def test_refresh_error_fails_the_flow() -> None:
    flow = held("old-refresh")
    flow.refresh(NOW)
    with pytest.raises(TokenRequestError) as info:
        flow.receive_token_response(
            400, "application/json", token_body(error="invalid_client"), NOW
        )
    assert info.value.error == "invalid_client"
    assert flow.state is State.FAILED


def test_a_refused_refresh_token_waits_for_the_driver_to_look_for_a_newer_one() -> None:
    flow = held("old-refresh")
    flow.refresh(NOW)
    result = flow.receive_token_response(
        400, "application/json", token_body(error="invalid_grant"), NOW
    )
    assert isinstance(result, RefreshRefused)
    assert result.error.error == "invalid_grant"
    assert flow.state is State.REFRESH_REFUSED
    assert flow.discarded is None


def test_refresh_with_a_direct_grant_uses_it() -> None:
    flow = held(None, client_credentials())
    request = flow.refresh(NOW)
    assert flow.state is State.REFRESHING
    assert form(request)["grant_type"] == ["client_credentials"]


def test_token_response_when_none_is_expected_fails() -> None:
    flow = held("old-refresh")
    with pytest.raises(InvalidTransition):
        flow.receive_token_response(200, "application/json", token_body(access_token="x"), NOW)
    assert flow.state is State.FAILED


def test_code_exchange_response() -> None:
    flow, request = started()
    flow.receive_redirect(redirect_to(code="c", state=request.state), NOW)
    token = flow.receive_token_response(
        200,
        "application/json",
        token_body(access_token="a", refresh_token="r", expires_in=10),
        NOW + 1,
    )
    assert isinstance(token, Token)
    assert (token.access_token, token.refresh_token, token.expires_at) == ("a", "r", NOW + 11)
    assert flow.state is State.HOLDING_TOKEN


def test_html_token_response_fails_the_flow() -> None:
    flow, request = started()
    flow.receive_redirect(redirect_to(code="c", state=request.state), NOW)
    with pytest.raises(OAuthError):
        flow.receive_token_response(502, "text/html", b"<html>Bad Gateway</html>", NOW)
    assert flow.state is State.FAILED
    assert flow.token is None


def test_transport_failure_fails_the_flow() -> None:
    flow = Flow(client_credentials())
    flow.request_token(NOW)
    error = TokenEndpointUnavailable("timed out")
    with pytest.raises(TokenEndpointUnavailable) as info:
        flow.transport_failed(error)
    assert info.value is error
    assert flow.state is State.FAILED


# -- client credentials and expiry ---------------------------------------------------


def test_client_credentials_request_token() -> None:
    flow = Flow(client_credentials())
    request = flow.request_token(NOW)
    after_request = flow.state
    assert form(request)["grant_type"] == ["client_credentials"]
    token = flow.receive_token_response(
        200, "application/json", token_body(access_token="a", expires_in=300), NOW
    )
    assert isinstance(token, Token)
    assert token.expires_at == NOW + 300
    assert (after_request, flow.state) == (State.EXCHANGING, State.HOLDING_TOKEN)


def test_request_token_without_a_direct_grant_needs_a_login() -> None:
    flow = Flow(code_strategy())
    with pytest.raises(LoginRequired):
        flow.request_token(NOW)
    assert flow.state is State.FAILED


def test_request_token_twice_fails() -> None:
    flow = Flow(client_credentials())
    flow.request_token(NOW)
    with pytest.raises(InvalidTransition):
        flow.request_token(NOW)
    assert flow.state is State.FAILED


@pytest.mark.parametrize(
    ("now", "leeway", "expected"),
    [
        (NOW, 0.0, State.HOLDING_TOKEN),
        (NOW + 59.9, 0.0, State.HOLDING_TOKEN),
        (NOW + 60, 0.0, State.EXPIRED),
        (NOW + 49.9, 10.0, State.HOLDING_TOKEN),
        (NOW + 50, 10.0, State.EXPIRED),
    ],
)
def test_check_expiry_with_leeway(now: float, leeway: float, expected: State) -> None:
    flow = held("r")
    assert flow.check_expiry(now, leeway) is expected
    assert flow.state is expected


def test_check_expiry_of_a_token_without_expiry() -> None:
    flow = Flow.holding(code_strategy(), Token(access_token="a", issued_at=NOW))
    assert flow.check_expiry(NOW + 10**9, leeway=10**6) is State.HOLDING_TOKEN


@pytest.mark.parametrize("state", [s for s in State if s is not State.HOLDING_TOKEN])
def test_check_expiry_only_acts_on_a_held_token(state: State) -> None:
    flow = Flow(
        code_strategy(), state=state, token=Token(access_token="a", issued_at=0, expires_at=1)
    )
    assert flow.check_expiry(NOW) is state


SHORT_REDIRECT_URI = "https://app.example/cb"


# -- token responses in the wrong state ------------------------------------------------


def test_token_response_is_refused_before_the_redirect_was_validated() -> None:
    strategy = pkce_code_strategy(client_secret="s" * 40)
    pending = Flow(strategy).start(NOW).pending
    flow = Flow.resume(strategy, pending)
    with pytest.raises(InvalidTransition):
        flow.receive_token_response(200, JSON, body(access_token="injected"), NOW)
    assert flow.state is State.FAILED
    assert flow.token is None


@pytest.mark.parametrize("state", [State.CREATED, State.HOLDING_TOKEN, State.EXPIRED])
def test_token_response_needs_a_sent_token_request(state: State) -> None:
    flow = Flow(pkce_code_strategy(), state=state)
    with pytest.raises(InvalidTransition):
        flow.receive_token_response(200, JSON, body(access_token="x"), NOW)
    assert flow.state is State.FAILED


def test_token_response_is_refused_while_polling_or_verifying() -> None:
    device = DeviceCode(client_id="tv", device_authorization_endpoint=DEVICE, token_endpoint=TOKEN)
    flow = Flow(device)
    flow.request_device_code(NOW)
    flow.receive_device_code(200, JSON, device_answer(), NOW)
    flow.poll(NOW + 5)
    assert state_of(flow) is State.POLLING
    with pytest.raises(InvalidTransition):
        flow.receive_token_response(200, JSON, body(access_token="x"), NOW + 5)
    assert state_of(flow) is State.FAILED

    flow, nonce = exchanging(oidc_strategy())
    answer = body(access_token="a", id_token=id_token(nonce=nonce))
    assert not isinstance(flow.receive_token_response(200, JSON, answer, NOW), Token)
    assert state_of(flow) is State.VERIFYING
    with pytest.raises(InvalidTransition):
        flow.receive_token_response(200, JSON, answer, NOW, keys=JWKS)
    assert state_of(flow) is State.FAILED


# -- PKCE and pending flows ------------------------------------------------------------


def test_s256_challenge_of_rfc_7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert s256_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_code_verifier_shape() -> None:
    verifiers = {new_code_verifier() for _ in range(100)}
    assert len(verifiers) == 100
    for verifier in verifiers:
        assert len(verifier) == 64
        assert set(verifier) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
        )
        digest = hashlib.sha256(verifier.encode()).digest()
        assert s256_challenge(verifier) == base64.urlsafe_b64encode(digest).decode().rstrip("=")


def test_pending_flow_to_dict_has_every_field() -> None:
    strategy = Strategy(
        client_id="cid",
        authorization_endpoint=AUTHORIZE_URL,
        token_endpoint=TOKEN_URL,
        redirect_uri=SHORT_REDIRECT_URI,
        uses_pkce=True,
    )
    pending = Flow(strategy).start(1.0).pending
    assert pending.to_dict() == attrs.asdict(pending)
    assert PendingFlow.from_dict(pending.to_dict()) == pending
