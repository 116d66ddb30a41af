"""Run launcher 'WarmRunLauncher': each run's worker is forked from a process that has Dagster loaded.

Why: Dagster's default launcher asks the code server to start every run in a fresh Python
(multiprocessing "spawn"), which imports Dagster, SQLAlchemy and the instance's storage again
before the run's first step: 1.8 s of a 3.7 s no-op run on a fast 2-core machine, 3.2 s on a slow
one (benchmarks/bench_runs.py). On the local instance (``dagster dev``: daemon and code server on
one machine, same Python), this launcher starts the run worker from a multiprocessing fork server
that imported those libraries once, so a run starts in a few tenths of a second. Our own code is
not preloaded: every run imports the code location afresh, so "Reload definitions" in the UI
still takes effect on the next run.

The worker runs exactly what the code server's worker runs (Dagster's ``_run_in_subprocess``:
the same "Started process for run" event, interruption and failure handling). Around it this
launcher does what the code server did: a thread in the launching process marks the run failed
when its worker exits without finishing it (SIGKILL, out of memory), and run monitoring asks
:meth:`check_run_worker_health`, which looks at the worker's process, so a worker lost while the
daemon was restarting is failed too. Terminate (the UI's button, from the webserver's process)
interrupts the worker with SIGINT, which is what Dagster's own termination does inside it.

Runs of a code location in another Python, a container image or on another host, and every run
on a system without /proc (not Linux), are launched by Dagster's default launcher, unchanged. Opt out by setting your own ``run_launcher`` in
dagster.yaml (instance_config.py then leaves it alone).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Any, Mapping, Sequence

from dagster import DefaultRunLauncher
from dagster._core.launcher.base import CheckRunHealthResult, LaunchRunContext, WorkerStatus
from dagster._core.storage.dagster_run import DagsterRun
from dagster._serdes import ConfigurableClassData

log = logging.getLogger(__name__)

#: Run tags naming the worker process; read by terminate and by the health check (any process of this host).
PID_TAG = "jwql/worker_pid"
HOST_TAG = "jwql/worker_host"

#: What every run worker imports before its first step, loaded once by the fork server. Third-party only:
#: these change only with a reinstall (which needs a restart anyway); the project's code is imported per run.
PRELOAD = (
    "dagster",
    "dagster._grpc.impl",
    "dagster._core.execution.api",
    "dagster._core.storage.sqlite_storage",
    "dagster._core.storage.event_log.sqlite.sqlite_event_log",
    "dagster._core.storage.runs.sqlite.sqlite_run_storage",
    "sqlalchemy",
    "sqlalchemy.orm",
    "alembic",
    "numpy",
    "astropy.io.fits",
    "yaml",
    "jinja2",
    "PIL.Image",
)


def _forkserver() -> multiprocessing.context.BaseContext:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(list(PRELOAD))  # read when the server starts (first launch in this process)
    return ctx


def _run_worker(serialized_args: str, recon_job: Any, termination_event: Any) -> None:
    """Body of a forked run worker: what Dagster's code server runs in its spawned worker."""
    from dagster._grpc.impl import _run_in_subprocess
    from dagster._utils.interrupts import capture_interrupts

    with capture_interrupts():
        _run_in_subprocess(serialized_args, recon_job, termination_event,
                           subprocess_status_handler=lambda _event: None, run_event_handler=lambda _event: None)


def is_run_worker(pid: int) -> bool:
    """Whether ``pid`` is a live child of a multiprocessing fork server (a worker of ours, not a reused pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return b"multiprocessing.forkserver" in cmdline and state not in ("Z", "X")


class WarmRunLauncher(DefaultRunLauncher):
    """Starts the run worker of a local code location by forking it from a process with Dagster preloaded."""

    def __init__(self, inst_data: ConfigurableClassData | None = None, preload: Sequence[str] = PRELOAD):
        super().__init__(inst_data=inst_data)
        self._preload = tuple(preload)
        self._lock = threading.Lock()
        self._events: dict[str, Any] = {}

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]) -> WarmRunLauncher:
        return cls(inst_data=inst_data)

    # ------------------------------------------------------------------ launching
    @staticmethod
    def forks(run: DagsterRun) -> bool:
        """Whether this run's worker can be forked here: its code location runs in this Python, on no image."""
        origin = run.job_code_origin
        if origin is None or run.remote_job_origin is None:
            return False
        # The worker checks read /proc (Linux); elsewhere, or without a fork server, Dagster's launcher runs it.
        if not sys.platform.startswith("linux") or "forkserver" not in multiprocessing.get_all_start_methods():
            return False
        repo = origin.repository_origin
        if repo.container_image or not repo.executable_path:
            return False
        try:
            return os.path.samefile(repo.executable_path, sys.executable)
        except OSError:
            return False

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        if not self.forks(run):
            super().launch_run(context)
            return
        from dagster._grpc.types import ExecuteExternalJobArgs
        from dagster._serdes import serialize_value
        from dagster._utils.hosted_user_process import recon_job_from_origin

        instance = self._instance
        args = serialize_value(ExecuteExternalJobArgs(job_origin=run.remote_job_origin, run_id=run.run_id,
                                                      instance_ref=instance.get_ref()))
        ctx = _forkserver()
        termination_event = ctx.Event()
        worker = ctx.Process(target=_run_worker, name=f"dagster-run-{run.run_id[:8]}",
                             args=(args, recon_job_from_origin(run.job_code_origin), termination_event))
        worker.start()
        # Not a child to wait for at this process's exit (multiprocessing joins those): stopping the daemon must not
        # wait for its runs, which go on as the code server's workers do. The watcher thread still joins it.
        multiprocessing.process._children.discard(worker)  # noqa: SLF001
        instance.add_run_tags(run.run_id, {PID_TAG: str(worker.pid), HOST_TAG: socket.gethostname()})
        with self._lock:
            self._events[run.run_id] = termination_event
        self._run_ids.add(run.run_id)
        threading.Thread(target=self._watch, args=(run.run_id, worker), name=f"watch-{run.run_id[:8]}",
                         daemon=True).start()

    def _watch(self, run_id: str, worker: multiprocessing.process.BaseProcess) -> None:
        """Waits for the worker; a worker gone before its run finished (killed, crashed) fails the run."""
        worker.join()
        with self._lock:
            self._events.pop(run_id, None)
        try:
            run = self._instance.get_run_by_id(run_id)
            if run is not None and not run.is_finished:
                self._instance.report_run_failed(
                    run, f"Run worker process (pid {worker.pid}) for {run_id} exited unexpectedly with exit code "
                         f"{worker.exitcode} before the run finished (killed or out of memory?)")
        except Exception:  # noqa: BLE001 - the instance closing under us: run monitoring catches the run later
            log.exception("could not check run %s after its worker exited", run_id)

    # ------------------------------------------------------------------ the worker of a run
    @staticmethod
    def worker_pid(run: DagsterRun) -> int | None:
        """The pid of a run's forked worker on this host, or None (not forked by us, or on another host)."""
        pid = run.tags.get(PID_TAG)
        if not pid or run.tags.get(HOST_TAG) != socket.gethostname():
            return None
        try:
            return int(pid)
        except ValueError:
            return None

    def terminate(self, run_id: str) -> bool:
        if not self.has_instance:
            return False
        run = self._instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            return False
        pid = self.worker_pid(run)
        if pid is None or PID_TAG not in run.tags:
            return super().terminate(run_id)
        self._instance.report_run_canceling(run)
        with self._lock:
            event = self._events.get(run_id)
        if event is not None:  # the launching process: the worker's own termination thread interrupts it
            event.set()
            return True
        if not is_run_worker(pid):
            self._instance.report_engine_event(f"Run worker process {pid} is gone; nothing to terminate.", run,
                                               cls=self.__class__)
            return False
        os.kill(pid, signal.SIGINT)  # what the worker's termination thread does on itself
        return True

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        if PID_TAG not in run.tags:  # launched by the code server (default launcher): its watcher judges it
            return CheckRunHealthResult(WorkerStatus.RUNNING, "launched by the code server")
        pid = self.worker_pid(run)
        if pid is None:  # another host's worker: only that host can look (UNKNOWN would fail the run)
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"worker on host {run.tags.get(HOST_TAG)}")
        if is_run_worker(pid):
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker process {pid} is no longer running")
