"""Picklable render functions for the pool tests (imported by worker processes, so not in a test module)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from jwql_dagster.previews.worker import RenderOutcome, RenderTask


def crash_or_succeed(task: RenderTask) -> RenderOutcome:
    """The task named 'crash' kills its own process; the others succeed."""
    if task.name == "crash":
        os._exit(9)  # as a segfault or the OOM killer would
    return RenderOutcome(task.kind, task.name, previews=[f"{task.name}.jpg"])


def slow_marker(task: RenderTask) -> RenderOutcome:
    """Takes a while, and leaves a marker file so a test can count the tasks that ran."""
    time.sleep(0.5)
    Path(task.preview_dir, f"{task.name}.ran").write_text("x")
    return RenderOutcome(task.kind, task.name)


def killed_once(task: RenderTask) -> RenderOutcome:
    """The first task to run dies as a SIGKILLed worker would, once (a marker file remembers); every task
    that succeeds records the pid of the process that ran it."""
    marker = Path(task.preview_dir, "killed")
    try:
        marker.touch(exist_ok=False)
    except FileExistsError:
        time.sleep(0.2)  # long enough that both workers of a pool take tasks
        Path(task.preview_dir, f"{task.name}.pid").write_text(str(os.getpid()))
        return RenderOutcome(task.kind, task.name, previews=[f"{task.name}.jpg"])
    os._exit(9)
