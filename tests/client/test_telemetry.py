"""OpenTelemetry spans and metrics (``Client(telemetry=Telemetry(...))``) for every kind of
request anyoauth sends, read back through the SDK's in-memory span exporter and metric
reader: endpoint kinds, status, outcome, retries, duration, URLs without their query;
and nothing of OpenTelemetry imported without a :class:`Telemetry`."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import anyoauth
from anyoauth import Client, DeviceCode, Telemetry, discover
from anyoauth.testing import ManualClock, ProviderEmulator
from support.endpoints import ScriptedEndpoint

from .helpers import BASE, TOKEN_ENDPOINT, answer, code_strategy, login, metadata, use, web_app

pytestmark = pytest.mark.anyio


class Recorder:
    """A tracer and a meter provider of the SDK, recording in memory."""

    def __init__(self) -> None:
        self.spans_exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans_exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.telemetry = Telemetry(
            tracer_provider=self.tracer_provider, meter_provider=self.meter_provider
        )

    @property
    def spans(self) -> tuple[ReadableSpan, ...]:
        return self.spans_exporter.get_finished_spans()

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        found: list[Any] = []
        if data is None:
            return found
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)
        return found


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    recorder = Recorder()
    yield recorder
    recorder.tracer_provider.shutdown()
    recorder.meter_provider.shutdown()


def by_kind(spans: tuple[ReadableSpan, ...]) -> dict[str, list[ReadableSpan]]:
    kinds: dict[str, list[ReadableSpan]] = {}
    for span in spans:
        assert span.attributes is not None
        kinds.setdefault(str(span.attributes["anyoauth.endpoint"]), []).append(span)
    return kinds


async def test_every_request_of_a_session_is_a_span_of_its_endpoint_kind(
    http: Any, clock: ManualClock, recorder: Recorder
) -> None:
    found = await discover(BASE, http=http, telemetry=recorder.telemetry)
    strategy = anyoauth.AuthorizationCode.from_metadata(
        found,
        client_id="web",
        client_secret="client-secret-SENTINEL-0123456789abcdef",
        redirect_uri="http://127.0.0.1:8123/callback",
        scope="openid profile",
    )
    async with Client(strategy, http=http, clock=clock, telemetry=recorder.telemetry) as client:
        await login(client, http)
        await client.refresh()
        await client.userinfo()
        await client.introspect()
        await client.revoke()
    kinds = by_kind(recorder.spans)
    assert {"discovery", "token", "refresh", "userinfo", "introspection", "revocation"} <= set(
        kinds
    )
    token = kinds["token"][0]
    assert token.name == "anyoauth token"
    assert token.kind is SpanKind.CLIENT
    assert token.attributes is not None
    assert token.attributes["anyoauth.grant_type"] == "authorization_code"
    assert token.attributes["http.request.method"] == "POST"
    assert token.attributes["http.response.status_code"] == 200
    assert token.attributes["anyoauth.outcome"] == "ok"
    assert token.attributes["anyoauth.retries"] == 0
    assert token.attributes["url.full"] == strategy.token_endpoint
    assert token.attributes["server.address"] == "as.example"
    assert token.status.status_code is StatusCode.UNSET
    refresh = kinds["refresh"][0]
    assert refresh.attributes is not None
    assert refresh.attributes["anyoauth.grant_type"] == "refresh_token"
    durations = recorder.points("anyoauth.request.duration")
    endpoints = {point.attributes["anyoauth.endpoint"] for point in durations}
    assert endpoints == set(kinds)
    assert sum(point.count for point in durations) == len(recorder.spans)


async def test_a_device_login_shows_its_device_and_token_requests(
    emulator: ProviderEmulator, http: Any, clock: ManualClock, recorder: Recorder
) -> None:
    strategy = DeviceCode.from_metadata(await metadata(http), client_id="tv")

    def approve(device: anyoauth.DeviceAuthorization) -> None:
        emulator.approve_device(device.user_code)

    async with Client(strategy, http=http, clock=clock, telemetry=recorder.telemetry) as client:
        await client.device_login(approve)
    kinds = by_kind(recorder.spans)
    assert set(kinds) == {"device", "token"}
    poll = kinds["token"][-1]
    assert poll.attributes is not None
    assert poll.attributes["anyoauth.grant_type"] == "urn:ietf:params:oauth:grant-type:device_code"


async def test_retries_are_counted_on_the_span_and_the_counter(
    routed_http: Any, http_module: ModuleType, clock: ManualClock, recorder: Recorder
) -> None:
    payload = {"access_token": "AT", "token_type": "Bearer", "expires_in": 300}
    use(
        routed_http,
        ScriptedEndpoint(
            http_module,
            lambda r: http_module.Response(503),
            lambda r: http_module.Response(503),
            lambda r: answer(http_module, payload),
        ),
    )
    strategy = anyoauth.ClientCredentials(
        client_id="svc", client_secret="svc-secret-SENTINEL", token_endpoint=TOKEN_ENDPOINT
    )
    retries = anyoauth.RetryPolicy(backoff=0, jitter=0)
    client = Client(
        strategy, http=routed_http, clock=clock, retries=retries, telemetry=recorder.telemetry
    )
    await client.token()
    (span,) = recorder.spans
    assert span.attributes is not None
    assert span.attributes["anyoauth.retries"] == 2
    assert span.attributes["anyoauth.outcome"] == "ok"
    (point,) = recorder.points("anyoauth.request.retries")
    assert point.value == 2
    assert point.attributes["anyoauth.endpoint"] == "token"


async def test_an_error_answer_and_a_lost_server_are_failed_spans(
    routed_http: Any, http_module: ModuleType, clock: ManualClock, recorder: Recorder
) -> None:
    def refuse(request: Any) -> Any:
        return answer(http_module, {"error": "invalid_client"}, status=401)

    use(routed_http, ScriptedEndpoint(http_module, refuse))
    client = Client(code_strategy(), http=routed_http, clock=clock, telemetry=recorder.telemetry)
    await client.set_token(anyoauth.Token(access_token="AT-SENTINEL", issued_at=clock.now))
    with pytest.raises(anyoauth.TokenRequestError):
        await client.revoke()
    (refused,) = recorder.spans
    assert refused.attributes is not None
    assert refused.attributes["anyoauth.endpoint"] == "revocation"
    assert refused.attributes["anyoauth.outcome"] == "http_error"
    assert refused.attributes["http.response.status_code"] == 401
    assert refused.attributes["error.type"] == "401"
    assert refused.status.status_code is StatusCode.ERROR

    def unreachable(request: Any) -> Any:
        raise http_module.ConnectError("refused")

    use(routed_http, ScriptedEndpoint(http_module, unreachable))
    strategy = anyoauth.ClientCredentials(
        client_id="svc", client_secret="svc-secret-SENTINEL", token_endpoint=TOKEN_ENDPOINT
    )
    client = Client(
        strategy,
        http=routed_http,
        clock=clock,
        retries=anyoauth.RetryPolicy(attempts=1),
        telemetry=recorder.telemetry,
    )
    with pytest.raises(anyoauth.ServerUnavailable):
        await client.token()
    lost = recorder.spans[-1]
    assert lost.attributes is not None
    assert lost.attributes["anyoauth.outcome"] == "unavailable"
    assert lost.attributes["error.type"] == "ServerUnavailable"
    assert "http.response.status_code" not in lost.attributes
    assert lost.status.status_code is StatusCode.ERROR


async def test_urls_lose_their_query_and_userinfo(
    routed_http: Any, http_module: ModuleType, clock: ManualClock, recorder: Recorder
) -> None:
    use(routed_http, ScriptedEndpoint(http_module, lambda r: http_module.Response(404)))
    strategy = code_strategy()
    client = Client(strategy, http=routed_http, clock=clock, telemetry=recorder.telemetry)
    request = anyoauth.HttpRequest(method="GET", url="https://u:pw@as.example:8443/x?token=abc#f")
    await client._send(request)
    (span,) = recorder.spans
    assert span.attributes is not None
    assert span.attributes["url.full"] == "https://as.example:8443/x"
    assert span.attributes["server.port"] == 8443
    assert span.attributes["anyoauth.endpoint"] == "other"


def test_telemetry_needs_opentelemetry_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with pytest.raises(anyoauth.ConfigurationError, match=r"anyoauth\[otel\]"):
        Telemetry()


def test_telemetry_must_be_a_telemetry() -> None:
    with pytest.raises(TypeError):
        Client(code_strategy(), telemetry=object())  # type: ignore[arg-type]


def test_nothing_of_opentelemetry_is_imported_without_telemetry() -> None:
    code = (
        "import sys, anyoauth, anyoauth.testing;"
        "anyoauth.Client(anyoauth.ClientCredentials(client_id='c', client_secret='s',"
        " token_endpoint='https://as.example/token'));"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    )
    result = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


async def test_a_client_without_telemetry_records_nothing(
    http: Any, clock: ManualClock, recorder: Recorder
) -> None:
    async with Client(await web_app(http), http=http, clock=clock) as client:
        await login(client, http)
    assert recorder.spans == ()
