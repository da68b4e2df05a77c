"""Walks everything reachable from a raised error and looks for secrets in it.

From an error it follows ``__cause__``, ``__context__`` (shown or hidden by
``raise ... from None``), ``args``, ``__notes__``, every attribute, the members of an
exception group and the traceback: each frame's local variables (except the frames of the
tests themselves: the caller's locals are the caller's business) and ``tb_next``. From
there it goes into containers, attributes (``__dict__`` and ``__slots__``), closures and
bound methods, to a bounded depth. Every string and bytes value met is searched for each
secret, its first and last half, and its encoded forms.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import FrameType, FunctionType, MethodType, ModuleType, TracebackType
from typing import Any
from urllib.parse import quote, quote_plus

TESTS = str(Path(__file__).resolve().parent.parent)
"""Frames of files under ``tests/`` are the caller's: their locals are not searched."""

MAX_DEPTH = 14
MAX_OBJECTS = 200_000

_ATOMS = (int, float, complex, bool, type(None), type, ModuleType, range, slice)


def pieces(secret: str) -> set[str]:
    """What must not be shown of ``secret``: itself, its first and last half (at least
    twelve characters), and its form-, percent-, JSON- and base64-encoded forms."""
    found = {secret}
    if len(secret) > 12:
        half = max(12, len(secret) // 2)
        found |= {secret[:half], secret[-half:]}
    data = secret.encode()
    found |= {
        quote_plus(secret, safe=""),
        quote(secret, safe=""),
        json.dumps(secret)[1:-1],
        base64.b64encode(data).decode().rstrip("="),
        base64.urlsafe_b64encode(data).decode().rstrip("="),
    }
    return {piece for piece in found if len(piece) >= 8}


def secret_pieces(secrets: Iterable[str]) -> dict[str, str]:
    """Each piece to look for, mapped to the secret it comes from."""
    return {piece: secret for secret in secrets for piece in pieces(secret)}


def find_secrets(root: BaseException, secrets: Iterable[str]) -> list[str]:
    """Where a secret is reachable from ``root``: ``path: piece`` for each finding."""
    wanted = secret_pieces(secrets)
    findings: list[str] = []
    seen: set[int] = set()
    pending: list[tuple[object, str, int]] = [(root, type(root).__name__, 0)]
    while pending and len(seen) < MAX_OBJECTS:
        value, path, depth = pending.pop()
        if isinstance(value, (str, bytes, bytearray, memoryview)):
            text = value if isinstance(value, str) else bytes(value).decode("latin-1")
            findings += [f"{path}: {piece!r}" for piece in wanted if piece in text]
            continue
        if isinstance(value, _ATOMS) or id(value) in seen or depth >= MAX_DEPTH:
            continue
        seen.add(id(value))
        pending += [(child, f"{path}{step}", depth + 1) for step, child in _children(value)]
    return findings


def _children(value: object) -> Iterable[tuple[str, object]]:
    if isinstance(value, BaseException):
        yield ".__cause__", value.__cause__
        yield ".__context__", value.__context__
        yield ".args", value.args
        yield ".__traceback__", value.__traceback__
        if isinstance(value, BaseExceptionGroup):
            yield ".exceptions", value.exceptions
    if isinstance(value, TracebackType):
        yield ".tb_frame", value.tb_frame
        yield ".tb_next", value.tb_next
        return
    if isinstance(value, FrameType):
        if not value.f_code.co_filename.startswith(TESTS):
            where = f"[{value.f_code.co_name}@{Path(value.f_code.co_filename).name}]"
            for name, local in value.f_locals.items():
                yield f"{where}.{name}", local
        return  # never f_back: the frames above the catch are the caller's
    if isinstance(value, FunctionType):
        for number, cell in enumerate(value.__closure__ or ()):
            with contextlib.suppress(ValueError):  # an empty cell
                yield f".<closure {number}>", cell.cell_contents
        return
    if isinstance(value, MethodType):
        yield ".__self__", value.__self__
        yield ".__func__", value.__func__
        return
    if isinstance(value, Mapping):
        for key, item in list(value.items()):
            yield f"[{key!r:.40}]", item
            yield ".<key>", key
        return
    if isinstance(value, (list, tuple, set, frozenset)):
        for number, item in enumerate(list(value)):
            yield f"[{number}]", item
        return
    yield from _attributes(value)


def _attributes(value: object) -> Iterable[tuple[str, Any]]:
    names: list[str] = []
    with contextlib.suppress(TypeError):  # no __dict__
        names += list(vars(value))
    for cls in type(value).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        names += [slots] if isinstance(slots, str) else list(slots)
    for name in dict.fromkeys(names):
        if name in ("__weakref__", "__dict__"):
            continue
        try:
            attribute = object.__getattribute__(value, name)
        except AttributeError:
            continue
        yield f".{name}", attribute
