"""Run-status sensor 'program_products': a successful preview run of a program asks for its program-level products.

The proposal thumbnail and the gallery read the thumbnails and previews that the
program x instrument runs write, so they must run after them; an eager automation
condition would wait for all five instrument partitions, most of which never exist.
"""

import dagster as dg

from jwql_dagster.previews.jobs import THUMBNAILS, program_products_job
from jwql_dagster.archive.layout import is_program_key
from jwql_dagster.partitions import split_program_instrument

PARTITION_TAG = "dagster/partition"
PROGRAM_TAG = "dagster/partition/program"


def program_of_run(run: dg.DagsterRun) -> str | None:
    """The program of a preview run (its multi-partition tags), or None when the run is not one."""
    program = run.tags.get(PROGRAM_TAG)
    if not program and run.tags.get(PARTITION_TAG):
        try:
            program, _ = split_program_instrument(run.tags[PARTITION_TAG])
        except Exception:  # noqa: BLE001 - a run of another partitioning
            return None
    return program if program and is_program_key(program) else None


def is_preview_run(run: dg.DagsterRun, instance: dg.DagsterInstance) -> bool:
    """True for preview_partition_job runs and for any other run that materialized thumbnails."""
    if run.job_name == "preview_partition_job":
        return True
    if run.asset_selection:
        return THUMBNAILS in run.asset_selection
    # a job without an explicit selection (e.g. an ad-hoc or in-process run): look at what it made
    records = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    return any(r.event_log_entry.dagster_event.asset_key == THUMBNAILS for r in records
               if r.event_log_entry.dagster_event is not None)


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    name="program_products",
    request_job=program_products_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=15,
    description="After a successful preview run of a program, requests its proposal thumbnail and gallery.",
)
def program_products(context: dg.RunStatusSensorContext) -> dg.RunRequest | dg.SkipReason:
    """Request program_products_job for the program of a successful preview run."""
    run = context.dagster_run
    if not is_preview_run(run, context.instance):
        return dg.SkipReason(f"run {run.run_id} ({run.job_name}) is not a preview run")
    program = program_of_run(run)
    if program is None:
        return dg.SkipReason(f"run {run.run_id} has no program partition")
    return dg.RunRequest(
        run_key=f"{program}|{run.run_id}",
        partition_key=program,
        tags={"jwql/upstream_run": run.run_id},
    )


defs = dg.Definitions(sensors=[program_products])
