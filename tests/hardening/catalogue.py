"""The catalogue of token endpoint faults, in-process (:class:`Endpoint`, a MockTransport
handler) and on the wire (:func:`wire_fault`, for ``faultserver``)."""

from __future__ import annotations

import email.utils
import functools
import gzip
import json
import ssl
from collections.abc import Iterable
from types import ModuleType
from typing import Any

import anyio
import attrs

import anyoauth
from support.endpoints import ScriptedEndpoint

from . import faultserver as fs
from .common import FRESH, FRESH_BODY, NOW

DEADLINE = 5.0
"""The client's total deadline in most cases (short ones use their own)."""
GUARD = 10.0
"""The test's own deadline on top of the client's: the client must give up first."""
BIG = 50 * 1024 * 1024
PIECE = 64 * 1024
HTML = "<!DOCTYPE html><html><body><h1>Bad Gateway</h1></body></html>"


@functools.cache
def gzip_bomb() -> bytes:
    """50 MB of zeros, gzip-compressed to about 50 kB."""
    return gzip.compress(b"0" * BIG, compresslevel=9)


def http_date(at: float) -> str:
    return email.utils.formatdate(at, usegmt=True)


@attrs.frozen
class Case:
    """One fault: what the endpoint does, the error the client must raise, and how many
    requests a refresh makes under the default retry policy."""

    name: str
    error: type[anyoauth.OAuthError]
    requests: int
    timeout: float = DEADLINE


CASES = [
    Case("500", anyoauth.TokenRequestError, 1),
    Case("502-html", anyoauth.InvalidTokenResponse, 1),
    Case("503", anyoauth.TokenRequestError, 3),
    Case("429-retry-after-seconds", anyoauth.TokenRequestError, 3),
    Case("429-retry-after-date", anyoauth.InvalidTokenResponse, 3),
    Case("429-retry-after-garbage", anyoauth.InvalidTokenResponse, 3),
    Case("connection-refused", anyoauth.TokenEndpointUnavailable, 3),
    Case("tls-failure", anyoauth.TokenEndpointUnavailable, 1),
    Case("read-timeout", anyoauth.TokenEndpointUnavailable, 2),
    Case("reset-mid-body", anyoauth.TokenEndpointUnavailable, 2),
    Case("truncated-body", anyoauth.TokenEndpointUnavailable, 2),
    Case("closed-without-answer", anyoauth.TokenEndpointUnavailable, 2),
    Case("slow-loris", anyoauth.TokenEndpointUnavailable, 1, timeout=0.5),
    Case("html-200", anyoauth.InvalidTokenResponse, 1),
    Case("html-400", anyoauth.InvalidTokenResponse, 1),
    Case("truncated-json", anyoauth.InvalidTokenResponse, 1),
    Case("json-array", anyoauth.InvalidTokenResponse, 1),
    Case("bad-expires-in", anyoauth.InvalidTokenResponse, 1),
    Case("50mb-declared", anyoauth.TokenEndpointUnavailable, 1),
    Case("50mb-chunked", anyoauth.TokenEndpointUnavailable, 1),
    Case("gzip-bomb", anyoauth.TokenEndpointUnavailable, 1),
]
IDS = [case.name for case in CASES]


class Endpoint(ScriptedEndpoint):
    """A scripted endpoint that answers every request with the fault ``name`` and counts
    the body bytes pulled from it."""

    def __init__(self, module: ModuleType, name: str) -> None:
        super().__init__(module, self.fault)
        self.name = name
        self.pulled = 0

    def stream(
        self, chunks: Iterable[bytes], then: Exception | None = None, interval: float = 0.0
    ) -> Any:
        """A response body that yields ``chunks`` (one every ``interval`` seconds), then
        raises ``then``; like a network stream, it ends once closed."""
        endpoint = self

        class Body(self.module.AsyncByteStream):  # type: ignore[name-defined,misc]
            def __init__(self) -> None:
                self.closed = False
                self.chunks = iter(chunks)

            def __aiter__(self) -> Body:
                return self

            async def __anext__(self) -> bytes:
                if interval:
                    await anyio.sleep(interval)
                chunk = next(self.chunks, None) if not self.closed else None
                if chunk is None:
                    if then is not None and not self.closed:
                        raise then
                    raise StopAsyncIteration
                endpoint.pulled += len(chunk)
                return chunk

            async def aclose(self) -> None:
                self.closed = True

        return Body()

    def zeros(self, size: int) -> Any:
        return self.stream(b"x" * min(PIECE, size - at) for at in range(0, size, PIECE))

    def fault(self, request: Any) -> Any:
        """The answer of fault :attr:`name` to ``request`` (raised if it is an error)."""
        m, name = self.module, self.name
        json_type = {"content-type": "application/json"}
        if name == "500":
            return m.Response(500, json={"error": "server_error"})
        if name == "502-html":
            return m.Response(502, html=HTML)
        if name == "503":
            return m.Response(503, json={"error": "temporarily_unavailable"})
        if name == "429-retry-after-seconds":
            return m.Response(429, headers={"Retry-After": "2"}, json={"error": "slow_down"})
        if name == "429-retry-after-date":
            return m.Response(429, headers={"Retry-After": http_date(NOW + 3)}, text="Slow down")
        if name == "429-retry-after-garbage":
            return m.Response(429, headers={"Retry-After": "soon, maybe"}, text="")
        if name == "connection-refused":
            raise m.ConnectError("[Errno 111] Connection refused", request=request)
        if name == "tls-failure":
            cause = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
            raise m.ConnectError("[SSL: WRONG_VERSION_NUMBER]", request=request) from cause
        if name == "read-timeout":
            raise m.ReadTimeout("timed out", request=request)
        if name in ("reset-mid-body", "truncated-body"):
            kind = m.ReadError if name == "reset-mid-body" else m.RemoteProtocolError
            error = kind("peer went away", request=request)
            half = [FRESH_BODY[: len(FRESH_BODY) // 2]]
            length = {"content-length": str(len(FRESH_BODY))}
            return m.Response(
                200, headers={**json_type, **length}, content=self.stream(half, error)
            )
        if name == "closed-without-answer":
            raise m.RemoteProtocolError("Server disconnected without sending a response.")
        if name == "slow-loris":
            return m.Response(
                200, headers=json_type, stream=self.stream([b" "] * 10_000, interval=0.02)
            )
        if name == "html-200":
            return m.Response(200, html=HTML)
        if name == "html-400":
            return m.Response(400, html=HTML)
        if name == "truncated-json":
            return m.Response(200, headers=json_type, content=FRESH_BODY[:25])
        if name == "json-array":
            return m.Response(200, json=[FRESH])
        if name == "bad-expires-in":
            return m.Response(200, json={**FRESH, "expires_in": "soon"})
        if name == "50mb-declared":
            length = {"content-length": str(BIG)}
            return m.Response(200, headers={**json_type, **length}, stream=self.zeros(BIG))
        if name == "50mb-chunked":
            return m.Response(200, headers=json_type, stream=self.zeros(BIG))
        if name == "gzip-bomb":
            bomb = gzip_bomb()
            pieces = [bomb[i : i + PIECE] for i in range(0, len(bomb), PIECE)]
            headers = {**json_type, "content-encoding": "gzip"}
            return m.Response(200, headers=headers, stream=self.stream(pieces))
        raise AssertionError(name)


def wire_fault(name: str) -> fs.Fault:
    if name == "500":
        return fs.json_answer(500, {"error": "server_error"})
    if name == "502-html":
        return fs.respond(502, HTML, content_type="text/html")
    if name == "503":
        return fs.json_answer(503, {"error": "temporarily_unavailable"})
    if name == "429-retry-after-seconds":
        return fs.json_answer(429, {"error": "slow_down"}, headers=[("Retry-After", "2")])
    if name == "429-retry-after-date":
        date = [("Retry-After", http_date(NOW + 3))]
        return fs.respond(429, "Slow down", content_type="text/plain", headers=date)
    if name == "429-retry-after-garbage":
        return fs.respond(429, "", content_type=None, headers=[("Retry-After", "soon, maybe")])
    if name in ("read-timeout",):
        return fs.hang()
    if name == "reset-mid-body":
        return fs.reset_mid_body(FRESH_BODY)
    if name == "truncated-body":
        return fs.truncated(FRESH_BODY)
    if name == "closed-without-answer":
        return fs.close_silently()
    if name == "slow-loris":
        return fs.slow_loris(0.05)
    if name == "html-200":
        return fs.respond(200, HTML, content_type="text/html")
    if name == "html-400":
        return fs.respond(400, HTML, content_type="text/html")
    if name == "truncated-json":
        return fs.respond(200, FRESH_BODY[:25])
    if name == "json-array":
        return fs.respond(200, json.dumps([FRESH]))
    if name == "bad-expires-in":
        return fs.respond(200, json.dumps({**FRESH, "expires_in": "soon"}))
    if name == "50mb-declared":
        return fs.huge(BIG, declared=True)
    if name == "50mb-chunked":
        return fs.huge(BIG, declared=False)
    if name == "gzip-bomb":
        return fs.respond(200, gzip_bomb(), headers=[("Content-Encoding", "gzip")])
    if name == "tls-failure":
        return fs.respond(200, FRESH_BODY)  # never reached: the client speaks TLS
    raise AssertionError(name)
