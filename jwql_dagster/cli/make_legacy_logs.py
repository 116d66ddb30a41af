"""`jwql-dagster make-legacy-logs PATH`: a realistic jwql cron-log tree for demos and tests."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "make-legacy-logs",
        help="write a jwql-style cron-log tree (PATH/ops/<module>/<module>_<host>_<time>.log)",
        description=(
            "Write a legacy jwql cron-log tree with times relative to now: modules on a regular cadence, "
            "one whose latest run crashed, one overdue, one whose latest log is empty, one with too few runs. "
            "Point JWQL_LOG_ROOT at PATH and materialize monitor_status to see them."
        ),
    )
    p.add_argument("path", type=Path, help="log root to create (JWQL_LOG_ROOT); existing files with the same names are replaced")
    p.add_argument("--host", default="pljwql1", help="host name used in file names (default: pljwql1)")
    p.add_argument("--seed", type=int, default=1, help="random seed for run durations and jitter (default: 1)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jwql_dagster.demo.legacy_logs import make_legacy_logs

    if args.path.exists() and not args.path.is_dir():
        print(f"jwql-dagster make-legacy-logs: {args.path} exists and is not a directory", file=sys.stderr)
        return 2
    truth = make_legacy_logs(args.path, host=args.host, seed=args.seed)
    for module, t in truth.items():
        flag = " possibly missing" if t["possibly_missing"] else ""
        print(f"{module:32s} {t['runs']:3d} logs  latest {t['status']}{flag}")
    print(f"wrote {sum(t['runs'] for t in truth.values())} logs under {args.path.resolve()}/ops")
    return 0
