"""Planning a partition run: which files and mosaics to render, which are up to date."""

from __future__ import annotations

from pathlib import Path

from tests.plugins.fits import write_fits


def test_a_file_that_fails_after_integration_0_is_not_taken_as_up_to_date(tmp_path: Path, monkeypatch) -> None:
    """A render that dies part-way (OOM, kill, unreadable later integration) must be retried, not skipped."""
    from jwql_dagster.previews.worker import RenderTask, run_task
    from jwql_dagster.previews.plan import SourceFile, plan_partition
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
