"""The run_failures sensor is switched on by default (its recording and alerts are tested in test_alerts)."""

import dagster as dg

from jwql_dagster.monitoring.sensors import run_failures


def test_failure_sensor_runs_by_default():
    assert run_failures.name == "run_failures" and run_failures.default_status == dg.DefaultSensorStatus.RUNNING
