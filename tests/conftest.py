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
