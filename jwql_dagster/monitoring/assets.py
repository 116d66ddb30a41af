"""Asset group 'monitoring': jwql's cron-job monitor built on Dagster's run history and legacy logs.

A Dagster monitor is an asset group: every finished run becomes one ``monitor`` row per
group whose assets it materialized or planned to (found through the code location's asset
graph at run time, so groups added later are covered without editing this module); asset
checks never make a run count for a group. Legacy jwql cron logs under
JWQL_LOG_ROOT become rows too, so old cron jobs and Dagster assets share one table.
Run history is read by resources.py, the rows are written by db/monitor.py, the verdicts
are status.py's.
"""

from datetime import datetime, timedelta, timezone
from typing import Sequence

import dagster as dg

from jwql_dagster.config import load_settings
from jwql_dagster.db import monitor as monitor_db
from jwql_dagster.metadata import snapshot_identity
from jwql_dagster.monitoring import plots as plots_monitor
from jwql_dagster.monitoring.alerts import known_secrets
from jwql_dagster.monitoring.checks import STATUS_CHECK, freshness_checks, status_check_result
from jwql_dagster.monitoring.jobs import monitor_status_job
from jwql_dagster.monitoring.legacy_logs import scan_log_tree
from jwql_dagster.monitoring.resources import GroupIndex, current_run_record, dagster_run_records, repository_of, with_launches
from jwql_dagster.monitoring.status import FAILURE, MonitorState, compute_status
from jwql_dagster.resources import ArchiveFilesystem, JwqlDatabase

GROUP = "monitoring"
HISTORY_DAYS = 60  # Dagster runs and monitor rows older than this do not enter the cadence

STATUS_SCHEMA = dg.TableSchema(columns=[
    dg.TableColumn("monitor"), dg.TableColumn("most_recent_file", description="log file, or Dagster run id"),
    dg.TableColumn("most_recent_time"), dg.TableColumn("possibly_missing", "bool"), dg.TableColumn("status"),
    dg.TableColumn("cadence", description="mean ± std of the gaps between launches"), dg.TableColumn("runs", "int"),
])

STATUS_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=3), warn_window=timedelta(hours=2))


@dg.asset(
    group_name=GROUP,
    pool="db",
    kinds={"python", "sql"},
    freshness_policy=STATUS_FRESHNESS,
    check_specs=[dg.AssetCheckSpec(STATUS_CHECK, asset="monitor_status", description="No monitor failed or is possibly missing")],
)
def monitor_status(context: dg.AssetExecutionContext, db: JwqlDatabase, archive: ArchiveFilesystem) -> dg.MaterializeResult:
    """Cadence, latest run, missing-run flag and status of every asset group and legacy cron job."""
    secrets = known_secrets(load_settings())
    now = datetime.now(timezone.utc)
    since = now - timedelta(days=HISTORY_DAYS)
    snapshot_id, date = snapshot_identity(context)
    repo = repository_of(context)
    if repo is None:
        context.log.warning("no code location loaded for this run: only runs of this job's own assets are attributed to groups")
        index = GroupIndex.from_job(context.job_def)
    else:
        index = GroupIndex.from_repository(repo)

    already = monitor_db.recorded_dagster_runs(db, since)
    dagster_records = dagster_run_records(context.instance, index, skip_run_ids=already, since=since, secrets=secrets)
    legacy_records = scan_log_tree(archive.log_root, since=since)
    written = monitor_db.record_runs(db, dagster_records + legacy_records)

    with db.session() as session:
        records = with_launches(context.instance, monitor_db.load_monitor_records(session, since))
        if not any(r.run_id == context.run.run_id for r in records):
            records.append(current_run_record(context.instance, context.run, GROUP))
        states = compute_status(records, now=now)
        monitor_db.record_status(db, session, states, snapshot_id, date)

    n_fail = sum(s.status == FAILURE for s in states)
    n_missing = sum(s.possibly_missing for s in states)
    context.log.info(f"{len(states)} monitors: {n_fail} failing, {n_missing} possibly missing; {written} run rows written")
    return dg.MaterializeResult(
        metadata={
            "snapshot_id": snapshot_id,
            "monitors": dg.MetadataValue.int(len(states)),
            "failing": dg.MetadataValue.int(n_fail),
            "possibly_missing": dg.MetadataValue.int(n_missing),
            "new_dagster_run_rows": dg.MetadataValue.int(len(dagster_records)),
            "legacy_logs_read": dg.MetadataValue.int(len(legacy_records)),
            "legacy_log_root": dg.MetadataValue.path(archive.log_root),
            "groups_known": dg.MetadataValue.json(sorted(set(index.group_of.values()))),
            "status_table": status_table(states),
        },
        check_results=[status_check_result(states)],
    )


@dg.asset(group_name=GROUP, deps=[monitor_status], kinds={"bokeh", "html"}, freshness_policy=STATUS_FRESHNESS)
def monitor_status_table(context: dg.AssetExecutionContext, db: JwqlDatabase, archive: ArchiveFilesystem) -> dg.MaterializeResult:
    """jwql's cron-job status table (bokeh DataTable) at monitor_cron_jobs/cron_status_table.html."""
    wanted = None
    event = context.instance.get_latest_materialization_event(dg.AssetKey("monitor_status"))
    if event is not None and event.asset_materialization is not None and "snapshot_id" in event.asset_materialization.metadata:
        wanted = event.asset_materialization.metadata["snapshot_id"].value
    snapshot_id, taken, states = monitor_db.load_snapshot(db, wanted)
    if snapshot_id is None:
        raise dg.Failure("monitor_status has no snapshot in the database yet; materialize monitor_status first")
    path = plots_monitor.write_table(archive.output_root, states, taken=taken, snapshot_id=snapshot_id, ui_url=load_settings().ui_url)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "snapshot_id": snapshot_id,
            "monitors": dg.MetadataValue.int(len(states)),
            "status_table": status_table(states),
        }
    )


def status_table(states: Sequence[MonitorState]) -> dg.TableMetadataValue:
    """The cron status table as a table the Dagster UI can sort."""
    return dg.MetadataValue.table([dg.TableRecord(r) for r in plots_monitor.table_records(states)], schema=STATUS_SCHEMA)


defs = dg.Definitions(assets=[monitor_status, monitor_status_table], asset_checks=freshness_checks, jobs=[monitor_status_job])
