"""Which NIRCam files make one mosaic, and the mosaic's name: decided from file names alone.

Kept apart from the pixel assembly (mosaic.py, numpy) so that planning a run, which only
needs names, loads no array code.
"""

from __future__ import annotations

import os
import re
from typing import Sequence

from jwql_dagster.archive.filenames import UnrecognizedFilenameError, parse_filename

SW_DETECTORS = tuple(f"NRC{m}{n}" for m in "AB" for n in "1234")
LW_DETECTORS = ("NRCA5", "NRCB5")
MOSAIC_NAMES = ("NRC_SWALL_MOSAIC", "NRC_SWA_MOSAIC", "NRC_SWB_MOSAIC", "NRC_LW_MOSAIC")
MOSAIC_MARKER = "_MOSAIC_"


class MosaicError(ValueError):
    """A group of files cannot be combined (mixed channels, no NIRCam detector, unusable shapes)."""


def normalize_detector(detector: str) -> str:
    """Upper-case detector name with the long-wave pipeline spelling mapped to jwql's (NRCALONG -> NRCA5)."""
    det = detector.upper()
    if det in ("NRCALONG", "NRCBLONG"):
        return det[:4] + "5"
    return det


def detector_check(detector_list: Sequence[str], search_string: str) -> int:
    """How many names in ``detector_list`` match the regular expression (case-insensitive, anchored at the start)."""
    pattern = re.compile(search_string, re.IGNORECASE)
    return sum(1 for det in detector_list if pattern.match(normalize_detector(det)))


def find_data_channel(detectors: Sequence[str]) -> str:
    """'SW' (both modules), 'SWA', 'SWB' or 'LW' for a list of NIRCam detectors; mixing SW and LW is an error."""
    swa = detector_check(detectors, r"NRCA[1-4]$")
    swb = detector_check(detectors, r"NRCB[1-4]$")
    lw = detector_check(detectors, r"NRC[AB]5$")
    if (swa or swb) and lw:
        raise MosaicError("cannot mix NIRCam short-wave and long-wave detectors in one mosaic")
    if swa and swb:
        return "SW"
    if swa:
        return "SWA"
    if swb:
        return "SWB"
    if lw:
        return "LW"
    raise MosaicError(f"no NIRCam short-wave or long-wave detector among {list(detectors)}")


def _channel_of(detector: str) -> str | None:
    det = normalize_detector(detector)
    if det in SW_DETECTORS:
        return "SW"
    if det in LW_DETECTORS:
        return "LW"
    return None


def group_filenames(filenames: Sequence[str]) -> list[list[str]]:
    """Group the files of one NIRCam exposure and channel; every other file is a group of its own.

    A group key is the exposure part of the name (``jw01068001001_02102_00001``), the channel
    (short wave: NRCA1-4 and NRCB1-4 together; long wave: A5/B5 or along/blong) and the
    suffix. Stage-3, time-series, guider and non-NIRCam files are never grouped. Files are
    matched by their base name, not their folder, since a file keeps its name when it moves
    from proprietary to public. Unrecognised names become groups of one (jwql stopped at them).
    Output order: groups in order of their first (sorted) file, files sorted inside a group.
    """
    groups: dict[tuple[str, ...], list[str]] = {}
    for path in sorted(set(filenames), key=lambda p: (os.path.basename(p), p)):
        name = os.path.basename(path)
        key: tuple[str, ...] = ("single", path)
        try:
            parsed = parse_filename(name)
        except UnrecognizedFilenameError:
            parsed = None
        if parsed is not None and parsed.get("filename_type") == "stage_1_and_2":
            channel = _channel_of(str(parsed.get("detector") or ""))
            if channel is not None:
                key = ("nircam", str(parsed["group_root"]).lower(), channel, str(parsed.get("suffix") or ""))
        groups.setdefault(key, []).append(path)
    return list(groups.values())


def create_dummy_filename(filelist: Sequence[str]) -> str:
    """The first file's path with its detector replaced by jwql's mosaic name (NRC_SWALL_MOSAIC, ...)."""
    if not filelist:
        raise MosaicError("an empty group has no mosaic name")
    detectors = []
    for path in filelist:
        parsed = parse_filename(os.path.basename(path))
        detectors.append(str(parsed["detector"]))
    first = normalize_detector(detectors[0])
    if first in LW_DETECTORS:
        label = "NRC_LW_MOSAIC"
    else:
        modules = {normalize_detector(d)[3] for d in detectors}
        if modules >= {"A", "B"}:
            label = "NRC_SWALL_MOSAIC"
        elif "A" in modules:
            label = "NRC_SWA_MOSAIC"
        else:
            label = "NRC_SWB_MOSAIC"
    folder, name = os.path.split(filelist[0])
    token = f"_{detectors[0]}_"
    index = name.find(token)
    if index < 0:
        raise MosaicError(f"detector {detectors[0]!r} not found in {name}")
    dummy = name[:index] + f"_{label}_" + name[index + len(token):]
    return os.path.join(folder, dummy) if folder else dummy


def is_mosaic_name(name: str) -> bool:
    """True for an output or dummy name made from a mosaic (the detector replaced by NRC_*_MOSAIC)."""
    return any(f"_{label}_" in name for label in MOSAIC_NAMES)
