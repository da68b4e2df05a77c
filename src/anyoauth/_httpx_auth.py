"""``client.auth()``: an ``httpx``/``httpx2`` ``Auth`` that sets each request's
``Authorization`` from :meth:`Client.token` (or :meth:`Client.fresh_token`, its
no-wait answer) and, on a 401, asks it for a different token and sends the request
once more. It decides nothing about tokens itself.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator
from types import ModuleType
from typing import Any, Protocol

from ._core.token import Token

__all__ = ["TokenSource", "auth_class"]


class TokenSource(Protocol):
    """What the ``Auth`` needs of a :class:`~anyoauth.Client`: its :meth:`token`, and
    the held token when :meth:`token` would hand it out at once (the same rule)."""

    async def token(self, *, rejected: Token | None = None) -> Token:
        """A valid token; a different one than ``rejected``."""
        ...

    def fresh_token(self) -> Token | None:
        """The token :meth:`token` would return without waiting, or ``None``."""
        ...


@functools.cache
def auth_class(module: ModuleType) -> type:
    """``Auth`` for one HTTP package (``httpx`` or ``httpx2``), made once per package
    (an ``Auth`` must subclass its own package's ``Auth``)."""

    class BearerAuth(module.Auth):  # type: ignore[name-defined,misc]
        """Sets the token from :meth:`Client.token`; on a 401 gets a different token
        and retries once."""

        requires_request_body = False
        requires_response_body = False

        def __init__(self, client: TokenSource) -> None:
            self._client = client

        def __repr__(self) -> str:
            return f"<anyoauth auth for {self._client!r}>"

        def sync_auth_flow(self, request: Any) -> Any:
            raise TypeError("anyoauth is async: use it with an AsyncClient")

        async def async_auth_flow(self, request: Any) -> AsyncGenerator[Any, Any]:
            # Every API request: the held token when token() would hand it out at once
            # (no coroutine), else token() itself.
            token = self._client.fresh_token() or await self._client.token()
            request.headers["Authorization"] = token.authorization_header
            response = yield request
            if response.status_code == 401:
                token = await self._client.token(rejected=token)
                request.headers["Authorization"] = token.authorization_header
                yield request

    BearerAuth.__qualname__ = BearerAuth.__name__ = f"BearerAuth[{module.__name__}]"
    return BearerAuth
