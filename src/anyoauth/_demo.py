"""The demo: every flow end to end against the emulator on a loopback port.

The three provider flows (Geni, Teamwork, Bank of Georgia), then the standard ones against
the emulator's generic OpenID Connect server, configured by discovery: authorization
code + PKCE with an id_token, refresh with rotation, revocation, the device grant,
client credentials with ``private_key_jwt``, a pushed request with ``private_key_jwt``
and a DPoP-bound token, and the implicit grant.

The browser step is done by an HTTP user agent that reads the consent page and
clicks Allow (or Don't Allow). Each outcome is printed with secrets redacted;
the exit status is 0 only if every outcome is the expected one.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

import httpx

from . import (
    AuthorizationCode,
    Client,
    ClientCredentials,
    DeviceAuthorization,
    DeviceCode,
    DPoPKey,
    Implicit,
    OAuthError,
    Token,
    discover,
)
from ._core.text import printable
from .providers import BankOfGeorgia, Geni, Teamwork
from .testing import ProviderEmulator, browse

__all__ = ["run_demo"]

TEAMWORK_REDIRECT = "anyoauth-demo://callback"
BOG_REDIRECT = "https://app.example/bog/callback"
APP_REDIRECT = "http://127.0.0.1:8765/callback"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def _say(out: TextIO, line: str) -> None:
    """Write ``line`` with any character a terminal acts on escaped (emulator and
    provider text included)."""
    out.write(printable(line) + "\n")


def _describe(outcome: Token | OAuthError) -> str:
    if isinstance(outcome, Token):
        expiry = (
            "no expiry"
            if outcome.expires_at is None
            else (f"expires in {outcome.expires_at - outcome.issued_at:.0f} s")
        )
        extra = f", extra fields {sorted(outcome.extra)}" if outcome.extra else ""
        if outcome.id_token_claims is not None:
            extra += ", id_token validated"
        return (
            f"token ({outcome.token_type}, {len(outcome.access_token)} chars, redacted), "
            f"{expiry}{extra}"
        )
    return f"{type(outcome).__name__}: {outcome}"


class _Report:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.failures = 0
        self.total = 0
        self.notes: list[str] = []
        """Lines an action wants shown under its outcome (the device grant's code)."""

    async def check(
        self,
        title: str,
        expected: type[Token] | type[OAuthError],
        action: Callable[[], Awaitable[Token]],
        after: Callable[[Token], Awaitable[str]] | None = None,
    ) -> None:
        outcome: Token | OAuthError
        try:
            outcome = await action()
        except OAuthError as exc:
            outcome = exc
        ok = isinstance(outcome, expected)
        note = ""
        if ok and after is not None and isinstance(outcome, Token):
            note = await after(outcome)
            ok = not note.startswith("FAILED")
        self.failures += not ok
        self.total += 1
        mark = "ok  " if ok else "FAIL"
        _say(self.out, f"[{mark}] {title}\n       -> {_describe(outcome)}{note}")
        for line in self.notes:
            _say(self.out, f"       {line}")
        self.notes.clear()


def _bank_key() -> Any:
    from joserfc.jwk import ECKey

    return ECKey.generate_key("P-256", parameters={"kid": "demo-bank"}, private=True)


def _service_key() -> Any:
    from joserfc.jwk import RSAKey

    return RSAKey.generate_key(2048, parameters={"kid": "demo-service"}, private=True)


async def run_demo(out: TextIO = sys.stdout) -> int:
    """Run the demo and return the process exit status."""
    geni_id = "demo-geni-app"
    tw_id, tw_secret = "demo-teamwork-app", secrets.token_hex(20)
    bog_id, bog_secret = "demo-bog-client", secrets.token_urlsafe(24)
    app_secret = secrets.token_urlsafe(32)
    emulator = ProviderEmulator(oauth_device_interval=0)
    emulator.add_oauth_client(
        "demo-web-app", client_secret=app_secret, redirect_uris=[APP_REDIRECT]
    )
    emulator.add_oauth_client("demo-tv-app", auth_method="none", grant_types=[DEVICE_GRANT])
    emulator.add_oauth_client(
        "demo-legacy-app",
        auth_method="none",
        redirect_uris=[APP_REDIRECT],
        grant_types=["implicit"],
    )
    service_key = _service_key()
    emulator.add_oauth_client(
        "demo-service",
        grant_types=["client_credentials"],
        auth_method="private_key_jwt",
        jwks={"keys": [service_key.as_dict(private=False)]},
    )
    bank_key = _bank_key()
    emulator.add_oauth_client(
        "demo-bank-app",
        redirect_uris=[APP_REDIRECT],
        auth_method="private_key_jwt",
        jwks={"keys": [bank_key.as_dict(private=False)]},
    )
    emulator.add_geni_app(geni_id)
    emulator.add_teamwork_app(tw_id, tw_secret, redirect_uris=[TEAMWORK_REDIRECT])
    emulator.add_keycloak_client(bog_id, bog_secret, realm="bog", redirect_uris=[BOG_REDIRECT])
    report = _Report(out)

    async with emulator.serve() as base_url, httpx.AsyncClient() as browser:
        _say(out, f"anyoauth demo: provider emulator on {base_url}\n")
        geni = Geni(geni_id, scope=["basic", "family"], **emulator.endpoints_geni(base_url))
        teamwork = Teamwork(
            tw_id, tw_secret, TEAMWORK_REDIRECT, **emulator.endpoints_teamwork(base_url)
        )
        bog_urls = emulator.endpoints_keycloak(base_url, "bog")
        bog = BankOfGeorgia(bog_id, bog_secret, redirect_uri=BOG_REDIRECT, **bog_urls)
        wrong = BankOfGeorgia(bog_id, "not-the-secret", **bog_urls)

        async def login(client: Client, decision: str) -> Token:
            start = await client.begin()
            landed = await browse(browser, start.url, decision=decision)
            return await client.complete(landed)

        async def api(url: str, token: Token) -> str:
            response = await browser.get(url, headers={"Authorization": token.authorization_header})
            if response.status_code != 200:
                return f"FAILED: API answered HTTP {response.status_code}"
            return f"; API call: HTTP {response.status_code}"

        async with Client(geni) as c:
            await report.check(
                "Geni desktop flow, user clicks Allow",
                Token,
                lambda: login(c, "allow"),
                lambda t: api(f"{base_url}/api/profile", t),
            )
            await report.check(
                "Geni desktop flow, user clicks Don't Allow", OAuthError, lambda: login(c, "deny")
            )
        async with Client(teamwork) as c:
            await report.check(
                "Teamwork App Login Flow, user clicks Allow",
                Token,
                lambda: login(c, "allow"),
                lambda t: api(
                    f"{t.extra['installation']['apiEndPoint']}projects/api/v3/me.json", t
                ),
            )
            await report.check(
                "Teamwork App Login Flow, user clicks Don't Allow",
                OAuthError,
                lambda: login(c, "deny"),
            )

            async def replay() -> Token:
                start = await c.begin()
                landed = await browse(browser, start.url, decision="allow")
                await c.complete(landed)
                return await c.complete(landed)

            await report.check(
                "Teamwork redirect replayed (state is single-use)", OAuthError, replay
            )
        async with Client(bog) as c:
            await report.check(
                "Bank of Georgia client credentials (HTTP Basic)",
                Token,
                c.token,
                lambda t: api(f"{base_url}/api/businessonline/accounts", t),
            )
            await report.check(
                "Bank of Georgia authorize step, user clicks Allow",
                Token,
                lambda: login(c, "allow"),
            )
        async with Client(wrong) as c:
            await report.check("Bank of Georgia with a wrong client secret", OAuthError, c.token)

        metadata = await discover(base_url, http=browser)
        _say(out, f"\ndiscovered {metadata.issuer} (RFC 8414 metadata)\n")
        web = AuthorizationCode.from_metadata(
            metadata,
            client_id="demo-web-app",
            client_secret=app_secret,
            redirect_uri=APP_REDIRECT,
            scope="openid profile",
        )
        async with Client(web, http=browser) as c:
            await report.check(
                "Authorization code + PKCE with OpenID Connect, user clicks Allow",
                Token,
                lambda: login(c, "allow"),
                lambda t: api(f"{base_url}/api/me", t),
            )

            async def refresh() -> Token:
                held = await c.token()
                return await c.token(rejected=held)

            await report.check("Refresh with a rotated refresh token", Token, refresh)

            async def revoke() -> Token:
                await c.revoke()
                return await c.token()

            await report.check("Revoked (RFC 7009), then asked for a token", OAuthError, revoke)

        def approve(device: DeviceAuthorization) -> None:
            report.notes.append(f"(user entered {device.user_code} at {device.verification_uri})")
            emulator.approve_device(device.user_code)

        tv = DeviceCode.from_metadata(metadata, client_id="demo-tv-app")
        async with Client(tv, http=browser) as c:
            await report.check(
                "Device authorization grant, user approves on another device",
                Token,
                lambda: c.device_login(approve),
            )
        service = ClientCredentials.from_metadata(
            metadata,
            client_id="demo-service",
            client_auth="private_key_jwt",
            client_key=service_key,
        )
        async with Client(service, http=browser) as c:
            await report.check("Client credentials with private_key_jwt", Token, c.token)
        # The FAPI 2.0 building blocks (profile="fapi2" needs https; the demo's emulator
        # is plain http on loopback): a pushed request, private_key_jwt, DPoP.
        bank_app = AuthorizationCode.from_metadata(
            metadata,
            client_id="demo-bank-app",
            redirect_uri=APP_REDIRECT,
            client_auth="private_key_jwt",
            client_key=bank_key,
            client_assertion_algorithm="ES256",
            push_authorization_request=True,
            dpop_key=DPoPKey.generate(),
        )
        async with Client(bank_app, http=browser) as c:

            async def bound_api(token: Token) -> str:
                async with httpx.AsyncClient(auth=c.auth()) as api_client:
                    response = await api_client.get(f"{base_url}/api/me")
                if response.status_code != 200:
                    return f"FAILED: API answered HTTP {response.status_code}"
                return f"; API call with a DPoP proof: HTTP {response.status_code}"

            await report.check(
                "Pushed request (PAR) + private_key_jwt + DPoP-bound token, user clicks Allow",
                Token,
                lambda: login(c, "allow"),
                bound_api,
            )
        legacy = Implicit.from_metadata(
            metadata, client_id="demo-legacy-app", redirect_uri=APP_REDIRECT
        )
        async with Client(legacy, http=browser) as c:
            await report.check(
                "Implicit grant, user clicks Allow", Token, lambda: login(c, "allow")
            )

    passed = report.total - report.failures
    _say(out, f"\n{passed} of {report.total} outcomes as expected")
    return 0 if report.failures == 0 else 1
