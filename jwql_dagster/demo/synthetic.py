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

The generator's sections are modules of their own: geometry (detectors, subarrays), plan
(what an archive holds), fits_writer (streamed FITS), scene (pixel content), headers,
products (one file, ``write_exposure``); this module assembles the archive and is the
generator's public entry point (its ``__all__``).
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable

import numpy as np
from astropy.io import fits

from jwql_dagster.archive.filenames import parse_filename
from jwql_dagster.atomic import atomic_write_bytes, atomic_write_text
from jwql_dagster.demo.geometry import (
    DETECTORS, DO_NOT_USE, HOT, REFERENCE_PIXEL, SMALL_SUBARRAYS, Subarray, full_frame, reference_pixel_mask,
)
from jwql_dagster.demo.headers import primary_cards
from jwql_dagster.demo.plan import SIZES, program_plan
from jwql_dagster.demo.products import detector_product, guider_product, msa_product, stage3_product, write_exposure, write_file

__all__ = [
    "ArchiveExistsError",
    "DETECTORS",
    "DO_NOT_USE",
    "HOT",
    "REFERENCE_PIXEL",
    "SIZES",
    "SMALL_SUBARRAYS",
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
                        tasks.append(_Task(f"{visit_dir}/{name}", detector_product, info, record))
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
                tasks.append(_Task(f"{area}/jw{pid}/jw{pid}-o{obs['observation']}/{s3['name']}", stage3_product,
                                   info, record))
            for extra in obs["extras"]:
                writer = msa_product if extra["kind"] == "msa" else guider_product
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
        detector_product(buffer, info, seed)
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
    hdus[0].header.extend(primary_cards({"filename": name, "instrument": obs["instrument"], "detector":
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
            truth = write_file(target, item.writer, item.info, seed, _observation_mtime(item.info["date"]))
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
