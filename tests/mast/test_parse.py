"""Answer parsing (mast/parse.py), on our own shapes and on recorded answers of the live service."""

from __future__ import annotations

import pytest

from jwql_dagster.mast.errors import MastResponseError
from jwql_dagster.mast.parse import observation_characteristics, parse_answers, parse_count, parse_keywords

from .conftest import recorded


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


# ------------------------------------------------------------------ recorded answers of the live service

def test_recorded_count_answer_is_read_although_column1_is_typed_string():
    answer = recorded("countsResp")
    assert answer["fields"] == [{"name": "Column1", "type": "string"}]
    assert parse_count(parse_answers([answer], "count"), "count") == 599
    as_text = dict(answer, data=[{"Column1": "599"}])  # the type says string: a string value is read too
    assert parse_count(parse_answers([as_text], "count"), "count") == 599


def test_recorded_caom_answers_parse_into_every_row_and_keyword():
    for name, rows in (("caom", 19), ("advSearch", 3)):
        answer = recorded(name)
        merged = parse_answers([answer], name)
        assert len(merged["data"]) == rows == answer["paging"]["rowsFiltered"]
        assert merged["paging"] == answer["paging"]
        assert parse_keywords(merged) == [(f["name"], f["type"]) for f in answer["fields"]]
    live = dict(parse_keywords(parse_answers([recorded("advSearch")], "advSearch")))
    assert {"t_obs_release", "proposal_pi", "s_ra", "s_dec", "t_min", "t_max", "proposal_id"} <= set(live)
    assert live["proposal_id"] == "string" and live["calib_level"] == "int"


def test_recorded_rows_split_into_pages_merge_back_in_order():
    answer = recorded("caom")
    rows = answer["data"]
    pages = [dict(answer, data=rows[i:i + 5], paging=dict(answer["paging"], page=1 + i // 5)) for i in range(0, len(rows), 5)]
    merged = parse_answers(pages, "caom")
    assert merged["data"] == rows and merged["paging"]["page"] == 4


def test_executing_answer_is_not_taken_for_a_result():
    executing = {"status": "EXECUTING", "msg": "", "fields": [], "data": []}
    with pytest.raises(MastResponseError, match="status 'EXECUTING', expected COMPLETE"):
        parse_answers([executing], "q")


def test_padded_and_unpadded_rows_of_a_program_are_one_program():
    rows = [
        {"program": "1440", "observtn": 1, "filter": "F200W", "pupil": "CLEAR"},
        {"program": "01440", "observtn": 1, "filter": "F200W", "pupil": "CLEAR"},
        {"program": "jw01440", "observtn": 2, "filter": "F200W", "pupil": "CLEAR"},
    ]
    assert observation_characteristics(rows, "nircam") == [("F200W/CLEAR", 2)]
