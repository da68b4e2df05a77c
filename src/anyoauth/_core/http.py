"""The request value the core hands to a driver: :class:`HttpRequest`.

A request knows the secrets it carries (:attr:`HttpRequest.secrets`), so an error built
while its answer is read never shows them, and it may know how to build itself again for
a retry (:attr:`HttpRequest.rebuild`: a fresh client assertion per attempt).
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlsplit

import attrs

__all__ = ["SECRET_PARAMETERS", "HttpRequest"]


_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "dpop"})

SECRET_PARAMETERS = frozenset(
    {
        "access_token",
        "actor_token",
        "assertion",
        "client_assertion",
        "client_secret",
        "code",
        "code_verifier",
        "device_code",
        "password",
        "refresh_token",
        "subject_token",
        "token",
    }
)
"""Request parameters (form, JSON or query) whose value is a secret: the client secret
and assertion, codes, the PKCE verifier, tokens, passwords."""


def _headers_repr(headers: tuple[tuple[str, str], ...]) -> str:
    shown = ((k, "<redacted>" if k.lower() in _SECRET_HEADERS else v) for k, v in headers)
    return repr(tuple(shown))


def _credential_secrets(value: str) -> set[str]:
    """The secrets of a credential header: the whole value, the credential after the
    scheme and, for ``Basic``, the secret of the decoded ``id:secret`` pair as sent
    (form-encoded or not) and as decoded. The client id is no secret."""
    found = {value}
    scheme, _, credential = value.strip().partition(" ")
    credential = credential.strip()
    if not credential:
        return found
    found.add(credential)
    if scheme.lower() == "basic":
        try:
            pair = base64.b64decode(credential, validate=True).decode("utf-8")
        except ValueError:
            return found
        secret = pair.partition(":")[2]
        found |= {secret, unquote_plus(secret)}
    return found


def _parameter_secrets(pairs: Iterable[tuple[str, Any]]) -> set[str]:
    return {v for k, v in pairs if k in SECRET_PARAMETERS and isinstance(v, str)}


@attrs.frozen(kw_only=True)
class HttpRequest:
    """An HTTP request for the driver to send. Its repr hides credentials and the body.

    It knows the secrets it carries (:attr:`secrets`): an error built while its answer
    is read never shows them (see :func:`anyoauth._core.redaction.redacting`).
    """

    method: str
    """The HTTP method."""
    url: str
    """The absolute URL."""
    headers: tuple[tuple[str, str], ...] = attrs.field(default=(), repr=_headers_repr)
    """Header name/value pairs."""
    content: bytes = attrs.field(default=b"", repr=False)
    """The encoded body."""
    rebuild: Callable[[float], HttpRequest] | None = attrs.field(default=None, repr=False, eq=False)
    """How to build this request again for a retry at a given time, when each attempt
    must differ (a client assertion's ``jti`` works once; a DPoP proof is per request):
    the driver sends ``rebuild(now)`` for every attempt after the first. ``None``: the
    same request is sent again."""
    remember_nonce: Callable[[str], None] | None = attrs.field(default=None, repr=False, eq=False)
    """For a request carrying a DPoP proof: where the driver hands each ``DPoP-Nonce``
    the server answers with (the key remembers it for the server's origin), after which
    :attr:`rebuild` makes a proof with it. ``None``: the request carries no proof."""
    extra_secrets: frozenset[str] = attrs.field(default=frozenset(), repr=False, eq=False)
    """Secret values sent under names :data:`SECRET_PARAMETERS` does not list (a
    strategy's own parameters); :attr:`secrets` finds the standard ones itself."""

    @functools.cached_property
    def secrets(self) -> frozenset[str]:
        """Every secret this request carries: the values of credential headers
        (``Authorization``; for ``Basic`` also the decoded pair and secret), of the
        :data:`SECRET_PARAMETERS` in its form or JSON body and in its query, and
        :attr:`extra_secrets`. Worked out from the request as built, when first asked
        for (only an error needs it)."""
        found: set[str] = set(self.extra_secrets)
        for name, value in self.headers:
            if name.lower() in _SECRET_HEADERS:
                found |= _credential_secrets(value)
        found |= _parameter_secrets(parse_qsl(urlsplit(self.url).query, keep_blank_values=True))
        text = self.content.decode("utf-8", "replace")
        payload: object = None
        if text.lstrip().startswith("{"):
            try:
                payload = json.loads(text)
            except (ValueError, RecursionError):
                payload = None
        if isinstance(payload, dict):
            found |= _parameter_secrets(payload.items())
        else:
            found |= _parameter_secrets(parse_qsl(text, keep_blank_values=True))
        return frozenset(value for value in found if value)
