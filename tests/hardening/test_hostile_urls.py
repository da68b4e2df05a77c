"""Hostile redirects and URLs (docs/security.md, rules 1 and 4), fuzzed with hypothesis.

The redirect reader (``Strategy.read_redirect``), the special-URL matcher
(``Strategy.is_redirect``, Geni's success and failure URLs), ``Flow.redirect_key`` and
``Flow.receive_redirect`` are fed arbitrary text and URLs built from hostile parts
(user info, look-alike hosts, path tricks, mixed query and fragment parameters,
duplicates, oversized URLs). Properties:

- the only exceptions are anyoauth's typed errors (``OAuthError`` subclasses);
- ``is_redirect`` never raises, and is true exactly when the parsed scheme, host, port
  and path equal the configured ones (an independent oracle decides);
- a token, or a token request, comes out only for the exact endpoint, the exact
  ``state``, parameters where the flow expects them and none of them duplicated.

``fuzz_redirects.py`` runs the same targets under atheris (coverage-guided) when it is
installed; ``test_atheris_finds_nothing`` runs it for a bounded number of inputs.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, urlencode

import attrs
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import anyoauth
from anyoauth.providers import BankOfGeorgia, Geni
from anyoauth.sansio import MAX_URL_LENGTH, Flow, pending_key

NOW = 1_700_000_000.0
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@attrs.frozen
class Target:
    """A strategy and the one endpoint its success redirect must land on."""

    name: str
    strategy: anyoauth.Strategy
    scheme: str
    host: str
    port: int | None
    path: str
    carries: str  # "code" or "access_token"
    location: str  # "query", "fragment" or "either"


CODE = Target(
    "code",
    anyoauth.AuthorizationCode(
        client_id="app",
        authorization_endpoint="https://as.example/authorize",
        token_endpoint="https://as.example/token",
        redirect_uri="https://app.example/callback",
    ),
    "https",
    "app.example",
    443,
    "/callback",
    "code",
    "query",
)
LOOPBACK = Target(
    "loopback",
    anyoauth.AuthorizationCode(
        client_id="cli",
        authorization_endpoint="https://as.example/authorize",
        token_endpoint="https://as.example/token",
        redirect_uri="http://127.0.0.1:8123/cb",
    ),
    "http",
    "127.0.0.1",
    8123,
    "/cb",
    "code",
    "query",
)
CUSTOM_SCHEME = Target(
    "custom-scheme",
    anyoauth.CodeJsonExchange(
        client_id="tw",
        client_secret="s",
        authorization_endpoint="https://www.teamwork.com/launchpad/login",
        token_endpoint="https://www.teamwork.com/launchpad/v1/token.json",
        redirect_uri="myapp://auth/done",
    ),
    "myapp",
    "auth",
    None,
    "/done",
    "code",
    "query",
)
GENI = Target(
    "geni",
    Geni("geni-app"),
    "https",
    "www.geni.com",
    443,
    "/platform/oauth/auth_success",
    "access_token",
    "fragment",
)
KEYCLOAK = Target(
    "keycloak",
    BankOfGeorgia("bog", "s", redirect_uri="https://app.example/bog"),
    "https",
    "app.example",
    443,
    "/bog",
    "access_token",
    "either",
)
TARGETS = [CODE, LOOPBACK, CUSTOM_SCHEME, GENI, KEYCLOAK]
GENI_FAILURE = "https://www.geni.com/platform/oauth/auth_failed"


# -- URLs from hostile parts ------------------------------------------------------------------


@attrs.frozen
class Parts:
    scheme: str
    userinfo: str | None
    host: str
    port: str | None
    path: str
    query: tuple[tuple[str, str], ...]
    fragment: tuple[tuple[str, str], ...]
    encode_fragment: bool = False

    def url(self) -> str:
        auth = f"{self.userinfo}@" if self.userinfo is not None else ""
        port = f":{self.port}" if self.port is not None else ""
        text = f"{self.scheme}://{auth}{self.host}{port}{self.path}"
        if self.query:
            text += "?" + urlencode(self.query)
        if self.fragment:
            fragment = urlencode(self.fragment)
            text += "#" + (quote(fragment, safe="") if self.encode_fragment else fragment)
        return text


def oracle(target: Target, parts: Parts) -> bool:
    """Whether ``parts`` name exactly the target's endpoint: written independently of
    anyoauth's matcher, from RFC 3986's rules (scheme and host case-insensitive, a
    default port equal to none, the path compared exactly)."""
    if parts.userinfo is not None:
        return False
    if parts.scheme.lower() != target.scheme:
        return False
    if parts.host.lower().rstrip(".") != target.host:
        return False
    default = {"http": 80, "https": 443}.get(target.scheme)
    if not parts.port:  # no port, or an empty one (RFC 3986 6.2.3: the default)
        port: int | None = default
    elif parts.port.isdigit() and int(parts.port) < 65536:
        port = int(parts.port)
    else:
        return False
    return port == target.port and parts.path == target.path


def lookalike_hosts(target: Target) -> st.SearchStrategy[str]:
    host = target.host
    return st.sampled_from(
        [
            host,
            host.upper(),
            host + ".",
            f"{host}.evil.example",
            f"evil.example.{host}" if not host[0].isdigit() else "127.0.0.2",
            f"evil{host}",
            "evil.example",
            f"{host}%2eevil.example",
            host.replace(".", "%2E"),
            f"{host}\\@evil.example",
            "[::1]",
            "localhost",
            "xn--pp-7ka.example",
        ]
    )


def tricky_paths(target: Target) -> st.SearchStrategy[str]:
    path = target.path
    return st.sampled_from(
        [
            path,
            path + "/",
            path.upper(),
            path + "/../x",
            path + "%2F..",
            "/x/.." + path,
            path + ";x",
            "/" + path,
            path + "/.",
            path.replace(path[1], "%" + format(ord(path[1]), "02X"), 1),
            path + "\\..",
            "",
            path + "@evil.example",
        ]
    )


@st.composite
def url_parts(draw: st.DrawFn, target: Target, state: str) -> Parts:
    """A redirect URL that is right but for a few hostile parts (none, sometimes)."""
    value = st.text(max_size=12)
    names = st.sampled_from(
        ["code", "access_token", "state", "error", "iss", "expires_in", "token_type", "x"]
    )
    junk = st.lists(st.tuples(names, value | st.just(state) | st.just("3600")), max_size=6)
    good = [(target.carries, "T0KEN-or-C0DE"), ("state", state)]
    if target.carries == "access_token":
        good.append(("expires_in", "3600"))
    params = st.one_of(
        st.just(tuple(good)),
        st.permutations(good).map(tuple),
        junk.map(tuple),
        st.tuples(junk, st.just(good), junk).map(lambda t: (*t[0], *t[1], *t[2])),
        st.just(()),
    )
    default_port = {"http": 80, "https": 443}.get(target.scheme)
    exact_port = None if target.port == default_port else str(target.port)
    hostile = {
        "scheme": st.sampled_from(
            [target.scheme.upper(), "https", "http", "javascript", "data", "file"]
        ),
        "userinfo": st.sampled_from(["ok", target.host, f"{target.host}:pw", ""]),
        "host": lookalike_hosts(target),
        "port": st.sampled_from(["443", "80", "8123", "8443", "0443", "99999", "x", ""]),
        "path": tricky_paths(target),
    }
    changed = draw(st.sets(st.sampled_from(sorted(hostile)), max_size=2))
    exact: dict[str, str | None] = {
        "scheme": target.scheme,
        "userinfo": None,
        "host": target.host,
        "port": exact_port,
        "path": target.path,
    }
    chosen = {name: draw(hostile[name]) if name in changed else exact[name] for name in exact}
    location = {
        "query": "query",
        "fragment": "fragment",
        "either": draw(st.sampled_from(["query", "fragment"])),
    }[target.location]
    right, other = draw(params), draw(params | st.just(()))
    query, fragment = (right, other) if location == "query" else (other, right)
    return Parts(
        scheme=str(chosen["scheme"]),
        userinfo=chosen["userinfo"],
        host=str(chosen["host"]),
        port=chosen["port"],
        path=str(chosen["path"]),
        query=query,
        fragment=fragment,
        encode_fragment=draw(st.booleans()),
    )


def pending_for(target: Target) -> anyoauth.PendingFlow:
    request = Flow(target.strategy).start(NOW)
    return request.pending


def attempt(target: Target, pending: anyoauth.PendingFlow, url: str) -> object:
    """What anyoauth makes of ``url`` for the flow that made ``pending``: a token, a
    token request, or the typed error. Any other exception fails the test."""
    try:
        redirect, key = Flow.redirect_key(target.strategy, url)
        if key != pending_key(pending.state):
            return anyoauth.StateMismatch("the client would find no pending flow")
        return Flow.resume(target.strategy, pending).receive_redirect(redirect, NOW + 1)
    except anyoauth.OAuthError as exc:
        return exc


def where(target: Target, parts: Parts) -> tuple[tuple[str, str], ...]:
    """The parameters the flow reads: from the query, the fragment or both."""
    if target.location == "query":
        return parts.query
    if target.location == "fragment":
        return parts.fragment
    return parts.query + parts.fragment


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
@FUZZ
@given(data=st.data())
def test_hostile_redirects_never_give_a_token(target: Target, data: st.DataObject) -> None:
    pending = pending_for(target)
    parts = data.draw(url_parts(target, pending.state))
    url = parts.url()
    matches = target.strategy.is_redirect(url)
    assert matches is oracle(target, parts), url
    result = attempt(target, pending, url)
    if isinstance(result, anyoauth.OAuthError):
        return
    # A token or a token request: only for exactly the right URL and parameters.
    assert isinstance(result, (anyoauth.Token, anyoauth.HttpRequest))
    assert matches, url
    params = where(target, parts)
    names = [name for name, _ in params]
    if target.location == "either":
        # The same value in the query and the fragment is one parameter.
        assert len(set(params)) == len(set(names)), url
    else:
        assert len(names) == len(set(names)), url
    assert dict(params).get("state") == pending.state, url
    assert dict(params).get(target.carries), url
    if target.carries == "code":
        assert isinstance(result, anyoauth.HttpRequest)
        assert result.url == target.strategy.token_endpoint
    else:
        assert isinstance(result, anyoauth.Token)
        assert result.access_token == dict(params)["access_token"]


URLISH = st.text(
    alphabet=st.sampled_from(
        list(":/?#[]@!$&'()*+,;=%.-_~ \\\t\n\x00\u00e9\u04300123456789abcdefhmpstwxAPEX")
    ),
    max_size=120,
)


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
@FUZZ
@given(text=st.text(max_size=200) | URLISH)
@example(text="https://app.example/callback?code=x&state=" + "s" * MAX_URL_LENGTH)
@example(text="https://app.example:99999/callback")
@example(text="https://[::1/callback")
@example(text="https://app.example/callback#access_token%3Dx%26state%3Dy%26state%3Dz")
def test_arbitrary_text_only_raises_typed_errors(target: Target, text: str) -> None:
    strategy = target.strategy
    assert strategy.is_redirect(text) in (True, False)
    with contextlib.suppress(anyoauth.OAuthError):
        strategy.read_redirect(text)
    pending = pending_for(target)
    result = attempt(target, pending, text)
    assert isinstance(result, anyoauth.OAuthError)  # no state of ours in random text


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("https://app.example@evil.example/callback?code=C&state={s}", anyoauth.RedirectMismatch),
        ("https://ok@app.example/callback?code=C&state={s}", anyoauth.RedirectMismatch),
        ("https://app.example.evil.example/callback?code=C&state={s}", anyoauth.RedirectMismatch),
        ("https://evil.example/app.example/callback?code=C&state={s}", anyoauth.RedirectMismatch),
        ("https://app.example/callback/../x?code=C&state={s}", anyoauth.RedirectMismatch),
        ("https://app.example/x/../callback?code=C&state={s}", anyoauth.RedirectMismatch),
        ("https://app.example/callback%2F..?code=C&state={s}", anyoauth.RedirectMismatch),
        ("https://app.example/callback/?code=C&state={s}", anyoauth.RedirectMismatch),
        ("https://app.example/Callback?code=C&state={s}", anyoauth.RedirectMismatch),
        ("http://app.example/callback?code=C&state={s}", anyoauth.RedirectMismatch),
        ("https://app.example:8443/callback?code=C&state={s}", anyoauth.RedirectMismatch),
        ("https://app.example\\@evil.example/callback?code=C&state={s}", anyoauth.RedirectMismatch),
        ("https://app.example/callback?code=C&code=D&state={s}", anyoauth.MalformedRedirect),
        ("https://app.example/callback?code=C&state={s}&state={s}", anyoauth.MalformedRedirect),
        ("https://app.example/callback#code=C&state={s}", anyoauth.StateMissing),
        ("https://app.example/callback?state={s}#code=C", anyoauth.MalformedRedirect),
        ("https://app.example/callback?code=C&state={s}\n", anyoauth.RedirectError),
        ("https://app.example/callback?code=C&x=" + "y" * MAX_URL_LENGTH, anyoauth.OAuthError),
    ],
)
def test_known_tricks_on_a_code_redirect(template: str, error: type[Exception]) -> None:
    pending = pending_for(CODE)
    result = attempt(CODE, pending, template.format(s=pending.state))
    assert isinstance(result, error), result


def test_case_of_the_host_does_not_matter_but_case_of_the_path_does() -> None:
    pending = pending_for(CODE)
    url = f"HTTPS://APP.EXAMPLE:443/callback?code=C&state={pending.state}"
    assert isinstance(attempt(CODE, pending, url), anyoauth.HttpRequest)
    pending = pending_for(CODE)
    url = f"https://app.example/CALLBACK?code=C&state={pending.state}"
    assert isinstance(attempt(CODE, pending, url), anyoauth.RedirectMismatch)


@pytest.mark.parametrize(
    "template",
    [
        "{base}/platform/oauth/auth_failed#access_token=T&expires_in=60&state={s}",
        "{base}/platform/oauth/auth_failed#status=ok&access_token=T&state={s}",
        "{base}/platform/oauth/auth_failed?access_token=T&state={s}",
        "{base}/platform/oauth/auth_success?access_token=T&expires_in=60&state={s}",
        "{base}/platform/oauth/auth_success#access_token=T&access_token=U&state={s}",
        "{base}/platform/oauth/auth_success#access_token=T%26state%3D{s}",
        "{base}/platform/oauth/auth_success/#access_token=T&state={s}",
        "{base}.evil.example/platform/oauth/auth_success#access_token=T&state={s}",
        "https://geni.com/platform/oauth/auth_success#access_token=T&state={s}",
    ],
)
def test_geni_special_urls_give_no_token_when_they_should_not(template: str) -> None:
    pending = pending_for(GENI)
    url = template.format(base="https://www.geni.com", s=pending.state)
    result = attempt(GENI, pending, url)
    assert isinstance(result, anyoauth.OAuthError), url
    if "auth_failed" in url and "evil" not in url:
        assert isinstance(result, anyoauth.AuthorizationDenied)


def test_geni_percent_encoded_fragment_is_decoded_once() -> None:
    pending = pending_for(GENI)
    fragment = quote(f"access_token=T&expires_in=60&state={pending.state}", safe="")
    token = attempt(GENI, pending, f"https://www.geni.com/platform/oauth/auth_success#{fragment}")
    assert isinstance(token, anyoauth.Token)
    assert token.access_token == "T"
    pending = pending_for(GENI)
    twice = quote(fragment, safe="")
    result = attempt(GENI, pending, f"https://www.geni.com/platform/oauth/auth_success#{twice}")
    assert isinstance(result, anyoauth.OAuthError)


def test_keycloak_query_and_fragment_disagreeing_is_refused() -> None:
    pending = pending_for(KEYCLOAK)
    url = f"https://app.example/bog?access_token=A&state={pending.state}#access_token=B"
    assert isinstance(attempt(KEYCLOAK, pending, url), anyoauth.MalformedRedirect)
    pending = pending_for(KEYCLOAK)
    url = f"https://app.example/bog?state={pending.state}#state=other&access_token=B"
    assert isinstance(attempt(KEYCLOAK, pending, url), anyoauth.MalformedRedirect)


# -- atheris --------------------------------------------------------------------------------


HARNESS = Path(__file__).with_name("fuzz_redirects.py")


def test_atheris_finds_nothing(tmp_path: Path) -> None:
    """Coverage-guided fuzzing of the same targets, from a seed corpus of good and bad
    redirects, for a bounded number of inputs."""
    pytest.importorskip("atheris")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    corpus = tmp_path / "corpus"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603
            [sys.executable, str(HARNESS), *args],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            check=False,
        )

    assert run(f"-write_seeds={corpus}").returncode == 0
    done = run("-runs=30000", f"-artifact_prefix={tmp_path}/", str(corpus))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Done 30000 runs" in done.stderr
