"""anyoauth's rich authorization requests (RFC 9396) against panva's oidc-provider
(``features.richAuthorizationRequests``, fixture ``op_server_rar``).

Through :class:`anyoauth.Client` only: the server lists its types in the metadata; a
code + PKCE login (plain, pushed, and in a signed request object) asks for details, the
user consents to them, and the token carries the granted details, kept across a
refresh and shown by introspection; details narrowed at the code exchange come back
narrowed; client credentials ask for details and get them; a detail the server's policy
refuses is ``invalid_authorization_details`` (nothing stored); a type the server does
not list is refused by ``from_metadata`` before anything is sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import pytest

import anyoauth
from anyoauth import AuthorizationCode, Client, discover
from interop.op import RAR_TYPES, REDIRECT_URI, OpServer
from interop.op_user import ScriptedUser, authorize_as_user

pytestmark = pytest.mark.anyio

PAYMENT = {
    "type": "payment_initiation",
    "actions": ["initiate", "status"],
    "instructedAmount": {"currency": "EUR", "amount": "123.50"},
}
ACCOUNTS = {"type": "account_information", "actions": ["read"]}


@pytest.fixture
async def http(http_module: ModuleType) -> AsyncIterator[Any]:
    async with http_module.AsyncClient(follow_redirects=False, timeout=20.0) as client:
        yield client


async def rar_strategy(http: Any, server: OpServer, **kwargs: Any) -> AuthorizationCode:
    client = server.clients["basic"]
    settings: dict[str, Any] = {
        "client_id": client.client_id,
        "client_secret": client.client_secret,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid",
        "authorization_details": [PAYMENT, ACCOUNTS],
    }
    settings.update(kwargs)
    return AuthorizationCode.from_metadata(await discover(server.issuer, http=http), **settings)


def plain(details: Any) -> Any:
    token = anyoauth.Token(access_token="a", issued_at=0, authorization_details=details)
    return token.to_dict()["authorization_details"]


async def test_the_metadata_lists_the_types(op_server_rar: OpServer, http: Any) -> None:
    found = await discover(op_server_rar.issuer, http=http)
    assert set(found.authorization_details_types_supported) == set(RAR_TYPES)


async def test_a_code_login_brings_the_granted_details(
    op_server_rar: OpServer, http_module: ModuleType, http: Any
) -> None:
    server = op_server_rar
    strategy = await rar_strategy(http, server)
    async with Client(strategy, http=http) as client:
        token = await client.login(ScriptedUser(http_module, login="rhea"))
        assert plain(token.authorization_details) == [PAYMENT, ACCOUNTS]
        assert token.id_token_claims is not None
        found = await client.introspect()
        assert found.active
        assert plain(found.authorization_details) == [PAYMENT, ACCOUNTS]
        renewed = await client.refresh()
        assert renewed.access_token != token.access_token
        assert plain(renewed.authorization_details) == [PAYMENT, ACCOUNTS]


async def test_pushed_details_are_granted(
    op_server_rar: OpServer, http_module: ModuleType, http: Any
) -> None:
    strategy = await rar_strategy(
        http, op_server_rar, authorization_details=[ACCOUNTS], push_authorization_request=True
    )
    async with Client(strategy, http=http) as client:
        start = await client.begin()
        assert "authorization_details" not in start.url
        token = await client.complete(await authorize_as_user(http_module, start.url))
    assert plain(token.authorization_details) == [ACCOUNTS]


async def test_details_in_a_signed_request_object_are_granted(
    op_server_rar: OpServer, http_module: ModuleType, http: Any
) -> None:
    client = op_server_rar.clients["jar"]
    strategy = await rar_strategy(
        http,
        op_server_rar,
        client_id=client.client_id,
        client_secret=None,
        client_auth="private_key_jwt",
        client_key=dict(client.private_jwk or {}),
        client_assertion_algorithm=client.signing_alg,
        sign_request_object=True,
        authorization_details=[PAYMENT],
    )
    async with Client(strategy, http=http) as session:
        token = await session.login(ScriptedUser(http_module))
    assert plain(token.authorization_details) == [PAYMENT]


async def test_details_narrowed_at_the_code_exchange(
    op_server_rar: OpServer, http_module: ModuleType, http: Any
) -> None:
    strategy = await rar_strategy(http, op_server_rar, token_authorization_details=[ACCOUNTS])
    async with Client(strategy, http=http) as client:
        token = await client.login(ScriptedUser(http_module))
    assert plain(token.authorization_details) == [ACCOUNTS]


async def test_a_detail_the_server_refuses_is_invalid_authorization_details(
    op_server_rar: OpServer, http_module: ModuleType, http: Any
) -> None:
    strategy = await rar_strategy(
        http, op_server_rar, authorization_details=[{"type": "payment_initiation"}]
    )
    async with Client(strategy, http=http) as client:
        start = await client.begin()
        with pytest.raises(anyoauth.AuthorizationDenied) as denied:
            await client.complete(await authorize_as_user(http_module, start.url))
    assert denied.value.error == "invalid_authorization_details"


async def test_an_unlisted_type_is_refused_before_anything_is_sent(
    op_server_rar: OpServer, http: Any
) -> None:
    with pytest.raises(anyoauth.ConfigurationError, match="customer_information"):
        await rar_strategy(
            http, op_server_rar, authorization_details=[{"type": "customer_information"}]
        )


async def test_client_credentials_bring_the_granted_details(
    op_server_rar: OpServer, http: Any
) -> None:
    client = op_server_rar.clients["service"]
    strategy = anyoauth.ClientCredentials.from_metadata(
        await discover(op_server_rar.issuer, http=http),
        client_id=client.client_id,
        client_secret=client.client_secret,
        authorization_details=[ACCOUNTS],
    )
    async with Client(strategy, http=http) as session:
        token = await session.token()
        assert plain(token.authorization_details) == [ACCOUNTS]
        found = await session.introspect()
    assert plain(found.authorization_details) == [ACCOUNTS]


async def test_client_credentials_with_a_refused_detail_keep_nothing(
    op_server_rar: OpServer, http: Any
) -> None:
    client = op_server_rar.clients["service"]
    strategy = anyoauth.ClientCredentials.from_metadata(
        await discover(op_server_rar.issuer, http=http),
        client_id=client.client_id,
        client_secret=client.client_secret,
        authorization_details=[{"type": "account_information"}],
    )
    store = anyoauth.MemoryStore()
    async with Client(strategy, http=http, store=store) as session:
        with pytest.raises(anyoauth.TokenRequestError) as refused:
            await session.token()
        assert await store.get_token(session.token_key) is None
    assert refused.value.error == "invalid_authorization_details"
