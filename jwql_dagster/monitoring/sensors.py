"""Sensor `run_failures`: every failed run is recorded in the `monitor` table at once, and alerted when configured.

It is RUNNING by default, unlike the other sensors. It launches no runs and costs one
event-log read per failed run; a run-status sensor only sees failures that happen while
it is running, so a stopped one would lose them for good (monitor_status still finds them
later in run history, but without the immediate alert). Alerts go out only when
JWQL_ALERT_SMTP/JWQL_ALERT_TO or JWQL_ALERT_WEBHOOK are set, so a fresh install sends nothing.
"""

from datetime import datetime, timezone

import dagster as dg

from jwql_dagster.config import Settings, load_settings
from jwql_dagster.db.monitor import record_runs
from jwql_dagster.monitoring.alerts import FailureAlert, known_secrets, run_ui_url, send_alert
from jwql_dagster.monitoring.resources import GroupIndex, is_check_only_run, records_for_run, run_error_summary
from jwql_dagster.monitoring.status import FAILURE, RunRecord, utc_from_timestamp
from jwql_dagster.resources import JwqlDatabase


def _ended(context: dg.RunFailureSensorContext) -> tuple[float | None, float | None]:
    record = context.instance.get_run_record_by_id(context.dagster_run.run_id)
    return (record.start_time, record.end_time) if record is not None else (None, None)


@dg.run_failure_sensor(
    name="run_failures",
    description="Records each failed run in the monitor table and sends the configured e-mail/webhook alert.",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)
def run_failures(context: dg.RunFailureSensorContext, db: JwqlDatabase) -> None:
    settings = load_settings()
    secrets = known_secrets(settings)
    run = context.dagster_run
    index = GroupIndex.from_repository(context.repository_def)
    start, end = _ended(context)
    records = records_for_run(context.instance, index, run, start, end, secrets)
    check_only = not records and is_check_only_run(context.instance, run)
    if not records:
        # A run of a job unknown to the asset graph still gets one row, under its job name. A run of
        # checks alone ("Execute checks" in the UI) is no monitor's run: it is alerted, not recorded.
        name = f"checks of {run.job_name}" if check_only else run.job_name
        records = [RunRecord(monitor_name=name, source="dagster", run_ref=run.run_id, run_id=run.run_id, status=FAILURE,
                             start_time=utc_from_timestamp(start), end_time=utc_from_timestamp(end), error_summary=run_error_summary(context.instance, run.run_id, secrets))]
    # A database error must not stop the alert. Dagster does not re-deliver a failure whose sensor
    # call raised (the tick shows the error), but monitor_status records the run later from run history.
    db_error: Exception | None = None
    summary = records[0].error_summary
    if check_only:
        context.log.info(f"failed run {run.run_id} ran asset checks only; not recorded as a monitor run: {summary}")
    else:
        try:
            record_runs(db, records)
        except Exception as exc:  # noqa: BLE001 - re-raised below, after alerting
            db_error = exc
        if db_error is None:
            context.log.info(f"recorded failed run {run.run_id} for {', '.join(r.monitor_name for r in records)}: {summary}")
    if settings.alert_smtp or settings.alert_webhook:
        _alert(context, settings, records, summary)
    if db_error is not None:
        raise db_error


def _alert(context: dg.RunFailureSensorContext, settings: Settings, records: list[RunRecord], summary: str | None) -> None:
    run = context.dagster_run
    alert = FailureAlert(
        run_id=run.run_id,
        job=run.job_name,
        error_summary=summary,
        time=records[0].end_time or records[0].start_time or datetime.now(timezone.utc),
        tags=dict(run.tags),
        ui_url=run_ui_url(settings.ui_url, run.run_id),
        monitors=[r.monitor_name for r in records],
    )
    # Delivery problems are logged, not raised: one dead mail server must not block recording later failures.
    for line in send_alert(alert, settings.alert_smtp, settings.alert_from, settings.alert_to, settings.alert_webhook):
        (context.log.info if "not sent" not in line else context.log.warning)(f"alert for run {run.run_id}: {line}")


defs = dg.Definitions(sensors=[run_failures])
