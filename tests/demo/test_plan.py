"""The archive plan: what make_archive builds, known before any file is written."""

from __future__ import annotations

import re

import pytest
from astropy.io import fits

from jwql_dagster.demo.synthetic import program_plan


def test_program_plan_matches_the_archive(small_archive):
    plan = program_plan(3, 1)
    assert plan["programs"] == small_archive.truth["programs"]
    for prog in plan["programs"]:
        found = {r["instrument"] for r in small_archive.records(program=prog["program"]).values()}
        assert found == set(prog["instruments"])
        for instrument, info in prog["instruments"].items():
            headers = set()
            for path in small_archive.files(program=prog["program"], instrument=instrument, kind="product"):
                h = fits.getheader(path)
                if "FILTER" in h:
                    headers.add((h["FILTER"], h.get("PUPIL") or h.get("GRATING")))
            planned = {(f["filter"], f.get("pupil") or f.get("grating")) for f in info["filters"]}
            assert headers == planned


@pytest.mark.parametrize("programs", [1, 2, 5])
def test_plan_has_public_proprietary_and_all_instruments(programs):
    plan = program_plan(programs, seed=7)
    assert len(plan["programs"]) == programs
    assert all(re.fullmatch(r"jw\d{5}", p["program"]) for p in plan["programs"])
    areas = {p["area"] for p in plan["programs"]}
    instruments = {i for p in plan["programs"] for i in p["instruments"]}
    if programs >= 2:
        assert areas == {"public", "proprietary"}
        assert instruments == {"nircam", "niriss", "nirspec", "miri", "fgs"}
    assert program_plan(programs, seed=7) == plan
    assert program_plan(programs, seed=8) != plan


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="programs"):
        program_plan(0, 1)
    with pytest.raises(ValueError, match="size"):
        program_plan(1, 1, size="huge")
