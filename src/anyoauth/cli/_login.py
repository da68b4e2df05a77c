"""``anyoauth login PROVIDER``: which settings a login uses (its options, else the
environment, else the saved profile, else a prompt for the secret), where a saved client
secret may be sent again, and the login itself, by the provider's flow.

A saved client secret goes only where it was saved for: the same client id and the same
endpoints (issuer, token, device authorization, revocation and introspection
endpoints, presets' overrides included; for ``oauth`` those its metadata names).
Otherwise it is asked for again, or without a terminal the login is a usage error.

DPoP (``--dpop``): the profile's key is kept by every later login (``--dpop`` or not,
so the stored bound token stays usable) unless ``--new-dpop-key``, ``--dpop-alg`` with
another algorithm, or another client or server asks for a new one; ``--no-dpop`` drops
it. A new key is made with :meth:`~anyoauth.DPoPKey.generate`.

The device flow (:func:`show_device_code`) shows the address and the code, and a QR
code of the address (``verification_uri_complete`` when the server gives one) when
stderr is a terminal and segno is installed (``--qr``/``--no-qr`` decide otherwise);
while it polls, a terminal shows a progress line with the time left before the code
expires (nothing is drawn in a pipe or a log).
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from typing import TYPE_CHECKING

import anyio
import attrs

from .. import Client, DeviceAuthorization, DPoPKey, MemoryStore, OAuthError, Strategy, Token
from ._agents import agent_name, make_agent
from ._common import DEFAULT_PROFILE, ENV_CLIENT_ID, ENV_CLIENT_SECRET, EXIT_OK, UsageError
from ._discovery import check_issuer, discover_server, discovered, same_issuer
from ._profiles import ENDPOINT_OPTIONS, Config, Profile
from ._providers import Provider, flow_traits, get_provider
from ._terminal import StatusLine, ask_secret, is_terminal, qr_available, qr_lines, say

if TYPE_CHECKING:
    from ..agents import UserAgent

__all__ = ["login", "login_profile", "show_device_code", "token_hint"]


def login(args: argparse.Namespace) -> int:
    """``anyoauth login PROVIDER``: log in, store the token, save the profile."""
    provider = get_provider(args.provider)
    qr = getattr(args, "qr", None)
    if qr and not qr_available():
        raise UsageError("--qr draws the QR code with segno: pip install 'anyoauth[qr]'")
    config = Config.locate(args.config_dir)
    saved = config.load(provider, args.profile)
    if saved is not None:
        args.secrets_seen.extend(saved.secrets())
    profile = login_profile(provider, args, saved)
    args.secrets_seen.extend(profile.secrets())
    if provider.discovers:
        metadata = anyio.run(discover_server, profile)
        found = discovered(profile, metadata)
        if _reused_saved_secret(args, saved, profile) and (
            saved is None or _secret_endpoints(found) != _secret_endpoints(saved)
        ):
            # The server's metadata now names other endpoints than those the secret was
            # saved for: the secret is asked for again, never sent there unasked.
            profile = login_profile(provider, args, saved, reuse_saved_secret=False)
            args.secrets_seen.extend(profile.secrets())
            found = discovered(profile, metadata)
        profile = found
    strategy = provider.build(profile)
    if profile.has_dpop and strategy.interactive and strategy.response_type == "token":
        raise UsageError(
            f"{provider.name} with --redirect-uri gets its token in the authorization "
            "response, which cannot be bound to a DPoP key: drop --redirect-uri or use "
            "--no-dpop"
        )
    agent: UserAgent | None = None
    if strategy.interactive:
        agent = make_agent(agent_name(profile, strategy), profile, strategy, args.timeout)
    elif args.agent is not None or args.port is not None:
        raise UsageError(
            f"{provider.name} gets its token with client credentials: --agent and --port "
            "need --redirect-uri"
        )
    config.prepare()
    if qr is None:
        qr = is_terminal(sys.stderr) and qr_available()
    token = anyio.run(_log_in, config, profile, strategy, agent, qr)
    config.save(profile)
    how = f" with the {profile.flow} flow" if profile.flow else ""
    title = provider.title_of(profile)
    say(
        f"Logged in to {title} (profile {profile.name}){how}: {_describe(token)}, "
        f"saved in {config.root}. Print it with `{token_hint(profile)}`."
    )
    if _is_bound(token):
        say(
            "The token is bound to the profile's DPoP key: print the headers of a request "
            f"with `{token_hint(profile)} --headers METHOD URL`."
        )
    elif profile.has_dpop:
        say(
            f"{title} answered with a bearer token (not bound to the DPoP key): it is sent "
            "as a bearer token."
        )
    return EXIT_OK


def login_profile(
    provider: Provider,
    args: argparse.Namespace,
    saved: Profile | None,
    *,
    reuse_saved_secret: bool = True,
) -> Profile:
    """The profile ``login`` uses: its options, else the environment, else the saved
    profile, else a prompt for the secret. An oauth profile gets its server's endpoints
    from :func:`~._discovery.discovered`.

    The saved secret is reused only for the same client id and the same endpoints
    (:func:`_secret_endpoints`; for oauth the same issuer here, and :func:`login`
    compares the discovered endpoints). A saved secret of the same client id that does
    not apply (or ``reuse_saved_secret`` false) is asked for again, or without a
    terminal is a usage error: it is never sent to other endpoints unasked."""
    given = {
        name
        for name in ("client_secret", "issuer", "flow", "redirect_uri", "scope", *ENDPOINT_OPTIONS)
        if getattr(args, name) is not None
    }
    unknown = sorted(given - provider.options)
    if unknown:
        flags = ", ".join("--" + name.replace("_", "-") for name in unknown)
        raise UsageError(f"{provider.name} does not take {flags}")

    client_id = args.client_id or os.environ.get(ENV_CLIENT_ID) or (saved and saved.client_id)
    if not client_id:
        raise UsageError(
            f"{provider.name} needs a client id: pass --client-id or set {ENV_CLIENT_ID}"
        )
    issuer = None
    if provider.discovers:
        issuer = args.issuer or (saved.issuer if saved else None)
        if not issuer:
            raise UsageError(
                f"{provider.name} needs --issuer: the authorization server's issuer URL, whose "
                "metadata is read (RFC 8414, OpenID Connect discovery)"
            )
        check_issuer(issuer)
    # Settings saved for another server (or client) are not mixed into this one.
    same = saved is not None and saved.client_id == client_id and same_issuer(saved.issuer, issuer)
    endpoints = dict(saved.endpoints) if saved is not None else {}
    endpoints.update({name: getattr(args, name) for name in ENDPOINT_OPTIONS if name in given})
    if "key_file" in given:  # later commands may run from another directory
        endpoints["key_file"] = os.path.abspath(endpoints["key_file"])
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
    profile = _with_dpop(provider, args, saved, profile, same=same)
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
            raise UsageError(
                f"--agent, --port and --redirect-uri are for --flow code, not --flow {profile.flow}"
            )
        profile = attrs.evolve(profile, agent=None, port=None, redirect_uri=None)
    if not provider.needs_secret and profile.flow != "client-credentials" and not stale:
        return attrs.evolve(profile, client_secret=secret or None)  # a public client, maybe
    title = provider.title if issuer is None else issuer
    if stale and not secret and is_terminal(sys.stdin):
        say(
            f"anyoauth: the client secret saved in profile {args.profile} was for other "
            "endpoints; it is not sent to these"
        )
    secret = secret or ask_secret(title)
    if not secret and stale:
        raise UsageError(
            f"the client secret saved in profile {args.profile} was for other endpoints and "
            f"is not sent to these: give this server's secret with {ENV_CLIENT_SECRET} or "
            "--client-secret, or run in a terminal to be prompted"
        )
    if not secret:
        what = provider.name if profile.flow is None else "--flow client-credentials"
        raise UsageError(
            f"{what} needs a client secret: set {ENV_CLIENT_SECRET}, pass "
            "--client-secret, or run in a terminal to be prompted"
        )
    return attrs.evolve(profile, client_secret=secret)


def _with_dpop(
    provider: Provider,
    args: argparse.Namespace,
    saved: Profile | None,
    profile: Profile,
    *,
    same: bool,
) -> Profile:
    """``profile`` with the DPoP key the login uses, if any. DPoP stays on when
    ``saved`` has a key (unless ``--no-dpop``); the key is ``saved``'s when it is a
    profile of the same client and server (``same``) and no new key is asked for."""
    asked = getattr(args, "dpop", None)
    algorithm = getattr(args, "dpop_alg", None)
    renew = bool(getattr(args, "new_dpop_key", False))
    if asked is False and (algorithm is not None or renew):
        raise UsageError(
            "--no-dpop drops the DPoP key: it takes neither --dpop-alg nor --new-dpop-key"
        )
    had = saved is not None and saved.has_dpop
    wanted = asked if asked is not None else (algorithm is not None or renew or had)
    if not wanted:
        return profile
    if not provider.takes_dpop:
        raise UsageError(
            f"{provider.name} does not take --dpop: its tokens cannot be bound to a DPoP key"
        )
    keep = same and had and not renew
    if keep and saved is not None and algorithm in (None, saved.dpop_alg):
        return attrs.evolve(profile, dpop_alg=saved.dpop_alg, dpop_jwk=saved.dpop_jwk)
    if algorithm is None:
        algorithm = saved.dpop_alg if saved is not None and saved.dpop_alg else None
    key = DPoPKey.generate(algorithm or DEFAULT_DPOP_ALGORITHM)
    return attrs.evolve(profile, dpop_alg=key.algorithm, dpop_jwk=key.private_jwk())


DEFAULT_DPOP_ALGORITHM = "ES256"
"""The algorithm of a new DPoP key without ``--dpop-alg``."""


def _is_bound(token: Token) -> bool:
    """Whether ``token`` is DPoP-bound (sent with a proof of the profile's key)."""
    return token.token_type.lower() == "dpop"


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
        strategy = get_provider(profile.provider).build(
            attrs.evolve(profile, client_secret=profile.client_secret or "-")
        )
    except (UsageError, OAuthError):
        return None
    return tuple(getattr(strategy, name, None) for name in _SECRET_ENDPOINTS)


def _same_secret_endpoints(provider: Provider, saved: Profile, profile: Profile) -> bool:
    """Whether ``saved``'s secret may go where ``profile`` sends it. An oauth profile's
    endpoints are known after discovery only: here its issuer decides (the caller has
    compared it), and :func:`login` compares the discovered endpoints."""
    if provider.discovers:
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


def show_device_code(device: DeviceAuthorization, *, qr: bool = False) -> None:
    """``--flow device``: tell the user where to go and which code to enter; with ``qr``,
    also a QR code of the address to scan (the one that fills the code in, when the
    server gives one)."""
    minutes = max(1, round((device.expires_at - time.time()) / 60))
    complete = device.verification_uri_complete
    also = f"This address fills the code in for you:\n\n    {complete}\n\n" if complete else ""
    scan = ""
    if qr:
        what = "fills the code in" if complete else "opens the address"
        drawing = "\n".join("    " + line for line in qr_lines(complete or device.verification_uri))
        scan = f"Or scan this QR code with a phone (it {what}):\n\n{drawing}\n\n"
    say(
        "To log in, open this address in a web browser on any device:\n\n"
        f"    {device.verification_uri}\n\n"
        f"and enter the code {device.user_code} (it expires in {minutes} min). {also}{scan}"
        "Waiting for your approval..."
    )


# How often the progress line is redrawn, and its spinner's frames.
_TICK_SECONDS = 0.5
_SPINNER = "|/-\\"


async def _device_login(client: Client, qr: bool) -> Token:
    """The device flow: show the code (and the QR code with ``qr``); on a terminal, a
    progress line while the client polls (elapsed time, time left before the code
    expires), blanked once the flow ends."""
    shown = anyio.Event()
    devices: list[DeviceAuthorization] = []

    def show(device: DeviceAuthorization) -> None:
        show_device_code(device, qr=qr)
        devices.append(device)
        shown.set()

    if not is_terminal(sys.stderr):
        return await client.device_login(show)

    async def progress() -> None:
        await shown.wait()
        started = time.monotonic()
        line = StatusLine(sys.stderr)
        try:
            for frame in itertools.count():
                elapsed = _clock_text(time.monotonic() - started)
                left = _clock_text(devices[0].expires_at - time.time())
                line.show(
                    f"{_SPINNER[frame % len(_SPINNER)]} waiting for approval: {elapsed} "
                    f"elapsed, the code expires in {left}"
                )
                await anyio.sleep(_TICK_SECONDS)
        finally:
            line.clear()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(progress)
        try:
            token = await client.device_login(show)
        finally:
            tasks.cancel_scope.cancel()
    return token


def _clock_text(seconds: float) -> str:
    """``seconds`` as ``M:SS`` (``H:MM:SS`` from an hour on); never negative."""
    minutes, secs = divmod(max(0, int(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


async def _log_in(
    config: Config,
    profile: Profile,
    strategy: Strategy,
    agent: UserAgent | None,
    qr: bool = False,
) -> Token:
    """Get the token by ``strategy``'s flow and store it for ``profile`` (``qr``: the
    device flow draws a QR code of its address)."""
    async with config.client(profile, strategy) as client:
        if agent is not None:
            return await client.login(agent)
        if flow_traits(strategy).device:
            # The stored token is replaced only once the user has approved.
            return await _device_login(client, qr)
        # Client credentials: always ask the provider, so that wrong credentials show
        # now. The fetch uses a throwaway store; the stored token is replaced only
        # once a new one has arrived.
        async with Client(strategy, MemoryStore()) as fetcher:
            token = await fetcher.token()
        await client.set_token(token)
        return token


def token_hint(profile: Profile) -> str:
    """The ``anyoauth token`` command line for ``profile``."""
    suffix = "" if profile.name == DEFAULT_PROFILE else f" --profile {profile.name}"
    return f"anyoauth token {profile.provider}{suffix}"


def _describe(token: Token) -> str:
    """How long ``token`` is valid, in words."""
    kind = "a DPoP-bound token" if _is_bound(token) else "a token"
    if token.expires_at is None:
        return f"{kind} without expiry"
    seconds = max(0.0, token.expires_at - token.issued_at)
    if seconds < 120:
        return f"{kind} valid for {seconds:.0f} s"
    if seconds < 7200:
        return f"{kind} valid for {seconds / 60:.0f} min"
    return f"{kind} valid for {seconds / 3600:.0f} h"
