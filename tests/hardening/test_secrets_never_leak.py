"""Secrets never leak (docs/security.md, rule 7).

Every flow (Geni, Teamwork, Bank of Georgia / Keycloak, code + PKCE with OpenID Connect,
refresh, device, client credentials, revocation, introspection, the httpx Auth) runs
against the emulator on a real loopback port, and every fault of ``catalogue.py`` runs
in-process and on the wire, with the ``anyoauth``, ``httpx``/``httpx2`` and
``httpcore``/``httpcore2`` loggers at DEBUG. The secrets are planted (client secrets) or
read off the wire (codes, PKCE verifiers, access, refresh and id tokens, device codes,
Basic credentials). None may appear in:

- any log record: its message, its arguments, and the formatted record (tracebacks);
- the ``repr`` and ``str`` of what the API returns;
- any raised error: its ``str``, its ``repr``, and
  ``traceback.TracebackException(exc, capture_locals=True)`` formatted: the locals of
  every frame the error passed through (the test's own frames excepted: a caller's
  locals are the caller's business);
- anything reachable from a raised error (``reachable.find_secrets``: its cause and
  context, shown or hidden, its arguments and attributes, its frames' locals...).

The fake browser's own HTTP logs are left out (``BROWSER``): it plays the user's browser,
which sees the code by design.
"""

from __future__ import annotations

import base64
import contextvars
import json
import logging
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import anyio
import pytest

import anyoauth
from anyoauth.agents import LoopbackAgent
from anyoauth.providers import BankOfGeorgia, Geni, Teamwork
from anyoauth.testing import ManualClock, ProviderEmulator, browse
from support.internals import stop_scrubbing

from . import faultserver as fs
from .catalogue import CASES, IDS, Case, Endpoint, wire_fault
from .common import FRESH, ORIGINAL, SECRET, Waits, strategy
from .reachable import find_secrets

pytestmark = pytest.mark.anyio

TESTS = str(Path(__file__).resolve().parent.parent)
LOGGERS = ("anyoauth", "httpx", "httpx2", "httpcore", "httpcore2")
SECRET_FIELDS = frozenset(
    {
        "client_secret",
        "code",
        "code_verifier",
        "refresh_token",
        "access_token",
        "id_token",
        "token",
        "device_code",
        "client_assertion",
    }
)
TW_SECRET = "SENTINEL-teamwork-secret-0a1b2c"
BOG_SECRET = "SENTINEL-bog-secret-3d4e5f"
WEB_SECRET = "SENTINEL-web-secret-6a7b8c"
SVC_SECRET = "SENTINEL-service-secret-9d0e1f"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"

BROWSER: contextvars.ContextVar[bool] = contextvars.ContextVar("BROWSER", default=False)
"""True while the fake browser runs: its HTTP logs are the browser's, not anyoauth's."""


class Evidence(logging.Handler):
    """Collects secrets and everything that might show them, then looks for each."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.secrets: set[str] = set()
        self.texts: list[tuple[str, str]] = []
        self.records: list[logging.LogRecord] = []
        self.errors = 0
        self.raised: list[BaseException] = []

    # -- secrets --------------------------------------------------------------------

    def secret(self, value: object) -> None:
        if isinstance(value, str) and len(value) >= 8:
            self.secrets.add(value)

    def from_params(self, pairs: Any) -> None:
        for name, value in pairs:
            if name in SECRET_FIELDS:
                self.secret(value)

    def from_url(self, url: str) -> None:
        parts = urlsplit(url)
        self.from_params(parse_qsl(parts.query))
        self.from_params(parse_qsl(unquote(parts.fragment)))

    def from_body(self, body: bytes) -> None:
        try:
            payload = json.loads(body)
        except ValueError:
            self.from_params(parse_qsl(body.decode("utf-8", "replace")))
            return
        if isinstance(payload, dict):
            self.from_params(payload.items())

    def from_authorization(self, header: str | None) -> None:
        scheme, _, value = (header or "").partition(" ")
        if not value:
            return
        self.secret(value)
        if scheme.lower() == "basic":
            decoded = base64.b64decode(value).decode()
            self.secret(unquote(decoded.partition(":")[2]))

    def from_server(self, server: fs.FaultServer) -> None:
        for request in server.requests:
            if request.method == "POST":
                self.from_body(request.body)
            self.from_url(request.target)
            self.from_authorization(request.headers.get("authorization"))
        for answer in server.answers:
            self.from_body(answer)

    def from_token(self, token: anyoauth.Token) -> None:
        self.secret(token.access_token)
        self.secret(token.refresh_token)
        self.secret(token.extra.get("id_token"))
        self.shown("token", token)

    # -- what might show them -------------------------------------------------------

    def emit(self, record: logging.LogRecord) -> None:
        if not BROWSER.get():
            self.records.append(record)

    def shown(self, where: str, value: object) -> None:
        self.texts += [(f"repr({where})", repr(value)), (f"str({where})", str(value))]

    def error(self, exc: BaseException) -> None:
        self.errors += 1
        self.raised.append(exc)
        name = type(exc).__name__
        self.texts += [(f"str({name})", str(exc)), (f"repr({name})", repr(exc))]
        rendered = traceback.TracebackException.from_exception(exc, capture_locals=True)
        _drop_test_frames(rendered)
        self.texts.append((f"traceback({name})", "".join(rendered.format())))

    @contextmanager
    def raises(self, kind: type[BaseException] = anyoauth.OAuthError) -> Iterator[None]:
        try:
            yield
        except kind as exc:
            self.error(exc)
        else:
            pytest.fail(f"{kind.__name__} not raised")

    def check(self) -> None:
        formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
        for record in self.records:
            self.texts += [
                (f"log {record.name}", record.getMessage()),
                (f"log args {record.name}", repr(record.args)),
                (f"log {record.name}", formatter.format(record)),
            ]
        assert len(self.secrets) >= 3
        for where, text in self.texts:
            for secret in self.secrets:
                # A secret, or the first half of one (a body cut short shows a prefix).
                for piece in {secret, secret[: max(12, len(secret) // 2)]}:
                    assert piece not in text, f"{where} shows a secret:\n{text}"
        for error in self.raised:
            findings = find_secrets(error, self.secrets)
            assert not findings, f"a secret is reachable from {error!r}: {findings}"


def _drop_test_frames(rendered: traceback.TracebackException) -> None:
    seen: set[int] = set()
    pending = [rendered]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        kept = [frame for frame in current.stack if not frame.filename.startswith(TESTS)]
        current.stack = traceback.StackSummary.from_list(kept)
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
        pending += list(current.exceptions or ())


@pytest.fixture
def evidence() -> Iterator[Evidence]:
    handler = Evidence()
    saved = []
    for name in LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger, level in saved:
            logger.removeHandler(handler)
            logger.setLevel(level)


async def as_browser(call: Callable[[], Awaitable[str]]) -> str:
    token = BROWSER.set(True)
    try:
        return await call()
    finally:
        BROWSER.reset(token)


# -- every flow --------------------------------------------------------------------------------


@pytest.fixture
def emulator() -> ProviderEmulator:
    emulator = ProviderEmulator(oauth_device_interval=0)
    emulator.add_geni_app("geni-app")
    emulator.add_teamwork_app("tw-app", TW_SECRET, redirect_uris=["https://app.example/tw"])
    emulator.add_keycloak_client(
        "bog-client", BOG_SECRET, redirect_uris=["https://app.example/bog"], refresh_tokens=True
    )
    emulator.add_oauth_client(
        "web", client_secret=WEB_SECRET, redirect_uris=["http://127.0.0.1/callback"]
    )
    emulator.add_oauth_client(
        "service",
        client_secret=SVC_SECRET,
        grant_types=["client_credentials"],
        auth_method="client_secret_post",
    )
    emulator.add_oauth_client("tv", auth_method="none", grant_types=[DEVICE_GRANT, "refresh_token"])
    return emulator


@pytest.fixture
async def wire(
    emulator: ProviderEmulator, http_module: ModuleType
) -> AsyncIterator[tuple[fs.FaultServer, Any, Any]]:
    """The emulator on a loopback port; the app's HTTP client; the browser's."""
    async with AsyncExitStack() as stack:
        server = await stack.enter_async_context(fs.fault_server(default=fs.emulator(emulator)))
        app = await stack.enter_async_context(http_module.AsyncClient())
        browser = await stack.enter_async_context(http_module.AsyncClient())
        yield server, app, browser


async def test_no_flow_leaks_a_secret(
    evidence: Evidence,
    emulator: ProviderEmulator,
    wire: tuple[fs.FaultServer, Any, Any],
    http_module: ModuleType,
) -> None:
    server, http, browser = wire
    base = server.url
    for planted in (TW_SECRET, BOG_SECRET, WEB_SECRET, SVC_SECRET):
        evidence.secret(planted)

    async def land(client: anyoauth.Client, decision: str = "allow") -> str:
        start = await client.begin()
        evidence.shown("begin()", start)
        url = await as_browser(lambda: browse(browser, start.url, decision=decision))
        evidence.from_url(url)
        return url

    # Geni: the token in the special URL's fragment; a denial; a replay.
    geni = anyoauth.Client(Geni("geni-app", **emulator.endpoints_geni(base)), http=http)
    url = await land(geni)
    evidence.from_token(await geni.complete(url))
    with evidence.raises(anyoauth.StateMismatch):
        await geni.complete(url)
    with evidence.raises(anyoauth.AuthorizationDenied):
        await geni.complete(await land(geni, "deny"))

    # Teamwork: code + JSON exchange with the client secret in the body; a wrong secret.
    teamwork = Teamwork(
        "tw-app", TW_SECRET, "https://app.example/tw", **emulator.endpoints_teamwork(base)
    )
    tw = anyoauth.Client(teamwork, http=http)
    evidence.from_token(await tw.complete(await land(tw)))
    wrong = anyoauth.Client(
        Teamwork(
            "tw-app",
            "SENTINEL-wrong-secret-x",
            "https://app.example/tw",
            **emulator.endpoints_teamwork(base),
        ),
        http=http,
    )
    evidence.secret("SENTINEL-wrong-secret-x")
    with evidence.raises(anyoauth.TokenRequestError):
        await wrong.complete(await land(wrong))
    # A code exchange that fails after the redirect was read: complete()'s URL holds the code.
    server.next_at("/launchpad/v1/token.json", fs.json_answer(500, {"error": "server_error"}))
    with evidence.raises(anyoauth.TokenRequestError):
        await tw.complete(await land(tw))

    # Bank of Georgia (Keycloak): client credentials with Basic auth, a rotating refresh
    # token, the implicit authorize step, and a wrong secret.
    bog = anyoauth.Client(
        BankOfGeorgia(
            "bog-client",
            BOG_SECRET,
            redirect_uri="https://app.example/bog",
            **emulator.endpoints_keycloak(base),
        ),
        http=http,
    )
    first = await bog.token()
    evidence.from_token(first)
    evidence.from_token(await bog.token(rejected=first))
    evidence.from_token(await bog.complete(await land(bog)))
    bad_bog = anyoauth.Client(
        BankOfGeorgia("bog-client", "SENTINEL-bog-wrong-y", **emulator.endpoints_keycloak(base)),
        http=http,
    )
    evidence.secret("SENTINEL-bog-wrong-y")
    with evidence.raises(anyoauth.TokenRequestError):
        await bad_bog.token()

    # Code + PKCE with OpenID Connect: discovery, an id_token, refresh, the httpx Auth,
    # introspection, a rejected id_token, a refused refresh, a failed revocation, revocation.
    metadata = await anyoauth.discover(base, http=http)
    evidence.shown("metadata", metadata)
    web = anyoauth.AuthorizationCode.from_metadata(
        metadata,
        client_id="web",
        client_secret=WEB_SECRET,
        redirect_uri="http://127.0.0.1/callback",
        scope=["openid", "profile"],
    )
    async with anyoauth.Client(web, http=http) as oidc:
        token = await oidc.complete(await land(oidc))
        evidence.from_token(token)
        assert token.id_token_claims is not None
        refreshed = await oidc.token(rejected=token)
        evidence.from_token(refreshed)
        response = await http.get(base + "/api/me", auth=oidc.auth())
        assert response.status_code == 200
        evidence.shown("introspect()", await oidc.introspect())
        emulator.oauth_id_token_claims = {"aud": "someone-else"}
        with evidence.raises(anyoauth.InvalidIdToken):
            await oidc.complete(await land(oidc))
        emulator.oauth_id_token_claims = {}
        server.next_at("/oauth/revoke", fs.json_answer(400, {"error": "invalid_request"}))
        with evidence.raises(anyoauth.TokenRequestError):
            await oidc.revoke()  # its locals held both tokens
        evidence.from_token(await oidc.complete(await land(oidc)))
        await oidc.revoke()
        evidence.from_token(await oidc.complete(await land(oidc)))
        server.next_at("/oauth/token", fs.json_answer(400, {"error": "invalid_grant"}))
        with evidence.raises(anyoauth.LoginRequired):
            await oidc.token(rejected=await oidc.token())
        evidence.shown("client", oidc)
        evidence.shown("strategy", web)
        evidence.shown("store", oidc.store)

    # The same login through the loopback agent (the listener reads the code).
    async def open_browser(url: str) -> None:
        token = BROWSER.set(True)
        try:
            landed = await browse(browser, url)
            evidence.from_url(landed)
            await browser.get(landed)
        finally:
            BROWSER.reset(token)

    agent_client = anyoauth.Client(web, http=http)
    evidence.from_token(await agent_client.login(LoopbackAgent(open_browser=open_browser)))

    # The device grant, then client credentials with client_secret_post.
    device = anyoauth.DeviceCode.from_metadata(metadata, client_id="tv")

    def show(authorization: anyoauth.DeviceAuthorization) -> None:
        evidence.secret(authorization.device_code)
        evidence.shown("device authorization", authorization)
        emulator.approve_device(authorization.user_code)

    evidence.from_token(await anyoauth.Client(device, http=http).device_login(show))
    service = anyoauth.ClientCredentials.from_metadata(
        metadata, client_id="service", client_secret=SVC_SECRET, client_auth="client_secret_post"
    )
    evidence.from_token(await anyoauth.Client(service, http=http).token())

    evidence.from_server(server)
    evidence.check()
    names = {record.name.split(".")[0] for record in evidence.records}
    module = http_module.__name__
    assert {"anyoauth", module, "httpcore" if module == "httpx" else "httpcore2"} <= names
    assert evidence.errors >= 8
    assert any("code_verifier" in r.body.decode() for r in server.requests if r.method == "POST")


# -- every fault -------------------------------------------------------------------------------


def _secrets(evidence: Evidence) -> None:
    for value in (SECRET, ORIGINAL.access_token, ORIGINAL.refresh_token):
        evidence.secret(value)
    evidence.secret(FRESH["access_token"])
    evidence.secret(FRESH["refresh_token"])


async def _refresh(evidence: Evidence, client: anyoauth.Client, case: Case) -> None:
    await client.set_token(ORIGINAL)
    with anyio.fail_after(case.timeout + 10), evidence.raises(case.error):
        await client.token()
    # The same fault on a code exchange: the redirect URL (with its code) was in scope.
    start = await client.begin()
    code = "SENTINEL-code-" + start.state[:12]
    evidence.secret(code)
    with anyio.fail_after(case.timeout + 10), evidence.raises():
        await client.complete(f"https://app.example/callback?code={code}&state={start.state}")


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_no_fault_leaks_a_secret_in_process(
    evidence: Evidence, http_module: ModuleType, case: Case
) -> None:
    _secrets(evidence)
    endpoint = Endpoint(http_module, case.name)
    async with http_module.AsyncClient(transport=http_module.MockTransport(endpoint)) as http:
        client = anyoauth.Client(
            strategy("https://as.example/token"),
            http=http,
            clock=ManualClock(),
            timeout=case.timeout,
            retries=Waits().policy(),
        )
        await _refresh(evidence, client, case)
    for request in endpoint.requests:
        evidence.from_body(request.content)
        evidence.from_authorization(request.headers.get("authorization"))
    evidence.check()


WIRE = [case for case in CASES if case.name != "connection-refused"]  # nothing listens


@pytest.mark.parametrize("case", WIRE, ids=[case.name for case in WIRE])
async def test_no_fault_leaks_a_secret_on_the_wire(
    evidence: Evidence, http_module: ModuleType, case: Case
) -> None:
    _secrets(evidence)
    async with (
        fs.fault_server(default=wire_fault(case.name), tls=case.name == "tls-failure") as server,
        http_module.AsyncClient(
            timeout=http_module.Timeout(0.2 if case.name == "read-timeout" else 5.0)
        ) as http,
    ):
        client = anyoauth.Client(
            strategy(server.url + "/token"),
            http=http,
            clock=ManualClock(),
            timeout=case.timeout,
            retries=Waits().policy(),
        )
        await _refresh(evidence, client, case)
    evidence.from_server(server)
    evidence.check()
    if case.name != "tls-failure":
        assert any(r.name.startswith("httpcore") for r in evidence.records)


# -- the detector itself ----------------------------------------------------------------------


async def test_without_the_scrub_a_traceback_shows_the_code(
    evidence: Evidence, http_module: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """This suite can fail: with ``_scrub`` (which clears the locals of anyoauth's frames
    an error leaves through) turned off, the redirect URL held by ``_complete`` shows
    the code in a traceback rendered with locals, and the check catches it."""
    stop_scrubbing(monkeypatch)
    endpoint = Endpoint(http_module, "500")
    async with http_module.AsyncClient(transport=http_module.MockTransport(endpoint)) as http:
        client = anyoauth.Client(
            strategy("https://as.example/token"), http=http, clock=ManualClock()
        )
        start = await client.begin()
        code = "SENTINEL-code-" + start.state[:12]
        evidence.secret(code)
        _secrets(evidence)
        with evidence.raises(anyoauth.TokenRequestError):
            await client.complete(f"https://app.example/callback?code={code}&state={start.state}")
    with pytest.raises(AssertionError, match="shows a secret"):
        evidence.check()
