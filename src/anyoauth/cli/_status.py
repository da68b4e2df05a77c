"""``anyoauth status``: every saved profile, of every provider, and the state of its
token, read from the configuration directory alone (nothing is sent to any server).

A row says where the profile logs in (the issuer, else the host of its token or
authorization endpoint), its flow, whether its token is valid and until when, whether
a new token can be had without a login (a refresh token, or client credentials, which
fetch one again), and whether the token is DPoP-bound. A profile that cannot be read
or used is listed with what is wrong and the command that mends it.

No secret is ever printed: the client secret, the DPoP key and the tokens are not
among the fields, and every field is cleaned of each of them (a profile file edited by
hand may hold anything, a secret in its issuer included).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import attrs

from .. import OAuthError, StoreError, Strategy, Token, UserStep
from .._core.text import printable
from ._common import DEFAULT_PROFILE, EXIT_OK, UsageError
from ._profiles import Config, Profile
from ._providers import get_provider
from ._terminal import clean, out, print_json, say

__all__ = ["ProfileStatus", "status"]


@attrs.frozen(kw_only=True)
class ProfileStatus:
    """One saved profile as ``status`` shows it (no secret in any field)."""

    provider: str
    """The provider's name (the profile's directory)."""
    profile: str
    """The profile's name (its file, without ``.json``)."""
    client_id: str | None = None
    """The client id (not a secret)."""
    server: str | None = None
    """The issuer, else the host of the token (or authorization) endpoint."""
    flow: str | None = None
    """``code``, ``implicit``, ``device`` or ``client-credentials``."""
    token: str = "none"
    """``valid``, ``expired``, ``none`` or ``unreadable``."""
    expires_at: int | None = None
    """When the token expires (Unix time), if it says."""
    expires_in: int | None = None
    """Seconds left (0 once expired), if the token says when it expires."""
    can_refresh: bool = False
    """Whether a new token can be had without a login: a refresh token, or client
    credentials."""
    dpop_bound: bool = False
    """Whether the stored token is DPoP-bound (RFC 9449)."""
    dpop_key: bool = False
    """Whether the profile has a DPoP key (``login --dpop``)."""
    problem: str | None = None
    """What keeps the profile from being used, and the command that mends it."""


def status(args: argparse.Namespace) -> int:
    """``anyoauth status``: a line (or with ``--json`` an object) per saved profile."""
    config = Config.locate(args.config_dir)
    rows, secrets = anyio.run(_read_all, config)
    args.secrets_seen.extend(secrets)
    rows = [_cleaned(row, args.secrets_seen) for row in rows]
    if args.json:
        print_json([attrs.asdict(row) for row in rows])
        return EXIT_OK
    if not rows:
        say(
            f"anyoauth: no saved profile in {config.root}; log in with "
            "`anyoauth login PROVIDER` (`anyoauth providers` lists them)"
        )
        return EXIT_OK
    table: list[tuple[str, ...]] = [
        ("PROVIDER", "PROFILE", "FLOW", "TOKEN", "RENEWABLE", "DPOP", "SERVER")
    ]
    # Measured as written: a character shown escaped takes the escape's width.
    table += [tuple(printable(cell) for cell in _columns(row)) for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]) - 1)]
    for line in table:
        out(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False))
            + "  "
            + line[-1]
        )
    for row in rows:
        if row.problem:
            say(f"anyoauth: {row.provider} (profile {row.profile}): {row.problem}")
    return EXIT_OK


def _columns(row: ProfileStatus) -> tuple[str, ...]:
    if row.token == "valid" and row.expires_in is not None:
        token = f"valid, {_duration(row.expires_in)} left"
    elif row.token == "valid":
        token = "valid, no expiry"
    elif row.token == "none":
        token = "no token"
    else:
        token = row.token
    dpop = "bound" if row.dpop_bound else ("key" if row.dpop_key else "no")
    return (
        row.provider,
        row.profile,
        row.flow or "-",
        token if row.problem is None else "unusable",
        "yes" if row.can_refresh else "no",
        dpop,
        row.server or "-",
    )


def _duration(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def _cleaned(row: ProfileStatus, secrets: Sequence[str]) -> ProfileStatus:
    """``row`` with every secret cut out of its text fields, each one line."""
    changes: dict[str, Any] = {
        field.name: clean(value, secrets)
        for field in attrs.fields(ProfileStatus)
        if isinstance(value := getattr(row, field.name), str)
    }
    return attrs.evolve(row, **changes)


async def _read_all(config: Config) -> tuple[list[ProfileStatus], list[str]]:
    """Every profile under ``config``, sorted by provider and name, and every secret
    read on the way (client secrets, DPoP keys, tokens)."""
    rows: list[ProfileStatus] = []
    secrets: list[str] = []
    root = config.root / "profiles"
    if not root.is_dir():
        return rows, secrets
    for directory in sorted(root.iterdir()):
        if not directory.is_dir() or directory.name.startswith("."):
            continue
        for path in sorted(directory.glob("*.json")):
            if path.name.startswith("."):  # a file being written
                continue
            row, usable = _load(directory.name, path, secrets)
            if usable is not None:
                row = await _with_token(config, row, *usable, secrets)
            rows.append(row)
    return rows, secrets


def _load(
    provider_name: str, path: Path, secrets: list[str]
) -> tuple[ProfileStatus, tuple[Profile, Strategy] | None]:
    """The status of the profile saved at ``path`` before its token is read, and the
    profile and its strategy when it is usable."""
    name = path.name.removesuffix(".json")
    row = ProfileStatus(provider=provider_name, profile=name)
    suffix = "" if name == DEFAULT_PROFILE else f" --profile {name}"
    relogin = f"run `anyoauth login {provider_name}{suffix}`"
    try:
        profile = Profile.from_json(path.read_bytes())
    except OSError as exc:
        return attrs.evolve(row, problem=f"cannot read {path}: {exc.strerror}"), None
    except ValueError:
        return attrs.evolve(row, problem=f"the profile file is unreadable; {relogin}"), None
    secrets.extend(profile.secrets())
    row = attrs.evolve(
        row,
        client_id=profile.client_id,
        server=profile.issuer,
        flow=profile.flow,
        dpop_key=profile.has_dpop,
    )
    if profile.provider != provider_name or profile.name != name:
        return attrs.evolve(row, problem=f"the file names another profile; {relogin}"), None
    try:
        provider = get_provider(provider_name)
        if not provider.fits(profile):
            return attrs.evolve(row, problem=f"the profile is incomplete; {relogin}"), None
        strategy = provider.build(profile)
    except (UsageError, OAuthError) as exc:
        return attrs.evolve(row, problem=f"{exc}; {relogin}"), None
    row = attrs.evolve(row, server=row.server or _host(strategy), flow=row.flow or _flow(strategy))
    return row, (profile, strategy)


async def _with_token(
    config: Config, row: ProfileStatus, profile: Profile, strategy: Strategy, secrets: list[str]
) -> ProfileStatus:
    """``row`` with the state of the token stored for ``profile``."""
    direct = strategy.user_step is UserStep.NONE
    client = config.client(profile, strategy)
    try:
        token = await client.store.get_token(client.token_key)
    except StoreError:
        return attrs.evolve(row, token="unreadable", can_refresh=direct)  # noqa: S106
    finally:
        await client.aclose()
    if token is None:
        return attrs.evolve(row, can_refresh=direct)
    secrets.extend(_token_secrets(token))
    return attrs.evolve(
        row,
        **_expiry(token),
        can_refresh=direct or token.refresh_token is not None,
        dpop_bound=token.token_type.lower() == "dpop",
    )


def _expiry(token: Token) -> dict[str, Any]:
    if token.expires_at is None:
        return {"token": "valid"}
    left = max(0, int(token.expires_at - time.time()))
    return {
        "token": "valid" if left > 0 else "expired",
        "expires_at": int(token.expires_at),
        "expires_in": left,
    }


def _token_secrets(token: Token) -> list[str]:
    found = [token.access_token, token.refresh_token, token.extra.get("id_token")]
    return [value for value in found if isinstance(value, str) and value]


def _host(strategy: Strategy) -> str | None:
    """The issuer of ``strategy``, else the host of its token or authorization endpoint."""
    issuer = getattr(strategy, "issuer", None)
    if isinstance(issuer, str) and issuer:
        return issuer
    for name in ("token_endpoint", "authorization_endpoint"):
        url = getattr(strategy, name, None)
        if isinstance(url, str) and url:
            try:
                return urlsplit(url).netloc or None
            except ValueError:
                return None
    return None


def _flow(strategy: Strategy) -> str:
    """The flow of a preset's strategy, in ``--flow`` words (and ``implicit``)."""
    if strategy.user_step is UserStep.NONE:
        return "client-credentials"
    if strategy.user_step is UserStep.DEVICE:
        return "device"
    if getattr(strategy, "response_type", "code") == "token":
        return "implicit"
    return "code"
