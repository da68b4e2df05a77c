"""When a token request is sent again: :class:`RetryPolicy` and ``Retry-After``."""

from __future__ import annotations

import email.utils
import math
import random
from collections.abc import Awaitable, Callable

import anyio
import attrs

from ._core.errors import ConfigurationError

__all__ = ["RetryPolicy", "parse_retry_after"]

_MAX_DELTA_DIGITS = 9
"""A ``Retry-After`` of more digits than this (about 31 years) is not a delay."""


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds a ``Retry-After`` header value asks to wait (RFC 9110 10.2.3).

    ``value`` is delay-seconds (``"120"``) or an HTTP date, compared with ``now``
    (seconds since the epoch); a date in the past means no wait. Anything else
    (missing, negative, fractional, garbage) is ``None``: the caller's own backoff.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(text) if len(text) <= _MAX_DELTA_DIGITS else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    try:
        wait = when.timestamp() - now
    except (OverflowError, OSError, ValueError):
        return None
    return max(0.0, wait) if math.isfinite(wait) else None


def _positive(_instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
        raise ConfigurationError(f"{attribute.name} must be a finite number >= 0")


def _attempts(_instance: object, _attribute: attrs.Attribute[int], value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigurationError("attempts must be an integer >= 1")


def _fraction(_instance: object, _attribute: attrs.Attribute[float], value: float) -> None:
    if not (isinstance(value, (int, float)) and 0 <= value <= 1):
        raise ConfigurationError("jitter must be between 0 and 1")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """When :class:`Client` sends a request to the token endpoint again.

    Only what is safe to repeat is retried:

    - a connection that could not be made (refused, unreachable, connect timeout,
      no free pooled connection): the request was never sent;
    - an answer with a status in :attr:`statuses` (HTTP 429 and 503): the server
      says it did not process the request. Its ``Retry-After`` (seconds or an HTTP
      date) is waited; a missing or unreadable one means the backoff;
    - a **refresh** whose answer was lost after it was sent (connection reset,
      truncated answer, read timeout) is sent once more (:attr:`resend_refresh`):
      the server may have rotated the refresh token, so a second loss, or an
      ``invalid_grant``, ends it.

    Never retried: OAuth error answers (4xx with an error object), other 5xx
    statuses, TLS failures, oversized answers, and a code exchange or device poll
    whose answer was lost (a code works once).

    Waits grow exponentially from :attr:`backoff`, each at most :attr:`max_delay`,
    shortened at random by up to :attr:`jitter` of their length so that a fleet of
    clients does not retry in step. Every attempt and wait happens inside the
    client's total ``timeout``: a wait that would overrun it, or a ``Retry-After``
    longer than :attr:`max_delay`, is not made, and the last answer or error stands.
    """

    attempts: int = attrs.field(default=3, validator=_attempts)
    """Most attempts of one request, the first included (1: never retry)."""
    backoff: float = attrs.field(default=0.5, validator=_positive)
    """Seconds before the first retry; each further retry waits twice as long."""
    max_delay: float = attrs.field(default=10.0, validator=_positive)
    """No wait is longer; a server asking for longer (``Retry-After``) is not retried."""
    jitter: float = attrs.field(default=0.5, validator=_fraction)
    """A backoff wait is shortened by a random fraction up to this; a ``Retry-After``
    wait is lengthened by up to ``jitter * backoff`` seconds."""
    statuses: frozenset[int] = attrs.field(default=frozenset({429, 503}), converter=frozenset)
    """HTTP statuses that mean "not processed, try later"."""
    resend_refresh: bool = True
    """Send a refresh once more when its answer was lost after it was sent."""
    sleep: Callable[[float], Awaitable[object]] = attrs.field(
        default=anyio.sleep, eq=False, repr=False
    )
    """Waits the given seconds (tests pass one that records the waits)."""
    rng: Callable[[], float] = attrs.field(default=random.random, eq=False, repr=False)
    """Returns a number in [0, 1) for the jitter (tests pass a constant)."""

    @classmethod
    def none(cls) -> RetryPolicy:
        """A policy that never sends a request twice."""
        return cls(attempts=1, resend_refresh=False)

    def delay(self, retry: int, retry_after: float | None) -> float | None:
        """Seconds to wait before retry number ``retry`` (1 for the first), or ``None``
        when the server asked for a longer wait than :attr:`max_delay`."""
        if retry_after is not None:
            if retry_after > self.max_delay:
                return None
            return retry_after + self.jitter * self.backoff * self.rng()
        wait = min(self.max_delay, self.backoff * 2.0 ** min(retry - 1, 64))
        return wait * (1.0 - self.jitter * self.rng())
