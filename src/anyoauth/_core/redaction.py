"""Taking the secrets of a request out of the provider text that enters an error.

A server may echo the request it got in its error (a real-world bug): the ``Basic``
credential, the client secret, the code, the PKCE verifier, a token. Each
:class:`~anyoauth.HttpRequest` knows the secrets it carries; the answer to it is read
within :func:`redacting`, and every error built there (see :mod:`.errors`) shows the
provider's text with those secrets, in raw and encoded forms, replaced by ``<redacted>``
before it is clipped.
"""

from __future__ import annotations

import base64
import contextvars
import html
import json
import re
from typing import Protocol
from urllib.parse import quote, quote_plus

__all__ = [
    "MARK",
    "CarriesSecrets",
    "Redaction",
    "RedactionScope",
    "current_redaction",
    "redacted",
    "redacting",
]

MARK = "<redacted>"
"""What replaces a secret, or a piece of one, in provider text."""

_MIN_SECRET = 4
"""Shorter values are not treated as secrets: redacting them would garble the text and
protect nothing."""

_FRAGMENT = 10
"""Any piece this long of a secret, in any of its encoded forms, is redacted too: a
server that echoes the request cut short shows half a secret."""

_PERCENT_ESCAPE = re.compile("%[0-9a-fA-F]{2}")
_JWT_PIECE = re.compile(r"eyJ[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*){0,4}")
"""A JSON Web Token (``eyJ`` is base64url for ``{"``), whole or cut: provider text never
needs one, and a re-signed client assertion is not among a request's known secrets."""


def _json_forms(text: str) -> set[str]:
    forms = {json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]}
    return forms | {form.replace("/", "\\/") for form in forms}


def _base64_forms(text: str) -> set[str]:
    """``text`` base64-encoded on its own, and the part of it that shows whatever its
    position in a longer base64-encoded text (each of the three alignments)."""
    data = text.encode("utf-8", "surrogatepass")
    forms: set[str] = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        whole = encode(data).decode("ascii")
        forms |= {whole, whole.rstrip("=")}
        for offset in range(3):
            encoded = encode(bytes(offset) + data).decode("ascii")
            first = -(-offset // 3)  # the first 3-byte group made of text only
            last = (offset + len(data)) // 3  # one past the last
            core = encoded[4 * first : 4 * last]
            if len(core) >= 8:
                forms.add(core)
    return forms


def _encoded_forms(secret: str) -> set[str]:
    """``secret`` as a server may echo it: raw, form- and percent-encoded, JSON-escaped,
    HTML-escaped, base64-encoded, and each of the first four once more."""
    first = {
        secret,
        quote_plus(secret, safe=""),
        quote(secret, safe=""),
        quote(secret),
        html.escape(secret),
        *_json_forms(secret),
    }
    forms = set(first)
    for form in first:
        forms |= {quote_plus(form, safe=""), quote(form, safe=""), *_json_forms(form)}
        forms |= _base64_forms(form)
    return {form for form in forms if len(form) >= _MIN_SECRET}


class CarriesSecrets(Protocol):
    """What :func:`redacting` takes: a value that knows the secrets it carries
    (an :class:`~anyoauth.HttpRequest`)."""

    @property
    def secrets(self) -> frozenset[str]:
        """The secret values carried."""
        ...  # pragma: no cover


class Redaction:
    """Removes secrets from text: every occurrence of each secret in raw and encoded forms
    (see :func:`_encoded_forms`; percent escapes in either case), every piece of
    :data:`_FRAGMENT` characters or more of one, and anything shaped like a JSON Web Token.

    Built from the requests whose answer is being read; the secrets are worked out on
    the first use, which only an error needs.
    """

    __slots__ = ("_forms", "_grams", "_longest", "_sources")

    def __init__(self, sources: tuple[CarriesSecrets, ...]) -> None:
        self._sources = sources
        self._forms: tuple[str, ...] | None = None
        self._grams: frozenset[str] = frozenset()
        self._longest = 0

    def including(self, source: CarriesSecrets) -> Redaction:
        """A redaction of these secrets and those of ``source``."""
        return Redaction((*self._sources, source))

    def _prepare(self) -> tuple[str, ...]:
        if self._forms is None:
            forms: set[str] = set()
            for source in self._sources:
                for secret in source.secrets:
                    if len(secret) >= _MIN_SECRET:
                        forms |= _encoded_forms(secret)
            self._forms = tuple(sorted(forms, key=len, reverse=True))
            self._grams = frozenset(
                form[at : at + _FRAGMENT]
                for form in forms
                for at in range(len(form) - _FRAGMENT + 1)
            )
            self._longest = max(map(len, forms), default=0)
        return self._forms

    def __call__(self, text: str, *, keep: int | None = None) -> str:
        """``text`` with each secret, piece of one or token replaced by ``<redacted>``.

        With ``keep``, only as much of ``text`` is read as a clip to ``keep`` characters
        can show (and some more, so a secret cut there is in the part clipped off).
        """
        forms = self._prepare()
        if keep is None:
            return self._redact(text, forms)
        size = keep + 2 * self._longest + _FRAGMENT
        while True:
            piece = text[:size]
            redacted = self._redact(piece, forms)
            if len(piece) == len(text) or len(redacted) > keep + self._longest:
                return redacted
            size *= 2

    def _redact(self, text: str, forms: tuple[str, ...]) -> str:
        # Percent escapes compared in one case; the length stays, so positions match.
        seen = _PERCENT_ESCAPE.sub(lambda match: match.group().upper(), text)
        hidden = bytearray(len(text))
        for form in forms:
            at = seen.find(form)
            while at >= 0:
                hidden[at : at + len(form)] = b"\1" * len(form)
                at = seen.find(form, at + 1)
        grams = self._grams
        if grams:
            for at in range(len(seen) - _FRAGMENT + 1):
                if seen[at : at + _FRAGMENT] in grams:
                    hidden[at : at + _FRAGMENT] = b"\1" * _FRAGMENT
        for match in _JWT_PIECE.finditer(seen):
            hidden[match.start() : match.end()] = b"\1" * (match.end() - match.start())
        if not any(hidden):
            return text
        shown: list[str] = []
        at = 0
        while at < len(text):
            end = at
            while end < len(text) and hidden[end] == hidden[at]:
                end += 1
            shown.append(MARK if hidden[at] else text[at:end])
            at = end
        return "".join(shown)


_REDACTION: contextvars.ContextVar[Redaction | None] = contextvars.ContextVar(
    "anyoauth_redaction", default=None
)


class RedactionScope:
    """The context manager :func:`redacting` returns."""

    __slots__ = ("_source", "_token")

    def __init__(self, request: CarriesSecrets | None) -> None:
        self._source = request
        self._token: contextvars.Token[Redaction | None] | None = None

    def __enter__(self) -> None:
        outer = _REDACTION.get()
        source = self._source
        if source is None:
            current = outer
        else:
            current = Redaction((source,)) if outer is None else outer.including(source)
        self._token = _REDACTION.set(current)

    def __exit__(self, *exc_info: object) -> None:
        if self._token is not None:
            _REDACTION.reset(self._token)
            self._token = None


def redacting(request: CarriesSecrets | None) -> RedactionScope:
    """Within ``with redacting(request):``, every error built takes the secrets of
    ``request`` out of the text it shows, before that text is clipped: a provider's
    ``error``, ``error_description`` and ``error_uri``, an
    :class:`~anyoauth.InvalidResponse`'s ``reason``, and any error message.

    Read the answer to ``request`` within it. Scopes nest (the inner one redacts the
    secrets of both); ``None`` adds nothing. The secrets are worked out only if an
    error is built.
    """
    return RedactionScope(request)


def current_redaction() -> Redaction | None:
    """The redaction of the innermost :func:`redacting` scope, if any."""
    return _REDACTION.get()


def redacted(text: str) -> str:
    """``text`` redacted of the secrets of the current :func:`redacting` scope."""
    redaction = _REDACTION.get()
    return text if redaction is None else redaction(text)
