"""The commands after ``login``: ``token`` (print a valid access token, or with
``--headers`` the headers of one request, a DPoP proof included), ``logout``
(revoke the token where the provider can, delete it), ``providers`` (list the built-in
providers and the installed plugins) and ``demo``; and :data:`COMMANDS`, which maps each
command's name to the function that runs it (``login`` is :mod:`._login`'s).

Each function takes the parsed arguments and returns the exit status; errors are raised
for :func:`anyoauth.cli.main` to report.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
from collections.abc import Callable, MutableMapping
from urllib.parse import urlsplit

import anyio

from .. import OAuthError, Strategy, Token, UserStep, plugins
from .._core.text import is_visible_ascii
from ._common import (
    EMULATOR_CLIENT_ID,
    EXIT_ERROR,
    EXIT_OK,
    LOOPBACK_HOST,
    PLACEHOLDER_REDIRECT,
    LoginNeeded,
    RevocationFailed,
    UsageError,
    login_hint,
)
from ._login import login, token_hint
from ._profiles import Config, Profile
from ._providers import builtin_providers, get_provider
from ._terminal import clean, is_terminal, out, print_headers, print_token, say

__all__ = ["COMMANDS", "demo", "emulator", "logout", "providers", "token"]


# RFC 9110 5.6.2: a method is a token.
_METHOD = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,32}")
_MAX_URL = 8192


def _request_line(headers: list[str] | None) -> tuple[str, str] | None:
    """``--headers METHOD URL``, checked; :class:`UsageError` for a method that is not
    an HTTP token or a URL that is not an absolute http(s) URL of visible ASCII (neither
    is quoted: a URL may hold anything)."""
    if headers is None:
        return None
    method, url = headers
    if not _METHOD.fullmatch(method):
        raise UsageError("--headers: METHOD is an HTTP method, such as GET or POST")
    try:
        parts = urlsplit(url)
        usable = (
            len(url) <= _MAX_URL
            and is_visible_ascii(url)
            and parts.scheme.lower() in ("http", "https")
            and bool(parts.hostname)
        )
        parts.port  # noqa: B018 - a port out of range raises ValueError
    except ValueError:
        usable = False
    if not usable:
        raise UsageError(
            "--headers: URL is an absolute http or https URL of visible ASCII characters "
            "(percent-encode the others)"
        )
    return method, url


def token(args: argparse.Namespace) -> int:
    """``anyoauth token PROVIDER``: print a valid access token on stdout; with
    ``--headers METHOD URL``, the headers of that request (a DPoP proof included)."""
    request = _request_line(getattr(args, "headers", None))
    provider = get_provider(args.provider)
    config = Config.locate(args.config_dir)
    profile = config.load(provider, args.profile)
    if profile is None:
        raise LoginNeeded(
            f"not logged in to {args.provider} (profile {args.profile}); "
            f"run `{login_hint(args)}` first"
        )
    args.secrets_seen.extend(profile.secrets())
    strategy = provider.build(profile)
    found, proof = anyio.run(_token, config, profile, strategy, request)
    bound = found.token_type.lower() == "dpop"
    if request is None:
        print_token(found)
        if bound and is_terminal(sys.stderr):
            say(
                "anyoauth: note: this token is DPoP-bound: a request needs it as "
                "`Authorization: DPoP` with a proof of the profile's key, which "
                f"`{token_hint(profile)} --headers METHOD URL` prints"
            )
    elif proof is not None:
        print_headers([("Authorization", f"DPoP {found.access_token}"), ("DPoP", proof)])
    else:
        print_headers([("Authorization", found.authorization_header)])
    return EXIT_OK


async def _token(
    config: Config, profile: Profile, strategy: Strategy, request: tuple[str, str] | None
) -> tuple[Token, str | None]:
    """A valid token of ``profile``, refreshed or refetched when it can be; with the
    DPoP proof of ``request`` (method and URL) when there is one and the token is bound."""
    client = config.client(profile, strategy)
    try:
        await client.token()
        # A second look runs the early refresh itself (the client is not entered, so
        # there is no background task) when the token is inside the client's leeway:
        # the caller gets a token with time left whenever one can be had.
        found = await client.token()
        if request is None or found.token_type.lower() != "dpop":
            return found, None
        method, url = request
        return found, client.dpop_proof(method, url, token=found)
    finally:
        await client.aclose()


def logout(args: argparse.Namespace) -> int:
    """``anyoauth logout PROVIDER``: revoke the token at the provider when it can (and
    ``--local`` is not given), delete it here; ``--forget-profile`` deletes the profile."""
    provider = get_provider(args.provider)
    config = Config.locate(args.config_dir)
    profile = config.load(provider, args.profile)
    if profile is None:
        say(f"anyoauth: not logged in to {args.provider} (profile {args.profile})")
        return EXIT_OK
    args.secrets_seen.extend(profile.secrets())
    strategy = provider.build(profile)
    revoke = strategy.revocation_endpoint is not None and not args.local
    failure: RevocationFailed | None = None
    ending: list[str] = []  # the provider's logout URL, when it offers one
    try:
        revoked = anyio.run(_logout, config, profile, strategy, revoke, not args.local, ending)
    except RevocationFailed as exc:
        revoked, failure = False, exc
    what = "token"
    if args.forget_profile:
        config.forget(profile.provider, profile.name)
        what = "token and profile"
    where = f"{provider.title_of(profile)} (profile {profile.name})"
    if failure is not None:
        error = clean(f"{type(failure.error).__name__}: {failure.error}", args.secrets_seen)
        verb = "were" if args.forget_profile else "was"
        say(
            f"anyoauth: the local {what} of {where} {verb} deleted, but revoking the token "
            f"at the provider failed ({error}); it may stay valid there until it expires"
        )
        return EXIT_ERROR
    if revoked:
        done = f"token revoked at the provider, local {what} deleted"
    else:
        done = f"{what} deleted; nothing was revoked at the provider"
    say(f"Logged out of {where}: {done}.")
    for url in ending:
        # The id_token_hint in it is no secret to the user's own terminal; it goes to
        # stdout only, like a token.
        say("To end the session at the provider too, open:")
        out(url)
    return EXIT_OK


async def _logout(
    config: Config,
    profile: Profile,
    strategy: Strategy,
    revoke: bool,
    end_session: bool = False,
    ending: list[str] | None = None,
) -> bool:
    """Delete the stored token, after revoking it at the provider when ``revoke`` (and
    there is one); whether it was revoked. With ``end_session`` and a provider that
    names an end_session_endpoint, the logout URL (OpenID Connect RP-Initiated Logout,
    its ``id_token_hint`` the stored token's id_token) is built first and appended to
    ``ending`` (not for a flow without a user, client credentials).
    :class:`RevocationFailed` when the token was deleted here but could not
    be revoked there."""
    client = config.client(profile, strategy)
    try:
        if (
            end_session
            and ending is not None
            and strategy.end_session_endpoint is not None
            and strategy.user_step is not UserStep.NONE  # a user's session, not a service's
        ):
            with contextlib.suppress(OAuthError):
                ending.append(await client.logout_url())
        if not revoke or await client.store.get_token(client.token_key) is None:
            await client.forget()
            return False
        try:
            await client.revoke()  # deletes the local token first, then revokes it
        except OAuthError as exc:
            if await client.store.get_token(client.token_key) is not None:
                raise  # not even deleted here: a store error
            raise RevocationFailed(exc) from None
        return True
    finally:
        await client.aclose()


def providers(args: argparse.Namespace) -> int:
    """``anyoauth providers``: the built-in providers, then the installed plugins."""
    for provider in builtin_providers():
        words = provider.wording
        dpop = "; DPoP: login --dpop" if provider.takes_dpop else ""
        out(f"{provider.name:<9} {words.title}: {words.flow}; default agent: {words.agent}{dpop}")
    _print_plugins()
    return EXIT_OK


def _print_plugins() -> None:
    """List installed provider and strategy plugins (built-ins are listed above)."""
    for kind in ("provider", "strategy"):
        rows = [info for info in plugins.describe() if not info.builtin and info.kind == kind]
        if not rows:
            continue
        out(f"{kind} plugins (from Python: anyoauth.plugins.get_{kind}):")
        for info in rows:
            about = info.summary if info.status == "ok" else f"{info.status}: {info.error or ''}"
            out(f"  {info.name:<9} {about} [{info.origin}]".rstrip())


def demo(args: argparse.Namespace) -> int:
    """``anyoauth demo``: every built-in flow against the emulator on loopback."""
    from .._demo import run_demo

    return anyio.run(run_demo)


def emulator(args: argparse.Namespace) -> int:
    """``anyoauth emulator``: the provider emulator on loopback until interrupted (then
    exit 0), with a public client for ``login oauth``."""
    try:
        anyio.run(_serve_emulator, args.port)
    except KeyboardInterrupt:
        say(("\n" if is_terminal(sys.stderr) else "") + "anyoauth emulator: stopped")
    return EXIT_OK


async def _serve_emulator(port: int) -> None:
    from ..testing import ProviderEmulator

    emulator = ProviderEmulator()
    emulator.add_oauth_client(
        EMULATOR_CLIENT_ID,
        auth_method="none",
        redirect_uris=[PLACEHOLDER_REDIRECT],  # any loopback port (RFC 8252 7.3)
        grant_types=[
            "authorization_code",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:device_code",
        ],
    )
    async with emulator.serve(LOOPBACK_HOST, port) as issuer:
        login = f"anyoauth login oauth --issuer {issuer} --client-id {EMULATOR_CLIENT_ID}"
        out(f"anyoauth emulator: an OAuth 2.0 / OpenID Connect server, issuer {issuer}")
        out("Try, in another terminal (click Allow on the emulator's page):")
        out(f"  {login} --scope openid")
        out(f"  {login} --flow device    # approve the code at {issuer}/device")
        out("  anyoauth token oauth")
        out("Stop it with Ctrl-C.")
        await anyio.sleep_forever()


COMMANDS: MutableMapping[str, Callable[[argparse.Namespace], int]] = {
    "login": login,
    "token": token,
    "logout": logout,
    "providers": providers,
    "demo": demo,
    "emulator": emulator,
}
"""Each command's name and the function that runs it."""
