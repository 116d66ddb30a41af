"""A two-step job with the code location's default executor, importable by a run worker (``dg.reconstructable``)."""

from __future__ import annotations

import os

import dagster as dg

from jwql_dagster.executors import steps_in_run_process


@dg.op
def first_pid() -> int:
    return os.getpid()


@dg.op
def second_pid(first: int) -> tuple[int, int]:
    return first, os.getpid()


@dg.job(executor_def=steps_in_run_process)
def two_steps() -> None:
    second_pid(first_pid())
