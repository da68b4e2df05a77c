"""The provider presets' quirks cannot be turned against the client: Entra ID's
tenant-templated issuer names exactly the token's own tenant, Google's scheme-less
issuer is its issuer and nothing else, GitHub's errors at HTTP 200 are never tokens,
and form-encoded answers are read strictly (no repeated field, bounded size, no control
character in a token, no secret in an error)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import pytest

from anyoauth import Client, InvalidIdToken, InvalidResponse, TokenRequestError
from anyoauth.providers import EntraID, GitHub, GitHubDevice, Google
from anyoauth.testing import ManualClock, ProviderEmulator, browse

SITE = "https://idp.test"
SECRET = "quirk-secret-SENTINEL-4d5e6f"
REDIRECT = "https://app.example/callback"
TENANT_A = "11111111-2222-4333-8444-555555555555"
TENANT_B = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
FORM = "application/x-www-form-urlencoded"
NOW = 1_700_000_000.0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def provider(clock: ManualClock) -> ProviderEmulator:
    emulator = ProviderEmulator(clock=clock, base_url=SITE)
    emulator.add_oauth_client(
        "web",
        client_secret=SECRET,
        redirect_uris=[REDIRECT],
        auth_method="client_secret_post",
        scopes=None,
    )
    emulator.entra_tenant = TENANT_A
    return emulator


@pytest.fixture
async def http(provider: ProviderEmulator, http_module: ModuleType) -> AsyncIterator[Any]:
    async with http_module.AsyncClient(transport=provider.mock_transport(http_module)) as h:
        yield h


async def refused_login(client: Client, http: Any) -> InvalidIdToken:
    start = await client.begin()
    landed = await browse(http, start.url)
    with pytest.raises(InvalidIdToken) as caught:
        await client.complete(landed)
    assert await client.store.get_token(client.token_key) is None  # nothing kept
    return caught.value


# -- Entra ID: the templated issuer -----------------------------------------------------


@pytest.mark.anyio
async def test_entra_id_token_whose_iss_names_another_tenant_than_its_tid_is_refused(
    provider: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    # iss names tenant A (the user's), tid claims tenant B: one of them lies.
    provider.oauth_id_token_claims = {"tid": TENANT_B}
    async with Client(
        EntraID("web", SECRET, REDIRECT, server_url=SITE), http=http, clock=clock
    ) as c:
        error = await refused_login(c, http)
    assert "iss" in str(error)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "tid",
    ["{tenantid}", "common", "../" + TENANT_A, TENANT_B.upper(), "", 7, None],
    ids=["placeholder", "common", "path", "upper-case", "empty", "number", "missing"],
)
async def test_entra_tid_that_is_no_tenant_id_is_refused(
    provider: ProviderEmulator, http: Any, clock: ManualClock, tid: object
) -> None:
    # The issuer is built from tid only when tid is a tenant id: a hostile tid can
    # never fill the template into an issuer the attacker chose.
    provider.oauth_id_token_claims = {"tid": tid, "iss": f"{SITE}/{tid}/v2.0"}
    async with Client(
        EntraID("web", SECRET, REDIRECT, server_url=SITE), http=http, clock=clock
    ) as c:
        error = await refused_login(c, http)
    assert "tid" in str(error)


@pytest.mark.anyio
async def test_entra_id_token_naming_the_template_itself_is_refused(
    provider: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    provider.oauth_id_token_claims = {"iss": SITE + "/{tenantid}/v2.0"}
    async with Client(
        EntraID("web", SECRET, REDIRECT, server_url=SITE), http=http, clock=clock
    ) as c:
        await refused_login(c, http)


@pytest.mark.anyio
async def test_entra_single_tenant_app_refuses_a_user_of_another_tenant(
    provider: ProviderEmulator, http: Any, clock: ManualClock
) -> None:
    provider.entra_tenant = TENANT_B  # a consistent token, of the wrong tenant
    strategy = EntraID("web", SECRET, REDIRECT, server_url=SITE, tenant=TENANT_A)
    async with Client(strategy, http=http, clock=clock) as c:
        await refused_login(c, http)


# -- Google: the scheme-less issuer -------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    "iss", ["evil.example", "http://idp.test", "idp.test/", "https://idp.test.evil"]
)
async def test_google_id_token_of_another_issuer_is_refused(
    provider: ProviderEmulator, http: Any, clock: ManualClock, iss: str
) -> None:
    provider.oauth_id_token_claims = {"iss": iss}
    async with Client(
        Google("web", SECRET, REDIRECT, server_url=SITE), http=http, clock=clock
    ) as c:
        await refused_login(c, http)


# -- GitHub: errors at HTTP 200 and form answers (sans-IO) --------------------------------


def github() -> GitHub:
    return GitHub("web", SECRET, REDIRECT)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (FORM, b"error=bad_verification_code&access_token=gho_SENTINEL&token_type=bearer"),
        ("application/json", b'{"error":"bad_verification_code","access_token":"gho_x"}'),
        (FORM, b"error=incorrect_client_credentials&error_description=The+client_id"),
    ],
    ids=["form", "json", "form-without-token"],
)
def test_github_error_at_http_200_is_never_a_token(content_type: str, body: bytes) -> None:
    with pytest.raises(TokenRequestError) as caught:
        github().parse_token_response(200, content_type, body, NOW)
    assert caught.value.status_code == 200
    assert "SENTINEL" not in str(caught.value)


@pytest.mark.parametrize(
    "body",
    [
        b"access_token=gho_a&access_token=gho_SENTINEL&token_type=bearer",
        b"access_token=gho_SENTINEL&token_type=bearer&token_type=mac",
        b"access_token=gho_SENTINEL&token_type=bearer&error=x&error=",
        b"=gho_SENTINEL&access_token=gho_a&token_type=bearer",
        b"access_token=gho_SENTINEL&&token_type=bearer",
        b"access_token=gho_SENTINEL&junk",
        b"access_token=\xff\xfe&token_type=bearer",
        b"access_token=gho_SENTINEL&" + b"&".join(b"f%d=1" % i for i in range(100)),
        b"access_token=gho_SENTINEL&pad=" + b"a" * 70_000,
        b"access_token=gho%0d%0aSet-Cookie:%20x&token_type=bearer",
        b"access_token=gho+SENTINEL&token_type=bearer",
        b"access_token=&token_type=bearer",
    ],
    ids=[
        "repeated-token",
        "repeated-type",
        "repeated-error",
        "empty-name",
        "empty-pair",
        "bare-name",
        "not-utf8",
        "too-many-fields",
        "too-large",
        "crlf-in-token",
        "space-in-token",
        "empty-token",
    ],
)
def test_hostile_form_answers_are_refused(body: bytes) -> None:
    with pytest.raises(InvalidResponse) as caught:
        github().parse_token_response(200, FORM + "; charset=utf-8", body, NOW)
    assert "SENTINEL" not in str(caught.value)
    assert caught.value.__context__ is None or "SENTINEL" not in str(caught.value.__context__)


def test_github_device_answer_with_a_repeated_device_code_is_refused() -> None:
    body = (
        b"device_code=dc1&device_code=dc2&user_code=ABCD-EFGH"
        b"&verification_uri=https%3A%2F%2Fgithub.com%2Flogin%2Fdevice&expires_in=900&interval=5"
    )
    with pytest.raises(InvalidResponse):
        GitHubDevice("cli").read_device_authorization(200, FORM, body, NOW)


def test_only_github_presets_read_form_answers() -> None:
    body = b"access_token=gho_SENTINEL&token_type=bearer"
    token = github().parse_token_response(200, FORM, body, NOW)
    assert token.access_token == "gho_SENTINEL"
    with pytest.raises(InvalidResponse) as caught:
        Google("web", SECRET, REDIRECT).parse_token_response(200, FORM, body, NOW)
    assert "SENTINEL" not in str(caught.value)
