"""Client authentication as values: what each method adds to a request, how a strategy
builds one from its ``client_auth`` name, and how signed requests are built again."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs

import attrs
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

from anyoauth import (
    AuthorizationCode,
    ClientCredentials,
    ClientSecretBasic,
    ClientSecretJwt,
    ClientSecretPost,
    ConfigurationError,
    NoClientAuth,
    PrivateKeyJwt,
)
from anyoauth.sansio import (
    ASSERTION_TYPE,
    ClientAuthMethod,
    HttpRequest,
    basic_credentials,
)
from support.client_auth import SignedHeader, signature

ISSUER = "https://idp.example"
TOKEN_URL = "https://idp.example/token"
REVOKE_URL = "https://idp.example/revoke"
NOW = 1_700_000_000.0
SECRET = "SENTINEL-secret-0123456789-0123456789-0123456789-abcdef"
RSA = RSAKey.generate_key(2048, private=True)
EC = ECKey.generate_key("P-256", private=True)
RSA_JWK = RSA.as_dict(private=True)
EC_JWK = EC.as_dict(private=True)


def form(request: HttpRequest) -> dict[str, list[str]]:
    return parse_qs(request.content.decode())


def header(request: HttpRequest, name: str) -> str | None:
    return next((v for k, v in request.headers if k.lower() == name.lower()), None)


def credentials(strategy: Any) -> ClientCredentials:
    return ClientCredentials(**{"client_id": "app", "token_endpoint": TOKEN_URL, **strategy})


def claims_of(assertion: str, key: Any) -> dict[str, Any]:
    return dict(jwt.decode(assertion, key).claims)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("client_secret_basic", ClientSecretBasic),
        ("client_secret_post", ClientSecretPost),
        ("client_secret_jwt", ClientSecretJwt),
        ("none", NoClientAuth),
    ],
)
def test_a_client_auth_name_stands_for_its_method(name: str, kind: type) -> None:
    strategy = credentials({"client_secret": SECRET, "client_auth": name})
    assert type(strategy.authentication) is kind
    assert strategy.authentication.name == name


def test_private_key_jwt_by_name_signs_with_the_client_key() -> None:
    strategy = credentials({"client_auth": "private_key_jwt", "client_key": RSA_JWK})
    assert isinstance(strategy.authentication, PrivateKeyJwt)


@pytest.mark.parametrize("name", ["client_secret_basic", "client_secret_post"])
def test_a_secret_method_without_a_secret_sends_only_the_client_id(name: str) -> None:
    strategy = AuthorizationCode(
        client_id="app",
        authorization_endpoint="https://idp.example/authorize",
        token_endpoint=TOKEN_URL,
        redirect_uri="https://app.example/cb",
        client_auth=name,  # type: ignore[arg-type]
    )
    assert isinstance(strategy.authentication, NoClientAuth)
    request = strategy.form_request([("grant_type", "x")], now=NOW)
    assert form(request)["client_id"] == ["app"]
    assert header(request, "Authorization") is None


def test_an_unknown_client_auth_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="unknown client_auth"):
        credentials({"client_secret": SECRET, "client_auth": object()})


def test_basic_puts_the_form_encoded_pair_in_a_header() -> None:
    method = ClientSecretBasic("s:e+c%r")
    got = method.credentials(client_id="a b", issuer=None, url=TOKEN_URL, now=NOW)
    assert got.headers == (("Authorization", basic_credentials("a b", "s:e+c%r")),)
    assert got.params == ()
    raw = base64.b64decode(got.headers[0][1].split()[1]).decode()
    assert raw == "a+b:s%3Ae%2Bc%25r"


def test_raw_basic_refuses_a_client_id_with_a_colon_when_the_strategy_is_made() -> None:
    with pytest.raises(ConfigurationError, match="form-encoded"):
        credentials(
            {"client_id": "a:b", "client_auth": ClientSecretBasic(SECRET, form_encoded=False)}
        )


def test_post_puts_id_and_secret_in_the_body() -> None:
    got = ClientSecretPost(SECRET).credentials(client_id="app", issuer=None, url=TOKEN_URL, now=NOW)
    assert got.params == (("client_id", "app"), ("client_secret", SECRET))
    assert got.headers == ()


def test_a_method_needs_its_secret() -> None:
    with pytest.raises(ConfigurationError, match="secret must be a string"):
        ClientSecretPost(None)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"^client_secret_jwt needs a client_secret$"):
        ClientSecretJwt()
    with pytest.raises(ConfigurationError, match=r"^private_key_jwt needs a client_key$"):
        PrivateKeyJwt()


def test_a_bad_key_is_refused_when_the_method_is_made() -> None:
    with pytest.raises(ConfigurationError, match="private_key_jwt"):
        PrivateKeyJwt(key="not a key")
    with pytest.raises(ConfigurationError, match="client_secret_jwt"):
        ClientSecretJwt(secret="short")  # shorter than HS256's 32 bytes


@pytest.mark.parametrize(
    ("method", "verify_with"),
    [
        (PrivateKeyJwt(key=RSA_JWK), RSA),
        (PrivateKeyJwt("ES256", key=EC_JWK), EC),
        (ClientSecretJwt(secret=SECRET), OctKey.import_key(SECRET)),
    ],
    ids=["RS256", "ES256", "HS256"],
)
def test_a_signed_assertion_names_the_client_and_the_issuer(
    method: ClientAuthMethod, verify_with: Any
) -> None:
    got = method.credentials(client_id="app", issuer=ISSUER, url=REVOKE_URL, now=NOW)
    params = dict(got.params)
    assert params["client_id"] == "app"
    assert params["client_assertion_type"] == ASSERTION_TYPE
    claims = claims_of(params["client_assertion"], verify_with)
    assert claims["iss"] == claims["sub"] == "app"
    assert claims["aud"] == ISSUER
    assert claims["iat"] == NOW


def test_an_endpoint_audience_names_the_url_the_assertion_goes_to() -> None:
    method = PrivateKeyJwt(audience="endpoint", key=RSA_JWK)
    got = method.credentials(client_id="app", issuer=ISSUER, url=REVOKE_URL, now=NOW)
    assert claims_of(dict(got.params)["client_assertion"], RSA)["aud"] == REVOKE_URL


def test_without_an_issuer_the_assertion_names_the_endpoint() -> None:
    got = PrivateKeyJwt(key=RSA_JWK).credentials(
        client_id="app", issuer=None, url=REVOKE_URL, now=NOW
    )
    assert claims_of(dict(got.params)["client_assertion"], RSA)["aud"] == REVOKE_URL


def test_an_issuer_audience_needs_the_issuer() -> None:
    with pytest.raises(ConfigurationError, match="needs the issuer"):
        credentials({"client_auth": PrivateKeyJwt(audience="issuer", key=RSA_JWK)})


def test_an_unknown_audience_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="assertion_audience"):
        PrivateKeyJwt(audience="anyone", key=RSA_JWK)


@pytest.mark.parametrize(
    "settings",
    [
        {"client_secret": SECRET},
        {"client_secret": SECRET, "client_auth": "client_secret_post"},
        {"client_secret": SECRET, "basic_form_encoded": False},
    ],
)
def test_a_method_given_as_a_value_sends_what_its_name_sends(settings: dict[str, Any]) -> None:
    by_name = credentials(settings)
    by_value = credentials({"client_auth": by_name.authentication})
    assert by_value.direct_token_request(now=NOW) == by_name.direct_token_request(now=NOW)


def test_reprs_never_show_a_secret_or_key() -> None:
    for method in (
        ClientSecretBasic(SECRET),
        ClientSecretPost(SECRET),
        ClientSecretJwt(secret=SECRET),
        PrivateKeyJwt(key=RSA_JWK),
    ):
        shown = repr(method) + repr(credentials({"client_auth": method}))
        assert SECRET not in shown
        assert str(RSA_JWK["d"]) not in shown


def test_a_signed_request_builds_itself_again_with_a_new_assertion() -> None:
    strategy = credentials(
        {"client_auth": PrivateKeyJwt(key=RSA_JWK), "issuer": ISSUER, "scope": "a b"}
    )
    first = strategy.direct_token_request(now=NOW)
    assert first.rebuild is not None
    again = first.rebuild(NOW + 5)
    one, two = form(first), form(again)
    assert one.pop("client_assertion") != two.pop("client_assertion")
    assert one == two
    assert again.url == first.url
    assert again.headers == first.headers
    assert claims_of(form(again)["client_assertion"][0], RSA)["iat"] == NOW + 5
    assert again.rebuild is not None  # a third attempt signs anew too


def test_an_unsigned_request_is_sent_again_as_it_is() -> None:
    request = credentials({"client_secret": SECRET}).direct_token_request(now=NOW)
    assert request.rebuild is None


def test_a_method_of_its_own_authenticates_every_request_of_a_strategy() -> None:
    strategy = credentials({"client_auth": SignedHeader("k")})
    request = strategy.direct_token_request(now=NOW)
    assert header(request, "X-Signature") == signature("k", "app", NOW)
    assert form(request)["client_id"] == ["app"]
    assert signature("k", "app", NOW) in request.secrets
    assert request.rebuild is not None
    assert header(request.rebuild(NOW + 1), "X-Signature") == signature("k", "app", NOW + 1)
    revoke = attrs.evolve(strategy, revocation_endpoint=REVOKE_URL)
    assert header(revoke.revocation_request("t", now=NOW), "X-Signature") is not None
