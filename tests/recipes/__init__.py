"""Tests of the framework recipes in docs/recipes."""
