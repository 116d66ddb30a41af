"""Symlinks in the archive: the sensor and archive_files follow the same links (docs/sensor.md, "Symlinks").

The rule: a link (program folder, visit folder or FITS file) whose target resolves inside the
archive is followed by both, and a file reachable twice is counted once (at its real place when
that place is scanned anyway); links out of the archive, dangling links and loops are followed by
neither and are reported.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from astropy.io import fits

import jwql_dagster.archive.sensors as nff
from jwql_dagster.archive.assets import archive_files
from jwql_dagster.archive.arrivals import KnownFile, ScanResult, decode_cursor, scan_archive
from jwql_dagster.db.models import File
from jwql_dagster.resources import ArchiveFilesystem, JwqlDatabase, JwqlOptions
from tests.sensor.fake_archive import FakeFilesTable

P = "jw01068"


def _name(visit: str, exposure: int, detector: str = "nrcb1") -> str:
    return f"{visit}_02101_{exposure:05d}_{detector}_rate.fits"


def _fits(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fits.PrimaryHDU().writeto(path)
    return path


def _resource(root: Path, out: Path) -> ArchiveFilesystem:
    return ArchiveFilesystem(filesystem=str(root), preview_root=str(out / "p"), thumbnail_root=str(out / "t"),
                             output_root=str(out / "o"), working_root=str(out / "w"), log_root=str(out / "l"),
                             central_store=str(out), dagster_home=str(out / "d"))


def linked_archive(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """An archive with links of every kind; returns (root, {file name: folder relative to the root}) expected."""
    root, outside = tmp_path / "archive", tmp_path / "outside"
    program = root / "public" / P
    real = f"{P}001001"
    _fits(program / real / _name(real, 1))
    # a MIRI visit staged elsewhere in the archive, linked in as a visit folder (relative link)
    staged = f"{P}002001"
    _fits(root / "staging" / staged / _name(staged, 1, "mirimage"))
    _fits(root / "staging" / staged / _name(staged, 2, "mirimage"))
    (program / staged).symlink_to(Path("..", "..", "staging", staged))
    # a link to a visit folder the scan visits anyway: its file counts once, at its real place
    twin = f"{P}003001"
    _fits(root / "proprietary" / P / twin / _name(twin, 1))
    (program / twin).symlink_to(root / "proprietary" / P / twin)
    # a FITS file linked in from elsewhere in the archive: followed
    _fits(root / "staging" / _name(real, 4))
    (program / real / _name(real, 4)).symlink_to(root / "staging" / _name(real, 4))
    # links out of the archive: followed by neither
    gone = f"{P}004001"
    _fits(outside / gone / _name(gone, 1))
    (program / gone).symlink_to(outside / gone)
    _fits(outside / _name(real, 5))
    (program / real / _name(real, 5)).symlink_to(outside / _name(real, 5))
    expected = {
        _name(real, 1): f"public/{P}/{real}",
        _name(real, 4): f"public/{P}/{real}",
        _name(staged, 1, "mirimage"): f"public/{P}/{staged}",
        _name(staged, 2, "mirimage"): f"public/{P}/{staged}",
        _name(twin, 1): f"proprietary/{P}/{twin}",
    }
    return root, expected


def test_sensor_and_archive_files_follow_the_same_links(tmp_path: Path, sqlite_db: JwqlDatabase,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    root, expected = linked_archive(tmp_path)
    archive = _resource(root, tmp_path / "out")
    res = {"archive": archive, "db": sqlite_db, "options": JwqlOptions(sensor_settle_seconds=0)}
    monkeypatch.setattr(nff, "clock", lambda: time.time() + 3600)

    def tick(instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult:
        with dg.build_sensor_context(instance=instance, cursor=cursor, resources=res) as ctx:
            out = nff.new_fits_files(ctx)
        assert isinstance(out, dg.SensorResult)
        return out

    with dg.instance_for_test() as instance:
        first = tick(instance, None)
        requested = sorted(str(r.partition_key) for r in first.run_requests)
        # the MIRI partition exists only through the linked visit folder
        assert requested == [f"miri|{P}", f"nircam|{P}"]
        seen = {name: v[0] for name, v in decode_cursor(first.cursor)["inflight"].items()}
        assert seen == expected

        instance.add_dynamic_partitions("program", [P])
        skipped = []
        for key in requested:
            result = dg.materialize([archive_files], partition_key=key, instance=instance,
                                    resources={"archive": archive, "db": sqlite_db})
            assert result.success
            skipped += result.asset_materializations_for_node("archive_files")[0].metadata["skipped_links"].value
        # the two links out of the archive, reported by each run (the listing covers the whole program)
        out = Path(os.path.realpath(tmp_path / "outside"))
        assert sorted(set(skipped)) == [
            f"symlink out of the archive, not followed: public/{P}/{P}001001/{_name(f'{P}001001', 5)} -> "
            f"{out / _name(f'{P}001001', 5)}",
            f"symlink out of the archive, not followed: public/{P}/{P}004001 -> {out / f'{P}004001'}",
        ]
        with sqlite_db.session(readonly=True) as s:
            rows = s.execute(sa.select(File.filename, File.path).where(File.deleted_at.is_(None))).all()
        listed = {r.filename: os.path.relpath(os.path.dirname(r.path), root) for r in rows}
        assert listed == seen  # archive_files lists exactly the files the sensor saw, at the same places

        # and the next tick finds the rows it expected: nothing requested again, nothing left in flight
        settled = tick(instance, first.cursor)
        assert settled.run_requests == []
        assert decode_cursor(settled.cursor)["inflight"] == {}


# ------------------------------------------------------------------ the same rule, layout by layout (no Dagster)


def sensor_view(root: Path, cursor: str | None = None, known=None) -> tuple[dict[str, str], ScanResult]:
    """{name: folder} of the files one sensor tick requests, and the tick's result."""
    result = scan_archive(root, cursor, now=time.time() + 3600, settle_seconds=0, max_files=10_000, known=known)
    return {name: v[0] for name, v in decode_cursor(result.cursor)["inflight"].items() if v[1] >= 0}, result


def archive_view(root: Path, tmp_path: Path) -> tuple[dict[str, str], list[str]]:
    """{name: folder} of the files program_files lists over every program, and the links it skipped."""
    archive, skipped, out = _resource(root, tmp_path / "out"), [], {}
    for program in archive.programs(skipped):
        for f in archive.program_files(program, skipped=skipped):
            assert f.name not in out, f"{f.name} listed twice"
            out[f.name] = os.path.relpath(f.path.parent, root).replace(os.sep, "/")
    return out, skipped


def _plain(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * 10)
    return path


def _layout_two_links_to_one_folder(root: Path, outside: Path) -> dict[str, str]:
    v = f"{P}005001"
    _plain(root / "incoming" / "x" / _name(v, 1))
    (root / "public" / P).mkdir(parents=True)
    (root / "public" / P / v).symlink_to(root / "incoming" / "x")
    (root / "public" / P / f"{P}006001").symlink_to(root / "incoming" / "x")  # the same folder again: counted once
    return {_name(v, 1): f"public/{P}/{v}"}


def _layout_program_links(root: Path, outside: Path) -> dict[str, str]:
    v = "jw02000001001"
    _plain(root / "staging" / "jw02000" / v / _name(v, 1))
    (root / "public").mkdir(parents=True)
    (root / "public" / "jw02000").symlink_to(Path("..", "staging", "jw02000"))  # inside: followed
    _plain(root / "proprietary" / P / f"{P}001001" / _name(f"{P}001001", 1))
    (root / "public" / P).symlink_to(root / "proprietary" / P)  # a scanned program: counted there once
    _plain(outside / "jw03000" / "jw03000001001" / _name("jw03000001001", 1))
    (root / "public" / "jw03000").symlink_to(outside / "jw03000")  # out: followed by neither
    (root / "public" / "jw09999").symlink_to(root / "public")  # loop
    return {_name(v, 1): f"public/jw02000/{v}", _name(f"{P}001001", 1): f"proprietary/{P}/{P}001001"}


def _layout_file_links(root: Path, outside: Path) -> dict[str, str]:
    v = f"{P}001001"
    pub, prop = root / "public" / P / v, root / "proprietary" / P / v
    _plain(prop / _name(v, 1))
    pub.mkdir(parents=True)
    (pub / _name(v, 1)).symlink_to(prop / _name(v, 1))  # the same file in the twin folder: counted at its real place
    (pub / _name(v, 2)).symlink_to(prop / _name(v, 1))  # another name for a scanned file: counted once, there
    _plain(root / "public" / P / "loose" / _name(v, 3))
    (pub / _name(v, 3)).symlink_to(root / "public" / P / "loose" / _name(v, 3))  # not scanned otherwise: followed
    (pub / _name(v, 4)).symlink_to(_name(v, 4))  # a loop
    (pub / _name(v, 5)).symlink_to(pub / "missing.fits")  # dangling
    (pub / _name(v, 6)).symlink_to(pub)  # a folder where a file belongs
    _plain(outside / _name(v, 7))
    (pub / _name(v, 7)).symlink_to(outside / _name(v, 7))  # out
    return {_name(v, 1): f"proprietary/{P}/{v}", _name(v, 3): f"public/{P}/{v}"}


def _layout_folder_loops(root: Path, outside: Path) -> dict[str, str]:
    v = f"{P}001001"
    program = root / "public" / P
    _plain(program / v / _name(v, 1))
    (program / f"{P}002001").symlink_to(root)  # the archive root
    (program / f"{P}003001").symlink_to(root / "proprietary")  # an area
    (root / "proprietary").mkdir()
    (program / f"{P}004001").symlink_to(f"{P}004001")  # itself
    (program / v / "jw_sub").symlink_to(program / v)  # a folder in a visit is never walked
    return {_name(v, 1): f"public/{P}/{v}"}


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
    _plain(root / "store" / "real" / v / _name(v, 1))
    _plain(outside / v / _name(v, 9))
    (root / "staging").symlink_to(root / "store" / "real")  # an inner link the operator re-points later
    (root / "public" / P).mkdir(parents=True)
    (root / "public" / P / v).symlink_to(root / "staging" / v)
    table = FakeFilesTable()
    seen, first = sensor_view(root, known=table)
    assert seen == {_name(v, 1): f"public/{P}/{v}"}
    listed, _ = archive_view(root, tmp_path)
    assert listed == seen
    for name, d in seen.items():  # archive_files recorded them
        st = (root / d / name).stat()
        table.rows[name] = KnownFile(name=name, dir=d, size=st.st_size, mtime_ns=st.st_mtime_ns)

    (root / "staging").unlink()
    (root / "staging").symlink_to(outside)  # public/jw01068/jw01068002001 now resolves out of the archive
    result = scan_archive(root, first.cursor, now=time.time() + 3700, settle_seconds=0, max_files=100, known=table)
    assert result.changes == {(P, "nircam"): [f"{_name(v, 1)},-1,-1"]}  # its recorded file is gone, none is added
    assert any(p.startswith(f"symlink out of the archive, not followed: public/{P}/{v} -> ") for p in result.problems)
    listed, skipped = archive_view(root, tmp_path)
    real_out = Path(os.path.realpath(outside))
    assert listed == {} and skipped == [f"symlink out of the archive, not followed: public/{P}/{v} -> {real_out / v}"]
