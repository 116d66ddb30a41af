"""SQL of the monitoring group (db/monitor.py): run rows as the status computation reads them back."""

from datetime import datetime, timedelta, timezone

from jwql_dagster.db.monitor import load_monitor_records, record_runs
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
