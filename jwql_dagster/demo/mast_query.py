"""The local MAST server's query engine: one invoke request answered over a catalogue, as the portal does.

Filters: values match case-insensitively (OR-ed within a filter), ``freeText`` is a SQL ``LIKE``
pattern, ``{"min", "max"}`` ranges for numbers; filters are AND-ed. ``COUNT_BIG(*)`` answers
``Column1`` typed ``string`` (as live MAST does); ``removenullcolumns`` is read where astroquery
puts it, as a property of the request itself (not of ``params``); paging as the portal's.
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping

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
        return _answer([{"name": "Column1", "type": "string"}], [{"Column1": len(rows)}], 1, 1, 1, 1)
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
    if request.get("removenullcolumns") and chunk:
        fields = [f for f in fields if any(r.get(f["name"]) is not None for r in chunk)]
    data = [{f["name"]: r.get(f["name"]) for f in fields} for r in chunk]
    return _answer(fields, data, page, pagesize, pages, len(rows), len(svc["rows"]))


def _answer(fields, data, page, pagesize, pages, rows_filtered, rows_total=None) -> dict[str, Any]:
    return {
        "status": "COMPLETE", "msg": "", "fields": fields, "data": data,
        "paging": {"page": page, "pageSize": pagesize, "pagesFiltered": pages, "rows": len(data),
                   "rowsFiltered": rows_filtered, "rowsTotal": rows_filtered if rows_total is None else rows_total},
    }
