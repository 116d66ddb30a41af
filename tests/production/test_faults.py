"""Killed workers on the production deployment: the platform recovers with no person involved (issue 20).

A real deployment (code server, daemon, webserver; deploy/dagster.yaml unchanged; PostgreSQL)
ingests a synthetic archive (6 programs, issue 20's case; FAULT_TEST_PROGRAMS=2 for a quick look) through the
``new_fits_files`` sensor. Twice, at a random moment of
rendering, run and step processes and the render pool's children are SIGKILLed by PID, as the
OOM killer or a node failure would. Within 5 minutes of the last kill every preview and thumbnail
must exist and decode, no temp file may remain, no run may be queued or in progress and no pool
slot may stay with a dead run. Written against behaviour: how many runs or processes a preview
run uses is up to the previews code.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import pytest

from tests.production.stack import (
    REPO,
    broken_images,
    cmdline,
    descendants,
    expected_outputs,
    missing_outputs,
    run_summary,
    sigkill,
    slots_held_by_ended_runs,
    temp_files,
    unfinished_runs,
    wait_until,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(1500)]

RECOVERY_LIMIT_S = 300  # issue 20: settled within 5 minutes of the last kill
WATCH_S = 900  # how long the test watches for, to report the figures when the limit is missed
SEED = int(os.environ.get("FAULT_TEST_SEED", str(int(time.time()) % 10_000)))
RESULTS = REPO / "test-output" / "production"


def _jpeg_count(root: Path) -> int:
    return sum(1 for _ in root.rglob("*.jpg")) if root.exists() else 0


def _record(name: str, figures: dict) -> None:
    """Keep the measured figures (time to recover) for the closing note; printed too (pytest -s)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(figures, indent=2))
    print(f"\n{name}: {json.dumps(figures)}")


def test_sigkilled_workers_recover_without_a_person(stack_factory, fault_archive: Path) -> None:
    import dagster as dg

    rng = random.Random(SEED)
    stack = stack_factory(fault_archive)
    expected = expected_outputs(fault_archive)
    stack.start()
    instance = dg.DagsterInstance.get()
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    stack.start_sensor("new_fits_files")
    roots = (stack.preview_root, stack.thumbnail_root)
    diag = lambda: f"runs: {run_summary(instance)}\n{stack.logs()}"  # noqa: E731

    kills: list[dict] = []
    for attempt in (1, 2):
        # a moment of rendering: previews are being written and run processes exist
        floor = _jpeg_count(stack.preview_root)
        wait_until(f"rendering before kill {attempt}",
                   lambda: _jpeg_count(stack.preview_root) > floor and stack.run_processes(),
                   timeout=240, interval=0.5, on_fail=diag)
        time.sleep(rng.uniform(0, 2))
        victims = stack.run_processes()
        if attempt == 2:  # the second time, a random part of the tree: step processes or pool children only
            victims = [p for p in victims if rng.random() < 0.5] or victims[-1:]
        names = {p: cmdline(p)[:100] for p in victims}
        killed = sigkill(victims)
        kills.append({"at": time.monotonic(), "killed": len(killed), "processes": [names[p] for p in killed]})
        assert killed, f"kill {attempt}: no process to kill"

    last_kill = kills[-1]["at"]

    # Wait past the limit (up to WATCH_S) so the figures are measured even when the limit is missed.
    marks: dict[str, float] = {}

    def settled() -> bool:
        now = time.monotonic() - last_kill
        if "previews" not in marks and not missing_outputs(stack, expected):
            marks["previews"] = now
        if "queue" not in marks and not unfinished_runs(instance):
            marks["queue"] = now
        elif unfinished_runs(instance):
            marks.pop("queue", None)  # a run appeared again (a retry, a product run): not settled yet
        return "previews" in marks and "queue" in marks

    wait_until("every preview made and no run queued or in progress after the last kill", settled,
               timeout=WATCH_S, interval=1,
               on_fail=lambda: f"missing: {missing_outputs(stack, expected)[:10]}\n{diag()}")
    # the slots of killed runs go back to the pool (free_slots_after_run_end_seconds + a monitoring poll)
    wait_until("pool slots of ended runs freed", lambda: not slots_held_by_ended_runs(instance), timeout=90,
               interval=2, on_fail=lambda: str(slots_held_by_ended_runs(instance)))
    slots_free_s = time.monotonic() - last_kill
    recovered_s = max(marks.values())

    runs = instance.get_runs()
    summary = run_summary(instance)
    _record("sigkill_recovery", {
        "seed": SEED, "programs": len({k.split('/')[1] for k in expected}),
        "kills": [{"killed": k["killed"], "processes": k["processes"]} for k in kills],
        "seconds_from_last_kill_to_every_preview": round(marks["previews"], 1),
        "seconds_from_last_kill_to_empty_queue": round(marks["queue"], 1),
        "seconds_from_last_kill_to_slots_free": round(slots_free_s, 1),
        "runs": summary,
    })

    assert not unfinished_runs(instance)
    assert not broken_images(*roots)
    assert not temp_files(*roots, stack.jwql_home / "outputs"), "unfinished writes left in the output roots"
    # every failed run was retried, up to the configured number of retries
    max_retries = instance.run_retries_max_retries
    retried = {r.tags.get("dagster/parent_run_id") for r in runs}
    for run in runs:
        if run.status == dg.DagsterRunStatus.FAILURE and int(run.tags.get("dagster/retry_number", "0")) < max_retries:
            assert run.run_id in retried, f"failed run {run.run_id} ({run.tags.get('dagster/partition')}) not retried"
    # last, so a slow machine still gets every other check: the time limit
    assert recovered_s <= RECOVERY_LIMIT_S, (
        f"settled {recovered_s:.0f} s after the last kill (previews {marks['previews']:.0f} s, queue empty "
        f"{marks['queue']:.0f} s), limit {RECOVERY_LIMIT_S} s: runs {summary}")


def test_descendants_sees_grandchildren(tmp_path: Path) -> None:
    """The kill helper finds a process's whole tree (the run worker's step and pool processes)."""
    import subprocess
    import sys

    script = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        tree = wait_until("grandchild started", lambda: descendants(proc.pid), timeout=30, interval=0.2)
        assert len(tree) == 1 and "time.sleep(60)" in cmdline(tree[0])
    finally:
        sigkill(descendants(proc.pid) + [proc.pid])
        proc.wait(timeout=10)


def test_temp_file_of_a_killed_writer_is_swept_a_live_ones_kept(tmp_path: Path) -> None:
    """A writer SIGKILLed mid-file leaves its hidden temp file; the next sweep removes it at once,
    while the temp file of a writer still running (another run of the same program) stays."""
    import subprocess
    import sys

    from jwql_dagster.previews.stale import sweep_stale_temp

    script = ("import sys, time; from jwql_dagster.atomic import atomic_path\n"
              "with atomic_path(sys.argv[1]) as tmp:\n"
              "    tmp.write_bytes(b'\\xff\\xd8 half a jpeg'); print('writing', flush=True); time.sleep(120)\n")
    writers = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path / f"{name}_integ0.jpg")],
                                stdout=subprocess.PIPE, text=True) for name in ("killed", "live")]
    try:
        for w in writers:
            assert w.stdout.readline().strip() == "writing"
        killed, live = writers
        killed.kill()
        killed.wait(timeout=10)
        temps = sorted(p.name for p in tmp_path.glob(".tmp-*"))
        assert len(temps) == 2 and not list(tmp_path.glob("*_integ0.jpg"))  # no partial product under the real name
        assert sweep_stale_temp(tmp_path) == 1
        assert [p.name for p in tmp_path.glob(".tmp-*")] == [n for n in temps if n.startswith(".tmp-live")]
    finally:
        for w in writers:
            w.kill()
            w.wait(timeout=10)
