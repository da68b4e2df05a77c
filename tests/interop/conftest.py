"""Fixtures of the interop tests: a real django-oauth-toolkit server (see ``dot.py``)
and a real oidc-provider (see ``op.py``)."""

from __future__ import annotations

from interop.dot import dot_server, dot_server_path_issuer
from interop.op import (
    op_server,
    op_server_ciba,
    op_server_mtls,
    op_server_mtls_aliases,
    op_server_nonce,
    op_server_resources,
)

__all__ = [
    "dot_server",
    "dot_server_path_issuer",
    "op_server",
    "op_server_ciba",
    "op_server_mtls",
    "op_server_mtls_aliases",
    "op_server_nonce",
    "op_server_resources",
]
