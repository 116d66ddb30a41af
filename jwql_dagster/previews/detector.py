"""Reference pixels of JWST detectors without a DQ plane: the science map from detector geometry.

The 4-pixel reference border of the 2048x2048 near-infrared detectors and the first and
last 4 reference columns of MIRI's 1032x1024 detectors, cropped to a subarray with SUBSTRT
so a subarray only loses the edges it shares with the detector border (jwql's rule).
"""

from __future__ import annotations

import numpy as np

#: Full-frame detector geometry (ny, nx) and the reference pixels it has.
_NIR_FULL = (2048, 2048)
_NIR_BORDER = 4
_MIRI_FULL = (1024, 1032)
_MIRI_REF_COLUMNS = 4
_NIR_INSTRUMENTS = frozenset({"NIRCAM", "NIRISS", "NIRSPEC", "FGS"})


def reference_pixel_map(
    instrument: str | None,
    shape: tuple[int, int],
    substrt: tuple[int, int] | None,
) -> np.ndarray | None:
    """Science map (True = science) of a detector without DQ, cropped to the subarray.

    ``shape`` is the data's (ny, nx); ``substrt`` the 1-indexed (SUBSTRT1, SUBSTRT2) =
    (x, y) start of the subarray on the detector. Without SUBSTRT a full-frame shape is
    taken as full frame and anything else is centred (jwql's fallback). Returns None when
    the instrument has no known geometry or the data do not fit on its detector (e.g.
    NIRSpec IRS2 raw frames with interleaved reference rows): the caller then treats
    every pixel as science rather than guessing.
    """
    inst = (instrument or "").upper()
    if inst in _NIR_INSTRUMENTS:
        (fy, fx), row_border, col_border = _NIR_FULL, _NIR_BORDER, _NIR_BORDER
    elif inst == "MIRI":
        (fy, fx), row_border, col_border = _MIRI_FULL, 0, _MIRI_REF_COLUMNS
    else:
        return None
    ny, nx = shape
    if substrt is None:
        x0, y0 = (fx - nx) // 2, (fy - ny) // 2
    else:
        x0, y0 = substrt[0] - 1, substrt[1] - 1
    if x0 < 0 or y0 < 0 or x0 + nx > fx or y0 + ny > fy:
        return None
    # Detector rows/columns of the subarray that lie in the reference border.
    rows = np.arange(y0, y0 + ny)
    cols = np.arange(x0, x0 + nx)
    out = np.ones((ny, nx), dtype=bool)
    if row_border:
        out[(rows < row_border) | (rows >= fy - row_border), :] = False
    out[:, (cols < col_border) | (cols >= fx - col_border)] = False
    return out
