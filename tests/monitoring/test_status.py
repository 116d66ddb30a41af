"""jwql's cadence / missing / status rules on hand-computed examples."""

import math
from datetime import datetime, timedelta, timezone

import pytest

from jwql_dagster.monitoring.status import (
    FAILURE,
    ONE_YEAR_S,
    SUCCESS,
    RunRecord,
    cadence,
    compute_status,
    launch_times,
    problems,
    redact,
    summarize_error,
)

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def run(name: str, offset_s: float, status: str = SUCCESS, source: str = "dagster", ref: str | None = None) -> RunRecord:
    return RunRecord(monitor_name=name, source=source, run_ref=ref or f"{name}-{offset_s}", status=status,
                     start_time=T0 + timedelta(seconds=offset_s), end_time=T0 + timedelta(seconds=offset_s + 5))


def test_cadence_mean_and_population_std():
    # gaps 100, 200, 300 -> mean 200, std sqrt((100^2 + 0 + 100^2) / 3)
    mean, std = cadence([T0 + timedelta(seconds=s) for s in (600, 0, 300, 100)])
    assert mean == pytest.approx(200.0)
    assert std == pytest.approx(math.sqrt(20000 / 3))


@pytest.mark.parametrize("n", [0, 1, 2])
def test_fewer_than_three_runs_use_one_year(n):
    assert cadence([T0 + timedelta(hours=i) for i in range(n)]) == (ONE_YEAR_S, ONE_YEAR_S)
    if n:
        (state,) = compute_status([run("m", 3600 * i) for i in range(n)], now=T0 + timedelta(days=300))
        assert not state.possibly_missing  # one year + 3 years of slack


def test_missing_threshold_is_mean_plus_three_std():
    runs = [run("m", s) for s in (0, 100, 300, 600)]
    threshold = 200 + 3 * math.sqrt(20000 / 3)  # 444.949...
    (late,) = compute_status(runs, now=T0 + timedelta(seconds=600 + threshold + 1))
    (on_time,) = compute_status(runs, now=T0 + timedelta(seconds=600 + threshold - 1))
    assert late.possibly_missing and late.overdue_s == pytest.approx(1.0)
    assert not on_time.possibly_missing
    assert late.latest_time == T0 + timedelta(seconds=600) and late.n_runs == 4


def test_status_is_the_latest_run_and_monitors_are_separate():
    runs = [run("a", 0), run("a", 10, FAILURE), run("a", 20)] + [run("b", 0), run("b", 10), run("b", 20, FAILURE)]
    runs.append(run("a", 5, FAILURE, source="legacy", ref="/logs/ops/a/a_h_x.log"))
    states = {(s.source, s.monitor_name): s for s in compute_status(runs, now=T0 + timedelta(seconds=25))}
    assert states[("dagster", "a")].status == SUCCESS and states[("dagster", "a")].latest_file == "a-20"
    assert states[("dagster", "b")].status == FAILURE
    assert states[("legacy", "a")].status == FAILURE and states[("legacy", "a")].n_runs == 1
    assert [p.split(":")[0] for p in problems(states.values())] == ["b [dagster]", "a [legacy]"]


def test_bad_status_is_refused():
    with pytest.raises(ValueError, match="status"):
        RunRecord("m", "dagster", "r", "RUNNING", T0)


def test_error_summaries_hold_no_secret():
    text = ("OperationalError: connection to postgresql://jwql:hunter2@db:5432/jwql failed\n"
            "headers {'Authorization': 'Bearer abcdefghijklmnop'} token=XYZ123456 MAST_API_TOKEN=s3cr3tvalue")
    out = summarize_error(text, secrets=["s3cr3tvalue"])
    for secret in ("hunter2", "abcdefghijklmnop", "XYZ123456", "s3cr3tvalue"):
        assert secret not in out
    assert "\n" not in out and "postgresql://jwql:***@db" in out
    assert len(summarize_error("x" * 5000)) == 500
    assert redact("plain message") == "plain message"


def test_runs_of_one_launch_count_once_in_the_cadence():
    # Three daily launches of five per-instrument runs one second apart: the cadence is daily,
    # not one second, and the group is not missing minutes after a good launch.
    day = 86400.0
    runs = [RunRecord("mast", "dagster", f"run-{d}-{i}", SUCCESS, start_time=T0 + timedelta(seconds=d * day + i),
                      launch=f"dagster/tick=tick-{d}") for d in range(3) for i in range(5)]
    assert sorted(launch_times(runs)) == [T0 + timedelta(days=d) for d in range(3)]
    (state,) = compute_status(runs, now=T0 + timedelta(days=2, minutes=10))
    assert (state.cadence_mean_s, state.cadence_std_s) == (day, 0.0)
    assert not state.possibly_missing and state.n_runs == 15
    assert state.latest_file == "run-2-4"  # the latest run is still the latest record
    alone = [RunRecord("mast", "dagster", f"run-{i}", SUCCESS, start_time=T0 + timedelta(seconds=i)) for i in range(5)]
    assert compute_status(alone, now=T0 + timedelta(seconds=60))[0].possibly_missing  # without launches: 1 s cadence


def test_a_launch_is_placed_at_its_first_run():
    runs = [RunRecord("m", "dagster", "late", SUCCESS, start_time=T0 + timedelta(seconds=30), launch="x"),
            RunRecord("m", "dagster", "early", SUCCESS, start_time=T0 + timedelta(seconds=10), launch="x"),
            RunRecord("m", "legacy", "log", SUCCESS, start_time=None, end_time=T0 + timedelta(seconds=99))]
    assert sorted(launch_times(runs)) == [T0 + timedelta(seconds=10), T0 + timedelta(seconds=99)]
