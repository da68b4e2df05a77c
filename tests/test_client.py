"""The async driver against scripted token endpoints (httpx/httpx2 MockTransport)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from types import ModuleType
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import anyoauth
from anyoauth.providers import BankOfGeorgia, Geni, Teamwork

pytestmark = pytest.mark.anyio

SECRET = "s3cret-SENTINEL-value"
REDIRECT = "https://app.example/callback"


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Endpoint:
    """A scripted token endpoint that counts requests."""

    def __init__(self, http_module: ModuleType, answer: Callable[[Any], Any]) -> None:
        self.http_module = http_module
        self.answer = answer
        self.requests: list[Any] = []

    async def __call__(self, request: Any) -> Any:
        self.requests.append(request)
        await anyio.lowlevel.checkpoint()
        return self.answer(request)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ok_payload() -> dict[str, Any]:
    return {
        "access_token": "AT-SENTINEL",
        "token_type": "bearer",
        "expires_in": 300,
        "refresh_expires_in": 0,
        "not-before-policy": 0,
        "scope": "corp",
        "app_id": "42",
    }


@pytest.fixture
async def http(http_module: ModuleType) -> AsyncIterator[Any]:
    holder: dict[str, Callable[[Any], Any]] = {}

    async def route(request: Any) -> Any:
        return await holder["handler"](request)

    async with http_module.AsyncClient(transport=http_module.MockTransport(route)) as client:
        client.route = holder
        yield client


def use(http: Any, endpoint: Endpoint) -> Endpoint:
    http.route["handler"] = endpoint
    return endpoint


def bog() -> anyoauth.Strategy:
    return BankOfGeorgia("bog-client", SECRET, redirect_uri="https://app.example/bog")


def teamwork() -> anyoauth.Strategy:
    return Teamwork("tw-client", SECRET, REDIRECT)


# -- state validation: every bad redirect fails before any token request -------------


async def test_complete_exchanges_code_once(
    http: Any, http_module: ModuleType, clock: Clock
) -> None:
    tw = {"access_token": "tkn.v1_SENTINEL", "status": "ok", "installation": {"id": 1}}
    endpoint = use(http, Endpoint(http_module, lambda r: http_module.Response(200, json=tw)))
    client = anyoauth.Client(teamwork(), http=http, clock=clock)
    start = await client.begin()
    token = await client.complete(f"{REDIRECT}?code=CODE-1&state={start.state}")
    assert token.access_token == "tkn.v1_SENTINEL"
    assert token.expires_at is None
    assert token.extra["installation"] == {"id": 1}
    assert len(endpoint.requests) == 1
    body = json.loads(endpoint.requests[0].content)
    assert body == {
        "code": "CODE-1",
        "client_id": "tw-client",
        "client_secret": SECRET,
        "redirect_uri": REDIRECT,
    }
    assert await client.token() == token
    clock.now += 10 * 365 * 86400
    assert await client.token() == token  # no expiry: valid until revoked


@pytest.mark.parametrize(
    ("make_url", "error"),
    [
        (lambda state: f"{REDIRECT}?code=C", anyoauth.StateMissing),
        (lambda state: f"{REDIRECT}?code=C&state=not-{state}", anyoauth.StateMismatch),
        (
            lambda state: f"https://evil.example/callback?code=C&state={state}",
            anyoauth.RedirectMismatch,
        ),
        (
            lambda state: f"https://app.example@evil.example/callback?code=C&state={state}",
            anyoauth.RedirectMismatch,
        ),
        (lambda state: f"{REDIRECT}?state={state}", anyoauth.MalformedRedirect),
        (lambda state: f"{REDIRECT}?code=C&code=D&state={state}", anyoauth.MalformedRedirect),
        (
            lambda state: f"{REDIRECT}?error=access_denied&state={state}",
            anyoauth.AuthorizationDenied,
        ),
    ],
)
async def test_bad_redirects_send_no_token_request(
    http: Any,
    http_module: ModuleType,
    clock: Clock,
    make_url: Callable[[str], str],
    error: type[Exception],
) -> None:
    endpoint = use(http, Endpoint(http_module, lambda r: http_module.Response(500)))
    client = anyoauth.Client(teamwork(), http=http, clock=clock)
    start = await client.begin()
    with pytest.raises(error):
        await client.complete(make_url(start.state))
    assert endpoint.requests == []
    assert await client.store.get_token(client.token_key) is None


async def test_state_is_single_use(http: Any, http_module: ModuleType, clock: Clock) -> None:
    payload = {"access_token": "tkn.v1_x", "status": "ok"}
    endpoint = use(http, Endpoint(http_module, lambda r: http_module.Response(200, json=payload)))
    client = anyoauth.Client(teamwork(), http=http, clock=clock)
    start = await client.begin()
    url = f"{REDIRECT}?code=C&state={start.state}"
    await client.complete(url)
    with pytest.raises(anyoauth.StateMismatch):
        await client.complete(url)
    assert len(endpoint.requests) == 1


async def test_a_failed_redirect_consumes_the_state(
    http: Any, http_module: ModuleType, clock: Clock
) -> None:
    endpoint = use(http, Endpoint(http_module, lambda r: http_module.Response(500)))
    client = anyoauth.Client(teamwork(), http=http, clock=clock)
    start = await client.begin()
    with pytest.raises(anyoauth.AuthorizationDenied):
        await client.complete(f"{REDIRECT}?error=access_denied&state={start.state}")
    with pytest.raises(anyoauth.StateMismatch):
        await client.complete(f"{REDIRECT}?code=C&state={start.state}")
    assert endpoint.requests == []


async def test_expired_flow(http: Any, http_module: ModuleType, clock: Clock) -> None:
    endpoint = use(http, Endpoint(http_module, lambda r: http_module.Response(500)))
    client = anyoauth.Client(teamwork(), http=http, clock=clock)
    start = await client.begin()
    assert start.expires_at == clock.now + 600
    clock.now = start.expires_at
    with pytest.raises(anyoauth.FlowExpired):
        await client.complete(f"{REDIRECT}?code=C&state={start.state}")
    assert endpoint.requests == []


async def test_state_of_another_strategy_is_rejected(
    http: Any, http_module: ModuleType, clock: Clock
) -> None:
    endpoint = use(http, Endpoint(http_module, lambda r: http_module.Response(500)))
    store = anyoauth.MemoryStore(clock=clock)
    first = anyoauth.Client(teamwork(), store, http=http, clock=clock)
    other = anyoauth.Client(
        Teamwork("other-client", SECRET, REDIRECT), store, http=http, clock=clock
    )
    start = await first.begin()
    with pytest.raises(anyoauth.StateMismatch):
        await other.complete(f"{REDIRECT}?code=C&state={start.state}")
    assert endpoint.requests == []


# -- implicit flows -----------------------------------------------------------------


async def test_geni_implicit_token_then_login_required(http: Any, clock: Clock) -> None:
    client = anyoauth.Client(Geni("geni-app"), http=http, clock=clock)
    start = await client.begin()
    token = await client.complete(
        "https://www.geni.com/platform/oauth/auth_success"
        f"#access_token=GENI-SENTINEL&expires_in=86400&state={start.state}"
    )
    assert token.token_type == "Bearer"
    assert token.expires_at == clock.now + 86400
    assert "state" not in token.extra
    assert await client.token() == token
    clock.now += 86400
    with pytest.raises(anyoauth.LoginRequired):
        await client.token()


@pytest.mark.parametrize(
    "fragment",
    [
        "expires_in=86400",
        "access_token=&expires_in=1",
        "access_token=x&expires_in=soon",
        "access_token=x&expires_in=-5",
    ],
)
async def test_geni_bad_fragment(http: Any, clock: Clock, fragment: str) -> None:
    client = anyoauth.Client(Geni("geni-app"), http=http, clock=clock)
    start = await client.begin()
    with pytest.raises(anyoauth.MalformedRedirect):
        await client.complete(
            f"https://www.geni.com/platform/oauth/auth_success#{fragment}&state={start.state}"
        )
    assert await client.store.get_token(client.token_key) is None


async def test_geni_denial_carries_provider_words(http: Any, clock: Clock) -> None:
    client = anyoauth.Client(Geni("geni-app"), http=http, clock=clock)
    await client.begin()
    with pytest.raises(anyoauth.AuthorizationDenied) as info:
        await client.complete(
            "https://www.geni.com/platform/oauth/auth_failed#status=unauthorized&message=user+canceled"
        )
    assert info.value.error == "unauthorized"
    assert info.value.error_description == "user canceled"


async def test_bog_authorize_step_reads_query_or_fragment(http: Any, clock: Clock) -> None:
    for sep in ("?", "#"):
        client = anyoauth.Client(bog(), http=http, clock=clock)
        start = await client.begin()
        token = await client.complete(
            f"https://app.example/bog{sep}access_token=BOG-AT&token_type=bearer"
            f"&expires_in=300&state={start.state}"
        )
        assert token.access_token == "BOG-AT"


# -- client credentials, expiry, single flight --------------------------------------


async def test_client_credentials_fetch_and_refetch(
    http: Any, http_module: ModuleType, clock: Clock, ok_payload: dict[str, Any]
) -> None:
    endpoint = use(
        http, Endpoint(http_module, lambda r: http_module.Response(200, json=ok_payload))
    )
    client = anyoauth.Client(bog(), http=http, clock=clock, leeway=30)
    token = await client.token()
    assert token.extra == {"refresh_expires_in": 0, "not-before-policy": 0, "app_id": "42"}
    assert await client.token() is token
    assert len(endpoint.requests) == 1
    clock.now += 300 - 30
    await client.token()
    assert len(endpoint.requests) == 2
    request = endpoint.requests[0]
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.headers["authorization"].startswith("Basic ")
    form = dict(pair.split("=", 1) for pair in request.content.decode().split("&"))
    assert form["grant_type"] == "client_credentials"
    assert "client_secret" not in form


async def test_concurrent_callers_share_one_request(
    http: Any, http_module: ModuleType, clock: Clock, ok_payload: dict[str, Any]
) -> None:
    endpoint = use(
        http, Endpoint(http_module, lambda r: http_module.Response(200, json=ok_payload))
    )
    client = anyoauth.Client(bog(), http=http, clock=clock)
    tokens: list[anyoauth.Token] = []

    async def call() -> None:
        tokens.append(await client.token())

    async with anyio.create_task_group() as tg:
        for _ in range(200):
            tg.start_soon(call)
    assert len(endpoint.requests) == 1
    assert len({id(t) for t in tokens}) == 1


# -- token endpoint answers that are not tokens --------------------------------------


def _html(http_module: ModuleType, status: int) -> Any:
    return http_module.Response(status, html="<html><body>Bad gateway</body></html>")


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (lambda m: _html(m, 200), anyoauth.InvalidTokenResponse),
        (lambda m: _html(m, 400), anyoauth.InvalidTokenResponse),
        (lambda m: m.Response(200, json=[{"access_token": "x"}]), anyoauth.InvalidTokenResponse),
        (
            lambda m: m.Response(200, content=b'{"access_token": "x", "exp'),
            anyoauth.InvalidTokenResponse,
        ),
        (
            lambda m: m.Response(200, json={"access_token": "x", "expires_in": "soon"}),
            anyoauth.InvalidTokenResponse,
        ),
        (
            lambda m: m.Response(200, json={"access_token": "x", "expires_in": -1}),
            anyoauth.InvalidTokenResponse,
        ),
        (lambda m: m.Response(200, json={"token_type": "bearer"}), anyoauth.InvalidTokenResponse),
        (
            lambda m: m.Response(302, headers={"location": "https://evil.example/"}),
            anyoauth.InvalidTokenResponse,
        ),
        (
            lambda m: m.Response(
                401, json={"error": "unauthorized_client", "error_description": "Invalid client"}
            ),
            anyoauth.TokenRequestError,
        ),
    ],
)
async def test_token_endpoint_garbage_is_typed_and_stores_nothing(
    http: Any,
    http_module: ModuleType,
    clock: Clock,
    answer: Callable[[ModuleType], Any],
    error: type[Exception],
) -> None:
    use(http, Endpoint(http_module, lambda r: answer(http_module)))
    client = anyoauth.Client(bog(), http=http, clock=clock)
    with pytest.raises(error):
        await client.token()
    assert await client.store.get_token(client.token_key) is None


async def test_provider_error_fields(http: Any, http_module: ModuleType, clock: Clock) -> None:
    payload = {
        "error": "unauthorized_client",
        "error_description": "Invalid client or Invalid client credentials",
        "error_uri": "https://docs.example/errors",
    }
    use(http, Endpoint(http_module, lambda r: http_module.Response(401, json=payload)))
    client = anyoauth.Client(bog(), http=http, clock=clock)
    with pytest.raises(anyoauth.TokenRequestError) as info:
        await client.token()
    assert info.value.error == "unauthorized_client"
    assert info.value.error_description == "Invalid client or Invalid client credentials"
    assert info.value.error_uri == "https://docs.example/errors"
    assert info.value.status_code == 401
    assert SECRET not in str(info.value)


async def test_network_failure_is_typed(http: Any, http_module: ModuleType, clock: Clock) -> None:
    def refuse(request: Any) -> Any:
        raise http_module.ConnectError("connection refused", request=request)

    use(http, Endpoint(http_module, refuse))
    client = anyoauth.Client(bog(), http=http, clock=clock)
    with pytest.raises(anyoauth.TokenEndpointUnavailable) as info:
        await client.token()
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


async def test_total_deadline(http: Any, http_module: ModuleType, clock: Clock) -> None:
    async def hang(request: Any) -> Any:
        await anyio.sleep_forever()

    http.route["handler"] = hang
    client = anyoauth.Client(bog(), http=http, clock=clock, timeout=0.05)
    with pytest.raises(anyoauth.TokenEndpointUnavailable):
        await client.token()


async def test_oversized_body_is_refused(http: Any, http_module: ModuleType, clock: Clock) -> None:
    big = b'{"access_token": "' + b"x" * 5000 + b'"}'
    use(http, Endpoint(http_module, lambda r: http_module.Response(200, content=big)))
    client = anyoauth.Client(bog(), http=http, clock=clock, max_response_bytes=1024)
    with pytest.raises(anyoauth.TokenEndpointUnavailable):
        await client.token()


async def test_no_secret_in_reprs(
    http: Any, http_module: ModuleType, clock: Clock, ok_payload: dict[str, Any]
) -> None:
    use(http, Endpoint(http_module, lambda r: http_module.Response(200, json=ok_payload)))
    client = anyoauth.Client(bog(), http=http, clock=clock)
    token = await client.token()
    for shown in (repr(client), repr(client.strategy), repr(token), str(token), repr(client.store)):
        assert SECRET not in shown
        assert "AT-SENTINEL" not in shown


async def test_owned_http_client_is_closed(clock: Clock) -> None:
    async with anyoauth.Client(bog(), clock=clock) as client:
        assert client.strategy.binding.startswith("keycloak:bog-client:")
    assert client._http is None
