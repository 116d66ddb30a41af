"""How the monitoring pieces are switched on: hourly schedule off by default, failure sensor on."""

import dagster as dg

from jwql_dagster.monitoring.schedules import monitor_status_hourly
from jwql_dagster.monitoring.sensors import run_failures


def test_schedule_is_hourly_and_off_by_default():
    assert monitor_status_hourly.default_status == dg.DefaultScheduleStatus.STOPPED
    assert monitor_status_hourly.cron_schedule == "7 * * * *" and monitor_status_hourly.job_name == "monitor_status_job"


def test_failure_sensor_runs_by_default():
    assert run_failures.name == "run_failures" and run_failures.default_status == dg.DefaultSensorStatus.RUNNING
