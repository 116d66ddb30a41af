"""The interactive view of a file's science frame: a bokeh image small enough for a browser.

jwql's "explore image" page sent the whole array, so a full frame was slow to open. Here
the frame is taken every ``step``-th pixel so its long side is at most ``MAX_PIXELS``: each
value shown is a real pixel's value (no averaging that would hide a hot pixel's level),
and hover reports it with its position in the full frame. The colour range starts at the
preview's display limits and a slider moves it, colour bar and image together.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from jwql_dagster.failures.reasons import no_finite_pixel

MAX_PIXELS = 1024


class ScienceViewError(Exception):
    """The frame cannot be shown; ``reason`` says why in a user's words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class ScienceFrame:
    """A frame ready for the browser: ``data`` is ``frame[::step, ::step]``."""

    data: np.ndarray
    step: int
    shape: tuple[int, int]  # of the full frame
    integration: int
    nints: int
    units: str
    limits: tuple[float, float]
    value_range: tuple[float, float]


def downsample(frame: np.ndarray, max_pixels: int = MAX_PIXELS) -> tuple[np.ndarray, int]:
    """Every ``step``-th pixel of ``frame`` so that neither side exceeds ``max_pixels``."""
    ny, nx = frame.shape
    step = max(1, math.ceil(max(ny, nx) / max_pixels))
    return (np.ascontiguousarray(frame[::step, ::step]) if step > 1 else frame), step


def read_frame(path: str | os.PathLike[str], integration: int = 0, max_pixels: int = MAX_PIXELS) -> ScienceFrame:
    """Integration ``integration`` of a FITS file, downsampled, with its display limits.

    Raises :class:`ScienceViewError` for a file the previews could not read either, an
    integration out of range, or a frame without a finite science pixel.
    """
    from jwql_dagster.previews.fits_io import FitsReadError, open_science
    from jwql_dagster.previews.render import find_limits

    try:
        with open_science(path) as sf:
            if not 0 <= integration < sf.nints:
                raise ScienceViewError(f"integration {integration} does not exist (the file has {sf.nints})")
            frame = sf.frame(integration)
            mask = sf.science_mask()
            units, nints = sf.units, sf.nints
    except FitsReadError as exc:
        raise ScienceViewError(exc.reason) from None
    except (OSError, ValueError, MemoryError) as exc:
        raise ScienceViewError(f"cannot read the frame ({type(exc).__name__}: {exc})") from None
    finite = np.isfinite(frame)
    use = finite & mask if mask is not None and mask.shape == frame.shape else finite
    if not use.any():
        raise ScienceViewError(no_finite_pixel(integration if nints > 1 else None))
    limits = find_limits(frame, mask if mask is not None and mask.shape == frame.shape else None)
    values = frame[use]
    value_range = (float(values.min()), float(values.max()))
    small, step = downsample(frame, max_pixels)
    return ScienceFrame(small.astype(np.float32, copy=False), step, (int(frame.shape[0]), int(frame.shape[1])),
                        integration, nints, units, (float(limits[0]), float(limits[1])), value_range)


def bokeh_components(view: ScienceFrame, title: str) -> tuple[str, str]:
    """(script, div) of the bokeh figure: image with hover (x, y, value), colour bar and range slider."""
    from bokeh.embed import components
    from bokeh.layouts import column
    from bokeh.models import ColorBar, CustomJS, CustomJSHover, HoverTool, LinearColorMapper, RangeSlider
    from bokeh.palettes import Viridis256
    from bokeh.plotting import figure
    from bokeh.settings import settings

    ny, nx = view.shape
    lo, hi = view.limits
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    vmin, vmax = view.value_range
    if not vmax > vmin:
        vmin, vmax = vmin - 0.5, vmax + 0.5
    mapper = LinearColorMapper(palette=Viridis256, low=lo, high=hi, nan_color=(0, 0, 0, 0))
    width = 720
    height = max(200, min(900, int(width * ny / max(nx, 1))))
    # Pixel centres on integers, as in the preview's axes: pixel i spans [i - 0.5, i + 0.5).
    fig = figure(title=title, width=width, height=height, x_range=(-0.5, nx - 0.5), y_range=(-0.5, ny - 0.5),
                 x_axis_label="x (pixels)", y_axis_label="y (pixels)", tools="pan,wheel_zoom,box_zoom,reset,save",
                 match_aspect=True, name="science")
    image = fig.image(image=[view.data], x=-0.5, y=-0.5, dw=nx, dh=ny, color_mapper=mapper)
    # The position shown is the full-frame pixel whose value is shown (the first of its step x step block).
    pixel = CustomJSHover(args={"step": view.step},
                          code="return String(Math.floor((value + 0.5) / step) * step);")
    fig.add_tools(HoverTool(renderers=[image], tooltips=[("x", "$x{custom}"), ("y", "$y{custom}"),
                                                         ("value", "@image{0.0000}")],
                            formatters={"$x": pixel, "$y": pixel}))
    fig.add_layout(ColorBar(color_mapper=mapper, title=view.units or None), "right")
    step = (vmax - vmin) / 500 or 1e-6
    slider = RangeSlider(title="colour range", start=vmin, end=vmax, value=(max(lo, vmin), min(hi, vmax)),
                         step=step, width=width, name="colour_range")
    slider.js_on_change("value", CustomJS(args={"m": mapper}, code="m.low = cb_obj.value[0]; m.high = cb_obj.value[1];"))
    # Pixel values hardly compress (gzip saves ~15% of a 1024^2 float32 frame) but gzip costs 0.6-0.8 s
    # per page here; stored, the array costs 33 ms. Only this call is affected.
    settings.compression_level.set_value(0)
    try:
        return components(column(fig, slider))
    finally:
        settings.compression_level.unset_value()


def bokeh_script_tags(prefix: str) -> str:
    """<script> tags loading BokehJS from this server (``prefix`` is where bokeh's static folder is mounted)."""
    from bokeh.resources import Resources

    return Resources(mode="server", root_url=prefix, components=["bokeh", "bokeh-widgets"]).render_js()


def bokeh_static_dir() -> str:
    from bokeh.util.paths import static_path

    return str(static_path())


def describe(view: ScienceFrame) -> dict[str, Any]:
    """Facts printed under the figure."""
    ny, nx = view.shape
    return {"shape": f"{nx} x {ny}", "step": view.step, "shown": f"{view.data.shape[1]} x {view.data.shape[0]}",
            "limits": view.limits, "units": view.units}
