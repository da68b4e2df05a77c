"""A standard authorization server on paper, for tests of the sans-IO core: its URLs,
signing keys and answers, strategies of it, and flows brought to a given step."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from anyoauth import AuthorizationCode, Strategy
from anyoauth.sansio import Flow, State

NOW = 1_700_000_000.0
ISSUER = "https://as.example"
AUTHORIZE = f"{ISSUER}/authorize"
TOKEN = f"{ISSUER}/token"
JWKS_URI = f"{ISSUER}/jwks"
DEVICE = f"{ISSUER}/device"
REDIRECT = "http://127.0.0.1:8765/callback"
JSON = "application/json"

RSA = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
"""The server's signing key."""
OTHER_RSA = RSAKey.generate_key(2048, parameters={"kid": "k2"}, private=True)
"""A key the server rotates to."""
JWKS = KeySet([RSA]).as_dict(private=False)
"""The server's key set (before any rotation)."""


def body(**payload: Any) -> bytes:
    """A JSON answer."""
    return json.dumps(payload).encode()


def code_strategy(**kwargs: Any) -> AuthorizationCode:
    """A public code + PKCE client ("app") of the server."""
    values: dict[str, Any] = {
        "client_id": "app",
        "authorization_endpoint": AUTHORIZE,
        "token_endpoint": TOKEN,
        "redirect_uri": REDIRECT,
    }
    values.update(kwargs)
    return AuthorizationCode(**values)


def oidc_strategy(**kwargs: Any) -> AuthorizationCode:
    """:func:`code_strategy` asking for an id_token."""
    return code_strategy(scope="openid profile", issuer=ISSUER, jwks_uri=JWKS_URI, **kwargs)


def redirect_of(url: str, **params: str) -> str:
    """The redirect to :data:`REDIRECT` carrying ``params`` in its query."""
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"{REDIRECT}?{query}"


def state_of(flow: Flow) -> State:
    """The flow's state, read afresh (a call in between may have changed it)."""
    return flow.state


def started(strategy: Strategy) -> tuple[Flow, dict[str, str]]:
    """A started flow of ``strategy`` and the query of its authorization URL."""
    flow = Flow(strategy)
    request = flow.start(NOW)
    return flow, dict(parse_qsl(urlsplit(request.url).query))


def exchanging(strategy: Strategy) -> tuple[Flow, str]:
    """A flow of ``strategy`` that has sent its code exchange, and the nonce it sent."""
    flow, params = started(strategy)
    assert flow.pending is not None
    url = redirect_of(REDIRECT, code="c", state=params["state"])
    flow.receive_redirect(strategy.read_redirect(url), NOW)
    assert flow.state is State.EXCHANGING
    return flow, params.get("nonce", "")


def id_token(key: RSAKey = RSA, **claims: Any) -> str:
    """An id_token for "app" about "alice", signed with ``key``; ``claims`` override."""
    values: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "alice",
        "aud": "app",
        "iat": int(NOW),
        "exp": int(NOW) + 300,
    }
    values.update(claims)
    return jwt.encode({"alg": "RS256", "kid": key.kid}, values, key)


def device_answer(**overrides: Any) -> bytes:
    """A device authorization answer (RFC 8628 3.2); a ``None`` override drops a field."""
    payload: dict[str, Any] = {
        "device_code": "dc-secret",
        "user_code": "WDJB-MJHT",
        "verification_uri": f"{ISSUER}/device/verify",
        "expires_in": 600,
        "interval": 5,
    }
    payload.update(overrides)
    return json.dumps({k: v for k, v in payload.items() if v is not None}).encode()
