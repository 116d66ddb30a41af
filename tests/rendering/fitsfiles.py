"""Small JWST-like FITS files for the rendering tests, written with astropy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits

NON_SCIENCE = 512
REFERENCE_PIXEL = 2**31


def primary(instrument: str = "NIRCAM", detector: str = "NRCB1", substrt: tuple[int, int] | None = (1, 1),
            subsize: tuple[int, int] | None = None) -> fits.PrimaryHDU:
    hdu = fits.PrimaryHDU()
    hdu.header["TELESCOP"] = "JWST"
    hdu.header["INSTRUME"] = instrument
    hdu.header["DETECTOR"] = detector
    if substrt is not None:
        hdu.header["SUBSTRT1"], hdu.header["SUBSTRT2"] = substrt
    if subsize is not None:
        hdu.header["SUBSIZE1"], hdu.header["SUBSIZE2"] = subsize
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
