"""Exact endpoint matching and strict reading of redirect parameters."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anyoauth import (
    ImplicitDesktop,
    MalformedRedirect,
    OAuthError,
    RedirectMismatch,
    ResponseLocation,
    Strategy,
)
from anyoauth.sansio import MAX_URL_LENGTH
from support.internals import Endpoint, landing, parse_params, read_redirect, redirect_module

OK = "https://ok.example/auth_success"
SECRET_CODE = "SENTINEL-CODE-3c1d"
SECRET_TOKEN = "SENTINEL-TOKEN-b7e2"


# -- Endpoint -----------------------------------------------------------------------


def test_parse_reduces_a_url_to_scheme_host_port_path() -> None:
    endpoint = Endpoint.parse("HTTPS://OK.Example:8443/a/b?x=1#y")
    assert (endpoint.scheme, endpoint.host, endpoint.port, endpoint.path) == (
        "https",
        "ok.example",
        8443,
        "/a/b",
    )


@pytest.mark.parametrize(
    "url",
    [
        OK,
        OK + "?code=x&state=y",
        OK + "#access_token=x",
        "https://ok.example:443/auth_success",
        "HTTPS://OK.EXAMPLE/auth_success",
        "https://ok.example./auth_success",
    ],
)
def test_same_endpoint_matches(url: str) -> None:
    assert Endpoint.parse(OK).matches(url)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://h/", "https://h:443/"),
        ("https://h", "https://h/"),
        ("http://127.0.0.1/cb", "http://127.0.0.1:80/cb"),
    ],
)
def test_default_ports(a: str, b: str) -> None:
    assert Endpoint.parse(a) == Endpoint.parse(b)
    assert Endpoint.parse(a).matches(b)
    assert Endpoint.parse(b).matches(a)


LOOKALIKES = [
    "https://ok.example@evil.example/auth_success",
    "https://ok.example:443@evil.example/auth_success",
    "https://user:pass@ok.example/auth_success",
    "https://ok.example.evil.example/auth_success",
    "https://evil.example/auth_success",
    "https://evil.example/?x=https://ok.example/auth_success",
    "https://evil.example/https://ok.example/auth_success",
    "https://evil.example/auth_success#https://ok.example/auth_success",
    "https://ok.example/auth_success_x",
    "https://ok.example/auth_success/",
    "https://ok.example/auth_success/../x",
    "https://ok.example/x/../auth_success",
    "https://ok.example/Auth_Success",
    "https://ok.example/auth%5Fsuccess",
    "https://ok.example//auth_success",
    "https://ok.example/",
    "https://ok.example",
    "https://ok.example:8443/auth_success",
    "https://ok.example:444/auth_success",
    "http://ok.example/auth_success",
    "http://ok.example:443/auth_success",
    "ftp://ok.example/auth_success",
    "//ok.example/auth_success",
    "/auth_success",
    "ok.example/auth_success",
    "javascript://ok.example/auth_success",
    "https://ok.example/auth_success\x00",
    "https://ok.example/auth_\nsuccess",
    "https://ok.example\t/auth_success",
    "https://ok.example/auth_success\x7f",
    "https://ok.example:99999/auth_success",
    "https://ok.example:port/auth_success",
    "https://[ok.example/auth_success",
    OK + "?" + "a" * MAX_URL_LENGTH,
    "",
]


@pytest.mark.parametrize("url", LOOKALIKES, ids=lambda u: repr(u)[:60])
def test_lookalikes_never_match(url: str) -> None:
    assert Endpoint.parse(OK).matches(url) is False


@pytest.mark.parametrize("url", LOOKALIKES, ids=lambda u: repr(u)[:60])
def test_lookalikes_raise_only_anyoauth_errors(url: str) -> None:
    try:
        parsed = Endpoint.parse(url)
    except OAuthError:
        return
    assert parsed != Endpoint.parse(OK)


@pytest.mark.parametrize("url", ["https://ok@evil/", "https://u:p@ok/", "https://@ok/"], ids=repr)
def test_user_info_never_identifies_an_endpoint(url: str) -> None:
    with pytest.raises(RedirectMismatch):
        Endpoint.parse(url)


def test_oversized_url_is_malformed() -> None:
    with pytest.raises(MalformedRedirect):
        Endpoint.parse(OK + "?x=" + "a" * MAX_URL_LENGTH)
    with pytest.raises(MalformedRedirect):
        read_redirect(OK + "?x=" + "a" * MAX_URL_LENGTH, ResponseLocation.QUERY)


@pytest.mark.parametrize("char", ["\x00", "\r", "\n", "\t", "\x1b", "\x7f"], ids=repr)
def test_control_characters_are_malformed(char: str) -> None:
    with pytest.raises(MalformedRedirect):
        read_redirect(f"{OK}?code=a{char}b&state=s", ResponseLocation.QUERY)


def test_custom_scheme_endpoint() -> None:
    endpoint = Endpoint.parse("myapp://cb")
    assert endpoint.matches("myapp://cb?code=x&state=y")
    assert not endpoint.matches("otherapp://cb?code=x")
    assert not endpoint.matches("myapp://cb2?code=x")


@given(st.text(max_size=200))
def test_matches_is_total(url: str) -> None:
    assert isinstance(Endpoint.parse(OK).matches(url), bool)


@given(
    st.builds(
        lambda scheme, host, port, path, tail: f"{scheme}://{host}{port}{path}{tail}",
        st.sampled_from(["https", "http", "HTTPS", "myapp", ""]),
        st.sampled_from(["ok.example", "evil.example", "ok.example@evil", "[::1]", ""])
        | st.text(max_size=20),
        st.sampled_from(["", ":443", ":0", ":65536", ":-1", ":x"]),
        st.sampled_from(["/auth_success", "/", ""]) | st.text(max_size=20),
        st.text(max_size=40),
    )
)
def test_url_shaped_text_never_breaks_matching(url: str) -> None:
    result = Endpoint.parse(OK).matches(url)
    assert isinstance(result, bool)
    if result:
        parsed = Endpoint.parse(url)
        assert (parsed.scheme, parsed.host, parsed.port, parsed.path) == (
            "https",
            "ok.example",
            443,
            "/auth_success",
        )


# -- read_redirect ------------------------------------------------------------------


def test_query() -> None:
    redirect = read_redirect(f"{OK}?code=abc&state=xyz", ResponseLocation.QUERY)
    assert dict(redirect.params) == {"code": "abc", "state": "xyz"}
    assert redirect.state == "xyz"
    assert redirect.get("code") == "abc"
    assert redirect.get("nope") is None


def test_query_location_ignores_the_fragment() -> None:
    redirect = read_redirect(f"{OK}?code=abc#code=evil&x=1", ResponseLocation.QUERY)
    assert dict(redirect.params) == {"code": "abc"}


def test_fragment() -> None:
    redirect = read_redirect(
        f"{OK}#access_token=abc&expires_in=86400&state=s1", ResponseLocation.FRAGMENT
    )
    assert dict(redirect.params) == {"access_token": "abc", "expires_in": "86400", "state": "s1"}


def test_fragment_location_ignores_the_query() -> None:
    redirect = read_redirect(f"{OK}?access_token=evil#expires_in=1", ResponseLocation.FRAGMENT)
    assert dict(redirect.params) == {"expires_in": "1"}


def test_whole_fragment_percent_encoded() -> None:
    redirect = read_redirect(
        f"{OK}#access_token%3Dabc%26expires_in%3D86400", ResponseLocation.FRAGMENT
    )
    assert dict(redirect.params) == {"access_token": "abc", "expires_in": "86400"}


def test_values_are_percent_decoded() -> None:
    redirect = read_redirect(
        f"{OK}#status=unauthorized&message=user+canceled%21", ResponseLocation.FRAGMENT
    )
    assert redirect.get("message") == "user canceled!"


def test_empty_state_is_no_state() -> None:
    assert read_redirect(f"{OK}?code=a&state=", ResponseLocation.QUERY).state is None
    assert read_redirect(f"{OK}?code=a", ResponseLocation.QUERY).state is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"{OK}?access_token=abc&state=s", {"access_token": "abc", "state": "s"}),
        (f"{OK}#access_token=abc&state=s", {"access_token": "abc", "state": "s"}),
        (f"{OK}?state=s#access_token=abc", {"access_token": "abc", "state": "s"}),
        (f"{OK}?state=s#access_token=abc&state=s", {"access_token": "abc", "state": "s"}),
    ],
)
def test_either_merges_query_and_fragment(url: str, expected: dict[str, str]) -> None:
    assert dict(read_redirect(url, ResponseLocation.EITHER).params) == expected


def test_either_rejects_conflicting_values() -> None:
    with pytest.raises(MalformedRedirect):
        read_redirect(f"{OK}?access_token=abc#access_token=evil", ResponseLocation.EITHER)
    with pytest.raises(MalformedRedirect):
        read_redirect(f"{OK}?state=a#access_token=x&state=b", ResponseLocation.EITHER)


@pytest.mark.parametrize(
    ("url", "location"),
    [
        (f"{OK}?code=a&code=b&state=s", ResponseLocation.QUERY),
        (f"{OK}?code=a&state=s&state=s", ResponseLocation.QUERY),
        (f"{OK}#access_token=a&access_token=b", ResponseLocation.FRAGMENT),
        (f"{OK}#access_token%3Da%26access_token%3Db", ResponseLocation.FRAGMENT),
        (f"{OK}?state=s&state=t#access_token=x", ResponseLocation.EITHER),
        (f"{OK}?x=1#access_token=a&access_token=a", ResponseLocation.EITHER),
    ],
)
def test_duplicated_parameter_is_malformed(url: str, location: ResponseLocation) -> None:
    with pytest.raises(MalformedRedirect):
        read_redirect(url, location)


def test_duplicate_error_does_not_echo_values() -> None:
    with pytest.raises(MalformedRedirect) as info:
        read_redirect(f"{OK}?code={SECRET_CODE}&code={SECRET_CODE}", ResponseLocation.QUERY)
    assert SECRET_CODE not in str(info.value)


def test_parse_params_is_strict() -> None:
    assert parse_params("a=1&b=&c=3") == {"a": "1", "b": "", "c": "3"}
    with pytest.raises(MalformedRedirect):
        parse_params("a=1&a=1")


def test_redirect_params_are_read_only() -> None:
    redirect = read_redirect(f"{OK}?code=abc", ResponseLocation.QUERY)
    with pytest.raises(TypeError):
        redirect.params["code"] = "evil"  # type: ignore[index]


@pytest.mark.parametrize("render", [repr, str], ids=["repr", "str"])
def test_redirect_repr_shows_no_secrets(render: Callable[[object], str]) -> None:
    """A redirect carries a code or a token; printing it must not leak them
    (docs/security.md, rule 7)."""
    url = f"{OK}?code={SECRET_CODE}&state=s#access_token={SECRET_TOKEN}"
    text = render(read_redirect(url, ResponseLocation.EITHER))
    assert SECRET_CODE not in text
    assert SECRET_TOKEN not in text


@given(url=st.text(max_size=300), location=st.sampled_from(ResponseLocation))
def test_read_redirect_returns_or_raises_oauth_errors(url: str, location: ResponseLocation) -> None:
    try:
        redirect = read_redirect(url, location)
    except OAuthError:
        return
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in redirect.params.items())


@given(
    query=st.text(max_size=100),
    fragment=st.text(max_size=100),
    location=st.sampled_from(ResponseLocation),
)
def test_read_redirect_of_any_parameters(
    query: str, fragment: str, location: ResponseLocation
) -> None:
    with contextlib.suppress(MalformedRedirect):
        read_redirect(f"{OK}?{query}#{fragment}", location)


@given(
    params=st.dictionaries(
        st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=10),
        st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=10),
        max_size=5,
    ),
    location=st.sampled_from([ResponseLocation.QUERY, ResponseLocation.FRAGMENT]),
)
def test_encoded_parameters_round_trip(params: dict[str, str], location: ResponseLocation) -> None:
    encoded = urlencode(params)
    url = f"{OK}?{encoded}" if location is ResponseLocation.QUERY else f"{OK}#{encoded}"
    assert dict(read_redirect(url, location).params) == params


AUTHORIZE_URL = "https://idp.example/authorize"
TOKEN_URL = "https://idp.example/token"
REDIRECT_URI = "https://app.example/cb"
URL_TEXT = "abcAZ09-._~ :/?#[]@!$&'()*+,;=%é\u2603"


def reference_params(text: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        if key in params:
            raise MalformedRedirect(f"parameter {key!r} appears more than once")
        params[key] = value
    return params


ENDPOINTS = [REDIRECT_URI, "http://127.0.0.1:8765/callback", "https://idp.example/ok"]


def matches_an_endpoint(endpoints: list[str], url: str) -> bool:
    """Whether ``url`` matches one of ``endpoints``, each parsed by ``Endpoint.parse``."""
    return any(Endpoint.parse(e).matches(url) for e in endpoints)


received_urls = st.one_of(
    st.sampled_from(
        [
            REDIRECT_URI + "?code=x&state=y",
            "HTTPS://APP.EXAMPLE:443/cb#x",
            "https://app.example./cb",
            "https://app.example@evil.example/cb",
            "https://user:pw@app.example/cb",
            "https://app.example:99999/cb",
            "https://app.example:x/cb",
            "https://app.example/cb/",
            "//app.example/cb",
            "https://[::1/cb",
            "http://127.0.0.1:8765/callback?code=1",
            "http://127.0.0.1/callback",
            " https://app.example/cb\n",
            "https://app.example/c\x00b",
        ]
    ),
    st.builds(
        lambda scheme, host, port, path, rest: f"{scheme}://{host}{port}{path}{rest}",
        st.sampled_from(["https", "http", "HTTPS", ""]),
        st.sampled_from(["app.example", "APP.example", "127.0.0.1", "idp.example", "a@b", ""]),
        st.sampled_from(["", ":443", ":80", ":8765", ":0", ":65536", ":-1"]),
        st.sampled_from(["/cb", "/callback", "/ok", "", "/"]),
        st.text(alphabet="?#&=@:/ ab", max_size=8),
    ),
    st.text(alphabet=URL_TEXT + "\x00\x7f", max_size=40),
)


# -- reading redirects matches the standard library ------------------------------------


@settings(max_examples=1000)
@given(st.one_of(st.text(), st.text(alphabet="ab=&+%2C3D;éx0F", max_size=40)))
def test_parse_params_splits_as_parse_qsl(text: str) -> None:
    try:
        expected = reference_params(text)
    except MalformedRedirect:
        with pytest.raises(MalformedRedirect):
            parse_params(text)
    else:
        assert parse_params(text) == expected


@settings(max_examples=1000)
@given(url=received_urls, endpoints=st.lists(st.sampled_from(ENDPOINTS), min_size=1, max_size=3))
def test_landing_agrees_with_endpoint_matching(url: str, endpoints: list[str]) -> None:
    parts = landing(url, endpoints)
    assert (parts is not None) == matches_an_endpoint(endpoints, url)
    if parts is not None:
        assert parts == urlsplit(url.strip())


def test_read_redirect_locations_after_landing() -> None:
    for location, url, expected in [
        (ResponseLocation.QUERY, REDIRECT_URI + "?a=1#b=2", {"a": "1"}),
        (ResponseLocation.FRAGMENT, REDIRECT_URI + "?a=1#b=2", {"b": "2"}),
        (ResponseLocation.EITHER, REDIRECT_URI + "?a=1#b=2", {"a": "1", "b": "2"}),
    ]:
        parts = landing(url, [REDIRECT_URI])
        assert parts is not None
        assert dict(redirect_module.redirect_of(parts, location).params) == expected
        assert redirect_module.read_redirect(url, location) == redirect_module.redirect_of(
            parts, location
        )


def test_received_urls_stay_out_of_urllibs_parse_cache() -> None:
    cache_info = getattr(urlsplit, "cache_info", None)
    if cache_info is None:
        pytest.skip("this Python's urlsplit has no cache")
    strategy = ImplicitDesktop(
        client_id="cid",
        authorization_endpoint=AUTHORIZE_URL,
        redirect_uri=REDIRECT_URI,
        success_url="https://idp.example/ok",
        failure_url="https://idp.example/failed",
    )
    strategy.read_redirect("https://idp.example/ok#access_token=warm-up&state=s")
    before = cache_info()
    redirect = strategy.read_redirect("https://idp.example/ok#access_token=SENTINEL-AT&state=s")
    assert redirect.get("access_token") == "SENTINEL-AT"
    assert Endpoint.parse("https://idp.example/ok?code=SENTINEL-CODE").path == "/ok"
    after = cache_info()
    assert (after.hits, after.misses) == (before.hits, before.misses)


# -- a strategy's configured redirect endpoints ----------------------------------------


def test_configured_endpoints_are_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    strategy = Strategy(
        client_id="cid",
        authorization_endpoint=AUTHORIZE_URL,
        token_endpoint=TOKEN_URL,
        redirect_uri="https://app.example/parsed-once",
    )
    strategy.read_redirect("https://app.example/parsed-once?code=c&state=s")
    splits: list[str] = []
    split = redirect_module._split

    def counting(url: str, *, check_port: bool = True) -> object:
        splits.append(url)
        return split(url, check_port=check_port)

    monkeypatch.setattr(redirect_module, "_split", counting)
    for n in range(3):
        redirect = strategy.read_redirect(f"https://app.example/parsed-once?code=c&state={n}")
        assert redirect.state == str(n)
    # Only each received URL is split, once for both the endpoint check and the reading.
    assert splits == [f"https://app.example/parsed-once?code=c&state={n}" for n in range(3)]


def test_a_strategy_that_decides_its_own_redirects_is_asked() -> None:
    @attrs.frozen(kw_only=True)
    class AnyPath(Strategy):
        def is_redirect(self, url: str) -> bool:
            return urlsplit(url).hostname == "app.example"

    strategy = AnyPath(
        client_id="cid",
        authorization_endpoint=AUTHORIZE_URL,
        token_endpoint=TOKEN_URL,
        redirect_uri=REDIRECT_URI,
    )
    assert strategy.read_redirect("https://app.example/elsewhere?code=c&state=s").state == "s"
    with pytest.raises(RedirectMismatch):
        strategy.read_redirect("https://evil.example/cb?code=c&state=s")


def test_a_broken_configured_endpoint_still_raises() -> None:
    @attrs.frozen(kw_only=True)
    class BadPort(Strategy):
        def redirect_endpoints(self) -> tuple[str, ...]:
            return ("https://app.example:99999/cb",)

    strategy = BadPort(
        client_id="cid",
        authorization_endpoint=AUTHORIZE_URL,
        token_endpoint=TOKEN_URL,
        redirect_uri=REDIRECT_URI,
    )
    for url in ("https://app.example/cb", "not a url"):
        with pytest.raises(MalformedRedirect):
            strategy.is_redirect(url)
