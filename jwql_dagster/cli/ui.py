"""`jwql-dagster ui`: the Dagster UI (`dagster dev`) and the quicklook pages (`jwql-dagster serve`) together.

Why a command and not two lines of a Makefile: `dagster dev` run by make did not stop on SIGTERM
(issue 19, item 5), and a server left behind holds its port and the instance's SQLite files.
Here each server runs in its own process group (its own session, so a terminal's Ctrl-C reaches
only this command), and this command stops whole groups: SIGTERM, then SIGKILL after a grace
period. Ctrl-C or SIGTERM stops both and exits 0; if either server ends by itself, the other is
stopped and the command exits 1 saying which one ended and how.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

#: Seconds a stopped server's process group gets between SIGTERM and SIGKILL: `dagster dev` stops its
#: webserver, daemon and code servers in turn, which took 25-30 s on a loaded 2-core machine.
GRACE_SECONDS = 30.0
_WILDCARDS = ("0.0.0.0", "::", "")  # listen everywhere: check readiness on the loopback address


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ui",
        help="run the Dagster UI (dagster dev) and the quicklook pages (serve) until Ctrl-C or SIGTERM",
        description="Write the instance's default dagster.yaml, then start `dagster dev` on the project's code "
        "location (location `jwql`) and `jwql-dagster serve`, each in its own process group. Ctrl-C or SIGTERM "
        "stops both (exit 0); if one of them ends, the other is stopped and the exit status is 1.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address both servers listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=3000, help="port of the Dagster UI (default 3000)")
    p.add_argument("--web-port", type=int, help="port of the quicklook pages (default: the port of JWQL_WEB_URL, 3001)")
    p.add_argument("--grace", type=float, default=GRACE_SECONDS,
                   help=f"seconds a server gets to stop after SIGTERM before SIGKILL (default {GRACE_SECONDS:g})")
    p.set_defaults(func=run)


@dataclass
class Server:
    """One child server: its process (leader of its own process group) and the address it should answer on."""

    name: str
    url: str
    host: str
    port: int
    process: subprocess.Popen
    ready: bool = False

    @property
    def pgid(self) -> int:
        return self.process.pid  # start_new_session: the child leads its own group

    def answers(self) -> bool:
        host = "127.0.0.1" if self.host in _WILDCARDS else self.host
        try:
            with socket.create_connection((host, self.port), timeout=0.2):
                return True
        except OSError:
            return False


def port_in_use(host: str, port: int) -> bool:
    """True when something already listens there (checked before starting, so the message names the port)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_groups(servers: list[Server], grace: float) -> dict[str, str]:
    """SIGTERM every server's whole process group at once, SIGKILL what is left after ``grace`` seconds.

    Returns how each one ended ("stopped" or "killed ..."), by name.
    """
    how: dict[str, str] = {}
    for server in servers:
        how[server.name] = "stopped"
        try:
            os.killpg(server.pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    left = list(servers)
    while left and time.monotonic() < deadline:
        for server in list(left):
            server.process.poll()  # reap the leader: a zombie would keep its group "alive"
            if not group_alive(server.pgid):
                left.remove(server)
        time.sleep(0.1)
    for server in left:
        how[server.name] = f"killed (still running {grace:g} s after SIGTERM)"
        try:
            os.killpg(server.pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for server in servers:
        try:
            server.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    return how


def web_address(web_url: str, web_port: int | None) -> tuple[int, str]:
    """(port, JWQL_WEB_URL for this session): links in asset metadata must point at the pages started here.

    JWQL_WEB_URL keeps its scheme and host name (a proxy or public name stays); only a different
    ``--web-port`` replaces its port.
    """
    from jwql_dagster.cli.serve import listen_address

    _, port = listen_address(web_url, None, web_port)
    parts = urlsplit(web_url)
    if web_port is None or parts.port == port:
        return port, web_url
    return port, f"{parts.scheme or 'http'}://{parts.hostname or '127.0.0.1'}:{port}{parts.path}"


def _start(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, start_new_session=True)


def run(args: argparse.Namespace) -> int:
    from jwql_dagster.cli.workspace import workspace_file
    from jwql_dagster.config import ensure_dagster_home, load_settings
    from jwql_dagster.instance_config import ensure_instance_config

    settings = load_settings()
    home = ensure_dagster_home(settings)
    sections = ensure_instance_config(home)
    workspace = workspace_file(home)
    web_port, web_url = web_address(settings.web_url, args.web_port)
    for label, port in (("Dagster UI", args.port), ("quicklook pages", web_port)):
        if port_in_use(args.host, port):
            print(f"jwql-dagster ui: port {port} on {args.host} is in use; choose another for the {label} "
                  f"({'--port' if label == 'Dagster UI' else '--web-port'})", file=sys.stderr)
            return 1
    env = {**os.environ, "DAGSTER_HOME": str(home), "JWQL_WEB_URL": web_url}
    print(f"instance {home} (dagster.yaml defaults: {', '.join(sections) or 'all set by you'}); workspace {workspace}",
          flush=True)

    # Handlers before the children exist: a signal between the two starts still stops the first.
    requested: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        requested.append(signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    servers: list[Server] = []
    code = 0
    try:
        dagster_argv = [sys.executable, "-m", "dagster", "dev", "-w", str(workspace), "-h", args.host, "-p", str(args.port)]
        servers.append(Server("Dagster UI (dagster dev)", f"http://{args.host}:{args.port}", args.host, args.port,
                              _start(dagster_argv, workspace.parent, env)))
        serve_argv = [sys.executable, "-c", "import sys; from jwql_dagster.cli import main; sys.exit(main(sys.argv[1:]))",
                      "serve", "--host", args.host, "--port", str(web_port)]
        servers.append(Server("quicklook pages (jwql-dagster serve)", f"http://{args.host}:{web_port}/", args.host,
                              web_port, _start(serve_argv, Path.cwd(), env)))
        for s in servers:
            print(f"{s.name}: {s.url} (pid {s.pgid}, own process group)", flush=True)
        print("Ctrl-C or SIGTERM stops both", flush=True)
        while not requested:
            ended = next((s for s in servers if s.process.poll() is not None), None)
            if ended is not None:
                status = ended.process.returncode
                how = f"signal {signal.Signals(-status).name}" if status < 0 else f"exit status {status}"
                print(f"jwql-dagster ui: {ended.name} ended by itself ({how}); stopping the other server", file=sys.stderr,
                      flush=True)
                code = 1
                break
            for s in servers:
                if not s.ready and s.answers():
                    s.ready = True
                    print(f"{s.name} ready: {s.url}", flush=True)
            time.sleep(0.2)
    finally:
        if requested:
            print(f"jwql-dagster ui: {signal.Signals(requested[0]).name} received; stopping both servers", flush=True)
        # Ignore further Ctrl-C while stopping: a second one must not leave a group behind.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, on_signal)
        for name, how in stop_groups(servers, args.grace).items():
            print(f"{name}: {how}", flush=True)
    return code
