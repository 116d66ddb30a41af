"""Pixel content: stars, NaNs, hot pixels and cosmic rays are where the truth says."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits


def robust_sigma(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(1.4826 * np.median(np.abs(finite - np.median(finite))))


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
