"""``Client.introspect(token_type_hint=...)``: what is asked about, and the hint sent."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

import anyoauth
from anyoauth import Client
from anyoauth.testing import ManualClock

from .helpers import BASE, form, login, mock, web_app

pytestmark = pytest.mark.anyio

INTROSPECT = BASE + "/introspect"


async def test_a_tokens_refresh_token_is_introspected_with_its_hint(
    http: Any, clock: ManualClock
) -> None:
    async with Client(await web_app(http), http=http, clock=clock) as client:
        token = await login(client, http)
        info = await client.introspect(token, token_type_hint="refresh_token")
        assert info.active
        assert info.token_type == "refresh_token"
        access = await client.introspect(token)
        assert access.active
        assert access.token_type == "Bearer"
        held = await client.introspect(token_type_hint="refresh_token")
        assert held.token_type == "refresh_token"


def _strategy() -> anyoauth.Strategy:
    return anyoauth.AuthorizationCode(
        client_id="app",
        client_secret="secret-value-0123456789",
        authorization_endpoint=BASE + "/authorize",
        token_endpoint=BASE + "/token",
        introspection_endpoint=INTROSPECT,
        redirect_uri="https://app.example/cb",
    )


@pytest.mark.parametrize(
    ("hint", "sent", "expected"),
    [
        ("access_token", "AT", "access_token"),
        ("refresh_token", "RT", "refresh_token"),
        (None, "AT", None),
    ],
)
async def test_the_hint_says_which_token_is_sent(
    http_module: ModuleType, hint: str | None, sent: str, expected: str | None
) -> None:
    seen: list[dict[str, str]] = []

    def handler(request: Any) -> Any:
        seen.append(form(request))
        return http_module.Response(200, json={"active": False})

    token = anyoauth.Token(access_token="AT", refresh_token="RT", issued_at=0.0)
    async with mock(http_module, handler) as http, Client(_strategy(), http=http) as client:
        assert not (await client.introspect(token, token_type_hint=hint)).active
        await client.introspect("raw", token_type_hint=hint)
    assert seen[0]["token"] == sent
    assert seen[0].get("token_type_hint") == expected
    assert seen[1]["token"] == "raw"
    assert seen[1].get("token_type_hint") == expected


async def test_an_unknown_hint_is_refused_before_anything_is_sent(
    http_module: ModuleType,
) -> None:
    def handler(request: Any) -> Any:
        raise AssertionError("nothing may be sent")

    async with mock(http_module, handler) as http, Client(_strategy(), http=http) as client:
        for hint in ("id_token", "", "ACCESS_TOKEN"):
            with pytest.raises(anyoauth.ConfigurationError, match="token_type_hint"):
                await client.introspect("raw", token_type_hint=hint)
        without = anyoauth.Token(access_token="AT", issued_at=0.0)
        with pytest.raises(anyoauth.ConfigurationError, match="no refresh token"):
            await client.introspect(without, token_type_hint="refresh_token")
