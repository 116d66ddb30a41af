"""Jobs of the previews group, by asset key, so sensors and schedules import no asset module.

Each job is partitioned as its assets are (Dagster infers it from the selection, as for preview_rerender_job).
"""

from __future__ import annotations

import dagster as dg

ARCHIVE_FILES = dg.AssetKey("archive_files")
PREVIEW_IMAGES = dg.AssetKey("preview_images")
THUMBNAILS = dg.AssetKey("thumbnails")
PROPOSAL_THUMBNAIL = dg.AssetKey("proposal_thumbnail")
PREVIEW_GALLERY = dg.AssetKey("preview_gallery")
#: Metadata of a preview run's thumbnails: programs whose proposal thumbnail and gallery were up to date (not remade).
PRODUCTS_CURRENT = "program_products_current"

preview_partition_job = dg.define_asset_job(
    "preview_partition_job",
    selection=dg.AssetSelection.assets(ARCHIVE_FILES, PREVIEW_IMAGES, THUMBNAILS),
    description="Inventory and previews of one program x instrument partition.",
)

program_products_job = dg.define_asset_job(
    "program_products_job",
    selection=dg.AssetSelection.assets(PROPOSAL_THUMBNAIL, PREVIEW_GALLERY),
    description="Proposal thumbnail and preview gallery of one program.",
)

preview_cells_job = dg.define_asset_job(
    "preview_cells_job",
    selection=dg.AssetSelection.assets(PREVIEW_IMAGES, THUMBNAILS),
    description=("Previews of one cell, or of a range of cells in one run (the daily rescan): the files the "
                 "inventory already knows, re-checked for in-place rewrites."),
)

RERENDER_CONFIG = {"ops": {"preview_assets": {"config": {"overwrite": True}}}}

preview_rerender_job = dg.define_asset_job(
    "preview_rerender_job",
    selection=dg.AssetSelection.assets(PREVIEW_IMAGES, THUMBNAILS),
    config=RERENDER_CONFIG,
    description=("Render the previews and thumbnails of the chosen partitions again, even those up to date "
                 "(overwrite: true is this job's default run config, so the Launchpad needs no typing): "
                 "after a change to the rendering, or after restoring a file with an older mtime."),
)
