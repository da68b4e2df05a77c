"""``client.auth()``: an ``httpx``/``httpx2`` ``Auth`` that sets each request's
``Authorization`` from :meth:`Client.token` (or :meth:`Client.fresh_token`, its
no-wait answer) and, on a 401, asks it for a different token and sends the request
once more. A DPoP-bound token goes with a fresh proof (:meth:`Client.dpop_proof`), and
a resource server's ``use_dpop_nonce`` challenge is answered once with its nonce. A
token that is not an access token (``token_type`` ``N_A``, from a token exchange) is
never sent: the request fails with :class:`ConfigurationError`. It decides nothing
else about tokens itself.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator
from types import ModuleType
from typing import Any, Protocol

from ._core.dpop import challenges_for_nonce, origin_of
from ._core.errors import ConfigurationError
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
            token = _usable(client.fresh_token() or await client.token())
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
                token = _usable(await client.token(rejected=token))

    BearerAuth.__qualname__ = BearerAuth.__name__ = f"BearerAuth[{module.__name__}]"
    return BearerAuth
