"""Dagster resources, built from the resolved settings of config.py."""

from __future__ import annotations

import os
from typing import Any

import dagster as dg

from jwql_dagster.config import Settings
from jwql_dagster.archive.resources import ArchiveFilesystem
from jwql_dagster.db.resources import JwqlDatabase
from jwql_dagster.mast.resources import MastService
from jwql_dagster.options import JwqlOptions
from jwql_dagster.previews.resources import RenderPool

__all__ = ["ArchiveFilesystem", "JwqlDatabase", "MastService", "JwqlOptions", "RenderPool", "build_resources",
           "secret_value"]


def secret_value(var: str, value: str) -> dg.EnvVar:
    """``value`` as ``dg.EnvVar(var)``: resolved when a run starts, so it never enters the definitions snapshot.

    A plain string in a resource's configuration is stored in the snapshot that the UI shows
    (Resources tab, run config defaults) and that run storage keeps; an EnvVar shows only its
    name. A value read from the JWQL_CONFIG file is exported to this process's environment
    first; every process that loads the definitions (code server, run workers) resolves the same
    settings, so the variable holds the same value wherever the EnvVar is read.
    """
    if os.environ.get(var) != value:
        os.environ[var] = value
    return dg.EnvVar(var)


def build_resources(settings: Settings) -> dict[str, Any]:
    """Resource instances keyed as assets expect them: archive, db, mast, options, render_pool."""
    # Secrets (the MAST token, a database URL holding a password) reach the resources as EnvVars.
    token: Any = secret_value("MAST_API_TOKEN", settings.mast_api_token) if settings.mast_api_token else None
    db_url: Any = settings.database_url
    # A URL's password can only stand before an '@' (scheme://user:password@host), so a URL without one
    # holds none. One with an '@' goes as an EnvVar unparsed: parsing it (config.mask_url) would load
    # SQLAlchemy in every process that loads the code location (issue 17.2).
    if "@" in db_url:
        db_url = secret_value("JWQL_DATABASE_URL", db_url)
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
        "db": JwqlDatabase(url=db_url),
        "mast": MastService(url=settings.mast_api_url, token=token, query_timeout_s=settings.mast_timeout_s,
                            timeout_s=settings.mast_attempt_timeout_s),
        "options": JwqlOptions(
            preview_workers=settings.preview_workers,
            max_failure_rate=settings.max_failure_rate,
            inline_previews=settings.inline_previews,
            sensor_settle_seconds=settings.sensor_settle_seconds,
            sensor_max_files_per_tick=settings.sensor_max_files_per_tick,
            sensor_interval_seconds=settings.sensor_interval_seconds,
        ),
        "render_pool": RenderPool(workers=settings.preview_workers),
    }
