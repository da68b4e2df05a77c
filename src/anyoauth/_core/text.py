"""Text that reaches a person's terminal or a protocol line: the two checks for it.

- :func:`is_visible_ascii`: what anyoauth accepts as a URL (from server metadata or
  configuration) and as a token value: ``!`` to ``~`` only. No space, tab, CR, LF,
  NUL, ESC, DEL, C1 control (U+0080 to U+009F, e.g. U+009B, a one-character CSI),
  bidi override (U+202E) or any other non-ASCII character. An IRI is accepted in its
  percent-encoded URI form only.
- :func:`printable`: text anyoauth writes for a person, with every character a
  terminal could act on shown as an escape (``\\x1b``, ``\\u202e``) instead.
"""

from __future__ import annotations

import re

__all__ = ["URL_NOT_VISIBLE_ASCII", "is_visible_ascii", "printable"]

_VISIBLE_ASCII = re.compile("[\x21-\x7e]+").fullmatch

URL_NOT_VISIBLE_ASCII = (
    "has whitespace, control or non-ASCII characters (write an IRI percent-encoded)"
)
"""Why a URL that is not :func:`is_visible_ascii` is refused (after its name)."""


def is_visible_ascii(value: object) -> bool:
    """Whether ``value`` is a non-empty string of visible ASCII characters (``!`` to
    ``~``): no whitespace, no control character, nothing outside ASCII."""
    return isinstance(value, str) and _VISIBLE_ASCII(value) is not None


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: str) -> str:
    """``text`` with every character a terminal could act on (C0 and C1 controls, ESC,
    DEL, bidi overrides and other non-printable characters; all but the newline) shown
    as a ``\\xNN``/``\\uNNNN`` escape instead."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == "\n" else _escape(c) for c in text)
