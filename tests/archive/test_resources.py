"""ArchiveFilesystem: program listing, file listing per instrument, safe output paths, atomic writes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from jwql_dagster.archive.resources import ArchiveFilesystem, UnsafePathError


def make_resource(root: Path, out: Path) -> ArchiveFilesystem:
    return ArchiveFilesystem(filesystem=str(root), preview_root=str(out / "previews"), thumbnail_root=str(out / "thumbs"),
                             output_root=str(out / "outputs"), working_root=str(out / "working"), log_root=str(out / "logs"),
                             central_store=str(out), dagster_home=str(out / "dh"))


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def tiny(tmp_path: Path) -> ArchiveFilesystem:
    root = tmp_path / "archive"
    touch(root / "public/jw01068/jw01068001001/jw01068001001_02102_00001_nrcb1_rate.fits")
    touch(root / "public/jw01068/jw01068-o001/jw01068-o001_t001_nircam_clear-f200w_i2d.fits")
    touch(root / "proprietary/jw01068/jw01068002001/jw01068002001_02102_00001_mirimage_cal.fits")
    touch(root / "proprietary/jw01068/jw01068002001/jw01068002001_bogus.fits")
    touch(root / "proprietary/jw01068/jw01068002001/notes.txt")
    touch(root / "proprietary/jw01068/jw01068002001/.tmp-partial.fits")
    touch(root / "proprietary/jw01068/loose_file_rate.fits")  # not in a jw* folder: not a product location
    touch(root / "proprietary/jw02222/jw02222001001/jw02222001001_02102_00001_nis_rate.fits")
    (root / "public/notaprogram").mkdir(parents=True)
    (root / "public/jw1234").mkdir(parents=True)
    return make_resource(root, tmp_path / "out")


def test_programs_are_the_union_of_both_areas(tiny: ArchiveFilesystem) -> None:
    assert tiny.programs() == ["jw01068", "jw02222"]


def test_program_files_cover_visit_and_stage3_folders_in_both_areas(tiny: ArchiveFilesystem) -> None:
    files = tiny.program_files("jw01068")
    assert [(f.area, f.name, f.instrument) for f in files] == [
        ("proprietary", "jw01068002001_02102_00001_mirimage_cal.fits", "miri"),
        ("proprietary", "jw01068002001_bogus.fits", None),
        ("public", "jw01068-o001_t001_nircam_clear-f200w_i2d.fits", "nircam"),
        ("public", "jw01068001001_02102_00001_nrcb1_rate.fits", "nircam"),
    ]
    bogus = files[1]
    assert bogus.parsed is None and bogus.parse_error and bogus.size == 1 and bogus.mtime_ns > 0


def test_instrument_filter_keeps_unrecognised_names_for_the_caller(tiny: ArchiveFilesystem) -> None:
    names = [f.name for f in tiny.program_files("jw01068", "nircam")]
    assert names == ["jw01068002001_bogus.fits", "jw01068-o001_t001_nircam_clear-f200w_i2d.fits",
                     "jw01068001001_02102_00001_nrcb1_rate.fits"]
    assert [f.name for f in tiny.program_files("jw01068", "miri", include_unrecognized=False)] == [
        "jw01068002001_02102_00001_mirimage_cal.fits"]
    assert tiny.program_files("jw09999") == []


def test_cells_are_the_program_instrument_pairs_with_a_recognised_file(tiny: ArchiveFilesystem) -> None:
    """The one answer to "which partitions have data": every instrument a recognised name belongs to, per program;
    unrecognised names, hidden files and files outside jw* folders make no cell."""
    assert tiny.cells() == [("jw01068", "miri"), ("jw01068", "nircam"), ("jw02222", "niriss")]
    assert tiny.cells(["jw02222", "jw09999"]) == [("jw02222", "niriss")]
    expected = sorted({(p, f.instrument) for p in tiny.programs() for f in tiny.program_files(p) if f.instrument})
    assert tiny.cells() == expected  # the same answer as the full listing


@pytest.mark.parametrize("name", ["../public", "jw01068\n", "jw0106\u0668", "jw010680", "JW01068"])
def test_program_name_must_be_a_program_key(tiny: ArchiveFilesystem, name: str) -> None:
    """The sensor and the archive listing agree on what a program folder is: jw + five ASCII digits, nothing more."""
    with pytest.raises(ValueError):
        tiny.program_files(name)


@pytest.mark.parametrize("parts", [("..", "x.jpg"), ("jw01068", "../../etc/passwd"), ("/etc/passwd",),
                                   ("jw01068", "a\x00b.jpg"), ("a\\..\\..\\x",), ()])
def test_safe_output_path_refuses_escapes(tiny: ArchiveFilesystem, tmp_path: Path, parts: tuple[str, ...]) -> None:
    with pytest.raises(UnsafePathError):
        tiny.safe_output_path(tmp_path / "out" / "previews", *parts)


def test_safe_output_path_refuses_symlinks_leaving_the_root(tiny: ArchiveFilesystem, tmp_path: Path) -> None:
    root = tmp_path / "out" / "previews"
    root.mkdir(parents=True)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (root / "jw01068").symlink_to(outside)
    with pytest.raises(UnsafePathError, match="outside"):
        tiny.safe_output_path(root, "jw01068", "x.jpg")
    inside = root / "real"
    inside.mkdir()
    (root / "alias").symlink_to(inside)
    assert tiny.safe_output_path(root, "alias", "x.jpg") == root / "alias" / "x.jpg"


def test_safe_output_path_accepts_normal_names(tiny: ArchiveFilesystem, tmp_path: Path) -> None:
    root = tmp_path / "out" / "previews"
    assert tiny.safe_output_path(root, "jw01068", "jw01068001001_02102_00001_nrcb1_rate_integ0.jpg") == (
        root / "jw01068" / "jw01068001001_02102_00001_nrcb1_rate_integ0.jpg")
    assert issubclass(UnsafePathError, ValueError)


def test_atomic_write_leaves_mode_0644(tiny: ArchiveFilesystem, tmp_path: Path) -> None:
    old = os.umask(0o077)  # even under a strict umask the web server must be able to read outputs
    try:
        path = tiny.atomic_write(tmp_path / "out" / "a" / "x.html", "<p>hi</p>")
    finally:
        os.umask(old)
    assert path.read_text() == "<p>hi</p>"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_atomic_write_interrupted_leaves_old_content_and_no_partial_file(tiny: ArchiveFilesystem, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out" / "x.bin"
    tiny.atomic_write(target, b"old")

    real_fsync = os.fsync

    def crash(fd: int) -> None:  # the data is half written when the process is "killed"
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        tiny.atomic_write(target, b"new" * 1000)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.bin"]
