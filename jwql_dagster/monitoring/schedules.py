"""Schedules of the 'monitoring' group: `monitor_status_hourly` (off by default, like every schedule here)."""

import dagster as dg

from jwql_dagster.monitoring.jobs import monitor_status_job

monitor_status_hourly = dg.ScheduleDefinition(
    name="monitor_status_hourly",
    job=monitor_status_job,
    cron_schedule="7 * * * *",  # a few minutes past the hour, after hourly jobs that start on the hour
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Hourly monitor status snapshot, status table and freshness checks of every scheduled asset.",
)

defs = dg.Definitions(schedules=[monitor_status_hourly])
