"""(7) Redirect reading: parse and validate a Geni success URL and a code redirect.

- anyoauth: what ``complete()`` does before any IO: ``Flow.redirect_key`` (exact
  endpoint match, strict parameter parsing, the state's store key) then
  ``receive_redirect`` on the resumed flow (state compared in constant time, binding,
  deadline, provider error, then the token built and validated for Geni, or the code
  exchange request built for the code flow); and, as a breakdown, ``read_redirect``
  alone (endpoint match and parsing);
- authlib: ``parse_implicit_response`` and ``parse_authorization_code_response`` with
  the expected state (authlib requires ``token_type`` in an implicit response, which
  Geni does not send: its URL gets ``&token_type=bearer`` appended, else authlib
  rejects it);
- the stdlib floor: ``urlsplit`` + ``parse_qsl`` + a constant-time state comparison.

Every read is of a different URL (a fresh code or token, as with real redirects): the
contenders take their URLs in turn from the same 4,096, more than ``urlsplit``'s
cache holds, so no contender is timed on a cached parse.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import anyoauth
from anyoauth.providers import GENI_SUCCESS_URL, Geni
from anyoauth.sansio import Flow, PendingFlow

from ._harness import SyncBatch, compare, interleave_sync
from .login import AUTHORIZE_URL, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, TOKEN_URL

__all__ = ["run"]

TITLE = "Redirect reading"
NOW = 1_700_000_000.0
DISTINCT_URLS = 4096
"""URLs each contender cycles through: more than ``urlsplit``'s cache (128) holds."""


def _timed(op: Callable[[], object]) -> SyncBatch:
    def batch(n: int) -> float:
        started = time.perf_counter()
        for _ in range(n):
            op()
        return time.perf_counter() - started

    return batch


def _urls(template: str) -> Iterator[str]:
    """``template`` with ``{value}`` replaced by a fresh token each time, in turn."""
    values = [secrets.token_urlsafe(16) for _ in range(DISTINCT_URLS)]
    return itertools.cycle([template.format(value=value) for value in values])


def _anyoauth(
    strategy: anyoauth.Strategy, pending: PendingFlow, urls: Iterator[str]
) -> Callable[[], object]:
    def op() -> object:
        redirect, _key = Flow.redirect_key(strategy, next(urls))
        return Flow.resume(strategy, pending).receive_redirect(redirect, NOW)

    return op


def _floor(urls: Iterator[str], state: str, *, fragment: bool) -> Callable[[], object]:
    expected = state.encode()

    def op() -> object:
        parts = urlsplit(next(urls))
        params = dict(parse_qsl(parts.fragment if fragment else parts.query))
        if not secrets.compare_digest(params.get("state", "").encode(), expected):
            raise ValueError("state mismatch")
        return params

    return op


def _cases() -> dict[str, dict[str, Callable[[], object]]]:
    from authlib.oauth2.rfc6749.parameters import (
        parse_authorization_code_response,
        parse_implicit_response,
    )

    state = secrets.token_urlsafe(32)
    geni = Geni(CLIENT_ID, scope=["basic", "family"])
    geni_url = f"{GENI_SUCCESS_URL}#access_token={{value}}&expires_in=86400&state={state}"
    geni_pending = PendingFlow(
        state=state, binding=geni.binding, created_at=NOW, expires_at=NOW + 600
    )
    code = anyoauth.Strategy(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        authorization_endpoint=AUTHORIZE_URL,
        token_endpoint=TOKEN_URL,
        redirect_uri=REDIRECT_URI,
    )
    code_url = f"{REDIRECT_URI}?code={{value}}&state={state}"
    code_pending = PendingFlow(
        state=state, binding=code.binding, created_at=NOW, expires_at=NOW + 600
    )
    authlib_geni_url = geni_url + "&token_type=bearer"
    geni_urls, geni_read, authlib_geni = _urls(geni_url), _urls(geni_url), _urls(authlib_geni_url)
    code_urls, code_read, authlib_code = _urls(code_url), _urls(code_url), _urls(code_url)
    return {
        "Geni success URL": {
            "stdlib floor": _floor(_urls(geni_url), state, fragment=True),
            "anyoauth": _anyoauth(geni, geni_pending, geni_urls),
            "anyoauth read_redirect only": lambda: geni.read_redirect(next(geni_read)),
            "authlib": lambda: parse_implicit_response(next(authlib_geni), state),
        },
        "code redirect": {
            "stdlib floor": _floor(_urls(code_url), state, fragment=False),
            "anyoauth": _anyoauth(code, code_pending, code_urls),
            "anyoauth read_redirect only": lambda: code.read_redirect(next(code_read)),
            "authlib": lambda: parse_authorization_code_response(next(authlib_code), state),
        },
    }


def run(*, quick: bool) -> dict[str, Any]:
    """Microseconds per redirect read, interleaved; ratios to the stdlib floor."""
    n, rounds = 2000, 10 if quick else 30
    groups = {}
    for case, ops in _cases().items():
        samples = interleave_sync(
            {name: _timed(op) for name, op in ops.items()}, rounds=rounds, n=n, warmup=2000
        )
        groups[case] = {"rows": compare(samples, "stdlib floor")}
    return {
        "title": TITLE,
        "unit": "µs per redirect",
        "reads_per_batch": n,
        "rounds": rounds,
        "method": (
            f"Batches of {n:,} reads, each of a different URL (a fresh code or token; "
            f"{DISTINCT_URLS:,} URLs in turn, more than urlsplit's cache holds), contenders "
            "interleaved in rotating order; medians over rounds; ratio: median of the "
            "per-round ratios to the stdlib floor's batch of the same round."
        ),
        "groups": groups,
    }
