"""Strategy and provider plugins, found through entry points and loaded lazily.

A distribution adds strategies and provider presets to anyoauth by declaring
entry points in two groups (``pyproject.toml``)::

    [project.entry-points."anyoauth.strategies"]
    acme = "anyoauth_plugin_example:AcmeCode"   # a Strategy subclass whose name is "acme"

    [project.entry-points."anyoauth.providers"]
    acme = "anyoauth_plugin_example:Acme"       # a preset: a callable returning a Strategy

:func:`strategies` and :func:`providers` return read-only mappings of name to
object, the built-ins first (their names are those of the :class:`Strategy`
classes and of the presets in :mod:`anyoauth.providers`). ``import anyoauth``
reads no entry points: the first call of one of these functions reads them, and
a plugin's module is imported only when its name is looked up.

A plugin that cannot be imported or does not fit its group's contract raises
:class:`PluginError` naming the plugin (entry point, ``module:attr`` value,
distribution) and the cause, when it is looked up; :func:`describe` lists every
plugin, broken ones marked as such, without raising. Built-in names cannot be
taken over: a plugin with a built-in's name is listed as shadowed and never loaded.

The strategy contract: a subclass of :class:`anyoauth.Strategy`, itself an attrs
frozen class (``@attrs.frozen(kw_only=True)``), with its own ``name`` ClassVar equal
to its entry point's name. A provider preset is any callable that returns such a
strategy; what it returns is checked on every call.
"""

from __future__ import annotations

import functools
import importlib
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final, Generic, Literal, TypeAlias, TypeVar

import attrs

from ._core.errors import PluginError
from ._core.strategies import Strategy

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

__all__ = [
    "PROVIDERS_GROUP",
    "STRATEGIES_GROUP",
    "PluginError",
    "PluginInfo",
    "Preset",
    "Registry",
    "describe",
    "get_provider",
    "get_strategy",
    "providers",
    "refresh",
    "strategies",
]

STRATEGIES_GROUP: Final = "anyoauth.strategies"
"""The entry-point group of strategy classes."""
PROVIDERS_GROUP: Final = "anyoauth.providers"
"""The entry-point group of provider presets."""

Group: TypeAlias = Literal["anyoauth.strategies", "anyoauth.providers"]

Preset: TypeAlias = Callable[..., Strategy]
"""A provider preset: called with the provider's settings, returns a configured strategy."""

_T = TypeVar("_T")

_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_DISTRIBUTION = "anyoauth"

# The presets, in listing order: each is both a strategy (its class) and a provider.
_PRESETS: Mapping[str, str] = {
    "google": "anyoauth.providers:Google",
    "google-device": "anyoauth.providers:GoogleDevice",
    "entra": "anyoauth.providers:EntraID",
    "entra-device": "anyoauth.providers:EntraDevice",
    "entra-client-credentials": "anyoauth.providers:EntraClientCredentials",
    "github": "anyoauth.providers:GitHub",
    "github-device": "anyoauth.providers:GitHubDevice",
    "gitlab": "anyoauth.providers:GitLab",
    "gitlab-device": "anyoauth.providers:GitLabDevice",
    "apple": "anyoauth.providers:Apple",
    "auth0": "anyoauth.providers:Auth0",
    "auth0-device": "anyoauth.providers:Auth0Device",
    "auth0-client-credentials": "anyoauth.providers:Auth0ClientCredentials",
    "okta": "anyoauth.providers:Okta",
    "okta-device": "anyoauth.providers:OktaDevice",
    "slack": "anyoauth.providers:Slack",
    "discord": "anyoauth.providers:Discord",
    "dropbox": "anyoauth.providers:Dropbox",
    "salesforce": "anyoauth.providers:Salesforce",
    "x": "anyoauth.providers:X",
}

# name -> "module:attr", in listing order. Strategy names are the classes' ``name``.
_BUILTINS: Mapping[str, Mapping[str, str]] = {
    STRATEGIES_GROUP: {
        "authorization-code": "anyoauth:AuthorizationCode",
        "implicit": "anyoauth:Implicit",
        "implicit-desktop": "anyoauth:ImplicitDesktop",
        "code-json": "anyoauth:CodeJsonExchange",
        "client-credentials": "anyoauth:ClientCredentials",
        "device-code": "anyoauth:DeviceCode",
        "geni": "anyoauth.providers:GeniDesktop",
        "teamwork": "anyoauth.providers:TeamworkExchange",
        "keycloak": "anyoauth.providers:KeycloakClientCredentials",
        "token-exchange": "anyoauth:TokenExchange",
        "jwt-bearer": "anyoauth:JwtBearer",
        "keycloak-token-exchange": "anyoauth.providers:KeycloakTokenExchange",
        "extension-grant": "anyoauth:ExtensionGrant",
        **_PRESETS,
    },
    PROVIDERS_GROUP: {
        "geni": "anyoauth.providers:Geni",
        "teamwork": "anyoauth.providers:Teamwork",
        "bog": "anyoauth.providers:BankOfGeorgia",
        "keycloak": "anyoauth.providers:Keycloak",
        **_PRESETS,
    },
}


@attrs.frozen(kw_only=True)
class PluginInfo:
    """One strategy or provider, built-in or installed, as :func:`describe` lists it."""

    group: str
    """The entry-point group: :data:`STRATEGIES_GROUP` or :data:`PROVIDERS_GROUP`."""
    name: str
    """The name it is looked up by (the entry point's name)."""
    value: str
    """Where it lives, ``"module:attr"``."""
    distribution: str | None
    """The distribution that installs it (``"anyoauth"`` for built-ins), if known."""
    version: str | None = None
    """That distribution's version, if known."""
    builtin: bool = False
    """Whether it ships with anyoauth."""
    shadowed: bool = False
    """A plugin with a built-in's name: never loaded, the built-in wins."""
    error: str | None = None
    """Why it cannot be used (import failure, contract violation), or ``None``."""
    summary: str = ""
    """The first paragraph of its docstring as one line of plain text, once loaded."""

    @property
    def kind(self) -> Literal["strategy", "provider"]:
        """``"strategy"`` or ``"provider"``, from :attr:`group`."""
        return "strategy" if self.group == STRATEGIES_GROUP else "provider"

    @property
    def status(self) -> Literal["ok", "broken", "shadowed"]:
        """``"shadowed"``, ``"broken"`` (see :attr:`error`) or ``"ok"``."""
        if self.shadowed:
            return "shadowed"
        return "broken" if self.error is not None else "ok"

    @property
    def origin(self) -> str:
        """``"built-in"``, or the distribution and its version."""
        if self.builtin:
            return "built-in"
        if self.distribution is None:
            return "unknown distribution"
        return self.distribution + ("" if self.version is None else f" {self.version}")


class _Misfit(Exception):
    """A loaded plugin does not fit its group's contract (the message says how)."""


def _plugin_error(info: PluginInfo, problem: str) -> PluginError:
    origin = "" if info.builtin else f", from {info.origin}"
    return PluginError(
        f"{info.kind} plugin {info.name!r} ({info.value}{origin}) {problem}",
        group=info.group,
        name=info.name,
        value=info.value,
        distribution=info.distribution,
    )


def _summary(obj: object) -> str:
    doc = getattr(obj, "__doc__", None)
    if not isinstance(doc, str):
        return ""
    paragraph = doc.strip().split("\n\n", 1)[0]
    line = " ".join(part.strip() for part in paragraph.splitlines())
    # Plain text for listings: ":func:`Geni`" -> "Geni", "``bog``" -> "bog".
    return re.sub(r"(?::[a-z]+:)?`+~?([^`]+?)`+", r"\1", line)


def _what(obj: object) -> str:
    if isinstance(obj, type):
        return f"the class {obj.__module__}.{obj.__qualname__}"
    return f"a {type(obj).__name__} object"


def _strategy_problem(cls: type[Strategy], *, builtin: bool) -> str | None:
    """What makes ``cls`` miss the strategy contract, or ``None``."""
    if cls is Strategy:
        return "is the Strategy base class itself; register a subclass"
    if "__attrs_attrs__" not in cls.__dict__:
        return "is not an attrs class: decorate it with @attrs.frozen(kw_only=True)"
    if cls.__setattr__ is not Strategy.__setattr__:
        return "is not frozen: strategies are immutable (@attrs.frozen(kw_only=True))"
    if "name" in attrs.fields_dict(cls):
        return "declares `name` as an attrs field; it must be a ClassVar[str]"
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        return "has no valid `name` ClassVar (a short lowercase name such as 'acme')"
    owner = next(k for k in cls.__mro__ if "name" in k.__dict__)
    if not builtin and owner.__module__.partition(".")[0] == _DISTRIBUTION:
        return (
            f"inherits the name {name!r} of {owner.__qualname__}; "
            "set its own `name` ClassVar (it keys tokens in stores)"
        )
    return None


def _check_strategy(obj: object, info: PluginInfo) -> type[Strategy]:
    if not (isinstance(obj, type) and issubclass(obj, Strategy)):
        raise _Misfit(f"is not an anyoauth.Strategy subclass: it is {_what(obj)}")
    problem = _strategy_problem(obj, builtin=info.builtin)
    if problem is None and obj.name != info.name:
        problem = f"is a strategy named {obj.name!r}; its entry point must have the same name"
    if problem is not None:
        raise _Misfit(problem)
    return obj


def _check_preset(obj: object, info: PluginInfo) -> Preset:
    if not callable(obj):
        raise _Misfit(f"is not callable: it is {_what(obj)}")
    if info.builtin:
        return obj

    @functools.wraps(obj)
    def preset(*args: Any, **kwargs: Any) -> Strategy:
        result = obj(*args, **kwargs)
        if not isinstance(result, Strategy):
            raise _plugin_error(info, f"returned {_what(result)}, not an anyoauth Strategy")
        problem = _strategy_problem(type(result), builtin=False)
        if problem is not None:
            raise _plugin_error(info, f"returned a {type(result).__qualname__}, which {problem}")
        return result

    return preset


@attrs.frozen(kw_only=True)
class _Entry:
    info: PluginInfo
    load: Callable[[], object] = attrs.field(eq=False)


def _import(value: str) -> Callable[[], object]:
    module, _, attr = value.partition(":")

    def load() -> object:
        obj: object = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
        return obj

    return load


class Registry(Mapping[str, _T], Generic[_T]):
    """A read-only mapping of names to strategies or presets, loaded on first access.

    Iterating, ``len()`` and ``in`` import nothing; ``registry[name]`` imports
    and checks the plugin once and raises :class:`PluginError` (not ``KeyError``)
    when it is broken, so ``values()`` and ``items()`` raise on the first broken
    plugin: use :func:`describe` to list everything.
    """

    def __init__(
        self,
        group: Group,
        entries: Mapping[str, _Entry],
        unused: tuple[PluginInfo, ...],
        check: Callable[[object, PluginInfo], _T],
    ) -> None:
        self._group = group
        self._entries = dict(entries)
        self._unused = unused
        self._check = check
        self._loaded: dict[str, tuple[_T, str]] = {}
        self._failed: dict[str, tuple[str, BaseException | None]] = {}

    @property
    def group(self) -> str:
        """The entry-point group this registry reads."""
        return self._group

    def __repr__(self) -> str:
        return f"<Registry {self._group}: {', '.join(self._entries)}>"

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __getitem__(self, name: str) -> _T:
        if name in self._loaded:
            return self._loaded[name][0]
        entry = self._entries.get(name)
        if entry is None:
            raise KeyError(name)
        if name not in self._failed:
            self._load(entry)
            if name in self._loaded:
                return self._loaded[name][0]
        problem, cause = self._failed[name]
        raise _plugin_error(entry.info, problem) from cause

    def _load(self, entry: _Entry) -> None:
        # Two threads may both load a plugin: imports are locked, checks idempotent.
        info = entry.info
        if info.error is not None:
            self._failed[info.name] = (info.error, None)
            return
        try:
            obj = entry.load()
        except Exception as exc:
            self._failed[info.name] = (f"cannot be loaded: {type(exc).__name__}: {exc}", exc)
            return
        try:
            checked = self._check(obj, info)
        except _Misfit as exc:
            self._failed[info.name] = (str(exc), None)
            return
        self._loaded[info.name] = (checked, _summary(obj))

    def unknown(self, name: str) -> PluginError:
        """The error for a name nobody provides, with close matches and the known names."""
        import difflib

        kind = "strategy" if self._group == STRATEGIES_GROUP else "provider"
        close = difflib.get_close_matches(name, list(self._entries), n=3)
        hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
        return PluginError(
            f"no {kind} named {name!r}{hint}; known: {', '.join(sorted(self._entries))}. "
            f"A plugin adds one through the {self._group!r} entry-point group: is it "
            "installed in this environment?",
            group=self._group,
            name=name,
        )

    def describe(self) -> list[PluginInfo]:
        """Every entry, loaded, with its status; shadowed and conflicting plugins too."""
        rows = []
        for name, entry in self._entries.items():
            if name not in self._loaded and name not in self._failed:
                self._load(entry)
            if name in self._loaded:
                rows.append(attrs.evolve(entry.info, summary=self._loaded[name][1]))
            else:
                rows.append(attrs.evolve(entry.info, error=self._failed[name][0]))
        rows += self._unused
        builtins = [r for r in rows if r.builtin]
        others = sorted((r for r in rows if not r.builtin), key=lambda r: (r.name, r.origin))
        return builtins + others


def _info(group: Group, entry_point: EntryPoint) -> PluginInfo:
    dist = entry_point.dist
    return PluginInfo(
        group=group,
        name=entry_point.name,
        value=entry_point.value,
        distribution=None if dist is None else dist.name,
        version=None if dist is None else dist.version,
    )


def _scan(group: Group) -> tuple[dict[str, _Entry], tuple[PluginInfo, ...]]:
    from importlib.metadata import entry_points

    from . import __version__

    entries = {
        name: _Entry(
            info=PluginInfo(
                group=group,
                name=name,
                value=value,
                distribution=_DISTRIBUTION,
                version=__version__,
                builtin=True,
            ),
            load=_import(value),
        )
        for name, value in _BUILTINS[group].items()
    }
    found: dict[str, list[EntryPoint]] = {}
    for entry_point in entry_points(group=group):
        found.setdefault(entry_point.name, []).append(entry_point)
    unused: list[PluginInfo] = []
    for name in sorted(found):
        points = found[name]
        infos = [_info(group, p) for p in points]
        if name in entries:
            unused += [attrs.evolve(i, shadowed=True) for i in infos]
            continue
        error = None
        if len(points) > 1:
            origins = " and ".join(i.origin for i in infos)
            error = f"is installed by more than one distribution ({origins}); uninstall one"
            unused += [attrs.evolve(i, error=error) for i in infos[1:]]
        elif not _NAME.fullmatch(name):
            error = "has an invalid name: use lowercase letters, digits, '.', '_' and '-'"
        entries[name] = _Entry(info=attrs.evolve(infos[0], error=error), load=points[0].load)
    return entries, tuple(unused)


_registries: dict[str, Registry[Any]] = {}
_registries_lock = threading.Lock()


def _registry(group: Group, check: Callable[[object, PluginInfo], _T]) -> Registry[_T]:
    with _registries_lock:
        registry = _registries.get(group)
        if registry is None:
            entries, unused = _scan(group)
            registry = _registries[group] = Registry(group, entries, unused, check)
        return registry


def strategies() -> Registry[type[Strategy]]:
    """Built-in and installed strategy classes by name (``"authorization-code"``, ...).

    The entry points are read on the first call; each plugin is imported and
    checked when its name is looked up (:class:`PluginError` if it is broken).
    """
    return _registry(STRATEGIES_GROUP, _check_strategy)


def providers() -> Registry[Preset]:
    """Built-in and installed provider presets by name (``"geni"``, ``"teamwork"``,
    ``"bog"``, ``"keycloak"``, ...).

    A plugin preset is wrapped so that every call checks that it returned a
    :class:`Strategy` fitting the contract (:class:`PluginError` otherwise).
    """
    return _registry(PROVIDERS_GROUP, _check_preset)


def get_strategy(name: str) -> type[Strategy]:
    """The strategy class called ``name``; :class:`PluginError` if no one provides it
    (with close matches) or its plugin is broken."""
    registry = strategies()
    if name not in registry:
        raise registry.unknown(name)
    return registry[name]


def get_provider(name: str) -> Preset:
    """The provider preset called ``name``; :class:`PluginError` if no one provides it
    (with close matches) or its plugin is broken.

    ``get_provider("geni")(client_id)`` is ``Geni(client_id)``.
    """
    registry = providers()
    if name not in registry:
        raise registry.unknown(name)
    return registry[name]


def describe(group: Group | None = None) -> list[PluginInfo]:
    """Every provider preset, then every strategy (or one ``group``'s), built-ins
    first, each loaded and checked; never raises for a broken plugin.

    This is what ``anyoauth providers`` prints: each :class:`PluginInfo` has the
    name, where it comes from (:attr:`PluginInfo.origin`), a one-line
    :attr:`~PluginInfo.summary` and its :attr:`~PluginInfo.status` (``ok``,
    ``broken`` with the :attr:`~PluginInfo.error`, or ``shadowed``).
    """
    registries: list[Registry[Any]] = []
    if group in (None, PROVIDERS_GROUP):
        registries.append(providers())
    if group in (None, STRATEGIES_GROUP):
        registries.append(strategies())
    if not registries:
        raise ValueError(f"unknown entry-point group {group!r}")
    return [row for registry in registries for row in registry.describe()]


def refresh() -> None:
    """Forget the entry points read and the plugins loaded; the next call reads them again.

    For a program that installs a plugin while it runs, and for tests.
    """
    importlib.invalidate_caches()
    with _registries_lock:
        _registries.clear()
