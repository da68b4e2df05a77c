"""``client.auth()``: an ``httpx``/``httpx2`` ``Auth`` that sets each request's
``Authorization`` from :meth:`Client.token` (or :meth:`Client.fresh_token`, its
no-wait answer) and, on a 401, asks it for a different token and sends the request
once more. A DPoP-bound token goes with a fresh proof (:meth:`Client.dpop_proof`), and
a resource server's ``use_dpop_nonce`` challenge is answered once with its nonce. A
token that is not an access token (``token_type`` ``N_A``, from a token exchange) is
never sent: the request fails with :class:`ConfigurationError`. It decides nothing
else about tokens itself. ``SyncClient.auth()`` is the same flow for ``httpx.Client``,
its tokens from the blocking :class:`~anyoauth.SyncClient`.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, Generator
from types import ModuleType
from typing import Any, Protocol

import attrs

from ._core.dpop import challenges_for_nonce, origin_of
from ._core.errors import ConfigurationError
from ._core.token import Token

__all__ = ["SyncTokenSource", "TokenSource", "auth_class", "sync_auth_class"]


class TokenSource(Protocol):
    """What the ``Auth`` needs of a :class:`~anyoauth.Client`: its :meth:`token`, and
    the held token when :meth:`token` would hand it out at once (the same rule)."""

    async def token(self, *, rejected: Token | None = None) -> Token:
        """A valid token; a different one than ``rejected``."""
        ...

    def fresh_token(self) -> Token | None:
        """The token :meth:`token` would return without waiting, or ``None``."""
        ...

    def dpop_proof(self, method: str, url: str, *, token: Token | None = None) -> str:
        """A new DPoP proof for a ``method`` request to ``url`` made with ``token``."""
        ...

    def remember_dpop_nonce(self, url: str, nonce: str) -> None:
        """Remember the ``DPoP-Nonce`` the server of ``url`` answered with."""
        ...


def _is_bound(token: Token) -> bool:
    return token.token_type.lower() == "dpop"


def _usable(token: Token) -> Token:
    """``token``, unless it is no access token (``N_A``, RFC 8693 2.2.1): such a token
    (an id_token, a refresh token, an assertion) is never sent as a credential."""
    if token.token_type.lower() == "n_a":
        raise ConfigurationError(
            "the token exchange issued a token that is not an access token (token_type N_A):"
            " client.auth() never sends it; take it from client.token() where it is meant to go"
        )
    return token


def _answered_here(request: Any, response: Any) -> bool:
    """Whether ``response`` comes from ``request``'s origin, not from another one a
    redirect led to (``follow_redirects=True``): another origin's nonce is never used
    at this one."""
    final = getattr(response, "request", None)
    return final is None or origin_of(str(final.url)) == origin_of(str(request.url))


def _rejects(response: Any, token: Token) -> bool:
    """Whether ``response`` is a 401 from a server that got ``token``: a 401 from
    another origin a redirect led to (httpx drops ``Authorization`` on the way) says
    nothing of the token and costs no new one."""
    if response.status_code != 401:
        return False
    final = getattr(response, "request", None)
    return final is None or final.headers.get("Authorization") == token.authorization_header


@attrs.frozen
class _TokenWanted:
    """A step of :func:`_steps`: it needs a token, different from ``rejected``."""

    rejected: Token | None


def _steps(client: TokenSource, request: Any) -> Generator[Any, Any, None]:
    """The flow of one request, for both the async and the sync ``Auth``: it yields a
    :class:`_TokenWanted` to be sent a token, and the request to be sent its response."""
    token = _usable((yield _TokenWanted(None)))
    for retry in (False, True):
        request.headers["Authorization"] = token.authorization_header
        if not _is_bound(token):
            request.headers.pop("DPoP", None)
            response = yield request
        else:
            # A bound token never goes without a proof of its key (RFC 9449 7).
            url = str(request.url)
            request.headers["DPoP"] = client.dpop_proof(request.method, url, token=token)
            response = yield request
            nonce = response.headers.get("dpop-nonce")
            if nonce is not None and _answered_here(request, response):
                client.remember_dpop_nonce(url, nonce)
                challenge = response.headers.get("www-authenticate")
                if challenges_for_nonce(response.status_code, challenge):
                    proof = client.dpop_proof(request.method, url, token=token)
                    request.headers["DPoP"] = proof
                    response = yield request
                    nonce = response.headers.get("dpop-nonce")
                    if nonce is not None and _answered_here(request, response):
                        client.remember_dpop_nonce(url, nonce)
                    challenge = response.headers.get("www-authenticate")
                    if challenges_for_nonce(response.status_code, challenge):
                        return  # asked for a nonce twice: no token problem
        if retry or not _rejects(response, token):
            return
        token = _usable((yield _TokenWanted(token)))


@functools.cache
def auth_class(module: ModuleType) -> type:
    """``Auth`` for one HTTP package (``httpx`` or ``httpx2``), made once per package
    (an ``Auth`` must subclass its own package's ``Auth``)."""

    class BearerAuth(module.Auth):  # type: ignore[name-defined,misc]
        """Sets the token from :meth:`Client.token` (a DPoP-bound one with a proof); on a
        401 gets a different token and retries once."""

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
            client = self._client
            steps = _steps(client, request)
            step = next(steps)
            while True:
                if isinstance(step, _TokenWanted):
                    answer: Any = None if step.rejected is not None else client.fresh_token()
                    if answer is None:
                        answer = await client.token(rejected=step.rejected)
                else:
                    answer = yield step
                try:
                    step = steps.send(answer)
                except StopIteration:
                    return

    BearerAuth.__qualname__ = BearerAuth.__name__ = f"BearerAuth[{module.__name__}]"
    return BearerAuth


class SyncTokenSource(Protocol):
    """What the synchronous ``Auth`` needs of a :class:`~anyoauth.SyncClient`: the
    blocking :meth:`token` and the DPoP calls of :class:`TokenSource`."""

    def token(self, *, rejected: Token | None = None) -> Token:
        """A valid token; a different one than ``rejected``."""
        ...

    def dpop_proof(self, method: str, url: str, *, token: Token | None = None) -> str:
        """A new DPoP proof for a ``method`` request to ``url`` made with ``token``."""
        ...

    def remember_dpop_nonce(self, url: str, nonce: str) -> None:
        """Remember the ``DPoP-Nonce`` the server of ``url`` answered with."""
        ...


@functools.cache
def sync_auth_class(module: ModuleType) -> type:
    """The synchronous ``Auth`` (``httpx.Client``) for one HTTP package: the same flow
    (:func:`_steps`) as :func:`auth_class`, its tokens from a blocking source."""

    class SyncBearerAuth(module.Auth):  # type: ignore[name-defined,misc]
        """Sets the token from :meth:`SyncClient.token` (a DPoP-bound one with a proof);
        on a 401 gets a different token and retries once."""

        requires_request_body = False
        requires_response_body = False

        def __init__(self, client: SyncTokenSource) -> None:
            self._client = client

        def __repr__(self) -> str:
            return f"<anyoauth auth for {self._client!r}>"

        def sync_auth_flow(self, request: Any) -> Generator[Any, Any, None]:
            client = self._client
            steps = _steps(client, request)  # type: ignore[arg-type]
            step = next(steps)
            while True:
                if isinstance(step, _TokenWanted):
                    answer: Any = client.token(rejected=step.rejected)
                else:
                    answer = yield step
                try:
                    step = steps.send(answer)
                except StopIteration:
                    return

        async def async_auth_flow(self, request: Any) -> AsyncGenerator[Any, Any]:
            raise TypeError(
                "this Auth is a SyncClient's: use it with httpx.Client, or an "
                "anyoauth.Client's auth() with an AsyncClient"
            )
            yield  # pragma: no cover - makes this an async generator

    SyncBearerAuth.__qualname__ = SyncBearerAuth.__name__ = f"SyncBearerAuth[{module.__name__}]"
    return SyncBearerAuth
