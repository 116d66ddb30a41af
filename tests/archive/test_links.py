"""Symlinks in the archive: the sensor and archive_files follow the same links (docs/sensor.md, "Symlinks").

The rule: a link (program folder, visit folder or FITS file) whose target resolves inside the
archive is followed by both, and a file reachable twice is counted once (at its real place when
that place is scanned anyway); links out of the archive, dangling links and loops are followed by
neither and are reported.
"""

from __future__ import annotations

import errno
import os
import shutil
import time
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

import jwql_dagster.archive.sensors as nff
from jwql_dagster.archive.assets import archive_files
from jwql_dagster.archive.arrivals import scan_archive
from jwql_dagster.archive.changes import KnownFile, ScanResult
from jwql_dagster.archive.cursor import decode_cursor
from jwql_dagster.archive.links import ArchiveLinks
from jwql_dagster.db.models import File
from jwql_dagster.resources import JwqlDatabase, JwqlOptions
from tests.archive.conftest import P, FakeFilesTable, archive_view, fits_file, plain_file, rate_name, resource_at






def linked_archive(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """An archive with links of every kind; returns (root, {file name: folder relative to the root}) expected."""
    root, outside = tmp_path / "archive", tmp_path / "outside"
    program = root / "public" / P
    real = f"{P}001001"
    fits_file(program / real / rate_name(real, 1))
    # a MIRI visit staged elsewhere in the archive, linked in as a visit folder (relative link)
    staged = f"{P}002001"
    fits_file(root / "staging" / staged / rate_name(staged, 1, "mirimage"))
    fits_file(root / "staging" / staged / rate_name(staged, 2, "mirimage"))
    (program / staged).symlink_to(Path("..", "..", "staging", staged))
    # a link to a visit folder the scan visits anyway: its file counts once, at its real place
    twin = f"{P}003001"
    fits_file(root / "proprietary" / P / twin / rate_name(twin, 1))
    (program / twin).symlink_to(root / "proprietary" / P / twin)
    # a FITS file linked in from elsewhere in the archive: followed
    fits_file(root / "staging" / rate_name(real, 4))
    (program / real / rate_name(real, 4)).symlink_to(root / "staging" / rate_name(real, 4))
    # links out of the archive: followed by neither
    gone = f"{P}004001"
    fits_file(outside / gone / rate_name(gone, 1))
    (program / gone).symlink_to(outside / gone)
    fits_file(outside / rate_name(real, 5))
    (program / real / rate_name(real, 5)).symlink_to(outside / rate_name(real, 5))
    expected = {
        rate_name(real, 1): f"public/{P}/{real}",
        rate_name(real, 4): f"public/{P}/{real}",
        rate_name(staged, 1, "mirimage"): f"public/{P}/{staged}",
        rate_name(staged, 2, "mirimage"): f"public/{P}/{staged}",
        rate_name(twin, 1): f"proprietary/{P}/{twin}",
    }
    return root, expected


def test_sensor_and_archive_files_follow_the_same_links(tmp_path: Path, sqlite_db: JwqlDatabase,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    root, expected = linked_archive(tmp_path)
    archive = resource_at(root, tmp_path / "out")
    res = {"archive": archive, "db": sqlite_db, "options": JwqlOptions(sensor_settle_seconds=0)}
    monkeypatch.setattr(nff, "clock", lambda: time.time() + 3600)

    def tick(instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult:
        with dg.build_sensor_context(instance=instance, cursor=cursor, resources=res) as ctx:
            out = nff.new_fits_files(ctx)
        assert isinstance(out, dg.SensorResult)
        return out

    with dg.instance_for_test() as instance:
        first = tick(instance, None)
        # one run for the program's two instruments; the MIRI partition exists only through the linked visit folder
        [request] = first.run_requests
        ends = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")
        assert tuple(request.tags[t] for t in ends) == (f"miri|{P}", f"nircam|{P}")
        seen = {name: v[0] for name, v in nff.stored_state(sqlite_db, first.cursor)["inflight"].items()}
        assert seen == expected

        instance.add_dynamic_partitions("program", [P])
        result = dg.materialize([archive_files], instance=instance, tags={t: request.tags[t] for t in ends},
                                resources={"archive": archive, "db": sqlite_db})
        assert result.success
        skipped = result.asset_materializations_for_node("archive_files")[0].metadata["skipped_links"].value
        # the two links out of the archive, reported by the run (the listing covers the whole program)
        out = Path(os.path.realpath(tmp_path / "outside"))
        assert sorted(set(skipped)) == [
            f"symlink out of the archive, not followed: public/{P}/{P}001001/{rate_name(f'{P}001001', 5)} -> "
            f"{out / rate_name(f'{P}001001', 5)}",
            f"symlink out of the archive, not followed: public/{P}/{P}004001 -> {out / f'{P}004001'}",
        ]
        with sqlite_db.session(readonly=True) as s:
            rows = s.execute(sa.select(File.filename, File.path).where(File.deleted_at.is_(None))).all()
        listed = {r.filename: os.path.relpath(os.path.dirname(r.path), root) for r in rows}
        assert listed == seen  # archive_files lists exactly the files the sensor saw, at the same places

        # and the next tick finds the rows it expected: nothing requested again, nothing left in flight
        settled = tick(instance, first.cursor)
        assert settled.run_requests == []
        assert nff.stored_state(sqlite_db, settled.cursor)["inflight"] == {}


# ------------------------------------------------------------------ the same rule, layout by layout (no Dagster)


def sensor_view(root: Path, cursor: str | None = None, known=None) -> tuple[dict[str, str], ScanResult]:
    """{name: folder} of the files one sensor tick requests, and the tick's result."""
    result = scan_archive(root, cursor, now=time.time() + 3600, settle_seconds=0, max_files=10_000, known=known)
    return {name: v[0] for name, v in decode_cursor(result.cursor)["inflight"].items() if v[1] >= 0}, result




def _layout_two_links_to_one_folder(root: Path, outside: Path) -> dict[str, str]:
    v = f"{P}005001"
    plain_file(root / "incoming" / "x" / rate_name(v, 1))
    (root / "public" / P).mkdir(parents=True)
    (root / "public" / P / v).symlink_to(root / "incoming" / "x")
    (root / "public" / P / f"{P}006001").symlink_to(root / "incoming" / "x")  # the same folder again: counted once
    return {rate_name(v, 1): f"public/{P}/{v}"}


def _layout_program_links(root: Path, outside: Path) -> dict[str, str]:
    v = "jw02000001001"
    plain_file(root / "staging" / "jw02000" / v / rate_name(v, 1))
    (root / "public").mkdir(parents=True)
    (root / "public" / "jw02000").symlink_to(Path("..", "staging", "jw02000"))  # inside: followed
    plain_file(root / "proprietary" / P / f"{P}001001" / rate_name(f"{P}001001", 1))
    (root / "public" / P).symlink_to(root / "proprietary" / P)  # a scanned program: counted there once
    plain_file(outside / "jw03000" / "jw03000001001" / rate_name("jw03000001001", 1))
    (root / "public" / "jw03000").symlink_to(outside / "jw03000")  # out: followed by neither
    (root / "public" / "jw09999").symlink_to(root / "public")  # loop
    return {rate_name(v, 1): f"public/jw02000/{v}", rate_name(f"{P}001001", 1): f"proprietary/{P}/{P}001001"}


def _layout_file_links(root: Path, outside: Path) -> dict[str, str]:
    v = f"{P}001001"
    pub, prop = root / "public" / P / v, root / "proprietary" / P / v
    plain_file(prop / rate_name(v, 1))
    pub.mkdir(parents=True)
    (pub / rate_name(v, 1)).symlink_to(prop / rate_name(v, 1))  # the same file in the twin folder: counted at its real place
    (pub / rate_name(v, 2)).symlink_to(prop / rate_name(v, 1))  # another name for a scanned file: counted once, there
    plain_file(root / "public" / P / "loose" / rate_name(v, 3))
    (pub / rate_name(v, 3)).symlink_to(root / "public" / P / "loose" / rate_name(v, 3))  # not scanned otherwise: followed
    (pub / rate_name(v, 4)).symlink_to(rate_name(v, 4))  # a loop
    (pub / rate_name(v, 5)).symlink_to(pub / "missing.fits")  # dangling
    (pub / rate_name(v, 6)).symlink_to(pub)  # a folder where a file belongs
    plain_file(outside / rate_name(v, 7))
    (pub / rate_name(v, 7)).symlink_to(outside / rate_name(v, 7))  # out
    return {rate_name(v, 1): f"proprietary/{P}/{v}", rate_name(v, 3): f"public/{P}/{v}"}


def _layout_folder_loops(root: Path, outside: Path) -> dict[str, str]:
    v = f"{P}001001"
    program = root / "public" / P
    plain_file(program / v / rate_name(v, 1))
    (program / f"{P}002001").symlink_to(root)  # the archive root
    (program / f"{P}003001").symlink_to(root / "proprietary")  # an area
    (root / "proprietary").mkdir()
    (program / f"{P}004001").symlink_to(f"{P}004001")  # itself
    (program / v / "jw_sub").symlink_to(program / v)  # a folder in a visit is never walked
    return {rate_name(v, 1): f"public/{P}/{v}"}


LAYOUTS = {
    "visit_links": lambda root, outside: linked_archive(root.parent)[1],
    "two_links_to_one_folder": _layout_two_links_to_one_folder,
    "program_links": _layout_program_links,
    "file_links": _layout_file_links,
    "folder_loops": _layout_folder_loops,
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_sensor_and_program_files_list_the_same_files(tmp_path: Path, layout: str) -> None:
    root, outside = tmp_path / "archive", tmp_path / "outside"
    expected = LAYOUTS[layout](root, outside)
    start = time.monotonic()
    seen, result = sensor_view(root)
    assert seen == expected
    listed, skipped = archive_view(root, tmp_path)
    assert time.monotonic() - start < 10  # loops never hang
    assert listed == expected
    # both report the same links out of the archive and loops
    assert sorted(set(skipped)) == sorted(set(result.problems))


def test_links_out_and_loops_are_reported_in_words(tmp_path: Path) -> None:
    root, outside = tmp_path / "archive", tmp_path / "outside"
    _layout_program_links(root, outside)
    _, result = sensor_view(root)
    real_out = Path(os.path.realpath(outside))
    assert f"symlink out of the archive, not followed: public/jw03000 -> {real_out / 'jw03000'}" in result.problems
    assert "symlink loop at public/jw09999" in result.problems
    assert "skipped: unreadable, symlink loops or links out of the archive" in result.summary()


def test_a_link_that_comes_to_point_out_of_the_archive_is_dropped_by_both(tmp_path: Path) -> None:
    """The target of a followed visit link moves out of the archive without the link itself changing."""
    root, outside = tmp_path / "archive", tmp_path / "outside"
    v = f"{P}002001"
    plain_file(root / "store" / "real" / v / rate_name(v, 1))
    plain_file(outside / v / rate_name(v, 9))
    (root / "staging").symlink_to(root / "store" / "real")  # an inner link the operator re-points later
    (root / "public" / P).mkdir(parents=True)
    (root / "public" / P / v).symlink_to(root / "staging" / v)
    table = FakeFilesTable()
    seen, first = sensor_view(root, known=table)
    assert seen == {rate_name(v, 1): f"public/{P}/{v}"}
    listed, _ = archive_view(root, tmp_path)
    assert listed == seen
    for name, d in seen.items():  # archive_files recorded them
        st = (root / d / name).stat()
        table.rows[name] = KnownFile(name=name, dir=d, size=st.st_size, mtime_ns=st.st_mtime_ns)

    (root / "staging").unlink()
    (root / "staging").symlink_to(outside)  # public/jw01068/jw01068002001 now resolves out of the archive
    result = scan_archive(root, first.cursor, now=time.time() + 3700, settle_seconds=0, max_files=100, known=table)
    assert result.changes == {(P, "nircam"): [f"{rate_name(v, 1)},-1,-1"]}  # its recorded file is gone, none is added
    assert any(p.startswith(f"symlink out of the archive, not followed: public/{P}/{v} -> ") for p in result.problems)
    listed, skipped = archive_view(root, tmp_path)
    real_out = Path(os.path.realpath(outside))
    assert listed == {} and skipped == [f"symlink out of the archive, not followed: public/{P}/{v} -> {real_out / v}"]


# ------------------------------------------------------------------ the rule over several ticks
# Each tick is followed by what the requested archive_files runs would record (``program_files``
# over every program), so the next tick compares with the rows a real run leaves behind.

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
    plain_file(root / "staging" / P / v / rate_name(v, 1))
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
    assert first.changes == {(P, "nircam"): [f"{rate_name(v, 1)},10,{(root / 'staging' / P / v / rate_name(v, 1)).stat().st_mtime_ns}"]}
    assert _record(root, tmp_path, table) == {rate_name(v, 1): f"public/{P}/{v}"}
    second = _tick(root, first.cursor, table, 1)
    assert second.changes == {}

    link.unlink()
    _bump(parent, 2)
    third = _tick(root, second.cursor, table, 2)
    assert _record(root, tmp_path, table) == {rate_name(v, 1): f"proprietary/{P}/{v}"}
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

    plain_file(root / "staging" / v / rate_name(v, 1))  # the staged folder arrives; public/jw01068 is untouched
    second = _tick(root, first.cursor, table, 1)
    assert _record(root, tmp_path, table) == {rate_name(v, 1): f"public/{P}/{v}"}
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
    plain_file(root / "staging" / P / v / rate_name(v, 1))
    second = _tick(root, first.cursor, table, 1)
    assert _record(root, tmp_path, table) == {rate_name(v, 1): f"public/{P}/{v}"}
    assert (P, "nircam") in second.changes, "archive_files lists the linked program, the sensor never requested it"


def test_a_link_that_points_out_is_reported_once_left_alone_and_taken_back_when_its_folder_changes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An inner link is re-pointed out of the archive (the visit link untouched), then back."""
    root, outside = tmp_path / "archive", tmp_path / "outside"
    v = f"{P}002001"
    plain_file(root / "store" / v / rate_name(v, 1))
    plain_file(outside / v / rate_name(v, 9))
    (root / "staging").symlink_to(root / "store")
    (root / "public" / P).mkdir(parents=True)
    (root / "public" / P / v).symlink_to(root / "staging" / v)
    table = FakeFilesTable()
    first = _tick(root, None, table, 0)
    assert _record(root, tmp_path, table) == {rate_name(v, 1): f"public/{P}/{v}"}

    (root / "staging").unlink()
    (root / "staging").symlink_to(outside)
    gone = _tick(root, first.cursor, table, 1)
    assert gone.changes == {(P, "nircam"): [f"{rate_name(v, 1)},-1,-1"]}
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
    assert _record(root, tmp_path, table) == {rate_name(v, 1): f"public/{P}/{v}"}
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
            plain_file(root / "store" / P / visit / rate_name(visit, exposure))
            names.append(rate_name(visit, exposure))
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
    plain_file(root / "store" / "a" / v / rate_name(v, 1))
    (root / "public" / P).mkdir(parents=True)
    (root / "hop").symlink_to("store/a")
    (root / "store" / "b").symlink_to("../hop")  # a chain through a relative link
    cases = {
        "abs": root / "store" / "a" / v,
        "rel": Path("..", "..", "store", "a", v),
        "chain": Path("..", "..", "store", "b", v),
        "dotdot": Path("..", "..", "hop", "..", "a", v),  # '..' after a link: store/a/.., not the root
        "file": root / "store" / "a" / v / rate_name(v, 1),
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
        plain_file(root / "store" / v / rate_name(v, 1))
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
    real = plain_file(root / "proprietary" / P / v / rate_name(v, 1))
    plain_file(outside / v / rate_name(v, 1))
    (root / "public" / P).mkdir(parents=True)
    (root / "public" / P / v).symlink_to(outside / v)
    table = FakeFilesTable()
    first = _tick(root, None, table, 0)
    assert _record(root, tmp_path, table) == {rate_name(v, 1): f"proprietary/{P}/{v}"}
    real.unlink()
    _bump(real.parent, 1)
    second = _tick(root, first.cursor, table, 1)
    assert second.changes == {(P, "nircam"): [f"{rate_name(v, 1)},-1,-1"]}
    assert _record(root, tmp_path, table) == {}


def test_a_file_waiting_to_settle_is_dropped_when_its_visit_link_leaves_the_archive(tmp_path: Path) -> None:
    root, outside = tmp_path / "archive", tmp_path / "outside"
    v = f"{P}002001"
    plain_file(root / "store" / v / rate_name(v, 1))
    plain_file(outside / v / rate_name(v, 1))
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
