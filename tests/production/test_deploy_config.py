"""deploy/dagster.yaml is a working production instance configuration, not just an example."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.postgres
REPO = Path(__file__).resolve().parents[2]


def test_deploy_instance_config_loads_on_postgres(tmp_path: Path, pg_instance_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import dagster as dg

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    for key, value in {"DAGSTER_HOME": str(home), "DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": "5432",
                       "DAGSTER_PG_USER": "postgres", "DAGSTER_PG_PASSWORD": "", "DAGSTER_PG_DB": pg_instance_db}.items():
        monkeypatch.setenv(key, value)
    instance = dg.DagsterInstance.get()
    try:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert instance.run_coordinator.dequeue_interval_seconds == 1  # queued runs start within a second
        run_cfg = instance.get_concurrency_config().run_queue_config
        assert run_cfg.max_concurrent_runs == 4
        assert {"key": "dagster/partition/instrument", "value": {"applyLimitPerUniqueValue": True}, "limit": 2} in run_cfg.tag_concurrency_limits
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 2
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
        assert instance.get_settings("run_retries")["retry_on_asset_or_op_failure"] is True
        # Recovery from killed workers: the monitoring daemon runs and frees slots of ended runs.
        assert instance.run_monitoring_enabled
        assert "MONITORING" in instance.get_required_daemon_types()
        assert 0 < instance.run_monitoring_settings["free_slots_after_run_end_seconds"] <= 60
        assert 0 < instance.run_monitoring_poll_interval_seconds <= 60
        assert instance.run_monitoring_max_runtime_seconds >= 3600  # no run stays in progress forever
        assert instance.run_coordinator.get_run_queue_config().max_user_code_failure_retries > 0
        assert not instance.nux_enabled and not instance.telemetry_enabled
    finally:
        instance.dispose()


def test_every_database_writing_asset_uses_the_db_pool() -> None:
    """Assets that write the jwql database declare a pool (db, or render for the preview step) so
    dagster.yaml's pool limit bounds concurrent writers."""
    from jwql_dagster.definitions import defs

    writers = {"archive_files", "preview_images", "thumbnails", "filesystem_snapshot", "mast_inventory",
               "filesystem_characteristics", "monitor_status"}
    graph = defs.resolve_asset_graph()
    found = {}
    for key in graph.get_all_asset_keys():
        name = key.to_user_string()
        if name in writers:
            node = graph.get(key)
            found[name] = node.pools if hasattr(node, "pools") else None
    assert set(found) == writers, f"missing writer assets: {writers - set(found)}"
    # The preview step renders on every core and writes only failure rows: it has its own 'render'
    # pool (issue 17), bounded by the same default limit, so the db pool of two no longer throttles rendering.
    renderers = {"preview_images", "thumbnails"}
    for name, pools in found.items():
        wanted = "render" if name in renderers else "db"
        assert pools and wanted in pools, f"{name} does not use the {wanted} pool ({pools})"
