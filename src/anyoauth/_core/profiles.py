"""Security profiles a strategy can be held to: ``Strategy(profile="fapi2")``.

A profile turns on what it requires and refuses, with a :class:`ConfigurationError`
naming the rule, any setting that breaks it. The one profile is the FAPI 2.0 Security
Profile (OpenID Foundation, final 2025) for clients: the authorization code flow with
PKCE S256 and pushed authorization requests, ``iss`` required in authorization
responses, sender-constrained tokens (DPoP or mutual TLS), ``private_key_jwt`` or
mutual-TLS client authentication, only PS256, ES256 and EdDSA signatures, and https to
every server. Rules are data (:data:`FAPI2_RULES`), read by the docs and the tests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, Literal, Protocol
from urllib.parse import urlsplit

import attrs

from .client_auth import ClientAuthMethod, PrivateKeyJwt
from .dpop import DPoPKey
from .errors import ConfigurationError
from .metadata import ENDPOINT_FIELDS

__all__ = [
    "FAPI2",
    "FAPI2_ALGORITHMS",
    "FAPI2_RULES",
    "PROFILES",
    "Profile",
    "ProfileRule",
    "apply_profile",
    "check_profile",
]


class _Named(Protocol):
    @property
    def value(self) -> str: ...


class Strategy(Protocol):
    """What a profile reads of a strategy (:class:`anyoauth.Strategy` has all of it)."""

    @property
    def name(self) -> str: ...
    @property
    def profile(self) -> str | None: ...
    @property
    def authorization_endpoint(self) -> str | None: ...
    @property
    def pushed_authorization_request_endpoint(self) -> str | None: ...
    @property
    def push_authorization_request(self) -> bool: ...
    @property
    def response_type(self) -> str: ...
    @property
    def user_step(self) -> _Named: ...
    @property
    def uses_pkce(self) -> bool: ...
    @property
    def issuer(self) -> str | None: ...
    @property
    def require_iss(self) -> bool: ...
    @property
    def dpop_key(self) -> DPoPKey | None: ...
    @property
    def uses_client_certificate(self) -> bool: ...
    @property
    def authentication(self) -> ClientAuthMethod: ...
    @property
    def request_object_signing_algorithm(self) -> str | None: ...
    @property
    def id_token_algorithms(self) -> tuple[str, ...]: ...
    @property
    def authorization_signing_algorithms(self) -> tuple[str, ...]: ...
    @property
    def signs_responses(self) -> bool: ...
    @property
    def allow_insecure(self) -> bool: ...
    @property
    def mtls_endpoint_aliases(self) -> Mapping[str, str]: ...
    @property
    def redirect_uri(self) -> str | None: ...


Profile = Literal["fapi2"]
"""The names of the security profiles (:attr:`Strategy.profile`)."""

FAPI2: Final = "fapi2"
"""The FAPI 2.0 Security Profile."""

PROFILES: Final = frozenset({FAPI2})
"""The profiles a strategy can be held to."""

FAPI2_ALGORITHMS: Final = frozenset({"PS256", "ES256", "EdDSA", "Ed25519"})
"""The JWS algorithms FAPI 2.0 allows (its section 5.4.1: PS256, ES256 and EdDSA with
Ed25519; ``Ed25519`` is the fully specified name of the same signatures)."""


@attrs.frozen
class ProfileRule:
    """One rule of a profile: its name in error messages and docs, and its check."""

    name: str
    """What the rule requires, as error messages name it."""
    problem: Callable[[Strategy], str | None] = attrs.field(repr=False)
    """What in a strategy breaks the rule, or ``None`` when it holds."""


def _interactive(strategy: Strategy) -> bool:
    return strategy.authorization_endpoint is not None


def _code_flow(strategy: Strategy) -> str | None:
    if _interactive(strategy) and strategy.response_type != "code":
        return f"response_type={strategy.response_type} (the implicit grant) is not allowed"
    step = strategy.user_step.value
    if step not in ("redirect", "none"):
        return f"{strategy.name} logs in by {step}, not by the authorization code flow"
    return None


def _pkce(strategy: Strategy) -> str | None:
    if _interactive(strategy) and not strategy.uses_pkce:
        return "PKCE is off"
    return None


def _par(strategy: Strategy) -> str | None:
    if not _interactive(strategy):
        return None
    if strategy.pushed_authorization_request_endpoint is None:
        return "the server's pushed_authorization_request_endpoint is not known"
    if not strategy.push_authorization_request:
        return "the authorization request is not pushed"
    return None


def _iss(strategy: Strategy) -> str | None:
    if _interactive(strategy) and (strategy.issuer is None or not strategy.require_iss):
        return "the issuer is not known, so iss cannot be required"
    return None


def _sender_constraint(strategy: Strategy) -> str | None:
    if strategy.dpop_key is None and not strategy.uses_client_certificate:
        return "neither a DPoP key (dpop_key) nor a mutual-TLS client certificate"
    return None


def _client_auth(strategy: Strategy) -> str | None:
    method = strategy.authentication
    if isinstance(method, PrivateKeyJwt) or method.uses_client_certificate:
        return None
    return f"{method.name} is not allowed"


def _algorithms(strategy: Strategy) -> str | None:
    used: list[tuple[str, str | None]] = [
        ("the DPoP key", None if strategy.dpop_key is None else strategy.dpop_key.algorithm),
        ("request objects", strategy.request_object_signing_algorithm),
    ]
    method = strategy.authentication
    if isinstance(method, PrivateKeyJwt):
        used.append(("client assertions", method.signing_algorithm))
    for what, algorithm in used:
        if algorithm is not None and algorithm not in FAPI2_ALGORITHMS:
            return f"{what} sign with {algorithm}"
    others = set(strategy.id_token_algorithms) - FAPI2_ALGORITHMS
    if others:
        return f"id_tokens may be signed with {', '.join(sorted(others))}"
    others = set(strategy.authorization_signing_algorithms) - FAPI2_ALGORITHMS
    if others and strategy.signs_responses:
        return f"signed authorization responses may be signed with {', '.join(sorted(others))}"
    return None


def _https(strategy: Strategy) -> str | None:
    if strategy.allow_insecure:
        return "allow_insecure is on"
    urls = [("issuer", strategy.issuer)]
    urls += [(name, getattr(strategy, name, None)) for name in ENDPOINT_FIELDS]
    urls += [(f"the mTLS alias of {k}", v) for k, v in strategy.mtls_endpoint_aliases.items()]
    for name, url in urls:
        if isinstance(url, str) and urlsplit(url).scheme.lower() != "https":
            return f"{name} is not https"
    return None


FAPI2_RULES: Final = (
    ProfileRule("the authorization code flow only", _code_flow),
    ProfileRule("PKCE with S256", _pkce),
    ProfileRule("pushed authorization requests (RFC 9126)", _par),
    ProfileRule("iss in authorization responses (RFC 9207)", _iss),
    ProfileRule("sender-constrained tokens: DPoP or mutual TLS", _sender_constraint),
    ProfileRule("private_key_jwt or mutual-TLS client authentication", _client_auth),
    ProfileRule("PS256, ES256 or EdDSA signatures only", _algorithms),
    ProfileRule("https to every server", _https),  # http redirects: loopback only, always
)
"""The FAPI 2.0 Security Profile's client rules, in the order they are checked."""


def apply_profile(strategy: Strategy, set_value: Callable[[str, Any], None]) -> None:
    """Turn on what ``strategy``'s profile requires, before its settings are checked:
    PKCE, pushing (when the server's endpoint is known), ``iss`` required (when the
    issuer is known), and the algorithms of id_tokens and signed authorization responses
    narrowed to :data:`FAPI2_ALGORITHMS`.
    ``set_value(name, value)`` sets a field of the frozen strategy."""
    profile = strategy.profile
    if profile is None:
        return
    if profile not in PROFILES:
        raise ConfigurationError(f"profile must be one of {', '.join(sorted(PROFILES))}")
    if _interactive(strategy):
        set_value("uses_pkce", True)
        if strategy.pushed_authorization_request_endpoint is not None:
            set_value("push_authorization_request", True)
        if strategy.issuer is not None:
            set_value("require_iss", True)
    for name in ("id_token_algorithms", "authorization_signing_algorithms"):
        narrowed = tuple(a for a in getattr(strategy, name) if a in FAPI2_ALGORITHMS)
        if narrowed:
            set_value(name, narrowed)


def check_profile(strategy: Strategy) -> None:
    """Raise :class:`ConfigurationError` naming the first rule of ``strategy``'s profile
    its settings break."""
    if strategy.profile is None:
        return
    for rule in FAPI2_RULES:
        problem = rule.problem(strategy)
        if problem is not None:
            raise ConfigurationError(f"{strategy.profile} requires {rule.name}: {problem}")
