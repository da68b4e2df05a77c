"""Benchmarks: anyoauth side by side with raw httpx, authlib and httpx-auth.

Run them with ``nox -s bench`` (it installs the peers) or, in an environment that has
them, ``python -m benchmarks``. Results go to ``benchmarks/results/``: ``results.json``,
``results.md`` and the plots. ``python -m benchmarks --help`` lists the options.
"""
