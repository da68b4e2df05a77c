"""Presets for the providers anyoauth knows: each a strategy class of its own, whose
constructor takes the provider's settings and fills in the rest.

Google, Microsoft Entra ID, GitHub and GitLab live in :mod:`anyoauth._presets` with
the rules their quirks need (:class:`IssuerRule`, :class:`FormAnswers`); Apple, Auth0,
Okta, Slack, Discord, Dropbox, Salesforce and X in :mod:`anyoauth._presets_more`
(:class:`AppleClientSecret`, Slack's and Salesforce's answers). They are re-exported
here.

Every preset takes endpoint overrides so tests and staging set-ups can point it
at another host (for example :class:`anyoauth.testing.ProviderEmulator`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import attrs

from ._core.dpop import DPoPKey
from ._core.errors import ConfigurationError
from ._core.strategies import ClientCredentials, CodeJsonExchange, ImplicitDesktop, TokenExchange
from ._presets import (
    ENTRA_AUTHORITY,
    ENTRA_CONSUMERS_TENANT_ID,
    GITHUB_URL,
    GITLAB_URL,
    GOOGLE_AUTHORIZE_URL,
    GOOGLE_DEVICE_URL,
    GOOGLE_ISSUER,
    GOOGLE_JWKS_URL,
    GOOGLE_REVOKE_URL,
    GOOGLE_TOKEN_URL,
    GOOGLE_USERINFO_URL,
    EntraClientCredentials,
    EntraDevice,
    EntraID,
    FormAnswers,
    GitHub,
    GitHubDevice,
    GitLab,
    GitLabDevice,
    Google,
    GoogleDevice,
    IssuerRule,
)
from ._presets_more import (
    APPLE_AUDIENCE,
    APPLE_MAX_SECRET_LIFETIME,
    APPLE_URL,
    DISCORD_URL,
    DROPBOX_API_URL,
    DROPBOX_URL,
    SALESFORCE_LOGIN_URL,
    SALESFORCE_TEST_URL,
    SLACK_URL,
    X_API_URL,
    X_URL,
    Apple,
    AppleClientSecret,
    Auth0,
    Auth0ClientCredentials,
    Auth0Device,
    Discord,
    Dropbox,
    Okta,
    OktaDevice,
    Salesforce,
    Slack,
    X,
    read_apple_user,
    salesforce_expiry,
)

__all__ = [
    "APPLE_AUDIENCE",
    "APPLE_MAX_SECRET_LIFETIME",
    "APPLE_URL",
    "BOG_SERVER_URL",
    "DISCORD_URL",
    "DROPBOX_API_URL",
    "DROPBOX_URL",
    "ENTRA_AUTHORITY",
    "ENTRA_CONSUMERS_TENANT_ID",
    "GENI_AUTHORIZE_URL",
    "GENI_FAILURE_URL",
    "GENI_SUCCESS_URL",
    "GENI_TOKEN_URL",
    "GITHUB_URL",
    "GITLAB_URL",
    "GOOGLE_AUTHORIZE_URL",
    "GOOGLE_DEVICE_URL",
    "GOOGLE_ISSUER",
    "GOOGLE_JWKS_URL",
    "GOOGLE_REVOKE_URL",
    "GOOGLE_TOKEN_URL",
    "GOOGLE_USERINFO_URL",
    "SALESFORCE_LOGIN_URL",
    "SALESFORCE_TEST_URL",
    "SLACK_URL",
    "TEAMWORK_LOGIN_URL",
    "TEAMWORK_TOKEN_URL",
    "X_API_URL",
    "X_URL",
    "Apple",
    "AppleClientSecret",
    "Auth0",
    "Auth0ClientCredentials",
    "Auth0Device",
    "BankOfGeorgia",
    "Discord",
    "Dropbox",
    "EntraClientCredentials",
    "EntraDevice",
    "EntraID",
    "FormAnswers",
    "Geni",
    "GeniDesktop",
    "GitHub",
    "GitHubDevice",
    "GitLab",
    "GitLabDevice",
    "Google",
    "GoogleDevice",
    "IssuerRule",
    "Keycloak",
    "KeycloakClientCredentials",
    "KeycloakTokenExchange",
    "Okta",
    "OktaDevice",
    "Salesforce",
    "Slack",
    "Teamwork",
    "TeamworkExchange",
    "X",
    "read_apple_user",
    "salesforce_expiry",
]

GENI_AUTHORIZE_URL = "https://www.geni.com/platform/oauth/authorize"
"""Geni's authorization endpoint."""
GENI_SUCCESS_URL = "https://www.geni.com/platform/oauth/auth_success"
"""The special URL Geni's desktop flow lands on when the user allows access."""
GENI_FAILURE_URL = "https://www.geni.com/platform/oauth/auth_failed"
"""The special URL Geni's desktop flow lands on when the user declines."""
GENI_TOKEN_URL = "https://www.geni.com/platform/oauth/request_token"
"""Geni's token endpoint (not used by the desktop flow)."""
TEAMWORK_LOGIN_URL = "https://www.teamwork.com/launchpad/login"
"""Teamwork Launchpad's login URL for the App Login Flow."""
TEAMWORK_TOKEN_URL = "https://www.teamwork.com/launchpad/v1/token.json"
"""Teamwork Launchpad's code exchange endpoint."""
BOG_SERVER_URL = "https://account.bog.ge/auth"
"""Bank of Georgia's Keycloak server (realm ``bog``)."""


@attrs.frozen(kw_only=True, init=False)
class Geni(ImplicitDesktop):
    """Geni's desktop flow: an embedded browser lands on a special URL with the token.

    The authorization URL carries ``response_type=token`` and ``display=desktop``
    and comma-separated scopes. The token arrives in the fragment of
    ``auth_success``; ``auth_failed`` reports a denial. Geni issues no refresh
    token in this flow: once the token expires, ``token()`` raises ``LoginRequired``.
    Any other strategy setting may be given by its name (``settings``).
    """

    name: ClassVar[str] = "geni"

    def __init__(
        self,
        client_id: str,
        *,
        scope: str | Iterable[str] | None = None,
        authorize_url: str = GENI_AUTHORIZE_URL,
        success_url: str = GENI_SUCCESS_URL,
        failure_url: str | None = GENI_FAILURE_URL,
        token_url: str = GENI_TOKEN_URL,
        state_ttl: float = 600.0,
        **settings: Any,
    ) -> None:
        preset: dict[str, Any] = {
            "client_id": client_id,
            "authorization_endpoint": authorize_url,
            "token_endpoint": token_url,
            "success_url": success_url,
            "failure_url": failure_url,
            "scope": scope,
            "extra_authorization_params": {"display": "desktop"},
            "state_ttl": state_ttl,
        }
        self.__attrs_init__(**{**preset, **settings})


@attrs.frozen(kw_only=True, init=False)
class Teamwork(CodeJsonExchange):
    """Teamwork.com's App Login Flow: code in the redirect, exchanged by a JSON POST.

    ``site`` sends the user to ``https://{site}.teamwork.com/launchpad/login``;
    ``origin`` is sent as the ``Origin`` header when the app has allowed origins.
    The access token is permanent (no expiry, no refresh); the token keeps
    ``installation`` (with ``apiEndPoint``) and ``user`` in :attr:`Token.extra`.
    Any other strategy setting may be given by its name (``settings``).
    """

    name: ClassVar[str] = "teamwork"

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        *,
        origin: str | None = None,
        site: str | None = None,
        login_url: str | None = None,
        token_url: str = TEAMWORK_TOKEN_URL,
        state_ttl: float = 600.0,
        **settings: Any,
    ) -> None:
        if login_url is None:
            login_url = (
                TEAMWORK_LOGIN_URL
                if site is None
                else f"https://{site}.teamwork.com/launchpad/login"
            )
        preset: dict[str, Any] = {
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uri": redirect_uri,
            "authorization_endpoint": login_url,
            "token_endpoint": token_url,
            "origin": origin,
            "state_ttl": state_ttl,
        }
        self.__attrs_init__(**{**preset, **settings})


@attrs.frozen(kw_only=True, init=False)
class Keycloak(ClientCredentials):
    """Any Keycloak realm: client credentials with HTTP Basic client authentication.

    With a ``redirect_uri``, ``begin()``/``complete()`` run the realm's implicit
    authorize step (``response_type=token``, ``kc_locale`` from ``locale``); the
    token is read from the query or the fragment. Keycloak's extra fields
    (``refresh_expires_in``, ``not-before-policy``, ...) are kept in :attr:`Token.extra`.
    ``server_url`` and ``realm`` name the endpoints; they may be left out when both
    ``authorization_endpoint`` and ``token_endpoint`` are given among ``settings``.

    ``dpop_key`` (a :class:`~anyoauth.DPoPKey`) sends a DPoP proof (RFC 9449) with
    every token request: Keycloak then binds the access token of any grant, client
    credentials included, to the key (``token_type`` ``DPoP``, ``cnf.jkt``), and
    :meth:`Client.auth` sends it as ``Authorization: DPoP`` with a proof. Keycloak
    does not bind a confidential client's refresh token (each refresh with a proof
    binds the new access token), and issues no DPoP token from the implicit step:
    a token the authorize step returns is a bearer token (a client with "Require
    DPoP bound tokens" on has that step refused). DPoP is a preview feature since
    Keycloak 23 and supported since Keycloak 26.4; a realm without it answers
    bearer tokens, used as such. See
    https://www.keycloak.org/securing-apps/dpop and
    https://www.keycloak.org/2025/10/dpop-support-26-4.

    ``push_authorization_request=True`` pushes the authorize step's request
    (RFC 9126, with the client's HTTP Basic authentication and the DPoP proof) to
    the realm's ``.../protocol/openid-connect/ext/par/request`` endpoint (or
    ``par_url``); the browser then gets only ``client_id`` and ``request_uri``.
    It concerns the authorize step alone, so it needs a ``redirect_uri``: the client
    credentials grant has no authorization request to push. Keycloak's PAR endpoint
    takes any response type the client may use, ``token`` included, and its
    ``request_uri`` lives 60 seconds unless the realm says otherwise. See the
    "Pushed authorization request endpoint" of the realm's
    ``.well-known/openid-configuration`` and
    https://www.keycloak.org/docs/latest/server_admin/#_oidc_clients.
    """

    name: ClassVar[str] = "keycloak"

    def __init__(
        self,
        server_url: str | None = None,
        realm: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        *,
        redirect_uri: str | None = None,
        scope: str | Iterable[str] | None = None,
        locale: str | None = None,
        send_redirect_uri: bool = False,
        authorize_url: str | None = None,
        token_url: str | None = None,
        par_url: str | None = None,
        state_ttl: float = 600.0,
        dpop_key: DPoPKey | None = None,
        push_authorization_request: bool = False,
        **settings: Any,
    ) -> None:
        if server_url is not None and realm is not None:
            base = f"{server_url.rstrip('/')}/realms/{realm}/protocol/openid-connect"
            authorize_url = authorize_url or f"{base}/auth"
            token_url = token_url or f"{base}/token"
            if push_authorization_request:
                par_url = par_url or f"{base}/ext/par/request"
        elif not {"authorization_endpoint", "token_endpoint"} <= settings.keys():
            raise ConfigurationError("Keycloak needs server_url and realm")
        if push_authorization_request and redirect_uri is None:
            raise ConfigurationError(
                "push_authorization_request pushes the authorize step: it needs a redirect_uri"
            )
        # Only what was asked for is set: a preset without DPoP or PAR is unchanged.
        extra: dict[str, Any] = {}
        if dpop_key is not None:
            extra["dpop_key"] = dpop_key
        if push_authorization_request:
            extra["pushed_authorization_request_endpoint"] = par_url
            extra["push_authorization_request"] = True
        preset: dict[str, Any] = {
            **extra,
            "client_id": client_id,
            "client_secret": client_secret,
            "authorization_endpoint": authorize_url,
            "token_endpoint": token_url,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "extra_authorization_params": {} if locale is None else {"kc_locale": locale},
            "send_redirect_uri": send_redirect_uri,
            "state_ttl": state_ttl,
        }
        self.__attrs_init__(**{**preset, **settings})


@attrs.frozen(kw_only=True, init=False)
class KeycloakTokenExchange(TokenExchange):
    """Keycloak's standard token exchange (token exchange v2, Keycloak 26.2 and later):
    a confidential client of a realm trades an access token issued for it (the
    ``subject_token``) for one aimed at other clients of the same realm.

    The exchange goes to the realm's token endpoint with the client's secret (HTTP
    Basic) or any other ``client_auth``. ``audience`` names the target clients by
    client id (repeatable), ``scope`` narrows the scopes; ``requested_token_type`` may
    be the access token type (Keycloak's default), the refresh token type (when the
    client allows it) or the id_token type (Keycloak answers ``N_A``: the token is
    handed out by :meth:`Client.token`, never sent by :meth:`Client.auth`). The
    subject token must be an access token (Keycloak takes no other type) whose
    audience includes the requesting client. The client needs "Standard token
    exchange" turned on in its capability config. The realm's URL is the issuer, so
    client assertions name it. See https://www.keycloak.org/securing-apps/token-exchange.
    """

    name: ClassVar[str] = "keycloak-token-exchange"

    def __init__(
        self,
        server_url: str | None = None,
        realm: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        *,
        subject_token: str,
        audience: str | Iterable[str] = (),
        scope: str | Iterable[str] | None = None,
        requested_token_type: str | None = None,
        token_url: str | None = None,
        dpop_key: DPoPKey | None = None,
        **settings: Any,
    ) -> None:
        if server_url is not None and realm is not None:
            issuer = f"{server_url.rstrip('/')}/realms/{realm}"
            token_url = token_url or f"{issuer}/protocol/openid-connect/token"
            settings.setdefault("issuer", issuer)
        elif "token_endpoint" not in settings and token_url is None:
            raise ConfigurationError("KeycloakTokenExchange needs server_url and realm")
        extra: dict[str, Any] = {}
        if dpop_key is not None:
            extra["dpop_key"] = dpop_key
        preset: dict[str, Any] = {
            **extra,
            "client_id": client_id,
            "client_secret": client_secret,
            "token_endpoint": token_url,
            "subject_token": subject_token,
            "audience": audience,
            "scope": scope,
            "requested_token_type": requested_token_type,
        }
        self.__attrs_init__(**{**preset, **settings})


@attrs.frozen(kw_only=True, init=False)
class BankOfGeorgia(Keycloak):
    """Bank of Georgia Business Online: Keycloak realm ``bog`` with scope ``corp``.

    ``token()`` runs the client credentials grant with HTTP Basic authentication
    (and the ``redirect_uri`` the bank's docs send, when one is set). With a
    ``redirect_uri``, ``begin()``/``complete()`` run the authorize step
    (``response_type=token``, ``scope=corp``, ``kc_locale=ka`` for Georgian via
    ``locale="ka"``). API calls go to ``https://api.businessonline.ge/api/``.
    Its tokens share the ``keycloak`` namespace of a store, as any Keycloak realm's.

    ``dpop_key`` and ``push_authorization_request`` (with ``par_url``) work as
    for :class:`Keycloak`: the bank's token requests carry DPoP proofs, so its
    client credentials tokens come back bound to the key when the bank's Keycloak
    binds them, and the authorize step is pushed to
    ``https://account.bog.ge/auth/realms/bog/protocol/openid-connect/ext/par/request``.
    The bank's documentation names neither; whether its realm honours them is the
    bank's configuration (an unbound answer is used as a bearer token).
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        redirect_uri: str | None = None,
        locale: str | None = None,
        server_url: str = BOG_SERVER_URL,
        realm: str = "bog",
        authorize_url: str | None = None,
        token_url: str | None = None,
        par_url: str | None = None,
        state_ttl: float = 600.0,
        dpop_key: DPoPKey | None = None,
        push_authorization_request: bool = False,
        **settings: Any,
    ) -> None:
        preset: dict[str, Any] = {
            "redirect_uri": redirect_uri,
            "scope": ("corp",),
            "locale": locale,
            "send_redirect_uri": redirect_uri is not None,
            "authorize_url": authorize_url,
            "token_url": token_url,
            "par_url": par_url,
            "state_ttl": state_ttl,
            "dpop_key": dpop_key,
            "push_authorization_request": push_authorization_request,
        }
        super().__init__(server_url, realm, client_id, client_secret, **{**preset, **settings})


GeniDesktop = Geni
"""The former name of :class:`Geni`'s class."""
TeamworkExchange = Teamwork
"""The former name of :class:`Teamwork`'s class."""
KeycloakClientCredentials = Keycloak
"""The former name of :class:`Keycloak`'s class."""
