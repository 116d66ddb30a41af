"""Synthetic archive, geometry: detectors, readout windows (subarrays) and their reference pixels.

Subarray positions are consistent with the full detector, so reference pixels appear
exactly where a real subarray of that window would show them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# JWST data-quality bits (jwst.datamodels.dqflags)
DO_NOT_USE = 1
HOT = 2**11
REFERENCE_PIXEL = 2**31

DETECTORS: dict[str, tuple[str, ...]] = {
    "nircam": ("nrca1", "nrca2", "nrca3", "nrca4", "nrcb1", "nrcb2", "nrcb3", "nrcb4", "nrcalong", "nrcblong"),
    "niriss": ("nis",),
    "nirspec": ("nrs1", "nrs2"),
    "miri": ("mirimage",),
    "fgs": ("guider1", "guider2"),
}


@dataclass(frozen=True)
class Subarray:
    """A readout window: SUBSTRT1/2 are 1-based full-frame column/row of the first pixel."""

    name: str
    xstart: int
    ystart: int
    xsize: int
    ysize: int

    @property
    def shape(self) -> tuple[int, int]:
        return (self.ysize, self.xsize)


def detector_shape(instrument: str) -> tuple[int, int]:
    """Full-frame (rows, columns): MIRI imager is 1032 columns x 1024 rows, the rest 2048^2."""
    return (1024, 1032) if instrument == "miri" else (2048, 2048)


def full_frame(instrument: str) -> Subarray:
    ny, nx = detector_shape(instrument)
    return Subarray("FULL", 1, 1, nx, ny)


# Small subarrays (at most 256x256), at positions consistent with the full detector; some
# touch the detector edge (reference pixels cropped in), some sit inside (none).
SMALL_SUBARRAYS: dict[str, tuple[Subarray, ...]] = {
    "nircam": (Subarray("SUB160", 1, 1, 160, 160), Subarray("SUB64P", 1985, 1, 64, 64),
               Subarray("SUB160", 945, 945, 160, 160)),
    "niriss": (Subarray("SUB256", 1793, 1793, 256, 256), Subarray("SUB128", 1921, 1921, 128, 128)),
    "nirspec": (Subarray("SUB256", 1, 897, 256, 256), Subarray("SUB128", 961, 961, 128, 128)),
    "miri": (Subarray("SUB256", 413, 51, 256, 256), Subarray("SUB128", 1, 889, 136, 128)),
    "fgs": (Subarray("SUB128LL", 1, 1, 128, 128), Subarray("SUB128CNTR", 961, 961, 128, 128)),
}


def reference_pixel_mask(instrument: str, sub: Subarray) -> np.ndarray:
    """Bool array of the subarray's shape, True on reference pixels.

    NIR detectors: the outer 4 rows/columns of the 2048x2048 frame; MIRI imager: the first
    and last 4 columns. A subarray shows only the edges it shares with the full frame.
    """
    ny, nx = detector_shape(instrument)
    rows = np.arange(sub.ystart - 1, sub.ystart - 1 + sub.ysize)
    cols = np.arange(sub.xstart - 1, sub.xstart - 1 + sub.xsize)
    ref_cols = (cols < 4) | (cols >= nx - 4)
    if instrument == "miri":
        return np.broadcast_to(ref_cols[None, :], sub.shape).copy()
    ref_rows = (rows < 4) | (rows >= ny - 4)
    return ref_rows[:, None] | ref_cols[None, :]


def aperture_name(instrument: str, detector: str, sub: Subarray) -> str:
    det = detector.upper()
    if instrument == "nircam":
        det = det.replace("LONG", "5")
        return f"{det}_{sub.name}"
    prefix = {"niriss": "NIS", "nirspec": det, "miri": "MIRIM", "fgs": "FGS" + det[-1]}[instrument]
    if sub.name == "FULL":
        return {"niriss": "NIS_CEN"}.get(instrument, f"{prefix}_FULL")
    return f"{prefix}_{sub.name}"


def resolve_subarray(instrument: str, subarray: str | Subarray | dict) -> Subarray:
    if isinstance(subarray, Subarray):
        return subarray
    if isinstance(subarray, dict):
        return Subarray(**subarray)
    if subarray.upper() == "FULL":
        return full_frame(instrument)
    for sub in SMALL_SUBARRAYS[instrument]:
        if sub.name == subarray.upper():
            return sub
    known = ", ".join(["FULL"] + sorted({s.name for s in SMALL_SUBARRAYS[instrument]}))
    raise ValueError(f"unknown {instrument} subarray {subarray!r}; known: {known}")
