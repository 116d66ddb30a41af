"""Processes a benchmark starts (and always stops) and a small GraphQL client for ``dagster dev``.

Why: bench_archive.py drives the platform as a user does (CLI commands, a ``dagster dev``
instance, its sensor and backfills) and must leave nothing running, even on Ctrl-C or an
exception. Every process is started in its own session, so stopping one stops its whole
process group (webserver, daemon, code server, run workers, render pools) by that id.
Only the standard library is used: the helper must not depend on what it measures.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Sequence

ACTIVE_RUN_STATUSES = ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING")
TERMINAL_BACKFILL = ("COMPLETED", "FAILED", "CANCELED", "COMPLETED_SUCCESS", "COMPLETED_FAILED")


class Processes:
    """The processes started by this benchmark; ``stop_all`` ends each one's process group."""

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen] = []

    def start(self, cmd: Sequence[str], env: dict[str, str], cwd: Path | str, log: Path | None = None) -> subprocess.Popen:
        """Start ``cmd`` in a new session; output goes to ``log`` (or to pipes read by the caller)."""
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            out = open(log, "w")
            proc = subprocess.Popen(list(cmd), env=env, cwd=str(cwd), stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True, text=True)
            out.close()  # the child holds its own copy
        else:
            proc = subprocess.Popen(list(cmd), env=env, cwd=str(cwd), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    stdin=subprocess.DEVNULL, start_new_session=True, text=True)
        self._procs.append(proc)
        return proc

    @staticmethod
    def _signal_group(proc: subprocess.Popen, sig: int) -> bool:
        try:
            os.killpg(proc.pid, sig)  # the group this benchmark created for the process (pgid == its pid)
            return True
        except (ProcessLookupError, PermissionError):
            return False

    def stop(self, proc: subprocess.Popen, grace: float = 20.0) -> None:
        """SIGINT (dagster dev shuts its children down), then SIGTERM, then SIGKILL to the process group."""
        if proc.poll() is None:
            for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, 5.0)):
                self._signal_group(proc, sig)
                try:
                    proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        # Children left behind by a leader that has exited (run workers, pool processes) share its group.
        self._signal_group(proc, signal.SIGKILL)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        if proc in self._procs:
            self._procs.remove(proc)

    def stop_all(self) -> None:
        for proc in list(reversed(self._procs)):
            self.stop(proc, grace=10.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GraphQL:
    """POST queries to a webserver's /graphql; errors raise RuntimeError with the server's message."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/graphql"

    def __call__(self, query: str, variables: dict[str, Any] | None = None, timeout: float = 60) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        req = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            data = json.load(resp)
        if data.get("errors"):
            raise RuntimeError("GraphQL: " + "; ".join(e.get("message", "?") for e in data["errors"]))
        return data["data"]


WORKSPACE = """
query { workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename ... on RepositoryLocation { name repositories { name } }
                        ... on PythonError { message } } } } } }
"""
DAEMONS = "query { instance { daemonHealth { allDaemonStatuses { daemonType required healthy } } } }"


def wait_until_loaded(gql: GraphQL, proc: subprocess.Popen, log: Path, timeout: float) -> tuple[str, str]:
    """(location, repository) once the webserver answers and the code location has loaded."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dagster dev exited ({proc.returncode}); log tail:\n{tail(log)}")
        try:
            ws = gql(WORKSPACE, timeout=10)["workspaceOrError"]
        except (urllib.error.URLError, ConnectionError, TimeoutError, RuntimeError, OSError) as exc:
            last = str(exc)
            time.sleep(1.0)
            continue
        for entry in ws.get("locationEntries") or []:
            loaded = entry.get("locationOrLoadError") or {}
            if loaded.get("__typename") == "PythonError":
                raise RuntimeError(f"code location {entry['name']} failed to load: {loaded.get('message')}")
            if entry.get("loadStatus") == "LOADED" and loaded.get("__typename") == "RepositoryLocation":
                return loaded["name"], loaded["repositories"][0]["name"]
        time.sleep(1.0)
    raise RuntimeError(f"dagster dev did not load the code location within {timeout:.0f} s ({last}); log tail:\n{tail(log)}")


def wait_for_daemons(gql: GraphQL, timeout: float) -> list[str]:
    """Wait until every required daemon reports healthy; returns those still unhealthy at the timeout."""
    deadline = time.monotonic() + timeout
    unhealthy: list[str] = ["(no answer)"]
    while time.monotonic() < deadline:
        try:
            statuses = gql(DAEMONS, timeout=10)["instance"]["daemonHealth"]["allDaemonStatuses"]
            unhealthy = [s["daemonType"] for s in statuses if s["required"] and not s["healthy"]]
        except (urllib.error.URLError, RuntimeError, OSError):
            pass
        if not unhealthy:
            return []
        time.sleep(1.0)
    return unhealthy


RUNS = """
query($filter: RunsFilter, $limit: Int) { runsOrError(filter: $filter, limit: $limit) { __typename
  ... on Runs { results { runId jobName status creationTime startTime endTime tags { key value } } }
  ... on PythonError { message } } }
"""


def runs(gql: GraphQL, statuses: Sequence[str] | None = None, limit: int = 100000) -> list[dict[str, Any]]:
    flt = {"statuses": list(statuses)} if statuses else None
    answer = gql(RUNS, {"filter": flt, "limit": limit})["runsOrError"]
    if answer["__typename"] != "Runs":
        raise RuntimeError(f"runsOrError: {answer.get('message', answer['__typename'])}")
    return answer["results"]


def summarize_runs(items: list[dict[str, Any]]) -> dict[str, Any]:
    by_job: dict[str, int] = {}
    by_status: dict[str, int] = {}
    for r in items:
        by_job[r["jobName"]] = by_job.get(r["jobName"], 0) + 1
        by_status[r["status"]] = by_status.get(r["status"], 0) + 1
    return {"total": len(items), "by_job": by_job, "by_status": by_status}


START_SENSOR = """
mutation($s: SensorSelector!) { startSensor(sensorSelector: $s) { __typename
  ... on Sensor { name sensorState { status } } ... on Error { message } } }
"""


def start_sensor(gql: GraphQL, location: str, repository: str, name: str) -> None:
    answer = gql(START_SENSOR, {"s": {"repositoryLocationName": location, "repositoryName": repository,
                                      "sensorName": name}})["startSensor"]
    if answer["__typename"] != "Sensor":
        raise RuntimeError(f"startSensor {name}: {answer.get('message', answer['__typename'])}")


GROUP_ASSETS = """
query($g: AssetGroupSelector!) { assetNodes(group: $g) { assetKey { path } isMaterializable isPartitioned
  partitionKeys } }
"""


def group_assets(gql: GraphQL, location: str, repository: str, group: str) -> list[dict[str, Any]]:
    return gql(GROUP_ASSETS, {"g": {"groupName": group, "repositoryName": repository,
                                    "repositoryLocationName": location}})["assetNodes"]


LAUNCH_BACKFILL = """
mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) { __typename
  ... on LaunchBackfillSuccess { backfillId } ... on Error { message } } }
"""
BACKFILL = """
query($id: String!) { partitionBackfillOrError(backfillId: $id) { __typename
  ... on PartitionBackfill { status numPartitions } ... on Error { message } } }
"""


def launch_backfill(gql: GraphQL, params: dict[str, Any]) -> str:
    answer = gql(LAUNCH_BACKFILL, {"p": params}, timeout=300)["launchPartitionBackfill"]
    if answer["__typename"] != "LaunchBackfillSuccess":
        raise RuntimeError(f"launchPartitionBackfill: {answer.get('message', answer['__typename'])}")
    return answer["backfillId"]


def backfill_status(gql: GraphQL, backfill_id: str) -> str:
    answer = gql(BACKFILL, {"id": backfill_id})["partitionBackfillOrError"]
    if answer["__typename"] != "PartitionBackfill":
        raise RuntimeError(f"partitionBackfillOrError: {answer.get('message', answer['__typename'])}")
    return answer["status"]


def tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except FileNotFoundError:
        return "(no log)"


LAUNCH_RUN = """
mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { __typename
  ... on LaunchRunSuccess { run { runId } }
  ... on RunConfigValidationInvalid { errors { message } }
  ... on Error { message } } }
"""
RUN = """
query($id: ID!) { runOrError(runId: $id) { __typename
  ... on Run { runId jobName status creationTime startTime endTime }
  ... on Error { message } } }
"""
TERMINAL_RUN = ("SUCCESS", "FAILURE", "CANCELED")


def launch_run(gql: GraphQL, location: str, repository: str, job: str, tags: dict[str, str] | None = None,
               run_config: dict[str, Any] | None = None) -> str:
    """Launch one run of ``job`` as the UI's Launchpad does (``launchRun``); returns its run id."""
    params = {"selector": {"repositoryLocationName": location, "repositoryName": repository, "jobName": job},
              "runConfigData": run_config or {}, "mode": "default",
              "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]}}
    answer = gql(LAUNCH_RUN, {"p": params}, timeout=300)["launchRun"]
    if answer["__typename"] != "LaunchRunSuccess":
        why = answer.get("message") or "; ".join(e["message"] for e in answer.get("errors") or []) or answer["__typename"]
        raise RuntimeError(f"launchRun {job}: {why}")
    return answer["run"]["runId"]


def run_stats(gql: GraphQL, run_id: str) -> dict[str, Any]:
    """status, creationTime, startTime, endTime (epoch seconds; None until known) of one run."""
    answer = gql(RUN, {"id": run_id})["runOrError"]
    if answer["__typename"] != "Run":
        raise RuntimeError(f"runOrError {run_id}: {answer.get('message', answer['__typename'])}")
    return answer


def wait_for_run(gql: GraphQL, run_id: str, timeout: float, poll: float = 0.1) -> tuple[dict[str, Any], float]:
    """Poll until the run is SUCCESS, FAILURE or CANCELED; returns (its stats, perf_counter when first seen so)."""
    deadline = time.monotonic() + timeout
    while True:
        stats = run_stats(gql, run_id)
        if stats["status"] in TERMINAL_RUN:
            return stats, time.perf_counter()
        if time.monotonic() > deadline:
            raise RuntimeError(f"run {run_id} still {stats['status']} after {timeout:.0f} s")
        time.sleep(poll)


RUN_EVENTS = """
query($id: ID!) { logsForRun(runId: $id, limit: 1000) { __typename
  ... on EventConnection { events { __typename ... on MessageEvent { timestamp } } }
  ... on Error { message } } }
"""


def run_event_times(gql: GraphQL, run_id: str) -> dict[str, float]:
    """Epoch seconds of the first event of each type in a run's log (RunEnqueuedEvent, RunStartingEvent, ...).

    Why: a run's record has only creation, start and end; the events split the queued part into
    the coordinator's wait (creation -> RunStartingEvent) and the run worker's start-up
    (RunStartingEvent -> RunStartEvent).
    """
    answer = gql(RUN_EVENTS, {"id": run_id})["logsForRun"]
    if answer["__typename"] != "EventConnection":
        raise RuntimeError(f"logsForRun {run_id}: {answer.get('message', answer['__typename'])}")
    times: dict[str, float] = {}
    for event in answer["events"]:
        if event.get("timestamp"):
            times.setdefault(event["__typename"], int(event["timestamp"]) / 1000.0)
    return times


def run_contenders(names, run_one, procs: "Processes") -> dict:
    """Run each named path in turn (``run_one(name)``): an error becomes that path's result, and every process
    it started is stopped before the next one starts."""
    results = {}
    for name in names:
        t0 = time.perf_counter()
        try:
            results[name] = run_one(name)
        except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as exc:
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            procs.stop_all()
        print(f"[{name}] finished in {time.perf_counter() - t0:.0f} s", flush=True)
    return results


class Session:
    """A benchmark's work folder and processes: ``with Session(keep, prefix) as s:`` runs the body with SIGTERM
    turned into KeyboardInterrupt; at the end every process it started is stopped, the folder removed unless
    kept, and an interrupt is reported and remembered (``s.interrupted``) instead of raised."""

    def __init__(self, keep: "Path | None", prefix: str) -> None:
        import tempfile
        from pathlib import Path

        self.keep = keep
        self.work = keep.resolve() if keep else Path(tempfile.mkdtemp(prefix=prefix))
        self.work.mkdir(parents=True, exist_ok=True)
        self.procs = Processes()
        self.interrupted = False

    def __enter__(self) -> "Session":
        self._previous = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        return self

    def __exit__(self, kind, exc, tb) -> bool:
        import shutil

        self.procs.stop_all()
        signal.signal(signal.SIGTERM, self._previous)
        if not self.keep:
            shutil.rmtree(self.work, ignore_errors=True)
        if kind is KeyboardInterrupt:
            print("\ninterrupted: stopping every process this benchmark started", flush=True)
            self.interrupted = True
            return True
        return False

