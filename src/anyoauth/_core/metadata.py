"""Authorization server metadata (RFC 8414 and OpenID Connect Discovery 1.0), sans-IO.

:func:`metadata_urls` says where an issuer publishes its metadata;
:meth:`ServerMetadata.from_response` validates a fetched document: a JSON object
whose ``issuer`` is exactly the configured issuer (RFC 8414 section 3.3; anything
else could be a mix-up or impersonation) and whose endpoints are all https, except
on loopback hosts of a loopback issuer or when insecure endpoints are explicitly
allowed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import attrs

from .errors import DiscoveryError
from .text import URL_NOT_VISIBLE_ASCII, is_visible_ascii
from .urls import http_allowed, is_loopback_host

__all__ = ["ENDPOINT_FIELDS", "STRATEGY_ENDPOINTS", "ServerMetadata", "metadata_urls"]

ENDPOINT_FIELDS = (
    "authorization_endpoint",
    "token_endpoint",
    "device_authorization_endpoint",
    "revocation_endpoint",
    "introspection_endpoint",
    "jwks_uri",
    "userinfo_endpoint",
    "registration_endpoint",
    "end_session_endpoint",
    "pushed_authorization_request_endpoint",
    "backchannel_authentication_endpoint",
)
"""Metadata fields that hold URLs anyoauth may send requests or users to (the URLs of
``mtls_endpoint_aliases``, RFC 8705, are checked the same way)."""

STRATEGY_ENDPOINTS = (
    "authorization_endpoint",
    "token_endpoint",
    "device_authorization_endpoint",
    "revocation_endpoint",
    "introspection_endpoint",
    "jwks_uri",
    "userinfo_endpoint",
    "end_session_endpoint",
)
"""The endpoints a strategy takes from metadata (``Strategy.from_metadata``), under the
same names on both."""

_LIST_FIELDS = (
    "scopes_supported",
    "response_types_supported",
    "grant_types_supported",
    "token_endpoint_auth_methods_supported",
    "code_challenge_methods_supported",
    "id_token_signing_alg_values_supported",
    "dpop_signing_alg_values_supported",
    "request_object_signing_alg_values_supported",
    "response_modes_supported",
    "authorization_signing_alg_values_supported",
    "authorization_details_types_supported",
)

_FLAG_FIELDS = (
    ("authorization_response_iss_parameter_supported", False),
    ("require_pushed_authorization_requests", False),
    ("require_signed_request_object", False),
    ("request_parameter_supported", False),
    ("request_uri_parameter_supported", True),
    ("tls_client_certificate_bound_access_tokens", False),
)
"""Boolean fields, with the default RFC 8414, RFC 9126, RFC 9101 and RFC 8705 give them."""


def metadata_urls(issuer: str) -> tuple[str, ...]:
    """Where ``issuer`` may publish its metadata, in the order to try them.

    First RFC 8414's ``/.well-known/oauth-authorization-server`` inserted before the
    issuer's path, then OpenID Connect's ``{issuer}/.well-known/openid-configuration``
    (and, for an issuer with a path, RFC 8414's form of that one).
    """
    if not is_visible_ascii(issuer):
        raise DiscoveryError(f"the issuer {URL_NOT_VISIBLE_ASCII}")
    try:
        parts = urlsplit(issuer)
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        raise DiscoveryError("the issuer is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise DiscoveryError("the issuer must be an http(s) URL without query or fragment")
    path = parts.path.rstrip("/")

    def at(p: str) -> str:
        return urlunsplit((parts.scheme, parts.netloc, p, "", ""))

    urls = [
        at(f"/.well-known/oauth-authorization-server{path}"),
        at(f"{path}/.well-known/openid-configuration"),
    ]
    if path:
        urls.append(at(f"/.well-known/openid-configuration{path}"))
    return tuple(urls)


def _freeze(document: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(document))


def _same_issuer(a: str, b: str) -> bool:
    # RFC 8414 3.3: identical. A trailing slash is the one difference servers commonly add.
    return a == b or a.rstrip("/") == b.rstrip("/")


def _check_url(name: str, value: object, allow_insecure: bool, issuer: str | None = None) -> str:
    """``value``, an https URL; http only where :func:`http_allowed` says so for
    ``issuer`` (the issuer's own URL is checked with ``issuer=None``)."""
    if not isinstance(value, str) or not value:
        raise DiscoveryError(f"metadata {name} is not a URL")
    if not is_visible_ascii(value):
        raise DiscoveryError(f"metadata {name} {URL_NOT_VISIBLE_ASCII}")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        raise DiscoveryError(f"metadata {name} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DiscoveryError(f"metadata {name} is not an http(s) URL")
    if parts.scheme == "http" and not http_allowed(
        parts.hostname, allow_insecure=allow_insecure, issuer=issuer
    ):
        if is_loopback_host(parts.hostname):
            raise DiscoveryError(
                f"metadata {name} is http on loopback for an issuer that is not on loopback"
            )
        raise DiscoveryError(f"metadata {name} is not https")
    if parts.fragment:
        raise DiscoveryError(f"metadata {name} has a fragment")
    return value


def _check_aliases(value: object, allow_insecure: bool, issuer: str) -> dict[str, str]:
    """RFC 8705's ``mtls_endpoint_aliases``: an object of endpoint URLs, each checked
    as the endpoints are."""
    if not isinstance(value, dict):
        raise DiscoveryError("metadata mtls_endpoint_aliases is not a JSON object")
    for url in value.values():
        # The server's own key names stay out of the message.
        _check_url("mtls_endpoint_aliases", url, allow_insecure, issuer)
    return dict(value)


@attrs.frozen(kw_only=True)
class ServerMetadata:
    """An authorization server's validated metadata.

    Build it with :meth:`from_response` (or :func:`anyoauth.discover`, which fetches
    it); pass it to a strategy's ``from_metadata``.
    """

    issuer: str
    """The issuer identifier, equal to the one asked for."""
    authorization_endpoint: str | None = None
    """Where users are sent to authorize."""
    token_endpoint: str | None = None
    """The token endpoint."""
    device_authorization_endpoint: str | None = None
    """The device authorization endpoint (RFC 8628)."""
    revocation_endpoint: str | None = None
    """The token revocation endpoint (RFC 7009)."""
    introspection_endpoint: str | None = None
    """The token introspection endpoint (RFC 7662)."""
    jwks_uri: str | None = None
    """The JSON Web Key Set that signs id_tokens."""
    userinfo_endpoint: str | None = None
    """OpenID Connect's userinfo endpoint."""
    end_session_endpoint: str | None = None
    """Where the browser is sent to end the user's session (OpenID Connect
    RP-Initiated Logout 1.0)."""
    scopes_supported: tuple[str, ...] = ()
    """Scopes the server names."""
    response_types_supported: tuple[str, ...] = ()
    """``response_type`` values the server accepts."""
    grant_types_supported: tuple[str, ...] = ()
    """Grant types the server accepts (RFC 8414 defaults to code and implicit when absent)."""
    token_endpoint_auth_methods_supported: tuple[str, ...] = ()
    """Client authentication methods at the token endpoint (absent: ``client_secret_basic``)."""
    code_challenge_methods_supported: tuple[str, ...] = ()
    """PKCE methods the server accepts."""
    id_token_signing_alg_values_supported: tuple[str, ...] = ()
    """Algorithms the server signs id_tokens with."""
    dpop_signing_alg_values_supported: tuple[str, ...] = ()
    """Algorithms the server accepts DPoP proofs signed with (RFC 9449 5.1); empty when
    it says nothing (it may then not do DPoP)."""
    response_modes_supported: tuple[str, ...] = ()
    """``response_mode`` values the server accepts (OpenID Connect Discovery; absent:
    ``query`` and ``fragment``); ``jwt``, ``query.jwt``... for signed responses (JARM)."""
    authorization_signing_alg_values_supported: tuple[str, ...] = ()
    """Algorithms the server signs authorization responses with (JARM)."""
    authorization_response_iss_parameter_supported: bool = False
    """Whether authorization responses carry ``iss`` (RFC 9207); then it is required."""
    mtls_endpoint_aliases: Mapping[str, str] = attrs.field(factory=dict, converter=_freeze)
    """RFC 8705 5: the endpoints (by metadata name: ``token_endpoint``,
    ``revocation_endpoint``, ...) a client that presents a TLS client certificate uses
    instead of the plain ones; each URL checked as the endpoints are. A strategy made
    with ``from_metadata`` uses them when it authenticates with mutual TLS or when
    ``use_mtls_endpoint_aliases`` is turned on."""
    tls_client_certificate_bound_access_tokens: bool = False
    """Whether the server binds access tokens to the client's TLS certificate (RFC 8705
    3.3): such a token works only over a connection presenting that certificate."""
    pushed_authorization_request_endpoint: str | None = None
    """Where authorization requests are pushed (RFC 9126)."""
    require_pushed_authorization_requests: bool = False
    """Whether the server accepts only pushed authorization requests (RFC 9126 5);
    ``from_metadata`` then turns pushing on."""
    request_object_signing_alg_values_supported: tuple[str, ...] = ()
    """Algorithms the server accepts for signed request objects (RFC 9101 10.1)."""
    require_signed_request_object: bool = False
    """Whether the server accepts only signed request objects (RFC 9101 10.5);
    ``from_metadata`` then turns them on."""
    request_parameter_supported: bool = False
    """Whether the server takes request objects by value (``request``)."""
    request_uri_parameter_supported: bool = True
    """Whether the server takes ``request_uri`` (OpenID Connect Discovery's default is
    true)."""
    authorization_details_types_supported: tuple[str, ...] = ()
    """The ``authorization_details`` types the server accepts (RFC 9396 10); when it
    lists any, ``Strategy.from_metadata`` refuses details of another type."""
    raw: Mapping[str, Any] = attrs.field(factory=dict, converter=_freeze, eq=False, repr=False)
    """The whole document as the server sent it."""

    @classmethod
    def from_dict(
        cls, document: Mapping[str, Any], *, issuer: str, allow_insecure: bool = False
    ) -> ServerMetadata:
        """Validate a decoded metadata document for ``issuer``.

        Raises :class:`DiscoveryError` when the document names another issuer, an
        endpoint is not an https URL, a URL is not visible ASCII (whitespace, control,
        bidi or other non-ASCII characters; an IRI must come percent-encoded), or a
        field has the wrong type. http is accepted
        anywhere with ``allow_insecure``; without it only on loopback hosts, and only
        when the issuer is on a loopback host too (a remote server's endpoint at
        ``http://127.0.0.1:...`` or ``http://x.localhost`` is refused).
        """
        found = document.get("issuer")
        if not isinstance(found, str) or not _same_issuer(found, issuer):
            raise DiscoveryError("the metadata names another issuer than the one configured")
        _check_url("issuer", found, allow_insecure)
        # Keep the server's own spelling: ``iss`` values and id_tokens are compared with it.
        fields: dict[str, Any] = {"issuer": found}
        for name in ENDPOINT_FIELDS:
            if document.get(name) is not None and name in attrs.fields_dict(cls):
                fields[name] = _check_url(name, document[name], allow_insecure, found)
            elif document.get(name) is not None:
                _check_url(name, document[name], allow_insecure, found)
        if document.get("mtls_endpoint_aliases") is not None:
            fields["mtls_endpoint_aliases"] = _check_aliases(
                document["mtls_endpoint_aliases"], allow_insecure, found
            )
        for name in _LIST_FIELDS:
            value = document.get(name)
            if value is None:
                continue
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise DiscoveryError(f"metadata {name} is not a list of strings")
            fields[name] = tuple(value)
        for name, default in _FLAG_FIELDS:
            flag = document.get(name, default)
            if not isinstance(flag, bool):
                raise DiscoveryError(f"metadata {name} is not a boolean")
            fields[name] = flag
        return cls(raw=document, **fields)

    @classmethod
    def from_response(
        cls,
        status_code: int,
        content_type: str | None,
        body: bytes,
        *,
        issuer: str,
        allow_insecure: bool = False,
    ) -> ServerMetadata:
        """Validate a metadata endpoint's answer (see :meth:`from_dict`)."""
        if status_code != 200:
            raise DiscoveryError(f"the metadata endpoint answered HTTP {status_code}")
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise DiscoveryError("the metadata is not JSON") from None
        if not isinstance(document, dict):
            raise DiscoveryError("the metadata is not a JSON object")
        return cls.from_dict(document, issuer=issuer, allow_insecure=allow_insecure)

    def endpoint(self, name: str, *, mtls: bool = False) -> str | None:
        """The URL of the endpoint called ``name`` (its metadata field:
        ``"userinfo_endpoint"``, one of :data:`ENDPOINT_FIELDS`); with ``mtls``, its
        mutual-TLS alias (RFC 8705 5) when the server publishes one. ``None`` when the
        server names neither (or ``name`` is no endpoint field)."""
        if mtls and name in self.mtls_endpoint_aliases:
            return self.mtls_endpoint_aliases[name]
        if name not in ENDPOINT_FIELDS:
            return None
        found = getattr(self, name, None) if hasattr(self, name) else self.raw.get(name)
        return found if isinstance(found, str) else None

    def supports_grant(self, grant_type: str) -> bool:
        """Whether the server lists ``grant_type`` (RFC 8414's default when absent)."""
        listed = self.grant_types_supported or ("authorization_code", "implicit")
        return grant_type in listed
