"""The synthetic archive looks like the real one to everything that reads it (checked with astropy)."""

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
from jwql_dagster.demo.synthetic import (
    TRUTH_FILENAME,
    ArchiveExistsError,
    make_archive,
    program_plan,
    write_exposure,
)

REF_FLAGS = 1 | 2**31  # DO_NOT_USE | REFERENCE_PIXEL
ALL_DETECTORS = {
    "nrca1", "nrca2", "nrca3", "nrca4", "nrcb1", "nrcb2", "nrcb3", "nrcb4", "nrcalong", "nrcblong",
    "nis", "nrs1", "nrs2", "mirimage", "guider1", "guider2",
}
PRIMARY_KEYS = ("TELESCOP", "INSTRUME", "DETECTOR", "PROGRAM", "OBSERVTN", "VISIT", "VISITGRP", "SEQ_ID", "ACT_ID",
                "EXPOSURE", "EXP_TYPE", "NINTS", "NGROUPS", "READPATT", "DATE-OBS", "SUBARRAY", "SUBSTRT1", "SUBSTRT2",
                "SUBSIZE1", "SUBSIZE2")


def expected_reference(instrument: str, sub: dict) -> np.ndarray:
    """Reference pixels of a window, computed independently of the generator."""
    full_y, full_x = (1024, 1032) if instrument == "miri" else (2048, 2048)
    mask = np.zeros((sub["ysize"], sub["xsize"]), dtype=bool)
    for j in range(sub["xsize"]):
        col = sub["xstart"] - 1 + j
        if col < 4 or col > full_x - 5:
            mask[:, j] = True
    if instrument != "miri":
        for i in range(sub["ysize"]):
            row = sub["ystart"] - 1 + i
            if row < 4 or row > full_y - 5:
                mask[i, :] = True
    return mask


def is_type(array: np.ndarray, dtype: type) -> bool:
    """dtype check that ignores byte order (FITS floats are big-endian)."""
    return array.dtype.newbyteorder("=") == np.dtype(dtype)


def robust_sigma(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(1.4826 * np.median(np.abs(finite - np.median(finite))))


# ------------------------------------------------------------------ layout
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


# ------------------------------------------------------------------ headers, shapes, dtypes
def test_headers_match_names_and_geometry(small_archive):
    for rel, rec in small_archive.records(kind="product").items():
        path = small_archive.file(rel)
        parsed = parse_filename(path.name)
        header = fits.getheader(path, 0)
        assert header["TELESCOP"] == "JWST"
        assert header["INSTRUME"].lower() == rec["instrument"]
        assert header["PROGRAM"] == parsed["program_id"]
        assert header["EXP_TYPE"] == rec["exp_type"]
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", header["DATE-OBS"])
        if rec["suffix"] == "i2d":
            assert "SUBSTRT1" not in header
            continue
        for key in PRIMARY_KEYS:
            assert key in header, (rel, key)
        assert header["OBSERVTN"] == parsed["observation"]
        assert header["VISIT"] == parsed["visit"]
        assert header["VISITGRP"] == parsed["visit_group"]
        assert header["SEQ_ID"] == parsed["parallel_seq_id"]
        assert header["ACT_ID"] == parsed["activity"]
        assert int(header["EXPOSURE"]) == int(parsed["exposure_id"])
        assert header["DETECTOR"].lower() == parsed["detector"]
        if rec["instrument"] in ("nircam", "niriss"):
            assert header["FILTER"] and header["PUPIL"]
        if rec["instrument"] == "nirspec":
            assert header["FILTER"] and header["GRATING"]
        if rec["instrument"] == "miri":
            assert header["FILTER"]
        full_y, full_x = (1024, 1032) if rec["instrument"] == "miri" else (2048, 2048)
        x0, y0, nx, ny = (header[k] for k in ("SUBSTRT1", "SUBSTRT2", "SUBSIZE1", "SUBSIZE2"))
        assert 1 <= x0 and x0 + nx - 1 <= full_x and 1 <= y0 and y0 + ny - 1 <= full_y
        assert header["SUBARRAY"] != "FULL" and nx <= 256 and ny <= 256  # small: never a shrunken full frame
        with fits.open(path) as hdul:
            assert hdul["SCI"].data.shape[-2:] == (ny, nx)
            assert hdul["SCI"].data.shape == tuple(rec["shape"])


def test_products_have_pipeline_extensions_dtypes_and_bzero(small_archive):
    seen = set()
    for rel, rec in small_archive.records(kind="product").items():
        path = small_archive.file(rel)
        suffix = rec["suffix"]
        seen.add(suffix)
        with fits.open(path) as hdul:
            names = [h.name for h in hdul[1:]]
            sci = hdul["SCI"]
            raw_sci = fits.getheader(path, "SCI")
            if suffix == "uncal":
                assert names == ["SCI"]  # no DQ in raw ramps
                assert is_type(sci.data, np.uint16) and sci.data.ndim == 4
                assert raw_sci["BITPIX"] == 16 and raw_sci["BZERO"] == 32768
                assert raw_sci["BUNIT"] == "DN"
                nints, ngroups = fits.getval(path, "NINTS"), fits.getval(path, "NGROUPS")
                assert sci.data.shape[:2] == (nints, ngroups)
            elif suffix == "i2d":
                assert names == ["SCI", "ERR", "CON", "WHT"]
                assert sci.data.dtype.kind == "f" and sci.data.ndim == 2
            else:
                assert names == ["SCI", "ERR", "DQ"]
                assert is_type(sci.data, np.float32) and is_type(hdul["ERR"].data, np.float32)
                assert is_type(hdul["DQ"].data, np.uint32)
                raw_dq = fits.getheader(path, "DQ")
                assert raw_dq["BITPIX"] == 32 and raw_dq["BZERO"] == 2147483648
                assert sci.data.ndim == (3 if suffix == "rateints" else 2)
                assert hdul["DQ"].data.shape == sci.data.shape
                assert raw_sci["BUNIT"] == ("MJy/sr" if suffix == "cal" else "DN/s")
    assert seen >= {"uncal", "rate", "rateints", "cal", "i2d"}


def test_scaled_integers_cannot_be_memory_mapped_like_real_files(small_archive):
    """astropy refuses memmap on BZERO data, as on real JWST files; readers must use sections."""
    path = small_archive.files(suffix="uncal")[0]
    with fits.open(path, memmap=True) as hdul:
        with pytest.raises(ValueError, match="BZERO"):
            hdul["SCI"].data
    with fits.open(path) as hdul:
        frame = hdul["SCI"].section[0, -1]
        assert frame.dtype == np.uint16 and frame.ndim == 2


# ------------------------------------------------------------------ pixel content
def test_dq_reference_border_is_cropped_to_the_window(small_archive):
    with_border = without_border = 0
    for rel, rec in small_archive.records(kind="product").items():
        if rec["suffix"] not in ("rate", "rateints", "cal"):
            continue
        dq = fits.getdata(small_archive.file(rel), "DQ")
        plane = dq[0] if dq.ndim == 3 else dq
        expected = expected_reference(rec["instrument"], rec["subarray"])
        assert np.array_equal((plane & REF_FLAGS) == REF_FLAGS, expected), rel
        assert not np.any(plane[~expected] & 2**31), rel
        if expected.any():
            with_border += 1
        else:
            without_border += 1
    assert with_border and without_border  # both edge and interior windows are exercised


def test_stars_from_the_truth_are_bright(small_archive):
    checked = 0
    for rel, rec in small_archive.records(kind="product").items():
        with fits.open(small_archive.file(rel)) as hdul:
            data = hdul["SCI"].data
            if data.ndim == 4:
                image = data[0, -1].astype(np.float64) - data[0, 0]
            elif data.ndim == 3:
                image = data[0].astype(np.float64)
            else:
                image = data.astype(np.float64)
        sigma = robust_sigma(image)
        background = np.nanmedian(image)
        assert rec["stars"], rel
        for star in rec["stars"]:
            value = image[int(round(star["y"])), int(round(star["x"]))]
            assert value > background + 10 * sigma, (rel, star)
            if "det_x" in star:
                assert star["det_x"] - star["x"] == pytest.approx(rec["subarray"]["xstart"] - 1)
                assert star["det_y"] - star["y"] == pytest.approx(rec["subarray"]["ystart"] - 1)
        checked += 1
    assert checked > 50


def test_nans_hot_pixels_and_cosmic_rays_are_where_the_truth_says(small_archive):
    for rel, rec in small_archive.records(suffix="rate").items():
        with fits.open(small_archive.file(rel)) as hdul:
            sci, dq = hdul["SCI"].data, hdul["DQ"].data
        assert rec["nan_pixels"] and rec["hot_pixels"]
        for y, x in rec["nan_pixels"]:
            assert np.isnan(sci[y, x]) and dq[y, x] & 1
        for y, x in rec["hot_pixels"]:
            assert dq[y, x] & 2**11 and sci[y, x] > 50
        assert np.isnan(sci).sum() == len(rec["nan_pixels"])
    for rel, rec in small_archive.records(suffix="uncal").items():
        data = fits.getdata(small_archive.file(rel), "SCI").astype(np.int64)
        assert rec["cosmic_rays"]
        for integration, group, y, x, amplitude in rec["cosmic_rays"]:
            if group == 0:
                continue
            jump = data[integration, group, y, x] - data[integration, group - 1, y, x]
            assert jump > 0.7 * amplitude or data[integration, group, y, x] == 65535


# ------------------------------------------------------------------ bad files
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


# ------------------------------------------------------------------ plan, determinism, rebuilds
def test_program_plan_matches_the_archive(small_archive):
    plan = program_plan(3, 1)
    assert plan["programs"] == small_archive.truth["programs"]
    for prog in plan["programs"]:
        found = {r["instrument"] for r in small_archive.records(program=prog["program"]).values()}
        assert found == set(prog["instruments"])
        for instrument, info in prog["instruments"].items():
            headers = set()
            for path in small_archive.files(program=prog["program"], instrument=instrument, kind="product"):
                h = fits.getheader(path)
                if "FILTER" in h:
                    headers.add((h["FILTER"], h.get("PUPIL") or h.get("GRATING")))
            planned = {(f["filter"], f.get("pupil") or f.get("grating")) for f in info["filters"]}
            assert headers == planned


@pytest.mark.parametrize("programs", [1, 2, 5])
def test_plan_has_public_proprietary_and_all_instruments(programs):
    plan = program_plan(programs, seed=7)
    assert len(plan["programs"]) == programs
    assert all(re.fullmatch(r"jw\d{5}", p["program"]) for p in plan["programs"])
    areas = {p["area"] for p in plan["programs"]}
    instruments = {i for p in plan["programs"] for i in p["instruments"]}
    if programs >= 2:
        assert areas == {"public", "proprietary"}
        assert instruments == {"nircam", "niriss", "nirspec", "miri", "fgs"}
    assert program_plan(programs, seed=7) == plan
    assert program_plan(programs, seed=8) != plan


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


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="programs"):
        program_plan(0, 1)
    with pytest.raises(ValueError, match="size"):
        program_plan(1, 1, size="huge")


# ------------------------------------------------------------------ single files on demand
def test_write_exposure_full_frame_ramp_and_miri_reference_columns(tmp_path):
    uncal = tmp_path / "jw01068001001_02101_00001_nrcb1_uncal.fits"
    truth = write_exposure(uncal, nints=2, ngroups=3, seed=3)
    with fits.open(uncal) as hdul:
        assert hdul["SCI"].shape == (2, 3, 2048, 2048)
        assert hdul[0].header["SUBARRAY"] == "FULL"
        assert (hdul[0].header["SUBSTRT1"], hdul[0].header["SUBSIZE2"]) == (1, 2048)
        diff = hdul["SCI"].section[1, 2].astype(float) - hdul["SCI"].section[1, 0]
    star = truth["stars"][0]
    assert diff[int(round(star["y"])), int(round(star["x"]))] > np.median(diff) + 500

    rate = tmp_path / "jw01068002001_02101_00001_mirimage_rate.fits"
    write_exposure(rate, seed=3)
    dq = fits.getdata(rate, "DQ")
    assert dq.shape == (1024, 1032)
    ref = (dq & REF_FLAGS) == REF_FLAGS
    assert ref[:, :4].all() and ref[:, -4:].all() and not ref[:, 4:-4].any()


def test_write_exposure_reproduces_archive_pixels(small_archive, tmp_path):
    rel, rec = next(iter(small_archive.records(suffix="rate", instrument="niriss").items()))
    copy = tmp_path / Path(rel).name
    write_exposure(copy, subarray=rec["subarray"]["name"], nints=rec["nints"], seed=small_archive.truth["seed"])
    for ext in ("SCI", "DQ"):
        assert np.array_equal(fits.getdata(copy, ext), fits.getdata(small_archive.file(rel), ext), equal_nan=True)


def test_write_exposure_rejects_what_it_cannot_make(tmp_path):
    with pytest.raises(UnrecognizedFilenameError):
        write_exposure(tmp_path / "not_a_jwst_name.fits")
    with pytest.raises(ValueError, match="x1d"):
        write_exposure(tmp_path / "jw01068001001_02101_00001_nrs1_x1d.fits")
    with pytest.raises(ValueError, match="subarray"):
        write_exposure(tmp_path / "jw01068001001_02101_00001_nrs1_rate.fits", subarray="SUB999")
