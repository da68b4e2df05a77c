"""Authorization code flows: the standard grant with PKCE (:class:`AuthorizationCode`)
and the JSON code exchange of Teamwork-style apps (:class:`CodeJsonExchange`)."""

from __future__ import annotations

import json
from typing import ClassVar

import attrs

from ..errors import ConfigurationError
from ..http import HttpRequest
from ..values import PendingFlow
from .base import Strategy, require

__all__ = ["AuthorizationCode", "CodeJsonExchange"]


@attrs.frozen(kw_only=True)
class AuthorizationCode(Strategy):
    """The authorization code grant (RFC 6749 4.1) with PKCE S256 (RFC 7636).

    The standard flow for apps with a user: the browser comes back to
    ``redirect_uri`` with ``code``, which is exchanged by a form-encoded POST.
    PKCE is on by default; turn it off only for servers that reject it.
    With ``"openid"`` in the scope, a ``nonce`` is sent and the id_token validated.

    ``redirect_uri`` may be left out for :meth:`Client.login` with a loopback agent,
    which supplies its own; :meth:`Client.begin` then raises :class:`ConfigurationError`.
    """

    name: ClassVar[str] = "authorization-code"

    uses_pkce: bool = True

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        require(self, "authorization_endpoint", "token_endpoint")
        if self.response_type != "code":
            raise ConfigurationError("the authorization code flow uses response_type=code")


@attrs.frozen(kw_only=True)
class CodeJsonExchange(Strategy):
    """Authorization code flow whose code is exchanged by a JSON POST.

    The login URL carries only ``redirect_uri``, ``client_id`` and ``state``; the
    exchange posts ``{code, client_id, client_secret, redirect_uri}`` as JSON,
    with an ``Origin`` header when the app has allowed origins.
    """

    name: ClassVar[str] = "code-json"

    origin: str | None = None
    """The ``Origin`` header to send with the exchange, if the app restricts origins."""

    def __attrs_post_init__(self) -> None:
        if self.profile is not None:
            # Its exchange posts the client secret as JSON, outside form_request: no
            # strong client authentication, no sender constraint can go with it.
            raise ConfigurationError(
                f"{self.profile} requires the authorization code flow only: a code "
                "exchanged by JSON with the client secret is not allowed"
            )
        super().__attrs_post_init__()
        if self.redirect_uri is None:
            raise ConfigurationError("a redirect_uri is required")
        if self.client_secret is None:
            raise ConfigurationError("a client_secret is required")

    def authorization_params(
        self, *, state: str, code_challenge: str | None, nonce: str | None = None
    ) -> list[tuple[str, str]]:
        """``redirect_uri``, ``client_id``, ``state`` and any extra parameters."""
        params = [
            ("redirect_uri", self.redirect_uri or ""),
            ("client_id", self.client_id),
            ("state", state),
        ]
        if self.response_mode is not None:
            params.append(("response_mode", self.response_mode))
        return params + list(self.extra_authorization_params.items())

    def code_exchange_request(self, code: str, pending: PendingFlow, *, now: float) -> HttpRequest:
        """``POST`` the code as JSON."""
        body = {
            "code": code,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "redirect_uri": self.redirect_uri,
        }
        headers = [("Content-Type", "application/json"), ("Accept", "application/json")]
        if self.origin is not None:
            headers.append(("Origin", self.origin))
        return HttpRequest(
            method="POST",
            url=self._token_url(),
            headers=tuple(headers),
            content=json.dumps(body, separators=(",", ":")).encode(),
        )
