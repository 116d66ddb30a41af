"""Preview scaling and rendering: jwql's limits, integration choice, and what the JPEGs show."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from jwql_dagster.previews.render import (
    colorbar_labels,
    find_limits,
    render_array,
    render_file,
    select_integrations,
    stretch,
    wants_thumbnail,
)
from tests.plugins import fits as ff


def sort_limits(frame: np.ndarray, mask: np.ndarray | None, clip: float = 0.01) -> tuple[float, float]:
    """jwql's PreviewImage.find_limits, written out: full sort of finite science pixels."""
    finite = np.isfinite(frame)
    pixmap = finite if mask is None else finite & mask
    if not finite.any() or not pixmap.any():
        return 0.0, 1.0
    s = np.sort(frame[pixmap].astype(float))
    numclip = np.int32(clip * len(s))
    return float(s[numclip]), float(s[-numclip - 1])


# ----------------------------------------------------------------------------- limits
@pytest.mark.parametrize("shape", [(50, 70), (600, 700)])  # below and above the sampled-bracket threshold
@pytest.mark.parametrize("case", ["random", "nan", "mask", "ties", "heavy-tail", "misleading-sample"])
def test_limits_equal_the_sort_based_computation(shape: tuple[int, int], case: str) -> None:
    rng = np.random.default_rng(zlib.crc32(case.encode()))
    frame = rng.normal(5.0, 2.0, shape).astype(np.float32)
    mask = None
    if case == "nan":
        frame[rng.random(shape) < 0.2] = np.nan
        frame[0, :5] = np.inf
        frame[1, :5] = -np.inf
    elif case == "mask":
        mask = rng.random(shape) > 0.3
        frame[~mask] = 1e6  # excluded pixels would dominate the top percent if they were counted
        frame[3, 3] = np.nan
    elif case == "ties":
        frame = np.round(frame).astype(np.float32)
    elif case == "heavy-tail":
        frame = (rng.pareto(1.2, shape) * 100).astype(np.float32)
    elif case == "misleading-sample":
        # The strided sample sees only these low values, so its bracket misses the true rank
        # and the exact fallback must take over.
        flat = frame.ravel()
        picked = flat[:: max(1, flat.size // 65536)]
        flat[:: max(1, flat.size // 65536)] = -1000.0 + np.arange(picked.size, dtype=np.float32) * 1e-3
    for clip in (0.01, 0.05):
        assert find_limits(frame, mask, clip) == sort_limits(frame, mask, clip)


def test_limits_without_usable_pixels_are_0_and_1() -> None:
    nan = np.full((20, 20), np.nan, np.float32)
    assert find_limits(nan, None) == (0.0, 1.0)
    assert find_limits(np.ones((20, 20), np.float32), np.zeros((20, 20), bool)) == (0.0, 1.0)
    with pytest.raises(ValueError):
        find_limits(np.ones((4, 4)), np.ones((4, 5), bool))


@pytest.mark.parametrize(
    ("nints", "expected"),
    [
        (1, [0]),
        (5, [0, 1, 2, 3, 4]),
        (10, list(range(10))),
        (11, [0, 10]),
        (50, [0, 10, 20, 30, 40]),
        (100, list(range(0, 100, 10))),
        (101, [0, 100]),
        (500, [0, 100, 200, 300, 400]),
    ],
)
def test_integration_selection(nints: int, expected: list[int]) -> None:
    assert select_integrations(nints) == expected


def test_stretch_log_linear_and_constant() -> None:
    img = np.array([[-5.0, 0.0, 9.0, 99.0, 1e9, np.float32(np.nan)]], np.float32)
    log = stretch(img[:, :5], 0.0, 99.0, "log")
    assert log.tolist() == [[0, 0, round(255 * np.log(10) / np.log(100)), 255, 255]]
    lin = stretch(img[:, :5], 0.0, 99.0, "linear")
    assert lin.tolist() == [[0, 0, round(255 * 9 / 99), 255, 255]]
    assert not stretch(np.full((3, 3), 4.0, np.float32), 4.0, 4.0).any()
    with pytest.raises(ValueError):
        stretch(img, 0, 1, "sqrt")


def test_colorbar_labels_follow_jwql_decimals() -> None:
    labels, values = colorbar_labels(10.0, 1010.0)
    assert labels[0] == "10" and labels[-1] == "1010" and len(labels) == 5
    assert values[2] == pytest.approx(np.sqrt(1001) + 9)  # log-spaced on data - min + 1
    assert colorbar_labels(0.5, 1.2)[0][0] == "0.500"
    assert colorbar_labels(0.0, 5.0)[0][-1] == "5.00"
    assert colorbar_labels(0.0, 50.0, "linear")[0] == ["0.0", "12.5", "25.0", "37.5", "50.0"]


def test_thumbnail_file_types() -> None:
    assert wants_thumbnail("jw01068001001_02102_00001_nrcb1_rate.fits")
    assert wants_thumbnail("/a/b/jw01068001001_02102_00001_nrcb1_uncal.fits")
    assert wants_thumbnail("jw01068001001_02102_00001_nrcb1_dark.fits")
    assert not wants_thumbnail("jw01068001001_02102_00001_nrcb1_rateints.fits")
    assert not wants_thumbnail("jw01068001001_02102_00001_nrcb1_cal.fits")


# ----------------------------------------------------------------------------- images
def _luma(img: Image.Image, x: float, y: float, r: int = 1) -> float:
    a = np.asarray(img.convert("L"), dtype=float)
    xi, yi = int(x), int(y)
    return float(a[max(0, yi - r) : yi + r + 1, max(0, xi - r) : xi + r + 1].mean())


def _preview_xy(box: tuple[int, int, int, int], shape: tuple[int, int], row: float, col: float) -> tuple[float, float]:
    """JPEG pixel of array (row, col): origin lower, so row 0 is the bottom of the image box."""
    x0, y0, w, h = box
    ny, nx = shape
    return x0 + (col + 0.5) * w / nx, y0 + h - (row + 0.5) * h / ny


@pytest.mark.parametrize(("shape", "star"), [((300, 500), (240, 60)), ((400, 160), (50, 130))])
def test_star_is_bright_at_its_position_in_preview_and_thumbnail(tmp_path: Path, shape, star) -> None:
    ny, nx = shape
    sci = ff.sky_with_star(ny, nx, star, peak=200.0, sigma=4.0)
    path = ff.write(tmp_path / "jw01068001001_02102_00001_nrcb1_rate.fits", sci, ff.border_dq(ny, nx))
    res = render_file(path, tmp_path / "p", tmp_path / "t")
    preview = Image.open(res.previews[0])
    assert preview.size == res.preview_size
    thumb = Image.open(res.thumbnails[0])
    assert thumb.size == res.thumbnail_size
    row, col = star
    flipped_rows, flipped_cols = ny - 1 - row, nx - 1 - col
    # Preview: bright at the star, sky at the up-down, left-right and transposed mirror positions.
    sx, sy = _preview_xy(res.preview_box, shape, row, col)
    star_luma = _luma(preview, sx, sy)
    for r, c in [(flipped_rows, col), (row, flipped_cols), (flipped_rows, flipped_cols)]:
        assert star_luma > _luma(preview, *_preview_xy(res.preview_box, shape, r, c)) + 60
    # Thumbnail: the image fills it, same orientation.
    tw, th = res.thumbnail_size
    tbox = (0, 0, tw, th)
    t_star = _luma(thumb, *_preview_xy(tbox, shape, row, col))
    for r, c in [(flipped_rows, col), (row, flipped_cols)]:
        assert t_star > _luma(thumb, *_preview_xy(tbox, shape, r, c)) + 60


def test_jpeg_sizes_names_modes_and_labels(tmp_path: Path) -> None:
    sci = np.stack([ff.sky_with_star(512, 512, (100, 100), seed=s) for s in range(3)])
    path = ff.write(tmp_path / "jw01068001001_02102_00001_nrcb1_rateints.fits", sci, ff.border_dq(512, 512))
    res = render_file(path, tmp_path / "p", tmp_path / "t")
    assert [p.name for p in res.previews] == [f"jw01068001001_02102_00001_nrcb1_rateints_integ{i}.jpg" for i in range(3)]
    assert [p.name for p in res.thumbnails] == ["jw01068001001_02102_00001_nrcb1_rateints_integ0.thumb"]
    for p in res.previews + res.thumbnails:
        img = Image.open(p)
        assert img.format == "JPEG"
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o644
    w, h = Image.open(res.previews[0]).size
    assert max(w, h) <= 800 and min(w, h) >= 500  # 8 in at 100 dpi, with the labelled frame
    x0, y0, bw, bh = res.preview_box
    assert bw == bh and bw >= 550  # square data, square image area
    assert max(Image.open(res.thumbnails[0]).size) == 300
    # The frame is drawn: dark text/ticks in the margins left of and below the image, a colorbar to its right.
    a = np.asarray(Image.open(res.previews[0]).convert("L"))
    assert (a[y0 : y0 + bh, : x0 - 5] < 100).sum() > 200  # y tick labels and 'Pixels'
    assert (a[y0 + bh + 5 :, x0 : x0 + bw] < 100).sum() > 200  # x tick labels and 'Pixels'
    assert (a[:y0 - 2, :] < 100).sum() > 200  # title
    bar = np.asarray(Image.open(res.previews[0]).convert("RGB"))[y0 + 5 : y0 + bh - 5, x0 + bw + 20]
    assert bar[0, 0] > 200 and bar[-1, 0] < 100  # viridis: yellow at the top, purple at the bottom


def test_4d_preview_uses_last_minus_first(tmp_path: Path) -> None:
    rate = np.full((64, 64), 5.0, np.float32)
    rate[10:20, 40:50] = 200.0
    data = ff.ramp(2, 4, 64, 64, rate=rate)
    path = ff.write(tmp_path / "jw01068001001_02102_00001_nrcb1_uncal.fits", data, None, units="DN", substrt=(900, 900))
    res = render_file(path, tmp_path / "p", tmp_path / "t")
    diffs = data[:, -1].astype(np.float32) - data[:, 0].astype(np.float32)
    assert res.limits == [sort_limits(d, None) for d in diffs]
    assert res.mask_source == "reference-pixels"
    assert len(res.previews) == 2 and len(res.thumbnails) == 1


def test_constant_frame_renders_and_all_nan_frame_is_refused(tmp_path: Path) -> None:
    # Issue 19: an all-NaN frame is a failure with a clear reason, never a flat image with a 0-1 colour bar.
    from jwql_dagster.failures.reasons import no_finite_pixel
    from jwql_dagster.previews.render import NoFinitePixelError

    nan = ff.write(tmp_path / "a" / "jw01068001001_02102_00001_nrcb1_rate.fits", np.full((64, 64), np.nan, np.float32))
    const = ff.write(tmp_path / "b" / "jw01068001001_02102_00001_nrcb2_rate.fits", np.full((64, 64), 3.0, np.float32))
    with pytest.raises(NoFinitePixelError) as info:
        render_file(nan, tmp_path / "p", tmp_path / "t")
    assert info.value.reason == no_finite_pixel() == "no finite science pixel in the SCI frame"
    assert not (tmp_path / "p").exists() or not list((tmp_path / "p").iterdir())
    assert not (tmp_path / "t").exists() or not list((tmp_path / "t").iterdir())
    r2 = render_file(const, tmp_path / "p", tmp_path / "t")
    assert r2.limits == [(3.0, 3.0)]
    for res in (r2,):
        img = np.asarray(Image.open(res.previews[0]).convert("RGB"))
        x0, y0, w, h = res.preview_box
        inner = img[y0 + 3 : y0 + h - 3, x0 + 3 : x0 + w - 3].reshape(-1, 3).astype(int)
        assert np.ptp(inner, axis=0).max() < 30  # one flat colour
        assert Image.open(res.thumbnails[0]).format == "JPEG"


def test_render_array_with_a_frame_callback_and_mask(tmp_path: Path) -> None:
    calls: list[int] = []
    mask = np.ones((40, 90), bool)
    mask[:, :10] = False

    def frame(i: int) -> np.ndarray:
        calls.append(i)
        f = np.full((40, 90), float(i), np.float32)
        f[:, :10] = 1e9  # masked out: must not set the upper limit
        f[:, 50] = i + 1.0
        return f

    res = render_array(frame, mask, "jw01068001001_02102_00001_NRC_SWALL_MOSAIC_rate", tmp_path / "p",
                       tmp_path / "t", units="DN/s", title_name="mosaic.fits", nints=25)
    assert calls == [0, 10, 20]
    assert [p.name for p in res.previews] == [f"jw01068001001_02102_00001_NRC_SWALL_MOSAIC_rate_integ{i}.jpg"
                                              for i in (0, 10, 20)]
    assert res.limits == [(0.0, 1.0), (10.0, 11.0), (20.0, 21.0)]
    # A plain 2D array works too, and the caller's array is left as it was.
    arr = np.full((30, 30), np.nan, np.float32)
    arr[5, 5] = 2.0
    render_array(arr, None, "plain", tmp_path / "p")
    assert np.isnan(arr[0, 0]) and (tmp_path / "p" / "plain_integ0.jpg").exists()
    with pytest.raises(ValueError):
        render_array(arr, None, "../escape", tmp_path / "p")
    with pytest.raises(ValueError):
        render_array(frame, None, "x", tmp_path / "p")  # callable without nints


def test_render_array_writes_integration_0_last(tmp_path: Path) -> None:
    """integ0 is the marker of a complete set: it appears only once every other integration is written."""
    from jwql_dagster.previews.render import render_array

    order: list[str] = []

    def frame(i: int) -> np.ndarray:
        order.append(sorted(p.name for p in (tmp_path / "p").glob("*.jpg")) if (tmp_path / "p").exists() else [])
        return np.full((20, 20), float(i), np.float32)

    res = render_array(frame, None, "x", tmp_path / "p", tmp_path / "t", nints=25)
    assert [p.name for p in res.previews] == ["x_integ0.jpg", "x_integ10.jpg", "x_integ20.jpg"]
    assert res.integrations == [0, 10, 20] and res.limits == [(0.0, 0.0), (10.0, 10.0), (20.0, 20.0)]
    assert [p.name for p in res.thumbnails] == ["x_integ0.thumb"]
    assert all("x_integ0.jpg" not in seen for seen in order)
    assert all(p.is_file() for p in res.previews + res.thumbnails)


# ---------------------------------------------------------------- memory of a 4D ramp (peak RSS of a subprocess)

ROOT = Path(__file__).resolve().parents[2]
NINTS, NGROUPS, NY, NX = 4, 10, 1024, 1024
FRAME_BYTES = NY * NX * 4  # one float32 frame

# Peak RSS of this process's own address space: VmHWM. ru_maxrss would do on a fresh
# process, but Linux carries the parent's RSS into a child's ru_maxrss at fork/exec, so
# a child of a big pytest process could never show growth; VmHWM restarts at exec.
_CHILD = r"""
import json, resource, sys, tempfile
from jwql_dagster.demo.memory import peak_rss_kb as peak_kb
from jwql_dagster.previews.render import render_file
out = tempfile.mkdtemp()
render_file(sys.argv[1], out, out)  # warm-up on a tiny file: imports, fonts, colormap
base = peak_kb()
res = render_file(sys.argv[2], out, out)
peak = peak_kb()
print(json.dumps({"base_kb": base, "peak_kb": peak, "previews": len(res.previews)}))
"""


def _write_ramp(path: Path) -> None:
    """A uint16 4D uncal written one group at a time (BZERO-scaled, as JWST writes it)."""
    fits.HDUList([ff.primary(subsize=(NX, NY))]).writeto(path)
    header = fits.Header()
    for key, value in [("XTENSION", "IMAGE"), ("BITPIX", 16), ("NAXIS", 4), ("NAXIS1", NX), ("NAXIS2", NY),
                       ("NAXIS3", NGROUPS), ("NAXIS4", NINTS), ("PCOUNT", 0), ("GCOUNT", 1), ("BZERO", 32768),
                       ("BSCALE", 1), ("EXTNAME", "SCI"), ("BUNIT", "DN")]:
        header[key] = value
    noise = np.random.default_rng(0).integers(0, 40, (NY, NX), dtype=np.int32)
    with open(path, "ab") as fh:
        fh.write(header.tostring().encode("ascii"))
        for i in range(NINTS):
            for g in range(NGROUPS):
                group = np.roll(noise, 7 * (i * NGROUPS + g), axis=1) + 30 * g - 20000
                fh.write(group.astype(">i2").tobytes())
        fh.write(b"\0" * ((-fh.tell()) % 2880))


def test_4d_peak_memory_is_a_few_frames_not_the_file(tmp_path: Path) -> None:
    big = tmp_path / "jw01068001001_02102_00001_nrcb1_uncal.fits"
    _write_ramp(big)
    tiny = ff.write(tmp_path / "jw01068001001_02102_00001_nrcb2_rate.fits", np.ones((16, 16), np.float32))
    size = big.stat().st_size
    assert size > 20 * FRAME_BYTES  # reading it whole (or as float) would blow the bound below
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(tiny), str(big)], capture_output=True, text=True,
                          cwd=ROOT, env=dict(os.environ, MPLBACKEND="Agg"), timeout=300, check=True)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["previews"] == NINTS
    grown = (result["peak_kb"] - result["base_kb"]) * 1024
    assert grown < 8 * FRAME_BYTES, f"rendering grew RSS by {grown / FRAME_BYTES:.1f} frames"
