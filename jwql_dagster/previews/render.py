"""jwql's preview images and thumbnails, rendered at display resolution near the numpy+Pillow floor.

Behaviour kept from jwql's ``PreviewImage`` (SPEC.md section 2):

* Display limits: finite science pixels only (see :mod:`jwql_dagster.previews.fits_io` for the
  science map), 1% clipped at each end: ``sorted[numclip]`` and ``sorted[-numclip-1]`` with
  ``numclip = int(0.01 * N)``; ``(0, 1)`` when no finite science pixel is left. The same two
  order statistics are found here without sorting (see :func:`find_limits`).
* Log stretch of ``data - min + 1`` with viridis by default (linear available); values
  outside the limits are clipped to the ends of the colormap; NaN is shown as 0.
* 4D ramps show last-minus-first group per integration; every integration up to 10,
  every 10th up to 100, every 100th beyond (:func:`select_integrations`).
* Names: ``<file stem>_integ<i>.jpg`` in the preview folder; the thumbnail of integration
  0 is ``<stem>_integ0.thumb`` (JPEG bytes) in the thumbnail folder.

What is different, on purpose: the frame is downsampled to display resolution first
and the labelled figure is composed from a cached frame with Pillow
(:mod:`jwql_dagster.previews.frame`) instead of a matplotlib figure per image, which
makes a preview plus thumbnail about 20x cheaper; values below the lower limit show as
the lowest colour (jwql's LogNorm left values more than 1 below it blank); the units
label does not overlap the colorbar numbers. Outputs are written atomically.
"""

from __future__ import annotations

import io
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from jwql_dagster.atomic import atomic_write_bytes
from jwql_dagster.failures.reasons import NoFinitePixelError, no_finite_pixel
from jwql_dagster.previews.fits_io import open_science
from jwql_dagster.previews.frame import (
    colormap_lut,
    compose_preview,
    draw_region_labels,
    preview_layout,
    thumbnail_size,
    title_width,
)

__all__ = [
    "CLIP_PERCENT",
    "NoFinitePixelError",
    "THUMBNAIL_SUFFIXES",
    "RenderResult",
    "colorbar_labels",
    "find_limits",
    "render_array",
    "render_file",
    "select_integrations",
    "stretch",
    "wants_thumbnail",
]

#: jwql's default clip fraction at each end of the value distribution.
CLIP_PERCENT = 0.01
#: File suffixes that get a thumbnail (jwql: rate and dark; we add uncal, see SPEC.md).
THUMBNAIL_SUFFIXES = ("rate", "dark", "uncal")
#: Thumbnail long side in pixels.
THUMBNAIL_PX = 300
#: JPEG quality: labels stay crisp; noisy sky keeps the files near 100-160 KB.
JPEG_QUALITY = 85

FrameSource = np.ndarray | Callable[[int], np.ndarray]

#: Below this many values a full np.partition is cheaper than the sampled bracket.
_BRACKET_MIN_VALUES = 200_000


def select_integrations(nints: int) -> list[int]:
    """Integrations shown: all up to 10, every 10th up to 100, every 100th beyond (jwql)."""
    if nints <= 0:
        return []
    if nints <= 10:
        return list(range(nints))
    if nints <= 100:
        return list(range(0, nints, 10))
    return list(range(0, nints, 100))


def wants_thumbnail(filename: str | os.PathLike[str]) -> bool:
    """True for the file types whose integration 0 becomes a thumbnail (rate, dark, uncal)."""
    stem = os.path.basename(os.fspath(filename)).split(".")[0]
    return stem.rsplit("_", 1)[-1].lower() in THUMBNAIL_SUFFIXES


def _order_statistics(values: np.ndarray, ks: Sequence[int], scratch: bool = False) -> list[float]:
    """Exact ``np.sort(values)[k]`` for each k, without sorting or partitioning everything.

    A strided sample gives a value safely beyond each wanted rank (towards the nearer
    end); one pass keeps the values on that side of it, a small remainder for jwql's 1%
    clip, and only that remainder is partitioned. The answer is exact whenever the rank
    lies within the kept values, which is checked; otherwise (a misleading sample) it
    falls back to ``np.partition`` of everything. Ties are safe: the kept values are a
    prefix (or suffix) of the sorted order whatever their multiplicity. ``scratch`` says
    ``values`` may be reordered in place (saves a copy in the fallback).
    """
    n = values.size
    if n < _BRACKET_MIN_VALUES:
        part = np.partition(values, list(ks))
        return [float(part[k]) for k in ks]
    step = max(1, n // 65536)
    sample = np.sort(values[::step])
    m = sample.size
    margin = int(3 * np.sqrt(m)) + 16
    out: list[float] = []
    for k in ks:
        q = int(k / n * m)
        if 2 * k < n:
            kept = values[values <= sample[min(m - 1, q + margin)]]
            j = k
        else:
            kept = values[values >= sample[max(0, q - margin)]]
            j = k - (n - kept.size)
        if 0 <= j < kept.size:
            kept.partition(j)  # kept is a fresh copy: partition in place
            out.append(float(kept[j]))
        elif scratch:
            values.partition(k)
            out.append(float(values[k]))
        else:
            out.append(float(np.partition(values, k)[k]))
        del kept
    return out


def find_limits(
    frame: np.ndarray,
    mask: np.ndarray | None = None,
    clip: float = CLIP_PERCENT,
    *,
    finite: np.ndarray | None = None,
) -> tuple[float, float]:
    """jwql's display limits of ``frame`` over finite science pixels (``mask`` True = science).

    Equal to ``s = np.sort(frame[mask & isfinite(frame)]); (s[numclip], s[-numclip-1])``
    with ``numclip = int(clip * s.size)``, and ``(0.0, 1.0)`` when no pixel qualifies.
    ``finite`` may pass a precomputed ``np.isfinite(frame)``.
    """
    frame = np.asarray(frame)
    if finite is None:
        finite = np.isfinite(frame)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != frame.shape:
            raise ValueError(f"mask shape {mask.shape} does not match frame shape {frame.shape}")
        use = finite & mask
    else:
        use = finite
    count = int(np.count_nonzero(use))
    if count == 0:
        return 0.0, 1.0
    whole = count == frame.size
    values = frame.ravel() if whole else frame[use]
    del use
    numclip = int(clip * count)
    lo, hi = _order_statistics(values, [numclip, count - numclip - 1], scratch=not whole)
    return lo, hi


def stretch(image: np.ndarray, lo: float, hi: float, scale: str = "log") -> np.ndarray:
    """Colormap indices (uint8, 0..255) of ``image`` between ``lo`` and ``hi``.

    log: ``log(x - lo + 1) / log(hi - lo + 1)`` (jwql's LogNorm of data - min + 1);
    linear: ``(x - lo) / (hi - lo)``. A constant frame (hi == lo) maps to index 0.
    """
    if scale not in ("log", "linear"):
        raise ValueError(f"scaling option {scale!r} not supported (use 'log' or 'linear')")
    span = float(hi) - float(lo)
    if not np.isfinite(span) or span <= 0:
        return np.zeros(image.shape, dtype=np.uint8)
    x = np.clip(image, lo, hi).astype(np.float32, copy=False)
    x = x - np.float32(lo)
    if scale == "log":
        np.log1p(x, out=x)
        x *= np.float32(255.0 / np.log1p(span))
    else:
        x *= np.float32(255.0 / span)
    x += np.float32(0.5)
    np.clip(x, 0, 255, out=x)
    return x.astype(np.uint8)


def colorbar_labels(lo: float, hi: float, scale: str = "log") -> tuple[list[str], list[float]]:
    """Five colorbar tick labels in data units, with jwql's decimals (0/1/2/3 for range >=100/10/1/<1).

    log: ticks log-spaced between 1 and hi - lo + 1 on the shifted data, labelled with
    ``tick + lo - 1``; linear: evenly spaced between lo and hi.
    """
    if scale == "log":
        top = max(hi - lo + 1.0, 1.0)
        values = [float(v) + lo - 1.0 for v in np.logspace(0.0, np.log10(top), 5)]
    else:
        values = [float(v) for v in np.linspace(lo, hi, 5)]
    delta = values[-1] - values[0]
    digits = 0 if delta >= 100 else 1 if delta >= 10 else 2 if delta >= 1 else 3
    return [f"{v:.{digits}f}" for v in values], values


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Area-average down (BOX) or replicate up (NEAREST) a float32 image to (height, width)."""
    if image.shape == (height, width):
        return image
    src = Image.fromarray(np.ascontiguousarray(image, dtype=np.float32))
    shrinking = width <= image.shape[1] and height <= image.shape[0]
    method = Image.Resampling.BOX if shrinking else Image.Resampling.NEAREST
    return np.asarray(src.resize((width, height), method))


def _jpeg(rgb: Image.Image | np.ndarray) -> bytes:
    img = rgb if isinstance(rgb, Image.Image) else Image.fromarray(rgb)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


@dataclass
class RenderResult:
    """What one file (or mosaic) rendered to; ``preview_box`` maps array pixels to JPEG pixels.

    ``preview_box`` = (x0, y0, width, height) of the image area in every preview JPEG
    (array row 0 is at the bottom of it); ``thumbnail_size`` = (width, height).
    """

    root_name: str
    shape: tuple[int, int]
    nints: int
    integrations: list[int] = field(default_factory=list)
    previews: list[Path] = field(default_factory=list)
    thumbnails: list[Path] = field(default_factory=list)
    limits: list[tuple[float, float]] = field(default_factory=list)
    preview_size: tuple[int, int] = (0, 0)
    preview_box: tuple[int, int, int, int] = (0, 0, 0, 0)
    thumbnail_size: tuple[int, int] | None = None
    units: str = ""
    mask_source: str = ""
    seconds: float = 0.0


def render_array(
    frames: FrameSource,
    mask: np.ndarray | None,
    root_name: str,
    preview_dir: str | os.PathLike[str],
    thumbnail_dir: str | os.PathLike[str] | None = None,
    *,
    units: str = "",
    title_name: str | None = None,
    nints: int | None = None,
    scale: str = "log",
    cmap: str = "viridis",
    clip: float = CLIP_PERCENT,
    max_size_in: float = 8.0,
    thumbnail_px: int = THUMBNAIL_PX,
    frames_are_scratch: bool = False,
    regions: dict[str, tuple[int, int, int, int]] | None = None,
) -> RenderResult:
    """Render previews (and the integration-0 thumbnail) of a 2D/3D array or a frame callback.

    ``frames``: a 2D array (one integration), a 3D array (integration, y, x), or a callable
    ``frames(i) -> 2D array`` with ``nints`` given (frames are then built only for the
    shown integrations, e.g. mosaics or 4D differences). ``mask`` (2D bool, True = science)
    excludes pixels from the limits; None = all pixels. Writes
    ``<preview_dir>/<root_name>_integ<i>.jpg`` per shown integration and, when
    ``thumbnail_dir`` is given, ``<thumbnail_dir>/<root_name>_integ0.thumb``; titles read
    ``<title_name> Int: <i>``. Array row 0 is drawn at the bottom (origin lower).
    The caller's data are never modified unless ``frames_are_scratch`` says each frame is
    a fresh array (then NaN is zeroed in place, saving a frame of memory). ``regions`` (a
    mosaic's detectors: name -> x0, y0, width, height) are named on the preview.
    """
    started = time.perf_counter()
    if not root_name or os.sep in root_name or (os.altsep and os.altsep in root_name) or root_name in (".", ".."):
        raise ValueError(f"root name {root_name!r} must be a plain file stem")
    if scale not in ("log", "linear"):
        raise ValueError(f"scaling option {scale!r} not supported (use 'log' or 'linear')")
    if callable(frames):
        if nints is None:
            raise ValueError("nints is required when frames is a callable")
        get_frame: Callable[[int], np.ndarray] = frames
        count = int(nints)
    else:
        arr = np.asarray(frames)
        if arr.ndim == 2:
            arr = arr[np.newaxis]
        if arr.ndim != 3:
            raise ValueError(f"frames must be 2D or 3D, got {arr.ndim}D")
        count = arr.shape[0]
        get_frame = arr.__getitem__
    preview_dir = Path(preview_dir)
    thumb_dir = Path(thumbnail_dir) if thumbnail_dir is not None else None
    title_name = title_name or root_name
    lut = colormap_lut(cmap)
    result = RenderResult(root_name=root_name, shape=(0, 0), nints=count, units=units)

    # Integration 0's files (preview and thumbnail) are written last: the planner takes their
    # presence as "this file is done", so a render that dies part-way must not leave them behind.
    deferred: list[tuple[Path, bytes]] = []
    for i in select_integrations(count):
        frame = np.asarray(get_frame(i))
        if frame.ndim != 2:
            raise ValueError(f"frame {i} is {frame.ndim}D, expected 2D")
        if mask is not None and np.shape(mask) != frame.shape:
            raise ValueError(f"mask shape {np.shape(mask)} does not match frame shape {frame.shape}")
        ny, nx = frame.shape
        finite = np.isfinite(frame)
        if not (np.any(finite & np.asarray(mask, dtype=bool)) if mask is not None else finite.any()):
            # Nothing to show: a flat image with a made-up 0-1 colour bar would pass for data.
            raise NoFinitePixelError(no_finite_pixel(i if count > 1 else None))
        lo, hi = find_limits(frame, mask, clip, finite=finite)
        all_finite = bool(finite.all())
        if all_finite:
            frame = np.ascontiguousarray(frame, dtype=np.float32)
        elif frames_are_scratch and frame.dtype == np.float32 and frame.flags.c_contiguous and frame.flags.writeable:
            np.copyto(frame, 0, where=~finite)  # NaN (and inf) shown as 0, as jwql does
        else:  # the same, without touching the caller's array
            frame = np.where(finite, frame, np.float32(0)).astype(np.float32, copy=False)
        del finite

        title = f"{title_name} Int: {i}"
        layout = preview_layout(ny, nx, units, max_size_in, title_width(title, max_size_in), cmap)
        x0, y0, w, h = layout.image_box
        small = _resize(frame, w, h)
        rgb = lut[stretch(small[::-1], lo, hi, scale)]  # row 0 at the bottom
        labels, values = colorbar_labels(lo, hi, scale)
        preview = compose_preview(layout, rgb, title, labels, values)
        if regions:
            draw_region_labels(preview, layout, (ny, nx), regions)
        out = preview_dir / f"{root_name}_integ{i}.jpg"
        if i == 0:
            deferred.append((out, _jpeg(preview)))
        else:
            atomic_write_bytes(out, _jpeg(preview))
        result.previews.append(out)
        result.integrations.append(i)
        result.limits.append((lo, hi))
        result.shape = (ny, nx)
        result.preview_size = layout.canvas_size
        result.preview_box = layout.image_box

        if i == 0 and thumb_dir is not None:
            tw, th = thumbnail_size(ny, nx, thumbnail_px)
            source = small if (w >= tw and h >= th) else frame
            tsmall = _resize(source, tw, th)
            trgb = lut[stretch(tsmall[::-1], lo, hi, scale)]
            tout = thumb_dir / f"{root_name}_integ{i}.thumb"
            deferred.append((tout, _jpeg(trgb)))
            result.thumbnails.append(tout)
            result.thumbnail_size = (tw, th)
    for target, data in deferred:
        atomic_write_bytes(target, data)
    result.seconds = time.perf_counter() - started
    return result


def render_file(
    fits_path: str | os.PathLike[str],
    preview_dir: str | os.PathLike[str],
    thumbnail_dir: str | os.PathLike[str] | None = None,
    *,
    scale: str = "log",
    cmap: str = "viridis",
    clip: float = CLIP_PERCENT,
    max_size_in: float = 8.0,
    thumbnail_px: int = THUMBNAIL_PX,
) -> RenderResult:
    """Render the previews (and, with ``thumbnail_dir``, the thumbnail) of one FITS file.

    Reads only the shown integrations (for 4D ramps only their first and last groups).
    Raises :class:`~jwql_dagster.previews.fits_io.FitsReadError` for an unusable file; nothing
    is written for it. Whether a file type should get a thumbnail is the caller's
    choice (see :func:`wants_thumbnail`).
    """
    with open_science(fits_path) as sf:
        mask = sf.science_mask()
        result = render_array(
            sf.frame,
            mask,
            sf.root_name,
            preview_dir,
            thumbnail_dir,
            units=sf.units,
            title_name=sf.filename,
            nints=sf.nints,
            scale=scale,
            cmap=cmap,
            clip=clip,
            max_size_in=max_size_in,
            thumbnail_px=thumbnail_px,
            frames_are_scratch=True,
        )
        result.mask_source = sf.mask_source
    return result
