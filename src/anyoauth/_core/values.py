"""The values a flow hands out and keeps: what survives between a login's start and its
redirect (:class:`PendingFlow`), where to send the user (:class:`AuthorizationRequest`),
and what a flow asks its driver to do next (:class:`PushNeeded`, :class:`KeysNeeded`,
:class:`RefreshRefused`).

Plain data: stores import this module for the records they keep, the machine for what
it returns; nothing here has behaviour beyond (de)serialising itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import attrs

from .errors import TokenRequestError
from .http import HttpRequest

__all__ = [
    "AuthorizationRequest",
    "KeysNeeded",
    "PendingFlow",
    "PushNeeded",
    "RefreshRefused",
    "pending_key",
]


def pending_key(state: str) -> str:
    """The store key of a pending flow: a digest, so no ``state`` appears in store keys."""
    return hashlib.sha256(state.encode("utf-8", "surrogatepass")).hexdigest()


@attrs.frozen(kw_only=True)
class PendingFlow:
    """What must survive between :meth:`Flow.start` and the redirect, kept in a store."""

    state: str = attrs.field(repr=False)
    """The ``state`` sent to the provider."""
    binding: str
    """The strategy the flow belongs to (:attr:`Strategy.store_namespace`); another strategy's
    redirect cannot complete it."""
    created_at: float
    """When the flow started."""
    expires_at: float
    """When the flow stops accepting its redirect."""
    code_verifier: str | None = attrs.field(default=None, repr=False)
    """The PKCE verifier, for strategies that use PKCE."""
    nonce: str | None = attrs.field(default=None, repr=False)
    """The OpenID Connect ``nonce`` the id_token must carry, when one was sent."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (for stores)."""
        return {
            "state": self.state,
            "binding": self.binding,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "code_verifier": self.code_verifier,
            "nonce": self.nonce,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PendingFlow:
        """Rebuild a pending flow saved with :meth:`to_dict`."""
        return cls(**data)


@attrs.frozen(kw_only=True)
class AuthorizationRequest:
    """Where to send the user, and the pending flow to keep until the redirect."""

    url: str = attrs.field(repr=False)
    """The authorization URL to open in the user agent."""
    pending: PendingFlow
    """The pending flow to store under :func:`pending_key` of its state."""
    url_expires_at: float | None = None
    """When :attr:`url` stops working, if sooner than the flow: for a pushed
    authorization request (RFC 9126), when the server forgets its ``request_uri``
    (``expires_in`` of the push answer, never later than :attr:`expires_at`); the user
    must open the URL before then. ``None``: the URL works as long as the flow. The
    pending flow itself still accepts its redirect until :attr:`expires_at`."""

    @property
    def state(self) -> str:
        """The ``state`` value in :attr:`url`."""
        return self.pending.state

    @property
    def expires_at(self) -> float:
        """When the flow stops accepting its redirect."""
        return self.pending.expires_at


@attrs.frozen(kw_only=True)
class PushNeeded:
    """The strategy pushes its authorization request (RFC 9126): send :attr:`request`
    (a POST to the pushed authorization request endpoint, with client authentication)
    and pass the answer to :meth:`Flow.receive_push_response`, which returns the
    :class:`AuthorizationRequest`; report a failed send with :meth:`Flow.push_failed`."""

    request: HttpRequest
    """The push request."""
    pending: PendingFlow
    """The pending flow the push belongs to (stored once the push is answered)."""


@attrs.frozen(kw_only=True)
class KeysNeeded:
    """The id_token (or a signed authorization response) is signed by a key the flow was
    not given: send :attr:`request` (a GET of the server's key set) and pass the answer
    to :meth:`Flow.receive_keys` (to :meth:`Flow.receive_response_keys` when
    :meth:`Flow.receive_response` returned it)."""

    request: HttpRequest
    """The key set request."""


@attrs.frozen(kw_only=True)
class RefreshRefused:
    """The authorization server refused the refresh token (``invalid_grant``).

    Another holder of the same stored token may already have used and replaced it (a
    refresh token rotates): the driver looks at its store first. If a newer token is
    there it uses that one and drops the flow; otherwise it calls
    :meth:`Flow.refresh_refused`, which either starts a new grant (a strategy with a
    grant of its own, like client credentials) or gives up with :class:`LoginRequired`
    and names the token to forget (:attr:`Flow.discarded`).
    """

    error: TokenRequestError
    """The server's refusal."""
