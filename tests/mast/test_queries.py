"""Query building (mast/queries.py): the requests jwql's monitors make, program ids in every form."""

from __future__ import annotations

import pytest

from jwql_dagster.mast.queries import characteristics_query, inventory_query, keywords_query, program_forms, program_number


def test_caom_query_filters_as_jwql_plus_mode_pattern():
    q = inventory_query("niriss", caom=True, dataproducts=["cube"], add_filters={"calib_level": [2, 3]},
                        add_requests={"pagesize": 10, "removenullcolumns": False})
    assert q.service == "Mast.Caom.Filtered" and q.pagesize == 10 and q.page is None
    assert q.params == {
        "columns": "COUNT_BIG(*)",
        "filters": [
            {"paramName": "obs_collection", "values": ["JWST"]},
            {"paramName": "instrument_name", "values": ["NIRISS"], "freeText": "NIRISS/%"},
            {"paramName": "dataproduct_type", "values": ["cube"]},
            {"paramName": "calib_level", "values": [2, 3]},  # the caller's calib_level replaces ours
        ],
    }
    # astroquery sends keyword arguments as properties of the request, where MAST reads removenullcolumns
    assert q.properties == {"removenullcolumns": False}


def test_caom_counts_leave_out_planned_observations():
    q = inventory_query("nircam", caom=True, dataproducts=["image"])
    assert {"paramName": "calib_level", "values": [1, 2, 3]} in q.params["filters"]
    assert "removenullcolumns" not in q.params and q.properties == {"removenullcolumns": True}
    assert inventory_query("nircam").params["filters"] == []  # the JWST service: every file


def test_keyword_and_characteristics_queries():
    q = keywords_query("fgs", caom=True)
    assert (q.pagesize, q.page, q.params["columns"]) == (1, 1, "*")
    # live CAOM holds JWST proposal_id unpadded: both forms in one OR filter
    assert q.params["filters"][-1] == {"paramName": "proposal_id", "values": ["01440", "1440"]}
    assert keywords_query("nirspec").params["filters"] == [{"paramName": "program", "values": ["01440", "1440"]}]
    c = characteristics_query("miri", "jw01068")
    assert c.service == "Mast.Jwst.Filtered.Miri" and c.params["columns"] == "filter,observtn"
    assert c.params["filters"] == [{"paramName": "program", "values": ["01068", "1068"]}]
    with pytest.raises(ValueError, match="FGS|fgs"):
        characteristics_query("fgs", "01068")


def test_program_numbers():
    assert program_number("jw01068") == program_number("1068") == program_number(1068) == "01068"
    with pytest.raises(ValueError, match="not a JWST program"):
        program_number("jwabc")
    assert program_forms("jw01440") == program_forms("1440") == program_forms(1440) == ["01440", "1440"]
    assert program_forms("12345") == ["12345"]  # a five-digit number has one form
    with pytest.raises(ValueError, match="not a JWST program"):
        program_forms("jw")
