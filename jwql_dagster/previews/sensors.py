"""Run-status sensor 'program_products': a successful preview run asks for the program-level products of its programs.

The proposal thumbnail and the gallery read the thumbnails and previews that the
program x instrument runs write, so they must run after them; an eager automation
condition would wait for all five instrument partitions, most of which never exist. A run
over many cells (a backfill, the daily rescan) asks once per program it touched, not once
per cell; a program whose products run is still queued is not asked again, and a backfill
that includes the program products ("Materialize all") makes them itself.
"""

import dagster as dg

from jwql_dagster.partitions import split_program_instrument
from jwql_dagster.archive.layout import is_program_key
from jwql_dagster.previews.jobs import PROPOSAL_THUMBNAIL, THUMBNAILS, program_products_job

BACKFILL_TAG = "dagster/backfill"
_WAITING = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING]


def makes_its_own_program_products(run: dg.DagsterRun, instance: dg.DagsterInstance) -> bool:
    """True for a run of a backfill that also materializes the program products ("Materialize all")."""
    backfill_id = run.tags.get(BACKFILL_TAG)
    backfill = instance.get_backfill(backfill_id) if backfill_id else None
    return bool(backfill and backfill.asset_selection and PROPOSAL_THUMBNAIL in backfill.asset_selection)


def waiting_programs(instance: dg.DagsterInstance, programs: list[str]) -> set[str]:
    """Programs whose program_products_job run is already queued and not started: it will see these thumbnails."""
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=program_products_job.name, statuses=_WAITING))
    return {run.tags.get("dagster/partition") for run in runs} & set(programs)


def programs_of_run(run: dg.DagsterRun, instance: dg.DagsterInstance) -> list[str]:
    """The programs whose thumbnails the run materialized (one for a partition run, many for a range)."""
    if run.asset_selection and THUMBNAILS not in run.asset_selection:
        return []  # a run of other assets: no need to read its events
    records = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    programs: set[str] = set()
    for record in records:
        event = record.event_log_entry.dagster_event
        if event is None or event.asset_key != THUMBNAILS or not event.partition:
            continue
        program, _ = split_program_instrument(event.partition)
        if is_program_key(program):
            programs.add(program)
    return sorted(programs)


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    name="program_products",
    request_job=program_products_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=15,
    description="After a successful preview run, requests the proposal thumbnail and gallery of each program it touched.",
)
def program_products(context: dg.RunStatusSensorContext) -> list[dg.RunRequest] | dg.SkipReason:
    """Request program_products_job for every program of a successful preview run."""
    run = context.dagster_run
    programs = programs_of_run(run, context.instance)
    if not programs:
        return dg.SkipReason(f"run {run.run_id} ({run.job_name}) materialized no program's thumbnails")
    if makes_its_own_program_products(run, context.instance):
        return dg.SkipReason(f"run {run.run_id} belongs to a backfill that makes the program products itself")
    # Runs of other instruments of the same batch finish one after the other: one waiting run per program.
    programs = [p for p in programs if p not in waiting_programs(context.instance, programs)]
    if not programs:
        return dg.SkipReason(f"the program products of run {run.run_id}'s programs are already queued")
    return [dg.RunRequest(run_key=f"{program}|{run.run_id}", partition_key=program,
                          tags={"jwql/upstream_run": run.run_id})
            for program in programs]

defs = dg.Definitions(sensors=[program_products])
