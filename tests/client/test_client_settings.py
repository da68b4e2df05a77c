"""Behaviour the client keeps across its internal layout: renewal, refused grants,
client authentication bytes, the public attributes of a client."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import anyoauth
from anyoauth import ClientCredentials

pytestmark = pytest.mark.anyio

TOKEN_URL = "https://as.example/token"


def answer(status: int, **payload: Any) -> httpx.Response:
    return httpx.Response(status, json=payload)


def service(**kwargs: Any) -> ClientCredentials:
    settings: dict[str, Any] = {
        "client_id": "svc",
        "client_secret": "svc-secret-0123456789",
        "token_endpoint": TOKEN_URL,
    }
    settings.update(kwargs)
    return ClientCredentials(**settings)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_a_client_credentials_grant_refused_with_invalid_grant_asks_for_a_login() -> None:
    """No token stored; the server refuses the client's own grant with invalid_grant."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return answer(400, error="invalid_grant")

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = anyoauth.Client(service(), http=http)
        with pytest.raises(anyoauth.LoginRequired):
            await client.token()
    assert len(sent) == 1


async def test_a_replaced_strategy_is_the_one_that_refreshes() -> None:
    """``client.strategy`` is a public attribute: a rotated client secret set there is
    the one the next token request carries."""
    clock = Clock()
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization", ""))
        return answer(200, access_token=f"at-{len(seen)}", token_type="Bearer", expires_in=60)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = anyoauth.Client(service(), http=http, clock=clock)
        await client.token()
        client.strategy = service(client_secret="rotated-secret-9876543210")
        clock.now += 3600
        await client.token()
    import base64

    assert base64.b64decode(seen[-1].split()[1]).decode().endswith(":rotated-secret-9876543210")


async def test_an_empty_client_secret_is_sent_as_basic_credentials() -> None:
    """``client_secret=""`` with ``client_secret_basic``: an ``Authorization: Basic``
    header for ``svc:`` (as before), not a public client's bare ``client_id``."""
    request = service(client_secret="").direct_token_request(now=1000.0)
    assert request is not None
    assert ("Authorization", "Basic c3ZjOg==") in request.headers
    assert b"client_id" not in request.content


async def test_an_empty_client_secret_is_posted_as_client_secret_post() -> None:
    request = service(client_secret="", client_auth="client_secret_post").direct_token_request(
        now=1000.0
    )
    assert request is not None
    assert request.content == b"grant_type=client_credentials&client_id=svc&client_secret="


def test_a_jwt_method_without_its_secret_says_so_once() -> None:
    with pytest.raises(anyoauth.ConfigurationError) as raised:
        service(client_auth="client_secret_jwt", client_secret=None)
    assert str(raised.value) == "client_secret_jwt needs a client_secret"


CODE = "CODE-sentinel-4f3e2d1c0b"
SECRET = "SECRET-sentinel-9a8b7c6d5e"


@pytest.mark.parametrize("capture", ["complete", "introspect"])
async def test_a_failed_public_call_renders_no_secret_with_locals(capture: str) -> None:
    import traceback
    from urllib.parse import parse_qs, urlsplit

    def handler(request: httpx.Request) -> httpx.Response:
        return answer(400, error="invalid_grant")

    strategy = anyoauth.AuthorizationCode(
        client_id="web",
        client_secret=SECRET,
        authorization_endpoint="https://as.example/authorize",
        token_endpoint=TOKEN_URL,
        introspection_endpoint="https://as.example/introspect",
        redirect_uri="https://app.example/cb",
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = anyoauth.Client(strategy, http=http)
        try:
            if capture == "complete":
                start = await client.begin()
                state = parse_qs(urlsplit(start.url).query)["state"][0]
                await client.complete(f"https://app.example/cb?code={CODE}&state={state}")
            else:
                await client.introspect(CODE)
        except anyoauth.OAuthError as exc:
            error: BaseException = exc
        else:
            pytest.fail("no error")
    rendered = traceback.TracebackException.from_exception(error, capture_locals=True)
    text = "".join(rendered.format())
    assert CODE not in text
    assert SECRET not in text


async def test_each_retry_of_a_signed_request_carries_a_new_assertion() -> None:
    from urllib.parse import parse_qs

    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(parse_qs(request.content.decode())["client_assertion"][0])
        if len(seen) < 3:
            return httpx.Response(503)
        return answer(200, access_token="at", token_type="Bearer", expires_in=60)

    strategy = service(client_auth="client_secret_jwt", client_secret="k" * 40)
    retries = anyoauth.RetryPolicy(attempts=3, backoff=0.001, max_delay=0.001, jitter=0.0)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = anyoauth.Client(strategy, http=http, retries=retries)
        await client.token()
    assert len(seen) == 3
    assert len(set(seen)) == 3
