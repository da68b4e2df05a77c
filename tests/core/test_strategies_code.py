"""The authorization code strategies: code + PKCE (RFC 7636), the RFC 9207 ``iss``
check, and the JSON code exchange."""

from __future__ import annotations

import base64
import hashlib
import json
from urllib.parse import parse_qs

import pytest

from anyoauth import (
    AuthorizationDenied,
    CodeJsonExchange,
    ConfigurationError,
    IssuerMismatch,
    PendingFlow,
    Token,
)
from anyoauth.sansio import (
    Flow,
    State,
)
from support.oauth_server import (
    ISSUER,
    NOW,
    REDIRECT,
    code_strategy,
    redirect_of,
    started,
)

SECRET = "SENTINEL-SECRET-d00d"
TOKEN_URL = "https://idp.example/token"
REDIRECT_URI = "https://app.example/cb"


def pending(verifier: str | None = None) -> PendingFlow:
    return PendingFlow(
        state="s", binding="b", created_at=0.0, expires_at=600.0, code_verifier=verifier
    )


# -- authorization code + PKCE ---------------------------------------------------------


def test_code_flow_sends_a_fresh_s256_challenge_and_the_verifier() -> None:
    strategy = code_strategy()
    flow, params = started(strategy)
    assert params["response_type"] == "code"
    assert params["code_challenge_method"] == "S256"
    assert flow.pending is not None
    verifier = flow.pending.code_verifier
    assert verifier is not None
    digest = hashlib.sha256(verifier.encode()).digest()
    assert params["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert "nonce" not in params  # no openid scope
    request = flow.receive_redirect(
        flow.strategy.read_redirect(redirect_of(REDIRECT, code="c1", state=params["state"])), NOW
    )
    assert not isinstance(request, Token)
    form = parse_qs(request.content.decode())
    assert form["code_verifier"] == [verifier]
    assert form["grant_type"] == ["authorization_code"]
    assert form["redirect_uri"] == [REDIRECT]
    _, other = started(strategy)
    assert other["code_challenge"] != params["code_challenge"]


@pytest.mark.parametrize("missing", ["authorization_endpoint", "token_endpoint", "redirect_uri"])
def test_code_flow_needs_its_endpoints(missing: str) -> None:
    # The endpoints are needed to build the strategy; redirect_uri to begin a login
    # (Client.login with a loopback agent supplies one).
    with pytest.raises(ConfigurationError, match=missing):
        Flow(code_strategy(**{missing: None})).begin(NOW)


def test_code_flow_refuses_response_type_token() -> None:
    with pytest.raises(ConfigurationError):
        code_strategy(response_type="token")


# -- RFC 9207 iss ----------------------------------------------------------------------


def test_iss_must_match_the_configured_issuer() -> None:
    strategy = code_strategy(issuer=ISSUER)
    flow, params = started(strategy)
    url = redirect_of(REDIRECT, code="c", state=params["state"], iss=ISSUER)
    assert not isinstance(flow.receive_redirect(strategy.read_redirect(url), NOW), Token)
    for wrong in ("https://evil.example", "https://as.example/", "https://as.example.evil"):
        flow, params = started(strategy)
        url = redirect_of(REDIRECT, code="c", state=params["state"], iss=wrong)
        with pytest.raises(IssuerMismatch):
            flow.receive_redirect(strategy.read_redirect(url), NOW)
        assert flow.state is State.FAILED


def test_iss_is_required_when_the_server_says_it_sends_it() -> None:
    lax = code_strategy(issuer=ISSUER)
    flow, params = started(lax)
    url = redirect_of(REDIRECT, code="c", state=params["state"])
    assert not isinstance(flow.receive_redirect(lax.read_redirect(url), NOW), Token)
    strict = code_strategy(issuer=ISSUER, require_iss=True)
    flow, params = started(strict)
    url = redirect_of(REDIRECT, code="c", state=params["state"])
    with pytest.raises(IssuerMismatch, match="no iss"):
        flow.receive_redirect(strict.read_redirect(url), NOW)
    with pytest.raises(ConfigurationError):
        code_strategy(require_iss=True)


def test_an_error_redirect_without_iss_is_the_denial_it_is() -> None:
    strategy = code_strategy(issuer=ISSUER, require_iss=True)
    flow, params = started(strategy)
    url = redirect_of(REDIRECT, error="access_denied", state=params["state"])
    with pytest.raises(AuthorizationDenied):
        flow.receive_redirect(strategy.read_redirect(url), NOW)


def test_an_error_redirect_from_another_issuer_is_a_mix_up_not_a_denial() -> None:
    strategy = code_strategy(issuer=ISSUER)
    flow, params = started(strategy)
    url = redirect_of(REDIRECT, error="access_denied", state=params["state"], iss="https://evil")
    with pytest.raises(IssuerMismatch):
        flow.receive_redirect(strategy.read_redirect(url), NOW)


# -- the JSON code exchange ------------------------------------------------------------


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
