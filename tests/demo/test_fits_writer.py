"""FITS files as the pipeline writes them: extensions, dtypes, BZERO-scaled integers."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits


def is_type(array: np.ndarray, dtype: type) -> bool:
    """dtype check that ignores byte order (FITS floats are big-endian)."""
    return array.dtype.newbyteorder("=") == np.dtype(dtype)


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
