"""Plain-http endpoints on loopback belong to loopback issuers only (docs/security.md, rule 8).

A remote (https) server's metadata naming ``http://127.0.0.1:...`` or
``http://x.localhost`` as an endpoint would have the client send its secret, in
clear, to whatever listens on that port of the user's machine. Such metadata is a
``DiscoveryError``, such a strategy a ``ConfigurationError``, unless the issuer is
itself on loopback or the user set ``allow_insecure=True``; nothing turns
``allow_insecure`` on by itself.
"""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest

import anyoauth
from anyoauth.testing import ProviderEmulator

from . import faultserver as fs

ISSUER = "https://as.example"
LOCAL_HOSTS = ["127.0.0.1:8080", "127.0.0.53", "localhost:9000", "x.localhost", "[::1]:8443"]
METADATA_ENDPOINTS = [
    "authorization_endpoint",
    "token_endpoint",
    "device_authorization_endpoint",
    "revocation_endpoint",
    "introspection_endpoint",
    "jwks_uri",
    "userinfo_endpoint",
    "registration_endpoint",
    "end_session_endpoint",
    "pushed_authorization_request_endpoint",
    "backchannel_authentication_endpoint",
]
STRATEGY_ENDPOINTS = [
    "authorization_endpoint",
    "token_endpoint",
    "revocation_endpoint",
    "introspection_endpoint",
    "jwks_uri",
]


def document(issuer: str = ISSUER, **endpoints: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "jwks_uri": f"{issuer}/jwks",
    }
    values.update(endpoints)
    return values


@pytest.mark.parametrize("field", METADATA_ENDPOINTS)
@pytest.mark.parametrize("host", LOCAL_HOSTS)
def test_remote_metadata_with_an_http_loopback_endpoint_is_refused(field: str, host: str) -> None:
    remote = document(**{field: f"http://{host}/x"})
    with pytest.raises(anyoauth.DiscoveryError, match=field):
        anyoauth.ServerMetadata.from_dict(remote, issuer=ISSUER)
    # The explicit test set-up still takes it; https on loopback is no plain-text leak.
    anyoauth.ServerMetadata.from_dict(remote, issuer=ISSUER, allow_insecure=True)
    safe = document(**{field: f"https://{host}/x"})
    anyoauth.ServerMetadata.from_dict(safe, issuer=ISSUER)


@pytest.mark.parametrize("host", LOCAL_HOSTS)
def test_remote_metadata_with_an_http_loopback_mtls_alias_is_refused(host: str) -> None:
    aliases = {"token_endpoint": f"http://{host}/token"}
    with pytest.raises(anyoauth.DiscoveryError, match="mtls_endpoint_aliases"):
        anyoauth.ServerMetadata.from_dict(document(mtls_endpoint_aliases=aliases), issuer=ISSUER)
    with pytest.raises(anyoauth.DiscoveryError, match="mtls_endpoint_aliases"):
        anyoauth.ServerMetadata.from_dict(
            document(mtls_endpoint_aliases=["https://as.example/token"]), issuer=ISSUER
        )


@pytest.mark.parametrize("host", LOCAL_HOSTS)
def test_loopback_metadata_may_use_http_loopback_endpoints(host: str) -> None:
    local = f"http://{host}"
    endpoints = {field: f"http://127.0.0.1:7000/{field}" for field in METADATA_ENDPOINTS}
    metadata = anyoauth.ServerMetadata.from_dict(document(local, **endpoints), issuer=local)
    assert metadata.token_endpoint == "http://127.0.0.1:7000/token_endpoint"
    strategy = anyoauth.DeviceCode.from_metadata(metadata, client_id="tv")
    assert strategy.allow_insecure is False
    assert strategy.device_authorization_endpoint == endpoints["device_authorization_endpoint"]


@pytest.mark.parametrize("field", [*STRATEGY_ENDPOINTS, "device_authorization_endpoint"])
@pytest.mark.parametrize("host", LOCAL_HOSTS)
def test_a_strategy_of_a_remote_issuer_refuses_http_loopback_endpoints(
    field: str, host: str
) -> None:
    values: dict[str, Any] = {
        "client_id": "c",
        "client_secret": "s",
        "issuer": ISSUER,
        "token_endpoint": f"{ISSUER}/token",
        "device_authorization_endpoint": f"{ISSUER}/device",
        field: f"http://{host}/x",
    }
    with pytest.raises(anyoauth.ConfigurationError, match=field):
        anyoauth.DeviceCode(**values)
    anyoauth.DeviceCode(**values, allow_insecure=True)
    anyoauth.DeviceCode(**{**values, "issuer": f"http://{host}"})
    without_issuer: dict[str, Any] = {
        k: v for k, v in values.items() if k not in ("issuer", "jwks_uri")
    }
    anyoauth.DeviceCode(**without_issuer)


def test_from_metadata_refuses_an_http_loopback_endpoint_of_a_remote_issuer() -> None:
    # ServerMetadata built by hand skips from_dict's checks: the strategy checks again.
    unchecked = anyoauth.ServerMetadata(
        issuer=ISSUER,
        authorization_endpoint=f"{ISSUER}/authorize",
        token_endpoint="http://127.0.0.1:8080/token",
    )
    with pytest.raises(anyoauth.ConfigurationError, match="token_endpoint"):
        anyoauth.AuthorizationCode.from_metadata(
            unchecked, client_id="c", client_secret="s", redirect_uri="https://app.example/cb"
        )


def test_from_metadata_never_turns_allow_insecure_on() -> None:
    remote = anyoauth.ServerMetadata.from_dict(
        document("http://as.test"), issuer="http://as.test", allow_insecure=True
    )
    with pytest.raises(anyoauth.ConfigurationError, match="https"):
        anyoauth.ClientCredentials.from_metadata(remote, client_id="c", client_secret="s")
    explicit = anyoauth.ClientCredentials.from_metadata(
        remote, client_id="c", client_secret="s", allow_insecure=True
    )
    assert explicit.allow_insecure is True
    local = anyoauth.ServerMetadata.from_dict(
        document("http://127.0.0.1:9000"), issuer="http://127.0.0.1:9000"
    )
    strategy = anyoauth.ClientCredentials.from_metadata(local, client_id="c", client_secret="s")
    assert strategy.allow_insecure is False


@pytest.mark.anyio
async def test_remote_metadata_pointing_at_a_local_port_never_gets_the_secret_sent(
    http_module: ModuleType,
) -> None:
    """A real listener on a loopback port, named by an https server's metadata."""
    async with fs.fault_server(default=fs.respond(200, b"{}")) as local:

        def metadata(request: Any) -> Any:
            body = json.dumps(document(token_endpoint=local.url + "/token")).encode()
            return http_module.Response(
                200, content=body, headers={"Content-Type": "application/json"}
            )

        mounts = {ISSUER: http_module.MockTransport(metadata)}
        async with http_module.AsyncClient(mounts=mounts) as http:
            with pytest.raises(anyoauth.DiscoveryError, match="token_endpoint"):
                await anyoauth.discover(ISSUER, http=http)
    assert local.connections == 0


@pytest.mark.anyio
async def test_a_loopback_issuer_with_loopback_endpoints_still_works(
    http_module: ModuleType,
) -> None:
    emulator = ProviderEmulator()
    emulator.add_oauth_client(
        "service",
        client_secret="service-secret",
        grant_types=["client_credentials"],
        auth_method="client_secret_basic",
    )
    async with (
        emulator.serve() as base_url,
        http_module.AsyncClient() as http,
    ):
        metadata = await anyoauth.discover(base_url, http=http)
        assert metadata.token_endpoint is not None
        assert metadata.token_endpoint.startswith("http://127.0.0.1:")
        service = anyoauth.ClientCredentials.from_metadata(
            metadata, client_id="service", client_secret="service-secret"
        )
        assert service.allow_insecure is False
        async with anyoauth.Client(service, http=http) as client:
            assert (await client.token()).access_token
