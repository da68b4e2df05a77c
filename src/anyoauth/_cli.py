"""The ``anyoauth`` command: log in to a provider once, then print valid access tokens.

::

    anyoauth login teamwork --client-id ID            # prompts for the secret, opens the browser
    curl -H "Authorization: Bearer $(anyoauth token teamwork)" https://...
    anyoauth logout teamwork

    anyoauth login oauth --issuer https://login.example.com --client-id ID   # any server
    anyoauth token oauth

Commands (``anyoauth COMMAND --help`` describes each):

- ``login PROVIDER``: runs the provider's login (for client-credentials providers it
  just fetches a token), stores the token and saves a profile, so that later
  commands need only the provider (and ``--profile``) name.
- ``token PROVIDER``: prints a valid access token, and nothing else, on stdout,
  refreshing or refetching it when it can.
- ``logout PROVIDER``: revokes the token at the provider when the provider has a
  revocation endpoint (RFC 7009; ``--local`` skips that) and deletes the stored
  token; ``--forget-profile`` deletes the profile too. A failed revocation still
  deletes the local token, and exits 1.
- ``providers``: lists the built-in providers.
- ``demo``: runs every built-in flow against the provider emulator on loopback.

The ``oauth`` provider is any OAuth 2.0 / OpenID Connect server: ``login oauth
--issuer URL`` reads the server's metadata (RFC 8414 / OpenID Connect discovery)
and saves the endpoints found, the flow and the client authentication method in
the profile, so ``token`` and ``logout`` work without discovering again. Its flows
(``--flow``): ``code`` (authorization code with PKCE through the browser and a
loopback listener on any port, RFC 8252; the default when the server offers it and
a browser can be opened or ``--agent`` is given), ``device`` (RFC 8628: the user
code and address are printed on stderr; the default otherwise) and
``client-credentials`` (needs a client secret).

Files live in the configuration directory: ``--config-dir``, else
``$ANYOAUTH_CONFIG_DIR``, else ``platformdirs.user_config_dir("anyoauth")``
(``~/.config/anyoauth`` on Linux). The directory and its subdirectories are
mode 0700 and every file in them 0600::

    profiles/<provider>/<profile>.json   provider, client id, endpoints, redirect URI,
                                         scopes, and the client secret; for oauth also
                                         the issuer, the discovered endpoints, the
                                         flow and the client authentication method
    store/                               a FileStore holding the tokens

Like ``gh`` and the ``aws`` CLI, the command keeps the client secret in a file
only its owner can read, so that ``token`` can refetch client-credentials tokens
unattended. ``logout --forget-profile`` deletes it.

Secrets come from ``--client-secret``, ``$ANYOAUTH_CLIENT_SECRET`` (prefer it,
or the prompt: command-line arguments are visible to other local users), the
saved profile (only for the same client id and the same endpoints: issuer, token,
device authorization, revocation and introspection endpoints; else the secret is
asked for again), or a prompt that does not echo (only when stdin is a terminal).
No secret (client secret, token, code) is ever printed, except the access token
that ``token`` prints on stdout.

Exit statuses: 0 success; 1 an OAuth, provider, discovery or store error (and a
failed revocation); 2 a usage or configuration error; 3 login required; 4 the user
agent (browser, loopback listener, paste prompt) failed; 130 interrupted. Errors
are one line on stderr: the error class and its message (with the provider's own
words).
"""

from __future__ import annotations

import argparse
import getpass
import importlib.util
import json
import logging
import os
import re
import sys
import textwrap
import threading
import time
import webbrowser
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar
from urllib.parse import urlsplit

import anyio
import attrs

from . import providers
from ._client import Client
from ._core.device import DEVICE_GRANT_TYPE, DeviceAuthorization
from ._core.errors import AgentError, ConfigurationError, LoginRequired, OAuthError, StoreError
from ._core.metadata import STRATEGY_ENDPOINTS, ServerMetadata
from ._core.strategies import (
    AuthorizationCode,
    ClientCredentials,
    DeviceCode,
    ImplicitDesktop,
    Strategy,
)
from ._core.text import printable
from ._core.token import Token, is_token_text
from ._core.urls import is_loopback_host
from ._discovery import discover
from ._file_store import FileStore, _make_private_dir, write_private_file
from ._store import MemoryStore

if TYPE_CHECKING:
    from .agents import UserAgent

__all__ = [
    "ENV_CLIENT_ID",
    "ENV_CLIENT_SECRET",
    "ENV_CONFIG_DIR",
    "EXIT_AGENT_ERROR",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_LOGIN_REQUIRED",
    "EXIT_OK",
    "EXIT_USAGE",
    "PROVIDERS",
    "Profile",
    "main",
]

EXIT_OK = 0
"""The command did what was asked."""
EXIT_ERROR = 1
"""An OAuth, provider or store error (a refused token request, a denied login, ...)."""
EXIT_USAGE = 2
"""A usage or configuration error: bad options, a missing client id or secret."""
EXIT_LOGIN_REQUIRED = 3
"""No usable token and no way to get one without ``anyoauth login``."""
EXIT_AGENT_ERROR = 4
"""The user agent failed: no browser, the listener's deadline passed, nothing pasted."""
EXIT_INTERRUPTED = 130
"""Interrupted (Ctrl-C)."""

ENV_CONFIG_DIR = "ANYOAUTH_CONFIG_DIR"
"""Environment variable naming the configuration directory."""
ENV_CLIENT_ID = "ANYOAUTH_CLIENT_ID"
"""Environment variable holding the client id for ``login``."""
ENV_CLIENT_SECRET = "ANYOAUTH_CLIENT_SECRET"
"""Environment variable holding the client secret for ``login``."""

_T = TypeVar("_T")

DEFAULT_PROFILE = "default"
LOOPBACK_HOST = "127.0.0.1"
LOOPBACK_PATH = "/callback"
# Teamwork's preset needs a redirect_uri even where a loopback listener chooses the real
# one, and to rebuild the strategy for ``token``/``logout`` (the token is bound to the
# client id, not to the redirect URI).
_PLACEHOLDER_REDIRECT = f"http://{LOOPBACK_HOST}{LOOPBACK_PATH}"

_PROFILE_VERSION = 2
# Version 2 added the oauth provider's settings (issuer, discovered endpoints, flow,
# client authentication). Version 1 profiles are still read; a profile without those
# settings (every other provider's) is still written as version 1, exactly as before,
# so that an older anyoauth keeps reading it.
_READABLE_VERSIONS = (1, 2)
# Shorter strings are too likely to occur in a message by chance to be cut out of it.
_MIN_REDACTED = 8
# How often a task waiting on a daemon thread looks whether it has finished.
_POLL_SECONDS = 0.05
# The longest line ``--agent manual`` reads (a redirect URL with its code and state).
_MAX_PASTE = 64 * 1024
_PROFILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_AGENTS = ("system", "loopback", "embedded", "manual")
_ENDPOINT_OPTIONS = (
    "authorize_url",
    "token_url",
    "success_url",
    "failure_url",
    "server_url",
    "realm",
)
# The oauth provider's flows (--flow) and what each needs in the server's metadata.
_FLOWS = ("code", "device", "client-credentials")
_FLOW_ENDPOINTS = {
    "code": ("authorization_endpoint", "token_endpoint"),
    "device": ("device_authorization_endpoint", "token_endpoint"),
    "client-credentials": ("token_endpoint",),
}
# The discovered endpoints an oauth profile keeps (RFC 8414 names).
_SERVER_FIELDS = STRATEGY_ENDPOINTS
# The client authentication methods discovery chooses from (ServerMetadata's rule).
_CLIENT_AUTHS = ("client_secret_basic", "client_secret_post", "none")


class _UsageError(Exception):
    """A usage or configuration problem; the message is shown as is (it holds no secret)."""


class _LoginNeeded(Exception):
    """Nothing saved to work from: the user has to run ``anyoauth login`` first."""


class _RevocationFailed(Exception):
    """``logout`` deleted the local token, but revoking it at the provider failed."""

    def __init__(self, error: OAuthError) -> None:
        super().__init__(str(error))
        self.error = error


# -- providers -------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class _Provider:
    """A built-in provider as the command line sees it."""

    name: str
    title: str
    flow: str
    needs_secret: bool
    """Whether it always needs a client secret (the secret is optional when the
    provider merely takes ``client_secret`` among its :attr:`options`)."""
    options: frozenset[str]
    """The provider-specific options it accepts (argparse ``dest`` names)."""
    default_agent: str

    def build(self, profile: Profile) -> Strategy:
        """The strategy for ``profile``, with its endpoint overrides."""
        e = profile.endpoints
        if self.needs_secret and not profile.client_secret:
            raise _UsageError(f"{self.name} needs a client secret")
        secret = profile.client_secret or ""
        if self.name == "oauth":
            return _build_oauth(profile)
        if self.name == "geni":
            return providers.Geni(
                profile.client_id,
                scope=profile.scope or None,
                authorize_url=e.get("authorize_url", providers.GENI_AUTHORIZE_URL),
                success_url=e.get("success_url", providers.GENI_SUCCESS_URL),
                failure_url=e.get("failure_url", providers.GENI_FAILURE_URL),
                token_url=e.get("token_url", providers.GENI_TOKEN_URL),
            )
        if self.name == "teamwork":
            return providers.Teamwork(
                profile.client_id,
                secret,
                profile.redirect_uri or _PLACEHOLDER_REDIRECT,
                login_url=e.get("authorize_url"),
                token_url=e.get("token_url", providers.TEAMWORK_TOKEN_URL),
            )
        if self.name == "bog":
            return providers.BankOfGeorgia(
                profile.client_id,
                secret,
                redirect_uri=profile.redirect_uri,
                server_url=e.get("server_url", providers.BOG_SERVER_URL),
                realm=e.get("realm", "bog"),
                authorize_url=e.get("authorize_url"),
                token_url=e.get("token_url"),
            )
        if "server_url" not in e or "realm" not in e:
            raise _UsageError("keycloak needs --server-url and --realm")
        return providers.Keycloak(
            e["server_url"],
            e["realm"],
            profile.client_id,
            secret,
            redirect_uri=profile.redirect_uri,
            scope=profile.scope or None,
            authorize_url=e.get("authorize_url"),
            token_url=e.get("token_url"),
        )


PROVIDERS: Mapping[str, _Provider] = {
    p.name: p
    for p in (
        _Provider(
            name="geni",
            title="Geni",
            flow="implicit desktop flow (token in the fragment of a special URL)",
            needs_secret=False,
            options=frozenset(
                {"scope", "authorize_url", "token_url", "success_url", "failure_url"}
            ),
            default_agent="embedded",
        ),
        _Provider(
            name="teamwork",
            title="Teamwork",
            flow="App Login Flow (code exchanged by a JSON POST)",
            needs_secret=True,
            options=frozenset({"client_secret", "redirect_uri", "authorize_url", "token_url"}),
            default_agent="system",
        ),
        _Provider(
            name="bog",
            title="Bank of Georgia",
            flow="client credentials with HTTP Basic (Keycloak realm bog, scope corp)",
            needs_secret=True,
            options=frozenset(
                {
                    "client_secret",
                    "redirect_uri",
                    "server_url",
                    "realm",
                    "authorize_url",
                    "token_url",
                }
            ),
            default_agent="none",
        ),
        _Provider(
            name="keycloak",
            title="Keycloak",
            flow="client credentials with HTTP Basic (any realm: --server-url, --realm)",
            needs_secret=True,
            options=frozenset(
                {
                    "client_secret",
                    "redirect_uri",
                    "scope",
                    "server_url",
                    "realm",
                    "authorize_url",
                    "token_url",
                }
            ),
            default_agent="none",
        ),
        _Provider(
            name="oauth",
            title="OAuth 2.0 / OpenID Connect",
            flow="any server, found by discovery (--issuer): "
            "authorization code with PKCE, device code or client credentials (--flow)",
            needs_secret=False,
            options=frozenset({"client_secret", "issuer", "flow", "redirect_uri", "scope"}),
            default_agent="system",
        ),
    )
}
"""The providers the command knows, by the name used on the command line."""


def _build_oauth(profile: Profile) -> Strategy:
    """The ``oauth`` strategy, from the settings discovery saved: no network access."""
    if profile.issuer is None or profile.flow not in _FLOWS or profile.client_auth is None:
        raise _UsageError("the oauth profile lacks its discovered settings; run login again")
    server = profile.server
    common: dict[str, Any] = {
        "client_id": profile.client_id,
        "client_secret": profile.client_secret,
        "client_auth": profile.client_auth,
        "scope": profile.scope,
        "token_endpoint": server.get("token_endpoint"),
        "revocation_endpoint": server.get("revocation_endpoint"),
        "introspection_endpoint": server.get("introspection_endpoint"),
        "issuer": profile.issuer,
    }
    if profile.flow == "client-credentials":
        return ClientCredentials(**common)
    # id_tokens (scope openid) are validated with the server's key set.
    common["jwks_uri"] = server.get("jwks_uri")
    if profile.flow == "device":
        return DeviceCode(
            device_authorization_endpoint=server.get("device_authorization_endpoint"), **common
        )
    return AuthorizationCode(
        authorization_endpoint=server.get("authorization_endpoint"),
        # The loopback listener replaces it with its own (any port, RFC 8252 7.3).
        redirect_uri=profile.redirect_uri or _PLACEHOLDER_REDIRECT,
        require_iss=profile.require_iss,
        uses_pkce=True,
        **common,
    )


# -- profiles --------------------------------------------------------------------------


def _str_or_none(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError("expected a string")


@attrs.frozen(kw_only=True)
class Profile:
    """What ``login`` saves so that later commands need only the provider's name.

    ``repr()`` never shows the client secret.
    """

    provider: str
    """A key of :data:`PROVIDERS`."""
    name: str = DEFAULT_PROFILE
    """The profile's name (``--profile``)."""
    client_id: str
    """The client id the provider issued."""
    client_secret: str | None = attrs.field(default=None, repr=False)
    """The client secret, for providers that need one."""
    redirect_uri: str | None = None
    """The redirect URI given to ``login``; ``None`` for a loopback listener's own."""
    scope: tuple[str, ...] = ()
    """The scopes requested (Geni, Keycloak)."""
    endpoints: Mapping[str, str] = attrs.field(factory=dict)
    """Endpoint overrides: ``authorize_url``, ``token_url``, ``success_url``,
    ``failure_url``, ``server_url``, ``realm``."""
    agent: str | None = None
    """The user agent chosen with ``--agent``, if any."""
    port: int | None = None
    """The loopback listener's port chosen with ``--port``, if any."""
    issuer: str | None = None
    """The authorization server's issuer (oauth)."""
    flow: str | None = None
    """The flow (oauth): ``code``, ``device`` or ``client-credentials``."""
    client_auth: str | None = None
    """How the client authenticates at the server (oauth), as chosen at login from the
    server's metadata and whether there is a secret."""
    server: Mapping[str, str] = attrs.field(factory=dict)
    """The discovered endpoints (oauth), by RFC 8414 name: ``authorization_endpoint``,
    ``token_endpoint``, ``device_authorization_endpoint``, ``revocation_endpoint``,
    ``introspection_endpoint``, ``jwks_uri``."""
    require_iss: bool = False
    """Whether authorization responses must carry ``iss`` (RFC 9207; oauth)."""

    @property
    def _version(self) -> int:
        """1 when nothing of version 2 is set: such a profile stays readable by older
        versions of the command."""
        oauth = (self.issuer, self.flow, self.client_auth)
        return 1 if oauth == (None, None, None) and not self.server and not self.require_iss else 2

    def to_json(self) -> bytes:
        """The profile as the JSON document saved on disk (it holds the secret)."""
        data: dict[str, Any] = {
            "version": self._version,
            "provider": self.provider,
            "name": self.name,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "redirect_uri": self.redirect_uri,
            "scope": list(self.scope),
            "endpoints": dict(self.endpoints),
            "agent": self.agent,
            "port": self.port,
        }
        if data["version"] == _PROFILE_VERSION:
            data.update(
                issuer=self.issuer,
                flow=self.flow,
                client_auth=self.client_auth,
                server=dict(self.server),
                require_iss=self.require_iss,
            )
        return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Profile:
        """Read a saved profile (version 1 or 2); ``ValueError`` if it is not one."""
        try:
            data = json.loads(raw)
            if not isinstance(data, dict) or data.get("version") not in _READABLE_VERSIONS:
                raise ValueError("not a profile")
            endpoints = data.get("endpoints") or {}
            scope = data.get("scope") or []
            port = data.get("port")
            if not isinstance(endpoints, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in endpoints.items()
            ):
                raise ValueError("bad endpoints")
            if not isinstance(scope, list) or not all(isinstance(s, str) for s in scope):
                raise ValueError("bad scope")
            if port is not None and (not isinstance(port, int) or isinstance(port, bool)):
                raise ValueError("bad port")
            provider, name, client_id = data["provider"], data["name"], data["client_id"]
            if not all(isinstance(v, str) and v for v in (provider, name, client_id)):
                raise ValueError("bad names")
            profile = cls(
                provider=provider,
                name=name,
                client_id=client_id,
                client_secret=_str_or_none(data.get("client_secret")),
                redirect_uri=_str_or_none(data.get("redirect_uri")),
                scope=tuple(scope),
                endpoints={k: v for k, v in endpoints.items() if k in _ENDPOINT_OPTIONS},
                agent=_str_or_none(data.get("agent")),
                port=port,
            )
            if data["version"] == 1:
                return profile
            return attrs.evolve(profile, **_version_2_settings(data))
        except (KeyError, TypeError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError("not a profile") from exc


def _version_2_settings(data: Mapping[str, Any]) -> dict[str, Any]:
    """The oauth settings of a version 2 profile, checked; ``ValueError`` if they are bad."""
    server = data.get("server") or {}
    if not isinstance(server, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in server.items()
    ):
        raise ValueError("bad server")
    flow, client_auth = data.get("flow"), data.get("client_auth")
    if flow is not None and flow not in _FLOWS:
        raise ValueError("bad flow")
    if client_auth is not None and client_auth not in _CLIENT_AUTHS:
        raise ValueError("bad client_auth")
    require_iss = data.get("require_iss", False)
    if not isinstance(require_iss, bool):
        raise ValueError("bad require_iss")
    return {
        "issuer": _str_or_none(data.get("issuer")),
        "flow": flow,
        "client_auth": client_auth,
        "server": {k: v for k, v in server.items() if k in _SERVER_FIELDS},
        "require_iss": require_iss,
    }


class _Config:
    """The configuration directory: profiles and the token store."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def locate(cls, option: str | None) -> _Config:
        """``--config-dir``, else ``$ANYOAUTH_CONFIG_DIR``, else the user's config dir."""
        path = option or os.environ.get(ENV_CONFIG_DIR)
        if not path:
            try:
                import platformdirs
            except ImportError:
                raise _UsageError(
                    "no configuration directory: install 'anyoauth[cli]' (platformdirs), "
                    f"or pass --config-dir or set {ENV_CONFIG_DIR}"
                ) from None
            path = platformdirs.user_config_dir("anyoauth")
        return cls(Path(path).expanduser())

    @property
    def store_dir(self) -> Path:
        """The :class:`~anyoauth.FileStore` directory."""
        return self.root / "store"

    def profile_path(self, provider: str, name: str) -> Path:
        """Where the profile ``name`` of ``provider`` is saved."""
        return self.root / "profiles" / provider / f"{name}.json"

    def prepare(self) -> None:
        """Create the directory 0700 (tightening a laxer mode)."""
        _private_dir(self.root)

    def load(self, provider: str, name: str) -> Profile | None:
        """The saved profile, or ``None``; ``_UsageError`` if it is unreadable."""
        path = self.profile_path(provider, name)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _UsageError(f"cannot read the profile {path}: {exc.strerror}") from None
        try:
            profile = Profile.from_json(raw)
        except ValueError:
            raise _UsageError(
                f"the profile {path} is unreadable; run `anyoauth login {provider}` again"
            ) from None
        if (
            profile.provider != provider
            or (PROVIDERS[provider].needs_secret and not profile.client_secret)
            or (provider == "oauth" and (profile.issuer is None or profile.flow is None))
        ):
            raise _UsageError(
                f"the profile {path} does not fit {provider}; run `anyoauth login {provider}`"
            )
        return profile

    def save(self, profile: Profile) -> Path:
        """Write the profile atomically, mode 0600, in 0700 directories."""
        path = self.profile_path(profile.provider, profile.name)
        self.prepare()
        _private_dir(path.parent.parent)
        _private_dir(path.parent)
        _write_private(path, profile.to_json())
        return path

    def forget(self, provider: str, name: str) -> bool:
        """Delete the saved profile; whether there was one."""
        try:
            self.profile_path(provider, name).unlink()
        except FileNotFoundError:
            return False
        return True


def _private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) mode 0700, or tighten it to 0700;
    :class:`StoreError` if it is a link, another user's, or writable by others."""
    _make_private_dir(str(path), parents=True)


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` the way FileStore writes: 0600 temp file, fsync, rename."""
    write_private_file(str(path.parent), path.name, f".{path.name}.tmp", data)


# -- the command line ------------------------------------------------------------------


class _Formatter(argparse.HelpFormatter):
    """Wraps each paragraph of a description or epilog; keeps indented blocks as they are."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = []
        for paragraph in text.strip("\n").split("\n\n"):
            if paragraph.startswith(" ") or "\n " in paragraph:
                paragraphs.append("\n".join(indent + line for line in paragraph.splitlines()))
            else:
                paragraphs.append(
                    textwrap.fill(
                        " ".join(paragraph.split()),
                        width,
                        initial_indent=indent,
                        subsequent_indent=indent,
                    )
                )
        return "\n\n".join(paragraphs)


def _profile_name(value: str) -> str:
    if not _PROFILE_NAME.fullmatch(value):
        raise argparse.ArgumentTypeError(
            "a profile name is 1 to 64 letters, digits, '.', '_' or '-', not starting with "
            "'.', '_' or '-'"
        )
    return value


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError("a port is 0 to 65535")
    return port


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError("not a number of seconds") from None
    if not 0 < seconds < 86400:
        raise argparse.ArgumentTypeError("must be more than 0 and less than a day")
    return seconds


_EXIT_STATUSES = """\
exit statuses:
  0    success
  1    OAuth, provider, discovery or store error; logout: revocation failed
  2    usage or configuration error
  3    login required: run `anyoauth login PROVIDER`
  4    the user agent (browser, loopback listener, paste prompt) failed
  130  interrupted
"""


class _Parser(argparse.ArgumentParser):
    """argparse, writing its help and usage errors through :func:`_write` (a usage
    error quotes the arguments given, which may hold anything)."""

    def _print_message(self, message: str, file: Any = None) -> None:
        if message:
            _write(file or sys.stderr, message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="anyoauth",
        description="Async OAuth 2.0 flows for Geni, Teamwork, Keycloak and any OAuth 2.0 / "
        "OpenID Connect server: log in once, then print valid access tokens for scripts.",
        epilog=_EXIT_STATUSES,
        formatter_class=_Formatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    names = sorted(PROVIDERS)

    stored = _Parser(add_help=False)
    stored.add_argument(
        "--profile",
        type=_profile_name,
        default=DEFAULT_PROFILE,
        metavar="NAME",
        help="which saved login of the provider to use (default: %(default)s)",
    )
    stored.add_argument(
        "--config-dir",
        metavar="DIR",
        help=f"where profiles and tokens are kept (default: ${ENV_CONFIG_DIR}, else the "
        "user's configuration directory, e.g. ~/.config/anyoauth)",
    )

    login = commands.add_parser(
        "login",
        parents=[stored],
        help="log in to a provider and save the token and a profile",
        description="Log in to PROVIDER and store the token. Interactive flows show the "
        "provider's page in a user agent (--agent); client-credentials providers (bog, "
        "keycloak without --redirect-uri) just fetch a token. The settings, client secret "
        "included, are saved in a profile (a 0600 file) so that `token` and `logout` need "
        "only the provider's name; options not given again are taken from that profile."
        "\n\n"
        "oauth is any OAuth 2.0 / OpenID Connect server: its metadata is read from --issuer "
        "(RFC 8414, OpenID Connect discovery) and the endpoints found are saved, so later "
        "commands do not discover again. --flow code (authorization code with PKCE, browser "
        "and loopback listener) is the default when the server offers it and a browser can "
        "be opened or --agent is given; else device (enter the printed code on any device); "
        "client-credentials needs a client secret.",
        epilog="example:\n\n"
        "  anyoauth login oauth --issuer https://login.example.com --client-id ID "
        "--scope openid\n\n"
        "secrets: prefer $ANYOAUTH_CLIENT_SECRET or the prompt to --client-secret, "
        "which other local users can see in the process list.\n\n" + _EXIT_STATUSES,
        formatter_class=_Formatter,
    )
    login.add_argument("provider", choices=names, metavar="PROVIDER", help=", ".join(names))
    login.add_argument(
        "--client-id", metavar="ID", help=f"the client id (default: ${ENV_CLIENT_ID})"
    )
    login.add_argument(
        "--client-secret",
        metavar="SECRET",
        help=f"the client secret (default: ${ENV_CLIENT_SECRET}, the saved profile, or a "
        "prompt when stdin is a terminal; optional for oauth's code and device flows, "
        "whose public clients have none)",
    )
    login.add_argument(
        "--redirect-uri",
        metavar="URI",
        help="the redirect URI registered with the provider (teamwork, bog, keycloak, oauth "
        "--flow code); an http://127.0.0.1:PORT/PATH URI is caught by the loopback listener, "
        "any other is pasted (--agent manual)",
    )
    login.add_argument(
        "--scope",
        action="extend",
        nargs="+",
        metavar="S",
        help="scopes to request (geni, keycloak, oauth); repeatable",
    )
    login.add_argument(
        "--agent",
        choices=_AGENTS,
        help="how the login page is shown: system (browser + loopback listener), loopback "
        "(listener only; open the printed URL yourself), embedded (Chromium window, "
        "geni's default), manual (paste the URL the browser ends on)",
    )
    login.add_argument(
        "--port",
        type=_port,
        metavar="N",
        help="the loopback listener's port (default: any free port); the redirect URI is "
        f"http://{LOOPBACK_HOST}:N{LOOPBACK_PATH}",
    )
    login.add_argument(
        "--timeout",
        type=_seconds,
        metavar="SECONDS",
        help="how long the user agent waits for the login to finish",
    )
    server = login.add_argument_group("oauth: any OAuth 2.0 / OpenID Connect server")
    server.add_argument(
        "--issuer",
        metavar="URL",
        help="the authorization server's issuer, whose metadata names its endpoints "
        "(https; http only on loopback)",
    )
    server.add_argument(
        "--flow",
        choices=_FLOWS,
        help="code (browser, PKCE), device (enter a code on any device) or "
        "client-credentials (needs a secret); default: code when the server offers it and "
        "a browser can be opened, else device",
    )
    endpoints = login.add_argument_group("endpoint overrides (staging hosts, emulators)")
    endpoints.add_argument(
        "--server-url", metavar="URL", help="the Keycloak server (keycloak, bog)"
    )
    endpoints.add_argument("--realm", metavar="R", help="the Keycloak realm (keycloak, bog)")
    endpoints.add_argument(
        "--authorize-url", metavar="URL", help="the authorization (login) endpoint"
    )
    endpoints.add_argument("--token-url", metavar="URL", help="the token endpoint")
    endpoints.add_argument("--success-url", metavar="URL", help="geni's auth_success URL")
    endpoints.add_argument("--failure-url", metavar="URL", help="geni's auth_failed URL")
    login.set_defaults(handler=_cmd_login, parser=login)

    token = commands.add_parser(
        "token",
        parents=[stored],
        help="print a valid access token",
        description="Print a valid access token of PROVIDER on stdout, and nothing else, "
        "refreshing or refetching it when possible:\n\n"
        '  curl -H "Authorization: Bearer $(anyoauth token teamwork)" ...\n\n'
        "Exits 3 when only `anyoauth login` can get a token.",
        epilog=_EXIT_STATUSES,
        formatter_class=_Formatter,
    )
    token.add_argument("provider", choices=names, metavar="PROVIDER", help=", ".join(names))
    token.set_defaults(handler=_cmd_token, parser=token)

    logout = commands.add_parser(
        "logout",
        parents=[stored],
        help="revoke the token at the provider if it can, and delete it",
        description="Delete the stored token of PROVIDER. When the provider has a "
        "revocation endpoint (an oauth server that lists one), the token is first revoked "
        "there (RFC 7009), unless --local is given; the other built-in providers have none, "
        "so nothing is revoked at the provider. If revocation fails, the local token is "
        "deleted all the same and the exit status is 1. The profile stays, so a "
        "client-credentials provider (bog, keycloak) fetches a new token on the next "
        "`token`; --forget-profile also deletes the profile and the client secret saved "
        "in it.",
        epilog=_EXIT_STATUSES,
        formatter_class=_Formatter,
    )
    logout.add_argument("provider", choices=names, metavar="PROVIDER", help=", ".join(names))
    logout.add_argument(
        "--local",
        action="store_true",
        help="only delete the token here; do not revoke it at the provider",
    )
    logout.add_argument(
        "--forget-profile",
        action="store_true",
        help="also delete the saved profile (client id, endpoints, client secret)",
    )
    logout.set_defaults(handler=_cmd_logout, parser=logout)

    listing = commands.add_parser(
        "providers",
        help="list the built-in providers",
        description="List the built-in providers: name, flow and default user agent.",
        formatter_class=_Formatter,
    )
    listing.set_defaults(handler=_cmd_providers, parser=listing)

    demo = commands.add_parser(
        "demo",
        help="run every built-in provider flow against the emulator on loopback",
        description="Start the provider emulator on 127.0.0.1 and run the Geni, Teamwork and "
        "Bank of Georgia flows end to end; exit 0 only if every outcome is as expected.",
        formatter_class=_Formatter,
    )
    demo.set_defaults(handler=_cmd_demo, parser=demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``anyoauth`` command with ``argv`` (default ``sys.argv[1:]``).

    Returns the exit status: 0 success, 1 OAuth/provider/store error, 2 usage
    error, 3 login required, 4 user agent error, 130 interrupted. Errors are
    reported as one line on stderr; no secret is ever printed.
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse already reported
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    handler: Callable[[argparse.Namespace], int] = args.handler
    sub: argparse.ArgumentParser = args.parser
    given = (getattr(args, "client_secret", None), os.environ.get(ENV_CLIENT_SECRET))
    secrets_seen: list[str] = [secret for secret in given if secret]
    args.secrets_seen = secrets_seen
    log = _LogToTerminal(secrets_seen)
    logging.getLogger("anyoauth").addHandler(log)
    try:
        try:
            return handler(args)
        except BaseExceptionGroup as group:  # a task group's wrapping of one error
            raise _only_error(group) from None
    except KeyboardInterrupt:
        _say(("\n" if _is_terminal(sys.stderr) else "") + "anyoauth: interrupted")
        return EXIT_INTERRUPTED
    except _UsageError as exc:
        _say(f"{sub.prog}: error: {_clean(str(exc), secrets_seen)}")
        return EXIT_USAGE
    except _LoginNeeded as exc:
        _say(f"anyoauth: {_clean(str(exc), secrets_seen)}")
        return EXIT_LOGIN_REQUIRED
    except OAuthError as exc:
        return _report(exc, args, secrets_seen)
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        _say(f"anyoauth: {exc.strerror or type(exc).__name__}{where}")
        return EXIT_ERROR
    finally:
        logging.getLogger("anyoauth").removeHandler(log)


def _only_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one error inside nested exception groups, or the group if there are several."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        exc = pending.pop()
        if isinstance(exc, BaseExceptionGroup):
            pending.extend(exc.exceptions)
        else:
            leaves.append(exc)
    return leaves[0] if len(leaves) == 1 else group


# -- output: every line the command writes goes through _write --------------------------


def _write(stream: TextIO, text: str) -> None:
    """The one way the command writes: provider text, URLs, profile names and error
    messages reach the terminal only through :func:`~anyoauth._core.text.printable`
    (every character a terminal acts on, the newline apart, shown escaped)."""
    stream.write(printable(text))
    stream.flush()


class _LogToTerminal(logging.Handler):
    """Writes the ``anyoauth`` logger's warnings (and worse) through :func:`_write`, so
    a library message never reaches the terminal unescaped (without a handler, Python's
    last-resort one would write it raw)."""

    def __init__(self, secrets_seen: Sequence[str]) -> None:
        super().__init__(logging.WARNING)
        self._secrets_seen = secrets_seen

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = _clean(record.getMessage(), self._secrets_seen)
            _write(sys.stderr, f"anyoauth: {record.levelname.lower()}: {message}\n")
        except Exception:  # logging's own contract: report, never raise
            self.handleError(record)


def _print_token(token: Token) -> None:
    """``token``: the access token, exactly, on stdout; :class:`StoreError` if it is not
    visible ASCII (escaping would print another token; a :class:`Token` never holds
    such a character, this is the output path's own check)."""
    if not is_token_text(token.access_token):
        raise StoreError("the stored access token has unprintable characters")
    _write(sys.stdout, token.access_token + "\n")


def _out(line: str) -> None:
    _write(sys.stdout, line + "\n")


def _say(line: str) -> None:
    _write(sys.stderr, line + "\n")


def _clean(text: str, secrets_seen: Sequence[str]) -> str:
    """One line, with any secret this run handled replaced (belt and braces: no anyoauth
    message contains one)."""
    for secret in secrets_seen:
        if len(secret) >= _MIN_REDACTED:
            text = text.replace(secret, "[redacted]")
    return " ".join(text.split())


def _login_hint(args: argparse.Namespace) -> str:
    profile = "" if args.profile == DEFAULT_PROFILE else f" --profile {args.profile}"
    return f"anyoauth login {args.provider}{profile}"


def _report(exc: OAuthError, args: argparse.Namespace, secrets_seen: Sequence[str]) -> int:
    text = _clean(f"{type(exc).__name__}: {exc}", secrets_seen)
    if isinstance(exc, LoginRequired):
        _say(f"anyoauth: {text}; run `{_login_hint(args)}`")
        return EXIT_LOGIN_REQUIRED
    if isinstance(exc, ConfigurationError):
        _say(f"{args.parser.prog}: error: {text}")
        return EXIT_USAGE
    _say(f"anyoauth: {text}")
    return EXIT_AGENT_ERROR if isinstance(exc, AgentError) else EXIT_ERROR


# -- commands --------------------------------------------------------------------------


def _cmd_providers(args: argparse.Namespace) -> int:
    for p in PROVIDERS.values():
        agent = p.default_agent
        if agent == "none":
            agent = "none (system with --redirect-uri)"
        elif p.name == "oauth":
            agent = "system for --flow code (none for device and client-credentials)"
        _out(f"{p.name:<9} {p.title}: {p.flow}; default agent: {agent}")
    _print_plugins()
    return EXIT_OK


def _print_plugins() -> None:
    """List installed provider and strategy plugins (built-ins are listed above)."""
    from . import plugins

    for kind in ("provider", "strategy"):
        rows = [info for info in plugins.describe() if not info.builtin and info.kind == kind]
        if not rows:
            continue
        _out(f"{kind} plugins (from Python: anyoauth.plugins.get_{kind}):")
        for info in rows:
            about = info.summary if info.status == "ok" else f"{info.status}: {info.error or ''}"
            _out(f"  {info.name:<9} {about} [{info.origin}]".rstrip())


def _cmd_demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    return anyio.run(run_demo)


def _cmd_login(args: argparse.Namespace) -> int:
    provider = PROVIDERS[args.provider]
    config = _Config.locate(args.config_dir)
    saved = config.load(provider.name, args.profile)
    profile = _login_profile(provider, args, saved)
    if profile.client_secret:
        args.secrets_seen.append(profile.client_secret)
    if provider.name == "oauth":
        metadata = anyio.run(_discover, profile)
        discovered = _discovered(profile, metadata)
        if _reused_saved_secret(args, saved, profile) and (
            saved is None or _secret_endpoints(discovered) != _secret_endpoints(saved)
        ):
            # The server's metadata now names other endpoints than those the secret was
            # saved for: the secret is asked for again, never sent there unasked.
            profile = _login_profile(provider, args, saved, reuse_saved_secret=False)
            if profile.client_secret:
                args.secrets_seen.append(profile.client_secret)
            discovered = _discovered(profile, metadata)
        profile = discovered
    strategy = provider.build(profile)
    agent: UserAgent | None = None
    if strategy.interactive:
        agent = _make_agent(_agent_name(profile, strategy), profile, strategy, args.timeout)
    elif args.agent is not None or args.port is not None:
        raise _UsageError(
            f"{provider.name} gets its token with client credentials: --agent and --port "
            "need --redirect-uri"
        )
    config.prepare()
    token = anyio.run(_login, config, profile, strategy, agent)
    config.save(profile)
    how = f" with the {profile.flow} flow" if profile.flow else ""
    _say(
        f"Logged in to {_title(profile)} (profile {profile.name}){how}: {_describe(token)}, "
        f"saved in {config.root}. Print it with `{_token_hint(profile)}`."
    )
    return EXIT_OK


def _cmd_token(args: argparse.Namespace) -> int:
    config = _Config.locate(args.config_dir)
    profile = _saved_profile(config, args)
    if profile.client_secret:
        args.secrets_seen.append(profile.client_secret)
    strategy = PROVIDERS[profile.provider].build(profile)
    token = anyio.run(_token, config, profile, strategy)
    _print_token(token)
    return EXIT_OK


def _cmd_logout(args: argparse.Namespace) -> int:
    config = _Config.locate(args.config_dir)
    profile = config.load(args.provider, args.profile)
    if profile is None:
        _say(f"anyoauth: not logged in to {args.provider} (profile {args.profile})")
        return EXIT_OK
    if profile.client_secret:
        args.secrets_seen.append(profile.client_secret)
    strategy = PROVIDERS[profile.provider].build(profile)
    revoke = strategy.revocation_endpoint is not None and not args.local
    failure: _RevocationFailed | None = None
    try:
        revoked = anyio.run(_logout, config, profile, strategy, revoke)
    except _RevocationFailed as exc:
        revoked, failure = False, exc
    what = "token"
    if args.forget_profile:
        config.forget(profile.provider, profile.name)
        what = "token and profile"
    where = f"{_title(profile)} (profile {profile.name})"
    if failure is not None:
        error = _clean(f"{type(failure.error).__name__}: {failure.error}", args.secrets_seen)
        verb = "were" if args.forget_profile else "was"
        _say(
            f"anyoauth: the local {what} of {where} {verb} deleted, but revoking the token "
            f"at the provider failed ({error}); it may stay valid there until it expires"
        )
        return EXIT_ERROR
    if revoked:
        done = f"token revoked at the provider, local {what} deleted"
    else:
        done = f"{what} deleted; nothing was revoked at the provider"
    _say(f"Logged out of {where}: {done}.")
    return EXIT_OK


def _saved_profile(config: _Config, args: argparse.Namespace) -> Profile:
    profile = config.load(args.provider, args.profile)
    if profile is None:
        raise _LoginNeeded(
            f"not logged in to {args.provider} (profile {args.profile}); "
            f"run `{_login_hint(args)}` first"
        )
    return profile


def _title(profile: Profile) -> str:
    """What the user logged in to: the provider's name, or the oauth issuer."""
    if profile.provider == "oauth" and profile.issuer:
        return profile.issuer
    return PROVIDERS[profile.provider].title


def _token_hint(profile: Profile) -> str:
    suffix = "" if profile.name == DEFAULT_PROFILE else f" --profile {profile.name}"
    return f"anyoauth token {profile.provider}{suffix}"


def _describe(token: Token) -> str:
    if token.expires_at is None:
        return "a token without expiry"
    seconds = max(0.0, token.expires_at - token.issued_at)
    if seconds < 120:
        return f"a token valid for {seconds:.0f} s"
    if seconds < 7200:
        return f"a token valid for {seconds / 60:.0f} min"
    return f"a token valid for {seconds / 3600:.0f} h"


# -- login settings ----------------------------------------------------------------------


def _login_profile(
    provider: _Provider,
    args: argparse.Namespace,
    saved: Profile | None,
    *,
    reuse_saved_secret: bool = True,
) -> Profile:
    """The profile ``login`` uses: its options, else the environment, else the saved
    profile, else a prompt for the secret. An oauth profile gets its server's endpoints
    from :func:`_discovered`.

    The saved secret is reused only for the same client id and the same endpoints
    (:func:`_secret_endpoints`; for oauth the same issuer here, and :func:`_cmd_login`
    compares the discovered endpoints). A saved secret of the same client id that does
    not apply (or ``reuse_saved_secret`` false) is asked for again, or without a
    terminal is a usage error: it is never sent to other endpoints unasked."""
    given = {
        name
        for name in ("client_secret", "issuer", "flow", "redirect_uri", "scope", *_ENDPOINT_OPTIONS)
        if getattr(args, name) is not None
    }
    unknown = sorted(given - provider.options)
    if unknown:
        flags = ", ".join("--" + name.replace("_", "-") for name in unknown)
        raise _UsageError(f"{provider.name} does not take {flags}")

    client_id = args.client_id or os.environ.get(ENV_CLIENT_ID) or (saved and saved.client_id)
    if not client_id:
        raise _UsageError(
            f"{provider.name} needs a client id: pass --client-id or set {ENV_CLIENT_ID}"
        )
    issuer = None
    if provider.name == "oauth":
        issuer = args.issuer or (saved.issuer if saved else None)
        if not issuer:
            raise _UsageError(
                "oauth needs --issuer: the authorization server's issuer URL, whose "
                "metadata is read (RFC 8414, OpenID Connect discovery)"
            )
        _check_issuer(issuer)
    # Settings saved for another server (or client) are not mixed into this one.
    same = saved is not None and saved.client_id == client_id and _same_issuer(saved.issuer, issuer)
    endpoints = dict(saved.endpoints) if saved is not None else {}
    endpoints.update({name: getattr(args, name) for name in _ENDPOINT_OPTIONS if name in given})
    # The saved agent and port come back together, and only when the user agent is not
    # being chosen anew (a stale --port must not clash with a new --agent).
    choosing = args.agent is not None or args.port is not None or args.redirect_uri is not None
    agent_from = None if choosing else saved
    profile = Profile(
        provider=provider.name,
        name=args.profile,
        client_id=client_id,
        redirect_uri=args.redirect_uri or (saved.redirect_uri if saved else None),
        scope=tuple(args.scope) if args.scope else (saved.scope if saved else ()),
        endpoints=endpoints,
        agent=args.agent or (agent_from.agent if agent_from else None),
        port=args.port if args.port is not None else (agent_from.port if agent_from else None),
        issuer=issuer,
        # A new user agent setting means the code flow: a saved device flow is not reused.
        flow=args.flow or (saved.flow if saved is not None and same and not choosing else None),
    )
    if "client_secret" not in provider.options:
        return profile
    secret = args.client_secret or os.environ.get(ENV_CLIENT_SECRET)
    # A secret saved for this client id but for other endpoints must be given anew.
    stale = False
    if not secret and saved is not None and saved.client_secret and saved.client_id == client_id:
        if reuse_saved_secret and same and _same_secret_endpoints(provider, saved, profile):
            secret = saved.client_secret
        else:
            stale = True
    if profile.flow not in (None, "code"):
        if args.agent is not None or args.port is not None or args.redirect_uri is not None:
            raise _UsageError(
                f"--agent, --port and --redirect-uri are for --flow code, not --flow {profile.flow}"
            )
        profile = attrs.evolve(profile, agent=None, port=None, redirect_uri=None)
    if not provider.needs_secret and profile.flow != "client-credentials" and not stale:
        return attrs.evolve(profile, client_secret=secret or None)  # a public client, maybe
    title = provider.title if issuer is None else issuer
    if stale and not secret and _is_terminal(sys.stdin):
        _say(
            f"anyoauth: the client secret saved in profile {args.profile} was for other "
            "endpoints; it is not sent to these"
        )
    secret = secret or _ask_secret(title)
    if not secret and stale:
        raise _UsageError(
            f"the client secret saved in profile {args.profile} was for other endpoints and "
            f"is not sent to these: give this server's secret with {ENV_CLIENT_SECRET} or "
            "--client-secret, or run in a terminal to be prompted"
        )
    if not secret:
        what = provider.name if profile.flow is None else "--flow client-credentials"
        raise _UsageError(
            f"{what} needs a client secret: set {ENV_CLIENT_SECRET}, pass "
            "--client-secret, or run in a terminal to be prompted"
        )
    return attrs.evolve(profile, client_secret=secret)


# Where a strategy sends the client secret (or an assertion made with it).
_SECRET_ENDPOINTS = (
    "issuer",
    "token_endpoint",
    "device_authorization_endpoint",
    "revocation_endpoint",
    "introspection_endpoint",
)


def _secret_endpoints(profile: Profile) -> tuple[str | None, ...] | None:
    """The endpoints ``profile``'s strategy would send a client secret to (token, device
    authorization, revocation, introspection) and its issuer (the audience of client
    assertions), presets' overrides included; ``None`` when no strategy can be built
    from it (an oauth profile before discovery, a preset missing a setting)."""
    try:
        strategy = PROVIDERS[profile.provider].build(
            attrs.evolve(profile, client_secret=profile.client_secret or "-")
        )
    except (_UsageError, OAuthError):
        return None
    return tuple(getattr(strategy, name, None) for name in _SECRET_ENDPOINTS)


def _same_secret_endpoints(provider: _Provider, saved: Profile, profile: Profile) -> bool:
    """Whether ``saved``'s secret may go where ``profile`` sends it. An oauth profile's
    endpoints are known after discovery only: here its issuer decides (the caller has
    compared it), and :func:`_cmd_login` compares the discovered endpoints."""
    if provider.name == "oauth":
        return True
    endpoints = _secret_endpoints(profile)
    return endpoints is not None and endpoints == _secret_endpoints(saved)


def _reused_saved_secret(args: argparse.Namespace, saved: Profile | None, profile: Profile) -> bool:
    """Whether ``profile``'s secret is the saved one, not one given for this run."""
    given = args.client_secret or os.environ.get(ENV_CLIENT_SECRET)
    return (
        not given
        and saved is not None
        and saved.client_secret is not None
        and profile.client_secret == saved.client_secret
    )


def _ask_secret(title: str) -> str | None:
    """The client secret typed at a prompt that does not echo; ``None`` without a terminal."""
    if not _is_terminal(sys.stdin):
        return None
    try:
        return getpass.getpass(f"{title} client secret (not echoed): ") or None
    except EOFError:
        return None


def _same_issuer(a: str | None, b: str | None) -> bool:
    return a == b or (a is not None and b is not None and a.rstrip("/") == b.rstrip("/"))


def _check_issuer(issuer: str) -> None:
    """An https issuer URL (http only on loopback): discovery sends nothing in the clear."""
    try:
        parts = urlsplit(issuer)
        host = parts.hostname
        _ = parts.port
    except ValueError:  # a bad port, an unclosed IPv6 bracket
        host = None
    if not host or parts.scheme not in ("https", "http") or parts.query or parts.fragment:
        raise _UsageError("--issuer must be an https URL without query or fragment")
    if parts.scheme == "http" and not is_loopback_host(host):
        raise _UsageError(
            f"--issuer must use https (http only on loopback, e.g. http://{LOOPBACK_HOST}:PORT)"
        )


async def _discover(profile: Profile) -> ServerMetadata:
    """The server's metadata; :class:`DiscoveryError` when there is none to use."""
    if profile.issuer is None:
        raise _UsageError("oauth needs --issuer")
    return await discover(profile.issuer)


def _discovered(profile: Profile, metadata: ServerMetadata) -> Profile:
    """The oauth profile completed with what discovery found: the server's endpoints, the
    flow (``--flow``, else :func:`_default_flow`) and the client authentication."""
    flow = profile.flow or _default_flow(profile, metadata)
    missing = [name for name in _FLOW_ENDPOINTS[flow] if getattr(metadata, name) is None]
    if missing:
        raise _UsageError(
            f"{metadata.issuer} offers no {flow} flow: its metadata has no {', '.join(missing)}"
        )
    if flow != "code":
        profile = attrs.evolve(profile, agent=None, port=None, redirect_uri=None)
    # The library's rule: client_secret_basic with a secret (client_secret_post when the
    # server lists only that), none without.
    chosen = Strategy.from_metadata(
        metadata, client_id=profile.client_id, client_secret=profile.client_secret
    ).authentication.name
    return attrs.evolve(
        profile,
        issuer=metadata.issuer,
        flow=flow,
        client_auth=chosen,
        server={n: v for n in _SERVER_FIELDS if (v := getattr(metadata, n)) is not None},
        require_iss=metadata.authorization_response_iss_parameter_supported,
    )


def _offers(metadata: ServerMetadata, flow: str) -> bool:
    """Whether the server's metadata lists ``flow``'s endpoints and grant."""
    if any(getattr(metadata, name) is None for name in _FLOW_ENDPOINTS[flow]):
        return False
    if flow == "code":
        return metadata.supports_grant("authorization_code")
    grant = DEVICE_GRANT_TYPE if flow == "device" else "client_credentials"
    # A device endpoint without a grant list still means the grant (RFC 8414's default
    # list names only code and implicit).
    return not metadata.grant_types_supported or grant in metadata.grant_types_supported


def _default_flow(profile: Profile, metadata: ServerMetadata) -> str:
    """``code`` when the server offers it and a browser (or a chosen agent) can show the
    login page; else ``device``; else ``client-credentials`` for a client with a secret."""
    code = _offers(metadata, "code")
    chosen = (profile.agent, profile.port, profile.redirect_uri) != (None, None, None)
    if code and (chosen or _browser_usable()):
        return "code"
    if _offers(metadata, "device"):
        return "device"
    if code:
        raise _UsageError(
            f"no web browser to log in with, and {metadata.issuer} offers no device flow: "
            "pass --agent loopback and open the address it prints"
        )
    if profile.client_secret and _offers(metadata, "client-credentials"):
        return "client-credentials"
    raise _UsageError(
        f"{metadata.issuer} offers no flow anyoauth can run for this client: choose one with "
        "--flow (client-credentials needs a client secret)"
    )


def _browser_usable() -> bool:
    """Whether ``--agent system`` can open a graphical web browser here: ``$BROWSER`` is
    set, or there is a desktop session (on Linux and the like, ``$DISPLAY`` or
    ``$WAYLAND_DISPLAY``: without one, only a text browser in this very terminal)."""
    if os.environ.get("BROWSER"):
        return True
    desktop = sys.platform in ("darwin", "win32") or any(
        os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY")
    )
    if not desktop:
        return False
    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return True


def _is_terminal(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (OSError, ValueError):
        return False


def _loopback_redirect(uri: str | None) -> tuple[str, int, str] | None:
    """``(host, port, path)`` of an ``http://`` loopback redirect URI, else ``None``."""
    if uri is None:
        return None
    parts = urlsplit(uri)
    if parts.scheme != "http" or not is_loopback_host(parts.hostname or ""):
        return None
    try:
        port = parts.port or 80
    except ValueError:
        return None
    return parts.hostname or LOOPBACK_HOST, port, parts.path or "/"


def _agent_name(profile: Profile, strategy: Strategy) -> str:
    """The user agent for ``login``: ``--agent``, else what suits the flow and redirect URI."""
    if profile.agent is not None:
        return profile.agent
    if isinstance(strategy, ImplicitDesktop):
        return "embedded"
    if profile.redirect_uri is not None and _loopback_redirect(profile.redirect_uri) is None:
        return "manual"  # a custom scheme or a web app's URI: the user pastes where it ended
    return "system"


def _make_agent(
    name: str, profile: Profile, strategy: Strategy, timeout: float | None
) -> UserAgent:
    """Build the user agent ``name``; each is imported only when chosen."""
    options: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
    if name in ("system", "loopback"):
        return _loopback_agent(name, profile, options)
    if profile.port is not None:
        raise _UsageError(f"--port is for the loopback listener, not --agent {name}")
    if profile.redirect_uri is None and not isinstance(strategy, ImplicitDesktop):
        raise _UsageError(
            f"--agent {name} needs --redirect-uri (the redirect URI your app registered)"
        )
    if name == "manual":
        from .agents._manual import ManualAgent

        return ManualAgent(input=_read_pasted, output=_say, **options)  # instructions: stderr
    if importlib.util.find_spec("playwright") is None:
        raise AgentError(
            "the embedded browser needs Playwright (pip install 'anyoauth[playwright]'); "
            "or use --agent manual"
        )
    from .agents._embedded import EmbeddedBrowserAgent

    return EmbeddedBrowserAgent(**options)


def _loopback_agent(name: str, profile: Profile, options: dict[str, Any]) -> UserAgent:
    """The loopback listener on ``--redirect-uri``'s address, or ``--port``, or any port."""
    from .agents._loopback import LoopbackAgent, SystemBrowserAgent

    loopback = _loopback_redirect(profile.redirect_uri)
    if profile.redirect_uri is not None and loopback is None:
        raise _UsageError(
            f"--agent {name} catches only http://{LOOPBACK_HOST}:PORT/... redirects; "
            "use --agent manual for this redirect URI"
        )
    host, port, path = loopback or (LOOPBACK_HOST, 0, LOOPBACK_PATH)
    if profile.port is not None:
        if loopback is not None and profile.port != port:
            raise _UsageError("--port differs from the port of --redirect-uri")
        port = profile.port
    if name == "system":
        return SystemBrowserAgent(
            host=host, port=port, path=path, open_browser=_open_browser, **options
        )
    return LoopbackAgent(host=host, port=port, path=path, open_browser=_show_url, **options)


async def _read_pasted(prompt: str) -> str:
    """``--agent manual``: prompt on stderr, read the pasted line from stdin."""
    return await _in_daemon_thread(_read_line, prompt)


async def _in_daemon_thread(func: Callable[[str], _T], arg: str) -> _T:
    """Run a blocking call (a read from stdin, a browser start) in a daemon thread.

    Unlike a worker thread, a daemon thread still blocked when the command ends (after
    Ctrl-C, or the agent's deadline) does not keep the process alive.
    """
    done = threading.Event()
    box: list[_T] = []
    failure: list[BaseException] = []

    def work() -> None:
        try:
            box.append(func(arg))
        except BaseException as exc:  # handed over to the waiting task
            failure.append(exc)
        finally:
            done.set()

    threading.Thread(target=work, name="anyoauth-cli", daemon=True).start()
    # Polled: waking the event loop from a foreign thread needs anyio >= 4.11.
    while not done.is_set():  # noqa: ASYNC110
        await anyio.sleep(_POLL_SECONDS)
    if failure:
        raise failure[0]
    return box[0]


def _read_line(prompt: str) -> str:
    """Prompt on stderr and read one line from file descriptor 0.

    Read byte by byte from the descriptor, not through ``sys.stdin``: a thread blocked
    inside ``sys.stdin``'s buffer would abort the interpreter at exit after Ctrl-C.
    """
    _write(sys.stderr, prompt)
    line = bytearray()
    try:
        while not line.endswith(b"\n"):
            byte = os.read(0, 1)
            if not byte:
                if not line:
                    raise EOFError
                break
            line += byte
            if len(line) > _MAX_PASTE:
                raise AgentError("the pasted line is too long")
    finally:
        if not _is_terminal(sys.stdin):  # no echo of the line's end: end the prompt's line
            _write(sys.stderr, "\n")
    return line.decode("utf-8", "replace")


def _show_device_code(device: DeviceAuthorization) -> None:
    """``--flow device``: tell the user where to go and which code to enter."""
    minutes = max(1, round((device.expires_at - time.time()) / 60))
    complete = device.verification_uri_complete
    also = f"This address fills the code in for you:\n\n    {complete}\n\n" if complete else ""
    _say(
        "To log in, open this address in a web browser on any device:\n\n"
        f"    {device.verification_uri}\n\n"
        f"and enter the code {device.user_code} (it expires in {minutes} min). {also}"
        "Waiting for your approval..."
    )


async def _show_url(url: str) -> None:
    """``--agent loopback``: the user opens the login page."""
    _say(f"To log in, open this address in a web browser on this machine:\n\n    {url}\n")


async def _open_browser(url: str) -> None:
    """``--agent system``: open the login page with :mod:`webbrowser` (``$BROWSER``).

    ``url`` is the ``file://`` URL of the private launch page :class:`SystemBrowserAgent`
    writes, so the one-time start address never appears on the browser's command line.
    """
    _say(
        "Opening the login page in your web browser. If it does not open, open this "
        f"address in a web browser on this machine:\n\n    {url}\n"
    )
    opened = await _in_daemon_thread(webbrowser.open, url)
    if not opened:
        raise AgentError(
            "no web browser could be opened (the BROWSER environment variable chooses one); "
            "use --agent manual to paste the address instead"
        )


# -- the async parts ---------------------------------------------------------------------


def _client(config: _Config, profile: Profile, strategy: Strategy) -> Client:
    store = FileStore(config.store_dir)
    return Client(strategy, store, account=f"{profile.provider}/{profile.name}")


async def _login(
    config: _Config, profile: Profile, strategy: Strategy, agent: UserAgent | None
) -> Token:
    async with _client(config, profile, strategy) as client:
        if agent is not None:
            return await client.login(agent)
        if isinstance(strategy, DeviceCode):
            # The stored token is replaced only once the user has approved.
            return await client.device_login(_show_device_code)
        # Client credentials: always ask the provider, so that wrong credentials show
        # now. The fetch uses a throwaway store; the stored token is replaced only
        # once a new one has arrived.
        async with Client(strategy, MemoryStore()) as fetcher:
            token = await fetcher.token()
        await client.set_token(token)
        return token


async def _token(config: _Config, profile: Profile, strategy: Strategy) -> Token:
    client = _client(config, profile, strategy)
    try:
        await client.token()
        # A second look runs the early refresh itself (the client is not entered, so
        # there is no background task) when the token is inside the client's leeway:
        # the caller gets a token with time left whenever one can be had.
        return await client.token()
    finally:
        await client.aclose()


async def _logout(config: _Config, profile: Profile, strategy: Strategy, revoke: bool) -> bool:
    """Delete the stored token, after revoking it at the provider when ``revoke`` (and
    there is one); whether it was revoked. :class:`_RevocationFailed` when the token was
    deleted here but could not be revoked there."""
    client = _client(config, profile, strategy)
    try:
        if not revoke or await client.store.get_token(client.token_key) is None:
            await client.forget()
            return False
        try:
            await client.revoke()  # deletes the local token first, then revokes it
        except OAuthError as exc:
            if await client.store.get_token(client.token_key) is not None:
                raise  # not even deleted here: a store error
            raise _RevocationFailed(exc) from None
        return True
    finally:
        await client.aclose()
