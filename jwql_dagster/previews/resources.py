"""Resource 'render_pool': starts the render pool's fork server when a run that renders begins.

A run of ``preview_partition_job`` first inventories its cells (``archive_files``), then
renders them. Dagster initializes a run's resources before its first step, so the fork
server that the renderer's processes come from (previews/pool.py) imports numpy, astropy and
the renderer while ``archive_files`` reads headers, instead of after it. Only runs of a step
that renders ask for this resource; the MAST and filesystem monitors never start a fork server.
"""

from __future__ import annotations

import dagster as dg

from jwql_dagster.previews.pool import warm_up


class RenderPool(dg.ConfigurableResource):
    """The render processes of a run (``JWQL_PREVIEW_WORKERS``): their fork server starts with the run."""

    workers: int = 1

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        warm_up(self.workers)
