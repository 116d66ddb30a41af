"""The run executor chosen by JWQL_EXECUTOR: multiprocess (default) or celery.

"multiprocess" (the default) runs every step of a run in the run's own process, and the
preview renderer spreads its files over its own process pool (JWQL_PREVIEW_WORKERS, the
cores by default): a run costs one Python start-up, where Dagster's multiprocess executor
started one more per step (6-9 s each on a loaded 2-core machine, more than the rendering).
A run that wants a process per step can still ask for it in its run config
(``execution: {config: {multiprocess: {}}}``), and ``in_process: {}`` stays accepted.

"celery" distributes steps to Celery workers (``jwql_dagster.celery_app``).
"""

from __future__ import annotations

import dagster as dg

from jwql_dagster.config import Settings

_BASE = dg.multi_or_in_process_executor

#: Dagster's multi_or_in_process executor with ``in_process`` as the default instead of ``multiprocess``.
steps_in_run_process = dg.ExecutorDefinition(
    name="multi_or_in_process_executor",
    config_schema=dg.Field(_BASE.config_schema.as_field().config_type, default_value={"in_process": {}}),
    requirements=_BASE.get_requirements,
    executor_creation_fn=_BASE.executor_creation_fn,
    description="Steps of a run in the run's process (default) or one process per step (multiprocess).",
)


def build_executor(settings: Settings) -> dg.ExecutorDefinition:
    if settings.executor == "celery":
        from dagster_celery import celery_executor

        return celery_executor.configured(
            {"broker": settings.celery_broker, "backend": settings.celery_backend}
        )
    return steps_in_run_process
