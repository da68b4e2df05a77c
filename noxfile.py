"""Development sessions. Versions and dependency groups come from pyproject.toml.

nox -s tests       the whole suite with httpx clients and the newest redis-py, then the
                   tests that use the HTTP clients or Redis again with httpx2 and the
                   lowest redis-py and hiredis the `redis` extra allows
nox -s lint        ruff check, ruff format --check and the import layering contracts
                   (import-linter, [tool.importlinter] in pyproject.toml)
nox -s typecheck   mypy --strict over src and tests
nox -s demo        every flow end to end against the built-in emulator
nox -s qt          the desktop recipe in a real headless QWebEngineView (installs
                   PySide6, ~700 MB; not run by default)
nox -s docs        the documentation site, `mkdocs build --strict` into site/
                   (mkdocs.yml, tools/docs_hooks.py; the README test command and CI
                   run it after tests, lint and typecheck)
nox -s bench       benchmarks against raw httpx, authlib and httpx-auth (not run by
                   default; installs redis-server with apt-get where it can; see
                   docs/benchmarks.md)
"""

from __future__ import annotations

import re
import shutil

import nox

nox.needs_version = ">=2025.2.9"
nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.error_on_missing_interpreters = True

PYPROJECT = nox.project.load_toml("pyproject.toml")


def group(name: str) -> list[str]:
    return list(nox.project.dependency_groups(PYPROJECT, name))


def floors(extra: str) -> list[str]:
    """``name==X`` for each ``name>=X`` of an extra: the lowest versions it allows."""
    pins = []
    for requirement in PYPROJECT["project"]["optional-dependencies"][extra]:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*>=\s*([0-9][0-9.]*)", requirement)
        if match is None:
            raise ValueError(f"no plain floor in {requirement!r} of the {extra!r} extra")
        pins.append(f"{match[1]}=={match[2]}")
    return pins


@nox.session
@nox.parametrize("http", ["httpx", "httpx2"])
def tests(session: nox.Session, http: str) -> None:
    """Run the whole test suite on asyncio and trio with one HTTP package's clients."""
    # The example plugin is installed like any plugin; tests/plugins use its entry points.
    session.install("-e", ".", "-e", "examples/plugin-example", *group("test"))
    if http == "httpx2":
        # RedisStore's tests (TLS checks included) then run on the lowest redis-py and
        # hiredis pyproject.toml allows; the httpx run keeps the newest.
        session.install(*floors("redis"))
    session.run(
        "python", "-c", "import redis, hiredis; print(redis.__version__, hiredis.__version__)"
    )
    env = {"ANYOAUTH_TEST_HTTP": http}
    if http == "httpx2":
        # The second run collects only the tests whose code differs from the first
        # run's: those using the HTTP package's clients or redis-server (tests/conftest.py).
        env["ANYOAUTH_TEST_STACK_ONLY"] = "1"
    # One pytest worker per core (pytest-xdist); `-- -n 0` runs in one process.
    session.run("pytest", "-n", "auto", *session.posargs, env=env)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check, ruff format --check, and the import layering (lint-imports)."""
    session.install(*group("lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    # The contracts in pyproject.toml ([tool.importlinter]); read from the source tree.
    session.run("lint-imports", "--no-cache", env={"PYTHONPATH": "src"})


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over src and tests."""
    session.install("-e", ".", *group("typecheck"))
    session.run("mypy")


@nox.session
def demo(session: nox.Session) -> None:
    """Run every flow (the provider flows, then the standard ones) against the emulator."""
    session.install(".")
    session.run("python", "-m", "anyoauth", "demo", *session.posargs)


@nox.session(default=False)
def qt(session: nox.Session) -> None:
    """The desktop Geni recipe in a real QWebEngineView, headless (installs PySide6)."""
    session.install("-e", ".", "PySide6", *group("test"))
    session.run(
        "pytest",
        "-m",
        "qt",
        "tests/recipes/test_desktop_geni_qt.py",
        *session.posargs,
        env={"QT_QPA_PLATFORM": "offscreen"},
    )


@nox.session(default=False)
def docs(session: nox.Session) -> None:
    """Build the documentation site into site/; any warning fails the build.

    ``nox -s docs -- serve`` serves it with live reload instead.
    """
    mypy = [req for req in group("typecheck") if req.startswith("mypy")]
    session.install("-e", ".", *group("docs"), *mypy)
    # The build hooks and Griffe extension are typed like the package.
    session.run("mypy", "tools/docs_hooks.py")
    env = {"NO_MKDOCS_2_WARNING": "1"}
    if session.posargs[:1] == ["serve"]:
        session.run("mkdocs", "serve", "--strict", *session.posargs[1:], env=env)
    else:
        session.run("mkdocs", "build", "--strict", *session.posargs, env=env)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks against raw httpx, authlib and httpx-auth, into benchmarks/results/.

    Options go after ``--``: ``nox -s bench -- --quick``, ``-- --only storm fleet``.
    """
    if shutil.which("redis-server") is None:
        # Debian/Ubuntu with root or sudo: install it, as CI does; elsewhere say how.
        if shutil.which("apt-get") is not None:
            session.run("bash", ".ci/install-redis", external=True)
        if shutil.which("redis-server") is None:
            session.error(
                "redis-server is not on PATH; the fleet and RedisStore measurements need "
                "it. Install it (Debian/Ubuntu: sudo apt-get install redis-server; macOS: "
                "brew install redis) and run `nox -s bench` again."
            )
    session.install(".", *group("bench"))
    session.run("python", "-m", "benchmarks", *session.posargs)
