"""CIBA (OpenID Client-Initiated Backchannel Authentication Core 1.0) in the core: the
request's parameters, the :class:`Ciba` strategy's requests and settings, and the
machine's polling rules shared with the device grant (interval, ``slow_down``, expiry,
lost polls, pings)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from anyoauth import (
    AuthorizationDenied,
    BackchannelRequest,
    Ciba,
    ConfigurationError,
    DPoPKey,
    FlowExpired,
    InvalidResponse,
    InvalidTransition,
    ServerMetadata,
    ServerUnavailable,
    TokenRequestError,
    UserStep,
)
from anyoauth.sansio import TRANSITIONS, Event, Flow, State

ISSUER = "https://bank.example"
BC = ISSUER + "/bc-authorize"
TOKEN = ISSUER + "/token"
JSON = "application/json"
NOW = 1_000_000.0
CIBA_GRANT = "urn:openid:params:grant-type:ciba"


def strategy(**kwargs: Any) -> Ciba:
    settings: dict[str, Any] = {
        "client_id": "teller",
        "client_secret": "teller-secret-value",
        "backchannel_authentication_endpoint": BC,
        "token_endpoint": TOKEN,
        "scope": "openid",
    }
    settings.update(kwargs)
    return Ciba(**settings)


def answer(**fields: Any) -> bytes:
    payload: dict[str, Any] = {"auth_req_id": "arid-SECRET-1", "expires_in": 120}
    payload.update(fields)
    return json.dumps({k: v for k, v in payload.items() if v is not None}).encode()


def waiting_flow(mode: str = "poll", **fields: Any) -> Flow:
    flow = Flow(strategy(delivery_mode=mode))
    flow.request_backchannel_authentication(BackchannelRequest(login_hint="alice"), NOW)
    flow.receive_backchannel_authentication(200, JSON, answer(**fields), NOW)
    assert flow.state is State.AWAITING_APPROVAL
    return flow


def form(content: bytes) -> dict[str, list[str]]:
    return parse_qs(content.decode())


def pending(error: str = "authorization_pending") -> bytes:
    return json.dumps({"error": error}).encode()


def token_answer() -> bytes:
    return json.dumps({"access_token": "at-1", "token_type": "Bearer", "expires_in": 60}).encode()


# -- the request ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "hints",
    [{}, {"login_hint": "a", "id_token_hint": "b"}, {"login_hint_token": "a", "login_hint": "b"}],
)
def test_a_request_names_the_user_with_exactly_one_hint(hints: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="exactly one"):
        BackchannelRequest(**hints)


@pytest.mark.parametrize("expiry", [0, -5, 24 * 3600 + 1, 1.5, True, "60"])
def test_requested_expiry_is_a_sane_whole_number_of_seconds(expiry: Any) -> None:
    with pytest.raises(ConfigurationError, match="requested_expiry"):
        BackchannelRequest(login_hint="a", requested_expiry=expiry)


def test_a_request_hides_hint_tokens_and_user_code_in_its_repr() -> None:
    request = BackchannelRequest(id_token_hint="eyJ-SECRET", user_code="1234-SECRET")
    assert "SECRET" not in repr(request)
    assert set(request.secrets()) == {"eyJ-SECRET", "1234-SECRET"}


# -- the strategy ---------------------------------------------------------------------------


def test_ciba_is_a_decoupled_confidential_openid_strategy() -> None:
    ciba = strategy()
    assert ciba.user_step is UserStep.DECOUPLED
    assert not ciba.interactive
    assert not ciba.requests_nonce
    with pytest.raises(ConfigurationError, match="openid"):
        strategy(scope="read")
    with pytest.raises(ConfigurationError, match="confidential"):
        strategy(client_secret=None, client_auth="none")
    with pytest.raises(ConfigurationError, match="backchannel_authentication_endpoint"):
        strategy(backchannel_authentication_endpoint=None)


def test_push_mode_is_refused_with_the_reason() -> None:
    with pytest.raises(ConfigurationError, match=r"push mode is not supported.*FAPI-CIBA"):
        strategy(delivery_mode="push")
    with pytest.raises(ConfigurationError, match="poll' or 'ping"):
        strategy(delivery_mode="long-poll")


def test_the_authentication_request_carries_scope_hint_options_and_client_auth() -> None:
    flow = Flow(strategy(scope="openid accounts"))
    request = BackchannelRequest(
        login_hint="alice",
        binding_message="Pay 5 EUR",
        requested_expiry=90,
        acr_values="urn:a urn:b",
    )
    sent = flow.request_backchannel_authentication(request, NOW)
    assert sent.method == "POST"
    assert sent.url == BC
    assert form(sent.content) == {
        "scope": ["openid accounts"],
        "login_hint": ["alice"],
        "binding_message": ["Pay 5 EUR"],
        "acr_values": ["urn:a urn:b"],
        "requested_expiry": ["90"],
    }
    assert dict(sent.headers)["Authorization"].startswith("Basic ")
    assert flow.state is State.AUTHENTICATING_BACKCHANNEL


def test_ping_mode_sends_a_fresh_256_bit_notification_token_kept_secret() -> None:
    tokens = set()
    for _ in range(2):
        flow = Flow(strategy(delivery_mode="ping"))
        sent = flow.request_backchannel_authentication(BackchannelRequest(login_hint="a"), NOW)
        (token,) = form(sent.content)["client_notification_token"]
        assert len(token) >= 43
        assert token in sent.secrets
        approval = flow.receive_backchannel_authentication(200, JSON, answer(), NOW)
        assert approval.client_notification_token == token
        assert token not in repr(approval)
        tokens.add(token)
    assert len(tokens) == 2


def test_the_token_request_carries_the_grant_and_auth_req_id_as_a_secret() -> None:
    flow = waiting_flow()
    sent = flow.poll(NOW + 5)
    assert form(sent.content) == {"grant_type": [CIBA_GRANT], "auth_req_id": ["arid-SECRET-1"]}
    assert "arid-SECRET-1" in sent.secrets
    assert "arid-SECRET-1" not in repr(sent)
    assert "arid-SECRET-1" not in repr(flow.backchannel)


def test_a_signed_authentication_request_carries_the_parameters_in_a_request_object() -> None:
    key = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
    flow = Flow(
        strategy(
            issuer=ISSUER,
            sign_request_object=True,
            request_object_key=key,
            request_object_algorithm="PS256",
        )
    )
    sent = flow.request_backchannel_authentication(
        BackchannelRequest(login_hint="alice", binding_message="Hi"), NOW
    )
    fields = form(sent.content)
    assert set(fields) == {"request"}
    claims = jwt.decode(fields["request"][0], key, algorithms=["PS256"]).claims
    assert claims["login_hint"] == "alice"
    assert claims["binding_message"] == "Hi"
    assert claims["scope"] == "openid"
    assert claims["aud"] == ISSUER
    assert claims["iss"] == "teller"
    assert {"exp", "iat", "nbf", "jti"} <= set(claims)
    assert sent.rebuild is not None
    again = form(sent.rebuild(NOW + 1).content)["request"][0]
    assert jwt.decode(again, key, algorithms=["PS256"]).claims["jti"] != claims["jti"]


def test_a_dpop_key_puts_a_proof_on_both_requests() -> None:
    key = DPoPKey.generate()
    flow = Flow(strategy(dpop_key=key))
    first = flow.request_backchannel_authentication(BackchannelRequest(login_hint="a"), NOW)
    assert "DPoP" in dict(first.headers)
    flow.receive_backchannel_authentication(200, JSON, answer(), NOW)
    assert "DPoP" in dict(flow.poll(NOW + 5).headers)


def metadata(**fields: Any) -> ServerMetadata:
    document: dict[str, Any] = {
        "issuer": ISSUER,
        "token_endpoint": TOKEN,
        "jwks_uri": ISSUER + "/jwks",
        "backchannel_authentication_endpoint": BC,
        "backchannel_token_delivery_modes_supported": ["poll"],
    }
    document.update(fields)
    return ServerMetadata.from_dict(document, issuer=ISSUER)


def test_from_metadata_takes_the_endpoint_and_checks_the_mode() -> None:
    ciba = Ciba.from_metadata(metadata(), client_id="teller", client_secret="s")
    assert ciba.backchannel_authentication_endpoint == BC
    assert ciba.scope == ("openid",)
    assert ciba.verifies_id_tokens
    with pytest.raises(ConfigurationError, match="does not list the CIBA ping mode"):
        Ciba.from_metadata(metadata(), client_id="t", client_secret="s", delivery_mode="ping")
    with pytest.raises(ConfigurationError, match="no backchannel_authentication_endpoint"):
        Ciba.from_metadata(
            metadata(backchannel_authentication_endpoint=None), client_id="t", client_secret="s"
        )


def test_from_metadata_uses_the_mutual_tls_alias_when_asked() -> None:
    aliased = ISSUER.replace("bank", "mtls.bank") + "/bc-authorize"
    ciba = Ciba.from_metadata(
        metadata(mtls_endpoint_aliases={"backchannel_authentication_endpoint": aliased}),
        client_id="teller",
        client_auth="tls_client_auth",
    )
    sent = Flow(ciba).request_backchannel_authentication(BackchannelRequest(login_hint="a"), NOW)
    assert sent.url == aliased


# -- the answer -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"auth_req_id": None}, "auth_req_id"),
        ({"auth_req_id": "has space"}, "auth_req_id"),
        ({"auth_req_id": "x" * 1025}, "auth_req_id"),
        ({"auth_req_id": 7}, "auth_req_id"),
        ({"expires_in": None}, "expires_in"),
        ({"expires_in": -1}, "expires_in"),
        ({"interval": "soon"}, "interval"),
    ],
)
def test_an_unusable_answer_fails_the_flow(fields: dict[str, Any], why: str) -> None:
    flow = Flow(strategy())
    flow.request_backchannel_authentication(BackchannelRequest(login_hint="a"), NOW)
    with pytest.raises(InvalidResponse, match=why):
        flow.receive_backchannel_authentication(200, JSON, answer(**fields), NOW)
    assert flow.state is State.FAILED


def test_an_error_answer_fails_the_flow_with_the_servers_error() -> None:
    flow = Flow(strategy())
    flow.request_backchannel_authentication(BackchannelRequest(login_hint="a"), NOW)
    with pytest.raises(TokenRequestError) as caught:
        flow.receive_backchannel_authentication(400, JSON, pending("unknown_user_id"), NOW)
    assert caught.value.error == "unknown_user_id"
    assert flow.state is State.FAILED


def test_interval_defaults_to_five_and_hostile_values_are_bounded() -> None:
    assert waiting_flow().next_poll_at == NOW + 5
    assert waiting_flow(interval=0).next_poll_at == NOW + 1
    assert waiting_flow(interval=10**9).next_poll_at == NOW + 600
    flow = waiting_flow(expires_in=10**12)
    assert flow.backchannel is not None
    assert flow.backchannel.expires_at == NOW + 24 * 3600


# -- polling: the device grant's rules --------------------------------------------------------


def test_polls_until_approved_then_holds_the_token() -> None:
    flow = waiting_flow(interval=2)
    flow.poll(NOW + 2)
    assert flow.receive_poll_response(400, JSON, pending(), NOW + 2) is None
    assert flow.next_poll_at == NOW + 4
    flow.poll(NOW + 4)
    token = flow.receive_poll_response(200, JSON, token_answer(), NOW + 4)
    assert token is not None
    assert flow.state is State.HOLDING_TOKEN


def test_slow_down_adds_five_seconds_for_good() -> None:
    flow = waiting_flow(interval=2)
    flow.poll(NOW + 2)
    assert flow.receive_poll_response(400, JSON, pending("slow_down"), NOW + 2) is None
    assert flow.next_poll_at == NOW + 9
    flow.poll(NOW + 9)
    flow.receive_poll_response(400, JSON, pending(), NOW + 9)
    assert flow.next_poll_at == NOW + 16


def test_a_lost_poll_backs_off_like_slow_down() -> None:
    flow = waiting_flow(interval=2)
    flow.poll(NOW + 2)
    flow.poll_lost(ServerUnavailable("down"), NOW + 3)
    assert flow.state is State.AWAITING_APPROVAL
    assert flow.next_poll_at == NOW + 10


@pytest.mark.parametrize(
    ("error", "raised"),
    [
        ("expired_token", FlowExpired),
        ("access_denied", AuthorizationDenied),
        ("transaction_failed", TokenRequestError),
        ("invalid_grant", TokenRequestError),
    ],
)
def test_final_errors_fail_the_flow(error: str, raised: type[Exception]) -> None:
    flow = waiting_flow()
    flow.poll(NOW + 5)
    with pytest.raises(raised) as caught:
        flow.receive_poll_response(400, JSON, pending(error), NOW + 5)
    assert flow.state is State.FAILED
    if raised is FlowExpired:
        assert "backchannel authentication request expired" in str(caught.value)


def test_polling_after_the_request_expired_raises_flow_expired() -> None:
    flow = waiting_flow(expires_in=30)
    with pytest.raises(FlowExpired):
        flow.poll(NOW + 30)
    assert flow.state is State.FAILED


# -- pings ----------------------------------------------------------------------------------


def test_a_ping_makes_the_next_poll_due_at_once() -> None:
    flow = waiting_flow("ping", interval=60)
    flow.notified(NOW + 3)
    assert flow.state is State.AWAITING_APPROVAL
    assert flow.next_poll_at == NOW + 3


def test_a_ping_during_a_poll_makes_the_poll_after_a_pending_answer_due_at_once() -> None:
    flow = waiting_flow("ping", interval=60)
    flow.poll(NOW + 60)
    flow.notified(NOW + 60.5)
    assert flow.state is State.POLLING
    assert flow.receive_poll_response(400, JSON, pending(), NOW + 61) is None
    assert flow.next_poll_at == NOW + 61


def test_a_ping_in_poll_mode_or_before_the_answer_is_refused() -> None:
    flow = waiting_flow("poll")
    with pytest.raises(InvalidTransition):
        flow.notified(NOW)
    assert flow.state is State.FAILED
    early = Flow(strategy(delivery_mode="ping"))
    early.request_backchannel_authentication(BackchannelRequest(login_hint="a"), NOW)
    with pytest.raises(InvalidTransition):
        early.notified(NOW)


def test_the_table_routes_ciba_through_the_shared_polling_states() -> None:
    assert TRANSITIONS[State.CREATED, Event.BACKCHANNEL_REQUESTED] is (
        State.AUTHENTICATING_BACKCHANNEL
    )
    assert TRANSITIONS[State.AUTHENTICATING_BACKCHANNEL, Event.BACKCHANNEL_ACCEPTED] is (
        State.AWAITING_APPROVAL
    )
    assert TRANSITIONS[State.AWAITING_APPROVAL, Event.NOTIFIED] is State.AWAITING_APPROVAL
    assert TRANSITIONS[State.POLLING, Event.NOTIFIED] is State.POLLING


def test_other_strategies_cannot_start_a_backchannel_authentication() -> None:
    from anyoauth import ClientCredentials

    flow = Flow(ClientCredentials(client_id="s", client_secret="x", token_endpoint=TOKEN))
    with pytest.raises(ConfigurationError, match="not a backchannel"):
        flow.request_backchannel_authentication(BackchannelRequest(login_hint="a"), NOW)
    assert flow.state is State.FAILED
