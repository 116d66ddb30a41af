"""The mast asset group end to end: local MAST server -> astroquery -> database -> charts and metadata."""

from __future__ import annotations

import json
import logging
import stat
import time
from datetime import datetime, timezone

import dagster as dg
import pytest
import sqlalchemy as sa

from jwql_dagster.mast.assets import filesystem_characteristics, jwst_inventory, mast_inventory
from jwql_dagster.db.models import File, FilesystemCharacteristics, MastInventory, MastKeyword
from jwql_dagster.archive.layout import INSTRUMENTS
from jwql_dagster.archive.resources import ArchiveFilesystem
from jwql_dagster.mast.resources import MastService
from jwql_dagster.demo.mast_catalog import catalog_truth
from jwql_dagster.demo.mast_server import Failures, Latency
from tests.plugins.resources import make_resources

from .conftest import TOKEN


def _mast(server, token=TOKEN) -> MastService:
    return MastService(url=server.url, token=token, timeout_s=0.5, max_retries=2, backoff_s=0.02,
                       backoff_max_s=0.05, total_retry_seconds=2.0)


def _archive(settings) -> ArchiveFilesystem:
    return ArchiveFilesystem(
        filesystem=str(settings.filesystem), preview_root=str(settings.preview_root),
        thumbnail_root=str(settings.thumbnail_root), output_root=str(settings.output_root),
        working_root=str(settings.working_root), log_root=str(settings.log_root),
        central_store=str(settings.central_store), dagster_home=str(settings.dagster_home))


def _metadata_text(result: dg.ExecuteInProcessResult) -> str:
    mats = [e.event_specific_data.materialization for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"]
    return json.dumps([{k: str(v.value) for k, v in m.metadata.items()} for m in mats])


def test_inventory_assets_store_catalogue_truth_and_draw_every_instrument(
        sqlite_db, jwql_env, server, catalog, caplog, capsys):
    jwql_db = sqlite_db  # PostgreSQL writes of the same asset: test_rerun_of_a_snapshot_rewrites_the_same_rows
    caplog.set_level(logging.DEBUG)
    resources = {"mast": _mast(server), "db": jwql_db, "archive": _archive(jwql_env)}
    texts = []
    with dg.instance_for_test() as instance:
        for inst in INSTRUMENTS:
            res = dg.materialize([mast_inventory], partition_key=inst, resources=resources, instance=instance)
            assert res.success
            md = res.asset_materializations_for_node("mast_inventory")[0].metadata
            assert md["requests"].value["invoke"] == 6  # 1 JWST count + 3 CAOM counts + 2 keyword lists
            texts.append(_metadata_text(res))
        res = dg.materialize([jwst_inventory], resources=resources, instance=instance, selection=[jwst_inventory])
        assert res.success
        texts.append(_metadata_text(res))
        for run in instance.get_runs():  # the whole event log and run records of every run
            texts.append(str(run) + " ".join(str(e) for e in instance.all_logs(run.run_id)))
    truth = catalog_truth(catalog)
    with jwql_db.session(readonly=True) as s:
        stored = {(r.instrument, r.service, r.dataproduct): r.count for r in s.execute(sa.select(MastInventory)).scalars()}
        kw = s.execute(sa.select(MastKeyword.instrument, MastKeyword.service, MastKeyword.keyword)).all()
    assert stored == truth
    assert ("nirspec", "jwst", "grating") in kw and ("nircam", "jwst", "pupil") in kw and ("fgs", "caom", "obsid") in kw

    md = res.asset_materializations_for_node("jwst_inventory")[0].metadata
    assert md["missing_instruments"].value == []
    out = jwql_env.output_root / "monitor_mast"
    for service in ("jwst", "caom"):
        for ext in ("html", "png", "csv"):
            path = out / f"database_monitor_{service}.{ext}"
            assert path.is_file() and stat.S_IMODE(path.stat().st_mode) == 0o644
        csv = (out / f"database_monitor_{service}.csv").read_text().splitlines()
        assert [line.split(",")[0] for line in csv[1:]] == list(INSTRUMENTS)
        html = (out / f"database_monitor_{service}.html").read_text()
        assert all(f'"{i}"' in html for i in INSTRUMENTS)
        assert md[f"{service}_chart"].value.startswith("![")
    caom_csv = (out / "database_monitor_caom.csv").read_text().splitlines()
    assert caom_csv[0] == "instrument,image,spectrum,cube,total"
    nircam = dict(zip(caom_csv[0].split(","), next(l for l in caom_csv if l.startswith("nircam")).split(",")))
    assert int(nircam["spectrum"]) == truth[("nircam", "caom", "spectrum")]
    assert md["jwst_total_files"].value == sum(n for (i, s, d), n in truth.items() if s == "jwst")
    comparison = (out / "keyword_comparison_jwst.csv").read_text()
    assert comparison.startswith("keyword,fgs,miri,nircam,niriss,nirspec,instruments")

    # the token never reaches a log line, stdout/stderr or metadata
    captured = capsys.readouterr()
    everything = " ".join(r.getMessage() for r in caplog.records) + captured.out + captured.err + " ".join(texts)
    assert TOKEN not in everything
    assert "token accepted" in everything  # the login did happen (astroquery's own message)


def test_a_failing_instrument_does_not_lose_the_others(sqlite_db, jwql_env, server):
    resources = {"mast": _mast(server), "db": sqlite_db, "archive": _archive(jwql_env)}
    with dg.instance_for_test() as instance:
        for inst in ("miri", "nircam"):
            assert dg.materialize([mast_inventory], partition_key=inst, resources=resources, instance=instance).success
        server.failures = Failures(http_500=1000)
        res = dg.materialize([mast_inventory], partition_key="fgs", resources=resources, instance=instance,
                             raise_on_error=False)
        assert not res.success
        failure = [e for e in res.all_events if e.event_type_value == "STEP_FAILURE"][0]
        assert "HTTP 500" in str(failure.event_specific_data.error) and TOKEN not in str(failure.event_specific_data.error)
        server.failures = None
        res = dg.materialize([jwst_inventory], resources=resources, instance=instance)
    md = res.asset_materializations_for_node("jwst_inventory")[0].metadata
    assert md["missing_instruments"].value == ["fgs", "niriss", "nirspec"]
    assert md["instruments"].value == ["miri", "nircam"]
    csv = (jwql_env.output_root / "monitor_mast" / "database_monitor_jwst.csv").read_text()
    assert "miri" in csv and "fgs" not in csv


def test_jwst_inventory_without_any_snapshot_fails_clearly(sqlite_db, jwql_env):
    resources = {"db": sqlite_db, "archive": _archive(jwql_env)}
    res = dg.materialize([jwst_inventory], resources=resources, raise_on_error=False)
    assert not res.success
    failure = [e for e in res.all_events if e.event_type_value == "STEP_FAILURE"][0]
    assert "materialize mast_inventory first" in str(failure.event_specific_data.error)


def test_rerun_of_a_snapshot_rewrites_the_same_rows(jwql_db, jwql_env, server, monkeypatch):
    sqlite_db = jwql_db
    monkeypatch.setenv("MAST_API_TOKEN", TOKEN)  # as build_resources passes it: read at launch, not stored
    resources = {"mast": _mast(server, token=dg.EnvVar("MAST_API_TOKEN")), "db": sqlite_db}
    with dg.instance_for_test() as instance:
        res = dg.materialize([mast_inventory], partition_key="miri", resources=resources, instance=instance)
        run_id = res.run_id
        # the same root run (a retry) writes the same snapshot keys
        res2 = dg.materialize([mast_inventory], partition_key="miri", resources=resources, instance=instance,
                              tags={"dagster/root_run_id": run_id})
        assert res2.success
    with sqlite_db.session(readonly=True) as s:
        snaps = s.execute(sa.select(MastInventory.snapshot_id, sa.func.count()).group_by(MastInventory.snapshot_id)).all()
    assert snaps == [(run_id, 4)]


def _add_files(db, rows):
    now = datetime.now(timezone.utc)
    records = [{"filename": f"jw{p}001001_02101_{k:05d}_{d}_rate.fits", "area": "public", "path": f"/x/{p}/{k}",
                "program": f"jw{p}", "instrument": inst, "size": 1, "mtime": now, "mtime_ns": 1}
               for k, (p, inst, d) in enumerate(rows)]
    with db.session() as s:
        db.upsert(s, File, records, key=("filename",))


def test_filesystem_characteristics_of_our_programs(jwql_db, server, catalog):
    _add_files(jwql_db, [("01440", "nircam", "nrca1"), ("01440", "fgs", "guider1"), ("01440", "miri", "mirimage")])
    resources = {"mast": _mast(server), "db": jwql_db}
    with dg.instance_for_test() as instance:
        for inst in ("nircam", "fgs", "niriss"):
            res = dg.materialize([filesystem_characteristics], partition_key=inst, resources=resources, instance=instance)
            assert res.success
    with jwql_db.session(readonly=True) as s:
        got = {r.instrument: r for r in s.execute(sa.select(FilesystemCharacteristics)).scalars()}
    rows = [r for r in catalog["services"]["Mast.Jwst.Filtered.Nircam"]["rows"] if r["program"] == "1440"]
    expected: dict[str, set] = {}
    for r in rows:
        expected.setdefault(f"{r['filter']}/{r['pupil']}", set()).add(r["observtn"])
    assert dict(zip(got["nircam"].filter_pupil, got["nircam"].obs_per_filter_pupil)) == {k: len(v) for k, v in expected.items()}
    assert got["fgs"].note == "not applicable" and got["fgs"].filter_pupil == [] and got["fgs"].obs_per_filter_pupil == []
    assert got["niriss"].filter_pupil == [] and "no programs" in got["niriss"].note
    # one characteristics query per program (FGS and empty instruments ask nothing)
    services = [r["service"] for r in server.requests]
    assert services == ["Mast.Jwst.Filtered.Nircam"]
    assert server.requests[0]["params"]["columns"] == "filter,pupil,observtn"


def test_characteristics_of_the_demo_archive_match_its_plan(sqlite_db, server):
    """The default catalogue knows the demo archive's observations, so MAST's answer equals the archive's plan."""
    from jwql_dagster.demo.synthetic import program_plan

    plan = program_plan(4, 1)["programs"]
    files, expected = [], {}
    for prog in plan:
        for obs in prog["observations"]:
            inst = obs["instrument"]
            files.append((prog["program_id"], inst, f"o{obs['observation']}"))
            for f in obs["filters"]:
                second = f.get("pupil") or f.get("grating")
                combo = f["filter"] if inst == "miri" else f"{f['filter']}/{second}"
                expected.setdefault(inst, {}).setdefault(combo, set()).add((prog["program_id"], obs["observation"]))
    _add_files(sqlite_db, files)
    resources = {"mast": _mast(server), "db": sqlite_db}
    with dg.instance_for_test() as instance:
        for inst in ("nirspec", "miri"):
            assert dg.materialize([filesystem_characteristics], partition_key=inst, resources=resources, instance=instance).success
    with sqlite_db.session(readonly=True) as s:
        got = {r.instrument: dict(zip(r.filter_pupil, r.obs_per_filter_pupil))
               for r in s.execute(sa.select(FilesystemCharacteristics)).scalars()}
    for inst in ("nirspec", "miri"):
        assert got[inst] == {k: len(v) for k, v in expected[inst].items()}


# ------------------------------------------------------------------ slow answers of the live service

def _inventory_with_slow_caom(server, catalog, jwql_env, sqlite_db, monkeypatch, scale: float) -> list[str]:
    """Every partition of mast_inventory against a server that takes 45 s (x ``scale``) for every CAOM
    answer about NIRCam, with MAST's limits from the configuration (JWQL_MAST_TIMEOUT_S = 600 s x scale).

    Checks the counts and keyword lists; returns the run log messages of the NIRCam run.
    """
    server.latency = Latency(services={"Mast.Caom.Filtered nircam": 45 * scale})
    monkeypatch.setenv("MAST_API_URL", server.url)
    if scale != 1:
        monkeypatch.setenv("JWQL_MAST_TIMEOUT_S", str(600 * scale))
    mast = make_resources()["mast"]
    assert mast.query_timeout_s == mast.timeout_s == 600 * scale  # the attempt limit follows the query limit
    resources = {"mast": mast, "db": sqlite_db}
    nircam_log: list[str] = []
    with dg.instance_for_test() as instance:
        for inst in INSTRUMENTS:
            res = dg.materialize([mast_inventory], partition_key=inst, resources=resources, instance=instance)
            assert res.success
            made = res.asset_materializations_for_node("mast_inventory")[0].metadata["requests"].value
            assert made["invoke"] == 6 and made["retries"] == 0  # slow is not an error: nothing retried
            if inst == "nircam":
                nircam_log = [e.user_message for e in instance.all_logs(res.run_id)]
    truth = catalog_truth(catalog)
    with sqlite_db.session(readonly=True) as s:
        stored = {(r.instrument, r.service, r.dataproduct): r.count for r in s.execute(sa.select(MastInventory)).scalars()}
        keywords = s.execute(sa.select(MastKeyword.instrument, MastKeyword.service)).all()
    assert stored == truth and truth[("nircam", "caom", "image")] > 0
    assert {(i, svc) for i, svc in keywords} == {(i, svc) for i in INSTRUMENTS for svc in ("jwst", "caom")}
    return nircam_log


def test_caom_answers_slower_than_the_old_limits_still_complete_every_partition(
        sqlite_db, jwql_env, server, catalog, monkeypatch):
    """The issue's 45-s CAOM counts against the old 30-s attempt / 60-s query limits, all 30 times faster."""
    scale = 1 / 30
    server.latency = Latency(services={"Mast.Caom.Filtered nircam": 45 * scale})
    old = MastService(url=server.url, timeout_s=30 * scale, query_timeout_s=60 * scale, max_retries=4,
                      backoff_s=0.02, backoff_max_s=0.05, total_retry_seconds=60 * scale)
    res = dg.materialize([mast_inventory], partition_key="nircam", resources={"mast": old, "db": sqlite_db},
                         raise_on_error=False)
    assert not res.success  # what the old limits did
    start = time.monotonic()
    _inventory_with_slow_caom(server, catalog, jwql_env, sqlite_db, monkeypatch, scale)
    assert time.monotonic() - start < 60


@pytest.mark.slow
def test_caom_answers_of_45_seconds_complete_with_the_default_limits(sqlite_db, jwql_env, server, catalog, monkeypatch):
    """The issue's case at its real size: every CAOM answer about NIRCam takes 45 s; default limits."""
    monkeypatch.delenv("JWQL_MAST_TIMEOUT_S", raising=False)
    monkeypatch.delenv("JWQL_MAST_ATTEMPT_TIMEOUT_S", raising=False)
    start = time.monotonic()
    log = _inventory_with_slow_caom(server, catalog, jwql_env, sqlite_db, monkeypatch, 1.0)
    assert time.monotonic() - start < 45 * 3  # the CAOM answers of an instrument wait side by side
    assert any("still waiting for Mast.Caom.Filtered" in (m or "") and "limit 600 s" in (m or "") for m in log)
