"""Load: the file-arrival sensor on a 100,000-file archive while 1,000 files arrive over 50 programs."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

import jwql_dagster.archive.sensors as nff
from jwql_dagster.db.models import File
from jwql_dagster.resources import ArchiveFilesystem, JwqlDatabase, JwqlOptions

pytestmark = pytest.mark.slow
PROGRAMS, VISITS, FILES_PER_VISIT = 100, 10, 100  # 100,000 files in 1,000 visit folders
INSTRUMENTS = {"nircam": "nrcb1", "miri": "mirimage"}
SENSOR_TIMEOUT_S = 60.0


def _name(program: int, visit: int, exposure: int) -> str:
    det = INSTRUMENTS["nircam" if visit % 2 else "miri"]
    return f"jw{program:05d}{visit:03d}001_02101_{exposure:05d}_{det}_rate.fits"


def _build(root: Path) -> list[dict]:
    """Empty files, written as fast as Python can; returns their files-table rows."""
    rows = []
    now = datetime.now(timezone.utc)
    for p in range(1, PROGRAMS + 1):
        program = f"jw{p:05d}"
        for v in range(1, VISITS + 1):
            visit = root / "public" / program / f"{program}{v:03d}001"
            visit.mkdir(parents=True)
            for e in range(1, FILES_PER_VISIT + 1):
                name = _name(p, v, e)
                path = visit / name
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
                st = path.stat()
                rows.append({"filename": name, "area": "public", "path": str(path), "program": program,
                             "instrument": "nircam" if v % 2 else "miri", "size": 0, "mtime": now,
                             "mtime_ns": st.st_mtime_ns, "first_seen": now, "last_seen": now})
    return rows


def _write_rows(db, rows: list[dict]) -> None:
    if rows:
        with db.session() as s:
            db.upsert(s, File, rows, ("filename",))


@pytest.fixture
def fast_dir(tmp_path: Path):
    """A folder on tmpfs when there is one: 100,000 file creations then cost CPU only, not disk journal commits."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="jwql-load-", dir=shm))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_sensor_requests_each_arriving_file_once_and_ticks_fast_on_100k_files(fast_dir: Path, monkeypatch) -> None:
    root = fast_dir / "archive"
    sqlite_db = JwqlDatabase(url=f"sqlite:///{fast_dir / 'jwql.db'}")
    t0 = time.monotonic()
    rows = _build(root)
    with sqlite_db.engine.begin() as conn:
        conn.execute(sa.insert(File), rows)
    build_s = time.monotonic() - t0
    by_name = {r["filename"]: r for r in rows}
    r = str(root)
    resources = {
        "archive": ArchiveFilesystem(filesystem=r, preview_root=r + "_p", thumbnail_root=r + "_t", output_root=r + "_o",
                                     working_root=r + "_w", log_root=r + "_l", central_store=r, dagster_home=r + "_d"),
        "db": sqlite_db,
        "options": JwqlOptions(sensor_settle_seconds=1.0, sensor_max_files_per_tick=300),
    }
    seen: list[list[str]] = []  # the file lines each tick reported
    real_scan = nff.scan_archive

    def recording_scan(*args, **kwargs):
        result = real_scan(*args, **kwargs)
        seen.append([line for lines in result.changes.values() for line in lines])
        return result

    monkeypatch.setattr(nff, "scan_archive", recording_scan)
    tick_seconds: list[float] = []
    requested: list[str] = []
    new_programs: list[str] = []

    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("program", [f"jw{p:05d}" for p in range(1, PROGRAMS + 1)])
        for p in range(1, PROGRAMS + 1):
            for inst in INSTRUMENTS:
                instance.report_runless_asset_event(dg.AssetMaterialization(
                    asset_key="archive_files", partition=f"{inst}|jw{p:05d}"))
        cursor = None

        def tick() -> None:
            nonlocal cursor
            start = time.monotonic()
            with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources) as ctx:
                out = nff.new_fits_files(ctx)
            tick_seconds.append(time.monotonic() - start)
            if isinstance(out, dg.SensorResult):
                cursor = out.cursor or cursor
                requested.extend(str(rr.partition_key) for rr in out.run_requests)
                for req in out.dynamic_partitions_requests:
                    new_programs.extend(req.partition_keys)
                    instance.add_dynamic_partitions("program", list(req.partition_keys))

        tick()  # first tick on the existing archive: everything is materialized, nothing to request
        assert requested == [] and seen[-1] == []
        first_tick = tick_seconds[-1]

        # 1,000 files over 50 programs (40 existing, 10 new) arrive in 10 batches while the sensor ticks
        arrivals: list[Path] = []
        targets = [p for p in range(1, 41)] + [p for p in range(PROGRAMS + 1, PROGRAMS + 11)]
        for batch in range(10):
            for k in range(100):
                p = targets[(batch * 100 + k) % 50]
                visit = 1 + (k % 2)
                program = f"jw{p:05d}"
                folder = root / "public" / program / f"{program}{visit:03d}001"
                folder.mkdir(parents=True, exist_ok=True)
                path = folder / _name(p, visit, 1000 + batch * 100 + k)
                path.write_bytes(b"\0" * 2880)
                arrivals.append(path)
            tick()
            # archive_files runs of the requested partitions write their rows (the sensor forgets in-flight files)
            recorded = [ln.split(",")[0] for ln in seen[-1]]
            _write_rows(sqlite_db, [_row(root, n) for n in recorded])
            time.sleep(0.3)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # let the last files settle and the capped queue drain
            time.sleep(0.6)
            tick()
            if sum(len(s) for s in seen) >= len(arrivals) and not seen[-1]:
                break

    sqlite_db.dispose()
    lines = [ln for s in seen for ln in s]
    names = [ln.split(",")[0] for ln in lines]
    arrived = sorted(p.name for p in arrivals)
    assert sorted(names) == arrived, "every arrival requested exactly once, no old file requested"
    assert not set(names) & set(by_name)
    assert sorted(new_programs) == [f"jw{p:05d}" for p in range(PROGRAMS + 1, PROGRAMS + 11)]
    worst = max(tick_seconds)
    print(f"\nbuild {build_s:.1f} s; first tick {first_tick:.2f} s; {len(tick_seconds)} ticks, worst {worst:.2f} s, "
          f"median {sorted(tick_seconds)[len(tick_seconds) // 2]:.3f} s")
    assert worst < SENSOR_TIMEOUT_S / 4, f"a tick took {worst:.1f} s (timeout {SENSOR_TIMEOUT_S:.0f} s)"


def _row(root: Path, name: str) -> dict:
    program = name[:7]
    path = root / "public" / program / name[:13] / name
    st = path.stat()
    now = datetime.now(timezone.utc)
    return {"filename": name, "area": "public", "path": str(path), "program": program,
            "instrument": "miri" if "mirimage" in name else "nircam", "size": st.st_size, "mtime": now,
            "mtime_ns": st.st_mtime_ns, "first_seen": now, "last_seen": now}
