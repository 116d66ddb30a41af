"""Test-wide set-up: every test session gets its own JWQL_HOME and DAGSTER_HOME, never the user's."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_SESSION_HOME = Path(tempfile.mkdtemp(prefix="jwql-test-home-"))
_CLEARED = [k for k in os.environ if k.startswith(("JWQL_", "DAGSTER_PG_")) and k != "JWQL_TEST_POSTGRES_URL"]
for _k in _CLEARED + ["MAST_API_URL", "MAST_API_TOKEN"]:
    os.environ.pop(_k, None)
os.environ["JWQL_HOME"] = str(_SESSION_HOME)
os.environ["DAGSTER_HOME"] = str(_SESSION_HOME / "dagster_home")
(_SESSION_HOME / "dagster_home").mkdir(parents=True, exist_ok=True)
os.environ["MPLBACKEND"] = "Agg"

pytest_plugins = ["tests.plugins.database", "tests.plugins.archive"]


@pytest.fixture
def jwql_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A fresh JWQL_HOME under tmp_path with every root inside it; returns the resolved Settings."""
    from jwql_dagster.config import load_settings

    home = tmp_path / "jwql_home"
    home.mkdir()
    monkeypatch.setenv("JWQL_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster_home"))
    (home / "dagster_home").mkdir()
    return load_settings()


# The tests `make test` also runs on each other supported Python (`-m compat`); the Makefile says why
# they cover what differs between Python versions. A name that matches no collected test fails the
# `-m compat` run, so renaming a test cannot silently shrink the set.
COMPAT_TESTS = (
    "tests/test_imports.py",  # every module of the package imports (syntax, stdlib, pinned wheels)
    "tests/test_definitions.py",  # the code location loads and validates; `dagster` and our CLI list it
    "tests/cli/test_make_archive.py",  # our CLI end to end: argparse, a synthetic archive written with astropy
    "tests/cli/test_workspace.py",
    "tests/db/test_migrate.py",  # Alembic migrations on SQLite and PostgreSQL, two processes at once
    "tests/db/test_engine.py",
    "tests/db/test_resources.py::test_upsert_twice_leaves_the_same_rows",
    # real Dagster materializations of a partition, rendering through the fork-server pool
    "tests/previews/test_assets.py::test_partition_run_makes_exactly_the_jwql_names",
    "tests/previews/test_pool.py::test_a_run_that_renders_starts_the_fork_server_with_its_resources",
    "tests/previews/test_pool.py::test_kill_minus_9_leaves_no_partial_jpeg",
    "tests/previews/test_pool.py::test_a_dying_worker_fails_only_its_own_file",
    "tests/previews/test_pool.py::test_render_processes_start_with_the_renderer_already_imported",
    # the local run launcher's worker checks (fork-server processes, /proc)
    "tests/test_run_launcher.py::test_a_fork_server_child_counts_as_a_worker_other_processes_do_not",
    "tests/test_run_launcher.py::test_health_follows_the_worker_process",
    # the sensor's tick (cursor, run requests) and the quicklook web app
    "tests/archive/test_sensors.py::test_new_file_in_old_program_and_new_program",
    "tests/web/test_pages.py::test_program_gallery_groups_by_exposure_with_every_preview_and_failure_badges",
)


def _compat_entry(item: pytest.Item) -> str | None:
    for entry in COMPAT_TESTS:
        if item.nodeid == entry or item.nodeid.startswith(entry + "::") or item.nodeid.startswith(entry + "["):
            return entry
    return None


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects anything
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    matched, collected_files = set(), set()
    for item in items:
        collected_files.add(item.nodeid.split("::")[0])
        entry = _compat_entry(item)
        if entry:
            item.add_marker(pytest.mark.compat)
            matched.add(entry)
    if "compat" in (config.getoption("markexpr", "") or ""):
        # an entry fails when its file is gone, or when its file was collected but the test is not in it
        unmatched = [e for e in COMPAT_TESTS if e not in matched and (
            not (config.rootpath / e.split("::")[0]).is_file() or e.split("::")[0] in collected_files)]
        if unmatched:
            raise pytest.UsageError(f"COMPAT_TESTS (tests/conftest.py) names tests that do not exist: {unmatched}")
