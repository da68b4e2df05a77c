"""The generic server's pushed authorization requests (RFC 9126) and request objects
(RFC 9101): the table of pushed requests, and the checks a request object must pass.

A pushed request is kept under ``urn:ietf:params:oauth:request_uri:<random>`` for the
client that pushed it, until it is used once or expires. A request object is verified
with the public keys the client registered (``jwks``): ``typ``
``oauth-authz-req+jwt``, an asymmetric ``alg``, the signature, ``iss`` (the client),
``aud`` (the issuer), ``exp``, ``nbf`` and a ``jti`` not seen before; its claims are
then the authorization parameters, and nothing outside it counts (RFC 9101 5).
:mod:`._oauth_server` serves the endpoints.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import warnings
from collections.abc import Mapping
from typing import Any, TypeGuard

import attrs

from ._toolkit import Clock

__all__ = [
    "REQUEST_OBJECT_ALGS",
    "REQUEST_OBJECT_TYPE",
    "REQUEST_URI_PREFIX",
    "PushedRequest",
    "PushedRequests",
    "RequestObjectError",
    "RequestObjects",
]

REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"
"""What every ``request_uri`` the server issues starts with (RFC 9126 2.2)."""
REQUEST_OBJECT_TYPE = "oauth-authz-req+jwt"
"""The ``typ`` a request object must carry (RFC 9101 10.8)."""
REQUEST_OBJECT_ALGS = (
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
    "RS256",
    "RS384",
    "RS512",
)
"""The algorithms request objects may be signed with (never ``none`` or HS*)."""
MAX_REQUEST_OBJECT_CHARS = 64 * 1024
"""A larger request object is refused before it is parsed."""
MAX_REQUEST_OBJECT_LIFETIME = 3600
"""``exp`` may be at most this many seconds after ``nbf`` (or ``iat``)."""


class RequestObjectError(Exception):
    """A request object or ``request_uri`` the server refuses; ``args[0]`` says why
    (shown in the error answer, never with the object itself)."""

    def __init__(self, description: str, error: str = "invalid_request_object") -> None:
        super().__init__(description)
        self.description = description
        self.error = error


@attrs.frozen
class PushedRequest:
    """One pushed authorization request: whose, its parameters, until when."""

    client_id: str
    """The client that pushed it (only it may use it)."""
    params: Mapping[str, str] = attrs.field(repr=False)
    """The authorization parameters (from the request object when one was pushed)."""
    signed: bool
    """Whether the parameters came from a verified request object."""
    expires_at: float
    """When the ``request_uri`` stops working."""


class PushedRequests:
    """The pushed requests not used yet, by ``request_uri``."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.by_uri: dict[str, PushedRequest] = {}
        """Live pushed requests, by ``request_uri``."""

    def __len__(self) -> int:
        return len(self.by_uri)

    def __repr__(self) -> str:
        return f"<PushedRequests {len(self.by_uri)}>"

    def push(self, pushed: PushedRequest) -> str:
        """Keep ``pushed``; return its new ``request_uri``."""
        now = self._clock()
        for uri in [u for u, p in self.by_uri.items() if p.expires_at <= now]:
            del self.by_uri[uri]
        uri = REQUEST_URI_PREFIX + secrets.token_urlsafe(24)
        self.by_uri[uri] = pushed
        return uri

    def take(self, request_uri: str, client_id: str) -> PushedRequest:
        """The request pushed as ``request_uri`` by ``client_id``, used up; raises
        :class:`RequestObjectError` (``invalid_request_uri``) when it is unknown, used,
        expired or another client's (then it stays for its own client)."""
        pushed = self.by_uri.get(request_uri)
        if pushed is None:
            raise RequestObjectError(
                "The request_uri is unknown or has been used.", "invalid_request_uri"
            )
        if not secrets.compare_digest(pushed.client_id.encode(), client_id.encode()):
            raise RequestObjectError(
                "The request_uri was pushed by another client.", "invalid_request_uri"
            )
        del self.by_uri[request_uri]
        if pushed.expires_at <= self._clock():
            raise RequestObjectError("The request_uri has expired.", "invalid_request_uri")
        return pushed

    def clear(self) -> None:
        """Forget every pushed request."""
        self.by_uri.clear()


def _segment(data: str) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
    except (binascii.Error, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _numeric(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _param(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


class RequestObjects:
    """Verifies request objects and remembers the ``jti`` of those accepted."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._jtis: dict[tuple[str, str], float] = {}

    def __repr__(self) -> str:
        return f"<RequestObjects seen={len(self._jtis)}>"

    def verify(
        self,
        request_object: str,
        *,
        client_id: str,
        jwks: Mapping[str, Any] | None,
        issuer: str,
    ) -> dict[str, str]:
        """The authorization parameters in ``request_object`` sent by ``client_id``,
        once it passes every check; :class:`RequestObjectError` otherwise."""
        from joserfc import jws
        from joserfc.errors import JoseError, SecurityWarning
        from joserfc.jwk import KeySet

        if len(request_object) > MAX_REQUEST_OBJECT_CHARS:
            raise RequestObjectError("The request object is too large.")
        parts = request_object.split(".")
        if len(parts) != 3:
            raise RequestObjectError("The request object is not a signed JWT.")
        header, claims = _segment(parts[0]), _segment(parts[1])
        if not header or not claims:
            raise RequestObjectError("The request object is not a signed JWT.")
        if header.get("typ") != REQUEST_OBJECT_TYPE:
            raise RequestObjectError(f"The request object's typ must be {REQUEST_OBJECT_TYPE}.")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in REQUEST_OBJECT_ALGS:
            raise RequestObjectError("The request object's alg is not allowed.")
        if jwks is None:
            raise RequestObjectError("The client has registered no keys for request objects.")
        kid = header.get("kid")
        keys = [k for k in KeySet.import_key_set(dict(jwks)) if kid is None or k.kid in (kid, None)]  # type: ignore[arg-type]
        verified = False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SecurityWarning)
            for key in keys:
                try:
                    jws.deserialize_compact(request_object, key, algorithms=[alg])
                except (JoseError, ValueError, TypeError):
                    continue
                verified = True
                break
        if not verified:
            raise RequestObjectError("The request object's signature is invalid.")
        self._check_claims(claims, client_id=client_id, issuer=issuer)
        reserved = {"iss", "aud", "iat", "nbf", "exp", "jti", "sub"}
        return {name: _param(value) for name, value in claims.items() if name not in reserved}

    def _check_claims(self, claims: Mapping[str, Any], *, client_id: str, issuer: str) -> None:
        now = self._clock()
        if claims.get("iss") != client_id:
            raise RequestObjectError("The request object's iss must be the client_id.")
        if claims.get("client_id", client_id) != client_id:
            raise RequestObjectError("The request object's client_id is another client's.")
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if issuer not in audiences:
            raise RequestObjectError("The request object's aud must be the issuer.")
        exp, nbf, iat = claims.get("exp"), claims.get("nbf"), claims.get("iat")
        if not _numeric(exp) or exp <= now:
            raise RequestObjectError("The request object is expired or has no exp.")
        if nbf is not None and (not _numeric(nbf) or nbf > now):
            raise RequestObjectError("The request object is not valid yet.")
        start = nbf if nbf is not None else iat
        if start is not None and _numeric(start) and exp - start > MAX_REQUEST_OBJECT_LIFETIME:
            raise RequestObjectError("The request object lives too long.")
        jti = claims.get("jti")
        if jti is not None:
            if not isinstance(jti, str):
                raise RequestObjectError("The request object's jti is not a string.")
            for seen in [k for k, until in self._jtis.items() if until <= now]:
                del self._jtis[seen]
            if (client_id, jti) in self._jtis:
                raise RequestObjectError("The request object has been used before.")
            self._jtis[client_id, jti] = float(exp)
