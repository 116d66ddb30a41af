"""The new_fits_files sensor through build_sensor_context, on a real folder, instance and files table;
end to end with real archive_files runs writing the files table between ticks."""

from __future__ import annotations

import json

import hashlib
import importlib
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import pytest

import jwql_dagster.archive.sensors as nff
from jwql_dagster.archive.assets import archive_files
from jwql_dagster.archive.changes import change_hash
from jwql_dagster.archive.filenames import quick_classify
from jwql_dagster.archive.layout import INSTRUMENTS
from jwql_dagster.db.models import File
from jwql_dagster.partitions import program_instrument_partitions
from jwql_dagster.db.sensor_state import KEEP, load_state, save_state, snapshot_sizes
from jwql_dagster.resources import ArchiveFilesystem, JwqlDatabase, JwqlOptions
from tests.archive.conftest import FakeArchive, fits_name


def record_files(db: JwqlDatabase, archive: FakeArchive) -> None:
    """Write the files rows archive_files would write for the whole archive (absolute paths)."""
    rows = []
    for p in archive.files():
        st = p.stat()
        rel = p.relative_to(archive.root).parts
        rows.append({
            "filename": p.name, "area": rel[0], "path": str(p), "program": rel[1],
            "instrument": quick_classify(p.name)[0], "size": st.st_size,
            "mtime": datetime.fromtimestamp(st.st_mtime, timezone.utc), "mtime_ns": st.st_mtime_ns,
        })
    with db.session() as s:
        db.upsert(s, File, rows, ("filename",))


def resources(archive_root: Path, db: JwqlDatabase, settle: float = 10.0, cap: int = 5000) -> dict:
    root = str(archive_root)
    return {
        "archive": ArchiveFilesystem(filesystem=root, preview_root=root + "_p", thumbnail_root=root + "_t",
                                     output_root=root + "_o", working_root=root + "_w", log_root=root + "_l",
                                     central_store=root, dagster_home=root + "_d"),
        "db": db,
        "options": JwqlOptions(sensor_settle_seconds=settle, sensor_max_files_per_tick=cap),
    }


@pytest.fixture
def archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeArchive:
    a = FakeArchive(tmp_path / "archive")
    for exp in (1, 2):
        a.add(fits_name(1068, "nircam", exp))
        a.add(fits_name(1068, "miri", exp, visit=2))
        a.add(fits_name(2000, "niriss", exp), area="proprietary")
    monkeypatch.setattr(nff, "clock", lambda: a.t)
    return a


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def tick(instance, archive: FakeArchive, res: dict, cursor: str | None):
    archive.advance(100)
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources=res) as ctx:
        return nff.new_fits_files(ctx)


def expected_key(partition: str, lines: list[str]) -> str:
    return f"{partition}|{hashlib.sha1(chr(10).join(sorted(lines)).encode()).hexdigest()[:16]}"


def test_first_tick_on_existing_archive_requests_unmaterialized_partitions_only(archive, instance, sqlite_db):
    instance.add_dynamic_partitions("program", ["jw01068"])
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key="archive_files", partition="nircam|jw01068"))
    res = resources(archive.root, sqlite_db)
    result = tick(instance, archive, res, None)
    assert isinstance(result, dg.SensorResult)
    keys = sorted(str(r.partition_key) for r in result.run_requests)
    assert keys == ["miri|jw01068", "niriss|jw02000"]
    assert all(isinstance(r.partition_key, dg.MultiPartitionKey) for r in result.run_requests)
    # only the program the instance does not have yet is added
    assert [list(r.partition_keys) for r in result.dynamic_partitions_requests] == [["jw02000"]]
    miri = [f"{p.name},{p.stat().st_size},{p.stat().st_mtime_ns}" for p in archive.files() if "mirimage" in p.name]
    by_key = {str(r.partition_key): r for r in result.run_requests}
    assert by_key["miri|jw01068"].run_key == expected_key("miri|jw01068", miri)
    # the next tick: nothing to do, and it says so
    record_files(sqlite_db, archive)
    nxt = tick(instance, archive, res, result.cursor)
    assert nxt.run_requests == [] and nxt.skip_reason.skip_message == "no change in 7 directories"


def test_new_file_in_old_program_and_new_program(archive, instance, sqlite_db):
    instance.add_dynamic_partitions("program", ["jw01068", "jw02000"])
    for key in ("nircam|jw01068", "miri|jw01068", "niriss|jw02000"):
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key="archive_files", partition=key))
    record_files(sqlite_db, archive)
    res = resources(archive.root, sqlite_db)
    first = tick(instance, archive, res, None)
    assert first.run_requests == []
    new = archive.add(fits_name(1068, "nircam", 3))
    other = archive.add(fits_name(3000, "nirspec", 1))
    result = tick(instance, archive, res, first.cursor)
    by_key = {str(r.partition_key): r.run_key for r in result.run_requests}
    line = lambda p: f"{p.name},{p.stat().st_size},{p.stat().st_mtime_ns}"  # noqa: E731
    assert by_key == {
        "nircam|jw01068": expected_key("nircam|jw01068", [line(new)]),
        "nirspec|jw03000": expected_key("nirspec|jw03000", [line(other)]),
    }
    assert [list(r.partition_keys) for r in result.dynamic_partitions_requests] == [["jw03000"]]
    assert all(r.tags["jwql/trigger"] == "new_fits_files" for r in result.run_requests)


def test_deleted_file_requests_its_partition(archive, instance, sqlite_db):
    for key in ("nircam|jw01068", "miri|jw01068", "niriss|jw02000"):
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key="archive_files", partition=key))
    record_files(sqlite_db, archive)
    res = resources(archive.root, sqlite_db)
    cursor = tick(instance, archive, res, None).cursor
    name = fits_name(2000, "niriss", 2)
    archive.remove(name, area="proprietary")
    result = tick(instance, archive, res, cursor)
    assert [(str(r.partition_key), r.run_key) for r in result.run_requests] == [
        ("niriss|jw02000", expected_key("niriss|jw02000", [f"{name},-1,-1"]))
    ]


def test_file_still_being_written_waits(archive, instance, sqlite_db):
    record_files(sqlite_db, archive)
    for key in ("nircam|jw01068", "miri|jw01068", "niriss|jw02000"):
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key="archive_files", partition=key))
    res = resources(archive.root, sqlite_db, settle=30)
    cursor = tick(instance, archive, res, None).cursor
    archive.advance(100)
    archive.add(fits_name(1068, "miri", 5, visit=2), age=0)
    archive.t -= 100  # tick() moves the clock on by 100 s: the file is 0 s old at the tick
    waiting = tick(instance, archive, res, cursor)
    assert waiting.run_requests == [] and "1 file(s) waiting to settle" in waiting.skip_reason.skip_message
    ready = tick(instance, archive, res, waiting.cursor)
    assert [str(r.partition_key) for r in ready.run_requests] == ["miri|jw01068"]


def test_missing_archive_root_skips_naming_it(tmp_path, instance, sqlite_db):
    root = tmp_path / "no-archive-here"
    with dg.build_sensor_context(instance=instance, resources=resources(root, sqlite_db)) as ctx:
        result = nff.new_fits_files(ctx)
    assert isinstance(result, dg.SkipReason)
    assert str(root) in result.skip_message and "does not exist" in result.skip_message


def test_unreachable_database_skips_without_secret(archive, instance, sqlite_db):
    res = resources(archive.root, sqlite_db)
    cursor = tick(instance, archive, res, None).cursor
    archive.add(fits_name(1068, "nircam", 9))
    bad = JwqlDatabase(url="postgresql+psycopg2://jwql:s3cr3t-pw@127.0.0.1:1/nowhere")
    result = tick(instance, archive, resources(archive.root, bad), cursor)
    assert isinstance(result, dg.SkipReason)
    assert "database unavailable" in result.skip_message and "s3cr3t-pw" not in result.skip_message


def test_sensor_definition_is_off_by_default_and_targets_the_preview_job(monkeypatch):
    from jwql_dagster.definitions import defs

    sensor = defs.resolve_sensor_def("new_fits_files")
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    assert sensor.minimum_interval_seconds == 15
    assert sensor.job_name == "preview_partition_job"
    assert "preview_partition_job" in {job.name for job in defs.jobs}
    monkeypatch.setenv("JWQL_SENSOR_INTERVAL_SECONDS", "42")
    try:
        assert importlib.reload(nff).new_fits_files.minimum_interval_seconds == 42
    finally:
        monkeypatch.delenv("JWQL_SENSOR_INTERVAL_SECONDS")
        importlib.reload(nff)


def test_database_lookup_reads_rows_of_the_changed_folders_in_both_areas(jwql_db, tmp_path):
    root = str(tmp_path / "archive")
    now = datetime.now(timezone.utc)

    def row(name: str, path: str, deleted: bool = False) -> dict:
        return {"filename": name, "area": "public", "path": path, "program": name[:7], "instrument": "nircam",
                "size": 10, "mtime": now, "mtime_ns": 123, "deleted_at": now if deleted else None}

    a, b, c, d = (fits_name(1068, "nircam", e) for e in (1, 2, 3, 4))
    other = fits_name(1068, "nircam", 1, visit=7)
    with jwql_db.session() as s:
        jwql_db.upsert(s, File, [
            row(a, f"{root}/public/jw01068/jw01068001001/{a}"),
            row(b, f"proprietary/jw01068/jw01068001001/{b}"),  # stored relative to the root
            row(c, f"{root}/public/jw01068/jw01068001001/{c}", deleted=True),
            row(d, f"{root}/public/jw01068/jw01068001099/{d}"),
            row(other, f"{root}/public/jw01068/jw01068001007/{other}"),
        ], ("filename",))
    lookup = nff.database_lookup(jwql_db, root)
    got = {k.name: k for k in lookup(["public/jw01068/jw01068001001"], [other])}
    assert set(got) == {a, b, c, other}
    assert got[b].dir == "proprietary/jw01068/jw01068001001" and got[a].dir == "public/jw01068/jw01068001001"
    assert got[c].deleted and not got[a].deleted
    assert (got[a].size, got[a].mtime_ns) == (10, 123)


def test_capped_ticks_request_every_change_once_with_stable_keys(archive, instance, sqlite_db):
    for key in ("nircam|jw01068", "miri|jw01068", "niriss|jw02000"):
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key="archive_files", partition=key))
    record_files(sqlite_db, archive)
    res = resources(archive.root, sqlite_db, cap=4)
    cursor = tick(instance, archive, res, None).cursor
    for i in range(10):
        archive.add(fits_name(1068 + 932 * (i % 2), "nircam", 10 + i))  # jw01068 and a new program jw02000
    keys: list[str] = []
    per_tick: list[int] = []
    archive.advance(100)
    for _ in range(4):
        with dg.build_sensor_context(instance=instance, cursor=cursor, resources=res) as ctx:
            a = nff.new_fits_files(ctx)
        with dg.build_sensor_context(instance=instance, cursor=cursor, resources=res) as ctx:
            b = nff.new_fits_files(ctx)  # the same tick evaluated again asks for the same runs
        assert [r.run_key for r in a.run_requests] == [r.run_key for r in b.run_requests]
        keys.extend(r.run_key for r in a.run_requests)
        per_tick.append(sum(int(r.tags["jwql/changed_files"]) for r in a.run_requests))
        cursor = a.cursor
        archive.advance(100)
    assert per_tick == [4, 4, 2, 0]
    assert len(keys) == len(set(keys))


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


def covered_cells(request: dg.RunRequest, program_order: list[str]) -> list[str]:
    """The cells one run request covers: its partition, or the rectangle of its range (instruments x programs)."""
    if request.partition_key is not None:
        return [str(request.partition_key)]
    (i0, first), (i1, last) = (request.tags[f"dagster/asset_partition_range_{end}"].split("|") for end in ("start", "end"))
    i, j = program_order.index(first), program_order.index(last)
    instruments = INSTRUMENTS[INSTRUMENTS.index(i0):INSTRUMENTS.index(i1) + 1]
    return [f"{inst}|{p}" for inst in instruments for p in program_order[i:j + 1]]


def test_ticks_and_archive_files_runs_agree(small_archive, tmp_path: Path, sqlite_db: JwqlDatabase):
    root = tmp_path / "archive"
    shutil.copytree(small_archive.root, root)
    out = tmp_path / "out"
    archive = ArchiveFilesystem(filesystem=str(root), preview_root=str(out / "p"), thumbnail_root=str(out / "t"),
                                output_root=str(out / "o"), working_root=str(out / "w"), log_root=str(out / "l"),
                                central_store=str(out), dagster_home=str(out / "d"))
    res = {"archive": archive, "db": sqlite_db,
           "options": JwqlOptions(sensor_settle_seconds=0, sensor_max_files_per_tick=5000)}

    def tick(instance, cursor):
        with dg.build_sensor_context(instance=instance, cursor=cursor, resources=res) as ctx:
            return nff.new_fits_files(ctx)

    with dg.instance_for_test() as instance:
        first = tick(instance, None)
        expected = {f"{rec['instrument']}|{rec['program']}" for rec in small_archive.truth["files"].values()}
        assert sorted(first.dynamic_partitions_requests[0].partition_keys) == small_archive.programs
        instance.add_dynamic_partitions("program", small_archive.programs)
        # at most one run per instrument: a dense rectangle of instruments x programs, else a range per instrument
        covered = [covered_cells(r, small_archive.programs) for r in first.run_requests]
        assert len(first.run_requests) <= len({k.split("|")[0] for k in expected})
        assert set().union(*covered) >= expected
        assert sum(map(len, covered)) <= 2 * len(expected)  # unchanged cells in a run at most one per changed cell

        # run every request as the daemon would launch it (a range through Dagster's range tags)
        job = dg.define_asset_job("inventory", selection=[archive_files], partitions_def=program_instrument_partitions)
        defs = dg.Definitions(assets=[archive_files], jobs=[job], resources={"archive": archive, "db": sqlite_db})
        for request in first.run_requests:
            run = defs.resolve_job_def("inventory").execute_in_process(
                instance=instance, partition_key=request.partition_key, tags=request.tags)
            assert run.success
        assert {str(k) for k in instance.get_materialized_partitions(dg.AssetKey("archive_files"))} >= expected
        settled = tick(instance, first.cursor)
        assert settled.run_requests == []
        state = nff.stored_state(sqlite_db, settled.cursor)
        assert state["inflight"] == {} and state["pending"] == []  # rows written: no per-file state left

        # a new exposure arrives in an old program: one run, for that file only
        src = small_archive.files(instrument="nircam", suffix="rate")[0]
        new = root / src.relative_to(small_archive.root).parent / src.name.replace("_00001_", "_00077_")
        assert new.name != src.name and not new.exists()
        shutil.copy(root / src.relative_to(small_archive.root), new)
        nxt = tick(instance, settled.cursor)
        assert len(nxt.run_requests) == 1
        request = nxt.run_requests[0]
        program = src.relative_to(small_archive.root).parts[1]
        assert str(request.partition_key) == f"nircam|{program}"
        st = new.stat()
        assert request.run_key == f"nircam|{program}|{change_hash([f'{new.name},{st.st_size},{st.st_mtime_ns}'])}"


# ------------------------------------------------------------------ the state lives in the database, not the cursor


def test_the_cursor_names_the_state_and_stays_small_however_many_folders(archive, instance, sqlite_db):
    """Dagster stores the cursor with every tick: it must not grow with the archive (issue 17, item 6)."""
    for program in range(3000, 3300):  # 300 more programs, one visit each
        archive.add(fits_name(program, "nircam", 1))
    res = resources(archive.root, sqlite_db)
    first = tick(instance, archive, res, None)
    # a bounded number of runs for 303 changed cells: per instrument, spans of CELLS_PER_RUN programs
    assert len(first.run_requests) == 4 and len(first.cursor) < 100
    order = sorted({p.name for p in (archive.root / "public").iterdir()} | {"jw02000"})
    covered = [c for r in first.run_requests for c in covered_cells(r, order)]
    changed = {f"{i}|{p}" for p, i in [("jw01068", "nircam"), ("jw01068", "miri"), ("jw02000", "niriss")]}
    spanned = {"nircam|jw02000"}  # between two changed nircam cells of one range: its run finds nothing to do
    assert set(covered) == changed | {f"nircam|jw0{n}" for n in range(3000, 3300)} | spanned
    assert len(covered) == len(set(covered))  # no cell in two runs
    assert sum(int(r.tags["jwql/cells"]) for r in first.run_requests) == 303
    state = nff.stored_state(sqlite_db, first.cursor)
    visits = sum(len(p[1]) for area in state["tree"].values() for p in area[1].values())
    assert visits == 303
    assert snapshot_sizes(sqlite_db, nff.SENSOR_NAME)[0] > 20 * len(first.cursor)  # the folder tree is in the database
    # what the UI's sensor page shows: a short summary a person can read, not an encoded blob
    shown = json.loads(first.cursor)
    assert shown["folders"] >= visits and shown["waiting"] == 0


def test_the_state_survives_a_restart_and_an_unchanged_tick_writes_nothing(archive, instance, sqlite_db):
    for key in ("nircam|jw01068", "miri|jw01068", "niriss|jw02000"):
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key="archive_files", partition=key))
    record_files(sqlite_db, archive)
    res = resources(archive.root, sqlite_db)
    first = tick(instance, archive, res, None)
    assert len(snapshot_sizes(sqlite_db, nff.SENSOR_NAME)) == 1
    quiet = tick(instance, archive, res, first.cursor)
    assert quiet.cursor == first.cursor and len(snapshot_sizes(sqlite_db, nff.SENSOR_NAME)) == 1  # same state: same snapshot, no new row
    nff._recent.clear()  # a new code server process: nothing cached
    new = archive.add(fits_name(1068, "nircam", 3))
    after = tick(instance, archive, resources(archive.root, JwqlDatabase(url=sqlite_db.url)), quiet.cursor)
    st = new.stat()
    assert [r.run_key for r in after.run_requests] == [expected_key("nircam|jw01068", [f"{new.name},{st.st_size},{st.st_mtime_ns}"])]


def test_a_tick_dagster_never_committed_is_evaluated_again_from_the_same_state(archive, instance, sqlite_db):
    """The daemon dies after an evaluation: the cursor still names the old snapshot, which is still there,
    so the next evaluation requests the same changes with the same run keys (Dagster drops duplicates)."""
    for key in ("nircam|jw01068", "miri|jw01068", "niriss|jw02000"):
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key="archive_files", partition=key))
    record_files(sqlite_db, archive)
    res = resources(archive.root, sqlite_db)
    first = tick(instance, archive, res, None)
    archive.add(fits_name(1068, "miri", 5, visit=2))
    lost = tick(instance, archive, res, first.cursor)
    nff._recent.clear()
    again = tick(instance, archive, res, first.cursor)
    assert [r.run_key for r in again.run_requests] == [r.run_key for r in lost.run_requests] and lost.run_requests


def test_old_whole_state_cursor_is_read_once_and_moved_to_the_database(archive, instance, sqlite_db):
    from jwql_dagster.archive.arrivals import scan_archive

    for key in ("nircam|jw01068", "miri|jw01068", "niriss|jw02000"):
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key="archive_files", partition=key))
    record_files(sqlite_db, archive)
    old = scan_archive(archive.root, None, now=archive.t, settle_seconds=10, max_files=5000,
                       known=nff.database_lookup(sqlite_db, str(archive.root)), materialized=lambda: set())
    assert len(old.cursor) > 200  # what a cursor of the previous version held: the whole state
    new = archive.add(fits_name(2000, "niriss", 3), area="proprietary")
    result = tick(instance, archive, resources(archive.root, sqlite_db), old.cursor)
    assert [str(r.partition_key) for r in result.run_requests] == ["niriss|jw02000"]  # not a first tick
    assert result.run_requests[0].tags["jwql/changed_files"] == "1" and new.exists()
    assert len(result.cursor) < 100 and nff.stored_state(sqlite_db, result.cursor)["tree"]


def test_a_cursor_naming_a_lost_state_starts_over_as_a_first_tick(archive, instance, sqlite_db):
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key="archive_files", partition="nircam|jw01068"))
    res = resources(archive.root, sqlite_db)
    nff._recent.clear()
    result = tick(instance, archive, res, '{"v":2,"state":"0123456789abcdef0123456789abcdef"}')
    assert sorted(str(r.partition_key) for r in result.run_requests) == ["miri|jw01068", "niriss|jw02000"]


def test_only_the_newest_snapshots_are_kept(sqlite_db):
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for i in range(KEEP + 5):
        save_state(sqlite_db, "s", f"tok{i}", f"state {i}", t0 + timedelta(seconds=i))
    save_state(sqlite_db, "other", "tok0", "another sensor's", t0)
    save_state(sqlite_db, "s", "tok2", "state 2", t0 + timedelta(seconds=99))  # seen again: recent again
    assert load_state(sqlite_db, "s", "tok2") == "state 2"
    assert load_state(sqlite_db, "s", f"tok{KEEP + 4}") == f"state {KEEP + 4}"
    assert load_state(sqlite_db, "s", "tok5") is None  # pruned
    assert load_state(sqlite_db, "other", "tok0") == "another sensor's"
    assert len(snapshot_sizes(sqlite_db, "s")) == KEEP


# ------------------------------------------------------------------ a request is handled when its run succeeded


@dg.op
def _killed() -> None:
    raise RuntimeError("worker killed")


@dg.op
def _done() -> None:
    pass


@dg.job
def failing_job() -> None:
    _killed()


@dg.job
def succeeding_job() -> None:
    _done()


def finish_run(instance: dg.DagsterInstance, run_key: str, ok: bool) -> dg.DagsterRun:
    """A finished run of the sensor's request ``run_key`` (only its tags and status matter to the sensor)."""
    job = succeeding_job if ok else failing_job
    result = job.execute_in_process(instance=instance, raise_on_error=False,
                                    tags={nff.RUN_KEY_TAG: run_key, nff.SENSOR_NAME_TAG: nff.SENSOR_NAME})
    return result.dagster_run


def test_a_cell_whose_run_failed_is_requested_again_until_a_run_succeeds(archive, instance, sqlite_db):
    """Issue 20: the sensor never counts a file as handled because a run was requested for it."""
    from jwql_dagster.archive.inflight import RETRY_AFTER_SECONDS

    for key in ("nircam|jw01068", "miri|jw01068", "niriss|jw02000"):
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key="archive_files", partition=key))
    record_files(sqlite_db, archive)
    res = resources(archive.root, sqlite_db)
    cursor = tick(instance, archive, res, None).cursor
    archive.add(fits_name(1068, "nircam", 3))
    first = tick(instance, archive, res, cursor)
    [request] = first.run_requests
    record_files(sqlite_db, archive)  # the run's inventory step wrote the row, then the run was killed
    finish_run(instance, request.run_key, ok=False)
    waiting = tick(instance, archive, res, first.cursor)
    assert waiting.run_requests == []  # Dagster's own retries get their chance first
    archive.advance(RETRY_AFTER_SECONDS)
    again = tick(instance, archive, res, waiting.cursor)
    assert [str(r.partition_key) for r in again.run_requests] == ["nircam|jw01068"]
    assert again.run_requests[0].run_key != request.run_key  # a new key: Dagster launches it
    finish_run(instance, again.run_requests[0].run_key, ok=True)
    done = tick(instance, archive, res, again.cursor)
    assert done.run_requests == [] and nff.stored_state(sqlite_db, done.cursor)["inflight"] == {}


def test_a_failed_run_with_a_retry_coming_is_still_pending(instance):
    run = finish_run(instance, "nircam|jw01068|0123456789abcdef", ok=False)
    assert nff.run_outcomes(instance, {"nircam|jw01068|0123456789abcdef", "other"}) == {
        "nircam|jw01068|0123456789abcdef": "failure"}
    instance.add_run_tags(run.run_id, {nff.WILL_RETRY_TAG: "true"})
    assert nff.run_outcomes(instance, {"nircam|jw01068|0123456789abcdef"}) == {"nircam|jw01068|0123456789abcdef": "pending"}
    instance.add_run_tags(run.run_id, {nff.AUTO_RETRY_RUN_TAG: "some-run-id"})
    retry = finish_run(instance, "nircam|jw01068|0123456789abcdef", ok=True)
    assert retry.status == dg.DagsterRunStatus.SUCCESS
    assert nff.run_outcomes(instance, {"nircam|jw01068|0123456789abcdef"}) == {"nircam|jw01068|0123456789abcdef": "success"}


def test_a_file_whose_runs_keep_failing_is_in_the_failure_view_until_rendered(archive, instance, sqlite_db):
    """Issue 20: a cell whose runs keep failing is not silently missing: after MAX_ATTEMPTS failed runs the
    sensor stops asking and records a failure row, which the failure view lists and a later render clears."""
    from jwql_dagster.archive.inflight import MAX_ATTEMPTS, RETRY_AFTER_SECONDS
    from jwql_dagster.db.failures import record_failures
    from jwql_dagster.db.views import current_failures

    for key in ("nircam|jw01068", "miri|jw01068", "niriss|jw02000"):
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key="archive_files", partition=key))
    record_files(sqlite_db, archive)
    res = resources(archive.root, sqlite_db)
    cursor = tick(instance, archive, res, None).cursor
    new = archive.add(fits_name(1068, "nircam", 3))
    for attempt in range(1, MAX_ATTEMPTS + 1):
        result = tick(instance, archive, res, cursor)
        [request] = result.run_requests
        record_files(sqlite_db, archive)
        finish_run(instance, request.run_key, ok=False)
        cursor = result.cursor
        archive.advance(RETRY_AFTER_SECONDS * 2 ** attempt)
    with sqlite_db.session(readonly=True) as s:
        assert current_failures(s.connection()) == []  # nothing recorded while the sensor still asks
    gave_up = tick(instance, archive, res, cursor)
    assert gave_up.run_requests == []
    with sqlite_db.session(readonly=True) as s:
        [line] = current_failures(s.connection())
    assert (line.filename, line.program, line.instrument) == (new.name, "jw01068", "nircam")
    assert line.products == ["preview_images"] and f"failed {MAX_ATTEMPTS} times" in line.reason
    # the preview run that finally renders the file clears the row, as for any file it makes
    record_failures(sqlite_db, "jw01068", "nircam", "a-run", [], succeeded=[(new.name, "preview_images")])
    with sqlite_db.session(readonly=True) as s:
        assert current_failures(s.connection()) == []
