"""The archive scan against an independent walk, plus the traps a real disk has."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from jwql_dagster.filesystem import scan as fsstats
from tests.filesystem.tree import independent_counts, make_file


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
