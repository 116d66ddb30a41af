"""One run over many program x instrument cells: each cell rendered, recorded and reported on its own."""

from __future__ import annotations

import dagster as dg
import pytest
import sqlalchemy as sa

from tests.plugins.fits import write_fits
from tests.plugins.resources import make_resources

A, B = "jw04000", "jw04001"
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


@pytest.fixture
def two_programs(jwql_env, sqlite_db):
    """Program A: two NIRCam rate files (a mosaic); program B: a NIRISS rate file and a broken one."""
    from jwql_dagster.options import JwqlOptions

    settings = jwql_env
    visit_a = settings.filesystem / "public" / A / f"{A}001001"
    for det in ("nrca1", "nrca2"):
        write_fits(visit_a / f"{A}001001_02102_00001_{det}_rate.fits", det, "rate")
    visit_b = settings.filesystem / "public" / B / f"{B}001001"
    write_fits(visit_b / f"{B}001001_02101_00001_nis_rate.fits", "nis", "rate")
    (visit_b / f"{B}001001_02101_00002_nis_rate.fits").write_bytes(b"not a FITS file")
    resources = make_resources(settings, db=sqlite_db,
                               options=JwqlOptions(preview_workers=2, max_failure_rate=0.9, inline_previews="public"))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("program", [A, B])
        yield settings, resources, instance


def _range_run(resources, instance):
    from jwql_dagster.previews.assets import preview_assets

    # A range over both dimensions covers the rectangle nircam..niriss x A..B: four cells, two with files.
    return dg.materialize([preview_assets], resources=resources, instance=instance,
                          tags={RANGE_START: f"nircam|{A}", RANGE_END: f"niriss|{B}"})


def test_one_run_renders_every_cell_and_reports_each(two_programs) -> None:
    from jwql_dagster.db.models import FileFailure

    settings, resources, instance = two_programs
    result = _range_run(resources, instance)
    assert result.success
    made_a = sorted(p.name for p in (settings.preview_root / A).glob("*.jpg"))
    assert made_a == [f"{A}001001_02102_00001_NRC_SWA_MOSAIC_rate_integ0.jpg",
                      f"{A}001001_02102_00001_nrca1_rate_integ0.jpg", f"{A}001001_02102_00001_nrca2_rate_integ0.jpg"]
    assert [p.name for p in (settings.preview_root / B).glob("*.jpg")] == [f"{B}001001_02101_00001_nis_rate_integ0.jpg"]

    # every cell of the range is a materialized partition in the UI, with the run's per-cell table
    mats = result.asset_materializations_for_node("preview_assets")
    partitions = sorted(m.partition for m in mats if m.asset_key == dg.AssetKey("preview_images"))
    assert partitions == sorted([f"nircam|{A}", f"nircam|{B}", f"niriss|{A}", f"niriss|{B}"])
    meta = next(m.metadata for m in mats if m.asset_key == dg.AssetKey("preview_images"))
    rows = {(r.data["program"], r.data["instrument"]): r.data for r in meta["cells"].records}
    assert rows[(A, "nircam")]["made"] == 2 and rows[(A, "nircam")]["mosaics_made"] == 1
    assert rows[(B, "niriss")]["made"] == 1 and rows[(B, "niriss")]["failed"] == 1
    assert rows[(A, "niriss")]["files"] == 0 and rows[(B, "nircam")]["files"] == 0
    assert meta["files_made"].value == 3 and meta["files_failed"].value == 1 and meta["programs"].value == 2
    assert [r.data["file"] for r in meta["failures"].records] == [f"{B}001001_02101_00002_nis_rate.fits"]

    # the failure row carries its own cell
    t = FileFailure.__table__
    with resources["db"].session(readonly=True) as s:
        rows_db = s.execute(sa.select(t.c.filename, t.c.program, t.c.instrument, t.c.run_id)).all()
    assert [(r.filename, r.program, r.instrument, r.run_id) for r in rows_db] == [
        (f"{B}001001_02101_00002_nis_rate.fits", B, "niriss", result.run_id)]

    # a second run over the same range renders nothing
    again = _range_run(resources, instance)
    meta2 = next(m.metadata for m in again.asset_materializations_for_node("preview_assets")
                 if m.asset_key == dg.AssetKey("preview_images"))
    assert meta2["files_made"].value == 0 and meta2["files_skipped"].value == 3 and meta2["mosaics_skipped"].value == 1


def _success_context(instance, run_id):
    run = instance.get_run_by_id(run_id)
    success = next(e for e in instance.all_logs(run_id)
                   if e.dagster_event and e.dagster_event.event_type_value == "PIPELINE_SUCCESS")
    return dg.build_run_status_sensor_context(sensor_name="program_products", dagster_instance=instance,
                                              dagster_run=run, dagster_event=success.dagster_event)


def test_a_preview_run_makes_its_programs_products_itself(two_programs) -> None:
    """One run over a batch: each program's proposal thumbnail and gallery made once, by the run, after its
    thumbnails; the program_products sensor then asks for no second run."""
    from jwql_dagster.previews.sensors import program_products, programs_of_run

    settings, resources, instance = two_programs
    result = _range_run(resources, instance)
    for program in (A, B):
        assert (settings.thumbnail_root / program / f"{program}.thumb").is_file()
        assert (settings.output_root / "previews" / program / "index.html").is_file()
    for key in ("proposal_thumbnail", "preview_gallery"):
        assert instance.get_materialized_partitions(dg.AssetKey(key)) == {A, B}
    kinds = [e.dagster_event.asset_key.to_user_string() for e in instance.all_logs(result.run_id)
             if e.dagster_event and e.dagster_event.event_type_value == "ASSET_MATERIALIZATION"]
    assert kinds.index("proposal_thumbnail") > max(i for i, k in enumerate(kinds) if k == "thumbnails")
    assert programs_of_run(instance.get_run_by_id(result.run_id), instance) == [A, B]
    assert isinstance(program_products(_success_context(instance, result.run_id)), dg.SkipReason)


def test_a_run_that_changes_nothing_keeps_the_program_products(two_programs) -> None:
    """A no-op run (nothing rendered or removed) neither rewrites nor re-reports a program's products, and the
    sensor asks for none; a gallery older than an image of its program, or missing, is made again."""
    import os

    from jwql_dagster.previews.sensors import program_products

    settings, resources, instance = two_programs

    def current_of(result) -> list[str]:
        return next(m.metadata for m in result.asset_materializations_for_node("preview_assets")
                    if m.asset_key == dg.AssetKey("thumbnails"))["program_products_current"].value

    def reported(result) -> list[str]:
        return [e.dagster_event.asset_key.to_user_string() for e in instance.all_logs(result.run_id)
                if e.dagster_event and e.dagster_event.event_type_value == "ASSET_MATERIALIZATION"]

    _range_run(resources, instance)
    page = settings.output_root / "previews" / A / "index.html"
    os.utime(page, (page.stat().st_mtime + 3600,) * 2)  # a rewrite of the page now shows in its mtime
    before = page.stat().st_mtime

    again = _range_run(resources, instance)  # B has a broken file: its failure is a change each run
    assert page.stat().st_mtime == before
    assert current_of(again) == [A]
    assert reported(again).count("preview_gallery") == 1 and reported(again).count("proposal_thumbnail") == 1
    assert isinstance(program_products(_success_context(instance, again.run_id)), dg.SkipReason)

    newer = next((settings.thumbnail_root / A).glob("*_integ0.thumb"))
    os.utime(newer, (before + 60,) * 2)  # an image newer than the page (written outside a run)
    third = _range_run(resources, instance)
    assert current_of(third) == [] and page.stat().st_mtime != before  # written again

    page.unlink()  # a missing page is made again
    fourth = _range_run(resources, instance)
    assert current_of(fourth) == [] and page.is_file()


@pytest.fixture
def galleries_fail_for(monkeypatch):
    """Make writing the gallery of the given programs fail as a full disk would."""
    from jwql_dagster.previews import products

    failing: set[str] = set()
    real = products.write_gallery

    def write_gallery(program, *args, **kwargs):
        if program in failing:
            raise OSError(28, "No space left on device")
        return real(program, *args, **kwargs)

    monkeypatch.setattr(products, "write_gallery", write_gallery)
    return failing


def test_program_products_asked_in_one_range_run_only_where_missing(two_programs, galleries_fail_for) -> None:
    from jwql_dagster.previews.sensors import program_products

    _, resources, instance = two_programs
    galleries_fail_for.update({A, B})
    result = _range_run(resources, instance)
    assert result.success  # the previews are made; only the program pages are missing
    [request] = program_products(_success_context(instance, result.run_id))
    assert request.partition_key is None and request.run_key == f"{A}..{B}|{result.run_id}"
    assert (request.tags["dagster/asset_partition_range_start"], request.tags["dagster/asset_partition_range_end"]) == (A, B)

    galleries_fail_for.discard(A)
    again = _range_run(resources, instance)
    [only_b] = program_products(_success_context(instance, again.run_id))
    assert only_b.partition_key == B and only_b.run_key == f"{B}|{again.run_id}"


def test_daily_rescan_batches_stale_cells_and_skips_up_to_date_ones(two_programs) -> None:
    from jwql_dagster.previews.schedules import batched_requests, previews_daily_rescan, stale_cells

    settings, resources, instance = two_programs
    archive = resources["archive"]
    assert stale_cells(archive, [A, B]) == [(A, "nircam"), (B, "niriss")]
    _range_run(resources, instance)
    # B's broken file never gets a preview: its cell stays due, A's is up to date
    assert stale_cells(archive, [A, B]) == [(B, "niriss")]
    with dg.build_schedule_context(instance=instance, resources={"archive": archive}) as ctx:
        requests = previews_daily_rescan(ctx)
    assert [str(r.partition_key) for r in requests] == [f"niriss|{B}"]

    order = [f"jw05{i:03d}" for i in range(450)]
    stale = [(p, "nircam") for p in order[::2]] + [(order[7], "miri")]
    batched = batched_requests(stale, order, "2026-01-01")
    nircam = [r for r in batched if "nircam" in r.run_key]
    assert len(nircam) == 3  # 225 stale programs over 450 in spans of at most 200 programs
    assert nircam[0].tags == {"dagster/asset_partition_range_start": f"nircam|{order[0]}",
                              "dagster/asset_partition_range_end": f"nircam|{order[198]}"}
    assert [str(r.partition_key) for r in batched if "miri" in r.run_key] == [f"miri|{order[7]}"]


def test_program_products_of_a_backfill_range_in_one_run(two_programs) -> None:
    """A backfill's range of programs: each program's proposal thumbnail and gallery, one table row each."""
    from jwql_dagster.previews.assets import preview_gallery, proposal_thumbnail

    settings, resources, instance = two_programs
    _range_run(resources, instance)
    result = dg.materialize([proposal_thumbnail, preview_gallery], resources=resources, instance=instance,
                            tags={RANGE_START: A, RANGE_END: B})
    assert result.success
    for program in (A, B):
        assert (settings.thumbnail_root / program / f"{program}.thumb").is_file()
        assert (settings.output_root / "previews" / program / "index.html").is_file()
    thumbs = result.asset_materializations_for_node("proposal_thumbnail")
    assert sorted(m.partition for m in thumbs) == [A, B]
    rows = {r.data["program"]: r.data for r in thumbs[0].metadata["per_program"].records}
    assert rows[A]["source"] == f"{A}001001_02102_00001_nrca1_rate_integ0.thumb" and rows[B]["made"] is True
    gallery = result.asset_materializations_for_node("preview_gallery")[0].metadata
    assert {r.data["program"]: r.data["previews"] for r in gallery["per_program"].records} == {A: 3, B: 1}


def test_program_products_asked_once_while_queued(two_programs, galleries_fail_for) -> None:
    from jwql_dagster.previews.sensors import makes_its_own_program_products, program_products

    _, resources, instance = two_programs
    galleries_fail_for.update({A, B})
    first = program_products(_success_context(instance, _range_run(resources, instance).run_id))
    assert [r.tags.get("dagster/asset_partition_range_start") for r in first] == [A]
    # a queued products run of A (by partition) and of the range A..B (by range tags)
    instance.add_run(dg.DagsterRun(job_name="program_products_job", run_id="queued-a",
                                   tags={"dagster/partition": A}, status=dg.DagsterRunStatus.NOT_STARTED))
    second = program_products(_success_context(instance, _range_run(resources, instance).run_id))
    assert [r.partition_key for r in second] == [B]  # A's products run is still queued
    instance.add_run(dg.DagsterRun(job_name="program_products_job", run_id="queued-ab", status=dg.DagsterRunStatus.NOT_STARTED,
                                   tags={"dagster/asset_partition_range_start": A, "dagster/asset_partition_range_end": B}))
    third = program_products(_success_context(instance, _range_run(resources, instance).run_id))
    assert isinstance(third, dg.SkipReason)

    run = instance.get_run_by_id(_range_run(resources, instance).run_id)
    assert not makes_its_own_program_products(run, instance)  # not part of a backfill


def test_program_products_wait_for_a_run_holding_the_programs_lock(two_programs) -> None:
    """Two runs of one program finishing together: the second writes its gallery only after the first's is
    written, so the page written last lists both runs' previews; no lock file is left among the outputs."""
    import threading

    from jwql_dagster.previews.products import gallery_path, make_gallery, program_lock

    settings, resources, instance = two_programs
    archive, db = resources["archive"], resources["db"]
    folder = gallery_path(archive, A).parent
    written = threading.Event()
    with program_lock(folder):
        writer = threading.Thread(target=lambda: (make_gallery(archive, db, A), written.set()))
        writer.start()
        assert not written.wait(0.5)  # blocked while another holder has the program's lock
    writer.join(10)
    assert written.is_set() and gallery_path(archive, A).is_file()
    assert sorted(p.name for p in folder.iterdir()) == ["index.html"]
