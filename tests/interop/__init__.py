"""Interoperability tests against real, independent OAuth 2.0 servers."""
