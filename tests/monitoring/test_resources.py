"""A run that only executes asset checks is not a run of the group whose assets it checked.

Real Dagster instance and runs launched the way the UI launches them ("Execute checks" sends
no asset selection and a check selection), then monitor_status reads that history.
"""

import dagster as dg
import pytest
import sqlalchemy as sa

from jwql_dagster.monitoring.assets import monitor_status
from jwql_dagster.monitoring.checks import STATUS_CHECK
from jwql_dagster.monitoring.freshness import FRESHNESS_CHECK
from jwql_dagster.monitoring.resources import GroupIndex, launch_of
from jwql_dagster.db.models import Monitor, MonitorStatus

from .dagster_fixtures import alpha_ok, build_defs, execute, launch_like_ui

ALPHA_OK = alpha_ok.check_key
MAST_FRESHNESS = dg.AssetCheckKey(dg.AssetKey("mast_inventory"), FRESHNESS_CHECK)


def _snapshot(db) -> dict[str, MonitorStatus]:
    with db.session(readonly=True) as s:
        snap_id = s.scalar(sa.select(MonitorStatus.snapshot_id).order_by(MonitorStatus.date.desc(), MonitorStatus.id.desc()).limit(1))
        return {m.monitor_name: m for m in s.scalars(sa.select(MonitorStatus).where(MonitorStatus.snapshot_id == snap_id))}


def _rows(db) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    with db.session(readonly=True) as s:
        for m in s.scalars(sa.select(Monitor).where(Monitor.source == "dagster")):
            out.setdefault(m.monitor_name, set()).add(m.run_ref)
    return out


def test_check_only_runs_are_not_the_latest_run_of_the_group(jwql_env, sqlite_db, monkeypatch):
    monkeypatch.setenv("JWQL_DATABASE_URL", sqlite_db.url)
    index = GroupIndex.from_repository(build_defs().get_repository_def())
    with dg.instance_for_test() as inst:
        # A normal run: materializes alpha_asset and runs its check alpha_ok. It counts.
        asset_run = launch_like_ui("alpha_job", inst, assets=[alpha_asset_key()], checks=[ALPHA_OK])
        assert asset_run.success
        # Then "Execute checks" on alpha_asset, from the asset page (hidden asset job) and from the job page;
        # the last one's check raises, so that run FAILED. None of them materialized an alpha asset.
        check_runs = [
            launch_like_ui("__ASSET_JOB", inst, checks=[ALPHA_OK]),
            launch_like_ui("alpha_job", inst, checks=[ALPHA_OK]),
            launch_like_ui("alpha_job", inst, checks=[ALPHA_OK], fail_check=True),
        ]
        assert [r.success for r in check_runs] == [True, True, False]
        for r in check_runs:
            run = inst.get_run_by_id(r.run_id)
            assert run.asset_selection is None and run.asset_check_selection == {ALPHA_OK}
            assert index.groups_for_run(inst, run) == []

        # A status run that materializes group 'monitoring' and also runs a freshness check on gamma's
        # mast_inventory: it is a run of 'monitoring' only, not of 'gamma'.
        mixed = launch_like_ui("monitor_status_job", inst, assets=[monitor_status.key],
                               checks=[dg.AssetCheckKey(monitor_status.key, STATUS_CHECK), MAST_FRESHNESS])
        assert mixed.success
        assert index.groups_for_run(inst, inst.get_run_by_id(mixed.run_id)) == ["monitoring"]

        # Runs that failed before materializing anything still count for their group: one whose asset
        # raised, and one that failed before it started (launcher error: no start time, planned assets only).
        assert not execute("beta_job", inst, fail=True).success
        never_started = launch_like_ui("beta_job", inst, start=False)
        assert never_started.status == dg.DagsterRunStatus.FAILURE
        assert index.groups_for_run(inst, never_started) == ["beta"]

        assert execute("monitor_status_job", inst, asset_selection=[monitor_status.key]).success

    rows = _rows(sqlite_db)
    assert rows["alpha"] == {asset_run.run_id}
    assert mixed.run_id in rows["monitoring"] and "gamma" not in rows
    assert never_started.run_id in rows["beta"] and len(rows["beta"]) == 2
    assert not any(r.run_id in refs for r in check_runs for refs in rows.values())

    snap = _snapshot(sqlite_db)
    assert (snap["alpha"].latest_file, snap["alpha"].status) == (asset_run.run_id, "SUCCESS")
    assert (snap["beta"].latest_file, snap["beta"].status) == (never_started.run_id, "FAILURE")
    assert "gamma" not in snap


def alpha_asset_key() -> dg.AssetKey:
    return dg.AssetKey("alpha_asset")


def test_is_check_only_run(jwql_env, sqlite_db, monkeypatch):
    from jwql_dagster.monitoring.resources import is_check_only_run

    monkeypatch.setenv("JWQL_DATABASE_URL", sqlite_db.url)
    with dg.instance_for_test() as inst:
        normal = launch_like_ui("alpha_job", inst, assets=[alpha_asset_key()], checks=[ALPHA_OK])
        checks = launch_like_ui("__ASSET_JOB", inst, checks=[ALPHA_OK], fail_check=True)
        never_started = launch_like_ui("beta_job", inst, start=False)
        whole_job = execute("freshness_job", inst)  # a job of checks only is its own monitor, not check-only
        verdicts = [is_check_only_run(inst, inst.get_run_by_id(r.run_id)) for r in (normal, checks, never_started, whole_job)]
    assert verdicts == [False, True, False, False]


@pytest.mark.parametrize("tags, launch", [
    ({"dagster/backfill": "bf1", "dagster/tick": "t1"}, "dagster/backfill=bf1"),
    ({"dagster/tick": "t1", "jwql/launch": "l1"}, "dagster/tick=t1"),
    ({"jwql/launch": "l1"}, "jwql/launch=l1"),
    ({"dagster/partition": "miri"}, None),
])
def test_launch_of_a_run_comes_from_its_tags(tags, launch):
    assert launch_of(dg.DagsterRun(job_name="j", tags=tags)) == launch
