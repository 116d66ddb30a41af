"""Primary headers of the synthetic files agree with their names and readout windows."""

from __future__ import annotations

import re

from astropy.io import fits

from jwql_dagster.archive.filenames import parse_filename


PRIMARY_KEYS = ("TELESCOP", "INSTRUME", "DETECTOR", "PROGRAM", "OBSERVTN", "VISIT", "VISITGRP", "SEQ_ID", "ACT_ID",
                "EXPOSURE", "EXP_TYPE", "NINTS", "NGROUPS", "READPATT", "DATE-OBS", "SUBARRAY", "SUBSTRT1", "SUBSTRT2",
                "SUBSIZE1", "SUBSIZE2")


def test_headers_match_names_and_geometry(small_archive):
    for rel, rec in small_archive.records(kind="product").items():
        path = small_archive.file(rel)
        parsed = parse_filename(path.name)
        header = fits.getheader(path, 0)
        assert header["TELESCOP"] == "JWST"
        assert header["INSTRUME"].lower() == rec["instrument"]
        assert header["PROGRAM"] == parsed["program_id"]
        assert header["EXP_TYPE"] == rec["exp_type"]
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", header["DATE-OBS"])
        if rec["suffix"] == "i2d":
            assert "SUBSTRT1" not in header
            continue
        for key in PRIMARY_KEYS:
            assert key in header, (rel, key)
        assert header["OBSERVTN"] == parsed["observation"]
        assert header["VISIT"] == parsed["visit"]
        assert header["VISITGRP"] == parsed["visit_group"]
        assert header["SEQ_ID"] == parsed["parallel_seq_id"]
        assert header["ACT_ID"] == parsed["activity"]
        assert int(header["EXPOSURE"]) == int(parsed["exposure_id"])
        assert header["DETECTOR"].lower() == parsed["detector"]
        if rec["instrument"] in ("nircam", "niriss"):
            assert header["FILTER"] and header["PUPIL"]
        if rec["instrument"] == "nirspec":
            assert header["FILTER"] and header["GRATING"]
        if rec["instrument"] == "miri":
            assert header["FILTER"]
        full_y, full_x = (1024, 1032) if rec["instrument"] == "miri" else (2048, 2048)
        x0, y0, nx, ny = (header[k] for k in ("SUBSTRT1", "SUBSTRT2", "SUBSIZE1", "SUBSIZE2"))
        assert 1 <= x0 and x0 + nx - 1 <= full_x and 1 <= y0 and y0 + ny - 1 <= full_y
        assert header["SUBARRAY"] != "FULL" and nx <= 256 and ny <= 256  # small: never a shrunken full frame
        with fits.open(path) as hdul:
            assert hdul["SCI"].data.shape[-2:] == (ny, nx)
            assert hdul["SCI"].data.shape == tuple(rec["shape"])
