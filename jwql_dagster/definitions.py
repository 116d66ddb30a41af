"""The one Definitions object of the jwql code location.

Each asset group, sensor and schedule module exposes its own ``defs``; this module
merges them and adds the resources and executor resolved from config.py. It loads
with nothing configured: every setting has a default.
"""

from __future__ import annotations

import importlib

import dagster as dg

from jwql_dagster.config import load_settings
from jwql_dagster.executors import build_executor
from jwql_dagster.resources import build_resources

GROUP_MODULES = (
    "jwql_dagster.archive.assets",
    "jwql_dagster.previews.assets",
    "jwql_dagster.filesystem.assets",
    "jwql_dagster.mast.assets",
    "jwql_dagster.monitoring.assets",
    "jwql_dagster.failures.assets",
    "jwql_dagster.archive.sensors",
    "jwql_dagster.previews.sensors",
    "jwql_dagster.monitoring.sensors",
    "jwql_dagster.previews.schedules",
    "jwql_dagster.filesystem.schedules",
    "jwql_dagster.mast.schedules",
    "jwql_dagster.monitoring.schedules",
)


def build_definitions() -> dg.Definitions:
    settings = load_settings()
    parts = [importlib.import_module(name).defs for name in GROUP_MODULES]
    return dg.Definitions.merge(
        *parts,
        dg.Definitions(resources=build_resources(settings), executor=build_executor(settings)),
    )


defs = build_definitions()
