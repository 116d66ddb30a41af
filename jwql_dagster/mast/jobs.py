"""Jobs of the 'mast' group: one instrument's MAST inventory and observation characteristics."""

from __future__ import annotations

import dagster as dg

from jwql_dagster.partitions import instrument_partitions

mast_partitioned_job = dg.define_asset_job(
    "mast_partitioned_job",
    selection=dg.AssetSelection.assets("mast_inventory", "filesystem_characteristics"),
    partitions_def=instrument_partitions,
    description="MAST inventory and observation characteristics of one instrument.",
)

defs = dg.Definitions(jobs=[mast_partitioned_job])
