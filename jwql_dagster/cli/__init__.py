"""The ``jwql-dagster`` command: one sub-command per module in this package.

Each sub-command module defines ``register(subparsers)``, which adds its parser and
sets ``func``; heavy imports stay inside the command so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from jwql_dagster.config import ConfigError

COMMAND_MODULES = (
    "make_archive",
    "register_programs",
    "materialize_all",
    "fake_mast",
    "make_legacy_logs",
    "doctor",
    "serve",
    "ui",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jwql-dagster",
        description="JWST Quicklook monitors on Dagster: build archives, register programs, materialize assets, check the set-up.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"jwql_dagster.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
    )
    if not args.verbose:
        # Alembic announces every plugin at INFO; that noise would bury doctor's report.
        logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"jwql-dagster: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("jwql-dagster: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
