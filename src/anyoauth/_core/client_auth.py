"""Client authentication as values: each method is an object that says what it adds to
a request sent to the authorization server (RFC 6749 2.3, RFC 7523, OpenID Connect
Core 9, RFC 8705 2).

A strategy holds one :class:`ClientAuthMethod` (built from its ``client_auth`` name and
settings, or given as the object itself) and asks it for the :class:`Credentials` of
each request: a header, form parameters, or both. Methods that sign
(:attr:`ClientAuthMethod.fresh_per_request`) are asked again for every attempt of a
retried request, so no signed assertion is ever sent twice. The mutual-TLS methods
(:attr:`ClientAuthMethod.uses_client_certificate`) add only ``client_id``: the proof is
the TLS client certificate, which the HTTP client presents; :func:`certificate_thumbprint`
computes the ``x5t#S256`` a certificate-bound token is bound to (RFC 8705 3.1).
Nothing here performs IO; keys are parsed once, when the method is made.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any, ClassVar, Literal
from urllib.parse import quote_plus

import attrs

from .errors import ConfigurationError

__all__ = [
    "ASSERTION_TYPE",
    "AssertionAudience",
    "ClientAuth",
    "ClientAuthMethod",
    "ClientSecretBasic",
    "ClientSecretJwt",
    "ClientSecretPost",
    "Credentials",
    "NoClientAuth",
    "PrivateKeyJwt",
    "SelfSignedTlsClientAuth",
    "TlsClientAuth",
    "basic_credentials",
    "certificate_thumbprint",
    "client_auth_method",
    "is_certificate_bound",
]

ClientAuth = Literal[
    "client_secret_basic",
    "client_secret_post",
    "client_secret_jwt",
    "private_key_jwt",
    "tls_client_auth",
    "self_signed_tls_client_auth",
    "none",
]
"""The names of the client authentication methods (the ``token_endpoint_auth_method``
values of RFC 7591), as a strategy's ``client_auth`` accepts them."""

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
"""``client_assertion_type`` of JWT client authentication (RFC 7523 2.2)."""

AssertionAudience = Literal["issuer", "endpoint"]
"""What a JWT client assertion names as its audience (``aud``):

* ``"issuer"``: the authorization server's issuer identifier, as one JSON string
  (draft-ietf-oauth-rfc7523bis); every endpoint of the server gets the same audience.
* ``"endpoint"``: the URL of the endpoint the assertion is sent with (the token,
  device authorization, revocation or introspection endpoint), for servers that
  refuse their issuer. An assertion posted to one endpoint never names another.
"""


def basic_credentials(client_id: str, client_secret: str, *, form_encode: bool = True) -> str:
    """The ``Authorization: Basic`` value of RFC 6749 section 2.3.1.

    Both parts are form-urlencoded before base64, so a secret with ``:``, ``+``
    or ``%`` reaches the server intact (Keycloak decodes them this way). Servers
    that take the credentials raw get them unencoded with ``form_encode=False``;
    a client_id containing ``:`` cannot be sent that way.
    """
    if form_encode:
        raw = f"{quote_plus(client_id)}:{quote_plus(client_secret)}"
    elif ":" in client_id:
        raise ConfigurationError("a client_id with ':' needs form-encoded Basic credentials")
    else:
        raw = f"{client_id}:{client_secret}"
    return "Basic " + base64.b64encode(raw.encode()).decode("ascii")


@attrs.frozen
class Credentials:
    """What a client authentication method adds to one request."""

    headers: tuple[tuple[str, str], ...] = ()
    """Headers to send (``Authorization`` for ``client_secret_basic``)."""
    params: tuple[tuple[str, str], ...] = attrs.field(default=(), repr=False)
    """Form parameters to send (``client_id``, and the secret or the assertion)."""
    secrets: frozenset[str] = attrs.field(default=frozenset(), repr=False)
    """Secret values among them that anyoauth cannot recognise by name (a header or
    parameter of a method of its own): errors and logs never show them. The standard
    ones (``Authorization``, ``client_secret``, ``client_assertion``) need no listing."""


def _secret(_instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str):
        raise ConfigurationError(f"{attribute.name} must be a string")


@attrs.frozen
class ClientAuthMethod:
    """A way for the client to authenticate to the authorization server.

    Subclasses set :attr:`name` and implement :meth:`credentials`; one that needs a
    different value for each request (a signature with a fresh ``jti``) sets
    :attr:`fresh_per_request`, and the request is built again for each retry.
    """

    name: ClassVar[ClientAuth] = "none"
    """The method's registered name (``token_endpoint_auth_method``)."""
    fresh_per_request: ClassVar[bool] = False
    """Whether every request, every retry included, needs credentials made anew. When
    ``False`` the credentials may depend only on the client id, the issuer and the URL:
    a strategy makes them once per URL."""
    uses_client_certificate: ClassVar[bool] = False
    """Whether the client proves who it is with the TLS client certificate of the HTTP
    client (``tls_client_auth``, ``self_signed_tls_client_auth``; RFC 8705 2): every
    request to the authorization server must then go over a connection that presents
    it."""

    def check(self, *, client_id: str, issuer: str | None) -> None:
        """Refuse (:class:`ConfigurationError`) a client this method cannot
        authenticate; called once, when the strategy is made."""

    def credentials(
        self, *, client_id: str, issuer: str | None, url: str, now: float
    ) -> Credentials:
        """What a request of ``client_id`` to ``url`` carries, made at ``now``
        (``issuer``: the server's issuer identifier, when known)."""
        raise NotImplementedError


@attrs.frozen
class NoClientAuth(ClientAuthMethod):
    """No client authentication (a public client): only ``client_id`` is sent."""

    name: ClassVar[ClientAuth] = "none"

    def credentials(
        self, *, client_id: str, issuer: str | None, url: str, now: float
    ) -> Credentials:
        """``client_id`` as a form parameter."""
        return Credentials(params=(("client_id", client_id),))


@attrs.frozen
class ClientSecretBasic(ClientAuthMethod):
    """``client_secret_basic``: the id and secret in an ``Authorization: Basic`` header
    (RFC 6749 2.3.1), form-encoded before base64 unless :attr:`form_encoded` is off."""

    name: ClassVar[ClientAuth] = "client_secret_basic"

    secret: str = attrs.field(repr=False, validator=_secret)
    """The client secret. Never shown in a repr."""
    form_encoded: bool = True
    """Form-urlencode both parts before base64 (``False`` for servers that expect them
    raw; a client_id with ``:`` cannot be sent raw)."""
    _header: dict[str, tuple[tuple[str, str], ...]] = attrs.field(
        factory=dict, init=False, repr=False, eq=False
    )

    def check(self, *, client_id: str, issuer: str | None) -> None:
        """A raw (not form-encoded) Basic pair cannot carry a client_id with ``:``."""
        self._headers_for(client_id)

    def _headers_for(self, client_id: str) -> tuple[tuple[str, str], ...]:
        header = self._header.get(client_id)
        if header is None:
            value = basic_credentials(client_id, self.secret, form_encode=self.form_encoded)
            header = self._header[client_id] = (("Authorization", value),)
        return header

    def credentials(
        self, *, client_id: str, issuer: str | None, url: str, now: float
    ) -> Credentials:
        """The ``Authorization`` header (computed once per client id)."""
        return Credentials(headers=self._headers_for(client_id))


@attrs.frozen
class ClientSecretPost(ClientAuthMethod):
    """``client_secret_post``: ``client_id`` and ``client_secret`` in the form body
    (RFC 6749 2.3.1)."""

    name: ClassVar[ClientAuth] = "client_secret_post"

    secret: str = attrs.field(repr=False, validator=_secret)
    """The client secret. Never shown in a repr."""

    def credentials(
        self, *, client_id: str, issuer: str | None, url: str, now: float
    ) -> Credentials:
        """``client_id`` and ``client_secret`` as form parameters."""
        return Credentials(params=(("client_id", client_id), ("client_secret", self.secret)))


def _audience(value: object) -> AssertionAudience | None:
    if value not in (None, "issuer", "endpoint"):
        raise ConfigurationError("assertion_audience must be 'issuer', 'endpoint' or None")
    return value


@attrs.frozen
class _SignedAssertion(ClientAuthMethod):
    """A signed JWT client assertion (RFC 7523 2.2), made anew for every request."""

    fresh_per_request: ClassVar[bool] = True
    default_algorithm: ClassVar[str] = "RS256"

    algorithm: str | None = None
    """The JWS algorithm (``None``: :attr:`default_algorithm`)."""
    audience: AssertionAudience | None = attrs.field(default=None, converter=_audience)
    """What the assertion names as ``aud`` (see :data:`AssertionAudience`). ``None``:
    the issuer identifier when it is known, else the URL of the endpoint the assertion
    is sent to. Never the token endpoint when the request goes elsewhere: a server that
    received an assertion cannot replay it at another server's token endpoint."""
    _signing_key: Any = attrs.field(default=None, init=False, repr=False, eq=False)

    def _key_material(self) -> Any:
        raise NotImplementedError

    def __attrs_post_init__(self) -> None:
        from . import jose

        material = self._key_material()  # ConfigurationError when it is missing
        try:
            loaded = jose.load_client_key(material, self.signing_algorithm)
        except ValueError as exc:
            raise ConfigurationError(f"{self.name}: {exc}") from None
        # Parsed once: a PEM key is not parsed again for every request.
        object.__setattr__(self, "_signing_key", loaded)

    @property
    def signing_algorithm(self) -> str:
        """The JWS algorithm assertions are signed with."""
        return self.algorithm or self.default_algorithm

    def check(self, *, client_id: str, issuer: str | None) -> None:
        """``audience="issuer"`` needs the issuer."""
        if self.audience == "issuer" and issuer is None:
            raise ConfigurationError("assertion_audience='issuer' needs the issuer")

    def audience_for(self, url: str, issuer: str | None) -> str:
        """The ``aud`` of an assertion sent to ``url``: the issuer identifier (one
        string), or ``url`` itself with ``audience="endpoint"`` or without an issuer."""
        if issuer is not None and self.audience != "endpoint":
            return issuer
        return url

    def assertion(self, *, client_id: str, audience: str, now: float) -> str:
        """A signed JWT authenticating ``client_id`` to ``audience``, with a fresh
        ``jti``, ``iat`` and ``exp``."""
        from . import jose

        return jose.client_assertion(
            client_id=client_id,
            audience=audience,
            key=self._signing_key,
            algorithm=self.signing_algorithm,
            now=now,
        )

    def credentials(
        self, *, client_id: str, issuer: str | None, url: str, now: float
    ) -> Credentials:
        """``client_id``, ``client_assertion_type`` and a freshly signed assertion."""
        assertion = self.assertion(
            client_id=client_id, audience=self.audience_for(url, issuer), now=now
        )
        return Credentials(
            params=(
                ("client_id", client_id),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", assertion),
            )
        )


@attrs.frozen
class ClientSecretJwt(_SignedAssertion):
    """``client_secret_jwt``: an assertion signed with the client secret (HMAC;
    HS256 by default), OpenID Connect Core 9."""

    name: ClassVar[ClientAuth] = "client_secret_jwt"
    default_algorithm: ClassVar[str] = "HS256"

    secret: str = attrs.field(default="", repr=False, kw_only=True)
    """The client secret the assertion is signed with. Never shown in a repr."""

    def _key_material(self) -> Any:
        if not self.secret:
            raise ConfigurationError("client_secret_jwt needs a client_secret")
        return self.secret


@attrs.frozen
class PrivateKeyJwt(_SignedAssertion):
    """``private_key_jwt``: an assertion signed with the client's private key (RS256
    by default; PS*, ES*, EdDSA too), RFC 7523 and OpenID Connect Core 9."""

    name: ClassVar[ClientAuth] = "private_key_jwt"

    key: Any = attrs.field(default=None, repr=False, kw_only=True)
    """The private key: a JWK dict, PEM text or bytes, or a joserfc key. Never shown
    in a repr."""

    def _key_material(self) -> Any:
        if self.key is None:
            raise ConfigurationError("private_key_jwt needs a client_key")
        return self.key


@attrs.frozen
class _MutualTls(ClientAuthMethod):
    """Client authentication by the TLS client certificate (RFC 8705 2): the request
    carries ``client_id`` only; the server authenticates the connection's certificate.
    The certificate and its key are the HTTP client's (an ``ssl.SSLContext`` passed as
    ``verify=``; see :func:`anyoauth.client_tls_context`), never this value's."""

    uses_client_certificate: ClassVar[bool] = True

    def credentials(
        self, *, client_id: str, issuer: str | None, url: str, now: float
    ) -> Credentials:
        """``client_id`` as a form parameter (RFC 8705 2: it must be sent)."""
        return Credentials(params=(("client_id", client_id),))


@attrs.frozen
class TlsClientAuth(_MutualTls):
    """``tls_client_auth``: the client's certificate is issued by a certificate
    authority the server trusts, and the server matches its subject or a subject
    alternative name with the client's registration (RFC 8705 2.1)."""

    name: ClassVar[ClientAuth] = "tls_client_auth"


@attrs.frozen
class SelfSignedTlsClientAuth(_MutualTls):
    """``self_signed_tls_client_auth``: the client's certificate is self-signed and the
    server matches it with a certificate the client registered (its ``jwks`` with
    ``x5c``; RFC 8705 2.2)."""

    name: ClassVar[ClientAuth] = "self_signed_tls_client_auth"


_PEM_BEGIN = b"-----BEGIN CERTIFICATE-----"
_PEM_END = b"-----END CERTIFICATE-----"


def _certificate_der(certificate: str | bytes) -> bytes:
    data = certificate.encode("ascii", "replace") if isinstance(certificate, str) else certificate
    if not isinstance(data, bytes) or not data:
        raise ConfigurationError("a certificate must be PEM text or DER bytes")
    start = data.find(_PEM_BEGIN)
    if start < 0:
        if data[:1] != b"\x30":  # a DER certificate is an ASN.1 SEQUENCE
            raise ConfigurationError("the certificate is neither PEM nor DER")
        return data
    end = data.find(_PEM_END, start)
    if end < 0:
        raise ConfigurationError("the PEM certificate has no end line")
    try:
        der = base64.b64decode(b"".join(data[start + len(_PEM_BEGIN) : end].split()), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError("the PEM certificate is not base64") from None
    if der[:1] != b"\x30":
        raise ConfigurationError("the PEM certificate holds no DER certificate")
    return der


def certificate_thumbprint(certificate: str | bytes) -> str:
    """The ``x5t#S256`` of a certificate: the base64url SHA-256 of its DER encoding
    (RFC 8705 3.1), as a certificate-bound token's ``cnf`` names it.

    ``certificate`` is PEM text or bytes (the first certificate of a chain is used)
    or DER bytes. Raises :class:`ConfigurationError` for anything else. A
    certificate is public: nothing secret goes in or out.
    """
    digest = hashlib.sha256(_certificate_der(certificate)).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def is_certificate_bound(claims: Mapping[str, Any], certificate: str | bytes) -> bool:
    """Whether a token's claims (an introspection answer's members, a JWT access token's
    payload) bind it to ``certificate``: their ``cnf`` holds an ``x5t#S256`` equal to
    :func:`certificate_thumbprint` of it (RFC 8705 3.1, 3.2). ``False`` when the token
    is not certificate-bound at all."""
    confirmation = claims.get("cnf")
    if not isinstance(confirmation, Mapping):
        return False
    bound = confirmation.get("x5t#S256")
    if not isinstance(bound, str):
        return False
    return hmac.compare_digest(bound.encode(), certificate_thumbprint(certificate).encode())


def client_auth_method(
    name: object,
    *,
    client_secret: str | None,
    client_key: Any = None,
    algorithm: str | None = None,
    audience: object = None,
    basic_form_encoded: bool = True,
) -> ClientAuthMethod:
    """The method a ``client_auth`` name stands for, with a strategy's settings.

    ``client_secret_basic`` and ``client_secret_post`` without a secret (``None``) send
    only the ``client_id`` (a public client), as ``none`` does. ``tls_client_auth`` and
    ``self_signed_tls_client_auth`` send only the ``client_id`` too, and authenticate
    with the HTTP client's TLS certificate. Raises
    :class:`ConfigurationError` for an unknown name or a method missing its secret or
    key.
    """
    if name == "client_secret_basic":
        if client_secret is None:
            return NoClientAuth()
        return ClientSecretBasic(client_secret, form_encoded=basic_form_encoded)
    if name == "client_secret_post":
        return NoClientAuth() if client_secret is None else ClientSecretPost(client_secret)
    if name == "client_secret_jwt":
        return ClientSecretJwt(algorithm, audience, secret=client_secret or "")
    if name == "private_key_jwt":
        return PrivateKeyJwt(algorithm, audience, key=client_key)
    if name == "tls_client_auth":
        return TlsClientAuth()
    if name == "self_signed_tls_client_auth":
        return SelfSignedTlsClientAuth()
    if name == "none":
        return NoClientAuth()
    raise ConfigurationError(f"unknown client_auth {name!r}")
