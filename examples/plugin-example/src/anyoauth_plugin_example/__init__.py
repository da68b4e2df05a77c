"""An anyoauth provider plugin for Acme ID, a (fictional) provider with a quirky token endpoint.

Acme ID runs the authorization code flow with PKCE, but its token endpoint does not
answer the way RFC 6749 section 5 says:

- every answer is wrapped in an envelope: ``{"data": {...}, "meta": {...}}``;
- the token carries ``expires_at`` (absolute Unix time, seconds) instead of
  ``expires_in``;
- errors come as ``{"errors": [{"code": "invalid_grant", "detail": "..."}]}``;
- the client authenticates with ``client_secret_post``.

:class:`AcmeCode` overrides one hook, :meth:`~AcmeCode.parse_token_response`, to
unwrap the envelope and hand a standard answer to anyoauth's own validation.
:func:`Acme` is the preset. Both are registered as entry points named ``acme``
(see this package's ``pyproject.toml``), so once the package is installed::

    from anyoauth import plugins

    strategy = plugins.get_provider("acme")("my-client", "my-secret", "http://127.0.0.1/cb")
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, ClassVar

import attrs

from anyoauth import (
    AuthorizationCode,
    ClientAuth,
    InvalidTokenResponse,
    Token,
    TokenRequestError,
)

__all__ = ["ACME_SERVER_URL", "Acme", "AcmeCode"]

ACME_SERVER_URL = "https://id.acme.example"
"""Acme ID's server; the endpoints are under ``/oauth``."""


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return payload if isinstance(payload, dict) else None


def _text(value: object) -> str | None:
    return None if value is None else str(value)


@attrs.frozen(kw_only=True)
class AcmeCode(AuthorizationCode):
    """Acme ID's authorization code flow: PKCE, and token answers in an envelope."""

    name: ClassVar[str] = "acme"

    client_auth: ClientAuth = "client_secret_post"

    def parse_token_response(
        self, status_code: int, content_type: str | None, body: bytes, now: float
    ) -> Token:
        """Unwrap Acme's envelope, then validate the token as any other.

        ``{"errors": [...]}`` becomes :class:`~anyoauth.TokenRequestError` with the
        first error's ``code`` and ``detail``; ``data.expires_at`` becomes
        ``expires_in``. Anything else that is not a JSON object (an HTML error page,
        truncated JSON) goes to the base class, which raises the right typed error.
        """
        payload = _json_object(body)
        if payload is None:
            return super().parse_token_response(status_code, content_type, body, now)
        errors = payload.get("errors")
        if errors is not None:
            first = errors[0] if isinstance(errors, list) and errors else None
            first = first if isinstance(first, dict) else {}
            raise TokenRequestError(
                _text(first.get("code")) or f"http_{status_code}",
                _text(first.get("detail")),
                status_code=status_code,
            )
        if not 200 <= status_code < 300:
            return super().parse_token_response(status_code, content_type, body, now)
        data = payload.get("data")
        if not isinstance(data, dict):
            raise InvalidTokenResponse("no data object in Acme's envelope", status_code=status_code)
        fields = dict(data)
        expires_at = fields.pop("expires_at", None)
        if expires_at is not None:
            if isinstance(expires_at, bool) or not isinstance(expires_at, int | float):
                raise InvalidTokenResponse("expires_at is not a number", status_code=status_code)
            # A past expires_at is a token that is already expired, not an error.
            fields["expires_in"] = max(0.0, expires_at - now)
        standard = json.dumps(fields).encode()
        return super().parse_token_response(status_code, "application/json", standard, now)


def Acme(
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    *,
    scope: str | Iterable[str] | None = None,
    server_url: str = ACME_SERVER_URL,
    state_ttl: float = 600.0,
) -> AcmeCode:
    """Acme ID: authorization code with PKCE at ``{server_url}/oauth/authorize``,
    exchanged at ``{server_url}/oauth/token``.

    ``server_url`` is also the issuer compared with the ``iss`` of authorization
    responses (RFC 9207). Point it at a staging host or an emulator in tests.
    """
    base = server_url.rstrip("/")
    return AcmeCode(
        client_id=client_id,
        client_secret=client_secret,
        redirect_uri=redirect_uri,
        scope=scope,
        authorization_endpoint=f"{base}/oauth/authorize",
        token_endpoint=f"{base}/oauth/token",
        issuer=base,
        state_ttl=state_ttl,
    )
