"""A production-shaped jwql-dagster deployment for fault tests: code server, daemon and webserver as
separate processes (as deploy/systemd runs them) on the shipped deploy/dagster.yaml, with PostgreSQL
for both Dagster's instance and the jwql tables.

Each process runs in its own session so a test can stop one of them (and the runs under the code
server) without touching the others, and teardown can kill every descendant by PID.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tests.production.conftest import BIN, free_port

REPO = Path(__file__).resolve().parents[2]
SHIPPED_INSTANCE = REPO / "deploy" / "dagster.yaml"


# ---------------------------------------------------------------- processes


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        # the command name may contain spaces and parentheses: the ppid follows the last ')'
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def _children_map_pids() -> list[int]:
    return [int(e.name) for e in os.scandir("/proc") if e.name.isdigit()]


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (children first), read from /proc."""
    kids = _children_map()
    out: list[int] = []
    todo = list(kids.get(pid, []))
    while todo:
        p = todo.pop(0)
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def sigkill(pids: list[int]) -> list[int]:
    """SIGKILL each pid still alive; returns the ones signalled."""
    done = []
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
            done.append(pid)
        except ProcessLookupError:
            pass
    return done


@dataclass
class Service:
    """One long-running process of the deployment (code server, daemon or webserver)."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            log.write(f"\n==== start {time.strftime('%H:%M:%S')} ====\n".encode())
            log.flush()
            self.proc = subprocess.Popen(self.argv, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, kill_children: bool = True) -> None:
        """SIGTERM (as systemctl stop does), then SIGKILL what is left of this service's tree."""
        if self.proc is None:
            return
        tree = descendants(self.proc.pid) if kill_children else []
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        sigkill([self.proc.pid] + (tree + descendants(self.proc.pid) if kill_children else []))
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None

    def tail(self, chars: int = 1200) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


# ---------------------------------------------------------------- the deployment


@dataclass
class Stack:
    """Code server + daemon + webserver sharing DAGSTER_HOME (the shipped dagster.yaml) and the environment."""

    workdir: Path
    env: dict[str, str]
    services: dict[str, Service] = field(default_factory=dict)
    grpc_port: int = 0
    web_port: int = 0

    @classmethod
    def create(cls, workdir: Path, archive: Path, instance_db: str, jwql_db: str, **extra_env: str) -> "Stack":
        home = workdir / "dagster_home"
        home.mkdir(parents=True, exist_ok=True)
        shutil.copy(SHIPPED_INSTANCE, home / "dagster.yaml")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("JWQL_", "DAGSTER_")) and k not in ("MAST_API_URL", "MAST_API_TOKEN")}
        env.update(
            DAGSTER_HOME=str(home),
            DAGSTER_PG_HOST="127.0.0.1", DAGSTER_PG_PORT="5432", DAGSTER_PG_USER="postgres",
            DAGSTER_PG_PASSWORD="", DAGSTER_PG_DB=instance_db,
            JWQL_HOME=str(workdir / "jwql_home"),
            JWQL_FILESYSTEM=str(archive),
            JWQL_DATABASE_URL=f"postgresql+psycopg2://postgres@127.0.0.1:5432/{jwql_db}",
            JWQL_SENSOR_SETTLE_SECONDS="1",
            JWQL_SENSOR_INTERVAL_SECONDS="2",
            JWQL_PREVIEW_WORKERS="2",
            MPLBACKEND="Agg",
            PYTHONUNBUFFERED="1",
        )
        env.update(extra_env)
        stack = cls(workdir=workdir, env=env, grpc_port=free_port(), web_port=free_port())
        workspace = workdir / "workspace.yaml"
        workspace.write_text(f"load_from:\n  - grpc_server:\n      host: 127.0.0.1\n      port: {stack.grpc_port}\n"
                             f"      location_name: jwql\n")
        logs = workdir / "logs"
        logs.mkdir(exist_ok=True)
        stack.services = {
            "code": Service("code", [str(BIN / "dagster"), "api", "grpc", "-m", "jwql_dagster.definitions",
                                     "-h", "127.0.0.1", "-p", str(stack.grpc_port)], env, logs / "code.log"),
            "webserver": Service("webserver", [str(BIN / "dagster-webserver"), "-w", str(workspace),
                                               "-h", "127.0.0.1", "-p", str(stack.web_port)], env, logs / "webserver.log"),
            "daemon": Service("daemon", [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)], env,
                              logs / "daemon.log"),
        }
        return stack

    # -- paths
    @property
    def jwql_home(self) -> Path:
        return Path(self.env["JWQL_HOME"])

    @property
    def preview_root(self) -> Path:
        return Path(self.env.get("JWQL_PREVIEW_ROOT", self.jwql_home / "preview_images"))

    @property
    def thumbnail_root(self) -> Path:
        return Path(self.env.get("JWQL_THUMBNAIL_ROOT", self.jwql_home / "thumbnails"))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    # -- lifecycle
    def start(self, *names: str, timeout: float = 240) -> None:
        for name in names or ("code", "webserver", "daemon"):
            self.services[name].start()
        if not names or "webserver" in names:
            self.wait_loaded(timeout)

    def stop(self, *names: str) -> None:
        for name in names or ("daemon", "webserver", "code"):
            self.services[name].stop()
        if not names:  # whatever a killed run worker left orphaned (e.g. its compute-log `tail -F`)
            sigkill([p for p in _children_map_pids() if str(self.workdir) in cmdline(p) and p != os.getpid()])

    def logs(self) -> str:
        return "\n".join(f"--- {n} ---\n{s.tail()}" for n, s in self.services.items())

    def run_processes(self) -> list[int]:
        """Run workers, step processes and render-pool children: every descendant of the code server."""
        code = self.services["code"].proc
        return descendants(code.pid) if code is not None and code.poll() is None else []

    # -- GraphQL
    def graphql(self, query: str, variables: dict[str, Any] | None = None, timeout: float = 30) -> dict[str, Any]:
        req = urllib.request.Request(f"{self.url}/graphql", data=json.dumps({"query": query, "variables": variables or {}}).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = json.loads(resp.read())
        if body.get("errors"):
            raise RuntimeError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def wait_loaded(self, timeout: float = 240) -> None:
        """Until the webserver answers and the `jwql` code location (on the code server) is loaded."""
        query = ("{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
                 "locationOrLoadError { __typename ... on PythonError { message } } } } } }")
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            for s in self.services.values():
                if s.proc is not None and s.proc.poll() is not None:
                    raise RuntimeError(f"{s.name} exited with {s.proc.returncode}:\n{s.tail()}")
            try:
                entries = self.graphql(query, timeout=10)["workspaceOrError"]["locationEntries"]
                loc = {e["name"]: e for e in entries}.get("jwql")
                if loc and (loc["locationOrLoadError"] or {}).get("__typename") == "RepositoryLocation":
                    return
                if loc and (loc["locationOrLoadError"] or {}).get("__typename") == "PythonError":
                    # the code server may still be starting: ask the webserver to reload it
                    self.graphql('mutation { reloadRepositoryLocation(repositoryLocationName: "jwql") { __typename } }')
                last = str(loc)
            except (urllib.error.URLError, ConnectionError, TimeoutError, RuntimeError, KeyError, OSError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(1)
        raise RuntimeError(f"deployment not ready after {timeout} s ({last}):\n{self.logs()}")

    def start_sensor(self, name: str) -> None:
        query = """mutation($s: SensorSelector!) { startSensor(sensorSelector: $s) {
                     __typename ... on Sensor { sensorState { status } } ... on PythonError { message } } }"""
        sel = {"repositoryLocationName": "jwql", "repositoryName": "__repository__", "sensorName": name}
        out = self.graphql(query, {"s": sel})["startSensor"]
        if out["__typename"] != "Sensor":
            raise RuntimeError(f"could not start sensor {name}: {out}")


def wait_until(what: str, check: Callable[[], Any], timeout: float, interval: float = 1.0, on_fail: Callable[[], str] = lambda: "") -> Any:
    """Poll ``check`` until it returns something truthy; fail with ``what`` (and ``on_fail()``) after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout:.0f} s\n{on_fail()}")
        time.sleep(interval)


def python_cli(*args: str) -> list[str]:
    """The `jwql-dagster` command run by this interpreter."""
    return [sys.executable, "-c", "import sys; from jwql_dagster.cli import main; sys.exit(main())", *args]


# ---------------------------------------------------------------- what a user checks afterwards


def expected_outputs(archive: Path) -> dict[str, set[str]]:
    """Preview and thumbnail names every good file of the synthetic archive must end up with, by
    ``preview_images/<program>`` and ``thumbnails/<program>`` (mosaics come on top of these)."""
    from jwql_dagster.archive.filenames import IGNORED_SUFFIXES, parse_filename
    from jwql_dagster.previews.render import select_integrations, wants_thumbnail

    truth = json.loads((archive / "synthetic_truth.json").read_text())
    bad = {b["path"] for b in truth.get("bad_files", [])}
    out: dict[str, set[str]] = {}
    for rel, rec in truth["files"].items():
        if rel in bad or not rec.get("shape"):
            continue
        parsed = parse_filename(Path(rel).name)
        if rec.get("suffix") in IGNORED_SUFFIXES or parsed.get("guider_mode"):
            continue  # jwql makes no preview of guider files, FGS streams or spectra
        stem = Path(rel).name.removesuffix(".fits")
        shape = rec["shape"]
        nints = shape[0] if len(shape) >= 3 else 1
        out.setdefault(f"preview_images/{rec['program']}", set()).update(
            f"{stem}_integ{i}.jpg" for i in select_integrations(nints))
        if wants_thumbnail(Path(rel).name):
            out.setdefault(f"thumbnails/{rec['program']}", set()).add(f"{stem}_integ0.thumb")
    return out


def missing_outputs(stack: Stack, expected: dict[str, set[str]]) -> list[str]:
    roots = {"preview_images": stack.preview_root, "thumbnails": stack.thumbnail_root}
    missing = []
    for folder, names in expected.items():
        root, program = folder.split("/")
        have = {p.name for p in (roots[root] / program).glob("*")} if (roots[root] / program).is_dir() else set()
        missing += [f"{folder}/{n}" for n in sorted(names - have)]
    return missing


def temp_files(*roots: Path) -> list[str]:
    """Hidden ``.tmp-*`` files (unfinished atomic writes) anywhere under the roots."""
    return sorted(str(p) for root in roots if root.exists() for p in root.rglob(".tmp-*"))


def broken_images(*roots: Path) -> list[str]:
    """JPEGs (``*.jpg`` and ``*.thumb``) under the roots that Pillow cannot decode completely."""
    from PIL import Image

    bad = []
    for root in roots:
        for path in list(root.rglob("*.jpg")) + list(root.rglob("*.thumb")):
            if path.name.startswith(".tmp-"):
                continue
            try:
                with Image.open(path) as im:
                    im.load()
                    if im.format != "JPEG":
                        bad.append(f"{path}: {im.format}")
            except Exception as exc:  # noqa: BLE001 - any decoding problem is the finding
                bad.append(f"{path}: {type(exc).__name__}: {exc}")
    return bad


UNFINISHED = ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING")


def run_summary(instance) -> dict[str, int]:
    from collections import Counter

    return dict(Counter(r.status.value for r in instance.get_runs()))


def unfinished_runs(instance) -> list:
    return [r for r in instance.get_runs() if r.status.value in UNFINISHED]


def slots_held_by_ended_runs(instance) -> list[str]:
    """Runs that have ended (success or failure) but still hold concurrency-pool slots."""
    run_ids = instance.event_log_storage.get_concurrency_run_ids()
    held = []
    for run_id in run_ids:
        run = instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            held.append(f"{run_id} ({run.status.value if run else 'deleted'})")
    return held
