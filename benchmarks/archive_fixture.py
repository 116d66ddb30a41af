"""The benchmark archive of bench_archive.py and how its outputs are judged, by name.

Why apart: the archive plan and the output check are the benchmark's claims (what was
rendered, what is missing, which mosaics exist); tests/benchmarks checks them without
running anything heavy.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

MANIFEST = "bench_archive.json"


def archive_plan(programs: int, seed: int = 1) -> list[dict[str, Any]]:
    """The files of the benchmark archive: per program a NIRCam A+B rate pair and a MIRI rate file."""
    from jwql_dagster.demo.synthetic import program_plan

    files = []
    for prog in program_plan(programs, seed=seed)["programs"]:
        pid, area = prog["program_id"], prog["area"]
        date = prog["observations"][0]["date"]
        for det in ("nrca1", "nrcb1"):
            name = f"jw{pid}001001_02101_00001_{det}_rate.fits"
            files.append({"rel": f"{area}/jw{pid}/jw{pid}001001/{name}", "program": f"jw{pid}", "instrument": "nircam",
                          "kw": {"filter": "F150W", "pupil": "CLEAR", "date": date}})
        name = f"jw{pid}002001_02101_00001_mirimage_rate.fits"
        files.append({"rel": f"{area}/jw{pid}/jw{pid}002001/{name}", "program": f"jw{pid}", "instrument": "miri",
                      "kw": {"filter": "F770W", "date": date}})
    return files


def build_archive(root: Path, files: list[dict[str, Any]], seed: int) -> None:
    """Write the files (reused when a kept archive has the same manifest); mtimes a day after observation."""
    from jwql_dagster.demo.synthetic import write_exposure

    manifest = {"version": 1, "seed": seed, "files": [f["rel"] for f in files]}
    marker = root / MANIFEST
    if marker.exists() and json.loads(marker.read_text()) == manifest and all((root / f["rel"]).is_file() for f in files):
        print(f"archive: reusing {len(files)} files in {root}", flush=True)
        return
    if root.exists():
        shutil.rmtree(root)
    t0 = time.perf_counter()
    for i, f in enumerate(files, 1):
        target = root / f["rel"]
        write_exposure(target, subarray="FULL", seed=seed, **f["kw"])
        day = dt.datetime.fromisoformat(f["kw"]["date"]).replace(hour=10, tzinfo=dt.timezone.utc) + dt.timedelta(days=1)
        os.utime(target, (day.timestamp(), day.timestamp()))
        if i % 6 == 0 or i == len(files):
            print(f"archive: {i}/{len(files)} files written ({time.perf_counter() - t0:.0f} s)", flush=True)
    marker.write_text(json.dumps(manifest))


def mosaic_name(paths: list[str]) -> str | None:
    """Our dummy name of a NIRCam group (None when this checkout has no mosaic module)."""
    try:
        from jwql_dagster.previews.mosaic import create_dummy_filename
    except ImportError:
        return None
    return os.path.basename(create_dummy_filename(paths)).removesuffix(".fits")


def expected_outputs(files: list[dict[str, Any]]) -> dict[str, Any]:
    """jwql's names (``<stem>_integ0.jpg`` / ``.thumb`` per rate file) and our mosaic names, per program."""
    jwql_previews, jwql_thumbs, mosaics = set(), set(), set()
    pairs: dict[str, list[str]] = {}
    for f in files:
        stem = Path(f["rel"]).name.removesuffix(".fits")
        jwql_previews.add(f"{f['program']}/{stem}_integ0.jpg")
        jwql_thumbs.add(f"{f['program']}/{stem}_integ0.thumb")
        if f["instrument"] == "nircam":
            pairs.setdefault(f["program"], []).append("/" + f["rel"])
    for program, paths in pairs.items():
        stem = mosaic_name(sorted(paths)) or "MOSAIC?"
        mosaics.add(f"{program}/{stem}_integ0")
    return {"jwql_previews": jwql_previews, "jwql_thumbs": jwql_thumbs, "mosaics": mosaics,
            "programs": sorted({f["program"] for f in files}),
            "cells": sorted({(f["program"], f["instrument"]) for f in files})}


def listing(preview_root: Path, thumbnail_root: Path) -> tuple[set[str], set[str]]:
    """``program/name`` of every preview JPEG and thumbnail under the two roots (hidden files left out)."""
    def names(root: Path, ext: str) -> set[str]:
        out = set()
        if root.is_dir():
            for program in root.iterdir():
                if program.is_dir():
                    out.update(f"{program.name}/{n}" for n in os.listdir(program) if n.endswith(ext) and not n.startswith("."))
        return out
    return names(preview_root, ".jpg"), names(thumbnail_root, ".thumb")


def all_made(expected: dict[str, Any], previews: set[str], thumbs: set[str]) -> bool:
    want_p = expected["jwql_previews"] | {m + ".jpg" for m in expected["mosaics"]}
    want_t = expected["jwql_thumbs"] | {m + ".thumb" for m in expected["mosaics"]}
    if any("MOSAIC?" in m for m in expected["mosaics"]):  # unknown mosaic names: any mosaic per program
        want_p = expected["jwql_previews"]
        want_t = expected["jwql_thumbs"]
        programs = {p.split("/")[0] for p in previews if "_MOSAIC_" in p}
        if programs != {m.split("/")[0] for m in expected["mosaics"]}:
            return False
    return want_p <= previews and want_t <= thumbs


def check_outputs(expected: dict[str, Any], previews: set[str], thumbs: set[str]) -> dict[str, Any]:
    integ_thumbs = {t for t in thumbs if t.endswith("_integ0.thumb")}
    mosaic_p = {p for p in previews if "_MOSAIC_" in p}
    mosaic_t = {t for t in integ_thumbs if "_MOSAIC_" in t}
    return {
        "previews": len(previews), "thumbnails": len(thumbs),
        "missing_previews": sorted(expected["jwql_previews"] - previews),
        "missing_thumbs": sorted(expected["jwql_thumbs"] - thumbs),
        "mosaic_previews": len(mosaic_p), "mosaic_thumbs": len(mosaic_t),
        "other_extra": sorted((previews - expected["jwql_previews"] - mosaic_p)
                              | (integ_thumbs - expected["jwql_thumbs"] - mosaic_t)),
        "program_thumbs": len(thumbs - integ_thumbs),
    }
