"""``SyncClient``: the async client's flows, store and single-flight renewal, blocking,
against the emulator served on a loopback port: logins, one refresh for any number of
threads (and of clients sharing a store), ``httpx.Client`` requests with bearer and
DPoP-bound tokens, revocation, userinfo and logout, on both portal backends."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio.from_thread
import attrs
import httpx
import pytest

import anyoauth
from anyoauth import AuthorizationCode, ClientCredentials, DPoPKey, MemoryStore, SyncClient
from anyoauth.testing import ManualClock, ProviderEmulator, browse
from anyoauth.testing._oauth_server import OAUTH_API_PATH

from .helpers import EMULATED_SECRET, LOOPBACK_REDIRECT

THREADS = 32


class Served:
    """The emulator on a loopback port, run by its own event-loop thread."""

    def __init__(self, emulator: ProviderEmulator, base: str, portal: Any) -> None:
        self.emulator = emulator
        self.base = base
        self.portal = portal

    @property
    def token_requests(self) -> int:
        return self.emulator.calls["oauth.token"]

    def browse(self, url: str, decision: str = "allow") -> str:
        async def run() -> str:
            async with httpx.AsyncClient() as http:
                return await browse(http, url, decision=decision)

        result: str = self.portal.call(run)
        return result

    def web_app(self, **settings: Any) -> AuthorizationCode:
        metadata = self.portal.call(anyoauth.discover, self.base)
        values: dict[str, Any] = {
            "client_id": "web",
            "client_secret": EMULATED_SECRET,
            "redirect_uri": LOOPBACK_REDIRECT,
        }
        values.update(settings)
        return AuthorizationCode.from_metadata(metadata, **values)

    def service(self, **settings: Any) -> ClientCredentials:
        endpoints = self.emulator.endpoints_oauth(self.base)
        return ClientCredentials(
            client_id="service",
            client_secret=EMULATED_SECRET,
            token_endpoint=endpoints["token_endpoint"],
            revocation_endpoint=endpoints["revocation_endpoint"],
            **settings,
        )

    def login(self, client: SyncClient) -> anyoauth.Token:
        start = client.begin()
        return client.complete(self.browse(start.url))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def served(clock: ManualClock) -> Iterator[Served]:
    emulator = ProviderEmulator(clock=clock, oauth_device_interval=0)
    emulator.add_oauth_client(
        "web", client_secret=EMULATED_SECRET, redirect_uris=[LOOPBACK_REDIRECT], scopes=None
    )
    emulator.add_oauth_client(
        "service", client_secret=EMULATED_SECRET, grant_types=["client_credentials"]
    )
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(emulator.serve()) as base,
    ):
        yield Served(emulator, base, portal)


@pytest.fixture(params=["asyncio", "trio"])
def backend(request: pytest.FixtureRequest) -> str:
    """The event loop the sync client's portal runs."""
    value: str = request.param
    return value


def at_once(count: int, call: Callable[[int], Any]) -> list[Any]:
    """``call(i)`` in ``count`` threads released together by a barrier."""
    barrier = threading.Barrier(count)

    def run(index: int) -> Any:
        barrier.wait()
        return call(index)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def test_a_code_flow_login_then_one_refresh_for_many_threads(
    served: Served, clock: ManualClock, backend: Any
) -> None:
    with SyncClient(served.web_app(), clock=clock, backend=backend) as client:
        first = served.login(client)
        assert first.refresh_token
        assert served.token_requests == 1
        assert client.token() is first
        clock.advance(3600)
        tokens = at_once(THREADS, lambda _: client.token())
        assert served.token_requests == 2
        assert len({t.access_token for t in tokens}) == 1
        assert tokens[0].access_token != first.access_token


def test_many_threads_making_requests_through_the_auth_cause_one_refresh(
    served: Served, clock: ManualClock, backend: Any
) -> None:
    with SyncClient(served.web_app(), clock=clock, backend=backend) as client:
        served.login(client)
        with httpx.Client(auth=client.auth()) as api:
            assert api.get(served.base + OAUTH_API_PATH).status_code == 200
            clock.advance(3600)
            answers = at_once(THREADS, lambda _: api.get(served.base + OAUTH_API_PATH))
    assert [a.status_code for a in answers] == [200] * THREADS
    assert served.token_requests == 2
    assert served.emulator.calls["oauth.api"] == THREADS + 1


def test_two_sync_clients_sharing_a_store_renew_once(
    served: Served, clock: ManualClock, backend: Any
) -> None:
    store = MemoryStore(clock=clock)
    strategy = served.web_app()
    with (
        SyncClient(strategy, store, clock=clock, backend=backend) as one,
        SyncClient(strategy, store, clock=clock, backend=backend) as two,
    ):
        served.login(one)
        assert two.token().access_token == one.token().access_token
        clock.advance(3600)
        tokens = at_once(THREADS, lambda i: (one, two)[i % 2].token())
    assert served.token_requests == 2
    assert len({t.access_token for t in tokens}) == 1


def test_client_credentials_fetched_once_for_many_threads(
    served: Served, clock: ManualClock
) -> None:
    with SyncClient(served.service(), clock=clock) as client:
        tokens = at_once(THREADS, lambda _: client.token())
        assert served.token_requests == 1
        assert len({t.access_token for t in tokens}) == 1
        assert client.refresh().access_token != tokens[0].access_token
        assert served.token_requests == 2


def test_dpop_bound_tokens_go_with_proofs_and_a_resource_nonce_is_answered(
    served: Served, clock: ManualClock, backend: Any
) -> None:
    served.emulator.oauth_dpop_nonce = True
    key = DPoPKey.generate("EdDSA")
    with SyncClient(served.service(dpop_key=key), clock=clock, backend=backend) as client:
        token = client.token()
        assert token.token_type == "DPoP"
        assert served.emulator.oauth_token_jkt(token.access_token) == key.thumbprint
        with httpx.Client(auth=client.auth()) as api:
            answers = at_once(8, lambda _: api.get(served.base + OAUTH_API_PATH))
            assert [a.status_code for a in answers] == [200] * 8, [
                a.headers.get("www-authenticate") for a in answers
            ]
            # A nonce that changes with every answer is followed, one request at a time.
            served.emulator.oauth_dpop_nonce_rotates = True
            clock.advance(3600)
            for _ in range(3):
                assert api.get(served.base + OAUTH_API_PATH).status_code == 200
        renewed = client.token()
    assert renewed.access_token != token.access_token
    assert served.emulator.oauth_token_jkt(renewed.access_token) == key.thumbprint


def test_a_401_gets_a_new_token_and_one_retry(served: Served, clock: ManualClock) -> None:
    with SyncClient(served.web_app(), clock=clock) as client:
        first = served.login(client)
        # An access token the API refuses, of unknown expiry, with a good refresh token.
        client.set_token(attrs.evolve(first, access_token="refused-by-the-api", expires_at=None))
        with httpx.Client(auth=client.auth()) as api:
            answers = at_once(8, lambda _: api.get(served.base + OAUTH_API_PATH))
        assert [a.status_code for a in answers] == [200] * 8
        assert served.token_requests == 2
        assert client.token().access_token not in {first.access_token, "refused-by-the-api"}


def test_userinfo_revoke_and_logout(served: Served, clock: ManualClock) -> None:
    with SyncClient(served.web_app(scope="openid profile"), clock=clock) as client:
        token = served.login(client)
        claims = client.userinfo()
        assert token.id_token_claims is not None
        assert claims["sub"] == token.id_token_claims["sub"]
        assert client.introspect().active
        url = client.logout_url(post_logout_redirect_uri="http://127.0.0.1:8123/bye")
        assert url.startswith(served.base)
        client.revoke()
        with pytest.raises(anyoauth.LoginRequired):
            client.token()
        assert client.introspect(token).active is False


def test_errors_are_the_async_clients(served: Served, clock: ManualClock) -> None:
    with SyncClient(served.web_app(), clock=clock) as client:
        with pytest.raises(anyoauth.LoginRequired):
            client.token()
        with pytest.raises(anyoauth.StateMismatch):
            client.complete(LOOPBACK_REDIRECT + "?code=x&state=unknown")
        start = client.begin()
        with pytest.raises(anyoauth.AuthorizationDenied):
            client.complete(served.browse(start.url, decision="deny"))


def test_without_with_in_a_notebook_and_closed_after(served: Served, clock: ManualClock) -> None:
    client = SyncClient(served.service(), clock=clock)
    assert client.token().access_token
    assert not client.closed
    client.close()
    client.close()  # closing twice does nothing
    assert client.closed
    assert "closed" in repr(client)
    with pytest.raises(anyoauth.ConfigurationError, match="closed"):
        client.token()


def test_the_sync_auth_refuses_an_async_client(served: Served, clock: ManualClock) -> None:
    with SyncClient(served.service(), clock=clock) as client:
        auth = client.auth()

        async def use() -> None:
            async with httpx.AsyncClient(auth=auth) as api:
                await api.get(served.base + OAUTH_API_PATH)

        with pytest.raises(TypeError, match=r"httpx\.Client"):
            anyio.run(use)


def test_an_unknown_backend_is_refused(served: Served) -> None:
    with pytest.raises(anyoauth.ConfigurationError, match="backend"):
        SyncClient(served.service(), backend="curio")  # type: ignore[arg-type]
