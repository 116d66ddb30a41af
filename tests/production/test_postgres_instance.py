"""Production instance: runs launched through a PostgreSQL-backed Dagster instance, not in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.production.conftest import CodeServer, partitions_with_files, production_env, wait_for_runs

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_two_partitions_run_at_once_on_postgres_instance(
    tmp_path: Path, pg_instance_db: str, small_archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dagster as dg
    import psycopg2
    from dagster import DagsterRunStatus

    archive = small_archive.path
    env = production_env(tmp_path, pg_instance_db, archive)
    cells = [c for c in partitions_with_files(archive) if c[1] != "fgs"][:2]
    assert len(cells) == 2, cells

    for key in ("DAGSTER_HOME", "DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER", "DAGSTER_PG_DB"):
        monkeypatch.setenv(key, env[key])
    instance = dg.DagsterInstance.get()
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    instance.add_dynamic_partitions("program", sorted({p for p, _ in cells}))
    server = CodeServer(env, tmp_path)
    try:
        launches = [server.launch("preview_partition_job", f"{inst}|{prog}") for prog, inst in cells]
        for proc in launches:
            out, _ = proc.communicate(timeout=180)
            assert proc.returncode == 0, out
        runs = wait_for_runs(instance, 2, timeout=300)
    finally:
        server.stop()
    assert {r.status for r in runs} == {DagsterRunStatus.SUCCESS}, [(r.run_id, r.status) for r in runs]
    assert {r.tags["dagster/partition"] for r in runs} == {f"{i}|{p}" for p, i in cells}
    # The two runs overlapped in time: both were launched before either finished.
    records = instance.get_run_records()
    starts = sorted(r.start_time for r in records)
    ends = sorted(r.end_time for r in records)
    assert starts[1] < ends[0], "runs did not run at the same time"

    # Their events live in PostgreSQL, not in a local SQLite file.
    conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname=pg_instance_db)
    try:
        cur = conn.cursor()
        for run in runs:
            cur.execute(
                "SELECT count(*) FROM event_logs WHERE run_id = %s AND dagster_event_type = 'ASSET_MATERIALIZATION'",
                (run.run_id,),
            )
            assert cur.fetchone()[0] >= 3  # archive_files, preview_images, thumbnails
    finally:
        conn.close()
    assert not list(Path(env["DAGSTER_HOME"]).rglob("*.db")), "instance wrote SQLite storage"
