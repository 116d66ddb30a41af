"""Symlinks over several ticks: the sensor keeps requesting what archive_files will list (docs/sensor.md, "Symlinks").

Each tick is followed by what the requested archive_files runs would record (``program_files``
over every program), so the next tick compares with the rows a real run leaves behind.
"""

from __future__ import annotations

import errno
import os
import shutil
import time
from pathlib import Path

import pytest

from jwql_dagster.archive.arrivals import ArchiveLinks, KnownFile, ScanResult, scan_archive
from tests.sensor.fake_archive import FakeFilesTable
from tests.sensor.test_symlinked_visits import P, _name, _plain, archive_view

NOW = time.time() + 3600


def _tick(root: Path, cursor: str | None, table: FakeFilesTable, step: int) -> ScanResult:
    return scan_archive(root, cursor, now=NOW + step, settle_seconds=0, max_files=10_000, known=table)


def _record(root: Path, tmp_path: Path, table: FakeFilesTable) -> dict[str, str]:
    """What the archive_files runs record: every listed file at its listed place, the others marked deleted."""
    listed, _ = archive_view(root, tmp_path)
    for name, row in list(table.rows.items()):
        if name not in listed and not row.deleted:
            table.rows[name] = KnownFile(row.name, row.dir, row.size, row.mtime_ns, deleted=True)
    for name, d in listed.items():
        st = (root / d / name).stat()
        table.rows[name] = KnownFile(name, d, st.st_size, st.st_mtime_ns)
    return listed


def _bump(path: Path, step: int) -> None:
    """Give a folder a distinct mtime after a change in it (file systems with coarse timestamps)."""
    t = int((time.time() - 100 + step) * 1e9)
    os.utime(path, ns=(t, t), follow_symlinks=False)


@pytest.mark.parametrize("level", ["visit", "program"])
def test_a_folder_linked_from_both_areas_is_requested_at_the_second_link_when_the_first_goes(
        tmp_path: Path, level: str) -> None:
    """public/ and proprietary/ link one staged visit (or program) folder: it counts under public/; when
    that link goes, archive_files lists it under proprietary/, so the sensor must request it there (a move)."""
    root = tmp_path / "archive"
    v = f"{P}002001"
    _plain(root / "staging" / P / v / _name(v, 1))
    for area in ("public", "proprietary"):
        if level == "visit":
            (root / area / P).mkdir(parents=True)
            (root / area / P / v).symlink_to(root / "staging" / P / v)
        else:
            (root / area).mkdir(parents=True)
            (root / area / P).symlink_to(root / "staging" / P)
    link, parent = (root / "public" / P / v, root / "public" / P) if level == "visit" else (root / "public" / P, root / "public")
    table = FakeFilesTable()
    first = _tick(root, None, table, 0)
    assert first.changes == {(P, "nircam"): [f"{_name(v, 1)},10,{(root / 'staging' / P / v / _name(v, 1)).stat().st_mtime_ns}"]}
    assert _record(root, tmp_path, table) == {_name(v, 1): f"public/{P}/{v}"}
    second = _tick(root, first.cursor, table, 1)
    assert second.changes == {}

    link.unlink()
    _bump(parent, 2)
    third = _tick(root, second.cursor, table, 2)
    assert _record(root, tmp_path, table) == {_name(v, 1): f"proprietary/{P}/{v}"}
    assert (P, "nircam") in third.changes, "the file now listed under proprietary/ was not requested"
    assert _tick(root, third.cursor, table, 3).changes == {}


def test_a_dangling_visit_link_is_requested_once_its_target_appears(tmp_path: Path) -> None:
    """The operator links a visit in before its staged folder exists: nothing in public/ changes when the
    folder appears, yet archive_files lists its files from then on, so the sensor must see them too."""
    root = tmp_path / "archive"
    v = f"{P}002001"
    (root / "public" / P).mkdir(parents=True)
    (root / "staging").mkdir()
    (root / "public" / P / v).symlink_to(Path("..", "..", "staging", v))
    table = FakeFilesTable()
    first = _tick(root, None, table, 0)
    assert first.changes == {} and first.problems == []
    assert _record(root, tmp_path, table) == {}

    _plain(root / "staging" / v / _name(v, 1))  # the staged folder arrives; public/jw01068 is untouched
    second = _tick(root, first.cursor, table, 1)
    assert _record(root, tmp_path, table) == {_name(v, 1): f"public/{P}/{v}"}
    assert (P, "nircam") in second.changes, "archive_files lists the linked visit, the sensor never requested it"
    assert _tick(root, second.cursor, table, 2).changes == {}


def test_a_dangling_program_link_is_requested_once_its_target_appears(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    v = f"{P}002001"
    (root / "public").mkdir(parents=True)
    (root / "staging").mkdir()
    (root / "public" / P).symlink_to(Path("..", "staging", P))
    table = FakeFilesTable()
    first = _tick(root, None, table, 0)
    assert first.changes == {}
    _plain(root / "staging" / P / v / _name(v, 1))
    second = _tick(root, first.cursor, table, 1)
    assert _record(root, tmp_path, table) == {_name(v, 1): f"public/{P}/{v}"}
    assert (P, "nircam") in second.changes, "archive_files lists the linked program, the sensor never requested it"


def test_a_link_that_points_out_is_reported_once_left_alone_and_taken_back_when_its_folder_changes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An inner link is re-pointed out of the archive (the visit link untouched), then back."""
    root, outside = tmp_path / "archive", tmp_path / "outside"
    v = f"{P}002001"
    _plain(root / "store" / v / _name(v, 1))
    _plain(outside / v / _name(v, 9))
    (root / "staging").symlink_to(root / "store")
    (root / "public" / P).mkdir(parents=True)
    (root / "public" / P / v).symlink_to(root / "staging" / v)
    table = FakeFilesTable()
    first = _tick(root, None, table, 0)
    assert _record(root, tmp_path, table) == {_name(v, 1): f"public/{P}/{v}"}

    (root / "staging").unlink()
    (root / "staging").symlink_to(outside)
    gone = _tick(root, first.cursor, table, 1)
    assert gone.changes == {(P, "nircam"): [f"{_name(v, 1)},-1,-1"]}
    assert len(gone.problems) == 1
    assert _record(root, tmp_path, table) == {}
    judged: list[str] = []
    judge = ArchiveLinks.judge
    monkeypatch.setattr(ArchiveLinks, "judge", lambda self, path, kind: judged.append(str(path)) or judge(self, path, kind))
    quiet = _tick(root, gone.cursor, table, 2)
    assert quiet.changes == {} and quiet.problems == []  # reported once, not on every tick
    assert judged == []  # and the link out is not resolved again on every tick

    (root / "staging").unlink()
    (root / "staging").symlink_to(root / "store")
    _bump(root / "public" / P, 3)  # looked at again when its folder changes (or by the full rescan)
    back = _tick(root, quiet.cursor, table, 3)
    assert _record(root, tmp_path, table) == {_name(v, 1): f"public/{P}/{v}"}
    assert (P, "nircam") in back.changes
    assert _tick(root, back.cursor, table, 4).changes == {}


def _drain(root: Path, cursor: str | None, table: FakeFilesTable, step: int, cap: int) -> tuple[list[str], str]:
    """Ticks (capped) until nothing is left for the next one: every line requested, and the cursor."""
    lines: list[str] = []
    for k in range(20):
        r = scan_archive(root, cursor, now=NOW + step + k / 100, settle_seconds=0, max_files=cap, known=table)
        cursor = r.cursor
        lines += [x for v in r.changes.values() for x in v]
        if not (r.queued or r.deferred_dirs):
            return lines, cursor
    raise AssertionError("the capped ticks never drained")


def _program_of_four(root: Path) -> list[str]:
    names = []
    for visit in (f"{P}001001", f"{P}002001"):
        for exposure in (1, 2):
            _plain(root / "store" / P / visit / _name(visit, exposure))
            names.append(_name(visit, exposure))
    return names


def test_a_removed_program_over_the_cap_has_every_file_requested_as_deleted(tmp_path: Path) -> None:
    """A whole program folder goes; its deletions exceed the per-tick cap: the rest must wait, not vanish."""
    root = tmp_path / "archive"
    names = _program_of_four(root)
    (root / "public").mkdir()
    shutil.copytree(root / "store" / P, root / "public" / P)
    table = FakeFilesTable()
    lines, cursor = _drain(root, None, table, 0, cap=1)
    assert sorted(x.split(",")[0] for x in lines) == sorted(names)
    _record(root, tmp_path, table)

    shutil.rmtree(root / "public" / P)
    _bump(root / "public", 1)
    lines, cursor = _drain(root, cursor, table, 1, cap=1)
    assert sorted(lines) == sorted(f"{n},-1,-1" for n in names)


def test_a_program_link_leaving_the_archive_over_the_cap_has_every_file_requested_as_deleted(tmp_path: Path) -> None:
    root, outside = tmp_path / "archive", tmp_path / "outside"
    names = _program_of_four(root)
    outside.mkdir()
    (root / "staging").symlink_to(root / "store")
    (root / "public").mkdir()
    (root / "public" / P).symlink_to(root / "staging" / P)
    table = FakeFilesTable()
    lines, cursor = _drain(root, None, table, 0, cap=1)
    assert sorted(x.split(",")[0] for x in lines) == sorted(names)
    _record(root, tmp_path, table)

    (root / "staging").unlink()
    (root / "staging").symlink_to(outside)  # public/jw01068 now resolves out of the archive (dangling there)
    lines, cursor = _drain(root, cursor, table, 1, cap=1)
    assert _record(root, tmp_path, table) == {}
    assert sorted(lines) == sorted(f"{n},-1,-1" for n in names)


def test_judging_a_link_resolves_it_as_realpath_does(tmp_path: Path) -> None:
    """ArchiveLinks resolves links without os.path.realpath where it can (speed); the answers must not differ."""
    root = tmp_path / "archive"
    v = f"{P}001001"
    _plain(root / "store" / "a" / v / _name(v, 1))
    (root / "public" / P).mkdir(parents=True)
    (root / "hop").symlink_to("store/a")
    (root / "store" / "b").symlink_to("../hop")  # a chain through a relative link
    cases = {
        "abs": root / "store" / "a" / v,
        "rel": Path("..", "..", "store", "a", v),
        "chain": Path("..", "..", "store", "b", v),
        "dotdot": Path("..", "..", "hop", "..", "a", v),  # '..' after a link: store/a/.., not the root
        "file": root / "store" / "a" / v / _name(v, 1),
        "dangling": root / "nothere",
        "self": Path("self"),
    }
    links = ArchiveLinks(root)
    for label, target in cases.items():
        link = root / "public" / P / label
        link.symlink_to(target)
        try:
            expected: str | int = os.path.realpath(link, strict=True)
        except OSError as exc:
            expected = exc.errno
        try:
            got: str | int = links._realpath(str(link))[0]
        except OSError as exc:
            got = exc.errno
        assert got == expected, label
    assert links.judge(root / "public" / P / "self", "visit") == ("loop", "")
    assert links.judge(root / "public" / P / "dotdot", "visit") == ("follow", os.path.realpath(root / "store" / "a" / v))
    with pytest.raises(OSError) as info:
        links._realpath(str(root / "public" / P / "self"))
    assert info.value.errno == errno.ELOOP


def test_a_tick_over_linked_visits_does_not_resolve_each_link_in_python(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """os.path.realpath lstats every component in Python: with every visit a link it made the no-change
    tick of a 2,000-visit archive 11 times slower. Where the OS names the resolved path, it is not used."""
    if not ArchiveLinks(tmp_path)._fast:
        pytest.skip("no O_PATH and /proc/self/fd here: links are resolved by os.path.realpath")
    root = tmp_path / "archive"
    for i in range(30):
        v = f"{P}{i + 1:03d}001"
        _plain(root / "store" / v / _name(v, 1))
        (root / "public" / P).mkdir(parents=True, exist_ok=True)
        (root / "public" / P / v).symlink_to(Path("..", "..", "store", v))
    table = FakeFilesTable()
    first = _tick(root, None, table, 0)
    assert len(first.changes[(P, "nircam")]) == 30
    calls = []
    real = os.path.realpath
    monkeypatch.setattr(os.path, "realpath", lambda p, *a, **k: calls.append(p) or real(p, *a, **k))
    quiet = _tick(root, first.cursor, FakeFilesTable(), 1)
    assert quiet.dirs_listed == 0
    assert len(calls) < 10, f"{len(calls)} os.path.realpath calls for 30 linked visits"


def test_a_deleted_file_is_not_taken_for_moved_to_a_link_out_of_the_archive(tmp_path: Path) -> None:
    """The twin folder in the other area is a link out of the archive holding a file of the same name:
    archive_files does not list it there, so the deletion must be requested (not taken for a move)."""
    root, outside = tmp_path / "archive", tmp_path / "outside"
    v = f"{P}001001"
    real = _plain(root / "proprietary" / P / v / _name(v, 1))
    _plain(outside / v / _name(v, 1))
    (root / "public" / P).mkdir(parents=True)
    (root / "public" / P / v).symlink_to(outside / v)
    table = FakeFilesTable()
    first = _tick(root, None, table, 0)
    assert _record(root, tmp_path, table) == {_name(v, 1): f"proprietary/{P}/{v}"}
    real.unlink()
    _bump(real.parent, 1)
    second = _tick(root, first.cursor, table, 1)
    assert second.changes == {(P, "nircam"): [f"{_name(v, 1)},-1,-1"]}
    assert _record(root, tmp_path, table) == {}


def test_a_file_waiting_to_settle_is_dropped_when_its_visit_link_leaves_the_archive(tmp_path: Path) -> None:
    root, outside = tmp_path / "archive", tmp_path / "outside"
    v = f"{P}002001"
    _plain(root / "store" / v / _name(v, 1))
    _plain(outside / v / _name(v, 1))
    (root / "staging").symlink_to(root / "store")
    (root / "public" / P).mkdir(parents=True)
    (root / "public" / P / v).symlink_to(root / "staging" / v)
    fresh = time.time() + 10  # not settled at the first tick
    first = scan_archive(root, None, now=fresh, settle_seconds=60, max_files=100, known=FakeFilesTable())
    assert first.waiting == 1 and first.changes == {}
    (root / "staging").unlink()
    (root / "staging").symlink_to(outside)  # the same name now resolves out of the archive
    later = scan_archive(root, first.cursor, now=NOW, settle_seconds=60, max_files=100, known=FakeFilesTable())
    assert later.changes == {}, "a file out of the archive was requested"
