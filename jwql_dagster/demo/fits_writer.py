"""Synthetic archive, FITS writing: headers and image data streamed as the JWST pipeline stores them.

uint16 ramps and uint32 DQ are stored as signed integers with BZERO (astropy refuses
``memmap`` on them, like on real files); data arrive one chunk at a time, so a
10x10x2048x2048 ramp needs only a few frames of memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, BinaryIO, Callable, Iterable, Sequence

import numpy as np
from astropy.io import fits

_STRUCTURAL = ("SIMPLE", "XTENSION", "BITPIX", "NAXIS", "EXTEND", "PCOUNT", "GCOUNT", "BSCALE", "BZERO", "EXTNAME")
_ON_DISK = {  # numpy dtype of the values -> (BITPIX, BZERO, big-endian storage dtype)
    np.dtype(np.uint16): (16, 32768, ">i2"),
    np.dtype(np.uint32): (32, 2147483648, ">i4"),
    np.dtype(np.int32): (32, None, ">i4"),
    np.dtype(np.float32): (-32, None, ">f4"),
}


@dataclass
class Extension:
    """An image extension whose data arrive as chunks along the first axis."""

    name: str
    dtype: np.dtype
    shape: tuple[int, ...]
    chunks: Callable[[], Iterable[np.ndarray]]
    cards: dict[str, Any]


def _image_header(ext: Extension) -> fits.Header:
    bitpix, bzero, _ = _ON_DISK[np.dtype(ext.dtype)]
    h = fits.Header()
    h["XTENSION"] = ("IMAGE", "Image extension")
    h["BITPIX"] = bitpix
    h["NAXIS"] = len(ext.shape)
    for axis, n in enumerate(reversed(ext.shape), start=1):
        h[f"NAXIS{axis}"] = n
    h["PCOUNT"] = 0
    h["GCOUNT"] = 1
    if bzero is not None:
        h["BSCALE"] = 1
        h["BZERO"] = bzero
    h["EXTNAME"] = (ext.name, "extension name")
    for key, value in ext.cards.items():
        h[key] = value
    return h


def _to_disk(values: np.ndarray, dtype: np.dtype) -> bytes:
    """Values -> FITS bytes: big-endian, unsigned integers offset by BZERO like the pipeline."""
    dtype = np.dtype(dtype)
    if dtype == np.uint16:
        return (values.astype(np.uint16) ^ np.uint16(0x8000)).astype(">u2").tobytes()
    if dtype == np.uint32:
        return (values.astype(np.uint32) ^ np.uint32(0x80000000)).astype(">u4").tobytes()
    return values.astype(_ON_DISK[dtype][2]).tobytes()


def _pad(fh: BinaryIO, written: int) -> None:
    if written % 2880:
        fh.write(b"\0" * (2880 - written % 2880))


def write_fits(fh: BinaryIO, primary: fits.Header, extensions: Sequence[Extension]) -> None:
    """Stream a primary header and image extensions; memory is one chunk at a time."""
    head = fits.Header()
    head["SIMPLE"] = (True, "conforms to FITS standard")
    head["BITPIX"] = 8
    head["NAXIS"] = 0
    head["EXTEND"] = True
    for card in primary.cards:
        if card.keyword not in _STRUCTURAL:
            head.append(card)
    fh.write(head.tostring().encode("ascii"))
    for ext in extensions:
        fh.write(_image_header(ext).tostring().encode("ascii"))
        expected = int(np.prod(ext.shape)) * np.dtype(ext.dtype).itemsize
        written = 0
        for chunk in ext.chunks():
            data = _to_disk(np.ascontiguousarray(chunk), ext.dtype)
            fh.write(data)
            written += len(data)
        if written != expected:  # a programming error, never user input
            raise RuntimeError(f"extension {ext.name}: wrote {written} bytes, expected {expected}")
        _pad(fh, written)
