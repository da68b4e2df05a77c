"""Retries only where safe (docs/security.md, rule 10 and
:class:`anyoauth.RetryPolicy`).

- before the request was sent (connect errors): retried, with capped exponential
  backoff and jitter, within the total deadline and ``attempts``;
- 429/503: retried, honouring ``Retry-After`` as seconds or an HTTP date (garbage means
  the backoff; a wait longer than ``max_delay`` or than the deadline means no retry);
- a refresh that may have reached the server (its answer lost): sent once more, never
  twice; a code exchange never;
- OAuth errors (4xx) and other 5xx: never.

Waits are recorded by an injected ``sleep`` (nothing really waits) and the jitter is
a constant; every test counts the requests the endpoint saw. No wall-clock asserts.
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

import anyoauth
from anyoauth.stores import dump_token
from anyoauth.testing import ManualClock, ProviderEmulator, browse
from support.endpoints import ScriptedEndpoint
from support.internals import parse_retry_after

from . import faultserver as fs
from .common import FRESH, FRESH_BODY, NOW, ORIGINAL, SECRET, Waits, stored, strategy

pytestmark = pytest.mark.anyio

TOKEN_URL = "https://as.example/token"
Answer = Callable[[Any, int], Any]


def ok(m: ModuleType) -> Callable[[Any], Any]:
    return lambda request: m.Response(200, json=FRESH)


def status(m: ModuleType, code: int, retry_after: str | None = None, **kw: Any) -> Any:
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    payload = kw.pop("json", {"error": "temporarily_unavailable"})
    return lambda request: m.Response(code, headers=headers, json=payload)


def refused(m: ModuleType) -> Callable[[Any], Any]:
    return lambda request: m.ConnectError("[Errno 111] Connection refused", request=request)


def lost(m: ModuleType) -> Callable[[Any], Any]:
    return lambda request: m.ReadError("connection reset by peer", request=request)


async def run(
    http_module: ModuleType,
    endpoint: ScriptedEndpoint,
    *,
    waits: Waits | None = None,
    policy: anyoauth.RetryPolicy | None = None,
    deadline: float = 30.0,
) -> tuple[anyoauth.Client, anyoauth.Token | anyoauth.OAuthError]:
    """Refresh :data:`ORIGINAL` through ``endpoint``; the token or the typed error."""
    waits = waits or Waits()
    transport = http_module.MockTransport(endpoint)
    async with http_module.AsyncClient(transport=transport) as http:
        client = anyoauth.Client(
            strategy(TOKEN_URL),
            http=http,
            clock=ManualClock(),
            timeout=deadline,
            retries=policy or waits.policy(),
        )
        await client.set_token(ORIGINAL)
        try:
            with anyio.fail_after(deadline + 10):
                return client, await client.token()
        except anyoauth.OAuthError as exc:
            return client, exc


# -- before the request was sent -------------------------------------------------------------


async def test_a_connect_error_is_retried_with_backoff(http_module: ModuleType) -> None:
    m = http_module
    endpoint = ScriptedEndpoint(m, refused(m), refused(m), ok(m))
    waits = Waits()
    client, result = await run(m, endpoint, waits=waits)
    assert isinstance(result, anyoauth.Token)
    assert result.access_token == FRESH["access_token"]
    assert len(endpoint.requests) == 3
    # backoff 0.5 s, doubled, each shortened by jitter (0.5) x rng (0.5) = 25 %.
    assert waits.waits == [0.375, 0.75]
    assert (await client.store.get_token(client.token_key)) == result


async def test_connect_errors_stop_after_the_attempts(http_module: ModuleType) -> None:
    m = http_module
    endpoint = ScriptedEndpoint(m, refused(m))
    waits = Waits()
    client, result = await run(m, endpoint, waits=waits, policy=waits.policy(attempts=5))
    assert isinstance(result, anyoauth.TokenEndpointUnavailable)
    assert len(endpoint.requests) == 5
    assert waits.waits == [0.375, 0.75, 1.5, 3.0]
    assert await stored(client) == dump_token(ORIGINAL)


async def test_the_backoff_is_capped(http_module: ModuleType) -> None:
    m = http_module
    endpoint = ScriptedEndpoint(m, refused(m))
    waits = Waits()
    policy = waits.policy(attempts=7, backoff=1.0, max_delay=4.0, jitter=0.0)
    await run(m, endpoint, waits=waits, policy=policy)
    assert waits.waits == [1.0, 2.0, 4.0, 4.0, 4.0, 4.0]


async def test_retries_stop_at_the_total_deadline(http_module: ModuleType) -> None:
    """Real (short) waits this time: the deadline, not ``attempts``, ends the retries."""
    m = http_module
    endpoint = ScriptedEndpoint(m, refused(m))
    policy = anyoauth.RetryPolicy(attempts=50, backoff=0.1, jitter=0.0)
    _, result = await run(m, endpoint, policy=policy, deadline=1.0)
    assert isinstance(result, anyoauth.TokenEndpointUnavailable)
    # Waits of 0.1, 0.2, 0.4 fit in 1 s; the next (0.8) would overrun it. (A slow
    # machine may fit one wait fewer: what matters is that the deadline ended it.)
    assert 3 <= len(endpoint.requests) <= 4


# -- 429 and 503 ----------------------------------------------------------------------------


@pytest.mark.parametrize("code", [429, 503])
async def test_429_and_503_are_retried_then_succeed(http_module: ModuleType, code: int) -> None:
    m = http_module
    endpoint = ScriptedEndpoint(m, status(m, code), ok(m))
    waits = Waits()
    _, result = await run(m, endpoint, waits=waits)
    assert isinstance(result, anyoauth.Token)
    assert len(endpoint.requests) == 2
    assert waits.waits == [0.375]


@pytest.mark.parametrize(
    ("retry_after", "wait"),
    [
        ("7", 7.0),
        (" 3 ", 3.0),
        ("0", 0.0),
        (email.utils.formatdate(NOW + 4, usegmt=True), 4.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # a date in the past: no wait
        ("soon", None),
        ("-5", None),
        ("1.5", None),
        ("9" * 40, None),
        ("", None),
    ],
)
async def test_retry_after_is_honoured(
    http_module: ModuleType, retry_after: str, wait: float | None
) -> None:
    m = http_module
    endpoint = ScriptedEndpoint(m, status(m, 429, retry_after), ok(m))
    waits = Waits()
    _, result = await run(m, endpoint, waits=waits)
    assert isinstance(result, anyoauth.Token)
    assert len(endpoint.requests) == 2
    # Retry-After plus up to jitter x backoff (0.5 x 0.5 x rng 0.5); garbage: the backoff.
    assert waits.waits == [0.375 if wait is None else wait + 0.125]


async def test_a_retry_after_longer_than_max_delay_is_not_waited(
    http_module: ModuleType,
) -> None:
    m = http_module
    endpoint = ScriptedEndpoint(m, status(m, 503, "3600"), ok(m))
    waits = Waits()
    client, result = await run(m, endpoint, waits=waits)
    assert isinstance(result, anyoauth.TokenRequestError)
    assert result.status_code == 503
    assert len(endpoint.requests) == 1
    assert waits.waits == []
    assert await stored(client) == dump_token(ORIGINAL)


async def test_a_retry_after_past_the_deadline_is_not_waited(http_module: ModuleType) -> None:
    m = http_module
    endpoint = ScriptedEndpoint(m, status(m, 429, "5"), ok(m))
    waits = Waits()
    _, result = await run(m, endpoint, waits=waits, deadline=2.0)
    assert isinstance(result, anyoauth.TokenRequestError)
    assert len(endpoint.requests) == 1
    assert waits.waits == []


async def test_many_callers_share_one_retrying_refresh(http_module: ModuleType) -> None:
    m = http_module
    endpoint = ScriptedEndpoint(m, status(m, 503), status(m, 429, "1"), ok(m))
    waits = Waits()
    async with m.AsyncClient(transport=m.MockTransport(endpoint)) as http:
        client = anyoauth.Client(
            strategy(TOKEN_URL), http=http, clock=ManualClock(), retries=waits.policy()
        )
        await client.set_token(ORIGINAL)
        tokens: list[anyoauth.Token] = []

        async def call() -> None:
            tokens.append(await client.token())

        async with anyio.create_task_group() as tg:
            for _ in range(200):
                tg.start_soon(call)
    assert len(endpoint.requests) == 3
    assert {t.access_token for t in tokens} == {FRESH["access_token"]}


# -- never retried --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "payload", "error"),
    [
        (400, {"error": "invalid_request"}, anyoauth.TokenRequestError),
        (401, {"error": "invalid_client"}, anyoauth.TokenRequestError),
        (400, {"error": "invalid_scope"}, anyoauth.TokenRequestError),
        (400, {"error": "invalid_grant"}, anyoauth.LoginRequired),
        (500, {"error": "server_error"}, anyoauth.TokenRequestError),
        (502, {"error": "bad_gateway"}, anyoauth.TokenRequestError),
        (504, {"error": "gateway_timeout"}, anyoauth.TokenRequestError),
    ],
)
async def test_oauth_errors_and_other_5xx_are_never_retried(
    http_module: ModuleType, code: int, payload: dict[str, str], error: type[Exception]
) -> None:
    m = http_module
    endpoint = ScriptedEndpoint(m, status(m, code, "1", json=payload), ok(m))
    waits = Waits()
    _, result = await run(m, endpoint, waits=waits)
    assert isinstance(result, error)
    assert len(endpoint.requests) == 1
    assert waits.waits == []


async def test_retries_can_be_turned_off(http_module: ModuleType) -> None:
    m = http_module
    for first in (refused(m), status(m, 503), lost(m)):
        endpoint = ScriptedEndpoint(m, first, ok(m))
        _, result = await run(m, endpoint, policy=anyoauth.RetryPolicy.none())
        assert isinstance(result, anyoauth.OAuthError)
        assert len(endpoint.requests) == 1


# -- a refresh whose answer was lost ------------------------------------------------------------


async def test_a_lost_refresh_is_sent_once_more(http_module: ModuleType) -> None:
    m = http_module
    endpoint = ScriptedEndpoint(m, lost(m), ok(m))
    waits = Waits()
    client, result = await run(m, endpoint, waits=waits)
    assert isinstance(result, anyoauth.Token)
    assert result.refresh_token == FRESH["refresh_token"]
    assert len(endpoint.requests) == 2
    assert endpoint.requests[0].content == endpoint.requests[1].content
    assert await client.store.get_token(client.token_key) == result


async def test_a_refresh_is_never_sent_a_third_time(http_module: ModuleType) -> None:
    m = http_module
    endpoint = ScriptedEndpoint(m, lost(m), lost(m), ok(m))
    client, result = await run(m, endpoint)
    assert isinstance(result, anyoauth.TokenEndpointUnavailable)
    assert len(endpoint.requests) == 2
    assert await stored(client) == dump_token(ORIGINAL)


async def test_a_lost_refresh_counts_against_the_attempts(http_module: ModuleType) -> None:
    m = http_module
    endpoint = ScriptedEndpoint(m, refused(m), refused(m), lost(m), ok(m))
    waits = Waits()
    _, result = await run(m, endpoint, waits=waits, policy=waits.policy(attempts=3))
    assert isinstance(result, anyoauth.TokenEndpointUnavailable)
    assert len(endpoint.requests) == 3


async def test_resend_refresh_can_be_turned_off(http_module: ModuleType) -> None:
    m = http_module
    endpoint = ScriptedEndpoint(m, lost(m), ok(m))
    waits = Waits()
    _, result = await run(m, endpoint, waits=waits, policy=waits.policy(resend_refresh=False))
    assert isinstance(result, anyoauth.TokenEndpointUnavailable)
    assert len(endpoint.requests) == 1


async def test_a_lost_code_exchange_is_never_resent(http_module: ModuleType) -> None:
    m = http_module
    endpoint = ScriptedEndpoint(m, lost(m), ok(m))
    async with m.AsyncClient(transport=m.MockTransport(endpoint)) as http:
        client = anyoauth.Client(
            strategy(TOKEN_URL), http=http, clock=ManualClock(), retries=Waits().policy()
        )
        start = await client.begin()
        with pytest.raises(anyoauth.TokenEndpointUnavailable):
            await client.complete(f"https://app.example/callback?code=C&state={start.state}")
    assert len(endpoint.requests) == 1
    assert await stored(client) is None


async def test_a_refresh_the_server_processed_but_whose_answer_was_lost(
    http_module: ModuleType,
) -> None:
    """On a real port: the emulator rotates the refresh token, the answer is reset half
    way; the client resends once, the server refuses the spent token, and the client
    says so with a typed error (LoginRequired) after exactly two refresh requests."""
    provider = ProviderEmulator(oauth_refresh_reuse_revokes=True)
    redirect = "http://127.0.0.1:9/callback"
    provider.add_oauth_client("app", client_secret=SECRET, redirect_uris=[redirect])
    async with (
        fs.fault_server(default=fs.emulator(provider)) as server,
        http_module.AsyncClient() as http,
    ):
        endpoints = provider.endpoints_oauth(server.url)
        client = anyoauth.Client(
            anyoauth.AuthorizationCode(
                client_id="app",
                client_secret=SECRET,
                redirect_uri=redirect,
                authorization_endpoint=endpoints["authorization_endpoint"],
                token_endpoint=endpoints["token_endpoint"],
            ),
            http=http,
            retries=Waits().policy(),
        )
        start = await client.begin()
        token = await client.complete(await browse(http, start.url))
        assert token.refresh_token
        server.script.append(fs.processed_then_reset(provider))
        before = provider.calls["oauth.token"]
        with pytest.raises(anyoauth.LoginRequired) as raised:
            await client.token(rejected=token)
        assert provider.calls["oauth.token"] - before == 2
        assert isinstance(raised.value.__cause__, anyoauth.TokenRequestError)
        assert raised.value.__cause__.error == "invalid_grant"
        # The spent token is gone: the server revoked its whole family on reuse.
        assert await stored(client) is None
        assert not provider.is_valid_token(token.access_token)


async def test_on_loopback_503_then_success(http_module: ModuleType) -> None:
    waits = Waits()
    async with (
        fs.fault_server(
            fs.json_answer(
                503, {"error": "temporarily_unavailable"}, headers=[("Retry-After", "1")]
            ),
            fs.close_silently(),
            default=fs.respond(200, FRESH_BODY),
        ) as server,
        http_module.AsyncClient() as http,
    ):
        client = anyoauth.Client(
            strategy(server.url + "/token"), http=http, clock=ManualClock(), retries=waits.policy()
        )
        await client.set_token(ORIGINAL)
        token = await client.token()
    assert token.access_token == FRESH["access_token"]
    assert len(server.requests) == 3  # 503, then a lost answer, then the token
    assert waits.waits == [1.125, 0.75]


# -- the policy itself ----------------------------------------------------------------------------


def test_parse_retry_after() -> None:
    assert parse_retry_after("120", NOW) == 120.0
    assert parse_retry_after(email.utils.formatdate(NOW + 30, usegmt=True), NOW) == 30.0
    assert parse_retry_after(email.utils.formatdate(NOW - 30, usegmt=True), NOW) == 0.0
    assert parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", NOW) == 0.0
    for garbage in (None, "", "soon", "-1", "1e3", "1.5", "١٢", "Mon, 99 Foo 2024 99:99:99 GMT"):
        assert parse_retry_after(garbage, NOW) is None


@given(st.text(max_size=80))
def test_parse_retry_after_never_raises(value: str) -> None:
    wait = parse_retry_after(value, NOW)
    assert wait is None or (math.isfinite(wait) and wait >= 0)


@given(
    retry=st.integers(min_value=1, max_value=10_000),
    retry_after=st.none() | st.floats(min_value=0, max_value=1e9),
    rng=st.floats(min_value=0, max_value=1, exclude_max=True),
    backoff=st.floats(min_value=0, max_value=100),
    max_delay=st.floats(min_value=0, max_value=100),
    jitter=st.floats(min_value=0, max_value=1),
)
def test_waits_are_bounded(
    retry: int,
    retry_after: float | None,
    rng: float,
    backoff: float,
    max_delay: float,
    jitter: float,
) -> None:
    policy = anyoauth.RetryPolicy(
        backoff=backoff, max_delay=max_delay, jitter=jitter, rng=lambda: rng
    )
    wait = policy.delay(retry, retry_after)
    if retry_after is not None and retry_after > max_delay:
        assert wait is None
        return
    assert wait is not None
    assert 0 <= wait <= max_delay + jitter * backoff
    if retry_after is not None:
        assert wait >= retry_after  # never sooner than the server asked


@pytest.mark.parametrize(
    "options",
    [{"attempts": 0}, {"attempts": 1.5}, {"backoff": -1}, {"max_delay": math.inf}, {"jitter": 2}],
)
def test_bad_policies_are_configuration_errors(options: dict[str, Any]) -> None:
    with pytest.raises(anyoauth.ConfigurationError):
        anyoauth.RetryPolicy(**options)


def test_the_default_policy_is_conservative() -> None:
    policy = anyoauth.RetryPolicy()
    assert policy.attempts == 3
    assert policy.statuses == {429, 503}
    assert policy.resend_refresh
    assert anyoauth.RetryPolicy.none().attempts == 1
    assert not anyoauth.RetryPolicy.none().resend_refresh
    assert "sleep" not in repr(policy)
