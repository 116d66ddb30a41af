"""`jwql-dagster ui` as a user runs it: both servers up, SIGTERM stops every process of both, exit 0;
a server that dies takes the other down and the command exits 1 saying so (issue 19, item 5).

Real subprocesses on free ports with JWQL_HOME in tmp. Slow: `dagster dev` loads the code
location before it answers (10-20 s on an idle machine, over a minute on a loaded one).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from jwql_dagster.cli.ui import group_alive, port_in_use
from tests.cli.support import CLI, user_env

pytestmark = pytest.mark.slow

STARTUP_SECONDS = 240


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class UiCommand:
    """The command in the background, its output collected line by line."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.proc = subprocess.Popen([CLI, "ui", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, start_new_session=True)
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, predicate, what: str, timeout: float = STARTUP_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert self.proc.poll() is None, f"ui ended early ({self.proc.returncode}) waiting for {what}:\n{self.output}"
            assert time.monotonic() < deadline, f"no {what} after {timeout} s:\n{self.output}"
            time.sleep(0.3)

    def child_groups(self) -> dict[str, int]:
        """Process group of each server, from the lines the command prints when it starts them."""
        found = dict(re.findall(r"^(Dagster UI|quicklook pages)[^\n]*\(pid (\d+), own process group\)", self.output, re.M))
        return {name: int(pid) for name, pid in found.items()}

    def kill(self) -> None:
        """Test clean-up only: whatever is left of the command and its servers."""
        for pgid in [*self.child_groups().values(), self.proc.pid]:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=10)


@pytest.fixture
def ui_env(tmp_path: Path) -> dict[str, str]:
    archive = tmp_path / "archive"
    (archive / "public").mkdir(parents=True)
    return user_env(tmp_path, archive)


def test_sigterm_stops_both_servers_and_exits_0(ui_env: dict[str, str], tmp_path: Path) -> None:
    port, web_port = free_port(), free_port()
    ui = UiCommand(ui_env, "--port", str(port), "--web-port", str(web_port), "--grace", "60")
    try:
        ui.wait_for(lambda: len(ui.child_groups()) == 2, "server processes")
        groups = ui.child_groups()
        assert f"http://127.0.0.1:{port}" in ui.output and f"http://127.0.0.1:{web_port}/" in ui.output
        ui.wait_for(lambda: answers(port) and answers(web_port), "answer on both ports")
        assert "ready: http://127.0.0.1:" in ui.output
        # The instance got its default dagster.yaml (telemetry and the first-visit dialog off).
        assert "nux" in (tmp_path / "home" / "dagster_home" / "dagster.yaml").read_text()

        ui.proc.send_signal(signal.SIGTERM)
        assert ui.proc.wait(timeout=90) == 0, ui.output
        assert not answers(port) and not answers(web_port)
        assert not port_in_use("127.0.0.1", port) and not port_in_use("127.0.0.1", web_port)
        left = {name: pgid for name, pgid in groups.items() if group_alive(pgid)}
        assert not left, f"processes left in {left}:\n{ui.output}"
        assert "SIGTERM received; stopping both servers" in ui.output
    finally:
        if ui.proc.poll() is None:
            ui.kill()


def test_a_server_that_dies_stops_the_other_and_fails(ui_env: dict[str, str]) -> None:
    port, web_port = free_port(), free_port()
    ui = UiCommand(ui_env, "--port", str(port), "--web-port", str(web_port), "--grace", "20")
    try:
        ui.wait_for(lambda: len(ui.child_groups()) == 2, "server processes")
        groups = ui.child_groups()
        ui.wait_for(lambda: answers(web_port), "quicklook pages")
        os.killpg(groups["quicklook pages"], signal.SIGKILL)
        assert ui.proc.wait(timeout=90) == 1, ui.output
        assert "quicklook pages (jwql-dagster serve) ended by itself (signal SIGKILL); stopping the other server" in ui.output
        assert not any(group_alive(pgid) for pgid in groups.values()), ui.output
        assert not answers(port) and not answers(web_port)
    finally:
        if ui.proc.poll() is None:
            ui.kill()


def test_a_busy_port_is_named_before_anything_starts(ui_env: dict[str, str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        out = subprocess.run([CLI, "ui", "--port", str(free_port()), "--web-port", str(taken)], env=ui_env,
                             capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert f"port {taken} on 127.0.0.1 is in use" in out.stderr and "--web-port" in out.stderr
