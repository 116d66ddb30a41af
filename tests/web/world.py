"""A small archive with the three broken files of issue 19, its previews made by the real assets.

``jw01068`` (NIRCam, public): two rate files of one exposure (so a mosaic), a cal file
beside one of them (suffix picker), a three-integration rateints file (integration picker),
and a garbage FITS file, a truncated one, an all-NaN rate file and an empty one.
``jw02000`` (NIRISS, public): one rate file. The assets run as the platform runs them
(archive_files, preview_images + thumbnails, proposal_thumbnail, file_failures), in
process on a SQLite database, and the world records the settings the pages need.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

from tests.plugins.fits import primary, write
from tests.plugins.resources import make_resources

P1, P2 = "jw01068", "jw02000"
E1 = "jw01068001001_02102_00001"
E2 = "jw01068001001_02102_00002"
GOOD = {
    f"{E1}_nrca1_rate": dict(detector="NRCA1", filter="F150W", date="2022-07-01"),
    f"{E1}_nrca2_rate": dict(detector="NRCA2", filter="F150W", date="2022-07-01"),
    f"{E1}_nrca1_cal": dict(detector="NRCA1", filter="F150W", date="2022-07-01"),
    f"{E2}_nrcb1_rateints": dict(detector="NRCB1", filter="F200W", date="2022-07-02", nints=3),
}
GARBAGE = "jw01068001001_02102_00003_nrca3_rate.fits"
TRUNCATED = "jw01068001001_02102_00004_nrca4_rate.fits"
ALL_NAN = "jw01068001001_02102_00005_nrcb2_rate.fits"
EMPTY = "jw01068001001_02102_00006_nrcb3_rate.fits"
NIRISS = "jw02000001001_02101_00001_nis_rate.fits"
SIZE = 48


def write_product(path: Path, detector: str, filter: str, date: str, nints: int = 1, instrument: str = "NIRCAM",
                  exp_type: str = "NRC_IMAGE", nan: bool = False, seed: int = 0) -> Path:
    """A rate/cal (2D) or rateints (3D) file with SCI, ERR, DQ and the header values the gallery filters on."""
    rng = np.random.default_rng(seed)
    prim = primary(instrument=instrument, detector=detector, subsize=(SIZE, SIZE), FILTER=filter, PUPIL="CLEAR",
                   EXP_TYPE=exp_type, SUBARRAY=f"SUB{SIZE}", NINTS=nints, NGROUPS=3, **{"DATE-OBS": date})
    shape = (SIZE, SIZE) if nints == 1 else (nints, SIZE, SIZE)
    data = rng.normal(10.0, 1.0, size=shape).astype(np.float32)
    data[..., 20, 30] = 500.0  # a star: the brightest pixel, at x=30, y=20
    if nan:
        data[...] = np.nan
    return write(path, data, np.zeros(shape, np.uint32), prim=prim,
                 extra=[fits.ImageHDU(np.ones(shape, np.float32), name="ERR")])


def make_archive(root: Path) -> None:
    visit = root / "public" / P1 / f"{P1}001001"
    for i, (stem, info) in enumerate(GOOD.items()):
        write_product(visit / f"{stem}.fits", seed=i, **info)
    (visit / GARBAGE).write_bytes(b"<html>this is not a FITS file</html>\n" * 100)
    whole = write_product(visit / TRUNCATED, "NRCA4", "F150W", "2022-07-01").read_bytes()
    (visit / TRUNCATED).write_bytes(whole[: 2880 * 2 + 3000])  # primary + SCI header + part of the pixels
    write_product(visit / ALL_NAN, "NRCB2", "F150W", "2022-07-01", nan=True)
    (visit / EMPTY).write_bytes(b"")
    write_product(root / "public" / P2 / f"{P2}001001" / NIRISS, "NIS", "F150W", "2023-01-10", instrument="NIRISS",
                  exp_type="NIS_IMAGE")


@dataclass
class World:
    settings: Any
    db_url: str
    run_ids: list[str]


def asset_named(key: str) -> Any:
    """The asset (without resources) holding ``key``, wherever its module lives in the code location."""
    import importlib

    import dagster as dg

    from jwql_dagster.definitions import GROUP_MODULES

    for name in GROUP_MODULES:
        for asset in getattr(importlib.import_module(name).defs, "assets", None) or ():
            if isinstance(asset, dg.AssetsDefinition) and dg.AssetKey(key) in asset.keys:
                return asset
    raise KeyError(key)


def build_world(home: Path) -> World:
    """Archive, database, previews, thumbnails, proposal thumbnails and the file_failures table under ``home``."""
    import dagster as dg

    from jwql_dagster.config import load_settings
    from jwql_dagster.db.resources import JwqlDatabase
    from jwql_dagster.options import JwqlOptions
    from jwql_dagster.partitions import program_instrument_key

    settings = load_settings({"JWQL_HOME": str(home), "DAGSTER_HOME": str(home / "dagster_home")})
    make_archive(settings.filesystem)
    resources = make_resources(settings, db=JwqlDatabase(url=settings.database_url),
                               options=JwqlOptions(preview_workers=1, max_failure_rate=1.0, inline_previews="all"))
    archive_files, previews, proposal, failures = (asset_named(k) for k in (
        "archive_files", "preview_images", "proposal_thumbnail", "file_failures"))
    run_ids = []
    (home / "dagster_home").mkdir(parents=True, exist_ok=True)
    with dg.instance_for_test(temp_dir=str(home / "dagster_home")) as instance:
        instance.add_dynamic_partitions("program", [P1, P2])
        for program, instrument in ((P1, "nircam"), (P2, "niriss")):
            result = dg.materialize([archive_files, previews], partition_key=program_instrument_key(program, instrument),
                                    resources=resources, instance=instance)
            run_ids.append(result.run_id)
            dg.materialize([proposal], partition_key=program, resources=resources, instance=instance)
        run_ids.append(dg.materialize([failures], resources=resources, instance=instance).run_id)
    resources["db"].dispose()
    return World(settings=settings, db_url=settings.database_url, run_ids=run_ids)


_built: dict[str, World] = {}


def session_world(tmp_path_factory: Any) -> World:
    """One world per test session, shared by the web, failures and browser tests (read-only for them)."""
    if "world" not in _built:
        _built["world"] = build_world(tmp_path_factory.mktemp("web-world"))
    return _built["world"]
