"""Geometry of the synthetic archive: reference pixels cropped to each readout window."""

from __future__ import annotations

import numpy as np
from astropy.io import fits


REF_FLAGS = 1 | 2**31  # DO_NOT_USE | REFERENCE_PIXEL


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
