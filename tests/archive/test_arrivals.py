"""The incremental archive scan of the file-arrival sensor, tick by tick on a real folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from jwql_dagster.archive.arrivals import scan_archive
from jwql_dagster.archive.changes import ScanResult, change_hash
from jwql_dagster.archive.cursor import CursorError, decode_cursor
from jwql_dagster.archive.walk import ArchiveRootMissing
from tests.archive.conftest import FakeArchive, FakeFilesTable, Ticker, fits_name


def line(path: Path) -> str:
    st = path.stat()
    return f"{path.name},{st.st_size},{st.st_mtime_ns}"


@pytest.fixture
def archive(tmp_path: Path) -> FakeArchive:
    a = FakeArchive(tmp_path / "archive")
    for exp in (1, 2):
        a.add(fits_name(1068, "nircam", exp))
        a.add(fits_name(1068, "miri", exp, visit=2))
        a.add(fits_name(2000, "niriss", exp), area="proprietary")
    return a


@pytest.fixture
def table() -> FakeFilesTable:
    return FakeFilesTable()


def baseline(archive: FakeArchive, table: FakeFilesTable, **kw) -> Ticker:
    """An archive fully processed before: first tick with every partition materialized, rows recorded."""
    table.record(archive)
    t = Ticker(archive, table, materialized={("jw01068", "nircam"), ("jw01068", "miri"), ("jw02000", "niriss")}, **kw)
    first = t.tick()
    assert first.first_tick and first.changes == {}
    return t


def test_first_tick_requests_only_partitions_without_materialization(archive, table):
    t = Ticker(archive, table, materialized={("jw01068", "nircam")})
    r = t.tick()
    assert r.first_tick
    assert set(r.changes) == {("jw01068", "miri"), ("jw02000", "niriss")}
    miri = sorted(line(p) for p in archive.files() if "mirimage" in p.name)
    assert sorted(r.changes[("jw01068", "miri")]) == miri
    # the cursor is built: the next tick sees nothing new, lists nothing, does not repeat
    r2 = t.tick()
    assert r2.changes == {} and not r2.first_tick
    assert r2.dirs_listed == 0
    assert r2.summary().startswith(f"no change in {r2.dirs_checked} directories")


def test_nothing_new_lists_no_directory(archive, table):
    t = baseline(archive, table)
    r = t.tick()
    assert r.changes == {} and r.dirs_listed == 0 and r.changed_dirs == 0
    assert r.dirs_checked == 2 + 2 + 3  # areas, programs, visit dirs
    assert "no change in 7 directories" in r.summary()


def test_new_program_and_new_file_in_old_program(archive, table):
    t = baseline(archive, table)
    new_prog = archive.add(fits_name(3000, "nirspec"))
    new_file = archive.add(fits_name(1068, "nircam", 3))
    r = t.tick()
    assert r.changes == {("jw03000", "nirspec"): [line(new_prog)], ("jw01068", "nircam"): [line(new_file)]}
    assert r.programs == {"jw03000", "jw01068"}
    assert r.run_hash("jw01068", "nircam") == change_hash([line(new_file)])
    assert t.tick().changes == {}


def test_file_being_written_waits_until_it_settles(archive, table):
    t = baseline(archive, table, settle=10.0)
    archive.advance(100)
    path = archive.add(fits_name(1068, "nircam", 7), age=0.0)  # mtime = now: still being copied
    r = t.tick(advance=1.0)
    assert r.changes == {} and r.waiting == 1
    assert r.summary() == "1 file(s) waiting to settle"
    # the copy goes on: size and mtime change, the directory does not
    path.write_bytes(b"z" * 300)
    os.utime(path, ns=(int(archive.t * 1e9),) * 2)
    r = t.tick(advance=5.0)
    assert r.changes == {} and r.waiting == 1
    r = t.tick(advance=10.0)
    assert r.changes == {("jw01068", "nircam"): [line(path)]}
    assert ",300," in r.changes[("jw01068", "nircam")][0]
    assert t.tick().changes == {}
    assert json.loads(t.cursor)["pending"] == []


def test_file_replaced_by_rename(archive, table):
    t = baseline(archive, table)
    name = fits_name(1068, "nircam", 1)
    path = archive.replace_by_rename(name, size=999)
    r = t.tick()
    assert r.changes == {("jw01068", "nircam"): [line(path)]}
    assert ",999," in line(path)


def test_deletion(archive, table):
    t = baseline(archive, table)
    name = fits_name(1068, "miri", 2, visit=2)
    archive.remove(name)
    r = t.tick()
    assert r.changes == {("jw01068", "miri"): [f"{name},-1,-1"]}
    assert r.deletions == 1
    assert t.tick().changes == {}  # not reported twice while the row is not updated yet
    table.record(archive)
    assert t.tick().changes == {}


def test_move_to_public_is_one_change_of_the_same_partition(archive, table):
    t = baseline(archive, table)
    name = fits_name(2000, "niriss", 1)
    before = archive.root / "proprietary" / "jw02000" / name[:13] / name
    original = line(before)
    moved = archive.move(name)
    r = t.tick()
    # the same file (same name, size, mtime) now public: both sides in one run of its partition
    assert list(r.changes) == [("jw02000", "niriss")]
    assert sorted(r.changes[("jw02000", "niriss")]) == sorted([line(moved), f"{name},-1,-1"])
    assert line(moved) == original
    assert r.moves == 1 and r.deletions == 0
    # the run key reflects the move: it differs from a key of the file alone
    assert r.run_hash("jw02000", "niriss") != change_hash([original])
    assert t.tick().changes == {}
    table.record(archive)
    assert t.tick().changes == {}


def test_copy_then_delete_move_is_not_a_deletion(archive, table):
    t = baseline(archive, table)
    name = fits_name(2000, "niriss", 2)
    archive.copy(name)
    r = t.tick()
    assert list(r.changes) == [("jw02000", "niriss")] and r.moves == 1
    archive.remove(name, area="proprietary")
    r = t.tick()
    assert r.changes == {} and r.deletions == 0


def test_more_files_than_the_cap_are_requested_exactly_once(archive, table):
    t = baseline(archive, table, cap=5)
    added = [archive.add(fits_name(4000 + i % 3, "nircam", i)) for i in range(12)]
    archive.remove(fits_name(1068, "nircam", 2))
    seen: list[str] = []
    counts = []
    for _ in range(5):
        r = t.tick()
        n = sum(len(v) for v in r.changes.values())
        counts.append(n)
        for lines in r.changes.values():
            seen.extend(lines)
    assert counts == [5, 5, 3, 0, 0]
    expected = sorted([line(p) for p in added] + [f"{fits_name(1068, 'nircam', 2)},-1,-1"])
    assert sorted(seen) == expected  # each change exactly once


def test_missing_root(tmp_path):
    with pytest.raises(ArchiveRootMissing) as info:
        scan_archive(tmp_path / "nope", None, now=0, settle_seconds=0, max_files=10)
    assert info.value.root == str(tmp_path / "nope")


def test_bad_cursor_is_refused(archive):
    with pytest.raises(CursorError):
        scan_archive(archive.root, '{"something": "else"}', now=archive.t, settle_seconds=0, max_files=10)


def test_unreadable_directory_and_symlink_loops_are_reported_not_fatal(archive, table, monkeypatch):
    t = baseline(archive, table)
    program = archive.root / "public" / "jw01068"
    os.symlink("jw01068009009", program / "jw01068009009")  # a link to itself: ELOOP
    os.symlink(".", program / "jw01068loop")  # a visit folder that is the program folder again
    good = archive.add(fits_name(1068, "nircam", 5))
    vdir = good.parent
    os.symlink("self.fits", vdir / "self.fits")
    archive.add(fits_name(1068, "miri", 9, visit=2))
    miri_dir = str(archive.root / "public" / "jw01068" / "jw01068001002")
    real_scandir = os.scandir

    def scandir(path="."):
        if os.fspath(path) == miri_dir:
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    r = t.tick()
    assert r.changes == {("jw01068", "nircam"): [line(good)]}
    text = "\n".join(r.problems)
    assert "symlink loop at public/jw01068/jw01068009009" in text
    assert "symlink loop at public/jw01068/jw01068loop" in text
    assert "cannot list public/jw01068/jw01068001002: Permission denied" in text
    assert "unreadable" in r.summary()
    # once readable again, the new MIRI file is found
    monkeypatch.setattr(os, "scandir", real_scandir)
    r = t.tick()
    assert list(r.changes) == [("jw01068", "miri")]


def test_same_cursor_gives_same_run_keys_and_changes_never_repeat(archive, table):
    t = baseline(archive, table)
    archive.add(fits_name(1068, "nircam", 8))
    archive.advance(100)
    cursor = t.cursor
    a = scan_archive(archive.root, cursor, now=archive.t, settle_seconds=10, max_files=50, known=table)
    b = scan_archive(archive.root, cursor, now=archive.t, settle_seconds=10, max_files=50, known=table)
    assert a.changes == b.changes and a.cursor == b.cursor  # a retried tick asks for the same run key
    again = scan_archive(archive.root, a.cursor, now=archive.t + 100, settle_seconds=10, max_files=50, known=table)
    assert again.changes == {}


def test_unrecognised_names_get_no_partition(archive, table):
    t = baseline(archive, table)
    d = archive.visit_dir(fits_name(1068))
    (d / "notes_about_this_visit.fits").write_bytes(b"?")
    archive._touch(d)
    r = t.tick()
    assert r.changes == {}
    assert r.unrecognized == ["public/jw01068/jw01068001001/notes_about_this_visit.fits"]


def test_cursor_holds_no_file_entries_once_files_are_recorded(archive, table):
    t = baseline(archive, table)
    for i in range(20):
        archive.add(fits_name(1068, "nircam", 100 + i))
    assert sum(len(v) for v in t.tick().changes.values()) == 20
    table.record(archive)
    t.tick()
    state = decode_cursor(t.cursor)
    assert state["pending"] == [] and state["inflight"] == {}
    assert ".fits" not in json.dumps(state)  # directories only
    assert json.loads(t.cursor)["v"] == 1  # still a JSON document


def test_whole_visit_directory_removed_reports_each_recorded_file(archive, table):
    t = baseline(archive, table)
    import shutil

    shutil.rmtree(archive.root / "public" / "jw01068" / "jw01068001002")
    archive._touch(archive.root / "public" / "jw01068")
    r = t.tick()
    assert sorted(r.changes[("jw01068", "miri")]) == sorted(
        f"{fits_name(1068, 'miri', e, visit=2)},-1,-1" for e in (1, 2)
    )


def test_missing_area_is_reported_not_taken_for_a_mass_deletion(archive, table):
    t = baseline(archive, table)
    os.rename(archive.root / "proprietary", archive.root.parent / "unmounted")
    r = t.tick()
    assert r.changes == {} and r.deletions == 0
    assert any("archive area missing" in p and "proprietary" in p for p in r.problems)
    os.rename(archive.root.parent / "unmounted", archive.root / "proprietary")
    assert t.tick().changes == {}


def test_first_pass_over_capped_ticks_requests_every_file_of_unmaterialized_partitions(tmp_path):
    """First tick on an existing archive, more files than the per-tick cap: a partition split over folders of
    both areas must get all its files requested, even when its first run materializes it before the sensor
    reaches its remaining folders (they were silently skipped as 'materialized')."""
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


# ------------------------------------------------------------------ a request is not handled until its run succeeded


class Runs:
    """The outcome of each request's run, as the sensor reads it from the instance (run key -> outcome)."""

    def __init__(self) -> None:
        self.status: dict[str, str] = {}
        self.asked: list[set[str]] = []

    def __call__(self, keys: set[str]) -> dict[str, str]:
        self.asked.append(set(keys))
        return {k: self.status[k] for k in keys if k in self.status}


def requested(result: ScanResult) -> dict[str, str]:
    """file name -> run key of the request that covers it."""
    return {ln.split(",")[0]: r.key for r in result.requests for cell in r.cells for ln in result.changes[cell]}


def test_a_file_whose_run_failed_is_asked_for_again_with_a_new_key_even_if_its_row_was_written(archive, table):
    """The run's inventory step wrote the row, then its preview step was killed: the file is not handled."""
    runs = Runs()
    t = baseline(archive, table, outcome=runs, retry_after=250)
    new = archive.add(fits_name(1068, "nircam", 3))
    first = t.tick()
    key = requested(first)[new.name]
    assert key == f"nircam|jw01068|{change_hash([line(new)])}"  # the Contract's key on a first request
    table.record(archive)  # archive_files recorded it
    runs.status[key] = "pending"
    assert t.tick().changes == {}  # running: kept in flight although the row is there
    runs.status[key] = "failure"
    assert t.tick(advance=100).changes == {}  # requested 200 s ago by the tick clock: waits for retry_after
    again = t.tick(advance=100)
    assert again.changes == {("jw01068", "nircam"): [line(new)]} and again.retried == 1
    new_key = requested(again)[new.name]
    assert new_key != key and new_key == f"nircam|jw01068|{change_hash([line(new), 'attempt,2'])}"
    runs.status[new_key] = "success"
    assert t.tick().changes == {}
    assert decode_cursor(t.cursor)["inflight"] == {}  # handled: its run succeeded


def test_a_run_that_succeeded_ends_the_request_and_a_pending_one_keeps_it(archive, table):
    runs = Runs()
    t = baseline(archive, table, outcome=runs)
    new = archive.add(fits_name(2000, "niriss", 3), area="proprietary")
    key = requested(t.tick())[new.name]
    assert decode_cursor(t.cursor)["inflight"][new.name][4] == key
    runs.status[key] = "pending"
    for _ in range(3):
        assert t.tick(advance=1000).changes == {}
        assert new.name in decode_cursor(t.cursor)["inflight"]
    runs.status[key] = "success"
    assert t.tick().changes == {} and decode_cursor(t.cursor)["inflight"] == {}


def test_a_deletion_whose_run_failed_is_asked_for_again(archive, table):
    runs = Runs()
    t = baseline(archive, table, outcome=runs, retry_after=0)
    name = fits_name(1068, "miri", 2, visit=2)
    archive.remove(name)
    key = requested(t.tick())[name]
    runs.status[key] = "failure"
    again = t.tick()
    assert again.changes == {("jw01068", "miri"): [f"{name},-1,-1"]} and requested(again)[name] != key


def test_after_repeated_failures_the_sensor_leaves_the_file_to_the_daily_rescan(archive, table):
    from jwql_dagster.archive.inflight import MAX_ATTEMPTS

    runs = Runs()
    t = baseline(archive, table, outcome=runs, retry_after=0)
    new = archive.add(fits_name(1068, "nircam", 3))
    keys = []
    result = t.tick()
    for _ in range(MAX_ATTEMPTS):
        keys.append(requested(result)[new.name])
        runs.status[keys[-1]] = "failure"
        result = t.tick()
    assert len(set(keys)) == MAX_ATTEMPTS
    assert result.changes == {} and result.given_up == [f"public/jw01068/jw01068001001/{new.name}"]
    assert "left to the daily rescan" in result.summary()
    assert t.tick().changes == {} and decode_cursor(t.cursor)["inflight"] == {}


def test_changes_in_many_programs_go_into_a_bounded_number_of_runs(archive, table):
    """Every changed cell is in exactly one run; runs cover spans of cells_per_run programs of one instrument."""
    t = baseline(archive, table, cells_per_run=10, program_order=["jw01068", "jw02000"])
    new = [archive.add(fits_name(3000 + p, "nircam", 1)) for p in range(25)]
    new.append(archive.add(fits_name(1068, "nircam", 3)))
    result = t.tick()
    assert len(result.changes) == 26
    nircam = ("nircam", "nircam")
    assert [(r.instruments, r.first, r.last, len(r.cells)) for r in result.requests] == [
        (nircam, "jw01068", "jw03007", 9), (nircam, "jw03008", "jw03017", 10), (nircam, "jw03018", "jw03024", 7)]
    assert sorted(requested(result)) == sorted(p.name for p in new)
    assert sum(r.lines for r in result.requests) == result.files == 26
