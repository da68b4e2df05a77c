"""Resource indicators (RFC 8707), audiences and extra parameters in every request a
strategy builds, sans-IO: where each goes, in what order, how a request object carries
several values, and ``ExtensionGrant``'s request."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import attrs
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from anyoauth import (
    AuthorizationCode,
    ClientCredentials,
    ConfigurationError,
    DeviceCode,
    DPoPKey,
    ExtensionGrant,
    JwtBearer,
    Token,
    TokenExchange,
    UserStep,
    plugins,
)
from anyoauth.sansio import JWT_BEARER_GRANT, PendingFlow

SECRET = "SENTINEL-SECRET-0badc0de"
ISSUER = "https://idp.example"
AUTHORIZE = ISSUER + "/authorize"
TOKEN_URL = ISSUER + "/token"
PAR_URL = ISSUER + "/par"
REDIRECT = "https://app.example/cb"
NOW = 1_700_000_000.0
ORDERS = "https://orders.example/"
BILLING = "urn:example:billing"
GRANT = "https://grants.example/partner-ticket"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)


def pairs(content: bytes) -> list[tuple[str, str]]:
    return parse_qsl(content.decode())


def named(found: list[tuple[str, str]], name: str) -> list[str]:
    return [value for key, value in found if key == name]


def code(**settings: Any) -> AuthorizationCode:
    values: dict[str, Any] = {
        "client_id": "app",
        "client_secret": SECRET,
        "authorization_endpoint": AUTHORIZE,
        "token_endpoint": TOKEN_URL,
        "redirect_uri": REDIRECT,
    }
    values.update(settings)
    return AuthorizationCode(**values)


def pending(strategy: AuthorizationCode) -> PendingFlow:
    return PendingFlow(
        state="s",
        binding=strategy.store_namespace,
        created_at=NOW,
        expires_at=NOW + 600,
        code_verifier="v" * 43,
    )


def test_without_the_new_settings_every_request_is_as_before() -> None:
    strategy = code()
    assert strategy.resource == ()
    assert strategy.audience == ()
    assert strategy.extra_token_params == ()
    assert strategy.token_resource is None
    url = strategy.authorization_url(state="s", code_challenge="c")
    assert [k for k, _ in parse_qsl(urlsplit(url).query)] == [
        "client_id",
        "response_type",
        "redirect_uri",
        "state",
        "code_challenge",
        "code_challenge_method",
    ]
    exchange = strategy.code_exchange_request("the-code", pending(strategy), now=NOW)
    assert [k for k, _ in pairs(exchange.content)] == [
        "grant_type",
        "code",
        "redirect_uri",
        "code_verifier",
    ]
    refresh = strategy.refresh_request(
        Token(access_token="a", refresh_token="r", issued_at=NOW), now=NOW
    )
    assert refresh is not None
    assert pairs(refresh.content) == [("grant_type", "refresh_token"), ("refresh_token", "r")]
    assert strategy.store_namespace.count(":") == 2


def test_resources_and_audiences_go_in_the_authorization_url_in_order() -> None:
    strategy = code(resource=[ORDERS, BILLING], audience=["orders", "billing"])
    url = strategy.authorization_url(state="s", code_challenge="c")
    query = parse_qsl(urlsplit(url).query)
    assert named(query, "resource") == [ORDERS, BILLING]
    assert named(query, "audience") == ["orders", "billing"]


def test_a_string_is_one_resource_and_one_audience() -> None:
    strategy = code(resource=ORDERS, audience="orders")
    assert strategy.resource == (ORDERS,)
    assert strategy.audience == ("orders",)


def test_the_code_exchange_names_the_token_resource_and_extra_token_params() -> None:
    strategy = code(
        resource=[ORDERS, BILLING],
        token_resource=BILLING,
        audience="orders",
        extra_token_params=[("x", "1"), ("x", "2")],
    )
    sent = pairs(strategy.code_exchange_request("c0de", pending(strategy), now=NOW).content)
    assert named(sent, "resource") == [BILLING]
    assert named(sent, "audience") == []  # never in a code exchange
    assert named(sent, "x") == ["1", "2"]
    assert sent[0] == ("grant_type", "authorization_code")


def test_without_token_resource_every_resource_goes_to_the_token_request() -> None:
    strategy = code(resource=[ORDERS, BILLING])
    sent = pairs(strategy.code_exchange_request("c0de", pending(strategy), now=NOW).content)
    assert named(sent, "resource") == [ORDERS, BILLING]


def test_an_empty_token_resource_sends_none() -> None:
    strategy = code(resource=[ORDERS], token_resource=())
    sent = pairs(strategy.code_exchange_request("c0de", pending(strategy), now=NOW).content)
    assert named(sent, "resource") == []


def test_refresh_requests_carry_the_token_resource_and_extra_refresh_params() -> None:
    strategy = code(
        resource=[ORDERS, BILLING],
        token_resource=ORDERS,
        extra_token_params={"t": "1"},
        extra_refresh_params={"r": "2"},
    )
    request = strategy.refresh_request(
        Token(access_token="a", refresh_token="rt", issued_at=NOW), now=NOW
    )
    assert request is not None
    sent = pairs(request.content)
    assert sent == [
        ("grant_type", "refresh_token"),
        ("refresh_token", "rt"),
        ("resource", ORDERS),
        ("r", "2"),
    ]


def test_a_pushed_request_carries_every_resource() -> None:
    strategy = code(
        resource=[ORDERS, BILLING],
        pushed_authorization_request_endpoint=PAR_URL,
        push_authorization_request=True,
    )
    request = strategy.pushed_authorization_request(state="s", code_challenge="c", now=NOW)
    assert named(pairs(request.content), "resource") == [ORDERS, BILLING]


@pytest.mark.parametrize(
    ("resource", "claim"),
    [([ORDERS], ORDERS), ([ORDERS, BILLING], [ORDERS, BILLING])],
)
def test_a_request_object_carries_one_resource_as_a_string_several_as_an_array(
    resource: list[str], claim: object
) -> None:
    strategy = code(
        issuer=ISSUER, sign_request_object=True, request_object_key=KEY, resource=resource
    )
    url = strategy.authorization_url(state="s", code_challenge="c", now=NOW)
    request = dict(parse_qsl(urlsplit(url).query))["request"]
    claims = jwt.decode(request, KEY, algorithms=["PS256"]).claims
    assert claims["resource"] == claim


def test_client_credentials_send_resource_audience_and_both_kinds_of_extras() -> None:
    strategy = ClientCredentials(
        client_id="svc",
        client_secret=SECRET,
        token_endpoint=TOKEN_URL,
        resource=ORDERS,
        audience="orders",
        token_params={"a": "1"},
        extra_token_params={"b": "2"},
    )
    sent = pairs(strategy.direct_token_request(now=NOW).content)
    assert sent == [
        ("grant_type", "client_credentials"),
        ("a", "1"),
        ("resource", ORDERS),
        ("audience", "orders"),
        ("b", "2"),
    ]


def test_client_credentials_token_params_may_still_name_an_audience_alone() -> None:
    strategy = ClientCredentials(
        client_id="svc",
        client_secret=SECRET,
        token_endpoint=TOKEN_URL,
        token_params={"audience": "x"},
    )
    assert named(pairs(strategy.direct_token_request(now=NOW).content), "audience") == ["x"]
    with pytest.raises(ConfigurationError, match="audience"):
        attrs.evolve(strategy, audience="y")


def test_the_device_grant_sends_resources_at_both_endpoints() -> None:
    strategy = DeviceCode(
        client_id="tv",
        device_authorization_endpoint=ISSUER + "/device",
        token_endpoint=TOKEN_URL,
        client_auth="none",
        resource=ORDERS,
        audience="orders",
        extra_token_params={"t": "1"},
    )
    asked = pairs(strategy.device_authorization_request(now=NOW).content)
    assert named(asked, "resource") == [ORDERS]
    assert named(asked, "audience") == ["orders"]
    polled = pairs(strategy.device_token_request("dc", now=NOW).content)
    assert named(polled, "resource") == [ORDERS]
    assert named(polled, "t") == ["1"]
    assert named(polled, "audience") == []


def test_token_exchange_keeps_its_resource_and_audience_and_takes_extras() -> None:
    strategy = TokenExchange(
        client_id="gw",
        client_secret=SECRET,
        token_endpoint=TOKEN_URL,
        subject_token="SUBJECT-abc",
        resource=[ORDERS, BILLING],
        token_resource=BILLING,
        audience="orders",
        extra_token_params={"e": "1"},
    )
    sent = pairs(strategy.direct_token_request(now=NOW).content)
    assert named(sent, "resource") == [BILLING]
    assert named(sent, "audience") == ["orders"]
    assert named(sent, "e") == ["1"]
    assert strategy.store_namespace != attrs.evolve(strategy, token_resource=None).store_namespace


def test_jwt_bearer_sends_resource_audience_and_extras_with_every_assertion() -> None:
    strategy = JwtBearer(
        client_id="svc",
        client_auth="none",
        token_endpoint=TOKEN_URL,
        assertion_key=KEY,
        resource=ORDERS,
        audience="orders",
        extra_token_params={"e": "1"},
    )
    request = strategy.direct_token_request(now=NOW)
    assert request.rebuild is not None
    for sent in (pairs(request.content), pairs(request.rebuild(NOW + 1).content)):
        assert named(sent, "resource") == [ORDERS]
        assert named(sent, "audience") == ["orders"]
        assert named(sent, "e") == ["1"]


def test_the_store_namespace_separates_resources_and_audiences() -> None:
    plain = code()
    orders = code(resource=ORDERS)
    assert orders.store_namespace.startswith(plain.store_namespace + ":")
    assert orders.store_namespace != code(resource=BILLING).store_namespace
    assert orders.store_namespace != code(resource=ORDERS, audience="a").store_namespace


# -- ExtensionGrant ---------------------------------------------------------------------------


def partner(**settings: Any) -> ExtensionGrant:
    values: dict[str, Any] = {
        "client_id": "svc",
        "client_secret": SECRET,
        "token_endpoint": TOKEN_URL,
        "grant_type": GRANT,
        "token_params": {"ticket": "T-1"},
    }
    values.update(settings)
    return ExtensionGrant(**values)


def test_an_extension_grant_request_carries_its_type_parameters_and_targets() -> None:
    strategy = partner(
        scope="read", resource=ORDERS, audience="orders", extra_token_params={"e": "1"}
    )
    assert strategy.user_step is UserStep.NONE
    assert strategy.has_direct_grant
    sent = pairs(strategy.direct_token_request(now=NOW).content)
    assert sent == [
        ("grant_type", GRANT),
        ("ticket", "T-1"),
        ("scope", "read"),
        ("resource", ORDERS),
        ("audience", "orders"),
        ("e", "1"),
    ]


def test_an_extension_grant_takes_a_pre_signed_jwt_bearer_assertion() -> None:
    strategy = partner(grant_type=JWT_BEARER_GRANT, token_params={"assertion": "eyJ.a.b"})
    request = strategy.direct_token_request(now=NOW)
    assert "eyJ.a.b" in request.secrets


@pytest.mark.parametrize(
    ("grant_type", "message"),
    [
        ("authorization_code", "AuthorizationCode"),
        ("client_credentials", "ClientCredentials"),
        ("refresh_token", "renewal"),
        ("urn:ietf:params:oauth:grant-type:device_code", "DeviceCode"),
        ("urn:ietf:params:oauth:grant-type:token-exchange", "TokenExchange"),
        ("password", "must not be used"),
        ("partner_ticket", "absolute URI"),
        ("https://grants.example/x#frag", "absolute URI"),
        ("1urn:x", "absolute URI"),
        ("urn:" + "x" * 600, "absolute URI"),
        ("has space:x", "absolute URI"),
        ("", "absolute URI"),
    ],
)
def test_an_extension_grant_type_must_be_an_absolute_uri_of_a_grant_not_shipped(
    grant_type: str, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        partner(grant_type=grant_type)


@pytest.mark.parametrize(
    "name", ["grant_type", "client_id", "client_secret", "scope", "resource", "audience"]
)
def test_an_extension_grants_parameters_cannot_set_what_the_strategy_sends(name: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        partner(token_params={name: "x"})


def test_an_extension_grant_subclass_makes_its_parameters_for_every_attempt() -> None:
    @attrs.frozen(kw_only=True)
    class Stamped(ExtensionGrant):
        def grant_parameters(self, *, now: float) -> list[tuple[str, str]]:
            return [("stamp", str(int(now)))]

    strategy = Stamped(
        client_id="svc", client_secret=SECRET, token_endpoint=TOKEN_URL, grant_type=GRANT
    )
    first = strategy.direct_token_request(now=NOW)
    assert first.rebuild is not None
    again = first.rebuild(NOW + 5)
    assert named(pairs(first.content), "stamp") == [str(int(NOW))]
    assert named(pairs(again.content), "stamp") == [str(int(NOW + 5))]


def test_an_extension_grant_with_dpop_rebuilds_with_a_fresh_proof() -> None:
    key = DPoPKey.generate()
    strategy = partner(dpop_key=key)
    request = strategy.direct_token_request(now=NOW)
    assert request.rebuild is not None
    proofs = [dict(r.headers)["DPoP"] for r in (request, request.rebuild(NOW + 1))]
    assert proofs[0] != proofs[1]


def test_extension_grants_of_other_types_or_parameters_do_not_share_a_namespace() -> None:
    base = partner()
    assert base.store_namespace.startswith("extension-grant:svc:")
    others = {
        partner(grant_type="urn:example:other").store_namespace,
        partner(token_params={"ticket": "T-2"}).store_namespace,
        partner(resource=ORDERS).store_namespace,
    }
    assert base.store_namespace not in others
    assert len(others) == 3


def test_an_extension_grants_secret_params_are_known_secrets() -> None:
    strategy = partner(token_params={"pin": "PIN-SENTINEL-1234"}, secret_params="pin")
    assert "PIN-SENTINEL-1234" in strategy.direct_token_request(now=NOW).secrets
    assert "PIN-SENTINEL-1234" not in repr(strategy)


def test_the_extension_grant_is_a_built_in_strategy_documented_for_plugins() -> None:
    assert plugins.strategies()["extension-grant"] is ExtensionGrant
    assert "plugins.md" in (ExtensionGrant.__doc__ or "")
    assert json.dumps(list(partner().token_params)) == '[["ticket", "T-1"]]'


def test_a_subclass_default_grant_type_is_checked_all_the_same() -> None:
    @attrs.frozen(kw_only=True)
    class Bare(ExtensionGrant):
        grant_type: str = "not-a-uri"

    with pytest.raises(ConfigurationError, match="absolute URI"):
        Bare(client_id="svc", client_secret=SECRET, token_endpoint=TOKEN_URL)
