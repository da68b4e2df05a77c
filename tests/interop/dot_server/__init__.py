"""A minimal Django project serving django-oauth-toolkit for the interop tests.

It runs in a subprocess of its own (``serve.py``); the test process never imports it.
"""
