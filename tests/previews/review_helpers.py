"""Picklable render functions for the review tests (imported by worker processes)."""

from __future__ import annotations

import time
from pathlib import Path

from jwql_dagster.previews.worker import RenderOutcome, RenderTask


def slow_marker(task: RenderTask) -> RenderOutcome:
    """Takes a while, and leaves a marker file so a test can count the tasks that ran."""
    time.sleep(0.5)
    Path(task.preview_dir, f"{task.name}.ran").write_text("x")
    return RenderOutcome(task.kind, task.name)
