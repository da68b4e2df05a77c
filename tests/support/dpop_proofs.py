"""DPoP proofs made by hand (RFC 9449), and an emulator driven request by request, for
the tests of the emulator's DPoP checks and of the attacks on them.

:class:`Prover` holds a key and signs proofs with any claim or header changed, removed or
added; :func:`unsigned` and :func:`hmac_signed` make the proofs no honest client sends.
:class:`Server` wraps a :class:`~anyoauth.testing.ProviderEmulator` with the generic
server's clients these tests use, and sends it requests through ``handle()`` (no IO).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import warnings
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import ECKey, OKPKey, RSAKey

from anyoauth.testing import (
    OAUTH_API_PATH,
    OAUTH_AUTHORIZE_PATH,
    OAUTH_DECISION_PATH,
    OAUTH_DEVICE_AUTHORIZATION_PATH,
    OAUTH_INTROSPECTION_PATH,
    OAUTH_REVOCATION_PATH,
    OAUTH_TOKEN_PATH,
    OAUTH_USERINFO_PATH,
    EmulatorResponse,
    ManualClock,
    ProviderEmulator,
)

BASE = "https://emulator.test"
TOKEN_URL = BASE + OAUTH_TOKEN_PATH
API_URL = BASE + OAUTH_API_PATH
USERINFO_URL = BASE + OAUTH_USERINFO_PATH
REVOKE_URL = BASE + OAUTH_REVOCATION_PATH
INTROSPECT_URL = BASE + OAUTH_INTROSPECTION_PATH
DEVICE_URL = BASE + OAUTH_DEVICE_AUTHORIZATION_PATH
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SVC, SVC_SECRET = "svc", "svc-SECRET-sentinel"
WEB, WEB_SECRET, WEB_REDIRECT = "web", "web-SECRET-sentinel", "https://app.example/cb"
CLI, CLI_REDIRECT = "cli", "http://127.0.0.1/callback"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
_TICKET = re.compile(r'name="ticket" value="([^"]+)"')


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token_hash(token: str) -> str:
    return b64url(hashlib.sha256(token.encode()).digest())


def _new_key(alg: str) -> Any:
    if alg.startswith("ES"):
        return ECKey.generate_key({"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}[alg])
    if alg in ("EdDSA", "Ed25519"):
        return OKPKey.generate_key("Ed25519")
    return RSAKey.generate_key(2048)


class Prover:
    """A DPoP key pair that signs proofs, honest by default and changed on request."""

    def __init__(self, alg: str = "ES256", key: Any = None) -> None:
        self.alg = alg
        self.key = key if key is not None else _new_key(alg)

    @property
    def jwk(self) -> dict[str, Any]:
        return dict(self.key.as_dict(private=False))

    @property
    def jkt(self) -> str:
        thumbprint: str = self.key.thumbprint()
        return thumbprint

    def proof(
        self,
        method: str,
        url: str,
        *,
        now: float,
        nonce: str | None = None,
        token: str | None = None,
        header: Mapping[str, Any] | None = None,
        claims: Mapping[str, Any] | None = None,
    ) -> str:
        """A proof of ``method url`` at ``now``; ``header`` and ``claims`` override
        (a ``None`` value removes the member)."""
        values: dict[str, Any] = {
            "jti": secrets.token_urlsafe(16),
            "htm": method,
            "htu": url,
            "iat": int(now),
        }
        if nonce is not None:
            values["nonce"] = nonce
        if token is not None:
            values["ath"] = token_hash(token)
        values.update(claims or {})
        head: dict[str, Any] = {"typ": "dpop+jwt", "alg": self.alg, "jwk": self.jwk}
        head.update(header or {})
        with warnings.catch_warnings():
            # joserfc flags "EdDSA" as superseded by "Ed25519" (RFC 9864).
            warnings.simplefilter("ignore")
            return jwt.encode(
                {k: v for k, v in head.items() if v is not None},
                {k: v for k, v in values.items() if v is not None},
                self.key,
                algorithms=[self.alg],
            )


def _segments(header: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
    return ".".join(b64url(json.dumps(part).encode()) for part in (header, claims))


def unsigned(header: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
    """An ``alg: none`` JWT (empty signature)."""
    return _segments(header, claims) + "."


def hmac_signed(header: Mapping[str, Any], claims: Mapping[str, Any], secret: bytes) -> str:
    """A JWT signed with HMAC-SHA256 under ``secret``."""
    signing_input = _segments(header, claims)
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def honest_claims(method: str, url: str, now: float, **more: Any) -> dict[str, Any]:
    return {"jti": secrets.token_urlsafe(16), "htm": method, "htu": url, "iat": int(now), **more}


class Server:
    """The emulator's generic server with a confidential client-credentials client
    (``svc``), a confidential code client (``web``) and a public code, refresh and
    device client (``cli``), driven through ``handle()``."""

    def __init__(self, clock: ManualClock | None = None, **options: Any) -> None:
        self.clock = clock or ManualClock()
        self.emulator = ProviderEmulator(clock=self.clock, oauth_device_interval=0, **options)
        self.emulator.add_oauth_client(
            SVC,
            client_secret=SVC_SECRET,
            grant_types=["client_credentials"],
            auth_method="client_secret_post",
        )
        self.emulator.add_oauth_client(
            WEB,
            client_secret=WEB_SECRET,
            redirect_uris=[WEB_REDIRECT],
            auth_method="client_secret_post",
        )
        self.emulator.add_oauth_client(
            CLI,
            redirect_uris=[CLI_REDIRECT],
            grant_types=["authorization_code", "refresh_token", DEVICE_GRANT],
            auth_method="none",
        )

    @property
    def now(self) -> float:
        return self.clock.now

    def post(
        self, url: str, form: Mapping[str, str], proof: str | list[str] | None = None
    ) -> EmulatorResponse:
        headers = list(FORM.items())
        for value in [proof] if isinstance(proof, str) else proof or []:
            headers.append(("DPoP", value))
        return self.emulator.handle("POST", url, headers, urlencode(dict(form)).encode())

    def get(
        self, url: str, authorization: str | None = None, proof: str | list[str] | None = None
    ) -> EmulatorResponse:
        headers = [] if authorization is None else [("Authorization", authorization)]
        for value in [proof] if isinstance(proof, str) else proof or []:
            headers.append(("DPoP", value))
        return self.emulator.handle("GET", url, headers)

    def client_credentials(self, proof: str | list[str] | None = None) -> EmulatorResponse:
        form = {"grant_type": "client_credentials", "client_id": SVC, "client_secret": SVC_SECRET}
        return self.post(TOKEN_URL, form, proof)

    def bound_token(self, prover: Prover, nonce: str | None = None) -> str:
        """A client credentials access token bound to ``prover``'s key."""
        answer = self.client_credentials(prover.proof("POST", TOKEN_URL, now=self.now, nonce=nonce))
        assert answer.status == 200, answer.text
        token: str = answer.json()["access_token"]
        return token

    def code(self, client_id: str = CLI, **params: str) -> tuple[str, str]:
        """A code for ``client_id`` (its user allowed), and its PKCE verifier."""
        redirect_uri = CLI_REDIRECT if client_id == CLI else WEB_REDIRECT
        verifier = secrets.token_urlsafe(48)
        challenge = b64url(hashlib.sha256(verifier.encode()).digest())
        query = urlencode(
            {
                "client_id": client_id,
                "response_type": "code",
                "redirect_uri": redirect_uri,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                **params,
            }
        )
        page = self.emulator.handle("GET", f"{BASE}{OAUTH_AUTHORIZE_PATH}?{query}")
        match = _TICKET.search(page.text)
        assert match is not None, page.text
        form = {"ticket": match.group(1), "decision": "allow"}
        answer = self.post(BASE + OAUTH_DECISION_PATH, form)
        location = answer.header("Location") or ""
        params_back = dict(parse_qsl(urlsplit(location).query))
        assert "code" in params_back, location
        return params_back["code"], verifier

    def exchange(
        self, code: str, verifier: str, proof: str | None = None, client_id: str = CLI
    ) -> EmulatorResponse:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "client_id": client_id,
            "redirect_uri": CLI_REDIRECT if client_id == CLI else WEB_REDIRECT,
        }
        if client_id == WEB:
            form["client_secret"] = WEB_SECRET
        return self.post(TOKEN_URL, form, proof)

    def refresh(
        self, refresh_token: str, proof: str | None = None, client_id: str = CLI
    ) -> EmulatorResponse:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client_id,
        }
        if client_id == WEB:
            form["client_secret"] = WEB_SECRET
        return self.post(TOKEN_URL, form, proof)

    def api(
        self, token: str, prover: Prover | None, *, scheme: str = "DPoP", **kw: Any
    ) -> EmulatorResponse:
        """``GET /api/me`` with ``token`` under ``scheme`` and a proof by ``prover``."""
        proof = None
        if prover is not None:
            proof = prover.proof("GET", API_URL, now=self.now, token=token, **kw)
        return self.get(API_URL, f"{scheme} {token}", proof)


def challenge_of(answer: EmulatorResponse) -> str:
    """The ``WWW-Authenticate`` DPoP challenge of an answer."""
    return next(
        (v for k, v in answer.headers if k.lower() == "www-authenticate" and v.startswith("DPoP")),
        "",
    )


def refused(answer: Any, error: str = "invalid_dpop_proof", status: int = 400) -> str:
    """Assert ``answer`` is the OAuth error ``error`` with ``status``; its description."""
    assert answer.status == status, answer.text
    assert answer.json()["error"] == error
    description: str = answer.json()["error_description"]
    return description
