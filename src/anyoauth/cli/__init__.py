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
  refreshing or refetching it when it can; ``--headers METHOD URL`` prints instead
  the headers of that request in the form ``curl -H @FILE`` reads (for a DPoP-bound
  token ``Authorization: DPoP ...`` and a ``DPoP`` proof made for that request);
  ``--json`` prints the access token, its type, expiry and scopes as JSON (never the
  refresh token) and ``--header`` the ``Authorization: Bearer ...`` line.
- ``status``: lists every saved profile of every provider with its flow, server, the
  state of its token, whether it can be renewed without a login and whether it is
  DPoP-bound (``--json`` for scripts); no secret, no network access.
- ``logout PROVIDER``: revokes the token at the provider when the provider has a
  revocation endpoint (RFC 7009; ``--local`` skips that) and deletes the stored
  token; ``--forget-profile`` deletes the profile too. A failed revocation still
  deletes the local token, and exits 1. When the server names an end-session
  endpoint and a user logged in, the URL that ends the session there is printed on
  stdout (not with ``--local``).
- ``providers``: lists the built-in providers, then the installed plugins.
- ``demo``: runs every built-in flow against the provider emulator on loopback.

The ``oauth`` provider is any OAuth 2.0 / OpenID Connect server: ``login oauth
--issuer URL`` reads the server's metadata (RFC 8414 / OpenID Connect discovery)
and saves the endpoints found, the flow and the client authentication method in
the profile, so ``token`` and ``logout`` work without discovering again. Its flows
(``--flow``): ``code`` (authorization code with PKCE through the browser and a
loopback listener on any port, RFC 8252; the default when the server offers it and
a browser can be opened or ``--agent`` is given), ``device`` (RFC 8628: the user
code and address are printed on stderr, with a QR code of the address and a progress
line when stderr is a terminal and segno is installed; the default otherwise) and
``client-credentials`` (needs a client secret).

``login --dpop`` (``oauth``, ``keycloak``, ``bog``) binds the tokens to a DPoP key
(RFC 9449) that it makes and saves in the profile; later logins, ``token`` and
``logout`` use the same key (``--new-dpop-key`` makes another, ``--no-dpop`` drops it).

Files live in the configuration directory: ``--config-dir``, else
``$ANYOAUTH_CONFIG_DIR``, else ``platformdirs.user_config_dir("anyoauth")``
(``~/.config/anyoauth`` on Linux). The directory and its subdirectories are
mode 0700 and every file in them 0600::

    profiles/<provider>/<profile>.json   provider, client id, endpoints, redirect URI,
                                         scopes, and the client secret; for oauth also
                                         the issuer, the discovered endpoints, the
                                         flow and the client authentication method;
                                         with --dpop the DPoP key's private JWK
    store/                               a FileStore holding the tokens

Like ``gh`` and the ``aws`` CLI, the command keeps the client secret in a file
only its owner can read, so that ``token`` can refetch client-credentials tokens
unattended. ``logout --forget-profile`` deletes it.

Secrets come from ``--client-secret``, ``$ANYOAUTH_CLIENT_SECRET`` (prefer it,
or the prompt: command-line arguments are visible to other local users), the
saved profile (only for the same client id and the same endpoints: issuer, token,
device authorization, revocation and introspection endpoints; else the secret is
asked for again), or a prompt that does not echo (only when stdin is a terminal).
No secret (client secret, DPoP private key, token, code) is ever printed, except the
access token that ``token`` prints on stdout (with ``--headers``, and its proof).

``PROVIDER`` is ``oauth`` or a provider preset of :mod:`anyoauth.plugins`: the
built-in ``geni``, ``teamwork``, ``bog`` and ``keycloak``, or one an installed plugin
adds (see :mod:`anyoauth.cli._providers` for the options a preset takes).

Exit statuses: 0 success; 1 an OAuth, provider, discovery or store error (and a
failed revocation); 2 a usage or configuration error; 3 login required; 4 the user
agent (browser, loopback listener, paste prompt) failed; 130 interrupted. Errors
are one line on stderr: the error class and its message (with the provider's own
words).

The package's modules, one per concern: ``_args`` (the command line's grammar),
``_commands``, ``_login`` and ``_status`` (the commands), ``_providers`` (how a provider's name
becomes a strategy), ``_discovery`` (the ``oauth`` provider's discovery policy),
``_agents`` (the user agents of ``login``), ``_profiles`` (the versioned profile files
and the configuration directory), ``_terminal`` (every character written to the
terminal) and ``_common`` (exit statuses, environment variables, the command's own
exceptions).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from .. import AgentError, ConfigurationError, LoginRequired, OAuthError
from ._args import build_parser
from ._commands import COMMANDS
from ._common import (
    ENV_CLIENT_ID,
    ENV_CLIENT_SECRET,
    ENV_CONFIG_DIR,
    EXIT_AGENT_ERROR,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_LOGIN_REQUIRED,
    EXIT_OK,
    EXIT_USAGE,
    LoginNeeded,
    UsageError,
    login_hint,
)
from ._profiles import Profile
from ._terminal import LogToTerminal, clean, is_terminal, say

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
    "Profile",
    "main",
]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``anyoauth`` command with ``argv`` (default ``sys.argv[1:]``).

    Returns the exit status: 0 success, 1 OAuth/provider/store error, 2 usage
    error, 3 login required, 4 user agent error, 130 interrupted. Errors are
    reported as one line on stderr; no secret is ever printed.
    """
    command_line = build_parser()
    try:
        args = command_line.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse already reported
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    handler = COMMANDS[args.command]
    sub: argparse.ArgumentParser = args.parser
    given = (getattr(args, "client_secret", None), os.environ.get(ENV_CLIENT_SECRET))
    secrets_seen: list[str] = [secret for secret in given if secret]
    args.secrets_seen = secrets_seen
    log = LogToTerminal(secrets_seen)
    logging.getLogger("anyoauth").addHandler(log)
    try:
        try:
            return handler(args)
        except BaseExceptionGroup as group:  # a task group's wrapping of one error
            raise _only_error(group) from None
    except KeyboardInterrupt:
        say(("\n" if is_terminal(sys.stderr) else "") + "anyoauth: interrupted")
        return EXIT_INTERRUPTED
    except UsageError as exc:
        say(f"{sub.prog}: error: {clean(str(exc), secrets_seen)}")
        return EXIT_USAGE
    except LoginNeeded as exc:
        say(f"anyoauth: {clean(str(exc), secrets_seen)}")
        return EXIT_LOGIN_REQUIRED
    except OAuthError as exc:
        return _report(exc, args, secrets_seen)
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        say(f"anyoauth: {exc.strerror or type(exc).__name__}{where}")
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


def _report(exc: OAuthError, args: argparse.Namespace, secrets_seen: Sequence[str]) -> int:
    """Say what went wrong in one line; the exit status for ``exc``."""
    text = clean(f"{type(exc).__name__}: {exc}", secrets_seen)
    if isinstance(exc, LoginRequired):
        say(f"anyoauth: {text}; run `{login_hint(args)}`")
        return EXIT_LOGIN_REQUIRED
    if isinstance(exc, ConfigurationError):
        say(f"{args.parser.prog}: error: {text}")
        return EXIT_USAGE
    say(f"anyoauth: {text}")
    return EXIT_AGENT_ERROR if isinstance(exc, AgentError) else EXIT_ERROR
