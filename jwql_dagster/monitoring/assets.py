"""Asset group 'monitoring': jwql's cron-job monitor built on Dagster's run history and legacy logs.

A Dagster monitor is an asset group: every finished run becomes one ``monitor`` row per
group whose assets it materialized or planned to (found through the code location's asset
graph at run time, so groups added later are covered without editing this module); asset
checks never make a run count for a group. Legacy jwql cron logs under
JWQL_LOG_ROOT become rows too, so old cron jobs and Dagster assets share one table.
"""


from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterable, Sequence

import dagster as dg
import sqlalchemy as sa

from jwql_dagster.metadata import snapshot_identity
from jwql_dagster.config import Settings, load_settings, url_password
from jwql_dagster.monitoring import plots as plots_monitor
from jwql_dagster.monitoring.legacy_logs import scan_log_tree
from jwql_dagster.monitoring.status import (
    FAILURE,
    SUCCESS,
    MonitorState,
    RunRecord,
    compute_status,
    format_duration,
    problems,
    summarize_error,
)
from jwql_dagster.db.models import Monitor, MonitorStatus
from jwql_dagster.resources import ArchiveFilesystem, JwqlDatabase

GROUP = "monitoring"
HISTORY_DAYS = 60  # Dagster runs and monitor rows older than this do not enter the cadence
MAX_RUNS = 5000  # newest finished runs read from the instance per materialization
MONITOR_KEY = ("source", "monitor_name", "run_ref")
STATUS_KEY = ("snapshot_id", "monitor_name", "source")
STATUS_CHECK = "all_monitors_ok"

_RUN_STATUS = {dg.DagsterRunStatus.SUCCESS: SUCCESS, dg.DagsterRunStatus.FAILURE: FAILURE}
_PLANNED = {dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED, dg.DagsterEventType.ASSET_MATERIALIZATION}
_FAILURES = {dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE}


# ----------------------------------------------------------------------------- Dagster history

@dataclass(frozen=True)
class GroupIndex:
    """Which group each materializable asset is in, and which groups each job covers."""

    group_of: dict[dg.AssetKey, str]
    job_groups: dict[str, frozenset[str]]

    @classmethod
    def from_repository(cls, repo: dg.RepositoryDefinition | None) -> "GroupIndex":
        if repo is None:
            return cls({}, {})
        graph = repo.asset_graph
        group_of: dict[dg.AssetKey, str] = {}
        for key in graph.get_all_asset_keys():
            node = graph.get(key)
            if node.is_materializable:
                group_of[key] = node.group_name or "default"
        job_groups: dict[str, frozenset[str]] = {}
        for name in repo.job_names:
            try:  # one job that fails to resolve must not hide the others
                keys = repo.get_job(name).asset_layer.executable_asset_keys
            except Exception:  # noqa: BLE001
                keys = set()
            job_groups[name] = frozenset(group_of[k] for k in keys if k in group_of)
        return cls(group_of, job_groups)

    @classmethod
    def from_job(cls, job: dg.JobDefinition) -> "GroupIndex":
        graph = job.asset_layer.asset_graph
        group_of = {k: graph.get(k).group_name or "default" for k in graph.get_all_asset_keys() if graph.get(k).is_materializable}
        return cls(group_of, {job.name: frozenset(group_of.values())})

    def groups_for_run(self, instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[str]:
        """The groups whose assets the run materialized or planned to, else its job's groups, else the job name.

        Asset checks never attribute a run to a group: a run that only executed checks ("Execute
        checks" in the UI) is not a run of the checked assets' group, and a run that materializes
        group A and checks an asset of group B is a run of A only. A run that planned assets but
        failed before materializing any (even before it started) still counts for their groups.
        Runs of other code locations (no asset or job known here) and check-only runs give [].
        """
        groups = {self.group_of[k] for k in materialization_keys(instance, run) if k in self.group_of}
        if groups:
            return sorted(groups)
        # Dagster's hidden implicit job ("__ASSET_JOB") spans every group: it says nothing about this run.
        if run.job_name not in self.job_groups or run.job_name.startswith("__"):
            return []
        job_groups = self.job_groups[run.job_name]
        if not job_groups:  # a job without assets (ops, or checks only) is a monitor of its own
            return [run.job_name]
        # A subset of an asset job that planned no asset ran checks only; a whole-job run without
        # planned events (older history) is a run of all the job's groups.
        if run.asset_selection or run.asset_check_selection is not None:
            return []
        return sorted(job_groups)


def materialization_keys(instance: dg.DagsterInstance, run: dg.DagsterRun) -> set[dg.AssetKey]:
    """Assets a run selected for materialization, planned (logged when the run is created) or materialized."""
    keys = set(run.asset_selection or ())
    for event in instance.all_logs(run.run_id, of_type=_PLANNED):
        if event.dagster_event is not None and event.dagster_event.asset_key is not None:
            keys.add(event.dagster_event.asset_key)
    return keys


def is_check_only_run(instance: dg.DagsterInstance, run: dg.DagsterRun) -> bool:
    """True for a run that executed asset checks and was never meant to materialize an asset.

    Such a run is no monitor's run (see GroupIndex.groups_for_run). A job made only of checks,
    run whole, is not check-only here: it is its own monitor, under its job name.
    """
    if materialization_keys(instance, run):
        return False
    return bool(run.asset_check_selection) or (run.asset_selection is not None and run.job_name.startswith("__"))


def repository_of(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> dg.RepositoryDefinition | None:
    """The code location's definitions, or None when run in-process without one (e.g. ``dg.materialize``)."""
    try:
        return context.repository_def
    except Exception:  # Dagster raises a CheckError when no repository was loaded for the run
        return None


def known_secrets(settings: Settings) -> list[str]:
    """Secret values that must never appear in an error summary or alert."""
    out = [settings.mast_api_token or ""]
    for url in (settings.database_url, settings.alert_smtp or "", settings.alert_webhook or ""):
        out.append(url_password(url) or "")
    return [s for s in out if s]


def _error_text(error: object) -> str:
    # Dagster wraps a user exception in DagsterExecutionStepExecutionError; its cause is what a user needs.
    while getattr(error, "cause", None) is not None and getattr(error, "cls_name", "").startswith("Dagster"):
        error = error.cause  # type: ignore[attr-defined]
    cls = getattr(error, "cls_name", None) or "Error"
    message = (getattr(error, "message", "") or "").strip()
    return message if message.startswith(cls) else f"{cls}: {message}"


def run_error_summary(instance: dg.DagsterInstance, run_id: str, secrets: Sequence[str] = ()) -> str | None:
    """'step <key>: <Exception>: <message>' for each failed step (or the run failure message), secret-free."""
    parts: list[str] = []
    run_message = None
    for event in instance.all_logs(run_id, of_type=_FAILURES):
        de = event.dagster_event
        if de is None:
            continue
        if de.event_type == dg.DagsterEventType.STEP_FAILURE and de.step_failure_data and de.step_failure_data.error:
            parts.append(f"step {de.step_key}: {_error_text(de.step_failure_data.error)}")
        elif de.event_type == dg.DagsterEventType.RUN_FAILURE:
            data = de.event_specific_data
            err = getattr(data, "error", None)
            run_message = _error_text(err) if err is not None else (de.message or event.user_message)
    text = "; ".join(parts) or run_message
    return summarize_error(text, secrets)


def _ts(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, timezone.utc) if value is not None else None


def records_for_run(
    instance: dg.DagsterInstance,
    index: GroupIndex,
    run: dg.DagsterRun,
    start: float | None,
    end: float | None,
    secrets: Sequence[str] = (),
) -> list[RunRecord]:
    """One RunRecord per asset group a finished run touched."""
    status = _RUN_STATUS.get(run.status)
    if status is None:
        return []
    summary = run_error_summary(instance, run.run_id, secrets) if status == FAILURE else None
    return [
        RunRecord(
            monitor_name=group,
            source="dagster",
            run_ref=run.run_id,
            run_id=run.run_id,
            status=status,
            start_time=_ts(start),
            end_time=_ts(end),
            log_file=None,
            error_summary=summary,
        )
        for group in index.groups_for_run(instance, run)
    ]


def dagster_run_records(
    instance: dg.DagsterInstance,
    index: GroupIndex,
    skip_run_ids: Iterable[str] = (),
    since: datetime | None = None,
    limit: int = MAX_RUNS,
    secrets: Sequence[str] = (),
) -> list[RunRecord]:
    """RunRecords of finished (success or failure) runs created after ``since``, except runs already recorded."""
    skip = set(skip_run_ids)
    filters = dg.RunsFilter(statuses=list(_RUN_STATUS), created_after=since)
    out: list[RunRecord] = []
    for rec in instance.get_run_records(filters=filters, limit=limit):
        if rec.dagster_run.run_id in skip:
            continue
        out.extend(records_for_run(instance, index, rec.dagster_run, rec.start_time, rec.end_time, secrets))
    return out


# ----------------------------------------------------------------------------- database

def _recorded_dagster_runs(session, since: datetime) -> set[str]:
    rows = session.execute(
        sa.select(Monitor.run_ref).where(Monitor.source == "dagster", sa.or_(Monitor.start_time >= since, Monitor.start_time.is_(None)))
    )
    return {r[0] for r in rows}


def _as_record(m: Monitor) -> RunRecord:
    return RunRecord(
        monitor_name=m.monitor_name,
        source=m.source,
        run_ref=m.run_ref,
        status=m.status,
        start_time=m.start_time,
        end_time=m.end_time,
        log_file=m.log_file,
        run_id=m.run_id,
        error_summary=m.error_summary,
    )


def load_monitor_records(session, since: datetime) -> list[RunRecord]:
    """Monitor rows since ``since``, plus the latest rows of monitors that have gone quiet for longer."""
    # A run that failed before it started (launch error) has only an end time: place it there, as RunRecord.when does.
    when = sa.func.coalesce(Monitor.start_time, Monitor.end_time)
    recent = [_as_record(m) for m in session.scalars(sa.select(Monitor).where(when >= since))]
    seen = {(r.source, r.monitor_name) for r in recent}
    quiet = session.execute(sa.select(Monitor.source, Monitor.monitor_name).distinct()).all()
    for source, name in quiet:
        if (source, name) in seen:
            continue
        rows = session.scalars(
            sa.select(Monitor)
            .where(Monitor.source == source, Monitor.monitor_name == name)
            .order_by(when.desc().nulls_last())
            .limit(3)
        )
        recent.extend(_as_record(m) for m in rows)
    return recent


def record_runs(db: JwqlDatabase, records: Sequence[RunRecord]) -> int:
    """Upsert ``monitor`` rows (idempotent on source, monitor_name, run_ref)."""
    if not records:
        return 0
    with db.session() as session:
        return db.upsert(session, Monitor, [r.as_row() for r in records], key=MONITOR_KEY)


def _state_from_row(row: MonitorStatus, n_runs: int) -> MonitorState:
    return MonitorState(
        monitor_name=row.monitor_name,
        source=row.source,
        latest_file=row.latest_file,
        latest_time=row.latest_time,
        cadence_mean_s=row.cadence_mean_s or 0.0,
        cadence_std_s=row.cadence_std_s or 0.0,
        possibly_missing=bool(row.possibly_missing),
        status=row.status,
        n_runs=n_runs,
        overdue_s=0.0,
    )


def load_snapshot(db: JwqlDatabase, snapshot_id: str | None = None) -> tuple[str | None, list[MonitorState]]:
    """The states of one monitor_status snapshot (the newest when ``snapshot_id`` is None)."""
    with db.session(readonly=True) as session:
        if snapshot_id is None:
            snapshot_id = session.scalar(sa.select(MonitorStatus.snapshot_id).order_by(MonitorStatus.date.desc(), MonitorStatus.id.desc()).limit(1))
        if snapshot_id is None:
            return None, []
        rows = list(session.scalars(sa.select(MonitorStatus).where(MonitorStatus.snapshot_id == snapshot_id)))
        counts = dict(
            ((s, n), c)
            for s, n, c in session.execute(sa.select(Monitor.source, Monitor.monitor_name, sa.func.count()).group_by(Monitor.source, Monitor.monitor_name))
        )
    states = [_state_from_row(r, counts.get((r.source, r.monitor_name), 0)) for r in rows]
    return snapshot_id, sorted(states, key=lambda s: (s.source, s.monitor_name))


# ----------------------------------------------------------------------------- assets

STATUS_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=3), warn_window=timedelta(hours=2))


def _status_check(states: Sequence[MonitorState]) -> dg.AssetCheckResult:
    bad = problems(states)
    names = sorted({s.monitor_name for s in states if not s.ok})
    return dg.AssetCheckResult(
        check_name=STATUS_CHECK,
        passed=not bad,
        severity=dg.AssetCheckSeverity.WARN,
        description=("Monitors needing attention: " + ", ".join(names)) if names else f"All {len(states)} monitors ok",
        metadata={"problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in bad) or "none"), "monitors": dg.MetadataValue.json(names)},
    )


@dg.asset(
    group_name=GROUP,
    pool="db",
    kinds={"python", "sql"},
    freshness_policy=STATUS_FRESHNESS,
    check_specs=[dg.AssetCheckSpec(STATUS_CHECK, asset="monitor_status", description="No monitor failed or is possibly missing")],
)
def monitor_status(context: dg.AssetExecutionContext, db: JwqlDatabase, archive: ArchiveFilesystem) -> dg.MaterializeResult:
    """Cadence, latest run, missing-run flag and status of every asset group and legacy cron job."""
    settings = load_settings()
    secrets = known_secrets(settings)
    now = datetime.now(timezone.utc)
    since = now - timedelta(days=HISTORY_DAYS)
    snapshot_id, date = snapshot_identity(context)
    repo = repository_of(context)
    if repo is None:
        context.log.warning("no code location loaded for this run: only runs of this job's own assets are attributed to groups")
        index = GroupIndex.from_job(context.job_def)
    else:
        index = GroupIndex.from_repository(repo)

    with db.session(readonly=True) as session:
        already = _recorded_dagster_runs(session, since)
    dagster_records = dagster_run_records(context.instance, index, skip_run_ids=already, since=since, secrets=secrets)
    legacy_records = scan_log_tree(archive.log_root, since=since)
    written = record_runs(db, dagster_records + legacy_records)

    with db.session() as session:
        states = compute_status(load_monitor_records(session, since), now=now)
        db.upsert(session, MonitorStatus, [s.as_row(snapshot_id, date) for s in states], key=STATUS_KEY)

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
            "status_table": dg.MetadataValue.md(plots_monitor.markdown_table(states)),
        },
        check_results=[_status_check(states)],
    )


@dg.asset(group_name=GROUP, deps=[monitor_status], kinds={"bokeh", "html"}, freshness_policy=STATUS_FRESHNESS)
def monitor_status_table(context: dg.AssetExecutionContext, db: JwqlDatabase, archive: ArchiveFilesystem) -> dg.MaterializeResult:
    """jwql's cron-job status table (bokeh DataTable) at monitor_cron_jobs/cron_status_table.html."""
    wanted = None
    event = context.instance.get_latest_materialization_event(dg.AssetKey("monitor_status"))
    if event is not None and event.asset_materialization is not None:
        meta = event.asset_materialization.metadata.get("snapshot_id")
        wanted = getattr(meta, "value", None) or getattr(meta, "text", None)
    snapshot_id, states = load_snapshot(db, wanted)
    if snapshot_id is None:
        raise dg.Failure("monitor_status has no snapshot in the database yet; materialize monitor_status first")
    path = plots_monitor.write_table(archive.output_root, states)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "snapshot_id": snapshot_id,
            "monitors": dg.MetadataValue.int(len(states)),
            "status_table": dg.MetadataValue.md(plots_monitor.markdown_table(states)),
        }
    )


# ----------------------------------------------------------------------------- freshness per partition

@dataclass(frozen=True)
class FreshnessRule:
    asset: str
    max_age: timedelta
    schedule: str


# Scheduled assets and how old their newest materialization may be (cadence + grace for queueing and run time).
FRESHNESS_RULES = (
    FreshnessRule("filesystem_snapshot", timedelta(hours=26), "daily"),
    FreshnessRule("filesystem_plots", timedelta(hours=26), "daily"),
    FreshnessRule("mast_inventory", timedelta(hours=26), "daily"),
    FreshnessRule("jwst_inventory", timedelta(hours=26), "daily"),
    FreshnessRule("filesystem_characteristics", timedelta(hours=26), "daily"),
    FreshnessRule("monitor_status", timedelta(hours=2), "hourly"),
    FreshnessRule("monitor_status_table", timedelta(hours=2), "hourly"),
)
FRESHNESS_CHECK = "freshness"


def _partitions_to_judge(instance: dg.DagsterInstance, key: dg.AssetKey, partitions_def: dg.PartitionsDefinition) -> list[str]:
    # Static partitions are all expected; dynamic and multi ones only once they have been materialized.
    if isinstance(partitions_def, dg.StaticPartitionsDefinition):
        return list(partitions_def.get_partition_keys())
    return sorted(instance.get_materialized_partitions(key))


def partition_ages(instance: dg.DagsterInstance, key: dg.AssetKey, partitions: Sequence[str], now: datetime) -> dict[str, float | None]:
    """Seconds since the newest materialization of each partition (None: never materialized)."""
    ages: dict[str, float | None] = {}
    for p in partitions:
        res = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, asset_partitions=[p]), limit=1)
        ages[p] = (now.timestamp() - res.records[0].timestamp) if res.records else None
    return ages


def judge_freshness(rule: FreshnessRule, ages: dict[str, float | None]) -> tuple[bool, list[str]]:
    """(passed, stale descriptions): every partition must be younger than the rule's max age."""
    limit = rule.max_age.total_seconds()
    stale = []
    for p, age in sorted(ages.items()):
        label = f"{p}: " if p else ""
        if age is None:
            stale.append(f"{label}never materialized")
        elif age > limit:
            stale.append(f"{label}last materialized {format_duration(age)} ago")
    return not stale, stale


def build_freshness_check(rule: FreshnessRule) -> dg.AssetChecksDefinition:
    """A WARN check that fails when the asset, or any of its partitions, is older than its schedule allows."""
    key = dg.AssetKey(rule.asset)

    @dg.asset_check(
        asset=key,
        name=FRESHNESS_CHECK,
        description=f"Materialized within {format_duration(rule.max_age.total_seconds())} ({rule.schedule} schedule), judged per partition",
    )
    def _freshness(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        now = datetime.now(timezone.utc)
        repo = repository_of(context)
        graph = repo.asset_graph if repo is not None else context.job_def.asset_layer.asset_graph
        node = graph.get(key) if graph.has(key) else None
        if node is None or not node.is_materializable:
            return dg.AssetCheckResult(passed=True, severity=dg.AssetCheckSeverity.WARN,
                                       description=f"{rule.asset} is not defined in this code location; nothing to judge")
        partitions: list[str] = _partitions_to_judge(context.instance, key, node.partitions_def) if node.partitions_def else [""]
        if partitions == [""]:
            event = context.instance.get_latest_materialization_event(key)
            ages: dict[str, float | None] = {"": (now.timestamp() - event.timestamp) if event else None}
        else:
            ages = partition_ages(context.instance, key, partitions, now)
        passed, stale = judge_freshness(rule, ages)
        return dg.AssetCheckResult(
            passed=passed,
            severity=dg.AssetCheckSeverity.WARN,
            description=("Stale: " + "; ".join(stale)) if stale else (
                f"{len(ages)} partition(s) fresh" if node.partitions_def else f"Fresh: last materialized {format_duration(ages[''] or 0)} ago"),
            metadata={
                "max_age_hours": dg.MetadataValue.float(rule.max_age.total_seconds() / 3600),
                "partitions_judged": dg.MetadataValue.int(len(ages)),
                "stale": dg.MetadataValue.json(stale),
            },
        )

    return _freshness


freshness_checks = [build_freshness_check(r) for r in FRESHNESS_RULES]

monitor_status_job = dg.define_asset_job(
    "monitor_status_job",
    selection=dg.AssetSelection.assets(monitor_status, monitor_status_table) | dg.AssetSelection.checks(*freshness_checks),
    description="Monitor status snapshot, status table and freshness checks of every scheduled asset.",
)

defs = dg.Definitions(assets=[monitor_status, monitor_status_table], asset_checks=freshness_checks, jobs=[monitor_status_job])
