"""`jwql-dagster fake-mast` (cli/fake_mast.py): serves until interrupted, writes and reads catalogues, latency rules."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from jwql_dagster.cli.fake_mast import parse_latency
from jwql_dagster.demo.mast_catalog import catalog_truth
from jwql_dagster.demo.mast_server import start_server
from jwql_dagster.mast.client import MastClient

from .conftest import FAST, TOKEN

CLI = os.path.join(os.path.dirname(sys.executable), "jwql-dagster")


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


def test_latency_rules_from_the_command_line():
    latency = parse_latency(["0.5", "Mast.Caom.Filtered:nircam=45", "Mast.Jwst.Filtered.Miri=2"])
    assert latency.default == 0.5
    caom = {"service": "Mast.Caom.Filtered", "params": {"filters": [
        {"paramName": "instrument_name", "values": ["NIRCAM"], "freeText": "NIRCAM/%"}]}}
    assert latency.of(caom) == 45
    assert latency.of({"service": "Mast.Jwst.Filtered.Miri", "params": {}}) == 2
    assert latency.of({"service": "Mast.Jwst.Filtered.Fgs", "params": {}}) == 0.5
    with pytest.raises(ValueError, match="SECONDS"):
        parse_latency(["Mast.Caom.Filtered=slow"])
