"""How old each scheduled asset may be before its freshness check warns, and the verdict (no Dagster here).

The checks in checks.py read partition ages from the Dagster instance and hand them to
``judge_freshness``; the job in jobs.py selects one check per rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from jwql_dagster.monitoring.status import format_duration

FRESHNESS_CHECK = "freshness"


@dataclass(frozen=True)
class FreshnessRule:
    asset: str
    max_age: timedelta
    schedule: str


# Scheduled assets and how old their newest materialization may be (cadence + grace for queueing and run time).
FRESHNESS_RULES = (
    FreshnessRule("filesystem_snapshot", timedelta(hours=26), "daily"),
    FreshnessRule("filesystem_plots", timedelta(hours=26), "daily"),
    FreshnessRule("mast_inventory", timedelta(hours=26), "daily"),
    FreshnessRule("jwst_inventory", timedelta(hours=26), "daily"),
    FreshnessRule("filesystem_characteristics", timedelta(hours=26), "daily"),
    FreshnessRule("monitor_status", timedelta(hours=2), "hourly"),
    FreshnessRule("monitor_status_table", timedelta(hours=2), "hourly"),
)


def judge_freshness(rule: FreshnessRule, ages: dict[str, float | None]) -> tuple[bool, list[str]]:
    """(passed, stale descriptions): every partition must be younger than the rule's max age."""
    limit = rule.max_age.total_seconds()
    stale = []
    for p, age in sorted(ages.items()):
        label = f"{p}: " if p else ""
        if age is None:
            stale.append(f"{label}never materialized")
        elif age > limit:
            stale.append(f"{label}last materialized {format_duration(age)} ago")
    return not stale, stale
