"""The archive scan and central-storage sizes against independent walks, plus the traps a real disk has."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from jwql_dagster.filesystem import scan as fsstats
from jwql_dagster.filesystem.central import central_roots, central_storage
from tests.filesystem.conftest import independent_counts, make_file


@pytest.mark.parametrize("workers", [1, 2])
def test_counts_and_sizes_match_an_independent_walk(archive_tree: Path, workers: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fsstats, "PARALLEL_MIN_FOLDERS", 0)  # use the worker processes even on this small tree
    n, size, by_type = independent_counts(archive_tree)
    scan = fsstats.scan_archive(archive_tree, workers=workers)
    assert (scan.total_file_count, scan.total_file_size) == (n, size)
    assert scan.by_type == by_type
    assert scan.fits_file_count == sum(v[0] for v in by_type.values())
    assert scan.fits_file_size == sum(v[1] for v in by_type.values())
    assert scan.problem_count == 0 and scan.symlink_count == 0


def test_msa_stage3_and_unrecognized_buckets(archive_tree: Path) -> None:
    scan = fsstats.scan_archive(archive_tree)
    assert scan.by_type[("nirspec", "msa")] == [1, 90]
    assert scan.by_type[("nircam", "i2d")] == [1, 400_000]  # stage-3 name in jw01068-o001/
    assert scan.by_type[("unrecognized", "unrecognized")] == [2, 2_880 + 33]
    assert sorted(scan.unrecognized) == [
        "proprietary/jw01234/jw01234001001/jw01234001001_badname.fits",
        "public/jw01068/jw01068_README.fits",
    ]


def test_links_are_reported_not_followed_and_do_not_stop_the_scan(archive_tree: Path) -> None:
    n, size, by_type = independent_counts(archive_tree)
    visit = archive_tree / "public/jw01068/jw01068001001"
    os.symlink(visit / "jw01068001001_02102_00001_nrcb1_rate.fits", visit / "jw01068001001_02102_00009_nrcb1_rate.fits")
    os.symlink(archive_tree / "nowhere.fits", visit / "dangling_rate.fits")
    os.symlink(visit / "loop_b", visit / "loop_a")
    os.symlink(visit / "loop_a", visit / "loop_b")
    os.symlink(archive_tree / "proprietary", archive_tree / "public/jw09999")  # a directory link: not walked
    scan = fsstats.scan_archive(archive_tree)
    assert (scan.total_file_count, scan.total_file_size, scan.by_type) == (n, size, by_type)
    assert scan.symlink_count == 5
    kinds = {(p.kind, Path(p.path).name) for p in scan.problems}
    assert ("dangling_link", "dangling_rate.fits") in kinds
    assert {("link_loop", "loop_a"), ("link_loop", "loop_b")} <= kinds
    assert scan.problem_kinds == {"dangling_link": 1, "link_loop": 2}


def test_unreadable_directory_is_reported_and_skipped(archive_tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    locked = archive_tree / "proprietary/jw01234/jw01234002001"
    real = os.scandir

    def scandir(path=".", *a, **k):
        if isinstance(path, (str, os.PathLike)) and os.fspath(path) == os.fspath(locked):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real(path, *a, **k)

    monkeypatch.setattr(os, "scandir", scandir)
    scan = fsstats.scan_archive(archive_tree)
    monkeypatch.undo()
    n, size, _ = independent_counts(archive_tree)
    hidden = [p for p in locked.rglob("*") if p.is_file()]
    assert scan.total_file_count == n - len(hidden)
    assert scan.total_file_size == size - sum(p.stat().st_size for p in hidden)
    assert [(p.kind, p.path, p.detail) for p in scan.problems] == [
        ("unreadable_dir", "proprietary/jw01234/jw01234002001", "Permission denied")
    ]


def test_missing_area_counts_as_empty(tmp_path: Path) -> None:
    make_file(tmp_path / "public/jw01068/jw01068001001/jw01068001001_02102_00001_nrcb1_rate.fits", 10)
    scan = fsstats.scan_archive(tmp_path)
    assert scan.missing_areas == ["proprietary"]
    assert scan.total_file_count == 1 and scan.by_type == {("nircam", "rate"): [1, 10]}
    assert scan.disk.size > 0 and scan.disk.devices == 1


def _bytes_under(root: Path, skip: tuple[Path, ...] = ()) -> int:
    seen, total = set(), 0
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if Path(dirpath, d) not in skip]
        for f in files:
            st = os.lstat(os.path.join(dirpath, f))
            if os.path.stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def test_central_storage_all_excludes_archive_and_dagster_home_and_counts_each_byte_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    make_file(home / "archive/public/jw01068/jw01068001001/x_rate.fits", 1_000_000)  # excluded
    make_file(home / "dagster_home/storage/run.db", 500_000)  # excluded
    make_file(home / "outputs/filesystem/filesystem_dashboard.html", 3_000)
    make_file(home / "outputs/previews/jw01068/index.html", 200)
    make_file(home / "preview_images/jw01068/a_integ0.jpg", 40_000)
    make_file(home / "thumbnails/jw01068/a_integ0.thumb", 4_000)
    make_file(home / "jwql.db", 70_000)  # only in 'all'
    os.link(home / "preview_images/jw01068/a_integ0.jpg", home / "outputs/previews/jw01068/a.jpg")  # hard link
    make_file(tmp_path / "elsewhere/logs/ops/monitor/a.log", 123)  # a root outside the central store
    roots = central_roots(
        log_root=str(tmp_path / "elsewhere/logs"), output_root=str(home / "outputs"),
        working_root=str(home / "working"),  # does not exist yet
        preview_root=str(home / "preview_images"), thumbnail_root=str(home / "thumbnails"), central_store=str(home),
    )
    cs = central_storage(roots, exclude_from_all=[home / "archive", home / "dagster_home"])
    used = {a: s.used for a, s in cs.areas.items()}
    assert used == {
        "logs": 123,
        "outputs": 3_000 + 200 + 40_000,
        "working": 0,
        "preview_images": 40_000,
        "thumbnails": 4_000,
        "all": 3_000 + 200 + 40_000 + 4_000 + 70_000,  # the hard-linked JPEG once, no archive, no dagster home
    }
    assert used["all"] == _bytes_under(home, skip=(home / "archive", home / "dagster_home"))
    assert not cs.areas["working"].exists and cs.areas["working"].size > 0  # disk of its nearest parent
    assert all(a.available <= a.size for a in cs.areas.values())
    assert cs.problem_count == 0


def test_central_storage_reports_unreadable_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_file(tmp_path / "out/a/1.png", 10)
    make_file(tmp_path / "out/b/2.png", 20)
    real = os.scandir

    def scandir(path=".", *a, **k):
        if isinstance(path, (str, os.PathLike)) and os.fspath(path).endswith("/out/a"):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real(path, *a, **k)

    monkeypatch.setattr(os, "scandir", scandir)
    cs = central_storage({"outputs": tmp_path / "out", "all": tmp_path})
    assert cs.areas["outputs"].used == 20 and cs.areas["all"].used == 20
    assert [p.kind for p in cs.problems] == ["unreadable_dir"]
