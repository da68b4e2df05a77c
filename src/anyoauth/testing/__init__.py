"""A provider emulator for your own tests: Geni, Teamwork, Keycloak (Bank of Georgia)
and a generic standards-following OAuth 2.0 / OpenID Connect server.

`ProviderEmulator` speaks each provider's real paths and payload shapes on one
origin, so one base URL serves all of them::

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
    Generic OAuth 2.0 / OpenID Connect server (issuer: the base URL)
      GET  /.well-known/oauth-authorization-server, /.well-known/openid-configuration
      GET  /oauth/authorize                     consent page (code + PKCE S256, or token)
      POST /oauth/authorize/decision            -> redirect_uri?code=..&state=..&iss=..
      POST /oauth/token                         code, refresh (rotating), client credentials,
                                                device code
      POST /oauth/device                        device authorization (RFC 8628)
      GET  /device, POST /device/decision       verification page (user_code)
      POST /oauth/revoke, /oauth/introspect     RFC 7009, RFC 7662
      GET  /oauth/jwks, /oauth/userinfo         id_token keys (RS256), OpenID userinfo
      GET  /api/me                              API (Bearer, or DPoP with a proof)
      /mtls/oauth/{token,device,revoke,introspect,userinfo}  mutual-TLS aliases (RFC 8705)
    Google, Microsoft Entra ID, GitHub and GitLab on the generic server, each with its
    own paths and quirks (see docs/providers.md)
      /o/oauth2/v2/auth, /token, /device/code, /oauth2/v3/certs, /revoke, /v1/userinfo
      /{tenant}/oauth2/v2.0/{authorize,token,devicecode}, /{tenant}/discovery/v2.0/keys,
      /{tenant}/v2.0/.well-known/openid-configuration   (the user's tenant: entra_tenant)
      /login/oauth/authorize, /login/oauth/access_token, /login/device/code
      /oauth/authorize_device, /oauth/discovery/keys     (GitLab; the rest is /oauth/...)
    Apple, Auth0, Okta, Slack, Discord, Dropbox, Salesforce and X likewise (their knobs:
    ProviderEmulator.provider_quirks, a ProviderQuirks)
      /auth/{authorize,token,keys,revoke}                (Apple: ES256 client secret JWTs)
      /authorize, /oauth/device/code, /.well-known/jwks.json, /userinfo   (Auth0)
      /oauth2/v1/..., /oauth2/{server}/v1/...            (Okta: org and custom servers)
      /oauth/v2/authorize, /api/oauth.v2.access          (Slack: ok false at HTTP 200)
      /oauth2/authorize, /api/oauth2/token[/revoke], /oauth2/token   (Discord, Dropbox)
      /services/oauth2/..., /id/keys                     (Salesforce: issued_at in ms)
      /i/oauth2/authorize, /2/oauth2/{token,revoke}      (X: PKCE required)
    DPoP (RFC 9449) on the generic server: a proof at the token endpoint binds the
    tokens to its key (token_type DPoP); the ``oauth_*dpop*`` options require proofs
    and nonces or stage a misbehaving server.

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
from ._dpop import DPOP_SIGNING_ALGS as DPOP_SIGNING_ALGS
from ._dpop import MAX_DPOP_PROOF_BYTES as MAX_DPOP_PROOF_BYTES
from ._emulator import ProviderEmulator as ProviderEmulator
from ._geni import GENI_AUTHORIZE_PATH as GENI_AUTHORIZE_PATH
from ._geni import GENI_DECISION_PATH as GENI_DECISION_PATH
from ._geni import GENI_FAILURE_PATH as GENI_FAILURE_PATH
from ._geni import GENI_PROFILE_PATH as GENI_PROFILE_PATH
from ._geni import GENI_SUCCESS_PATH as GENI_SUCCESS_PATH
from ._geni import GENI_TOKEN_PATH as GENI_TOKEN_PATH
from ._geni import GeniEndpoints as GeniEndpoints
from ._keycloak import BOG_ACCOUNTS_PATH as BOG_ACCOUNTS_PATH
from ._keycloak import KEYCLOAK_REALM_PATH as KEYCLOAK_REALM_PATH
from ._keycloak import KeycloakEndpoints as KeycloakEndpoints
from ._oauth_server import OAUTH_API_PATH as OAUTH_API_PATH
from ._oauth_server import OAUTH_AUTHORIZE_PATH as OAUTH_AUTHORIZE_PATH
from ._oauth_server import OAUTH_DECISION_PATH as OAUTH_DECISION_PATH
from ._oauth_server import OAUTH_DEVICE_AUTHORIZATION_PATH as OAUTH_DEVICE_AUTHORIZATION_PATH
from ._oauth_server import OAUTH_END_SESSION_PATH as OAUTH_END_SESSION_PATH
from ._oauth_server import OAUTH_INTROSPECTION_PATH as OAUTH_INTROSPECTION_PATH
from ._oauth_server import OAUTH_JWKS_PATH as OAUTH_JWKS_PATH
from ._oauth_server import OAUTH_METADATA_PATH as OAUTH_METADATA_PATH
from ._oauth_server import OAUTH_MTLS_PREFIX as OAUTH_MTLS_PREFIX
from ._oauth_server import OAUTH_PAR_PATH as OAUTH_PAR_PATH
from ._oauth_server import OAUTH_REVOCATION_PATH as OAUTH_REVOCATION_PATH
from ._oauth_server import OAUTH_TOKEN_PATH as OAUTH_TOKEN_PATH
from ._oauth_server import OAUTH_USERINFO_PATH as OAUTH_USERINFO_PATH
from ._oauth_server import OAUTH_VERIFICATION_DECISION_PATH as OAUTH_VERIFICATION_DECISION_PATH
from ._oauth_server import OAUTH_VERIFICATION_PATH as OAUTH_VERIFICATION_PATH
from ._oauth_server import OPENID_CONFIGURATION_PATH as OPENID_CONFIGURATION_PATH
from ._oauth_server import OAuthEndpoints as OAuthEndpoints
from ._provider_profiles_more import ProviderQuirks as ProviderQuirks
from ._store_contract import STORE_RULES as STORE_RULES
from ._store_contract import check_store as check_store
from ._teamwork import TEAMWORK_DECISION_PATH as TEAMWORK_DECISION_PATH
from ._teamwork import TEAMWORK_LOGIN_PATH as TEAMWORK_LOGIN_PATH
from ._teamwork import TEAMWORK_ME_PATH as TEAMWORK_ME_PATH
from ._teamwork import TEAMWORK_TOKEN_PATH as TEAMWORK_TOKEN_PATH
from ._teamwork import TeamworkEndpoints as TeamworkEndpoints
from ._toolkit import MAX_BODY_BYTES as MAX_BODY_BYTES
from ._toolkit import EmulatorResponse as EmulatorResponse
from ._toolkit import ManualClock as ManualClock

__all__ = [
    "BOG_ACCOUNTS_PATH",
    "DPOP_SIGNING_ALGS",
    "GENI_AUTHORIZE_PATH",
    "GENI_DECISION_PATH",
    "GENI_FAILURE_PATH",
    "GENI_PROFILE_PATH",
    "GENI_SUCCESS_PATH",
    "GENI_TOKEN_PATH",
    "KEYCLOAK_REALM_PATH",
    "MAX_BODY_BYTES",
    "MAX_DPOP_PROOF_BYTES",
    "OAUTH_API_PATH",
    "OAUTH_AUTHORIZE_PATH",
    "OAUTH_DECISION_PATH",
    "OAUTH_DEVICE_AUTHORIZATION_PATH",
    "OAUTH_END_SESSION_PATH",
    "OAUTH_INTROSPECTION_PATH",
    "OAUTH_JWKS_PATH",
    "OAUTH_METADATA_PATH",
    "OAUTH_MTLS_PREFIX",
    "OAUTH_PAR_PATH",
    "OAUTH_REVOCATION_PATH",
    "OAUTH_TOKEN_PATH",
    "OAUTH_USERINFO_PATH",
    "OAUTH_VERIFICATION_DECISION_PATH",
    "OAUTH_VERIFICATION_PATH",
    "OPENID_CONFIGURATION_PATH",
    "STORE_RULES",
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
    "OAuthEndpoints",
    "ProviderEmulator",
    "ProviderQuirks",
    "TeamworkEndpoints",
    "browse",
    "check_store",
]
