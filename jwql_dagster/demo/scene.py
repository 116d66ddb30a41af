"""Synthetic archive, content: sky, stars at recorded positions, hot pixels, NaNs and noise.

Every random draw comes from a generator seeded by (seed, a key naming the file or
exposure), so a file's pixels do not depend on which other files are written.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from jwql_dagster.demo.geometry import DO_NOT_USE, HOT, REFERENCE_PIXEL, Subarray, reference_pixel_mask

def file_rng(seed: int, key: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(key.encode("utf-8"))])


def place_sources(seed: int, key: str, sub: Subarray, count: int, flux: tuple[float, float],
                   margin: int = 10) -> list[dict[str, float]]:
    """Star positions (0-based detector pixel coordinates) inside the readout window."""
    rng = file_rng(seed, "stars:" + key)
    x0, y0 = sub.xstart - 1, sub.ystart - 1
    margin = min(margin, max(1, min(sub.xsize, sub.ysize) // 4))
    stars = []
    for _ in range(count):
        x = x0 + rng.uniform(margin, sub.xsize - margin)
        y = y0 + rng.uniform(margin, sub.ysize - margin)
        stars.append({"det_x": round(float(x), 3), "det_y": round(float(y), 3),
                      "peak": round(float(rng.uniform(*flux)), 2)})
    return stars


def add_stars(image: np.ndarray, stars: Iterable[dict[str, float]], x_key: str, y_key: str, sigma: float) -> None:
    """Add Gaussian PSFs (peak value ``peak``) in place, drawn within a small stamp each."""
    ny, nx = image.shape
    half = int(np.ceil(4 * sigma))
    for star in stars:
        xc, yc = star[x_key], star[y_key]
        xi, yi = int(round(xc)), int(round(yc))
        xa, xb = max(0, xi - half), min(nx, xi + half + 1)
        ya, yb = max(0, yi - half), min(ny, yi + half + 1)
        if xa >= xb or ya >= yb:
            continue
        yy, xx = np.mgrid[ya:yb, xa:xb]
        image[ya:yb, xa:xb] += (star["peak"] * np.exp(-((xx - xc) ** 2 + (yy - yc) ** 2) / (2 * sigma**2))).astype(
            image.dtype
        )


@dataclass
class Scene:
    """The noiseless count rate of one detector exposure (DN/s) plus what was put in it."""

    sub: Subarray
    rate: np.ndarray  # float32 (ny, nx), zero on reference pixels
    reference: np.ndarray  # bool, True on reference pixels
    stars: list[dict[str, float]]  # det_x/det_y/peak, plus x/y in array coordinates
    hot: list[tuple[int, int]]  # (y, x) array coordinates
    nans: list[tuple[int, int]]  # (y, x) array coordinates


def make_scene(instrument: str, detector: str, sub: Subarray, seed: int, exposure_key: str) -> Scene:
    """Sky + stars + hot pixels, identical for every product of one detector exposure."""
    rng = file_rng(seed, "scene:" + exposure_key)
    ny, nx = sub.shape
    area = nx * ny
    full = area >= 1_000_000
    n_stars = 40 if full else max(4, min(10, area // 2000))
    stars = place_sources(seed, exposure_key, sub, n_stars, (60.0, 400.0))
    for star in stars:
        star["x"] = round(star["det_x"] - (sub.xstart - 1), 3)
        star["y"] = round(star["det_y"] - (sub.ystart - 1), 3)
    sky = {"miri": 8.0, "nircam": 0.6, "niriss": 0.5, "nirspec": 0.3, "fgs": 1.0}[instrument]
    yy = np.linspace(0.0, 1.0, ny, dtype=np.float32)[:, None]
    xx = np.linspace(0.0, 1.0, nx, dtype=np.float32)[None, :]
    rate = np.full((ny, nx), sky, dtype=np.float32) + np.float32(0.1 * sky) * (xx + yy)
    sigma = 2.0 if detector.endswith("long") or instrument == "miri" else 1.3
    add_stars(rate, stars, "x", "y", sigma)
    reference = reference_pixel_mask(instrument, sub)
    n_hot = 30 if full else 3
    n_nan = 100 if full else 4
    centres = [(s["y"], s["x"]) for s in stars]
    chosen: list[tuple[int, int]] = []
    attempts = 0
    while len(chosen) < n_hot + n_nan and attempts < 100 * (n_hot + n_nan):
        attempts += 1
        y, x = int(rng.integers(0, ny)), int(rng.integers(0, nx))
        if reference[y, x] or (y, x) in chosen or any(abs(y - cy) < 4 and abs(x - cx) < 4 for cy, cx in centres):
            continue  # keep star cores clean so a star is always visible where the truth says
        chosen.append((y, x))
    hot, nans = chosen[:n_hot], chosen[n_hot:]
    for y, x in hot:
        rate[y, x] += np.float32(rng.uniform(100.0, 300.0))
    rate[reference] = 0.0
    return Scene(sub, rate, reference, stars, hot, nans)


def dq_image(scene: Scene) -> np.ndarray:
    dq = np.zeros(scene.sub.shape, dtype=np.uint32)
    dq[scene.reference] = DO_NOT_USE | REFERENCE_PIXEL
    for y, x in scene.hot:
        dq[y, x] |= HOT
    for y, x in scene.nans:
        dq[y, x] |= DO_NOT_USE
    return dq


def noisy_rate(scene: Scene, rng: np.random.Generator, noise: float = 0.08) -> np.ndarray:
    img = scene.rate + rng.standard_normal(scene.sub.shape, dtype=np.float32) * np.float32(noise)
    img[scene.reference] = 0.0
    for y, x in scene.nans:
        img[y, x] = np.nan
    return img


def error_image(img: np.ndarray, noise: float = 0.08) -> np.ndarray:
    err = np.sqrt(np.abs(np.nan_to_num(img)) * np.float32(0.01) + np.float32(noise**2)).astype(np.float32)
    err[np.isnan(img)] = np.nan
    return err
