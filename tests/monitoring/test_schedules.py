"""The hourly monitor-status schedule: off by default, like every schedule here."""

import dagster as dg

from jwql_dagster.monitoring.schedules import monitor_status_hourly


def test_schedule_is_hourly_and_off_by_default():
    assert monitor_status_hourly.default_status == dg.DefaultScheduleStatus.STOPPED
    assert monitor_status_hourly.cron_schedule == "7 * * * *" and monitor_status_hourly.job_name == "monitor_status_job"
