"""Concurrent runs on PostgreSQL, in separate processes: same partition twice and different partitions at once."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from jwql_dagster.db.models import File, FileFailure
from tests.reliability.conftest import PROGRAM, VISIT, complete_jpeg, good_rate, rate_name

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent("""
    import os, sys, time
    import dagster as dg
    from jwql_dagster.options import JwqlOptions
    from tests.plugins.resources import make_resources
    from tests.reliability.conftest import run_partition, run_program_products, PROGRAM

    if __name__ == "__main__":
        go, instrument = sys.argv[1], sys.argv[2]
        resources = make_resources(options=JwqlOptions(preview_workers=1, max_failure_rate=1.0))
        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions("program", [PROGRAM])
            while not os.path.exists(go):
                time.sleep(0.01)
            for _ in range(2):
                assert run_partition(resources, instance, instrument=instrument).success
                assert run_program_products(resources, instance).success
        print("ok", flush=True)
""")

MIRI_VISIT = f"{PROGRAM}002001"


def _archive(settings) -> dict[str, list[str]]:
    nircam = settings.filesystem / "public" / PROGRAM / VISIT
    miri = settings.filesystem / "public" / PROGRAM / MIRI_VISIT
    names = {"nircam": [good_rate(nircam / rate_name(e), seed=e, n=64).name for e in range(1, 6)]}
    names["miri"] = [good_rate(miri / f"{MIRI_VISIT}_02101_{e:05d}_mirimage_rate.fits", seed=e, n=64).name
                     for e in range(1, 6)]
    (nircam / rate_name(9)).write_bytes(b"not fits")  # a failure both runs record
    (miri / f"{MIRI_VISIT}_02101_00009_mirimage_rate.fits").write_bytes(b"")
    return names


@pytest.mark.parametrize("instruments", [("nircam", "nircam"), ("nircam", "miri")], ids=["same", "different"])
def test_two_runs_at_once_give_consistent_outputs_and_no_duplicate_rows(jwql_env, pg_url: str, tmp_path: Path,
                                                                         instruments: tuple[str, str]) -> None:
    settings = jwql_env
    names = _archive(settings)
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    go = tmp_path / "go"
    env = dict(os.environ, JWQL_HOME=str(settings.home), DAGSTER_HOME=str(settings.dagster_home),
               JWQL_DATABASE_URL=pg_url, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    procs = [subprocess.Popen([sys.executable, str(script), str(go), inst], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env, cwd=ROOT, text=True) for inst in instruments]
    time.sleep(0.5)
    go.write_text("go")  # both start together (each has its imports done by now or soon)
    outs = [p.communicate(timeout=240) for p in procs]
    for proc, (out, err) in zip(procs, outs):
        assert proc.returncode == 0 and out.strip() == "ok", err[-3000:]

    expected = [n for inst in set(instruments) for n in names[inst]]
    for name in expected:
        stem = name[: -len(".fits")]
        assert complete_jpeg(settings.preview_root / PROGRAM / f"{stem}_integ0.jpg"), name
        assert complete_jpeg(settings.thumbnail_root / PROGRAM / f"{stem}_integ0.thumb"), name
    leftovers = [p for p in settings.preview_root.rglob(".tmp-*")] + [p for p in settings.thumbnail_root.rglob(".tmp-*")]
    assert not leftovers
    gallery = (settings.output_root / "previews" / PROGRAM / "index.html").read_text()
    assert gallery.rstrip().endswith("</html>")

    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            files = conn.execute(sa.select(File.filename, File.instrument)).all()
            fails = conn.execute(sa.select(FileFailure.filename, FileFailure.product)).all()
    finally:
        engine.dispose()
    bad = {"nircam": rate_name(9), "miri": f"{MIRI_VISIT}_02101_00009_mirimage_rate.fits"}
    assert sorted(f for f, _ in files) == sorted(expected + [bad[i] for i in set(instruments)])
    assert len(files) == len({f for f, _ in files})
    assert len(fails) == len(set(fails))
    assert {f for f, _ in fails} == {bad[i] for i in set(instruments)}
