"""filesystem_snapshot -> filesystem_plots materialized in-process against a real database."""

from __future__ import annotations

import errno
import os

import dagster as dg
import pytest
import sqlalchemy as sa

from jwql_dagster.db.filesystem import load_history
from jwql_dagster.filesystem.assets import filesystem_plots, filesystem_snapshot
from jwql_dagster.filesystem.plots import PNG_NAMES
from jwql_dagster.db.models import CentralStorage, FilesystemGeneral, FilesystemInstrument
from tests.filesystem.tree import independent_counts, make_file
from tests.plugins.resources import make_resources

SINGLE = {"ops": {"filesystem_snapshot": {"config": {"workers": 1}}}}


def _run(settings, db, instance, tags=None, plots=False):
    res = dg.materialize(
        [filesystem_snapshot, filesystem_plots] if plots else [filesystem_snapshot],
        instance=instance, tags=tags, run_config=SINGLE,
        resources=make_resources(settings, db=db),
    )
    assert res.success
    return res


def _rows(db, model) -> list:
    with db.session(readonly=True) as s:
        return list(s.scalars(sa.select(model)))


def test_snapshot_rows_equal_an_independent_walk(fs_home, jwql_db) -> None:
    with dg.instance_for_test() as inst:
        res = _run(fs_home, jwql_db, inst)
    n, size, by_type = independent_counts(fs_home.filesystem)
    [general] = _rows(jwql_db, FilesystemGeneral)
    assert (general.total_file_count, general.total_file_size) == (n, size)
    assert (general.fits_file_count, general.fits_file_size) == (
        sum(v[0] for v in by_type.values()), sum(v[1] for v in by_type.values()))
    assert general.snapshot_id == res.run_id and general.used > 0 and general.available > 0
    got = {(r.instrument, r.filetype): [r.count, r.size] for r in _rows(jwql_db, FilesystemInstrument)}
    assert got == by_type and got[("unrecognized", "unrecognized")][0] == 2
    areas = {r.area: r for r in _rows(jwql_db, CentralStorage)}
    assert sorted(areas) == sorted(["logs", "outputs", "working", "preview_images", "thumbnails", "all"])
    assert areas["all"].used < size  # the nested archive is not part of 'all'
    md = res.asset_materializations_for_node("filesystem_snapshot")[0].metadata
    assert md["total_file_count"].value == n
    per_instrument = {r.data["instrument"]: r.data for r in md["per_instrument"].records}
    assert {"nircam", "unrecognized", "total"} <= set(per_instrument)
    assert per_instrument["unrecognized"]["fits_files"] == 2 and per_instrument["total"]["bytes"] == general.fits_file_size
    assert "jw01068_README.fits" in md["unrecognized_names"].value
    assert md["scan_seconds"].value >= 0 and md["files_per_second"].value > 0


def test_two_snapshots_give_two_history_points_and_plots(fs_home, sqlite_db) -> None:
    with dg.instance_for_test() as inst:
        _run(fs_home, sqlite_db, inst)
        make_file(fs_home.filesystem / "public/jw01068/jw01068001001/jw01068001001_02102_00003_nrcb1_rate.fits", 10)
        res = _run(fs_home, sqlite_db, inst, plots=True)
    history = load_history(sqlite_db)
    assert len(history.general) == 2 and len(set(history.dates)) == 2
    assert history.general[1]["total_file_count"] == history.general[0]["total_file_count"] + 1
    assert {r["area"] for r in history.central} >= {"all", "outputs"} and len(history.central) == 12
    out = fs_home.output_root / "filesystem"
    html = (out / "filesystem_dashboard.html").read_text()
    for text in ("Server Storage", "Central Store Storage", "JWQL directory size", "files per Filetype",
                 "Number of Files Per Instrument", "Number of Files in Filesystem"):
        assert text in html
    assert "cdn.bokeh.org" not in html and "Bokeh" in html  # JS inlined: works without internet
    for name in PNG_NAMES:
        png = out / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert oct(png.stat().st_mode & 0o777) == "0o644"
    assert not [p for p in out.iterdir() if p.name.startswith(".tmp-")]
    md = res.asset_materializations_for_node("filesystem_plots")[0].metadata
    assert md["snapshots"].value == 2
    assert md["preview"].value.startswith("![disk_usage](data:image/png;base64,")
    assert len(md["preview"].value) < 100_000


def test_rerun_of_the_same_root_run_writes_no_duplicates(fs_home, jwql_db) -> None:
    with dg.instance_for_test() as inst:
        first = _run(fs_home, jwql_db, inst)
        counts = [len(_rows(jwql_db, m)) for m in (FilesystemGeneral, FilesystemInstrument, CentralStorage)]
        # a re-execution of that run (same root run id), after one filetype vanished from the archive
        os.unlink(fs_home.filesystem / "proprietary/jw01234/jw01234001001/jw01234001001_01101_00001_nrs1_o001_crf.fits")
        _run(fs_home, jwql_db, inst, tags={"dagster/root_run_id": first.run_id})
    assert [len(_rows(jwql_db, m)) for m in (FilesystemGeneral, CentralStorage)] == [counts[0], counts[2]]
    inst_rows = _rows(jwql_db, FilesystemInstrument)
    assert len(inst_rows) == counts[1] - 1 and ("nirspec", "crf") not in {(r.instrument, r.filetype) for r in inst_rows}
    assert {r.snapshot_id for r in inst_rows} == {first.run_id}


def test_problems_are_reported_without_stopping_the_snapshot(fs_home, sqlite_db, monkeypatch: pytest.MonkeyPatch) -> None:
    visit = fs_home.filesystem / "public/jw01068/jw01068001001"
    os.symlink(fs_home.filesystem / "gone.fits", visit / "dangling.fits")
    os.symlink(visit / "b", visit / "a")
    os.symlink(visit / "a", visit / "b")
    locked = os.fspath(fs_home.filesystem / "public/jw02733")
    real = os.scandir

    def scandir(path=".", *a, **k):
        if isinstance(path, (str, os.PathLike)) and os.fspath(path) == locked:
            raise PermissionError(errno.EACCES, "Permission denied", locked)
        return real(path, *a, **k)

    monkeypatch.setattr(os, "scandir", scandir)
    with dg.instance_for_test() as inst:
        res = _run(fs_home, sqlite_db, inst)
    monkeypatch.undo()
    md = res.asset_materializations_for_node("filesystem_snapshot")[0].metadata
    assert md["problem_count"].value == 4
    text = md["problems"].value
    assert "dangling_link: public/jw01068/jw01068001001/dangling.fits" in text
    assert "link_loop: public/jw01068/jw01068001001/a" in text
    assert "unreadable_dir: public/jw02733 (Permission denied)" in text
    n, _, _ = independent_counts(fs_home.filesystem)
    assert md["total_file_count"].value == n - 3  # the three files of the unreadable program


def test_missing_archive_root_fails_clearly(jwql_env, sqlite_db) -> None:
    with dg.instance_for_test() as inst:
        res = dg.materialize([filesystem_snapshot], instance=inst, raise_on_error=False, run_config=SINGLE,
                             resources=make_resources(jwql_env, db=sqlite_db))
    assert not res.success
    assert _rows(sqlite_db, FilesystemGeneral) == []
    failure = [e for e in res.all_events if e.is_step_failure][0]
    assert "JWQL_FILESYSTEM" in failure.step_failure_data.error.message


def test_definitions_wire_the_group_and_the_daily_schedule(jwql_env) -> None:
    from jwql_dagster.filesystem import assets
    from jwql_dagster.filesystem import schedules

    defs = dg.Definitions.merge(assets.defs, schedules.defs, dg.Definitions(resources=make_resources(jwql_env)))
    dg.Definitions.validate_loadable(defs)
    sched = defs.resolve_schedule_def("filesystem_daily")
    assert sched.default_status == dg.DefaultScheduleStatus.STOPPED
    job = defs.resolve_job_def("filesystem_job")
    assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} == {"filesystem_snapshot", "filesystem_plots"}
    assert filesystem_snapshot.group_names_by_key[dg.AssetKey("filesystem_snapshot")] == "filesystem"
    assert filesystem_snapshot.op.pool == "db"


def _code_span_text(item: str) -> str:
    """The text of a markdown list item made of one inline code span (CommonMark's rules)."""
    assert item.startswith("- ")
    span = item[2:]
    fence = span[: len(span) - len(span.lstrip("`"))]
    assert fence and span.endswith(fence) and len(span) > 2 * len(fence), item
    text = span[len(fence):-len(fence)]
    assert fence not in text.replace("`" * (len(fence) + 1), ""), item  # the fence cannot close early
    if text.startswith(" ") and text.endswith(" ") and text.strip():
        text = text[1:-1]
    return text


def test_odd_unrecognised_names_are_listed_intact_in_the_metadata(fs_home, sqlite_db) -> None:
    odd = ["jw01068_a`b.fits", "jw01068_``x``.fits", "`lead.fits", "jw01068_p|q.fits"]
    for name in odd:
        make_file(fs_home.filesystem / "public" / "jw01068" / name, 10)
    with dg.instance_for_test() as inst:
        res = _run(fs_home, sqlite_db, inst)
    listing = res.asset_materializations_for_node("filesystem_snapshot")[0].metadata["unrecognized_names"].value
    listed = {_code_span_text(line).rsplit("/", 1)[-1] for line in listing.splitlines() if not line.startswith("- ...")}
    assert set(odd) <= listed, listing
