"""The implicit strategy: the token read from the redirect's fragment."""

from __future__ import annotations

import pytest

from anyoauth import (
    Implicit,
    StateMissing,
    Token,
)
from anyoauth.sansio import (
    State,
)
from support.oauth_server import AUTHORIZE, NOW, REDIRECT, started


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
