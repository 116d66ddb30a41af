"""A local server speaking MAST's portal protocol, for tests and the demo (no internet needed).

It answers what astroquery's ``MastClass`` sends: ``POST /portal/Mashup/Mashup.asmx/columnsconfig``,
``POST /api/v0/invoke`` (form field ``request`` = JSON with service, params, pagesize, page) and
``GET /whoami`` (token login through the ``mast_token`` cookie). Filters, ``COUNT_BIG(*)``,
column selection, ``removenullcolumns`` and paging behave like MAST's, over a catalogue
of rows per service. Failures can be injected (HTTP 500, slow answers, dropped connections, answers cut off mid-body,
malformed JSON, EXECUTING before COMPLETE) so clients can be tested against them.
"""

from __future__ import annotations

import json
import math
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterable, Mapping
from urllib.parse import parse_qs, urlsplit

INVOKE_PATH = "/api/v0/invoke"
COLUMNS_CONFIG_PATH = "/portal/Mashup/Mashup.asmx/columnsconfig"
WHOAMI_PATH = "/whoami"
CAOM_SERVICE = "Mast.Caom.Filtered"
INSTRUMENTS = ("fgs", "miri", "nircam", "niriss", "nirspec")
PATH_KINDS = {INVOKE_PATH: "invoke", COLUMNS_CONFIG_PATH: "columnsconfig", WHOAMI_PATH: "login"}

# ------------------------------------------------------------------ catalogue

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
CAOM_FIELDS: list[tuple[str, str]] = [
    ("obsid", "int"), ("obs_collection", "string"), ("dataproduct_type", "string"), ("instrument_name", "string"),
    ("proposal_id", "string"), ("obs_id", "string"), ("target_name", "string"), ("filters", "string"),
    ("calib_level", "int"), ("t_exptime", "float"), ("intentType", "string"), ("dataRights", "string"),
]

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


class _CatalogBuilder:
    """Accumulates JWST file rows (per instrument) and CAOM observation rows with stable ids."""

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
            "program": program, "observtn": obs, "visit": 1, "exp_type": exp_type, "detector": detector.upper(),
            "filter": filt, "subarray": "FULL", "date_obs": date, "targname": target, "nints": nints,
            "ngroups": ngroups, "effexptm": 10.7 * nints * ngroups, "category": "GO", "pi_name": "Synthetic, P.",
        })
        if inst in ("nircam", "niriss"):
            row["pupil"] = second
        elif inst == "nirspec":
            row["grating"] = second
        elif inst == "miri" and exp_type == "MIR_MRS":
            row["band"] = filt
        self.jwst[inst].append(row)

    def observation(self, inst: str, program: str, obs: int, exp_type: str, filters: str, target: str,
                    mode: tuple[str, str] | None = None) -> None:
        suffix, dptype = mode or _CAOM_MODE.get(exp_type, (exp_type.split("_", 1)[-1], "image"))
        self._obsid += 1
        self.caom.append({
            "obsid": self._obsid, "obs_collection": "JWST", "dataproduct_type": dptype,
            "instrument_name": f"{inst.upper()}/{suffix}", "proposal_id": program,
            "obs_id": f"jw{program}-o{obs:03d}_t001_{inst}_{filters.lower().replace(';', '-')}",
            "target_name": target, "filters": filters, "calib_level": 3, "t_exptime": 250.0,
            "intentType": "science", "dataRights": "PUBLIC"})


def _archive_program_rows(b: _CatalogBuilder, spec: Mapping[str, Any]) -> None:
    """Every file of an archive program's plan, and one CAOM row per observation and exposure type."""
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
            b.observation(inst, number, n, exp_type, ",".join(sorted(c for c in combos if c != "None")) or "N/A", target)


def _generated_program_rows(b: _CatalogBuilder, spec: Mapping[str, Any], rng: random.Random) -> None:
    """A few observations per instrument of a program beyond the archive, files and CAOM rows."""
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
                              mode=(suffix, dptype))
        if inst in ("nircam", "niriss") and rng.random() < 0.5:  # time series: not an inventory dataproduct
            obs += 1
            b.observation(inst, number, obs, "TSO", "CLEAR", target, mode=("TSO", "timeseries"))


def build_catalog(programs: Iterable[Mapping[str, Any]] | None = None, seed: int = 1) -> dict[str, Any]:
    """A deterministic catalogue ``{"services": {name: {"fields": [...], "rows": [...]}}}``.

    Archive programs list exactly the archive's files; other programs get a few generated
    observations. CAOM has one row per observation and mode, plus JWST time series and HST
    rows that the inventory's filters must leave out.
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
    for k in range(8):  # other missions share the CAOM service
        b.caom.append({"obsid": 80000000 + k, "obs_collection": "HST", "dataproduct_type": ("image", "spectrum")[k % 2],
                       "instrument_name": ("WFC3/UVIS", "STIS/CCD", "NICMOS/NIC3", "ACS/WFC")[k % 4],
                       "proposal_id": f"{15000 + k}", "obs_id": f"hst_{k}", "target_name": "HST-TARGET",
                       "filters": "F606W", "calib_level": 3, "t_exptime": 500.0, "intentType": "science",
                       "dataRights": "PUBLIC"})
    services: dict[str, Any] = {}
    for inst in INSTRUMENTS:
        services[f"Mast.Jwst.Filtered.{inst.title()}"] = {
            "fields": [{"name": n, "type": t} for n, t in JWST_FIELDS[inst]], "rows": b.jwst[inst]}
    services[CAOM_SERVICE] = {"fields": [{"name": n, "type": t} for n, t in CAOM_FIELDS], "rows": b.caom}
    return {"services": services}


def catalog_truth(catalog: Mapping[str, Any]) -> dict[tuple[str, str, str], int]:
    """True counts straight from the rows: (instrument, "jwst", "all") and (instrument, "caom", dataproduct)."""
    services = catalog["services"]
    truth: dict[tuple[str, str, str], int] = {}
    for inst in INSTRUMENTS:
        truth[(inst, "jwst", "all")] = len(services[f"Mast.Jwst.Filtered.{inst.title()}"]["rows"])
        for dp in ("image", "spectrum", "cube"):
            truth[(inst, "caom", dp)] = sum(
                1 for r in services[CAOM_SERVICE]["rows"]
                if r["obs_collection"] == "JWST" and r["dataproduct_type"] == dp
                and r["instrument_name"].split("/")[0].lower() == inst)
    return truth


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


# ------------------------------------------------------------------ query engine

class QueryError(ValueError):
    """A request the portal would reject (unknown service or column): answered with status ERROR."""


def _like(pattern: str, value: str) -> bool:
    regex = "^" + "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern) + "$"
    return re.match(regex, value, flags=re.IGNORECASE | re.DOTALL) is not None


def _matches(row: Mapping[str, Any], flt: Mapping[str, Any]) -> bool:
    name = flt.get("paramName")
    if name not in row:
        raise QueryError(f"unknown filter column {name!r}")
    value = row[name]
    values = flt.get("values") or []
    free = flt.get("freeText")
    if value is None:
        return False
    for v in values:
        if isinstance(v, Mapping) and ("min" in v or "max" in v):
            try:
                num = float(value)
            except (TypeError, ValueError):
                continue
            if (v.get("min") is None or num >= float(v["min"])) and (v.get("max") is None or num <= float(v["max"])):
                return True
        elif str(v).lower() == str(value).lower():
            return True
    return bool(free) and _like(str(free), str(value))


def run_query(catalog: Mapping[str, Any], request: Mapping[str, Any]) -> dict[str, Any]:
    """Answer one invoke request with MAST's JSON shape (status, msg, fields, data, paging)."""
    service = request.get("service")
    services = catalog.get("services", {})
    if service not in services:
        raise QueryError(f"unknown service {service!r}")
    svc = services[service]
    params = request.get("params") or {}
    filters = params.get("filters") or []
    if not isinstance(filters, list):
        raise QueryError("params.filters must be a list")
    rows = [r for r in svc["rows"] if all(_matches(r, f) for f in filters)]
    columns = str(params.get("columns") or "*").strip()
    if columns.upper().replace(" ", "") == "COUNT_BIG(*)":
        return _answer([{"name": "Column1", "type": "int"}], [{"Column1": len(rows)}], 1, 1, 1, len(svc["rows"]))
    all_fields = svc["fields"]
    if columns == "*":
        fields = list(all_fields)
    else:
        by_name = {f["name"].lower(): f for f in all_fields}
        fields = []
        for col in (c.strip() for c in columns.split(",") if c.strip()):
            if col.lower() not in by_name:
                raise QueryError(f"unknown column {col!r} in service {service}")
            fields.append(by_name[col.lower()])
    pagesize = int(request.get("pagesize") or 50000)
    page = int(request.get("page") or 1)
    if pagesize < 1 or page < 1:
        raise QueryError("pagesize and page must be positive")
    pages = max(1, math.ceil(len(rows) / pagesize))
    chunk = rows[(page - 1) * pagesize: page * pagesize]
    if params.get("removenullcolumns") and chunk:
        fields = [f for f in fields if any(r.get(f["name"]) is not None for r in chunk)]
    data = [{f["name"]: r.get(f["name"]) for f in fields} for r in chunk]
    return _answer(fields, data, page, pagesize, pages, len(rows), len(svc["rows"]))


def _answer(fields, data, page, pagesize, pages, rows_filtered, rows_total=None) -> dict[str, Any]:
    return {
        "status": "COMPLETE", "msg": "", "fields": fields, "data": data,
        "paging": {"page": page, "pageSize": pagesize, "pagesFiltered": pages, "rows": len(data),
                   "rowsFiltered": rows_filtered, "rowsTotal": rows_filtered if rows_total is None else rows_total},
    }


# ------------------------------------------------------------------ failure injection

@dataclass
class Failures:
    """Faults for the next N requests of the given kinds (invoke by default); each counter decreases when used."""

    http_500: int = 0
    slow: int = 0
    slow_seconds: float = 2.0
    drop: int = 0
    truncated: int = 0
    malformed: int = 0
    executing: int = 0
    kinds: tuple[str, ...] = ("invoke",)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take(self, kind: str) -> str | None:
        """The fault to apply to this request, if any (500 first, then drop, truncated, slow, malformed, executing)."""
        if kind not in self.kinds:
            return None
        with self._lock:
            for name in ("http_500", "drop", "truncated", "slow", "malformed", "executing"):
                if getattr(self, name) > 0:
                    setattr(self, name, getattr(self, name) - 1)
                    return name
        return None


# ------------------------------------------------------------------ HTTP server

class _Handler(BaseHTTPRequestHandler):
    server: "_Server"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet; the counters tell what happened
        if self.server.verbose:
            super().log_message(format, *args)

    def _send_json(self, obj: Any, status: int = 200, raw: bytes | None = None) -> None:
        body = raw if raw is not None else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _fault(self, kind: str) -> str | None:
        if self.server.latency_s > 0 and kind == "invoke":
            time.sleep(self.server.latency_s)  # a network round trip plus MAST's own query time
        fault = self.server.failures.take(kind) if self.server.failures else None
        if fault:
            self.server.note_fault(fault)
        if fault == "http_500":
            self._send_json({"status": "ERROR", "msg": "injected server error"}, status=500)
        elif fault == "drop":
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass
        elif fault == "truncated":  # the connection dies mid-answer: headers promise more than arrives
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "4096")
            self.end_headers()
            self.wfile.write(b'{"status": "COMPLETE", "data": [')
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass
        elif fault == "slow":
            time.sleep(self.server.failures.slow_seconds)
            return None  # then answer normally (after the client gave up, usually)
        elif fault == "malformed":
            self._send_json(None, raw=b'{"status": "COMPLETE", "data": [ this is not json')
        elif fault == "executing":
            self._send_json({"status": "EXECUTING", "msg": "", "fields": [], "data": []})
        return fault

    def do_GET(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        self.server.count(path)
        if path != WHOAMI_PATH:
            self._send_json({"status": "ERROR", "msg": f"no such endpoint {path}"}, status=404)
            return
        if self._fault("login"):
            return
        cookie = SimpleCookie(self.headers.get("Cookie", ""))
        token = cookie["mast_token"].value if "mast_token" in cookie else None
        good = bool(token) and (self.server.token is None or token == self.server.token)
        if good:
            self._send_json({"anon": False, "attrib": {"display_name": "jwql test user", "ezid": "jwqltest"},
                             "status": "authenticated"})
        else:
            self._send_json({"anon": True})

    def do_POST(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        self.server.count(path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        kind = PATH_KINDS.get(path, "other")
        if path == COLUMNS_CONFIG_PATH:
            if self._fault(kind):
                return
            form = parse_qs(body)
            name = (form.get("colConfigId") or [""])[0]
            svc = self.server.catalog["services"].get(name)
            config = {f["name"]: {"text": f["name"], "type": f["type"], "vot.datatype": f["type"]}
                      for f in (svc or {}).get("fields", [])}
            self._send_json(config)
            return
        if path != INVOKE_PATH:
            self._send_json({"status": "ERROR", "msg": f"no such endpoint {path}"}, status=404)
            return
        if self._fault(kind):
            return
        try:
            form = parse_qs(body, keep_blank_values=True)
            request = json.loads(form["request"][0])
            if not isinstance(request, dict):
                raise QueryError("request must be a JSON object")
            self.server.note_request(request)
            answer = run_query(self.server.catalog, request)
        except (KeyError, json.JSONDecodeError):
            self._send_json({"status": "ERROR", "msg": "form field 'request' must hold a JSON request"}, status=400)
            return
        except (QueryError, ValueError, TypeError) as exc:
            answer = {"status": "ERROR", "msg": str(exc), "fields": [], "data": []}
        self._send_json(answer)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, addr, catalog, token, failures, verbose=False, latency_s=0.0):
        super().__init__(addr, _Handler)
        self.latency_s = latency_s
        self.catalog = catalog
        self.token = token
        self.failures = failures
        self.verbose = verbose
        self.counts: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout, injected drop) is expected here: no traceback for those."""
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)

    def count(self, path: str) -> None:
        with self._lock:
            self.counts[path] += 1

    def note_fault(self, fault: str) -> None:
        with self._lock:
            self.faults[fault] += 1

    def note_request(self, request: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(request)


class MastServer:
    """A running local MAST server: ``.url``, ``.stop()``, counters by path and kind, a context manager."""

    def __init__(self, httpd: _Server) -> None:
        self._httpd = httpd
        self._stopped = False
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="fake-mast", daemon=True)
        self._thread.start()
        host, port = httpd.server_address[:2]
        self.port = int(port)
        self.url = f"http://{host}:{self.port}"

    @property
    def catalog(self) -> dict[str, Any]:
        return self._httpd.catalog

    @property
    def failures(self) -> Failures | None:
        return self._httpd.failures

    @failures.setter
    def failures(self, value: Failures | None) -> None:
        self._httpd.failures = value

    @property
    def counts(self) -> dict[str, int]:
        """Requests received, by path (every attempt)."""
        with self._httpd._lock:
            return dict(self._httpd.counts)

    @property
    def counts_by_kind(self) -> dict[str, int]:
        out = {k: 0 for k in ("invoke", "columnsconfig", "login", "other")}
        for path, n in self.counts.items():
            out[PATH_KINDS.get(path, "other")] += n
        return out

    @property
    def faults(self) -> dict[str, int]:
        with self._httpd._lock:
            return dict(self._httpd.faults)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The decoded invoke requests received, in order."""
        with self._httpd._lock:
            return list(self._httpd.requests)

    def reset_counts(self) -> None:
        with self._httpd._lock:
            self._httpd.counts.clear()
            self._httpd.faults.clear()
            self._httpd.requests.clear()

    def stop(self) -> None:
        """Stop serving and close the socket (a second call does nothing)."""
        if self._stopped:
            return
        self._stopped = True
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "MastServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def start_server(
    port: int = 0,
    catalog: Mapping[str, Any] | str | Path | None = None,
    token: str | None = None,
    failures: Failures | Mapping[str, Any] | None = None,
    host: str = "127.0.0.1",
    verbose: bool = False,
    latency_s: float = 0.0,
) -> MastServer:
    """Start the server in a background thread on ``host:port`` (0 = any free port).

    ``catalog``: a catalogue dict, a JSON file path, or None for the default (the synthetic
    archive's programs plus more). ``token``: the only token /whoami accepts (None: any
    non-empty token). ``failures``: a Failures or its fields as a dict. ``latency_s``: a delay
    before every invoke answer, to imitate the real MAST's response time (benchmarks).
    """
    if catalog is None:
        catalog = build_catalog()
    elif isinstance(catalog, (str, Path)):
        catalog = load_catalog(catalog)
    if isinstance(failures, Mapping):
        failures = Failures(**failures)
    httpd = _Server((host, port), dict(catalog), token, failures, verbose, latency_s)
    return MastServer(httpd)
