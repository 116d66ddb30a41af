"""Central-storage sizes against an independent walk: nested areas, hard links, excluded folders, unreadable ones."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from jwql_dagster.filesystem.central import central_roots, central_storage
from tests.filesystem.tree import make_file


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
