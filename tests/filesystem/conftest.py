"""Fixtures of the filesystem tests: a tiny archive, and a JWQL home whose central store holds it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.filesystem.tree import build_archive


@pytest.fixture
def archive_tree(tmp_path: Path) -> Path:
    """An archive with every name kind; no links (tests add their own traps)."""
    return build_archive(tmp_path / "archive")


@pytest.fixture
def fs_home(jwql_env):
    """Settings of a fresh JWQL_HOME whose archive (nested in the central store) holds ARCHIVE_FILES."""
    build_archive(jwql_env.filesystem)
    return jwql_env
