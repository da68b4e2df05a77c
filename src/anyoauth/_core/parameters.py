"""Extra request parameters, resource indicators (RFC 8707) and audiences, sans-IO.

This module owns the rules every strategy applies to the parameters a user adds to
its requests: which names the library sets itself and no extra parameter may name
(:data:`PROTOCOL_PARAMETERS`), what a ``resource`` value may be (an absolute URI
without a fragment, RFC 8707 2), the bounds on how many values and how long, and the
normal form of extra parameters (a tuple of ``(name, value)`` pairs, so a name may
repeat). Errors name the setting and the parameter, never a value: a value may be
hostile or a secret.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from .errors import ConfigurationError

__all__ = [
    "MAX_AUDIENCES",
    "MAX_EXTRA_PARAMETERS",
    "MAX_PARAMETER_CHARS",
    "MAX_RESOURCES",
    "MAX_RESOURCE_CHARS",
    "PROTOCOL_PARAMETERS",
    "check_audience",
    "check_extra_params",
    "check_reserved",
    "check_resources",
    "optional_value_tuple",
    "param_pairs",
    "value_tuple",
]

PROTOCOL_PARAMETERS: frozenset[str] = frozenset(
    {
        "grant_type",
        "code",
        "code_verifier",
        "redirect_uri",
        "refresh_token",
        "client_id",
        "client_secret",
        "client_assertion",
        "client_assertion_type",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "request",
        "request_uri",
        "dpop_jkt",
        "response_type",
        "response_mode",
        "device_code",
        "assertion",
        "subject_token",
        "subject_token_type",
        "actor_token",
        "actor_token_type",
        "requested_token_type",
        "auth_req_id",
        "resource",
        "audience",
    }
)
"""Parameter names anyoauth sets itself (or takes from a strategy's own fields:
``resource`` and ``audience``). An extra parameter naming one is refused with a
:class:`ConfigurationError`: it would override or duplicate a protocol parameter."""

MAX_RESOURCES = 20
"""The most ``resource`` values a strategy takes."""
MAX_AUDIENCES = 20
"""The most ``audience`` values a strategy takes."""
MAX_RESOURCE_CHARS = 2048
"""The longest ``resource`` (or ``audience``) value, in characters."""
MAX_EXTRA_PARAMETERS = 50
"""The most extra parameters in one setting."""
MAX_PARAMETER_CHARS = 8192
"""The longest extra parameter value, in characters (names: 128)."""

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_VISIBLE = re.compile(r"[\x21-\x7e]+")
_NAME = re.compile(r"[\x21-\x7e]{1,128}")


def _is_reserved(name: object, reserved: frozenset[str]) -> bool:
    """Whether ``name``, as it goes on the wire, names one of ``reserved`` (all lower
    case) in any letter case: servers that read form fields case-insensitively (ASP.NET
    ones) take ``Redirect_URI`` for ``redirect_uri``. A bytes name is the text it
    encodes to, anything else but text its ``str()``, as the form encoder writes them."""
    if type(name) is str:
        text = name
    elif isinstance(name, bytes):
        text = name.decode("utf-8", "replace")
    else:
        text = str(name)
    return text.lower() in reserved or text.upper().lower() in reserved


def _has_userinfo(uri: str) -> bool:
    """Whether ``uri``'s authority carries user information (``user:password@``)."""
    try:
        return "@" in urlsplit(uri).netloc
    except ValueError:
        return True


def value_tuple(value: object) -> object:
    """``None`` as ``()``, a string as a 1-tuple, another iterable as a tuple; anything
    else unchanged (the strategy's check then refuses it)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Iterable) and not isinstance(value, (bytes, Mapping)):
        return tuple(value)
    return value


def optional_value_tuple(value: object) -> object:
    """:func:`value_tuple`, but ``None`` stays ``None``."""
    return None if value is None else value_tuple(value)


def param_pairs(value: object) -> object:
    """A mapping or an iterable of ``(name, value)`` pairs as a tuple of pairs, in
    order (a name may repeat); anything else unchanged (refused by the check)."""
    if value is None:
        return ()
    if isinstance(value, Mapping):
        return tuple(value.items())
    if isinstance(value, Iterable) and not isinstance(value, (str, bytes)):
        pairs = tuple(value)
        if all(isinstance(pair, tuple | list) and len(pair) == 2 for pair in pairs):
            return tuple((pair[0], pair[1]) for pair in pairs)
        return pairs
    return value


def check_resources(setting: str, values: object) -> tuple[str, ...]:
    """``values`` once checked as resource indicators (RFC 8707 2): a tuple of at most
    :data:`MAX_RESOURCES` absolute URIs of visible ASCII, without a fragment or user
    information, each at most :data:`MAX_RESOURCE_CHARS` long and none twice."""
    if not isinstance(values, tuple):
        raise ConfigurationError(f"{setting} must be a URI or a sequence of URIs")
    if len(values) > MAX_RESOURCES:
        raise ConfigurationError(f"{setting} takes at most {MAX_RESOURCES} URIs")
    for index, uri in enumerate(values, 1):
        if (
            not isinstance(uri, str)
            or len(uri) > MAX_RESOURCE_CHARS
            or not _VISIBLE.fullmatch(uri)
            or not _SCHEME.match(uri)
            or "#" in uri
        ):
            raise ConfigurationError(
                f"{setting} value {index} must be an absolute URI without a fragment "
                f"(RFC 8707 2), of visible ASCII and at most {MAX_RESOURCE_CHARS} characters"
            )
        if _has_userinfo(uri):
            # It would travel in the authorization URL, the server's logs and reprs.
            raise ConfigurationError(
                f"{setting} value {index} must not carry credentials (user information)"
            )
    if len(set(values)) != len(values):
        raise ConfigurationError(f"{setting} names a URI twice")
    return values


def check_audience(setting: str, values: object) -> tuple[str, ...]:
    """``values`` once checked as audiences: a tuple of at most :data:`MAX_AUDIENCES`
    non-empty strings of visible ASCII, each at most :data:`MAX_RESOURCE_CHARS` long,
    none twice."""
    if not isinstance(values, tuple):
        raise ConfigurationError(f"{setting} must be a string or a sequence of strings")
    if len(values) > MAX_AUDIENCES:
        raise ConfigurationError(f"{setting} takes at most {MAX_AUDIENCES} values")
    for index, name in enumerate(values, 1):
        if (
            not isinstance(name, str)
            or len(name) > MAX_RESOURCE_CHARS
            or not _VISIBLE.fullmatch(name)
        ):
            raise ConfigurationError(
                f"{setting} value {index} must be a non-empty string of visible ASCII "
                f"of at most {MAX_RESOURCE_CHARS} characters"
            )
    if len(set(values)) != len(values):
        raise ConfigurationError(f"{setting} names a value twice")
    return values


def check_extra_params(
    setting: str, pairs: object, *, reserved: frozenset[str] = PROTOCOL_PARAMETERS
) -> tuple[tuple[str, str], ...]:
    """``pairs`` once checked as extra parameters: at most
    :data:`MAX_EXTRA_PARAMETERS` ``(name, value)`` string pairs, names of visible
    ASCII (at most 128 characters) and none of ``reserved``, values at most
    :data:`MAX_PARAMETER_CHARS` long."""
    if not isinstance(pairs, tuple) or not all(
        isinstance(pair, tuple) and len(pair) == 2 for pair in pairs
    ):
        raise ConfigurationError(f"{setting} must be a mapping or (name, value) pairs")
    if len(pairs) > MAX_EXTRA_PARAMETERS:
        raise ConfigurationError(f"{setting} takes at most {MAX_EXTRA_PARAMETERS} parameters")
    for name, value in pairs:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ConfigurationError(
                f"{setting}: parameter names must be visible ASCII of 1 to 128 characters"
            )
        if _is_reserved(name, reserved):
            hint = (
                f" (use the strategy's {name} setting)" if name in ("resource", "audience") else ""
            )
            raise ConfigurationError(
                f"{setting} cannot set {name}: anyoauth sets that parameter itself{hint}"
            )
        if not isinstance(value, str) or len(value) > MAX_PARAMETER_CHARS:
            raise ConfigurationError(
                f"{setting}: the value of {name} must be a string of at most "
                f"{MAX_PARAMETER_CHARS} characters"
            )
    return pairs


def check_reserved(setting: str, names: Iterable[object], reserved: frozenset[str]) -> None:
    """Refuse (:class:`ConfigurationError` naming the parameter) a name of ``reserved``
    among ``names``: the check of the older mapping settings
    (``extra_authorization_params``, ``token_params``), whose values are otherwise
    taken as they always were."""
    for name in names:
        if _is_reserved(name, reserved):
            raise ConfigurationError(
                f"{setting} cannot set {name}: anyoauth sets that parameter itself"
            )
