"""Every internal (non-public) name of anyoauth a test reaches, in one place.

Tests import anyoauth's public namespaces (``anyoauth``, ``anyoauth.sansio``,
``anyoauth.stores``, ``anyoauth.agents``, ``anyoauth.providers``,
``anyoauth.testing``). What a few of them must reach beyond that (a private helper they
check directly, a module attribute they patch, a module whose structure they inspect) is
imported here and only here, so moving a private module changes this file and no test.
The tests of the CLI, the emulator and the stores keep their own.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import pytest

from anyoauth import _events as events_module
from anyoauth import _http as http_module
from anyoauth import _renewal as renewal_module
from anyoauth import _scrub as scrub_module
from anyoauth import cli as cli_module
from anyoauth._client import _show_device_code as show_device_code
from anyoauth._core import dpop as dpop
from anyoauth._core import errors as errors_module
from anyoauth._core import jose as jose
from anyoauth._core import redirect as redirect_module
from anyoauth._core.jose import CLIENT_SECRET_JWT_ALGORITHMS as CLIENT_SECRET_JWT_ALGORITHMS
from anyoauth._core.jose import DEFAULT_ID_TOKEN_ALGORITHMS as DEFAULT_ID_TOKEN_ALGORITHMS
from anyoauth._core.jose import ID_TOKEN_ALGORITHMS as ID_TOKEN_ALGORITHMS
from anyoauth._core.jose import PRIVATE_KEY_JWT_ALGORITHMS as PRIVATE_KEY_JWT_ALGORITHMS
from anyoauth._core.jose import client_assertion as client_assertion
from anyoauth._core.jose import jwks_from_response as jwks_from_response
from anyoauth._core.jose import load_client_key as load_client_key
from anyoauth._core.jose import validate_id_token as validate_id_token
from anyoauth._core.redaction import redacting as redacting
from anyoauth._core.redirect import Endpoint as Endpoint
from anyoauth._core.redirect import landing as landing
from anyoauth._core.redirect import parse_params as parse_params
from anyoauth._core.redirect import read_redirect as read_redirect
from anyoauth._core.text import printable as printable
from anyoauth._demo import run_demo as run_demo
from anyoauth._file_store import _digest as file_store_digest
from anyoauth._http import DEFAULT_MAX_RESPONSE_BYTES as DEFAULT_MAX_RESPONSE_BYTES
from anyoauth._renewal import EARLY_RETRY_DELAY as EARLY_RETRY_DELAY
from anyoauth._renewal import LOCK_SENDS as LOCK_SENDS
from anyoauth._retry import parse_retry_after as parse_retry_after
from anyoauth.agents._embedded import CLOSED_REASON as CLOSED_REASON
from anyoauth.agents._embedded import system_chromium as system_chromium
from anyoauth.cli import _commands as cli_commands

__all__ = [
    "CLIENT_SECRET_JWT_ALGORITHMS",
    "CLOSED_REASON",
    "DEFAULT_ID_TOKEN_ALGORITHMS",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "EARLY_RETRY_DELAY",
    "ID_TOKEN_ALGORITHMS",
    "LOCK_SENDS",
    "PRIVATE_KEY_JWT_ALGORITHMS",
    "Endpoint",
    "cli_module",
    "client_assertion",
    "dpop",
    "errors_module",
    "events_module",
    "file_store_digest",
    "http_module",
    "jose",
    "jwks_from_response",
    "landing",
    "load_client_key",
    "parse_params",
    "parse_retry_after",
    "printable",
    "read_redirect",
    "redacting",
    "redirect_module",
    "renewal_module",
    "replace_command",
    "run_demo",
    "scrub_module",
    "set_default_http_timeout",
    "set_lock_ttl_margin",
    "show_device_code",
    "stop_scrubbing",
    "system_chromium",
    "validate_id_token",
]


def stop_scrubbing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Turn off the clearing of anyoauth's frames an error leaves through (to show that
    the suite's secret search would catch what that clearing hides)."""
    monkeypatch.setattr(scrub_module, "scrub", lambda error: None)


def set_lock_ttl_margin(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Make the store lock of one renewal outlive its token requests by ``seconds``."""
    monkeypatch.setattr(renewal_module, "LOCK_TTL_MARGIN", seconds)


def replace_command(
    monkeypatch: pytest.MonkeyPatch, name: str, handler: Callable[[argparse.Namespace], int]
) -> None:
    """Make the ``anyoauth`` command ``name`` run ``handler`` (``anyoauth.cli.main`` still
    parses the arguments and reports what it returns or raises)."""
    monkeypatch.setitem(cli_commands.COMMANDS, name, handler)


def set_default_http_timeout(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Set the per-request timeout the client gives an HTTP client made without one."""
    monkeypatch.setattr(http_module, "_HTTPX_DEFAULT_TIMEOUT", seconds)
