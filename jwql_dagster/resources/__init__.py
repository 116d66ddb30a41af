"""Dagster resources, built from the resolved settings of config.py."""

from __future__ import annotations

import os
from typing import Any

import dagster as dg

from jwql_dagster.config import Settings
from jwql_dagster.resources.archive import ArchiveFilesystem
from jwql_dagster.resources.database import JwqlDatabase
from jwql_dagster.resources.mast import MastService
from jwql_dagster.resources.options import JwqlOptions

__all__ = ["ArchiveFilesystem", "JwqlDatabase", "MastService", "JwqlOptions", "build_resources"]


def build_resources(settings: Settings) -> dict[str, Any]:
    """Resource instances keyed as assets expect them: archive, db, mast, options."""
    # The token is read at launch time through EnvVar when it comes from the environment,
    # so it never lands in the definitions snapshot; a token from config.json is passed as is.
    token: Any = None
    if os.environ.get("MAST_API_TOKEN"):
        token = dg.EnvVar("MAST_API_TOKEN")
    elif settings.mast_api_token:
        token = settings.mast_api_token
    return {
        "archive": ArchiveFilesystem(
            filesystem=str(settings.filesystem),
            preview_root=str(settings.preview_root),
            thumbnail_root=str(settings.thumbnail_root),
            output_root=str(settings.output_root),
            working_root=str(settings.working_root),
            log_root=str(settings.log_root),
            central_store=str(settings.central_store),
            dagster_home=str(settings.dagster_home),
        ),
        "db": JwqlDatabase(url=settings.database_url),
        "mast": MastService(url=settings.mast_api_url, token=token),
        "options": JwqlOptions(
            preview_workers=settings.preview_workers,
            max_failure_rate=settings.max_failure_rate,
            inline_previews=settings.inline_previews,
            sensor_settle_seconds=settings.sensor_settle_seconds,
            sensor_max_files_per_tick=settings.sensor_max_files_per_tick,
            sensor_interval_seconds=settings.sensor_interval_seconds,
        ),
    }
