"""kill -9 in the middle of a preview run and of a database snapshot: nothing partial, and the next run completes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from jwql_dagster.db.models import CentralStorage, File, FileFailure, FilesystemGeneral, FilesystemInstrument
from tests.plugins.resources import make_resources
from tests.reliability.conftest import (
    PROGRAM,
    VISIT,
    complete_jpeg,
    good_rate,
    rate_name,
    run_partition,
    run_program_products,
)

ROOT = Path(__file__).resolve().parents[2]

PREVIEW_CHILD = textwrap.dedent("""
    import builtins, os, sys, time
    import dagster as dg

    # Every output write is slowed down in the middle (half the bytes, a pause, the rest), in this
    # process and in pool workers (they import this module as __mp_main__), so kill -9 lands mid-write.
    _open = builtins.open

    class _SlowWriter:
        def __init__(self, fh):
            self._fh = fh
        def write(self, data):
            half = len(data) // 2
            self._fh.write(data[:half])
            self._fh.flush()
            os.write(1, b"mid-write\\n")  # one write: atomic on a pipe, so two workers never interleave
            time.sleep(0.15)
            return half + self._fh.write(data[half:])
        def __getattr__(self, name):
            return getattr(self._fh, name)
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            return self._fh.__exit__(*exc)

    def slow_open(file, mode="r", *args, **kwargs):
        fh = _open(file, mode, *args, **kwargs)
        if ("w" in mode or "+" in mode) and str(file).endswith((".jpg", ".thumb", ".html")):
            return _SlowWriter(fh)
        return fh

    builtins.open = slow_open

    if __name__ == "__main__":
        from jwql_dagster.options import JwqlOptions
        from tests.plugins.resources import make_resources
        from tests.reliability.conftest import run_partition, run_program_products, PROGRAM

        resources = make_resources(options=JwqlOptions(preview_workers=int(sys.argv[1]), max_failure_rate=1.0))
        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions("program", [PROGRAM])
            while True:  # render the partition and its gallery again and again until killed
                run_partition(resources, instance)
                run_program_products(resources, instance)
                for p in (resources["archive"].preview_root, resources["archive"].thumbnail_root):
                    for f in os.scandir(os.path.join(p, PROGRAM)):
                        if not f.name.startswith("."):
                            os.unlink(f.path)  # render everything again
""")



def _visible_outputs(settings) -> list[Path]:
    out = []
    for root in (settings.preview_root, settings.thumbnail_root, settings.output_root):
        out += [p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".tmp-")]
    return out


def _check_complete(paths: list[Path]) -> None:
    for p in paths:
        if p.suffix in (".jpg", ".thumb"):
            assert complete_jpeg(p), f"truncated {p.name}"
        elif p.suffix == ".html":
            assert p.read_text().rstrip().endswith("</html>"), f"truncated {p.name}"
        else:
            pytest.fail(f"unexpected output {p}")


def test_kill_9_during_preview_writing_leaves_no_partial_output(rel_env, tmp_path: Path) -> None:
    workers = 2  # the run process and its pool workers are killed together
    settings, resources, instance = rel_env
    visit = settings.filesystem / "public" / PROGRAM / VISIT
    names = [good_rate(visit / rate_name(e), seed=e, n=256).name for e in range(1, 7)]
    script = tmp_path / "child.py"
    script.write_text(PREVIEW_CHILD)
    env = dict(os.environ, JWQL_HOME=str(settings.home), DAGSTER_HOME=str(settings.dagster_home), MPLBACKEND="Agg",
               JWQL_DATABASE_URL=resources["db"].url, PYTHONPATH=str(ROOT))
    for writes_before_kill in (1, 9):
        proc = subprocess.Popen([sys.executable, str(script), str(workers)], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, env=env, cwd=ROOT, start_new_session=True)
        try:
            # kill -9 the run (and its pool workers: the whole process group) in the middle of a write
            for _ in range(writes_before_kill):
                assert proc.stdout.readline().strip() == b"mid-write"
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        _check_complete(_visible_outputs(settings))

    # the next run completes: every file has its products, one files row each, no failure rows
    result = run_partition(resources, instance)
    run_program_products(resources, instance)
    assert result.success
    for name in names:
        stem = name[: -len(".fits")]
        assert complete_jpeg(settings.preview_root / PROGRAM / f"{stem}_integ0.jpg")
        assert complete_jpeg(settings.thumbnail_root / PROGRAM / f"{stem}_integ0.thumb")
    _check_complete(_visible_outputs(settings))
    with resources["db"].session(readonly=True) as s:
        rows = s.execute(sa.select(File.filename)).scalars().all()
        assert sorted(rows) == sorted(names)
        assert s.scalar(sa.select(sa.func.count()).select_from(FileFailure)) == 0
    gallery = (settings.output_root / "previews" / PROGRAM / "index.html").read_text()
    assert all(n.replace(".fits", "_integ0.jpg") in gallery for n in names)


SNAPSHOT_CHILD = textwrap.dedent("""
    import sys, time
    import dagster as dg
    from jwql_dagster.db.resources import JwqlDatabase
    from jwql_dagster.filesystem.assets import filesystem_snapshot
    from tests.plugins.resources import make_resources

    calls = []
    original = JwqlDatabase.upsert

    def slow_upsert(self, session, model, rows, key, update=None):
        n = original(self, session, model, rows, key, update)
        session.flush()
        calls.append(model.__tablename__)
        if len(calls) == 2:  # general and per-instrument rows written, central storage not yet
            print("between-upserts " + rows[0]["snapshot_id"], flush=True)
            time.sleep(600)
        return n

    if __name__ == "__main__":
        JwqlDatabase.upsert = slow_upsert
        resources = make_resources()
        with dg.instance_for_test() as instance:
            dg.materialize([filesystem_snapshot], resources=resources, instance=instance)
""")


def _snapshot_counts(db, sid: str) -> tuple[int, int, int]:
    with db.session(readonly=True) as s:
        return tuple(
            s.scalar(sa.select(sa.func.count()).select_from(m).where(m.snapshot_id == sid))
            for m in (FilesystemGeneral, FilesystemInstrument, CentralStorage)
        )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_db_url(request, tmp_path: Path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'snap.db'}"
    else:
        yield request.getfixturevalue("pg_url")


def test_kill_9_between_snapshot_upserts_leaves_no_half_snapshot(jwql_env, tmp_path: Path, any_db_url: str) -> None:
    from jwql_dagster.filesystem.assets import filesystem_snapshot
    from jwql_dagster.db.resources import JwqlDatabase

    settings = jwql_env
    for e in (1, 2):
        good_rate(settings.filesystem / "public" / PROGRAM / VISIT / rate_name(e), seed=e)
    (settings.filesystem / "public" / PROGRAM / VISIT / f"{VISIT}_02101_00001_mirimage_cal.fits").write_bytes(b"x" * 2880)
    script = tmp_path / "snap_child.py"
    script.write_text(SNAPSHOT_CHILD)
    env = dict(os.environ, JWQL_HOME=str(settings.home), DAGSTER_HOME=str(settings.dagster_home),
               JWQL_DATABASE_URL=any_db_url, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            cwd=ROOT, start_new_session=True, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("between-upserts "), proc.stderr.read()[-3000:] if proc.poll() is not None else line
        sid = line.split()[1]
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    db = JwqlDatabase(url=any_db_url)
    try:
        deadline = time.monotonic() + 20  # PostgreSQL notices the dead client and rolls back
        while _snapshot_counts(db, sid) != (0, 0, 0) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _snapshot_counts(db, sid) == (0, 0, 0)

        # the next run completes; a retry of the same snapshot rewrites it without duplicates
        resources = make_resources(settings, db=db)
        with dg.instance_for_test() as instance:
            first = dg.materialize([filesystem_snapshot], resources=resources, instance=instance)
            sid2 = first.run_id
            again = dg.materialize([filesystem_snapshot], resources=resources, instance=instance,
                                   tags={"dagster/root_run_id": sid2})
        assert first.success and again.success
        general, per_instrument, areas = _snapshot_counts(db, sid2)
        assert general == 1 and per_instrument == 2 and areas == 6
        with db.session(readonly=True) as s:
            assert s.scalar(sa.select(sa.func.count()).select_from(FilesystemGeneral)) == 1
    finally:
        db.dispose()
