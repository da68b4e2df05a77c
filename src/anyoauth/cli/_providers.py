"""How a provider's name on the command line becomes a strategy.

Every provider but ``oauth`` is a provider preset of :mod:`anyoauth.plugins`: the
built-in ones (``geni``, ``teamwork``, ``bog``, ``keycloak``, ``google``, ``entra``,
``github``, ``gitlab``, ``apple``, ``auth0``, ``okta``, ``slack``, ``discord``,
``dropbox``, ``salesforce``, ``x``, their ``-device`` flows and the
``-client-credentials`` ones) and
any an installed plugin adds, which ``anyoauth login`` therefore runs as it runs the built-ins. The
command reads which options a preset takes from its signature: a parameter named like
an option (``client_secret``, ``redirect_uri``, ``scope``, ``authorize_url``,
``token_url``, ``success_url``, ``failure_url``, ``server_url``, ``realm``, ``tenant``,
``domain``, ``authorization_server``, ``audience``, ``team_id``, ``key_id``,
``key_file``; a
``login_url`` parameter takes ``--authorize-url``) gets that option's value when it is
given; a parameter without a default must be given, except ``redirect_uri``, which
then gets the loopback listener's (:data:`~._common.PLACEHOLDER_REDIRECT`); a
``client_secret`` without a default means the provider needs a client secret. (The
built-in ``keycloak`` preset takes every setting as optional; the command still asks
for its server, realm and secret.)

A provider takes ``login --dpop`` (:attr:`Provider.takes_dpop`) when its token comes
from a token endpoint that can bind it to a DPoP key (RFC 9449): ``oauth`` (every flow),
``keycloak`` and ``bog`` (Keycloak issues DPoP-bound tokens), and an installed preset
with a ``dpop_key`` parameter. Geni's token comes in the authorization response and
Teamwork's exchange knows no DPoP: they do not take it. A profile's DPoP key is passed
to the strategy as ``dpop_key``.

``oauth`` is any OAuth 2.0 / OpenID Connect server. It is not a preset (it has no
endpoints of its own): ``login`` discovers its settings (:mod:`._discovery`) and saves
them in the profile, from which :class:`DiscoveredProvider` builds the strategy.

:func:`flow_traits` is the one place the command asks what class a strategy is.
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Mapping
from typing import Any, ClassVar

import attrs

from .. import AuthorizationCode, ClientCredentials, DeviceCode, Strategy, UserStep, plugins
from ._common import DEFAULT_PROFILE, PLACEHOLDER_REDIRECT, UsageError
from ._profiles import ENDPOINT_OPTIONS, FLOWS, Profile

__all__ = [
    "OAUTH",
    "DiscoveredProvider",
    "FlowTraits",
    "PresetProvider",
    "Provider",
    "Wording",
    "builtin_providers",
    "flow_traits",
    "get_provider",
    "provider_names",
]

OAUTH = "oauth"
"""The name of the provider for any OAuth 2.0 / OpenID Connect server."""

# The options a preset's parameters can take (argparse names), and the parameter names
# that take an option of another name.
_SETTABLE = frozenset({"client_id", "client_secret", "redirect_uri", "scope", *ENDPOINT_OPTIONS})
_ALIASES: Mapping[str, str] = {"login_url": "authorize_url"}
# What a built-in preset's signature cannot say: Keycloak's takes every setting as
# optional (it also accepts the endpoints themselves, and attrs.evolve calls it with its
# fields), but the command asks for its server, realm and client secret.
_ALSO_REQUIRED: Mapping[str, frozenset[str]] = {
    "keycloak": frozenset({"server_url", "realm", "client_secret"}),
    "apple": frozenset({"team_id", "key_id", "key_file"}),
}
# Options whose absence is not a usage error even when the preset requires them: the
# client id is always given, a missing secret is its own error (needs_secret), and a
# missing redirect URI gets the loopback listener's.
_GIVEN_APART = frozenset({"client_id", "client_secret", "redirect_uri"})
# Built-in presets that take a DPoP key among their other strategy settings.
_DPOP_PRESETS = frozenset({"keycloak", "bog"})


@attrs.frozen(kw_only=True)
class Wording:
    """How ``anyoauth providers`` and the command's messages describe a provider."""

    title: str
    """What the user logs in to: ``"Geni"``, ``"Bank of Georgia"``."""
    flow: str
    """The flow it runs, in a few words."""
    agent: str
    """The user agent ``login`` uses without ``--agent``, as listed."""


_WORDING: Mapping[str, Wording] = {
    "geni": Wording(
        title="Geni",
        flow="implicit desktop flow (token in the fragment of a special URL)",
        agent="embedded",
    ),
    "teamwork": Wording(
        title="Teamwork",
        flow="App Login Flow (code exchanged by a JSON POST)",
        agent="system",
    ),
    "bog": Wording(
        title="Bank of Georgia",
        flow="client credentials with HTTP Basic (Keycloak realm bog, scope corp)",
        agent="none (system with --redirect-uri)",
    ),
    "keycloak": Wording(
        title="Keycloak",
        flow="client credentials with HTTP Basic (any realm: --server-url, --realm)",
        agent="none (system with --redirect-uri)",
    ),
    "google": Wording(
        title="Google",
        flow="authorization code with PKCE, OpenID Connect, offline access",
        agent="system",
    ),
    "google-device": Wording(
        title="Google",
        flow="device flow (TVs and limited-input devices)",
        agent="none (device code)",
    ),
    "entra": Wording(
        title="Microsoft Entra ID",
        flow="authorization code with PKCE, OpenID Connect (--tenant, default common)",
        agent="system",
    ),
    "entra-device": Wording(
        title="Microsoft Entra ID",
        flow="device code flow (--tenant, default organizations)",
        agent="none (device code)",
    ),
    "entra-client-credentials": Wording(
        title="Microsoft Entra ID",
        flow="client credentials with .default scopes (--tenant required)",
        agent="none",
    ),
    "github": Wording(
        title="GitHub",
        flow="web application flow with PKCE (no OpenID Connect)",
        agent="system",
    ),
    "github-device": Wording(
        title="GitHub",
        flow="device flow",
        agent="none (device code)",
    ),
    "gitlab": Wording(
        title="GitLab",
        flow="authorization code with PKCE, OpenID Connect (--server-url for self-managed)",
        agent="system",
    ),
    "gitlab-device": Wording(
        title="GitLab",
        flow="device authorization grant (GitLab 17.1 and later)",
        agent="none (device code)",
    ),
    "apple": Wording(
        title="Apple",
        flow="Sign in with Apple: code flow, form_post, ES256 client secret "
        "(--team-id, --key-id, --key-file)",
        agent="system",
    ),
    "auth0": Wording(
        title="Auth0",
        flow="authorization code with PKCE, OpenID Connect (--domain, --audience)",
        agent="system",
    ),
    "auth0-device": Wording(
        title="Auth0",
        flow="device authorization flow (--domain, --audience)",
        agent="none (device code)",
    ),
    "auth0-client-credentials": Wording(
        title="Auth0",
        flow="client credentials for an API (--domain, --audience required)",
        agent="none",
    ),
    "okta": Wording(
        title="Okta",
        flow="authorization code with PKCE, OpenID Connect (--domain, --authorization-server)",
        agent="system",
    ),
    "okta-device": Wording(
        title="Okta",
        flow="device authorization grant (--domain, --authorization-server)",
        agent="none (device code)",
    ),
    "slack": Wording(
        title="Slack",
        flow="OAuth v2 app installation (bot token; scopes comma-separated)",
        agent="system",
    ),
    "discord": Wording(
        title="Discord",
        flow="authorization code (PKCE for public clients)",
        agent="system",
    ),
    "dropbox": Wording(
        title="Dropbox",
        flow="authorization code, offline access (short-lived tokens, refresh token)",
        agent="system",
    ),
    "salesforce": Wording(
        title="Salesforce",
        flow="web server flow with PKCE (--server-url: test.salesforce.com or My Domain)",
        agent="system",
    ),
    "x": Wording(
        title="X",
        flow="authorization code with PKCE (required), offline.access",
        agent="system",
    ),
    OAUTH: Wording(
        title="OAuth 2.0 / OpenID Connect",
        flow="any server, found by discovery (--issuer): "
        "authorization code with PKCE, device code or client credentials (--flow)",
        agent="system for --flow code (none for device and client-credentials)",
    ),
}
"""The words for the built-in providers; an installed plugin's preset is called by its
name (``anyoauth providers`` lists it with its docstring's summary)."""


@attrs.frozen(kw_only=True)
class Provider(abc.ABC):
    """A provider as the command line sees it: what ``login`` asks for, how a saved
    profile becomes its strategy."""

    name: str
    """Its name on the command line."""
    wording: Wording
    """How it is described."""
    needs_secret: bool
    """Whether it always needs a client secret (the secret is optional when the
    provider merely takes ``client_secret`` among its :attr:`options`)."""
    options: frozenset[str]
    """The provider-specific options it accepts (argparse ``dest`` names)."""
    takes_dpop: bool = False
    """Whether ``login --dpop`` can bind its tokens to a DPoP key (RFC 9449)."""
    discovers: ClassVar[bool] = False
    """Whether ``login`` reads its settings from the server's metadata (``--issuer``)."""

    @property
    def title(self) -> str:
        """What the user logs in to, in the command's messages and prompts."""
        return self.wording.title

    def title_of(self, profile: Profile) -> str:
        """What ``profile`` logs in to."""
        return self.title

    def fits(self, profile: Profile) -> bool:
        """Whether later commands can work from ``profile``, a profile of this provider."""
        return not (self.needs_secret and not profile.client_secret)

    @abc.abstractmethod
    def build(self, profile: Profile) -> Strategy:
        """The strategy for ``profile``; :class:`UsageError` if a setting is missing."""

    def _dpop_settings(self, profile: Profile) -> dict[str, Any]:
        """``{"dpop_key": key}`` when ``profile`` has a DPoP key, else nothing;
        :class:`UsageError` if this provider takes none."""
        if not profile.has_dpop:
            return {}
        if not self.takes_dpop:
            raise UsageError(f"{self.name} does not take a DPoP key")
        return {"dpop_key": profile.dpop_key()}


@attrs.frozen(kw_only=True)
class PresetProvider(Provider):
    """A provider preset of :mod:`anyoauth.plugins`, called with a profile's settings."""

    preset: plugins.Preset = attrs.field(repr=False)
    """The preset, as the registry gives it."""
    parameters: Mapping[str, str]
    """The option (argparse name) each parameter the command can set takes."""
    positional: tuple[inspect.Parameter, ...]
    """The preset's positional-only parameters, in order."""
    required: tuple[str, ...]
    """The options it cannot do without, apart from the client id, secret and
    redirect URI."""
    needs_redirect_uri: bool
    """Whether it requires a redirect URI."""
    unsettable: tuple[str, ...]
    """Its parameters without a default that no option sets."""

    @classmethod
    def from_preset(cls, name: str, preset: plugins.Preset) -> PresetProvider:
        """The provider ``name`` whose strategy ``preset`` makes."""
        try:
            signature = inspect.signature(preset)
        except (TypeError, ValueError):
            raise UsageError(f"the parameters of the {name} preset cannot be read") from None
        parameters: dict[str, str] = {}
        needed_options = set(_ALSO_REQUIRED.get(name, ()))
        unsettable: list[str] = []
        for parameter in signature.parameters.values():
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                continue
            option = _ALIASES.get(parameter.name, parameter.name)
            needed = parameter.default is parameter.empty
            if option not in _SETTABLE:
                if needed:
                    unsettable.append(parameter.name)
                continue
            parameters[parameter.name] = option
            if needed:
                needed_options.add(option)
        return cls(
            name=name,
            wording=_WORDING.get(name) or Wording(title=name, flow="", agent=""),
            needs_secret="client_secret" in needed_options,
            options=frozenset(parameters.values()) - {"client_id"},
            takes_dpop=name in _DPOP_PRESETS or "dpop_key" in signature.parameters,
            preset=preset,
            parameters=parameters,
            positional=tuple(
                p for p in signature.parameters.values() if p.kind is p.POSITIONAL_ONLY
            ),
            required=tuple(
                option
                for option in parameters.values()
                if option in needed_options and option not in _GIVEN_APART
            ),
            needs_redirect_uri="redirect_uri" in needed_options,
            unsettable=tuple(unsettable),
        )

    def build(self, profile: Profile) -> Strategy:
        """Call the preset with ``profile``'s settings (the options not set are left to
        the preset's defaults)."""
        if self.needs_secret and not profile.client_secret:
            raise UsageError(f"{self.name} needs a client secret")
        values: dict[str, Any] = {
            **profile.endpoints,
            "client_id": profile.client_id,
            "client_secret": profile.client_secret or None,
            "redirect_uri": profile.redirect_uri,
            "scope": profile.scope or None,
        }
        if self.needs_redirect_uri and values["redirect_uri"] is None:
            values["redirect_uri"] = PLACEHOLDER_REDIRECT
        if self.unsettable:
            raise UsageError(
                f"the {self.name} preset needs {', '.join(self.unsettable)}, which the "
                "command line cannot set"
            )
        if any(values.get(option) is None for option in self.required):
            flags = " and ".join("--" + option.replace("_", "-") for option in self.required)
            raise UsageError(f"{self.name} needs {flags}")
        args = []
        for parameter in self.positional:
            value = values.get(self.parameters.get(parameter.name, ""))
            args.append(parameter.default if value is None else value)
        named = {p.name for p in self.positional}
        kwargs = {
            parameter: values[option]
            for parameter, option in self.parameters.items()
            if parameter not in named and values.get(option) is not None
        }
        return self.preset(*args, **kwargs, **self._dpop_settings(profile))


@attrs.frozen(kw_only=True)
class DiscoveredProvider(Provider):
    """``oauth``: any OAuth 2.0 / OpenID Connect server, whose endpoints, flow and client
    authentication ``login`` discovers and saves in the profile."""

    discovers: ClassVar[bool] = True

    def title_of(self, profile: Profile) -> str:
        """The issuer ``profile`` logs in to."""
        return profile.issuer or self.title

    def fits(self, profile: Profile) -> bool:
        """Whether ``profile`` holds the discovered settings."""
        return profile.issuer is not None and profile.flow is not None

    def build(self, profile: Profile) -> Strategy:
        """The strategy, from the settings discovery saved: no network access."""
        if profile.issuer is None or profile.flow not in FLOWS or profile.client_auth is None:
            profile_option = "" if profile.name == DEFAULT_PROFILE else f" --profile {profile.name}"
            raise UsageError(
                "the oauth profile lacks its discovered settings; run "
                f"`anyoauth login oauth{profile_option}` again"
            )
        server = profile.server
        common: dict[str, Any] = {
            "client_id": profile.client_id,
            "client_secret": profile.client_secret,
            "client_auth": profile.client_auth,
            "scope": profile.scope,
            "token_endpoint": server.get("token_endpoint"),
            "revocation_endpoint": server.get("revocation_endpoint"),
            "introspection_endpoint": server.get("introspection_endpoint"),
            "end_session_endpoint": server.get("end_session_endpoint"),
            "issuer": profile.issuer,
            **self._dpop_settings(profile),
        }
        if profile.flow == "client-credentials":
            return ClientCredentials(**common)
        # id_tokens (scope openid) are validated with the server's key set.
        common["jwks_uri"] = server.get("jwks_uri")
        if profile.flow == "device":
            return DeviceCode(
                device_authorization_endpoint=server.get("device_authorization_endpoint"),
                **common,
            )
        return AuthorizationCode(
            authorization_endpoint=server.get("authorization_endpoint"),
            # The loopback listener replaces it with its own (any port, RFC 8252 7.3).
            redirect_uri=profile.redirect_uri or PLACEHOLDER_REDIRECT,
            require_iss=profile.require_iss,
            uses_pkce=True,
            **common,
        )


_DISCOVERED = DiscoveredProvider(
    name=OAUTH,
    wording=_WORDING[OAUTH],
    needs_secret=False,
    options=frozenset({"client_secret", "issuer", "flow", "redirect_uri", "scope"}),
    takes_dpop=True,
)


def get_provider(name: str) -> Provider:
    """The provider called ``name``: ``oauth``, else the preset of that name in
    :func:`anyoauth.plugins.providers` (:class:`~anyoauth.PluginError` if there is none
    or its plugin is broken)."""
    if name == OAUTH:
        return _DISCOVERED
    return PresetProvider.from_preset(name, plugins.get_provider(name))


def provider_names() -> list[str]:
    """Every provider's name, sorted: the presets installed (no plugin is imported) and
    ``oauth``."""
    return sorted({*plugins.providers(), OAUTH})


def builtin_providers() -> list[Provider]:
    """The providers that ship with anyoauth, in listing order: the built-in presets,
    then ``oauth``."""
    names = [row.name for row in plugins.describe(plugins.PROVIDERS_GROUP) if row.builtin]
    return [*(get_provider(name) for name in names if name != OAUTH), _DISCOVERED]


@attrs.frozen(kw_only=True)
class FlowTraits:
    """What the command needs to know of a strategy's flow beyond :class:`Strategy`."""

    ends_on_provider_pages: bool
    """The login ends on the provider's own pages, not at a redirect URI (Geni's
    desktop flow): an embedded browser watches for them."""
    device: bool
    """The device flow: the user enters a code on any device while the command polls."""


def flow_traits(strategy: Strategy) -> FlowTraits:
    """``strategy``'s :class:`FlowTraits`, from the user step it declares."""
    return FlowTraits(
        ends_on_provider_pages=strategy.user_step is UserStep.LANDING_PAGE,
        device=strategy.user_step is UserStep.DEVICE,
    )
