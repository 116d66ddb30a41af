"""Synthetic archive, the plan: which programs, observations, exposures and products an archive holds.

Drawn from a random generator seeded by the archive's seed alone, before any file is
written, so the plan (and a MAST catalogue built from it) is known without the files.
"""

from __future__ import annotations

import datetime as _dt
import random
from typing import Any

from jwql_dagster.archive.layout import INSTRUMENTS
from jwql_dagster.demo.geometry import DETECTORS, SMALL_SUBARRAYS, full_frame
from jwql_dagster.demo.headers import READPATT

SIZES = ("small", "full")

# The plan's rotation order (which three instruments each program gets): fixed, so archives stay
# byte-identical for a seed; the same set as the one instrument list.
PLAN_ROTATION = ("nircam", "niriss", "nirspec", "miri", "fgs")
assert sorted(PLAN_ROTATION) == list(INSTRUMENTS)

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
    return [PLAN_ROTATION[(2 * index + k) % len(PLAN_ROTATION)] for k in range(3)]


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
                "exp_type": exp_type, "subarray": sub.__dict__, "readpatt": READPATT[instrument],
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
