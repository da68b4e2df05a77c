"""Token events and telemetry carry no secret and survive hostile listeners
(docs/security.md, rule 37).

Every flow the emulator's generic server runs (code + PKCE with OpenID Connect, pushed
and DPoP-bound with a nonce, a public client, implicit, device, client credentials,
refresh with rotation, a refused refresh, a denied login, userinfo, introspection,
revocation, discovery) runs with an event listener, an event stream and an SDK tracer
and meter recording in memory, and the ``anyoauth`` logger at DEBUG. The secrets are
planted (client secrets) or read off the wire (codes, PKCE verifiers, access, refresh
and id tokens, device codes, credential and DPoP headers, the tokens in redirects).
None may appear in an event's ``repr``, ``str`` or field values, a span's name,
attributes, events or status, a metric data point's attributes, or a log record.

Hostile listeners (raising, hanging, tampering, unsubscribing others mid-delivery,
closing their stream) leave every flow working and every other listener served.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import anyio
import attrs
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import anyoauth
from anyoauth import (
    AuthorizationCode,
    Client,
    ClientCredentials,
    DeviceCode,
    Implicit,
    Telemetry,
    TokenEvent,
    discover,
)
from anyoauth.testing import ManualClock, ProviderEmulator, browse

pytestmark = pytest.mark.anyio

BASE = "https://as.example"
REDIRECT = "http://127.0.0.1:8123/callback"
CLIENT_SECRET = "web-secret-SENTINEL-7f3a9c1e5b2d8046"
SERVICE_SECRET = "service-secret-SENTINEL-0b4e6a2c9d1f"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SECRET_NAMES = frozenset(
    {
        "access_token",
        "refresh_token",
        "id_token",
        "device_code",
        "code",
        "code_verifier",
        "client_secret",
        "client_assertion",
        "assertion",
        "token",
        "request_uri",
    }
)


class Wire:
    """What crosses the wire between the client and the emulator: the secrets in it."""

    def __init__(self) -> None:
        self.secrets: set[str] = {CLIENT_SECRET, SERVICE_SECRET}

    def _pairs(self, text: str) -> None:
        for name, value in parse_qsl(text, keep_blank_values=True):
            if name in SECRET_NAMES:
                self.secrets.add(value)

    def _header(self, name: str, value: str) -> None:
        if name.lower() in ("authorization", "dpop"):
            self.secrets.add(value)
            scheme, _, credential = value.partition(" ")
            if credential:
                self.secrets.add(credential)
            if scheme.lower() == "basic":
                pair = base64.b64decode(credential).decode()
                self.secrets.add(pair.partition(":")[2])

    def request(self, request: Any) -> None:
        parts = urlsplit(str(request.url))
        self._pairs(parts.query)
        self._pairs(request.content.decode("utf-8", "replace"))
        for name, value in request.headers.multi_items():
            self._header(name, value)

    def answer(self, headers: Any, body: bytes) -> None:
        for name, value in headers:
            if name.lower() == "location":
                parts = urlsplit(value)
                self._pairs(parts.query)
                self._pairs(parts.fragment)
        try:
            payload = json.loads(body)
        except ValueError:
            return
        if isinstance(payload, dict):
            for name, value in payload.items():
                if name in SECRET_NAMES and isinstance(value, str):
                    self.secrets.add(value)


class Seen:
    """Everything events and telemetry showed, as text."""

    def __init__(self) -> None:
        self.events: list[TokenEvent] = []
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.telemetry = Telemetry(
            tracer_provider=self.tracer_provider, meter_provider=self.meter_provider
        )
        self.records: list[logging.LogRecord] = []

    def texts(self) -> Iterator[str]:
        for event in self.events:
            yield repr(event)
            yield str(event)
            yield from (repr(value) for value in attrs.asdict(event).values())
        for span in self.exporter.get_finished_spans():
            yield span.name
            yield repr(dict(span.attributes or {}))
            yield repr(span.status.description)
            for span_event in span.events:
                yield repr(span_event.name)
                yield repr(dict(span_event.attributes or {}))
        data = self.reader.get_metrics_data()
        assert data is not None
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        yield repr(dict(point.attributes or {}))
        for record in self.records:
            yield record.getMessage()
            yield logging.Formatter().format(record)


class _Keep(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def emulated(clock: ManualClock) -> ProviderEmulator:
    emulator = ProviderEmulator(clock=clock, base_url=BASE, oauth_device_interval=0)
    emulator.add_oauth_client(
        "web", client_secret=CLIENT_SECRET, redirect_uris=[REDIRECT], scopes=None
    )
    emulator.add_oauth_client(
        "spa", redirect_uris=[REDIRECT], auth_method="none", grant_types=["authorization_code"]
    )
    emulator.add_oauth_client(
        "legacy", redirect_uris=[REDIRECT], auth_method="none", grant_types=["implicit"]
    )
    emulator.add_oauth_client("tv", auth_method="none", grant_types=[DEVICE_GRANT, "refresh_token"])
    emulator.add_oauth_client(
        "service", client_secret=SERVICE_SECRET, grant_types=["client_credentials"]
    )
    return emulator


def recording_client(module: ModuleType, emulator: ProviderEmulator, wire: Wire) -> Any:
    def handler(request: Any) -> Any:
        wire.request(request)
        answer = emulator.handle(
            request.method, str(request.url), request.headers.multi_items(), request.content
        )
        wire.answer(answer.headers, answer.body)
        return module.Response(answer.status, headers=list(answer.headers), content=answer.body)

    return module.AsyncClient(transport=module.MockTransport(handler))


async def login(client: Client, http: Any, decision: str = "allow") -> anyoauth.Token:
    start = await client.begin()
    return await client.complete(await browse(http, start.url, decision=decision))


async def run_every_flow(
    http: Any, emulator: ProviderEmulator, clock: ManualClock, seen: Seen
) -> None:
    found = await discover(BASE, http=http, telemetry=seen.telemetry)
    settings: dict[str, Any] = {"http": http, "clock": clock, "telemetry": seen.telemetry}

    def client(strategy: anyoauth.Strategy) -> Client:
        return Client(strategy, on_event=seen.events.append, **settings)

    web = AuthorizationCode.from_metadata(
        found,
        client_id="web",
        client_secret=CLIENT_SECRET,
        redirect_uri=REDIRECT,
        scope="openid profile email",
    )
    async with client(web) as c:
        stream = c.events()
        token = await login(c, http)
        await c.userinfo()
        await c.introspect()
        await c.introspect(token, token_type_hint="refresh_token")
        await c.refresh()
        assert token.expires_at is not None
        clock.now = token.expires_at + 1
        await c.token()
        await c.revoke()
        with pytest.raises(anyoauth.AuthorizationDenied):
            await login(c, http, decision="deny")
        await login(c, http)
        emulator.revoke_all()
        with pytest.raises(anyoauth.LoginRequired):
            await c.refresh()
        stream.close()
        seen.events.extend([event async for event in stream])

    emulator.oauth_dpop_nonce = True
    pushed = attrs.evolve(
        web, push_authorization_request=True, dpop_key=anyoauth.DPoPKey.generate()
    )
    async with client(pushed) as c:
        await login(c, http)
        await c.refresh()
    emulator.oauth_dpop_nonce = False

    spa = AuthorizationCode.from_metadata(found, client_id="spa", redirect_uri=REDIRECT)
    async with client(spa) as c:
        await login(c, http)
    implicit = Implicit(
        client_id="legacy",
        authorization_endpoint=found.authorization_endpoint,
        redirect_uri=REDIRECT,
        issuer=BASE,
    )
    async with client(implicit) as c:
        await login(c, http)

    device = DeviceCode.from_metadata(found, client_id="tv", scope="read")

    def approve(shown: anyoauth.DeviceAuthorization) -> None:
        emulator.approve_device(shown.user_code)

    async with client(device) as c:
        await c.device_login(approve)
        await c.refresh()

    service = ClientCredentials.from_metadata(
        found, client_id="service", client_secret=SERVICE_SECRET
    )
    async with client(service) as c:
        first = await c.token()
        assert first.expires_at is not None
        clock.now = first.expires_at + 1
        await c.token()


async def test_no_secret_in_any_event_span_metric_or_log(http_module: ModuleType) -> None:
    clock = ManualClock()
    emulator = emulated(clock)
    wire = Wire()
    seen = Seen()
    logger = logging.getLogger("anyoauth")
    handler = _Keep(seen.records)
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        async with recording_client(http_module, emulator, wire) as http:
            await run_every_flow(http, emulator, clock, seen)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    kinds = {type(event).__name__ for event in seen.events}
    assert kinds >= {
        "LoginStarted",
        "LoginCompleted",
        "LoginFailed",
        "TokenIssued",
        "TokenRefreshed",
        "RefreshTokenRotated",
        "RefreshFailed",
        "TokenRevoked",
    }
    endpoints = {
        str((span.attributes or {})["anyoauth.endpoint"])
        for span in seen.exporter.get_finished_spans()
    }
    assert endpoints >= {
        "discovery",
        "token",
        "refresh",
        "par",
        "device",
        "userinfo",
        "introspection",
        "revocation",
        "jwks",
    }
    secrets = {s for s in wire.secrets if len(s) >= 8}
    assert len(secrets) > 30  # codes, verifiers, tokens, proofs... were read off the wire
    texts = list(seen.texts())
    leaks = sorted({secret[:12] for secret in secrets for text in texts if secret in text})
    assert leaks == []


async def test_a_server_error_code_never_enters_an_event_as_text(http_module: ModuleType) -> None:
    clock = ManualClock()
    seen: list[TokenEvent] = []

    def refuse(request: Any) -> Any:
        body = json.dumps({"error": "leak-" + CLIENT_SECRET, "error_description": CLIENT_SECRET})
        return http_module.Response(
            400, content=body.encode(), headers={"content-type": "application/json"}
        )

    strategy = ClientCredentials(
        client_id="svc", client_secret=CLIENT_SECRET, token_endpoint=BASE + "/token"
    )
    async with http_module.AsyncClient(transport=http_module.MockTransport(refuse)) as http:
        client = Client(strategy, http=http, clock=clock, on_event=seen.append)
        await client.set_token(
            anyoauth.Token(
                access_token="old-token-value", issued_at=clock.now - 10, expires_at=clock.now - 1
            )
        )
        with pytest.raises(anyoauth.TokenRequestError):
            await client.token()
    (failed,) = seen
    assert isinstance(failed, anyoauth.RefreshFailed)
    assert failed.oauth_error == "other"
    assert CLIENT_SECRET not in repr(failed)


async def test_hostile_listeners_break_nothing(http_module: ModuleType) -> None:
    clock = ManualClock()
    emulator = emulated(clock)
    wire = Wire()
    served: list[TokenEvent] = []
    unsubscribes: list[Any] = []

    def raises(event: TokenEvent) -> None:
        raise RuntimeError("listener failure")

    def tampers(event: TokenEvent) -> None:
        event.account = "other"  # type: ignore[misc]

    async def hangs(event: TokenEvent) -> None:
        await anyio.sleep_forever()

    def unsubscribes_others(event: TokenEvent) -> None:
        for unsubscribe in unsubscribes:
            unsubscribe()

    class Weird:
        async def __call__(self, event: TokenEvent) -> None:
            raise ValueError("async failure")

    async with recording_client(http_module, emulator, wire) as http:
        found = await discover(BASE, http=http)
        web = AuthorizationCode.from_metadata(
            found, client_id="web", client_secret=CLIENT_SECRET, redirect_uri=REDIRECT
        )
        async with Client(web, http=http, clock=clock, on_event=raises) as client:
            for listener in (tampers, hangs, Weird(), unsubscribes_others):
                client.subscribe(listener)
            client.subscribe(served.append)
            unsubscribes.append(client.subscribe(raises))
            client.events(buffer=1).close()
            with anyio.fail_after(10):
                token = await login(client, http)
                for _ in range(20):
                    token = await client.refresh()
            assert emulator.is_valid_token(token.access_token)
            assert await client.token() == token
    assert len(served) == 3 + 2 * 20
    assert {event.account for event in served} == {"default"}


async def test_a_stream_nobody_reads_stays_bounded(http_module: ModuleType) -> None:
    clock = ManualClock()
    emulator = emulated(clock)
    async with recording_client(http_module, emulator, Wire()) as http:
        found = await discover(BASE, http=http)
        web = AuthorizationCode.from_metadata(
            found, client_id="web", client_secret=CLIENT_SECRET, redirect_uri=REDIRECT
        )
        async with Client(web, http=http, clock=clock) as client:
            stream = client.events(buffer=4)
            await login(client, http)
            for _ in range(50):
                await client.refresh()
            stream.close()
            read = [event async for event in stream]
    assert len(read) == 5
    assert isinstance(read[0], anyoauth.EventsDropped)
    assert read[0].count == 3 + 2 * 50 - 4
