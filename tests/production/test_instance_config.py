"""The default dagster.yaml of a local (`dagster dev`) instance: recovers from dead workers, never overrides the user."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jwql_dagster.instance_config import BEGIN, END, ensure_instance_config, machine_run_limit


def load(home: Path):
    import dagster as dg

    return dg.DagsterInstance.from_config(str(home))


def test_fresh_instance_gets_recovery_settings_dagster_accepts(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    sections = ensure_instance_config(home)
    assert {"run_monitoring", "run_retries", "concurrency", "telemetry", "nux"} <= set(sections)
    with load(home) as instance:
        assert type(instance.run_storage).__name__ == "SqliteRunStorage"  # storage stays dagster dev's default
        # a dead run's pool slots come back and its queued successors start: the monitoring daemon runs
        assert instance.run_monitoring_enabled and "MONITORING" in instance.get_required_daemon_types()
        assert 0 < instance.run_monitoring_settings["free_slots_after_run_end_seconds"] <= 60
        assert instance.run_monitoring_start_timeout_seconds > 0
        assert instance.run_monitoring_max_runtime_seconds >= 3600  # no run stays in progress forever
        assert instance.run_retries_enabled and instance.run_retries_max_retries >= 2
        assert instance.get_settings("run_retries")["retry_on_asset_or_op_failure"] is True
        assert "EVENT_LOG_CONSUMER" in instance.get_required_daemon_types()  # the daemon that retries
        config = instance.get_concurrency_config()
        assert config.run_queue_config.max_concurrent_runs == machine_run_limit()
        assert config.pool_config.default_pool_limit == 2
        assert not instance.telemetry_enabled and not instance.nux_enabled
        # a queued run starts within a second, not Dagster's default five (issue 17: a no-op run in <= 3 s)
        assert instance.run_coordinator.dequeue_interval_seconds == 1


def test_second_call_changes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    ensure_instance_config(home)
    path = home / "dagster.yaml"
    before = path.read_bytes()
    os.utime(path, (1_000_000, 1_000_000))
    ensure_instance_config(home)
    assert path.read_bytes() == before
    assert path.stat().st_mtime == 1_000_000, "an unchanged file was rewritten"
    assert before.count(BEGIN.encode()) == 1 and before.count(END.encode()) == 1


def test_users_settings_and_comments_win(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    user = ("# my instance\n"
            "run_retries:\n  enabled: false\n"
            "run_queue:\n  max_concurrent_runs: 1\n"
            "telemetry:\n  enabled: true\n")
    (home / "dagster.yaml").write_text(user)
    sections = ensure_instance_config(home)
    text = (home / "dagster.yaml").read_text()
    assert text.startswith(user), "the user's part of the file was changed"
    assert "run_retries" not in sections and "telemetry" not in sections
    with load(home) as instance:
        assert not instance.run_retries_enabled
        assert instance.telemetry_enabled
        # the user's run_queue limit stays; our concurrency section would conflict with it and is left out
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 1
        assert instance.run_monitoring_enabled


def test_section_the_user_adds_later_replaces_ours(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    ensure_instance_config(home, max_runs=3)
    path = home / "dagster.yaml"
    path.write_text("nux:\n  enabled: true\n" + path.read_text())
    sections = ensure_instance_config(home, max_runs=3)
    assert "nux" not in sections
    text = path.read_text()
    assert text.count("nux:") == 1, text  # a duplicate key would make the file ambiguous
    with load(home) as instance:
        assert instance.nux_enabled
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 3


def test_unreadable_file_is_left_alone(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("run_retries: [unclosed\n")
    assert ensure_instance_config(home) == []
    assert (home / "dagster.yaml").read_text() == "run_retries: [unclosed\n"


@pytest.mark.parametrize(("cores", "gib", "expected"), [(2, 24, 2), (16, 8, 4), (1, 1, 2), (8, 64, 8)])
def test_run_limit_fits_cores_and_memory(cores: int, gib: int, expected: int) -> None:
    assert machine_run_limit(cores, gib << 30) == expected
