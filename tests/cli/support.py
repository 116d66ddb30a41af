"""Running the installed `jwql-dagster` command as a user would (shared by the tests/cli modules)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CLI = str(Path(sys.executable).with_name("jwql-dagster"))


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=600)


def user_env(tmp_path: Path, archive: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JWQL_", "DAGSTER_"))}
    env.update(JWQL_HOME=str(tmp_path / "home"), JWQL_FILESYSTEM=str(archive))
    return env
