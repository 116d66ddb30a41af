"""Alembic environment: runs on the connection handed over by jwql_dagster.db.migrate, or on JWQL_DATABASE_URL.

Our code calls migrations through ``jwql_dagster.db.migrate.upgrade`` (which holds the
migration lock and passes its connection in ``config.attributes["connection"]``). The
fallback lets a developer run ``alembic -c jwql_dagster/db/migrations/alembic.ini ...``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from jwql_dagster.db.migrate import VERSION_TABLE
from jwql_dagster.db.models import metadata

config = context.config


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    # One transaction for the whole upgrade: SQLite and PostgreSQL both have transactional DDL,
    # so a failed migration leaves the previous schema intact.
    if connection.in_transaction():
        context.run_migrations()
    else:
        with connection.begin():
            context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        from jwql_dagster.config import load_settings

        url = load_settings().database_url
    from jwql_dagster.db.engine import create_jwql_engine

    engine = create_jwql_engine(url)
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


def run_migrations_offline() -> None:
    url = config.get_main_option("sqlalchemy.url") or "postgresql://"
    context.configure(url=url, target_metadata=metadata, version_table=VERSION_TABLE, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
