"""Dagster's run history read as monitor runs: which asset groups a run belongs to, and why it failed.

Dagster's own instance is this monitor's data source, as the database is the others'. Reading
it takes Dagster's types (DagsterInstance, DagsterRun, event types, the repository's asset
graph), so by the folder rule (only wiring modules import Dagster) this module carries a wiring
name: it is the monitor's access to a resource the Dagster runtime provides. monitor_status
(assets.py) and the run_failures sensor (sensors.py) both read runs through it; the rules they
apply to those runs (cadence, missing runs, redaction) are pure, in status.py.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Iterable, Sequence

import dagster as dg

from jwql_dagster.monitoring.status import FAILURE, SUCCESS, RunRecord, summarize_error, utc_from_timestamp

if TYPE_CHECKING:
    from dagster._utils.error import SerializableErrorInfo

MAX_RUNS = 5000  # newest finished runs read from the instance per materialization

# Tags that name what launched a run: runs sharing one are one launch of their group.
LAUNCH_TAGS = ("dagster/backfill", "dagster/tick", "jwql/launch")
RUN_ID_CHUNK = 500  # run ids per run-storage query
_RUN_STATUS = {dg.DagsterRunStatus.SUCCESS: SUCCESS, dg.DagsterRunStatus.FAILURE: FAILURE}
_PLANNED = {dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED, dg.DagsterEventType.ASSET_MATERIALIZATION}
_FAILURES = {dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE}


@dataclass(frozen=True)
class GroupIndex:
    """Which group each materializable asset is in, and which groups each job covers."""

    group_of: dict[dg.AssetKey, str]
    job_groups: dict[str, frozenset[str]]

    @classmethod
    def from_repository(cls, repo: dg.RepositoryDefinition | None) -> "GroupIndex":
        if repo is None:  # a sensor context built without its code location (tests) knows no groups
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


def _error_text(error: SerializableErrorInfo) -> str:
    # Dagster wraps a user exception in DagsterExecutionStepExecutionError; its cause is what a user needs.
    while error.cause is not None and error.cls_name and error.cls_name.startswith("Dagster"):
        error = error.cause
    cls = error.cls_name or "Error"
    message = (error.message or "").strip()
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
            err = de.event_specific_data.error if de.event_specific_data is not None else None
            run_message = _error_text(err) if err is not None else (de.message or event.user_message)
    text = "; ".join(parts) or run_message
    return summarize_error(text, secrets)


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
            start_time=utc_from_timestamp(start),
            end_time=utc_from_timestamp(end),
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


def launch_of(run: dg.DagsterRun) -> str | None:
    """What launched the run (backfill, schedule or sensor tick, one ``materialize-all`` call), or None if alone."""
    for tag in LAUNCH_TAGS:
        if run.tags.get(tag):
            return f"{tag}={run.tags[tag]}"
    return None


def with_launches(instance: dg.DagsterInstance, records: Sequence[RunRecord]) -> list[RunRecord]:
    """``records`` with the launch of each Dagster run filled in from the run's tags (the table does not store it).

    Runs no longer in the instance stay launches of their own.
    """
    run_ids = sorted({r.run_id for r in records if r.source == "dagster" and r.run_id})
    launches: dict[str, str] = {}
    for start in range(0, len(run_ids), RUN_ID_CHUNK):
        for run in instance.get_runs(filters=dg.RunsFilter(run_ids=run_ids[start : start + RUN_ID_CHUNK])):
            launch = launch_of(run)
            if launch is not None:
                launches[run.run_id] = launch
    return [dataclasses.replace(r, launch=launches[r.run_id]) if r.run_id in launches else r for r in records]


def current_run_record(instance: dg.DagsterInstance, run: dg.DagsterRun, group: str) -> RunRecord:
    """The running run as a successful run of ``group``, for the snapshot it is writing (never stored).

    The run that computes the status is still in progress, so run history does not hold it yet;
    without it the monitoring group (and any group whose only run this is) would be missing from
    its own table. Had it failed, the run_failures sensor and the next snapshot record the failure.
    """
    record = instance.get_run_record_by_id(run.run_id)
    start = record.start_time if record is not None and record.start_time is not None else None
    return RunRecord(
        monitor_name=group,
        source="dagster",
        run_ref=run.run_id,
        run_id=run.run_id,
        status=SUCCESS,
        start_time=utc_from_timestamp(start) or datetime.now().astimezone(),
        launch=launch_of(run),
    )
