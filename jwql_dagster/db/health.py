"""Database check for ``jwql-dagster doctor``: reachable, and at which schema revision (password masked)."""

from __future__ import annotations

import logging
import os

import sqlalchemy as sa

from jwql_dagster.config import Settings, mask_url
from jwql_dagster.db.engine import DatabaseUnavailableError, create_jwql_engine, error_detail, sqlite_path
from jwql_dagster.db.migrate import current_revision, head_revision


def check_database(settings: Settings) -> tuple[bool, str]:
    """(ok, message) for JWQL_DATABASE_URL. Only reads: it never creates the database or its tables."""
    logging.getLogger("alembic").setLevel(logging.WARNING)  # the doctor prints its own verdict
    url = settings.database_url
    shown = mask_url(url)
    try:
        backend = sa.engine.make_url(url).get_backend_name()
    except Exception:
        return False, f"database URL {shown!r} is not a valid SQLAlchemy URL"
    if backend == "sqlite":
        path = sqlite_path(url)
        if path is not None and not path.exists():
            probe = path.parent
            while not probe.exists() and probe != probe.parent:
                probe = probe.parent
            if os.access(probe, os.W_OK | os.X_OK):
                return True, f"database {shown}: file does not exist yet; created with its tables on first use"
            return False, f"database {shown}: file does not exist and {probe} is not writable"
    try:
        engine = create_jwql_engine(url)
    except DatabaseUnavailableError as exc:
        return False, str(exc)
    try:
        with engine.connect() as conn:
            current = current_revision(conn)
    except sa.exc.DBAPIError as exc:
        return False, f"database {shown} unreachable: {error_detail(exc, url)}"
    finally:
        engine.dispose()
    head = head_revision()
    if current == head:
        return True, f"database {shown} reachable, schema up to date (revision {head})"
    if current is None:
        return True, f"database {shown} reachable, tables not created yet (migrated to {head} on first use)"
    return True, f"database {shown} reachable, schema at {current}; migrated to {head} on first use"
