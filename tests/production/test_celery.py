"""Celery executor: steps of a partitioned run execute in a real Celery worker process (Redis broker)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.production.conftest import BIN, CodeServer, require_service, wait_for_runs
from tests.production.conftest import partitions_with_files, production_env

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
REDIS_TEST_DB = 7  # broker; results in 8 — away from the default 0/1 a local deployment may use


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=2):
            return True
    except OSError:
        return False


def test_steps_run_in_celery_worker(tmp_path: Path, pg_instance_db: str, small_archive, monkeypatch: pytest.MonkeyPatch) -> None:
    import dagster as dg
    import redis
    from dagster import DagsterEventType, DagsterRunStatus

    require_service(_redis_up(), "Redis")
    redis.Redis(host="127.0.0.1", port=6379, db=REDIS_TEST_DB).flushdb()
    archive = small_archive.path
    env = production_env(tmp_path, pg_instance_db, archive)
    env.update(
        JWQL_EXECUTOR="celery",
        JWQL_CELERY_BROKER=f"redis://127.0.0.1:6379/{REDIS_TEST_DB}",
        JWQL_CELERY_BACKEND=f"redis://127.0.0.1:6379/{REDIS_TEST_DB + 1}",
    )
    program, instrument = next(c for c in partitions_with_files(archive) if c[1] == "nircam")
    for key in ("DAGSTER_HOME", "DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER", "DAGSTER_PG_DB"):
        monkeypatch.setenv(key, env[key])
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions("program", [program])

    worker_log = open(tmp_path / "worker.log", "w")
    worker = subprocess.Popen(
        [str(BIN / "celery"), "-A", "jwql_dagster.celery_app", "worker", "-Q", "dagster", "--pool", "solo",
         "--loglevel", "INFO", "--hostname", "jwql-test-worker@%h"],
        env=env, stdout=worker_log, stderr=subprocess.STDOUT,
    )
    server = None
    try:
        deadline = time.time() + 90
        while "ready" not in (tmp_path / "worker.log").read_text() and time.time() < deadline:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
            time.sleep(0.5)
        server = CodeServer(env, tmp_path)
        proc = server.launch("preview_partition_job", f"{instrument}|{program}")
        out, _ = proc.communicate(timeout=180)
        assert proc.returncode == 0, out
        (run,) = wait_for_runs(instance, 1, timeout=300)
        assert run.status == DagsterRunStatus.SUCCESS, (tmp_path / "worker.log").read_text()[-3000:]

        records = instance.all_logs(run.run_id)
        step_starts = [r for r in records if r.dagster_event and r.dagster_event.event_type == DagsterEventType.STEP_START]
        assert len({r.step_key for r in step_starts}) >= 2, "expected a multi-step run"
        # Every step started in the worker process, none in the run's own process.
        assert {r.dagster_event.pid for r in step_starts} == {worker.pid}
        delegated = [r for r in records if r.dagster_event and "in celery worker" in (r.dagster_event.message or "")]
        assert delegated, "no 'Executing steps ... in celery worker' engine events"
    finally:
        if server:
            server.stop()
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
        worker_log.close()
