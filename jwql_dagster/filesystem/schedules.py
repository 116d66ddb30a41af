"""Schedules of the 'filesystem' group: the daily snapshot (jwql ran monitor_filesystem from cron)."""

from __future__ import annotations

import dagster as dg

from jwql_dagster.filesystem.jobs import filesystem_job

filesystem_daily = dg.ScheduleDefinition(
    name="filesystem_daily",
    job=filesystem_job,
    cron_schedule="15 3 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Daily filesystem snapshot and plots (03:15 UTC). Off until switched on in the UI.",
)

defs = dg.Definitions(schedules=[filesystem_daily])
