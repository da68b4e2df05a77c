"""The command's terminal IO. Every character it writes goes through :func:`write`,
which shows anything a terminal would act on escaped (provider text, URLs, profile
names and error messages may hold anything); it also prints the token, reads a pasted
line and the client secret, and relays the library's warnings.

Two things are drawn on a terminal only: the device flow's QR code (:func:`qr_lines`,
made with segno and drawn with block characters and spaces, nothing else) and the
progress line while it polls (:class:`StatusLine`, redrawn after a carriage return, the
one control character the command writes itself; its text goes through
:func:`~anyoauth._core.text.printable` like every other).

Nothing else in this package writes to the terminal (``anyoauth demo`` hands its
lines to ``anyoauth._demo.run_demo``, which escapes them the same way).
"""

from __future__ import annotations

import getpass
import importlib.util
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TextIO, TypeVar

import anyio

from .. import AgentError, StoreError, Token
from .._core.text import printable
from .._core.token import is_token_text

__all__ = [
    "LogToTerminal",
    "StatusLine",
    "ask_secret",
    "clean",
    "in_daemon_thread",
    "is_terminal",
    "out",
    "print_headers",
    "print_json",
    "print_token",
    "qr_available",
    "qr_lines",
    "read_line",
    "read_pasted",
    "say",
    "write",
]

_T = TypeVar("_T")

# Shorter strings are too likely to occur in a message by chance to be cut out of it.
_MIN_REDACTED = 8
# How often a task waiting on a daemon thread looks whether it has finished.
_POLL_SECONDS = 0.05
# The longest line ``--agent manual`` reads (a redirect URL with its code and state).
_MAX_PASTE = 64 * 1024


def write(stream: TextIO, text: str) -> None:
    """The one way the command writes: provider text, URLs, profile names and error
    messages reach the terminal only through :func:`~anyoauth._core.text.printable`
    (every character a terminal acts on, the newline apart, shown escaped)."""
    stream.write(printable(text))
    stream.flush()


def out(line: str) -> None:
    """Write ``line`` on stdout."""
    write(sys.stdout, line + "\n")


def say(line: str) -> None:
    """Write ``line`` on stderr: everything but the output of ``token`` and ``providers``."""
    write(sys.stderr, line + "\n")


def clean(text: str, secrets_seen: Sequence[str]) -> str:
    """One line, with any secret this run handled replaced (belt and braces: no anyoauth
    message contains one)."""
    for secret in secrets_seen:
        if len(secret) >= _MIN_REDACTED:
            text = text.replace(secret, "[redacted]")
    return " ".join(text.split())


class LogToTerminal(logging.Handler):
    """Writes the ``anyoauth`` logger's warnings (and worse) through :func:`write`, so
    a library message never reaches the terminal unescaped (without a handler, Python's
    last-resort one would write it raw)."""

    def __init__(self, secrets_seen: Sequence[str]) -> None:
        super().__init__(logging.WARNING)
        self._secrets_seen = secrets_seen

    def emit(self, record: logging.LogRecord) -> None:
        """Write ``record`` on stderr as one line, secrets cut out."""
        try:
            message = clean(record.getMessage(), self._secrets_seen)
            write(sys.stderr, f"anyoauth: {record.levelname.lower()}: {message}\n")
        except Exception:  # logging's own contract: report, never raise
            self.handleError(record)


def print_token(token: Token) -> None:
    """``token``: the access token, exactly, on stdout; :class:`StoreError` if it is not
    visible ASCII (escaping would print another token; a :class:`Token` never holds
    such a character, this is the output path's own check)."""
    if not is_token_text(token.access_token):
        raise StoreError("the stored access token has unprintable characters")
    write(sys.stdout, token.access_token + "\n")


def print_headers(headers: Sequence[tuple[str, str]]) -> None:
    """``token --headers``: each header as ``Name: value`` on a line of its own on
    stdout, exactly (the form ``curl -H @FILE`` reads); :class:`StoreError` if a value is
    not visible ASCII words (escaping would print another header)."""
    lines = []
    for name, value in headers:
        if not all(is_token_text(word) for word in value.split(" ")):
            raise StoreError(f"the {name} header would have unprintable characters")
        lines.append(f"{name}: {value}\n")
    write(sys.stdout, "".join(lines))


def print_json(data: object) -> None:
    """``--json``: ``data`` as one JSON document on stdout. ASCII only (every other
    character, and every control character, is a ``\\uXXXX`` escape of JSON's own), so
    nothing in it is changed on the way out."""
    write(sys.stdout, json.dumps(data, ensure_ascii=True, indent=2, sort_keys=True) + "\n")


def qr_available() -> bool:
    """Whether segno, which draws the device flow's QR code, is installed."""
    return importlib.util.find_spec("segno") is not None


# A text cell draws two modules, one above the other; a lit half is a light module
# (terminals are light on dark by default, so the code shows dark on light).
_HALF_BLOCKS = {(False, False): " ", (True, False): "\u2580", (False, True): "\u2584"}
_HALF_BLOCKS[True, True] = "\u2588"
# The quiet zone around the code, in modules.
_QR_BORDER = 2


def qr_lines(text: str) -> list[str]:
    """The QR code of ``text`` (segno, a full-size QR code: phones do not read Micro QR)
    as lines of block characters (U+2580, U+2584, U+2588) and spaces, two rows of modules
    per line, light modules drawn, with a quiet zone of light modules around it."""
    import segno

    matrix = segno.make(text, micro=False).matrix
    size = len(matrix) + 2 * _QR_BORDER

    def light(row: int, column: int) -> bool:
        if row >= size:
            return False
        row, column = row - _QR_BORDER, column - _QR_BORDER
        inside = 0 <= row < len(matrix) and 0 <= column < len(matrix)
        return not (inside and matrix[row][column])

    return [
        "".join(_HALF_BLOCKS[light(row, column), light(row + 1, column)] for column in range(size))
        for row in range(0, size, 2)
    ]


class StatusLine:
    """One line of stderr redrawn in place (a terminal only): a carriage return, the
    text through :func:`~anyoauth._core.text.printable`, and spaces over what the last
    text left; :meth:`clear` blanks it."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._width = 0

    def show(self, text: str) -> None:
        """Draw ``text`` over the line (one line of it: newlines become spaces)."""
        text = printable(" ".join(text.split()))
        self._stream.write("\r" + text + " " * max(0, self._width - len(text)))
        self._stream.flush()
        self._width = len(text)

    def clear(self) -> None:
        """Blank the line and put the cursor at its start."""
        if self._width:
            self._stream.write("\r" + " " * self._width + "\r")
            self._stream.flush()
            self._width = 0


def is_terminal(stream: TextIO | None) -> bool:
    """Whether ``stream`` is a terminal (``False`` when it is closed or missing)."""
    try:
        return stream is not None and stream.isatty()
    except (OSError, ValueError):
        return False


def ask_secret(title: str) -> str | None:
    """The client secret typed at a prompt that does not echo; ``None`` without a terminal."""
    if not is_terminal(sys.stdin):
        return None
    try:
        return getpass.getpass(printable(f"{title} client secret (not echoed): ")) or None
    except EOFError:
        return None


async def read_pasted(prompt: str) -> str:
    """``--agent manual``: prompt on stderr, read the pasted line from stdin."""
    return await in_daemon_thread(read_line, prompt)


async def in_daemon_thread(func: Callable[[str], _T], arg: str) -> _T:
    """Run a blocking call (a read from stdin, a browser start) in a daemon thread.

    Unlike a worker thread, a daemon thread still blocked when the command ends (after
    Ctrl-C, or the agent's deadline) does not keep the process alive.
    """
    done = threading.Event()
    box: list[_T] = []
    failure: list[BaseException] = []

    def work() -> None:
        try:
            box.append(func(arg))
        except BaseException as exc:  # handed over to the waiting task
            failure.append(exc)
        finally:
            done.set()

    threading.Thread(target=work, name="anyoauth-cli", daemon=True).start()
    # Polled: waking the event loop from a foreign thread needs anyio >= 4.11.
    while not done.is_set():  # noqa: ASYNC110
        await anyio.sleep(_POLL_SECONDS)
    if failure:
        raise failure[0]
    return box[0]


def read_line(prompt: str) -> str:
    """Prompt on stderr and read one line from file descriptor 0.

    Read byte by byte from the descriptor, not through ``sys.stdin``: a thread blocked
    inside ``sys.stdin``'s buffer would abort the interpreter at exit after Ctrl-C.
    """
    write(sys.stderr, prompt)
    line = bytearray()
    try:
        while not line.endswith(b"\n"):
            byte = os.read(0, 1)
            if not byte:
                if not line:
                    raise EOFError
                break
            line += byte
            if len(line) > _MAX_PASTE:
                raise AgentError("the pasted line is too long")
    finally:
        if not is_terminal(sys.stdin):  # no echo of the line's end: end the prompt's line
            write(sys.stderr, "\n")
    return line.decode("utf-8", "replace")
