"""Jobs of the 'mast' group: one instrument's MAST inventory and observation characteristics.

The job is partitioned by instrument because its assets are (Dagster infers it from the selection).
"""

from __future__ import annotations

import dagster as dg

mast_partitioned_job = dg.define_asset_job(
    "mast_partitioned_job",
    selection=dg.AssetSelection.assets("mast_inventory", "filesystem_characteristics"),
    description="MAST inventory and observation characteristics of one instrument.",
)

defs = dg.Definitions(jobs=[mast_partitioned_job])
