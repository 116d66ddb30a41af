"""The mast_daily schedule (mast/schedules.py) and the job it runs (mast/jobs.py)."""

from __future__ import annotations

from datetime import datetime, timezone

import dagster as dg

from jwql_dagster.archive.layout import INSTRUMENTS
from tests.plugins.resources import make_resources


def test_mast_daily_schedule_requests_every_instrument_and_is_off_by_default():
    from jwql_dagster.mast.schedules import mast_daily

    assert mast_daily.default_status == dg.DefaultScheduleStatus.STOPPED
    ctx = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 1, 2, 4, 30, tzinfo=timezone.utc))
    requests = list(mast_daily(ctx))
    assert sorted(r.partition_key for r in requests) == sorted(INSTRUMENTS)
    assert len({r.run_key for r in requests}) == 5
    from jwql_dagster.mast import assets as assets_mast
    from jwql_dagster.mast import schedules as schedules_mast

    defs = dg.Definitions.merge(assets_mast.defs, schedules_mast.defs, dg.Definitions(resources=make_resources()))
    job = defs.resolve_job_def(mast_daily.job_name)
    assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} == {"mast_inventory", "filesystem_characteristics"}


def test_schedule_loads_its_job_without_the_asset_module():
    """Schedules import jobs modules, never asset modules (the import rule of the package)."""
    import subprocess
    import sys

    code = ("import sys, jwql_dagster.mast.schedules as s; "
            "assert s.mast_daily.job_name == 'mast_partitioned_job'; "
            "print('jwql_dagster.mast.assets' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
