"""Schedule 'previews_daily_rescan': every program x instrument partition that has files, once a day.

The file-arrival sensor sees new and deleted files through directory mtimes; a file
rewritten in place keeps its directory's mtime, so a daily pass over every partition
catches it (the preview assets remake outputs older than their FITS file).
"""

from datetime import datetime, timezone

import dagster as dg

from jwql_dagster.archive.listing import ArchiveUnavailableError
from jwql_dagster.archive.resources import ArchiveFilesystem
from jwql_dagster.partitions import program_instrument_key
from jwql_dagster.previews.jobs import preview_partition_job


@dg.schedule(
    name="previews_daily_rescan",
    cron_schedule="30 4 * * *",
    job=preview_partition_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Daily re-run of every program x instrument partition that has files (catches in-place rewrites).",
)
def previews_daily_rescan(context: dg.ScheduleEvaluationContext, archive: ArchiveFilesystem):
    """One run request per program x instrument partition with files."""
    known = set(context.instance.get_dynamic_partitions("program"))
    try:
        when = context.scheduled_execution_time
    except Exception:  # noqa: BLE001 - evaluated by hand (tests, "Test schedule" without a time)
        when = None
    day = (when or datetime.now(timezone.utc)).strftime("%Y-%m-%d")
    try:
        pairs = archive.cells(known)  # partitions are added by the sensor or register-programs
    except ArchiveUnavailableError as exc:  # an unmounted archive is not an empty one: request nothing today
        return dg.SkipReason(str(exc))
    if not pairs:
        return dg.SkipReason("no program x instrument partition with files")
    return [
        dg.RunRequest(run_key=f"rescan|{day}|{program}|{instrument}",
                      partition_key=program_instrument_key(program, instrument))
        for program, instrument in pairs
    ]


defs = dg.Definitions(schedules=[previews_daily_rescan])
