"""Lazy, validated reading of the science data of a JWST FITS file for previews.

Why this exists instead of ``fits.getdata``:

* Memory. A 4D ramp (uncal, ramp, dark) can be gigabytes, but a preview needs only the
  first and last group of each *shown* integration. Frames are read one at a time with
  ``hdu.section``; astropy cannot memory-map the BZERO-scaled integers JWST writes
  (uncal SCI is uint16 with BZERO=32768, DQ uint32 with BZERO=2**31), so ``section`` is
  the only way to read part of such an array. Peak memory grows with a frame, not the file.
* Clear failures. Every way a file can be unusable (missing, empty, not FITS, truncated,
  no SCI, wrong dimensionality, DQ of another shape, unreadable data) raises one typed
  :class:`FitsReadError` carrying the file name and a sentence a user can act on, so the
  caller records it and carries on with the other files.
* jwql's non-science map. Reference and non-science pixels are excluded from the display
  limits: from the DQ plane when there is one (NON_SCIENCE | REFERENCE_PIXEL), otherwise
  from the detector geometry (the 4-pixel reference border of the 2048x2048 near-infrared
  detectors, the first and last 4 reference columns of MIRI's 1032x1024 detectors), cropped
  to the subarray with SUBSTRT/SUBSIZE so a subarray only loses the edges it shares with the
  detector border. Resampled stage-3 images (i2d) have no reference pixels: all pixels are
  science (their empty regions are NaN and drop out as non-finite).

No Dagster imports: this is pure domain code.
"""

from __future__ import annotations

import contextlib
import os
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from astropy.io import fits
from astropy.nddata.bitmask import bitfield_to_boolean_mask

from jwql_dagster.failures import reasons
from jwql_dagster.previews.detector import reference_pixel_map

__all__ = [
    "DQ_NON_SCIENCE",
    "DQ_REFERENCE_PIXEL",
    "FitsReadError",
    "ScienceFile",
    "open_science",
    "reference_pixel_map",
]

#: jwst dqflags: pixel not on the science area of the detector.
DQ_NON_SCIENCE = 2**9
#: jwst dqflags: reference pixel.
DQ_REFERENCE_PIXEL = 2**31
_DQ_EXCLUDED = (DQ_NON_SCIENCE, DQ_REFERENCE_PIXEL)

#: Suffixes of resampled products: no detector geometry, hence no reference pixels.
_RESAMPLED_SUFFIXES = frozenset({"i2d", "s2d", "s3d"})

_GZIP_MAGIC = b"\x1f\x8b"
FITS_BLOCK = 2880
_READ_ERRORS = (OSError, EOFError, ValueError, TypeError, zlib.error, IndexError)


class FitsReadError(Exception):
    """A FITS file cannot give a preview; ``.filename`` and ``.reason`` say which and why."""

    def __init__(self, filename: str | os.PathLike[str], reason: str) -> None:
        self.filename = str(filename)
        self.reason = reason
        super().__init__(f"{os.path.basename(self.filename)}: {reason}")


@dataclass
class ScienceFile:
    """An open FITS file's science data, read lazily one frame at a time.

    ``ndim`` is the SCI dimensionality (2 rate/cal/i2d, 3 rateints/calints, 4 ramps);
    ``nints`` the number of frames a preview can show (1 for 2D). ``frame(i)`` returns a
    new float32 array (for 4D: last minus first group of integration ``i``), so callers
    may modify it.
    """

    path: Path
    hdul: fits.HDUList
    sci: Any
    dq: Any | None
    dq_name: str | None
    primary_header: fits.Header
    gzipped: bool
    _mask_cache: tuple[np.ndarray, str] | None = field(default=None, init=False, repr=False)

    @property
    def filename(self) -> str:
        return self.path.name

    @property
    def root_name(self) -> str:
        """The file name before its first dot (jwql's output stem)."""
        return self.path.name.split(".")[0]

    @property
    def suffix(self) -> str:
        return self.root_name.rsplit("_", 1)[-1].lower()

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.sci.shape)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def frame_shape(self) -> tuple[int, int]:
        ny, nx = self.shape[-2:]
        return int(ny), int(nx)

    @property
    def nints(self) -> int:
        return 1 if self.ndim == 2 else int(self.shape[0])

    @property
    def ngroups(self) -> int:
        return int(self.shape[1]) if self.ndim == 4 else 1

    def header_value(self, key: str, default: Any = None) -> Any:
        """A keyword from the primary header, else the SCI header (JWST keeps most in primary)."""
        if key in self.primary_header:
            return self.primary_header[key]
        return self.sci.header.get(key, default)

    @property
    def instrument(self) -> str | None:
        value = self.header_value("INSTRUME")
        return str(value).strip().upper() if value else None

    @property
    def detector(self) -> str | None:
        value = self.header_value("DETECTOR")
        return str(value).strip().upper() if value else None

    def _int_pair(self, key1: str, key2: str) -> tuple[int, int] | None:
        """Two integer header values, or None when either is missing or not a number."""
        x, y = self.header_value(key1), self.header_value(key2)
        if x is None or y is None:
            return None
        try:
            return int(x), int(y)
        except (TypeError, ValueError):
            return None

    @property
    def substrt(self) -> tuple[int, int] | None:
        return self._int_pair("SUBSTRT1", "SUBSTRT2")

    @property
    def subsize(self) -> tuple[int, int] | None:
        return self._int_pair("SUBSIZE1", "SUBSIZE2")

    @property
    def units(self) -> str:
        """BUNIT of the SCI extension (primary as fallback), '' when absent."""
        value = self.sci.header.get("BUNIT", self.primary_header.get("BUNIT", ""))
        return str(value).strip()

    @property
    def mask_source(self) -> str:
        """Where the science map comes from: 'dq', 'reference-pixels' or 'none'."""
        return self._mask()[1]

    def science_mask(self) -> np.ndarray:
        """2D bool map, True = science pixel, used to exclude pixels from the display limits."""
        return self._mask()[0]

    def _mask(self) -> tuple[np.ndarray, str]:
        if self._mask_cache is not None:
            return self._mask_cache
        shape = self.frame_shape
        if self.dq is not None:
            result = (self._dq_science(), "dq")
        elif self.suffix in _RESAMPLED_SUFFIXES or "WHT" in self.hdul or "CON" in self.hdul:
            result = (np.ones(shape, dtype=bool), "none")
        else:
            ref = reference_pixel_map(self.instrument, shape, self.substrt)
            result = (ref, "reference-pixels") if ref is not None else (np.ones(shape, dtype=bool), "none")
        self._mask_cache = result
        return result

    def _dq_science(self) -> np.ndarray:
        """Science map from the first DQ plane: no NON_SCIENCE and no REFERENCE_PIXEL bit.

        JWST stores DQ as int32 with BZERO=2**31; astropy's unsigned conversion of a full
        frame costs more than the rest of the map, so that common layout is read raw: the
        stored value is the flag word with its top bit flipped. Flipping it back in place on
        the big-endian bytes (byte-swapped constants, no conversion pass) leaves the flag
        word byte-swapped, which ``bitfield_to_boolean_mask`` tests with byte-swapped flags
        as fast as a hand-written mask.
        """
        ny, nx = self.frame_shape
        h = self.dq.header
        if (
            not self.gzipped
            and h.get("BITPIX") == 32
            and float(h.get("BSCALE", 1)) == 1.0
            and int(h.get("BZERO", 0)) == 2**31
        ):
            info = self.hdul.fileinfo(self.hdul.index_of(self.dq_name))
            try:
                raw = np.fromfile(self.path, dtype=np.uint32, count=ny * nx, offset=int(info["datLoc"]))
            except OSError as exc:
                raise FitsReadError(self.path, f"cannot read the {self.dq_name} data ({exc})") from exc
            if raw.size == ny * nx:
                raw ^= _swapped(2**31)
                return _science(raw, [_swapped(flag) for flag in _DQ_EXCLUDED]).reshape(ny, nx)
        plane = self._read(self.dq, (0,) * (int(h["NAXIS"]) - 2), self.dq_name or "DQ")
        return _science(plane.astype(np.uint32, copy=False), list(_DQ_EXCLUDED))

    def frame(self, i: int = 0) -> np.ndarray:
        """Integration ``i`` as a new native float32 2D array (4D: last minus first group)."""
        if not 0 <= i < self.nints:
            raise IndexError(f"integration {i} out of range 0..{self.nints - 1}")
        if self.ndim == 2:
            return self._read(self.sci, (), "SCI").astype(np.float32)
        if self.ndim == 3:
            return self._read(self.sci, (i,), "SCI").astype(np.float32)
        first = self._read(self.sci, (i, 0), "SCI")
        last = self._read(self.sci, (i, self.ngroups - 1), "SCI")
        return np.subtract(last, first, dtype=np.float32)  # casts in chunks: no float copy of either group

    def _read(self, hdu: Any, index: tuple[int, ...], name: str) -> np.ndarray:
        """One 2D plane through ``hdu.section`` (reads only its bytes), errors made typed."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                plane = np.asarray(hdu.section[index + (slice(None), slice(None))])
        except _READ_ERRORS as exc:
            raise FitsReadError(self.path, f"cannot read the {name} data ({type(exc).__name__}: {exc})") from exc
        if plane.ndim != 2:
            raise FitsReadError(self.path, f"{name} plane has {plane.ndim} dimensions, expected 2")
        return plane

    def close(self) -> None:
        self.hdul.close()


def _swapped(flag: int) -> int:
    """``flag`` as it reads when big-endian uint32 bytes are viewed as native uint32."""
    return int(np.array([flag], dtype=">u4").view(np.uint32)[0])


def _science(flags: np.ndarray, excluded: list[int]) -> np.ndarray:
    """True where none of the ``excluded`` bits is set."""
    return bitfield_to_boolean_mask(flags, ignore_flags=excluded, flip_bits=True, good_mask_value=True, dtype=bool)


def _check_complete(path: Path, hdul: fits.HDUList, name: str, file_size: int) -> None:
    """Raise when the file ends before the HDU's data does (a truncated copy)."""
    info = hdul.fileinfo(hdul.index_of(name))
    if info is None:
        return
    needed = int(info["datLoc"]) + hdul[name].size  # the data's bytes as the header declares them, padding aside
    if needed > file_size:
        raise FitsReadError(
            path, f"file is truncated: the {name} data need {needed} bytes but the file has {file_size}"
        )


def _gzip_intact(path: Path) -> bool:
    """True when the whole gzip stream decompresses (checked only to explain a failure)."""
    import gzip

    try:
        with gzip.open(path, "rb") as fh:
            while fh.read(1 << 20):
                pass
    except (OSError, EOFError, zlib.error):
        return False
    return True


def _open(path: Path) -> ScienceFile:
    if not path.exists():
        raise FitsReadError(path, "file does not exist")
    if not path.is_file():
        raise FitsReadError(path, "not a regular file")
    file_size = path.stat().st_size
    if file_size == 0:
        raise FitsReadError(path, reasons.EMPTY_FILE)
    with open(path, "rb") as fh:
        head = fh.read(9)
    gzipped = head[:2] == _GZIP_MAGIC
    if not gzipped and head != b"SIMPLE  =":
        raise FitsReadError(path, reasons.NOT_FITS)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hdul = fits.open(path, mode="readonly", lazy_load_hdus=True, memmap=False)
    except _READ_ERRORS as exc:
        kind = ("gzip-compressed file that does not decompress to readable FITS (truncated or corrupt)"
                if gzipped else "not a readable FITS file")
        raise FitsReadError(path, f"{kind} ({type(exc).__name__}: {exc})") from exc
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                sci = hdul["SCI"]
            except KeyError:
                if gzipped and not _gzip_intact(path):
                    raise FitsReadError(path, "gzip stream is truncated or corrupt (no SCI extension readable)") from None
                raise FitsReadError(path, "no SCI extension") from None
            shape = tuple(sci.shape)
            if len(shape) not in (2, 3, 4):
                raise FitsReadError(
                    path, f"SCI data have {len(shape)} dimensions {shape}; previews need 2, 3 or 4"
                )
            if min(shape) == 0:
                raise FitsReadError(path, f"SCI data are empty (shape {shape})")
            if not gzipped:
                _check_complete(path, hdul, "SCI", file_size)
            dq, dq_name = None, None
            for name in ("DQ", "PIXELDQ"):
                if name in hdul:
                    dq, dq_name = hdul[name], name
                    break
            if dq is not None:
                dq_shape = tuple(dq.shape)
                if len(dq_shape) < 2 or dq_shape[-2:] != shape[-2:]:
                    raise FitsReadError(
                        path, f"{dq_name} shape {dq_shape} does not match the SCI frame shape {shape[-2:]}"
                    )
                if not gzipped:
                    _check_complete(path, hdul, dq_name, file_size)
            if not gzipped and file_size % FITS_BLOCK:
                # A FITS file is whole 2880-byte blocks; anything else was cut short, possibly after
                # SCI, which would otherwise render without its DQ (or other HDUs) unnoticed.
                raise FitsReadError(
                    path, f"file is truncated: {file_size} bytes is not a whole number of {FITS_BLOCK}-byte FITS blocks"
                )
            primary = hdul[0].header
    except FitsReadError:
        hdul.close()
        raise
    except _READ_ERRORS as exc:
        hdul.close()
        raise FitsReadError(path, f"corrupt FITS structure ({type(exc).__name__}: {exc})") from exc
    return ScienceFile(path=path, hdul=hdul, sci=sci, dq=dq, dq_name=dq_name, primary_header=primary, gzipped=gzipped)


@contextlib.contextmanager
def open_science(path: str | os.PathLike[str]) -> Iterator[ScienceFile]:
    """Open ``path`` for previews; validates structure up front, reads frames on demand.

    Gzip-compressed FITS is read (astropy decompresses it; frames are still read one at
    a time, but the truncation check needs the uncompressed size, so a truncated gzip is
    reported when its frame is read).
    """
    sf = _open(Path(path))
    try:
        yield sf
    finally:
        sf.close()
