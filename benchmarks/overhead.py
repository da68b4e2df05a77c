"""(1) Per-request overhead with a valid token.

Every contender sends the same ``GET /api/items`` with a valid token, one request after
another, through its own ``AsyncClient`` on the same kind of transport:

- ``MockTransport``: the API and the token endpoint answered in-process, so the time is
  the HTTP client plus the auth layer;
- a real loopback server in another process (h11 on anyio, keep-alive).

Two families, each against its own raw floor: httpx (raw client with a static
``Authorization`` header, ``anyoauth.Client.auth()``, httpx-auth's
``OAuth2ClientCredentials``) and httpx2 (raw client, ``client.auth(httpx2)`` and
authlib's ``AsyncOAuth2Client``, which is built on httpx2 when it is installed). In each
family, ``anyoauth DPoP`` sends a DPoP-bound token with a new proof (ES256) per request.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from types import ModuleType
from typing import Any

import attrs
import httpx

import anyoauth
from anyoauth.providers import Keycloak

from ._common import (
    API_PATH,
    CLIENT_ID,
    CLIENT_SECRET,
    MOCK_IDP,
    REALM,
    TOKEN_PATH,
    make_emulator,
    mock_handler,
)
from ._harness import Batch, compare, interleave

__all__ = ["run"]

TITLE = "Per-request overhead with a valid token"


def _authlib_module() -> ModuleType:
    from authlib.integrations.httpx_client import _compat

    module: ModuleType = _compat.httpx2
    return module


def _batch(get: Callable[[str], Awaitable[Any]], url: str) -> Batch:
    async def batch(n: int) -> float:
        started = time.perf_counter()
        for _ in range(n):
            response = await get(url)
            if response.status_code != 200:
                raise RuntimeError(f"the API answered {response.status_code}")
        return time.perf_counter() - started

    return batch


async def _contenders(
    stack: AsyncExitStack, base: str | None
) -> tuple[dict[str, Batch], dict[str, str]]:
    """The contenders on one transport: in-process when ``base`` is None, else loopback."""
    import httpx2
    from authlib.integrations.httpx_client import AsyncOAuth2Client
    from httpx_auth import OAuth2ClientCredentials

    emulator = make_emulator()
    idp = base or MOCK_IDP
    api_url = (base or "https://api.bench") + API_PATH
    token_url = idp + TOKEN_PATH

    def transport(module: ModuleType) -> Any:
        if base is None:
            return module.MockTransport(mock_handler(emulator, module))
        return module.AsyncHTTPTransport()

    def sync_transport() -> Any:
        if base is None:
            return httpx.MockTransport(mock_handler(emulator, httpx))
        return httpx.HTTPTransport()

    async def client(module: ModuleType, **kwargs: Any) -> Any:
        return await stack.enter_async_context(module.AsyncClient(**kwargs))

    contenders: dict[str, Batch] = {}
    families: dict[str, str] = {}
    for module in (httpx, httpx2):
        name = module.__name__
        # The raw floor: a token fetched once, sent as a static header.
        fetch = await client(module, transport=transport(module))
        answer = await fetch.post(
            token_url, data={"grant_type": "client_credentials"}, auth=(CLIENT_ID, CLIENT_SECRET)
        )
        header = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        raw = await client(module, transport=transport(module), headers=header)
        contenders[f"raw {name}"] = _batch(raw.get, api_url)
        families[f"raw {name}"] = name
        # anyoauth: Client.auth() on a client of the same package.
        strategy = Keycloak(f"{idp}/auth", REALM, CLIENT_ID, CLIENT_SECRET, token_url=token_url)
        oauth = anyoauth.Client(strategy, http=await client(module, transport=transport(module)))
        await oauth.token()
        api = await client(module, transport=transport(module), auth=oauth.auth())
        contenders[f"anyoauth {name}"] = _batch(api.get, api_url)
        families[f"anyoauth {name}"] = name
        # anyoauth with a DPoP-bound token: a new proof (one ES256 signature) per request.
        dpop = await _dpop_client(
            strategy, await oauth.token(), await client(module, transport=transport(module))
        )
        api = await client(module, transport=transport(module), auth=dpop.auth())
        contenders[f"anyoauth DPoP {name}"] = _batch(api.get, api_url)
        families[f"anyoauth DPoP {name}"] = name
    # httpx-auth (httpx only): OAuth2ClientCredentials with its token client on the
    # same transport; the token is fetched by the warm-up's first request.
    token_client = httpx.Client(transport=sync_transport())
    stack.callback(token_client.close)
    auth = OAuth2ClientCredentials(
        token_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, client=token_client
    )
    api = await client(httpx, transport=transport(httpx), auth=auth)
    contenders["httpx-auth"] = _batch(api.get, api_url)
    families["httpx-auth"] = "httpx"
    # authlib: AsyncOAuth2Client (a client of its HTTP package) holding a fetched token.
    module = _authlib_module()
    authlib_client = AsyncOAuth2Client(
        CLIENT_ID,
        CLIENT_SECRET,
        token_endpoint=token_url,
        grant_type="client_credentials",
        transport=transport(module),
    )
    await stack.enter_async_context(authlib_client)
    await authlib_client.fetch_token()
    contenders["authlib"] = _batch(authlib_client.get, api_url)
    families["authlib"] = module.__name__
    return contenders, families


async def _dpop_client(strategy: Any, token: anyoauth.Token, http: Any) -> anyoauth.Client:
    """A client holding ``token`` as a DPoP-bound token of a new ES256 key."""
    key = anyoauth.DPoPKey.generate()
    client = anyoauth.Client(attrs.evolve(strategy, dpop_key=key), http=http)
    bound = attrs.evolve(token, token_type="DPoP", dpop_jkt=key.thumbprint)  # noqa: S106
    await client.set_token(bound)
    return client


def _hook_batch(auth: Any, request: Any, response: Any, before: Any = None) -> Batch:
    """Runs one auth hook (``async_auth_flow``) to completion per operation."""

    async def batch(n: int) -> float:
        started = time.perf_counter()
        for _ in range(n):
            if before is not None:
                await before()
            flow = auth.async_auth_flow(request)
            await flow.__anext__()
            try:
                await flow.asend(response)
            except StopAsyncIteration:
                pass
            else:
                raise RuntimeError("the auth flow asked for a second request")
        return time.perf_counter() - started

    return batch


async def _hooks(stack: AsyncExitStack) -> dict[str, Batch]:
    """The auth layer alone: each contender's per-request hook on a built request.

    raw: the no-op ``Auth()`` httpx runs when a client has no auth (the header is
    already on the request); anyoauth: ``Client.auth()``; httpx-auth: its auth flow;
    authlib: what ``AsyncOAuth2Client.request`` adds, ``ensure_active_token()`` (a lock)
    and its ``OAuth2Auth`` flow.
    """
    from authlib.integrations.httpx_client import AsyncOAuth2Client
    from httpx_auth import OAuth2ClientCredentials

    emulator = make_emulator()
    token_url = MOCK_IDP + TOKEN_PATH
    api_url = "https://api.bench" + API_PATH
    strategy = Keycloak(f"{MOCK_IDP}/auth", REALM, CLIENT_ID, CLIENT_SECRET, token_url=token_url)
    http = await stack.enter_async_context(
        httpx.AsyncClient(transport=httpx.MockTransport(mock_handler(emulator, httpx)))
    )
    oauth = anyoauth.Client(strategy, http=http)
    token = await oauth.token()
    ok = httpx.Response(200)
    raw_request = httpx.Request(
        "GET", api_url, headers={"Authorization": token.authorization_header}
    )
    hooks: dict[str, Batch] = {
        "raw httpx": _hook_batch(httpx.Auth(), raw_request, ok),
        "anyoauth httpx": _hook_batch(oauth.auth(), httpx.Request("GET", api_url), ok),
    }
    dpop = await _dpop_client(strategy, token, http)
    hooks["anyoauth DPoP httpx"] = _hook_batch(dpop.auth(), httpx.Request("GET", api_url), ok)
    token_client = httpx.Client(transport=httpx.MockTransport(mock_handler(emulator, httpx)))
    stack.callback(token_client.close)
    auth = OAuth2ClientCredentials(
        token_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, client=token_client
    )
    hooks["httpx-auth"] = _hook_batch(auth, httpx.Request("GET", api_url), ok)
    module = _authlib_module()
    authlib_client = AsyncOAuth2Client(
        CLIENT_ID,
        CLIENT_SECRET,
        token_endpoint=token_url,
        grant_type="client_credentials",
        transport=module.MockTransport(mock_handler(emulator, module)),
    )
    await stack.enter_async_context(authlib_client)
    await authlib_client.fetch_token()

    async def ensure() -> None:
        await authlib_client.ensure_active_token(authlib_client.token)

    hooks["authlib"] = _hook_batch(
        authlib_client.token_auth, module.Request("GET", api_url), module.Response(200), ensure
    )
    return hooks


async def run(server_url: str, *, quick: bool) -> dict[str, Any]:
    """Both transports; medians of per-request microseconds, ratios to the raw floor."""
    # Short batches, many rounds: a burst of load from elsewhere on the machine spoils
    # one short batch (which the medians ignore) rather than a long one.
    plans = {
        "mock": (None, 200, 15 if quick else 60),
        "loopback": (server_url, 60, 15 if quick else 60),
    }
    groups: dict[str, Any] = {}
    for transport_name, (base, n, rounds) in plans.items():
        async with AsyncExitStack() as stack:
            contenders, families = await _contenders(stack, base)
            samples = await interleave(contenders, rounds=rounds, n=n, warmup=500)
        rows: dict[str, Any] = {}
        for family in ("httpx", "httpx2"):
            members = {k: v for k, v in samples.items() if families[k] == family}
            for name, row in compare(members, f"raw {family}").items():
                rows[name] = {**row, "family": family, "baseline": f"raw {family}"}
        groups[transport_name] = {"requests_per_batch": n, "rounds": rounds, "rows": rows}
    async with AsyncExitStack() as stack:
        hooks = await _hooks(stack)
        rounds = 10 if quick else 30
        samples = await interleave(hooks, rounds=rounds, n=2000, warmup=2000)
    groups["hook"] = {
        "requests_per_batch": 2000,
        "rounds": rounds,
        "rows": {
            name: {
                **row,
                "family": _authlib_module().__name__ if name == "authlib" else "httpx",
                "baseline": "raw httpx",
            }
            for name, row in compare(samples, "raw httpx").items()
        },
    }
    return {
        "title": TITLE,
        "unit": "µs per request",
        "method": (
            "Sequential GETs with a valid token, in short batches. Each round runs one "
            "batch of every contender, in an order that rotates from round to round; "
            "medians over rounds. Ratio: each round's batch against the same round's "
            "raw client of the same package; the median of those ratios, and their "
            "min-max."
        ),
        "groups": groups,
    }
