"""Presets for the providers anyoauth knows, each a configured strategy.

Every preset takes endpoint overrides so tests and staging set-ups can point it
at another host (for example :class:`anyoauth.testing.ProviderEmulator`).
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from ._core.strategies import ClientCredentials, CodeJsonExchange, ImplicitDesktop

__all__ = [
    "BOG_SERVER_URL",
    "GENI_AUTHORIZE_URL",
    "GENI_FAILURE_URL",
    "GENI_SUCCESS_URL",
    "GENI_TOKEN_URL",
    "TEAMWORK_LOGIN_URL",
    "TEAMWORK_TOKEN_URL",
    "BankOfGeorgia",
    "Geni",
    "GeniDesktop",
    "Keycloak",
    "KeycloakClientCredentials",
    "Teamwork",
    "TeamworkExchange",
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


@attrs.frozen(kw_only=True)
class GeniDesktop(ImplicitDesktop):
    """Geni's implicit desktop flow (see :func:`Geni`)."""

    name = "geni"


@attrs.frozen(kw_only=True)
class TeamworkExchange(CodeJsonExchange):
    """Teamwork's App Login Flow (see :func:`Teamwork`)."""

    name = "teamwork"


@attrs.frozen(kw_only=True)
class KeycloakClientCredentials(ClientCredentials):
    """A Keycloak realm's client credentials grant (see :func:`Keycloak`)."""

    name = "keycloak"


def Geni(
    client_id: str,
    *,
    scope: str | Iterable[str] | None = None,
    authorize_url: str = GENI_AUTHORIZE_URL,
    success_url: str = GENI_SUCCESS_URL,
    failure_url: str = GENI_FAILURE_URL,
    token_url: str = GENI_TOKEN_URL,
    state_ttl: float = 600.0,
) -> GeniDesktop:
    """Geni's desktop flow: an embedded browser lands on a special URL with the token.

    The authorization URL carries ``response_type=token`` and ``display=desktop``
    and comma-separated scopes. The token arrives in the fragment of
    ``auth_success``; ``auth_failed`` reports a denial. Geni issues no refresh
    token in this flow: once the token expires, ``token()`` raises ``LoginRequired``.
    """
    return GeniDesktop(
        client_id=client_id,
        authorization_endpoint=authorize_url,
        token_endpoint=token_url,
        success_url=success_url,
        failure_url=failure_url,
        scope=scope,
        extra_authorization_params={"display": "desktop"},
        state_ttl=state_ttl,
    )


def Teamwork(
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    *,
    origin: str | None = None,
    site: str | None = None,
    login_url: str | None = None,
    token_url: str = TEAMWORK_TOKEN_URL,
    state_ttl: float = 600.0,
) -> TeamworkExchange:
    """Teamwork.com's App Login Flow: code in the redirect, exchanged by a JSON POST.

    ``site`` sends the user to ``https://{site}.teamwork.com/launchpad/login``;
    ``origin`` is sent as the ``Origin`` header when the app has allowed origins.
    The access token is permanent (no expiry, no refresh); the token keeps
    ``installation`` (with ``apiEndPoint``) and ``user`` in :attr:`Token.extra`.
    """
    if login_url is None:
        login_url = (
            TEAMWORK_LOGIN_URL if site is None else f"https://{site}.teamwork.com/launchpad/login"
        )
    return TeamworkExchange(
        client_id=client_id,
        client_secret=client_secret,
        redirect_uri=redirect_uri,
        authorization_endpoint=login_url,
        token_endpoint=token_url,
        origin=origin,
        state_ttl=state_ttl,
    )


def Keycloak(
    server_url: str,
    realm: str,
    client_id: str,
    client_secret: str,
    *,
    redirect_uri: str | None = None,
    scope: str | Iterable[str] | None = None,
    locale: str | None = None,
    send_redirect_uri: bool = False,
    authorize_url: str | None = None,
    token_url: str | None = None,
    state_ttl: float = 600.0,
) -> KeycloakClientCredentials:
    """Any Keycloak realm: client credentials with HTTP Basic client authentication.

    With a ``redirect_uri``, ``begin()``/``complete()`` run the realm's implicit
    authorize step (``response_type=token``, ``kc_locale`` from ``locale``); the
    token is read from the query or the fragment. Keycloak's extra fields
    (``refresh_expires_in``, ``not-before-policy``, ...) are kept in :attr:`Token.extra`.
    """
    base = f"{server_url.rstrip('/')}/realms/{realm}/protocol/openid-connect"
    extra = {} if locale is None else {"kc_locale": locale}
    return KeycloakClientCredentials(
        client_id=client_id,
        client_secret=client_secret,
        authorization_endpoint=authorize_url or f"{base}/auth",
        token_endpoint=token_url or f"{base}/token",
        redirect_uri=redirect_uri,
        scope=scope,
        extra_authorization_params=extra,
        send_redirect_uri=send_redirect_uri,
        state_ttl=state_ttl,
    )


def BankOfGeorgia(
    client_id: str,
    client_secret: str,
    *,
    redirect_uri: str | None = None,
    locale: str | None = None,
    server_url: str = BOG_SERVER_URL,
    realm: str = "bog",
    authorize_url: str | None = None,
    token_url: str | None = None,
    state_ttl: float = 600.0,
) -> KeycloakClientCredentials:
    """Bank of Georgia Business Online: Keycloak realm ``bog`` with scope ``corp``.

    ``token()`` runs the client credentials grant with HTTP Basic authentication
    (and the ``redirect_uri`` the bank's docs send, when one is set). With a
    ``redirect_uri``, ``begin()``/``complete()`` run the authorize step
    (``response_type=token``, ``scope=corp``, ``kc_locale=ka`` for Georgian via
    ``locale="ka"``). API calls go to ``https://api.businessonline.ge/api/``.
    """
    return Keycloak(
        server_url,
        realm,
        client_id,
        client_secret,
        redirect_uri=redirect_uri,
        scope=("corp",),
        locale=locale,
        send_redirect_uri=redirect_uri is not None,
        authorize_url=authorize_url,
        token_url=token_url,
        state_ttl=state_ttl,
    )
