"""The command line's grammar: the commands, their options and help, built with
argparse. The ``PROVIDER`` choices are the providers' names
(:func:`~._providers.provider_names`: ``oauth`` and every preset of
:mod:`anyoauth.plugins`, installed plugins' included). Help and usage errors are written
through :func:`~._terminal.write`, like everything else the command writes (a usage
error quotes the arguments given, which may hold anything).
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from typing import Any

from .. import __version__
from ._agents import AGENTS
from ._common import (
    DEFAULT_PROFILE,
    EMULATOR_CLIENT_ID,
    EMULATOR_PORT,
    ENV_CLIENT_ID,
    ENV_CLIENT_SECRET,
    ENV_CONFIG_DIR,
    LOOPBACK_HOST,
    LOOPBACK_PATH,
)
from ._profiles import DPOP_ALGORITHMS, FLOWS
from ._providers import provider_names
from ._terminal import write

__all__ = ["build_parser"]

_PROFILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


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
  3    login required: run `anyoauth login PROVIDER` (`anyoauth status` lists them)
  4    the user agent (browser, loopback listener, paste prompt) failed
  130  interrupted
"""


class _Parser(argparse.ArgumentParser):
    """argparse, writing its help and usage errors through :func:`~._terminal.write` (a usage
    error quotes the arguments given, which may hold anything)."""

    def _print_message(self, message: str, file: Any = None) -> None:
        if message:
            write(file or sys.stderr, message)


def build_parser() -> argparse.ArgumentParser:
    """The ``anyoauth`` command line: its commands and their options. ``args.command``
    names the command; ``args.parser`` is the command's own parser (its ``prog`` starts
    the usage errors the command reports)."""
    parser = _Parser(
        prog="anyoauth",
        description="Async OAuth 2.0 flows for Geni, Teamwork, Keycloak and any OAuth 2.0 / "
        "OpenID Connect server: log in once, then print valid access tokens for scripts.",
        epilog=_EXIT_STATUSES,
        formatter_class=_Formatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"anyoauth {__version__}", help="print the version"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    names = provider_names()

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
        "client-credentials needs a client secret."
        "\n\n"
        "--dpop (oauth, keycloak, bog) binds the tokens to a key (DPoP, RFC 9449): a key is "
        "made and saved in the profile, every request to the server carries a proof of it, "
        "and a stolen token is useless without the key. Later logins keep the key and DPoP "
        "(--new-dpop-key makes a new key, --no-dpop drops it); `anyoauth token PROVIDER "
        "--headers METHOD URL` prints the headers a request needs.",
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
        choices=AGENTS,
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
        choices=FLOWS,
        help="code (browser, PKCE), device (enter a code on any device) or "
        "client-credentials (needs a secret); default: code when the server offers it and "
        "a browser can be opened, else device",
    )
    qr = login.add_argument_group("device flow")
    qr.add_argument(
        "--qr",
        action="store_true",
        default=None,
        help="show a QR code of the address to scan with a phone (default: when stderr is "
        "a terminal and segno is installed: pip install 'anyoauth[qr]')",
    )
    qr.add_argument("--no-qr", dest="qr", action="store_false", help="show no QR code")
    dpop = login.add_argument_group("DPoP: tokens bound to a key (RFC 9449; oauth, keycloak, bog)")
    dpop.add_argument(
        "--dpop",
        action="store_true",
        default=None,
        help="bind the tokens to a DPoP key saved in the profile (kept by later logins)",
    )
    dpop.add_argument(
        "--no-dpop",
        dest="dpop",
        action="store_false",
        help="drop the profile's DPoP key: bearer tokens again",
    )
    dpop.add_argument(
        "--dpop-alg",
        choices=DPOP_ALGORITHMS,
        metavar="ALG",
        help=f"the DPoP key's algorithm: {', '.join(DPOP_ALGORITHMS)} (default: the saved "
        "key's, else ES256); implies --dpop; another algorithm than the saved key's makes "
        "a new key",
    )
    dpop.add_argument(
        "--new-dpop-key",
        action="store_true",
        help="make a new DPoP key instead of the profile's (the tokens bound to the old "
        "key are replaced by the login's); implies --dpop",
    )
    endpoints = login.add_argument_group("endpoint overrides (staging hosts, emulators)")
    endpoints.add_argument(
        "--server-url",
        metavar="URL",
        help="the Keycloak server (keycloak, bog); a self-managed GitLab or GitHub "
        "Enterprise; the origin of every endpoint of google, entra (the authority)",
    )
    endpoints.add_argument("--realm", metavar="R", help="the Keycloak realm (keycloak, bog)")
    endpoints.add_argument(
        "--tenant",
        metavar="T",
        help="the Microsoft Entra ID tenant: common, organizations, consumers, "
        "a tenant id or domain (entra*)",
    )
    endpoints.add_argument(
        "--domain", metavar="HOST", help="the Auth0 tenant or Okta org domain (auth0*, okta*)"
    )
    endpoints.add_argument(
        "--authorization-server",
        metavar="ID",
        help="an Okta custom authorization server: default or its id (okta*; "
        "without it the org server)",
    )
    endpoints.add_argument(
        "--audience", metavar="API", help="the API the Auth0 access token is for (auth0*)"
    )
    endpoints.add_argument("--team-id", metavar="ID", help="the Apple Developer team id (apple)")
    endpoints.add_argument(
        "--key-id", metavar="ID", help="the id of the Sign in with Apple key (apple)"
    )
    endpoints.add_argument(
        "--key-file",
        metavar="PATH",
        help="the Sign in with Apple .p8 key file (apple; the profile keeps its path)",
    )
    endpoints.add_argument(
        "--authorize-url", metavar="URL", help="the authorization (login) endpoint"
    )
    endpoints.add_argument("--token-url", metavar="URL", help="the token endpoint")
    endpoints.add_argument("--success-url", metavar="URL", help="geni's auth_success URL")
    endpoints.add_argument("--failure-url", metavar="URL", help="geni's auth_failed URL")
    login.set_defaults(parser=login)

    token = commands.add_parser(
        "token",
        parents=[stored],
        help="print a valid access token",
        description="Print a valid access token of PROVIDER on stdout, and nothing else, "
        "refreshing or refetching it when possible:\n\n"
        '  curl -H "Authorization: Bearer $(anyoauth token teamwork)" ...\n\n'
        "--headers METHOD URL prints instead the headers of that request, one per line, as "
        "curl reads them with -H @FILE: `Authorization: Bearer <token>`, or for a token "
        "bound to the profile's DPoP key (login --dpop) `Authorization: DPoP <token>` and "
        "`DPoP: <proof>`, a proof signed for this one request (METHOD, URL without its "
        "query, the token's hash):\n\n"
        "  curl -H @<(anyoauth token oauth --headers GET https://api.example/me) "
        "https://api.example/me\n\n"
        "Exits 3 when only `anyoauth login` can get a token.",
        epilog=_EXIT_STATUSES,
        formatter_class=_Formatter,
    )
    token.add_argument("provider", choices=names, metavar="PROVIDER", help=", ".join(names))
    shown = token.add_mutually_exclusive_group()
    shown.add_argument(
        "--json",
        action="store_true",
        help="print a JSON object instead: access_token, token_type, expires_at (Unix "
        "time, or null), expires_in (seconds), scope (a list; null when the server named "
        "none); never the refresh token",
    )
    shown.add_argument(
        "--header",
        action="store_true",
        help="print the whole `Authorization: Bearer <token>` header line (a DPoP-bound "
        "token needs --headers METHOD URL instead)",
    )
    shown.add_argument(
        "--headers",
        nargs=2,
        metavar=("METHOD", "URL"),
        help="print the request headers for METHOD URL (an absolute http or https URL), "
        "with a DPoP proof for a DPoP-bound token, in the form curl -H @FILE reads",
    )
    token.set_defaults(parser=token)

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
        "in it. When the server names an end-session endpoint (OpenID Connect "
        "RP-Initiated Logout) and a user logged in, the URL that ends the session there "
        "is printed on stdout (not with --local).",
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
    logout.set_defaults(parser=logout)

    status = commands.add_parser(
        "status",
        help="list every saved profile and its token",
        description="List every saved profile, of every provider: its provider and name, "
        "flow, the state of its token (valid until when, expired, or no token), whether a "
        "new token can be had without a login (a refresh token, or client credentials), "
        "whether the token is DPoP-bound, and the issuer or host it logs in to. Nothing is "
        "sent to any server and no secret (client secret, token, key) is printed.",
        epilog="examples:\n\n"
        "  anyoauth status\n"
        "  anyoauth status --json | jq -r '.[] | select(.token == \"expired\") | .provider'",
        formatter_class=_Formatter,
    )
    status.add_argument(
        "--config-dir",
        metavar="DIR",
        help=f"where profiles and tokens are kept (default: ${ENV_CONFIG_DIR}, else the "
        "user's configuration directory, e.g. ~/.config/anyoauth)",
    )
    status.add_argument(
        "--json", action="store_true", help="print a JSON list of the profiles, for scripts"
    )
    status.set_defaults(parser=status)

    listing = commands.add_parser(
        "providers",
        help="list the built-in providers",
        description="List the built-in providers: name, flow and default user agent.",
        formatter_class=_Formatter,
    )
    listing.set_defaults(parser=listing)

    demo = commands.add_parser(
        "demo",
        help="run every built-in flow against the emulator on loopback",
        description="Start the provider emulator on 127.0.0.1 and run every built-in flow end "
        "to end: the Geni, Teamwork and Bank of Georgia flows, then, against the emulator's "
        "OpenID Connect server found by discovery, code + PKCE with an id_token, refresh "
        "with rotation, revocation, the device grant, client credentials with "
        "private_key_jwt, a pushed request with a DPoP-bound token, and the implicit grant. "
        "Each outcome is printed with secrets redacted; exit 0 only if every outcome is "
        "as expected.",
        formatter_class=_Formatter,
    )
    demo.set_defaults(parser=demo)

    emulator = commands.add_parser(
        "emulator",
        help="serve the provider emulator on loopback, to try `login` without an account",
        description="Serve anyoauth's provider emulator (anyoauth.testing.ProviderEmulator) "
        "on 127.0.0.1 until interrupted: a standard OAuth 2.0 / OpenID Connect server with "
        "discovery, where every login succeeds once you click Allow on its consent page. "
        f"A public client named {EMULATOR_CLIENT_ID!r} is registered for the code flow "
        "(any loopback port) and the device flow. The commands to try are printed; "
        "everything the emulator holds is lost when it stops.",
        epilog="example:\n\n"
        "  anyoauth emulator --port 8765 &\n"
        f"  anyoauth login oauth --issuer http://127.0.0.1:8765 --client-id {EMULATOR_CLIENT_ID}"
        "\n  anyoauth token oauth",
        formatter_class=_Formatter,
    )
    emulator.add_argument(
        "--port",
        type=_port,
        default=EMULATOR_PORT,
        metavar="N",
        help="the port on 127.0.0.1 (default: %(default)s; 0: any free port). Profiles keep "
        "the endpoints they discovered: use the same port again to keep using them",
    )
    emulator.set_defaults(parser=emulator)
    return parser
