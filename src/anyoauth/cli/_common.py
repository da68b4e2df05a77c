"""What every part of the command shares: the exit statuses, the environment variables
it reads, the names and addresses it defaults to, and its own exceptions (a usage error,
a login needed, a failed revocation), which :func:`anyoauth.cli.main` turns into exit
statuses. Nothing here imports another module of the command."""

from __future__ import annotations

import argparse

from .._core.errors import OAuthError

__all__ = [
    "DEFAULT_PROFILE",
    "EMULATOR_CLIENT_ID",
    "EMULATOR_PORT",
    "ENV_CLIENT_ID",
    "ENV_CLIENT_SECRET",
    "ENV_CONFIG_DIR",
    "EXIT_AGENT_ERROR",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_LOGIN_REQUIRED",
    "EXIT_OK",
    "EXIT_USAGE",
    "LOOPBACK_HOST",
    "LOOPBACK_PATH",
    "PLACEHOLDER_REDIRECT",
    "LoginNeeded",
    "RevocationFailed",
    "UsageError",
    "login_hint",
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

DEFAULT_PROFILE = "default"
"""The profile used without ``--profile``."""
LOOPBACK_HOST = "127.0.0.1"
"""Where the loopback listener listens (and the host of its redirect URI)."""
LOOPBACK_PATH = "/callback"
"""The path of the loopback listener's redirect URI, unless ``--redirect-uri`` says."""
PLACEHOLDER_REDIRECT = f"http://{LOOPBACK_HOST}{LOOPBACK_PATH}"
"""The redirect URI given to a strategy that needs one when none was chosen: the
loopback listener replaces it with its own (any port, RFC 8252 7.3), and ``token`` and
``logout`` rebuild the strategy with it (a token is bound to the client id, not to the
redirect URI)."""

EMULATOR_PORT = 8765
"""The port ``anyoauth emulator`` serves on unless told otherwise."""

EMULATOR_CLIENT_ID = "anyoauth-cli"
"""The public client ``anyoauth emulator`` registers for the code and device flows."""


class UsageError(Exception):
    """A usage or configuration problem; the message is shown as is (it holds no secret)."""


class LoginNeeded(Exception):
    """Nothing saved to work from: the user has to run ``anyoauth login`` first."""


class RevocationFailed(Exception):
    """``logout`` deleted the local token, but revoking it at the provider failed."""

    def __init__(self, error: OAuthError) -> None:
        super().__init__(str(error))
        self.error = error
        """Why the provider did not revoke the token."""


def login_hint(args: argparse.Namespace) -> str:
    """The ``anyoauth login`` command line for the provider and profile of ``args``."""
    profile = "" if args.profile == DEFAULT_PROFILE else f" --profile {args.profile}"
    return f"anyoauth login {args.provider}{profile}"
