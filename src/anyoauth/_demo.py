"""The demo: every seed flow end to end against the emulator on a loopback port.

The browser step is done by an HTTP user agent that reads the consent page and
clicks Allow (or Don't Allow). Each outcome is printed with secrets redacted;
the exit status is 0 only if every outcome is the expected one.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Awaitable, Callable
from typing import TextIO

import httpx

from . import Client, OAuthError, Token
from .providers import BankOfGeorgia, Geni, Teamwork
from .testing import ProviderEmulator, browse

__all__ = ["run_demo"]

TEAMWORK_REDIRECT = "anyoauth-demo://callback"
BOG_REDIRECT = "https://app.example/bog/callback"


def _describe(outcome: Token | OAuthError) -> str:
    if isinstance(outcome, Token):
        expiry = (
            "no expiry"
            if outcome.expires_at is None
            else (f"expires in {outcome.expires_at - outcome.issued_at:.0f} s")
        )
        extra = f", extra fields {sorted(outcome.extra)}" if outcome.extra else ""
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
        print(f"[{mark}] {title}\n       -> {_describe(outcome)}{note}", file=self.out)


async def run_demo(out: TextIO = sys.stdout) -> int:
    """Run the demo and return the process exit status."""
    geni_id = "demo-geni-app"
    tw_id, tw_secret = "demo-teamwork-app", secrets.token_hex(20)
    bog_id, bog_secret = "demo-bog-client", secrets.token_urlsafe(24)
    emulator = ProviderEmulator()
    emulator.add_geni_app(geni_id)
    emulator.add_teamwork_app(tw_id, tw_secret, redirect_uris=[TEAMWORK_REDIRECT])
    emulator.add_keycloak_client(bog_id, bog_secret, realm="bog", redirect_uris=[BOG_REDIRECT])
    report = _Report(out)

    async with emulator.serve() as base_url, httpx.AsyncClient() as browser:
        print(f"anyoauth demo: provider emulator on {base_url}\n", file=out)
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

    passed = report.total - report.failures
    print(f"\n{passed} of {report.total} outcomes as expected", file=out)
    return 0 if report.failures == 0 else 1
