"""Asset checks of the monitoring group: the freshness of every scheduled asset, and the monitor-status verdict.

A freshness check judges each partition on its own (Dagster's freshness policy judges the
asset's newest materialization only, so one fresh partition would hide stale ones).
"""

from datetime import datetime, timezone
from typing import Sequence

import dagster as dg

from jwql_dagster.monitoring.freshness import FRESHNESS_CHECK, FRESHNESS_RULES, FreshnessRule, judge_freshness
from jwql_dagster.monitoring.resources import repository_of
from jwql_dagster.monitoring.plots import markdown_table
from jwql_dagster.monitoring.status import MonitorState, format_duration, problems

STATUS_CHECK = "all_monitors_ok"


def status_check_result(states: Sequence[MonitorState]) -> dg.AssetCheckResult:
    """The ``all_monitors_ok`` result of a monitor_status materialization: WARN naming every monitor needing attention."""
    bad = problems(states)
    names = sorted({s.monitor_name for s in states if not s.ok})
    return dg.AssetCheckResult(
        check_name=STATUS_CHECK,
        passed=not bad,
        severity=dg.AssetCheckSeverity.WARN,
        description=("Monitors needing attention: " + ", ".join(names)) if names else f"All {len(states)} monitors ok",
        metadata={
            "problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in bad) or "none"),
            "monitors": dg.MetadataValue.json(names),
            "needing_attention": dg.MetadataValue.md(markdown_table([s for s in states if not s.ok]) if names else "none"),
        },
    )


def _partitions_to_judge(instance: dg.DagsterInstance, key: dg.AssetKey, partitions_def: dg.PartitionsDefinition) -> list[str]:
    # Static partitions are all expected; dynamic and multi ones only once they have been materialized.
    if isinstance(partitions_def, dg.StaticPartitionsDefinition):
        return list(partitions_def.get_partition_keys())
    return sorted(instance.get_materialized_partitions(key))


def partition_ages(instance: dg.DagsterInstance, key: dg.AssetKey, partitions: Sequence[str], now: datetime) -> dict[str, float | None]:
    """Seconds since the newest materialization of each partition (None: never materialized)."""
    ages: dict[str, float | None] = {}
    for p in partitions:
        res = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, asset_partitions=[p]), limit=1)
        ages[p] = (now.timestamp() - res.records[0].timestamp) if res.records else None
    return ages


def build_freshness_check(rule: FreshnessRule) -> dg.AssetChecksDefinition:
    """A WARN check that fails when the asset, or any of its partitions, is older than its schedule allows."""
    key = dg.AssetKey(rule.asset)

    @dg.asset_check(
        asset=key,
        name=FRESHNESS_CHECK,
        description=f"Materialized within {format_duration(rule.max_age.total_seconds())} ({rule.schedule} schedule), judged per partition",
    )
    def _freshness(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        now = datetime.now(timezone.utc)
        repo = repository_of(context)
        graph = repo.asset_graph if repo is not None else context.job_def.asset_layer.asset_graph
        node = graph.get(key) if graph.has(key) else None
        if node is None or not node.is_materializable:
            return dg.AssetCheckResult(passed=True, severity=dg.AssetCheckSeverity.WARN,
                                       description=f"{rule.asset} is not defined in this code location; nothing to judge")
        partitions: list[str] = _partitions_to_judge(context.instance, key, node.partitions_def) if node.partitions_def else [""]
        if partitions == [""]:
            event = context.instance.get_latest_materialization_event(key)
            ages: dict[str, float | None] = {"": (now.timestamp() - event.timestamp) if event else None}
        else:
            ages = partition_ages(context.instance, key, partitions, now)
        passed, stale = judge_freshness(rule, ages)
        return dg.AssetCheckResult(
            passed=passed,
            severity=dg.AssetCheckSeverity.WARN,
            description=("Stale: " + "; ".join(stale)) if stale else (
                f"{len(ages)} partition(s) fresh" if node.partitions_def else f"Fresh: last materialized {format_duration(ages[''] or 0)} ago"),
            metadata={
                "max_age_hours": dg.MetadataValue.float(rule.max_age.total_seconds() / 3600),
                "partitions_judged": dg.MetadataValue.int(len(ages)),
                "stale": dg.MetadataValue.json(stale),
            },
        )

    return _freshness


freshness_checks = [build_freshness_check(r) for r in FRESHNESS_RULES]
