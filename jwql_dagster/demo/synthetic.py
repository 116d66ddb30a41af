"""A realistic synthetic JWST archive: jwql's layout, pipeline-style FITS files, recorded truth.

Why it exists: the monitors must be developed, tested, demonstrated and benchmarked
without access to the real archive. The generator writes what jwql meets in production:

* layout ``{public,proprietary}/jwPPPPP/jwPPPPPOOOVVV/<file>.fits`` with stage-3 products
  in ``jwPPPPP/jwPPPPP-oNNN/`` and MSA files in their visit folder;
* all five instruments and their detectors (NIRCam SW and LW detectors share exposures,
  so mosaics are possible), uncal/rate/rateints/cal/i2d products, guider products;
* FITS written as the JWST pipeline writes them: uint16 ramps and uint32 DQ stored as
  signed integers with ``BZERO`` (astropy refuses ``memmap`` on them, like on real files),
  DO_NOT_USE | REFERENCE_PIXEL on the 4-pixel reference border (MIRI: 4 columns each
  side), cropped to the subarray; subarray keywords consistent with the full detector;
* content a preview can be judged by: sky, noise, stars at recorded positions, cosmic
  rays in the ramps, hot pixels and NaNs, all listed in ``synthetic_truth.json``.

Everything is deterministic for a seed: each file's pixels come from a random generator
seeded by (seed, file name), so a file's bytes do not depend on which other files are
written, and :func:`write_exposure` can make any single file (e.g. one full-frame uncal
with 10 integrations for a benchmark) exactly as the archive would contain it.

Files are streamed to disk one group (or integration) at a time, so even a
10x10x2048x2048 ramp needs only a few frames of memory.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import os
import random
import shutil
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Iterator, Sequence

import numpy as np
from astropy.io import fits

from jwql_dagster.atomic import atomic_path, atomic_write_bytes, atomic_write_text
from jwql_dagster.archive.filenames import parse_filename

__all__ = [
    "ArchiveExistsError",
    "DETECTORS",
    "DO_NOT_USE",
    "HOT",
    "REFERENCE_PIXEL",
    "SIZES",
    "Subarray",
    "TRUTH_FILENAME",
    "full_frame",
    "make_archive",
    "program_plan",
    "reference_pixel_mask",
    "write_exposure",
]

TRUTH_FILENAME = "synthetic_truth.json"
TRUTH_VERSION = 1
SIZES = ("small", "full")

# JWST data-quality bits (jwst.datamodels.dqflags)
DO_NOT_USE = 1
HOT = 2**11
REFERENCE_PIXEL = 2**31

INSTRUMENTS = ("nircam", "niriss", "nirspec", "miri", "fgs")  # rotation order of the plan
DETECTORS: dict[str, tuple[str, ...]] = {
    "nircam": ("nrca1", "nrca2", "nrca3", "nrca4", "nrcb1", "nrcb2", "nrcb3", "nrcb4", "nrcalong", "nrcblong"),
    "niriss": ("nis",),
    "nirspec": ("nrs1", "nrs2"),
    "miri": ("mirimage",),
    "fgs": ("guider1", "guider2"),
}
_INSTRUME = {"nircam": "NIRCAM", "niriss": "NIRISS", "nirspec": "NIRSPEC", "miri": "MIRI", "fgs": "FGS"}
_READPATT = {"nircam": "RAPID", "niriss": "NISRAPID", "nirspec": "NRSRAPID", "miri": "FASTR1", "fgs": "FGSRAPID"}
_TGROUP = {"nircam": 10.73677, "niriss": 10.7368, "nirspec": 10.7368, "miri": 2.77504, "fgs": 10.7368}
_BUNIT = {"uncal": "DN", "rate": "DN/s", "rateints": "DN/s", "cal": "MJy/sr", "calints": "MJy/sr", "i2d": "MJy/sr"}
_DATAMODL = {"uncal": "Level1bModel", "rate": "ImageModel", "rateints": "CubeModel", "cal": "ImageModel",
             "calints": "CubeModel", "i2d": "ImageModel"}
_PHOTMJSR = 0.35  # DN/s -> MJy/sr conversion used for cal and i2d products


# ------------------------------------------------------------------ geometry
@dataclass(frozen=True)
class Subarray:
    """A readout window: SUBSTRT1/2 are 1-based full-frame column/row of the first pixel."""

    name: str
    xstart: int
    ystart: int
    xsize: int
    ysize: int

    @property
    def shape(self) -> tuple[int, int]:
        return (self.ysize, self.xsize)


def _detector_shape(instrument: str) -> tuple[int, int]:
    """Full-frame (rows, columns): MIRI imager is 1032 columns x 1024 rows, the rest 2048^2."""
    return (1024, 1032) if instrument == "miri" else (2048, 2048)


def full_frame(instrument: str) -> Subarray:
    ny, nx = _detector_shape(instrument)
    return Subarray("FULL", 1, 1, nx, ny)


# Small subarrays (at most 256x256), at positions consistent with the full detector; some
# touch the detector edge (reference pixels cropped in), some sit inside (none).
SMALL_SUBARRAYS: dict[str, tuple[Subarray, ...]] = {
    "nircam": (Subarray("SUB160", 1, 1, 160, 160), Subarray("SUB64P", 1985, 1, 64, 64),
               Subarray("SUB160", 945, 945, 160, 160)),
    "niriss": (Subarray("SUB256", 1793, 1793, 256, 256), Subarray("SUB128", 1921, 1921, 128, 128)),
    "nirspec": (Subarray("SUB256", 1, 897, 256, 256), Subarray("SUB128", 961, 961, 128, 128)),
    "miri": (Subarray("SUB256", 413, 51, 256, 256), Subarray("SUB128", 1, 889, 136, 128)),
    "fgs": (Subarray("SUB128LL", 1, 1, 128, 128), Subarray("SUB128CNTR", 961, 961, 128, 128)),
}


def reference_pixel_mask(instrument: str, sub: Subarray) -> np.ndarray:
    """Bool array of the subarray's shape, True on reference pixels.

    NIR detectors: the outer 4 rows/columns of the 2048x2048 frame; MIRI imager: the first
    and last 4 columns. A subarray shows only the edges it shares with the full frame.
    """
    ny, nx = _detector_shape(instrument)
    rows = np.arange(sub.ystart - 1, sub.ystart - 1 + sub.ysize)
    cols = np.arange(sub.xstart - 1, sub.xstart - 1 + sub.xsize)
    ref_cols = (cols < 4) | (cols >= nx - 4)
    if instrument == "miri":
        return np.broadcast_to(ref_cols[None, :], sub.shape).copy()
    ref_rows = (rows < 4) | (rows >= ny - 4)
    return ref_rows[:, None] | ref_cols[None, :]


def _aperture(instrument: str, detector: str, sub: Subarray) -> str:
    det = detector.upper()
    if instrument == "nircam":
        det = det.replace("LONG", "5")
        return f"{det}_{sub.name}"
    prefix = {"niriss": "NIS", "nirspec": det, "miri": "MIRIM", "fgs": "FGS" + det[-1]}[instrument]
    if sub.name == "FULL":
        return {"niriss": "NIS_CEN"}.get(instrument, f"{prefix}_FULL")
    return f"{prefix}_{sub.name}"


# ------------------------------------------------------------------ plan
_NIRCAM_FILTERS = (  # (SW filter, SW pupil, LW filter, LW pupil)
    ("F150W", "CLEAR", "F444W", "CLEAR"), ("F200W", "CLEAR", "F356W", "CLEAR"),
    ("F090W", "CLEAR", "F277W", "CLEAR"), ("F115W", "CLEAR", "F410M", "CLEAR"),
)
_NIRISS_FILTERS = (("CLEAR", "F150W"), ("CLEAR", "F200W"), ("F277W", "CLEARP"), ("F444W", "CLEARP"))
_NIRSPEC_MODES = (("NRS_FIXEDSLIT", "F290LP", "G395H"), ("NRS_FIXEDSLIT", "CLEAR", "PRISM"),
                  ("NRS_MSASPEC", "F100LP", "G140M"), ("NRS_MSASPEC", "F170LP", "G235M"))
_MIRI_FILTERS = ("F560W", "F770W", "F1130W", "F1500W")
_TARGETS = ("NGC-3132", "SMACS-0723", "CARINA", "STEPHANS-QUINTET", "M16", "WR140", "TRAPPIST-1", "LMC-ASTROM")


def _program_instruments(index: int) -> list[str]:
    """Three instruments per program, rotating so that two programs already cover all five."""
    return [INSTRUMENTS[(2 * index + k) % len(INSTRUMENTS)] for k in range(3)]


def program_plan(programs: int = 4, seed: int = 1, size: str = "small") -> dict[str, Any]:
    """What :func:`make_archive` builds for (programs, seed, size), without writing anything.

    Returns ``{"seed", "size", "programs": [program, ...]}``; each program has ``program``
    (``jw01234``), ``program_id`` (``01234``), ``area`` (public/proprietary), ``target``,
    ``instruments`` (``{instrument: {"observations": [int], "filters": [{"filter", "pupil"
    or "grating"}]}}``, the shape a MAST catalogue needs) and ``observations`` (the detail
    the generator follows: exposures, detectors, subarray, filters, dates, products).
    """
    if programs < 1:
        raise ValueError(f"programs must be at least 1, not {programs}")
    if size not in SIZES:
        raise ValueError(f"size must be one of {', '.join(SIZES)}, not {size!r}")
    rng = random.Random(f"jwql-dagster synthetic plan {seed}")
    numbers = sorted(rng.sample(range(1000, 6000), programs))
    base_date = _dt.date(2022, 7, 12)
    plan_programs = []
    for index, number in enumerate(numbers):
        area = "public" if index == 0 else "proprietary" if index == 1 else rng.choice(("public", "proprietary"))
        pid = f"{number:05d}"
        start = base_date + _dt.timedelta(days=rng.randrange(0, 900))
        target = rng.choice(_TARGETS)
        observations = []
        summary: dict[str, dict[str, list]] = {}
        for obs_index, instrument in enumerate(_program_instruments(index), start=1):
            obs = _plan_observation(rng, pid, index, obs_index, instrument, size, start + _dt.timedelta(days=obs_index))
            observations.append(obs)
            entry = summary.setdefault(instrument, {"observations": [], "filters": []})
            entry["observations"].append(obs_index)
            for combo in obs["filters"]:
                if combo not in entry["filters"]:
                    entry["filters"].append(combo)
        plan_programs.append({
            "program": f"jw{pid}", "program_id": pid, "area": area, "target": target,
            "instruments": summary, "observations": observations,
        })
    return {"seed": seed, "size": size, "programs": plan_programs}


def _plan_observation(rng: random.Random, pid: str, program_index: int, obs_index: int, instrument: str, size: str,
                      date: _dt.date) -> dict[str, Any]:
    """One observation (one visit) of one instrument: exposures, detectors, products."""
    obs = f"{obs_index:03d}"
    visit = "001"
    choices = SMALL_SUBARRAYS[instrument]  # rotate, so edge and interior windows both occur
    sub = full_frame(instrument) if size == "full" else choices[(program_index // 2) % len(choices)]
    small = size == "small"
    uncal_ints, uncal_groups = (2, 3) if small else (1, 2)
    ints_nints = 2 if small else 5
    exposures: list[dict[str, Any]] = []
    stage3: list[dict[str, Any]] = []
    extras: list[dict[str, Any]] = []
    filters: list[dict[str, Any]] = []

    def exposure(group: str, number: int, exp_type: str, detectors: list[dict[str, Any]], **extra: Any) -> dict:
        item = {"visit_group": group[:2], "parallel_seq_id": group[2], "activity": group[3:], "exposure_id": f"{number:05d}",
                "exp_type": exp_type, "subarray": sub.__dict__, "readpatt": _READPATT[instrument],
                "nints": uncal_ints, "ngroups": uncal_groups, "segment": None, "detectors": detectors}
        item.update(extra)
        exposures.append(item)
        return item

    if instrument == "nircam":
        sw_f, sw_p, lw_f, lw_p = rng.choice(_NIRCAM_FILTERS)
        dets = []
        for det in DETECTORS["nircam"]:
            lw = det.endswith("long")
            if small:
                products = ["uncal", "rate", "cal"] + (["rateints"] if det in ("nrca1", "nrcalong") else [])
            else:  # full frames are big: every detector's rate and uncal (mosaics), cal/rateints on few
                products = ["uncal", "rate"] + (["cal"] if det in ("nrca1", "nrcalong") else []) + (
                    ["rateints"] if det == "nrca1" else [])
            item = {"detector": det, "filter": lw_f if lw else sw_f, "pupil": lw_p if lw else sw_p, "products": products}
            if not small and det == "nrcb1":
                item.update(nints=10, ngroups=10)  # the benchmark ramp: 10 integrations x 10 groups
            dets.append(item)
        exposure("02101", 1, "NRC_IMAGE", dets, rateints_nints=ints_nints)
        filters += [{"filter": sw_f, "pupil": sw_p}, {"filter": lw_f, "pupil": lw_p}]
        for f, p in ((sw_f, sw_p), (lw_f, lw_p)):
            stage3.append({"name": f"jw{pid}-o{obs}_t001_nircam_{'-'.join(sorted((f.lower(), p.lower())))}_i2d.fits",
                           "filter": f, "pupil": p, "detector": "MULTIPLE"})
    elif instrument == "niriss":
        f, p = rng.choice(_NIRISS_FILTERS)
        exposure("02101", 1, "NIS_IMAGE", [{"detector": "nis", "filter": f, "pupil": p,
                                             "products": ["uncal", "rate", "rateints", "cal"]}],
                 rateints_nints=ints_nints)
        for seg in (1, 2):  # a SOSS time series split in segments
            exposure("03101", 1, "NIS_SOSS", [{"detector": "nis", "filter": "CLEAR", "pupil": "GR700XD",
                                                "products": ["rateints"]}],
                     segment=f"{seg:03d}", rateints_nints=2, tsovisit=True)
        filters += [{"filter": f, "pupil": p}, {"filter": "CLEAR", "pupil": "GR700XD"}]
        stage3.append({"name": f"jw{pid}-o{obs}_t001_niriss_{'-'.join(sorted((f.lower(), p.lower())))}_i2d.fits",
                       "filter": f, "pupil": p, "detector": "NIS"})
    elif instrument == "nirspec":
        exp_type, f, g = rng.choice(_NIRSPEC_MODES)
        exposure("03101", 1, exp_type, [{"detector": d, "filter": f, "grating": g, "products": ["uncal", "rate", "cal"]}
                                        for d in DETECTORS["nirspec"]])
        filters.append({"filter": f, "grating": g})
        if exp_type == "NRS_MSASPEC":
            extras.append({"kind": "msa", "name": f"jw{pid}{obs}{visit}_01_msa.fits"})
    elif instrument == "miri":
        f = rng.choice(_MIRI_FILTERS)
        exposure("02101", 1, "MIR_IMAGE", [{"detector": "mirimage", "filter": f,
                                             "products": ["uncal", "rate", "rateints", "cal"]}],
                 rateints_nints=ints_nints)
        filters.append({"filter": f})
        stage3.append({"name": f"jw{pid}-o{obs}_t001_miri_{f.lower()}_i2d.fits", "filter": f, "detector": "MIRIMAGE"})
    elif instrument == "fgs":
        for number, det in enumerate(DETECTORS["fgs"], start=1):
            exposure("02101", number, "FGS_IMAGE", [{"detector": det, "products": ["uncal", "rate", "cal"]}])
        stamp = f"{date:%Y%j}{rng.randrange(0, 240000):06d}"
        extras.append({"kind": "guider", "name": f"jw{pid}{obs}{visit}_gs-id_1_image_cal.fits"})
        extras.append({"kind": "guider", "name": f"jw{pid}{obs}{visit}_gs-acq1_{stamp}_stream.fits"})
    return {
        "observation": obs, "visit": visit, "instrument": instrument, "date": date.isoformat(),
        "subarray": sub.__dict__, "filters": filters, "exposures": exposures, "stage3": stage3, "extras": extras,
    }


# ------------------------------------------------------------------ FITS writing
_STRUCTURAL = ("SIMPLE", "XTENSION", "BITPIX", "NAXIS", "EXTEND", "PCOUNT", "GCOUNT", "BSCALE", "BZERO", "EXTNAME")
_ON_DISK = {  # numpy dtype of the values -> (BITPIX, BZERO, big-endian storage dtype)
    np.dtype(np.uint16): (16, 32768, ">i2"),
    np.dtype(np.uint32): (32, 2147483648, ">i4"),
    np.dtype(np.int32): (32, None, ">i4"),
    np.dtype(np.float32): (-32, None, ">f4"),
}


@dataclass
class _Extension:
    """An image extension whose data arrive as chunks along the first axis."""

    name: str
    dtype: np.dtype
    shape: tuple[int, ...]
    chunks: Callable[[], Iterable[np.ndarray]]
    cards: dict[str, Any]


def _image_header(ext: _Extension) -> fits.Header:
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


def _write_fits(fh: BinaryIO, primary: fits.Header, extensions: Sequence[_Extension]) -> None:
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


# ------------------------------------------------------------------ content
def _file_rng(seed: int, key: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(key.encode("utf-8"))])


def _place_sources(seed: int, key: str, sub: Subarray, count: int, flux: tuple[float, float],
                   margin: int = 10) -> list[dict[str, float]]:
    """Star positions (0-based detector pixel coordinates) inside the readout window."""
    rng = _file_rng(seed, "stars:" + key)
    x0, y0 = sub.xstart - 1, sub.ystart - 1
    margin = min(margin, max(1, min(sub.xsize, sub.ysize) // 4))
    stars = []
    for _ in range(count):
        x = x0 + rng.uniform(margin, sub.xsize - margin)
        y = y0 + rng.uniform(margin, sub.ysize - margin)
        stars.append({"det_x": round(float(x), 3), "det_y": round(float(y), 3),
                      "peak": round(float(rng.uniform(*flux)), 2)})
    return stars


def _add_stars(image: np.ndarray, stars: Iterable[dict[str, float]], x_key: str, y_key: str, sigma: float) -> None:
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
class _Scene:
    """The noiseless count rate of one detector exposure (DN/s) plus what was put in it."""

    sub: Subarray
    rate: np.ndarray  # float32 (ny, nx), zero on reference pixels
    reference: np.ndarray  # bool, True on reference pixels
    stars: list[dict[str, float]]  # det_x/det_y/peak, plus x/y in array coordinates
    hot: list[tuple[int, int]]  # (y, x) array coordinates
    nans: list[tuple[int, int]]  # (y, x) array coordinates


def _scene(instrument: str, detector: str, sub: Subarray, seed: int, exposure_key: str) -> _Scene:
    """Sky + stars + hot pixels, identical for every product of one detector exposure."""
    rng = _file_rng(seed, "scene:" + exposure_key)
    ny, nx = sub.shape
    area = nx * ny
    full = area >= 1_000_000
    n_stars = 40 if full else max(4, min(10, area // 2000))
    stars = _place_sources(seed, exposure_key, sub, n_stars, (60.0, 400.0))
    for star in stars:
        star["x"] = round(star["det_x"] - (sub.xstart - 1), 3)
        star["y"] = round(star["det_y"] - (sub.ystart - 1), 3)
    sky = {"miri": 8.0, "nircam": 0.6, "niriss": 0.5, "nirspec": 0.3, "fgs": 1.0}[instrument]
    yy = np.linspace(0.0, 1.0, ny, dtype=np.float32)[:, None]
    xx = np.linspace(0.0, 1.0, nx, dtype=np.float32)[None, :]
    rate = np.full((ny, nx), sky, dtype=np.float32) + np.float32(0.1 * sky) * (xx + yy)
    sigma = 2.0 if detector.endswith("long") or instrument == "miri" else 1.3
    _add_stars(rate, stars, "x", "y", sigma)
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
    return _Scene(sub, rate, reference, stars, hot, nans)


def _dq_image(scene: _Scene) -> np.ndarray:
    dq = np.zeros(scene.sub.shape, dtype=np.uint32)
    dq[scene.reference] = DO_NOT_USE | REFERENCE_PIXEL
    for y, x in scene.hot:
        dq[y, x] |= HOT
    for y, x in scene.nans:
        dq[y, x] |= DO_NOT_USE
    return dq


def _noisy_rate(scene: _Scene, rng: np.random.Generator, noise: float = 0.08) -> np.ndarray:
    img = scene.rate + rng.standard_normal(scene.sub.shape, dtype=np.float32) * np.float32(noise)
    img[scene.reference] = 0.0
    for y, x in scene.nans:
        img[y, x] = np.nan
    return img


def _error(img: np.ndarray, noise: float = 0.08) -> np.ndarray:
    err = np.sqrt(np.abs(np.nan_to_num(img)) * np.float32(0.01) + np.float32(noise**2)).astype(np.float32)
    err[np.isnan(img)] = np.nan
    return err


# ------------------------------------------------------------------ headers
def _primary_cards(info: dict[str, Any]) -> fits.Header:
    """Primary header keywords as the JWST pipeline writes them (a realistic subset)."""
    h = fits.Header()
    inst = info["instrument"]
    date_obs = _dt.date.fromisoformat(info["date"])
    minutes = int(info.get("minute_offset", 0))
    start = _dt.datetime.combine(date_obs, _dt.time(3, 14, 15)) + _dt.timedelta(minutes=minutes)
    mjd = (start - _dt.datetime(1858, 11, 17)).total_seconds() / 86400.0
    exposure_time = info.get("nints", 1) * info.get("ngroups", 1) * _TGROUP[inst]
    cards: list[tuple[str, Any, str]] = [
        ("DATE", f"{date_obs + _dt.timedelta(days=1)}T10:00:00.000", "UTC date file created"),
        ("ORIGIN", "STSCI", "institution responsible for creating FITS file"),
        ("TELESCOP", "JWST", "telescope used to acquire the data"),
        ("FILENAME", info["filename"], ""),
        ("DATAMODL", info.get("datamodel", "ImageModel"), "type of data model"),
        ("CAL_VER", "1.14.0", "calibration software version number"),
        ("SDP_VER", "2024_1", "data processing software version number"),
        ("SYNTHETC", True, "made by jwql-dagster make-archive"),
        ("PROGRAM", info["program_id"], "program number"),
        ("OBSERVTN", info.get("observation") or "001", "observation number"),
        ("VISIT", info.get("visit") or "001", "visit number"),
        ("VISITGRP", info.get("visit_group") or "02", "visit group identifier"),
        ("SEQ_ID", info.get("parallel_seq_id") or "1", "parallel sequence identifier"),
        ("ACT_ID", info.get("activity") or "01", "activity identifier"),
        ("EXPOSURE", str(int(info.get("exposure_id") or 1)), "exposure request number"),
        ("TARGNAME", info.get("target", "SYNTHETIC"), "standard astronomical catalog name for target"),
        ("TARG_RA", round(80.0 + int(info["program_id"]) % 100 * 0.1, 6), "target RA at mid time of exposure"),
        ("TARG_DEC", round(-69.0 + int(info["program_id"]) % 37 * 0.1, 6), "target Dec at mid time of exposure"),
        ("INSTRUME", _INSTRUME[inst], "instrument used to acquire the data"),
        ("DETECTOR", info["detector"].upper(), "name of detector used to acquire the data"),
    ]
    if inst == "nircam" and info["detector"].upper().startswith("NRC") and info["detector"].upper() != "MULTIPLE":
        det = info["detector"].upper()
        cards += [("MODULE", det[3], "NIRCam module: A or B"),
                  ("CHANNEL", "LONG" if det.endswith("LONG") else "SHORT", "instrument channel")]
    if info.get("filter"):
        cards.append(("FILTER", info["filter"], "name of the filter element used"))
    if info.get("pupil"):
        cards.append(("PUPIL", info["pupil"], "name of the pupil element used"))
    if info.get("grating"):
        cards.append(("GRATING", info["grating"], "name of the grating element used"))
    cards += [
        ("EXP_TYPE", info["exp_type"], "type of data in the exposure"),
        ("TSOVISIT", bool(info.get("tsovisit", False)), "time series observation visit indicator"),
        ("DATE-OBS", date_obs.isoformat(), "UTC date at start of exposure"),
        ("TIME-OBS", start.strftime("%H:%M:%S.000"), "UTC time at start of exposure"),
        ("EXPSTART", round(mjd, 8), "UTC exposure start time (MJD)"),
        ("EXPEND", round(mjd + exposure_time / 86400.0, 8), "UTC exposure end time (MJD)"),
        ("READPATT", info.get("readpatt", _READPATT[inst]), "readout pattern"),
        ("NINTS", int(info.get("nints", 1)), "number of integrations in exposure"),
        ("NGROUPS", int(info.get("ngroups", 1)), "number of groups in integration"),
        ("NFRAMES", 1, "number of frames per group"),
        ("GROUPGAP", 0, "number of frames dropped between groups"),
        ("TGROUP", _TGROUP[inst], "[s] time between groups"),
        ("EFFEXPTM", round(exposure_time, 4), "[s] effective exposure time"),
    ]
    if info.get("segment"):
        cards += [("EXSEGNUM", int(info["segment"]), "segment number"), ("EXSEGTOT", 2, "total number of segments")]
    sub: Subarray | None = info.get("subarray_obj")
    if sub is not None:
        cards += [
            ("SUBARRAY", sub.name, "subarray used"),
            ("SUBSTRT1", sub.xstart, "starting pixel in axis 1 direction"),
            ("SUBSTRT2", sub.ystart, "starting pixel in axis 2 direction"),
            ("SUBSIZE1", sub.xsize, "number of pixels in axis 1 direction"),
            ("SUBSIZE2", sub.ysize, "number of pixels in axis 2 direction"),
            ("APERNAME", _aperture(inst, info["detector"], sub), "PRD science aperture used"),
        ]
    for key, value, comment in cards:
        h[key] = (value, comment)
    return h


# ------------------------------------------------------------------ one file
def _chunks_3d(frames: Callable[[int], np.ndarray], n: int) -> Callable[[], Iterator[np.ndarray]]:
    def gen() -> Iterator[np.ndarray]:
        for i in range(n):
            yield frames(i)[None, ...]
    return gen


def _once(array: np.ndarray) -> Callable[[], Iterator[np.ndarray]]:
    def gen() -> Iterator[np.ndarray]:
        yield array
    return gen


def _detector_product(fh: BinaryIO, info: dict[str, Any], seed: int) -> dict[str, Any]:
    """Write one uncal/rate/rateints/cal/calints file of one detector; return its truth."""
    inst, det, suffix, sub = info["instrument"], info["detector"], info["suffix"], info["subarray_obj"]
    key = info["exposure_key"]
    scene = _scene(inst, det, sub, seed, key)
    rng = _file_rng(seed, info["filename"])
    nints, ngroups = int(info.get("nints", 1)), int(info.get("ngroups", 1))
    ny, nx = sub.shape
    truth: dict[str, Any] = {"hot_pixels": [list(p) for p in scene.hot], "nan_pixels": []}
    bunit = {"BUNIT": (_BUNIT[suffix], "physical units of the array values")}

    if suffix == "uncal":
        info = dict(info, datamodel=_DATAMODL[suffix])
        tgroup = _TGROUP[inst]
        bias = (np.float32(11000.0) + rng.standard_normal((ny, nx), dtype=np.float32) * np.float32(40.0))
        n_cr = 30 if nx * ny >= 1_000_000 else 2
        cosmic: list[list[int | float]] = []
        for i in range(nints):
            for _ in range(n_cr):
                g = int(rng.integers(1, ngroups)) if ngroups > 1 else 0
                cosmic.append([i, g, int(rng.integers(0, ny)), int(rng.integers(0, nx)),
                               round(float(rng.uniform(2000, 8000)), 1)])
        by_int: dict[int, list[list]] = {}
        for c in cosmic:
            by_int.setdefault(int(c[0]), []).append(c)

        def chunks() -> Iterator[np.ndarray]:
            """One group at a time: a 10x10x2048x2048 ramp needs a few frames of memory."""
            for i in range(nints):
                hits = np.zeros((ny, nx), dtype=np.float32)
                int_rng = _file_rng(seed, f"{info['filename']}:int{i}")
                for g in range(ngroups):
                    for _, cg, cy, cx, amp in by_int.get(i, []):
                        if cg == g:
                            hits[cy, cx] += np.float32(amp)
                    frame = bias + scene.rate * np.float32(tgroup * (g + 1)) + hits
                    frame += int_rng.standard_normal((ny, nx), dtype=np.float32) * np.float32(12.0)
                    np.clip(frame, 0, 65535, out=frame)
                    yield np.rint(frame).astype(np.uint16)[None, None]

        ext = _Extension("SCI", np.dtype(np.uint16), (nints, ngroups, ny, nx), chunks, bunit)
        _write_fits(fh, _primary_cards(info), [ext])
        truth.update(cosmic_rays=cosmic, shape=[nints, ngroups, ny, nx], dtype="uint16", extensions=["SCI"])
    else:
        cube = suffix in ("rateints", "calints")
        scale = np.float32(_PHOTMJSR if suffix.startswith("cal") else 1.0)
        n = nints if cube else 1
        info = dict(info, datamodel=_DATAMODL[suffix])
        if not cube:
            info["nints"] = nints
        images = [_noisy_rate(scene, _file_rng(seed, f"{info['filename']}:int{i}")) * scale for i in range(n)]
        dq = _dq_image(scene)
        exts: list[_Extension]
        if cube:
            shape = (n, ny, nx)
            exts = [
                _Extension("SCI", np.dtype(np.float32), shape, _chunks_3d(lambda i: images[i], n), bunit),
                _Extension("ERR", np.dtype(np.float32), shape, _chunks_3d(lambda i: _error(images[i]), n), bunit),
                _Extension("DQ", np.dtype(np.uint32), shape, _chunks_3d(lambda i: dq, n), {}),
            ]
        else:
            shape = (ny, nx)
            exts = [
                _Extension("SCI", np.dtype(np.float32), shape, _once(images[0]), bunit),
                _Extension("ERR", np.dtype(np.float32), shape, _once(_error(images[0])), bunit),
                _Extension("DQ", np.dtype(np.uint32), shape, _once(dq), {}),
            ]
        primary = _primary_cards(info)
        if suffix.startswith("cal"):
            primary["PHOTMJSR"] = (_PHOTMJSR, "MJy/sr per DN/s")
        _write_fits(fh, primary, exts)
        truth.update(shape=list(shape), dtype="float32", extensions=["SCI", "ERR", "DQ"],
                     nan_pixels=[list(p) for p in scene.nans])
    truth["stars"] = scene.stars
    return truth


def _stage3_product(fh: BinaryIO, info: dict[str, Any], seed: int) -> dict[str, Any]:
    """Write an i2d (SCI/ERR/CON/WHT) resampled image with stars; no subarray keywords."""
    ny, nx = info["shape"]
    rng = _file_rng(seed, info["filename"])
    window = Subarray("I2D", 1, 1, nx, ny)
    stars = _place_sources(seed, info["filename"], window, 40 if nx * ny >= 1_000_000 else 8, (20.0, 150.0))
    for star in stars:
        star["x"], star["y"] = star.pop("det_x"), star.pop("det_y")
    sci = rng.standard_normal((ny, nx), dtype=np.float32) * np.float32(0.02)
    _add_stars(sci, stars, "x", "y", 1.6)
    sci *= np.float32(_PHOTMJSR)
    edge = max(2, nx // 20)  # resampled images have no data outside the footprint
    sci[:, :edge] = np.nan
    wht = np.full((ny, nx), 250.0, dtype=np.float32)
    wht[:, :edge] = 0.0
    con = np.ones((1, ny, nx), dtype=np.int32)
    con[0, :, :edge] = 0
    bunit = {"BUNIT": ("MJy/sr", "physical units of the array values")}
    exts = [
        _Extension("SCI", np.dtype(np.float32), (ny, nx), _once(sci), bunit),
        _Extension("ERR", np.dtype(np.float32), (ny, nx), _once(_error(sci, 0.02)), bunit),
        _Extension("CON", np.dtype(np.int32), (1, ny, nx), _once(con), {}),
        _Extension("WHT", np.dtype(np.float32), (ny, nx), _once(wht), {}),
    ]
    primary = _primary_cards(dict(info, datamodel="ImageModel", subarray_obj=None))
    _write_fits(fh, primary, exts)
    return {"shape": [ny, nx], "dtype": "float32", "extensions": ["SCI", "ERR", "CON", "WHT"], "stars": stars,
            "nan_columns": [0, edge], "hot_pixels": [], "nan_pixels": []}


def _guider_product(fh: BinaryIO, info: dict[str, Any], seed: int) -> dict[str, Any]:
    """A guide-star product (jwql skips them for previews; the filesystem monitor counts them)."""
    rng = _file_rng(seed, info["filename"])
    n, size = 2, 32
    window = Subarray("GS", 1, 1, size, size)
    stars = _place_sources(seed, info["filename"], window, 1, (500.0, 800.0), margin=8)
    img = np.zeros((size, size), dtype=np.float32)
    for star in stars:
        star["x"], star["y"] = star.pop("det_x"), star.pop("det_y")
    _add_stars(img, stars, "x", "y", 1.5)
    frames = [img + rng.standard_normal((size, size), dtype=np.float32) for _ in range(n)]
    bunit = {"BUNIT": ("DN/s", "physical units of the array values")}
    ext = _Extension("SCI", np.dtype(np.float32), (n, size, size), _chunks_3d(lambda i: frames[i], n), bunit)
    info = dict(info, datamodel="GuiderCalModel", detector="GUIDER1", exp_type="FGS_ID-IMAGE", nints=n, ngroups=1,
                subarray_obj=Subarray("SUB32", 1009, 1009, size, size))
    _write_fits(fh, _primary_cards(info), [ext])
    return {"shape": [n, size, size], "dtype": "float32", "extensions": ["SCI"], "stars": stars,
            "hot_pixels": [], "nan_pixels": []}


def _msa_product(fh: BinaryIO, info: dict[str, Any], seed: int) -> dict[str, Any]:
    """An MSA metadata file: binary tables only, no image (jwql cannot preview it)."""
    rng = random.Random(f"{seed}:{info['filename']}")
    n = 6
    primary = fits.PrimaryHDU()
    primary.header.extend(_primary_cards(dict(info, datamodel="MSAMetadata", detector="NRS1",
                                               exp_type="NRS_MSASPEC", subarray_obj=None)).cards)
    shutters = fits.BinTableHDU.from_columns([
        fits.Column(name="slitlet_id", format="J", array=np.arange(1, n + 1, dtype=np.int32)),
        fits.Column(name="msa_metadata_id", format="J", array=np.ones(n, dtype=np.int32)),
        fits.Column(name="shutter_quadrant", format="J", array=np.array([rng.randint(1, 4) for _ in range(n)], np.int32)),
        fits.Column(name="shutter_row", format="J", array=np.array([rng.randint(1, 171) for _ in range(n)], np.int32)),
        fits.Column(name="shutter_column", format="J", array=np.array([rng.randint(1, 365) for _ in range(n)], np.int32)),
        fits.Column(name="source_id", format="J", array=np.arange(100, 100 + n, dtype=np.int32)),
    ], name="SHUTTER_INFO")
    buffer = io.BytesIO()
    fits.HDUList([primary, shutters]).writeto(buffer)
    fh.write(buffer.getvalue())
    return {"shape": None, "dtype": None, "extensions": ["SHUTTER_INFO"], "stars": [], "hot_pixels": [], "nan_pixels": []}


def _write_file(target: Path, writer: Callable[[BinaryIO, dict[str, Any], int], dict[str, Any]],
                info: dict[str, Any], seed: int, mtime: float | None) -> dict[str, Any]:
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as fh:
            truth = writer(fh, info, seed)
        if mtime is not None:
            os.utime(tmp, (mtime, mtime))
    return truth


def write_exposure(
    path: str | os.PathLike[str],
    instrument: str | None = None,
    detector: str | None = None,
    suffix: str | None = None,
    *,
    subarray: str | Subarray = "FULL",
    nints: int = 1,
    ngroups: int = 2,
    seed: int = 1,
    shape: tuple[int, int] | None = None,
    filter: str | None = None,
    pupil: str | None = None,
    grating: str | None = None,
    exp_type: str | None = None,
    date: str = "2023-05-01",
) -> dict[str, Any]:
    """Write one synthetic file exactly as the archive would hold it; return its truth.

    ``path`` must have a JWST name; instrument, detector and suffix default to what the
    name says. ``subarray`` is ``"FULL"`` (2048x2048, MIRI 1032x1024), the name of one of
    :data:`SMALL_SUBARRAYS` for the instrument, or a :class:`Subarray`. ``nints`` and
    ``ngroups`` shape uncal ramps (4D) and rateints/calints cubes. ``shape`` sets an i2d's
    size. E.g. a benchmark ramp:
    ``write_exposure(d / "jw01068001001_02101_00001_nrcb1_uncal.fits", nints=10, ngroups=10)``.
    """
    target = Path(path)
    parsed = parse_filename(target.name)
    instrument = instrument or parsed["instrument"]
    suffix = suffix or parsed["suffix"]
    if suffix not in ("uncal", "rate", "rateints", "cal", "calints", "i2d"):
        raise ValueError(f"{target.name}: write_exposure makes uncal, rate, rateints, cal, calints or i2d files, not {suffix!r}")
    info = {
        "filename": target.name, "instrument": instrument, "suffix": suffix,
        "program_id": parsed["program_id"], "observation": parsed["observation"], "visit": parsed["visit"],
        "visit_group": parsed["visit_group"], "parallel_seq_id": parsed["parallel_seq_id"],
        "activity": parsed["activity"], "exposure_id": parsed["exposure_id"], "segment": parsed["segment"],
        "nints": nints, "ngroups": ngroups, "date": date, "filter": filter, "pupil": pupil, "grating": grating,
        "exp_type": exp_type or _default_exp_type(instrument),
    }
    if suffix == "i2d":
        default_shape = (1024, 1032) if instrument == "miri" else (2048, 2048)
        info.update(detector=detector or "MULTIPLE", shape=tuple(shape or default_shape))
        return _write_file(target, _stage3_product, info, seed, None)
    detector = detector or parsed["detector"]
    if detector in (None, "Unknown"):
        raise ValueError(f"{target.name}: a detector is needed for a {suffix} file")
    info.update(detector=detector, subarray_obj=_resolve_subarray(instrument, subarray),
                exposure_key=parsed["file_root"])
    return _write_file(target, _detector_product, info, seed, None)


def _default_exp_type(instrument: str) -> str:
    return {"nircam": "NRC_IMAGE", "niriss": "NIS_IMAGE", "nirspec": "NRS_FIXEDSLIT", "miri": "MIR_IMAGE",
            "fgs": "FGS_IMAGE"}[instrument]


def _resolve_subarray(instrument: str, subarray: str | Subarray | dict) -> Subarray:
    if isinstance(subarray, Subarray):
        return subarray
    if isinstance(subarray, dict):
        return Subarray(**subarray)
    if subarray.upper() == "FULL":
        return full_frame(instrument)
    for sub in SMALL_SUBARRAYS[instrument]:
        if sub.name == subarray.upper():
            return sub
    known = ", ".join(["FULL"] + sorted({s.name for s in SMALL_SUBARRAYS[instrument]}))
    raise ValueError(f"unknown {instrument} subarray {subarray!r}; known: {known}")


# ------------------------------------------------------------------ the archive
class ArchiveExistsError(FileExistsError):
    """The target folder holds files that this generator did not make; nothing was written."""


@dataclass
class _Task:
    relpath: str
    writer: Callable[[BinaryIO, dict[str, Any], int], dict[str, Any]]
    info: dict[str, Any]
    record: dict[str, Any]


def _tasks(plan: dict[str, Any]) -> list[_Task]:
    tasks: list[_Task] = []
    for prog in plan["programs"]:
        pid, area = prog["program_id"], prog["area"]
        for obs in prog["observations"]:
            inst = obs["instrument"]
            visit_dir = f"{area}/jw{pid}/jw{pid}{obs['observation']}{obs['visit']}"
            base = {"program_id": pid, "observation": obs["observation"], "visit": obs["visit"], "instrument": inst,
                    "date": obs["date"], "target": prog["target"]}
            for number, exp in enumerate(obs["exposures"]):
                sub = Subarray(**exp["subarray"])
                seg = f"-seg{exp['segment']}" if exp["segment"] else ""
                stem = (f"jw{pid}{obs['observation']}{obs['visit']}_{exp['visit_group']}{exp['parallel_seq_id']}"
                        f"{exp['activity']}_{exp['exposure_id']}{seg}")
                for det in exp["detectors"]:
                    for suffix in det["products"]:
                        name = f"{stem}_{det['detector']}_{suffix}.fits"
                        nints = det.get("nints", exp["nints"])
                        ngroups = det.get("ngroups", exp["ngroups"])
                        if suffix in ("rateints", "calints"):
                            nints = exp.get("rateints_nints", nints)
                        info = dict(base, filename=name, suffix=suffix, detector=det["detector"], subarray_obj=sub,
                                    filter=det.get("filter"), pupil=det.get("pupil"), grating=det.get("grating"),
                                    exp_type=exp["exp_type"], readpatt=exp["readpatt"], nints=nints, ngroups=ngroups,
                                    visit_group=exp["visit_group"], parallel_seq_id=exp["parallel_seq_id"],
                                    activity=exp["activity"], exposure_id=exp["exposure_id"], segment=exp["segment"],
                                    tsovisit=exp.get("tsovisit", False), minute_offset=17 * number,
                                    exposure_key=f"{stem}_{det['detector']}")
                        record = {"kind": "product", "program": f"jw{pid}", "area": area, "instrument": inst,
                                  "detector": det["detector"], "suffix": suffix, "filter": det.get("filter"),
                                  "pupil": det.get("pupil"), "grating": det.get("grating"),
                                  "exp_type": exp["exp_type"], "subarray": sub.__dict__, "nints": nints,
                                  "ngroups": ngroups}
                        tasks.append(_Task(f"{visit_dir}/{name}", _detector_product, info, record))
            for s3 in obs["stage3"]:
                small = plan["size"] == "small"
                shape = ((180, 200) if inst != "miri" else (150, 170)) if small else (
                    (2100, 2080) if inst != "miri" else (1060, 1100))
                info = dict(base, filename=s3["name"], suffix="i2d", detector=s3["detector"], shape=shape,
                            filter=s3.get("filter"), pupil=s3.get("pupil"), exp_type=obs["exposures"][0]["exp_type"],
                            nints=1, ngroups=obs["exposures"][0]["ngroups"])
                record = {"kind": "product", "program": f"jw{pid}", "area": area, "instrument": inst,
                          "detector": s3["detector"], "suffix": "i2d", "filter": s3.get("filter"),
                          "pupil": s3.get("pupil"), "grating": None, "exp_type": info["exp_type"], "subarray": None,
                          "nints": 1, "ngroups": None}
                tasks.append(_Task(f"{area}/jw{pid}/jw{pid}-o{obs['observation']}/{s3['name']}", _stage3_product,
                                   info, record))
            for extra in obs["extras"]:
                writer = _msa_product if extra["kind"] == "msa" else _guider_product
                suffix = "msa" if extra["kind"] == "msa" else parse_filename(extra["name"])["suffix"]
                info = dict(base, filename=extra["name"], suffix=suffix, detector="Unknown", exp_type="N/A")
                record = {"kind": extra["kind"], "program": f"jw{pid}", "area": area, "instrument": inst,
                          "detector": None, "suffix": suffix, "subarray": None}
                tasks.append(_Task(f"{visit_dir}/{extra['name']}", writer, info, record))
    return tasks


def _bad_files(plan: dict[str, Any], seed: int) -> list[tuple[str, str, bytes, str]]:
    """(relpath, kind, bytes, reason) of the broken files, spread over different visit folders."""
    every = [(prog, obs) for prog in plan["programs"] for obs in prog["observations"]]
    images = [(prog, obs) for prog, obs in every if obs["instrument"] != "fgs"]
    visits = images if len(images) >= 6 else every  # one broken file per visit where possible
    rng = random.Random(f"bad files {seed}")

    def name_in(k: int, suffix: str = "rate") -> tuple[str, str, dict, dict]:
        prog, obs = visits[k % len(visits)]
        pid = prog["program_id"]
        exp = obs["exposures"][0]
        det = exp["detectors"][0]["detector"]
        folder = f"{prog['area']}/jw{pid}/jw{pid}{obs['observation']}{obs['visit']}"
        name = f"jw{pid}{obs['observation']}{obs['visit']}_09101_{90001 + k:05d}_{det}_{suffix}.fits"
        return folder, name, prog, obs

    def valid_rate(name: str, prog: dict, obs: dict) -> bytes:
        exp = obs["exposures"][0]
        det = exp["detectors"][0]
        parsed = parse_filename(name)
        info = {"filename": name, "instrument": obs["instrument"], "suffix": "rate", "detector": det["detector"],
                "program_id": prog["program_id"], "observation": obs["observation"], "visit": obs["visit"],
                "visit_group": parsed["visit_group"], "parallel_seq_id": parsed["parallel_seq_id"],
                "activity": parsed["activity"], "exposure_id": parsed["exposure_id"], "date": obs["date"],
                "filter": det.get("filter"), "pupil": det.get("pupil"), "grating": det.get("grating"),
                "exp_type": exp["exp_type"], "nints": 1, "ngroups": exp["ngroups"],
                "subarray_obj": Subarray(**exp["subarray"]), "exposure_key": parsed["file_root"]}
        buffer = io.BytesIO()
        _detector_product(buffer, info, seed)
        return buffer.getvalue()

    out: list[tuple[str, str, bytes, str]] = []
    folder, name, prog, obs = name_in(0)
    data = valid_rate(name, prog, obs)
    with fits.open(io.BytesIO(data)) as hdul:  # cut in the middle of the SCI pixels
        cut = hdul["SCI"]._data_offset + hdul["SCI"]._data_size // 2
    out.append((f"{folder}/{name}", "truncated", data[:cut], f"file ends inside the SCI data (cut after {cut} bytes)"))
    folder, name, _, _ = name_in(1)
    junk = bytes(rng.randrange(256) for _ in range(1500))
    out.append((f"{folder}/{name}", "not_fits", b"<html>not a FITS file</html>\n" + junk, "bytes are not FITS"))
    folder, name, prog, obs = name_in(2)
    hdus = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((8, 8), np.float32), name="ERR")])
    hdus[0].header.extend(_primary_cards({"filename": name, "instrument": obs["instrument"], "detector":
                                          obs["exposures"][0]["detectors"][0]["detector"], "program_id":
                                          prog["program_id"], "date": obs["date"], "exp_type": "N/A"}).cards)
    buffer = io.BytesIO()
    hdus.writeto(buffer)
    out.append((f"{folder}/{name}", "no_sci", buffer.getvalue(), "FITS file without a SCI extension"))
    folder, name, prog, obs = name_in(3)
    with fits.open(io.BytesIO(valid_rate(name, prog, obs))) as hdul:
        hdul["SCI"].data[...] = np.nan
        buffer = io.BytesIO()
        hdul.writeto(buffer)
    out.append((f"{folder}/{name}", "all_nan", buffer.getvalue(), "every SCI pixel is NaN"))
    folder, name, _, _ = name_in(4)
    out.append((f"{folder}/{name}", "empty", b"", "zero-byte file"))
    folder, name, prog, obs = name_in(5)
    bad_name = f"jw{prog['program_id']}{obs['observation']}{obs['visit']}_not-a-jwst-name.fits"
    out.append((f"{folder}/{bad_name}", "bad_name", valid_rate(name, prog, obs),
                "name follows no JWST naming pattern"))
    return out


def _observation_mtime(date: str) -> float:
    """Files carry their observation day as mtime (old, so a file-arrival sensor sees them settled)."""
    day = _dt.datetime.combine(_dt.date.fromisoformat(date) + _dt.timedelta(days=1), _dt.time(10, 0),
                               tzinfo=_dt.timezone.utc)
    return day.timestamp()


def make_archive(
    path: str | os.PathLike[str],
    programs: int = 4,
    size: str = "small",
    seed: int = 1,
    with_bad_files: bool = False,
    progress: Callable[..., Iterable[Any]] | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Build a synthetic archive under ``path`` and return its truth (also ``path/synthetic_truth.json``).

    ``progress`` wraps the list of files to write (called as ``progress(items, total=n,
    desc=...)``, e.g. the CLI's tqdm bar). Rebuilding over an archive this generator made
    replaces it (files of the old truth that the new plan lacks are removed); a non-empty
    folder without a truth file raises :class:`ArchiveExistsError` unless ``force``.
    """
    root = Path(path)
    plan = program_plan(programs, seed, size)
    truth_path = root / TRUTH_FILENAME
    old_files: list[str] = []
    if root.exists():
        if not root.is_dir():
            raise ArchiveExistsError(f"{root} exists and is not a folder")
        if truth_path.exists():
            try:
                old = json.loads(truth_path.read_text())
                old_files = list(old.get("files", {})) + [b["path"] for b in old.get("bad_files", [])]
            except (OSError, ValueError):
                old_files = []
        elif any(root.iterdir()) and not force:
            raise ArchiveExistsError(
                f"{root} is not empty and has no {TRUTH_FILENAME}: refusing to write a synthetic archive into what "
                "may be a real one (choose an empty folder, or use --force)"
            )
    root.mkdir(parents=True, exist_ok=True)

    tasks = _tasks(plan)
    bad = _bad_files(plan, seed) if with_bad_files else []
    items: list[Any] = list(tasks) + list(bad)
    iterator = progress(items, total=len(items), desc="make-archive") if progress else items
    folder_dates = {str(Path(t.relpath).parent): t.info["date"] for t in tasks}
    files: dict[str, Any] = {}
    bad_records: list[dict[str, Any]] = []
    for item in iterator:
        if isinstance(item, _Task):
            target = root / item.relpath
            truth = _write_file(target, item.writer, item.info, seed, _observation_mtime(item.info["date"]))
            record = dict(item.record, **truth)
            record["size"] = target.stat().st_size
            files[item.relpath] = record
        else:
            relpath, kind, data, reason = item
            target = root / relpath
            atomic_write_bytes(target, data)
            date = folder_dates.get(str(Path(relpath).parent))
            if date:
                mtime = _observation_mtime(date)
                os.utime(target, (mtime, mtime))
            bad_records.append({"path": relpath, "name": Path(relpath).name, "kind": kind, "reason": reason,
                                "program": relpath.split("/")[1], "area": relpath.split("/")[0]})

    keep = set(files) | {b["path"] for b in bad_records}
    for rel in old_files:
        if rel in keep or rel.startswith("/") or ".." in Path(rel).parts:
            continue
        stale = root / rel
        if stale.is_file():
            stale.unlink()
    for area in ("public", "proprietary"):  # drop folders the old truth left empty
        base = root / area
        if base.is_dir():
            for folder in sorted(base.glob("jw*/*"), reverse=True) + sorted(base.glob("jw*"), reverse=True):
                if folder.is_dir() and not any(folder.iterdir()):
                    shutil.rmtree(folder, ignore_errors=True)

    truth = {
        "generator": "jwql_dagster.demo.synthetic",
        "version": TRUTH_VERSION,
        "seed": seed,
        "size": size,
        "programs": plan["programs"],
        "files": dict(sorted(files.items())),
        "bad_files": bad_records,
        "notes": {
            "coordinates": "det_x/det_y: 0-based full-frame detector pixel; x/y: 0-based column/row in the file's "
                           "arrays (det - (SUBSTRT - 1)); pixel lists are [row, column] in array coordinates",
            "cosmic_rays": "[integration, first affected group, row, column, DN added]",
            "dq": "DO_NOT_USE|REFERENCE_PIXEL on reference pixels, HOT on hot pixels, DO_NOT_USE on NaN pixels",
        },
    }
    atomic_write_text(truth_path, json.dumps(truth, indent=1, sort_keys=True) + "\n")
    return truth
