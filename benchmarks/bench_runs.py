"""Cost of one run: a NIRCam partition through ``dagster asset materialize`` vs jwql, and a no-op run via the daemon.

Usage (from the project root):

    .venv/bin/python benchmarks/bench_runs.py [--only partition,noop] [--keep DIR] [--repeat 5]
                                              [--timeout 1800] [--workers N]

Why: issue 17 asks that one partition through the CLI be faster than jwql's summed
per-file time on the same files, and that a no-op run of an up-to-date partition through
the daemon take <= 3 s wall. Both are per-run overheads (Python start-ups, step
processes, run queue) that the whole-archive benchmark (bench_archive.py) only shows summed.

Partition (written once into the work folder with the synthetic generator's
``write_exposure``, full frames, old mtimes): one program's NIRCam cell of 13 files:
exposure 1 with an nrca1 + nrcb1 rate pair (the one short-wave mosaic), nrca1 rateints
(5 integrations), cal and uncal (1 integration x 2 groups, as the full-size archive has
them), nrcalong rate and cal; exposures 2-4 with an nrca1 and an nrcalong rate each.

* partition / jwql: in jwql 1.4.1's venv (bench_previews.ensure_jwql_venv), per file
  ``PreviewImage(file, "SCI")`` + ``make_image(max_img_size=8, create_thumbnail=True)``,
  one process, imports not counted; the figure is the sum of the per-file times (jwql
  makes no mosaic).
* partition / ours: fresh JWQL_HOME/DAGSTER_HOME (bench_archive.our_env, with the shipped
  dagster.yaml), ``jwql-dagster register-programs`` (timed apart), then the wall time of
  ``dagster asset materialize -m jwql_dagster.definitions --select
  archive_files,preview_images,thumbnails --partition '<nircam|jwNNNNN>'``.
* noop: another fresh home, ``register-programs``, a fresh ``dagster dev -w
  workspace.yaml``; ``preview_partition_job`` of the partition launched once with GraphQL
  ``launchRun`` (tag dagster/partition) and waited for; then, once no run is active,
  launched ``--repeat`` times one after the other. Per run: wall from the launch call
  returning until polling (every 0.1 s) sees SUCCESS, the launch call itself, and from
  the run's own record the queued part (creation -> start; split by its RunStartingEvent
  into the queued run coordinator's wait and the run worker's start-up) and start -> end.

The machine's load average is printed with each figure. Exit status 1 on an error, not
on a missed target.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

import dagster_dev as dd  # noqa: E402
from bench_archive import BIN, fresh, load, our_env, run_cmd, start_dev  # noqa: E402

PARTS = ("partition", "noop")
JOB = "preview_partition_job"
ASSETS = "archive_files,preview_images,thumbnails"
MANIFEST = "bench_runs.json"
NOOP_TARGET_S = 3.0
# (exposure, detector, suffix, nints, ngroups) of the cell; full frames
CELL = ([(1, "nrca1", "rate", 1, 2), (1, "nrcb1", "rate", 1, 2), (1, "nrca1", "rateints", 5, 2),
         (1, "nrca1", "cal", 1, 2), (1, "nrca1", "uncal", 1, 2), (1, "nrcalong", "rate", 1, 2),
         (1, "nrcalong", "cal", 1, 2)]
        + [(e, d, "rate", 1, 2) for e in (2, 3, 4) for d in ("nrca1", "nrcalong")])


# ----------------------------------------------------------------------------- the partition
def partition_plan(seed: int = 1) -> dict[str, Any]:
    """Program, area, date and the 13 files (relative paths and writer arguments) of the benchmark cell."""
    from jwql_dagster.demo.synthetic import program_plan

    prog = program_plan(1, seed=seed)["programs"][0]
    pid, area = prog["program_id"], prog["area"]
    date = prog["observations"][0]["date"]
    files = []
    for exp, det, suffix, nints, ngroups in CELL:
        lw = det.endswith("long")
        name = f"jw{pid}001001_02101_{exp:05d}_{det}_{suffix}.fits"
        files.append({"rel": f"{area}/jw{pid}/jw{pid}001001/{name}", "suffix": suffix,
                      "kw": {"nints": nints, "ngroups": ngroups, "filter": "F444W" if lw else "F150W",
                             "pupil": "CLEAR", "date": date}})
    return {"program": f"jw{pid}", "instrument": "nircam", "date": date, "files": files}


def partition_key(plan: dict[str, Any]) -> str:
    try:
        from jwql_dagster.partitions import program_instrument_key

        return str(program_instrument_key(plan["program"], plan["instrument"]))
    except ImportError:
        return f"{plan['instrument']}|{plan['program']}"


def expected_mosaics(plan: dict[str, Any]) -> list[str]:
    """Stems of the mosaics ours must make (jwql 1.4.1 makes none)."""
    from jwql_dagster.previews.mosaic_names import create_dummy_filename, group_filenames

    names = [Path(f["rel"]).name for f in plan["files"]]
    return [create_dummy_filename(g).removesuffix(".fits") for g in group_filenames(names) if len(g) > 1]


def build_partition(root: Path, plan: dict[str, Any], seed: int) -> None:
    """Write the cell's files (reused when a kept folder holds the same manifest); mtime a day after observation."""
    import datetime as dt

    from jwql_dagster.demo.synthetic import write_exposure

    manifest = {"version": 1, "seed": seed, "files": [f["rel"] for f in plan["files"]],
                "kw": [f["kw"] for f in plan["files"]]}
    marker = root / MANIFEST
    if marker.exists() and json.loads(marker.read_text()) == manifest and all((root / f["rel"]).is_file()
                                                                             for f in plan["files"]):
        print(f"partition: reusing {len(plan['files'])} files in {root}", flush=True)
        return
    if root.exists():
        shutil.rmtree(root)
    t0 = time.perf_counter()
    day = dt.datetime.fromisoformat(plan["date"]).replace(hour=10, tzinfo=dt.timezone.utc) + dt.timedelta(days=1)
    for f in plan["files"]:
        target = root / f["rel"]
        write_exposure(target, subarray="FULL", seed=seed, **f["kw"])
        os.utime(target, (day.timestamp(), day.timestamp()))
    marker.write_text(json.dumps(manifest))
    print(f"partition: {len(plan['files'])} files written in {time.perf_counter() - t0:.0f} s", flush=True)


def outputs(home: Path, program: str) -> dict[str, int]:
    p, t = home / "preview_images" / program, home / "thumbnails" / program
    jpgs = [n for n in os.listdir(p) if n.endswith(".jpg")] if p.is_dir() else []
    thumbs = [n for n in os.listdir(t) if n.endswith(".thumb")] if t.is_dir() else []
    return {"previews": len(jpgs), "thumbnails": len(thumbs), "mosaics": sum("_MOSAIC_" in n for n in jpgs)}


_JWQL = textwrap.dedent(
    """
    import json, logging, os, sys, time, warnings
    warnings.simplefilter("ignore"); logging.disable(logging.CRITICAL)
    t0 = time.perf_counter()
    from jwql.utils.preview_image import PreviewImage
    imports = time.perf_counter() - t0
    files, out = json.loads(sys.argv[1]), sys.argv[2]
    times, errors = {}, {}
    for path in files:
        pdir, tdir = os.path.join(out, "p"), os.path.join(out, "t")
        os.makedirs(pdir, exist_ok=True); os.makedirs(tdir, exist_ok=True)
        t = time.perf_counter()
        try:
            im = PreviewImage(path, "SCI")
            im.preview_output_directory, im.thumbnail_output_directory = pdir, tdir
            im.make_image(max_img_size=8, create_thumbnail=True)
        except Exception as exc:
            errors[os.path.basename(path)] = f"{type(exc).__name__}: {exc}"
        times[os.path.basename(path)] = time.perf_counter() - t
    print("RESULT " + json.dumps({"imports": imports, "times": times, "errors": errors,
                                  "previews": len(os.listdir(os.path.join(out, "p")))}), flush=True)
    """
)


def jwql_side(args, procs: dd.Processes, work: Path, archive: Path, plan: dict[str, Any]) -> dict[str, Any]:
    from bench_previews import ensure_jwql_venv

    python, why = ensure_jwql_venv(args.venv)
    if python is None:
        return {"error": why}
    out = fresh(work / "jwql")
    paths = [str(archive / f["rel"]) for f in plan["files"]]
    print(f"partition/jwql: PreviewImage per file, {len(paths)} files ({load()})", flush=True)
    proc = procs.start([python, "-c", _JWQL, json.dumps(paths), str(out)], env=dict(os.environ, MPLBACKEND="Agg"),
                       cwd=work)
    try:
        stdout, stderr = proc.communicate(timeout=args.timeout)
    finally:
        procs.stop(proc, grace=5)
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
            result.update(seconds=sum(result["times"].values()), load=load())
            return result
    return {"error": f"jwql exited {proc.returncode}: {stderr[-1500:]}"}


def run_partition(args, procs: dd.Processes, work: Path, archive: Path, plan: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {"jwql": jwql_side(args, procs, work, archive, plan)}
    jw = result["jwql"]
    if not jw.get("error"):
        print(f"partition/jwql: {jw['seconds']:.1f} s summed (imports {jw['imports']:.1f} s apart), "
              f"{jw['previews']} previews, {len(jw['errors'])} errors", flush=True)
    home = fresh(work / "partition")
    env = our_env(home, archive, args.workers)
    t_reg, rc = run_cmd(procs, [str(BIN / "jwql-dagster"), "register-programs"], env, home / "register.log", args.timeout)
    if rc != 0:
        result["ours"] = {"error": f"register-programs exited {rc}: {dd.tail(home / 'register.log')}"}
        return result
    key = partition_key(plan)
    print(f"partition/ours: dagster asset materialize --partition '{key}' ({load()})", flush=True)
    seconds, rc = run_cmd(procs, [str(BIN / "dagster"), "asset", "materialize", "-m", "jwql_dagster.definitions",
                                  "--select", ASSETS, "--partition", key], env, home / "materialize.log", args.timeout)
    ours = {"seconds": seconds, "register_s": t_reg, "returncode": rc, "load": load(), **outputs(home, plan["program"])}
    if rc != 0:
        ours["error"] = f"exit {rc}: " + dd.tail(home / "materialize.log", 1500)
    print(f"partition/ours: {seconds:.1f} s, exit {rc}", flush=True)
    result["ours"] = ours
    return result


# ----------------------------------------------------------------------------- the no-op run
def wait_idle(gql: dd.GraphQL, settle: float, timeout: float) -> int:
    """Wait until no run is active and none was created for ``settle`` s (follow-ups such as program products)."""
    deadline = time.monotonic() + timeout
    seen, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        total, active = len(dd.runs(gql)), dd.runs(gql, dd.ACTIVE_RUN_STATUSES)
        if total != seen or active:
            seen, since = total, time.monotonic()
        elif time.monotonic() - since >= settle:
            return total
        time.sleep(0.5)
    raise RuntimeError(f"runs still active or appearing after {timeout:.0f} s")


def run_noop(args, procs: dd.Processes, work: Path, archive: Path, plan: dict[str, Any]) -> dict[str, Any]:
    home = fresh(work / "noop")
    env = our_env(home, archive, args.workers)
    t_reg, rc = run_cmd(procs, [str(BIN / "jwql-dagster"), "register-programs"], env, home / "register.log", args.timeout)
    if rc != 0:
        return {"error": f"register-programs exited {rc}: {dd.tail(home / 'register.log')}"}
    print(f"noop: starting dagster dev ({load()})", flush=True)
    proc, gql, location, repository, _log = start_dev(procs, home, env, args.timeout)
    key = partition_key(plan)
    program, instrument = plan["program"], plan["instrument"]
    tags = {"dagster/partition": key, "dagster/partition/program": program, "dagster/partition/instrument": instrument}
    try:
        t0 = time.perf_counter()
        first_id = dd.launch_run(gql, location, repository, JOB, tags)
        first, _ = dd.wait_for_run(gql, first_id, args.timeout)
        if first["status"] != "SUCCESS":
            return {"error": f"first run {first_id} ended {first['status']}; see {home}"}
        first_s = time.perf_counter() - t0
        print(f"noop: first (rendering) run {first['status']} in {first_s:.1f} s; {outputs(home, program)}; "
              f"waiting until no run is active", flush=True)
        before = wait_idle(gql, args.settle, args.timeout)
        runs = []
        for i in range(args.repeat):
            t_call = time.perf_counter()
            run_id = dd.launch_run(gql, location, repository, JOB, tags)
            t_back = time.perf_counter()
            stats, t_seen = dd.wait_for_run(gql, run_id, args.timeout)
            if stats["status"] != "SUCCESS":
                return {"error": f"run {run_id} ended {stats['status']}; see {home}"}
            events = dd.run_event_times(gql, run_id)
            starting = events.get("RunStartingEvent", float("nan"))
            item = {"wall": t_seen - t_back, "launch": t_back - t_call,
                    "queued": stats["startTime"] - stats["creationTime"], "run": stats["endTime"] - stats["startTime"],
                    "dequeue": starting - stats["creationTime"], "worker": stats["startTime"] - starting,
                    "load": load()}
            runs.append(item)
            print(f"noop: run {i + 1}/{args.repeat}: {item['wall']:.2f} s after launch returned "
                  f"(launch {item['launch']:.2f} s, queued {item['queued']:.2f} s = coordinator {item['dequeue']:.2f} s + "
                  f"worker start-up {item['worker']:.2f} s, start->end {item['run']:.2f} s) "
                  f"({item['load']})", flush=True)
        others = len(dd.runs(gql)) - before - args.repeat
    finally:
        procs.stop(proc)
    return {"first_s": first_s, "register_s": t_reg, "runs": runs, "other_runs": others, "load": load()}


# ----------------------------------------------------------------------------- report
def report(results: dict[str, dict[str, Any]], plan: dict[str, Any], mosaics: list[str], args) -> None:
    n = len(plan["files"])
    print()
    print(f"Partition {partition_key(plan)}: {n} full-frame files ({', '.join(sorted({f['suffix'] for f in plan['files']}))}), "
          f"{len(mosaics)} mosaic ({', '.join(mosaics)}); {args.workers} render workers on {os.cpu_count()} cores")
    part = results.get("partition")
    if part:
        jw, ours = part.get("jwql", {}), part.get("ours", {})
        if jw.get("error"):
            print(f"partition  jwql: ERROR {jw['error'][:400]}")
        else:
            slow = sorted(jw["times"].items(), key=lambda kv: -kv[1])[:3]
            print(f"partition  jwql 1.4.1 PreviewImage, summed per file: {jw['seconds']:6.1f} s  ({jw['previews']} previews, "
                  f"no mosaic; imports {jw['imports']:.1f} s not counted; slowest "
                  + ", ".join(f"{k.split('_', 3)[-1]} {v:.1f} s" for k, v in slow)
                  + (f"; {len(jw['errors'])} files failed: {jw['errors']}" if jw["errors"] else "") + f"; {jw['load']})")
        if ours.get("error") and "seconds" not in ours:
            print(f"partition  ours: ERROR {ours['error'][:400]}")
        elif ours:
            print(f"partition  ours, dagster asset materialize wall:       {ours['seconds']:6.1f} s  ({ours['previews']} "
                  f"previews, {ours['mosaics']} mosaic, {ours['thumbnails']} thumbnails; register-programs "
                  f"{ours['register_s']:.1f} s apart; {ours['load']})")
            if ours.get("error"):
                print(f"           ours FAILED: {ours['error'][:600]}")
            if not jw.get("error") and ours["seconds"]:
                ratio = jw["seconds"] / ours["seconds"]
                print(f"partition  jwql/ours = {ratio:.2f}x  (issue 17: must be > 1; "
                      f"{'met' if ratio > 1 else 'NOT met'})")
    noop = results.get("noop")
    if noop:
        if noop.get("error"):
            print(f"noop       ERROR {noop['error'][:600]}")
        elif noop["runs"]:
            runs = noop["runs"]
            med = {k: statistics.median(r[k] for r in runs) for k in ("wall", "launch", "queued", "dequeue", "worker", "run")}
            each = ", ".join(f"{r['wall']:.2f}" for r in runs)
            print(f"noop       {JOB} of an up-to-date partition via the daemon, {len(runs)} runs: median "
                  f"{med['wall']:.2f} s from launch returned to SUCCESS seen (each: {each}); target <= "
                  f"{NOOP_TARGET_S:.0f} s: {'met' if med['wall'] <= NOOP_TARGET_S else 'NOT met'}")
            queued = ", ".join(f"{r['queued']:.2f}" for r in runs)
            ran = ", ".join(f"{r['run']:.2f}" for r in runs)
            print(f"           medians: launchRun call {med['launch']:.2f} s, queued (creation->start) {med['queued']:.2f} s, "
                  f"start->end {med['run']:.2f} s; queued each: {queued}; start->end each: {ran}")
            print(f"           queued = coordinator wait (creation->RunStartingEvent) {med['dequeue']:.2f} s + run worker "
                  f"start-up (RunStartingEvent->startTime) {med['worker']:.2f} s (medians)")
            print(f"           first (rendering) run {noop['first_s']:.1f} s; register-programs {noop['register_s']:.1f} s; "
                  f"other runs during the repeats: {noop['other_runs']}; {noop['load']}")
    print("Wall seconds on a shared machine (see load averages).")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", default=[], help=f"comma-separated subset of {','.join(PARTS)}")
    ap.add_argument("--keep", type=Path, help="work in (and keep) this folder; a matching partition there is reused")
    ap.add_argument("--repeat", type=int, default=5, help="no-op runs timed (after one rendering run)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds allowed per command or run")
    ap.add_argument("--settle", type=float, default=15, help="seconds without new or active runs before the no-op runs")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="JWQL_PREVIEW_WORKERS of ours")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--venv", type=Path, default=Path.home() / ".cache" / "jwql-bench-venv")
    args = ap.parse_args(argv)
    args.only = [p.strip() for item in args.only for p in item.split(",") if p.strip()] or list(PARTS)
    unknown = set(args.only) - set(PARTS)
    if unknown:
        ap.error(f"--only: unknown {sorted(unknown)}; choose from {', '.join(PARTS)}")
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results: dict[str, dict[str, Any]] = {}
    with dd.Session(args.keep, "bench-runs-") as session:
        work, procs = session.work, session.procs
        plan = partition_plan(args.seed)
        archive = work / "archive"
        print(f"bench_runs: {', '.join(args.only)}; work folder {work} ({load()})", flush=True)
        build_partition(archive, plan, args.seed)
        runners = {"partition": run_partition, "noop": run_noop}
        results = dd.run_contenders(args.only, lambda name: runners[name](args, procs, work, archive, plan), procs)
        report(results, plan, expected_mosaics(plan), args)
    if session.interrupted:
        return 130
    bad = [r.get("error") for r in results.values()]
    bad += [r[k].get("error") for r in results.values() for k in ("jwql", "ours") if isinstance(r.get(k), dict)]
    return 1 if any(bad) else 0


if __name__ == "__main__":
    raise SystemExit(main())
