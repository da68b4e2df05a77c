"""The login's fast paths give exactly what the straightforward code gives.

Form encoding, query parsing, endpoint matching, Basic credentials and the PKCE
challenge are computed without the standard library's general-purpose layers (and
configured values are parsed or quoted once per strategy); each is checked here
against the plain standard-library computation it replaces.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anyoauth import (
    ImplicitDesktop,
    MalformedRedirect,
    PendingFlow,
    RedirectMismatch,
    ResponseLocation,
    Strategy,
)
from anyoauth.sansio import Flow, basic_credentials, form_encode, new_code_verifier, s256_challenge
from support.internals import Endpoint, landing, parse_params, redirect_module

AUTHORIZE_URL = "https://idp.example/authorize"
TOKEN_URL = "https://idp.example/token"
REDIRECT_URI = "https://app.example/cb"

URL_TEXT = "abcAZ09-._~ :/?#[]@!$&'()*+,;=%é\u2603"


# -- form encoding -----------------------------------------------------------------------


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


@settings(max_examples=500)
@given(
    st.lists(st.tuples(st.one_of(st.text(), st.text(alphabet=URL_TEXT)), values)),
    st.sampled_from(["", ",", ":/", "é"]),
)
def test_form_encode_is_urlencode(params: list[tuple[str, object]], safe: str) -> None:
    assert form_encode(params, safe=safe) == urlencode(params, safe=safe)


def old_add_query(url: str, params: list[tuple[str, str]]) -> str:
    parts = urlsplit(url)
    extra = urlencode(params, safe=",")
    query = f"{parts.query}&{extra}" if parts.query and extra else parts.query or extra
    return urlunsplit(parts._replace(query=query))


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
    assert strategy.authorization_url(state=state, code_challenge="ch") == old_add_query(
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
    assert strategy.authorization_url(state="s", code_challenge=None) == old_add_query(
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
def test_code_exchange_body_and_credentials_are_as_before(
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


# -- reading redirects -------------------------------------------------------------------


def reference_params(text: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        if key in params:
            raise MalformedRedirect(f"parameter {key!r} appears more than once")
        params[key] = value
    return params


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


ENDPOINTS = [REDIRECT_URI, "http://127.0.0.1:8765/callback", "https://idp.example/ok"]


def old_is_redirect(endpoints: list[str], url: str) -> bool:
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


@settings(max_examples=1000)
@given(url=received_urls, endpoints=st.lists(st.sampled_from(ENDPOINTS), min_size=1, max_size=3))
def test_landing_matches_as_endpoint_parse_did(url: str, endpoints: list[str]) -> None:
    parts = landing(url, endpoints)
    assert (parts is not None) == old_is_redirect(endpoints, url)
    if parts is not None:
        assert parts == urlsplit(url.strip())


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


# -- PKCE and pending flows ---------------------------------------------------------------


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
        redirect_uri=REDIRECT_URI,
        uses_pkce=True,
    )
    pending = Flow(strategy).start(1.0).pending
    assert pending.to_dict() == attrs.asdict(pending)
    assert PendingFlow.from_dict(pending.to_dict()) == pending


def test_the_core_imports_no_authlib() -> None:
    code = "import sys, anyoauth; print(any(m.split('.')[0] == 'authlib' for m in sys.modules))"
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed statement
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "False"


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
