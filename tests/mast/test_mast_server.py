"""The local MAST server (demo/mast_server, mast_catalog, mast_query): its wire protocol, and its answers
compared with recorded answers of the live service."""

from __future__ import annotations

import json
import time

import requests

from jwql_dagster.demo.mast_catalog import COUNTED_CALIB_LEVELS, build_catalog, catalog_truth, columns_config
from jwql_dagster.demo.mast_server import Latency, start_server

from .conftest import TOKEN, recorded


def _invoke(url: str, request: dict) -> dict:
    r = requests.post(f"{url}/api/v0/invoke", data={"request": json.dumps(request)}, timeout=5)
    r.raise_for_status()
    return r.json()


def test_wire_protocol_shapes(server, catalog):
    count = _invoke(server.url, {"service": "Mast.Jwst.Filtered.Fgs", "params": {"columns": "COUNT_BIG(*)", "filters": []}})
    assert count["status"] == "COMPLETE" and count["fields"] == [{"name": "Column1", "type": "string"}]  # as live
    assert count["data"] == [{"Column1": len(catalog["services"]["Mast.Jwst.Filtered.Fgs"]["rows"])}]
    page = _invoke(server.url, {"service": "Mast.Caom.Filtered", "pagesize": 5, "page": 2,
                                "params": {"columns": "obsid,dataproduct_type", "filters": [
                                    {"paramName": "obs_collection", "values": ["JWST"]}]}})
    n_jwst = sum(r["obs_collection"] == "JWST" for r in catalog["services"]["Mast.Caom.Filtered"]["rows"])
    assert page["paging"]["page"] == 2 and page["paging"]["pagesFiltered"] == -(-n_jwst // 5)
    assert page["paging"]["rowsFiltered"] == n_jwst and len(page["data"]) == 5
    assert [f["name"] for f in page["fields"]] == ["obsid", "dataproduct_type"]
    wild = _invoke(server.url, {"service": "Mast.Caom.Filtered", "params": {"columns": "instrument_name", "filters": [
        {"paramName": "instrument_name", "values": [], "freeText": "MIRI/%"}]}})
    assert wild["data"] and {d["instrument_name"].split("/")[0] for d in wild["data"]} == {"MIRI"}
    bad = _invoke(server.url, {"service": "Mast.Nope", "params": {}})
    assert bad["status"] == "ERROR" and "unknown service" in bad["msg"]
    cfg = requests.post(f"{server.url}/portal/Mashup/Mashup.asmx/columnsconfig", data={"colConfigId": "Mast.Caom.Filtered"}, timeout=5)
    assert "dataproduct_type" in cfg.json()
    assert requests.get(f"{server.url}/whoami", cookies={"mast_token": TOKEN}, timeout=5).json()["anon"] is False
    assert requests.get(f"{server.url}/whoami", cookies={"mast_token": "nope"}, timeout=5).json() == {"anon": True}
    assert requests.get(f"{server.url}/whoami", timeout=5).json() == {"anon": True}
    assert server.counts["/api/v0/invoke"] == 4 and server.counts["/whoami"] == 3


def test_default_catalogue_lists_the_demo_archive_files():
    from jwql_dagster.demo.synthetic import program_plan
    from jwql_dagster.demo.mast_catalog import build_catalog

    catalog = build_catalog()
    files = {r["filename"] for svc, v in catalog["services"].items() if svc.startswith("Mast.Jwst") for r in v["rows"]}
    plan = program_plan(4, 1)
    for program in plan["programs"]:
        for obs in program["observations"]:
            for exp in obs["exposures"]:
                for det in exp["detectors"]:
                    assert any(f.startswith(f"jw{program['program_id']}{obs['observation']}") and det["detector"] in f for f in files)
    assert build_catalog() == catalog  # deterministic




# ------------------------------------------------------------------ answers as the live service gives them

def test_caom_has_the_live_column_set_and_jwst_program_ids_unpadded(catalog):
    live = recorded("advSearch")["fields"]
    caom = catalog["services"]["Mast.Caom.Filtered"]
    assert caom["fields"] == live  # names, types and order of the live answer
    jwst = [r for r in caom["rows"] if r["obs_collection"] == "JWST"]
    assert jwst and all(r["proposal_id"] == r["proposal_id"].lstrip("0") for r in jwst)
    assert {r["proposal_id"] for r in jwst} >= {"1440"}
    for inst in ("nircam", "miri"):
        programs = {r["program"] for r in catalog["services"][f"Mast.Jwst.Filtered.{inst.title()}"]["rows"]}
        assert "1440" in programs and not any(p.startswith("0") for p in programs)


def test_caom_rows_per_combination_and_calibration_level(catalog):
    rows = [r for r in catalog["services"]["Mast.Caom.Filtered"]["rows"] if r["obs_collection"] == "JWST"]
    assert {r["calib_level"] for r in rows} == {-1, 1, 2, 3}
    nircam = {r["filters"] for r in rows if r["instrument_name"].startswith("NIRCAM/")}
    assert any(";" in f for f in nircam) and not any("," in f for f in nircam)  # F150W;CLEAR, one per row
    planned = [r for r in rows if r["calib_level"] == -1]
    assert planned and all(r["t_obs_release"] is None and r["dataURL"] is None for r in planned)
    assert COUNTED_CALIB_LEVELS == (1, 2, 3)


def test_count_answer_has_the_live_shape(server):
    live = recorded("countsResp")
    ours = _invoke(server.url, {"service": "Mast.Jwst.Filtered.Fgs", "params": {"columns": "COUNT_BIG(*)", "filters": []}})
    assert ours["fields"] == live["fields"]
    assert set(ours) == set(live) and set(ours["paging"]) == set(live["paging"])
    assert ours["paging"]["rowsTotal"] == live["paging"]["rowsTotal"] == 1


def test_columns_config_is_shaped_like_the_live_one(server):
    live = recorded("columnsconfig")
    ours = requests.post(f"{server.url}/portal/Mashup/Mashup.asmx/columnsconfig",
                         data={"colConfigId": "Mast.Caom.Filtered"}, timeout=5).json()
    assert ours["_selected_"] == live["_selected_"]
    shared = set(ours) & set(live)
    live_keys = {k for entry in live.values() for k in entry}
    assert {"obs_collection", "instrument_name", "proposal_id", "calib_level", "t_obs_release", "s_ra"} <= shared
    for name in shared - {"_selected_"}:
        assert ours[name]["vot.datatype"] == live[name]["vot.datatype"], name
        assert ours[name]["vot.ID"] == live[name].get("vot.ID", name) == name
        assert ("vot.arraysize" in ours[name]) == ("vot.arraysize" in live[name]), name
        assert set(ours[name]) <= live_keys, name  # only attributes the live portal uses
        assert ours[name]["vot.name"] == live[name].get("vot.name", name)
    assert columns_config(None) == {"_selected_": live["_selected_"]}


def test_removenullcolumns_is_read_as_a_request_property(server):
    query = {"service": "Mast.Caom.Filtered", "pagesize": 1, "page": 1,
             "params": {"columns": "*", "filters": [{"paramName": "calib_level", "values": [-1]}]}}
    every = _invoke(server.url, query)
    assert {"t_obs_release", "dataURL"} <= {f["name"] for f in every["fields"]}  # null in a planned row
    inside = _invoke(server.url, dict(query, params=dict(query["params"], removenullcolumns=True)))
    assert inside["fields"] == every["fields"]  # inside params it means nothing, as for live MAST
    top = _invoke(server.url, dict(query, removenullcolumns=True))
    assert not {"t_obs_release", "dataURL"} & {f["name"] for f in top["fields"]}


def test_latency_per_service_and_instrument(catalog):
    latency = Latency(services={"Mast.Caom.Filtered nircam": 0.6})
    with start_server(catalog=catalog, latency_s=latency) as srv:
        caom = {"service": "Mast.Caom.Filtered", "params": {"columns": "COUNT_BIG(*)", "filters": [
            {"paramName": "instrument_name", "values": ["NIRCAM"], "freeText": "NIRCAM/%"}]}}
        for request, slow in ((caom, True), (dict(caom, params={"columns": "COUNT_BIG(*)", "filters": [
                {"paramName": "instrument_name", "values": ["MIRI"], "freeText": "MIRI/%"}]}), False),
                ({"service": "Mast.Jwst.Filtered.Nircam", "params": {"columns": "COUNT_BIG(*)"}}, False)):
            start = time.monotonic()
            _invoke(srv.url, request)
            assert (time.monotonic() - start >= 0.6) is slow, request


def test_catalogue_counts_only_data_not_planned_observations():
    catalog = build_catalog()
    truth = catalog_truth(catalog)
    rows = catalog["services"]["Mast.Caom.Filtered"]["rows"]
    planned = sum(1 for r in rows if r["calib_level"] == -1 and r["instrument_name"].startswith("NIRCAM/")
                  and r["dataproduct_type"] == "image")
    every = sum(1 for r in rows if r["obs_collection"] == "JWST" and r["instrument_name"].startswith("NIRCAM/")
                and r["dataproduct_type"] == "image")
    assert planned > 0 and truth[("nircam", "caom", "image")] == every - planned
