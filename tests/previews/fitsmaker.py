"""Tiny JWST-like FITS files for the preview tests (written as the pipeline does, a few KB each)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits

DETECTOR_HEADER = {"nrcalong": "NRCALONG", "nrcblong": "NRCBLONG", "nis": "NIS"}

# 32x32 subarrays at the module centre, as NIRCam's module subarrays lie.
CENTRE_STARTS = {
    "nrca1": (2017, 2017), "nrca2": (2017, 1), "nrca3": (1, 2017), "nrca4": (1, 1),
    "nrcb4": (2017, 2017), "nrcb3": (2017, 1), "nrcb2": (1, 2017), "nrcb1": (1, 1),
    "nrcalong": (993, 1), "nrcblong": (1, 1), "nis": (1, 1),
}


def write_fits(path: Path, detector: str, suffix: str, size: int = 32, nints: int = 1, ngroups: int = 3,
               seed: int = 0, star: tuple[int, int] | None = (10, 12)) -> Path:
    """A rate/cal (2D + DQ), rateints (3D + DQ) or uncal (4D uint16, no DQ) file of a ``size`` subarray."""
    rng = np.random.default_rng(seed)
    instrument = "NIRISS" if detector == "nis" else "NIRCAM"
    sx, sy = CENTRE_STARTS.get(detector, (1, 1))
    primary = fits.PrimaryHDU()
    h = primary.header
    h["TELESCOP"] = "JWST"
    h["INSTRUME"] = instrument
    h["DETECTOR"] = DETECTOR_HEADER.get(detector, detector.upper())
    h["SUBARRAY"] = f"SUB{size}"
    h["SUBSTRT1"], h["SUBSTRT2"] = sx, sy
    h["SUBSIZE1"], h["SUBSIZE2"] = size, size
    h["NINTS"], h["NGROUPS"] = nints, ngroups
    h["EXP_TYPE"] = "NRC_IMAGE" if instrument == "NIRCAM" else "NIS_IMAGE"
    hdus: list = [primary]
    if suffix == "uncal":
        data = rng.integers(1000, 1100, size=(nints, ngroups, size, size)).astype(np.uint16)
        for g in range(ngroups):
            data[:, g] += np.uint16(50 * g)
        if star:
            data[:, -1, star[1], star[0]] += 5000
        sci = fits.ImageHDU(data, name="SCI")
        sci.scale("int16", bzero=32768)
        hdus.append(sci)
    else:
        shape = (size, size) if suffix in ("rate", "cal") else (nints, size, size)
        data = rng.normal(10.0, 1.0, size=shape).astype(np.float32)
        if star:
            data[..., star[1], star[0]] = 500.0
        sci = fits.ImageHDU(data, name="SCI")
        sci.header["BUNIT"] = "DN/s"
        hdus.append(sci)
        hdus.append(fits.ImageHDU(np.ones(shape, dtype=np.float32), name="ERR"))
        hdus.append(fits.ImageHDU(np.zeros(shape, dtype=np.uint32), name="DQ"))
    path.parent.mkdir(parents=True, exist_ok=True)
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return path
