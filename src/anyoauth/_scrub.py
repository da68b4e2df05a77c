"""Errors leave anyoauth's public API without the secrets its frames held.

A traceback rendered with its frames' locals (``traceback.TracebackException(...,
capture_locals=True)``, error trackers, ``pytest --showlocals``) would otherwise show
what those frames held: a redirect URL with its code, a response body with a token, a
refresh token about to be revoked. :func:`scrubbed` wraps each public async method of
the driver: when an :class:`~anyoauth.OAuthError` leaves it, :func:`scrub` clears the
frames it passed through, the method's own included.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from ._core.errors import OAuthError, chained_errors, drop_hidden_contexts

__all__ = ["scrub", "scrubbed"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep

P = ParamSpec("P")
R = TypeVar("R")


def scrub(error: BaseException) -> None:
    """Forget the local variables of anyoauth's own finished frames that ``error`` (and
    every error chained to it) passed through, and drop the exceptions they only hide
    (:func:`~anyoauth._core.errors.drop_hidden_contexts`). Frames still running (the
    caller's) cannot be cleared and are left alone."""
    drop_hidden_contexts(error)
    for current in chained_errors(error):
        tb = current.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename.startswith(_PACKAGE_DIR):
                with contextlib.suppress(RuntimeError):  # a frame still running
                    tb.tb_frame.clear()
            tb = tb.tb_next


def scrubbed(method: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    """``method`` (an async method of the public API), whose :class:`OAuthError` leaves
    through :func:`scrub`. The method's frame has finished by then and is cleared with
    the others; this wrapper's own frame drops its arguments (the client, which holds
    the tokens, and a URL or token given) before the error goes on."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except OAuthError as exc:
            del args, kwargs
            scrub(exc)
            raise

    return wrapper
