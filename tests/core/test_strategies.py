"""The generic strategies: defaults, client authentication, validation, redaction."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from urllib.parse import parse_qs, parse_qsl, unquote_plus, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anyoauth import (
    ClientCredentials,
    CodeJsonExchange,
    ConfigurationError,
    HttpRequest,
    ImplicitDesktop,
    PendingFlow,
    Strategy,
    Token,
)
from anyoauth.sansio import basic_credentials, is_loopback_host

SECRET = "SENTINEL-SECRET-d00d"
TOKEN_URL = "https://idp.example/token"
AUTHORIZE_URL = "https://idp.example/authorize"
REDIRECT_URI = "https://app.example/cb"

NOW = 1_700_000_000.0


def header(request: HttpRequest, name: str) -> str | None:
    values = [v for k, v in request.headers if k.lower() == name.lower()]
    assert len(values) <= 1
    return values[0] if values else None


def decode_basic(value: str | None) -> tuple[str, str]:
    assert value is not None
    scheme, _, encoded = value.partition(" ")
    assert scheme == "Basic"
    user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    assert sep == ":"
    return unquote_plus(user), unquote_plus(password)


def pending(verifier: str | None = None) -> PendingFlow:
    return PendingFlow(
        state="s", binding="b", created_at=0.0, expires_at=600.0, code_verifier=verifier
    )


# -- basic credentials -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("client_id", "secret"),
    [
        ("client", "plain"),
        ("client", "with: colon + plus % percent and space"),
        ("id:with:colons", "p@ss/wörd&=?#"),
    ],
)
def test_basic_credentials_round_trip(client_id: str, secret: str) -> None:
    assert decode_basic(basic_credentials(client_id, secret)) == (client_id, secret)


@given(st.text(min_size=1, max_size=30), st.text(max_size=30))
def test_basic_credentials_round_trip_any_text(client_id: str, secret: str) -> None:
    value = basic_credentials(client_id, secret)
    assert value.isascii()
    assert decode_basic(value) == (client_id, secret)


def test_basic_credentials_are_form_encoded_before_base64() -> None:
    raw = base64.b64decode(basic_credentials("a b", "x:y+z").split(" ", 1)[1]).decode()
    assert raw == "a+b:x%3Ay%2Bz"


# -- the base strategy -------------------------------------------------------------------


def test_default_authorization_url() -> None:
    strategy = Strategy(
        client_id="c",
        authorization_endpoint=AUTHORIZE_URL + "?tenant=t",
        redirect_uri=REDIRECT_URI,
        scope="openid profile",
        extra_authorization_params={"prompt": "consent"},
    )
    url = strategy.authorization_url(state="st", code_challenge=None)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == AUTHORIZE_URL
    assert dict(parse_qsl(parts.query)) == {
        "tenant": "t",
        "client_id": "c",
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile",
        "state": "st",
        "prompt": "consent",
    }


def test_code_exchange_with_basic_auth() -> None:
    strategy = Strategy(
        client_id="c",
        client_secret=SECRET,
        token_endpoint=TOKEN_URL,
        redirect_uri=REDIRECT_URI,
    )
    request = strategy.code_exchange_request("the-code", pending("v" * 43), now=NOW)
    assert request.method == "POST"
    assert request.url == TOKEN_URL
    assert header(request, "Content-Type") == "application/x-www-form-urlencoded"
    assert decode_basic(header(request, "Authorization")) == ("c", SECRET)
    assert parse_qs(request.content.decode()) == {
        "grant_type": ["authorization_code"],
        "code": ["the-code"],
        "redirect_uri": [REDIRECT_URI],
        "code_verifier": ["v" * 43],
    }


def test_code_exchange_with_client_secret_post() -> None:
    strategy = Strategy(
        client_id="c",
        client_secret=SECRET,
        token_endpoint=TOKEN_URL,
        client_auth="client_secret_post",
    )
    request = strategy.code_exchange_request("k", pending(), now=NOW)
    assert header(request, "Authorization") is None
    body = parse_qs(request.content.decode())
    assert body["client_id"] == ["c"]
    assert body["client_secret"] == [SECRET]


def test_public_client_sends_only_its_id() -> None:
    strategy = Strategy(client_id="c", token_endpoint=TOKEN_URL, client_auth="none")
    request = strategy.code_exchange_request("k", pending(), now=NOW)
    assert header(request, "Authorization") is None
    body = parse_qs(request.content.decode())
    assert body["client_id"] == ["c"]
    assert "client_secret" not in body


def test_refresh_request_needs_a_refresh_token_and_an_endpoint() -> None:
    with_refresh = Token(access_token="a", issued_at=0, refresh_token="r")
    without = Token(access_token="a", issued_at=0)
    assert (
        Strategy(client_id="c", token_endpoint=TOKEN_URL).refresh_request(without, now=NOW) is None
    )
    assert Strategy(client_id="c").refresh_request(with_refresh, now=NOW) is None
    request = Strategy(client_id="c", token_endpoint=TOKEN_URL).refresh_request(
        with_refresh, now=NOW
    )
    assert request is not None
    assert parse_qs(request.content.decode())["refresh_token"] == ["r"]


def test_scope_string_is_split_on_spaces_and_commas() -> None:
    assert Strategy(client_id="c", scope="a, b c").scope == ("a", "b", "c")
    assert Strategy(client_id="c", scope=["x", "y"]).scope == ("x", "y")
    assert Strategy(client_id="c").scope == ()


def test_binding_names_the_strategy_and_client() -> None:
    a = Strategy(client_id="a")
    b = Strategy(client_id="b")
    assert a.binding != b.binding
    assert ImplicitDesktop(client_id="a", success_url=REDIRECT_URI).binding != a.binding


def test_is_redirect_is_exact() -> None:
    strategy = Strategy(client_id="c", redirect_uri=REDIRECT_URI)
    assert strategy.is_redirect(REDIRECT_URI + "?code=x")
    assert not strategy.is_redirect("https://app.example.evil/cb?code=x")
    assert not strategy.is_redirect("https://app.example/cb2?code=x")


def test_code_json_exchange_requires_secret_and_redirect_uri() -> None:
    with pytest.raises(ConfigurationError):
        CodeJsonExchange(client_id="c", client_secret=SECRET, token_endpoint=TOKEN_URL)
    with pytest.raises(ConfigurationError):
        CodeJsonExchange(client_id="c", redirect_uri=REDIRECT_URI, token_endpoint=TOKEN_URL)


def test_code_json_exchange_body() -> None:
    strategy = CodeJsonExchange(
        client_id="c", client_secret=SECRET, redirect_uri=REDIRECT_URI, token_endpoint=TOKEN_URL
    )
    request = strategy.code_exchange_request("k", pending(), now=NOW)
    assert json.loads(request.content) == {
        "code": "k",
        "client_id": "c",
        "client_secret": SECRET,
        "redirect_uri": REDIRECT_URI,
    }


def test_client_credentials_requires_token_endpoint_and_secret() -> None:
    with pytest.raises(ConfigurationError):
        ClientCredentials(client_id="c", client_secret=SECRET)
    with pytest.raises(ConfigurationError):
        ClientCredentials(client_id="c", token_endpoint=TOKEN_URL)


def test_client_credentials_token_params() -> None:
    strategy = ClientCredentials(
        client_id="c",
        client_secret=SECRET,
        token_endpoint=TOKEN_URL,
        scope="a b",
        token_params={"audience": "api"},
    )
    body = parse_qs(strategy.direct_token_request(now=NOW).content.decode())
    assert body == {"grant_type": ["client_credentials"], "scope": ["a b"], "audience": ["api"]}


# -- configuration validation -------------------------------------------------------------


@pytest.mark.parametrize("field", ["authorization_endpoint", "token_endpoint"])
@pytest.mark.parametrize(
    "url",
    [
        "http://idp.example/x",
        "http://10.0.0.1/x",
        "http://localhost.evil.example/x",
        "http://127.0.0.1.nip.io/x",
        "ftp://idp.example/x",
        "idp.example/x",
        "https://",
        "https://user:pw@idp.example/x",
    ],
)
def test_bad_endpoints_are_rejected(field: str, url: str) -> None:
    with pytest.raises(ConfigurationError):
        Strategy(client_id="c", **{field: url})  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["authorization_endpoint", "token_endpoint"])
@pytest.mark.parametrize(
    "url",
    [
        "https://idp.example/x",
        "http://127.0.0.1:8080/x",
        "http://127.5.6.7/x",
        "http://localhost:9000/x",
        "http://[::1]:9000/x",
    ],
)
def test_good_endpoints_are_accepted(field: str, url: str) -> None:
    strategy = Strategy(client_id="c", **{field: url})  # type: ignore[arg-type]
    assert getattr(strategy, field) == url


def test_http_endpoint_allowed_when_explicitly_insecure() -> None:
    strategy = Strategy(client_id="c", token_endpoint="http://emulator/x", allow_insecure=True)
    assert strategy.token_endpoint == "http://emulator/x"


@pytest.mark.parametrize(
    "redirect_uri",
    ["http://app.example/cb", "http://192.168.1.2/cb", "https://app.example/cb#frag", "/cb"],
)
def test_bad_redirect_uris_are_rejected(redirect_uri: str) -> None:
    with pytest.raises(ConfigurationError):
        Strategy(client_id="c", redirect_uri=redirect_uri)


@pytest.mark.parametrize(
    "redirect_uri",
    ["https://app.example/cb", "http://127.0.0.1:53682/cb", "http://[::1]:1/", "myapp://cb"],
)
def test_good_redirect_uris_are_accepted(redirect_uri: str) -> None:
    assert Strategy(client_id="c", redirect_uri=redirect_uri).redirect_uri == redirect_uri


@pytest.mark.parametrize(
    "build",
    [
        lambda: Strategy(client_id=""),
        lambda: ImplicitDesktop(client_id="", success_url=REDIRECT_URI),
        lambda: ImplicitDesktop(client_id="c", success_url=""),
        lambda: CodeJsonExchange(client_id="", client_secret=SECRET, redirect_uri=REDIRECT_URI),
        lambda: ClientCredentials(client_id="", client_secret=SECRET, token_endpoint=TOKEN_URL),
        lambda: Strategy(client_id="c", response_type="id_token"),
        lambda: Strategy(client_id="c", state_ttl=0),
        lambda: Strategy(client_id="c", state_ttl=-1),
    ],
    ids=[
        "empty-client-id",
        "implicit-empty-client-id",
        "implicit-empty-success-url",
        "json-empty-client-id",
        "cc-empty-client-id",
        "bad-response-type",
        "zero-ttl",
        "negative-ttl",
    ],
)
def test_invalid_configuration(build: Callable[[], Strategy]) -> None:
    with pytest.raises(ConfigurationError):
        build()


def test_configuration_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="client_id"):
        Strategy(client_id="")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("app.localhost", True),
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("[::1]", True),
        ("::1", True),
        ("localhost.example", False),
        ("127.0.0.1.example", False),
        ("10.0.0.1", False),
        ("0.0.0.0", False),  # noqa: S104
        ("example.com", False),
        ("", False),
    ],
)
def test_is_loopback_host(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


# -- redaction -------------------------------------------------------------------------


STRATEGIES: list[Callable[[], Strategy]] = [
    lambda: Strategy(client_id="c", client_secret=SECRET, token_endpoint=TOKEN_URL),
    lambda: ImplicitDesktop(client_id="c", client_secret=SECRET, success_url=REDIRECT_URI),
    lambda: CodeJsonExchange(
        client_id="c", client_secret=SECRET, redirect_uri=REDIRECT_URI, token_endpoint=TOKEN_URL
    ),
    lambda: ClientCredentials(client_id="c", client_secret=SECRET, token_endpoint=TOKEN_URL),
]


@pytest.mark.parametrize("build", STRATEGIES, ids=["base", "implicit", "code-json", "cc"])
def test_strategy_repr_hides_the_secret(build: Callable[[], Strategy]) -> None:
    strategy = build()
    assert SECRET not in repr(strategy)
    assert SECRET not in str(strategy)
    assert "c" in repr(strategy)


def test_http_request_repr_hides_credentials_and_body() -> None:
    request = HttpRequest(
        method="POST",
        url=TOKEN_URL,
        headers=(("Authorization", f"Bearer {SECRET}"), ("Cookie", SECRET), ("Accept", "x/y")),
        content=f"client_secret={SECRET}".encode(),
    )
    text = repr(request)
    assert SECRET not in text
    assert "x/y" in text
    assert TOKEN_URL in text


@pytest.mark.parametrize("authorization", ["Authorization", "authorization", "AUTHORIZATION"])
def test_http_request_repr_hides_any_spelling_of_authorization(authorization: str) -> None:
    request = HttpRequest(method="GET", url=TOKEN_URL, headers=((authorization, SECRET),))
    assert SECRET not in repr(request)


def test_basic_auth_request_repr_hides_the_encoded_secret() -> None:
    strategy = ClientCredentials(client_id="c", client_secret=SECRET, token_endpoint=TOKEN_URL)
    request = strategy.direct_token_request(now=NOW)
    value = header(request, "Authorization")
    assert value is not None
    text = repr(request)
    assert value not in text
    assert value.split(" ", 1)[1] not in text
    assert SECRET not in text
