"""A tiny archive made per test (every name kind jwql knows) and reference counts from an independent walk."""

from __future__ import annotations

import os
from pathlib import Path

# (area, relative folder, name, size): sizes differ so a wrong sum shows
ARCHIVE_FILES: list[tuple[str, str, str, int]] = [
    ("public", "jw01068/jw01068001001", "jw01068001001_02102_00001_nrcb1_rate.fits", 50_400),
    ("public", "jw01068/jw01068001001", "jw01068001001_02102_00001_nrcb1_uncal.fits", 176_000),
    ("public", "jw01068/jw01068001001", "jw01068001001_02102_00001_nrca5_cal.fits", 117_000),
    ("public", "jw01068/jw01068001001", "jw01068001001_02102_00001_nrca5_rateints.fits", 151_000),
    ("public", "jw01068/jw01068001001", "jw01068001001_02102_00002-seg001_nrca1_calints.fits", 3_000),
    ("public", "jw01068/jw01068001001", "jw01068001001_gs-fg_2022271145526_cal.fits", 2_000),
    ("public", "jw01068/jw01068-o001", "jw01068-o001_t001_nircam_clear-f150w_i2d.fits", 400_000),
    ("public", "jw01068/jw01068001001", "notes.txt", 12),
    ("public", "jw01068", "jw01068_README.fits", 2_880),  # unrecognised name, in the program folder
    ("public", "", "loose_file.dat", 7),  # directly in the area folder
    ("public", "jw02733/jw02733002001", "jw02733002001_03101_00001_mirimage_rate.fits", 8_200),
    ("public", "jw02733/jw02733002001", "jw02733002001_03101_00001_mirimage_rate.fits.bak", 8_200),
    ("public", "jw02733/jw02733002001", "jw02733002001_03101_00001_mirifushort_cal.fits", 9_100),
    ("proprietary", "jw01234/jw01234001001", "jw01234001001_01101_00001_nrs1_rate.fits", 40_000),
    ("proprietary", "jw01234/jw01234001001", "jw01234001001_01101_00001_nrs2_rate.fits", 40_001),
    ("proprietary", "jw01234/jw01234001001", "jw01234001001_01_msa.fits", 90),
    ("proprietary", "jw01234/jw01234001001", "jw01234001001_01101_00001_nrs1_o001_crf.fits", 5_000),
    ("proprietary", "jw01234/jw01234001001", "jw01234001001_badname.fits", 33),  # unrecognised in a visit folder
    ("proprietary", "jw01234/jw01234002001", "jw01234002001_01101_00001_nis_rate.fits", 6_000),
    ("proprietary", "jw01234/jw01234002001", "jw01234002001_01101_00001_guider1_cal.fits", 7_000),
    ("proprietary", "jw01234/jw01234002001/extra/deeper", "jw01234002001_01101_00002_nis_i2d.fits", 1_500),
]


def make_file(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.truncate(size)


def build_archive(root: Path) -> Path:
    for area, folder, name, size in ARCHIVE_FILES:
        make_file(root / area / folder / name, size)
    return root


def independent_counts(root: Path) -> tuple[int, int, dict[tuple[str, str], list[int]]]:
    """Reference numbers from os.walk + lstat + the full parser (no code shared with the scan)."""
    from jwql_dagster.archive.filenames import UnrecognizedFilenameError, parse_filename

    n = size = 0
    by_type: dict[tuple[str, str], list[int]] = {}
    for area in ("public", "proprietary"):
        for dirpath, _dirs, files in os.walk(root / area):
            for name in files:
                st = os.lstat(os.path.join(dirpath, name))
                if not os.path.stat.S_ISREG(st.st_mode):
                    continue
                n += 1
                size += st.st_size
                if name.endswith(".fits"):
                    try:
                        p = parse_filename(name)
                        key = (p["instrument"], "msa" if p["filename_type"] == "stage_2_msa" else p["suffix"])
                    except UnrecognizedFilenameError:
                        key = ("unrecognized", "unrecognized")
                    acc = by_type.setdefault(key, [0, 0])
                    acc[0] += 1
                    acc[1] += st.st_size
    return n, size, by_type
