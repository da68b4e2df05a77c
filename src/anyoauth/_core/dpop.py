"""DPoP proofs (RFC 9449), sans-IO: the key a client proves possession of, and the
signed proof JWT that goes with one request.

:class:`DPoPKey` holds the private key (generated, or the user's) and its public JWK and
thumbprint (``jkt``, RFC 7638). :meth:`DPoPKey.proof` makes the ``DPoP`` header value of
one request: a JWT of type ``dpop+jwt`` carrying the public key, with a fresh ``jti``,
``htm``, ``htu`` (the URL without user information, query and fragment), ``iat``, and
when given the server's ``nonce`` and ``ath`` (the hash of the access token it goes
with). Every request,
and every retry of one, gets a new proof. joserfc signs; nothing here reads a clock or
performs IO.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
from collections import OrderedDict
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import attrs

from .errors import ConfigurationError

__all__ = [
    "DPOP_ALGORITHMS",
    "DPOP_TYPE",
    "MAX_NONCE_LENGTH",
    "DPoPKey",
    "access_token_hash",
    "asks_for_nonce",
    "challenges_for_nonce",
    "htu_of",
    "origin_of",
]

DPOP_TYPE = "dpop+jwt"
"""The ``typ`` of a DPoP proof (RFC 9449 4.2)."""

DPOP_ALGORITHMS = ("ES256", "ES384", "ES512", "EdDSA", "Ed25519", "PS256", "RS256")
"""Asymmetric JWS algorithms a DPoP key may sign with (never ``none`` or HMAC)."""

_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
_compact_json = json.JSONEncoder(separators=(",", ":")).encode
_JTI_BYTES = 24

MAX_NONCE_LENGTH = 1024
"""The longest server nonce remembered; a longer ``DPoP-Nonce`` is ignored."""

_MAX_ORIGINS = 256
"""Servers whose latest nonce a key remembers (the least recently told is dropped)."""

# RFC 9449 8.1: nonce = 1*NQCHAR (visible ASCII but '"' and '\\').
_NONCE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
_NONCE_CHALLENGE = re.compile(r'(?i)\berror\s*=\s*"?use_dpop_nonce"?')
_DPOP_SCHEME = re.compile(r"(?i)(?:^|,)\s*dpop(?:\s|,|$)")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _host_port(netloc: str) -> str:
    """An authority without its user information: a URL's user and password never go
    on the wire, so never in a proof either."""
    return netloc.rpartition("@")[2]


def htu_of(url: str) -> str:
    """The ``htu`` of a request to ``url``: the URL without its user information,
    query and fragment."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, _host_port(parts.netloc), parts.path, "", ""))


def origin_of(url: str) -> str:
    """The origin of ``url`` (scheme, host and port, lower case): what a server nonce
    is remembered for."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{_host_port(parts.netloc).lower()}"


def asks_for_nonce(status_code: int, body: bytes) -> bool:
    """Whether an authorization server's answer is a ``use_dpop_nonce`` error
    (RFC 9449 8): HTTP 400 with that ``error`` in its JSON body."""
    if status_code != 400 or len(body) > 65536:
        return False
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return False
    return isinstance(payload, dict) and payload.get("error") == "use_dpop_nonce"


def challenges_for_nonce(status_code: int, www_authenticate: str | None) -> bool:
    """Whether a resource server's answer asks for a nonce (RFC 9449 9): HTTP 401 with
    a ``DPoP`` challenge whose ``error`` is ``use_dpop_nonce``."""
    if status_code != 401 or not www_authenticate or len(www_authenticate) > 8192:
        return False
    return bool(_DPOP_SCHEME.search(www_authenticate)) and bool(
        _NONCE_CHALLENGE.search(www_authenticate)
    )


def access_token_hash(access_token: str) -> str:
    """The ``ath`` of a proof sent with ``access_token``: base64url(SHA-256(token))."""
    return _b64url(hashlib.sha256(access_token.encode("ascii")).digest())


def _generate(algorithm: str) -> Any:
    from joserfc.jwk import ECKey, OKPKey, RSAKey

    if algorithm in _CURVES:
        return ECKey.generate_key(_CURVES[algorithm], private=True)
    if algorithm in ("EdDSA", "Ed25519"):
        return OKPKey.generate_key("Ed25519", private=True)
    return RSAKey.generate_key(2048, private=True)


def _check_algorithm(value: object) -> None:
    if value not in DPOP_ALGORITHMS:
        raise ConfigurationError(f"a DPoP key signs with one of {', '.join(DPOP_ALGORITHMS)}")


def _algorithm(_instance: object, _attribute: attrs.Attribute[str], value: str) -> None:
    _check_algorithm(value)


@attrs.frozen(repr=False)
class DPoPKey:
    """A client's DPoP key pair. Never shows its private part in a repr.

    Make one with :meth:`generate` or :meth:`load`; share one key (its private JWK) by
    every holder of a token bound to it.
    """

    algorithm: str = attrs.field(validator=_algorithm)
    """The JWS algorithm proofs are signed with."""
    _key: Any = attrs.field(alias="key")
    _public: dict[str, Any] = attrs.field(init=False, eq=False)
    _prefix: bytes = attrs.field(init=False, eq=False)
    _signer: Any = attrs.field(init=False, eq=False)
    _nonces: OrderedDict[str, str] = attrs.field(init=False, eq=False, factory=OrderedDict)
    _nonce_lock: threading.Lock = attrs.field(init=False, eq=False, factory=threading.Lock)

    def __attrs_post_init__(self) -> None:
        from . import jose

        try:
            loaded = jose.load_client_key(self._key, self.algorithm)
        except ValueError as exc:
            raise ConfigurationError(f"DPoP key: {exc}") from None
        object.__setattr__(self, "_key", loaded)
        public = dict(loaded.as_dict(private=False))
        object.__setattr__(self, "_public", public)
        # Every proof of this key has the same protected header: encoded once.
        header = {"typ": DPOP_TYPE, "alg": self.algorithm, "jwk": public}
        encoded = json.dumps(header, separators=(",", ":")).encode()
        object.__setattr__(self, "_prefix", _b64url(encoded).encode("ascii") + b".")
        from joserfc.jws import JWSRegistry

        signer = JWSRegistry.algorithms[self.algorithm]
        signer.check_key(loaded)
        object.__setattr__(self, "_signer", signer)

    def __repr__(self) -> str:
        return f"<DPoPKey {self.algorithm} jkt={self.thumbprint}>"

    @classmethod
    def generate(cls, algorithm: str = "ES256") -> DPoPKey:
        """A new key pair for ``algorithm`` (ES256 by default; P-256)."""
        _check_algorithm(algorithm)
        return cls(algorithm, key=_generate(algorithm))

    @classmethod
    def load(cls, key: Any, algorithm: str = "ES256") -> DPoPKey:
        """The key pair of ``key``: a private JWK dict, PEM text or bytes, or a joserfc
        key, that fits ``algorithm``; :class:`ConfigurationError` otherwise."""
        return cls(algorithm, key=key)

    @property
    def public_jwk(self) -> dict[str, Any]:
        """The public key as a JWK (what every proof carries in its header)."""
        return dict(self._public)

    @property
    def thumbprint(self) -> str:
        """The key's JWK SHA-256 thumbprint (RFC 7638): the ``jkt`` a bound token names
        and the authorization request's ``dpop_jkt``."""
        thumbprint: str = self._key.thumbprint()
        return thumbprint

    def private_jwk(self) -> dict[str, Any]:
        """The private key as a JWK, for sharing it with the other holders of a token
        bound to it (store it as a secret)."""
        return dict(self._key.as_dict(private=True))

    def nonce_for(self, url: str) -> str | None:
        """The latest nonce the server of ``url`` gave (its ``DPoP-Nonce`` header), if any."""
        return self._nonces.get(origin_of(url))

    def remember_nonce(self, url: str, nonce: str) -> None:
        """Remember ``nonce``, which the server of ``url`` sent in a ``DPoP-Nonce``
        header, for the next proofs to that server (origin). A value that is not a
        nonce (RFC 9449 8.1: visible ASCII but ``"`` and ``\\``, at most
        :data:`MAX_NONCE_LENGTH` characters) is ignored. Thread-safe; a key remembers the
        nonces of its 256 most recent servers."""
        if not isinstance(nonce, str) or len(nonce) > MAX_NONCE_LENGTH:
            return
        if not _NONCE.fullmatch(nonce):
            return
        origin = origin_of(url)
        with self._nonce_lock:
            self._nonces[origin] = nonce
            self._nonces.move_to_end(origin)
            while len(self._nonces) > _MAX_ORIGINS:
                self._nonces.popitem(last=False)

    def proof(
        self,
        method: str,
        url: str,
        *,
        now: float,
        nonce: str | None = None,
        access_token: str | None = None,
    ) -> str:
        """The ``DPoP`` header value of a ``method`` request to ``url`` made at ``now``:
        a new proof (fresh ``jti``) with the server's ``nonce`` when it asked for one and
        ``ath`` when it goes with ``access_token``."""
        claims: dict[str, Any] = {
            "jti": _b64url(secrets.token_bytes(_JTI_BYTES)),
            "htm": method.upper(),
            "htu": htu_of(url),
            "iat": int(now),
        }
        if nonce is not None:
            claims["nonce"] = nonce
        if access_token is not None:
            claims["ath"] = access_token_hash(access_token)
        payload = _compact_json(claims).encode()
        signing_input = self._prefix + _b64url(payload).encode("ascii")
        signature = self._signer.sign(signing_input, self._key)
        return f"{signing_input.decode('ascii')}.{_b64url(signature)}"
