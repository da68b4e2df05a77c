"""Helpers shared by the test suite: clocks, scripted endpoints, request readers, and
the few internal names some tests have to reach (:mod:`support.internals`)."""
