"""The emulator's generic OAuth 2.0 / OpenID Connect server, endpoint by endpoint, over raw
HTTP requests: in-process through the mock transport, and on a loopback port."""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from collections.abc import AsyncIterator, Mapping
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from anyoauth.testing import (
    OAUTH_API_PATH,
    OAUTH_AUTHORIZE_PATH,
    OAUTH_DECISION_PATH,
    OAUTH_DEVICE_AUTHORIZATION_PATH,
    OAUTH_INTROSPECTION_PATH,
    OAUTH_JWKS_PATH,
    OAUTH_METADATA_PATH,
    OAUTH_REVOCATION_PATH,
    OAUTH_TOKEN_PATH,
    OAUTH_USERINFO_PATH,
    OAUTH_VERIFICATION_DECISION_PATH,
    OAUTH_VERIFICATION_PATH,
    OPENID_CONFIGURATION_PATH,
    BrowseError,
    ManualClock,
    ProviderEmulator,
    browse,
)

pytestmark = pytest.mark.anyio

BASE = "https://emulator.test"
TOKEN_URL = BASE + OAUTH_TOKEN_PATH
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
WEB, WEB_SECRET, WEB_REDIRECT = "web-app", "w:e+b% SECRET/=", "https://app.example/cb"
CLI, CLI_REDIRECT = "cli-app", "http://127.0.0.1/callback"
SPA, SPA_REDIRECT = "spa-app", "https://spa.example/cb"
SVC, SVC_SECRET = "svc", "svc-SECRET-sentinel"
RAW, RAW_SECRET = "raw-basic", "r+a%20w"
HS, HS_SECRET = "hs-client", "hs-SECRET-sentinel-long-enough"
PK = "pk-client"
PRIVATE_KEY = RSAKey.generate_key(2048, auto_kid=True)
EC_KEY = ECKey.generate_key("P-256", auto_kid=True)
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def emulator(clock: ManualClock) -> ProviderEmulator:
    emulator = ProviderEmulator(clock=clock)
    emulator.add_oauth_client(WEB, client_secret=WEB_SECRET, redirect_uris=[WEB_REDIRECT])
    emulator.add_oauth_client(
        CLI,
        redirect_uris=[CLI_REDIRECT, "http://[::1]/callback"],
        grant_types=["authorization_code", "refresh_token", DEVICE_GRANT],
        auth_method="none",
    )
    emulator.add_oauth_client(
        SPA,
        redirect_uris=[SPA_REDIRECT],
        grant_types=["implicit"],
        auth_method="none",
        scopes=["read", "openid"],
    )
    emulator.add_oauth_client(
        SVC,
        client_secret=SVC_SECRET,
        grant_types=["client_credentials"],
        auth_method="client_secret_post",
        scopes=["read", "write"],
    )
    emulator.add_oauth_client(
        RAW,
        client_secret=RAW_SECRET,
        grant_types=["client_credentials"],
        basic_form_encoded=False,
    )
    emulator.add_oauth_client(
        HS,
        client_secret=HS_SECRET,
        grant_types=["client_credentials"],
        auth_method="client_secret_jwt",
    )
    keys = {"keys": [PRIVATE_KEY.as_dict(private=False), EC_KEY.as_dict(private=False)]}
    emulator.add_oauth_client(
        PK, grant_types=["client_credentials"], auth_method="private_key_jwt", jwks=keys
    )
    return emulator


@pytest.fixture
async def http(http_module: ModuleType, emulator: ProviderEmulator) -> AsyncIterator[Any]:
    transport = emulator.mock_transport(http_module)
    async with http_module.AsyncClient(transport=transport, base_url=BASE) as client:
        yield client


# -- helpers -----------------------------------------------------------------------------


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def basic(client_id: str, secret: str, *, encode: bool = True) -> dict[str, str]:
    if encode:
        client_id, secret = quote(client_id, safe=""), quote(secret, safe="")
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def fragment(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).fragment))


def authorize_url(client_id: str, base: str = BASE, **params: str) -> str:
    return f"{base}{OAUTH_AUTHORIZE_PATH}?{urlencode({'client_id': client_id, **params})}"


async def post(
    http: Any, path: str, data: Mapping[str, str], headers: Mapping[str, str] | None = None
) -> Any:
    return await http.post(path, content=urlencode(data), headers={**FORM, **(headers or {})})


def assertion(client_id: str, key: Any, alg: str, **overrides: Any) -> dict[str, str]:
    claims: dict[str, Any] = {
        "iss": client_id,
        "sub": client_id,
        "aud": TOKEN_URL,
        "exp": int(ManualClock().now) + 60,
        "jti": secrets.token_urlsafe(8),
        **overrides,
    }
    claims = {k: v for k, v in claims.items() if v is not None}
    header = {"alg": alg, **({"kid": key.kid} if key.kid else {})}
    value = jwt.encode(header, claims, key, algorithms=[alg])
    return {
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": value,
    }


def hs_key(secret: str = HS_SECRET) -> Any:
    from joserfc.jwk import OctKey

    return OctKey.import_key(secret.encode())


async def code_flow(
    http: Any,
    client_id: str = WEB,
    redirect_uri: str = WEB_REDIRECT,
    **params: str,
) -> tuple[str, str]:
    """Authorize (clicking Allow) and return the code and the PKCE verifier."""
    verifier, challenge = pkce()
    url = authorize_url(
        client_id,
        response_type="code",
        redirect_uri=redirect_uri,
        code_challenge=challenge,
        code_challenge_method="S256",
        state="st-1",
        **params,
    )
    location = await browse(http, url)
    answer = query(location)
    assert answer["state"] == "st-1"
    assert answer["iss"] == BASE
    return answer["code"], verifier


async def web_tokens(http: Any, **params: str) -> dict[str, Any]:
    code, verifier = await code_flow(http, **params)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": WEB_REDIRECT,
        "code_verifier": verifier,
    }
    response = await post(http, OAUTH_TOKEN_PATH, form, basic(WEB, WEB_SECRET))
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def error_of(response: Any, status: int = 400) -> str:
    assert response.status_code == status, response.text
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body["error_description"]
    return str(body["error"])


# -- metadata and keys -------------------------------------------------------------------


async def test_metadata_documents_describe_the_server(
    http: Any, emulator: ProviderEmulator
) -> None:
    for path in (OAUTH_METADATA_PATH, OPENID_CONFIGURATION_PATH):
        document = (await http.get(path)).json()
        endpoints = emulator.endpoints_oauth(BASE + "/")
        urls = {k: v for k, v in endpoints.items() if not k.endswith("_url")}
        assert {k: document[k] for k in urls} == urls
        assert document["issuer"] == BASE
        assert document["response_types_supported"] == ["code", "token"]
        assert set(document["grant_types_supported"]) == {
            "authorization_code",
            "implicit",
            "refresh_token",
            "client_credentials",
            DEVICE_GRANT,
            "urn:ietf:params:oauth:grant-type:token-exchange",
            "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "urn:openid:params:grant-type:ciba",
        }
        assert set(document["token_endpoint_auth_methods_supported"]) == {
            "client_secret_basic",
            "client_secret_post",
            "client_secret_jwt",
            "private_key_jwt",
            "none",
        }
        assert document["code_challenge_methods_supported"] == ["S256"]
        assert document["authorization_response_iss_parameter_supported"] is True
        assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    assert emulator.calls["oauth.metadata"] == emulator.calls["oauth.openid_configuration"] == 1
    assert endpoints["metadata_url"] == BASE + OAUTH_METADATA_PATH
    assert endpoints["openid_configuration_url"] == BASE + OPENID_CONFIGURATION_PATH


async def test_metadata_issuer_can_be_wrong_on_purpose(
    http: Any, emulator: ProviderEmulator
) -> None:
    emulator.oauth_metadata_issuer = "https://impostor.example"
    document = (await http.get(OAUTH_METADATA_PATH)).json()
    assert document["issuer"] == "https://impostor.example"
    assert document["token_endpoint"] == TOKEN_URL


async def test_jwks_publishes_public_keys_and_rotates(
    http: Any, emulator: ProviderEmulator
) -> None:
    first = (await http.get(OAUTH_JWKS_PATH)).json()["keys"]
    assert len(first) == 1
    assert first[0]["kty"] == "RSA"
    assert first[0]["alg"] == "RS256"
    assert first[0]["kid"]
    assert "d" not in first[0]
    kid = emulator.rotate_oauth_signing_key()
    rotated = (await http.get(OAUTH_JWKS_PATH)).json()["keys"]
    assert [k["kid"] for k in rotated] == [kid, first[0]["kid"]]
    tokens = await web_tokens(http, scope="openid")
    assert (
        jwt.decode(tokens["id_token"], KeySet.import_key_set({"keys": rotated})).header["kid"]
        == kid
    )
    emulator.rotate_oauth_signing_key(keep_old=False)
    assert len((await http.get(OAUTH_JWKS_PATH)).json()["keys"]) == 1


# -- authorization code with PKCE --------------------------------------------------------


async def test_code_flow_with_pkce_and_id_token(
    http: Any, emulator: ProviderEmulator, clock: ManualClock
) -> None:
    tokens = await web_tokens(http, scope="openid profile email", nonce="n-0S6")
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    assert tokens["scope"] == "openid profile email"
    assert tokens["refresh_token"]
    assert emulator.is_valid_token(tokens["access_token"])
    keys = KeySet.import_key_set((await http.get(OAUTH_JWKS_PATH)).json())
    id_token = jwt.decode(tokens["id_token"], keys, algorithms=["RS256"])
    assert id_token.header["alg"] == "RS256"
    assert id_token.header["kid"] == next(iter(keys)).kid
    claims = id_token.claims
    assert claims["iss"] == BASE
    assert claims["aud"] == WEB
    assert claims["sub"]
    assert claims["nonce"] == "n-0S6"
    assert claims["iat"] == int(clock.now)
    assert claims["exp"] == int(clock.now) + 3600
    digest = hashlib.sha256(tokens["access_token"].encode()).digest()[:16]
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    me = await http.get(OAUTH_API_PATH, headers=bearer)
    assert me.json() == {"sub": claims["sub"], "client_id": WEB, "scope": tokens["scope"]}
    userinfo = (await http.get(OAUTH_USERINFO_PATH, headers=bearer)).json()
    assert userinfo["sub"] == claims["sub"]
    assert userinfo["email"] == "test.user@example.com"
    assert userinfo["name"] == "Test User"
    assert emulator.authorization_requests[-1]["nonce"] == "n-0S6"


async def test_no_id_token_without_openid_and_no_nonce_unless_sent(http: Any) -> None:
    assert "id_token" not in await web_tokens(http, scope="read")
    tokens = await web_tokens(http, scope="openid")
    keys = KeySet.import_key_set((await http.get(OAUTH_JWKS_PATH)).json())
    assert "nonce" not in jwt.decode(tokens["id_token"], keys).claims


async def test_id_token_claims_can_be_forged_for_attack_tests(
    http: Any, emulator: ProviderEmulator
) -> None:
    emulator.oauth_id_token_claims = {"aud": "someone-else", "nonce": "forged", "at_hash": None}
    tokens = await web_tokens(http, scope="openid", nonce="real")
    keys = KeySet.import_key_set((await http.get(OAUTH_JWKS_PATH)).json())
    claims = jwt.decode(tokens["id_token"], keys).claims
    assert claims["aud"] == "someone-else"
    assert claims["nonce"] == "forged"
    assert "at_hash" not in claims


async def test_consent_page_and_deny(http: Any, emulator: ProviderEmulator) -> None:
    _, challenge = pkce()
    url = authorize_url(
        WEB,
        response_type="code",
        redirect_uri=WEB_REDIRECT,
        code_challenge=challenge,
        code_challenge_method="S256",
        scope="read",
        state="s-9",
    )
    page = await http.get(url)
    assert page.status_code == 200
    assert f'action="{OAUTH_DECISION_PATH}"' in page.text
    assert "Requested access: read" in page.text
    assert "s-9" not in page.text
    location = await browse(http, url, decision="deny")
    assert location.startswith(WEB_REDIRECT + "?")
    assert query(location) == {
        "error": "access_denied",
        "error_description": "The user denied access.",
        "state": "s-9",
        "iss": BASE,
    }
    assert emulator.calls["oauth.authorize"] == 2
    assert emulator.calls["oauth.decision"] == 1


@pytest.mark.parametrize(
    ("send_iss", "expected"), [(False, None), ("https://evil.example", "https://evil.example")]
)
async def test_iss_parameter_can_be_omitted_or_wrong(
    http: Any, emulator: ProviderEmulator, send_iss: bool | str, expected: str | None
) -> None:
    emulator.oauth_send_iss = send_iss
    _, challenge = pkce()
    params = {"code_challenge": challenge, "code_challenge_method": "S256"}
    allowed = await browse(http, authorize_url(WEB, response_type="code", **params))
    denied = await browse(http, authorize_url(WEB, response_type="code", **params), decision="deny")
    failed = await browse(http, authorize_url(WEB, response_type="token"))
    assert query(allowed)["code"]
    for answer in (query(allowed), query(denied), fragment(failed)):
        assert answer.get("iss") == expected


async def test_authorization_errors_redirect_with_state_and_iss(http: Any) -> None:
    verifier, challenge = pkce()
    cases = {
        "unsupported_response_type": {"response_type": "code id_token"},
        "unauthorized_client": {"response_type": "token"},
        "invalid_request": {"response_type": "code"},
    }
    for error, params in cases.items():
        response = await http.get(authorize_url(WEB, state="x", **params))
        assert response.status_code == 302
        location = response.headers["Location"]
        answer = fragment(location) if params["response_type"] == "token" else query(location)
        assert answer["error"] == error
        assert answer["state"] == "x"
        assert answer["iss"] == BASE
    refused = [
        {"code_challenge": challenge, "code_challenge_method": "plain"},
        {"code_challenge": challenge},
        {"code_challenge_method": "S256"},
        {"code_challenge": "short", "code_challenge_method": "S256"},
    ]
    for params in refused:
        response = await http.get(authorize_url(WEB, response_type="code", **params))
        assert query(response.headers["Location"])["error"] == "invalid_request"
    spa = await http.get(authorize_url(SPA, response_type="token", scope="write", state="y"))
    assert fragment(spa.headers["Location"])["error"] == "invalid_scope"
    assert fragment(spa.headers["Location"])["state"] == "y"
    assert verifier


async def test_unknown_client_and_unregistered_redirect_never_redirect(http: Any) -> None:
    _, challenge = pkce()
    pkce_params = {"code_challenge": challenge, "code_challenge_method": "S256"}
    for url in (
        authorize_url("nobody", response_type="code", **pkce_params),
        authorize_url(WEB, response_type="code", redirect_uri="https://evil.example/cb"),
        authorize_url(WEB, response_type="code", redirect_uri=WEB_REDIRECT + "/more"),
        authorize_url(CLI, response_type="code", **pkce_params),
        authorize_url(CLI, response_type="code", redirect_uri="http://localhost:5000/callback"),
        authorize_url(CLI, response_type="code", redirect_uri="http://127.0.0.1:5000/other"),
        authorize_url(CLI, response_type="code", redirect_uri="http://127.0.0.1:x/callback"),
    ):
        response = await http.get(url)
        assert response.status_code == 400
        assert "Location" not in response.headers
        with pytest.raises(BrowseError, match="HTTP 400"):
            await browse(http, url)


@pytest.mark.parametrize(
    "redirect_uri",
    ["http://127.0.0.1:54321/callback", "http://127.0.0.1/callback", "http://[::1]:8080/callback"],
)
async def test_loopback_redirect_uris_match_any_port(http: Any, redirect_uri: str) -> None:
    code, verifier = await code_flow(http, CLI, redirect_uri)
    form = {
        "grant_type": "authorization_code",
        "client_id": CLI,
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    response = await post(http, OAUTH_TOKEN_PATH, form)
    assert response.status_code == 200, response.text
    assert response.json()["refresh_token"]


async def test_code_exchange_errors(
    http: Any, emulator: ProviderEmulator, clock: ManualClock
) -> None:
    code, verifier = await code_flow(http)
    good = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": WEB_REDIRECT,
        "code_verifier": verifier,
    }
    auth = basic(WEB, WEB_SECRET)
    bad_forms = [
        {**good, "code_verifier": pkce()[0]},
        {**good, "code_verifier": "too-short"},
        {k: v for k, v in good.items() if k != "code_verifier"},
        {**good, "redirect_uri": WEB_REDIRECT + "?x=1"},
        {k: v for k, v in good.items() if k != "redirect_uri"},
        {**good, "code": "made-up"},
    ]
    for form in bad_forms:
        assert error_of(await post(http, OAUTH_TOKEN_PATH, form, auth)) == "invalid_grant"
    # Another client cannot redeem it either, and none of this spent the code.
    emulator.add_oauth_client("other", client_secret="o", redirect_uris=[WEB_REDIRECT])
    other = await post(http, OAUTH_TOKEN_PATH, good, basic("other", "o"))
    assert error_of(other) == "invalid_grant"
    assert (await post(http, OAUTH_TOKEN_PATH, good, auth)).status_code == 200
    # A code expires after ten minutes.
    code, verifier = await code_flow(http)
    clock.advance(600)
    late = {**good, "code": code, "code_verifier": verifier}
    assert error_of(await post(http, OAUTH_TOKEN_PATH, late, auth)) == "invalid_grant"


async def test_code_without_challenge_refuses_a_verifier(
    http: Any, emulator: ProviderEmulator
) -> None:
    emulator.add_oauth_client(
        "legacy", client_secret="l", redirect_uris=[WEB_REDIRECT], require_pkce=False
    )
    location = await browse(http, authorize_url("legacy", response_type="code"))
    code = query(location)["code"]
    auth = basic("legacy", "l")
    # The redirect_uri was not in the authorization request, so it may be left out here.
    form = {"grant_type": "authorization_code", "code": code}
    downgrade = {**form, "code_verifier": pkce()[0]}
    assert error_of(await post(http, OAUTH_TOKEN_PATH, downgrade, auth)) == "invalid_grant"
    assert (await post(http, OAUTH_TOKEN_PATH, form, auth)).status_code == 200


async def test_a_reused_code_revokes_what_it_bought(http: Any, emulator: ProviderEmulator) -> None:
    code, verifier = await code_flow(http)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": WEB_REDIRECT,
        "code_verifier": verifier,
    }
    auth = basic(WEB, WEB_SECRET)
    tokens = (await post(http, OAUTH_TOKEN_PATH, form, auth)).json()
    assert emulator.is_valid_token(tokens["access_token"])
    assert error_of(await post(http, OAUTH_TOKEN_PATH, form, auth)) == "invalid_grant"
    assert not emulator.is_valid_token(tokens["access_token"])
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    assert error_of(await post(http, OAUTH_TOKEN_PATH, refresh, auth)) == "invalid_grant"


async def test_implicit_puts_the_token_in_the_fragment(
    http: Any, emulator: ProviderEmulator
) -> None:
    url = authorize_url(SPA, response_type="token", scope="read", state="z")
    location = await browse(http, url)
    assert location.startswith(SPA_REDIRECT + "#")
    answer = fragment(location)
    assert answer.keys() == {"access_token", "token_type", "expires_in", "scope", "state", "iss"}
    assert (answer["token_type"], answer["expires_in"]) == ("Bearer", "3600")
    assert (answer["scope"], answer["state"], answer["iss"]) == ("read", "z", BASE)
    assert emulator.is_valid_token(answer["access_token"])
    denied = fragment(await browse(http, url, decision="deny"))
    assert (denied["error"], denied["state"], denied["iss"]) == ("access_denied", "z", BASE)
    default_scope = fragment(await browse(http, authorize_url(SPA, response_type="token")))
    assert default_scope["scope"] == "read openid"
    mode = await http.get(authorize_url(SPA, response_type="token", response_mode="query"))
    assert fragment(mode.headers["Location"])["error"] == "invalid_request"


# -- refresh tokens ----------------------------------------------------------------------


async def test_refresh_tokens_rotate(
    http: Any, emulator: ProviderEmulator, clock: ManualClock
) -> None:
    tokens = await web_tokens(http, scope="openid read")
    auth = basic(WEB, WEB_SECRET)
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    clock.advance(10)
    fresh = (await post(http, OAUTH_TOKEN_PATH, form, auth)).json()
    assert fresh["refresh_token"] not in (None, tokens["refresh_token"])
    assert fresh["access_token"] != tokens["access_token"]
    assert fresh["scope"] == "openid read"
    assert fresh["id_token"]
    # The spent one is refused; the tokens of the grant stay valid by default.
    assert error_of(await post(http, OAUTH_TOKEN_PATH, form, auth)) == "invalid_grant"
    assert emulator.is_valid_token(fresh["access_token"])
    # The scope may narrow, never widen.
    narrow = {"grant_type": "refresh_token", "refresh_token": fresh["refresh_token"]}
    wide = {**narrow, "scope": "read write"}
    assert error_of(await post(http, OAUTH_TOKEN_PATH, wide, auth)) == "invalid_scope"
    narrowed = (await post(http, OAUTH_TOKEN_PATH, {**narrow, "scope": "read"}, auth)).json()
    assert narrowed["scope"] == "read"
    assert "id_token" not in narrowed
    # Another client cannot use it.
    emulator.add_oauth_client("other", client_secret="o", redirect_uris=[WEB_REDIRECT])
    stolen = {"grant_type": "refresh_token", "refresh_token": narrowed["refresh_token"]}
    assert error_of(await post(http, OAUTH_TOKEN_PATH, stolen, basic("other", "o"))) == (
        "invalid_grant"
    )


async def test_refresh_reuse_can_revoke_the_grant(http: Any, emulator: ProviderEmulator) -> None:
    emulator.oauth_refresh_reuse_revokes = True
    tokens = await web_tokens(http)
    auth = basic(WEB, WEB_SECRET)
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    fresh = (await post(http, OAUTH_TOKEN_PATH, form, auth)).json()
    assert error_of(await post(http, OAUTH_TOKEN_PATH, form, auth)) == "invalid_grant"
    assert not emulator.is_valid_token(fresh["access_token"])
    again = {"grant_type": "refresh_token", "refresh_token": fresh["refresh_token"]}
    assert error_of(await post(http, OAUTH_TOKEN_PATH, again, auth)) == "invalid_grant"


async def test_refresh_tokens_can_expire(
    http: Any, emulator: ProviderEmulator, clock: ManualClock
) -> None:
    emulator.oauth_refresh_expires_in = 100
    emulator.oauth_expires_in = 50
    tokens = await web_tokens(http)
    assert tokens["expires_in"] == 50
    clock.advance(100)
    assert not emulator.is_valid_token(tokens["access_token"])
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    assert error_of(await post(http, OAUTH_TOKEN_PATH, form, basic(WEB, WEB_SECRET))) == (
        "invalid_grant"
    )


# -- client credentials and client authentication ----------------------------------------


async def test_client_credentials_with_client_secret_post(http: Any) -> None:
    form = {"grant_type": "client_credentials", "client_id": SVC, "client_secret": SVC_SECRET}
    tokens = (await post(http, OAUTH_TOKEN_PATH, form)).json()
    assert tokens["scope"] == "read write"
    assert "refresh_token" not in tokens
    assert "id_token" not in tokens
    me = await http.get(
        OAUTH_API_PATH, headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.json() == {"sub": SVC, "client_id": SVC, "scope": "read write"}
    narrow = (await post(http, OAUTH_TOKEN_PATH, {**form, "scope": "read"})).json()
    assert narrow["scope"] == "read"
    assert error_of(await post(http, OAUTH_TOKEN_PATH, {**form, "scope": "admin"})) == (
        "invalid_scope"
    )
    wrong = {**form, "client_secret": "nope"}
    response = await post(http, OAUTH_TOKEN_PATH, wrong)
    assert error_of(response, 401) == "invalid_client"
    assert "WWW-Authenticate" not in response.headers


async def test_client_secret_basic_is_form_encoded(http: Any) -> None:
    form = {"grant_type": "client_credentials"}
    web = {"grant_type": "refresh_token", "refresh_token": "x"}
    # The secret has ":", "+", "%", " " and "/": only the form-encoded spelling works.
    ok = await post(http, OAUTH_TOKEN_PATH, web, basic(WEB, WEB_SECRET))
    assert error_of(ok) == "invalid_grant"
    for headers in (basic(WEB, WEB_SECRET, encode=False), basic(WEB, "wrong")):
        response = await post(http, OAUTH_TOKEN_PATH, web, headers)
        assert error_of(response, 401) == "invalid_client"
        assert response.headers["WWW-Authenticate"] == 'Basic realm="emulator"'
    # A client registered with basic_form_encoded=False takes the credentials as sent.
    raw = await post(http, OAUTH_TOKEN_PATH, form, basic(RAW, RAW_SECRET, encode=False))
    assert raw.status_code == 200
    encoded = await post(http, OAUTH_TOKEN_PATH, form, basic(RAW, RAW_SECRET))
    assert error_of(encoded, 401) == "invalid_client"
    malformed = await post(http, OAUTH_TOKEN_PATH, form, {"Authorization": "Basic !!!"})
    assert error_of(malformed, 401) == "invalid_client"
    no_colon = base64.b64encode(b"web-app").decode()
    response = await post(http, OAUTH_TOKEN_PATH, form, {"Authorization": f"Basic {no_colon}"})
    assert error_of(response, 401) == "invalid_client"


async def test_client_authentication_method_must_match(http: Any) -> None:
    cases: list[tuple[dict[str, str], dict[str, str], int, str]] = [
        # A basic client posting its secret in the form.
        ({"client_id": WEB, "client_secret": WEB_SECRET}, {}, 401, "invalid_client"),
        # A basic client sending nothing.
        ({"client_id": WEB}, {}, 401, "invalid_client"),
        # A post client using Basic.
        ({}, basic(SVC, SVC_SECRET), 401, "invalid_client"),
        # A public client sending a secret.
        ({"client_id": CLI, "client_secret": "x"}, {}, 401, "invalid_client"),
        # Two methods at once.
        ({"client_secret": WEB_SECRET}, basic(WEB, WEB_SECRET), 400, "invalid_request"),
        # An unknown client, and a body client_id that differs from the Basic one.
        ({"client_id": "nobody"}, {}, 401, "invalid_client"),
        ({"client_id": SVC}, basic(WEB, WEB_SECRET), 401, "invalid_client"),
    ]
    for extra, headers, status, error in cases:
        form = {"grant_type": "client_credentials", **extra}
        assert error_of(await post(http, OAUTH_TOKEN_PATH, form, headers), status) == error
    basic_client = await post(http, OAUTH_TOKEN_PATH, {"client_id": WEB})
    assert basic_client.headers["WWW-Authenticate"] == 'Basic realm="emulator"'


async def test_client_secret_jwt(http: Any, clock: ManualClock) -> None:
    form = {"grant_type": "client_credentials"}
    good = assertion(HS, hs_key(), "HS256")
    assert (await post(http, OAUTH_TOKEN_PATH, {**form, **good})).status_code == 200
    replay = await post(http, OAUTH_TOKEN_PATH, {**form, **good})
    assert error_of(replay, 401) == "invalid_client"
    assert "jti" in replay.json()["error_description"]
    refused = [
        assertion(HS, hs_key("another-secret-of-some-length"), "HS256"),
        assertion(HS, hs_key(), "HS256", aud="https://elsewhere.example/token"),
        assertion(HS, hs_key(), "HS256", iss="someone"),
        assertion(HS, hs_key(), "HS256", exp=int(clock.now) - 1),
        assertion(HS, hs_key(), "HS256", exp=None),
        assertion(HS, hs_key(), "HS256", jti=None),
        assertion(HS, hs_key(), "HS256", nbf=int(clock.now) + 60),
        assertion(HS, PRIVATE_KEY, "RS256"),
        {**good, "client_assertion_type": "urn:other"},
        {**good, "client_assertion": "not.a.jwt"},
    ]
    for fields in refused:
        response = await post(http, OAUTH_TOKEN_PATH, {**form, **fields})
        assert error_of(response, 401) == "invalid_client", fields
    hs512 = assertion(HS, hs_key(), "HS512", aud=[BASE, "https://x.example"])
    assert (await post(http, OAUTH_TOKEN_PATH, {**form, **hs512})).status_code == 200
    # A secret client may not switch to an assertion.
    web = assertion(WEB, hs_key(WEB_SECRET), "HS256")
    assert error_of(await post(http, OAUTH_TOKEN_PATH, {**form, **web}), 401) == "invalid_client"


async def test_private_key_jwt(http: Any, emulator: ProviderEmulator) -> None:
    form = {"grant_type": "client_credentials"}
    for key, alg in ((PRIVATE_KEY, "RS256"), (PRIVATE_KEY, "PS256"), (EC_KEY, "ES256")):
        response = await post(http, OAUTH_TOKEN_PATH, {**form, **assertion(PK, key, alg)})
        assert response.status_code == 200, response.text
    issuer_aud = assertion(PK, PRIVATE_KEY, "RS256", aud=BASE)
    assert (await post(http, OAUTH_TOKEN_PATH, {**form, **issuer_aud})).status_code == 200
    stranger = RSAKey.generate_key(2048, auto_kid=True)
    refused = [
        assertion(PK, stranger, "RS256"),
        assertion(PK, PRIVATE_KEY, "RS256", sub="someone"),
        assertion(PK, hs_key(), "HS256"),
    ]
    for fields in refused:
        response = await post(http, OAUTH_TOKEN_PATH, {**form, **fields})
        assert error_of(response, 401) == "invalid_client"
    with pytest.raises(ValueError, match="JWK Set"):
        emulator.add_oauth_client("broken", auth_method="private_key_jwt", jwks={"keys": []})


async def test_token_endpoint_request_errors(http: Any) -> None:
    auth = basic(SVC, SVC_SECRET)
    post_auth = {"client_id": SVC, "client_secret": SVC_SECRET}
    json_body = await http.post(OAUTH_TOKEN_PATH, json={"grant_type": "client_credentials"})
    assert error_of(json_body) == "invalid_request"
    repeated = await http.post(
        OAUTH_TOKEN_PATH,
        content="grant_type=client_credentials&grant_type=password",
        headers={**FORM, **auth},
    )
    assert error_of(repeated) == "invalid_request"
    assert error_of(await post(http, OAUTH_TOKEN_PATH, post_auth)) == "invalid_request"
    password = {**post_auth, "grant_type": "password"}
    assert error_of(await post(http, OAUTH_TOKEN_PATH, password)) == "unsupported_grant_type"
    code = {**post_auth, "grant_type": "authorization_code", "code": "x"}
    assert error_of(await post(http, OAUTH_TOKEN_PATH, code)) == "unauthorized_client"
    public = {"grant_type": "client_credentials", "client_id": CLI}
    assert error_of(await post(http, OAUTH_TOKEN_PATH, public)) == "unauthorized_client"
    assert (await http.get(OAUTH_TOKEN_PATH)).status_code == 405


# -- the device authorization grant ------------------------------------------------------


async def start_device(http: Any, **extra: str) -> dict[str, Any]:
    response = await post(http, OAUTH_DEVICE_AUTHORIZATION_PATH, {"client_id": CLI, **extra})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def poll(http: Any, device_code: str) -> Any:
    form = {"grant_type": DEVICE_GRANT, "client_id": CLI, "device_code": device_code}
    return await post(http, OAUTH_TOKEN_PATH, form)


async def test_device_flow_approved_in_the_browser(
    http: Any, emulator: ProviderEmulator, clock: ManualClock
) -> None:
    start = await start_device(http, scope="openid profile")
    assert start.keys() == {
        "device_code",
        "user_code",
        "verification_uri",
        "verification_uri_complete",
        "expires_in",
        "interval",
    }
    assert start["verification_uri"] == BASE + OAUTH_VERIFICATION_PATH
    assert start["verification_uri_complete"] == (
        f"{start['verification_uri']}?user_code={start['user_code']}"
    )
    assert (start["expires_in"], start["interval"]) == (600, 5)
    user_code = start["user_code"]
    assert len(user_code) == 9
    assert user_code[4] == "-"
    assert set(user_code) - {"-"} <= set("BCDFGHJKLMNPQRSTVWXZ")
    assert error_of(await poll(http, start["device_code"])) == "authorization_pending"
    clock.advance(2)
    slow = await poll(http, start["device_code"])
    assert error_of(slow) == "slow_down"
    assert "10 seconds" in slow.json()["error_description"]
    clock.advance(10)
    assert error_of(await poll(http, start["device_code"])) == "authorization_pending"
    clock.advance(9)
    assert error_of(await poll(http, start["device_code"])) == "slow_down"
    page = await http.get(start["verification_uri_complete"])
    assert f"Make sure your device shows the code {user_code}." in page.text
    assert f'action="{OAUTH_VERIFICATION_DECISION_PATH}"' in page.text
    landed = await browse(http, start["verification_uri_complete"])
    assert landed == BASE + OAUTH_VERIFICATION_DECISION_PATH
    tokens = (await poll(http, start["device_code"])).json()
    assert tokens["scope"] == "openid profile"
    assert tokens["refresh_token"]
    assert tokens["id_token"]
    assert emulator.is_valid_token(tokens["access_token"])
    assert error_of(await poll(http, start["device_code"])) == "invalid_grant"
    with pytest.raises(BrowseError, match="HTTP 400"):
        await browse(http, start["verification_uri_complete"])
    assert emulator.calls["oauth.device_authorization"] == 1
    assert emulator.calls["oauth.verification_decision"] == 1


async def test_device_flow_denied_expired_and_programmatic(
    http: Any, emulator: ProviderEmulator, clock: ManualClock
) -> None:
    emulator.oauth_device_interval = 0
    denied = await start_device(http)
    assert denied["interval"] == 0
    landed = await browse(http, denied["verification_uri_complete"], decision="deny")
    assert landed == BASE + OAUTH_VERIFICATION_DECISION_PATH
    assert error_of(await poll(http, denied["device_code"])) == "access_denied"
    assert error_of(await poll(http, denied["device_code"])) == "access_denied"
    # approve_device() is the user, without a browser; codes match loosely.
    approved = await start_device(http)
    emulator.approve_device(approved["user_code"].lower().replace("-", " "))
    assert (await poll(http, approved["device_code"])).status_code == 200
    with pytest.raises(ValueError, match="unknown"):
        emulator.approve_device(approved["user_code"])
    with pytest.raises(ValueError, match="unknown"):
        emulator.approve_device("BBBB-BBBB")
    refused = await start_device(http)
    emulator.approve_device(refused["user_code"], allow=False)
    assert error_of(await poll(http, refused["device_code"])) == "access_denied"
    expired = await start_device(http)
    clock.advance(600)
    assert error_of(await poll(http, expired["device_code"])) == "expired_token"
    with pytest.raises(ValueError, match="expired"):
        emulator.approve_device(expired["user_code"])


async def test_device_verification_page(http: Any, emulator: ProviderEmulator) -> None:
    entry = await http.get(OAUTH_VERIFICATION_PATH)
    assert entry.status_code == 200
    assert 'name="user_code"' in entry.text
    assert 'method="get"' in entry.text
    unknown = await http.get(OAUTH_VERIFICATION_PATH, params={"user_code": "BBBB-BBBB"})
    assert unknown.status_code == 400
    assert 'name="user_code"' in unknown.text
    start = await start_device(http)
    typed = start["user_code"].lower().replace("-", "")
    page = await http.get(OAUTH_VERIFICATION_PATH, params={"user_code": typed})
    assert page.status_code == 200
    assert start["user_code"] in page.text
    # A decision posted after the code was decided elsewhere changes nothing.
    ticket = page.text.split('name="ticket" value="')[1].split('"')[0]
    emulator.approve_device(start["user_code"], allow=False)
    late = await post(
        http, OAUTH_VERIFICATION_DECISION_PATH, {"ticket": ticket, "decision": "allow"}
    )
    assert late.status_code == 400
    assert error_of(await poll(http, start["device_code"])) == "access_denied"


async def test_device_authorization_errors(http: Any, emulator: ProviderEmulator) -> None:
    web = await post(http, OAUTH_DEVICE_AUTHORIZATION_PATH, {}, basic(WEB, WEB_SECRET))
    assert error_of(web) == "unauthorized_client"
    nobody = await post(http, OAUTH_DEVICE_AUTHORIZATION_PATH, {"client_id": "nobody"})
    assert error_of(nobody, 401) == "invalid_client"
    emulator.add_oauth_client(
        "tv", grant_types=[DEVICE_GRANT], auth_method="none", scopes=["watch"]
    )
    scope = await post(http, OAUTH_DEVICE_AUTHORIZATION_PATH, {"client_id": "tv", "scope": "x"})
    assert error_of(scope) == "invalid_scope"
    start = await start_device(http)
    form = {"grant_type": DEVICE_GRANT, "client_id": "tv", "device_code": start["device_code"]}
    assert error_of(await post(http, OAUTH_TOKEN_PATH, form)) == "invalid_grant"
    no_code = {"grant_type": DEVICE_GRANT, "client_id": CLI}
    assert error_of(await post(http, OAUTH_TOKEN_PATH, no_code)) == "invalid_request"


# -- revocation, introspection and the protected resource --------------------------------


async def test_revocation(http: Any, emulator: ProviderEmulator) -> None:
    auth = basic(WEB, WEB_SECRET)
    tokens = await web_tokens(http)
    refreshed = (
        await post(
            http,
            OAUTH_TOKEN_PATH,
            {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            auth,
        )
    ).json()
    # Revoking an access token revokes just that one.
    access = {"token": tokens["access_token"], "token_type_hint": "access_token"}
    response = await post(http, OAUTH_REVOCATION_PATH, access, auth)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert not emulator.is_valid_token(tokens["access_token"])
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await http.get(OAUTH_API_PATH, headers=bearer)).status_code == 401
    assert emulator.is_valid_token(refreshed["access_token"])
    # Revoking a refresh token revokes its grant's access tokens too.
    refresh = {"token": refreshed["refresh_token"]}
    assert (await post(http, OAUTH_REVOCATION_PATH, refresh, auth)).status_code == 200
    assert not emulator.is_valid_token(refreshed["access_token"])
    again = {"grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"]}
    assert error_of(await post(http, OAUTH_TOKEN_PATH, again, auth)) == "invalid_grant"
    # Unknown and already revoked tokens: 200 all the same.
    for token in ("made-up", tokens["access_token"]):
        assert (await post(http, OAUTH_REVOCATION_PATH, {"token": token}, auth)).status_code == 200
    # Only the client the token was issued to may revoke it; clients must authenticate.
    other = await web_tokens(http)
    svc = {"token": other["access_token"], "client_id": SVC, "client_secret": SVC_SECRET}
    assert error_of(await post(http, OAUTH_REVOCATION_PATH, svc)) == "unauthorized_client"
    assert emulator.is_valid_token(other["access_token"])
    anonymous = await post(http, OAUTH_REVOCATION_PATH, {"token": other["access_token"]})
    assert error_of(anonymous, 401) == "invalid_client"
    assert error_of(await post(http, OAUTH_REVOCATION_PATH, {}, auth)) == "invalid_request"


async def test_public_client_revokes_with_its_client_id(
    http: Any, emulator: ProviderEmulator
) -> None:
    start = await start_device(http)
    emulator.approve_device(start["user_code"])
    emulator.oauth_device_interval = 0
    tokens = (await poll(http, start["device_code"])).json()
    form = {"token": tokens["refresh_token"], "client_id": CLI}
    assert (await post(http, OAUTH_REVOCATION_PATH, form)).status_code == 200
    assert not emulator.is_valid_token(tokens["access_token"])


async def test_introspection(http: Any, emulator: ProviderEmulator, clock: ManualClock) -> None:
    tokens = await web_tokens(http, scope="openid read")
    svc = {"client_id": SVC, "client_secret": SVC_SECRET}
    access = await post(http, OAUTH_INTROSPECTION_PATH, {**svc, "token": tokens["access_token"]})
    assert access.json() == {
        "active": True,
        "scope": "openid read",
        "client_id": WEB,
        "token_type": "Bearer",
        "exp": int(clock.now) + 3600,
        "iat": int(clock.now),
        "sub": jwt.decode(
            tokens["id_token"], KeySet.import_key_set((await http.get(OAUTH_JWKS_PATH)).json())
        ).claims["sub"],
        "aud": WEB,
        "iss": BASE,
    }
    refresh = await post(http, OAUTH_INTROSPECTION_PATH, {**svc, "token": tokens["refresh_token"]})
    assert refresh.json()["active"] is True
    assert refresh.json()["token_type"] == "refresh_token"
    unknown = await post(http, OAUTH_INTROSPECTION_PATH, {**svc, "token": "made-up"})
    assert unknown.json() == {"active": False}
    clock.advance(3600)
    expired = await post(http, OAUTH_INTROSPECTION_PATH, {**svc, "token": tokens["access_token"]})
    assert expired.json() == {"active": False}
    emulator.revoke_all()
    revoked = await post(http, OAUTH_INTROSPECTION_PATH, {**svc, "token": tokens["refresh_token"]})
    assert revoked.json() == {"active": False}
    anonymous = await post(http, OAUTH_INTROSPECTION_PATH, {"token": "x"})
    assert error_of(anonymous, 401) == "invalid_client"
    assert error_of(await post(http, OAUTH_INTROSPECTION_PATH, svc)) == "invalid_request"


async def test_protected_resource_and_userinfo_check_the_bearer_token(
    http: Any, emulator: ProviderEmulator
) -> None:
    missing = await http.get(OAUTH_API_PATH)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="emulator"'
    invalid = await http.get(OAUTH_API_PATH, headers={"Authorization": "Bearer made-up"})
    assert error_of(invalid, 401) == "invalid_token"
    assert 'error="invalid_token"' in invalid.headers["WWW-Authenticate"]
    emulator.add_geni_app("geni")
    geni = await browse(http, f"{BASE}/platform/oauth/authorize?client_id=geni&response_type=token")
    other_provider = {"Authorization": f"Bearer {fragment(geni)['access_token']}"}
    assert (await http.get(OAUTH_API_PATH, headers=other_provider)).status_code == 401
    tokens = await web_tokens(http, scope="read")
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    no_openid = await http.get(OAUTH_USERINFO_PATH, headers=bearer)
    assert error_of(no_openid, 403) == "insufficient_scope"
    assert (await http.get(OAUTH_API_PATH, headers=bearer)).status_code == 200
    emulator.revoke(tokens["access_token"])
    assert (await http.get(OAUTH_API_PATH, headers=bearer)).status_code == 401


# -- registration, bookkeeping, secrecy ---------------------------------------------------


def test_add_oauth_client_validates() -> None:
    emulator = ProviderEmulator()
    with pytest.raises(ValueError, match="grant types"):
        emulator.add_oauth_client("a", client_secret="s", grant_types=["password"])
    with pytest.raises(ValueError, match="auth_method"):
        emulator.add_oauth_client("a", auth_method="tls_client_auth")
    with pytest.raises(ValueError, match="needs a client_secret"):
        emulator.add_oauth_client("a")
    with pytest.raises(ValueError, match="no client_secret"):
        emulator.add_oauth_client("a", client_secret="s", auth_method="none")
    with pytest.raises(ValueError, match="jwks"):
        emulator.add_oauth_client("a", client_secret="s", jwks={"keys": []})
    with pytest.raises(ValueError, match="fragment"):
        emulator.add_oauth_client("a", client_secret="s", redirect_uris=["https://a/#x"])
    with pytest.raises(ValueError, match="empty"):
        emulator.add_oauth_client("", client_secret="s")
    emulator.add_oauth_client("a", client_secret="s")
    assert "oauth=1" in repr(emulator)


def test_endpoints_oauth() -> None:
    assert ProviderEmulator().endpoints_oauth("http://127.0.0.1:8000/") == {
        "issuer": "http://127.0.0.1:8000",
        "authorization_endpoint": "http://127.0.0.1:8000/oauth/authorize",
        "token_endpoint": "http://127.0.0.1:8000/oauth/token",
        "device_authorization_endpoint": "http://127.0.0.1:8000/oauth/device",
        "revocation_endpoint": "http://127.0.0.1:8000/oauth/revoke",
        "introspection_endpoint": "http://127.0.0.1:8000/oauth/introspect",
        "jwks_uri": "http://127.0.0.1:8000/oauth/jwks",
        "userinfo_endpoint": "http://127.0.0.1:8000/oauth/userinfo",
        "end_session_endpoint": "http://127.0.0.1:8000/oauth/logout",
        "metadata_url": "http://127.0.0.1:8000/.well-known/oauth-authorization-server",
        "openid_configuration_url": "http://127.0.0.1:8000/.well-known/openid-configuration",
    }


async def test_tickets_are_bound_to_their_decision_page(http: Any) -> None:
    _, challenge = pkce()
    url = authorize_url(
        WEB, response_type="code", code_challenge=challenge, code_challenge_method="S256"
    )
    page = await http.get(url)
    ticket = page.text.split('name="ticket" value="')[1].split('"')[0]
    wrong = await post(
        http, OAUTH_VERIFICATION_DECISION_PATH, {"ticket": ticket, "decision": "allow"}
    )
    assert wrong.status_code == 400


async def test_revoke_all_clears_the_generic_server(http: Any, emulator: ProviderEmulator) -> None:
    code, verifier = await code_flow(http)
    start = await start_device(http)
    emulator.revoke_all()
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": WEB_REDIRECT,
        "code_verifier": verifier,
    }
    assert error_of(await post(http, OAUTH_TOKEN_PATH, form, basic(WEB, WEB_SECRET))) == (
        "invalid_grant"
    )
    assert error_of(await poll(http, start["device_code"])) == "invalid_grant"


async def test_nothing_secret_in_logs_or_reprs(
    http: Any, emulator: ProviderEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="anyoauth.testing")
    code, verifier = await code_flow(http)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": WEB_REDIRECT,
        "code_verifier": verifier,
    }
    tokens = (await post(http, OAUTH_TOKEN_PATH, form, basic(WEB, WEB_SECRET))).json()
    start = await start_device(http)
    hs = await post(
        http,
        OAUTH_TOKEN_PATH,
        {"grant_type": "client_credentials", **assertion(HS, hs_key(), "HS256")},
    )
    oauth = emulator._oauth
    shown = (
        caplog.text
        + repr(emulator)
        + repr(oauth)
        + repr(oauth.clients)
        + repr(list(oauth.clients.by_id.values()))
        + repr(list(oauth.devices.values()))
        + repr(oauth.tokens)
        + repr(oauth.tokens.grants())
    )
    assert caplog.records
    for secret in (
        WEB_SECRET,
        quote(WEB_SECRET, safe=""),
        HS_SECRET,
        code,
        verifier,
        tokens["access_token"],
        tokens["refresh_token"],
        start["device_code"],
        start["user_code"],
        hs.json()["access_token"],
    ):
        assert secret not in shown


# -- a real port ---------------------------------------------------------------------------


async def test_everything_on_a_loopback_port(http_client: Any) -> None:
    emulator = ProviderEmulator(oauth_device_interval=0)
    emulator.add_oauth_client(
        CLI,
        redirect_uris=[CLI_REDIRECT],
        grant_types=["authorization_code", "refresh_token", DEVICE_GRANT],
        auth_method="none",
    )
    async with emulator.serve() as base:
        endpoints = emulator.endpoints_oauth(base)
        document = (await http_client.get(endpoints["metadata_url"])).json()
        assert document["issuer"] == base
        assert document["token_endpoint"] == endpoints["token_endpoint"]
        verifier, challenge = pkce()
        url = authorize_url(
            CLI,
            base,
            response_type="code",
            redirect_uri="http://127.0.0.1:49152/callback",
            code_challenge=challenge,
            code_challenge_method="S256",
            scope="openid",
            nonce="n",
        )
        answer = query(await browse(http_client, url))
        assert answer["iss"] == base
        response = await http_client.post(
            endpoints["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "client_id": CLI,
                "code": answer["code"],
                "redirect_uri": "http://127.0.0.1:49152/callback",
                "code_verifier": verifier,
            },
        )
        tokens = response.json()
        keys = KeySet.import_key_set((await http_client.get(document["jwks_uri"])).json())
        claims = jwt.decode(tokens["id_token"], keys).claims
        assert (claims["iss"], claims["aud"], claims["nonce"]) == (base, CLI, "n")
        start = (
            await http_client.post(
                endpoints["device_authorization_endpoint"], data={"client_id": CLI}
            )
        ).json()
        assert start["verification_uri"] == base + OAUTH_VERIFICATION_PATH
        await browse(http_client, start["verification_uri_complete"])
        device = await http_client.post(
            endpoints["token_endpoint"],
            data={
                "grant_type": DEVICE_GRANT,
                "client_id": CLI,
                "device_code": start["device_code"],
            },
        )
        assert device.status_code == 200
        bearer = {"Authorization": f"Bearer {device.json()['access_token']}"}
        assert (await http_client.get(base + OAUTH_API_PATH, headers=bearer)).status_code == 200
        revoked = await http_client.post(
            endpoints["revocation_endpoint"],
            data={"client_id": CLI, "token": device.json()["refresh_token"]},
        )
        assert revoked.status_code == 200
        introspected = await http_client.post(
            endpoints["introspection_endpoint"],
            data={"client_id": CLI, "token": device.json()["access_token"]},
        )
        assert introspected.json() == {"active": False}
    assert emulator.calls["oauth.token"] == 2
