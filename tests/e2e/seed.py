"""Prepare the browser tests' Dagster instance: `python -m tests.e2e.seed` (env: JWQL_HOME, DAGSTER_HOME, ...).

Runs in a child process so the settings come from the e2e environment, not from the
pytest process. It materializes ``archive_files`` for every program x instrument cell of
the synthetic archive: the file inventory a running deployment already has. That way the
first tick of ``new_fits_files`` finds no backlog (with an empty cursor it requests every
cell without an ``archive_files`` materialization), and the run the sensor test sees is
caused by the file it adds, not by the initial catch-up. ``preview_images`` stays missing
everywhere, so the UI test still has missing partitions to materialize.
"""

from __future__ import annotations

import json
import sys

import dagster as dg

from jwql_dagster.archive.assets import archive_files
from jwql_dagster.config import load_settings
from jwql_dagster.demo.synthetic import TRUTH_FILENAME
from jwql_dagster.partitions import program_instrument_key
from tests.plugins.resources import make_resources


def main() -> int:
    settings = load_settings()
    truth = json.loads((settings.filesystem / TRUTH_FILENAME).read_text())
    instance = dg.DagsterInstance.get()
    known = set(instance.get_dynamic_partitions("program"))
    missing = sorted({p["program"] for p in truth["programs"]} - known)
    if missing:
        print(f"seed: programs not registered (run jwql-dagster register-programs): {missing}", file=sys.stderr)
        return 1
    resources = make_resources(settings)
    for program in truth["programs"]:
        for instrument in sorted(program["instruments"]):
            key = program_instrument_key(program["program"], instrument)
            dg.materialize([archive_files], partition_key=key, instance=instance, resources=resources)
            print(f"seed: archive_files[{key}] materialized")
    return 0


if __name__ == "__main__":
    sys.exit(main())
