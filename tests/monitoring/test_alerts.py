"""The run_failures sensor records a failed run at once and alerts through local SMTP and webhook servers."""

import dagster as dg
import pytest
import sqlalchemy as sa

from jwql_dagster.monitoring.alerts import AlertError, FailureAlert, parse_smtp_url, post_webhook, send_alert
from jwql_dagster.db.models import Monitor
from jwql_dagster.monitoring.sensors import run_failures

from .dagster_fixtures import SECRET, build_defs, execute, launch_like_ui
from .servers import SmtpSink, WebhookSink

# build_run_status_sensor_context(repository_def=...) is marked beta in 1.13; the daemon passes it for real.
pytestmark = pytest.mark.filterwarnings("ignore::dagster.BetaWarning")


@pytest.fixture
def sinks():
    smtp, hook = SmtpSink(), WebhookSink()
    yield smtp, hook
    smtp.close()
    hook.close()


def _sensor_context(inst: dg.DagsterInstance, run_id: str, db):
    run = inst.get_run_by_id(run_id)
    (event,) = inst.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    return dg.build_run_status_sensor_context(
        sensor_name="run_failures", dagster_instance=inst, dagster_run=run, dagster_event=event.dagster_event,
        resources={"db": db}, repository_def=build_defs().get_repository_def(),
    )


def test_failed_run_is_recorded_and_alerted(jwql_env, sqlite_db, sinks, monkeypatch):
    smtp, hook = sinks
    monkeypatch.setenv("JWQL_DATABASE_URL", sqlite_db.url)
    monkeypatch.setenv("JWQL_ALERT_SMTP", f"smtp://alerts:mailpw@127.0.0.1:{smtp.port}")
    monkeypatch.setenv("JWQL_ALERT_FROM", "jwql@example.org")
    monkeypatch.setenv("JWQL_ALERT_TO", "ops@example.org, qa@example.org")
    monkeypatch.setenv("JWQL_ALERT_WEBHOOK", hook.url)
    with dg.instance_for_test() as inst:
        failed = execute("beta_job", inst, fail=True, tags={"instrument": "nircam", "secret_tag": "nope"})
        assert not failed.success
        with _sensor_context(inst, failed.run_id, sqlite_db) as ctx:
            run_failures(ctx.for_run_failure())

    with sqlite_db.session(readonly=True) as s:
        (row,) = s.scalars(sa.select(Monitor))
    assert (row.source, row.monitor_name, row.run_ref, row.status) == ("dagster", "beta", failed.run_id, "FAILURE")
    assert row.error_summary.startswith("step beta_asset: ValueError") and SECRET not in row.error_summary
    assert row.start_time <= row.end_time

    (mail_from, rcpts, msg), = smtp.messages
    assert mail_from == "jwql@example.org" and rcpts == ["ops@example.org", "qa@example.org"]
    assert msg["Subject"] == f"[jwql-dagster] FAILURE: beta_job (run {failed.run_id[:8]})"
    body = msg.get_payload(decode=True).decode()
    assert failed.run_id in body and "ValueError" in body and SECRET not in body and "instrument = nircam" in body
    assert smtp.auth and "mailpw" not in body

    (path, ctype, payload), = hook.posts
    assert path == "/hook" and ctype == "application/json"
    assert payload["run_id"] == failed.run_id and payload["job"] == "beta_job" and payload["status"] == "FAILURE"
    assert payload["monitors"] == ["beta"] and payload["tags"] == {"instrument": "nircam"}
    assert "ValueError" in payload["error_summary"] and SECRET not in str(payload)
    assert payload["time"].endswith("+00:00") and payload["ui_url"] is None


def test_no_alert_configured_still_records(jwql_env, sqlite_db, sinks, monkeypatch):
    smtp, hook = sinks
    monkeypatch.setenv("JWQL_DATABASE_URL", sqlite_db.url)
    with dg.instance_for_test() as inst:
        failed = execute("beta_job", inst, fail=True)
        with _sensor_context(inst, failed.run_id, sqlite_db) as ctx:
            run_failures(ctx.for_run_failure())
            run_failures(ctx.for_run_failure())  # a retried tick writes the same row
    with sqlite_db.session(readonly=True) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Monitor)) == 1
    assert smtp.messages == [] and hook.posts == []


def test_delivery_errors_are_reported_without_secrets(sinks):
    smtp, hook = sinks
    alert = FailureAlert(run_id="r" * 36, job="j", error_summary="boom", time=__import__("datetime").datetime(2026, 1, 1))
    hook.answer = 500
    lines = send_alert(alert, "smtp://u:topsecret@127.0.0.1:1", "a@b", ["c@d"], hook.url)
    assert lines[0].startswith("e-mail not sent") and "topsecret" not in lines[0] and "u:***@127.0.0.1:1" in lines[0]
    assert lines[1] == f"webhook not sent: webhook {hook.url} answered HTTP 500"
    with pytest.raises(AlertError, match="must look like"):
        parse_smtp_url("http://x")
    assert parse_smtp_url("smtps://mail.example.org").port == 465
    with pytest.raises(AlertError, match="http"):
        post_webhook("ftp://x", alert)


def test_database_down_still_alerts_then_raises(jwql_env, sinks, monkeypatch):
    from jwql_dagster.resources import JwqlDatabase

    smtp, hook = sinks
    monkeypatch.setenv("JWQL_ALERT_WEBHOOK", hook.url)
    down = JwqlDatabase(url="postgresql+psycopg2://jwql:dbpw123@127.0.0.1:1/jwql")
    with dg.instance_for_test() as inst:
        failed = execute("beta_job", inst, fail=True)
        with _sensor_context(inst, failed.run_id, down) as ctx:
            with pytest.raises(Exception) as info:
                run_failures(ctx.for_run_failure())
    assert "dbpw123" not in str(info.value)
    assert [p[2]["run_id"] for p in hook.posts] == [failed.run_id]


def test_failed_check_only_run_is_alerted_but_not_a_monitor(jwql_env, sqlite_db, sinks, monkeypatch):
    """A failing "Execute checks" run must not become a permanent FAILURE monitor named after a hidden job."""
    _smtp, hook = sinks
    monkeypatch.setenv("JWQL_DATABASE_URL", sqlite_db.url)
    monkeypatch.setenv("JWQL_ALERT_WEBHOOK", hook.url)
    with dg.instance_for_test() as inst:
        failed = launch_like_ui("alpha_job", inst, checks=[dg.AssetCheckKey(dg.AssetKey("alpha_asset"), "alpha_ok")],
                                fail_check=True)
        assert not failed.success
        with _sensor_context(inst, failed.run_id, sqlite_db) as ctx:
            run_failures(ctx.for_run_failure())
    with sqlite_db.session(readonly=True) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Monitor)) == 0
    (_path, _ctype, payload), = hook.posts
    assert payload["run_id"] == failed.run_id and payload["monitors"] == ["checks of alpha_job"]
