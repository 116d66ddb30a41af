"""JWST file-name parsing with jwql's patterns, plus a cheap classifier for hot loops.

jwql's ``filename_parser`` (jwql/utils/utils.py) tries eleven name patterns in a fixed
order and the first match wins; this module recognises the same names, in the same
order, with the same field names, so archive scans, previews and statistics agree with
jwql. The regular expressions are built here from a small table of fields rather than
spelled out eleven times, so the grammar is visible in one place.

Differences from jwql, on purpose:

* An unrecognised name raises :class:`UnrecognizedFilenameError` (a ``ValueError`` naming
  the file) instead of returning ``{'recognized_filename': False}``: callers record it as a
  failure. An unknown detector prefix (jwql: ``KeyError``) is the same error.
* The suffix is a whole token: it must be followed by ``.``, ``_`` or the end of the name.
  jwql accepts any prefix (``_calints.fits`` became suffix ``cal``, ``_ami-oi`` became
  ``ami``); here ``calints`` is its own suffix (added to the list after jwql's) and the
  AMI ``-oi`` products keep their names. Trailing text after a ``_`` is still allowed, so
  preview names such as ``..._rate_integ0.jpg`` parse as jwql parses them.
* ``stage_2_msa`` names get ``suffix='msa'`` (jwql's filesystem monitor patches this in).
* Every key is always present (``None`` when the pattern has no such field), so callers
  never need ``.get``.
"""

from __future__ import annotations

import os
import re
from typing import Any

__all__ = [
    "FILE_SUFFIX_TYPES",
    "FILENAME_TYPES",
    "IGNORED_SUFFIXES",
    "INSTRUMENT_SHORTHAND",
    "PARSED_KEYS",
    "UnrecognizedFilenameError",
    "is_ignored",
    "parse_filename",
    "quick_classify",
]


#: First three letters of a detector name -> instrument (guider1/2 -> fgs, mirimage -> miri ...).
INSTRUMENT_SHORTHAND: dict[str, str] = {
    "gui": "fgs",
    "mir": "miri",
    "nis": "niriss",
    "nrc": "nircam",
    "nrs": "nirspec",
}

#: Suffixes jwql skips when making previews (FGS streams are huge; spectra have no image).
IGNORED_SUFFIXES: tuple[str, ...] = ("original", "stream", "x1d", "x1dints", "c1d", "pre-image")

_GUIDER_SUFFIXES = ("stream", "stacked_uncal", "image_uncal", "stacked_cal", "image_cal")
_GENERIC_SUFFIXES = (
    "uncal", "cal", "rateints", "rate", "trapsfilled", "i2d", "x1dints", "x1d", "s2d", "s3d",
    "dark", "crfints", "crf", "ramp", "fitopt", "bsubints", "bsub", "cat", "segm", "c1d",
)
_TIME_SERIES_SUFFIXES = ("phot", "whtlt")
_CORONAGRAPHY_SUFFIXES = ("psfstack", "psfalign", "psfsub")
_AMI_SUFFIXES = (
    "amiavg", "aminorm", "ami", "psf-amiavg", "psf-ami-oi", "ami-oi", "aminorm-oi", "amimulti-oi", "amilg",
)
_WFSC_SUFFIXES = ("wfscmb",)
_MSA_SUFFIXES = ("msa",)
#: Pipeline products jwql's list lacks (it counted them under a prefix, e.g. calints as cal).
_EXTRA_SUFFIXES = ("calints",)

#: Every recognised suffix, in jwql's order (guider, generic, time series, coronagraphy,
#: AMI, WFS&C, MSA), then the ones this project adds.
FILE_SUFFIX_TYPES: tuple[str, ...] = (
    _GUIDER_SUFFIXES
    + _GENERIC_SUFFIXES
    + _TIME_SERIES_SUFFIXES
    + _CORONAGRAPHY_SUFFIXES
    + _AMI_SUFFIXES
    + _WFSC_SUFFIXES
    + _MSA_SUFFIXES
    + _EXTRA_SUFFIXES
)
_SUFFIX_SET = frozenset(FILE_SUFFIX_TYPES)

#: The names jwql gives the patterns, in the order they are tried.
FILENAME_TYPES: tuple[str, ...] = (
    "stage_1_and_2",
    "stage_2c",
    "stage_2_msa",
    "stage_3_target_id",
    "stage_3_source_id",
    "stage_3_target_id_epoch",
    "stage_3_source_id_epoch",
    "time_series",
    "time_series_2c",
    "guider",
    "guider_segment",
)

#: Keys of every dict parse_filename returns.
PARSED_KEYS: tuple[str, ...] = (
    "program_id", "observation", "visit", "visit_group", "parallel_seq_id", "activity",
    "exposure_id", "detector", "suffix", "ac_id", "segment", "target_id", "source_id", "epoch",
    "guider_mode", "date_time", "guide_star_attempt_id", "optical_elements", "instrument",
    "filename_type", "file_root", "group_root", "recognized_filename",
)

# Names without an extension are matched whole; jwql also matches MSA files whole.
_NO_SUFFIX_MARKER = "msa.fits"


class UnrecognizedFilenameError(ValueError):
    """A file name that follows none of the JWST naming patterns; ``.filename`` is the name."""

    def __init__(self, filename: str, reason: str = "does not follow the JWST file naming conventions") -> None:
        self.filename = filename
        self.reason = reason
        super().__init__(f"{filename!r} {reason}")


# ---------------------------------------------------------------------------------------
# The grammar. Field widths are jwql's (constants.py FILE_*_LEN).
_F = {
    "exposure": r"jw(?P<program_id>\d{5})(?P<observation>\d{3})(?P<visit>\d{3})"
    r"_(?P<visit_group>\d{2})(?P<parallel_seq_id>\d)(?P<activity>\w{2})_(?P<exposure_id>\d+)",
    "visit": r"jw(?P<program_id>\d{5})(?P<observation>\d{3})(?P<visit>\d{3})",
    "segment": r"-seg(?P<segment>\d{3})",
    "detector": r"_(?P<detector>[^\W_]+)",
    "ac_id": r"(?P<ac_id>o\d{3}|[car]\d{4})",
    "instrument": r"_(?P<instrument>nircam|niriss|nirspec|miri|fgs)",
    "optical": r"_(?P<optical_elements>(?:[^\W_]|-)+)",
    "epoch": r"-epoch(?P<epoch>\d)",
    "guider": r"_gs-(?P<guider_mode>id|acq1|acq2|track|fg)"
    r"_(?:(?P<date_time>\d{13})|(?P<guide_star_attempt_id>\d{1,3}))",
}
_STAGE3 = r"jw(?P<program_id>\d{5})-" + _F["ac_id"]

_PATTERNS: dict[str, str] = {
    "stage_1_and_2": _F["exposure"] + _F["detector"],
    "stage_2c": _F["exposure"] + _F["detector"] + "_" + _F["ac_id"],
    "stage_2_msa": _F["visit"] + r"_.._msa.fits",
    "stage_3_target_id": _STAGE3 + r"_(?P<target_id>t\d{3})" + _F["instrument"] + _F["optical"],
    "stage_3_source_id": _STAGE3 + r"_(?P<source_id>s\d{5})" + _F["instrument"] + _F["optical"],
    "stage_3_target_id_epoch": _STAGE3 + r"_(?P<target_id>t\d{3})" + _F["epoch"] + _F["instrument"] + _F["optical"],
    "stage_3_source_id_epoch": _STAGE3 + r"_(?P<source_id>s\d{5})" + _F["epoch"] + _F["instrument"] + _F["optical"],
    "time_series": _F["exposure"] + _F["segment"] + _F["detector"],
    "time_series_2c": _F["exposure"] + _F["segment"] + _F["detector"] + "_" + _F["ac_id"],
    "guider": _F["visit"] + _F["guider"],
    "guider_segment": _F["visit"] + _F["guider"] + _F["segment"],
}
assert tuple(_PATTERNS) == FILENAME_TYPES

# Longest alternatives first, so the regex engine never settles on a prefix ("cal" of "calints").
_SUFFIX_ALTERNATION = "|".join(re.escape(s) for s in sorted(FILE_SUFFIX_TYPES, key=len, reverse=True))
_WITH_SUFFIX = [
    (name, re.compile(pattern + r"_(?P<suffix>" + _SUFFIX_ALTERNATION + r")(?=[._]|$)", re.ASCII))
    for name, pattern in _PATTERNS.items()
]
_WHOLE = [(name, re.compile(pattern + r"$", re.ASCII)) for name, pattern in _PATTERNS.items()]


def parse_filename(filename: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a JWST file name (a path is reduced to its base name) into jwql's fields.

    Returns a dict with every key of :data:`PARSED_KEYS`; raises
    :class:`UnrecognizedFilenameError` when no pattern matches.
    """
    name = os.path.basename(os.fspath(filename))
    pieces = name.split(".")
    root_name = pieces[0]
    whole = len(pieces) < 2 or _NO_SUFFIX_MARKER in name
    patterns = _WHOLE if whole else _WITH_SUFFIX

    for type_name, regex in patterns:
        match = regex.match(name)
        if match is not None:
            break
    else:
        raise UnrecognizedFilenameError(name)

    groups = match.groupdict()
    result: dict[str, Any] = dict.fromkeys(PARSED_KEYS)
    result.update(groups)
    result["filename_type"] = type_name
    result["recognized_filename"] = True

    if type_name in ("guider", "guider_segment"):
        result["instrument"] = "fgs"
    elif groups.get("detector"):
        instrument = INSTRUMENT_SHORTHAND.get(groups["detector"][:3].lower())
        if instrument is None:
            raise UnrecognizedFilenameError(name, f"has an unknown detector {groups['detector']!r}")
        result["instrument"] = instrument
    elif type_name == "stage_2_msa":
        result["instrument"] = "nirspec"

    # jwql's roots: the name before its first '.', minus a trailing _suffix, then minus a
    # trailing _ac_id; the group root also drops the detector (mosaic grouping key).
    root = root_name
    for part in (groups.get("suffix"), groups.get("ac_id")):
        if part and root.endswith("_" + part):
            root = root[: -len(part) - 1]
    result["file_root"] = root
    detector = groups.get("detector")
    if detector is None:
        result["detector"] = "Unknown"
        result["group_root"] = root
    else:
        result["group_root"] = root[: -len(detector) - 1] if root.endswith("_" + detector) else root

    if type_name == "stage_2_msa":
        result["suffix"] = "msa"
    return result


def _ascii_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def quick_classify(name: str) -> tuple[str, str | None] | None:
    """Return ``(instrument, suffix)`` for a file name, or ``None`` when it is unrecognised.

    Always equal to ``(parse_filename(name)['instrument'], parse_filename(name)['suffix'])``,
    but the common stage 1/2 name (``jwPPPPPOOOVVV_GGSAA_EEEEE_det_suffix.ext``) is
    classified with string splits and set look-ups (about 10x cheaper than the regexes),
    which matters when a scan classifies hundreds of thousands of names.
    """
    if "/" in name:
        name = os.path.basename(name)
    root, dot, _ = name.partition(".")
    if dot and _NO_SUFFIX_MARKER not in name:
        tokens = root.split("_")
        if len(tokens) == 5:
            visit, group, exposure, detector, suffix = tokens
            if (
                suffix in _SUFFIX_SET
                and len(visit) == 13
                and visit.startswith("jw")
                and _ascii_digits(visit[2:])
                and len(group) == 5
                and _ascii_digits(group[:3])
                and group[3:].isascii()
                and group[3:].isalnum()
                and _ascii_digits(exposure)
                and detector.isascii()
                and detector.isalnum()
            ):
                instrument = INSTRUMENT_SHORTHAND.get(detector[:3].lower())
                return None if instrument is None else (instrument, suffix)
    try:
        parsed = parse_filename(name)
    except UnrecognizedFilenameError:
        return None
    return parsed["instrument"], parsed["suffix"]


def is_ignored(name: str) -> bool:
    """True when jwql's preview generator skips the file: its last ``_`` token is an ignored suffix."""
    stem = os.path.basename(name).split(".")[0]
    return stem.rsplit("_", 1)[-1] in IGNORED_SUFFIXES
