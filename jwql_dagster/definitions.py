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
    "jwql_dagster.assets.archive_files",
    "jwql_dagster.assets.previews",
    "jwql_dagster.assets.filesystem",
    "jwql_dagster.assets.mast",
    "jwql_dagster.assets.monitoring",
    "jwql_dagster.sensors.new_fits_files",
    "jwql_dagster.sensors.program_products",
    "jwql_dagster.sensors.run_failures",
    "jwql_dagster.schedules.previews",
    "jwql_dagster.schedules.filesystem",
    "jwql_dagster.schedules.mast",
    "jwql_dagster.schedules.monitoring",
)


def build_definitions() -> dg.Definitions:
    settings = load_settings()
    parts = [importlib.import_module(name).defs for name in GROUP_MODULES]
    return dg.Definitions.merge(
        *parts,
        dg.Definitions(resources=build_resources(settings), executor=build_executor(settings)),
    )


defs = build_definitions()
