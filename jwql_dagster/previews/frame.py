"""The labelled frame of a preview (axes, ticks, 'Pixels' labels, colorbar), drawn with Pillow.

Why not matplotlib per image: an 8-inch labelled figure with a colorbar and a tight
bounding box costs 140-200 ms to lay out and draw on this machine, more than the whole
budget of a preview (ARCHITECTURE.md "Budgets"). Everything in the frame except the
title and the five colorbar numbers depends only on the image shape, the units and the
output size, so it is drawn once per layout (cached) and each preview is a copy of that
frame with the scaled image pixels pasted in and six short strings drawn on top. The
look follows jwql's matplotlib previews: image with origin lower, axes labelled
'Pixels' with integer pixel ticks, title '<file> Int: <i>', a colorbar right of the
image (below it for images at least 1.6x wider than tall) with five ticks, labelled in
the file's BUNIT. Text uses the DejaVu Sans font that ships with matplotlib.

Coordinates here are canvas pixels with the origin at the top left (Pillow/numpy).
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "DPI",
    "PreviewLayout",
    "colormap_lut",
    "compose_preview",
    "preview_layout",
    "thumbnail_size",
    "title_width",
]

#: Output resolution: jwql saves matplotlib figures at the default 100 dpi.
DPI = 100
#: Where the five colorbar ticks sit along the bar (log-spaced values are evenly spaced on a log bar).
COLORBAR_FRACTIONS = (0.0, 0.25, 0.5, 0.75, 1.0)

_BLACK = (0, 0, 0)
_WHITE = 255


@functools.lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont:
    import matplotlib  # only for the path of the DejaVu font it ships

    path = os.path.join(matplotlib.get_data_path(), "fonts", "ttf", "DejaVuSans.ttf")
    return ImageFont.truetype(path, size)


@functools.lru_cache(maxsize=8)
def colormap_lut(name: str = "viridis") -> np.ndarray:
    """A (256, 3) uint8 lookup table of a matplotlib colormap (index 0 = lowest value)."""
    import matplotlib

    cmap = matplotlib.colormaps[name].resampled(256)
    lut = (cmap(np.arange(256))[:, :3] * 255.0 + 0.5).astype(np.uint8)
    lut.setflags(write=False)
    return lut


def _text_size(font: ImageFont.FreeTypeFont, text: str) -> tuple[int, int]:
    left, top, right, bottom = font.getbbox(text)
    return int(math.ceil(right - left)), int(math.ceil(bottom - top))


def _pixel_ticks(n: int, length_px: int) -> list[int]:
    """Integer pixel ticks on an axis of ``n`` pixels drawn ``length_px`` long (matplotlib-like steps)."""
    from matplotlib.ticker import MaxNLocator

    nbins = max(1, min(10, length_px // 75))
    ticks = MaxNLocator(nbins=nbins, steps=[1, 2, 2.5, 5, 10], integer=True).tick_values(0, max(n - 1, 1))
    return [int(round(t)) for t in ticks if -0.5 <= t <= n - 0.5]


def _paste_text(canvas: Image.Image, xy: tuple[float, float], text: str, font: ImageFont.FreeTypeFont,
                anchor: str, angle: int = 0) -> None:
    """Draw ``text``; rotated text is drawn on its own small image and pasted centred at ``xy``."""
    if not text:
        return
    if angle == 0:
        ImageDraw.Draw(canvas).text(xy, text, font=font, fill=_BLACK, anchor=anchor)
        return
    tile = _rotated_tile(text, font, angle)
    x = int(round(xy[0] - tile.width / 2))
    y = int(round(xy[1] - tile.height / 2))
    canvas.paste(Image.new("RGB", tile.size, _BLACK), (x, y), tile)


def _rotated_tile(text: str, font: ImageFont.FreeTypeFont, angle: int) -> Image.Image:
    """An 'L' mask of ``text`` rotated by ``angle`` degrees (counter-clockwise)."""
    left, top, right, bottom = font.getbbox(text)
    tile = Image.new("L", (int(right - left) + 2, int(bottom - top) + 2), 0)
    ImageDraw.Draw(tile).text((1 - left, 1 - top), text, font=font, fill=255)
    return tile.rotate(angle, expand=True)


@dataclass(frozen=True)
class PreviewLayout:
    """Where everything goes on a preview canvas, plus the static frame drawn once."""

    canvas_size: tuple[int, int]  # (width, height)
    image_box: tuple[int, int, int, int]  # (x0, y0, width, height) of the image pixels
    colorbar_box: tuple[int, int, int, int]
    orientation: str  # 'vertical' (bar right of the image) or 'horizontal' (bar below)
    label_points: tuple[tuple[int, int], ...]  # anchor point of each colorbar tick label
    label_anchor: str
    label_room: int  # widest colorbar label that fits without overlap (px)
    title_point: tuple[int, int]
    tick_font_size: int
    title_font_size: int
    units_tile: Image.Image | None  # rotated units label, placed per image beside the widest number
    base: np.ndarray  # (H, W, 3) uint8 frame without image, title and colorbar numbers


def thumbnail_size(ny: int, nx: int, long_side: int = 300) -> tuple[int, int]:
    """(width, height) of a thumbnail: the long side ``long_side`` px, aspect ratio kept."""
    s = long_side / max(ny, nx)
    return max(1, int(round(nx * s))), max(1, int(round(ny * s)))


def title_width(title: str, max_size_in: float = 8.0) -> int:
    """Width in px of ``title`` in the title font, rounded up to 32 px so similar titles share a layout."""
    size = max(9, int(round(14 * max_size_in / 8.0)))
    return (int(_font(size).getlength(title)) + 31) // 32 * 32


@functools.lru_cache(maxsize=12)
def preview_layout(ny: int, nx: int, units: str = "", max_size_in: float = 8.0,
                   title_width: int = 0, cmap: str = "viridis") -> PreviewLayout:
    """Lay out and draw the static frame of a preview of an ``ny`` x ``nx`` image.

    The canvas's long side is at most ``max_size_in`` inches at 100 dpi (800 px for jwql's
    default 8 in); the image keeps its aspect ratio and gets the rest after the margins.
    ``title_width`` (px) widens narrow canvases so the title fits.
    """
    scale = max_size_in / 8.0
    tick_fs = max(8, int(round(11 * scale)))
    label_fs = max(9, int(round(14 * scale)))
    title_fs = max(9, int(round(14 * scale)))  # keep in step with title_width()
    tick_font, label_font = _font(tick_fs), _font(label_fs)
    max_px = int(round(max_size_in * DPI))
    pad, tick_len = int(round(8 * scale)), max(3, int(round(5 * scale)))
    _, tick_h = _text_size(tick_font, "0123456789")
    _, label_h = _text_size(label_font, "Pixels")
    _, title_h = _text_size(_font(title_fs), "Tjg")
    ytick_w = _text_size(tick_font, "0" * len(str(max(ny - 1, 1))))[0]
    xtick_half = _text_size(tick_font, "0" * len(str(max(nx - 1, 1))))[0] // 2 + 2
    label_room = _text_size(tick_font, "-00000.000")[0]
    units_h = label_h if units else 0
    bar = max(10, int(round(20 * scale)))

    orientation = "horizontal" if nx / ny >= 1.6 else "vertical"
    left = pad + label_h + 6 + ytick_w + 3 + tick_len + 1
    top = pad + title_h + int(round(10 * scale)) + 1
    xaxis_h = 1 + tick_len + 2 + tick_h + 6 + label_h
    if orientation == "vertical":
        right = 1 + int(round(14 * scale)) + bar + 1 + tick_len + 3 + label_room + (6 + units_h if units else 0) + pad
        bottom = xaxis_h + pad
    else:
        right = max(pad, xtick_half)
        bottom = xaxis_h + int(round(14 * scale)) + bar + 2 + tick_len + 2 + tick_h + (6 + units_h if units else 0) + pad
    avail_w, avail_h = max(16, max_px - left - right), max(16, max_px - top - bottom)
    s = min(avail_w / nx, avail_h / ny)
    w, h = max(1, int(round(nx * s))), max(1, int(round(ny * s)))
    width = max(left + w + right, min(max_px, title_width + 2 * pad))
    shift = (width - (left + w + right)) // 2
    x0, y0 = left + shift, top
    height = top + h + bottom

    canvas = Image.new("RGB", (width, height), (_WHITE, _WHITE, _WHITE))
    draw = ImageDraw.Draw(canvas)
    lut = colormap_lut(cmap)
    # Axes: spine just outside the image pixels, integer ticks at pixel centres, origin lower.
    draw.rectangle((x0 - 1, y0 - 1, x0 + w, y0 + h), outline=_BLACK, width=1)
    for t in _pixel_ticks(nx, w):
        px = x0 + min(w - 1, int(math.floor((t + 0.5) * w / nx)))
        draw.line((px, y0 + h + 1, px, y0 + h + tick_len), fill=_BLACK)
        draw.text((px, y0 + h + tick_len + 3), str(t), font=tick_font, fill=_BLACK, anchor="ma")
    for t in _pixel_ticks(ny, h):
        py = y0 + min(h - 1, int(math.floor(h - (t + 0.5) * h / ny)))
        draw.line((x0 - 1 - tick_len, py, x0 - 2, py), fill=_BLACK)
        draw.text((x0 - tick_len - 4, py), str(t), font=tick_font, fill=_BLACK, anchor="rm")
    xlabel_y = y0 + h + 1 + tick_len + 2 + tick_h + 6
    draw.text((x0 + w / 2, xlabel_y), "Pixels", font=label_font, fill=_BLACK, anchor="ma")
    _paste_text(canvas, (x0 - 1 - tick_len - 3 - ytick_w - 6 - label_h / 2, y0 + h / 2), "Pixels", label_font, "mm", 90)

    # Colorbar: gradient of the lookup table, ticks at fixed fractions, numbers drawn per image.
    arr = np.asarray(canvas).copy()
    points = []
    if orientation == "vertical":
        cx0 = x0 + w + 1 + int(round(14 * scale))
        cb = (cx0, y0, bar, h)
        idx = np.clip(((1.0 - (np.arange(h) + 0.5) / h) * 256).astype(int), 0, 255)
        arr[y0 : y0 + h, cx0 : cx0 + bar] = lut[idx][:, None, :]
        canvas = Image.fromarray(arr)
        draw = ImageDraw.Draw(canvas)
        draw.rectangle((cx0 - 1, y0 - 1, cx0 + bar, y0 + h), outline=_BLACK, width=1)
        for f in COLORBAR_FRACTIONS:
            py = min(y0 + h - 1, max(y0, int(round(y0 + h - f * h))))
            draw.line((cx0 + bar + 1, py, cx0 + bar + tick_len, py), fill=_BLACK)
            points.append((cx0 + bar + tick_len + 4, py))
        anchor = "lm"
        units_tile = _rotated_tile(units, label_font, 270) if units else None
        room = label_room
    else:
        by0 = xlabel_y + label_h + int(round(14 * scale))
        cb = (x0, by0, w, bar)
        idx = np.clip((((np.arange(w) + 0.5) / w) * 256).astype(int), 0, 255)
        arr[by0 : by0 + bar, x0 : x0 + w] = lut[idx][None, :, :]
        canvas = Image.fromarray(arr)
        draw = ImageDraw.Draw(canvas)
        draw.rectangle((x0 - 1, by0 - 1, x0 + w, by0 + bar), outline=_BLACK, width=1)
        for f in COLORBAR_FRACTIONS:
            px = min(x0 + w - 1, max(x0, int(round(x0 + f * w))))
            draw.line((px, by0 + bar + 1, px, by0 + bar + tick_len), fill=_BLACK)
            points.append((px, by0 + bar + tick_len + 3))
        anchor = "ma"
        if units:
            draw.text((x0 + w / 2, by0 + bar + tick_len + 3 + tick_h + 6), units, font=label_font,
                      fill=_BLACK, anchor="ma")
        room = max(10, w // 4 - 6)
        units_tile = None
    base = np.asarray(canvas).copy()
    base.setflags(write=False)
    return PreviewLayout(
        canvas_size=(width, height),
        image_box=(x0, y0, w, h),
        colorbar_box=cb,
        orientation=orientation,
        label_points=tuple(points),
        label_anchor=anchor,
        label_room=room,
        title_point=(int(x0 + w / 2) if shift == 0 else width // 2, y0 - 1 - int(round(10 * scale))),
        tick_font_size=tick_fs,
        title_font_size=title_fs,
        units_tile=units_tile,
        base=base,
    )


def _fit_label(text: str, value: float, font: ImageFont.FreeTypeFont, room: int) -> str:
    """Keep jwql's fixed-decimal label when it fits; otherwise fall back to 4 significant digits."""
    if font.getlength(text) <= room:
        return text
    return f"{value:.4g}"


def compose_preview(layout: PreviewLayout, rgb: np.ndarray, title: str,
                    labels: list[str], values: list[float]) -> Image.Image:
    """The preview: the cached frame with ``rgb`` (h, w, 3) in the image box, title and bar numbers."""
    x0, y0, w, h = layout.image_box
    if rgb.shape[:2] != (h, w):
        raise ValueError(f"image is {rgb.shape[:2]}, the layout expects {(h, w)}")
    arr = layout.base.copy()
    arr[y0 : y0 + h, x0 : x0 + w] = rgb
    canvas = Image.fromarray(arr)
    draw = ImageDraw.Draw(canvas)
    tick_font = _font(layout.tick_font_size)
    widest = 0.0
    for (px, py), text, value in zip(layout.label_points, labels, values):
        text = _fit_label(text, value, tick_font, layout.label_room)
        widest = max(widest, tick_font.getlength(text))
        draw.text((px, py), text, font=tick_font, fill=_BLACK, anchor=layout.label_anchor)
    if layout.units_tile is not None:
        tile = layout.units_tile
        ux = layout.label_points[0][0] + int(widest) + 8
        uy = y0 + h // 2 - tile.height // 2
        canvas.paste(Image.new("RGB", tile.size, _BLACK), (ux, uy), tile)
    size = layout.title_font_size
    title_font = _font(size)
    while size > 7 and title_font.getlength(title) > layout.canvas_size[0] - 4:
        size -= 1
        title_font = _font(size)
    tx = min(max(layout.title_point[0], int(title_font.getlength(title) / 2) + 2),
             layout.canvas_size[0] - int(title_font.getlength(title) / 2) - 2)
    draw.text((tx, layout.title_point[1]), title, font=title_font, fill=_BLACK, anchor="ms")
    return canvas


def draw_region_labels(canvas: Image.Image, layout: PreviewLayout, shape: tuple[int, int],
                       regions: dict[str, tuple[int, int, int, int]]) -> None:
    """Write each region's name (a mosaic's detectors: name -> x0, y0, width, height in frame pixels,
    row 0 at the bottom) inside its upper-left corner, white on a black outline so it reads on any colour."""
    x0, y0, w, h = layout.image_box
    ny, nx = shape
    font = _font(max(9, layout.tick_font_size))
    draw = ImageDraw.Draw(canvas)
    for name, (rx, ry, _rw, rh) in regions.items():
        px = x0 + int(rx * w / nx) + 3
        py = y0 + h - int((ry + rh) * h / ny) + 2
        draw.text((px, py), name, font=font, fill=(255, 255, 255), anchor="la", stroke_width=2, stroke_fill=_BLACK)
