"""Review fixes (monitoring): runs without a start time, unreadable legacy log folders."""

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

from jwql_dagster.db.monitor import load_monitor_records, record_runs
from jwql_dagster.demo.legacy_logs import make_legacy_logs
from jwql_dagster.monitoring.legacy_logs import scan_log_tree
from jwql_dagster.monitoring.status import FAILURE, SUCCESS, RunRecord, compute_status


def test_run_that_failed_before_starting_is_the_latest_run(sqlite_db):
    # A run that fails at launch (code location down, launcher error) has no start time, only an end time.
    # It is the newest run of the group, so the status must show the failure.
    now = datetime.now(timezone.utc)
    runs = [
        RunRecord("previews", "dagster", f"ok{i}", SUCCESS, start_time=now - timedelta(hours=4 - i), end_time=now - timedelta(hours=4 - i))
        for i in range(3)
    ]
    runs.append(RunRecord("previews", "dagster", "launchfail", FAILURE, start_time=None, end_time=now - timedelta(minutes=5),
                          run_id="launchfail", error_summary="could not launch"))
    record_runs(sqlite_db, runs)
    with sqlite_db.session(readonly=True) as s:
        records = load_monitor_records(s, now - timedelta(days=60))
    assert "launchfail" in {r.run_ref for r in records}
    (state,) = compute_status(records, now=now)
    assert state.status == FAILURE and state.latest_file == "launchfail"


def test_unreadable_module_folder_does_not_hide_the_others(tmp_path: Path, monkeypatch):
    logs = tmp_path / "logs"
    truth = make_legacy_logs(logs)
    blocked = str(logs / "ops" / "monitor_mast")
    real_scandir = os.scandir

    def scandir(path="."):
        if str(path) == blocked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    records = scan_log_tree(logs)
    names = {r.monitor_name for r in records}
    assert names >= set(truth) - {"monitor_mast"}
    mast = [r for r in records if r.monitor_name == "monitor_mast"]
    assert len(mast) == 1 and mast[0].status == FAILURE and "unreadable" in (mast[0].error_summary or "")
