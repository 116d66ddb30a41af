"""Whole-archive preview throughput: jwql 1.4.1's cron generator vs the platform's three user paths, in one run.

Usage (from the project root):

    .venv/bin/python benchmarks/bench_archive.py [--programs 12] [--workers N] [--keep DIR]
                                                 [--only jwql,cli,sensor,backfill]

Archive: ``--programs`` programs (program numbers and areas from the synthetic plan), each
with exactly three full-frame rate files written by ``write_exposure``: NIRCam ``nrca1`` and
``nrcb1`` of one exposure (a pair that makes a short-wave mosaic) and a MIRI imager rate
file. Files carry an old mtime, as archive files do, so the arrival sensor takes them at once.

Contenders, each on fresh output folders (and a fresh JWQL_HOME / DAGSTER_HOME for ours),
all with ``--workers`` processes (default: the cores; ours via JWQL_PREVIEW_WORKERS, jwql
via its config's ``cores``):

* jwql: ``generate_preview_images`` of jwql 1.4.1 in its own venv (see jwql_baseline.py):
  ``process_program`` per program in ``multiprocessing.Pool(cores)``; wall of the process.
* cli: ``jwql-dagster materialize-all --select previews`` (after ``register-programs``, timed
  apart); wall of the command.
* sensor: a fresh ``dagster dev -w workspace.yaml`` (webserver + daemon); from ``startSensor``
  of ``new_fits_files`` until every preview and thumbnail exists and no run is queued or
  in progress. Start-up of ``dagster dev`` is not counted.
* backfill: ``register-programs``, a fresh ``dagster dev``, then ``launchPartitionBackfill``
  as the UI's "Materialize all" of the previews group launches it (asset selection + the
  anchor asset's partition names: every program x instrument cell that has files); from
  the launch until the backfill completes.

Runs are counted in each path's own instance (all runs, by job); runs that start after
the figure's end point (e.g. proposal thumbnails and galleries requested by the
``program_products`` sensor) are counted in a quiet-down window and shown apart.
Outputs are checked by name: ours must hold jwql's preview and thumbnail names for every
file, plus one NIRCam mosaic per program (jwql 1.4.1 makes none).

The machine's load average is printed with each figure: on a shared machine wall times
include other people's work.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
from pathlib import Path
from typing import Any, Callable

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

import dagster_dev as dd  # noqa: E402
import jwql_baseline  # noqa: E402
from archive_fixture import (  # noqa: E402,F401 (re-exported for tests/benchmarks)
    archive_plan,
    build_archive,
    check_outputs,
    all_made,
    expected_outputs,
    listing,
    mosaic_name,
)

PATHS = ("jwql", "cli", "sensor", "backfill")
SENSOR = "new_fits_files"
GROUP = "previews"
BIN = Path(sys.executable).parent


# ----------------------------------------------------------------------------- environments
def load() -> str:
    return "load %.1f/%.1f/%.1f" % os.getloadavg()


def our_env(home: Path, archive: Path, workers: int, bare: bool = False) -> dict[str, str]:
    """A fresh configuration: only this home, this archive and the worker count; no inherited JWQL_/DAGSTER_ settings.

    The new DAGSTER_HOME gets what the project sets up for a local instance: ``ensure_dagster_home``
    and, unless ``bare``, the shipped ``dagster dev`` default dagster.yaml (instance_config), when
    this checkout has them.
    """
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JWQL_", "DAGSTER_")) and k not in ("MAST_API_URL", "MAST_API_TOKEN")}
    env.update(JWQL_HOME=str(home), DAGSTER_HOME=str(home / "dagster_home"), JWQL_FILESYSTEM=str(archive),
               JWQL_PREVIEW_WORKERS=str(workers), MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    (home / "dagster_home").mkdir(parents=True, exist_ok=True)
    try:
        from jwql_dagster.config import ensure_dagster_home, load_settings

        ensure_dagster_home(load_settings(env), env)
    except ImportError:
        pass
    sections: list[str] = []
    if not bare:
        try:
            from jwql_dagster.instance_config import ensure_instance_config
        except ImportError:
            ensure_instance_config = None
        if ensure_instance_config is not None:
            sections = ensure_instance_config(home / "dagster_home")
    yaml_file = home / "dagster_home" / "dagster.yaml"
    print(f"  instance {home / 'dagster_home'}: "
          + (f"dagster.yaml with {', '.join(sections) or 'user settings'}" if yaml_file.exists() else "no dagster.yaml (Dagster defaults)"),
          flush=True)
    return env


def fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def run_cmd(procs: dd.Processes, cmd: list[str], env: dict[str, str], log: Path, timeout: float) -> tuple[float, int]:
    t0 = time.perf_counter()
    proc = procs.start(cmd, env=env, cwd=ROOT, log=log)
    try:
        rc = proc.wait(timeout=timeout)
    finally:
        procs.stop(proc, grace=5)
    return time.perf_counter() - t0, rc


def instance_runs(dagster_home: Path) -> dict[str, Any]:
    """Runs recorded in an instance (read after its processes stopped)."""
    code = ("import json, dagster as dg\n"
            "with dg.DagsterInstance.get() as i:\n"
            "    print(json.dumps([{'jobName': r.job_name, 'status': r.status.value} for r in i.get_runs()]))\n")
    env = dict(os.environ, DAGSTER_HOME=str(dagster_home))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    if out.returncode != 0:
        return {"total": -1, "by_job": {}, "by_status": {}, "error": out.stderr[-500:]}
    return dd.summarize_runs(json.loads(out.stdout.strip().splitlines()[-1]))


# ----------------------------------------------------------------------------- the paths
def path_jwql(args, procs, work: Path, archive: Path, expected) -> dict[str, Any]:
    python, why = jwql_baseline.ensure_generator_env(args.venv)
    if python is None:
        return {"error": why}
    run_dir = fresh(work / "jwql")
    prepared = jwql_baseline.prepare_run(python, run_dir, archive, args.workers, miri_map=not args.no_miri_map)
    print(f"jwql: generate_preview_images, Pool({args.workers}), roots under {run_dir} ({load()})", flush=True)
    result = jwql_baseline.run_generator(python, prepared, run_dir,
                                         lambda cmd, env, cwd: procs.start(cmd, env=env, cwd=cwd), args.timeout)
    if result.get("config_dir") != str(prepared["overlay"]):
        result["error"] = f"jwql read its config from {result.get('config_dir')}, not the overlay"
    previews, thumbs = listing(prepared["preview_images"], prepared["thumbnails"])
    result.update(seconds=result["wall_s"], runs={"total": 1, "by_job": {"generate_preview_images": 1}},
                  outputs=check_outputs(expected, previews, thumbs), load=load())
    print(f"jwql: {result['wall_s']:.1f} s (imports {result.get('import_s', float('nan')):.1f} s, "
          f"generate {result.get('generate_s', float('nan')):.1f} s); crashed: {result.get('crashed')}", flush=True)
    return result


def path_cli(args, procs, work: Path, archive: Path, expected) -> dict[str, Any]:
    home = fresh(work / "cli")
    env = our_env(home, archive, args.workers, args.bare_instance)
    cli = str(BIN / "jwql-dagster")
    print(f"cli: register-programs ({load()})", flush=True)
    t_reg, rc = run_cmd(procs, [cli, "register-programs"], env, home / "register.log", args.timeout)
    if rc != 0:
        return {"error": f"register-programs exited {rc}: {dd.tail(home / 'register.log')}"}
    print(f"cli: materialize-all --select {GROUP}", flush=True)
    seconds, rc = run_cmd(procs, [cli, "materialize-all", "--select", GROUP], env, home / "materialize.log", args.timeout)
    previews, thumbs = listing(home / "preview_images", home / "thumbnails")
    result = {"seconds": seconds, "register_s": t_reg, "returncode": rc, "load": load(),
              "runs": instance_runs(home / "dagster_home"), "outputs": check_outputs(expected, previews, thumbs)}
    if rc != 0:
        result["note"] = f"exit {rc}: " + dd.tail(home / "materialize.log", 600).strip().replace("\n", " | ")
    print(f"cli: {seconds:.1f} s, exit {rc}, {result['runs']['total']} runs", flush=True)
    return result


def start_dev(procs, home: Path, env: dict[str, str], timeout: float):
    port = dd.free_port()
    log = home / "dagster-dev.log"
    t0 = time.perf_counter()
    proc = procs.start([str(BIN / "dagster"), "dev", "-w", str(ROOT / "workspace.yaml"), "-h", "127.0.0.1",
                        "-p", str(port)], env=env, cwd=ROOT, log=log)
    gql = dd.GraphQL(port)
    location, repository = dd.wait_until_loaded(gql, proc, log, timeout)
    unhealthy = dd.wait_for_daemons(gql, min(timeout, 180))
    print(f"  dagster dev on port {port} ready in {time.perf_counter() - t0:.0f} s"
          + (f" (daemons not yet healthy: {', '.join(unhealthy)})" if unhealthy else ""), flush=True)
    return proc, gql, location, repository, log


def watch(label: str, gql: dd.GraphQL, t0: float, done: Callable[[], tuple[bool, str]], timeout: float,
          quiet_s: float) -> dict[str, Any]:
    """Poll until ``done()`` and no active run (the figure), then until no run is active or new for ``quiet_s``."""
    figure = outputs_at = None
    last_print = last_change = time.perf_counter()
    seen = -1
    while True:
        now = time.perf_counter()
        if now - t0 > timeout:
            return {"seconds": figure, "timeout": True, "quiet_s": None, "outputs_at": outputs_at}
        try:
            active = dd.runs(gql, dd.ACTIVE_RUN_STATUSES)
            total = len(dd.runs(gql))
            ok, progress = done()
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:  # a busy webserver: ask again
            print(f"{label}: {now - t0:.0f} s, webserver did not answer ({exc}); retrying", flush=True)
            time.sleep(2.0)
            continue
        if total != seen or active:
            seen, last_change = total, now
        if outputs_at is None and ok:
            outputs_at = now - t0
        if figure is None and ok and not active:
            figure = now - t0
            print(f"{label}: done at {figure:.1f} s ({total} runs); watching {quiet_s:.0f} s for follow-up runs", flush=True)
        if figure is not None and not active and now - last_change >= quiet_s:
            return {"seconds": figure, "timeout": False, "quiet_s": last_change - t0, "outputs_at": outputs_at}
        if now - last_print >= 15:
            print(f"{label}: {now - t0:.0f} s, {progress}, runs {total} ({len(active)} active) ({load()})", flush=True)
            last_print = now
        time.sleep(1.0)


def progress_of(expected, home: Path) -> Callable[[], tuple[bool, str]]:
    total = len(expected["jwql_previews"]) + len(expected["mosaics"])

    def done() -> tuple[bool, str]:
        previews, thumbs = listing(home / "preview_images", home / "thumbnails")
        return all_made(expected, previews, thumbs), f"{len(previews)}/{total} previews"
    return done


def path_sensor(args, procs, work: Path, archive: Path, expected) -> dict[str, Any]:
    home = fresh(work / "sensor")
    env = our_env(home, archive, args.workers, args.bare_instance)
    print(f"sensor: starting dagster dev ({load()})", flush=True)
    proc, gql, location, repository, _log = start_dev(procs, home, env, args.timeout)
    try:
        t0, started = time.perf_counter(), time.time()
        dd.start_sensor(gql, location, repository, SENSOR)
        print(f"sensor: {SENSOR} started", flush=True)
        watched = watch("sensor", gql, t0, progress_of(expected, home), args.timeout, args.quiet)
        items = dd.runs(gql)
    finally:
        procs.stop(proc)
    return finish(home, expected, watched, items, started)


def path_backfill(args, procs, work: Path, archive: Path, expected) -> dict[str, Any]:
    home = fresh(work / "backfill")
    env = our_env(home, archive, args.workers, args.bare_instance)
    t_reg, rc = run_cmd(procs, [str(BIN / "jwql-dagster"), "register-programs"], env, home / "register.log", args.timeout)
    if rc != 0:
        return {"error": f"register-programs exited {rc}: {dd.tail(home / 'register.log')}"}
    print(f"backfill: starting dagster dev ({load()})", flush=True)
    proc, gql, location, repository, _log = start_dev(procs, home, env, args.timeout)
    try:
        assets = [a for a in dd.group_assets(gql, location, repository, GROUP) if a["isMaterializable"]]
        keys = partition_names(expected)
        anchors = [a for a in assets if a["isPartitioned"] and set(keys) <= set(a["partitionKeys"] or [])]
        params: dict[str, Any] = {"assetSelection": [{"path": a["assetKey"]["path"]} for a in assets], "tags": []}
        if anchors:  # the UI's "pureWithAnchorAsset": the anchor's partition names, mapped to the others
            params.update(partitionNames=keys, fromFailure=False)
            what = f"{len(keys)} partitions of {'/'.join(anchors[0]['assetKey']['path'])}"
        else:  # no asset is partitioned by cell any more: the UI's "pureAll"
            params.update(allPartitions=True)
            what = "allPartitions"
        names = ", ".join("/".join(a["assetKey"]["path"]) for a in assets)
        t0, started = time.perf_counter(), time.time()
        backfill_id = dd.launch_backfill(gql, params)
        print(f"backfill: {backfill_id} launched: {names}; {what}", flush=True)
        state = {"status": "REQUESTED", "at": None}
        progress = progress_of(expected, home)

        def done() -> tuple[bool, str]:
            if state["at"] is None:
                state["status"] = dd.backfill_status(gql, backfill_id)
                if state["status"] in dd.TERMINAL_BACKFILL:
                    state["at"] = time.perf_counter() - t0
            _, text = progress()
            return state["at"] is not None, f"backfill {state['status']}, {text}"

        watched = watch("backfill", gql, t0, done, args.timeout, args.quiet)
        if state["at"] is not None:
            watched["seconds"] = state["at"]  # the figure: launch -> backfill completed
        items = dd.runs(gql)
    finally:
        procs.stop(proc)
    result = finish(home, expected, watched, items, started)
    result.update(register_s=t_reg, backfill_status=state["status"],
                  backfill_runs=sum(1 for r in items if any(t["key"] == "dagster/backfill" and t["value"] == backfill_id
                                                            for t in r["tags"])))
    return result


def partition_names(expected) -> list[str]:
    """The program x instrument cells that have files, as partition key strings."""
    try:
        from jwql_dagster.partitions import program_instrument_key

        return [str(program_instrument_key(p, i)) for p, i in expected["cells"]]
    except ImportError:
        return [f"{i}|{p}" for p, i in expected["cells"]]


def finish(home: Path, expected, watched: dict[str, Any], items: list[dict[str, Any]], started: float) -> dict[str, Any]:
    previews, thumbs = listing(home / "preview_images", home / "thumbnails")
    result = dict(watched, load=load(), runs=dd.summarize_runs(items), outputs=check_outputs(expected, previews, thumbs))
    if watched.get("seconds") is not None:
        # runs created after the figure's end point (follow-ups such as program products)
        result["runs_after"] = sum(1 for r in items if r["creationTime"] > started + watched["seconds"])
    return result


# ----------------------------------------------------------------------------- report
def report(results: dict[str, dict[str, Any]], expected, args) -> None:
    jwql = results.get("jwql", {})
    base = jwql.get("seconds") if not jwql.get("error") else None
    n_files = len(expected["jwql_previews"])
    print()
    print(f"Archive: {len(expected['programs'])} programs, {n_files} full-frame rate files "
          f"({len(expected['cells'])} program x instrument cells; NIRCam A+B pairs -> {len(expected['mosaics'])} mosaics); "
          f"{args.workers} worker processes on {os.cpu_count()} cores")
    head = f"{'path':<9} {'seconds':>8} {'jwql/ours':>9} {'runs':>5}  {'previews':>8} {'mosaics':>7} {'missing':>7}  notes"
    print(head)
    print("-" * len(head))
    for name in PATHS:
        r = results.get(name)
        if r is None:
            continue
        if r.get("error"):
            print(f"{name:<9} {'-':>8} {'-':>9} {'-':>5}  {'-':>8} {'-':>7} {'-':>7}  ERROR: {r['error'][:300]}")
            continue
        sec = r.get("seconds")
        ratio = f"{base / sec:.2f}x" if base and sec and name != "jwql" else ("1.00x" if name == "jwql" and sec else "n/a")
        out = r["outputs"]
        missing = len(out["missing_previews"]) + len(out["missing_thumbs"])
        notes = []
        if name == "jwql":
            notes.append(f"process wall: imports {r.get('import_s', float('nan')):.1f} s + pool {r.get('generate_s', float('nan')):.1f} s")
            if r.get("crashed"):
                notes.append(f"CRASHED: {r['crashed']}")
        if name == "cli":
            notes.append(f"register-programs {r['register_s']:.1f} s apart")
        if name == "backfill":
            notes.append(f"status {r.get('backfill_status')}, {r.get('backfill_runs')} backfill runs; "
                         f"register-programs {r['register_s']:.1f} s apart")
        if name == "sensor" and r.get("outputs_at") is not None:
            notes.append(f"all previews on disk at {r['outputs_at']:.0f} s")
        if r.get("runs_after"):
            notes.append(f"{r['runs_after']} follow-up runs, all idle at {r['quiet_s']:.0f} s")
        if r.get("timeout"):
            notes.append("TIMED OUT")
        by_job = ", ".join(f"{k} {v}" for k, v in sorted(r["runs"]["by_job"].items()))
        failed = {k: v for k, v in r["runs"].get("by_status", {}).items() if k not in ("SUCCESS",)}
        if failed and name != "jwql":
            notes.append(f"run statuses {failed}")
        if r.get("note"):
            notes.append(r["note"][:300])
        print(f"{name:<9} {(f'{sec:.1f}' if sec else 'n/a'):>8} {ratio:>9} {r['runs']['total']:>5}  "
              f"{out['previews']:>8} {out['mosaic_previews']:>7} {missing:>7}  {'; '.join(notes)}")
        if name != "jwql" and by_job:
            print(f"{'':<9} runs by job: {by_job}; {r['load']}")
        elif name == "jwql":
            print(f"{'':<9} {r['load']}")
    print()
    for name, r in results.items():
        if r.get("error"):
            continue
        out = r["outputs"]
        if out["missing_previews"] or out["missing_thumbs"]:
            print(f"{name}: missing {len(out['missing_previews'])} previews, {len(out['missing_thumbs'])} thumbnails "
                  f"of jwql's names, e.g. {(out['missing_previews'] + out['missing_thumbs'])[:4]}")
        if out["other_extra"]:
            print(f"{name}: outputs jwql does not make besides mosaics: {out['other_extra'][:6]}")
    if jwql and not jwql.get("error"):
        missed = jwql["outputs"]["missing_previews"]
        if missed:
            done = n_files - len(missed)
            how = ("an exception process_program does not catch ended the pool: logged as CRASHED, the script exits "
                   "normally, files after it in that worker's chunk are never tried" if jwql.get("crashed")
                   else "errors it catches are logged as warnings and the script goes on")
            print(f"jwql has no preview for {len(missed)} of {n_files} files ({how}): "
                  f"{sorted({Path(m).name.split('_')[3] for m in missed})} detectors, e.g. {missed[:3]}")
            for line in (jwql.get("critical") or [])[-2:] + (jwql.get("warnings") or [])[:3]:
                print(f"  jwql log: {line.strip().splitlines()[-1][:200]}")
            print(f"ratios on the files both produced ({done}): jwql s/file {base / max(done, 1):.2f} vs ours s/file:")
            for name in ("cli", "sensor", "backfill"):
                r = results.get(name)
                if r and r.get("seconds"):
                    per = r["seconds"] / n_files
                    print(f"  {name:<9} {per:.2f} s/file -> {base / max(done, 1) / per:.2f}x")
        else:
            print(f"jwql rendered all {n_files} files; no file failed"
                  + (" (MIRI science map provided, as a production install has it)" if not args.no_miri_map else ""))
        if jwql.get("warnings"):
            print(f"jwql log warnings: {len(jwql['warnings'])}, e.g. {jwql['warnings'][0][:200]}")
    print("Mosaics: jwql 1.4.1 makes none; ours must make one per program (NRC_SWALL_MOSAIC of the A+B pair).")
    print("Figures are wall seconds on a shared machine (see load averages); ratio = jwql seconds / ours.")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--programs", type=int, default=12)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes for jwql's pool and ours")
    ap.add_argument("--keep", type=Path, help="work in (and keep) this folder; a matching archive there is reused")
    ap.add_argument("--only", action="append", default=[], help=f"comma-separated subset of {','.join(PATHS)}")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--venv", type=Path, default=Path.home() / ".cache" / "jwql-bench-venv")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds allowed per path")
    ap.add_argument("--quiet", type=float, default=40, help="seconds without new or active runs that end a path")
    ap.add_argument("--no-miri-map", action="store_true", help="do not give jwql its MIRI non-science map")
    ap.add_argument("--bare-instance", action="store_true",
                    help="no dagster.yaml from jwql_dagster.instance_config: Dagster's own defaults")
    args = ap.parse_args(argv)
    only = [p.strip() for item in args.only for p in item.split(",") if p.strip()] or list(PATHS)
    unknown = set(only) - set(PATHS)
    if unknown:
        ap.error(f"--only: unknown {sorted(unknown)}; choose from {', '.join(PATHS)}")

    results: dict[str, dict[str, Any]] = {}
    with dd.Session(args.keep, "bench-archive-") as session:
        work, procs = session.work, session.procs
        files = archive_plan(args.programs, args.seed)
        expected = expected_outputs(files)
        archive = work / "archive"
        head = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%h %cI"], capture_output=True, text=True).stdout.strip()
        print(f"bench_archive: {args.programs} programs, {args.workers} workers, work folder {work}; "
              f"code at {head or '(no git)'} ({load()})", flush=True)
        build_archive(archive, files, args.seed)
        runners = {"jwql": path_jwql, "cli": path_cli, "sensor": path_sensor, "backfill": path_backfill}
        results = dd.run_contenders([p for p in PATHS if p in only],
                                    lambda name: runners[name](args, procs, work, archive, expected), procs)
        report(results, expected, args)
    if session.interrupted:
        return 130
    failed = [n for n, r in results.items() if r.get("error") or r.get("timeout")]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
