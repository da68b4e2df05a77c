"""Helpers shared by the test suite.

- :mod:`support.endpoints`: :class:`~support.endpoints.ScriptedEndpoint`, a scripted
  HTTP endpoint for the clients' ``MockTransport``.
- :mod:`support.headers`: reading the headers of the core's ``HttpRequest`` values
  (``header()``, ``decode_basic()``).
- :mod:`support.oauth_server`: a standard authorization server on paper (URLs, keys,
  answers, strategies) for the sans-IO core's tests.
- :mod:`support.internals`: the few internal names of anyoauth some tests reach.

Tests that need a clock use :class:`anyoauth.testing.ManualClock`. The client tests'
fixtures and helpers are in ``tests/client/conftest.py`` and ``tests/client/helpers.py``.
"""
