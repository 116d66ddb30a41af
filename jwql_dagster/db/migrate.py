"""Apply the Alembic migrations under a lock, so parallel runs on a fresh database cannot race.

PostgreSQL: a session-level ``pg_advisory_lock`` held for the whole upgrade. SQLite:
the upgrade runs in one ``BEGIN IMMEDIATE`` transaction (see engine.py), which
SQLite itself serializes; the second process waits (busy timeout), then finds the
schema at head and does nothing.
"""

from __future__ import annotations

import threading
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any fixed 64-bit number shared by every jwql-dagster process: "jwqlmigr" in ASCII.
ADVISORY_LOCK_KEY = int.from_bytes(b"jwqlmigr", "big") & 0x7FFF_FFFF_FFFF_FFFF
# Alembic keeps the running migration in module globals (alembic.context / alembic.op), so threads
# of one process must also take turns; the database lock below covers other processes.
_PROCESS_LOCK = threading.Lock()


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    return ",".join(sorted(heads))


# Our own version table: Dagster's instance storage keeps its Alembic revision in ``alembic_version``,
# and a site may well point both at one PostgreSQL database.
VERSION_TABLE = "jwql_alembic_version"


def current_revision(conn: sa.Connection) -> str | None:
    heads = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_heads()
    return ",".join(sorted(heads)) or None


def upgrade(engine: sa.Engine, revision: str = "head") -> str:
    """Bring the schema to ``revision`` (default head) and return the revision now in place."""
    with _PROCESS_LOCK:
        return _upgrade_locked(engine, revision)


def _upgrade_locked(engine: sa.Engine, revision: str) -> str:
    cfg = alembic_config()
    target = head_revision() if revision == "head" else revision
    with engine.connect() as conn:
        postgres = conn.dialect.name == "postgresql"
        if postgres:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY})
            conn.commit()
        try:
            if conn.dialect.name == "sqlite":
                # Take the write lock before reading the version, so two processes cannot both
                # see an empty database and both try to create the tables.
                with conn.begin():
                    if current_revision(conn) != target:
                        cfg.attributes["connection"] = conn
                        command.upgrade(cfg, revision)
            else:
                if current_revision(conn) != target:
                    conn.rollback()
                    cfg.attributes["connection"] = conn
                    command.upgrade(cfg, revision)
                conn.commit()
            return current_revision(conn) or ""
        finally:
            if postgres:
                conn.rollback()
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_LOCK_KEY})
                conn.commit()
