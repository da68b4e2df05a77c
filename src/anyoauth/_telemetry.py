"""OpenTelemetry spans and metrics for every request anyoauth sends (optional).

Owns :class:`Telemetry` (the tracer and instruments, made through ``opentelemetry-api``
only, which is imported when a :class:`Telemetry` is made and never otherwise), the
endpoint kind of a request (:func:`endpoint_kind`), and what a span or a data point may
say about a request: its endpoint kind, method, URL without query, fragment or
userinfo, server, grant type, HTTP status, outcome, retries and duration. Nothing a
request carries beyond that (headers, body, query) enters an attribute, so no token,
code, secret, assertion or DPoP proof can.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote_plus, urlsplit

from ._core.errors import ConfigurationError
from ._core.http import HttpRequest

__all__ = [
    "Observation",
    "Telemetry",
    "endpoint_kind",
    "endpoint_kinds",
    "grant_type",
    "safe_url",
    "url_parts",
]

_ENDPOINTS = (
    ("token_endpoint", "token"),
    ("pushed_authorization_request_endpoint", "par"),
    ("revocation_endpoint", "revocation"),
    ("introspection_endpoint", "introspection"),
    ("device_authorization_endpoint", "device"),
    ("backchannel_authentication_endpoint", "ciba"),
    ("userinfo_endpoint", "userinfo"),
    ("jwks_uri", "jwks"),
)
"""A strategy's endpoint attributes and the kind of request each receives."""

_GRANT_KINDS = {"refresh_token": "refresh"}


@functools.lru_cache(maxsize=128)
def _parts(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    shown = f"[{host}]" if ":" in host else host
    port = f":{parts.port}" if parts.port is not None else ""
    return f"{parts.scheme}://{shown}{port}{parts.path}", host, parts.port


def url_parts(url: str) -> tuple[str, str, int | None]:
    """``url`` without its userinfo, query and fragment; its host; its explicit port.
    Worked out once per such URL (only URLs without userinfo are remembered)."""
    base = url.partition("?")[0].partition("#")[0]
    if "@" in base:
        return _parts.__wrapped__(base)
    return _parts(base)


def safe_url(url: str) -> str:
    """``url`` without its userinfo, query and fragment (what telemetry may show)."""
    return url_parts(url)[0]


_GRANT_TYPE = re.compile(rb"(?:^|&)grant_type=([^&]*)")


def grant_type(request: HttpRequest) -> str | None:
    """The ``grant_type`` of a form-encoded token request (no secret), else ``None``."""
    found = _GRANT_TYPE.search(request.content)
    if found is None:
        return None
    try:
        return unquote_plus(found.group(1).decode("ascii"))
    except UnicodeDecodeError:
        return None


def endpoint_kinds(strategy: Any) -> Mapping[str, str]:
    """The kind of request each endpoint of ``strategy`` receives, by URL (without
    query): ``token``, ``par``, ``revocation``, ``introspection``, ``device``,
    ``ciba``, ``userinfo``, ``jwks``; the mutual-TLS aliases count as their endpoints."""
    kinds: dict[str, str] = {}
    aliases = getattr(strategy, "mtls_endpoint_aliases", None) or {}
    for name, kind in _ENDPOINTS:
        for candidate in (getattr(strategy, name, None), aliases.get(name)):
            if isinstance(candidate, str):
                kinds.setdefault(safe_url(candidate), kind)
    return kinds


def endpoint_kind(
    strategy: Any, request: HttpRequest, kinds: Mapping[str, str] | None = None
) -> str:
    """Which endpoint of ``strategy`` ``request`` goes to (:func:`endpoint_kinds`, or
    ``kinds`` worked out before), ``refresh`` for a refresh grant at the token
    endpoint, ``other`` for none of them."""
    kind = (kinds if kinds is not None else endpoint_kinds(strategy)).get(safe_url(request.url))
    if kind is None:
        return "other"
    if kind == "token":
        return _GRANT_KINDS.get(grant_type(request) or "", "token")
    return kind


def _version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("anyoauth")
    except PackageNotFoundError:
        return None


class Observation:
    """One request being observed: counts its attempts; ends its span and records it."""

    __slots__ = ("attempts", "status")

    def __init__(self) -> None:
        self.attempts = 0
        self.status: int | None = None


class Telemetry:
    """OpenTelemetry spans and metrics for the requests a :class:`Client` (or
    :func:`discover`) sends: pass ``Client(..., telemetry=Telemetry())``.

    Each request (all its attempts and waits) is one ``CLIENT`` span named
    ``anyoauth <kind>`` and one data point of the ``anyoauth.request.duration``
    histogram (seconds); each attempt after the first adds to the
    ``anyoauth.request.retries`` counter. Attributes: ``anyoauth.endpoint`` (the
    kind: ``token``, ``refresh``, ``par``, ``revocation``, ``introspection``,
    ``device``, ``ciba``, ``userinfo``, ``jwks``, ``discovery``, ``other``),
    ``anyoauth.outcome`` (``ok``; ``http_error`` for a 4xx/5xx answer;
    ``unavailable`` for no answer; ``cancelled``), ``anyoauth.retries``,
    ``http.request.method``, ``http.response.status_code``, ``server.address``,
    ``server.port``, ``error.type``, ``anyoauth.grant_type`` on token requests, and
    on spans ``url.full`` without query, fragment or userinfo. No header, body or
    query value is ever an attribute: no token, code, secret, assertion or proof.

    Args:
        tracer_provider: where spans go; by default OpenTelemetry's global one.
        meter_provider: where metrics go; by default the global one.

    Needs ``opentelemetry-api`` (``pip install 'anyoauth[otel]'``); without it,
    :class:`ConfigurationError`. Nothing of OpenTelemetry is imported unless a
    :class:`Telemetry` is made.
    """

    def __init__(self, *, tracer_provider: Any = None, meter_provider: Any = None) -> None:
        try:
            from opentelemetry import metrics, trace
            from opentelemetry.trace import SpanKind, Status, StatusCode
        except ImportError:
            raise ConfigurationError(
                "telemetry needs opentelemetry-api: pip install 'anyoauth[otel]'"
            ) from None
        version = _version()
        self._tracer = trace.get_tracer("anyoauth", version, tracer_provider=tracer_provider)
        meter = metrics.get_meter("anyoauth", version or "", meter_provider=meter_provider)
        self._duration = meter.create_histogram(
            "anyoauth.request.duration",
            unit="s",
            description="Duration of a request anyoauth sent, its retries included",
        )
        self._retries = meter.create_counter(
            "anyoauth.request.retries",
            unit="{retry}",
            description="Attempts after the first of the requests anyoauth sent",
        )
        self._kind = SpanKind.CLIENT
        self._error = Status(StatusCode.ERROR)

    def __repr__(self) -> str:
        return "<anyoauth.Telemetry>"

    @contextmanager
    def request(self, kind: str, request: HttpRequest, clock: Any) -> Iterator[Observation]:
        """Observe sending ``request`` (of endpoint ``kind``) inside the block;
        ``clock`` is a monotonic clock in seconds."""
        url, host, port = url_parts(request.url)
        common: dict[str, Any] = {
            "anyoauth.endpoint": kind,
            "http.request.method": request.method,
            "server.address": host,
        }
        if port is not None:
            common["server.port"] = port
        grant = grant_type(request) if kind in ("token", "refresh") else None
        if grant is not None:
            common["anyoauth.grant_type"] = grant
        observation = Observation()
        start = clock()
        with self._tracer.start_as_current_span(
            f"anyoauth {kind}",
            kind=self._kind,
            attributes={**common, "url.full": url},
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            error: str | None = None
            try:
                yield observation
            except BaseException as exc:
                outcome = "unavailable" if isinstance(exc, Exception) else "cancelled"
                error = type(exc).__name__
                raise
            else:
                status = observation.status
                outcome = "ok" if status is not None and status < 400 else "http_error"
                if outcome != "ok":
                    error = str(status)
            finally:
                retries = max(observation.attempts - 1, 0)
                attributes = {**common, "anyoauth.outcome": outcome}
                if observation.status is not None:
                    attributes["http.response.status_code"] = observation.status
                if error is not None:
                    attributes["error.type"] = error
                if span.is_recording():
                    span.set_attributes({**attributes, "anyoauth.retries": retries})
                    if error is not None:
                        span.set_status(self._error)
                self._duration.record(max(clock() - start, 0.0), attributes)
                if retries:
                    self._retries.add(retries, attributes)
