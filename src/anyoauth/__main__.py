"""``python -m anyoauth`` / ``anyoauth``: the command line."""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the ``anyoauth`` command; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="anyoauth", description="Async OAuth 2.0 flows for Geni, Teamwork, Keycloak and more."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "demo",
        help="run every built-in provider flow against the emulator on loopback",
        description="Start the provider emulator on 127.0.0.1 and run the Geni, Teamwork and "
        "Bank of Georgia flows end to end; exit 0 only if every outcome is as expected.",
    )
    args = parser.parse_args(argv)
    if args.command != "demo":  # pragma: no cover - argparse rejects unknown commands
        parser.error(f"unknown command {args.command!r}")
    import anyio

    from ._demo import run_demo

    return anyio.run(run_demo)


if __name__ == "__main__":
    sys.exit(main())
