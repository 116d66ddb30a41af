"""Benchmark the file-arrival sensor's tick against a naive full os.walk listing, in one run.

Builds (or reuses, with --tree) a tree of tiny files: ``--files`` files (100,000) in
``--dirs`` visit folders (2,000) of ``--programs`` programs under
``{public,proprietary}/jwPPPPP/jwPPPPPOOOVVV/``. A ``files`` table holding every file
(what archive_files writes) lives in a SQLite database next to the tree and the scan
reads it through the sensor's own lookup, as in production. Then, on the same warm tree:

* baseline: ``os.walk`` over the archive with one ``stat`` per FITS file (what a sensor
  without a cursor must do every tick to see new or changed files), and ``os.walk``
  listing alone;
* the first tick on the existing archive (every partition materialized: state built);
* a tick with no change (median of --repeat);
* a tick after 10 new files;
* a tick after 1,000 new files spread over 50 programs.

Prints each time, its ratio to the os.walk+stat baseline, and the state's size; exits 1
when the no-change tick takes a second or more (ARCHITECTURE.md budget).

With ``--sensor`` the same tree goes through the ``new_fits_files`` sensor itself (Dagster
instance, state in the jwql database, run requests) as on a fresh installation: the first
tick on an unmaterialized archive, the runs finishing, ticks with no change, 1,000 arrivals
over 200 programs, and the ticks after. It prints ticks, runs requested, cells, rows and
seconds (docs/scaling.md):

    .venv/bin/python benchmarks/bench_sensor.py [--tree /tmp/sensor-tree] [--repeat 5]
    .venv/bin/python benchmarks/bench_sensor.py --sensor --programs 500 --dirs 5000 --files 150000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from jwql_dagster.archive.arrivals import scan_archive
from jwql_dagster.archive.filenames import quick_classify

DETECTORS = [("nircam", "nrcb1"), ("nircam", "nrca3"), ("niriss", "nis"), ("nirspec", "nrs1"), ("miri", "mirimage")]
SUFFIXES = ["uncal", "rate", "cal", "rateints", "i2d"]


def visit_dirs(root: Path, programs: int, dirs: int) -> list[Path]:
    out = []
    per_program = max(1, dirs // programs)
    for p in range(programs):
        program = f"jw{1000 + p:05d}"
        area = "public" if p % 5 else "proprietary"
        for v in range(per_program):
            out.append(root / area / program / f"{program}{1 + v // 50:03d}{1 + v % 50:03d}")
    return out[:dirs]


def file_name(visit: Path, i: int) -> str:
    _, det = DETECTORS[(i // 5) % len(DETECTORS)]
    return f"{visit.name}_02101_{1 + i // 25:05d}_{det}_{SUFFIXES[i % 5]}.fits"


def build_tree(root: Path, files: int, dirs: int, programs: int) -> list[Path]:
    vdirs = visit_dirs(root, programs, dirs)
    per_dir = files // len(vdirs)
    t0 = time.perf_counter()
    for d in vdirs:
        d.mkdir(parents=True, exist_ok=True)
        for i in range(per_dir):
            open(d / file_name(d, i), "wb").close()
    print(f"built {per_dir * len(vdirs):,} files in {len(vdirs):,} visit folders of {programs} programs "
          f"in {time.perf_counter() - t0:.1f} s", flush=True)
    return vdirs


def naive_walk(root: Path, with_stat: bool) -> int:
    n = 0
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            if name.endswith(".fits"):
                if with_stat:
                    os.stat(os.path.join(dirpath, name))
                n += 1
    return n


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def record(db, root: Path, paths: list[Path]) -> None:
    """Write files rows for ``paths`` (what archive_files would do after the runs)."""
    from jwql_dagster.db.models import File

    rows = []
    for p in paths:
        st = p.stat()
        rel = p.relative_to(root).parts
        found = quick_classify(p.name)
        rows.append({
            "filename": p.name, "area": rel[0], "path": str(p), "program": rel[1],
            "instrument": found[0] if found else None, "size": st.st_size,
            "mtime": datetime.fromtimestamp(st.st_mtime, timezone.utc), "mtime_ns": st.st_mtime_ns,
        })
    with db.session() as s:
        db.upsert(s, File, rows, ("filename",))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", type=Path, help="reuse/keep the tree here (default: a temporary folder, removed after)")
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--dirs", type=int, default=2_000)
    ap.add_argument("--programs", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--sensor", action="store_true", help="drive the new_fits_files sensor itself (docs/scaling.md)")
    args = ap.parse_args(argv)

    from jwql_dagster.db.resources import JwqlDatabase
    from jwql_dagster.archive.sensors import database_lookup

    tmp = None
    if args.tree is None:
        tmp = Path(tempfile.mkdtemp(prefix="bench-sensor-"))
        base = tmp
    else:
        base = args.tree
    root = base / "archive"
    added: list[Path] = []  # files the arrival steps write; removed at the end so a kept tree can be reused
    try:
        if (root / "public").is_dir():
            vdirs = visit_dirs(root, args.programs, args.dirs)
            print(f"reusing the tree at {root}")
        else:
            vdirs = build_tree(root, args.files, args.dirs, args.programs)
        db_path = base / "bench_files.db"
        if db_path.exists():
            db_path.unlink()
        db = JwqlDatabase(url=f"sqlite:///{db_path}")
        all_files = [p for d in vdirs for p in d.iterdir()]
        if not args.sensor:  # the sensor path starts from an archive nothing has inventoried yet
            t0 = time.perf_counter()
            record(db, root, all_files)
            print(f"files table: {len(all_files):,} rows written in {time.perf_counter() - t0:.1f} s")
        if args.sensor:
            return sensor_path(root, vdirs, db, all_files, args.repeat, added)
        known = database_lookup(db, str(root))
        materialized = {(p.parts[-2], inst) for p in vdirs for inst, _ in DETECTORS}

        def tick(cursor: str | None):
            return scan_archive(root, cursor, now=time.time() + 3600, settle_seconds=10, max_files=5000,
                                known=known, materialized=lambda: materialized)

        naive_walk(root, True)  # warm the cache for everyone
        t_walk_stat, n = timed(lambda: naive_walk(root, True), args.repeat)
        t_walk, _ = timed(lambda: naive_walk(root, False), args.repeat)
        t_first, first = timed(lambda: tick(None))
        cursor = first.cursor
        assert not first.changes, "every partition is materialized: the first tick must request nothing"
        t_none, none = timed(lambda: tick(cursor), args.repeat)
        assert not none.changes and none.dirs_listed == 0

        def arrive(dirs: list[Path], first_exposure: int):
            """Write one new empty file in each of ``dirs``, time the tick that sees them, record them."""
            paths = []
            for i, d in enumerate(dirs):
                p = d / file_name(d, first_exposure + i * 5)
                open(p, "wb").close()
                paths.append(p)
                added.append(p)
            t, result = timed(lambda: tick(cursor))
            assert result.files == len(paths), result.summary()
            record(db, root, paths)
            return t, result

        rng = random.Random(1)
        t_ten, r10 = arrive(rng.sample(vdirs, 10), 10_000)
        cursor = r10.cursor

        programs = sorted({d.parent for d in vdirs})
        chosen = rng.sample(programs, min(50, len(programs)))
        spread = []
        for j in range(1000):
            visits = sorted(chosen[j % len(chosen)].iterdir())
            spread.append(visits[j % len(visits)])
        t_thousand, r1000 = arrive(spread, 20_000)
        cursor = r1000.cursor
        t_after, after = timed(lambda: tick(cursor), args.repeat)
        assert not after.changes

        def row(label: str, t: float, extra: str = "") -> None:
            print(f"  {label:<46} {t * 1000:9.1f} ms  ratio os.walk+stat / tick = {t_walk_stat / t:7.1f}  {extra}")

        print(f"\ntree: {n:,} FITS files, {none.dirs_checked:,} directories ({len(vdirs):,} visit folders)")
        print(f"  {'baseline: os.walk + stat of every file':<46} {t_walk_stat * 1000:9.1f} ms")
        print(f"  {'baseline: os.walk listing only':<46} {t_walk * 1000:9.1f} ms")
        row("first tick on the existing archive", t_first, "(once; lists everything)")
        row("tick, no change", t_none, f"(median of {args.repeat}; {none.dirs_listed} listings)")
        row("tick, 10 new files", t_ten, f"({r10.dirs_listed} listings, {len(r10.changes)} partitions)")
        row("tick, 1,000 new files over 50 programs", t_thousand,
            f"({r1000.dirs_listed} listings, {len(r1000.changes)} partitions)")
        row("tick after the 1,000 rows are written", t_after, "(drops 1,000 in-flight entries)")
        size = len(after.cursor.encode())
        from jwql_dagster.archive.cursor import decode_cursor
        unpacked = len(json.dumps(decode_cursor(after.cursor)["tree"], separators=(",", ":")))
        print(f"  scanner state at rest (the sensor_state row; the Dagster cursor names it in ~50 B): {size:,} bytes ({size / max(1, none.dirs_checked):.0f} B per directory, "
              f"{unpacked / max(1, none.dirs_checked):.0f} B unpacked; "
              f"per-file entries: {'none' if '.fits' not in after.cursor else 'PRESENT'}); "
              f"with 1,000 requests in flight: {len(r1000.cursor.encode()):,} bytes")
        ok = t_none < 1.0
        print(f"\nbudget: no-change tick on {n:,} files under 1 s: {'PASS' if ok else 'FAIL'} ({t_none * 1000:.1f} ms)")
        db.dispose()
        return 0 if ok else 1
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            for p in added:
                p.unlink(missing_ok=True)


def sensor_path(root: Path, vdirs: list[Path], db, all_files: list[Path], repeat: int, added: list[Path]) -> int:
    """The sensor as a fresh installation meets the archive: ticks, runs, rows and seconds (docs/scaling.md)."""
    import dagster as dg
    import sqlalchemy as sa

    import jwql_dagster.archive.sensors as nff
    from jwql_dagster.archive.resources import ArchiveFilesystem
    from jwql_dagster.db.models import File
    from jwql_dagster.db.sensor_state import snapshot_sizes
    from jwql_dagster.options import JwqlOptions

    @dg.op
    def _inventory() -> None:
        pass

    @dg.job
    def finished_run() -> None:
        _inventory()

    r = str(root)
    resources = {"archive": ArchiveFilesystem(filesystem=r, preview_root=r + "_p", thumbnail_root=r + "_t",
                                              output_root=r + "_o", working_root=r + "_w", log_root=r + "_l",
                                              central_store=r, dagster_home=r + "_d"),
                 "db": db, "options": JwqlOptions(sensor_settle_seconds=10)}
    nff.clock = lambda: time.time() + 3600  # every file has settled
    def line(label: str, seconds: float, out, extra: str = "") -> None:
        runs = len(out.run_requests) if isinstance(out, dg.SensorResult) else 0
        cells = sum(int(q.tags["jwql/cells"]) for q in out.run_requests) if runs else 0
        print(f"  {label:<44} {seconds:8.2f} s  runs {runs:4d}  cells {cells:5d}  {extra}", flush=True)

    with dg.instance_for_test() as instance:
        def tick(cursor):
            t0 = time.perf_counter()
            with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources) as ctx:
                out = nff.new_fits_files(ctx)
            return time.perf_counter() - t0, out

        def finish(out, paths: list[Path]) -> None:
            """What the requested runs leave: the programs added, files rows written, each run succeeded."""
            for req in out.dynamic_partitions_requests:
                instance.add_dynamic_partitions("program", list(req.partition_keys))
            record(db, root, paths)
            for req in out.run_requests:
                finished_run.execute_in_process(instance=instance, tags={nff.RUN_KEY_TAG: req.run_key,
                                                                          nff.SENSOR_NAME_TAG: nff.SENSOR_NAME})

        print(f"\nsensor path: {len(all_files):,} files in {len(vdirs):,} visit folders of "
              f"{len({d.parent.name for d in vdirs})} programs, nothing inventoried yet")
        # the first pass: JWQL_SENSOR_MAX_FILES_PER_TICK (5,000) files per tick, runs finishing between ticks
        cursor, first_ticks, first_runs, first_cells, first_s, t0 = None, 0, 0, 0, 0.0, time.perf_counter()
        by_name = {p.name: p for p in all_files}
        while True:
            t, out = tick(cursor)
            cursor = out.cursor
            first_ticks += 1
            first_s += t
            if not out.run_requests:
                break
            first_runs += len(out.run_requests)
            first_cells += sum(int(q.tags["jwql/cells"]) for q in out.run_requests)
            state = nff.stored_state(db, cursor)
            finish(out, [by_name[n] for n in state["inflight"]])
        text = (f"  {'first pass on an uninventoried archive':<44} {first_s:8.2f} s  runs {first_runs:4d}  "
                f"cells {first_cells:5d}  ({first_ticks} ticks, {first_s / first_ticks:.2f} s per tick; "
                f"{time.perf_counter() - t0:.0f} s with the runs' rows written in between)")
        print(text, flush=True)
        settled = out
        times = []
        quiet = settled
        for _ in range(repeat):
            t, quiet = tick(quiet.cursor)
            times.append(t)
        line(f"tick, no change (median of {repeat})", statistics.median(times), quiet)
        rng = random.Random(1)
        programs = sorted({d.parent for d in vdirs})
        chosen = rng.sample(programs, min(200, len(programs)))
        paths = []
        for j in range(1000):
            visit = sorted(chosen[j % len(chosen)].iterdir())[j % 3]
            p = visit / file_name(visit, 30_000 + j * 5)
            open(p, "wb").close()
            paths.append(p)
            added.append(p)
        t, arrived = tick(quiet.cursor)
        line("tick, 1,000 new files over 200 programs", t, arrived)
        finish(arrived, paths)
        t, after = tick(arrived.cursor)
        line("tick after those runs succeeded", t, after)
        with db.session(readonly=True) as s:
            files_rows = s.scalar(sa.select(sa.func.count()).select_from(File))
        sizes = snapshot_sizes(db, nff.SENSOR_NAME)
        print(f"  Dagster cursor {len(after.cursor)} B per tick; state in the database: "
              f"{sizes[0]:,} B (newest of {len(sizes)} sensor_state rows, {sum(sizes):,} B in all); "
              f"files rows {files_rows:,}")
    db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
