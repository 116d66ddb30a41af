"""The code location loads with nothing configured and validates with Dagster's own loader."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg


def test_definitions_load_and_validate() -> None:
    from jwql_dagster.definitions import defs

    dg.Definitions.validate_loadable(defs)
    assert set(defs.resources) >= {"archive", "db", "mast", "options"}


def test_dagster_cli_validates_code_location(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JWQL_")}
    env["JWQL_HOME"] = str(tmp_path)  # nothing configured, nothing exists yet
    env["DAGSTER_HOME"] = str(tmp_path)
    dagster = Path(sys.executable).with_name("dagster")
    out = subprocess.run([str(dagster), "definitions", "validate", "-m", "jwql_dagster.definitions"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Validation successful" in out.stdout + out.stderr


def test_cli_lists_every_contract_command() -> None:
    cli = Path(sys.executable).with_name("jwql-dagster")
    out = subprocess.run([str(cli), "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    for name in ["make-archive", "register-programs", "materialize-all", "fake-mast", "make-legacy-logs", "doctor"]:
        assert name in out.stdout
