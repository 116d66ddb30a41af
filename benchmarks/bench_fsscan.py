"""Benchmark the archive scan: ours vs GNU find (the floor) vs a jwql-style os.walk scan.

Builds (or reuses, with --tree) a tree of sparse files with realistic JWST names in
``{public,proprietary}/jwPPPPP/jwPPPPPOOOVVV/`` and stage-3 ``jwPPPPP-oOOO/`` folders,
then times, on the same warm tree in one run:

* ``find ROOT/public ROOT/proprietary -type f -printf '%s %p\\n'`` (one lstat per file; the floor)
* ``scan_archive`` (ours: scandir, one lstat per file, cheap name classification)
* jwql's monitor_filesystem loop: ``os.walk`` + ``os.path.isfile`` + ``os.path.getsize``
  + the full filename parser on every FITS name

Budget (ARCHITECTURE.md): ours within 2x find and at least 1.5x faster than the
os.walk scan. Prints each median of ``--repeat`` runs and the two ratios; exits 1
when the budget is missed.

    .venv/bin/python benchmarks/bench_fsscan.py --files 200000 --tree /tmp/fsscan-tree
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from jwql_dagster.archive.filenames import UnrecognizedFilenameError, parse_filename
from jwql_dagster.filesystem.scan import scan_archive

DETECTORS = {
    "nircam": ["nrca1", "nrca2", "nrca3", "nrca4", "nrca5", "nrcb1", "nrcb2", "nrcb3", "nrcb4", "nrcb5"],
    "niriss": ["nis"],
    "nirspec": ["nrs1", "nrs2"],
    "miri": ["mirimage", "mirifushort", "mirifulong"],
    "fgs": ["guider1", "guider2"],
}
SUFFIXES = ["uncal", "rate", "rateints", "cal", "calints", "trapsfilled", "ramp"]
FILTERS = {"nircam": "f150w", "niriss": "f090w", "nirspec": "clear-prism", "miri": "f770w", "fgs": "clear"}
SIZES = {"uncal": 176_000_000, "rate": 50_400_000, "rateints": 151_000_000, "cal": 117_000_000,
         "calints": 300_000_000, "trapsfilled": 50_000_000, "ramp": 500_000_000, "i2d": 400_000_000, "msa": 90_000}
MARKER = ".bench_fsscan_tree"


def build_tree(root: Path, n_files: int, seed: int = 7) -> int:
    """Create at least ``n_files`` sparse files with JWST names; returns the number created."""
    rng = random.Random(seed)
    made = 0
    program = 1000
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    t0 = time.perf_counter()
    next_report = 50_000
    while made < n_files:
        program += rng.randint(1, 7)
        prog = f"{program:05d}"
        area = "public" if rng.random() < 0.6 else "proprietary"
        inst = rng.choice(list(DETECTORS))
        pdir = root / area / f"jw{prog}"
        for obs in range(1, rng.randint(2, 6)):
            for visit in range(1, rng.randint(2, 4)):
                vdir = pdir / f"jw{prog}{obs:03d}{visit:03d}"
                vdir.mkdir(parents=True, exist_ok=True)
                names = []
                for grp in range(1, rng.randint(2, 4)):
                    for exp in range(1, rng.randint(2, 5)):
                        for det in DETECTORS[inst]:
                            for suf in rng.sample(SUFFIXES, rng.randint(2, 5)):
                                names.append((f"jw{prog}{obs:03d}{visit:03d}_0{grp}101_{exp:05d}_{det}_{suf}.fits", SIZES[suf]))
                if inst == "nirspec":
                    names.append((f"jw{prog}{obs:03d}{visit:03d}_01_msa.fits", SIZES["msa"]))
                if rng.random() < 0.3:
                    names.append((f"jw{prog}{obs:03d}{visit:03d}_gs-fg_{rng.randint(10**12, 10**13 - 1)}_cal.fits", 2_000_000))
                if rng.random() < 0.05:
                    names.append((f"README_{obs}_{visit}.txt", 1000))
                    names.append((f"jw{prog}_not_a_jwst_name.fits", 2880))
                for name, size in names:
                    fd = os.open(vdir / name, flags, 0o644)
                    os.ftruncate(fd, size)
                    os.close(fd)
                made += len(names)
            s3 = pdir / f"jw{prog}-o{obs:03d}"
            s3.mkdir(parents=True, exist_ok=True)
            name = f"jw{prog}-o{obs:03d}_t001_{inst}_{FILTERS[inst]}_i2d.fits"
            fd = os.open(s3 / name, flags, 0o644)
            os.ftruncate(fd, SIZES["i2d"])
            os.close(fd)
            made += 1
        if made >= next_report:
            print(f"  built {made} files ({time.perf_counter() - t0:.0f} s)", flush=True)
            next_report += 50_000
    (root / MARKER).write_text(str(made))
    return made


def jwql_style(root: Path) -> tuple[int, int, int]:
    """jwql's gather_statistics loop: os.walk, isfile + getsize per file, full parse per FITS name."""
    n = size = fits = 0
    for area in ("public", "proprietary"):
        for dirpath, _dirs, files in os.walk(root / area):
            n += len(files)
            for fname in files:
                path = os.path.join(dirpath, fname)
                if os.path.isfile(path):
                    size += os.path.getsize(path)
                    if fname.endswith(".fits"):
                        fits += 1
                        try:
                            parse_filename(fname)
                        except UnrecognizedFilenameError:
                            pass
    return n, size, fits


def run_find(root: Path) -> int:
    out = subprocess.run(
        ["find", str(root / "public"), str(root / "proprietary"), "-type", "f", "-printf", "%s %p\n"],
        check=True, stdout=subprocess.PIPE,
    ).stdout
    return out.count(b"\n")


def timed(fn, repeat: int) -> tuple[float, object]:
    times, value = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), value


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=200_000, help="minimum number of files in the tree")
    ap.add_argument("--tree", type=Path, help="reuse/build the tree here (kept); default: a temp dir, removed")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per method (median is reported)")
    ap.add_argument("--workers", type=int, default=2, help="also time scan_archive(workers=N) when N > 1")
    args = ap.parse_args(argv)
    tmp = None
    if args.tree is None:
        tmp = tempfile.mkdtemp(prefix="bench-fsscan-")
        root = Path(tmp)
    else:
        root = args.tree
        root.mkdir(parents=True, exist_ok=True)
    try:
        marker = root / MARKER
        if marker.exists() and int(marker.read_text()) >= args.files:
            n_made = int(marker.read_text())
            print(f"reusing tree {root} ({n_made} files)")
        else:
            shutil.rmtree(root / "public", ignore_errors=True)
            shutil.rmtree(root / "proprietary", ignore_errors=True)
            t = time.perf_counter()
            n_made = build_tree(root, args.files)
            print(f"built tree {root}: {n_made} files in {time.perf_counter() - t:.1f} s")
        run_find(root)  # warm the dentry/inode caches once for every method
        t_find, n_find = timed(lambda: run_find(root), args.repeat)
        t_ours, scan = timed(lambda: scan_archive(root), args.repeat)
        t_jwql, (n_jwql, size_jwql, _) = timed(lambda: jwql_style(root), args.repeat)
        assert scan.total_file_count == n_find == n_jwql, (scan.total_file_count, n_find, n_jwql)
        assert scan.total_file_size == size_jwql
        print(f"files: {n_find}  FITS: {scan.fits_file_count}  unrecognized: {scan.unrecognized_count}  "
              f"directories: {scan.directories}")
        print(f"find -printf (floor)     : {t_find:7.3f} s")
        print(f"ours (scan_archive)      : {t_ours:7.3f} s   {n_find / t_ours:,.0f} files/s")
        if args.workers > 1:
            t_par, par = timed(lambda: scan_archive(root, workers=args.workers), args.repeat)
            assert par.total_file_count == n_find and par.by_type == scan.by_type
            print(f"ours, {args.workers} processes       : {t_par:7.3f} s   ({t_ours / t_par:.2f}x vs 1 process)")
        print(f"jwql os.walk+getsize     : {t_jwql:7.3f} s")
        r_find = t_ours / t_find
        r_jwql = t_jwql / t_ours
        ok = r_find <= 2.0 and r_jwql >= 1.5
        print(f"ours / find              : {r_find:.2f}x  (budget <= 2.0)")
        print(f"jwql-style / ours        : {r_jwql:.2f}x  (budget >= 1.5)")
        print("budget met" if ok else "BUDGET MISSED")
        return 0 if ok else 1
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
