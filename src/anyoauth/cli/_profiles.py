"""The command's files: the versioned profiles ``login`` saves (what they hold, how they
are written to and read from JSON, versions 1 to 3) and the configuration directory
that keeps them with the token store.

A profile without the ``oauth`` provider's settings is written as version 1, exactly as
before version 2 existed, so that an older anyoauth keeps reading it; version 2 added
the issuer, the discovered endpoints, the flow and the client authentication. Version
3 adds the DPoP key (RFC 9449: its algorithm and private JWK) and is written only for a
profile that has one, so a profile without DPoP is written as before. All three are
read; an older anyoauth refuses a version 3 profile (it could not use the tokens bound
to its key anyway). Files and directories are made the way :class:`~anyoauth.FileStore` makes
its own: directories 0700, files 0600, written atomically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import attrs

from .. import Client, ConfigurationError, DPoPKey, FileStore, Strategy
from .._core.metadata import STRATEGY_ENDPOINTS
from .._file_store import make_private_dir, write_private_file
from ..sansio import DPOP_ALGORITHMS
from ._common import DEFAULT_PROFILE, ENV_CONFIG_DIR, UsageError

__all__ = [
    "CLIENT_AUTHS",
    "DPOP_ALGORITHMS",
    "ENDPOINT_OPTIONS",
    "FLOWS",
    "SERVER_FIELDS",
    "Config",
    "Profile",
    "ProfileRules",
]

ENDPOINT_OPTIONS = (
    "authorize_url",
    "token_url",
    "success_url",
    "failure_url",
    "server_url",
    "realm",
    "tenant",
    "domain",
    "authorization_server",
    "audience",
    "team_id",
    "key_id",
    "key_file",
)
"""The endpoint overrides a profile keeps (``--authorize-url``, ... as argparse names)."""
FLOWS = ("code", "device", "client-credentials")
"""The ``oauth`` provider's flows (``--flow``)."""
SERVER_FIELDS = tuple(name for name in STRATEGY_ENDPOINTS if name != "userinfo_endpoint")
"""The discovered endpoints an ``oauth`` profile keeps (RFC 8414 names): every one a
strategy takes but the userinfo endpoint (no command calls it)."""
CLIENT_AUTHS = ("client_secret_basic", "client_secret_post", "none")
"""The client authentication methods discovery chooses from (ServerMetadata's rule)."""

_READABLE_VERSIONS = (1, 2, 3)
# The members of a JWK that are not private (RFC 7517, 7518, 8037): every other member
# of a saved DPoP key is a secret.
_PUBLIC_JWK_MEMBERS = frozenset(
    {"kty", "crv", "x", "y", "n", "e", "kid", "alg", "use", "key_ops", "x5u", "x5t"}
)
_MAX_JWK_MEMBER = 4096


class ProfileRules(Protocol):
    """What a provider says of the profiles saved for it (see :mod:`._providers`)."""

    @property
    def name(self) -> str:
        """The provider's name on the command line."""
        ...

    def fits(self, profile: Profile) -> bool:
        """Whether later commands can work from ``profile`` (a profile of this provider)."""
        ...


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
    """The provider's name on the command line: a provider preset of
    :mod:`anyoauth.plugins`, or ``oauth``."""
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
    dpop_alg: str | None = None
    """The algorithm of the DPoP key (``login --dpop``), when there is one."""
    dpop_jwk: Mapping[str, str] | None = attrs.field(default=None, repr=False)
    """The DPoP key's private JWK, when there is one: every ``token`` and ``logout``
    proves possession of the same key, so the stored DPoP-bound token stays usable."""

    @property
    def _version(self) -> int:
        """1 when nothing of version 2 or 3 is set, 2 without a DPoP key: such a profile
        stays readable by older versions of the command."""
        if self.dpop_jwk is not None:
            return 3
        oauth = (self.issuer, self.flow, self.client_auth)
        return 1 if oauth == (None, None, None) and not self.server and not self.require_iss else 2

    @property
    def has_dpop(self) -> bool:
        """Whether the profile has a DPoP key (``login --dpop``)."""
        return self.dpop_jwk is not None

    def dpop_key(self) -> DPoPKey | None:
        """The profile's DPoP key, or ``None``; :class:`UsageError` if the saved key
        cannot be loaded (its text is never shown)."""
        if self.dpop_jwk is None or self.dpop_alg is None:
            return None
        try:
            return DPoPKey.load(dict(self.dpop_jwk), self.dpop_alg)
        except (ConfigurationError, ValueError, TypeError):
            raise UsageError(
                f"the DPoP key saved in profile {self.name} is unusable; run "
                f"`anyoauth login {self.provider}{_profile_option(self.name)} --new-dpop-key`"
            ) from None

    def secrets(self) -> list[str]:
        """The secrets the profile holds: the client secret and the private members of
        the DPoP key (for the command to cut out of every message it prints)."""
        found = [self.client_secret] if self.client_secret else []
        if self.dpop_jwk is not None:
            found.extend(
                value
                for name, value in self.dpop_jwk.items()
                if name not in _PUBLIC_JWK_MEMBERS and value
            )
        return found

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
        if data["version"] >= 2:
            data.update(
                issuer=self.issuer,
                flow=self.flow,
                client_auth=self.client_auth,
                server=dict(self.server),
                require_iss=self.require_iss,
            )
        if self.dpop_jwk is not None:
            data["dpop"] = {"alg": self.dpop_alg, "jwk": dict(self.dpop_jwk)}
        return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Profile:
        """Read a saved profile (version 1, 2 or 3); ``ValueError`` if it is not one."""
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
                endpoints={k: v for k, v in endpoints.items() if k in ENDPOINT_OPTIONS},
                agent=_str_or_none(data.get("agent")),
                port=port,
            )
            if data["version"] == 1:
                return profile
            profile = attrs.evolve(profile, **_version_2_settings(data))
            if data["version"] == 2:
                return profile
            return attrs.evolve(profile, **_version_3_settings(data))
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
    if flow is not None and flow not in FLOWS:
        raise ValueError("bad flow")
    if client_auth is not None and client_auth not in CLIENT_AUTHS:
        raise ValueError("bad client_auth")
    require_iss = data.get("require_iss", False)
    if not isinstance(require_iss, bool):
        raise ValueError("bad require_iss")
    return {
        "issuer": _str_or_none(data.get("issuer")),
        "flow": flow,
        "client_auth": client_auth,
        "server": {k: v for k, v in server.items() if k in SERVER_FIELDS},
        "require_iss": require_iss,
    }


def _version_3_settings(data: Mapping[str, Any]) -> dict[str, Any]:
    """The DPoP key of a version 3 profile (which must have one), checked as a document
    (the key itself is loaded by :meth:`Profile.dpop_key`); ``ValueError`` if bad."""
    dpop = data.get("dpop")
    if not isinstance(dpop, dict) or dpop.get("alg") not in DPOP_ALGORITHMS:
        raise ValueError("bad dpop")
    jwk = dpop.get("jwk")
    if (
        not isinstance(jwk, dict)
        or not isinstance(jwk.get("kty"), str)
        or not all(
            isinstance(k, str) and isinstance(v, str) and len(v) <= _MAX_JWK_MEMBER
            for k, v in jwk.items()
        )
    ):
        raise ValueError("bad dpop")
    return {"dpop_alg": dpop["alg"], "dpop_jwk": dict(jwk)}


class Config:
    """The configuration directory: profiles and the token store."""

    def __init__(self, root: Path) -> None:
        self.root = root
        """The directory."""

    @classmethod
    def locate(cls, option: str | None) -> Config:
        """``--config-dir``, else ``$ANYOAUTH_CONFIG_DIR``, else the user's config dir."""
        path = option or os.environ.get(ENV_CONFIG_DIR)
        if not path:
            try:
                import platformdirs
            except ImportError:
                raise UsageError(
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

    def load(self, provider: ProfileRules, name: str) -> Profile | None:
        """The saved profile ``name`` of ``provider``, or ``None``; :class:`UsageError` if
        it is unreadable or does not fit the provider (:meth:`ProfileRules.fits`)."""
        path = self.profile_path(provider.name, name)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise UsageError(f"cannot read the profile {path}: {exc.strerror}") from None
        relogin = f"anyoauth login {provider.name}{_profile_option(name)}"
        try:
            profile = Profile.from_json(raw)
        except ValueError:
            raise UsageError(f"the profile {path} is unreadable; run `{relogin}` again") from None
        if profile.provider != provider.name or not provider.fits(profile):
            raise UsageError(f"the profile {path} does not fit {provider.name}; run `{relogin}`")
        return profile

    def client(self, profile: Profile, strategy: Strategy) -> Client:
        """A client of ``strategy`` keeping ``profile``'s token in this directory's store."""
        store = FileStore(self.store_dir)
        return Client(strategy, store, account=f"{profile.provider}/{profile.name}")

    def save(self, profile: Profile) -> Path:
        """Write the profile atomically, mode 0600, in 0700 directories."""
        path = self.profile_path(profile.provider, profile.name)
        self.prepare()
        _private_dir(path.parent.parent)
        _private_dir(path.parent)
        _write_private_file(path, profile.to_json())
        return path

    def forget(self, provider: str, name: str) -> bool:
        """Delete the saved profile; whether there was one."""
        try:
            self.profile_path(provider, name).unlink()
        except FileNotFoundError:
            return False
        return True


def _profile_option(name: str) -> str:
    """``--profile NAME`` as the commands it names take it (nothing for the default)."""
    return "" if name == DEFAULT_PROFILE else f" --profile {name}"


def _private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) mode 0700, or tighten it to 0700;
    :class:`StoreError` if it is a link, another user's, or writable by others."""
    make_private_dir(str(path))


def _write_private_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` the way FileStore writes: 0600 temp file, fsync, rename."""
    write_private_file(str(path.parent), path.name, f".{path.name}.tmp", data)
