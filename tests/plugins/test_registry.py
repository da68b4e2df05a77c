"""The plugin registries: built-ins, lazy loading, and every way a plugin can be broken.

Plugins here are temporary distributions with real ``entry_points.txt`` files on
``sys.path`` (the ``fake_distribution`` fixture), found by :mod:`importlib.metadata`.
"""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
from collections.abc import Mapping

import attrs
import pytest

import anyoauth
from anyoauth import ConfigurationError, PluginError, Strategy, plugins, providers
from anyoauth.plugins import PROVIDERS_GROUP, STRATEGIES_GROUP

from .helpers import FakeDistribution

STRATEGY_SOURCE = '''
from typing import ClassVar
import attrs
from anyoauth import AuthorizationCode

@attrs.frozen(kw_only=True)
class Good(AuthorizationCode):
    """A well-formed plugin strategy."""
    name: ClassVar[str] = "good"

class Undecorated(AuthorizationCode):
    name = "undecorated"

@attrs.frozen(kw_only=True)
class Inherits(AuthorizationCode):
    """Keeps AuthorizationCode's name."""

@attrs.frozen(kw_only=True)
class Renamed(AuthorizationCode):
    name: ClassVar[str] = "something-else"

@attrs.frozen(kw_only=True)
class Shouty(AuthorizationCode):
    name: ClassVar[str] = "Not A Name"

@attrs.frozen(kw_only=True)
class Settable(AuthorizationCode):
    name: ClassVar[str] = "settable"
Settable.__setattr__ = object.__setattr__

def not_a_class():
    """A function, not a strategy."""

class NotAStrategy:
    """Some other class."""

def good_preset(client_id, *, server_url="https://id.good.example"):
    """Good: a preset returning a Good strategy."""
    return Good(
        client_id=client_id,
        authorization_endpoint=server_url + "/authorize",
        token_endpoint=server_url + "/token",
        redirect_uri="http://127.0.0.1/cb",
    )

def returns_dict(client_id):
    """Returns a dict instead of a strategy."""
    return {"client_id": client_id}

def returns_inheriting(client_id):
    """Returns a strategy that has no name of its own."""
    return Inherits(
        client_id=client_id,
        authorization_endpoint="https://x.example/a",
        token_endpoint="https://x.example/t",
        redirect_uri="http://127.0.0.1/cb",
    )

NOT_CALLABLE = "geni"
'''


def _install_fake(fake_distribution: FakeDistribution, **groups: dict[str, str]) -> None:
    fake_distribution(
        "fake-plugins",
        {
            STRATEGIES_GROUP: groups.get("strategies", {}),
            PROVIDERS_GROUP: groups.get("providers", {}),
        },
        modules={"fake_plugins": STRATEGY_SOURCE},
    )


# -- built-ins ---------------------------------------------------------------------------

BUILTIN_STRATEGIES = {
    "authorization-code": anyoauth.AuthorizationCode,
    "implicit": anyoauth.Implicit,
    "implicit-desktop": anyoauth.ImplicitDesktop,
    "code-json": anyoauth.CodeJsonExchange,
    "client-credentials": anyoauth.ClientCredentials,
    "device-code": anyoauth.DeviceCode,
    "geni": providers.GeniDesktop,
    "teamwork": providers.TeamworkExchange,
    "keycloak": providers.KeycloakClientCredentials,
    "token-exchange": anyoauth.TokenExchange,
    "jwt-bearer": anyoauth.JwtBearer,
    "keycloak-token-exchange": providers.KeycloakTokenExchange,
    "extension-grant": anyoauth.ExtensionGrant,
    "google": providers.Google,
    "google-device": providers.GoogleDevice,
    "entra": providers.EntraID,
    "entra-device": providers.EntraDevice,
    "entra-client-credentials": providers.EntraClientCredentials,
    "github": providers.GitHub,
    "github-device": providers.GitHubDevice,
    "gitlab": providers.GitLab,
    "gitlab-device": providers.GitLabDevice,
    "apple": providers.Apple,
    "auth0": providers.Auth0,
    "auth0-device": providers.Auth0Device,
    "auth0-client-credentials": providers.Auth0ClientCredentials,
    "okta": providers.Okta,
    "okta-device": providers.OktaDevice,
    "slack": providers.Slack,
    "discord": providers.Discord,
    "dropbox": providers.Dropbox,
    "salesforce": providers.Salesforce,
    "x": providers.X,
}
BUILTIN_PROVIDERS = {
    "geni": providers.Geni,
    "teamwork": providers.Teamwork,
    "bog": providers.BankOfGeorgia,
    "keycloak": providers.Keycloak,
    "google": providers.Google,
    "google-device": providers.GoogleDevice,
    "entra": providers.EntraID,
    "entra-device": providers.EntraDevice,
    "entra-client-credentials": providers.EntraClientCredentials,
    "github": providers.GitHub,
    "github-device": providers.GitHubDevice,
    "gitlab": providers.GitLab,
    "gitlab-device": providers.GitLabDevice,
    "apple": providers.Apple,
    "auth0": providers.Auth0,
    "auth0-device": providers.Auth0Device,
    "auth0-client-credentials": providers.Auth0ClientCredentials,
    "okta": providers.Okta,
    "okta-device": providers.OktaDevice,
    "slack": providers.Slack,
    "discord": providers.Discord,
    "dropbox": providers.Dropbox,
    "salesforce": providers.Salesforce,
    "x": providers.X,
}


def test_builtin_strategies_are_registered_by_their_name() -> None:
    registry = plugins.strategies()
    for name, cls in BUILTIN_STRATEGIES.items():
        assert registry[name] is cls
        assert cls.name == name
        assert plugins.get_strategy(name) is cls
    assert list(registry)[: len(BUILTIN_STRATEGIES)] == list(BUILTIN_STRATEGIES)


def test_builtin_presets_are_the_functions_themselves() -> None:
    for name, preset in BUILTIN_PROVIDERS.items():
        assert plugins.get_provider(name) is preset
    strategy = plugins.get_provider("geni")("my-app")
    assert isinstance(strategy, providers.GeniDesktop)


def test_registries_are_read_only_mappings() -> None:
    registry = plugins.strategies()
    assert isinstance(registry, Mapping)
    assert not hasattr(registry, "__setitem__")
    with pytest.raises(TypeError):
        registry["mine"] = anyoauth.AuthorizationCode  # type: ignore[index]
    assert registry.group == STRATEGIES_GROUP
    assert "authorization-code" in repr(registry)


def test_the_registry_is_read_once_and_refresh_reads_again(
    fake_distribution: FakeDistribution,
) -> None:
    first = plugins.strategies()
    assert plugins.strategies() is first
    plugins.refresh()
    assert plugins.strategies() is not first


def test_an_unknown_name_is_a_plugin_error_with_suggestions() -> None:
    with pytest.raises(PluginError, match="did you mean 'authorization-code'") as caught:
        plugins.get_strategy("authorisation-code")
    assert "anyoauth.strategies" in str(caught.value)
    assert caught.value.name == "authorisation-code"
    assert caught.value.group == STRATEGIES_GROUP
    with pytest.raises(PluginError, match=r"no provider named 'nowhere'.*is it installed"):
        plugins.get_provider("nowhere")
    with pytest.raises(KeyError):
        plugins.providers()["nowhere"]


def test_plugin_error_is_a_configuration_error_in_the_tree() -> None:
    assert issubclass(PluginError, ConfigurationError)
    assert anyoauth.PluginError is plugins.PluginError


def test_describe_lists_builtins_with_a_summary() -> None:
    rows = plugins.describe()
    for kind, expected in (("provider", BUILTIN_PROVIDERS), ("strategy", BUILTIN_STRATEGIES)):
        group = [r for r in rows if r.kind == kind]
        assert [r.name for r in group[: len(expected)]] == list(expected), "built-ins first"
        assert all(r.builtin for r in group[: len(expected)])
        assert not any(r.builtin for r in group[len(expected) :])
    assert [r.kind for r in rows] == sorted(r.kind for r in rows), "providers, then strategies"
    geni = rows[0]
    assert (geni.name, geni.builtin, geni.status, geni.origin) == ("geni", True, "ok", "built-in")
    assert (geni.distribution, geni.version) == ("anyoauth", anyoauth.__version__)
    assert geni.value == "anyoauth.providers:Geni"
    assert geni.summary.startswith("Geni's desktop flow")
    bog = next(r for r in rows if r.name == "bog")
    assert "``" not in bog.summary
    assert plugins.describe(PROVIDERS_GROUP) == [r for r in rows if r.kind == "provider"]
    with pytest.raises(ValueError, match="unknown entry-point group"):
        plugins.describe("anyoauth.nothing")  # type: ignore[arg-type]


# -- laziness ----------------------------------------------------------------------------


def test_import_anyoauth_reads_no_entry_points() -> None:
    probe = """
import importlib.metadata, json, sys
calls = []
real = importlib.metadata.entry_points
importlib.metadata.entry_points = lambda **kw: calls.append(kw) or real(**kw)
import anyoauth
import anyoauth.plugins
after_import = len(calls)
anyoauth.plugins.providers()
print(json.dumps([after_import, len(calls)]))
"""
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out) == [0, 1]


def test_a_plugin_is_imported_only_when_its_name_is_looked_up(
    fake_distribution: FakeDistribution,
) -> None:
    before = len(plugins.strategies())
    _install_fake(fake_distribution, strategies={"good": "fake_plugins:Good"})
    registry = plugins.strategies()
    assert "good" in registry
    assert "good" in list(registry)
    assert len(registry) == before + 1
    assert "fake_plugins" not in sys.modules
    good = registry["good"]
    assert "fake_plugins" in sys.modules
    assert good.__name__ == "Good"
    assert issubclass(good, Strategy)
    assert plugins.get_strategy("good") is good


# -- working plugins ---------------------------------------------------------------------


def test_a_plugin_preset_is_checked_and_keeps_its_signature(
    fake_distribution: FakeDistribution,
) -> None:
    _install_fake(
        fake_distribution,
        strategies={"good": "fake_plugins:Good"},
        providers={"good": "fake_plugins:good_preset"},
    )
    preset = plugins.get_provider("good")
    assert preset.__doc__ is not None
    assert preset.__doc__.startswith("Good: a preset")
    assert list(inspect.signature(preset).parameters) == ["client_id", "server_url"]
    strategy = preset("app", server_url="https://staging.good.example")
    assert type(strategy) is plugins.get_strategy("good")
    assert strategy.token_endpoint == "https://staging.good.example/token"
    # The preset's own argument errors reach the caller unchanged.
    with pytest.raises(TypeError):
        preset()
    with pytest.raises(ConfigurationError) as caught:
        preset("app", server_url="ftp://nope")
    assert not isinstance(caught.value, PluginError)


def test_describe_shows_an_installed_plugin(fake_distribution: FakeDistribution) -> None:
    _install_fake(fake_distribution, providers={"good": "fake_plugins:good_preset"})
    row = next(r for r in plugins.describe(PROVIDERS_GROUP) if r.name == "good")
    assert row == plugins.PluginInfo(
        group=PROVIDERS_GROUP,
        name="good",
        value="fake_plugins:good_preset",
        distribution="fake-plugins",
        version="1.0",
        summary="Good: a preset returning a Good strategy.",
    )
    assert (row.kind, row.status, row.origin) == ("provider", "ok", "fake-plugins 1.0")


# -- broken plugins ----------------------------------------------------------------------

BROKEN_STRATEGIES = {
    "missing": ("fake_nowhere:Thing", "cannot be loaded: ModuleNotFoundError"),
    "no-attr": ("fake_plugins:Nothing", "cannot be loaded: AttributeError"),
    "function": ("fake_plugins:not_a_class", "is not an anyoauth.Strategy subclass: it is a"),
    "other-class": ("fake_plugins:NotAStrategy", "is not an anyoauth.Strategy subclass"),
    "base": ("anyoauth:Strategy", "is the Strategy base class itself"),
    "undecorated": ("fake_plugins:Undecorated", "is not an attrs class"),
    "settable": ("fake_plugins:Settable", "is not frozen"),
    "inherits": ("fake_plugins:Inherits", "inherits the name 'authorization-code'"),
    "renamed": ("fake_plugins:Renamed", "named 'something-else'; its entry point must"),
    "shouty": ("fake_plugins:Shouty", "has no valid `name` ClassVar"),
    "Bad_Name": ("fake_plugins:Good", "has an invalid name"),
}


@pytest.mark.parametrize(("name", "case"), BROKEN_STRATEGIES.items(), ids=list(BROKEN_STRATEGIES))
def test_a_broken_strategy_plugin_is_named_in_its_error(
    fake_distribution: FakeDistribution, name: str, case: tuple[str, str]
) -> None:
    value, problem = case
    _install_fake(fake_distribution, strategies={name: value, "good": "fake_plugins:Good"})
    with pytest.raises(PluginError) as caught:
        plugins.get_strategy(name)
    err = caught.value
    text = str(err)
    assert text.startswith(f"strategy plugin {name!r} ({value}, from fake-plugins 1.0) ")
    assert problem in text
    assert (err.group, err.name, err.value, err.distribution) == (
        STRATEGIES_GROUP,
        name,
        value,
        "fake-plugins",
    )
    # Asking again gives the same error (the failure is remembered, not retried).
    with pytest.raises(PluginError) as again:
        plugins.strategies()[name]
    assert str(again.value) == text
    # The others still load, and the listing shows the broken one without raising.
    assert plugins.get_strategy("good").__name__ == "Good"
    rows = {r.name: r for r in plugins.describe(STRATEGIES_GROUP)}
    assert rows[name].status == "broken"
    assert problem in (rows[name].error or "")
    assert rows["good"].status == "ok"
    assert rows["authorization-code"].status == "ok"


def test_an_import_failure_keeps_its_cause(fake_distribution: FakeDistribution) -> None:
    fake_distribution(
        "fake-boom",
        {STRATEGIES_GROUP: {"boom": "fake_boom:Boom"}},
        modules={"fake_boom": "raise RuntimeError('no config file')\n"},
    )
    with pytest.raises(PluginError, match="RuntimeError: no config file") as caught:
        plugins.get_strategy("boom")
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert "fake-boom 1.0" in str(caught.value)


BROKEN_PROVIDERS = {
    "not-callable": ("fake_plugins:NOT_CALLABLE", "is not callable: it is a str object"),
    "missing": ("fake_nowhere:preset", "cannot be loaded: ModuleNotFoundError"),
}


@pytest.mark.parametrize(("name", "case"), BROKEN_PROVIDERS.items(), ids=list(BROKEN_PROVIDERS))
def test_a_broken_provider_plugin_is_named_in_its_error(
    fake_distribution: FakeDistribution, name: str, case: tuple[str, str]
) -> None:
    value, problem = case
    _install_fake(fake_distribution, providers={name: value})
    with pytest.raises(PluginError, match=rf"^provider plugin '{name}' .*{re.escape(problem)}"):
        plugins.get_provider(name)
    row = next(r for r in plugins.describe() if r.name == name)
    assert row.status == "broken"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("fake_plugins:returns_dict", "returned a dict object, not an anyoauth Strategy"),
        (
            "fake_plugins:returns_inheriting",
            "returned a Inherits, which inherits the name 'authorization-code' of "
            "AuthorizationCode; set its own `name` ClassVar (it keys tokens in stores)",
        ),
    ],
)
def test_a_preset_returning_a_misfit_is_a_plugin_error(
    fake_distribution: FakeDistribution, value: str, problem: str
) -> None:
    _install_fake(fake_distribution, providers={"odd": value})
    preset = plugins.get_provider("odd")  # loading works: the preset is callable
    with pytest.raises(PluginError) as caught:
        preset("app")
    assert str(caught.value) == f"provider plugin 'odd' ({value}, from fake-plugins 1.0) {problem}"
    assert caught.value.distribution == "fake-plugins"


# -- name clashes ------------------------------------------------------------------------


def test_a_builtin_name_cannot_be_taken_over(fake_distribution: FakeDistribution) -> None:
    before = len(plugins.strategies())
    _install_fake(
        fake_distribution,
        strategies={"geni": "fake_plugins:Good"},
        providers={"geni": "fake_plugins:good_preset"},
    )
    assert plugins.get_strategy("geni") is providers.GeniDesktop
    assert plugins.get_provider("geni") is providers.Geni
    assert "fake_plugins" not in sys.modules
    assert len(plugins.strategies()) == before
    shadowed = [r for r in plugins.describe() if r.shadowed]
    assert [(r.kind, r.name, r.status, r.distribution) for r in shadowed] == [
        ("provider", "geni", "shadowed", "fake-plugins"),
        ("strategy", "geni", "shadowed", "fake-plugins"),
    ]
    assert "fake_plugins" not in sys.modules


def test_two_distributions_with_one_name_are_both_refused(
    fake_distribution: FakeDistribution,
) -> None:
    _install_fake(fake_distribution, providers={"dup": "fake_plugins:good_preset"})
    fake_distribution("fake-rival", {PROVIDERS_GROUP: {"dup": "fake_rival:preset"}})
    with pytest.raises(PluginError, match="more than one distribution") as caught:
        plugins.get_provider("dup")
    assert "fake-plugins 1.0" in str(caught.value)
    assert "fake-rival 1.0" in str(caught.value)
    rows = [r for r in plugins.describe(PROVIDERS_GROUP) if r.name == "dup"]
    assert sorted(r.distribution or "" for r in rows) == ["fake-plugins", "fake-rival"]
    assert {r.status for r in rows} == {"broken"}
    assert "fake_plugins" not in sys.modules


def test_plugin_info_is_a_frozen_value() -> None:
    row = plugins.describe()[0]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        row.name = "other"  # type: ignore[misc]
