"""How the client sends its requests and reads the answers: the HTTP client it makes and
closes, the client's own deadline over the HTTP client's timeouts, typed failures for
answers that are not tokens and for the network, the body cap, and reprs without
secrets."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import pytest

import anyoauth
from anyoauth.testing import ManualClock
from support.endpoints import ScriptedEndpoint

from .helpers import LONG_SECRET, SECRET, TOKEN_ENDPOINT, bog, http_answer, slow_server, use

pytestmark = pytest.mark.anyio


def _html(http_module: ModuleType, status: int) -> Any:
    return http_module.Response(status, html="<html><body>Bad gateway</body></html>")


# -- answers that are not tokens, network failures, deadlines --------------------------


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
    routed_http: Any,
    http_module: ModuleType,
    clock: ManualClock,
    answer: Callable[[ModuleType], Any],
    error: type[Exception],
) -> None:
    use(routed_http, ScriptedEndpoint(http_module, lambda r: answer(http_module)))
    client = anyoauth.Client(bog(), http=routed_http, clock=clock)
    with pytest.raises(error):
        await client.token()
    assert await client.store.get_token(client.token_key) is None


async def test_provider_error_fields(
    routed_http: Any, http_module: ModuleType, clock: ManualClock
) -> None:
    payload = {
        "error": "unauthorized_client",
        "error_description": "Invalid client or Invalid client credentials",
        "error_uri": "https://docs.example/errors",
    }
    use(
        routed_http,
        ScriptedEndpoint(http_module, lambda r: http_module.Response(401, json=payload)),
    )
    client = anyoauth.Client(bog(), http=routed_http, clock=clock)
    with pytest.raises(anyoauth.TokenRequestError) as info:
        await client.token()
    assert info.value.error == "unauthorized_client"
    assert info.value.error_description == "Invalid client or Invalid client credentials"
    assert info.value.error_uri == "https://docs.example/errors"
    assert info.value.status_code == 401
    assert SECRET not in str(info.value)


async def test_network_failure_is_typed(
    routed_http: Any, http_module: ModuleType, clock: ManualClock
) -> None:
    def refuse(request: Any) -> Any:
        raise http_module.ConnectError("connection refused", request=request)

    use(routed_http, ScriptedEndpoint(http_module, refuse))
    client = anyoauth.Client(bog(), http=routed_http, clock=clock)
    with pytest.raises(anyoauth.TokenEndpointUnavailable) as info:
        await client.token()
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


async def test_total_deadline(
    routed_http: Any, http_module: ModuleType, clock: ManualClock
) -> None:
    async def hang(request: Any) -> Any:
        await anyio.sleep_forever()

    routed_http.route["handler"] = hang
    client = anyoauth.Client(bog(), http=routed_http, clock=clock, timeout=0.05)
    with pytest.raises(anyoauth.TokenEndpointUnavailable):
        await client.token()


async def test_oversized_body_is_refused(
    routed_http: Any, http_module: ModuleType, clock: ManualClock
) -> None:
    big = b'{"access_token": "' + b"x" * 5000 + b'"}'
    use(
        routed_http, ScriptedEndpoint(http_module, lambda r: http_module.Response(200, content=big))
    )
    client = anyoauth.Client(bog(), http=routed_http, clock=clock, max_response_bytes=1024)
    with pytest.raises(anyoauth.TokenEndpointUnavailable):
        await client.token()


def test_the_default_http_client_has_no_timeout_of_its_own() -> None:
    strategy = anyoauth.ClientCredentials(
        client_id="svc", client_secret=LONG_SECRET, token_endpoint=TOKEN_ENDPOINT
    )
    client = anyoauth.Client(strategy, timeout=30)
    timeout = client._client().timeout
    assert (timeout.connect, timeout.read, timeout.write, timeout.pool) == (None,) * 4


async def test_an_answer_slower_than_the_http_clients_default_timeout_is_waited_for(
    http_module: ModuleType, default_timeout: float
) -> None:
    body = b'{"access_token":"at","expires_in":100}'
    async with (
        slow_server(0.5, lambda _: http_answer(b"200 OK", body)) as url,
        http_module.AsyncClient(timeout=default_timeout) as http,
    ):
        strategy = anyoauth.ClientCredentials(
            client_id="svc", client_secret=LONG_SECRET, token_endpoint=url
        )
        token = await anyoauth.Client(strategy, http=http, timeout=30).token()
    assert token.access_token == "at"


# -- the HTTP client and reprs ---------------------------------------------------------


async def test_no_secret_in_reprs(
    routed_http: Any, http_module: ModuleType, clock: ManualClock, ok_payload: dict[str, Any]
) -> None:
    use(
        routed_http,
        ScriptedEndpoint(http_module, lambda r: http_module.Response(200, json=ok_payload)),
    )
    client = anyoauth.Client(bog(), http=routed_http, clock=clock)
    token = await client.token()
    for shown in (repr(client), repr(client.strategy), repr(token), str(token), repr(client.store)):
        assert SECRET not in shown
        assert "AT-SENTINEL" not in shown


async def test_owned_http_client_is_closed(clock: ManualClock) -> None:
    async with anyoauth.Client(bog(), clock=clock) as client:
        assert client.strategy.binding.startswith("keycloak:bog-client:")
    assert client._http is None
