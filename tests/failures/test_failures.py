"""One failure view: one wording per cause, one line per broken file, all-NaN frames never drawn."""

from __future__ import annotations

import importlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import pytest

from jwql_dagster.failures import reasons
from tests.web.world import ALL_NAN, EMPTY, GARBAGE, P1, TRUNCATED, asset_named, write_product


def _read_key_header():
    """The archive inventory's header reader (its module moved with the archive split; the behaviour did not)."""
    for name in ("jwql_dagster.archive.inventory", "jwql_dagster.archive.assets"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module, "read_key_header"):
            return module.read_key_header, module.HeaderReadError
    raise AssertionError("read_key_header not found")


@pytest.mark.parametrize(("content", "expected"), [(b"", reasons.EMPTY_FILE),
                                                    (b"<html>not FITS</html>\n" * 200, reasons.NOT_FITS)])
def test_inventory_and_renderer_word_one_cause_the_same(tmp_path: Path, content: bytes, expected: str) -> None:
    from jwql_dagster.previews.fits_io import FitsReadError
    from jwql_dagster.previews.render import render_file

    path = tmp_path / "jw01068001001_02102_00001_nrca1_rate.fits"
    path.write_bytes(content)
    read_key_header, header_error = _read_key_header()
    with pytest.raises(header_error) as inventory:
        read_key_header(path)
    with pytest.raises(FitsReadError) as renderer:
        render_file(path, tmp_path / "p", tmp_path / "t")
    assert inventory.value.reason == renderer.value.reason == expected


def test_all_nan_rate_file_is_a_failure_and_never_rendered(tmp_path: Path) -> None:
    from jwql_dagster.previews.render import NoFinitePixelError, render_file
    from jwql_dagster.previews.worker import RenderTask, run_task

    nan = write_product(tmp_path / "a" / ALL_NAN, "NRCB2", "F150W", "2022-07-01", nan=True)
    with pytest.raises(NoFinitePixelError, match="no finite science pixel in the SCI frame"):
        render_file(nan, tmp_path / "p", tmp_path / "t")
    # the worker turns it into the file's failure record, with the same words
    outcome = run_task(RenderTask("file", nan.name, [str(nan)], str(tmp_path / "p"), str(tmp_path / "t")))
    assert not outcome.ok and outcome.reason == reasons.no_finite_pixel() and outcome.error_type == "NoFinitePixelError"
    assert not list((tmp_path / "p").glob("*.jpg")) and not list((tmp_path / "t").glob("*.thumb"))
    # one integration without data fails a multi-integration file, naming the integration
    ints = write_product(tmp_path / "b" / "jw01068001001_02102_00005_nrcb2_rateints.fits", "NRCB2", "F150W",
                         "2022-07-01", nints=3)
    from astropy.io import fits

    with fits.open(ints, mode="update") as hdul:
        hdul["SCI"].data[0] = float("nan")
    with pytest.raises(NoFinitePixelError) as info:
        render_file(ints, tmp_path / "p2", tmp_path / "t2")
    assert info.value.reason == reasons.no_finite_pixel(0) == "no finite science pixel in integration 0 of the SCI data"


def test_world_records_each_broken_file_once_in_one_wording(world) -> None:
    from jwql_dagster.db.views import current_failures
    from jwql_dagster.db.views import ReadOnlyDatabase

    db = ReadOnlyDatabase(world.db_url)
    try:
        with db.connect() as conn:
            lines = {line.filename: line for line in current_failures(conn)}
    finally:
        db.dispose()
    assert set(lines) == {GARBAGE, TRUNCATED, ALL_NAN, EMPTY}
    assert lines[EMPTY].reason == reasons.EMPTY_FILE and lines[EMPTY].products == ["archive_files", "preview_images"]
    assert lines[GARBAGE].reason == reasons.NOT_FITS and lines[GARBAGE].products == ["archive_files", "preview_images"]
    assert lines[ALL_NAN].reason == reasons.no_finite_pixel() and lines[ALL_NAN].products == ["preview_images"]
    assert lines[TRUNCATED].reason.startswith("file is truncated")
    assert all(line.program == P1 and line.instrument == "nircam" for line in lines.values())
    assert all(line.run_id in world.run_ids for line in lines.values())
    # never rendered as data: no preview or thumbnail of the all-NaN file
    stem = ALL_NAN.removesuffix(".fits")
    assert not list((world.settings.preview_root / P1).glob(f"{stem}*"))
    assert not list((world.settings.thumbnail_root / P1).glob(f"{stem}*"))


def test_file_failures_asset_is_a_table_of_every_current_failure(world) -> None:
    from jwql_dagster.db.resources import JwqlDatabase

    db = JwqlDatabase(url=world.db_url)
    with dg.instance_for_test() as instance:
        result = dg.materialize([asset_named("file_failures")], resources={"db": db}, instance=instance)
    db.dispose()
    meta = result.asset_materializations_for_node("file_failures")[0].metadata
    assert meta["dagster/row_count"].value == 4
    table = meta["failures"].value
    assert [c.name for c in table.schema.columns] == ["file", "program", "instrument", "reason", "products",
                                                      "first_seen", "last_seen", "run"]
    rows = {r.data["file"]: r.data for r in table.records}
    assert set(rows) == {GARBAGE, TRUNCATED, ALL_NAN, EMPTY}
    assert rows[EMPTY]["reason"] == reasons.EMPTY_FILE and rows[EMPTY]["products"] == "archive_files, preview_images"
    assert rows[ALL_NAN]["program"] == P1 and rows[ALL_NAN]["instrument"] == "nircam"
    assert rows[ALL_NAN]["run"] in world.run_ids
    assert meta["page"].value == "http://127.0.0.1:3001/failures"
    assert meta["by_program"].value == {P1: 4}


def _failure(filename: str, product: str, reason: str, seen: datetime, run: str, program: str = P1) -> dict:
    return {"filename": filename, "product": product, "program": program, "instrument": "nircam", "path": None,
            "reason": reason, "error_type": "E", "first_seen": seen, "last_seen": seen, "run_id": run}


def test_lines_merge_products_drop_deleted_files_and_search_literally(sqlite_db) -> None:
    from jwql_dagster.db.models import File, FileFailure
    from jwql_dagster.db.views import current_failures

    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    rows = [
        _failure("a_100%_rate.fits", "archive_files", reasons.EMPTY_FILE, t0, "run-1"),
        _failure("a_100%_rate.fits", "preview_images", reasons.EMPTY_FILE, t0 + timedelta(hours=1), "run-2"),
        _failure("b_rate.fits", "preview_images", "file is truncated: the SCI data need 9 bytes", t0, "run-1"),
        _failure("gone_rate.fits", "preview_images", reasons.NOT_FITS, t0, "run-1"),
        _failure("c_rate.fits", "archive_files", reasons.NOT_FITS, t0 + timedelta(hours=2), "run-3", "jw02000"),
    ]
    with sqlite_db.session() as s:
        sqlite_db.upsert(s, FileFailure, rows, ("filename", "product"))
        sqlite_db.upsert(s, File, [{"filename": "gone_rate.fits", "area": "public", "path": "/x", "program": P1,
                                    "instrument": "nircam", "size": 1, "mtime": t0, "mtime_ns": 1, "deleted_at": t0}],
                         ("filename",))
    with sqlite_db.session(readonly=True) as s:
        conn = s.connection()
        lines = current_failures(conn)
        assert [line.filename for line in lines] == ["c_rate.fits", "a_100%_rate.fits", "b_rate.fits"]  # newest first
        merged = lines[1]
        assert merged.products == ["archive_files", "preview_images"]
        assert (merged.first_seen, merged.last_seen, merged.run_id) == (t0, t0 + timedelta(hours=1), "run-2")
        assert [line.filename for line in current_failures(conn, query="TRUNCATED")] == ["b_rate.fits"]
        assert [line.filename for line in current_failures(conn, query="100%")] == ["a_100%_rate.fits"]
        # LIKE's wildcards in a search are plain characters: '%' finds only the name holding one, and
        # '100_' finds nothing (as a wildcard, '_' would match the '%' after '100')
        assert [line.filename for line in current_failures(conn, query="%")] == ["a_100%_rate.fits"]
        assert current_failures(conn, query="100_") == []
        assert [line.filename for line in current_failures(conn, program="jw02000")] == ["c_rate.fits"]
        assert [line.filename for line in current_failures(conn, query="jw02000")] == ["c_rate.fits"]
