"""The jwql tables can live in the same PostgreSQL database as Dagster's instance storage."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

pytestmark = pytest.mark.postgres


def test_jwql_schema_and_dagster_instance_share_one_database(pg_url: str, tmp_path: Path, monkeypatch) -> None:
    import dagster as dg

    from jwql_dagster.db.migrate import VERSION_TABLE, head_revision
    from jwql_dagster.db.resources import JwqlDatabase

    url = make_url(pg_url)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        "storage:\n  postgres:\n    postgres_db:\n"
        f"      hostname: {url.host}\n      port: {url.port or 5432}\n"
        f"      username: {url.username}\n      db_name: {url.database}\n"
    )
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    instance = dg.DagsterInstance.get()  # creates Dagster's tables and its own alembic_version
    try:
        db = JwqlDatabase(url=pg_url)
        db.engine  # migrates the jwql schema into the same database
        with sa.create_engine(pg_url).connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            jwql_rev = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar_one()
            dagster_revs = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
        assert {"runs", "event_logs", "files", "monitor_status"} <= tables
        assert jwql_rev == head_revision()
        assert dagster_revs and jwql_rev not in dagster_revs
        # Both still work: the instance stores a run, the jwql schema is left as it is on the next start.
        instance.add_dynamic_partitions("program", ["jw01068"])
        assert instance.get_dynamic_partitions("program") == ["jw01068"]
        assert JwqlDatabase(url=pg_url).engine is not None
    finally:
        instance.dispose()
