"""Schedules of the 'mast' group: ``mast_daily`` asks for every instrument partition (off by default)."""

from __future__ import annotations

import dagster as dg

from jwql_dagster.mast.jobs import mast_partitioned_job
from jwql_dagster.archive.layout import INSTRUMENTS


@dg.schedule(
    name="mast_daily",
    cron_schedule="30 4 * * *",
    job=mast_partitioned_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Daily MAST inventory and observation characteristics, one run per instrument; "
    "jwst_inventory follows through its eager automation condition.",
)
def mast_daily(context: dg.ScheduleEvaluationContext):
    """One run request per instrument partition, keyed by the scheduled day so a tick never runs twice."""
    day = context.scheduled_execution_time.strftime("%Y-%m-%d") if context.scheduled_execution_time else "manual"
    for instrument in INSTRUMENTS:
        yield dg.RunRequest(run_key=f"{instrument}|{day}", partition_key=instrument, tags={"instrument": instrument})


defs = dg.Definitions(schedules=[mast_daily])
