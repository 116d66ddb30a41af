"""`jwql-dagster make-archive PATH`: write a synthetic JWST archive (jwql layout) with a truth file."""

from __future__ import annotations

import argparse
import sys
import time


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "make-archive",
        help="write a synthetic JWST archive (public/proprietary programs, all instruments) for demos and tests",
        description=(
            "Write a synthetic JWST archive under PATH in jwql's layout "
            "({public,proprietary}/jwPPPPP/jwPPPPPOOOVVV/*.fits, stage-3 products in jwPPPPP-oNNN/), "
            "with every instrument and detector, uncal/rate/rateints/cal/i2d products and a truth file "
            "PATH/synthetic_truth.json listing each file, its stars, hot pixels, NaNs and cosmic rays. "
            "The same seed gives the same bytes."
        ),
    )
    p.add_argument("path", metavar="PATH", help="archive root (use it as JWQL_FILESYSTEM)")
    p.add_argument("--programs", type=_positive, default=4, help="number of programs (default 4; 2 cover all instruments)")
    p.add_argument(
        "--size",
        choices=("small", "full"),
        default="small",
        help="small: subarrays up to 256x256, tens of MB (default); full: 2048x2048 full frames incl. a "
        "10x10-group ramp, several GB",
    )
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument(
        "--with-bad-files",
        action="store_true",
        help="add broken files: truncated, non-FITS bytes, no SCI, all-NaN, zero bytes, a badly named file",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="write into a non-empty folder that has no synthetic_truth.json (never needed for a rebuild)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jwql_dagster.cli.progress import progress
    from jwql_dagster.demo.synthetic import TRUTH_FILENAME, ArchiveExistsError, make_archive

    started = time.perf_counter()
    try:
        truth = make_archive(
            args.path,
            programs=args.programs,
            size=args.size,
            seed=args.seed,
            with_bad_files=args.with_bad_files,
            progress=progress,
            force=args.force,
        )
    except ArchiveExistsError as exc:
        print(f"jwql-dagster make-archive: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"jwql-dagster make-archive: cannot write the archive: {exc}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - started
    files = truth["files"]
    total = sum(f["size"] for f in files.values())
    programs = ", ".join(f"{p['program']} ({p['area']}: {', '.join(p['instruments'])})" for p in truth["programs"])
    print(f"Synthetic archive: {args.path}")
    print(f"  {len(files)} files, {total / 1e6:.1f} MB, {len(truth['bad_files'])} bad files, {elapsed:.1f} s")
    print(f"  programs: {programs}")
    print(f"  truth: {args.path.rstrip('/')}/{TRUTH_FILENAME}")
    print(f"  use it with: export JWQL_FILESYSTEM={args.path}")
    return 0
