"""monitor_status and monitor_status_table on real Dagster run history plus a legacy log tree."""

import statistics
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from jwql_dagster.monitoring.assets import monitor_status, monitor_status_table
from jwql_dagster.monitoring.checks import STATUS_CHECK
from jwql_dagster.demo.legacy_logs import make_legacy_logs
from jwql_dagster.db.models import Monitor, MonitorStatus

from .dagster_fixtures import SECRET, execute


def _monitor_rows(db) -> list[Monitor]:
    with db.session(readonly=True) as s:
        return list(s.scalars(sa.select(Monitor).order_by(Monitor.start_time)))


def test_status_from_dagster_history_and_legacy_logs(jwql_env, jwql_db, tmp_path, monkeypatch):
    logs = tmp_path / "logs"
    truth = make_legacy_logs(logs)
    monkeypatch.setenv("JWQL_LOG_ROOT", str(logs))
    monkeypatch.setenv("JWQL_DATABASE_URL", jwql_db.url)
    with dg.instance_for_test() as inst:
        for _ in range(3):
            assert execute("alpha_job", inst).success
        assert execute("beta_job", inst).success
        failed = execute("beta_job", inst, fail=True)
        assert not failed.success
        result = execute("monitor_status_job", inst, asset_selection=[monitor_status.key, monitor_status_table.key])
        assert result.success

        rows = _monitor_rows(jwql_db)
        dagster_rows = [r for r in rows if r.source == "dagster"]
        assert sorted({r.monitor_name for r in dagster_rows}) == ["alpha", "beta"]
        alpha_rows = [r for r in dagster_rows if r.monitor_name == "alpha"]
        records = {r.dagster_run.run_id: r for r in inst.get_run_records()}
        assert len(alpha_rows) == 3
        for r in dagster_rows:  # one row per run and group, with the run record's times
            assert r.run_ref == r.run_id and abs(r.start_time.timestamp() - records[r.run_id].start_time) < 1e-3
        beta_failed = next(r for r in dagster_rows if r.run_id == failed.run_id)
        assert beta_failed.status == "FAILURE" and beta_failed.error_summary.startswith("step beta_asset: ValueError: cannot reach")
        assert SECRET not in beta_failed.error_summary
        assert {r.monitor_name for r in rows if r.source == "legacy"} == set(truth)

        with jwql_db.session(readonly=True) as s:
            snap = {(m.source, m.monitor_name): m for m in s.scalars(sa.select(MonitorStatus))}
        starts = sorted(records[r.run_id].start_time for r in alpha_rows)
        gaps = [b - a for a, b in zip(starts, starts[1:])]
        alpha = snap[("dagster", "alpha")]
        assert abs(alpha.cadence_mean_s - statistics.mean(gaps)) < 1e-3 and abs(alpha.cadence_std_s - statistics.pstdev(gaps)) < 1e-3
        assert alpha.status == "SUCCESS" and snap[("dagster", "beta")].status == "FAILURE"
        assert snap[("dagster", "beta")].cadence_mean_s == 31556736.0 and not snap[("dagster", "beta")].possibly_missing
        for module, t in truth.items():
            m = snap[("legacy", module)]
            assert (m.status, m.possibly_missing) == (t["status"], t["possibly_missing"]), module

        evaluations = {(e.event_specific_data.asset_key.to_user_string(), e.event_specific_data.check_name): e.event_specific_data
                       for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}
        check = evaluations[("monitor_status", STATUS_CHECK)]
        assert check.check_name == STATUS_CHECK and not check.passed and check.severity == dg.AssetCheckSeverity.WARN
        for name in ("beta", "generate_preview_images", "monitor_mast", "generate_proposal_thumbnails"):
            assert name in check.description
        assert "monitor_filesystem" not in check.description and "monitor_template_cache" not in check.description

        meta = inst.get_latest_materialization_event(monitor_status_table.key).asset_materialization.metadata
        html = Path(meta["path"].value).read_text()
        assert meta["path"].value == str(jwql_env.output_root / "monitor_cron_jobs" / "cron_status_table.html")
        assert "Possible Missing File" in html and "generate_preview_images" in html
        table = {r.data["monitor"]: r.data for r in meta["status_table"].records}
        assert table["generate_preview_images"]["possibly_missing"] is True and table["beta (dagster)"]["status"] == "failure"

        # Re-running adds no duplicate rows; only the finished monitor_status run joins as group 'monitoring'.
        again = execute("monitor_status_job", inst, asset_selection=[monitor_status.key])
        assert again.success
        rows2 = _monitor_rows(jwql_db)
        assert len(rows2) == len(rows) + 1
        assert [r.monitor_name for r in rows2 if r.run_id == result.run_id] == ["monitoring"]
        with jwql_db.session(readonly=True) as s:
            assert s.scalar(sa.select(sa.func.count(sa.distinct(MonitorStatus.snapshot_id)))) == 2


def test_runs_of_one_launch_are_one_run_and_the_status_lists_its_own_group(jwql_env, jwql_db, tmp_path, monkeypatch):
    monkeypatch.setenv("JWQL_LOG_ROOT", str(tmp_path / "no_logs"))
    monkeypatch.setenv("JWQL_DATABASE_URL", jwql_db.url)
    with dg.instance_for_test() as inst:
        for launch in ("a", "b", "c"):  # three launches of two per-instrument runs each, as one schedule tick makes
            for partition in ("miri", "nircam"):
                assert execute("gamma_job", inst, tags={"dagster/partition": partition, "jwql/launch": launch}).success
        result = execute("monitor_status_job", inst, asset_selection=[monitor_status.key])
        assert result.success
        with jwql_db.session(readonly=True) as s:
            snap = {(m.source, m.monitor_name): m for m in s.scalars(sa.select(MonitorStatus))}
        runs = sorted(inst.get_run_records(filters=dg.RunsFilter(job_name="gamma_job")), key=lambda r: r.start_time)
        assert len(runs) == 6
        firsts = [min(r.start_time for r in runs if r.dagster_run.tags["jwql/launch"] == launch) for launch in ("a", "b", "c")]
        gaps = [b - a for a, b in zip(firsts, firsts[1:])]
        gamma = snap[("dagster", "gamma")]
        assert abs(gamma.cadence_mean_s - statistics.mean(gaps)) < 1e-3 and abs(gamma.cadence_std_s - statistics.pstdev(gaps)) < 1e-3
        # The group of the run computing the status is in its own first snapshot, latest run this one.
        monitoring = snap[("dagster", "monitoring")]
        assert monitoring.status == "SUCCESS" and monitoring.latest_file == result.run_id
        # ... but never stored as a finished run: only the run history records it, once it has ended.
        assert result.run_id not in {r.run_id for r in _monitor_rows(jwql_db)}
