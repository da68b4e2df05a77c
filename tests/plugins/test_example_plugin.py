"""The example plugin (``examples/plugin-example``), installed, used through its entry points.

Nothing here imports ``anyoauth_plugin_example``: the strategy and the preset come
from :mod:`anyoauth.plugins`, as they would in an application. The login runs
against the emulator's generic server; a thin transport in front of its token
endpoint gives the answers Acme ID's shape (an envelope, ``expires_at``, an
``errors`` list), the quirk the plugin exists for.
"""

from __future__ import annotations

import importlib.metadata
import json
from types import ModuleType
from typing import Any

import pytest

import anyoauth
from anyoauth import InvalidTokenResponse, TokenRequestError, plugins
from anyoauth.testing import (
    OAUTH_API_PATH,
    OAUTH_TOKEN_PATH,
    ManualClock,
    ProviderEmulator,
    browse,
)

BASE = "https://emulator.test"
REDIRECT = "http://127.0.0.1/callback"


def acme_transport(emulator: ProviderEmulator, http: ModuleType) -> Any:
    """The emulator, with its token endpoint answering like Acme ID."""

    def handler(request: Any) -> Any:
        answer = emulator.handle(
            request.method, str(request.url), request.headers.multi_items(), request.content
        )
        if request.url.path != OAUTH_TOKEN_PATH:
            return http.Response(answer.status, headers=list(answer.headers), content=answer.body)
        payload = answer.json()
        if answer.status == 200:
            payload["expires_at"] = emulator.clock() + payload.pop("expires_in")
            body = {"data": payload, "meta": {"request_id": "req-1"}}
        else:
            error = {"code": payload["error"], "detail": payload.get("error_description")}
            body = {"errors": [error]}
        return http.Response(answer.status, json=body)

    return http.MockTransport(handler)


def test_the_installed_distribution_declares_both_entry_points(
    example_plugin: importlib.metadata.Distribution,
) -> None:
    points = {(ep.group, ep.name): ep.value for ep in example_plugin.entry_points}
    assert points[("anyoauth.strategies", "acme")] == "anyoauth_plugin_example:AcmeCode"
    assert points[("anyoauth.providers", "acme")] == "anyoauth_plugin_example:Acme"
    rows = {(r.kind, r.name): r for r in plugins.describe()}
    for kind in ("strategy", "provider"):
        row = rows[(kind, "acme")]
        assert (row.status, row.builtin, row.distribution) == (
            "ok",
            False,
            "anyoauth-plugin-example",
        )
        assert row.summary.startswith("Acme ID")


def test_the_preset_builds_the_plugin_strategy(
    example_plugin: importlib.metadata.Distribution,
) -> None:
    strategy = plugins.get_provider("acme")("app", "secret", REDIRECT)
    acme_code = plugins.get_strategy("acme")
    assert type(strategy) is acme_code
    assert issubclass(acme_code, anyoauth.AuthorizationCode)
    assert strategy.binding.startswith("acme:app:")
    assert strategy.client_auth == "client_secret_post"
    assert strategy.uses_pkce
    assert strategy.token_endpoint == "https://id.acme.example/oauth/token"


@pytest.mark.anyio
async def test_a_login_and_a_refresh_through_the_entry_point(
    example_plugin: importlib.metadata.Distribution, http_module: ModuleType
) -> None:
    clock = ManualClock()
    emulator = ProviderEmulator(clock=clock, oauth_expires_in=600)
    emulator.add_oauth_client(
        "app",
        client_secret="s3cret",
        redirect_uris=[REDIRECT],
        auth_method="client_secret_post",
    )
    strategy = plugins.get_provider("acme")("app", "s3cret", REDIRECT, server_url=BASE)
    async with (
        http_module.AsyncClient(transport=acme_transport(emulator, http_module)) as http,
        anyoauth.Client(strategy, http=http, clock=clock) as client,
    ):
        start = await client.begin()
        token = await client.complete(await browse(http, start.url))
        assert emulator.is_valid_token(token.access_token)
        assert token.expires_at == clock() + 600
        assert token.refresh_token
        assert "expires_at" not in token.extra
        assert "meta" not in token.extra

        response = await http.get(BASE + OAUTH_API_PATH, auth=client.auth(http_module))
        assert response.status_code == 200

        clock.advance(601)
        refreshed = await client.token()
        assert refreshed.access_token != token.access_token
        assert refreshed.expires_at == clock() + 600
        assert emulator.is_valid_token(refreshed.access_token)
    assert emulator.calls["oauth.token"] == 2


@pytest.mark.anyio
async def test_an_acme_error_reaches_the_app_as_a_token_request_error(
    example_plugin: importlib.metadata.Distribution, http_module: ModuleType
) -> None:
    emulator = ProviderEmulator()
    emulator.add_oauth_client(
        "app", client_secret="right", redirect_uris=[REDIRECT], auth_method="client_secret_post"
    )
    strategy = plugins.get_provider("acme")("app", "wrong", REDIRECT, server_url=BASE)
    async with (
        http_module.AsyncClient(transport=acme_transport(emulator, http_module)) as http,
        anyoauth.Client(strategy, http=http) as client,
    ):
        start = await client.begin()
        with pytest.raises(TokenRequestError) as caught:
            await client.complete(await browse(http, start.url))
    assert caught.value.error == "invalid_client"
    assert caught.value.status_code == 401


def _parse(body: object, status: int = 200) -> anyoauth.Token:
    strategy = plugins.get_provider("acme")("app", "secret", REDIRECT)
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return strategy.parse_token_response(status, "application/json", raw, 1_000.0)


def test_the_envelope_is_unwrapped_and_validated(
    example_plugin: importlib.metadata.Distribution,
) -> None:
    token = _parse({"data": {"access_token": "at", "expires_at": 1_060, "scope": "a b"}})
    assert (token.access_token, token.expires_at, token.scope) == ("at", 1_060.0, "a b")
    expired = _parse({"data": {"access_token": "at", "expires_at": 10}})
    assert expired.is_expired(1_000.0)
    error = {"errors": [{"code": "invalid_grant", "detail": "code used"}]}
    with pytest.raises(TokenRequestError, match="invalid_grant: code used"):
        _parse(error, status=400)
    with pytest.raises(InvalidTokenResponse, match="no data object"):
        _parse({"access_token": "at"})
    with pytest.raises(InvalidTokenResponse, match="expires_at is not a number"):
        _parse({"data": {"access_token": "at", "expires_at": "soon"}})
    with pytest.raises(InvalidTokenResponse, match="access_token"):
        _parse({"data": {"access_token": ""}})
    with pytest.raises(InvalidTokenResponse, match="HTML"):
        _parse(b"<html>502</html>", status=502)
