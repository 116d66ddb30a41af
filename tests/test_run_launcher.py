"""The local instance's run launcher (jwql_dagster/run_launcher.py): runs forked from a warm process.

What a user relies on: runs launched from the UI (GraphQL, through the daemon's queue) start in a
worker forked from the fork server, still succeed, fail promptly when their worker is SIGKILLed,
stop when terminated from the UI, and pick up edited code after "Reload definitions".
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from jwql_dagster.run_launcher import HOST_TAG, PID_TAG, WarmRunLauncher, is_run_worker

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import dagster_dev as dd  # noqa: E402

PROBE = textwrap.dedent('''
    """Jobs of the launcher test's code location (written by the test; VERSION is edited to test reloads)."""
    import os, time
    from pathlib import Path
    import dagster as dg

    VERSION = "{version}"


    @dg.op(config_schema={{"out": str, "seconds": float}})
    def record(context) -> None:
        out = Path(context.op_config["out"])
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{{context.run_id}}.started").write_text(f"{{os.getpid()}} {{os.getppid()}} {{VERSION}}")
        time.sleep(context.op_config["seconds"])


    @dg.job(executor_def=dg.in_process_executor)  # the op runs in the run worker itself
    def probe_job() -> None:
        record()
''')


def _sleeper() -> None:
    time.sleep(30)


# ---------------------------------------------------------------------------- without a server
def test_a_fork_server_child_counts_as_a_worker_other_processes_do_not() -> None:
    ctx = multiprocessing.get_context("forkserver")
    child = ctx.Process(target=_sleeper)
    child.start()
    plain = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert is_run_worker(child.pid)
        assert not is_run_worker(plain.pid)
    finally:
        child.kill()
        plain.kill()
        child.join()
        plain.wait()
    assert not is_run_worker(child.pid)


def test_health_follows_the_worker_process() -> None:
    import socket

    from dagster import DagsterRun
    from dagster._core.launcher.base import WorkerStatus

    ctx = multiprocessing.get_context("forkserver")
    child = ctx.Process(target=_sleeper)
    child.start()
    launcher = WarmRunLauncher()
    tags = {PID_TAG: str(child.pid), HOST_TAG: socket.gethostname()}
    run = DagsterRun(job_name="probe_job", run_id="r1", tags=tags)
    try:
        assert launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING
    finally:
        child.kill()
        child.join()
    dead = launcher.check_run_worker_health(run)
    assert dead.status == WorkerStatus.FAILED and str(child.pid) in dead.msg
    # a run the code server started (no pid tag) is not ours to fail
    assert launcher.check_run_worker_health(DagsterRun(job_name="probe_job", run_id="r2")).status == WorkerStatus.RUNNING


# ---------------------------------------------------------------------------- through dagster dev
class Probe:
    def __init__(self, home: Path, gql: dd.GraphQL, location: str, repository: str, module: Path,
                 server: subprocess.Popen) -> None:
        self.home, self.gql, self.location, self.repository, self.module = home, gql, location, repository, module
        self.server = server
        self.out = home / "out"

    def launch(self, seconds: float = 0.0) -> str:
        return dd.launch_run(self.gql, self.location, self.repository, "probe_job",
                             run_config={"ops": {"record": {"config": {"out": str(self.out), "seconds": seconds}}}})

    def started(self, run_id: str, timeout: float = 120) -> list[str]:
        path = self.out / f"{run_id}.started"
        deadline = time.monotonic() + timeout
        while not path.exists() or not path.read_text():
            assert time.monotonic() < deadline, f"run {run_id} did not start its op within {timeout} s"
            time.sleep(0.2)
        return path.read_text().split()

    def tags(self, run_id: str) -> dict[str, str]:
        q = "query($id: ID!) { runOrError(runId: $id) { ... on Run { tags { key value } } } }"
        return {t["key"]: t["value"] for t in self.gql(q, {"id": run_id})["runOrError"]["tags"]}

    def messages(self, run_id: str) -> list[str]:
        q = ("query($id: ID!) { logsForRun(runId: $id, limit: 1000) { ... on EventConnection { events { "
             "... on MessageEvent { message } } } } }")
        return [e.get("message") or "" for e in self.gql(q, {"id": run_id})["logsForRun"]["events"]]


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Probe]:
    from jwql_dagster.instance_config import ensure_instance_config

    home = tmp_path_factory.mktemp("launcher")
    dagster_home = home / "dagster_home"
    sections = ensure_instance_config(dagster_home)  # the shipped default of a local instance
    assert "run_launcher" in sections
    module = home / "probe_jobs.py"
    module.write_text(PROBE.format(version="one"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JWQL_", "DAGSTER_"))}
    env.update(DAGSTER_HOME=str(dagster_home), PYTHONUNBUFFERED="1")
    procs = dd.Processes()
    port = dd.free_port()
    log = home / "dagster-dev.log"
    proc = procs.start([sys.executable, "-m", "dagster", "dev", "-f", str(module), "-h", "127.0.0.1", "-p", str(port)],
                       env, home, log=log)
    try:
        gql = dd.GraphQL(port)
        location, repository = dd.wait_until_loaded(gql, proc, log, timeout=240)
        yield Probe(home, gql, location, repository, module, proc)
    finally:
        procs.stop_all()


def _wait_status(probe: Probe, run_id: str, timeout: float) -> tuple[str, float]:
    start = time.monotonic()
    stats, _ = dd.wait_for_run(probe.gql, run_id, timeout=timeout, poll=0.2)
    return stats["status"], time.monotonic() - start


@pytest.mark.slow
def test_a_run_from_the_ui_runs_in_a_worker_forked_by_the_fork_server(probe: Probe) -> None:
    run_id = probe.launch()
    status, _ = _wait_status(probe, run_id, timeout=180)
    assert status == "SUCCESS", probe.messages(run_id)
    pid, parent, version = probe.started(run_id)
    tags = probe.tags(run_id)
    assert tags[PID_TAG] == pid  # the op ran in the run worker the launcher started (steps share its process)
    assert f"Started process for run (pid: {pid})." in probe.messages(run_id)
    assert b"multiprocessing.forkserver" in Path(f"/proc/{parent}/cmdline").read_bytes() or not Path(f"/proc/{parent}").exists()
    assert version == "one"


@pytest.mark.slow
def test_a_sigkilled_worker_fails_its_run_within_seconds(probe: Probe) -> None:
    run_id = probe.launch(seconds=120)
    pid = int(probe.started(run_id)[0])
    assert is_run_worker(pid)
    os.kill(pid, signal.SIGKILL)
    status, seconds = _wait_status(probe, run_id, timeout=60)
    assert status == "FAILURE"
    assert seconds < 20, f"the killed run was marked failed after {seconds:.0f} s"
    assert any("exited unexpectedly" in m for m in probe.messages(run_id))


@pytest.mark.slow
def test_terminate_from_the_ui_cancels_the_run_and_ends_its_worker(probe: Probe) -> None:
    run_id = probe.launch(seconds=120)
    pid = int(probe.started(run_id)[0])
    answer = probe.gql("mutation($id: String!) { terminateRun(runId: $id) { __typename ... on PythonError { message } } }",
                       {"id": run_id})["terminateRun"]
    assert answer["__typename"] == "TerminateRunSuccess", answer
    status, _ = _wait_status(probe, run_id, timeout=90)
    assert status == "CANCELED"
    deadline = time.monotonic() + 30
    while is_run_worker(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not is_run_worker(pid), "the terminated run's worker is still running"


@pytest.mark.slow
def test_edited_code_runs_after_reload_definitions(probe: Probe) -> None:
    probe.module.write_text(PROBE.format(version="two"))
    answer = probe.gql("mutation($n: String!) { reloadRepositoryLocation(repositoryLocationName: $n) { __typename } }",
                       {"n": probe.location})["reloadRepositoryLocation"]
    assert answer["__typename"] == "WorkspaceLocationEntry", answer
    dd.wait_until_loaded(probe.gql, probe.server, probe.home / "dagster-dev.log", timeout=120)
    run_id = probe.launch()
    status, _ = _wait_status(probe, run_id, timeout=180)
    assert status == "SUCCESS", probe.messages(run_id)
    assert probe.started(run_id)[2] == "two"  # not the code the fork server saw first


def _run_of(executable: str, image: str | None = None):
    from dagster import DagsterRun
    from dagster._core.code_pointer import ModuleCodePointer
    from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin
    from dagster._core.remote_origin import (
        GrpcServerCodeLocationOrigin,
        RemoteJobOrigin,
        RemoteRepositoryOrigin,
    )

    repo = RepositoryPythonOrigin(executable_path=executable, code_pointer=ModuleCodePointer("m", "defs", None),
                                  container_image=image)
    remote = RemoteJobOrigin(RemoteRepositoryOrigin(GrpcServerCodeLocationOrigin(host="h", port=1, location_name="l"),
                                                    "__repository__"), "probe_job")
    return DagsterRun(job_name="probe_job", run_id="r", job_code_origin=JobPythonOrigin("probe_job", repo),
                      remote_job_origin=remote)


def test_only_runs_of_this_python_on_linux_are_forked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert WarmRunLauncher.forks(_run_of(sys.executable))
    assert not WarmRunLauncher.forks(_run_of("/usr/bin/true"))  # the code location's own Python: Dagster's way
    assert not WarmRunLauncher.forks(_run_of(sys.executable, image="jwql:1"))
    monkeypatch.setattr(sys, "platform", "darwin")  # no /proc for the worker checks
    assert not WarmRunLauncher.forks(_run_of(sys.executable))
