"""Hostile names and paths: never escape the output roots, always escaped in HTML, links out of the archive never followed or looped on."""

from __future__ import annotations

import os
import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import unquote

import dagster as dg
import pytest

from jwql_dagster.archive.resources import ArchiveFilesystem, UnsafePathError
from tests.reliability.conftest import (
    PROGRAM,
    VISIT,
    complete_jpeg,
    failures,
    good_rate,
    run_partition,
    run_program_products,
)

XSS = "<script>alert(1)"
IMG = "<img src=x onerror=alert(1)>"
RAW_ATTACKS = ("<script>alert", "<img src=x onerror")
# Recognised names (the parser matches their start, as jwql does) with odd but legal parts.
ODD_RECOGNISED = [
    f"{VISIT}_02102_00001_nrcb1_rate_{XSS}.fits",
    f"{VISIT}_02102_00002_nrcb1_rate_{IMG}.fits",
    f"{VISIT}_02102_00003_nrcb1_rate_copy 2 ünïcødé.fits",
    f"{VISIT}_02102_00004_nrcb1_rate_..-..fits",
    f"{VISIT}_02102_00005_nrcb1_rate_a\\..\\..\\b.fits",
]
UNRECOGNISED = [
    f"jw01068001001_01101_00001_nrca1_{XSS}<\\script>_rate.fits",
    f"-rf {PROGRAM}.fits",
    "-- --help.fits",
    f"{VISIT}_02102_00009_nrcb1_rate copy.fits",
    "jw..fits",
    f"ünïcødé {IMG}.fits",
]


def _files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def _assert_escaped(text: str, where: str) -> None:
    for raw in RAW_ATTACKS:
        assert raw not in text, f"{where}: raw {raw!r} in HTML"


def test_hostile_names_stay_inside_the_roots_and_are_escaped_in_the_gallery(rel_env, tmp_path: Path) -> None:
    settings, resources, instance = rel_env
    visit = settings.filesystem / "public" / PROGRAM / VISIT
    for i, name in enumerate(ODD_RECOGNISED):
        good_rate(visit / name, seed=i)
    for name in UNRECOGNISED:
        good_rate(visit / name, seed=9)
    outside_before = _files_under(tmp_path)

    result = run_partition(resources, instance)
    run_program_products(resources, instance)

    assert result.success
    roots = [settings.preview_root, settings.thumbnail_root, settings.output_root, settings.working_root]
    created = _files_under(tmp_path) - outside_before
    for path in created:
        # everything new is either ours (under an output root) or Dagster's/the database's bookkeeping
        assert any(path.is_relative_to(r) for r in roots) or path.is_relative_to(settings.dagster_home) or \
            path.name.startswith("jwql_test.db"), path
    for r in roots:
        for path in _files_under(r):
            assert os.path.realpath(path).startswith(os.path.realpath(r) + os.sep), path

    prev = settings.preview_root / PROGRAM
    failed = failures(resources["db"])
    for name in ODD_RECOGNISED:
        stem = name.split(".")[0]  # jwql's root: the name before its first dot
        jpg = prev / f"{stem}_integ0.jpg"
        assert jpg.is_file() and jpg.parent == prev and complete_jpeg(jpg), name
        assert not any(f == name for f, _ in failed), failed
    for name in UNRECOGNISED:
        reason = failed.get((name, "archive_files"))
        assert reason and "unrecognised file name" in reason, (name, failed)

    page = settings.output_root / "previews" / PROGRAM / "index.html"
    text = page.read_text()
    _assert_escaped(text, "gallery")
    assert "&lt;script&gt;alert(1)" in text and "&lt;img src=x onerror=alert(1)&gt;" in text
    hrefs = re.findall(r'(?:href|src)="([^"]+)"', text)
    assert hrefs
    for href in hrefs:
        target = (page.parent / unquote(href.replace("&amp;", "&"))).resolve()
        assert target.is_file(), href
        assert target.is_relative_to(settings.preview_root.resolve()) or target.is_relative_to(settings.thumbnail_root.resolve())


def test_partition_key_with_a_path_cannot_leave_the_output_roots(rel_env, tmp_path: Path) -> None:
    settings, resources, instance = rel_env
    evil = "../../../escaped"
    instance.add_dynamic_partitions("program", [evil])
    from jwql_dagster.previews.assets import preview_assets, preview_gallery, proposal_thumbnail
    from jwql_dagster.partitions import program_instrument_key

    before = _files_under(tmp_path)
    res = dg.materialize([preview_assets], partition_key=program_instrument_key(evil, "nircam"), resources=resources,
                         instance=instance, raise_on_error=False)
    assert not res.success
    for asset in (proposal_thumbnail, preview_gallery):
        res = dg.materialize([asset], partition_key=evil, resources=resources, instance=instance, raise_on_error=False)
        assert not res.success
        errors = [e.event_specific_data.error.to_string() for e in res.all_events if e.is_step_failure]
        assert errors and "UnsafePathError" in errors[0] and "'..'" in errors[0], errors
    assert not list(tmp_path.rglob("escaped"))
    assert all(p.is_relative_to(settings.dagster_home) or p.suffix.startswith(".db")
               for p in _files_under(tmp_path) - before)


@pytest.mark.parametrize("parts", [("..", "x.jpg"), ("a/../../x.jpg",), ("/etc/passwd",), ("a\x00b",), ("a\\..\\..\\x",)])
def test_safe_output_path_refuses_every_escape(tmp_path: Path, parts: tuple[str, ...]) -> None:
    archive = _archive(tmp_path)
    with pytest.raises(UnsafePathError):
        archive.safe_output_path(archive.preview_root, *parts)


def test_safe_output_path_refuses_a_symlink_out_of_the_root(tmp_path: Path) -> None:
    archive = _archive(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    Path(archive.preview_root).mkdir(parents=True)
    (Path(archive.preview_root) / "jw01068").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UnsafePathError):
        archive.safe_output_path(archive.preview_root, "jw01068", "x.jpg")
    assert archive.safe_output_path(archive.preview_root, "jw02000", "odd <name> ü.jpg").parent.name == "jw02000"


def _archive(tmp_path: Path) -> ArchiveFilesystem:
    r = tmp_path
    return ArchiveFilesystem(filesystem=str(r / "archive"), preview_root=str(r / "prev"), thumbnail_root=str(r / "thumb"),
                             output_root=str(r / "out"), working_root=str(r / "work"), log_root=str(r / "logs"),
                             central_store=str(r), dagster_home=str(r / "dh"))


# ------------------------------------------------------------------ symlinks out of the archive, and loops


def _linked_archive(settings) -> tuple[Path, list[str]]:
    """A program whose visit has one real file, a link to a file outside, a link to a folder outside and loops."""
    outside = settings.home / "outside"
    good_rate(outside / f"{PROGRAM}001001_02102_00008_nrcb1_rate.fits", seed=8)
    good_rate(outside / f"{PROGRAM}002001" / f"{PROGRAM}002001_02102_00001_nrcb1_rate.fits", seed=9)
    program = settings.filesystem / "public" / PROGRAM
    visit = program / VISIT
    good_rate(visit / f"{VISIT}_02102_00001_nrcb1_rate.fits", seed=1)
    (visit / f"{VISIT}_02102_00008_nrcb1_rate.fits").symlink_to(outside / f"{PROGRAM}001001_02102_00008_nrcb1_rate.fits")
    (program / f"{PROGRAM}002001").symlink_to(outside / f"{PROGRAM}002001")  # a visit folder that is a link out
    (program / f"{PROGRAM}003001").symlink_to(program)  # loop: a visit that is its program
    (visit / "loop").symlink_to(visit)
    (settings.filesystem / "public" / "jw09999").symlink_to(settings.filesystem / "public")  # loop at program level
    return outside, [f"{VISIT}_02102_00001_nrcb1_rate.fits"]


def test_archive_listing_and_previews_do_not_follow_links_out_of_the_archive(rel_env) -> None:
    settings, resources, instance = rel_env
    _, real = _linked_archive(settings)
    archive: ArchiveFilesystem = resources["archive"]

    start = time.monotonic()
    listed = [f.name for f in archive.program_files(PROGRAM)]
    assert archive.programs() == [PROGRAM]
    assert time.monotonic() - start < 5
    assert listed == real, listed

    start = time.monotonic()
    result = run_partition(resources, instance)
    assert result.success and time.monotonic() - start < 60
    assert [p.name for p in (settings.preview_root / PROGRAM).glob("*.jpg")] == [real[0].replace(".fits", "_integ0.jpg")]


def test_filesystem_scan_does_not_follow_links_and_loops_never_hang(rel_env) -> None:
    settings, resources, instance = rel_env
    _linked_archive(settings)
    from jwql_dagster.filesystem.assets import filesystem_snapshot

    start = time.monotonic()
    snap = dg.materialize([filesystem_snapshot], resources=resources, instance=instance)
    assert time.monotonic() - start < 60
    meta = snap.asset_materializations_for_node("filesystem_snapshot")[0].metadata
    assert meta["fits_file_count"].value == 1


def test_sensor_does_not_follow_links_and_ticks_in_bounded_time(rel_env, monkeypatch: pytest.MonkeyPatch) -> None:
    import jwql_dagster.archive.sensors as nff

    settings, resources, instance = rel_env
    _, real = _linked_archive(settings)
    monkeypatch.setattr(nff, "clock", lambda: time.time() + 3600)  # every file has settled
    cursor = None
    requested: list[str] = []
    changed: list[str] = []
    for _ in range(3):
        start = time.monotonic()
        with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources) as ctx:
            out = nff.new_fits_files(ctx)
        assert time.monotonic() - start < 10
        if isinstance(out, dg.SensorResult):
            cursor = out.cursor
            requested += [str(r.partition_key) for r in out.run_requests]
            changed += [r.tags["jwql/changed_files"] for r in out.run_requests]
    assert requested == ["nircam|jw01068"]
    assert changed == ["1"]  # the real file only: neither the file linked in from outside nor the linked-out visit
    state = nff.stored_state(resources["db"], cursor)
    assert "outside" not in str(state)
    assert {name: v[0] for name, v in state["inflight"].items()} == {real[0]: f"public/{PROGRAM}/{VISIT}"}


# ------------------------------------------------------------------ HTML outputs other than the gallery


def test_monitor_status_table_escapes_hostile_monitor_names(tmp_path: Path) -> None:
    from jwql_dagster.monitoring.status import RunRecord, compute_status
    from jwql_dagster.monitoring.plots import markdown_table, write_table

    now = datetime.now(timezone.utc)
    records = [RunRecord(f"{XSS}</script>{IMG}", "legacy", f"log{i}", "SUCCESS", now - timedelta(hours=i),
                         log_file=f"/logs/{IMG}_{i}.log") for i in range(3)]
    page = write_table(tmp_path, compute_status(records, now))
    text = page.read_text()
    _assert_escaped(text, "monitor status table")
    assert "</script><img" not in text
    _assert_escaped(markdown_table(compute_status(records, now)), "monitor status markdown")


def test_mast_and_filesystem_pages_escape_hostile_text(rel_env) -> None:
    """A hostile keyword from MAST and hostile archive names reach no HTML output unescaped."""
    from jwql_dagster.filesystem.assets import filesystem_plots, filesystem_snapshot
    from jwql_dagster.mast.assets import jwst_inventory, mast_inventory
    from jwql_dagster.mast.resources import MastService
    from jwql_dagster.demo.mast_catalog import build_catalog
    from jwql_dagster.demo.mast_server import start_server

    settings, resources, instance = rel_env
    visit = settings.filesystem / "public" / PROGRAM / VISIT
    for i, name in enumerate(ODD_RECOGNISED + UNRECOGNISED):
        (visit / name).parent.mkdir(parents=True, exist_ok=True)
        (visit / name).write_bytes(b"x" * (i + 1))
    catalog = build_catalog()
    for service in catalog["services"].values():
        service["fields"].append({"name": f"{XSS}</script>", "type": IMG})
    with start_server(catalog=catalog) as server:
        resources["mast"] = MastService(url=server.url, max_retries=1, timeout_s=10)
        for inst in ("nircam", "miri"):
            assert dg.materialize([mast_inventory], partition_key=inst, resources=resources, instance=instance).success
    assert dg.materialize([jwst_inventory], resources=resources, instance=instance).success
    assert dg.materialize([filesystem_snapshot, filesystem_plots], resources=resources, instance=instance).success
    pages = list(settings.output_root.rglob("*.html"))
    assert {p.name for p in pages} >= {"filesystem_dashboard.html", "database_monitor_jwst.html", "database_monitor_caom.html"}
    for page in pages:
        _assert_escaped(page.read_text(), page.name)
