"""A provider emulator for your own tests: Geni, Teamwork and Keycloak (Bank of Georgia).

`ProviderEmulator` speaks each provider's real paths and payload shapes on one
origin, so one base URL serves all three::

    Geni (implicit, desktop; the token arrives in a URL fragment)
      GET  /platform/oauth/authorize            consent page
      POST /platform/oauth/authorize/decision   -> auth_success#access_token=..&expires_in=86400
                                                   or auth_failed#status=unauthorized&message=..
      GET  /platform/oauth/auth_success, /platform/oauth/auth_failed
      POST /platform/oauth/request_token        JSON error (the desktop flow has no token request)
      GET  /api/profile                         API (Bearer)
    Teamwork (App Login Flow)
      GET  /launchpad/login                     consent page
      POST /launchpad/login/decision            -> redirect_uri?code=..&state=..
      POST /launchpad/v1/token.json             JSON code exchange (code: 15 min, single use)
      GET  /projects/api/v3/me.json             API (Bearer), under installation.apiEndPoint
    Keycloak realm {realm} (Bank of Georgia: realm "bog"), under
    /auth/realms/{realm}/protocol/openid-connect
      GET  .../auth                             consent page
      POST .../auth/decision                    -> redirect_uri?access_token=..&token_type=bearer
      POST .../token                            client credentials, HTTP Basic client auth
      GET  /api/businessonline/accounts         Bank of Georgia API (Bearer)

Use it in-process with :meth:`ProviderEmulator.mock_transport` or on a loopback
port with :meth:`ProviderEmulator.serve`, and let :func:`browse` click the
consent page::

    emulator = ProviderEmulator()
    emulator.add_teamwork_app("id", "secret", redirect_uris=["myapp://cb"])
    async with (
        emulator.serve() as base,
        httpx.AsyncClient() as browser,
        anyoauth.Client(
            Teamwork("id", "secret", "myapp://cb", **emulator.endpoints_teamwork(base))
        ) as client,
    ):
        start = await client.begin()
        token = await client.complete(await browse(browser, start.url))
    assert emulator.calls["teamwork.token"] == 1

Time comes from an injected clock; :class:`ManualClock` lets a test expire codes
and tokens. Nothing the emulator logs, raises or shows in a repr contains a
secret, code or token.
"""

from ._browser import AsyncHTTPClient as AsyncHTTPClient
from ._browser import BrowseError as BrowseError
from ._browser import browse as browse
from ._emulator import BOG_ACCOUNTS_PATH as BOG_ACCOUNTS_PATH
from ._emulator import GENI_AUTHORIZE_PATH as GENI_AUTHORIZE_PATH
from ._emulator import GENI_DECISION_PATH as GENI_DECISION_PATH
from ._emulator import GENI_FAILURE_PATH as GENI_FAILURE_PATH
from ._emulator import GENI_PROFILE_PATH as GENI_PROFILE_PATH
from ._emulator import GENI_SUCCESS_PATH as GENI_SUCCESS_PATH
from ._emulator import GENI_TOKEN_PATH as GENI_TOKEN_PATH
from ._emulator import KEYCLOAK_REALM_PATH as KEYCLOAK_REALM_PATH
from ._emulator import MAX_BODY_BYTES as MAX_BODY_BYTES
from ._emulator import TEAMWORK_DECISION_PATH as TEAMWORK_DECISION_PATH
from ._emulator import TEAMWORK_LOGIN_PATH as TEAMWORK_LOGIN_PATH
from ._emulator import TEAMWORK_ME_PATH as TEAMWORK_ME_PATH
from ._emulator import TEAMWORK_TOKEN_PATH as TEAMWORK_TOKEN_PATH
from ._emulator import EmulatorResponse as EmulatorResponse
from ._emulator import GeniEndpoints as GeniEndpoints
from ._emulator import KeycloakEndpoints as KeycloakEndpoints
from ._emulator import ManualClock as ManualClock
from ._emulator import ProviderEmulator as ProviderEmulator
from ._emulator import TeamworkEndpoints as TeamworkEndpoints

__all__ = [
    "BOG_ACCOUNTS_PATH",
    "GENI_AUTHORIZE_PATH",
    "GENI_DECISION_PATH",
    "GENI_FAILURE_PATH",
    "GENI_PROFILE_PATH",
    "GENI_SUCCESS_PATH",
    "GENI_TOKEN_PATH",
    "KEYCLOAK_REALM_PATH",
    "MAX_BODY_BYTES",
    "TEAMWORK_DECISION_PATH",
    "TEAMWORK_LOGIN_PATH",
    "TEAMWORK_ME_PATH",
    "TEAMWORK_TOKEN_PATH",
    "AsyncHTTPClient",
    "BrowseError",
    "EmulatorResponse",
    "GeniEndpoints",
    "KeycloakEndpoints",
    "ManualClock",
    "ProviderEmulator",
    "TeamworkEndpoints",
    "browse",
]
