"""Jobs of the monitoring group; its schedule imports this module, never the asset module."""

import dagster as dg

from jwql_dagster.monitoring.freshness import FRESHNESS_CHECK, FRESHNESS_RULES

# Selected by key, so this module needs neither the assets nor the checks it runs.
monitor_status_job = dg.define_asset_job(
    "monitor_status_job",
    selection=dg.AssetSelection.assets("monitor_status", "monitor_status_table")
    | dg.AssetSelection.checks(*(dg.AssetCheckKey(dg.AssetKey(r.asset), FRESHNESS_CHECK) for r in FRESHNESS_RULES)),
    description="Monitor status snapshot, status table and freshness checks of every scheduled asset.",
)
