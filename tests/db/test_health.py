"""The doctor's database check: never creates a database, names the revision or why it is unreachable."""

from __future__ import annotations

from jwql_dagster.config import load_settings
from jwql_dagster.db.health import check_database
from jwql_dagster.db.resources import JwqlDatabase


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
