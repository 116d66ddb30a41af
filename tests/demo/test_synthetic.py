"""The synthetic archive as a whole: jwql's layout, every instrument and product, broken files, determinism, rebuilds."""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from jwql_dagster.archive.filenames import UnrecognizedFilenameError, parse_filename
from jwql_dagster.demo.synthetic import TRUTH_FILENAME, ArchiveExistsError, make_archive


ALL_DETECTORS = {
    "nrca1", "nrca2", "nrca3", "nrca4", "nrcb1", "nrcb2", "nrcb3", "nrcb4", "nrcalong", "nrcblong",
    "nis", "nrs1", "nrs2", "mirimage", "guider1", "guider2",
}


def test_layout_is_jwqls(small_archive):
    root = small_archive.root
    assert Path(small_archive) == root == small_archive.path and (small_archive / "public").is_dir()
    assert (root / TRUTH_FILENAME).is_file()
    areas = {p["area"] for p in small_archive.truth["programs"]}
    assert areas == {"public", "proprietary"}
    for rel, rec in small_archive.truth["files"].items():
        area, program, folder, name = rel.split("/")
        assert area == rec["area"] and program == rec["program"]
        parsed = parse_filename(name)
        assert f"jw{parsed['program_id']}" == program
        assert parsed["instrument"] == rec["instrument"]
        if parsed["filename_type"].startswith("stage_3"):
            assert folder == f"{program}-{parsed['ac_id']}"
            assert re.fullmatch(r"jw\d{5}-o\d{3}", folder)
        else:
            assert folder == f"jw{parsed['program_id']}{parsed['observation']}{parsed['visit']}"
        assert (root / rel).stat().st_size == rec["size"]
    # nothing on disk that the truth does not list
    on_disk = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} - {TRUTH_FILENAME}
    listed = set(small_archive.truth["files"]) | {b["path"] for b in small_archive.truth["bad_files"]}
    assert on_disk == listed


def test_every_instrument_detector_and_product(small_archive):
    records = small_archive.truth["files"].values()
    assert {r["instrument"] for r in records} == {"nircam", "niriss", "nirspec", "miri", "fgs"}
    assert {r["detector"] for r in records} >= ALL_DETECTORS
    assert {r["suffix"] for r in records} >= {"uncal", "rate", "rateints", "cal", "i2d"}
    names = [Path(rel).name for rel in small_archive.truth["files"]]
    assert any("-seg001_" in n for n in names)  # time series
    assert any("_gs-" in n for n in names)  # guider products


def test_nircam_short_and_long_wave_share_exposures(small_archive):
    groups: dict[str, set[str]] = {}
    for path in small_archive.files(instrument="nircam", suffix="rate"):
        parsed = parse_filename(path.name)
        groups.setdefault(parsed["group_root"], set()).add(parsed["detector"])
    assert groups
    for detectors in groups.values():
        assert detectors == {d for d in ALL_DETECTORS if d.startswith("nrc")}
    # and every detector of one exposure uses the same window
    for group_root in groups:
        starts = {
            (fits.getval(p, "SUBSTRT1"), fits.getval(p, "SUBSTRT2"), fits.getval(p, "SUBARRAY"))
            for p in small_archive.files(instrument="nircam", suffix="rate")
            if p.name.startswith(group_root)
        }
        assert len(starts) == 1


def test_bad_files_are_broken_in_the_recorded_way(small_archive):
    kinds = {b["kind"]: b for b in small_archive.truth["bad_files"]}
    assert set(kinds) == {"truncated", "not_fits", "no_sci", "all_nan", "empty", "bad_name"}
    for item in kinds.values():
        assert item["reason"]
        path = small_archive.root / item["path"]
        assert path.is_file()
        area, program, folder, _ = item["path"].split("/")
        assert area in ("public", "proprietary") and folder.startswith(program)

    truncated = small_archive.bad("truncated")
    with pytest.warns(UserWarning, match="truncated"), pytest.raises((TypeError, OSError, ValueError)):
        with fits.open(truncated) as hdul:
            hdul["SCI"].data.sum()
    with pytest.raises(OSError):
        fits.open(small_archive.bad("not_fits"))
    with fits.open(small_archive.bad("no_sci")) as hdul:
        assert "SCI" not in hdul
    assert np.isnan(fits.getdata(small_archive.bad("all_nan"), "SCI")).all()
    assert small_archive.bad("empty").stat().st_size == 0
    with pytest.raises(UnrecognizedFilenameError):
        parse_filename(small_archive.bad("bad_name").name)
    assert fits.getdata(small_archive.bad("bad_name"), "SCI").shape  # only the name is wrong
    for kind in ("truncated", "not_fits", "no_sci", "all_nan", "empty"):
        parse_filename(small_archive.bad(kind).name)  # recognisable names: the content is the problem


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes(tmp_path):
    a = make_archive(tmp_path / "a", programs=2, seed=5, with_bad_files=True)
    b = make_archive(tmp_path / "b", programs=2, seed=5, with_bad_files=True)
    assert a == b
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    make_archive(tmp_path / "c", programs=2, seed=6)
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_files_carry_old_observation_mtimes_and_web_readable_modes(small_archive):
    for path in small_archive.files()[:20]:
        st = path.stat()
        assert st.st_mtime < time.time() - 86400
        assert st.st_mode & 0o777 == 0o644


def test_rebuild_replaces_own_archive_but_never_touches_foreign_folders(tmp_path):
    root = tmp_path / "archive"
    first = make_archive(root, programs=3, seed=2)
    second = make_archive(root, programs=1, seed=2, with_bad_files=True)
    listed = set(second["files"]) | {b["path"] for b in second["bad_files"]}
    on_disk = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} - {TRUTH_FILENAME}
    assert on_disk == listed and len(first["files"]) > len(second["files"])
    assert json.loads((root / TRUTH_FILENAME).read_text())["files"].keys() == second["files"].keys()

    foreign = tmp_path / "real_archive"
    (foreign / "public").mkdir(parents=True)
    (foreign / "public" / "keep.txt").write_text("precious")
    with pytest.raises(ArchiveExistsError, match="real_archive"):
        make_archive(foreign, programs=1)
    assert [p.name for p in foreign.rglob("*")] == ["public", "keep.txt"]
