"""Schedule 'previews_daily_rescan': once a day, the cells whose previews are out of date, in a few runs.

The file-arrival sensor sees new and deleted files through directory mtimes; a file
rewritten in place keeps its directory's mtime, so a daily pass plans every cell with files
(one listing of the program and of its output folders, as a run would) and asks runs only
for the cells with something to render. Cells go together as the file-arrival sensor groups
them (spans of up to ``CELLS_PER_RUN`` consecutive programs, a partition range), so a day with
many stale cells still starts a handful of runs, each paying one Python start-up.
"""

from datetime import datetime, timezone

import dagster as dg

from jwql_dagster.archive.listing import ArchiveUnavailableError
from jwql_dagster.archive.requests import plan_requests
from jwql_dagster.archive.resources import ArchiveFilesystem
from jwql_dagster.partitions import CELLS_PER_RUN, partition_run_request, program_instrument_key
from jwql_dagster.previews.jobs import preview_cells_job
from jwql_dagster.previews.plan import partition_sources, plan_partition



def stale_cells(archive: ArchiveFilesystem, known_programs: list[str]) -> list[tuple[str, str]]:
    """(program, instrument) cells of known programs with a file or mosaic whose previews are missing or older."""
    known = set(known_programs)
    stale = []
    for program in archive.programs():
        if program not in known:
            continue  # partitions are added by the file-arrival sensor or register-programs
        listed = archive.program_files(program)
        preview_dir = archive.safe_output_path(archive.preview_root, program)
        thumbnail_dir = archive.safe_output_path(archive.thumbnail_root, program)
        for instrument in sorted({item.instrument for item in listed if item.instrument}):
            plan = plan_partition(partition_sources(listed, instrument), instrument, preview_dir, thumbnail_dir,
                                  overwrite=False)
            if plan.tasks:
                stale.append((program, instrument))
    return stale


def batched_requests(stale: list[tuple[str, str]], program_order: list[str], day: str) -> list[dg.RunRequest]:
    """The sensor's grouping (archive/requests.py): per span of at most CELLS_PER_RUN consecutive programs
    (in the instance's order), one dense rectangle of instruments x programs or one range per instrument.

    A run may include up-to-date cells between stale ones: it skips them after one listing.
    """
    return [partition_run_request(f"rescan|{day}|{r.where}", program_instrument_key(r.first, r.instruments[0]),
                                  program_instrument_key(r.last, r.instruments[1]))
            for r in plan_requests({cell: [] for cell in stale}, {}, program_order, CELLS_PER_RUN)]


@dg.schedule(
    name="previews_daily_rescan",
    cron_schedule="30 4 * * *",
    job=preview_cells_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Daily run of the cells whose previews are out of date (catches in-place rewrites), in a few runs.",
)
def previews_daily_rescan(context: dg.ScheduleEvaluationContext, archive: ArchiveFilesystem):
    """Run requests for the out-of-date cells only, batched by instrument and program span."""
    known = list(context.instance.get_dynamic_partitions("program"))
    try:
        when = context.scheduled_execution_time
    except Exception:  # noqa: BLE001 - evaluated by hand (tests, "Test schedule" without a time)
        when = None
    day = (when or datetime.now(timezone.utc)).strftime("%Y-%m-%d")
    try:
        stale = stale_cells(archive, known)
    except ArchiveUnavailableError as exc:  # an unmounted archive is not an empty one: request nothing today
        return dg.SkipReason(str(exc))
    if not stale:
        return dg.SkipReason("every program x instrument cell with files is up to date")
    return batched_requests(stale, known, day)


defs = dg.Definitions(schedules=[previews_daily_rescan])
