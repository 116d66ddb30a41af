"""The NIRCam test program of the preview tests and the helpers that materialize it (shared by the
tests/previews modules; fixtures in conftest.py)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from tests.plugins.fits import write_fits

P = "jw01068"
V = "jw01068001001"
E1 = "jw01068001001_02102_00001"
E2 = "jw01068001001_02102_00002"
E3 = "jw01068001001_02102_00003"

NIRCAM_PREVIEWS = {
    *(f"{E1}_nrca{i}_rate_integ0.jpg" for i in range(1, 5)),
    f"{E1}_nrcalong_rate_integ0.jpg", f"{E1}_nrcblong_rate_integ0.jpg",
    f"{E1}_NRC_SWA_MOSAIC_rate_integ0.jpg", f"{E1}_NRC_LW_MOSAIC_rate_integ0.jpg",
    f"{E2}_nrcb1_uncal_integ0.jpg", f"{E2}_nrcb1_uncal_integ1.jpg",
    f"{E3}_nrca1_rateints_integ0.jpg", f"{E3}_nrca1_rateints_integ1.jpg", f"{E3}_nrca1_rateints_integ2.jpg",
    "jw01068-o001_t001_nircam_f150w_i2d_integ0.jpg",
}
NIRCAM_THUMBS = {
    *(f"{E1}_nrca{i}_rate_integ0.thumb" for i in range(1, 5)),
    f"{E1}_nrcalong_rate_integ0.thumb", f"{E1}_nrcblong_rate_integ0.thumb",
    f"{E1}_NRC_SWA_MOSAIC_rate_integ0.thumb", f"{E1}_NRC_LW_MOSAIC_rate_integ0.thumb",
    f"{E2}_nrcb1_uncal_integ0.thumb",
}


def make_program(archive: Path, area: str = "public", program: str = P) -> Path:
    visit = archive / area / program / f"{program}001001"
    e1 = f"{program}001001_02102_00001"
    for det in ["nrca1", "nrca2", "nrca3", "nrca4", "nrcalong", "nrcblong"]:
        write_fits(visit / f"{e1}_{det}_rate.fits", det, "rate", seed=hash(det) % 1000)
    write_fits(visit / f"{program}001001_02102_00002_nrcb1_uncal.fits", "nrcb1", "uncal", nints=2, ngroups=3)
    write_fits(visit / f"{program}001001_02102_00003_nrca1_rateints.fits", "nrca1", "rateints", nints=3)
    (visit / f"{e1}_nrca1_x1d.fits").write_bytes(b"ignored suffix, never opened")
    write_fits(archive / area / program / f"{program}-o001" / f"{program}-o001_t001_nircam_f150w_i2d.fits", "nrca1", "i2d")
    write_fits(archive / area / program / f"{program}002001" / f"{program}002001_02101_00001_nis_rate.fits", "nis", "rate")
    return visit


def materialize_previews(resources, instance, program=P, instrument="nircam", overwrite=False, options=None):
    from jwql_dagster.previews.assets import preview_assets, preview_coverage
    from jwql_dagster.partitions import program_instrument_key

    res = dict(resources)
    if options is not None:
        res["options"] = options
    run_config = {"ops": {"preview_assets": {"config": {"overwrite": overwrite}}}}
    result = dg.materialize([preview_assets, preview_coverage], partition_key=program_instrument_key(program, instrument),
                            resources=res, instance=instance, run_config=run_config, raise_on_error=True)
    assert result.success
    meta = result.asset_materializations_for_node("preview_assets")
    by_key = {m.asset_key.to_user_string(): m.metadata for m in meta}
    return result, by_key


def listing(folder: Path, ext: str) -> set[str]:
    return {p.name for p in folder.glob(f"*{ext}") if not p.name.startswith(".")}
