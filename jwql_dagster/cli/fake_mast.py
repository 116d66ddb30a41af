"""`jwql-dagster fake-mast` (being built: see the issue that owns it)."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fake-mast", help="(not available yet)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print("jwql-dagster fake-mast is not available yet in this version", file=sys.stderr)
    return 1
