"""The provider presets (Geni, Teamwork, Bank of Georgia, any Keycloak), checked against
each provider's flow as docs/flows.md describes it."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest

from anyoauth import (
    AuthorizationDenied,
    AuthorizationRequest,
    ConfigurationError,
    DPoPKey,
    HttpRequest,
    LoginRequired,
    MalformedRedirect,
    RedirectMismatch,
    StateMissing,
    Strategy,
    Token,
)
from anyoauth.providers import BankOfGeorgia, Geni, Keycloak, Teamwork
from anyoauth.sansio import Flow, PushNeeded, State, pending_key
from support.headers import decode_basic, header

NOW = 1_700_000_000.0
SECRET = "SENTINEL-SECRET-8e8e"

GENI_AUTHORIZE = "https://www.geni.com/platform/oauth/authorize"
GENI_SUCCESS = "https://www.geni.com/platform/oauth/auth_success"
GENI_FAILED = "https://www.geni.com/platform/oauth/auth_failed"
TEAMWORK_LOGIN = "https://www.teamwork.com/launchpad/login"
TEAMWORK_TOKEN = "https://www.teamwork.com/launchpad/v1/token.json"
BOG_AUTH = "https://account.bog.ge/auth/realms/bog/protocol/openid-connect/auth"
BOG_TOKEN = "https://account.bog.ge/auth/realms/bog/protocol/openid-connect/token"
APP_CB = "https://app.example/teamwork/callback"
BOG_CB = "https://app.example/bog/callback"


def base_url(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def query_pairs(url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


def start(strategy: Strategy) -> AuthorizationRequest:
    return Flow(strategy).start(NOW)


def complete(strategy: Strategy, begun: AuthorizationRequest, url: str) -> HttpRequest | Token:
    """What a client does with a redirect: find the flow by key, then validate it."""
    redirect, key = Flow.redirect_key(strategy, url)
    assert key == pending_key(begun.state)  # how a client finds the pending flow
    flow = Flow.resume(strategy, begun.pending)
    try:
        return flow.receive_redirect(redirect, NOW + 10)
    finally:
        assert flow.state in (State.EXCHANGING, State.HOLDING_TOKEN, State.FAILED)


# -- Geni --------------------------------------------------------------------------------


def test_geni_authorization_url() -> None:
    strategy = Geni("geni-app", scope=["basic", "email"])
    begun = start(strategy)
    assert base_url(begun.url) == GENI_AUTHORIZE
    params = dict(query_pairs(begun.url))
    assert params == {
        "client_id": "geni-app",
        "response_type": "token",
        "display": "desktop",
        "scope": "basic,email",
        "state": begun.state,
    }
    assert "redirect_uri" not in urlsplit(begun.url).query


@pytest.mark.parametrize("scope", ["basic,email", "basic email", ("basic", "email")])
def test_geni_scope_is_comma_joined(scope: str | tuple[str, ...]) -> None:
    params = dict(query_pairs(start(Geni("g", scope=scope)).url))
    assert params["scope"] == "basic,email"


def test_geni_without_scope_sends_none() -> None:
    assert "scope" not in dict(query_pairs(start(Geni("g")).url))


def test_geni_success() -> None:
    strategy = Geni("g")
    begun = start(strategy)
    url = f"{GENI_SUCCESS}#access_token=geni-tok&expires_in=86400&state={begun.state}"
    token = complete(strategy, begun, url)
    assert isinstance(token, Token)
    assert token.access_token == "geni-tok"
    assert token.token_type.lower() == "bearer"
    assert token.expires_at == NOW + 10 + 86400
    assert token.refresh_token is None


def test_geni_success_with_percent_encoded_fragment() -> None:
    strategy = Geni("g")
    begun = start(strategy)
    url = f"{GENI_SUCCESS}#access_token%3Dgeni-tok%26expires_in%3D86400%26state%3D{begun.state}"
    token = complete(strategy, begun, url)
    assert isinstance(token, Token)
    assert token.access_token == "geni-tok"
    assert token.expires_at == NOW + 10 + 86400


def test_geni_user_cancel() -> None:
    with pytest.raises(AuthorizationDenied) as info:
        Flow.redirect_key(Geni("g"), f"{GENI_FAILED}#status=unauthorized&message=user+canceled")
    assert info.value.error == "unauthorized"
    assert info.value.error_description == "user canceled"


def test_geni_authorize_error_on_the_failure_url() -> None:
    url = f"{GENI_FAILED}#error=invalid_scope&error_description=Unknown+scope+foo"
    with pytest.raises(AuthorizationDenied) as info:
        Flow.redirect_key(Geni("g"), url)
    assert info.value.error == "invalid_scope"
    assert info.value.error_description == "Unknown scope foo"


def test_geni_bare_failure_url_is_a_denial() -> None:
    with pytest.raises(AuthorizationDenied):
        Flow.redirect_key(Geni("g"), GENI_FAILED)


def test_geni_cancel_with_state_fails_the_flow() -> None:
    strategy = Geni("g")
    begun = start(strategy)
    with pytest.raises(AuthorizationDenied) as info:
        complete(strategy, begun, f"{GENI_FAILED}#status=unauthorized&state={begun.state}")
    assert info.value.error == "unauthorized"


@pytest.mark.parametrize(
    "url",
    [
        "https://www.geni.com.evil.example/platform/oauth/auth_success#access_token=x&state=s",
        "https://www.geni.com@evil.example/platform/oauth/auth_success#access_token=x&state=s",
        "https://evil.example/platform/oauth/auth_success#access_token=x&state=s",
        "https://evil.example/?u=https://www.geni.com/platform/oauth/auth_success#access_token=x",
        "http://www.geni.com/platform/oauth/auth_success#access_token=x&state=s",
        "https://www.geni.com:8443/platform/oauth/auth_success#access_token=x&state=s",
        "https://www.geni.com/platform/oauth/auth_success_x#access_token=x&state=s",
        "https://www.geni.com/platform/oauth/auth_success/../x#access_token=x&state=s",
        "https://www.geni.com/platform/oauth/Auth_Success#access_token=x&state=s",
        "https://geni.com/platform/oauth/auth_success#access_token=x&state=s",
        "https://www.geni.com/platform/oauth/authorize#access_token=x&state=s",
        "https://www.geni.com.evil.example/platform/oauth/auth_failed#status=unauthorized",
    ],
)
def test_geni_lookalikes_are_rejected(url: str) -> None:
    strategy = Geni("g")
    assert not strategy.is_redirect(url)
    with pytest.raises(RedirectMismatch):
        Flow.redirect_key(strategy, url)


def test_geni_success_without_access_token_is_malformed() -> None:
    strategy = Geni("g")
    begun = start(strategy)
    with pytest.raises(MalformedRedirect):
        complete(strategy, begun, f"{GENI_SUCCESS}#expires_in=86400&state={begun.state}")


def test_geni_success_without_state_is_refused() -> None:
    with pytest.raises(StateMissing):
        Flow.redirect_key(Geni("g"), f"{GENI_SUCCESS}#access_token=x&expires_in=1")


def test_geni_endpoint_overrides() -> None:
    emulator = "http://127.0.0.1:8123/platform/oauth"
    strategy = Geni(
        "g",
        authorize_url=f"{emulator}/authorize",
        success_url=f"{emulator}/auth_success",
        failure_url=f"{emulator}/auth_failed",
        token_url=f"{emulator}/request_token",
    )
    begun = start(strategy)
    assert base_url(begun.url) == f"{emulator}/authorize"
    assert strategy.is_redirect(f"{emulator}/auth_success#access_token=x")
    assert not strategy.is_redirect(f"{GENI_SUCCESS}#access_token=x")
    token = complete(strategy, begun, f"{emulator}/auth_success#access_token=t&state={begun.state}")
    assert isinstance(token, Token)


def test_geni_has_no_refresh() -> None:
    strategy = Geni("g")
    flow = Flow.holding(strategy, Token(access_token="t", issued_at=NOW, expires_at=NOW + 1))
    assert flow.check_expiry(NOW + 1) is State.EXPIRED
    with pytest.raises(LoginRequired):
        flow.refresh(NOW)
    assert flow.state is State.FAILED


# -- Teamwork ----------------------------------------------------------------------------


def teamwork(
    redirect_uri: str = APP_CB, *, origin: str | None = None, site: str | None = None
) -> Strategy:
    return Teamwork("tw-client", SECRET, redirect_uri, origin=origin, site=site)


def test_teamwork_login_url() -> None:
    begun = start(teamwork())
    assert base_url(begun.url) == TEAMWORK_LOGIN
    pairs = query_pairs(begun.url)
    assert sorted(pairs) == sorted(
        [("redirect_uri", APP_CB), ("client_id", "tw-client"), ("state", begun.state)]
    )
    assert SECRET not in begun.url


def test_teamwork_site_login_url() -> None:
    begun = start(teamwork(site="acme"))
    assert base_url(begun.url) == "https://acme.teamwork.com/launchpad/login"
    assert {k for k, _ in query_pairs(begun.url)} == {"redirect_uri", "client_id", "state"}


def test_teamwork_code_exchange() -> None:
    strategy = teamwork()
    begun = start(strategy)
    request = complete(strategy, begun, f"{APP_CB}?code=tw-code&state={begun.state}")
    assert isinstance(request, HttpRequest)
    assert request.method == "POST"
    assert request.url == TEAMWORK_TOKEN
    assert header(request, "Content-Type") == "application/json"
    names = {name.lower() for name, _ in request.headers}
    assert "origin" not in names
    assert "authorization" not in names
    assert json.loads(request.content) == {
        "code": "tw-code",
        "client_id": "tw-client",
        "client_secret": SECRET,
        "redirect_uri": APP_CB,
    }


def test_teamwork_origin_header() -> None:
    strategy = teamwork(origin="https://app.example")
    begun = start(strategy)
    request = complete(strategy, begun, f"{APP_CB}?code=c&state={begun.state}")
    assert isinstance(request, HttpRequest)
    assert header(request, "Origin") == "https://app.example"


def test_teamwork_redirect_without_code_is_malformed() -> None:
    strategy = teamwork()
    begun = start(strategy)
    with pytest.raises(MalformedRedirect):
        complete(strategy, begun, f"{APP_CB}?state={begun.state}")


@pytest.mark.parametrize(
    "url",
    [
        "https://app.example/other?code=c&state=s",
        "https://evil.example/teamwork/callback?code=c&state=s",
        "https://app.example.evil.example/teamwork/callback?code=c&state=s",
        "http://app.example/teamwork/callback?code=c&state=s",
    ],
)
def test_teamwork_redirect_elsewhere_is_a_mismatch(url: str) -> None:
    with pytest.raises(RedirectMismatch):
        Flow.redirect_key(teamwork(), url)


def test_teamwork_custom_scheme_redirect() -> None:
    strategy = teamwork(redirect_uri="myapp://cb")
    begun = start(strategy)
    assert dict(query_pairs(begun.url))["redirect_uri"] == "myapp://cb"
    request = complete(strategy, begun, f"myapp://cb?code=c&state={begun.state}")
    assert isinstance(request, HttpRequest)
    assert json.loads(request.content)["redirect_uri"] == "myapp://cb"
    with pytest.raises(RedirectMismatch):
        Flow.redirect_key(strategy, f"otherapp://cb?code=c&state={begun.state}")


def test_teamwork_token_response_keeps_installation() -> None:
    strategy = teamwork()
    body = {
        "access_token": "tkn.v1_abc",
        "installation": {"id": 1, "apiEndPoint": "https://acme.teamwork.com/"},
        "status": "ok",
        "user": {"id": 2},
    }
    token = strategy.parse_token_response(200, "application/json", json.dumps(body).encode(), NOW)
    assert token.extra["installation"]["apiEndPoint"] == "https://acme.teamwork.com/"
    assert token.expires_at is None
    assert token.refresh_token is None


def test_teamwork_rejects_http_redirect_uri() -> None:
    with pytest.raises(ConfigurationError):
        teamwork(redirect_uri="http://app.example/cb")
    assert teamwork(redirect_uri="http://127.0.0.1:8765/cb").redirect_uri


# -- Keycloak and Bank of Georgia ---------------------------------------------------------


def test_bog_endpoints() -> None:
    strategy = BankOfGeorgia("bog-client", SECRET)
    assert strategy.token_endpoint == BOG_TOKEN
    assert strategy.authorization_endpoint == BOG_AUTH
    assert urlsplit(strategy.token_endpoint).path == (
        "/auth/realms/bog/protocol/openid-connect/token"
    )


@pytest.mark.parametrize("secret", [SECRET, "s3:cr+t %x ü", "a:b:c", "100%+ :"])
def test_bog_client_credentials_request(secret: str) -> None:
    request = BankOfGeorgia("bog-client", secret).direct_token_request(now=NOW)
    assert request.method == "POST"
    assert request.url == BOG_TOKEN
    assert header(request, "Content-Type") == "application/x-www-form-urlencoded"
    assert decode_basic(header(request, "Authorization")) == ("bog-client", secret)
    body = parse_qs(request.content.decode(), keep_blank_values=True)
    assert body == {"grant_type": ["client_credentials"], "scope": ["corp"]}
    assert secret not in request.content.decode()


def test_bog_sends_redirect_uri_when_configured() -> None:
    request = BankOfGeorgia("bog-client", SECRET, redirect_uri=BOG_CB).direct_token_request(now=NOW)
    body = parse_qs(request.content.decode())
    assert body["redirect_uri"] == [BOG_CB]
    assert body["grant_type"] == ["client_credentials"]
    assert body["scope"] == ["corp"]


def test_bog_authorize_url() -> None:
    strategy = BankOfGeorgia("bog-client", SECRET, redirect_uri=BOG_CB, locale="ka")
    begun = start(strategy)
    assert base_url(begun.url) == BOG_AUTH
    params = dict(query_pairs(begun.url))
    assert params == {
        "client_id": "bog-client",
        "response_type": "token",
        "scope": "corp",
        "redirect_uri": BOG_CB,
        "state": begun.state,
        "kc_locale": "ka",
    }
    assert SECRET not in begun.url


def test_bog_without_locale_sends_no_kc_locale() -> None:
    begun = start(BankOfGeorgia("bog-client", SECRET, redirect_uri=BOG_CB))
    assert "kc_locale" not in dict(query_pairs(begun.url))


def test_bog_without_redirect_uri_has_no_login_step() -> None:
    flow = Flow(BankOfGeorgia("bog-client", SECRET))
    with pytest.raises(ConfigurationError):
        flow.start(NOW)
    assert flow.state is State.FAILED


@pytest.mark.parametrize("separator", ["?", "#"], ids=["query", "fragment"])
def test_bog_implicit_token_from_query_or_fragment(separator: str) -> None:
    strategy = BankOfGeorgia("bog-client", SECRET, redirect_uri=BOG_CB)
    begun = start(strategy)
    url = (
        f"{BOG_CB}{separator}access_token=bog-tok&token_type=bearer&expires_in=300"
        f"&state={begun.state}"
    )
    token = complete(strategy, begun, url)
    assert isinstance(token, Token)
    assert token.access_token == "bog-tok"
    assert token.expires_at == NOW + 10 + 300


def test_bog_token_response_keeps_keycloak_fields() -> None:
    body = {
        "access_token": "a",
        "token_type": "bearer",
        "expires_in": 300,
        "refresh_expires_in": 0,
        "not-before-policy": 0,
        "scope": "corp",
        "app_id": "app-1",
    }
    token = BankOfGeorgia("bog-client", SECRET).parse_token_response(
        200, "application/json", json.dumps(body).encode(), NOW
    )
    assert token.authorization_header == "Bearer a"
    assert dict(token.extra) == {"refresh_expires_in": 0, "not-before-policy": 0, "app_id": "app-1"}


def test_bog_full_client_credentials_flow() -> None:
    flow = Flow(BankOfGeorgia("bog-client", SECRET))
    flow.request_token(NOW)
    after_request = flow.state
    token = flow.receive_token_response(
        200, "application/json", b'{"access_token":"a","expires_in":300}', NOW
    )
    assert isinstance(token, Token)
    assert token.expires_at == NOW + 300
    assert (after_request, flow.state) == (State.EXCHANGING, State.HOLDING_TOKEN)


def test_generic_keycloak() -> None:
    strategy = Keycloak("https://kc.example/auth/", "acme", "kc-client", SECRET)
    base = "https://kc.example/auth/realms/acme/protocol/openid-connect"
    assert strategy.token_endpoint == f"{base}/token"
    assert strategy.authorization_endpoint == f"{base}/auth"
    request = strategy.direct_token_request(now=NOW)
    assert parse_qs(request.content.decode()) == {"grant_type": ["client_credentials"]}
    assert decode_basic(header(request, "Authorization")) == ("kc-client", SECRET)


def test_keycloak_endpoint_overrides() -> None:
    strategy = Keycloak(
        "https://kc.example",
        "acme",
        "c",
        SECRET,
        token_url="http://127.0.0.1:9999/token",
        authorize_url="http://127.0.0.1:9999/auth",
    )
    assert strategy.token_endpoint == "http://127.0.0.1:9999/token"
    assert strategy.authorization_endpoint == "http://127.0.0.1:9999/auth"


# -- Keycloak and Bank of Georgia: DPoP and pushed authorization requests -------------------

BOG_PAR = "https://account.bog.ge/auth/realms/bog/protocol/openid-connect/ext/par/request"


def proof_claims(request: HttpRequest) -> dict[str, object]:
    """The claims of the DPoP proof ``request`` carries (its signature is the core
    tests' business)."""
    proof = header(request, "DPoP")
    assert proof is not None
    segment = proof.split(".")[1]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(segment + "=="))
    return decoded


def test_keycloak_presets_without_dpop_or_par_are_unchanged() -> None:
    for strategy in (
        Keycloak("https://kc.example", "acme", "c", SECRET, redirect_uri=BOG_CB),
        BankOfGeorgia("c", SECRET, redirect_uri=BOG_CB),
    ):
        assert strategy.dpop_key is None
        assert strategy.push_authorization_request is False
        assert strategy.pushed_authorization_request_endpoint is None
        request = strategy.direct_token_request(now=NOW)
        assert request is not None
        assert header(request, "DPoP") is None
        assert isinstance(start(strategy), AuthorizationRequest)


@pytest.mark.parametrize(
    "build",
    [
        lambda key: Keycloak("https://kc.example", "acme", "c", SECRET, dpop_key=key),
        lambda key: BankOfGeorgia("c", SECRET, dpop_key=key),
    ],
    ids=["keycloak", "bog"],
)
def test_keycloak_dpop_key_signs_the_client_credentials_request(
    build: Callable[[DPoPKey], Strategy],
) -> None:
    key = DPoPKey.generate()
    strategy = build(key)
    assert strategy.dpop_key is key
    request = strategy.direct_token_request(now=NOW)
    assert request is not None
    claims = proof_claims(request)
    assert (claims["htm"], claims["htu"], claims["iat"]) == ("POST", request.url, int(NOW))
    assert decode_basic(header(request, "Authorization"))[1] == SECRET
    assert "dpop" in {kind.lower() for kind in strategy.usable_token_types}


def test_keycloak_par_endpoint_comes_from_server_url_and_realm() -> None:
    strategy = Keycloak(
        "https://kc.example/auth/",
        "acme",
        "c",
        SECRET,
        redirect_uri=BOG_CB,
        push_authorization_request=True,
    )
    assert strategy.push_authorization_request is True
    assert strategy.pushed_authorization_request_endpoint == (
        "https://kc.example/auth/realms/acme/protocol/openid-connect/ext/par/request"
    )
    bog = BankOfGeorgia("c", SECRET, redirect_uri=BOG_CB, push_authorization_request=True)
    assert bog.pushed_authorization_request_endpoint == BOG_PAR
    moved = BankOfGeorgia(
        "c",
        SECRET,
        redirect_uri=BOG_CB,
        push_authorization_request=True,
        par_url="https://127.0.0.1:9999/par",
    )
    assert moved.pushed_authorization_request_endpoint == "https://127.0.0.1:9999/par"


def test_bog_pushes_the_authorize_step_with_basic_auth_and_a_proof() -> None:
    key = DPoPKey.generate()
    strategy = BankOfGeorgia(
        "bog-client",
        SECRET,
        redirect_uri=BOG_CB,
        locale="ka",
        dpop_key=key,
        push_authorization_request=True,
    )
    flow = Flow(strategy)
    push = flow.begin(NOW)
    assert isinstance(push, PushNeeded)
    request = push.request
    assert request.url == BOG_PAR
    assert decode_basic(header(request, "Authorization")) == ("bog-client", SECRET)
    params = dict(parse_qsl(request.content.decode()))
    assert params == {
        "client_id": "bog-client",
        "response_type": "token",
        "redirect_uri": BOG_CB,
        "scope": "corp",
        "state": params["state"],
        "kc_locale": "ka",
    }
    assert proof_claims(request)["htu"] == BOG_PAR
    answer = json.dumps({"request_uri": "urn:ietf:params:oauth:request_uri:r1", "expires_in": 60})
    begun = flow.receive_push_response(201, "application/json", answer.encode(), NOW)
    assert base_url(begun.url) == BOG_AUTH
    assert query_pairs(begun.url) == [
        ("client_id", "bog-client"),
        ("request_uri", "urn:ietf:params:oauth:request_uri:r1"),
    ]
    assert begun.url_expires_at == NOW + 60


def test_keycloak_push_without_a_redirect_uri_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="redirect_uri"):
        BankOfGeorgia("c", SECRET, push_authorization_request=True)
    with pytest.raises(ConfigurationError, match="redirect_uri"):
        Keycloak("https://kc.example", "acme", "c", SECRET, push_authorization_request=True)


def test_keycloak_presets_never_show_the_dpop_private_key() -> None:
    key = DPoPKey.generate()
    private = str(key.private_jwk()["d"])
    for strategy in (
        BankOfGeorgia("c", SECRET, redirect_uri=BOG_CB, dpop_key=key),
        Keycloak("https://kc.example", "acme", "c", SECRET, dpop_key=key),
    ):
        request = strategy.direct_token_request(now=NOW)
        assert request is not None
        for text in (repr(strategy), str(strategy), repr(request)):
            assert private not in text
            assert SECRET not in text


def test_keycloak_dpop_key_must_be_a_dpop_key() -> None:
    with pytest.raises(ConfigurationError, match="DPoPKey"):
        BankOfGeorgia("c", SECRET, dpop_key="not a key")  # type: ignore[arg-type]


# -- validation and redaction across presets -----------------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        lambda: Geni(""),
        lambda: Teamwork("", SECRET, APP_CB),
        lambda: Keycloak("https://kc.example", "r", "", SECRET),
        lambda: BankOfGeorgia("", SECRET),
        lambda: BankOfGeorgia("c", SECRET, token_url="http://bog.example/token"),
        lambda: BankOfGeorgia("c", SECRET, redirect_uri="http://app.example/cb"),
        lambda: Geni("g", authorize_url="http://www.geni.com/platform/oauth/authorize"),
        lambda: Teamwork("c", SECRET, APP_CB, token_url="http://www.teamwork.com/x"),
        lambda: Keycloak("http://kc.example", "r", "c", SECRET),
    ],
    ids=[
        "geni-empty-id",
        "teamwork-empty-id",
        "keycloak-empty-id",
        "bog-empty-id",
        "bog-http-token",
        "bog-http-redirect",
        "geni-http-authorize",
        "teamwork-http-token",
        "keycloak-http-server",
    ],
)
def test_preset_configuration_errors(build: Callable[[], Strategy]) -> None:
    with pytest.raises(ConfigurationError):
        build()


@pytest.mark.parametrize(
    "strategy",
    [
        Geni("g"),
        Teamwork("c", SECRET, APP_CB, origin="https://app.example"),
        Keycloak("https://kc.example", "r", "c", SECRET),
        BankOfGeorgia("c", SECRET, redirect_uri=BOG_CB),
    ],
    ids=["geni", "teamwork", "keycloak", "bog"],
)
def test_preset_repr_hides_the_secret(strategy: Strategy) -> None:
    assert SECRET not in repr(strategy)
    assert SECRET not in str(strategy)


def test_token_requests_repr_hides_secrets() -> None:
    tw = teamwork()
    begun = start(tw)
    exchange = complete(tw, begun, f"{APP_CB}?code=SENTINEL-CODE&state={begun.state}")
    bog = BankOfGeorgia("c", SECRET).direct_token_request(now=NOW)
    for request in (exchange, bog):
        assert isinstance(request, HttpRequest)
        text = repr(request)
        assert SECRET not in text
        assert "SENTINEL-CODE" not in text
        authorization = header(request, "Authorization")
        if authorization is not None:
            assert authorization not in text
