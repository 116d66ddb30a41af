"""The run executor chosen by JWQL_EXECUTOR: multiprocess (default) or celery.

"multiprocess" is Dagster's multi_or_in_process executor: steps run in separate processes
unless a run asks for ``execution: {config: {in_process: {}}}``, which materialize-all
does to keep a demo quick while still running jobs from the code location.
"""

from __future__ import annotations

import dagster as dg

from jwql_dagster.config import Settings


def build_executor(settings: Settings) -> dg.ExecutorDefinition:
    if settings.executor == "celery":
        from dagster_celery import celery_executor

        return celery_executor.configured(
            {"broker": settings.celery_broker, "backend": settings.celery_backend}
        )
    return dg.multi_or_in_process_executor
