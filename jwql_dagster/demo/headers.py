"""Synthetic archive, headers: the primary keywords the JWST pipeline writes (a realistic subset)."""

from __future__ import annotations

import datetime as _dt
from typing import Any

from astropy.io import fits

from jwql_dagster.demo.geometry import Subarray, aperture_name

INSTRUME = {"nircam": "NIRCAM", "niriss": "NIRISS", "nirspec": "NIRSPEC", "miri": "MIRI", "fgs": "FGS"}
READPATT = {"nircam": "RAPID", "niriss": "NISRAPID", "nirspec": "NRSRAPID", "miri": "FASTR1", "fgs": "FGSRAPID"}
TGROUP = {"nircam": 10.73677, "niriss": 10.7368, "nirspec": 10.7368, "miri": 2.77504, "fgs": 10.7368}
BUNIT = {"uncal": "DN", "rate": "DN/s", "rateints": "DN/s", "cal": "MJy/sr", "calints": "MJy/sr", "i2d": "MJy/sr"}
DATAMODL = {"uncal": "Level1bModel", "rate": "ImageModel", "rateints": "CubeModel", "cal": "ImageModel",
             "calints": "CubeModel", "i2d": "ImageModel"}
PHOTMJSR = 0.35  # DN/s -> MJy/sr conversion used for cal and i2d products


def primary_cards(info: dict[str, Any]) -> fits.Header:
    """Primary header keywords as the JWST pipeline writes them (a realistic subset)."""
    h = fits.Header()
    inst = info["instrument"]
    date_obs = _dt.date.fromisoformat(info["date"])
    minutes = int(info.get("minute_offset", 0))
    start = _dt.datetime.combine(date_obs, _dt.time(3, 14, 15)) + _dt.timedelta(minutes=minutes)
    mjd = (start - _dt.datetime(1858, 11, 17)).total_seconds() / 86400.0
    exposure_time = info.get("nints", 1) * info.get("ngroups", 1) * TGROUP[inst]
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
        ("INSTRUME", INSTRUME[inst], "instrument used to acquire the data"),
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
        ("READPATT", info.get("readpatt", READPATT[inst]), "readout pattern"),
        ("NINTS", int(info.get("nints", 1)), "number of integrations in exposure"),
        ("NGROUPS", int(info.get("ngroups", 1)), "number of groups in integration"),
        ("NFRAMES", 1, "number of frames per group"),
        ("GROUPGAP", 0, "number of frames dropped between groups"),
        ("TGROUP", TGROUP[inst], "[s] time between groups"),
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
            ("APERNAME", aperture_name(inst, info["detector"], sub), "PRD science aperture used"),
        ]
    for key, value, comment in cards:
        h[key] = (value, comment)
    return h
