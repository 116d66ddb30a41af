"""The jwql tables on SQLite and PostgreSQL: migrations, upserts, transactions, locking, errors."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from jwql_dagster.config import load_settings
from jwql_dagster.db import models
from jwql_dagster.db.engine import DatabaseUnavailableError, create_jwql_engine
from jwql_dagster.db.health import check_database
from jwql_dagster.db.migrate import VERSION_TABLE, current_revision, head_revision, upgrade
from jwql_dagster.db.models import File, FileFailure, FilesystemInstrument
from jwql_dagster.db.resources import JwqlDatabase

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def file_row(name: str, **over) -> dict:
    row = dict(filename=name, area="public", path=f"/a/{name}", program="jw01068", instrument="nircam",
               size=100, mtime=NOW, mtime_ns=1, suffix="rate")
    row.update(over)
    return row


def test_migrations_create_every_model_table_exactly(jwql_db: JwqlDatabase) -> None:
    with jwql_db.engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        assert set(models.metadata.tables) <= tables
        assert current_revision(conn) == head_revision()
        # No column, type, index or constraint of the models is missing from the migrations.
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True, "version_table": VERSION_TABLE}), models.metadata
        )
    assert diff == []


def test_upsert_twice_leaves_the_same_rows(jwql_db: JwqlDatabase) -> None:
    rows = [file_row("a_rate.fits"), file_row("b_rate.fits")]
    for _ in range(2):
        with jwql_db.session() as s:
            jwql_db.upsert(s, File, rows, ("filename",))
    with jwql_db.session(readonly=True) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(File)) == 2
        assert s.get(File, 1) is not None


def test_upsert_updates_on_key_and_keeps_first_seen(jwql_db: JwqlDatabase) -> None:
    with jwql_db.session() as s:
        jwql_db.upsert(s, File, [file_row("a_rate.fits", area="proprietary", first_seen=NOW)], ("filename",))
    later = NOW.replace(year=2027)
    with jwql_db.session() as s:
        jwql_db.upsert(s, File, [file_row("a_rate.fits", size=7, first_seen=later, last_seen=later)], ("filename",))
    with jwql_db.session(readonly=True) as s:
        (f,) = s.scalars(sa.select(File)).all()
    assert (f.area, f.size, f.first_seen, f.last_seen) == ("public", 7, NOW, later)
    assert f.mtime.tzinfo is not None and f.mtime == NOW


def test_upsert_on_composite_key_and_duplicate_rows_in_one_call(jwql_db: JwqlDatabase) -> None:
    base = dict(snapshot_id="run1", date=NOW, instrument="nircam", filetype="rate", count=1, size=10)
    with jwql_db.session() as s:
        jwql_db.upsert(s, FilesystemInstrument, [base, {**base, "count": 2}, {**base, "filetype": "cal"}],
                       ("snapshot_id", "instrument", "filetype"))
    with jwql_db.session(readonly=True) as s:
        got = sorted(s.execute(sa.select(FilesystemInstrument.filetype, FilesystemInstrument.count)).all())
    assert got == [("cal", 1), ("rate", 2)]


def test_upsert_rejects_a_key_without_row_values(jwql_db: JwqlDatabase) -> None:
    with pytest.raises(ValueError, match="lacks key"):
        with jwql_db.session() as s:
            jwql_db.upsert(s, FileFailure, [{"filename": "x", "reason": "r", "error_type": "E"}], ("filename", "product"))


def test_session_rolls_back_everything_when_the_block_raises(jwql_db: JwqlDatabase) -> None:
    with pytest.raises(RuntimeError):
        with jwql_db.session() as s:
            jwql_db.upsert(s, File, [file_row("a_rate.fits")], ("filename",))
            raise RuntimeError("boom")
    with jwql_db.session(readonly=True) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(File)) == 0


def test_unreachable_database_names_url_without_password() -> None:
    db = JwqlDatabase(url="postgresql+psycopg2://jwql:s3cret-pw@127.0.0.1:1/jwql")
    with pytest.raises(DatabaseUnavailableError) as info:
        with db.session():
            pass
    text = str(info.value)
    assert "s3cret-pw" not in text and "jwql:***@127.0.0.1:1/jwql" in text


def test_sqlite_parallel_writers_wait_instead_of_failing(sqlite_db: JwqlDatabase) -> None:
    errors: list[BaseException] = []

    def writer(i: int) -> None:
        db = JwqlDatabase(url=sqlite_db.url)
        try:
            for j in range(10):
                with db.session() as s:
                    n = s.scalar(sa.select(sa.func.count()).select_from(File))  # read, then write
                    db.upsert(s, File, [file_row(f"f{i}_{j}_{n}_rate.fits")], ("filename",))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            db.dispose()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with sqlite_db.session(readonly=True) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(File)) == 40


MIGRATE_SCRIPT = """
import os, sys, time
from jwql_dagster.db.engine import create_jwql_engine
from jwql_dagster.db.migrate import upgrade
engine = create_jwql_engine(sys.argv[1])
print("ready", flush=True)
while not os.path.exists(sys.argv[2]):  # both processes start migrating at the same moment
    time.sleep(0.005)
print(upgrade(engine))
"""


def test_first_connection_to_a_fresh_sqlite_file_waits_for_another_writer(tmp_path) -> None:
    """Switching a new file to WAL needs an exclusive lock, and SQLite fails that at once (no busy
    handler) while another process is writing: two runs starting on a fresh database used to crash."""
    path = tmp_path / "fresh.db"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("CREATE TABLE other_process (x)")
    commit_later = threading.Timer(0.5, writer.execute, args=("COMMIT",))
    commit_later.start()
    engine = create_jwql_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("SELECT count(*) FROM other_process").scalar() == 0
    finally:
        engine.dispose()
        commit_later.join()
        writer.close()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_two_processes_migrating_a_fresh_database_both_succeed(backend: str, tmp_path, request) -> None:
    url = request.getfixturevalue("pg_url") if backend == "postgres" else f"sqlite:///{tmp_path / 'fresh.db'}"
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", MIGRATE_SCRIPT, url, str(go)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        assert p.stdout.readline().strip() == "ready", p.communicate()[1]
    go.touch()
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
        assert out.strip() == head_revision()
    with JwqlDatabase(url=url).session(readonly=True) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(File)) == 0


def test_doctor_check_reports_missing_file_without_creating_it(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("JWQL_HOME", str(tmp_path))
    ok, message = check_database(load_settings())
    assert ok and "first use" in message
    assert not (tmp_path / "jwql.db").exists()


def test_doctor_check_on_migrated_and_unreachable_databases(jwql_db: JwqlDatabase, monkeypatch) -> None:
    monkeypatch.setenv("JWQL_DATABASE_URL", jwql_db.url)
    ok, message = check_database(load_settings())
    assert ok and "up to date" in message
    monkeypatch.setenv("JWQL_DATABASE_URL", "postgresql+psycopg2://u:topsecret@127.0.0.1:1/x")
    ok, message = check_database(load_settings())
    assert not ok and "topsecret" not in message and "u:***@" in message
