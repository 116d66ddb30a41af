"""Worker pool and temp-file hygiene of the preview runs."""

from __future__ import annotations

from pathlib import Path


def test_stale_temp_files_are_swept_young_ones_kept(tmp_path: Path) -> None:
    import os
    import time

    from jwql_dagster.previews.assets import sweep_stale_temp

    old = tmp_path / ".tmp-old-abc.jpg"
    young = tmp_path / ".tmp-young-def.jpg"
    product = tmp_path / "x_integ0.jpg"
    for p in (old, young, product):
        p.write_bytes(b"x")
    past = time.time() - 7200
    os.utime(old, (past, past))
    os.utime(product, (past, past))
    assert sweep_stale_temp(tmp_path) == 1
    assert not old.exists() and young.exists() and product.exists()


def test_a_dying_worker_fails_only_its_own_file() -> None:
    from jwql_dagster.previews.worker import RenderTask
    from jwql_dagster.previews.assets import execute_tasks
    from tests.previews.crashy import crash_or_succeed

    names = ["a", "b", "crash", "c", "d"]
    tasks = [RenderTask("file", n, [f"/x/{n}.fits"], "/tmp/p", None) for n in names]
    outcomes = {o.name: o for o in execute_tasks(tasks, 2, fn=crash_or_succeed)}
    assert set(outcomes) == set(names)
    assert [n for n, o in outcomes.items() if not o.ok] == ["crash"]
    assert outcomes["crash"].error_type == "WorkerDied"
