"""The default executor: steps of a run share the run's process; a run can still ask for one process per step."""

from __future__ import annotations

import dagster as dg


def _pids(run_config: dict | None = None) -> tuple[int, int]:
    from tests.plugins import jobs

    with dg.instance_for_test() as instance:
        with dg.execute_job(dg.reconstructable(jobs.two_steps), instance=instance, run_config=run_config or {}) as result:
            assert result.success
            first, second = result.output_for_node("second_pid")
    return first, second


def test_steps_share_one_process_by_default() -> None:
    first, second = _pids()
    assert first == second


def test_a_run_can_still_ask_for_a_process_per_step() -> None:
    first, second = _pids({"execution": {"config": {"multiprocess": {}}}})
    assert first != second


def test_celery_keeps_distributing_steps(monkeypatch) -> None:
    from jwql_dagster.config import load_settings
    from jwql_dagster.executors import build_executor, steps_in_run_process

    assert build_executor(load_settings()) is steps_in_run_process
    monkeypatch.setenv("JWQL_EXECUTOR", "celery")
    assert build_executor(load_settings()).name == "celery"
