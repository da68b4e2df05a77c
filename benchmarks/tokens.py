"""(8) Token requests without a user: a cold client-credentials fetch and refreshes.

- *cold client credentials*: a client that holds no token gets one. anyoauth: a new
  ``Client`` (``ClientCredentials`` strategy, ``MemoryStore``) on a shared HTTP client,
  then ``token()``; authlib: ``AsyncOAuth2Client.fetch_token(grant_type=
  "client_credentials")`` on one client (its construction is not counted, which favours
  it); the floor: a bare client-credentials POST (``http.post(...)``, ``response.json()``).
- *refresh*: a client holding a token with a refresh token renews it. anyoauth:
  ``Client.refresh()``; authlib: ``AsyncOAuth2Client.refresh_token(...)``; the floor: a
  bare ``grant_type=refresh_token`` POST.

The token endpoint is a ``MockTransport`` giving every contender the same answer.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx

import anyoauth

from ._harness import Batch, compare, interleave
from .login import CLIENT_ID, CLIENT_SECRET, TOKEN_RESPONSE, TOKEN_URL, _transport

__all__ = ["run"]

TITLE = "Token requests without a user"
REFRESH_TOKEN = "tGzv3JOkF0XG5Qx2TlKWIA" * 2


def _timed(call: Callable[[], Awaitable[object]]) -> Batch:
    async def batch(n: int) -> float:
        started = time.perf_counter()
        for _ in range(n):
            await call()
        return time.perf_counter() - started

    return batch


async def _groups(stack: AsyncExitStack) -> dict[str, dict[str, Batch]]:
    from authlib.integrations.httpx_client import AsyncOAuth2Client

    from .overhead import _authlib_module

    http = await stack.enter_async_context(httpx.AsyncClient(transport=_transport(httpx)))
    module = _authlib_module()
    authlib_client = await stack.enter_async_context(
        AsyncOAuth2Client(CLIENT_ID, CLIENT_SECRET, transport=_transport(module))
    )

    def floor(form: dict[str, str]) -> Callable[[], Awaitable[object]]:
        async def post() -> object:
            response = await http.post(TOKEN_URL, data=form, auth=(CLIENT_ID, CLIENT_SECRET))
            if response.status_code != 200:
                raise RuntimeError("the token endpoint refused the floor's request")
            return response.json()

        return post

    credentials = anyoauth.ClientCredentials(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, token_endpoint=TOKEN_URL
    )

    async def anyoauth_cold() -> object:
        return await anyoauth.Client(credentials, http=http).token()

    async def authlib_cold() -> object:
        return await authlib_client.fetch_token(TOKEN_URL, grant_type="client_credentials")

    code = anyoauth.Strategy(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        authorization_endpoint="https://idp.bench/authorize",
        token_endpoint=TOKEN_URL,
        redirect_uri="https://app.bench/callback",
    )
    holder = anyoauth.Client(code, http=http)
    token = code.parse_token_response(200, "application/json", TOKEN_RESPONSE, time.time())
    await holder.set_token(token)

    async def anyoauth_refresh() -> object:
        return await holder.refresh()

    async def authlib_refresh() -> object:
        return await authlib_client.refresh_token(TOKEN_URL, refresh_token=REFRESH_TOKEN)

    authlib_name = f"authlib ({module.__name__})"
    return {
        "cold client credentials": {
            "bare POST httpx": _timed(floor({"grant_type": "client_credentials"})),
            "anyoauth": _timed(anyoauth_cold),
            authlib_name: _timed(authlib_cold),
        },
        "refresh": {
            "bare POST httpx": _timed(
                floor({"grant_type": "refresh_token", "refresh_token": REFRESH_TOKEN})
            ),
            "anyoauth": _timed(anyoauth_refresh),
            authlib_name: _timed(authlib_refresh),
        },
    }


async def run(*, quick: bool) -> dict[str, Any]:
    """Each group's contenders interleaved; ratios to the bare POST of the same round."""
    n, rounds = 100, 10 if quick else 30
    groups: dict[str, Any] = {}
    async with AsyncExitStack() as stack:
        for name, contenders in (await _groups(stack)).items():
            samples = await interleave(contenders, rounds=rounds, n=n, warmup=200)
            rows = compare(samples, "bare POST httpx")
            for row in rows.values():
                row["per_s"] = 1e6 / row["median"]
            groups[name] = {"rows": rows}
    return {
        "title": TITLE,
        "unit": "µs per token",
        "per_batch": n,
        "rounds": rounds,
        "method": (
            "Sequential token requests against a MockTransport token endpoint; batches "
            "interleaved in rotating order; ratio: median of the per-round ratios to the "
            "bare POST's batch of the same round. Cold client credentials: a new anyoauth "
            "Client per token (authlib's client made once); refresh: one client renewing "
            "its token."
        ),
        "groups": groups,
    }
