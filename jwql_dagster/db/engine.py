"""Engines for the jwql tables: SQLite tuned for several processes, PostgreSQL as is.

SQLite gets WAL (readers never block the writer), a busy timeout (a writer waits
for another instead of failing at once) and ``BEGIN IMMEDIATE`` for write
transactions: pysqlite's default deferred BEGIN lets two processes both read and
then fail to upgrade to a write lock, which no timeout can resolve.

This module imports SQLAlchemy at its top, so the code location never imports it: JwqlDatabase
does when it first opens the database.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from jwql_dagster.db.errors import DatabaseUnavailableError  # raised here; health.py imports it from here too

SQLITE_BUSY_TIMEOUT_MS = 60_000
# Execution option read by the "begin" hook: IMMEDIATE (write, the default) or DEFERRED (read-only).
SQLITE_BEGIN_OPTION = "jwql_sqlite_begin"


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL, or None for an in-memory database."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Path(database).expanduser()


def error_detail(exc: BaseException, url: str) -> str:
    """A one-line reason for a driver error, never containing the password."""
    # A DBAPIError wraps the driver's own exception, whose text says what went wrong.
    orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None else exc
    text = " ".join(str(orig).split()) or type(orig).__name__
    password = make_url(url).password
    if password:
        text = text.replace(str(password), "***")
    return text[:500]


def _enable_wal(cur: sqlite3.Cursor) -> None:
    """Switch the file to WAL, waiting for other processes like any other write would.

    Changing the journal mode needs an exclusive lock and SQLite does not call the busy
    handler for it: while another process holds a write lock (two runs migrating a fresh
    database, say) the PRAGMA fails at once with "database is locked". WAL is a property of
    the file, so this only matters until the first connection has switched it; a file
    already in WAL is left alone.
    """
    if cur.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
        return
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    pause = 0.01
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.25)


def create_jwql_engine(url: str) -> sa.Engine:
    """An engine for ``url``; for SQLite files the parent folder is created."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # ArgumentError for garbage URLs
        raise DatabaseUnavailableError(url, f"not a valid SQLAlchemy URL ({type(exc).__name__})") from None
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True, future=True)

    path = sqlite_path(url)
    kwargs: dict = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}}
    if path is None:
        kwargs["poolclass"] = StaticPool  # one shared in-memory database, not one per connection
    else:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseUnavailableError(url, f"cannot create folder {path.parent}: {exc.strerror}") from None
    engine = sa.create_engine(url, **kwargs)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see module docstring)
        cur = dbapi_connection.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            if path is not None:
                _enable_wal(cur)
                cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
        finally:
            cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        mode = conn.get_execution_options().get(SQLITE_BEGIN_OPTION, "IMMEDIATE")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")

    return engine
