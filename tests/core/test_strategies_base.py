"""What every strategy does: its defaults, the requests it builds and how it
authenticates the client on them, its configuration checks, its binding, and reprs
that hide secrets. Requests are built without the standard library's general-purpose
layers; each is checked against the plain computation it replaces."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey

from anyoauth import (
    AuthorizationCode,
    ClientCredentials,
    CodeJsonExchange,
    ConfigurationError,
    HttpRequest,
    ImplicitDesktop,
    PendingFlow,
    Strategy,
    Token,
)
from anyoauth.sansio import (
    ASSERTION_TYPE,
    basic_credentials,
    form_encode,
    is_loopback_host,
)
from support.headers import decode_basic, header
from support.oauth_server import NOW, RSA, TOKEN, code_strategy

SECRET = "SENTINEL-SECRET-d00d"
TOKEN_URL = "https://idp.example/token"
AUTHORIZE_URL = "https://idp.example/authorize"
REDIRECT_URI = "https://app.example/cb"


def pending(verifier: str | None = None) -> PendingFlow:
    return PendingFlow(
        state="s", binding="b", created_at=0.0, expires_at=600.0, code_verifier=verifier
    )


STRATEGIES: list[Callable[[], Strategy]] = [
    lambda: Strategy(client_id="c", client_secret=SECRET, token_endpoint=TOKEN_URL),
    lambda: ImplicitDesktop(client_id="c", client_secret=SECRET, success_url=REDIRECT_URI),
    lambda: CodeJsonExchange(
        client_id="c", client_secret=SECRET, redirect_uri=REDIRECT_URI, token_endpoint=TOKEN_URL
    ),
    lambda: ClientCredentials(client_id="c", client_secret=SECRET, token_endpoint=TOKEN_URL),
]


URL_TEXT = "abcAZ09-._~ :/?#[]@!$&'()*+,;=%é\u2603"


class _Named(str):
    __slots__ = ()

    def __str__(self) -> str:
        return "named:" + self


values = st.one_of(
    st.text(),
    st.text(alphabet=URL_TEXT),
    st.binary(),
    st.integers(),
    st.builds(_Named, st.text(alphabet=URL_TEXT)),
)


def urlencoded_query(url: str, params: list[tuple[str, str]]) -> str:
    """``url`` with ``params`` added to its query by ``urllib.parse.urlencode``."""
    parts = urlsplit(url)
    extra = urlencode(params, safe=",")
    query = f"{parts.query}&{extra}" if parts.query and extra else parts.query or extra
    return urlunsplit(parts._replace(query=query))


def form_of(strategy: Strategy) -> tuple[dict[str, list[str]], dict[str, str]]:
    request = strategy.form_request([("grant_type", "x")], now=NOW)
    return parse_qs(request.content.decode()), dict(request.headers)


# -- basic credentials -----------------------------------------------------------------


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


def test_basic_credentials_follow_the_strategy_they_belong_to() -> None:
    one, two = "SENTINEL-SECRET-1f0e", "SENTINEL-SECRET-2c7a"
    strategy = Strategy(
        client_id="cid", client_secret=one, token_endpoint=TOKEN_URL, redirect_uri=REDIRECT_URI
    )
    first = strategy.form_request([("a", "b")], now=0.0)
    other = attrs.evolve(strategy, client_secret=two)
    second = other.form_request([("a", "b")], now=0.0)
    assert dict(first.headers)["Authorization"] == basic_credentials("cid", one)
    assert dict(second.headers)["Authorization"] == basic_credentials("cid", two)
    assert other == attrs.evolve(strategy, client_secret=two)  # the cache is no field
    shown = repr(strategy) + repr(other)
    assert "SENTINEL" not in shown
    assert basic_credentials("cid", one).split()[1] not in shown


# -- the base strategy -----------------------------------------------------------------


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


def test_two_servers_with_one_client_id_never_share_a_binding() -> None:
    """Tokens and pending logins are keyed by the binding: a refresh token of one server
    must never be sent to another that issued the same client_id."""
    from anyoauth import AuthorizationCode, ClientCredentials

    def code(issuer: str) -> AuthorizationCode:
        return AuthorizationCode(
            client_id="web",
            authorization_endpoint=f"{issuer}/authorize",
            token_endpoint=f"{issuer}/token",
            redirect_uri="http://127.0.0.1/callback",
            issuer=issuer,
        )

    a, b = code("https://a.example"), code("https://b.example")
    assert a.binding != b.binding
    assert a.binding == code("https://a.example").binding
    assert a.binding.startswith("authorization-code:web:")
    realm_a = ClientCredentials(
        client_id="svc", client_secret="s", token_endpoint="https://kc/realms/a/token"
    )
    realm_b = ClientCredentials(
        client_id="svc", client_secret="s", token_endpoint="https://kc/realms/b/token"
    )
    assert realm_a.binding != realm_b.binding


# -- requests match the standard library's encoding ------------------------------------


@settings(max_examples=500)
@given(
    st.lists(st.tuples(st.one_of(st.text(), st.text(alphabet=URL_TEXT)), values)),
    st.sampled_from(["", ",", ":/", "é"]),
)
def test_form_encode_is_urlencode(params: list[tuple[str, object]], safe: str) -> None:
    assert form_encode(params, safe=safe) == urlencode(params, safe=safe)


@settings(max_examples=200)
@given(
    endpoint=st.sampled_from(
        [
            AUTHORIZE_URL,
            AUTHORIZE_URL + "?tenant=a%20b",
            AUTHORIZE_URL + "?x=1#frag",
            AUTHORIZE_URL + "#frag",
            "https://idp.example",
            "https://idp.example:8443/a/b/",
        ]
    ),
    client_id=st.text(alphabet=URL_TEXT, min_size=1),
    scope=st.lists(st.text(alphabet="abc:/,.é", min_size=1), max_size=3),
    state=st.text(alphabet=URL_TEXT),
    extra=st.dictionaries(st.text(alphabet=URL_TEXT), st.text(alphabet=URL_TEXT), max_size=2),
)
def test_authorization_url_is_built_as_with_urlencode(
    endpoint: str, client_id: str, scope: list[str], state: str, extra: dict[str, str]
) -> None:
    strategy = Strategy(
        client_id=client_id,
        authorization_endpoint=endpoint,
        token_endpoint=TOKEN_URL,
        redirect_uri=REDIRECT_URI + "?a=b%20c&d=e+f",
        scope=scope,
        extra_authorization_params=extra,
    )
    params = strategy.authorization_params(state=state, code_challenge="ch")
    assert strategy.authorization_url(state=state, code_challenge="ch") == urlencoded_query(
        endpoint, params
    )


@pytest.mark.parametrize("scope_separator", [",", " "])
def test_quoted_settings_are_quoted_as_in_each_place(scope_separator: str) -> None:
    strategy = ImplicitDesktop(
        client_id="id with space",
        authorization_endpoint=AUTHORIZE_URL,
        redirect_uri=REDIRECT_URI,
        success_url="https://idp.example/ok",
        scope=["a", "b:c"],
        scope_separator=scope_separator,
    )
    params = strategy.authorization_params(state="s", code_challenge=None)
    assert strategy.authorization_url(state="s", code_challenge=None) == urlencoded_query(
        AUTHORIZE_URL, params
    )
    # A value with "," quotes differently in URLs (safe=",") and bodies: never memoised.
    assert all("," not in value for value in strategy._quoted_settings)


@settings(max_examples=200)
@given(
    client_id=st.text(alphabet=URL_TEXT, min_size=1),
    secret=st.text(alphabet=URL_TEXT, min_size=1),
    code=st.text(alphabet=URL_TEXT, min_size=1),
    auth=st.sampled_from(["client_secret_basic", "client_secret_post", "none"]),
)
def test_code_exchange_body_and_credentials_are_urlencoded(
    client_id: str, secret: str, code: str, auth: str
) -> None:
    strategy = Strategy(
        client_id=client_id,
        client_secret=secret,
        authorization_endpoint=AUTHORIZE_URL,
        token_endpoint=TOKEN_URL,
        redirect_uri=REDIRECT_URI,
        client_auth=auth,  # type: ignore[arg-type]
    )
    pending = PendingFlow(state="s", binding="b", created_at=0.0, expires_at=1.0)
    request = strategy.code_exchange_request(code, pending, now=0.0)
    params = [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", REDIRECT_URI)]
    if auth == "client_secret_post":
        params += [("client_id", client_id), ("client_secret", secret)]
    elif auth == "none":
        params.append(("client_id", client_id))
    assert request.content == urlencode(params).encode()
    authorization = [v for k, v in request.headers if k == "Authorization"]
    if auth == "client_secret_basic":
        assert authorization == [basic_credentials(client_id, secret)]
    else:
        assert authorization == []


# -- client authentication -------------------------------------------------------------


def test_basic_credentials_are_form_encoded_unless_the_server_takes_them_raw() -> None:
    secret = "a+b:c%d é"
    encoded, headers = form_of(code_strategy(client_secret=secret))
    assert headers["Authorization"] == basic_credentials("app", secret)
    decoded = base64.b64decode(headers["Authorization"].split()[1]).decode()
    assert decoded == "app:a%2Bb%3Ac%25d+%C3%A9"
    assert "client_secret" not in encoded
    _, headers = form_of(code_strategy(client_secret=secret, basic_form_encoded=False))
    assert base64.b64decode(headers["Authorization"].split()[1]).decode() == f"app:{secret}"


def test_raw_basic_credentials_cannot_carry_a_colon_in_the_client_id() -> None:
    with pytest.raises(ConfigurationError, match="':'"):
        code_strategy(client_id="a:b", client_secret="s", basic_form_encoded=False)


def test_client_secret_post_and_public_clients() -> None:
    form, headers = form_of(code_strategy(client_secret="s", client_auth="client_secret_post"))
    assert form["client_id"] == ["app"]
    assert form["client_secret"] == ["s"]
    assert "Authorization" not in headers
    form, headers = form_of(code_strategy(client_auth="none"))
    assert form["client_id"] == ["app"]
    assert "client_secret" not in form
    assert "Authorization" not in headers


def test_private_key_jwt_signs_an_assertion_for_the_token_endpoint() -> None:
    strategy = code_strategy(client_auth="private_key_jwt", client_key=RSA.as_dict(private=True))
    form, headers = form_of(strategy)
    assert "Authorization" not in headers
    assert form["client_assertion_type"] == [ASSERTION_TYPE]
    decoded = jwt.decode(form["client_assertion"][0], RSA)
    assert decoded.header["alg"] == "RS256"
    assert decoded.header["kid"] == "k1"
    claims = decoded.claims
    assert claims["iss"] == claims["sub"] == "app"
    assert claims["aud"] == TOKEN
    assert claims["exp"] > claims["iat"] == int(NOW)
    again, _ = form_of(strategy)
    assert jwt.decode(again["client_assertion"][0], RSA).claims["jti"] != claims["jti"]
    assert str(RSA.as_dict(private=True)["d"]) not in repr(strategy)


def test_private_key_jwt_with_an_ec_key() -> None:
    key = ECKey.generate_key("P-256", private=True)
    strategy = code_strategy(
        client_auth="private_key_jwt", client_key=key, client_assertion_algorithm="ES256"
    )
    form, _ = form_of(strategy)
    assert jwt.decode(form["client_assertion"][0], key).claims["sub"] == "app"


def test_client_secret_jwt_signs_with_the_secret() -> None:
    secret = "s" * 40
    form, _ = form_of(code_strategy(client_auth="client_secret_jwt", client_secret=secret))
    decoded = jwt.decode(form["client_assertion"][0], OctKey.import_key(secret))
    assert decoded.header["alg"] == "HS256"
    assert decoded.claims["aud"] == TOKEN


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"client_auth": "private_key_jwt"}, "client_key"),
        ({"client_auth": "client_secret_jwt"}, "client_secret"),
        ({"client_auth": "private_key_jwt", "client_key": "not a key"}, "private_key_jwt"),
        (
            {
                "client_auth": "private_key_jwt",
                "client_key": RSA.as_dict(private=True),
                "client_assertion_algorithm": "none",
            },
            "private_key_jwt",
        ),
        (
            {
                "client_auth": "private_key_jwt",
                "client_key": RSA.as_dict(private=False),
            },
            "private_key_jwt",
        ),
        ({"client_auth": "client_secret_jwt", "client_secret": "short"}, "client_secret_jwt"),
        ({"client_auth": "mtls"}, "client_auth"),
    ],
)
def test_bad_client_authentication_is_refused_when_configured(
    kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(ConfigurationError, match=match):
        code_strategy(**kwargs)


# -- configuration validation ----------------------------------------------------------


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


def test_a_redirect_uri_with_a_bad_port_is_refused_at_construction() -> None:
    for uri in ("http://127.0.0.1:99999/cb", "http://127.0.0.1:port/cb", "https://[::1/cb"):
        with pytest.raises(ConfigurationError):
            code_strategy(redirect_uri=uri)
    strategy = code_strategy()
    assert strategy.is_redirect("https://elsewhere.example/") is False


# -- redaction -------------------------------------------------------------------------


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
