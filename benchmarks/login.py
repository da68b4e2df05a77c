"""(4) Login throughput: begin() + complete() of the authorization code flow.

One login = build the authorization request (state, URL, pending flow saved), then read
the redirect the provider would send back (``?code=...&state=...``), check its state and
exchange the code at the token endpoint. The token endpoint is a ``MockTransport``
answering a fixed token response, the same for every contender; the user's trip to the
provider is not part of it.

Every login uses PKCE (S256), the recommended setup, on every side.

- anyoauth: a standard code-flow ``Strategy`` with PKCE (form POST, HTTP Basic client auth) with
  a ``MemoryStore``, the same with a ``RedisStore`` on a real redis-server, the same
  pushing its authorization request first (PAR, RFC 9126: one more POST per login), the
  same with PAR and a DPoP key (an ES256 proof on the push and on the code exchange),
  and the Teamwork preset (JSON POST) with a ``MemoryStore``;
- authlib: ``create_authorization_url(code_verifier=...)`` (``code_challenge_method``
  S256) + ``fetch_token(authorization_response=..., state=..., code_verifier=...)``, the
  state and verifier kept in a dict as a web session would keep them;
- the floor: a bare token POST with the same form (``code_verifier`` included;
  ``http.post(...)`` and ``response.json()``), nothing else, on httpx and on httpx2.

Two more rows time parts of an anyoauth login alone, to show where its time goes: the
code exchange request through anyoauth's sending path (``send_request``, the same
request a login sends), and the three Redis commands a login makes with a
``RedisStore`` (``SET`` of the pending flow, ``GETDEL`` of it, the token's write script).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from types import ModuleType
from typing import Any

import attrs
import httpx

import anyoauth
from anyoauth._http import DEFAULT_MAX_RESPONSE_BYTES, send_request
from anyoauth.providers import Teamwork
from anyoauth.sansio import Flow

from ._harness import Batch, compare, interleave

__all__ = ["run"]

TITLE = "Login throughput"
SEND_ONLY = "part: anyoauth token request alone"
REDIS_ONLY = "part: RedisStore's 3 commands alone"
AUTHORIZE_URL = "https://idp.bench/authorize"
TOKEN_URL = "https://idp.bench/token"
PAR_URL = "https://idp.bench/par"
PAR_RESPONSE = json.dumps(
    {"request_uri": "urn:ietf:params:oauth:request_uri:bK9qH3wVx2", "expires_in": 60}
).encode()
REDIRECT_URI = "https://app.bench/callback"
CLIENT_ID = "bench-app"
CLIENT_SECRET = "bench-app-secret"
CODE = "SplxlOBeZQQYbYS6WxSbIA"
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
"""A PKCE code verifier (RFC 7636 appendix B), sent by the floor's POST as logins send one."""
TOKEN_RESPONSE = json.dumps(
    {
        "access_token": "2YotnFZFEjr1zCsicMWpAA" * 4,
        "token_type": "Bearer",
        "expires_in": 3600,
        "refresh_token": "tGzv3JOkF0XG5Qx2TlKWIA" * 2,
        "scope": "read write",
    }
).encode()


def _transport(module: ModuleType) -> Any:
    def handler(request: Any) -> Any:
        if request.method != "POST" or not request.content:
            return module.Response(400)
        if request.url.path == "/par":
            return module.Response(
                201, headers=[("content-type", "application/json")], content=PAR_RESPONSE
            )
        return module.Response(
            200, headers=[("content-type", "application/json")], content=TOKEN_RESPONSE
        )

    return module.MockTransport(handler)


def _timed(login: Callable[[], Awaitable[None]]) -> Batch:
    async def batch(n: int) -> float:
        started = time.perf_counter()
        for _ in range(n):
            await login()
        return time.perf_counter() - started

    return batch


def _anyoauth(client: anyoauth.Client) -> Batch:
    async def login() -> None:
        start = await client.begin()
        await client.complete(f"{REDIRECT_URI}?code={CODE}&state={start.state}")

    return _timed(login)


def _send_only(strategy: anyoauth.Strategy, http: Any) -> Callable[[], Awaitable[None]]:
    """The code exchange of a login, through anyoauth's sending path, nothing else."""
    pending = Flow(strategy).start(time.time()).pending
    request = strategy.code_exchange_request(CODE, pending, now=time.time())

    async def send() -> None:
        status, _content_type, _body = await send_request(
            http, request, 30.0, DEFAULT_MAX_RESPONSE_BYTES
        )
        if status != 200:
            raise RuntimeError("the token endpoint refused the request")

    return send


def _redis_commands(
    strategy: anyoauth.Strategy, store: anyoauth.RedisStore
) -> Callable[[], Awaitable[None]]:
    """The store calls of one login: put_pending, take_pending, set_token."""
    pending = Flow(strategy).start(time.time()).pending
    token = strategy.parse_token_response(200, "application/json", TOKEN_RESPONSE, time.time())

    async def commands() -> None:
        await store.put_pending("pending:bench-part", pending)
        if await store.take_pending("pending:bench-part") is None:
            raise RuntimeError("the pending flow was lost")
        await store.set_token("token:bench-part", token)

    return commands


async def _contenders(stack: AsyncExitStack, redis_url: str | None) -> dict[str, Batch]:
    import httpx2
    from authlib.common.security import generate_token
    from authlib.integrations.httpx_client import AsyncOAuth2Client

    from .overhead import _authlib_module

    standard = anyoauth.Strategy(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        authorization_endpoint=AUTHORIZE_URL,
        token_endpoint=TOKEN_URL,
        redirect_uri=REDIRECT_URI,
        uses_pkce=True,
    )
    teamwork = Teamwork(
        CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, login_url=AUTHORIZE_URL, token_url=TOKEN_URL
    )

    async def http(module: ModuleType) -> Any:
        return await stack.enter_async_context(module.AsyncClient(transport=_transport(module)))

    contenders: dict[str, Batch] = {}
    for module in (httpx, httpx2):
        bare = await http(module)

        async def floor(bare: Any = bare) -> None:
            response = await bare.post(
                TOKEN_URL,
                data={
                    "grant_type": "authorization_code",
                    "code": CODE,
                    "redirect_uri": REDIRECT_URI,
                    "code_verifier": VERIFIER,
                },
                auth=(CLIENT_ID, CLIENT_SECRET),
            )
            if response.status_code != 200:
                raise RuntimeError("the token endpoint refused the floor's request")
            response.json()

        contenders[f"bare POST {module.__name__}"] = _timed(floor)
    memory = anyoauth.Client(standard, anyoauth.MemoryStore(), http=await http(httpx))
    contenders["anyoauth MemoryStore"] = _anyoauth(memory)
    if redis_url is not None:
        store = await stack.enter_async_context(
            anyoauth.RedisStore(redis_url, prefix="bench-login:")
        )
        contenders["anyoauth RedisStore"] = _anyoauth(
            anyoauth.Client(standard, store, http=await http(httpx))
        )
        contenders[REDIS_ONLY] = _timed(_redis_commands(standard, store))
    contenders[SEND_ONLY] = _timed(_send_only(standard, await http(httpx)))
    contenders["anyoauth Teamwork MemoryStore"] = _anyoauth(
        anyoauth.Client(teamwork, anyoauth.MemoryStore(), http=await http(httpx))
    )
    pushed = attrs.evolve(
        standard, pushed_authorization_request_endpoint=PAR_URL, push_authorization_request=True
    )
    contenders["anyoauth PAR MemoryStore"] = _anyoauth(
        anyoauth.Client(pushed, anyoauth.MemoryStore(), http=await http(httpx))
    )
    contenders["anyoauth PAR + DPoP MemoryStore"] = _anyoauth(
        anyoauth.Client(
            attrs.evolve(pushed, dpop_key=anyoauth.DPoPKey.generate()),
            anyoauth.MemoryStore(),
            http=await http(httpx),
        )
    )
    contenders["anyoauth MemoryStore httpx2"] = _anyoauth(
        anyoauth.Client(standard, anyoauth.MemoryStore(), http=await http(httpx2))
    )
    module = _authlib_module()
    authlib_client = AsyncOAuth2Client(
        CLIENT_ID,
        CLIENT_SECRET,
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        transport=_transport(module),
    )
    await stack.enter_async_context(authlib_client)
    sessions: dict[str, str] = {}

    async def authlib_login() -> None:
        verifier = generate_token(48)
        _url, state = authlib_client.create_authorization_url(AUTHORIZE_URL, code_verifier=verifier)
        sessions[state] = verifier
        redirect = f"{REDIRECT_URI}?code={CODE}&state={state}"
        kept = sessions.pop(state, None)
        await authlib_client.fetch_token(
            TOKEN_URL,
            authorization_response=redirect,
            state=state if kept else None,
            code_verifier=kept,
        )

    contenders[f"authlib ({module.__name__})"] = _timed(authlib_login)
    return contenders


async def run(redis_url: str | None, *, quick: bool) -> dict[str, Any]:
    """Logins per second of every contender, interleaved; ratios to the bare POST."""
    n, rounds = 100, 10 if quick else 30
    async with AsyncExitStack() as stack:
        contenders = await _contenders(stack, redis_url)
        samples = await interleave(contenders, rounds=rounds, n=n, warmup=200)
    rows = compare(samples, "bare POST httpx")
    against_httpx2 = compare(samples, "bare POST httpx2")
    for name, row in rows.items():
        row["logins_per_s"] = 1e6 / row["median"]
        row["ratio_httpx2_floor"] = against_httpx2[name]["ratio"]
    return {
        "title": TITLE,
        "unit": "µs per login",
        "logins_per_batch": n,
        "rounds": rounds,
        "method": (
            "Sequential logins with PKCE S256 (begin + complete, or the peer's equivalent) "
            "against a "
            "MockTransport token endpoint; batches interleaved in rotating order; medians "
            "over rounds; ratio: median of the per-round ratios to the bare POST's batch "
            "of the same round."
        ),
        "rows": rows,
    }
