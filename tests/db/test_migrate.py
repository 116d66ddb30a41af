"""Migrations create exactly the model tables, also when two processes migrate a fresh database at once."""

from __future__ import annotations

import subprocess
import sys

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from jwql_dagster.db import models
from jwql_dagster.db.engine import create_jwql_engine
from jwql_dagster.db.migrate import VERSION_TABLE, current_revision, head_revision, upgrade
from jwql_dagster.db.models import File
from jwql_dagster.db.resources import JwqlDatabase


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
