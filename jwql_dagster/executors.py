"""The run executor chosen by JWQL_EXECUTOR: multiprocess (default) or celery."""

from __future__ import annotations

import dagster as dg

from jwql_dagster.config import Settings


def build_executor(settings: Settings) -> dg.ExecutorDefinition:
    if settings.executor == "celery":
        from dagster_celery import celery_executor

        return celery_executor.configured(
            {"broker": settings.celery_broker, "backend": settings.celery_backend}
        )
    return dg.multiprocess_executor
