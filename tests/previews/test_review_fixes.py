"""Review fixes of the preview path: partial integration sets, interrupted pools, inline-preview policy."""

from __future__ import annotations

import time
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from tests.previews.fitsmaker import write_fits


def test_a_file_that_fails_after_integration_0_is_not_taken_as_up_to_date(tmp_path: Path, monkeypatch) -> None:
    """A render that dies part-way (OOM, kill, unreadable later integration) must be retried, not skipped."""
    from jwql_dagster.previews.worker import RenderTask, run_task
    from jwql_dagster.previews.assets import SourceFile, plan_partition
    from jwql_dagster.previews import fits_io

    fits_path = write_fits(tmp_path / "arch" / "jw01068001001_02102_00001_nrca1_rateints.fits", "nrca1", "rateints",
                           nints=25)
    real_frame = fits_io.ScienceFile.frame

    def failing_frame(self, i=0):
        if i >= 10:
            raise fits_io.FitsReadError(self.path, "cannot read the SCI data (simulated)")
        return real_frame(self, i)

    monkeypatch.setattr(fits_io.ScienceFile, "frame", failing_frame)
    prev, thumb = tmp_path / "prev", tmp_path / "thumb"
    outcome = run_task(RenderTask("file", fits_path.name, [str(fits_path)], str(prev), None))
    assert not outcome.ok
    src = SourceFile(fits_path.name, str(fits_path), "public", fits_path.stat().st_mtime_ns, "rateints", {})
    plan = plan_partition([src], "nircam", prev, thumb, overwrite=False)
    assert plan.skipped == [] and [t.name for t in plan.tasks] == [fits_path.name]


def test_render_array_writes_integration_0_last(tmp_path: Path) -> None:
    """integ0 is the marker of a complete set: it appears only once every other integration is written."""
    from jwql_dagster.previews.render import render_array

    order: list[str] = []

    def frame(i: int) -> np.ndarray:
        order.append(sorted(p.name for p in (tmp_path / "p").glob("*.jpg")) if (tmp_path / "p").exists() else [])
        return np.full((20, 20), float(i), np.float32)

    res = render_array(frame, None, "x", tmp_path / "p", tmp_path / "t", nints=25)
    assert [p.name for p in res.previews] == ["x_integ0.jpg", "x_integ10.jpg", "x_integ20.jpg"]
    assert res.integrations == [0, 10, 20] and res.limits == [(0.0, 0.0), (10.0, 10.0), (20.0, 20.0)]
    assert [p.name for p in res.thumbnails] == ["x_integ0.thumb"]
    assert all("x_integ0.jpg" not in seen for seen in order)
    assert all(p.is_file() for p in res.previews + res.thumbnails)


def test_closing_the_pool_early_does_not_render_every_queued_file(tmp_path: Path) -> None:
    """A terminated run (interrupt inside the generator) must not wait for all queued files to render."""
    from jwql_dagster.previews.worker import RenderTask
    from jwql_dagster.previews.assets import execute_tasks
    from tests.previews.review_helpers import slow_marker

    tasks = [RenderTask("file", f"f{i:02d}", [f"/x/f{i:02d}.fits"], str(tmp_path), None) for i in range(16)]
    gen = execute_tasks(tasks, 2, fn=slow_marker)
    next(gen)
    start = time.perf_counter()
    gen.close()
    elapsed = time.perf_counter() - start
    ran = len(list(tmp_path.glob("*.ran")))
    assert ran < 10, f"{ran} of 16 tasks ran after the generator was closed"
    assert elapsed < 3.0


def _proposal_resources(jwql_env, sqlite_db, area: str, program: str) -> dict:
    """Resources for one rendered rate file of ``program`` in archive ``area``, inline policy 'public'."""
    from jwql_dagster.previews.render import render_file
    from jwql_dagster.resources import build_resources
    from jwql_dagster.options import JwqlOptions

    fits_path = write_fits(jwql_env.filesystem / area / program / f"{program}001001"
                           / f"{program}001001_02102_00001_nrca1_rate.fits", "nrca1", "rate")
    render_file(fits_path, jwql_env.preview_root / program, jwql_env.thumbnail_root / program)
    resources = build_resources(jwql_env)
    resources["db"] = sqlite_db
    resources["options"] = JwqlOptions(preview_workers=1, inline_previews="public")
    return resources


def _proposal_metadata(resources: dict, program: str):
    from jwql_dagster.previews.assets import proposal_thumbnail

    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("program", [program])
        result = dg.materialize([proposal_thumbnail], partition_key=program, resources=resources, instance=instance)
        assert result.success
        return result.asset_materializations_for_node("proposal_thumbnail")[0].metadata


def test_proposal_thumbnail_not_inlined_when_the_archive_is_not_visible(jwql_env, sqlite_db) -> None:
    """JWQL_INLINE_PREVIEWS=public must fail closed: an unmounted archive does not make a program public."""
    from jwql_dagster.archive.resources import ArchiveFilesystem

    program = "jw03000"
    resources = _proposal_resources(jwql_env, sqlite_db, "proprietary", program)
    assert "thumbnail" not in _proposal_metadata(resources, program)  # mounted: proprietary, not shown
    fields = {k: getattr(resources["archive"], k) for k in ArchiveFilesystem.model_fields}
    unmounted = dict(resources, archive=ArchiveFilesystem(
        **{**fields, "filesystem": str(jwql_env.filesystem.parent / "not-mounted")}))
    m = _proposal_metadata(unmounted, program)
    assert m["made"].value is True
    assert "thumbnail" not in m  # archive not visible: the program's area is unknown, so no inline image


def test_proposal_thumbnail_of_a_public_program_is_inlined(jwql_env, sqlite_db) -> None:
    program = "jw03001"
    resources = _proposal_resources(jwql_env, sqlite_db, "public", program)
    assert "thumbnail" in _proposal_metadata(resources, program)
