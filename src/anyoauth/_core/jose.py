"""Sans-IO JOSE helpers: client authentication assertions and ID token validation.

Built on `joserfc <https://jose.authlib.org/>`_ keys and signature algorithms.
Every function takes the current time as ``now`` (seconds since the epoch); none
reads a clock, and none performs IO: fetching a JWKS document is the caller's job
(:func:`jwks_from_response` validates what was fetched).

* :func:`client_assertion` builds the signed JWT of ``private_key_jwt`` and
  ``client_secret_jwt`` client authentication (RFC 7523, OpenID Connect Core 9);
  :func:`load_client_key` checks a key against an algorithm once, up front.
* :func:`validate_id_token` checks an ID token as OpenID Connect Core 3.1.3.7
  asks, against keys from a JWKS document only.

Security decisions:

* Algorithms come from fixed allow-lists. ``none`` is never accepted. ID tokens
  are only accepted with asymmetric algorithms: an HMAC-signed token would have to
  be verified with a JWKS key's public bytes as the secret (key confusion).
* RSA keys must have at least 2048 bits (RFC 7518 section 3.3) and HMAC client
  secrets at least as many bytes as the hash output (RFC 7518 section 3.2: 32 for
  HS256, 48 for HS384, 64 for HS512). Shorter keys are refused with
  :class:`ValueError` rather than accepted with a warning.
* A JWKS key is only used when it is meant for signatures: ``use`` absent or
  ``"sig"``, ``key_ops`` absent or containing ``"verify"``, ``alg`` absent or equal
  to the token's, the right key type and curve for the token's algorithm, and no
  private or symmetric key material (a key whose secret half is published
  proves nothing).
* A key set costs bounded work: at most :data:`MAX_JWKS_KEYS` entries, each key
  imported once per process (imports are cached by the key's JSON), and an ID token
  is checked only against the entries with its ``kid`` (without one, the entries of
  the right type, curve and ``alg``), and against at most
  :data:`MAX_KEYS_TRIED` of them. The key that verified is remembered for the key
  set and ``kid``, so a later token signed with it costs one verification.
* RSA keys must have an odd public exponent from 3 to 2**32 - 1 and at most 8192
  bits: RFC 8017 allows any exponent below the modulus, but a large one makes every
  verification as slow as a private-key operation (real JWKS keys use 65537), and a
  16384-bit key costs milliseconds per verification. EC keys must be on P-256,
  P-384 or P-521 (the curves of ES256/ES384/ES512). Other keys are skipped.
* Error messages name the failed check, the expected issuer or an algorithm,
  never a token, a nonce, a secret or key material.

joserfc is imported on first use, not at import time: it pulls in
``cryptography.x509``, which loads the socket module, and the core must import
no IO library.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hashlib
import hmac
import json
import math
import secrets
from collections import OrderedDict
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any, NoReturn, TypeAlias

from .errors import InvalidIdToken

if TYPE_CHECKING:
    from joserfc.jwa import JWSAlgModel
    from joserfc.jwk import Key

__all__ = [
    "CLIENT_SECRET_JWT_ALGORITHMS",
    "DEFAULT_ID_TOKEN_ALGORITHMS",
    "ID_TOKEN_ALGORITHMS",
    "MAX_JWKS_KEYS",
    "MAX_KEYS_TRIED",
    "PRIVATE_KEY_JWT_ALGORITHMS",
    "ClientKey",
    "client_assertion",
    "jwks_from_response",
    "load_client_key",
    "sign_compact",
    "validate_id_token",
]

_RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_EC_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
# "EdDSA" (RFC 8037) names no curve; "Ed25519" and "Ed448" (RFC 9864) name theirs.
_OKP_CURVES = {
    "EdDSA": frozenset({"Ed25519", "Ed448"}),
    "Ed25519": frozenset({"Ed25519"}),
    "Ed448": frozenset({"Ed448"}),
}
# HMAC algorithm -> minimum key length in bytes (the hash output size).
_HMAC_KEY_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}

PRIVATE_KEY_JWT_ALGORITHMS: frozenset[str] = frozenset(
    _RSA_ALGORITHMS | _EC_CURVES.keys() | _OKP_CURVES.keys()
)
"""Algorithms accepted for ``private_key_jwt`` client assertions."""

CLIENT_SECRET_JWT_ALGORITHMS: frozenset[str] = frozenset(_HMAC_KEY_BYTES)
"""Algorithms accepted for ``client_secret_jwt`` client assertions."""

ID_TOKEN_ALGORITHMS: frozenset[str] = PRIVATE_KEY_JWT_ALGORITHMS
"""Every algorithm :func:`validate_id_token` can be allowed to accept (asymmetric only)."""

DEFAULT_ID_TOKEN_ALGORITHMS: tuple[str, ...] = ("RS256", "PS256", "ES256", "EdDSA")
"""The algorithms :func:`validate_id_token` accepts unless told otherwise."""

MAX_JWKS_KEYS = 100
"""The most entries a JWKS document may hold. Providers publish a handful of keys;
a larger set is refused (:class:`~anyoauth.InvalidIdToken`) rather than parsed and imported."""

MAX_KEYS_TRIED = 3
"""The most JWKS keys one ID token check imports and verifies the signature with.

OpenID Connect Core 10.1 asks for a ``kid`` whenever a key set holds several keys,
so a token names its key; several entries with one ``kid`` (a rotation published
twice) are rare. Only the first candidates in key-set order are tried, the key
that last verified for the same key set and ``kid`` first."""

ClientKey: TypeAlias = "Mapping[str, Any] | str | bytes | Key"
"""A client's signing key: a private JWK (dict), PEM bytes or text of a private
RSA, EC or Ed25519/Ed448 key, a joserfc key, or, for ``client_secret_jwt``, the
client secret (text or bytes)."""

# Members that only a private or symmetric JWK has.
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_MIN_RSA_BITS = 2048
_MAX_RSA_BITS = 8192
# Public exponents allowed in JWKS keys: odd, from 3 to 2**32 - 1 (65537 in practice).
_MAX_RSA_EXPONENT = 2**32
_JWKS_CURVES = frozenset(_EC_CURVES.values())
# An ID token is a few kilobytes; anything this large is not one.
_MAX_TOKEN_CHARS = 64 * 1024
# Things that look like asymmetric keys must never be used as HMAC secrets.
_KEY_MARKERS = (
    b"-----BEGIN ",
    b"---- BEGIN ",
    b"ssh-rsa ",
    b"ssh-dss ",
    b"ssh-ed25519 ",
    b"ecdsa-sha2-",
)
_B64URL_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


# -- small helpers -------------------------------------------------------------------


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(segment: str) -> bytes:
    """Strict, canonical base64url without padding (RFC 7515 section 2)."""
    raw = segment.encode("ascii", "strict")
    if not set(raw) <= _B64URL_ALPHABET or len(raw) % 4 == 1:
        raise ValueError("not base64url")
    try:
        data = base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
    except binascii.Error:
        raise ValueError("not base64url") from None
    if _b64url_encode(data) != segment:
        raise ValueError("not canonical base64url")
    return data


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"JSON constant {name} is not allowed")


def _json_object(data: bytes) -> dict[str, Any]:
    """Parse strict JSON (no NaN/Infinity) that must be an object."""
    value = json.loads(data, parse_constant=_reject_constant)
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def _clip(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_time(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number")


def _alg_model(algorithm: str) -> JWSAlgModel:
    # Importing joserfc.jws registers every JWS algorithm in JWSRegistry.algorithms.
    # The models are used directly rather than through a registry, whose lookup
    # warns (SecurityWarning) on "EdDSA" and knows no allow-list of ours.
    from joserfc.jws import JWSRegistry

    return JWSRegistry.algorithms[algorithm]


def _key_fits(key: Key, algorithm: str) -> bool:
    """Whether ``key`` is of the type (and curve) ``algorithm`` needs, and allowed for it."""
    from joserfc.errors import JoseError
    from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey

    try:
        if algorithm in _RSA_ALGORITHMS:
            fits = isinstance(key, RSAKey)
        elif algorithm in _EC_CURVES:
            fits = isinstance(key, ECKey) and key.curve_name == _EC_CURVES[algorithm]
        elif algorithm in _OKP_CURVES:
            fits = isinstance(key, OKPKey) and key.curve_name in _OKP_CURVES[algorithm]
        else:
            fits = isinstance(key, OctKey) and algorithm in _HMAC_KEY_BYTES
        if not fits or key.get("alg") not in (None, algorithm):
            return False
        _alg_model(algorithm).check_key(key)  # "use" must allow signatures
    except (JoseError, KeyError, ValueError):  # KeyError: a curve JOSE has no name for
        return False
    return True


def _rsa_bits(modulus: object) -> int:
    if not isinstance(modulus, str):
        raise ValueError("RSA modulus is not a string")
    return int.from_bytes(_b64url_decode(modulus), "big").bit_length()


def _rsa_public_ok(entry: Mapping[str, Any]) -> bool:
    """Whether an RSA JWK's modulus and exponent are of a size that verifies cheaply:
    2048 to 8192 bits, and an odd exponent from 3 to 2**32 - 1."""
    exponent = entry.get("e")
    # 2**32 - 1 is 6 base64url characters; 8 allow leading zero bytes, no more is decoded.
    if not isinstance(exponent, str) or len(exponent) > 8:
        return False
    e = int.from_bytes(_b64url_decode(exponent), "big")
    return (
        3 <= e < _MAX_RSA_EXPONENT
        and e % 2 == 1
        and (_MIN_RSA_BITS <= _rsa_bits(entry.get("n")) <= _MAX_RSA_BITS)
    )


# -- client authentication assertions ------------------------------------------------


def _check_assertion_algorithm(algorithm: object) -> str:
    if isinstance(algorithm, str) and (
        algorithm in PRIVATE_KEY_JWT_ALGORITHMS or algorithm in CLIENT_SECRET_JWT_ALGORITHMS
    ):
        return algorithm
    if isinstance(algorithm, str) and algorithm.lower() == "none":
        raise ValueError(
            "the 'none' algorithm cannot authenticate a client; use one of "
            f"{sorted(PRIVATE_KEY_JWT_ALGORITHMS | CLIENT_SECRET_JWT_ALGORITHMS)}"
        )
    raise ValueError(
        f"unsupported client assertion algorithm {_clip(algorithm)}; private_key_jwt takes "
        f"{sorted(PRIVATE_KEY_JWT_ALGORITHMS)}, client_secret_jwt takes "
        f"{sorted(CLIENT_SECRET_JWT_ALGORITHMS)}"
    )


def _load_secret(key: object, algorithm: str) -> Key:
    from joserfc.errors import JoseError
    from joserfc.jwk import OctKey

    if isinstance(key, OctKey):
        raw = key.raw_value
    elif isinstance(key, str):
        raw = key.encode("utf-8")
    elif isinstance(key, bytes):
        raw = key
    elif isinstance(key, Mapping) and key.get("kty") == "oct":
        secret_b64 = key.get("k")
        try:
            raw = _b64url_decode(secret_b64) if isinstance(secret_b64, str) else b""
        except ValueError:
            raise ValueError("the oct JWK's 'k' is not base64url") from None
    else:
        raise ValueError(
            f"{algorithm} (client_secret_jwt) signs with the client secret (a string), "
            "not with an asymmetric key; use an RS/PS/ES/EdDSA algorithm for private_key_jwt"
        )
    # Checked here so that joserfc never gets to warn (SecurityWarning) about them.
    if any(marker in raw for marker in _KEY_MARKERS):
        raise ValueError(
            f"{algorithm} needs the client secret, but this looks like a PEM or SSH key; "
            "use an RS/PS/ES/EdDSA algorithm for private_key_jwt"
        )
    minimum = _HMAC_KEY_BYTES[algorithm]
    if len(raw) < minimum:
        raise ValueError(
            f"{algorithm} needs a client secret of at least {minimum} bytes "
            "(RFC 7518 section 3.2); this one is shorter"
        )
    if isinstance(key, OctKey):
        return key
    try:
        return OctKey.import_key(dict(key) if isinstance(key, Mapping) else raw)
    except (JoseError, ValueError, TypeError):
        raise ValueError(f"the client secret cannot be used with {algorithm}") from None


def _load_private_key(key: object, algorithm: str) -> Key:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    from joserfc.errors import JoseError
    from joserfc.jwk import ECKey, JWKRegistry, OctKey, OKPKey, RSAKey

    loaded: Key
    if isinstance(key, (RSAKey, ECKey, OKPKey)):
        loaded = key
    elif isinstance(key, OctKey) or (isinstance(key, Mapping) and key.get("kty") == "oct"):
        raise ValueError(f"{algorithm} needs a private key, not a symmetric (oct) key")
    elif isinstance(key, Mapping):
        data = dict(key)
        kty = data.get("kty")
        if kty not in ("RSA", "EC", "OKP"):
            raise ValueError(f"the JWK's kty {_clip(kty)} is not RSA, EC or OKP")
        # Checked before joserfc imports it, which would warn about a short key.
        try:
            weak = kty == "RSA" and _rsa_bits(data.get("n")) < _MIN_RSA_BITS
        except ValueError:
            raise ValueError("cannot load the private JWK: its 'n' is malformed") from None
        if weak:
            raise ValueError(f"RSA keys must have at least {_MIN_RSA_BITS} bits")
        try:
            loaded = JWKRegistry.import_key(data, str(kty))
        except (JoseError, ValueError, TypeError, KeyError, UnsupportedAlgorithm):
            raise ValueError("cannot load the private JWK: it is malformed") from None
    elif isinstance(key, (str, bytes)):
        pem = key.encode("utf-8") if isinstance(key, str) else key
        if b"-----BEGIN" not in pem:
            raise ValueError(
                f"{algorithm} needs a private key (a JWK dict or a PEM private key); "
                "a client secret goes with HS256/HS384/HS512"
            )
        try:
            native = load_pem_private_key(pem, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise ValueError(
                "cannot load the PEM private key (it must be an unencrypted PKCS#8 or "
                "traditional RSA/EC private key)"
            ) from None
        if isinstance(native, rsa.RSAPrivateKey):
            if native.key_size < _MIN_RSA_BITS:
                raise ValueError(f"RSA keys must have at least {_MIN_RSA_BITS} bits")
            loaded = RSAKey.import_key(native)
        elif isinstance(native, ec.EllipticCurvePrivateKey):
            loaded = ECKey.import_key(native)
        elif isinstance(native, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
            loaded = OKPKey.import_key(native)
        else:
            raise ValueError("the PEM key is not an RSA, EC, Ed25519 or Ed448 private key")
    else:
        raise ValueError(
            f"unsupported key for {algorithm}: expected a JWK dict, a PEM private key "
            "or a joserfc key"
        )

    if not loaded.is_private:
        raise ValueError(f"{algorithm} needs a private key; this is a public key")
    if isinstance(loaded, RSAKey) and loaded.public_key.key_size < _MIN_RSA_BITS:
        raise ValueError(f"RSA keys must have at least {_MIN_RSA_BITS} bits")
    return loaded


def load_client_key(key: ClientKey, algorithm: str) -> Key:
    """Check that ``key`` can sign client assertions with ``algorithm``; return it loaded.

    Call it once when configuring a client (so a bad key fails early), then pass the
    result to :func:`client_assertion`.

    ``algorithm`` must be one of :data:`PRIVATE_KEY_JWT_ALGORITHMS` (then ``key`` is
    a private JWK dict, PEM of an unencrypted private key, or a joserfc
    ``RSAKey``/``ECKey``/``OKPKey``) or :data:`CLIENT_SECRET_JWT_ALGORITHMS` (then
    ``key`` is the client secret as text or bytes, an ``oct`` JWK or an ``OctKey``).

    Raises :class:`ValueError` for ``none`` or any other algorithm, a key that does
    not fit the algorithm (type, curve, ``use``, ``alg``, ``key_ops``), a public key,
    an RSA key under 2048 bits, or a client secret shorter than the hash output.
    """
    checked = _check_assertion_algorithm(algorithm)
    if checked in CLIENT_SECRET_JWT_ALGORITHMS:
        loaded = _load_secret(key, checked)
    else:
        loaded = _load_private_key(key, checked)
    if not _key_fits(loaded, checked):
        raise ValueError(f"the key does not fit {checked} (wrong key type, curve, use or alg)")
    key_ops = loaded.get("key_ops")
    if key_ops is not None and "sign" not in key_ops:
        raise ValueError("the JWK's key_ops does not allow 'sign'")
    return loaded


def client_assertion(
    *,
    client_id: str,
    audience: str,
    key: ClientKey,
    algorithm: str,
    now: float,
    lifetime: float = 60.0,
    jti: str | None = None,
) -> str:
    """Build a client authentication JWT (RFC 7523 section 3, OpenID Connect Core 9).

    The claims are ``iss`` and ``sub`` (both ``client_id``), ``aud`` (``audience``:
    the token endpoint URL, or the issuer where the provider asks for it), ``iat``
    (``now``), ``exp`` (``now + lifetime``) and ``jti`` (random unless given). The
    header carries ``alg``, ``typ: JWT`` and the key's ``kid`` when it has one.

    Send the result as ``client_assertion`` with ``client_assertion_type``
    ``urn:ietf:params:oauth:client-assertion-type:jwt-bearer``.

    ``key`` and ``algorithm`` are checked as by :func:`load_client_key`; every
    problem raises :class:`ValueError`.
    """
    loaded = load_client_key(key, algorithm)
    if not isinstance(client_id, str) or not client_id:
        raise ValueError("client_id must be a non-empty string")
    if not isinstance(audience, str) or not audience:
        raise ValueError("audience must be a non-empty string")
    _check_time("now", now)
    _check_time("lifetime", lifetime)
    if lifetime <= 0:
        raise ValueError("lifetime must be positive")
    if jti is None:
        jti = secrets.token_urlsafe(32)
    elif not isinstance(jti, str) or not jti:
        raise ValueError("jti must be a non-empty string")

    header: dict[str, str] = {"alg": algorithm, "typ": "JWT"}
    if loaded.kid:
        header["kid"] = loaded.kid
    issued_at = math.floor(now)
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": issued_at,
        "exp": issued_at + max(1, math.floor(lifetime)),
        "jti": jti,
    }
    return sign_compact(header, claims, loaded, algorithm)


def sign_compact(
    header: Mapping[str, Any], claims: Mapping[str, Any], key: Key, algorithm: str
) -> str:
    """The JWS compact serialisation of ``claims`` under ``header``, signed with ``key``
    (already loaded and checked for ``algorithm``, see :func:`load_client_key`)."""
    signing_input = (
        _b64url_encode(json.dumps(header, separators=(",", ":")).encode("utf-8"))
        + "."
        + _b64url_encode(json.dumps(claims, separators=(",", ":")).encode("utf-8"))
    )
    signature = _alg_model(algorithm).sign(signing_input.encode("ascii"), key)
    return f"{signing_input}.{_b64url_encode(signature)}"


# -- JWKS ----------------------------------------------------------------------------


def _canonical(entry: object) -> str | None:
    """A JWKS entry's canonical JSON (the key of the import cache), or ``None``."""
    if not isinstance(entry, dict) or not all(isinstance(name, str) for name in entry):
        return None
    try:
        return json.dumps(entry, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return None


def _public_key(entry: object) -> Key | None:
    """Import one JWKS entry as a signature verification key, or ``None`` to skip it.

    Imports are cached by the entry's canonical JSON: an unchanged key is imported
    once, however often its key set is fetched or used.
    """
    canonical = _canonical(entry)
    return None if canonical is None else _imported_key(canonical)


@functools.lru_cache(maxsize=2 * MAX_JWKS_KEYS + 56)
def _imported_key(canonical: str) -> Key | None:
    """:func:`_public_key` of the entry whose canonical JSON is ``canonical``."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from joserfc.errors import JoseError
    from joserfc.jwk import JWKRegistry

    entry = json.loads(canonical)
    kty = entry.get("kty")
    if kty not in ("RSA", "EC", "OKP"):
        return None  # unknown types are ignored (RFC 7517 section 5); oct is never used
    if _PRIVATE_MEMBERS & entry.keys():
        return None
    if entry.get("use", "sig") != "sig":
        return None
    key_ops = entry.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        return None
    if kty == "OKP" and entry.get("crv") not in ("Ed25519", "Ed448"):
        return None  # X25519/X448 are key agreement keys
    if kty == "EC" and entry.get("crv") not in _JWKS_CURVES:
        return None  # no allowed algorithm uses another curve
    try:
        if kty == "RSA" and not _rsa_public_ok(entry):
            return None
        key = JWKRegistry.import_key(entry, str(kty))
    except (JoseError, ValueError, TypeError, KeyError, AttributeError, UnsupportedAlgorithm):
        return None
    return key


def _may_fit(entry: object, algorithm: str) -> bool:
    """Whether a JWKS entry's ``kty``, ``crv`` and ``alg`` allow ``algorithm`` (checked
    before the key is imported; :func:`_key_fits` checks the imported key)."""
    if not isinstance(entry, dict) or entry.get("alg") not in (None, algorithm):
        return False
    kty, crv = entry.get("kty"), entry.get("crv")
    if algorithm in _RSA_ALGORITHMS:
        return kty == "RSA"
    if algorithm in _EC_CURVES:
        return kty == "EC" and crv == _EC_CURVES[algorithm]
    if algorithm in _OKP_CURVES:
        return kty == "OKP" and crv in _OKP_CURVES[algorithm]
    return False


def _entries(jwks: Mapping[str, Any]) -> list[Any]:
    """The ``keys`` of a JWKS document (none if it has no list); too many raise."""
    entries = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(entries, list):
        return []
    if len(entries) > MAX_JWKS_KEYS:
        raise InvalidIdToken(f"the JWKS document has more than {MAX_JWKS_KEYS} keys")
    return entries


def jwks_from_response(status_code: int, content_type: str | None, body: bytes) -> dict[str, Any]:
    """Validate a JWKS endpoint answer and return the usable part of the key set.

    The answer must be a 2xx with a JSON object body holding a ``keys`` list. The
    content type is not enforced (JWKS documents are often served as
    ``application/jwk-set+json``, ``text/plain`` or ``application/octet-stream``);
    the strict JSON parse is the check, and the content type only helps the
    error message.

    Entries that cannot verify ID token signatures are dropped, as RFC 7517
    section 5 allows: unknown or symmetric key types, ``use`` other than ``"sig"``,
    ``key_ops`` without ``"verify"``, malformed keys, RSA keys under 2048 or over
    8192 bits or with a public exponent that is even, below 3 or at least 2**32, EC
    keys on curves other than P-256, P-384 and P-521, X25519/X448 keys, and keys
    carrying private members. The returned document is
    ``{"keys": [...]}`` with the kept entries, as given.

    Raises :class:`~anyoauth.InvalidIdToken` for an error status, a body that is not such a
    JSON object, more than :data:`MAX_JWKS_KEYS` entries, or when no usable signing
    key remains. Each key is imported once per process (see :data:`MAX_JWKS_KEYS`);
    the caller caps the body size.
    """
    media_type = (content_type or "").split(";", 1)[0].strip().lower() or "no content type"
    if not 200 <= status_code < 300:
        raise InvalidIdToken(f"JWKS endpoint answered HTTP {status_code}")
    try:
        document = _json_object(body)
    except RecursionError:
        raise InvalidIdToken("JWKS document is JSON nested too deeply") from None
    except ValueError:
        raise InvalidIdToken(f"JWKS document is not a JSON object ({media_type})") from None
    if not isinstance(document.get("keys"), list):
        raise InvalidIdToken("JWKS document has no 'keys' list")
    entries = _entries(document)
    kept = [dict(entry) for entry in entries if _public_key(entry) is not None]
    if not kept:
        raise InvalidIdToken("JWKS document has no usable signature verification key")
    return {"keys": kept}


# -- ID token validation -------------------------------------------------------------


def _split_token(
    id_token: object, what: str = "id_token"
) -> tuple[dict[str, Any], bytes, bytes, bytes]:
    """Return (header, signing input, payload, signature) of a compact JWS (``what``
    names it in errors)."""
    if not isinstance(id_token, str):
        raise InvalidIdToken(f"{what} is not a string")
    if len(id_token) > _MAX_TOKEN_CHARS:
        raise InvalidIdToken(f"{what} is too large")
    parts = id_token.split(".")
    if len(parts) != 3:
        raise InvalidIdToken(
            f"{what} is not a compact JWS (three dot-separated parts); "
            "encrypted ID tokens are not supported"
        )
    header_b64, payload_b64, signature_b64 = parts
    try:
        header = _json_object(_b64url_decode(header_b64))
        payload = _b64url_decode(payload_b64)
        signature = _b64url_decode(signature_b64)
    except (ValueError, RecursionError):
        raise InvalidIdToken(f"{what} is not a well-formed compact JWS") from None
    signing_input = f"{header_b64}.{payload_b64}".encode("ascii")
    return header, signing_input, payload, signature


# (algorithm, kid, digest of the candidate entries) -> canonical JSON of the entry whose
# key last verified a token for them: a later token with that kid is verified once.
_chosen: OrderedDict[tuple[str, str | None, bytes], str] = OrderedDict()
_MAX_CHOSEN = 256


def _candidates(
    header: Mapping[str, Any], jwks: Mapping[str, Any], algorithm: str, what: str = "id_token"
) -> tuple[str | None, list[str]]:
    """The ``kid`` of the header and the canonical JSON of the ``jwks`` entries that
    may have signed a token with it, in key-set order: the entries with its ``kid``
    (or, without one, all) whose type, curve and ``alg`` allow ``algorithm``. Nothing
    is imported here."""
    entries = _entries(jwks)
    kid: str | None = None
    if "kid" in header:
        kid = header["kid"]
        if not isinstance(kid, str):
            raise InvalidIdToken(f"{what} header kid is not a string")
        entries = [entry for entry in entries if _kid_of(entry) == kid]
        if not entries:
            raise InvalidIdToken(f"no JWKS key has the {what}'s kid {_clip(kid)}", unknown_key=True)
        fitting = [entry for entry in entries if _may_fit(entry, algorithm)]
        if not fitting:
            raise InvalidIdToken(f"the JWKS key with the {what}'s kid does not fit {algorithm}")
    else:
        fitting = [entry for entry in entries if _may_fit(entry, algorithm)]
    return kid, [canonical for canonical in map(_canonical, fitting) if canonical is not None]


def _kid_of(entry: object) -> object:
    return entry.get("kid") if isinstance(entry, dict) else None


def _verify(
    algorithm: str,
    signing_input: bytes,
    signature: bytes,
    header: Mapping[str, Any],
    jwks: Mapping[str, Any],
    what: str = "id_token",
) -> Key:
    """Verify the signature with at most :data:`MAX_KEYS_TRIED` keys of ``jwks``:
    the key that verified last for the same candidates first, then the others in
    key-set order. Entries that cannot be used are skipped and not counted."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from joserfc.errors import JoseError

    kid, candidates = _candidates(header, jwks, algorithm, what)
    digest = hashlib.sha256("\n".join(candidates).encode("utf-8", "surrogatepass")).digest()
    choice = (algorithm, kid, digest)
    chosen = _chosen.get(choice)
    if chosen is not None and chosen in candidates:
        candidates.remove(chosen)
        candidates.insert(0, chosen)
    model = _alg_model(algorithm)
    tried = 0
    for canonical in candidates:
        if tried == MAX_KEYS_TRIED:
            break
        key = _imported_key(canonical)
        if key is None or not _key_fits(key, algorithm):
            continue
        tried += 1
        try:
            verified = model.verify(signing_input, signature, key)
        except (JoseError, ValueError, TypeError, UnsupportedAlgorithm):
            continue
        if verified:
            _chosen[choice] = canonical
            _chosen.move_to_end(choice)
            if len(_chosen) > _MAX_CHOSEN:
                with contextlib.suppress(KeyError):
                    _chosen.popitem(last=False)
            return key
    if tried == 0 and kid is not None:
        raise InvalidIdToken(
            f"no usable JWKS key has the {what}'s kid {_clip(kid)}", unknown_key=True
        )
    if tried == 0:
        raise InvalidIdToken(
            f"no JWKS key fits the {what}'s algorithm {algorithm}", unknown_key=True
        )
    raise InvalidIdToken(f"{what} signature verification failed")


def _at_hash(access_token: str, algorithm: str, key: Key) -> str:
    """The ``at_hash`` of ``access_token`` (OpenID Connect Core 3.1.3.6)."""
    data = access_token.encode("utf-8", "surrogatepass")
    if algorithm[-3:] in ("256", "384", "512"):
        digest = hashlib.new(f"sha{algorithm[-3:]}", data).digest()
    elif key.get("crv") == "Ed448":
        digest = hashlib.shake_256(data).digest(114)
    else:  # Ed25519 hashes with SHA-512
        digest = hashlib.sha512(data).digest()
    return _b64url_encode(digest[: len(digest) // 2])


def _numeric_claim(claims: Mapping[str, Any], name: str) -> float | None:
    if name not in claims:
        return None
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidIdToken(f"id_token {name} is not a number")
    try:
        number = float(value)
    except OverflowError:
        raise InvalidIdToken(f"id_token {name} is not a usable number") from None
    if not math.isfinite(number):
        raise InvalidIdToken(f"id_token {name} is not a usable number")
    return number


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(
        a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass")
    )


def _check_claims(
    claims: Mapping[str, Any],
    *,
    issuer: str,
    client_id: str,
    now: float,
    nonce: str | None,
    leeway: float,
) -> None:
    if claims.get("iss") != issuer:
        raise InvalidIdToken(f"id_token iss is not the expected issuer {issuer!r}")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise InvalidIdToken("id_token has no sub")

    aud = claims.get("aud")
    if isinstance(aud, str):
        audiences = [aud]
    elif isinstance(aud, list) and aud and all(isinstance(a, str) for a in aud):
        audiences = aud
    else:
        raise InvalidIdToken("id_token aud is missing or malformed")
    if client_id not in audiences:
        raise InvalidIdToken("id_token aud does not contain this client_id")
    if "azp" in claims or len(audiences) > 1:
        if "azp" not in claims:
            raise InvalidIdToken("id_token has several audiences but no azp")
        if claims["azp"] != client_id:
            raise InvalidIdToken("id_token azp is not this client_id")

    exp = _numeric_claim(claims, "exp")
    if exp is None:
        raise InvalidIdToken("id_token has no exp")
    if now >= exp + leeway:
        raise InvalidIdToken("id_token has expired")
    iat = _numeric_claim(claims, "iat")
    if iat is None:
        raise InvalidIdToken("id_token has no iat")
    if iat > now + leeway:
        raise InvalidIdToken("id_token iat is in the future")
    nbf = _numeric_claim(claims, "nbf")
    if nbf is not None and nbf > now + leeway:
        raise InvalidIdToken("id_token is not valid yet (nbf)")

    if nonce is not None:
        claim = claims.get("nonce")
        if not isinstance(claim, str):
            raise InvalidIdToken("id_token has no nonce although one was sent")
        if not _same(claim, nonce):
            raise InvalidIdToken("id_token nonce does not match the one sent")


def validate_id_token(
    id_token: str,
    *,
    jwks: Mapping[str, Any],
    issuer: str,
    client_id: str,
    now: float,
    nonce: str | None,
    algorithms: Collection[str] = DEFAULT_ID_TOKEN_ALGORITHMS,
    leeway: float = 60.0,
    access_token: str | None = None,
) -> dict[str, Any]:
    """Validate an ID token (OpenID Connect Core 3.1.3.7) and return its claims.

    Checks, in order:

    1. ``id_token`` is a compact JWS (encrypted ID tokens are not supported) whose
       header ``alg`` is in ``algorithms``;
    2. the signature verifies with a key of ``jwks`` (a JWKS document,
       ``{"keys": [...]}``), and only with those: keys embedded in or referenced by
       the token header (``jwk``, ``jku``, ``x5c``, ``x5u``) are ignored. With a
       ``kid`` in the header only keys with that ``kid`` are tried, otherwise the
       keys of the right type and curve, and at most :data:`MAX_KEYS_TRIED` of
       them, in key-set order; the key that verified the last token with the same
       ``kid`` and key set is tried first. Keys are filtered as described in
       :func:`jwks_from_response`; a ``jwks`` of more than :data:`MAX_JWKS_KEYS`
       entries is refused, and only the entries tried are imported (once per
       process, so a second check against the same key set imports nothing);
    3. ``iss`` equals ``issuer`` exactly, ``sub`` is present;
    4. ``aud`` is ``client_id`` or a list containing it; ``azp`` must equal
       ``client_id`` when there are several audiences, and whenever it is present;
    5. ``exp`` is present and ``now < exp + leeway``; ``iat`` is present and not
       after ``now + leeway``; ``nbf``, if present, is not after ``now + leeway``;
    6. if ``nonce`` is given, the ``nonce`` claim must be present and equal
       (compared in constant time). With ``nonce=None`` a ``nonce`` claim is
       accepted as is (ID tokens from refresh responses repeat the original one);
    7. if ``access_token`` is given and the token has ``at_hash``, it must match.

    ``algorithms`` may only hold asymmetric algorithms (:data:`ID_TOKEN_ALGORITHMS`);
    ``none`` or ``HS*`` there raise :class:`ValueError`, as do a non-finite ``now``
    or a negative ``leeway``. A failed check raises :class:`~anyoauth.InvalidIdToken`,
    whose ``unknown_key`` is true when no key of the JWKS can have signed the token
    (fetch the JWKS again, once, and retry).
    """
    allowed = frozenset(algorithms)
    if not allowed:
        raise ValueError("algorithms must not be empty")
    if not allowed <= ID_TOKEN_ALGORITHMS:
        raise ValueError(
            f"algorithms {sorted(allowed - ID_TOKEN_ALGORITHMS)} cannot verify ID tokens; "
            f"allowed: {sorted(ID_TOKEN_ALGORITHMS)} (never 'none' or HMAC)"
        )
    _check_time("now", now)
    _check_time("leeway", leeway)
    if leeway < 0:
        raise ValueError("leeway must not be negative")

    header, signing_input, payload, signature = _split_token(id_token)
    algorithm = header.get("alg")
    if not isinstance(algorithm, str):
        raise InvalidIdToken("id_token header has no alg")
    if algorithm not in allowed:
        raise InvalidIdToken(f"id_token alg {_clip(algorithm)} is not allowed")
    if "crit" in header or "b64" in header:
        raise InvalidIdToken("id_token uses critical header extensions, which are not supported")

    key = _verify(algorithm, signing_input, signature, header, jwks)

    try:
        claims = _json_object(payload)
    except (ValueError, RecursionError):
        raise InvalidIdToken("id_token payload is not a JSON object") from None
    _check_claims(claims, issuer=issuer, client_id=client_id, now=now, nonce=nonce, leeway=leeway)

    if access_token is not None and "at_hash" in claims:
        at_hash = claims["at_hash"]
        expected = _at_hash(access_token, algorithm, key)
        if not isinstance(at_hash, str) or not _same(at_hash, expected):
            raise InvalidIdToken("id_token at_hash does not match the access token")
    return claims
