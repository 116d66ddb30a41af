"""The local MAST server's catalogue: rows per service, shaped as the live service answers them.

Deterministic: every file of the demo archive (``make-archive --programs 4 --seed 1``) plus
generated programs, including 01440 with all five instruments (jwql's keyword program). As in
live MAST: JWST program ids are unpadded (``proposal_id`` / ``program`` = ``'1440'``), CAOM has
the live column set (``advSearch.json`` of astroquery's recorded answers), one row per
observation and ``;``-joined filter combination, at calib_level -1 (planned), 1, 2 and 3, and
other missions share the CAOM service.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, Iterable, Mapping

from jwql_dagster.archive.layout import INSTRUMENTS

CAOM_SERVICE = "Mast.Caom.Filtered"
COUNTED_CALIB_LEVELS = (1, 2, 3)  # what the inventory counts; -1 rows are planned observations

# Columns of the JWST services (a realistic subset of MAST's, differing per instrument).
_COMMON_JWST = [
    ("ArchiveFileID", "int"), ("filename", "string"), ("fileSetName", "string"), ("productLevel", "string"),
    ("program", "string"), ("observtn", "int"), ("visit", "int"), ("exp_type", "string"), ("detector", "string"),
    ("filter", "string"), ("subarray", "string"), ("date_obs", "string"), ("targname", "string"),
    ("nints", "int"), ("ngroups", "int"), ("effexptm", "float"), ("category", "string"), ("pi_name", "string"),
]
JWST_FIELDS: dict[str, list[tuple[str, str]]] = {
    "nircam": _COMMON_JWST + [("pupil", "string"), ("module", "string"), ("channel", "string")],
    "niriss": _COMMON_JWST + [("pupil", "string"), ("fwcpos", "float")],
    "nirspec": _COMMON_JWST + [("grating", "string"), ("fxd_slit", "string"), ("msametfl", "string")],
    "miri": _COMMON_JWST + [("band", "string"), ("channel", "string"), ("coronmsk", "string")],
    "fgs": _COMMON_JWST + [("focuspos", "float"), ("gs_order", "int")],
}

# Modes per instrument: (CAOM instrument_name suffix, dataproduct_type, exp_type, (filter, pupil/grating) choices)
_MODES: dict[str, list[tuple[str, str, str, list[tuple[str, str | None]]]]] = {
    "nircam": [
        ("IMAGE", "image", "NRC_IMAGE", [("F070W", "CLEAR"), ("F150W", "CLEAR"), ("F200W", "CLEAR"), ("F277W", "CLEAR"),
                                         ("F356W", "CLEAR"), ("F444W", "CLEAR"), ("F405N", "CLEAR"), ("F212N", "CLEAR")]),
        ("GRISM", "spectrum", "NRC_WFSS", [("F356W", "GRISMR"), ("F444W", "GRISMC")]),
    ],
    "niriss": [
        ("IMAGE", "image", "NIS_IMAGE", [("F090W", "CLEAR"), ("F150W", "CLEAR"), ("F200W", "CLEAR"), ("F480M", "NRM")]),
        ("WFSS", "spectrum", "NIS_WFSS", [("GR150R", "F150W"), ("GR150C", "F200W")]),
        ("SOSS", "spectrum", "NIS_SOSS", [("CLEAR", "GR700XD")]),
    ],
    "nirspec": [
        ("MSA", "spectrum", "NRS_MSASPEC", [("F070LP", "G140M"), ("F100LP", "G140H"), ("F170LP", "G235M"), ("F290LP", "G395M")]),
        ("FIXED_SLIT", "spectrum", "NRS_FIXEDSLIT", [("CLEAR", "PRISM"), ("F290LP", "G395H")]),
        ("IFU", "cube", "NRS_IFU", [("F170LP", "G235H"), ("CLEAR", "PRISM")]),
    ],
    "miri": [
        ("IMAGE", "image", "MIR_IMAGE", [("F560W", None), ("F770W", None), ("F1000W", None), ("F1500W", None), ("F2100W", None)]),
        ("IFU", "cube", "MIR_MRS", [("SHORT", None), ("MEDIUM", None), ("LONG", None)]),
        ("SLIT", "spectrum", "MIR_LRS-FIXEDSLIT", [("P750L", None)]),
        ("CORON", "image", "MIR_4QPM", [("F1065C", None), ("F1550C", None)]),
    ],
    "fgs": [
        ("FGS1", "image", "FGS_IMAGE", [("N/A", None)]),
        ("FGS2", "image", "FGS_FOCUS", [("N/A", None)]),
    ],
}
_DETECTORS = {"nircam": ["NRCA1", "NRCB1", "NRCA5"], "niriss": ["NIS"], "nirspec": ["NRS1", "NRS2"],
              "miri": ["MIRIMAGE"], "fgs": ["GUIDER1"]}

# The live CAOM column set and order (astroquery's recorded advSearch.json answer).
CAOM_FIELDS: list[tuple[str, str]] = [
    ("dataproduct_type", "string"), ("calib_level", "int"), ("obs_collection", "string"), ("obs_id", "string"),
    ("target_name", "string"), ("s_ra", "float"), ("s_dec", "float"), ("t_min", "float"), ("t_max", "float"),
    ("t_exptime", "float"), ("wavelength_region", "string"), ("filters", "string"), ("em_min", "float"),
    ("em_max", "float"), ("target_classification", "string"), ("obs_title", "string"), ("t_obs_release", "float"),
    ("instrument_name", "string"), ("proposal_pi", "string"), ("proposal_id", "string"), ("project", "string"),
    ("s_region", "string"), ("jpegURL", "string"), ("dataURL", "string"), ("obsid", "string"), ("objID", "string"),
]
# columnsconfig as the live portal describes a column: vot.* attributes, display text, order
_VOT_TYPES = {"string": "char", "int": "int", "float": "double", "boolean": "boolean"}
# Where the live columnsconfig describes a column apart from its answer type (ids answered as strings)
_VOT_OVERRIDES = {"obsid": {"vot.datatype": "long"}, "objID": {"vot.datatype": "long"}, "dataURL": {"vot.datatype": "string"}}

def _plan_from_archive(programs: int, seed: int) -> list[dict[str, Any]]:
    """The synthetic archive's programs (core/synthetic.py ``program_plan``) as catalogue program specs.

    Each keeps the plan's observations (exposures, detectors, products) so the catalogue lists
    exactly the files ``make-archive --programs N --seed S`` writes.
    """
    try:
        from jwql_dagster.demo.synthetic import program_plan
    except ImportError:  # the archive generator is optional for the server
        return []
    specs: list[dict[str, Any]] = []
    for item in program_plan(programs, seed).get("programs", []):
        number = str(item.get("program_id") or str(item["program"]).lower().removeprefix("jw")).zfill(5)
        specs.append({"program": number, "instruments": item.get("instruments", {}),
                      "observations": item.get("observations", []), "target": item.get("target"), "source": "archive"})
    return specs


def default_programs(archive_programs: int = 4, seed: int = 1, extra: int = 12) -> list[dict[str, Any]]:
    """The archive's programs (``make-archive --programs 4 --seed 1``) plus ``extra`` more, including 01440.

    jwql reads the keyword lists from one row of program 01440, so that program has every instrument.
    """
    specs = _plan_from_archive(archive_programs, seed)
    seen = {s["program"] for s in specs}
    rng = random.Random(seed * 7919 + 17)
    added = 0
    for number in ["01440"] + [f"{n:05d}" for n in range(1003, 6000, 389)]:
        if added >= extra + 1:
            break
        if number in seen:
            continue
        seen.add(number)
        added += 1
        insts = list(INSTRUMENTS) if number == "01440" else sorted(rng.sample(INSTRUMENTS, rng.randint(1, 3)))
        specs.append({"program": number, "instruments": {i: {} for i in insts}})
    return sorted(specs, key=lambda s: s["program"])


_CAOM_MODE = {  # exp_type -> (instrument_name suffix, dataproduct_type)
    "NRC_IMAGE": ("IMAGE", "image"), "NRC_CORON": ("CORON", "image"), "NRC_WFSS": ("GRISM", "spectrum"),
    "NRC_TSGRISM": ("GRISM", "spectrum"), "NRC_TSIMAGE": ("IMAGE", "image"),
    "NIS_IMAGE": ("IMAGE", "image"), "NIS_AMI": ("AMI", "image"), "NIS_WFSS": ("WFSS", "spectrum"),
    "NIS_SOSS": ("SOSS", "spectrum"),
    "NRS_MSASPEC": ("MSA", "spectrum"), "NRS_FIXEDSLIT": ("SLIT", "spectrum"), "NRS_BRIGHTOBJ": ("SLIT", "spectrum"),
    "NRS_IFU": ("IFU", "cube"),
    "MIR_IMAGE": ("IMAGE", "image"), "MIR_4QPM": ("CORON", "image"), "MIR_LYOT": ("CORON", "image"),
    "MIR_LRS-FIXEDSLIT": ("SLIT", "spectrum"), "MIR_LRS-SLITLESS": ("SLITLESS", "spectrum"), "MIR_MRS": ("IFU", "cube"),
    "FGS_IMAGE": ("FGS", "image"), "FGS_FOCUS": ("FGS", "image"),
}


_MJD_2022 = 59580.0  # 2022-01-01 as MJD: observation times of the catalogue start here


class _CatalogBuilder:
    """Accumulates JWST file rows (per instrument) and CAOM rows with stable ids."""

    def __init__(self) -> None:
        self.jwst: dict[str, list[dict[str, Any]]] = {i: [] for i in INSTRUMENTS}
        self.caom: list[dict[str, Any]] = []
        self._file_id = 1000
        self._obsid = 90000000

    def file(self, inst: str, program: str, obs: int, filename: str, exp_type: str, detector: str,
             filt: str | None, second: str | None, nints: int, ngroups: int, date: str, target: str) -> None:
        self._file_id += 1
        row: dict[str, Any] = {name: None for name, _ in JWST_FIELDS[inst]}
        row.update({
            "ArchiveFileID": self._file_id, "filename": filename, "fileSetName": filename.rsplit("_", 1)[0],
            "productLevel": "1b" if filename.endswith("_uncal.fits") else "2b" if "_cal" in filename else "2a",
            "program": program.lstrip("0"), "observtn": obs, "visit": 1, "exp_type": exp_type,
            "detector": detector.upper(), "filter": filt, "subarray": "FULL", "date_obs": date, "targname": target,
            "nints": nints, "ngroups": ngroups, "effexptm": 10.7 * nints * ngroups, "category": "GO",
            "pi_name": "Synthetic, P.",
        })
        if inst in ("nircam", "niriss"):
            row["pupil"] = second
        elif inst == "nirspec":
            row["grating"] = second
        elif inst == "miri" and exp_type == "MIR_MRS":
            row["band"] = filt
        self.jwst[inst].append(row)

    def observation(self, inst: str, program: str, obs: int, exp_type: str, combo: str, target: str,
                    mode: tuple[str, str] | None = None, levels: Iterable[int] = (1, 2, 3)) -> None:
        """CAOM rows of one observation and filter combination (``F150W;CLEAR``), one per calib_level."""
        suffix, dptype = mode or _CAOM_MODE.get(exp_type, (exp_type.split("_", 1)[-1], "image"))
        number = program.lstrip("0")
        t_min = _MJD_2022 + int(program) % 700 + obs
        for level in levels:
            self._obsid += 1
            if level == 3:  # a combined product: one per observation and combination
                obs_id = f"jw{program}-o{obs:03d}_t001_{inst}_{combo.lower().replace(';', '-')}"
            else:  # an exposure (level 1 and 2, and the planned -1)
                obs_id = f"jw{program}{obs:03d}001_02101_00001_{inst}"
            planned = level == -1
            self.caom.append({
                "dataproduct_type": dptype, "calib_level": level, "obs_collection": "JWST", "obs_id": obs_id,
                "target_name": target, "s_ra": 53.16 + obs / 100, "s_dec": -27.78, "t_min": t_min,
                "t_max": t_min + 0.1, "t_exptime": 0.0 if planned else 250.0, "wavelength_region": "INFRARED",
                "filters": combo, "em_min": 600.0, "em_max": 5000.0, "target_classification": None,
                "obs_title": f"Synthetic program {number}", "t_obs_release": None if planned else t_min + 365,
                "instrument_name": f"{inst.upper()}/{suffix}", "proposal_pi": "Synthetic, P.", "proposal_id": number,
                "project": "JWST", "s_region": None, "jpegURL": None,
                "dataURL": None if planned else f"mast:JWST/product/{obs_id}_x1d.fits",
                "obsid": str(self._obsid), "objID": str(self._obsid + 1000000000),
            })


def _archive_program_rows(b: _CatalogBuilder, spec: Mapping[str, Any]) -> None:
    """Every file of an archive program's plan, and CAOM rows per observation, exposure type and combination."""
    number = spec["program"]
    target = str(spec.get("target") or f"TARGET-{number}")
    for obs in spec.get("observations", []):
        inst = str(obs["instrument"]).lower()
        n = int(obs["observation"])
        modes: dict[str, set[str]] = {}
        for exp in obs.get("exposures", []):
            exp_type = str(exp.get("exp_type") or "")
            seg = f"-seg{exp['segment']}" if exp.get("segment") else ""
            stem = (f"jw{number}{obs['observation']}{obs['visit']}_{exp['visit_group']}{exp['parallel_seq_id']}"
                    f"{exp['activity']}_{exp['exposure_id']}{seg}")
            for det in exp.get("detectors", []):
                filt = det.get("filter")
                second = det.get("pupil") or det.get("grating")
                modes.setdefault(exp_type, set()).add(str(filt) if second is None else f"{filt};{second}")
                for product in det.get("products", []):
                    b.file(inst, number, n, f"{stem}_{det['detector']}_{product}.fits", exp_type, det["detector"],
                           filt, second, int(exp.get("nints") or 1), int(exp.get("ngroups") or 1),
                           str(obs.get("date") or ""), target)
        for exp_type, combos in sorted(modes.items()):
            for combo in sorted(c for c in combos if c != "None") or ["N/A"]:
                b.observation(inst, number, n, exp_type, combo, target)


def _generated_program_rows(b: _CatalogBuilder, spec: Mapping[str, Any], rng: random.Random) -> None:
    """A few observations per instrument of a program beyond the archive: files, CAOM rows, one planned observation."""
    number = spec["program"]
    target = f"TARGET-{number}"
    obs = 0
    for inst in sorted(spec.get("instruments", {})):
        modes = _MODES[inst]
        for _ in range(rng.randint(2, 4)):
            obs += 1
            suffix, dptype, exp_type, choices = modes[(obs + rng.randint(0, 9)) % len(modes)]
            used = list(dict.fromkeys(rng.choice(choices) for _ in range(rng.randint(1, 3))))
            for filt, second in used:
                for det in _DETECTORS[inst][: rng.randint(1, len(_DETECTORS[inst]))]:
                    for exp in range(1, rng.randint(1, 3) + 1):
                        root = f"jw{number}{obs:03d}001_02101_{exp:05d}_{det.lower()}"
                        b.file(inst, number, obs, f"{root}_rate.fits", exp_type, det, filt, second, 1 + exp, 5,
                               f"2024-{1 + obs % 12:02d}-{1 + exp:02d}", target)
                b.observation(inst, number, obs, exp_type, filt if second is None else f"{filt};{second}", target,
                              mode=(suffix, dptype), levels=(1, 2, 3) if rng.random() < 0.7 else (3,))
        obs += 1  # planned, not yet observed: calib_level -1, no files
        suffix, dptype, exp_type, choices = modes[0]
        filt, second = choices[0]
        b.observation(inst, number, obs, exp_type, filt if second is None else f"{filt};{second}", target,
                      mode=(suffix, dptype), levels=(-1,))
        if inst in ("nircam", "niriss") and rng.random() < 0.5:  # time series: not an inventory dataproduct
            obs += 1
            b.observation(inst, number, obs, "TSO", "CLEAR", target, mode=("TSO", "timeseries"), levels=(3,))


def _hst_row(k: int) -> dict[str, Any]:
    """A row of another mission in the CAOM service (the inventory's filters must leave it out)."""
    row: dict[str, Any] = {name: None for name, _ in CAOM_FIELDS}
    row.update({"dataproduct_type": ("image", "spectrum")[k % 2], "calib_level": 3, "obs_collection": "HST",
                "obs_id": f"hst_{k}", "target_name": "HST-TARGET", "filters": "F606W", "t_exptime": 500.0,
                "instrument_name": ("WFC3/UVIS", "STIS/CCD", "NICMOS/NIC3", "ACS/WFC")[k % 4], "project": "HST",
                "proposal_id": f"{15000 + k}", "obsid": str(80000000 + k), "objID": str(1080000000 + k)})
    return row


def build_catalog(programs: Iterable[Mapping[str, Any]] | None = None, seed: int = 1) -> dict[str, Any]:
    """A deterministic catalogue ``{"services": {name: {"fields": [...], "rows": [...]}}}``.

    Archive programs list exactly the archive's files; other programs get a few generated
    observations and one planned observation per instrument. CAOM also holds JWST time series
    and HST rows that the inventory's filters must leave out.
    """
    programs = list(programs) if programs is not None else default_programs(seed=seed)
    rng = random.Random(seed)
    b = _CatalogBuilder()
    for spec in programs:
        spec = dict(spec, program=str(spec["program"]).lower().removeprefix("jw").zfill(5))
        if spec.get("observations"):
            _archive_program_rows(b, spec)
        else:
            _generated_program_rows(b, spec, rng)
    b.caom.extend(_hst_row(k) for k in range(8))
    services: dict[str, Any] = {}
    for inst in INSTRUMENTS:
        services[f"Mast.Jwst.Filtered.{inst.title()}"] = {
            "fields": [{"name": n, "type": t} for n, t in JWST_FIELDS[inst]], "rows": b.jwst[inst]}
    services[CAOM_SERVICE] = {"fields": [{"name": n, "type": t} for n, t in CAOM_FIELDS], "rows": b.caom}
    return {"services": services}


def catalog_truth(catalog: Mapping[str, Any]) -> dict[tuple[str, str, str], int]:
    """True counts straight from the rows: (instrument, "jwst", "all") and (instrument, "caom", dataproduct).

    CAOM counts JWST rows of calib_level 1, 2 and 3 (data), not the planned -1 ones.
    """
    services = catalog["services"]
    truth: dict[tuple[str, str, str], int] = {}
    for inst in INSTRUMENTS:
        truth[(inst, "jwst", "all")] = len(services[f"Mast.Jwst.Filtered.{inst.title()}"]["rows"])
        for dp in ("image", "spectrum", "cube"):
            truth[(inst, "caom", dp)] = sum(
                1 for r in services[CAOM_SERVICE]["rows"]
                if r["obs_collection"] == "JWST" and r["dataproduct_type"] == dp
                and r["instrument_name"].split("/")[0].lower() == inst and r["calib_level"] in COUNTED_CALIB_LEVELS)
    return truth


def columns_config(service: Mapping[str, Any] | None) -> dict[str, Any]:
    """The columnsconfig answer for a service, shaped as the live portal's (text, order, vot.* per column)."""
    config: dict[str, Any] = {"_selected_": {"text": "selected", "add": True, "type": "boolean", "hidden": True}}
    for order, f in enumerate((service or {}).get("fields", [])):
        name, kind = f["name"], f["type"]
        entry: dict[str, Any] = {"text": name.replace("_", " ").title(), "order": order,
                                 "vot.datatype": _VOT_TYPES.get(kind, "char"), "vot.ID": name, "vot.name": name,
                                 "vot.description": name}
        entry.update(_VOT_OVERRIDES.get(name, {}))
        if entry["vot.datatype"] == "char":
            entry["vot.arraysize"] = "*"
        config[name] = entry
    return config


def load_catalog(path: str | Path) -> dict[str, Any]:
    """Read a catalogue JSON file (same layout as build_catalog's), with a clear error if it is not one."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"catalogue {path} cannot be read as JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("services"), dict):
        raise ValueError(f"catalogue {path} must be an object with a 'services' mapping")
    for name, svc in data["services"].items():
        if not isinstance(svc, dict) or not isinstance(svc.get("rows"), list) or not isinstance(svc.get("fields"), list):
            raise ValueError(f"catalogue {path}: service {name} needs 'fields' and 'rows' lists")
    return data
