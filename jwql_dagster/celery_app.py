"""The Celery app that jwql-dagster workers run (``celery -A jwql_dagster.celery_app worker -Q dagster``).

It is dagster-celery's step-execution task bound to the broker and result backend of
config.py (JWQL_CELERY_BROKER / JWQL_CELERY_BACKEND), so workers and the executor
selected by ``JWQL_EXECUTOR=celery`` always talk to the same queue.
"""

from __future__ import annotations

from dagster_celery.executor import CeleryExecutor
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

from jwql_dagster.config import load_settings

_settings = load_settings()
app = make_app(
    CeleryExecutor.for_cli(broker=_settings.celery_broker, backend=_settings.celery_backend).app_args()
)
execute_plan = create_task(app)
