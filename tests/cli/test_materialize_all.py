"""materialize-all's plan: the asset graph's own order, partitioned work first, run-history summaries last and alone."""

import dagster as dg

from jwql_dagster.cli.materialize_all import plan_batches

PARTS = dg.StaticPartitionsDefinition(["a", "b"])


@dg.asset(group_name="work", partitions_def=PARTS)
def raw() -> None: ...


@dg.asset(group_name="work", partitions_def=PARTS, deps=[raw])
def derived() -> None: ...


@dg.asset(group_name="work", deps=[derived])
def summary() -> None: ...


@dg.asset(group_name="monitoring")
def monitor_status() -> None: ...


@dg.asset(group_name="monitoring", deps=[monitor_status])
def monitor_status_table() -> None: ...


@dg.asset(group_name="work")
def inventory() -> None: ...


def test_batches_follow_the_graph_and_put_history_summaries_last():
    graph = dg.Definitions(assets=[raw, derived, summary, monitor_status, monitor_status_table, inventory]).resolve_asset_graph()
    batches = plan_batches(graph, set(graph.materializable_asset_keys))
    labels = [b.label for b in batches]
    # parents before children within a batch; the unpartitioned summary after the partitions it reads;
    # the monitoring group after every other run, never in a run with them (it reads their finished runs)
    assert labels == ["raw, derived", "inventory, summary", "monitor_status, monitor_status_table"]
    assert batches[0].partitions_def == PARTS and batches[1].partitions_def is None


def test_a_selection_plans_only_its_assets():
    graph = dg.Definitions(assets=[raw, derived, summary, monitor_status, monitor_status_table, inventory]).resolve_asset_graph()
    batches = plan_batches(graph, {derived.key, monitor_status.key})
    assert [b.label for b in batches] == ["derived", "monitor_status"]
