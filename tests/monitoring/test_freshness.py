"""Freshness checks judge each partition: a stale or missing instrument cannot hide behind fresh ones."""

from datetime import timedelta

import dagster as dg

from jwql_dagster.monitoring.freshness import FRESHNESS_CHECK, FreshnessRule, judge_freshness

from .dagster_fixtures import execute


def _evaluations(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.event_specific_data.asset_key.to_user_string(): e.event_specific_data
            for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}


def test_judge_freshness_per_partition():
    rule = FreshnessRule("mast_inventory", timedelta(hours=26), "daily")
    ages = {"fgs": 3600.0, "miri": 30 * 3600.0, "nircam": None, "niriss": 60.0}
    passed, stale = judge_freshness(rule, ages)
    assert not passed and stale == ["miri: last materialized 30.0h ago", "nircam: never materialized"]
    assert judge_freshness(rule, {"": 25 * 3600.0}) == (True, [])


def test_partitioned_asset_check_names_the_missing_partition(jwql_env, sqlite_db, monkeypatch):
    monkeypatch.setenv("JWQL_DATABASE_URL", sqlite_db.url)
    with dg.instance_for_test() as inst:
        for instrument in ("miri", "nircam", "niriss", "nirspec"):
            assert execute("gamma_job", inst, tags={"dagster/partition": instrument}).success
        first = _evaluations(execute("freshness_job", inst))
        assert first["mast_inventory"].check_name == FRESHNESS_CHECK
        assert not first["mast_inventory"].passed and first["mast_inventory"].description == "Stale: fgs: never materialized"
        assert first["mast_inventory"].severity == dg.AssetCheckSeverity.WARN
        assert not first["monitor_status"].passed  # scheduled hourly, never run
        assert first["filesystem_snapshot"].passed and "not defined" in first["filesystem_snapshot"].description

        assert execute("gamma_job", inst, tags={"dagster/partition": "fgs"}).success
        second = _evaluations(execute("freshness_job", inst))
        assert second["mast_inventory"].passed and second["mast_inventory"].description == "5 partition(s) fresh"
