"""Review fixes for the new_fits_files sensor."""

from __future__ import annotations

from datetime import datetime, timezone

import jwql_dagster.archive.sensors as nff
from jwql_dagster.db.models import File
from tests.sensor.fake_archive import fits_name


def test_database_lookup_of_thousands_of_changed_folders(sqlite_db, tmp_path):
    """A tick with many changed visit folders (sensor off for a while, bulk sync) must not hit SQLite's
    expression depth limit (1000): that error read as 'database unavailable' and stuck the sensor for good."""
    root = str(tmp_path / "archive")
    now = datetime.now(timezone.utc)
    dirs, rows = [], []
    for program in range(1000, 1040):
        for visit in range(1, 51):  # 40 programs x 50 visits = 2000 folders
            name = fits_name(program, "nircam", 1, visit=visit)
            rel = f"public/jw{program:05d}/{name[:13]}"
            dirs.append(rel)
            rows.append({"filename": name, "area": "public", "path": f"{root}/{rel}/{name}", "program": name[:7],
                         "instrument": "nircam", "size": 10, "mtime": now, "mtime_ns": 123})
    for obs in range(1, 7):
        for visit in range(1, 201):  # and one big program with 1,200 folders
            name = f"jw04000{obs:03d}{visit:03d}_02101_00001_nrca1_rate.fits"
            rel = f"public/jw04000/{name[:13]}"
            dirs.append(rel)
            rows.append({"filename": name, "area": "public", "path": f"{root}/{rel}/{name}", "program": name[:7],
                         "instrument": "nircam", "size": 10, "mtime": now, "mtime_ns": 123})
    with sqlite_db.session() as s:
        sqlite_db.upsert(s, File, rows, ("filename",))
    got = nff.database_lookup(sqlite_db, root)(dirs, [])
    assert {k.name for k in got} == {r["filename"] for r in rows}
    assert all(k.dir == f"public/{k.name[:7]}/{k.name[:13]}" for k in got)


def test_first_pass_over_capped_ticks_requests_every_file_of_unmaterialized_partitions(tmp_path):
    """First tick on an existing archive, more files than the per-tick cap: a partition split over folders of
    both areas must get all its files requested, even when its first run materializes it before the sensor
    reaches its remaining folders (they were silently skipped as 'materialized')."""
    from tests.sensor.fake_archive import FakeArchive, FakeFilesTable
    from tests.sensor.test_arrivals import Ticker

    archive = FakeArchive(tmp_path / "archive")
    names = [fits_name(1068, "nircam", 1, visit=1), fits_name(1068, "nircam", 2, visit=1)]
    archive.add(names[0], area="proprietary")
    archive.add(names[1], area="public")
    t = Ticker(archive, FakeFilesTable(), cap=1)
    requested: list[str] = []
    for _ in range(4):
        result = t.tick()
        requested += [ln.split(",")[0] for lines in result.changes.values() for ln in lines]
        t.materialized = {("jw01068", "nircam")}  # the first run finished before the next tick
    assert sorted(requested) == sorted(names)
