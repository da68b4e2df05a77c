"""DPoP proofs (RFC 9449) as the generic server checks them: the ``DPoP`` header of one
request, verified against that request, the server's nonce and the ``jti`` values seen.

:class:`DPoPVerifier` owns the rules of RFC 9449 section 4.3 (one header, a ``dpop+jwt``
signed with an allowed asymmetric algorithm by the public ``jwk`` it carries, ``htm``,
``htu``, ``iat`` within a window, a ``jti`` never seen within that window, the server's
``nonce``, ``ath`` toward protected resources), the server's current nonce, and the
replay cache (bounded in size and in time). A header over :data:`MAX_DPOP_PROOF_BYTES`
is refused before anything in it is decoded. Thumbprints (RFC 7638) and ``htu``
normalisation (RFC 3986 section 6.2.2 and 6.2.3) are computed here, independently of the
client's own code, so a bug in one does not hide in the other. Time is read only
through the injected clock; nothing here does IO.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import heapq
import json
import math
import re
import secrets
import warnings
from collections.abc import Iterable
from typing import Any, TypeGuard
from urllib.parse import urlsplit, urlunsplit

import attrs

from ._toolkit import Clock, Request

__all__ = [
    "DPOP_SIGNING_ALGS",
    "MAX_DPOP_PROOF_BYTES",
    "DPoPNonceError",
    "DPoPProofError",
    "DPoPVerifier",
    "VerifiedProof",
    "jwk_thumbprint",
    "normal_htu",
    "token_hash",
]

DPOP_SIGNING_ALGS = (
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
    "Ed25519",
    "PS256",
    "PS384",
    "PS512",
    "RS256",
    "RS384",
    "RS512",
)
"""The asymmetric JWS algorithms the emulator accepts in DPoP proofs by default (never
``none`` or an HMAC algorithm)."""
MAX_DPOP_PROOF_BYTES = 8192
"""A ``DPoP`` header longer than this is refused before it is decoded."""
MAX_JTI_CHARS = 256
"""The longest ``jti`` remembered; a longer one is refused."""
REPLAY_CAPACITY = 100_000
"""How many ``jti`` values the replay cache holds within one window at most; proofs
beyond that are refused (never forgotten early, which would let one be replayed)."""

_TYPE = "dpop+jwt"
_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
_KEY_TYPES = {"EC": ("ES256", "ES384", "ES512"), "OKP": ("EdDSA", "Ed25519")}
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_THUMBPRINT_MEMBERS = {
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
    "RSA": ("e", "kty", "n"),
}
_RSA_BITS = (2048, 4096)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


class DPoPProofError(Exception):
    """A ``DPoP`` header that fails a check; its text says which (``invalid_dpop_proof``)."""


class DPoPNonceError(DPoPProofError):
    """A proof without the server's current nonce (``use_dpop_nonce``)."""


@attrs.frozen
class VerifiedProof:
    """A proof that passed every check."""

    jkt: str
    """The RFC 7638 thumbprint of the key that signed it."""
    jti: str
    """Its unique identifier."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(segment: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", segment):
        raise DPoPProofError("The proof is not base64url-encoded.")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise DPoPProofError("The proof is not base64url-encoded.") from None


def _json_object(segment: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64decode(segment))
    except (ValueError, UnicodeDecodeError):
        raise DPoPProofError(f"The proof's {what} is not JSON.") from None
    if not isinstance(value, dict):
        raise DPoPProofError(f"The proof's {what} is not a JSON object.")
    return value


def _numeric(value: object) -> TypeGuard[int | float]:
    # json.loads reads NaN and Infinity; NaN compares false with everything.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def token_hash(access_token: str) -> str:
    """The ``ath`` a proof sent with ``access_token`` must carry: base64url(SHA-256)."""
    return _b64url(hashlib.sha256(access_token.encode("utf-8")).digest())


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public ``jwk`` (EC, OKP or RSA)."""
    members = _THUMBPRINT_MEMBERS.get(jwk.get("kty", ""))
    if members is None or not all(isinstance(jwk.get(name), str) for name in members):
        raise DPoPProofError("The proof's jwk is not an EC, OKP or RSA public key.")
    canonical = json.dumps({name: jwk[name] for name in members}, separators=(",", ":"))
    return _b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def _normal_percent(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        char = chr(int(match.group(0)[1:], 16))
        return char if char in _UNRESERVED else match.group(0).upper()

    return _PERCENT.sub(one, text)


def normal_htu(url: str) -> str:
    """``url`` without query and fragment, normalised as RFC 9449 section 4.3 compares
    ``htu`` (RFC 3986 section 6.2.2 and 6.2.3): scheme and host lower-cased, the default
    port dropped, an empty path made ``/``, percent-encodings of unreserved characters
    decoded and the others upper-cased. :class:`DPoPProofError` when it is no URL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise DPoPProofError("The proof's htu is not a URL.") from None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        raise DPoPProofError("The proof's htu is not an http or https URL.")
    if ":" in host:
        host = f"[{host}]"
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    netloc = (f"{userinfo}@" if userinfo else "") + host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    return urlunsplit((scheme, netloc, _normal_percent(parts.path) or "/", "", ""))


def _public_key(alg: str, jwk: object) -> tuple[Any, str]:
    from joserfc.jwk import ECKey, OKPKey, RSAKey

    if not isinstance(jwk, dict):
        raise DPoPProofError("The proof's header has no jwk object.")
    if private := sorted(_PRIVATE_MEMBERS & set(jwk)):
        raise DPoPProofError(f"The proof's jwk holds private key members ({', '.join(private)}).")
    kty = jwk.get("kty")
    if kty == "RSA":
        allowed: tuple[str, ...] = tuple(a for a in DPOP_SIGNING_ALGS if a[:2] in ("RS", "PS"))
    else:
        allowed = _KEY_TYPES.get(kty if isinstance(kty, str) else "", ())
    if alg not in allowed:
        raise DPoPProofError(f"The proof's jwk is not a key that signs with {alg}.")
    if alg in _CURVES and jwk.get("crv") != _CURVES[alg]:
        raise DPoPProofError(f"{alg} proofs need a {_CURVES[alg]} key.")
    if kty == "OKP" and jwk.get("crv") != "Ed25519":
        raise DPoPProofError("EdDSA proofs need an Ed25519 key.")
    jkt = jwk_thumbprint(jwk)
    if kty == "RSA":
        n = _b64decode(jwk["n"]).lstrip(b"\0")
        if not _RSA_BITS[0] <= len(n) * 8 <= _RSA_BITS[1]:
            raise DPoPProofError("The proof's RSA key is not 2048 to 4096 bits.")
        e = int.from_bytes(_b64decode(jwk["e"]), "big")
        if e < 3 or e % 2 == 0 or e >= 2**32:
            raise DPoPProofError("The proof's RSA key has an unusable exponent.")
    kind = {"EC": ECKey, "OKP": OKPKey, "RSA": RSAKey}[str(kty)]
    try:
        key = kind.import_key(dict(jwk))  # type: ignore[attr-defined]
    except Exception:
        raise DPoPProofError("The proof's jwk is not a usable public key.") from None
    return key, jkt


def _registry(alg: str) -> Any:
    from joserfc.jws import JWSRegistry

    registry = JWSRegistry(algorithms=[alg], strict_check_header=False)
    # The whole header is already within MAX_DPOP_PROOF_BYTES; an RSA jwk needs more
    # than joserfc's default 512 bytes of protected header.
    registry.max_header_length = MAX_DPOP_PROOF_BYTES
    return registry


class DPoPVerifier:
    """Checks the ``DPoP`` headers of one server's requests; holds its nonce and the
    ``jti`` values seen. Its options are attributes that may change at any time."""

    def __init__(
        self,
        clock: Clock,
        *,
        algorithms: Iterable[str] = DPOP_SIGNING_ALGS,
        iat_window: float = 60,
        nonce_required: bool = False,
        nonce_rotates: bool = False,
        always_challenge: bool = False,
        replay_capacity: int = REPLAY_CAPACITY,
    ) -> None:
        self._clock = clock
        self.algorithms = tuple(algorithms)
        self.iat_window = iat_window
        """How far, in seconds, a proof's ``iat`` may be from now, either way."""
        self.nonce_required = nonce_required
        """Every proof must carry the current :attr:`nonce`."""
        self.nonce_rotates = nonce_rotates
        """A new nonce after every answer that carries one."""
        self.always_challenge = always_challenge
        """Misbehave: answer every proof with ``use_dpop_nonce`` and a new nonce."""
        self.replay_capacity = replay_capacity
        """How many ``jti`` values are remembered at most."""
        self.nonce = secrets.token_urlsafe(16)
        """The nonce proofs must carry when nonces are required."""
        self._seen: dict[str, float] = {}
        self._expiries: list[tuple[float, str]] = []

    def __repr__(self) -> str:
        return f"<DPoPVerifier algorithms={len(self.algorithms)} remembered={len(self._seen)}>"

    @property
    def algorithms(self) -> tuple[str, ...]:
        """The algorithms proofs may be signed with (some of :data:`DPOP_SIGNING_ALGS`;
        :class:`ValueError` for any other)."""
        return self._algorithms

    @algorithms.setter
    def algorithms(self, value: Iterable[str]) -> None:
        algorithms = tuple(value)
        if unknown := [alg for alg in algorithms if alg not in DPOP_SIGNING_ALGS]:
            raise ValueError(f"not an asymmetric DPoP algorithm: {', '.join(unknown)}")
        self._algorithms = algorithms

    @property
    def sends_nonce(self) -> bool:
        """Whether answers carry a ``DPoP-Nonce`` header."""
        return self.nonce_required or self.always_challenge

    def rotate_nonce(self) -> str:
        """Make a new nonce current (the old one is refused from now on); return it."""
        self.nonce = secrets.token_urlsafe(16)
        return self.nonce

    def header(self, request: Request) -> str | None:
        """The request's one ``DPoP`` header, or ``None`` when it has none."""
        value = request.headers.get("dpop")
        if value is None:
            return None
        if len(value) > MAX_DPOP_PROOF_BYTES:
            raise DPoPProofError(f"The DPoP header is over {MAX_DPOP_PROOF_BYTES} bytes.")
        if "dpop" in request.repeated or "," in value:
            raise DPoPProofError("A request carries exactly one DPoP header.")
        return value

    def verify(self, request: Request, *, access_token: str | None = None) -> VerifiedProof | None:
        """Check the request's ``DPoP`` header (``None`` when there is none); with
        ``access_token``, also its ``ath``. Raises :class:`DPoPNonceError` when it lacks
        the current nonce and :class:`DPoPProofError` for every other failure."""
        from joserfc import jws
        from joserfc.errors import JoseError

        value = self.header(request)
        if value is None:
            return None
        segments = value.strip().split(".")
        if len(segments) != 3 or not all(segments):
            raise DPoPProofError("The proof is not a signed JWT (three segments).")
        header = _json_object(segments[0], "header")
        if header.get("typ") != _TYPE:
            raise DPoPProofError(f"The proof's typ must be {_TYPE}.")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise DPoPProofError(f"The proof's alg must be one of {' '.join(self.algorithms)}.")
        key, jkt = _public_key(alg, header.get("jwk"))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                jws.deserialize_compact(value.strip(), key, registry=_registry(alg))
        except (JoseError, ValueError, TypeError):
            raise DPoPProofError("The proof's signature does not verify with its jwk.") from None
        claims = _json_object(segments[1], "claims")
        self._check_claims(request, claims, access_token)
        jti = claims["jti"]
        self._remember(jti, float(claims["iat"]))
        return VerifiedProof(jkt=jkt, jti=jti)

    def _check_claims(
        self, request: Request, claims: dict[str, Any], access_token: str | None
    ) -> None:
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_CHARS:
            raise DPoPProofError(f"The proof needs a jti of 1 to {MAX_JTI_CHARS} characters.")
        if claims.get("htm") != request.method:
            raise DPoPProofError(f"The proof's htm is not {request.method}.")
        htu = claims.get("htu")
        if not isinstance(htu, str) or normal_htu(htu) != normal_htu(request.base + request.path):
            raise DPoPProofError("The proof's htu is not this request's URL.")
        iat, now = claims.get("iat"), self._clock()
        if not _numeric(iat) or abs(now - iat) > self.iat_window:
            raise DPoPProofError(f"The proof's iat is not within {self.iat_window:g} s of now.")
        if access_token is not None:
            ath = claims.get("ath")
            if not isinstance(ath, str) or not secrets.compare_digest(
                ath.encode(), token_hash(access_token).encode()
            ):
                raise DPoPProofError("The proof's ath is not the hash of the access token.")
        self._prune(now)
        if jti in self._seen:
            raise DPoPProofError("The proof's jti has been used before.")
        if self.always_challenge:
            self.rotate_nonce()
            raise DPoPNonceError("The proof must carry the server's new nonce.")
        if self.nonce_required:
            nonce = claims.get("nonce")
            if not isinstance(nonce, str) or not secrets.compare_digest(
                nonce.encode(), self.nonce.encode()
            ):
                raise DPoPNonceError("The proof must carry the server's current nonce.")
        if len(self._seen) >= self.replay_capacity:
            raise DPoPProofError("Too many proofs within the window; try again later.")

    def _prune(self, now: float) -> None:
        expiries = self._expiries
        while expiries and expiries[0][0] < now:
            _, jti = heapq.heappop(expiries)
            self._seen.pop(jti, None)

    def _remember(self, jti: str, iat: float) -> None:
        # A proof is acceptable while now is within iat_window of its iat.
        until = iat + self.iat_window
        self._seen[jti] = until
        heapq.heappush(self._expiries, (until, jti))

    def forget(self) -> None:
        """Forget every ``jti`` seen."""
        self._seen.clear()
        self._expiries.clear()
