"""TLS client certificates for mutual TLS (RFC 8705): :func:`client_tls_context` builds
the ``ssl.SSLContext`` an ``httpx``/``httpx2`` client presents a certificate with.

Both packages take it as ``verify=`` (their ``cert=`` argument is deprecated). The
context holds the private key; anyoauth never reads it back, and no error raised here
shows a key, a password or a file's content.
"""

from __future__ import annotations

import os
import ssl

from ._core.errors import ConfigurationError

__all__ = ["client_tls_context"]

_Path = str | os.PathLike[str]


def client_tls_context(
    certificate: _Path,
    key: _Path | None = None,
    *,
    password: str | bytes | None = None,
    cafile: _Path | None = None,
    cadata: str | bytes | None = None,
) -> ssl.SSLContext:
    """An ``ssl.SSLContext`` that verifies servers and presents a client certificate.

    ``certificate`` is a PEM file holding the client certificate (and its chain),
    ``key`` a PEM file with its private key (``None``: the key is in ``certificate``'s
    file), decrypted with ``password`` when it is encrypted. Servers are verified
    against ``cafile`` / ``cadata`` (PEM) when given, else against certifi's roots, as
    httpx does by default. Pass the context to the HTTP client anyoauth uses, and to the
    one that calls the APIs when tokens are certificate-bound::

        tls = anyoauth.client_tls_context("client.pem", "client.key")
        http = httpx.AsyncClient(verify=tls)
        client = anyoauth.Client(strategy, http=http)

    Raises :class:`ConfigurationError` when a file is missing or unreadable, or the
    key does not match the certificate (the message names neither the key nor the
    password).
    """
    if cafile is None and cadata is None:
        import certifi

        cafile = certifi.where()
    try:
        context = ssl.create_default_context(cafile=cafile, cadata=cadata)
    except (OSError, ssl.SSLError, ValueError, TypeError):
        raise ConfigurationError("the trusted certificates cannot be loaded") from None
    try:
        context.load_cert_chain(certificate, key, password)
    except FileNotFoundError:
        raise ConfigurationError("the client certificate or key file does not exist") from None
    except (OSError, ssl.SSLError, ValueError, TypeError) as exc:
        reason = "the key does not match the certificate" if _mismatch(exc) else "unreadable"
        raise ConfigurationError(
            f"the client certificate or its key cannot be loaded ({reason})"
        ) from None
    return context


def _mismatch(exc: BaseException) -> bool:
    return isinstance(exc, ssl.SSLError) and "KEY_VALUES_MISMATCH" in (exc.reason or "")
