"""Sending anyoauth's own requests: one request, its answer read whole within a deadline
and a size cap, and the retries a :class:`RetryPolicy` allows.

Only the transport the user's ``httpx``/``httpx2`` client would use for a URL is used
(its mounts, proxies, TLS and pool): never its default auth, headers or cookies, never
its event hooks or redirects. A body is asked for uncompressed and a compressed one is
inflated no further than the cap. Transport failures become
:class:`~anyoauth.ServerUnavailable` with what is safe to retry.
"""

from __future__ import annotations

import functools
import logging
import sys
import zlib
from collections.abc import Callable
from types import ModuleType
from typing import Any, Literal

import anyio
import attrs

from ._core.dpop import asks_for_nonce, challenges_for_nonce
from ._core.errors import ServerUnavailable
from ._core.http import HttpRequest
from ._retry import RetryPolicy, parse_retry_after
from ._telemetry import Observation, Telemetry

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "module_of",
    "send_for_answer",
    "send_request",
    "send_with_retries",
]

logger = logging.getLogger("anyoauth")

DEFAULT_MAX_RESPONSE_BYTES = 1 << 20
"""Token responses larger than this are refused without being read whole."""


def module_of(http: object) -> ModuleType:
    """The HTTP package (``httpx`` or ``httpx2``) a client object comes from."""
    return sys.modules[type(http).__module__.partition(".")[0]]


async def send_request(
    http: Any,
    request: HttpRequest,
    deadline: float,
    max_response_bytes: int,
    *,
    telemetry: Telemetry | None = None,
    kind: str = "other",
) -> tuple[int, str | None, bytes]:
    """Send ``request`` with ``http`` (an httpx or httpx2 AsyncClient) within ``deadline``
    seconds, body included; returns the status, content type and body.

    Sent once: redirects are never followed, nothing is retried (:class:`Client`
    retries through its :class:`RetryPolicy`). The body is asked for uncompressed,
    and a compressed one is inflated no further than ``max_response_bytes``.
    Raises :class:`ServerUnavailable` on any transport failure, at the
    deadline, or for a body over ``max_response_bytes`` (refused unread when its
    declared length is over). With ``telemetry``, the request is observed as an
    endpoint of ``kind``.
    """
    if telemetry is None:
        outcome = await _attempt(http, request, deadline, max_response_bytes)
    else:
        with telemetry.request(kind, request, anyio.current_time) as observation:
            observation.attempts = 1
            outcome = await _attempt(http, request, deadline, max_response_bytes)
            if isinstance(outcome, _Failure):
                raise outcome.error from None
            observation.status = outcome.status
    if isinstance(outcome, _Failure):
        raise outcome.error from None
    return outcome.status, outcome.content_type, outcome.body


class _ResponseBody(bytes):
    """A response body; its repr shows only its size (it may hold a token)."""

    def __repr__(self) -> str:
        return f"<{len(self)} bytes>"


class _Buffer(bytearray):
    """A response body being read; its repr shows only its size."""

    def __repr__(self) -> str:
        return f"<{len(self)} bytes>"


@attrs.frozen
class _Answer:
    """One HTTP answer, read whole."""

    status: int
    content_type: str | None
    body: bytes = attrs.field(repr=False)
    retry_after: str | None
    dpop_nonce: str | None = None
    www_authenticate: str | None = None


_Retry = Literal["not sent", "lost", "never"]


@attrs.frozen
class _Failure:
    """One attempt that got no answer. ``retry`` says what is safe: ``"not sent"``
    (the request never left), ``"lost"`` (it may have reached the server), ``"never"``."""

    error: ServerUnavailable
    retry: _Retry


class _TooLarge(Exception):
    pass


class _Undecodable(Exception):
    pass


def _declared_length(headers: Any) -> int | None:
    text = (headers.get("content-length") or "").strip()
    if not (text.isascii() and text.isdigit()):
        return None
    return int(text) if len(text) <= 18 else 1 << 62


def _decompressor(encoding: str | None) -> Any:
    """A zlib decompressor for a ``Content-Encoding`` the server used although asked
    for ``identity``; ``None`` for none. Raises :class:`_Undecodable` for others."""
    name = (encoding or "").strip().lower()
    if name in ("", "identity"):
        return None
    if name in ("gzip", "x-gzip", "deflate"):
        return zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header, detected
    raise _Undecodable(name)


async def _read_body(response: Any, body: bytearray, limit: int) -> None:
    """Read ``response``'s body into ``body``; :class:`_TooLarge` past ``limit`` bytes
    (after decompression: a small compressed body cannot inflate past it)."""
    if response.is_stream_consumed:
        # An answer made in-process (MockTransport), already in memory and decoded.
        body += response.content
        if len(body) > limit:
            raise _TooLarge
        return
    inflate = _decompressor(response.headers.get("content-encoding"))
    chunks = response.aiter_raw()
    async for chunk in chunks:
        try:
            _inflate_into(body, chunk, inflate, limit)
        except zlib.error:
            await _abandon(response, chunks)
            raise
        if len(body) > limit:
            await _abandon(response, chunks)
            raise _TooLarge
    if inflate is not None:
        body += inflate.flush()
        if not inflate.eof:
            raise zlib.error("incomplete compressed body")
    if len(body) > limit:
        raise _TooLarge


def _inflate_into(body: bytearray, chunk: bytes, inflate: Any, limit: int) -> None:
    """Append ``chunk`` to ``body``, inflated if ``inflate``, never past ``limit + 1`` bytes."""
    if inflate is None:
        body += chunk
        return
    while chunk and len(body) <= limit:
        body += inflate.decompress(chunk, limit + 1 - len(body))
        chunk = inflate.unconsumed_tail


_ABANDON_STEPS = 4


async def _abandon(response: Any, chunks: Any) -> None:
    """Stop reading ``response`` half-way: close it, then step its iterator to its end.

    Closing only the outer iterator would leave httpx's nested async generators to
    the garbage collector, and trio warns about each (encode/httpx#3686); once the
    response is closed they end on their next step.
    """
    await response.aclose()
    try:
        for _ in range(_ABANDON_STEPS):
            await chunks.__anext__()
    except StopAsyncIteration:
        pass
    except Exception:  # noqa: S110 - reading a closed response fails: that ends it too
        pass
    finally:
        await chunks.aclose()


def _is_tls_failure(error: BaseException) -> bool:
    import ssl  # loaded on a failure, not with anyoauth

    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _failure(module: ModuleType, exc: Exception) -> _Failure:
    name = type(exc).__name__
    if _is_tls_failure(exc):
        return _Failure(ServerUnavailable(f"TLS failure with the server ({name})"), "never")
    if isinstance(exc, (module.ConnectError, module.ConnectTimeout, module.PoolTimeout)):
        return _Failure(ServerUnavailable(f"server unreachable ({name})"), "not sent")
    if isinstance(
        exc,
        (
            module.ReadError,
            module.WriteError,
            module.ReadTimeout,
            module.WriteTimeout,
            module.RemoteProtocolError,
        ),
    ):
        return _Failure(ServerUnavailable(f"the server's answer was lost ({name})"), "lost")
    return _Failure(ServerUnavailable(f"server unreachable ({name})"), "never")


_TIMEOUT_SLACK = 1.0
"""Seconds past the deadline at which the HTTP client's own timeouts are set."""

_HTTPX_DEFAULT_TIMEOUT = 5.0
"""The timeout of an ``httpx``/``httpx2`` client made without one: overridden per request."""


_USER_AGENT = "anyoauth"
"""The ``User-Agent`` of anyoauth's own requests (never the user's client's)."""


@functools.lru_cache(maxsize=256)
def _parsed_url(module: ModuleType, url: str) -> Any:
    """``module.URL(url)``, parsed once per URL (the token endpoint of every request)."""
    return module.URL(url)


@functools.lru_cache(maxsize=8)
def _timeout_of(module: ModuleType, seconds: float) -> Any:
    """``module.Timeout(seconds)``, made once."""
    return module.Timeout(seconds)


_NOT_PREPARED = frozenset(("host", "content-length", "transfer-encoding"))
"""Headers ``httpx`` works out itself when a strategy did not set them."""

_TIMEOUT_KEYS = ("connect", "read", "write", "pool")


def _own_request(module: ModuleType, http: Any, request: HttpRequest, deadline: float) -> Any:
    """The ``httpx``/``httpx2`` request for ``request``, built from it alone.

    Not ``http.build_request``: that would merge the client's default headers,
    cookies, query parameters and base URL into it, and the user's client may hold an
    app's own credentials there (an API key, a session cookie). The request carries
    only the headers the strategy made, ``Accept-Encoding: identity`` and a
    ``User-Agent`` (unless the strategy set them), and the client's timeouts.
    """
    # The HTTP client's default timeouts (5 s) must not cut the request before the
    # deadline: a read timeout counts as a lost answer, and a lost refresh is resent
    # while the server may be rotating it. They are set a little past the deadline, so
    # the deadline is what stops a slow server. Timeouts the user chose are kept.
    timeout = http.timeout
    if timeout == _timeout_of(module, _HTTPX_DEFAULT_TIMEOUT):
        timeouts = dict.fromkeys(_TIMEOUT_KEYS, deadline + _TIMEOUT_SLACK)
    else:
        timeouts = timeout.as_dict()
    url = _parsed_url(module, request.url)
    content = request.content
    named = {name.lower() for name, _ in request.headers}
    if not content or not url.host or not named.isdisjoint(_NOT_PREPARED):
        return module.Request(
            request.method,
            url,
            headers=_added_headers(list(request.headers), named),
            content=content,
            extensions={"timeout": timeouts},
        )
    # What ``module.Request(..., content=content)`` makes, headers in the same order
    # (Host first, Content-Length last), without working them out again per request.
    headers: list[tuple[Any, Any]] = [(b"Host", url.netloc), *request.headers]
    _added_headers(headers, named)
    headers.append((b"Content-Length", str(len(content)).encode()))
    built = module.Request(
        request.method,
        url,
        headers=headers,
        stream=module.ByteStream(content),
        extensions={"timeout": timeouts},
    )
    built.read()  # in memory already: its content is readable, as with content=
    return built


def _added_headers(headers: list[tuple[Any, Any]], named: set[str]) -> list[tuple[Any, Any]]:
    if "accept-encoding" not in named:
        headers.append(("Accept-Encoding", "identity"))
    if "user-agent" not in named:
        headers.append(("User-Agent", _USER_AGENT))
    return headers


def _late(deadline: float) -> _Failure:
    message = f"no complete answer from the server within {deadline:g} s"
    return _Failure(ServerUnavailable(message), "never")


async def _attempt(
    http: Any,
    request: HttpRequest,
    deadline: float,
    max_response_bytes: int,
    *,
    total: float | None = None,
) -> _Answer | _Failure:
    """Send ``request`` once within ``deadline`` seconds (what is left of the ``total``
    deadline); the answer, or why there is none. Never raises for transport failures
    (the caller decides whether to try again)."""
    module = module_of(http)
    logger.debug("token request: %s %s", request.method, request.url)
    built = _own_request(module, http, request, deadline)
    if http.is_closed:
        raise RuntimeError("Cannot send a request, as the client has been closed.")
    body = _Buffer()
    try:
        # A cancel scope of its own rather than anyio.fail_after (the same, with a
        # generator around it): one per attempt, on the token request's hot path.
        with anyio.CancelScope(deadline=anyio.current_time() + deadline) as scope:
            # The transport the client would use for this URL (its mounts, proxies, TLS
            # and connection pool), and nothing above it: no default auth, headers or
            # cookies, no event hooks, no redirects, and Set-Cookie never reaches its jar.
            response = await http._transport_for_url(built.url).handle_async_request(built)
            try:
                declared = _declared_length(response.headers)
                if declared is not None and declared > max_response_bytes:
                    raise _TooLarge
                await _read_body(response, body, max_response_bytes)
            finally:
                await response.aclose()
    except TimeoutError:
        return _late(total or deadline)
    except _TooLarge:
        message = f"answer larger than {max_response_bytes} bytes"
        return _Failure(ServerUnavailable(message), "never")
    except (_Undecodable, zlib.error):
        message = "token response in an unsupported or broken content encoding"
        return _Failure(ServerUnavailable(message), "never")
    except module.HTTPError as exc:
        return _failure(module, exc)
    if scope.cancelled_caught and anyio.current_time() >= scope.deadline:
        return _late(total or deadline)
    logger.debug("token response: HTTP %d, %d bytes", response.status_code, len(body))
    return _Answer(
        status=response.status_code,
        content_type=response.headers.get("content-type"),
        body=_ResponseBody(body),
        retry_after=response.headers.get("retry-after"),
        dpop_nonce=response.headers.get("dpop-nonce") if request.remember_nonce else None,
        www_authenticate=response.headers.get("www-authenticate"),
    )


async def send_with_retries(
    http: Any,
    request: HttpRequest,
    *,
    deadline: float,
    max_response_bytes: int,
    policy: RetryPolicy,
    clock: Callable[[], float],
    resend: bool,
    telemetry: Telemetry | None = None,
    kind: str = "other",
) -> tuple[int, str | None, bytes]:
    """:func:`send_for_answer`'s answer as its status, content type and body."""
    answer = await send_for_answer(
        http,
        request,
        deadline=deadline,
        max_response_bytes=max_response_bytes,
        policy=policy,
        clock=clock,
        resend=resend,
        telemetry=telemetry,
        kind=kind,
    )
    return answer.status, answer.content_type, answer.body


async def send_for_answer(
    http: Any,
    request: HttpRequest,
    *,
    deadline: float,
    max_response_bytes: int,
    policy: RetryPolicy,
    clock: Callable[[], float],
    resend: bool,
    telemetry: Telemetry | None = None,
    kind: str = "other",
) -> _Answer:
    """Send ``request``, again where ``policy`` says it is safe, all within ``deadline``
    seconds. ``resend``: the request is a refresh, sent once more if its answer is lost.
    With ``telemetry``, the request (every attempt) is observed as an endpoint of
    ``kind`` (:meth:`Telemetry.request`).
    A request that must differ on each attempt (:attr:`HttpRequest.rebuild`: a fresh
    client assertion or DPoP proof) is built again for each retry.

    A request with a DPoP proof hands every ``DPoP-Nonce`` the server answers with to
    :attr:`HttpRequest.remember_nonce`; an answer asking for a nonce (``use_dpop_nonce``,
    RFC 9449 8; or a resource server's ``DPoP`` challenge with that error, RFC 9449 9)
    that brought one is answered once with a new proof carrying it (not counted as a
    retry: the server refused the request without processing it)."""
    if telemetry is None:
        return await _send_for_answer(
            http, request, deadline, max_response_bytes, policy, clock, resend, None
        )
    with telemetry.request(kind, request, anyio.current_time) as observation:
        answer = await _send_for_answer(
            http, request, deadline, max_response_bytes, policy, clock, resend, observation
        )
        observation.status = answer.status
    return answer


async def _send_for_answer(
    http: Any,
    request: HttpRequest,
    deadline: float,
    max_response_bytes: int,
    policy: RetryPolicy,
    clock: Callable[[], float],
    resend: bool,
    observation: Observation | None,
) -> _Answer:
    end = anyio.current_time() + deadline
    attempt = 0
    resent = False
    nonce_retried = False
    first = request
    while True:
        if (attempt > 0 or nonce_retried) and first.rebuild is not None:
            request = first.rebuild(clock())
        attempt += 1
        if observation is not None:
            observation.attempts += 1
        left = max(end - anyio.current_time(), 0.0)
        outcome = await _attempt(http, request, left, max_response_bytes, total=deadline)
        if isinstance(outcome, _Answer) and outcome.dpop_nonce is not None:
            assert request.remember_nonce is not None  # only read for such a request
            request.remember_nonce(outcome.dpop_nonce)
            if (
                not nonce_retried
                and first.rebuild is not None
                and (
                    asks_for_nonce(outcome.status, outcome.body)
                    or challenges_for_nonce(outcome.status, outcome.www_authenticate)
                )
            ):
                nonce_retried = True
                attempt -= 1
                logger.debug("DPoP nonce asked for: request sent again with it")
                continue
        retry_after: float | None = None
        if isinstance(outcome, _Failure):
            retry = outcome.retry == "not sent" or (
                outcome.retry == "lost" and resend and policy.resend_refresh and not resent
            )
            if not retry or attempt >= policy.attempts:
                raise outcome.error from None
            resent = resent or outcome.retry == "lost"
            reason = str(outcome.error)
        else:
            if outcome.status not in policy.statuses or attempt >= policy.attempts:
                return outcome
            retry_after = parse_retry_after(outcome.retry_after, clock())
            reason = f"HTTP {outcome.status}"
        wait = policy.delay(attempt, retry_after)
        if wait is None or anyio.current_time() + wait >= end:
            # Waiting would overrun the deadline (or the server asks too much): stop here.
            if isinstance(outcome, _Failure):
                raise outcome.error from None
            return outcome
        logger.debug("token request to be sent again in %.2f s (%s)", wait, reason)
        await policy.sleep(wait)
