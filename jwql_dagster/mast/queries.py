"""The portal requests of jwql's monitor_mast and get_observation_characteristics, as data.

Pure code: which service, which columns, which filters. Program ids are sent in every form
the services hold (live CAOM has JWST ``proposal_id`` unpadded, ``'1440'``; jwql's padded
``'01440'`` alone silently matches nothing there), as one OR filter so it costs no request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from jwql_dagster.archive.layout import INSTRUMENTS
from jwql_dagster.mast.errors import UnknownInstrumentError

DATAPRODUCTS: tuple[str, ...] = ("image", "spectrum", "cube")
JWST_DATAPRODUCT = "all"  # the JWST service has no dataproduct column: one count per instrument
SERVICES: tuple[str, ...] = ("jwst", "caom")
CAOM_SERVICE = "Mast.Caom.Filtered"
KEYWORD_PROGRAM = "01440"  # jwql reads the keyword list from one row of this program
# CAOM rows counted: every calibration level that describes data (1 raw-ish, 2 calibrated, 3 combined);
# -1 rows are planned observations with no data yet (jwql counts them; docs/mast.md says why we do not).
CAOM_CALIB_LEVELS: tuple[int, ...] = (1, 2, 3)
# Columns jwql asks for per program in get_observation_characteristics; FGS is skipped.
CHARACTERISTICS_COLUMNS: dict[str, str] = {
    "nircam": "filter,pupil,observtn",
    "niriss": "filter,pupil,observtn",
    "nirspec": "filter,grating,observtn",
    "miri": "filter,observtn",
}
NOT_APPLICABLE = "not applicable"


def check_instrument(instrument: str) -> str:
    """The lower-case instrument name, or UnknownInstrumentError naming the valid ones."""
    name = str(instrument).strip().lower()
    if name not in INSTRUMENTS:
        raise UnknownInstrumentError(f"unknown JWST instrument {instrument!r}; expected one of {', '.join(INSTRUMENTS)}")
    return name


def jwst_service(instrument: str) -> str:
    """jwql's JWST service name: ``Mast.Jwst.Filtered.Nircam`` etc."""
    return f"Mast.Jwst.Filtered.{check_instrument(instrument).title()}"


def service_name(instrument: str, caom: bool) -> str:
    return CAOM_SERVICE if caom else jwst_service(instrument)


def program_number(program: str | int) -> str:
    """``jw01068``, ``1068`` or ``01068`` -> ``01068`` (the padded form of our program keys)."""
    text = str(program).strip().lower()
    if text.startswith("jw"):
        text = text[2:]
    if not text.isdigit():
        raise ValueError(f"not a JWST program number: {program!r}")
    return text.zfill(5)


def program_forms(program: str | int) -> list[str]:
    """Every form a MAST service may hold a program in: padded (``01440``) and unpadded (``1440``)."""
    padded = program_number(program)
    return list(dict.fromkeys([padded, padded.lstrip("0") or "0"]))


def filters_from_mapping(add_filters: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """jwql's add_filters: ``{name: value}`` -> ``[{"paramName": name, "values": [value]}]`` (lists kept as lists)."""
    out: list[dict[str, Any]] = []
    for key, value in (add_filters or {}).items():
        values = list(value) if isinstance(value, (list, tuple, set)) else [value]
        out.append({"paramName": key, "values": values})
    return out


def caom_instrument_filter(instrument: str) -> dict[str, Any]:
    """CAOM ``instrument_name`` values carry the mode (``NIRCAM/IMAGE``): match the bare name or any mode."""
    name = check_instrument(instrument).upper()
    return {"paramName": "instrument_name", "values": [name], "freeText": f"{name}/%"}


@dataclass(frozen=True)
class Query:
    """One portal request: service, params, optional paging (page None = every page) and top-level request properties."""

    service: str
    params: dict[str, Any]
    pagesize: int | None = None
    page: int | None = None
    # astroquery sends its keyword arguments as properties of the request itself, next to
    # service/params/pagesize (MAST reads removenullcolumns there, not inside params)
    properties: dict[str, Any] | None = None


def inventory_query(
    instrument: str,
    caom: bool = False,
    dataproducts: Sequence[str] | None = None,
    add_filters: Mapping[str, Any] | None = None,
    add_requests: Mapping[str, Any] | None = None,
    return_data: bool = False,
) -> Query:
    """jwql's instrument_inventory query: COUNT_BIG(*) (or every column with ``return_data``).

    CAOM filters on obs_collection, instrument, dataproduct type and the calibration levels that
    hold data; the JWST service has no dataproduct column, so it is counted once per instrument.
    ``add_requests`` may hold request properties (``removenullcolumns``, default True) and the
    paging keys ``pagesize``/``page``.
    """
    instrument = check_instrument(instrument)
    if caom:
        products = list(dataproducts or DATAPRODUCTS)
        filters = [
            {"paramName": "obs_collection", "values": ["JWST"]},
            caom_instrument_filter(instrument),
            {"paramName": "dataproduct_type", "values": products},
            {"paramName": "calib_level", "values": list(CAOM_CALIB_LEVELS)},
        ]
    else:
        filters = []
    extra_filters = filters_from_mapping(add_filters)
    names = {f["paramName"] for f in extra_filters}
    filters = [f for f in filters if f["paramName"] not in names] + extra_filters
    params: dict[str, Any] = {"columns": "*" if return_data else "COUNT_BIG(*)", "filters": filters}
    properties: dict[str, Any] = {"removenullcolumns": True}
    extra = dict(add_requests or {})
    pagesize = extra.pop("pagesize", None)
    page = extra.pop("page", None)
    properties.update(extra)
    return Query(service_name(instrument, caom), params, pagesize, page, properties)


def keywords_query(instrument: str, caom: bool = False, program: str = KEYWORD_PROGRAM) -> Query:
    """jwql's instrument_keywords query: one row (pagesize 1, page 1) of one program, every column.

    The program is matched in all its forms (one OR filter).
    """
    key = "proposal_id" if caom else "program"
    return inventory_query(
        instrument, caom=caom, add_filters={key: program_forms(program)},
        add_requests={"pagesize": 1, "page": 1}, return_data=True,
    )


def characteristics_query(instrument: str, program: str) -> Query:
    """get_observation_characteristics: the filter/pupil (or grating) and observation of every file of a program."""
    instrument = check_instrument(instrument)
    if instrument not in CHARACTERISTICS_COLUMNS:
        raise UnknownInstrumentError(f"{instrument} has no observation characteristics (jwql skips it)")
    return Query(
        jwst_service(instrument),
        {"columns": CHARACTERISTICS_COLUMNS[instrument],
         "filters": filters_from_mapping({"program": program_forms(program)})},
    )
