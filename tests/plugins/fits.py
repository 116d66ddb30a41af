"""The one FITS writer of the tests: small JWST-like files written with astropy.

``write`` builds any layout from arrays (hostile and odd files); ``write_fits`` a pipeline-like
rate/cal, rateints or uncal file of a detector subarray (a few KB each).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits

NON_SCIENCE = 512
REFERENCE_PIXEL = 2**31


def primary(instrument: str = "NIRCAM", detector: str = "NRCB1", substrt: tuple[int, int] | None = (1, 1),
            subsize: tuple[int, int] | None = None, **cards: object) -> fits.PrimaryHDU:
    """A JWST primary header; ``cards`` adds any other keyword (``**{"DATE-OBS": ...}`` for hyphenated ones)."""
    hdu = fits.PrimaryHDU()
    hdu.header["TELESCOP"] = "JWST"
    hdu.header["INSTRUME"] = instrument
    hdu.header["DETECTOR"] = detector
    if substrt is not None:
        hdu.header["SUBSTRT1"], hdu.header["SUBSTRT2"] = substrt
    if subsize is not None:
        hdu.header["SUBSIZE1"], hdu.header["SUBSIZE2"] = subsize
    for key, value in cards.items():
        hdu.header[key] = value
    return hdu


def write(path: Path, sci: np.ndarray | None, dq: np.ndarray | None = None, *, units: str = "DN/s",
          extra: list[fits.ImageHDU] | None = None, prim: fits.PrimaryHDU | None = None, **primary_kw) -> Path:
    """Write a file with PRIMARY (``prim``, or one built from ``primary_kw``), SCI (unless None), DQ (if given) and any extra HDUs."""
    if sci is not None and sci.ndim >= 2:
        primary_kw.setdefault("subsize", (sci.shape[-1], sci.shape[-2]))
    hdus: list[fits.hdu.base.ExtensionHDU | fits.PrimaryHDU] = [prim if prim is not None else primary(**primary_kw)]
    if sci is not None:
        s = fits.ImageHDU(sci, name="SCI")
        if units:
            s.header["BUNIT"] = units
        hdus.append(s)
    if dq is not None:
        hdus.append(fits.ImageHDU(dq.astype(np.uint32), name="DQ"))
    hdus.extend(extra or [])
    path.parent.mkdir(parents=True, exist_ok=True)
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return path


def sky_with_star(ny: int, nx: int, star_yx: tuple[int, int], seed: int = 0, sky: float = 1.0,
                  noise: float = 0.05, peak: float = 50.0, sigma: float = 3.0) -> np.ndarray:
    """Noisy sky plus a Gaussian star at (row, column) = ``star_yx``."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:ny, 0:nx]
    star = peak * np.exp(-((y - star_yx[0]) ** 2 + (x - star_yx[1]) ** 2) / (2 * sigma**2))
    return (sky + noise * rng.standard_normal((ny, nx)) + star).astype(np.float32)


def border_dq(ny: int, nx: int, width: int = 4) -> np.ndarray:
    dq = np.zeros((ny, nx), dtype=np.uint32)
    dq[:width] |= REFERENCE_PIXEL
    dq[-width:] |= REFERENCE_PIXEL
    dq[:, :width] |= REFERENCE_PIXEL
    dq[:, -width:] |= REFERENCE_PIXEL
    return dq


def ramp(nints: int, ngroups: int, ny: int, nx: int, seed: int = 0, rate: np.ndarray | None = None) -> np.ndarray:
    """uint16 4D ramp: bias + rate * group + noise, so last - first = rate * (ngroups - 1) + noise."""
    rng = np.random.default_rng(seed)
    if rate is None:
        rate = np.full((ny, nx), 10.0, dtype=np.float32)
    g = np.arange(ngroups, dtype=np.float32)[None, :, None, None]
    data = 10000.0 + rate[None, None] * g + rng.normal(0, 2.0, (nints, ngroups, ny, nx))
    return np.clip(np.round(data), 0, 65535).astype(np.uint16)

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
