"""Synthetic archive, one file: detector products (uncal ramps, rate, rateints, cal), i2d, guider and MSA files.

``write_exposure`` makes any single file exactly as the archive would contain it (e.g. a
full-frame uncal with 10 integrations for a benchmark).
"""

from __future__ import annotations

import io
import os
import random
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

import numpy as np
from astropy.io import fits

from jwql_dagster.archive.filenames import parse_filename
from jwql_dagster.atomic import atomic_path
from jwql_dagster.demo.fits_writer import Extension, write_fits
from jwql_dagster.demo.geometry import Subarray, resolve_subarray
from jwql_dagster.demo.headers import BUNIT, DATAMODL, PHOTMJSR, TGROUP, primary_cards
from jwql_dagster.demo.scene import add_stars, dq_image, error_image, file_rng, make_scene, noisy_rate, place_sources

def _chunks_3d(frames: Callable[[int], np.ndarray], n: int) -> Callable[[], Iterator[np.ndarray]]:
    def gen() -> Iterator[np.ndarray]:
        for i in range(n):
            yield frames(i)[None, ...]
    return gen


def _once(array: np.ndarray) -> Callable[[], Iterator[np.ndarray]]:
    def gen() -> Iterator[np.ndarray]:
        yield array
    return gen


def detector_product(fh: BinaryIO, info: dict[str, Any], seed: int) -> dict[str, Any]:
    """Write one uncal/rate/rateints/cal/calints file of one detector; return its truth."""
    inst, det, suffix, sub = info["instrument"], info["detector"], info["suffix"], info["subarray_obj"]
    key = info["exposure_key"]
    scene = make_scene(inst, det, sub, seed, key)
    rng = file_rng(seed, info["filename"])
    nints, ngroups = int(info.get("nints", 1)), int(info.get("ngroups", 1))
    ny, nx = sub.shape
    truth: dict[str, Any] = {"hot_pixels": [list(p) for p in scene.hot], "nan_pixels": []}
    bunit = {"BUNIT": (BUNIT[suffix], "physical units of the array values")}

    if suffix == "uncal":
        info = dict(info, datamodel=DATAMODL[suffix])
        tgroup = TGROUP[inst]
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
                int_rng = file_rng(seed, f"{info['filename']}:int{i}")
                for g in range(ngroups):
                    for _, cg, cy, cx, amp in by_int.get(i, []):
                        if cg == g:
                            hits[cy, cx] += np.float32(amp)
                    frame = bias + scene.rate * np.float32(tgroup * (g + 1)) + hits
                    frame += int_rng.standard_normal((ny, nx), dtype=np.float32) * np.float32(12.0)
                    np.clip(frame, 0, 65535, out=frame)
                    yield np.rint(frame).astype(np.uint16)[None, None]

        ext = Extension("SCI", np.dtype(np.uint16), (nints, ngroups, ny, nx), chunks, bunit)
        write_fits(fh, primary_cards(info), [ext])
        truth.update(cosmic_rays=cosmic, shape=[nints, ngroups, ny, nx], dtype="uint16", extensions=["SCI"])
    else:
        cube = suffix in ("rateints", "calints")
        scale = np.float32(PHOTMJSR if suffix.startswith("cal") else 1.0)
        n = nints if cube else 1
        info = dict(info, datamodel=DATAMODL[suffix])
        if not cube:
            info["nints"] = nints
        images = [noisy_rate(scene, file_rng(seed, f"{info['filename']}:int{i}")) * scale for i in range(n)]
        dq = dq_image(scene)
        exts: list[Extension]
        if cube:
            shape = (n, ny, nx)
            exts = [
                Extension("SCI", np.dtype(np.float32), shape, _chunks_3d(lambda i: images[i], n), bunit),
                Extension("ERR", np.dtype(np.float32), shape, _chunks_3d(lambda i: error_image(images[i]), n), bunit),
                Extension("DQ", np.dtype(np.uint32), shape, _chunks_3d(lambda i: dq, n), {}),
            ]
        else:
            shape = (ny, nx)
            exts = [
                Extension("SCI", np.dtype(np.float32), shape, _once(images[0]), bunit),
                Extension("ERR", np.dtype(np.float32), shape, _once(error_image(images[0])), bunit),
                Extension("DQ", np.dtype(np.uint32), shape, _once(dq), {}),
            ]
        primary = primary_cards(info)
        if suffix.startswith("cal"):
            primary["PHOTMJSR"] = (PHOTMJSR, "MJy/sr per DN/s")
        write_fits(fh, primary, exts)
        truth.update(shape=list(shape), dtype="float32", extensions=["SCI", "ERR", "DQ"],
                     nan_pixels=[list(p) for p in scene.nans])
    truth["stars"] = scene.stars
    return truth


def stage3_product(fh: BinaryIO, info: dict[str, Any], seed: int) -> dict[str, Any]:
    """Write an i2d (SCI/ERR/CON/WHT) resampled image with stars; no subarray keywords."""
    ny, nx = info["shape"]
    rng = file_rng(seed, info["filename"])
    window = Subarray("I2D", 1, 1, nx, ny)
    stars = place_sources(seed, info["filename"], window, 40 if nx * ny >= 1_000_000 else 8, (20.0, 150.0))
    for star in stars:
        star["x"], star["y"] = star.pop("det_x"), star.pop("det_y")
    sci = rng.standard_normal((ny, nx), dtype=np.float32) * np.float32(0.02)
    add_stars(sci, stars, "x", "y", 1.6)
    sci *= np.float32(PHOTMJSR)
    edge = max(2, nx // 20)  # resampled images have no data outside the footprint
    sci[:, :edge] = np.nan
    wht = np.full((ny, nx), 250.0, dtype=np.float32)
    wht[:, :edge] = 0.0
    con = np.ones((1, ny, nx), dtype=np.int32)
    con[0, :, :edge] = 0
    bunit = {"BUNIT": ("MJy/sr", "physical units of the array values")}
    exts = [
        Extension("SCI", np.dtype(np.float32), (ny, nx), _once(sci), bunit),
        Extension("ERR", np.dtype(np.float32), (ny, nx), _once(error_image(sci, 0.02)), bunit),
        Extension("CON", np.dtype(np.int32), (1, ny, nx), _once(con), {}),
        Extension("WHT", np.dtype(np.float32), (ny, nx), _once(wht), {}),
    ]
    primary = primary_cards(dict(info, datamodel="ImageModel", subarray_obj=None))
    write_fits(fh, primary, exts)
    return {"shape": [ny, nx], "dtype": "float32", "extensions": ["SCI", "ERR", "CON", "WHT"], "stars": stars,
            "nan_columns": [0, edge], "hot_pixels": [], "nan_pixels": []}


def guider_product(fh: BinaryIO, info: dict[str, Any], seed: int) -> dict[str, Any]:
    """A guide-star product (jwql skips them for previews; the filesystem monitor counts them)."""
    rng = file_rng(seed, info["filename"])
    n, size = 2, 32
    window = Subarray("GS", 1, 1, size, size)
    stars = place_sources(seed, info["filename"], window, 1, (500.0, 800.0), margin=8)
    img = np.zeros((size, size), dtype=np.float32)
    for star in stars:
        star["x"], star["y"] = star.pop("det_x"), star.pop("det_y")
    add_stars(img, stars, "x", "y", 1.5)
    frames = [img + rng.standard_normal((size, size), dtype=np.float32) for _ in range(n)]
    bunit = {"BUNIT": ("DN/s", "physical units of the array values")}
    ext = Extension("SCI", np.dtype(np.float32), (n, size, size), _chunks_3d(lambda i: frames[i], n), bunit)
    info = dict(info, datamodel="GuiderCalModel", detector="GUIDER1", exp_type="FGS_ID-IMAGE", nints=n, ngroups=1,
                subarray_obj=Subarray("SUB32", 1009, 1009, size, size))
    write_fits(fh, primary_cards(info), [ext])
    return {"shape": [n, size, size], "dtype": "float32", "extensions": ["SCI"], "stars": stars,
            "hot_pixels": [], "nan_pixels": []}


def msa_product(fh: BinaryIO, info: dict[str, Any], seed: int) -> dict[str, Any]:
    """An MSA metadata file: binary tables only, no image (jwql cannot preview it)."""
    rng = random.Random(f"{seed}:{info['filename']}")
    n = 6
    primary = fits.PrimaryHDU()
    primary.header.extend(primary_cards(dict(info, datamodel="MSAMetadata", detector="NRS1",
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


def write_file(target: Path, writer: Callable[[BinaryIO, dict[str, Any], int], dict[str, Any]],
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
        return write_file(target, stage3_product, info, seed, None)
    detector = detector or parsed["detector"]
    if detector in (None, "Unknown"):
        raise ValueError(f"{target.name}: a detector is needed for a {suffix} file")
    info.update(detector=detector, subarray_obj=resolve_subarray(instrument, subarray),
                exposure_key=parsed["file_root"])
    return write_file(target, detector_product, info, seed, None)


def _default_exp_type(instrument: str) -> str:
    return {"nircam": "NRC_IMAGE", "niriss": "NIS_IMAGE", "nirspec": "NRS_FIXEDSLIT", "miri": "MIR_IMAGE",
            "fgs": "FGS_IMAGE"}[instrument]
