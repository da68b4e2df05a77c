"""The loopback listener listens where the strategy's ``redirect_uri`` says, on real
ports: its path, its port (none or 0: any port), its host; settings of the agent that
contradict it are refused before anything is bound; whole logins against the emulator
with a redirect URI registered without a port, and with none set at all."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import anyio
import pytest

import anyoauth
from anyoauth import AuthorizationCode, ConfigurationError, UserStep
from anyoauth.agents import LoopbackAgent, SystemBrowserAgent
from anyoauth.providers import BankOfGeorgia
from anyoauth.testing import ProviderEmulator, browse

pytestmark = pytest.mark.anyio

CLIENT_ID = "desktop"


def strategy(redirect_uri: str | None) -> anyoauth.Strategy:
    return anyoauth.Strategy(
        client_id="plain",
        authorization_endpoint="https://as.example/authorize",
        token_endpoint="https://as.example/token",
        redirect_uri=redirect_uri,
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def status_of(port: int, target: str) -> int:
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        received = b""
        with anyio.fail_after(5):
            while b"\r\n" not in received:
                received += await stream.receive()
    return int(received.split(b" ", 2)[1])


@asynccontextmanager
async def listening(agent: LoopbackAgent, redirect_uri: str | None) -> AsyncIterator[str]:
    """A session waiting for its result (its listener answers), for ``agent``."""
    async with (
        agent.session(strategy(redirect_uri)) as session,
        anyio.create_task_group() as tg,
    ):
        assert session.redirect_uri is not None
        tg.start_soon(session.authorize, "https://as.example/authorize?state=s")
        yield session.redirect_uri
        tg.cancel_scope.cancel()


# -- where the listener listens ---------------------------------------------------------------


async def test_the_listener_takes_the_path_of_a_redirect_uri_without_a_port() -> None:
    async with listening(LoopbackAgent(), "http://127.0.0.1/cb") as uri:
        parts = urlsplit(uri)
        assert (parts.hostname, parts.path) == ("127.0.0.1", "/cb")
        assert parts.port is not None
        assert parts.port != 0
        assert await status_of(parts.port, "/cb") == 200  # the relay page of the redirect path
        assert await status_of(parts.port, "/callback?code=c&state=s") == 404


async def test_the_listener_takes_port_and_path_of_the_redirect_uri() -> None:
    port = free_port()
    async with listening(LoopbackAgent(), f"http://127.0.0.1:{port}/oauth/done") as uri:
        assert uri == f"http://127.0.0.1:{port}/oauth/done"
        assert await status_of(port, "/oauth/done") == 200


async def test_port_zero_in_the_redirect_uri_means_any_port() -> None:
    async with listening(LoopbackAgent(), "http://127.0.0.1:0/cb") as uri:
        port = urlsplit(uri).port
        assert port is not None
        assert port != 0
        assert uri == f"http://127.0.0.1:{port}/cb"


async def test_an_agent_port_fills_a_redirect_uri_without_one() -> None:
    port = free_port()
    async with listening(LoopbackAgent(port=port), "http://127.0.0.1/cb") as uri:
        assert uri == f"http://127.0.0.1:{port}/cb"


async def test_matching_explicit_settings_are_accepted() -> None:
    port = free_port()
    agent = SystemBrowserAgent(host="127.0.0.1", port=port, path="/cb")
    async with listening(agent, f"http://127.0.0.1:{port}/cb") as uri:
        assert uri == f"http://127.0.0.1:{port}/cb"


async def test_without_a_redirect_uri_the_agent_settings_decide() -> None:
    async with listening(LoopbackAgent(path="/mine"), None) as uri:
        assert urlsplit(uri).path == "/mine"


async def test_a_redirect_uri_the_listener_cannot_catch_is_replaced_as_before() -> None:
    async with listening(LoopbackAgent(), "https://app.example/cb") as uri:
        assert uri.startswith("http://127.0.0.1:")
        assert urlsplit(uri).path == "/callback"


def test_the_host_of_the_redirect_uri_is_taken() -> None:
    assert LoopbackAgent().listening_for("http://[::1]:8400/cb") == LoopbackAgent(
        host="::1", port=8400, path="/cb"
    )
    assert LoopbackAgent().listening_for("http://127.0.0.1") == LoopbackAgent(path="/")


# -- contradictions are refused before anything is bound ----------------------------------------


@pytest.mark.parametrize(
    ("agent", "redirect_uri", "named"),
    [
        (LoopbackAgent(path="/other"), "http://127.0.0.1/cb", ["'/other'", "'/cb'"]),
        (LoopbackAgent(port=8401), "http://127.0.0.1:8400/cb", ["8401", "8400"]),
        (LoopbackAgent(host="::1"), "http://127.0.0.1:8400/cb", ["'::1'", "'127.0.0.1'"]),
        (SystemBrowserAgent(path="/x"), "http://[::1]/cb", ["'/x'", "'/cb'"]),
    ],
)
async def test_conflicting_agent_settings_are_refused_naming_both(
    agent: LoopbackAgent, redirect_uri: str, named: list[str]
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        async with agent.session(strategy(redirect_uri)):
            pytest.fail("the session opened")
    for value in named:
        assert value in str(refused.value)


# -- whole logins --------------------------------------------------------------------------------


async def log_in(
    http_client: Any, registered: str, redirect_uri: str | None, agent_path: str | None = None
) -> tuple[ProviderEmulator, str]:
    emulator = ProviderEmulator()
    emulator.add_oauth_client(CLIENT_ID, redirect_uris=[registered], auth_method="none")
    landed: list[str] = []

    async def browser(url: str) -> None:
        final = await browse(http_client, url)
        landed.append(final)
        await http_client.get(final)

    agent = LoopbackAgent(open_browser=browser)
    if agent_path is not None:
        agent = LoopbackAgent(open_browser=browser, path=agent_path)
    async with emulator.serve() as base:
        endpoints = emulator.endpoints_oauth(base)
        code = AuthorizationCode(
            client_id=CLIENT_ID,
            redirect_uri=redirect_uri,
            allow_insecure=True,
            authorization_endpoint=endpoints["authorization_endpoint"],
            token_endpoint=endpoints["token_endpoint"],
        )
        async with anyoauth.Client(code, http=http_client) as client:
            token = await client.login(agent)
    assert emulator.is_valid_token(token.access_token)
    (final,) = landed
    return emulator, final


async def test_a_client_registered_without_a_port_logs_in_on_its_path(http_client: Any) -> None:
    emulator, final = await log_in(http_client, "http://127.0.0.1/cb", "http://127.0.0.1/cb")
    sent = emulator.authorization_requests[0]["redirect_uri"]
    assert urlsplit(sent).path == "/cb"
    assert urlsplit(sent).port not in (None, 0)
    assert final.startswith(sent + "?")


async def test_a_code_flow_without_redirect_uri_logs_in_on_the_agent_s(http_client: Any) -> None:
    emulator, _ = await log_in(http_client, "http://127.0.0.1/done", None, agent_path="/done")
    assert urlsplit(emulator.authorization_requests[0]["redirect_uri"]).path == "/done"


async def test_bog_without_redirect_uri_runs_its_authorize_step_with_an_agent(
    http_client: Any,
) -> None:
    emulator = ProviderEmulator()
    port = free_port()
    emulator.add_keycloak_client(
        "bog-app", "bog-secret-SENTINEL", redirect_uris=[f"http://127.0.0.1:{port}/callback"]
    )

    async def browser(url: str) -> None:
        await http_client.get(await browse(http_client, url))

    async with emulator.serve() as base:
        bank = BankOfGeorgia("bog-app", "bog-secret-SENTINEL", **emulator.endpoints_keycloak(base))
        assert bank.user_step is UserStep.NONE
        async with anyoauth.Client(bank, http=http_client) as client:
            token = await client.login(LoopbackAgent(port=port, open_browser=browser))
    assert emulator.is_valid_token(token.access_token)
    assert emulator.calls["keycloak.token"] == 0  # the authorize step, not client credentials
