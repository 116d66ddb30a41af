"""Square gallery thumbnails for every product type, made on request from what the previews wrote.

Thumbnails (``.thumb``) exist only for rate, dark and uncal files and mosaics, and they keep
the frame's aspect ratio; other products have only the labelled preview. A gallery of tiles
of one size needs a square picture of each: the bare thumbnail when there is one, else the
image area cut out of the preview (found as the longest run of fully coloured columns and
rows: viridis has no white, the figure around it is white with sparse ticks and text),
fitted into a square on the gallery's dark background. Results are cached per file and mtime.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 240
BACKGROUND = (14, 17, 22)
WHITE_LEVEL = 235  # a pixel with every channel above this is figure background, not data
DENSE = 0.8  # share of coloured pixels that makes a column or row part of the image area


def _longest_run(flags: np.ndarray) -> tuple[int, int] | None:
    """(start, stop) of the longest run of True values, or None."""
    best: tuple[int, int] | None = None
    start = None
    for i, flag in enumerate(list(flags) + [False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            if best is None or i - start > best[1] - best[0]:
                best = (start, i)
            start = None
    return best


def image_box(rgb: np.ndarray) -> tuple[int, int, int, int] | None:
    """(left, top, right, bottom) of the data image inside a labelled preview, or None when not found."""
    coloured = (rgb < WHITE_LEVEL).any(axis=2)
    cols = _longest_run(coloured.mean(axis=0) > DENSE)
    if cols is None or cols[1] - cols[0] < 8:
        return None
    rows = _longest_run(coloured[:, cols[0]:cols[1]].mean(axis=1) > DENSE)
    if rows is None or rows[1] - rows[0] < 8:
        return None
    return cols[0], rows[0], cols[1], rows[1]


def fit_square(image: Image.Image, size: int = SIZE) -> Image.Image:
    """``image`` scaled to fit a ``size`` square (aspect kept), centred on the dark background."""
    image = image.convert("RGB")
    scale = size / max(image.size)
    w, h = max(1, round(image.width * scale)), max(1, round(image.height * scale))
    canvas = Image.new("RGB", (size, size), BACKGROUND)
    canvas.paste(image.resize((w, h), Image.Resampling.LANCZOS), ((size - w) // 2, (size - h) // 2))
    return canvas


@functools.lru_cache(maxsize=4096)
def _square(path: str, mtime_ns: int, bare: bool, size: int) -> bytes:
    with Image.open(path) as im:
        im = im.convert("RGB")
        if not bare:
            # Trim the frame's black outline (1-2 px) along with the axes: 2 px inside the box found.
            box = image_box(np.asarray(im))
            if box is not None:
                left, top, right, bottom = box
                inner = (left + 2, top + 2, right - 2, bottom - 2) if right - left > 8 and bottom - top > 8 else box
                im = im.crop(inner)
        out = io.BytesIO()
        fit_square(im, size).save(out, format="JPEG", quality=85)
    return out.getvalue()


def square_thumbnail(path: Path, bare: bool, size: int = SIZE) -> bytes:
    """A square JPEG of a thumbnail (``bare``: already only the image) or of a labelled preview."""
    return _square(str(path), path.stat().st_mtime_ns, bare, size)
