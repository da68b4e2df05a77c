"""The emulator's generic, standards-following OAuth 2.0 / OpenID Connect server.

Authorization code with PKCE (RFC 6749, RFC 7636), implicit, refresh token rotation,
client credentials, the device authorization grant (RFC 8628), revocation (RFC 7009),
introspection (RFC 7662), metadata (RFC 8414, OpenID Connect Discovery), the ``iss``
authorization response parameter (RFC 9207), JWT client authentication (RFC 7523)
and RS256 id_tokens. :class:`ProviderEmulator` owns the state and the lock and routes
requests here; nothing in this module does IO or reads the time except through the
emulator's clock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import json
import re
import secrets
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, NoReturn, TypeGuard
from urllib.parse import parse_qsl, unquote_plus, urlsplit

import attrs

from ._emulator import (
    _NO_STORE,
    _PERSON,
    OAUTH_API_PATH,
    OAUTH_AUTHORIZE_PATH,
    OAUTH_DECISION_PATH,
    OAUTH_DEVICE_AUTHORIZATION_PATH,
    OAUTH_INTROSPECTION_PATH,
    OAUTH_JWKS_PATH,
    OAUTH_METADATA_PATH,
    OAUTH_REVOCATION_PATH,
    OAUTH_TOKEN_PATH,
    OAUTH_USERINFO_PATH,
    OAUTH_VERIFICATION_DECISION_PATH,
    OAUTH_VERIFICATION_PATH,
    OPENID_CONFIGURATION_PATH,
    EmulatorResponse,
    _b64url,
    _fail,
    _Grant,
    _json,
    _media_type,
    _oauth_error,
    _optional,
    _page,
    _redirect,
    _Request,
    _Ticket,
    _with_fragment,
    _with_query,
)

if TYPE_CHECKING:
    from joserfc.jwk import RSAKey

    from ._emulator import ProviderEmulator

__all__ = ["OAuthServer"]

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
GRANT_TYPES = frozenset(
    {"authorization_code", "implicit", "refresh_token", "client_credentials", DEVICE_GRANT}
)
AUTH_METHODS = (
    "client_secret_basic",
    "client_secret_post",
    "client_secret_jwt",
    "private_key_jwt",
    "none",
)
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
HMAC_ALGS = ("HS256", "HS384", "HS512")
KEY_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
SCOPES = ("openid", "profile", "email")
CODE_TTL = 10 * 60
SLOW_DOWN_STEP = 5
SUBJECT = "emulated-user-1"
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
_LOOPBACK = frozenset({"127.0.0.1", "::1"})
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
_Handler = Callable[[_Request], EmulatorResponse]


@attrs.frozen
class _Client:
    client_id: str
    secret: str | None = attrs.field(repr=False)
    redirect_uris: tuple[str, ...]
    grant_types: frozenset[str]
    auth_method: str
    jwks: Mapping[str, Any] | None = attrs.field(repr=False)
    require_pkce: bool
    basic_form_encoded: bool
    scopes: tuple[str, ...] | None


@attrs.frozen
class _Code:
    client_id: str
    redirect_uri: str
    redirect_uri_sent: bool
    challenge: str | None
    scope: str
    nonce: str | None
    expires_at: float
    auth_time: float
    family: str


@attrs.frozen
class _Refresh:
    client_id: str
    scope: str
    family: str
    issued_at: float
    expires_at: float | None
    auth_time: float


@attrs.define
class _Device:
    client_id: str
    scope: str
    user_code: str = attrs.field(repr=False)
    expires_at: float
    interval: int
    family: str
    last_poll: float | None = None
    status: Literal["pending", "allowed", "denied"] = "pending"
    decided_at: float = 0.0


def _new_id() -> str:
    return secrets.token_urlsafe(12)


def _token() -> str:
    return secrets.token_urlsafe(32)


def _words(scope: str | None) -> list[str]:
    return list(dict.fromkeys((scope or "").split()))


def _normal_user_code(user_code: str) -> str:
    return re.sub(r"[\s-]", "", user_code).upper()


def _same_secret(given: str, expected: str | None) -> bool:
    return expected is not None and secrets.compare_digest(given.encode(), expected.encode())


def _redirect_matches(registered: str, requested: str) -> bool:
    if registered == requested:
        return True
    # RFC 8252 section 7.3: a loopback IP redirect URI matches on any port.
    mine, theirs = urlsplit(registered), urlsplit(requested)
    try:
        _ = theirs.port  # raises on a malformed port
    except ValueError:
        return False
    return (
        mine.scheme == theirs.scheme == "http"
        and mine.hostname in _LOOPBACK
        and mine.hostname == theirs.hostname
        and theirs.username is None
        and theirs.password is None
        and (mine.path or "/") == (theirs.path or "/")
        and mine.query == theirs.query
        and not theirs.fragment
    )


def _segment(data: str) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
    except (binascii.Error, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _invalid_client(description: str, basic: bool) -> EmulatorResponse:
    challenge = (("WWW-Authenticate", 'Basic realm="emulator"'),) if basic else ()
    return _oauth_error(401, "invalid_client", description, *challenge)


def _bad(error: str, description: str, status: int = 400) -> EmulatorResponse:
    return _oauth_error(status, error, description)


def _numeric(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


class OAuthServer:
    """The generic server's clients, codes, refresh tokens and device authorizations.

    Access tokens live in the emulator's grant table (``provider="oauth"``) so that
    ``is_valid_token`` and ``revoke`` work on them. Every method runs under the
    emulator's lock.
    """

    def __init__(self, emulator: ProviderEmulator) -> None:
        self.emulator = emulator
        self.clients: dict[str, _Client] = {}
        self.codes: dict[str, _Code] = {}
        self.used_codes: dict[str, str] = {}
        self.refresh: dict[str, _Refresh] = {}
        self.spent_refresh: dict[str, str] = {}
        self.devices: dict[str, _Device] = {}
        self.user_codes: dict[str, str] = {}
        self.jtis: dict[tuple[str, str], float] = {}
        self.keys: list[RSAKey] = []

    def __repr__(self) -> str:
        return f"<OAuthServer clients={len(self.clients)}>"

    # -- registration and test controls ---------------------------------------------------

    def add_client(
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
    ) -> None:
        grants = frozenset(grant_types)
        if not client_id:
            raise ValueError("client_id must not be empty")
        if unknown := sorted(grants - GRANT_TYPES):
            raise ValueError(f"unsupported grant types: {', '.join(unknown)}")
        if auth_method not in AUTH_METHODS:
            raise ValueError(f"auth_method must be one of {', '.join(AUTH_METHODS)}")
        needs_secret = auth_method.startswith("client_secret_")
        if needs_secret and not client_secret:
            raise ValueError(f"{auth_method} needs a client_secret")
        if not needs_secret and client_secret is not None:
            raise ValueError(f"{auth_method} clients have no client_secret")
        if (auth_method == "private_key_jwt") != (jwks is not None):
            raise ValueError("jwks is needed for private_key_jwt, and only for it")
        if jwks is not None:
            self._key_set(jwks)
        uris = tuple(redirect_uris)
        if any("#" in uri for uri in uris):
            raise ValueError("redirect URIs must not have a fragment")
        self.clients[client_id] = _Client(
            client_id=client_id,
            secret=client_secret,
            redirect_uris=uris,
            grant_types=grants,
            auth_method=auth_method,
            jwks=dict(jwks) if jwks is not None else None,
            require_pkce=require_pkce,
            basic_form_encoded=basic_form_encoded,
            scopes=None if scopes is None else tuple(dict.fromkeys(scopes)),
        )

    def clear(self) -> None:
        self.codes.clear()
        self.refresh.clear()
        self.devices.clear()
        self.user_codes.clear()

    def decide_device(self, user_code: str, allow: bool) -> None:
        device = self._pending_device(user_code)
        if device is None:
            raise ValueError("the user code is unknown, expired or already decided")
        self._decide(device, allow)

    def rotate_key(self, *, keep_old: bool) -> str:
        key = self._new_key()
        self.keys = [key, *self.keys] if keep_old else [key]
        assert key.kid is not None
        return key.kid

    # -- routing ------------------------------------------------------------------------

    def routes(self) -> dict[str, tuple[str, str, _Handler]]:
        return {
            OAUTH_AUTHORIZE_PATH: ("GET", "oauth.authorize", self.authorize),
            OAUTH_TOKEN_PATH: ("POST", "oauth.token", self.token),
            OAUTH_DEVICE_AUTHORIZATION_PATH: (
                "POST",
                "oauth.device_authorization",
                self.device_authorization,
            ),
            OAUTH_VERIFICATION_PATH: ("GET", "oauth.verification", self.verification),
            OAUTH_REVOCATION_PATH: ("POST", "oauth.revoke", self.revoke),
            OAUTH_INTROSPECTION_PATH: ("POST", "oauth.introspect", self.introspect),
            OAUTH_JWKS_PATH: ("GET", "oauth.jwks", self.jwks),
            OAUTH_USERINFO_PATH: ("GET", "oauth.userinfo", self.userinfo),
            OAUTH_API_PATH: ("GET", "oauth.api", self.api),
            OAUTH_METADATA_PATH: ("GET", "oauth.metadata", self.metadata),
            OPENID_CONFIGURATION_PATH: ("GET", "oauth.openid_configuration", self.metadata),
        }

    def decision(self, request: _Request, ticket: _Ticket, allow: bool) -> EmulatorResponse:
        if ticket.kind == "device":
            return self._verification_decision(ticket, allow)
        return self._authorize_decision(request, ticket, allow)

    # -- metadata and keys --------------------------------------------------------------

    def metadata(self, request: _Request) -> EmulatorResponse:
        base = request.base
        methods = list(AUTH_METHODS)
        document = {
            "issuer": self.emulator.oauth_metadata_issuer or base,
            "authorization_endpoint": base + OAUTH_AUTHORIZE_PATH,
            "token_endpoint": base + OAUTH_TOKEN_PATH,
            "device_authorization_endpoint": base + OAUTH_DEVICE_AUTHORIZATION_PATH,
            "revocation_endpoint": base + OAUTH_REVOCATION_PATH,
            "introspection_endpoint": base + OAUTH_INTROSPECTION_PATH,
            "jwks_uri": base + OAUTH_JWKS_PATH,
            "userinfo_endpoint": base + OAUTH_USERINFO_PATH,
            "scopes_supported": list(SCOPES),
            "response_types_supported": ["code", "token"],
            "response_modes_supported": ["query", "fragment"],
            "grant_types_supported": sorted(GRANT_TYPES),
            "token_endpoint_auth_methods_supported": methods,
            "token_endpoint_auth_signing_alg_values_supported": [*HMAC_ALGS, *KEY_ALGS],
            "revocation_endpoint_auth_methods_supported": methods,
            "introspection_endpoint_auth_methods_supported": methods,
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": True,
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "claims_supported": [
                "iss",
                "sub",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "at_hash",
                "name",
                "given_name",
                "family_name",
                "email",
                "email_verified",
            ],
        }
        return _json(200, document)

    def jwks(self, request: _Request) -> EmulatorResponse:
        self._signing_key()
        return _json(200, {"keys": [key.as_dict(private=False) for key in self.keys]})

    def _new_key(self) -> RSAKey:
        from joserfc.jwk import RSAKey

        parameters = {"use": "sig", "alg": "RS256"}
        return RSAKey.generate_key(2048, parameters=parameters, auto_kid=True)  # type: ignore[arg-type]

    def _signing_key(self) -> RSAKey:
        if not self.keys:
            self.keys.append(self._new_key())
        return self.keys[0]

    @staticmethod
    def _key_set(jwks: Mapping[str, Any]) -> Any:
        from joserfc.jwk import KeySet

        try:
            return KeySet.import_key_set(dict(jwks))  # type: ignore[arg-type]
        except Exception as error:
            raise ValueError("jwks is not a usable JWK Set") from error

    # -- issuing ------------------------------------------------------------------------

    def _now(self) -> float:
        return self.emulator.clock()

    def _iss(self, request: _Request) -> list[tuple[str, str]]:
        send = self.emulator.oauth_send_iss
        if send is False:
            return []
        return [("iss", request.base if send is True else send)]

    def _issue(
        self,
        request: _Request,
        *,
        client_id: str,
        scope: str,
        family: str,
        subject: str = SUBJECT,
        refresh: bool = False,
        openid: bool = False,
        nonce: str | None = None,
        auth_time: float | None = None,
    ) -> dict[str, Any]:
        now = self._now()
        ttl = self.emulator.oauth_expires_in
        access_token = _token()
        grant = _Grant(
            "oauth",
            now + ttl,
            client_id=client_id,
            scope=scope,
            subject=subject,
            family=family,
            issued_at=now,
        )
        self.emulator._issue(access_token, grant)
        payload: dict[str, Any] = {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": ttl,
        }
        if scope:
            payload["scope"] = scope
        if refresh:
            refresh_token = _token()
            lifetime = self.emulator.oauth_refresh_expires_in
            self.refresh[refresh_token] = _Refresh(
                client_id=client_id,
                scope=scope,
                family=family,
                issued_at=now,
                expires_at=None if lifetime is None else now + lifetime,
                auth_time=now if auth_time is None else auth_time,
            )
            payload["refresh_token"] = refresh_token
        if openid:
            payload["id_token"] = self._id_token(
                request, client_id, access_token, nonce, now if auth_time is None else auth_time
            )
        return payload

    def _id_token(
        self,
        request: _Request,
        client_id: str,
        access_token: str,
        nonce: str | None,
        auth_time: float,
    ) -> str:
        from joserfc import jwt

        now = int(self._now())
        digest = hashlib.sha256(access_token.encode("ascii")).digest()
        claims: dict[str, Any] = {
            "iss": request.base,
            "sub": SUBJECT,
            "aud": client_id,
            "exp": now + self.emulator.oauth_expires_in,
            "iat": now,
            "auth_time": int(auth_time),
            "at_hash": _b64url(digest[:16]),
        }
        if nonce:
            claims["nonce"] = nonce
        for name, value in self.emulator.oauth_id_token_claims.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        key = self._signing_key()
        return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key, algorithms=["RS256"])

    def _revoke_family(self, family: str) -> None:
        grants = self.emulator._grants
        for token in [t for t, g in grants.items() if g.provider == "oauth" and g.family == family]:
            del grants[token]
        for token in [t for t, r in self.refresh.items() if r.family == family]:
            del self.refresh[token]

    def _scope(self, client: _Client, requested: str | None) -> str | None:
        words = _words(requested)
        if client.scopes is None:
            return " ".join(words)
        if not words:
            return " ".join(client.scopes)
        return " ".join(words) if set(words) <= set(client.scopes) else None

    # -- the authorization endpoint -----------------------------------------------------

    def authorize(self, request: _Request) -> EmulatorResponse:
        params = {name: value for name, value in request.query.items() if value}
        self.emulator.authorization_requests.append(dict(request.query))
        client = self.clients.get(params.get("client_id", ""))
        if client is None:
            return _page(400, "Authorization failed", "Unknown client_id.")
        requested = params.get("redirect_uri")
        if requested is None:
            redirect_uri = client.redirect_uris[0] if len(client.redirect_uris) == 1 else None
        elif any(_redirect_matches(uri, requested) for uri in client.redirect_uris):
            redirect_uri = requested
        else:
            redirect_uri = None
        if redirect_uri is None:
            message = "The redirect_uri is missing or not registered for this client."
            return _page(400, "Authorization failed", message)
        response_type = params.get("response_type", "")

        def error(code: str, description: str) -> EmulatorResponse:
            return self._error_redirect(
                request, redirect_uri, response_type == "token", code, description, params
            )

        if response_type not in ("code", "token"):
            return error("unsupported_response_type", "response_type must be code or token.")
        grant = "authorization_code" if response_type == "code" else "implicit"
        if grant not in client.grant_types:
            return error("unauthorized_client", f"The client may not use the {grant} grant.")
        mode = params.get("response_mode")
        if mode is not None and mode != ("query" if response_type == "code" else "fragment"):
            return error("invalid_request", "Unsupported response_mode.")
        scope = self._scope(client, params.get("scope"))
        if scope is None:
            return error("invalid_scope", "A requested scope is not allowed for this client.")
        if response_type == "code":
            challenge, method = params.get("code_challenge"), params.get("code_challenge_method")
            if challenge is None and method is not None:
                return error("invalid_request", "code_challenge_method without code_challenge.")
            if challenge is None and client.require_pkce:
                return error("invalid_request", "PKCE is required: send an S256 code_challenge.")
            if challenge is not None and method != "S256":
                return error("invalid_request", "code_challenge_method must be S256.")
            if challenge is not None and not _CHALLENGE.fullmatch(challenge):
                return error("invalid_request", "The code_challenge is malformed.")
        ticket_params: dict[str, str] = {
            "response_type": response_type,
            "redirect_uri": redirect_uri,
            "redirect_uri_sent": "1" if requested is not None else "",
            "scope": scope,
            **{
                name: params[name]
                for name in ("state", "nonce", "code_challenge")
                if name in params
            },
        }
        ticket = _Ticket("oauth", client.client_id, ticket_params, self._now())
        return self.emulator._consent(
            request, ticket, OAUTH_DECISION_PATH, f"Authorize {client.client_id}"
        )

    def _error_redirect(
        self,
        request: _Request,
        redirect_uri: str,
        in_fragment: bool,
        error: str,
        description: str,
        params: Mapping[str, str],
    ) -> EmulatorResponse:
        answer = [("error", error), ("error_description", description)]
        answer += _optional(params, "state") + self._iss(request)
        place = _with_fragment if in_fragment else _with_query
        return _redirect(place(redirect_uri, answer))

    def _authorize_decision(
        self, request: _Request, ticket: _Ticket, allow: bool
    ) -> EmulatorResponse:
        params = ticket.params
        redirect_uri, implicit = params["redirect_uri"], params["response_type"] == "token"
        if not allow:
            return self._error_redirect(
                request, redirect_uri, implicit, "access_denied", "The user denied access.", params
            )
        now, family = self._now(), _new_id()
        tail = _optional(params, "state") + self._iss(request)
        if implicit:
            payload = self._issue(
                request, client_id=ticket.client_id, scope=params["scope"], family=family
            )
            answer = [
                ("access_token", payload["access_token"]),
                ("token_type", payload["token_type"]),
                ("expires_in", str(payload["expires_in"])),
                *_optional(params, "scope"),
                *tail,
            ]
            return _redirect(_with_fragment(redirect_uri, answer))
        code = _token()
        self.codes[code] = _Code(
            client_id=ticket.client_id,
            redirect_uri=redirect_uri,
            redirect_uri_sent=bool(params["redirect_uri_sent"]),
            challenge=params.get("code_challenge"),
            scope=params["scope"],
            nonce=params.get("nonce"),
            expires_at=now + CODE_TTL,
            auth_time=now,
            family=family,
        )
        return _redirect(_with_query(redirect_uri, [("code", code), *tail]))

    # -- client authentication ----------------------------------------------------------

    def _form(self, request: _Request) -> dict[str, str]:
        if _media_type(request.headers) != "application/x-www-form-urlencoded":
            _fail(
                _bad("invalid_request", "Content-Type must be application/x-www-form-urlencoded.")
            )
        pairs = parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True)
        # RFC 6749 section 3.2: empty parameters count as omitted; none may repeat.
        pairs = [(name, value) for name, value in pairs if value]
        names = [name for name, _ in pairs]
        if repeated := sorted({name for name in names if names.count(name) > 1}):
            _fail(_bad("invalid_request", f"Repeated parameters: {', '.join(repeated)}."))
        return dict(pairs)

    def _authenticate(self, request: _Request, form: Mapping[str, str]) -> _Client:
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
            _fail(_bad("invalid_request", "Use exactly one client authentication method."))
        if used == ["client_secret_basic"]:
            client = self._basic(credentials.strip())
        elif used == ["jwt"]:
            client = self._assertion(request, form)
        else:
            found = self.clients.get(form.get("client_id", ""))
            if found is None:
                _fail(_invalid_client("Unknown client.", False))
            client = found
            method = used[0] if used else "none"
            if client.auth_method != method:
                _fail(self._wrong_method(client))
            if method == "client_secret_post" and not _same_secret(
                form["client_secret"], client.secret
            ):
                _fail(_invalid_client("Invalid client credentials.", False))
        if form.get("client_id", client.client_id) != client.client_id:
            _fail(_invalid_client("The client_id does not match the authenticated client.", basic))
        return client

    @staticmethod
    def _wrong_method(client: _Client) -> EmulatorResponse:
        basic = client.auth_method == "client_secret_basic"
        if client.auth_method == "none":
            description = "This public client must not authenticate with a secret or assertion."
        else:
            description = f"This client must authenticate with {client.auth_method}."
        return _invalid_client(description, basic)

    def _basic(self, credentials: str) -> _Client:
        try:
            decoded = base64.b64decode(credentials, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            _fail(_invalid_client("Malformed HTTP Basic credentials.", True))
        raw_id, colon, raw_secret = decoded.partition(":")
        if not colon:
            _fail(_invalid_client("Malformed HTTP Basic credentials.", True))
        # RFC 6749 section 2.3.1: both are form-urlencoded before Basic encoding; a
        # client registered with basic_form_encoded=False meets a server that skips it.
        client = self.clients.get(unquote_plus(raw_id))
        secret = unquote_plus(raw_secret)
        if client is None or not client.basic_form_encoded:
            client, secret = self.clients.get(raw_id), raw_secret
            if client is not None and client.basic_form_encoded:
                client = None
        if client is None:
            _fail(_invalid_client("Unknown client.", True))
        if client.auth_method != "client_secret_basic":
            _fail(self._wrong_method(client))
        if not _same_secret(secret, client.secret):
            _fail(_invalid_client("Invalid client credentials.", True))
        return client

    def _assertion(self, request: _Request, form: Mapping[str, str]) -> _Client:
        from joserfc import jws
        from joserfc.errors import JoseError, SecurityWarning
        from joserfc.jwk import OctKey

        assertion = form.get("client_assertion", "")
        if form.get("client_assertion_type") != ASSERTION_TYPE or not assertion:
            _fail(_invalid_client(f"client_assertion_type must be {ASSERTION_TYPE}.", False))
        parts = assertion.split(".")
        header, claims = (_segment(parts[0]), _segment(parts[1])) if len(parts) == 3 else ({}, {})
        if not header or not claims:
            _fail(_invalid_client("The client_assertion is not a signed JWT.", False))
        client_id = form.get("client_id") or claims.get("sub")
        client = self.clients.get(client_id) if isinstance(client_id, str) else None
        if client is None:
            _fail(_invalid_client("Unknown client.", False))
        if client.auth_method not in ("client_secret_jwt", "private_key_jwt"):
            _fail(self._wrong_method(client))
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
            keys = [k for k in self._key_set(client.jwks) if kid is None or k.kid in (kid, None)]
        if not isinstance(alg, str) or alg not in algorithms:
            _fail(
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
            _fail(_invalid_client("The client_assertion signature is invalid.", False))
        self._check_assertion_claims(request, client.client_id, claims)
        return client

    def _check_assertion_claims(
        self, request: _Request, client_id: str, claims: Mapping[str, Any]
    ) -> None:
        now = self._now()

        def refuse(description: str) -> NoReturn:
            _fail(_invalid_client(description, False))

        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            refuse("The assertion's iss and sub must both be the client_id.")
        audience = claims.get("aud")
        if self.emulator.oauth_assertion_audience == "issuer":
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
        for seen in [k for k, until in self.jtis.items() if until <= now]:
            del self.jtis[seen]
        if (client_id, jti) in self.jtis:
            refuse("The assertion's jti has been used before.")
        self.jtis[client_id, jti] = float(exp)

    # -- the token endpoint -------------------------------------------------------------

    def token(self, request: _Request) -> EmulatorResponse:
        form = self._form(request)
        client = self._authenticate(request, form)
        grant_type = form.get("grant_type")
        if grant_type is None:
            return _bad("invalid_request", "Missing grant_type.")
        handlers: dict[str, Callable[[_Request, _Client, dict[str, str]], EmulatorResponse]] = {
            "authorization_code": self._code_grant,
            "refresh_token": self._refresh_grant,
            "client_credentials": self._client_credentials_grant,
            DEVICE_GRANT: self._device_grant,
        }
        handler = handlers.get(grant_type)
        if handler is None:
            return _bad("unsupported_grant_type", "Unsupported grant_type.")
        if grant_type not in client.grant_types:
            return _bad("unauthorized_client", f"The client may not use the {grant_type} grant.")
        return handler(request, client, form)

    def _code_grant(
        self, request: _Request, client: _Client, form: dict[str, str]
    ) -> EmulatorResponse:
        code_value = form.get("code")
        if code_value is None:
            return _bad("invalid_request", "Missing code.")
        if (family := self.used_codes.get(code_value)) is not None:
            # RFC 6749 section 4.1.2: a code used twice revokes what it was exchanged for.
            self._revoke_family(family)
            return _bad("invalid_grant", "The code has already been used.")
        code = self.codes.get(code_value)
        if code is None or code.expires_at <= self._now():
            self.codes.pop(code_value, None)
            return _bad("invalid_grant", "The code is invalid or expired.")
        if code.client_id != client.client_id:
            return _bad("invalid_grant", "The code was issued to another client.")
        redirect_uri = form.get("redirect_uri")
        if (code.redirect_uri_sent or redirect_uri is not None) and (
            redirect_uri != code.redirect_uri
        ):
            return _bad("invalid_grant", "The redirect_uri does not match the authorization.")
        verifier = form.get("code_verifier")
        if code.challenge is None:
            if verifier is not None:
                return _bad("invalid_grant", "A code_verifier was sent without a code_challenge.")
        elif verifier is None:
            return _bad("invalid_grant", "Missing code_verifier.")
        elif not _VERIFIER.fullmatch(verifier) or not secrets.compare_digest(
            _b64url(hashlib.sha256(verifier.encode()).digest()), code.challenge
        ):
            return _bad("invalid_grant", "The code_verifier does not match the code_challenge.")
        del self.codes[code_value]
        self.used_codes[code_value] = code.family
        payload = self._issue(
            request,
            client_id=client.client_id,
            scope=code.scope,
            family=code.family,
            refresh="refresh_token" in client.grant_types,
            openid="openid" in code.scope.split(),
            nonce=code.nonce,
            auth_time=code.auth_time,
        )
        return _json(200, payload)

    def _refresh_grant(
        self, request: _Request, client: _Client, form: dict[str, str]
    ) -> EmulatorResponse:
        presented = form.get("refresh_token")
        if presented is None:
            return _bad("invalid_request", "Missing refresh_token.")
        if (spent := self.spent_refresh.get(presented)) is not None:
            if self.emulator.oauth_refresh_reuse_revokes:
                self._revoke_family(spent)
            return _bad("invalid_grant", "The refresh token has already been used.")
        record = self.refresh.get(presented)
        if record is None or (record.expires_at is not None and record.expires_at <= self._now()):
            return _bad("invalid_grant", "The refresh token is invalid, expired or revoked.")
        if record.client_id != client.client_id:
            return _bad("invalid_grant", "The refresh token was issued to another client.")
        scope = record.scope
        if "scope" in form:
            requested = _words(form["scope"])
            if not set(requested) <= set(record.scope.split()):
                return _bad("invalid_scope", "The scope exceeds the one originally granted.")
            scope = " ".join(requested)
        del self.refresh[presented]
        self.spent_refresh[presented] = record.family
        payload = self._issue(
            request,
            client_id=client.client_id,
            scope=scope,
            family=record.family,
            refresh=True,
            openid="openid" in scope.split(),
            auth_time=record.auth_time,
        )
        return _json(200, payload)

    def _client_credentials_grant(
        self, request: _Request, client: _Client, form: dict[str, str]
    ) -> EmulatorResponse:
        if client.auth_method == "none":
            return _bad("unauthorized_client", "A public client cannot use client credentials.")
        scope = self._scope(client, form.get("scope"))
        if scope is None:
            return _bad("invalid_scope", "A requested scope is not allowed for this client.")
        payload = self._issue(
            request,
            client_id=client.client_id,
            scope=scope,
            family=_new_id(),
            subject=client.client_id,
        )
        return _json(200, payload)

    # -- the device authorization grant -------------------------------------------------

    def device_authorization(self, request: _Request) -> EmulatorResponse:
        form = self._form(request)
        client = self._authenticate(request, form)
        if DEVICE_GRANT not in client.grant_types:
            return _bad("unauthorized_client", "The client may not use the device grant.")
        scope = self._scope(client, form.get("scope"))
        if scope is None:
            return _bad("invalid_scope", "A requested scope is not allowed for this client.")
        now = self._now()
        for device_code in [c for c, d in self.devices.items() if d.expires_at <= now]:
            self.user_codes.pop(self.devices[device_code].user_code, None)
        while True:
            letters = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(8))
            if letters not in self.user_codes:
                break
        device_code, user_code = _token(), f"{letters[:4]}-{letters[4:]}"
        expires_in, interval = (
            self.emulator.oauth_device_expires_in,
            self.emulator.oauth_device_interval,
        )
        self.devices[device_code] = _Device(
            client_id=client.client_id,
            scope=scope,
            user_code=letters,
            expires_at=now + expires_in,
            interval=interval,
            family=_new_id(),
        )
        self.user_codes[letters] = device_code
        verification_uri = request.base + OAUTH_VERIFICATION_PATH
        payload = {
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": verification_uri,
            "verification_uri_complete": _with_query(verification_uri, [("user_code", user_code)]),
            "expires_in": expires_in,
            "interval": interval,
        }
        return _json(200, payload)

    def _pending_device(self, user_code: str) -> _Device | None:
        device = self.devices.get(self.user_codes.get(_normal_user_code(user_code), ""))
        if device is None or device.status != "pending" or device.expires_at <= self._now():
            return None
        return device

    def _decide(self, device: _Device, allow: bool) -> None:
        device.status = "allowed" if allow else "denied"
        device.decided_at = self._now()
        self.user_codes.pop(device.user_code, None)

    def verification(self, request: _Request) -> EmulatorResponse:
        entry = (
            f'<form method="get" action="{html.escape(OAUTH_VERIFICATION_PATH)}">\n'
            '<label>Code <input type="text" name="user_code" autocomplete="off" '
            'autocapitalize="characters" spellcheck="false"></label>\n'
            '<button type="submit">Continue</button>\n'
            "</form>\n"
        )
        user_code = request.query.get("user_code")
        if not user_code:
            return _page(200, "Connect a device", "Enter the code your device shows.", entry)
        device = self._pending_device(user_code)
        if device is None:
            message = "This code is unknown, expired or already used."
            return _page(400, "Unknown code", message, entry)
        shown = f"{device.user_code[:4]}-{device.user_code[4:]}"
        ticket = _Ticket(
            "device",
            device.client_id,
            {"user_code": device.user_code, "scope": device.scope},
            self._now(),
        )
        return self.emulator._consent(
            request,
            ticket,
            OAUTH_VERIFICATION_DECISION_PATH,
            "Connect a device",
            note=f"Make sure your device shows the code {shown}.",
        )

    def _verification_decision(self, ticket: _Ticket, allow: bool) -> EmulatorResponse:
        device = self._pending_device(ticket.params["user_code"])
        if device is None:
            return _page(400, "Unknown code", "This code is unknown, expired or already used.")
        self._decide(device, allow)
        if allow:
            return _page(200, "Device connected", "You can return to your device.")
        return _page(200, "Access denied", "The device was not connected.")

    def _device_grant(
        self, request: _Request, client: _Client, form: dict[str, str]
    ) -> EmulatorResponse:
        device_code = form.get("device_code")
        if device_code is None:
            return _bad("invalid_request", "Missing device_code.")
        device = self.devices.get(device_code)
        if device is None or device.client_id != client.client_id:
            return _bad("invalid_grant", "The device_code is invalid or already used.")
        now = self._now()
        if device.expires_at <= now:
            return _bad("expired_token", "The device_code has expired.")
        if device.status == "allowed":
            del self.devices[device_code]
            payload = self._issue(
                request,
                client_id=client.client_id,
                scope=device.scope,
                family=device.family,
                refresh="refresh_token" in client.grant_types,
                openid="openid" in device.scope.split(),
                auth_time=device.decided_at,
            )
            return _json(200, payload)
        if device.status == "denied":
            return _bad("access_denied", "The user denied the authorization.")
        last, device.last_poll = device.last_poll, now
        if last is not None and now - last < device.interval:
            # RFC 8628 section 3.5: slow down, and poll 5 seconds slower from now on.
            device.interval += SLOW_DOWN_STEP
            return _bad("slow_down", f"Poll at most every {device.interval} seconds.")
        return _bad("authorization_pending", "The user has not decided yet.")

    # -- revocation and introspection ---------------------------------------------------

    def revoke(self, request: _Request) -> EmulatorResponse:
        form = self._form(request)
        client = self._authenticate(request, form)
        token = form.get("token")
        if token is None:
            return _bad("invalid_request", "Missing token.")
        grants = self.emulator._grants
        grant = grants.get(token)
        refresh = self.refresh.get(token)
        owner = grant.client_id if grant is not None and grant.provider == "oauth" else None
        owner = refresh.client_id if refresh is not None else owner
        if owner is not None and owner != client.client_id:
            return _bad("unauthorized_client", "The token was issued to another client.")
        if refresh is not None:
            # Revoking a refresh token revokes its whole grant (RFC 7009 section 2.1).
            self._revoke_family(refresh.family)
        elif owner is not None:
            del grants[token]
        # Unknown, expired and already revoked tokens get 200 too (RFC 7009 section 2.2).
        return EmulatorResponse(status=200, headers=_NO_STORE)

    def introspect(self, request: _Request) -> EmulatorResponse:
        form = self._form(request)
        self._authenticate(request, form)
        token = form.get("token")
        if token is None:
            return _bad("invalid_request", "Missing token.")
        grant = self.emulator._grant(token)
        if grant is not None and grant.provider == "oauth":
            assert grant.expires_at is not None
            answer: dict[str, Any] = {
                "active": True,
                "scope": grant.scope,
                "client_id": grant.client_id,
                "token_type": "Bearer",
                "exp": int(grant.expires_at),
                "iat": int(grant.issued_at),
                "sub": grant.subject,
                "aud": grant.client_id,
                "iss": request.base,
            }
            return _json(200, answer)
        refresh = self.refresh.get(token)
        if refresh is not None and (refresh.expires_at is None or refresh.expires_at > self._now()):
            answer = {
                "active": True,
                "scope": refresh.scope,
                "client_id": refresh.client_id,
                "token_type": "refresh_token",
                "iat": int(refresh.issued_at),
                "sub": SUBJECT,
                "aud": refresh.client_id,
                "iss": request.base,
            }
            if refresh.expires_at is not None:
                answer["exp"] = int(refresh.expires_at)
            return _json(200, answer)
        return _json(200, {"active": False})

    # -- protected resources ------------------------------------------------------------

    def _bearer(self, request: _Request) -> _Grant:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            # RFC 6750 section 3.1: no error code when the request has no credentials.
            challenge = ("WWW-Authenticate", 'Bearer realm="emulator"')
            _fail(_json(401, {"error_description": "An access token is required."}, challenge))
        grant = self.emulator._grant(token.strip())
        if grant is None or grant.provider != "oauth":
            challenge = ("WWW-Authenticate", 'Bearer realm="emulator", error="invalid_token"')
            _fail(_oauth_error(401, "invalid_token", "The access token is invalid.", challenge))
        return grant

    def userinfo(self, request: _Request) -> EmulatorResponse:
        grant = self._bearer(request)
        scopes = grant.scope.split()
        if "openid" not in scopes or grant.subject != SUBJECT:
            challenge = (
                "WWW-Authenticate",
                'Bearer realm="emulator", error="insufficient_scope", scope="openid"',
            )
            return _oauth_error(403, "insufficient_scope", "The openid scope is needed.", challenge)
        claims: dict[str, Any] = {"sub": grant.subject}
        if "profile" in scopes:
            claims["name"] = f"{_PERSON['firstName']} {_PERSON['lastName']}"
            claims["given_name"] = _PERSON["firstName"]
            claims["family_name"] = _PERSON["lastName"]
        if "email" in scopes:
            claims["email"] = _PERSON["email"]
            claims["email_verified"] = True
        return _json(200, claims)

    def api(self, request: _Request) -> EmulatorResponse:
        grant = self._bearer(request)
        return _json(
            200, {"sub": grant.subject, "client_id": grant.client_id, "scope": grant.scope}
        )
