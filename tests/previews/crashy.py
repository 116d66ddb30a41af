"""A render function for the worker-crash test: the task named 'crash' kills its own process."""

from __future__ import annotations

import os

from jwql_dagster.previews.worker import RenderOutcome, RenderTask


def crash_or_succeed(task: RenderTask) -> RenderOutcome:
    if task.name == "crash":
        os._exit(9)  # as a segfault or the OOM killer would
    return RenderOutcome(task.kind, task.name, previews=[f"{task.name}.jpg"])
