"""NIRCam detector mosaics: which files belong together, where each detector sits, what to scale.

jwql's old ``generate_preview_images`` combined the files of one NIRCam exposure (same
program, observation, visit, visit group, sequence, activity, exposure and suffix; only the
detector differs) into one image, with the physical gaps between detectors and modules
left empty. We keep its rules and dummy names (``NRC_SWALL_MOSAIC`` ...) and improve two
things: each detector is placed at its module position plus its own SUBSTRT offset (so any
subarray lands where it really is, and the mosaic is cropped to the data), and the frames
are built one integration at a time so memory stays at one mosaic frame.

Long-wave detectors are accepted under both spellings, ``nrca5``/``nrcb5`` (jwql) and
``nrcalong``/``nrcblong`` (the JWST pipeline's file names).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from jwql_dagster.archive.filenames import parse_filename
from jwql_dagster.previews.mosaic_names import (  # noqa: F401 - the naming half of mosaics, used here and by callers
    LW_DETECTORS,
    MOSAIC_MARKER,
    MOSAIC_NAMES,
    SW_DETECTORS,
    MosaicError,
    create_dummy_filename,
    detector_check,
    find_data_channel,
    group_filenames,
    is_mosaic_name,
    normalize_detector,
)

SW_MOD_GAP = 1387  # px between modules A and B (short wave): 43 arcsec / 0.031 arcsec/px
LW_MOD_GAP = 741  # px between the two long-wave detectors: 46 arcsec / 0.062 arcsec/px
SW_DET_GAP = 145  # px between the short-wave detectors of a module: 4.5 arcsec / 0.031 arcsec/px
FULLX = 2048
FULLY = 2048
REF_BORDER = 4  # reference pixels on each edge of a full NIR detector

# Lower-left (x, y) of each detector inside its module(s) for full frames, as jwql lays them out.
_MODULE_LOWERLEFTS: dict[str, tuple[int, int]] = {
    "NRCA1": (0, 0),
    "NRCA2": (0, FULLY + SW_DET_GAP),
    "NRCA3": (FULLX + SW_DET_GAP, 0),
    "NRCA4": (FULLX + SW_DET_GAP, FULLY + SW_DET_GAP),
    "NRCB1": (FULLX + SW_DET_GAP, FULLY + SW_DET_GAP),
    "NRCB2": (FULLX + SW_DET_GAP, 0),
    "NRCB3": (0, FULLY + SW_DET_GAP),
    "NRCB4": (0, 0),
    "NRCA5": (0, 0),
    "NRCB5": (FULLX + LW_MOD_GAP, 0),
}


@dataclass(frozen=True)
class Placement:
    """Where one detector's data go in the mosaic: lower-left (x, y) in mosaic pixels and the data size."""

    x0: int
    y0: int
    width: int
    height: int
    full_frame: bool = False


def array_coordinates(
    channelmod: str,
    detector_list: Sequence[str],
    lowerleft_list: Sequence[tuple[int, int]],
    sizes: Sequence[tuple[int, int]] | None = None,
) -> tuple[int, int, dict[str, Placement]]:
    """Mosaic size (xdim, ydim) and each detector's placement.

    ``lowerleft_list`` holds each detector's (SUBSTRT1, SUBSTRT2) (1-based, (1, 1) for full
    frame), ``sizes`` each data (width, height); without sizes a detector is assumed to
    extend from its start to the detector edge. Every detector sits at its module position
    plus its own subarray offset, so the physical gaps (145 px between SW detectors, 1387 px
    between modules, 741 px between the LW detectors) are kept; detector area that no member
    exposes is then removed along each axis (a subarray mosaic holds its boxes, gaps between
    them, and little else), which leaves a full-frame layout unchanged.
    """
    if channelmod not in ("SW", "SWA", "SWB", "LW"):
        raise MosaicError(f"unknown NIRCam channel {channelmod!r}")
    if len(detector_list) != len(lowerleft_list):
        raise MosaicError("one lower-left position is needed per detector")
    if sizes is None:
        sizes = [(FULLX - (sx - 1), FULLY - (sy - 1)) for sx, sy in lowerleft_list]
    module = dict(_MODULE_LOWERLEFTS)
    if channelmod == "SW":
        shift = 2 * FULLX + SW_DET_GAP + SW_MOD_GAP
        for det in SW_DETECTORS[4:]:
            x, y = module[det]
            module[det] = (x + shift, y)
    raw: dict[str, tuple[int, int, int, int, bool]] = {}
    for det_name, (sx, sy), (w, h) in zip(detector_list, lowerleft_list, sizes):
        det = normalize_detector(det_name)
        if det not in module:
            raise MosaicError(f"{det_name} is not a NIRCam imaging detector")
        if det in raw:
            raise MosaicError(f"detector {det} appears twice in one mosaic")
        sx, sy = int(sx or 1), int(sy or 1)
        if sx < 1 or sy < 1 or w < 1 or h < 1 or sx - 1 + w > FULLX or sy - 1 + h > FULLY:
            raise MosaicError(f"{det}: subarray start ({sx}, {sy}) and size {w}x{h} do not fit a 2048x2048 detector")
        mx, my = module[det]
        full = (sx, sy, w, h) == (1, 1, FULLX, FULLY)
        raw[det] = (mx + sx - 1, my + sy - 1, int(w), int(h), full)
    # Each axis keeps the data and the physical gaps between detectors, and drops the detector area
    # no member exposes (members' unused area and absent detectors), and narrows gaps wider than the data: eight SUB160 boxes were 8000 x 2400 px, 99% empty; full frames are unchanged.
    layout = {"SW": SW_DETECTORS, "SWA": SW_DETECTORS[:4], "SWB": SW_DETECTORS[4:], "LW": LW_DETECTORS}[channelmod]
    xmap, xdim = _squeeze_axis([(v[0], v[2]) for v in raw.values()], [(module[d][0], FULLX) for d in layout])
    ymap, ydim = _squeeze_axis([(v[1], v[3]) for v in raw.values()], [(module[d][1], FULLY) for d in layout])
    placements = {det: Placement(xmap(x), ymap(y), w, h, full) for det, (x, y, w, h, full) in raw.items()}
    return xdim, ydim, placements


def _squeeze_axis(data: Sequence[tuple[int, int]],
                  detectors: Sequence[tuple[int, int]]) -> tuple[Callable[[int], int], int]:
    """Along one axis: (new coordinate of a data start, length) once the positions that lie on a
    detector of the channel's layout but under none of the members' data are removed. Positions
    between detectors (the physical gaps) and under data stay, so the order and the gaps of the
    layout are kept."""
    lo = min(start for start, _ in data)
    hi = max(start + n for start, n in data)
    covered = np.zeros(hi - lo, dtype=bool)
    on_detector = np.zeros(hi - lo, dtype=bool)
    for start, n in data:
        covered[start - lo:start - lo + n] = True
    for start, n in detectors:
        on_detector[max(start - lo, 0):max(min(start + n, hi) - lo, 0)] = True
    keep = covered | ~on_detector
    # A gap wider than the widest data along the axis (the 1387 px module gap between two 160 px
    # subarrays) is narrowed to that width (at least 145 px): full frames (2048 px) keep every gap.
    cap = max(SW_DET_GAP, max(n for _, n in data))
    gap = np.flatnonzero(keep & ~covered)
    if gap.size:
        runs = np.split(gap, np.flatnonzero(np.diff(gap) > 1) + 1)
        for run in runs:
            keep[run[cap:]] = False
    before = np.cumsum(keep) - keep  # kept positions before each position
    return (lambda x: int(before[x - lo])), int(keep.sum())


def create_dq_array(
    xd: int,
    yd: int,
    mosaic: np.ndarray,
    module: str,
    placements: dict[str, Placement] | None = None,
) -> np.ndarray:
    """Science-pixel map of a mosaic (True = used for the scaling limits).

    Gaps (NaN in ``mosaic``: nothing placed there) are False, and so is the 4-pixel
    reference border of every full-frame detector. With ``placements`` the borders come
    from the actual positions; without, the full-frame layout of ``module`` is assumed.
    """
    if mosaic.shape != (yd, xd):
        raise MosaicError(f"mosaic shape {mosaic.shape} does not match ({yd}, {xd})")
    dq = ~np.isnan(mosaic)
    if placements is None:
        detectors = {
            "SW": SW_DETECTORS,
            "SWA": SW_DETECTORS[:4],
            "SWB": SW_DETECTORS[4:],
            "LW": LW_DETECTORS,
        }[module]
        _, _, placements = array_coordinates(module, detectors, [(1, 1)] * len(detectors))
    for p in placements.values():
        if not p.full_frame:
            continue
        b = REF_BORDER
        dq[p.y0:p.y0 + b, p.x0:p.x0 + p.width] = False
        dq[p.y0 + p.height - b:p.y0 + p.height, p.x0:p.x0 + p.width] = False
        dq[p.y0:p.y0 + p.height, p.x0:p.x0 + b] = False
        dq[p.y0:p.y0 + p.height, p.x0 + p.width - b:p.x0 + p.width] = False
    return dq


def _start_of(science: Any) -> tuple[int, int]:
    """(SUBSTRT1, SUBSTRT2) of an open science file, (1, 1) when absent (full frame)."""
    start = science.substrt
    return (1, 1) if start is None else (int(start[0]), int(start[1]))


@dataclass
class Mosaic:
    """An open mosaic: its shape, science map and a frame builder (one integration at a time)."""

    channel: str
    detectors: list[str]
    xdim: int
    ydim: int
    placements: dict[str, Placement]
    mask: np.ndarray
    nints: int
    units: str
    _sources: list[Any] = field(repr=False, default_factory=list)

    def frame(self, integration: int, gap_value: float = 0.0) -> np.ndarray:
        """The mosaic of one integration (float32); 4D files give last-minus-first group.

        Gaps hold ``gap_value``: 0 by default, which is how jwql displays NaN anyway, and
        ``mask`` keeps them out of the limits. A NaN fill would make the renderer copy the
        whole frame just to replace them (166 MB for eight full frames).
        """
        out = np.full((self.ydim, self.xdim), gap_value, dtype=np.float32)
        for det, source in zip(self.detectors, self._sources):
            p = self.placements[det]
            data = np.asarray(source.frame(integration), dtype=np.float32)
            out[p.y0:p.y0 + p.height, p.x0:p.x0 + p.width] = data
        return out


def _default_opener() -> Callable[[str], Any]:
    from jwql_dagster.previews.fits_io import open_science

    return open_science


@contextlib.contextmanager
def create_mosaic(filenames: Sequence[str], opener: Callable[[str], Any] | None = None) -> Iterator[Mosaic]:
    """Open a group's files and yield a ``Mosaic``; frames are assembled on demand, per integration.

    jwql returned the whole (nints, y, x) cube; a full SW mosaic is 9869 x 4241 pixels, so we
    hold one integration's mosaic at a time (about 166 MB in float32 for eight full frames).
    The science map combines each file's own map (DQ or reference border) with the gaps.
    """
    if len(filenames) < 2:
        raise MosaicError("a mosaic needs at least two detector files")
    opener = opener or _default_opener()
    detectors = [normalize_detector(str(parse_filename(os.path.basename(f))["detector"])) for f in filenames]
    channel = find_data_channel(detectors)
    with contextlib.ExitStack() as stack:
        sources = [stack.enter_context(opener(str(f))) for f in filenames]
        starts, sizes, masks = [], [], []
        for f, src in zip(filenames, sources):
            mask = np.asarray(src.science_mask(), dtype=bool)
            if mask.ndim != 2:
                raise MosaicError(f"{os.path.basename(f)}: science map is not 2D")
            starts.append(_start_of(src))
            sizes.append((mask.shape[1], mask.shape[0]))
            masks.append(mask)
        xdim, ydim, placements = array_coordinates(channel, detectors, starts, sizes)
        full_mask = np.zeros((ydim, xdim), dtype=bool)
        for det, mask in zip(detectors, masks):
            p = placements[det]
            full_mask[p.y0:p.y0 + p.height, p.x0:p.x0 + p.width] = mask
        nints = min(int(src.nints) for src in sources)
        units = str(sources[0].units)
        yield Mosaic(channel, detectors, xdim, ydim, placements, full_mask, nints, units, sources)
