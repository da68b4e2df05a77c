"""Fixtures of the interop tests: a real django-oauth-toolkit server (see ``dot.py``)."""

from __future__ import annotations

from interop.dot import dot_server, dot_server_path_issuer

__all__ = ["dot_server", "dot_server_path_issuer"]
