"""Database fixtures: a fresh, migrated JwqlDatabase on SQLite and on the real PostgreSQL server.

``jwql_db`` runs a test twice (sqlite, postgres). PostgreSQL comes from
JWQL_TEST_POSTGRES_URL; each test gets its own ``jwql_test_<random>`` database, dropped
afterwards. When the server is unreachable the postgres case is skipped, except with
CI=true, where it fails: CI must never pass without having run against PostgreSQL.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Iterator

import pytest

DEFAULT_TEST_POSTGRES_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
_availability: dict[str, str | None] = {}


def postgres_server_url() -> str:
    return os.environ.get("JWQL_TEST_POSTGRES_URL") or DEFAULT_TEST_POSTGRES_URL


def _postgres_problem() -> str | None:
    """None when the test server answers, else why not (cached for the session)."""
    url = postgres_server_url()
    if url not in _availability:
        import sqlalchemy as sa

        from jwql_dagster.db.engine import error_detail

        engine = sa.create_engine(url, connect_args={"connect_timeout": 5})
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            _availability[url] = None
        except Exception as exc:
            _availability[url] = error_detail(exc, url)
        finally:
            engine.dispose()
    return _availability[url]


def postgres_available() -> bool:
    """True when the PostgreSQL server of JWQL_TEST_POSTGRES_URL answers."""
    return _postgres_problem() is None


def require_postgres() -> None:
    """Skip the calling test without PostgreSQL, or fail it when CI=true."""
    problem = _postgres_problem()
    if problem is None:
        return
    from jwql_dagster.config import mask_url

    message = f"PostgreSQL at {mask_url(postgres_server_url())} unreachable: {problem}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message + " (CI=true: PostgreSQL is required)")
    pytest.skip(message)


def _admin_engine():
    import sqlalchemy as sa

    return sa.create_engine(postgres_server_url(), isolation_level="AUTOCOMMIT")


def create_postgres_database() -> str:
    """Create an empty database ``jwql_test_<random>`` on the test server; return its URL."""
    from sqlalchemy.engine import make_url

    name = f"jwql_test_{uuid.uuid4().hex[:12]}"
    engine = _admin_engine()
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        engine.dispose()
    return make_url(postgres_server_url()).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(url: str) -> None:
    """Terminate the connections to the database of ``url`` and drop it."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    assert name and name.startswith("jwql_test_"), name
    engine = _admin_engine()
    try:
        with engine.connect() as conn:
            conn.execute(
                sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n AND pid <> pg_backend_pid()"),
                {"n": name},
            )
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        engine.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """URL of a fresh, empty (not migrated) PostgreSQL database, dropped after the test."""
    require_postgres()
    url = create_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(url)


@pytest.fixture
def sqlite_db(tmp_path: Path):
    """A migrated JwqlDatabase on a SQLite file under tmp_path."""
    from jwql_dagster.db.resources import JwqlDatabase

    db = JwqlDatabase(url=f"sqlite:///{tmp_path / 'jwql_test.db'}")
    db.engine  # migrate now, so a test's first query measures nothing but itself
    yield db
    db.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def jwql_db(request: pytest.FixtureRequest, tmp_path: Path):
    """A migrated JwqlDatabase on a fresh database: once on SQLite, once on PostgreSQL."""
    from jwql_dagster.db.resources import JwqlDatabase

    if request.param == "sqlite":
        db = JwqlDatabase(url=f"sqlite:///{tmp_path / 'jwql_test.db'}")
        db.engine
        yield db
        db.dispose()
        return
    require_postgres()
    url = create_postgres_database()
    db = JwqlDatabase(url=url)
    try:
        db.engine
        yield db
    finally:
        db.dispose()
        drop_postgres_database(url)
