"""Run-status sensor 'program_products': the safety net behind the program products a preview run makes itself.

A preview run makes the proposal thumbnail and gallery of each of its programs at its end
(previews/products.py) and reports them as materializations, so a sensor-driven ingest needs no
second run per batch. This sensor looks at each successful preview run and asks for the products
only of programs the run did not make them for nor found up to date (a run of older code, or a
program whose gallery could not be written), in one run per span of consecutive programs (a partition range), never one
run per program. A program whose products run is still queued is not asked again, and a backfill
that includes the program products ("Materialize all") makes them itself.
"""

import dagster as dg

from jwql_dagster.archive.layout import is_program_key
from jwql_dagster.archive.requests import program_spans
from jwql_dagster.partitions import (
    CELLS_PER_RUN,
    RANGE_END_TAG,
    RANGE_START_TAG,
    partition_run_request,
    split_program_instrument,
)
from jwql_dagster.previews.jobs import (
    PREVIEW_GALLERY,
    PRODUCTS_CURRENT,
    PROPOSAL_THUMBNAIL,
    THUMBNAILS,
    program_products_job,
)

BACKFILL_TAG = "dagster/backfill"
PARTITION_TAG = "dagster/partition"
_WAITING = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING]


def makes_its_own_program_products(run: dg.DagsterRun, instance: dg.DagsterInstance) -> bool:
    """True for a run of a backfill that also materializes the program products ("Materialize all")."""
    backfill_id = run.tags.get(BACKFILL_TAG)
    backfill = instance.get_backfill(backfill_id) if backfill_id else None
    return bool(backfill and backfill.asset_selection and PROPOSAL_THUMBNAIL in backfill.asset_selection)


def programs_of_tags(tags: dict[str, str], order: list[str]) -> set[str]:
    """The programs a program_products_job run covers: its partition, or its range in the instance's order."""
    if tags.get(PARTITION_TAG):
        return {tags[PARTITION_TAG]}
    start, end = tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)
    if start in order and end in order:
        return set(order[order.index(start):order.index(end) + 1])
    return set()


def waiting_programs(instance: dg.DagsterInstance, programs: list[str]) -> set[str]:
    """Programs whose program_products_job run is already queued and not started: it will see these thumbnails."""
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=program_products_job.name, statuses=_WAITING))
    if not runs:
        return set()
    order = list(instance.get_dynamic_partitions("program"))
    return set().union(*(programs_of_tags(dict(run.tags), order) for run in runs)) & set(programs)


def materialized_by_run(run: dg.DagsterRun, instance: dg.DagsterInstance) -> dict[dg.AssetKey, set[str]]:
    """{asset key: partitions} the run materialized, for thumbnails and the two program products; a program
    whose products the run found up to date (``PRODUCTS_CURRENT`` of its thumbnails) counts as made."""
    out: dict[dg.AssetKey, set[str]] = {THUMBNAILS: set(), PROPOSAL_THUMBNAIL: set(), PREVIEW_GALLERY: set()}
    if run.asset_selection and THUMBNAILS not in run.asset_selection:
        return out  # a run of other assets: no need to read its events
    records = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    for record in records:
        event = record.event_log_entry.dagster_event
        if event is not None and event.asset_key in out and event.partition:
            out[event.asset_key].add(event.partition)
            if event.asset_key == THUMBNAILS:
                current = event.step_materialization_data.materialization.metadata.get(PRODUCTS_CURRENT)
                for program in (current.value if current is not None else None) or []:
                    out[PROPOSAL_THUMBNAIL].add(program)
                    out[PREVIEW_GALLERY].add(program)
    return out


def thumbnail_programs(made: dict[dg.AssetKey, set[str]]) -> list[str]:
    """The programs of the thumbnails partitions in ``made`` (materialized_by_run)."""
    programs = {split_program_instrument(p)[0] for p in made[THUMBNAILS]}
    return sorted(p for p in programs if is_program_key(p))


def programs_of_run(run: dg.DagsterRun, instance: dg.DagsterInstance) -> list[str]:
    """The programs whose thumbnails the run materialized (one for a partition run, many for a range)."""
    return thumbnail_programs(materialized_by_run(run, instance))


def products_requests(programs: list[str], order: list[str], upstream_run_id: str) -> list[dg.RunRequest]:
    """One run per span of consecutive programs (instance order): a partition for one, a range for more.
    Run key ``<program>|<upstream run id>`` (a range: ``<first>..<last>|<upstream run id>``)."""
    position = {p: i for i, p in enumerate(list(order) + sorted(set(programs) - set(order)))}
    ordered = sorted(set(programs), key=position.__getitem__)
    tags = {"jwql/upstream_run": upstream_run_id}
    requests = []
    for span in program_spans(ordered, position, CELLS_PER_RUN):
        first, last = span[0], span[-1]
        where = first if first == last else f"{first}..{last}"
        requests.append(partition_run_request(f"{where}|{upstream_run_id}", first, last, tags))
    return requests


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    name="program_products",
    request_job=program_products_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=15,
    description="After a successful preview run, requests the proposal thumbnail and gallery of the programs "
    "the run did not make them for itself (one run per span of programs).",
)
def program_products(context: dg.RunStatusSensorContext) -> list[dg.RunRequest] | dg.SkipReason:
    """Request program_products_job for the programs of a successful preview run that lack their products."""
    run = context.dagster_run
    made = materialized_by_run(run, context.instance)  # one read of the run's events
    programs = thumbnail_programs(made)
    if not programs:
        return dg.SkipReason(f"run {run.run_id} ({run.job_name}) materialized no program's thumbnails")
    if makes_its_own_program_products(run, context.instance):
        return dg.SkipReason(f"run {run.run_id} belongs to a backfill that makes the program products itself")
    made_itself = made[PROPOSAL_THUMBNAIL] & made[PREVIEW_GALLERY]
    programs = [p for p in programs if p not in made_itself]
    if not programs:
        return dg.SkipReason(f"run {run.run_id} made the proposal thumbnail and gallery of its programs itself")
    # Runs of other instruments of the same batch finish one after the other: one waiting run per program.
    waiting = waiting_programs(context.instance, programs)
    programs = [p for p in programs if p not in waiting]
    if not programs:
        return dg.SkipReason(f"the program products of run {run.run_id}'s programs are already queued")
    return products_requests(programs, list(context.instance.get_dynamic_partitions("program")), run.run_id)


defs = dg.Definitions(sensors=[program_products])
