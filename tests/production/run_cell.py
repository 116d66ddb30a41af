"""``python -m tests.production.run_cell KEY...``: run ``preview_partition_job`` for each program x
instrument key in this process, on the instance at DAGSTER_HOME, and print one JSON line per key.
``--stale`` prints instead the cells the daily rescan (``previews_daily_rescan``) would run.

A child process, so the settings (JWQL_* roots) come from the test's environment and not from
whatever the pytest process imported before.
"""

from __future__ import annotations

import json
import sys

import dagster as dg


def stale() -> int:
    from jwql_dagster.previews.schedules import stale_cells
    from tests.plugins.resources import make_resources

    archive = make_resources()["archive"]
    with dg.DagsterInstance.get() as instance:
        cells = stale_cells(archive, list(instance.get_dynamic_partitions("program")))
    print(json.dumps({"stale": [f"{instrument}|{program}" for program, instrument in cells]}), flush=True)
    return 0


def main(keys: list[str]) -> int:
    if keys == ["--stale"]:
        return stale()
    from jwql_dagster.definitions import defs
    from jwql_dagster.partitions import split_program_instrument

    job = defs.resolve_job_def("preview_partition_job")
    with dg.DagsterInstance.get() as instance:
        for key in keys:
            program, _ = split_program_instrument(key)
            if program not in instance.get_dynamic_partitions("program"):
                instance.add_dynamic_partitions("program", [program])
            result = job.execute_in_process(partition_key=key, instance=instance, raise_on_error=False)
            errors = [e.event_specific_data.error.message.strip()
                      for e in result.all_events if e.is_step_failure and e.event_specific_data.error]
            run = instance.get_run_by_id(result.run_id)
            print(json.dumps({"key": key, "success": result.success, "status": run.status.value,
                              "run_id": result.run_id, "errors": errors}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
