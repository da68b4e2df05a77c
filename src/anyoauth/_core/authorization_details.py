"""Rich authorization requests (RFC 9396), sans-IO: ``authorization_details`` values.

An ``authorization_details`` value is a JSON array of JSON objects, each with a
non-empty string ``type`` (RFC 9396 2) naming what the rest of the object means
(``payment_initiation``, ``account_information``...). This module owns checking,
freezing and serialising such values:

- :func:`authorization_details` checks what a caller configures (a sequence of
  mappings) and returns a deep copy frozen into read-only mappings and tuples, so a
  caller changing its own dict afterwards changes nothing; :class:`ConfigurationError`
  otherwise;
- :func:`details_from_response` checks what a server answered (token and
  introspection responses) and raises :class:`ValueError` naming the problem;
- :func:`details_json` writes a value back as the compact JSON text sent in forms,
  :func:`details_list` as plain lists and dicts (request objects, stores);
- :func:`details_repr` shows a value's types only: the rest of a detail (amounts,
  account numbers, locations) is personal data and never goes to a repr or a log.

Both directions are bounded (:data:`MAX_AUTHORIZATION_DETAILS_SIZE` bytes of JSON,
:data:`MAX_AUTHORIZATION_DETAILS` entries, :data:`MAX_DETAILS_DEPTH` levels of
nesting), and every ``type`` is printable text of at most :data:`MAX_DETAILS_TYPE_LENGTH`
characters.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from .errors import ConfigurationError

__all__ = [
    "MAX_AUTHORIZATION_DETAILS",
    "MAX_AUTHORIZATION_DETAILS_SIZE",
    "MAX_DETAILS_DEPTH",
    "MAX_DETAILS_TYPE_LENGTH",
    "authorization_details",
    "details_from_response",
    "details_json",
    "details_list",
    "details_repr",
    "details_types",
]

AuthorizationDetails = tuple[Mapping[str, Any], ...]

MAX_AUTHORIZATION_DETAILS_SIZE = 16384
"""The largest ``authorization_details`` value, in bytes of compact JSON, that is sent
or accepted."""

MAX_AUTHORIZATION_DETAILS = 64
"""The most objects an ``authorization_details`` array may hold."""

MAX_DETAILS_DEPTH = 16
"""The deepest nesting of arrays and objects inside one detail."""

MAX_DETAILS_TYPE_LENGTH = 256
"""The longest ``type`` of a detail, in characters."""


_TOO_LARGE = f"authorization_details is larger than {MAX_AUTHORIZATION_DETAILS_SIZE} bytes of JSON"


def _freeze(value: Any, depth: int, budget: list[int]) -> Any:
    """A deep, read-only copy of a JSON value; :class:`ValueError` for anything that is
    not JSON (a set, bytes, NaN, a non-string key), nests too deeply or is sure to be
    too large. ``budget`` holds the bytes of JSON left: every value costs at least one
    and a string at least its length, so the copy stops as soon as the value cannot fit
    (a structure repeating one list in itself costs its size, not its references)."""
    if depth > MAX_DETAILS_DEPTH:
        raise ValueError("authorization_details nests too deeply")
    budget[0] -= len(value) + 1 if isinstance(value, str) else 1
    if budget[0] < 0:
        raise ValueError(_TOO_LARGE)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("authorization_details holds a number that is not finite")
        return value
    if isinstance(value, Mapping):
        frozen: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError("authorization_details has a member name that is not a string")
            budget[0] -= len(key)
            frozen[key] = _freeze(item, depth + 1, budget)
        return MappingProxyType(frozen)
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(item, depth + 1, budget) for item in value)
    raise ValueError(f"authorization_details holds a {type(value).__name__}, which is not JSON")


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _thaw(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return [_thaw(item) for item in value]
    return value


def _check_type(kind: object) -> str:
    if not isinstance(kind, str) or not kind:
        raise ValueError("each detail needs a non-empty string type")
    if len(kind) > MAX_DETAILS_TYPE_LENGTH or not kind.isprintable():
        raise ValueError(
            f"a detail's type must be printable text of at most {MAX_DETAILS_TYPE_LENGTH} "
            "characters"
        )
    return kind


def _checked(value: object) -> AuthorizationDetails:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        raise ValueError("authorization_details must be an array of objects")
    if len(value) > MAX_AUTHORIZATION_DETAILS:
        raise ValueError(f"authorization_details holds more than {MAX_AUTHORIZATION_DETAILS}")
    details = []
    budget = [MAX_AUTHORIZATION_DETAILS_SIZE]
    for detail in value:
        if not isinstance(detail, Mapping):
            raise ValueError("authorization_details must be an array of objects")
        _check_type(detail.get("type"))
        details.append(_freeze(detail, 1, budget))
    frozen = tuple(details)
    if len(details_json(frozen).encode()) > MAX_AUTHORIZATION_DETAILS_SIZE:
        raise ValueError(_TOO_LARGE)
    return frozen


def authorization_details(value: object) -> AuthorizationDetails:
    """``value`` (a sequence of mappings, each with a non-empty string ``type``) as a
    frozen deep copy: read-only mappings and tuples. ``None`` is the empty value.
    Raises :class:`ConfigurationError` for anything that is not such JSON, or too large."""
    if value is None:
        return ()
    try:
        return _checked(value)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None


def optional_authorization_details(value: object) -> AuthorizationDetails | None:
    """:func:`authorization_details`, keeping ``None`` (nothing to send)."""
    return None if value is None else authorization_details(value)


def details_from_response(value: object) -> AuthorizationDetails:
    """A server's ``authorization_details`` checked and frozen; :class:`ValueError`
    naming the problem (never showing the details) for anything else."""
    return _checked(value)


def details_list(details: AuthorizationDetails) -> list[dict[str, Any]]:
    """``details`` as plain JSON lists and dicts (a fresh copy)."""
    return [_thaw(detail) for detail in details]


def details_json(details: AuthorizationDetails) -> str:
    """``details`` as compact JSON text: the ``authorization_details`` form parameter."""
    return json.dumps(details_list(details), separators=(",", ":"), ensure_ascii=False)


def details_types(details: AuthorizationDetails | None) -> tuple[str, ...]:
    """The ``type`` of every detail, in order."""
    return tuple(str(detail["type"]) for detail in details or ())


def details_repr(details: AuthorizationDetails | None) -> str:
    """What a repr shows of ``details``: their types only."""
    if details is None:
        return "None"
    return "types(" + ", ".join(repr(kind) for kind in details_types(details)) + ")"
