"""JwqlDatabase on SQLite and PostgreSQL: upserts, transactions, SQLite write locking, unreachable servers."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from jwql_dagster.db.engine import DatabaseUnavailableError
from jwql_dagster.db.models import File, FileFailure, FilesystemInstrument
from jwql_dagster.db.resources import JwqlDatabase


NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def file_row(name: str, **over) -> dict:
    row = dict(filename=name, area="public", path=f"/a/{name}", program="jw01068", instrument="nircam",
               size=100, mtime=NOW, mtime_ns=1, suffix="rate")
    row.update(over)
    return row


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


@pytest.mark.parametrize("url, secret", [
    ("postgresql://jwql:pa/ss@db.example:5432/jwql", True),  # a '/' in the password: still recognised
    ("postgresql+psycopg2://jwql:s3cr3t@db.example/jwql", True),
    ("sqlite:////data/jwql/jwql.db", False),
])
def test_a_database_url_with_a_password_reaches_the_resource_as_an_env_var(jwql_env, monkeypatch: pytest.MonkeyPatch,
                                                                           url: str, secret: bool) -> None:
    """build_resources decides without parsing the URL (no SQLAlchemy at load): a password never enters the
    definitions snapshot the UI shows, a URL without one stays readable there."""
    import dagster as dg

    from jwql_dagster.config import load_settings
    from jwql_dagster.resources import build_resources

    monkeypatch.setenv("JWQL_DATABASE_URL", url)
    db = build_resources(load_settings())["db"]
    if secret:
        assert isinstance(db.url, dg.EnvVar) and db.url.env_var_name == "JWQL_DATABASE_URL"
    else:
        assert not isinstance(db.url, dg.EnvVar) and db.url == url
