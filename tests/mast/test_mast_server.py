"""The local server's wire protocol as MAST clients see it, the fake-mast command and the doctor check."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import requests

from jwql_dagster.demo.mast_catalog import catalog_truth
from jwql_dagster.demo.mast_server import start_server
from jwql_dagster.mast.client import MastClient

from .conftest import FAST, TOKEN

CLI = os.path.join(os.path.dirname(sys.executable), "jwql-dagster")


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


def test_fake_mast_command_serves_until_interrupted(tmp_path):
    cat = tmp_path / "catalog.json"
    proc = subprocess.Popen(
        [CLI, "fake-mast", "--port", "0", "--token", TOKEN, "--write-catalog", str(cat)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        client = MastClient(url, token=TOKEN, policy=FAST)
        catalog = json.loads(cat.read_text())
        assert client.count("nirspec") == catalog_truth(catalog)[("nirspec", "jwst", "all")]
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert TOKEN not in out + err
    # the written catalogue can be served again
    with start_server(catalog=cat) as srv:
        assert MastClient(srv.url, policy=FAST).count("nirspec") == catalog_truth(catalog)[("nirspec", "jwst", "all")]


def test_fake_mast_rejects_a_bad_catalogue(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    res = subprocess.run([CLI, "fake-mast", "--catalog", str(bad)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "cannot be read as JSON" in res.stderr


def test_doctor_check_reports_reachability_and_refused_token(jwql_env, server, monkeypatch):
    from jwql_dagster.config import load_settings
    from jwql_dagster.mast.resources import check_mast

    monkeypatch.setenv("MAST_API_URL", server.url)
    monkeypatch.setenv("MAST_API_TOKEN", TOKEN)
    ok, msg = check_mast(load_settings())
    assert ok and "reachable (token accepted)" in msg
    monkeypatch.setenv("MAST_API_TOKEN", "a-wrong-token-42")
    ok, msg = check_mast(load_settings())
    assert not ok and "refused the API token" in msg and "a-wrong-token-42" not in msg
    server.stop()
    ok, msg = check_mast(load_settings())
    assert not ok and f"MAST at {server.url}" in msg and "refused the connection" in msg
