"""The implicit strategy: the token read from the redirect's fragment."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from anyoauth import (
    Implicit,
    StateMissing,
    Strategy,
    Token,
)
from anyoauth.sansio import (
    Flow,
    State,
)

NOW = 1_700_000_000.0
ISSUER = "https://as.example"
AUTHORIZE = f"{ISSUER}/authorize"
REDIRECT = "http://127.0.0.1:8765/callback"


def started(strategy: Strategy) -> tuple[Flow, dict[str, str]]:
    flow = Flow(strategy)
    request = flow.start(NOW)
    return flow, dict(parse_qsl(urlsplit(request.url).query))


def test_implicit_flow_reads_the_token_from_the_fragment() -> None:
    strategy = Implicit(client_id="app", authorization_endpoint=AUTHORIZE, redirect_uri=REDIRECT)
    flow, params = started(strategy)
    assert params["response_type"] == "token"
    assert "code_challenge" not in params
    url = f"{REDIRECT}#access_token=at&token_type=bearer&expires_in=60&state={params['state']}"
    token = flow.receive_redirect(strategy.read_redirect(url), NOW)
    assert isinstance(token, Token)
    assert token.access_token == "at"
    assert token.expires_at == NOW + 60
    assert flow.state is State.HOLDING_TOKEN
    # A token in the query string is not this flow's answer.
    flow, params = started(strategy)
    with pytest.raises(StateMissing):
        flow.receive_redirect(
            strategy.read_redirect(f"{REDIRECT}?access_token=at&state={params['state']}"), NOW
        )
