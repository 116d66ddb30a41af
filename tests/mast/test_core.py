"""Pure query building and parsing of core/mast.py (no server)."""

from __future__ import annotations

import pytest

from jwql_dagster.mast.client import (
    MastResponseError, RetryPolicy, characteristics_query, inventory_query, keywords_query, observation_characteristics,
    parse_answers, parse_count, program_number, request_kind, scrub,
)


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
            {"paramName": "calib_level", "values": [2, 3]},
        ],
        "removenullcolumns": False,
    }


def test_keyword_and_characteristics_queries():
    q = keywords_query("fgs", caom=True)
    assert (q.pagesize, q.page, q.params["columns"]) == (1, 1, "*")
    assert q.params["filters"][-1] == {"paramName": "proposal_id", "values": ["01440"]}
    c = characteristics_query("miri", "jw01068")
    assert c.service == "Mast.Jwst.Filtered.Miri" and c.params["columns"] == "filter,observtn"
    assert c.params["filters"] == [{"paramName": "program", "values": ["01068"]}]
    with pytest.raises(ValueError, match="FGS|fgs"):
        characteristics_query("fgs", "01068")


def test_program_numbers():
    assert program_number("jw01068") == program_number("1068") == program_number(1068) == "01068"
    with pytest.raises(ValueError, match="not a JWST program"):
        program_number("jwabc")


def test_each_combination_counts_once_per_observation_of_each_program():
    rows = [
        {"program": "01", "observtn": 1, "filter": "F200W", "pupil": "CLEAR"},
        {"program": "01", "observtn": 1, "filter": "F200W", "pupil": "CLEAR"},  # second file, same obs
        {"program": "01", "observtn": 2, "filter": "F200W", "pupil": "CLEAR"},
        {"program": "02", "observtn": 1, "filter": "f200w", "pupil": "clear"},  # same obs number, other program
        {"program": "02", "observtn": 1, "filter": "F444W", "pupil": None},
    ]
    assert observation_characteristics(rows, "nircam") == [("F200W/CLEAR", 3), ("F444W/N/A", 1)]
    assert observation_characteristics(rows, "miri") == [("F200W", 3), ("F444W", 1)]


def test_answer_parsing_errors_are_clear():
    page = {"status": "COMPLETE", "fields": [{"name": "a", "type": "int"}], "data": [{"a": 1}], "paging": {"page": 1}}
    merged = parse_answers([page, dict(page, data=[{"a": 2}])], "q")
    assert merged["data"] == [{"a": 1}, {"a": 2}]
    with pytest.raises(MastResponseError, match="error for q: boom"):
        parse_answers([{"status": "ERROR", "msg": "boom"}], "q")
    with pytest.raises(MastResponseError, match="lacks the 'fields'/'data'"):
        parse_answers([{"status": "COMPLETE"}], "q")
    with pytest.raises(MastResponseError, match="no Column1 count"):
        parse_count(merged, "q")


def test_retry_delays_grow_and_are_capped():
    p = RetryPolicy(backoff_s=1.0, backoff_max_s=4.0)
    assert 0.8 <= p.delay(1) <= 1.2 and 1.6 <= p.delay(2) <= 2.4 and 3.2 <= p.delay(5) <= 4.8
    assert p.retryable_status(503) and not p.retryable_status(404)


def test_request_kinds_and_scrub():
    assert request_kind("http://h/api/v0/invoke") == "invoke"
    assert request_kind("http://h/portal/Mashup/Mashup.asmx/columnsconfig") == "columnsconfig"
    assert request_kind("http://h/whoami") == "login"
    assert scrub("token abc123 in text", ["abc123", None]) == "token *** in text"
