"""The error tree, and how provider text is bounded and neutralised."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

import anyoauth
from anyoauth import (
    AgentError,
    AuthorizationDenied,
    ConfigurationError,
    DiscoveryError,
    FlowError,
    FlowExpired,
    InvalidAuthorizationResponse,
    InvalidIdToken,
    InvalidTokenResponse,
    InvalidTransition,
    IssuerMismatch,
    LoginRequired,
    MalformedRedirect,
    OAuthError,
    PluginError,
    ProviderError,
    RedirectError,
    RedirectMismatch,
    StateError,
    StateMismatch,
    StateMissing,
    StoreError,
    TokenEndpointUnavailable,
    TokenExpiredOnArrival,
    TokenRequestError,
)
from support.internals import errors_module

# (child, parent) exactly as drawn in the errors module docstring.
TREE: list[tuple[type[Exception], type[Exception]]] = [
    (ConfigurationError, OAuthError),
    (PluginError, ConfigurationError),
    (DiscoveryError, OAuthError),
    (FlowError, OAuthError),
    (InvalidTransition, FlowError),
    (StateError, FlowError),
    (StateMissing, StateError),
    (StateMismatch, StateError),
    (FlowExpired, StateError),
    (RedirectError, FlowError),
    (RedirectMismatch, RedirectError),
    (MalformedRedirect, RedirectError),
    (IssuerMismatch, RedirectError),
    (InvalidAuthorizationResponse, RedirectError),
    (ProviderError, OAuthError),
    (AuthorizationDenied, ProviderError),
    (TokenRequestError, ProviderError),
    (InvalidTokenResponse, FlowError),
    (InvalidIdToken, InvalidTokenResponse),
    (TokenExpiredOnArrival, InvalidTokenResponse),
    (TokenEndpointUnavailable, FlowError),
    (LoginRequired, OAuthError),
    (AgentError, FlowError),
    (StoreError, OAuthError),
]

# Siblings that must stay apart: catching one must not catch the other.
APART: list[tuple[type[Exception], type[Exception]]] = [
    (StateError, RedirectError),
    (RedirectError, StateError),
    (StateMissing, StateMismatch),
    (FlowExpired, StateMismatch),
    (RedirectMismatch, MalformedRedirect),
    (AuthorizationDenied, TokenRequestError),
    (TokenRequestError, AuthorizationDenied),
    (ConfigurationError, FlowError),
    (LoginRequired, FlowError),
    (InvalidTokenResponse, ProviderError),
    (TokenEndpointUnavailable, ProviderError),
    (IssuerMismatch, StateError),
    (DiscoveryError, ConfigurationError),
    (PluginError, FlowError),
]

_TREE_LINE = re.compile(r"^[ │├└─]+(?P<name>[A-Z][A-Za-z]+)\b")


@pytest.mark.parametrize(("child", "parent"), TREE, ids=lambda c: c.__name__)
def test_tree_edge(child: type[Exception], parent: type[Exception]) -> None:
    assert issubclass(child, parent)


@pytest.mark.parametrize(("child", "other"), APART, ids=lambda c: c.__name__)
def test_siblings_are_not_subclasses(child: type[Exception], other: type[Exception]) -> None:
    assert not issubclass(child, other)


def test_every_exported_error_is_an_oauth_error() -> None:
    exported = {getattr(errors_module, name) for name in errors_module.__all__}
    assert len(exported) == len(TREE) + 1
    for cls in exported:
        assert issubclass(cls, OAuthError), cls


def test_the_former_error_names_are_the_same_classes() -> None:
    assert errors_module.InvalidTokenResponse is errors_module.InvalidResponse
    assert errors_module.TokenEndpointUnavailable is errors_module.ServerUnavailable
    assert anyoauth.InvalidTokenResponse is anyoauth.InvalidResponse
    assert anyoauth.TokenEndpointUnavailable is anyoauth.ServerUnavailable


def test_docstring_tree_matches_the_classes() -> None:
    """The tree drawn in the module docstring is the real hierarchy."""
    assert errors_module.__doc__ is not None
    stack: list[tuple[int, str]] = []
    drawn: list[tuple[str, str]] = []
    for line in errors_module.__doc__.splitlines():
        match = _TREE_LINE.match(line)
        if match is None or not hasattr(errors_module, match["name"]):
            continue
        depth = match.start("name")
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack:
            drawn.append((match["name"], stack[-1][1]))
        stack.append((depth, match["name"]))
    assert sorted(drawn) == sorted((c.__name__, p.__name__) for c, p in TREE)


def test_provider_error_carries_the_provider_words() -> None:
    err = AuthorizationDenied("access_denied", "The user said no", "https://p.example/e")
    assert (err.error, err.error_description, err.error_uri) == (
        "access_denied",
        "The user said no",
        "https://p.example/e",
    )
    assert "access_denied" in str(err)
    assert "The user said no" in str(err)


def test_provider_error_code_is_never_empty() -> None:
    assert ProviderError("").error


@pytest.mark.parametrize("field", ["error", "error_description", "error_uri"])
def test_provider_text_is_clipped(field: str) -> None:
    flood = "A" * 100_000
    kwargs = {"error": "e", "error_description": "d", "error_uri": "u", field: flood}
    err = ProviderError(**kwargs)
    value = getattr(err, field)
    assert isinstance(value, str)
    assert 0 < len(value) <= 1_000
    assert value.startswith("A" * 100)
    assert len(str(err)) <= 3_100


@pytest.mark.parametrize(
    "hostile",
    ["\x1b[2J\x1b[31mred", "line1\nFAKE LOG LINE", "a\rb", "nul\x00byte", "sep\u2028x", "\x7f\x9b"],
)
def test_control_characters_are_neutralised(hostile: str) -> None:
    err = TokenRequestError("invalid_grant", hostile, hostile, status_code=400)
    for text in (err.error_description, err.error_uri, str(err)):
        assert text is not None
        assert all(ch.isprintable() for ch in text), repr(text)


@given(error=st.text(), description=st.none() | st.text(), uri=st.none() | st.text())
def test_provider_text_is_always_bounded_and_printable(
    error: str, description: str | None, uri: str | None
) -> None:
    err = AuthorizationDenied(error, description, uri)
    for value in (err.error, err.error_description, err.error_uri):
        if value is not None:
            assert len(value) <= 1_000
            assert all(ch.isprintable() for ch in value)
    assert all(ch.isprintable() for ch in str(err))


def test_token_request_error_str_includes_status() -> None:
    err = TokenRequestError("invalid_client", "bad secret", status_code=401)
    assert err.status_code == 401
    assert "401" in str(err)
    assert "invalid_client" in str(err)
    assert "bad secret" in str(err)


def test_invalid_token_response_str_includes_status() -> None:
    err = InvalidTokenResponse("HTML body", status_code=502)
    assert err.status_code == 502
    assert "502" in str(err)


def test_invalid_transition_names_the_pair() -> None:
    err = InvalidTransition("holding token", "code received")
    assert (err.state, err.event) == ("holding token", "code received")
    assert "holding token" in str(err)
    assert "code received" in str(err)
