"""The generic server's registered clients and how each one authenticates.

A client registers one method (RFC 6749 section 2.3, RFC 7523, OpenID Connect Core
section 9): ``client_secret_basic`` (the id and secret form-urlencoded before Base64,
or taken as sent for clients registered with ``basic_form_encoded=False``),
``client_secret_post``, ``client_secret_jwt``, ``private_key_jwt`` (assertions checked
for signature, ``iss`` = ``sub`` = ``client_id``, ``aud``, ``exp``, ``nbf`` and a fresh
``jti``), ``tls_client_auth`` (the TLS client certificate, verified by the server's TLS
context, matches the registered subject DN or subject alternative name; RFC 8705 2.1),
``self_signed_tls_client_auth`` (its SHA-256 thumbprint is that of a registered ``x5c``
certificate; RFC 8705 2.2) or ``none``. Every failure is ``401 invalid_client``, with a
Basic challenge for Basic clients. :mod:`._oauth_server` asks
:meth:`ClientRegistry.authenticate` at each endpoint where a client authenticates.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import warnings
from collections.abc import Iterable, Mapping
from typing import Any, Literal, NoReturn, TypeGuard
from urllib.parse import unquote_plus

import attrs

from ._toolkit import Clock, EmulatorResponse, Request, fail, oauth_error

__all__ = [
    "ASSERTION_TYPE",
    "AUTH_METHODS",
    "DEVICE_GRANT",
    "GRANT_TYPES",
    "HMAC_ALGS",
    "JWT_BEARER_GRANT",
    "KEY_ALGS",
    "MTLS_METHODS",
    "TOKEN_EXCHANGE_GRANT",
    "ClientRegistry",
    "GrantAssertionError",
    "RegisteredClient",
]

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
"""The device authorization grant's ``grant_type`` (RFC 8628)."""
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
"""The token exchange grant's ``grant_type`` (RFC 8693)."""
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
"""The JWT bearer authorization grant's ``grant_type`` (RFC 7523 2.1)."""
GRANT_TYPES = frozenset(
    {
        "authorization_code",
        "implicit",
        "refresh_token",
        "client_credentials",
        DEVICE_GRANT,
        TOKEN_EXCHANGE_GRANT,
        JWT_BEARER_GRANT,
        "urn:openid:params:grant-type:ciba",
    }
)
"""The grant types a client may be registered with."""
AUTH_METHODS = (
    "client_secret_basic",
    "client_secret_post",
    "client_secret_jwt",
    "private_key_jwt",
    "none",
)
"""The client authentication methods, in the order the metadata lists them."""
MTLS_METHODS = ("tls_client_auth", "self_signed_tls_client_auth")
"""The mutual-TLS client authentication methods (RFC 8705 2), listed in the metadata
when the emulator advertises mutual TLS."""
_SAN_KINDS = ("dns", "uri", "ip", "email")


class GrantAssertionError(ValueError):
    """A JWT bearer grant's assertion is refused (the message says why)."""


ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
"""The ``client_assertion_type`` of JWT client authentication (RFC 7523)."""
HMAC_ALGS = ("HS256", "HS384", "HS512")
"""The algorithms of ``client_secret_jwt`` assertions."""
KEY_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
"""The algorithms of ``private_key_jwt`` assertions."""


@attrs.frozen
class RegisteredClient:
    """One client of the generic server; its repr shows no secret or keys."""

    client_id: str
    """The client's id."""
    secret: str | None = attrs.field(repr=False)
    """The secret of ``client_secret_*`` clients."""
    redirect_uris: tuple[str, ...]
    """The registered redirect URIs, in order."""
    grant_types: frozenset[str]
    """The grants the client may use."""
    auth_method: str
    """How the client authenticates (one of :data:`AUTH_METHODS`)."""
    jwks: Mapping[str, Any] | None = attrs.field(repr=False)
    """The client's public keys: they verify its ``private_key_jwt`` assertions and
    its request objects (RFC 9101), whatever its authentication method."""
    require_pkce: bool
    """Whether its authorization requests need an S256 ``code_challenge``."""
    basic_form_encoded: bool
    """Whether its Basic credentials are form-urlencoded before Base64."""
    scopes: tuple[str, ...] | None
    """The scopes it may ask for; ``None``: any."""
    tls_client_auth: tuple[str, str] | None = None
    """What a ``tls_client_auth`` client's certificate must carry: ``("subject_dn",
    dn)`` (RFC 4514) or ``("san_dns" | "san_uri" | "san_ip" | "san_email", value)``."""
    certificate_thumbprints: frozenset[str] = frozenset()
    """The ``x5t#S256`` of the certificates a ``self_signed_tls_client_auth`` client
    registered (the ``x5c`` of its ``jwks``)."""
    certificate_bound_access_tokens: bool = True
    """Whether tokens issued over a connection presenting a client certificate are
    bound to it (RFC 8705 3: ``tls_client_certificate_bound_access_tokens``)."""


def certificate_thumbprint(der: bytes) -> str:
    """The ``x5t#S256`` of a DER certificate (RFC 8705 3.1)."""
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def _x5c_thumbprints(jwks: Mapping[str, Any]) -> frozenset[str]:
    found: set[str] = set()
    for key in jwks.get("keys", []):
        chain = key.get("x5c") if isinstance(key, Mapping) else None
        if isinstance(chain, list) and chain and isinstance(chain[0], str):
            try:
                found.add(certificate_thumbprint(base64.b64decode(chain[0], validate=True)))
            except (binascii.Error, ValueError):
                raise ValueError("an x5c certificate of jwks is not base64") from None
    return frozenset(found)


def _certificate_matches(der: bytes, rule: tuple[str, str]) -> bool:
    """Whether the DER certificate carries the subject DN or SAN ``rule`` names."""
    import ipaddress

    from cryptography import x509

    try:
        certificate = x509.load_der_x509_certificate(der)
    except ValueError:
        return False
    kind, expected = rule
    if kind == "subject_dn":
        return certificate.subject.rfc4514_string() == expected
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    general: dict[str, type[x509.GeneralName]] = {
        "san_dns": x509.DNSName,
        "san_uri": x509.UniformResourceIdentifier,
        "san_ip": x509.IPAddress,
        "san_email": x509.RFC822Name,
    }
    values = names.get_values_for_type(general[kind])  # type: ignore[arg-type]
    if kind == "san_ip":
        try:
            return ipaddress.ip_address(expected) in values
        except ValueError:
            return False
    return expected in values


def _segment(data: str) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
    except (binascii.Error, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _invalid_client(description: str, basic: bool) -> EmulatorResponse:
    challenge = (("WWW-Authenticate", 'Basic realm="emulator"'),) if basic else ()
    return oauth_error(401, "invalid_client", description, *challenge)


def _same_secret(given: str, expected: str | None) -> bool:
    return expected is not None and secrets.compare_digest(given.encode(), expected.encode())


def _numeric(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _wrong_method(client: RegisteredClient) -> EmulatorResponse:
    basic = client.auth_method == "client_secret_basic"
    if client.auth_method == "none":
        description = "This public client must not authenticate with a secret or assertion."
    else:
        description = f"This client must authenticate with {client.auth_method}."
    return _invalid_client(description, basic)


def _key_set(jwks: Mapping[str, Any]) -> Any:
    from joserfc.jwk import KeySet

    try:
        return KeySet.import_key_set(dict(jwks))  # type: ignore[arg-type]
    except Exception as error:
        raise ValueError("jwks is not a usable JWK Set") from error


class ClientRegistry:
    """The generic server's clients, and the ``jti`` values of the client assertions
    they have used."""

    def __init__(
        self,
        clock: Clock,
        *,
        assertion_audience: Literal["issuer", "issuer_or_endpoint"] = "issuer_or_endpoint",
    ) -> None:
        self._clock = clock
        self.assertion_audience = assertion_audience
        """The ``aud`` client assertions need: ``"issuer_or_endpoint"`` (the issuer or the
        URL the assertion is posted to, a string or in an array) or ``"issuer"`` (exactly
        the issuer, one string)."""
        self.by_id: dict[str, RegisteredClient] = {}
        """The registered clients, by ``client_id``."""
        self._jtis: dict[tuple[str, str], float] = {}
        self._grant_jtis: dict[tuple[str, str], float] = {}

    def __len__(self) -> int:
        return len(self.by_id)

    def __repr__(self) -> str:
        return f"<ClientRegistry clients={len(self.by_id)}>"

    def get(self, client_id: str) -> RegisteredClient | None:
        """The client registered as ``client_id``, or ``None``."""
        return self.by_id.get(client_id)

    def add(
        self,
        client_id: str,
        *,
        client_secret: str | None,
        redirect_uris: Iterable[str],
        grant_types: Iterable[str],
        auth_method: str,
        jwks: Mapping[str, Any] | None,
        require_pkce: bool,
        basic_form_encoded: bool,
        scopes: Iterable[str] | None,
        tls_client_auth: tuple[str, str] | None = None,
        certificate_bound_access_tokens: bool = True,
    ) -> None:
        """Register (or replace) a client; raise :class:`ValueError` for a registration
        that contradicts itself."""
        grants = frozenset(grant_types)
        if not client_id:
            raise ValueError("client_id must not be empty")
        if unknown := sorted(grants - GRANT_TYPES):
            raise ValueError(f"unsupported grant types: {', '.join(unknown)}")
        if auth_method not in AUTH_METHODS + MTLS_METHODS:
            raise ValueError(f"auth_method must be one of {', '.join(AUTH_METHODS + MTLS_METHODS)}")
        if (auth_method == "tls_client_auth") != (tls_client_auth is not None):
            raise ValueError(
                "auth_method tls_client_auth needs one tls_client_auth_subject_dn or"
                " tls_client_auth_san_*, and only it takes one"
            )
        if tls_client_auth is not None and tls_client_auth[0] not in (
            "subject_dn",
            *(f"san_{kind}" for kind in _SAN_KINDS),
        ):
            raise ValueError("unknown tls_client_auth rule")
        needs_secret = auth_method.startswith("client_secret_")
        if needs_secret and not client_secret:
            raise ValueError(f"{auth_method} needs a client_secret")
        if not needs_secret and client_secret is not None:
            raise ValueError(f"{auth_method} clients have no client_secret")
        keyed = ("private_key_jwt", "self_signed_tls_client_auth")
        if auth_method in keyed and jwks is None:
            raise ValueError("jwks is needed for private_key_jwt and self_signed_tls_client_auth")
        thumbprints: frozenset[str] = frozenset()
        if jwks is not None:
            _key_set(jwks)
            if auth_method == "self_signed_tls_client_auth":
                thumbprints = _x5c_thumbprints(jwks)
                if not thumbprints:
                    raise ValueError("self_signed_tls_client_auth needs jwks keys with x5c")
        uris = tuple(redirect_uris)
        if any("#" in uri for uri in uris):
            raise ValueError("redirect URIs must not have a fragment")
        self.by_id[client_id] = RegisteredClient(
            client_id=client_id,
            secret=client_secret,
            redirect_uris=uris,
            grant_types=grants,
            auth_method=auth_method,
            jwks=dict(jwks) if jwks is not None else None,
            require_pkce=require_pkce,
            basic_form_encoded=basic_form_encoded,
            scopes=None if scopes is None else tuple(dict.fromkeys(scopes)),
            tls_client_auth=tls_client_auth,
            certificate_thumbprints=thumbprints,
            certificate_bound_access_tokens=certificate_bound_access_tokens,
        )

    def authenticate(self, request: Request, form: Mapping[str, str]) -> RegisteredClient:
        """The client that sent ``request`` (``form`` is its body), authenticated with its
        registered method; answers ``400 invalid_request`` when two methods are used and
        ``401 invalid_client`` for every other failure."""
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        basic = scheme.lower() == "basic"
        used = [
            method
            for method, present in (
                ("client_secret_basic", basic),
                ("jwt", "client_assertion" in form or "client_assertion_type" in form),
                ("client_secret_post", "client_secret" in form),
            )
            if present
        ]
        if len(used) > 1:
            fail(
                oauth_error(400, "invalid_request", "Use exactly one client authentication method.")
            )
        if used == ["client_secret_basic"]:
            client = self._basic(credentials.strip())
        elif used == ["jwt"]:
            client = self._assertion(request, form)
        else:
            found = self.by_id.get(form.get("client_id", ""))
            if found is None:
                fail(_invalid_client("Unknown client.", False))
            client = found
            method = used[0] if used else "none"
            if method == "none" and client.auth_method in MTLS_METHODS:
                self._mutual_tls(request, client)
                method = client.auth_method
            if client.auth_method != method:
                fail(_wrong_method(client))
            if method == "client_secret_post" and not _same_secret(
                form["client_secret"], client.secret
            ):
                fail(_invalid_client("Invalid client credentials.", False))
        if form.get("client_id", client.client_id) != client.client_id:
            fail(_invalid_client("The client_id does not match the authenticated client.", basic))
        return client

    def _mutual_tls(self, request: Request, client: RegisteredClient) -> None:
        """Authenticate ``client`` by the connection's TLS client certificate."""
        der = request.client_certificate
        if der is None:
            fail(_invalid_client("This client must present its TLS client certificate.", False))
        if client.auth_method == "tls_client_auth":
            assert client.tls_client_auth is not None
            if not _certificate_matches(der, client.tls_client_auth):
                fail(_invalid_client("The TLS client certificate is not this client's.", False))
        elif certificate_thumbprint(der) not in client.certificate_thumbprints:
            fail(_invalid_client("The TLS client certificate is not this client's.", False))

    def _basic(self, credentials: str) -> RegisteredClient:
        try:
            decoded = base64.b64decode(credentials, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            fail(_invalid_client("Malformed HTTP Basic credentials.", True))
        raw_id, colon, raw_secret = decoded.partition(":")
        if not colon:
            fail(_invalid_client("Malformed HTTP Basic credentials.", True))
        # RFC 6749 section 2.3.1: both are form-urlencoded before Basic encoding; a
        # client registered with basic_form_encoded=False meets a server that skips it.
        client = self.by_id.get(unquote_plus(raw_id))
        secret = unquote_plus(raw_secret)
        if client is None or not client.basic_form_encoded:
            client, secret = self.by_id.get(raw_id), raw_secret
            if client is not None and client.basic_form_encoded:
                client = None
        if client is None:
            fail(_invalid_client("Unknown client.", True))
        if client.auth_method != "client_secret_basic":
            fail(_wrong_method(client))
        if not _same_secret(secret, client.secret):
            fail(_invalid_client("Invalid client credentials.", True))
        return client

    def _assertion(self, request: Request, form: Mapping[str, str]) -> RegisteredClient:
        from joserfc import jws
        from joserfc.errors import JoseError, SecurityWarning
        from joserfc.jwk import OctKey

        assertion = form.get("client_assertion", "")
        if form.get("client_assertion_type") != ASSERTION_TYPE or not assertion:
            fail(_invalid_client(f"client_assertion_type must be {ASSERTION_TYPE}.", False))
        parts = assertion.split(".")
        header, claims = (_segment(parts[0]), _segment(parts[1])) if len(parts) == 3 else ({}, {})
        if not header or not claims:
            fail(_invalid_client("The client_assertion is not a signed JWT.", False))
        client_id = form.get("client_id") or claims.get("sub")
        client = self.by_id.get(client_id) if isinstance(client_id, str) else None
        if client is None:
            fail(_invalid_client("Unknown client.", False))
        if client.auth_method not in ("client_secret_jwt", "private_key_jwt"):
            fail(_wrong_method(client))
        alg, kid = header.get("alg"), header.get("kid")
        keys: list[Any]
        algorithms: tuple[str, ...]
        if client.auth_method == "client_secret_jwt":
            algorithms = HMAC_ALGS
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SecurityWarning)
                keys = [OctKey.import_key((client.secret or "").encode())]
        else:
            algorithms = KEY_ALGS
            assert client.jwks is not None
            keys = [k for k in _key_set(client.jwks) if kid is None or k.kid in (kid, None)]
        if not isinstance(alg, str) or alg not in algorithms:
            fail(
                _invalid_client(f"The assertion's alg is not one {client.auth_method} uses.", False)
            )
        verified = False
        for key in keys:
            try:
                jws.deserialize_compact(assertion, key, algorithms=[alg])
            except (JoseError, ValueError, TypeError):
                continue
            verified = True
            break
        if not verified:
            fail(_invalid_client("The client_assertion signature is invalid.", False))
        self._check_assertion_claims(request, client.client_id, claims)
        return client

    def _check_assertion_claims(
        self, request: Request, client_id: str, claims: Mapping[str, Any]
    ) -> None:
        now = self._clock()

        def refuse(description: str) -> NoReturn:
            fail(_invalid_client(description, False))

        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            refuse("The assertion's iss and sub must both be the client_id.")
        audience = claims.get("aud")
        if self.assertion_audience == "issuer":
            # draft-ietf-oauth-rfc7523bis: the issuer, as the one string.
            if audience != request.base:
                refuse("The assertion's aud must be the issuer, as a string.")
        else:
            audiences = audience if isinstance(audience, list) else [audience]
            accepted = {request.base, request.base + request.path}
            if not accepted & {a for a in audiences if isinstance(a, str)}:
                refuse("The assertion's aud must be the issuer or this endpoint's URL.")
        exp = claims.get("exp")
        if not _numeric(exp) or exp <= now:
            refuse("The assertion is expired or has no exp.")
        nbf = claims.get("nbf")
        if nbf is not None and (not _numeric(nbf) or nbf > now):
            refuse("The assertion is not valid yet.")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            refuse("The assertion has no jti.")
        for seen in [k for k, until in self._jtis.items() if until <= now]:
            del self._jtis[seen]
        if (client_id, jti) in self._jtis:
            refuse("The assertion's jti has been used before.")
        self._jtis[client_id, jti] = float(exp)

    def grant_assertion(self, request: Request, assertion: str) -> dict[str, Any]:
        """The claims of a JWT bearer grant's ``assertion`` (RFC 7523 3), once checked:
        signed by a key of its ``iss``, a client registered with ``jwks``; ``sub``
        present; ``aud`` the issuer or this endpoint's URL; not expired (``exp`` at
        most an hour after ``iat``), not before its ``nbf``; its ``jti`` never seen
        from that issuer. Raises :class:`GrantAssertionError` otherwise."""
        from joserfc import jws
        from joserfc.errors import JoseError

        parts = assertion.split(".")
        header, claims = (_segment(parts[0]), _segment(parts[1])) if len(parts) == 3 else ({}, {})
        if not header or not claims:
            raise GrantAssertionError("The assertion is not a signed JWT.")
        issuer = claims.get("iss")
        client = self.by_id.get(issuer) if isinstance(issuer, str) else None
        if client is None or client.jwks is None:
            raise GrantAssertionError("The assertion's issuer is unknown or has no keys.")
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(alg, str) or alg not in KEY_ALGS:
            raise GrantAssertionError("The assertion's alg is not an accepted asymmetric one.")
        keys = [k for k in _key_set(client.jwks) if kid is None or k.kid in (kid, None)]
        for key in keys:
            try:
                jws.deserialize_compact(assertion, key, algorithms=[alg])
            except (JoseError, ValueError, TypeError):
                continue
            break
        else:
            raise GrantAssertionError("The assertion's signature is invalid.")
        now = self._clock()
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise GrantAssertionError("The assertion has no sub.")
        audiences = claims.get("aud")
        audiences = audiences if isinstance(audiences, list) else [audiences]
        if not {request.base, request.base + request.path} & {
            a for a in audiences if isinstance(a, str)
        }:
            raise GrantAssertionError("The assertion's aud must be the issuer or this endpoint.")
        exp, iat = claims.get("exp"), claims.get("iat", now)
        if not _numeric(exp) or exp <= now:
            raise GrantAssertionError("The assertion is expired or has no exp.")
        if not _numeric(iat) or exp - iat > 3600:
            raise GrantAssertionError("The assertion lives too long.")
        nbf = claims.get("nbf")
        if nbf is not None and (not _numeric(nbf) or nbf > now):
            raise GrantAssertionError("The assertion is not valid yet.")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise GrantAssertionError("The assertion has no jti.")
        for seen in [k for k, until in self._grant_jtis.items() if until <= now]:
            del self._grant_jtis[seen]
        if (client.client_id, jti) in self._grant_jtis:
            raise GrantAssertionError("The assertion's jti has been used before.")
        self._grant_jtis[client.client_id, jti] = float(exp)
        return claims
