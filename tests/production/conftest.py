"""Fixtures for production-deployment tests: a Dagster instance on a fresh PostgreSQL database,
a gRPC code server for our code location, and helpers to launch runs through the instance."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest

BIN = Path(sys.executable).parent
PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"


def _pg_reachable() -> bool:
    try:
        import psycopg2

        psycopg2.connect(PG_ADMIN_DSN, connect_timeout=3).close()
        return True
    except Exception:
        return False


def require_service(ok: bool, what: str) -> None:
    """Skip when a local service is missing, except on CI where it must be there."""
    if not ok:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{what} is not reachable on 127.0.0.1 (required on CI)")
        pytest.skip(f"{what} is not reachable on 127.0.0.1")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def pg_instance_db() -> Iterator[str]:
    """A fresh PostgreSQL database for Dagster's storage; dropped afterwards."""
    require_service(_pg_reachable(), "PostgreSQL")
    import psycopg2

    name = f"jwql_dagster_inst_{uuid.uuid4().hex[:10]}"
    conn = psycopg2.connect(PG_ADMIN_DSN)
    conn.autocommit = True
    conn.cursor().execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        cur = conn.cursor()
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.close()


def write_instance_yaml(dagster_home: Path, db_name: str) -> None:
    """A dagster.yaml using deploy/dagster.yaml's storage section (DAGSTER_PG_* variables) with runs launched at once."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").write_text(
        "storage:\n"
        "  postgres:\n"
        "    postgres_db:\n"
        "      hostname: {env: DAGSTER_PG_HOST}\n"
        "      port: {env: DAGSTER_PG_PORT}\n"
        "      username: {env: DAGSTER_PG_USER}\n"
        "      db_name: {env: DAGSTER_PG_DB}\n"
        "run_coordinator:\n"
        "  module: dagster._core.run_coordinator\n"
        "  class: DefaultRunCoordinator\n"
        "telemetry:\n  enabled: false\n"
    )


class CodeServer:
    """`dagster api grpc` serving jwql_dagster.definitions, plus a workspace.yaml pointing at it."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.port = free_port()
        self.env = env
        self.workspace = workdir / "workspace.yaml"
        self.workspace.write_text(
            f"load_from:\n  - grpc_server:\n      host: 127.0.0.1\n      port: {self.port}\n      location_name: jwql\n"
        )
        self.log = open(workdir / "grpc.log", "w")
        self.proc = subprocess.Popen(
            [str(BIN / "dagster"), "api", "grpc", "-m", "jwql_dagster.definitions", "-h", "127.0.0.1", "-p", str(self.port)],
            env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"code server exited: {(workdir / 'grpc.log').read_text()[-2000:]}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.5)
        raise RuntimeError("code server did not start within 120 s")

    def launch(self, job: str, partition: str, extra_tags: dict[str, str] | None = None) -> subprocess.Popen:
        tags = {"dagster/partition": partition, **(extra_tags or {})}
        return subprocess.Popen(
            [str(BIN / "dagster"), "job", "launch", "-w", str(self.workspace), "-j", job, "--tags", json.dumps(tags)],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def wait_for_runs(instance, count: int, timeout: float = 300) -> list:
    """Poll the instance until `count` runs have finished (success or failure); return their records."""
    from dagster import DagsterRunStatus, RunsFilter

    done = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
    deadline = time.time() + timeout
    runs: list = []
    while time.time() < deadline:
        runs = instance.get_runs(RunsFilter())
        if len(runs) >= count and all(r.status in done for r in runs):
            return runs
        time.sleep(1)
    raise AssertionError(f"runs did not finish in {timeout} s: {[(r.run_id, r.status) for r in runs]}")


# ---------------------------------------------------------------- fault tests (test_faults.py, test_restarts.py, ...)


@pytest.fixture
def pg_databases() -> Iterator:
    """A factory of fresh PostgreSQL databases (``pg_databases("jwql")`` -> name); all dropped afterwards."""
    require_service(_pg_reachable(), "PostgreSQL")
    import psycopg2

    made: list[str] = []

    def create(kind: str) -> str:
        name = f"jwql_dagster_{kind}_{uuid.uuid4().hex[:10]}"
        conn = psycopg2.connect(PG_ADMIN_DSN)
        conn.autocommit = True
        try:
            conn.cursor().execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        made.append(name)
        return name

    try:
        yield create
    finally:
        drop_databases(made)


def drop_databases(names: list[str]) -> None:
    import psycopg2

    conn = None
    for _ in range(30):  # PostgreSQL may still be coming back from a restart test
        try:
            conn = psycopg2.connect(PG_ADMIN_DSN, connect_timeout=3)
            break
        except psycopg2.OperationalError:
            time.sleep(1)
    if conn is None:
        return
    conn.autocommit = True
    try:
        cur = conn.cursor()
        for name in names:
            cur.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        conn.close()


@pytest.fixture(scope="session")
def fault_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic archive of the fault tests (read-only: tests copy it if they change it).

    Six programs by default, issue 20's full ingest (about 2.5 minutes here; figures in docs/production.md).
    Fewer are not enough since a tick's changes go into one run: two programs render in a few seconds, and a
    first kill that lands after the rendering leaves the retry nothing to render, so the second kill never
    finds a moment of rendering. FAULT_TEST_PROGRAMS=2 only for a quick look."""
    root = tmp_path_factory.mktemp("fault-archive") / "archive"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JWQL_", "DAGSTER_"))}
    subprocess.run([sys.executable, "-c", "import sys; from jwql_dagster.cli import main; sys.exit(main())",
                    "make-archive", str(root), "--programs", os.environ.get("FAULT_TEST_PROGRAMS", "6"), "--size", "small", "--seed", "3"],
                   env=env, check=True, capture_output=True, timeout=300)
    return root


@pytest.fixture
def stack_factory(tmp_path: Path, pg_databases, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """``stack_factory(archive, **env)`` -> a not yet started :class:`tests.production.stack.Stack` on fresh
    databases; every process it started (and their descendants) is killed at the end."""
    from tests.production.stack import Stack

    stacks: list = []

    def make(archive: Path, **extra_env: str):
        stack = Stack.create(tmp_path, archive, pg_databases("inst"), pg_databases("jwql"), **extra_env)
        for key in ("DAGSTER_HOME", "DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD",
                    "DAGSTER_PG_DB", "JWQL_HOME", "JWQL_FILESYSTEM", "JWQL_DATABASE_URL"):
            monkeypatch.setenv(key, stack.env[key])
        stacks.append(stack)
        return stack

    try:
        yield make
    finally:
        for stack in stacks:
            stack.stop()


def production_env(tmp_path: Path, pg_db: str, archive: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JWQL_", "DAGSTER_"))}
    home = tmp_path / "jwql_home"
    env.update(
        JWQL_HOME=str(home),
        JWQL_FILESYSTEM=str(archive),
        DAGSTER_HOME=str(tmp_path / "dagster_home"),
        DAGSTER_PG_HOST="127.0.0.1",
        DAGSTER_PG_PORT="5432",
        DAGSTER_PG_USER="postgres",
        DAGSTER_PG_DB=pg_db,
        JWQL_PREVIEW_WORKERS="1",
        MPLBACKEND="Agg",
    )
    write_instance_yaml(Path(env["DAGSTER_HOME"]), pg_db)
    return env


def partitions_with_files(archive: Path) -> list[tuple[str, str]]:
    """(program, instrument) cells of the archive, read from its file names."""
    from jwql_dagster.archive.filenames import UnrecognizedFilenameError, parse_filename

    cells = set()
    for path in archive.glob("*/jw*/jw*/*.fits"):
        try:
            parsed = parse_filename(path.name)
        except UnrecognizedFilenameError:
            continue
        cells.add((path.parent.parent.name, parsed["instrument"]))
    return sorted(cells)
