"""Single files on demand (write_exposure): full-frame ramps, MIRI reference columns, archive-identical pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from jwql_dagster.archive.filenames import UnrecognizedFilenameError
from jwql_dagster.demo.synthetic import write_exposure


REF_FLAGS = 1 | 2**31  # DO_NOT_USE | REFERENCE_PIXEL


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
