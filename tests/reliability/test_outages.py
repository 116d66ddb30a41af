"""Outages: MAST failing in every way, the database unreachable at start, the archive root missing or unreadable."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from jwql_dagster.db.models import File
from jwql_dagster.db.resources import JwqlDatabase
from jwql_dagster.mast.resources import MastService
from jwql_dagster.demo.mast_server import start_server
from tests.reliability.conftest import PROGRAM, VISIT, good_rate, rate_name, run_partition

ROOT = Path(__file__).resolve().parents[2]
SECRET = "pw-Zq8#never-shown"
BAD_DB = f"postgresql+psycopg2://jwql:{SECRET.replace('#', '%23')}@127.0.0.1:1/jwql"
BAD_DB_SHOWN = "postgresql+psycopg2://jwql:***@127.0.0.1:1/jwql"


def _step_error(result: dg.ExecuteInProcessResult) -> str:
    failures = [e for e in result.all_events if e.is_step_failure]
    assert failures, "the run should have failed"
    return failures[0].event_specific_data.error.to_string()


def _mast(url: str) -> MastService:
    # tight limits so a test of an outage stays short; the defaults are 600 s per attempt and per query
    # (JWQL_MAST_TIMEOUT_S), 4 retries within 120 s, an EXECUTING answer asked about again every 2 s
    return MastService(url=url, timeout_s=1.0, query_timeout_s=6.0, max_retries=2, backoff_s=0.05, backoff_max_s=0.2,
                       total_retry_seconds=4.0, poll_seconds=0.2)


def deny_scandir_under(monkeypatch, root: Path):
    """Make os.scandir raise Permission denied below ``root`` (tests run as root, so chmod cannot); returns the real one."""
    real_scandir = os.scandir

    def denied(path="."):
        if str(path).startswith(str(root)):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", denied)
    return real_scandir


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ({"http_500": 1000}, ("HTTP 500",)),
        ({"slow": 1000, "slow_seconds": 3.0}, ("timed out",)),
        ({"drop": 1000}, ("dropped",)),
        ({"malformed": 1000}, ("malformed",)),
        ({"truncated": 1000}, ("cut off its answer",)),
        ({"executing": 100000}, ("did not complete", "JWQL_MAST_TIMEOUT_S")),
    ],
    ids=["http500", "hang", "drop", "malformed", "truncated", "executing-forever"],
)
def test_mast_outage_fails_one_instrument_clearly_in_bounded_time_and_the_others_are_recorded(rel_env, fault, words):
    from jwql_dagster.mast.assets import jwst_inventory, mast_inventory
    from jwql_dagster.demo.mast_server import Failures

    _, resources, instance = rel_env
    with start_server() as server:
        resources["mast"] = _mast(server.url)
        assert dg.materialize([mast_inventory], partition_key="miri", resources=resources, instance=instance).success
        server.failures = Failures(**fault)
        start = time.monotonic()
        res = dg.materialize([mast_inventory], partition_key="nircam", resources=resources, instance=instance,
                             raise_on_error=False)
        elapsed = time.monotonic() - start
        server.failures = None
        assert not res.success
        assert elapsed < 30, f"an outage took {elapsed:.1f} s to report"
        error = _step_error(res)
        assert server.url in error and any(w in error for w in words), error
        assert dg.materialize([mast_inventory], partition_key="niriss", resources=resources, instance=instance).success
    out = dg.materialize([jwst_inventory], resources=resources, instance=instance)
    meta = out.asset_materializations_for_node("jwst_inventory")[0].metadata
    assert meta["instruments"].value == ["miri", "niriss"]
    assert "nircam" in meta["missing_instruments"].value


def test_mast_login_failing_with_http_500_is_reported_as_such(rel_env) -> None:
    from jwql_dagster.mast.assets import mast_inventory
    from jwql_dagster.demo.mast_server import Failures

    _, resources, instance = rel_env
    with start_server(token="tok-123", failures=Failures(http_500=1000, kinds=("login",))) as server:
        resources["mast"] = MastService(url=server.url, token="tok-123", timeout_s=1.0, max_retries=1, backoff_s=0.05,
                                        total_retry_seconds=2.0)
        res = dg.materialize([mast_inventory], partition_key="nirspec", resources=resources, instance=instance,
                             raise_on_error=False)
    error = _step_error(res)
    assert "HTTP 500" in error and server.url in error, error
    assert "tok-123" not in error


def test_mast_server_down_is_a_clear_error(rel_env) -> None:
    from jwql_dagster.mast.assets import mast_inventory

    _, resources, instance = rel_env
    with start_server() as server:
        url = server.url
    resources["mast"] = _mast(url)  # nothing listens there any more
    start = time.monotonic()
    res = dg.materialize([mast_inventory], partition_key="fgs", resources=resources, instance=instance, raise_on_error=False)
    assert time.monotonic() - start < 30
    error = _step_error(res)
    assert url in error and "refused the connection" in error, error


# ------------------------------------------------------------------ database unreachable at start


def test_database_unreachable_at_start_names_the_url_with_the_password_masked(rel_env) -> None:
    from jwql_dagster.archive.assets import archive_files
    from jwql_dagster.partitions import program_instrument_key

    settings, resources, instance = rel_env
    good_rate(settings.filesystem / "public" / PROGRAM / VISIT / rate_name(1))
    resources["db"] = JwqlDatabase(url=BAD_DB)
    start = time.monotonic()
    res = dg.materialize([archive_files], partition_key=program_instrument_key(PROGRAM, "nircam"), resources=resources,
                         instance=instance, raise_on_error=False)
    assert time.monotonic() - start < 30
    error = _step_error(res)
    assert BAD_DB_SHOWN in error and "DatabaseUnavailableError" in error, error
    assert SECRET not in error and SECRET.replace("#", "%23") not in error


def test_doctor_reports_an_unreachable_database_without_its_password(tmp_path: Path) -> None:
    env = dict(os.environ, JWQL_HOME=str(tmp_path), JWQL_DATABASE_URL=BAD_DB, MAST_API_URL="http://127.0.0.1:1",
               MAST_API_TOKEN="tok-" + SECRET)
    proc = subprocess.run([str(Path(sys.executable).with_name("jwql-dagster")), "doctor"], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "127.0.0.1:1" in text and "***" in text
    assert SECRET not in text and SECRET.replace("#", "%23") not in text


# ------------------------------------------------------------------ archive root missing or unreadable


def _record_partition(settings, resources, instance) -> list[str]:
    names = [good_rate(settings.filesystem / "public" / PROGRAM / VISIT / rate_name(e), seed=e).name for e in (1, 2)]
    assert run_partition(resources, instance).success
    return names


def _live_rows(db: JwqlDatabase) -> list[str]:
    with db.session(readonly=True) as s:
        return sorted(s.execute(sa.select(File.filename).where(File.deleted_at.is_(None))).scalars())


def test_missing_archive_root_fails_clearly_and_marks_nothing_deleted(rel_env) -> None:
    settings, resources, instance = rel_env
    names = _record_partition(settings, resources, instance)
    moved = settings.filesystem.with_name("archive-unmounted")
    settings.filesystem.rename(moved)  # an unmounted or renamed archive
    try:
        res = run_partition(resources, instance, raise_on_error=False)
        assert _live_rows(resources["db"]) == sorted(names)  # an outage is not a mass deletion
        assert not res.success
        error = _step_error(res)
        assert str(settings.filesystem) in error and "JWQL_FILESYSTEM" in error, error
    finally:
        moved.rename(settings.filesystem)


def test_unreadable_archive_root_fails_clearly_and_marks_nothing_deleted(rel_env, monkeypatch) -> None:
    settings, resources, instance = rel_env
    names = _record_partition(settings, resources, instance)
    real_scandir = os.scandir
    root = str(settings.filesystem)

    def denied(path="."):  # root cannot be denied by chmod: refuse listings under the archive instead
        if str(path).startswith(root):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", denied)
    res = run_partition(resources, instance, raise_on_error=False)
    monkeypatch.setattr(os, "scandir", real_scandir)
    assert _live_rows(resources["db"]) == sorted(names)  # an outage is not a mass deletion
    assert not res.success
    error = _step_error(res)
    assert "Permission denied" in error or "cannot be read" in error or "unreadable" in error, error


def test_sensor_skips_with_a_reason_when_the_archive_root_is_missing_or_unreadable(rel_env, monkeypatch) -> None:
    import jwql_dagster.archive.sensors as nff

    settings, resources, instance = rel_env
    good_rate(settings.filesystem / "public" / PROGRAM / VISIT / rate_name(1))
    monkeypatch.setattr(nff, "clock", lambda: time.time() + 3600)
    with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
        first = nff.new_fits_files(ctx)
    assert isinstance(first, dg.SensorResult) and first.run_requests
    moved = settings.filesystem.with_name("archive-unmounted")
    settings.filesystem.rename(moved)
    try:
        with dg.build_sensor_context(instance=instance, cursor=first.cursor, resources=resources) as ctx:
            out = nff.new_fits_files(ctx)
        assert isinstance(out, dg.SkipReason) and str(settings.filesystem) in out.skip_message
    finally:
        moved.rename(settings.filesystem)

    real_scandir = deny_scandir_under(monkeypatch, settings.filesystem)
    (settings.filesystem / "public" / PROGRAM / VISIT / rate_name(2)).write_bytes(b"new")
    os.utime(settings.filesystem / "public" / PROGRAM / VISIT, None)
    with dg.build_sensor_context(instance=instance, cursor=first.cursor, resources=resources) as ctx:
        out = nff.new_fits_files(ctx)
    monkeypatch.setattr(os, "scandir", real_scandir)
    # nothing requested from an unreadable tree (no mass deletion), and the reason is given
    assert isinstance(out, dg.SkipReason) or (isinstance(out, dg.SensorResult) and not out.run_requests)
    message = out.skip_message if isinstance(out, dg.SkipReason) else (out.skip_reason.skip_message if out.skip_reason else "")
    assert "Permission denied" in message or "cannot" in message or "unreadable" in message, message


def test_unreadable_archive_root_stores_no_empty_filesystem_snapshot(rel_env, monkeypatch) -> None:
    from jwql_dagster.db.filesystem import load_history
    from jwql_dagster.filesystem.assets import filesystem_snapshot

    settings, resources, instance = rel_env
    good_rate(settings.filesystem / "public" / PROGRAM / VISIT / rate_name(1))
    real_scandir = deny_scandir_under(monkeypatch, settings.filesystem)
    res = dg.materialize([filesystem_snapshot], resources=resources, instance=instance, raise_on_error=False)
    monkeypatch.setattr(os, "scandir", real_scandir)
    # a scan that could read nothing is an outage, not an archive that became empty
    history = load_history(resources["db"])
    assert not res.success or all(g["fits_file_count"] > 0 for g in history.general), history.general
    if not res.success:
        assert "Permission denied" in _step_error(res) or "unreadable" in _step_error(res)
