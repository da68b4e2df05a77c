"""JWT-secured authorization requests (RFC 9101), sans-IO: signed request objects.

A request object carries every authorization parameter (``client_id``,
``response_type``, ``redirect_uri``, ``scope``, ``state``, ``nonce``,
``code_challenge``...) as claims of a JWT signed with the client's private key, with
``typ`` ``oauth-authz-req+jwt`` (RFC 9101 10.8), ``iss`` the client, ``aud`` the
issuer, and a short life (``iat``, ``nbf``, ``exp``, a fresh ``jti``). The server
believes only the parameters inside it (RFC 9101 5), so nothing on the way (the
browser, an extension, a proxy) can change them.

:class:`RequestObjectSigner` holds the loaded key (never shown) and signs; the
strategy decides where the object goes (the authorization URL, or a pushed request,
RFC 9126). Only asymmetric algorithms (:data:`REQUEST_OBJECT_ALGORITHMS`) are
allowed: never ``none``, never an HMAC with a shared secret. Request objects are
signed, not encrypted: anyoauth does not encrypt them (no server metadata can demand
it; a server that needs encryption must be told so out of band and is not supported).
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Collection, Iterable, Mapping
from typing import Any

import attrs

from .errors import ConfigurationError
from .jose import ID_TOKEN_ALGORITHMS, load_client_key, sign_compact

__all__ = [
    "DEFAULT_REQUEST_OBJECT_LIFETIME",
    "MAX_REQUEST_OBJECT_LIFETIME",
    "REQUEST_OBJECT_ALGORITHMS",
    "REQUEST_OBJECT_TYPE",
    "RequestObjectSigner",
    "choose_request_object_algorithm",
]

REQUEST_OBJECT_TYPE = "oauth-authz-req+jwt"
"""The ``typ`` header of a request object (RFC 9101 4, 10.8)."""

REQUEST_OBJECT_ALGORITHMS: frozenset[str] = ID_TOKEN_ALGORITHMS
"""The algorithms a request object may be signed with: asymmetric only (RSA, RSA-PSS,
ECDSA, EdDSA). ``none`` and the HMAC algorithms are never allowed."""

DEFAULT_REQUEST_OBJECT_LIFETIME = 60.0
"""Seconds a request object is valid (``exp`` - ``iat``) unless configured otherwise."""

MAX_REQUEST_OBJECT_LIFETIME = 3600.0
"""The longest allowed lifetime (FAPI 2.0 message signing: at most 60 minutes)."""

_PREFERRED = (
    "PS256",
    "ES256",
    "EdDSA",
    "Ed25519",
    "ES384",
    "ES512",
    "PS384",
    "PS512",
    "Ed448",
    "RS256",
    "RS384",
    "RS512",
)
"""The order in which an algorithm is chosen for a key when none is configured."""

_RESERVED_CLAIMS = frozenset({"iss", "aud", "iat", "nbf", "exp", "jti"})
_MULTI_VALUED = frozenset({"resource", "audience"})
"""Authorization parameters that may repeat: one value is a string claim, several an
array of strings."""

_JSON_CLAIMS = frozenset({"authorization_details"})
"""Authorization parameters whose form value is JSON text and whose claim is that JSON
value itself (RFC 9396 3: ``authorization_details`` is an array in a request object)."""


def _check_algorithm(algorithm: object) -> str:
    if isinstance(algorithm, str) and algorithm in REQUEST_OBJECT_ALGORITHMS:
        return algorithm
    raise ConfigurationError(
        "request_object_algorithm must be an asymmetric JWS algorithm, one of "
        f"{', '.join(sorted(REQUEST_OBJECT_ALGORITHMS))} (never none or HS*)"
    )


def _key_alg(key: object) -> object:
    if isinstance(key, Mapping):
        return key.get("alg")
    get = getattr(key, "get", None)
    return get("alg") if callable(get) else None


def choose_request_object_algorithm(
    key: object, *, accepted: Collection[str] = (), first: str | None = None
) -> str | None:
    """The algorithm to sign request objects with ``key``: ``first`` if it fits, then
    the key's own ``alg``, then the first of a fixed preference order (PS256, ES256,
    EdDSA, ... RS256) that fits the key; only among ``accepted`` when it is not empty
    (the server's ``request_object_signing_alg_values_supported``). ``None`` when no
    algorithm fits."""
    candidates = [first, _key_alg(key), *_PREFERRED]
    for candidate in dict.fromkeys(candidates):
        if not isinstance(candidate, str) or candidate not in REQUEST_OBJECT_ALGORITHMS:
            continue
        if accepted and candidate not in accepted:
            continue
        try:
            load_client_key(key, candidate)  # type: ignore[arg-type]
        except ValueError:
            continue
        return candidate
    return None


@attrs.frozen(kw_only=True)
class RequestObjectSigner:
    """Signs request objects with one private key. Its repr shows the algorithm only;
    the key is never shown.

    Build it with :meth:`load`, which checks the key and the algorithm once.
    """

    algorithm: str
    """The JWS algorithm."""
    lifetime: float = DEFAULT_REQUEST_OBJECT_LIFETIME
    """Seconds each request object is valid."""
    key: Any = attrs.field(repr=False, eq=False)
    """The loaded joserfc private key. Never shown in a repr."""

    @classmethod
    def load(
        cls,
        key: object,
        algorithm: str | None = None,
        *,
        lifetime: float = DEFAULT_REQUEST_OBJECT_LIFETIME,
    ) -> RequestObjectSigner:
        """A signer for ``key`` (a private JWK dict, PEM text or bytes, or a joserfc
        key) with ``algorithm`` (``None``: chosen from the key, see
        :func:`choose_request_object_algorithm`). Raises :class:`ConfigurationError`
        for a missing, public or unfitting key, an algorithm that is not asymmetric,
        or a lifetime outside 1 s to :data:`MAX_REQUEST_OBJECT_LIFETIME`."""
        if key is None:
            raise ConfigurationError("signed request objects need a private key")
        if (
            isinstance(lifetime, bool)
            or not isinstance(lifetime, (int, float))
            or not 1 <= lifetime <= MAX_REQUEST_OBJECT_LIFETIME
        ):
            raise ConfigurationError(
                "request_object_lifetime must be from 1 to "
                f"{MAX_REQUEST_OBJECT_LIFETIME:.0f} seconds"
            )
        if algorithm is None:
            algorithm = choose_request_object_algorithm(key)
            if algorithm is None:
                raise ConfigurationError(
                    "the request object key fits no asymmetric JWS algorithm: it must be "
                    "a private RSA, EC or OKP key (not a public key or a secret)"
                )
        checked = _check_algorithm(algorithm)
        try:
            loaded = load_client_key(key, checked)  # type: ignore[arg-type]
        except ValueError as exc:
            raise ConfigurationError(f"request object key: {exc}") from None
        return cls(algorithm=checked, lifetime=float(lifetime), key=loaded)

    def sign(
        self, params: Iterable[tuple[str, str]], *, client_id: str, audience: str, now: float
    ) -> str:
        """A request object carrying ``params`` (the authorization parameters) for
        ``audience`` (the issuer), made at ``now``: ``iss`` = ``client_id``, ``aud``,
        ``iat``, ``nbf``, ``exp`` (``now`` + :attr:`lifetime`) and a fresh ``jti``."""
        claims: dict[str, Any] = {}
        for name, value in params:
            if name in _MULTI_VALUED and name in claims:
                # RFC 8707 2 / RFC 9101: several values of a repeatable parameter are
                # an array of strings, in order.
                held = claims[name]
                claims[name] = [*held, value] if isinstance(held, list) else [held, value]
                continue
            if name in claims:
                raise ConfigurationError(f"the authorization parameter {name} is repeated")
            if name in _RESERVED_CLAIMS:
                raise ConfigurationError(
                    f"the authorization parameter {name} would replace a request object claim"
                )
            claims[name] = json.loads(value) if name in _JSON_CLAIMS else value
        issued_at = math.floor(now)
        claims.update(
            iss=client_id,
            aud=audience,
            iat=issued_at,
            nbf=issued_at,
            exp=issued_at + max(1, math.floor(self.lifetime)),
            jti=secrets.token_urlsafe(24),
        )
        header = {"alg": self.algorithm, "typ": REQUEST_OBJECT_TYPE}
        kid = self.key.kid
        if kid:
            header["kid"] = kid
        return sign_compact(header, claims, self.key, self.algorithm)
