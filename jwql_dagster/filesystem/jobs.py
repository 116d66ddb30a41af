"""Jobs of the filesystem group; its schedule imports this module, never the asset module."""

import dagster as dg

# Selected by key, so this module needs no asset definition.
filesystem_job = dg.define_asset_job(
    "filesystem_job",
    selection=dg.AssetSelection.assets("filesystem_snapshot", "filesystem_plots"),
    description="Scan the archive and central storage, store a snapshot, redraw the history plots.",
)
