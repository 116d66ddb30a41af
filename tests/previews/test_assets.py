"""Preview assets end to end: names, skipping, remaking, failures, coverage, proposal thumbnail, gallery, sensor, schedule."""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import dagster as dg
import pytest
import sqlalchemy as sa

from tests.plugins.fits import write_fits
from tests.plugins.resources import make_resources
from tests.previews.program import E1, E2, E3, NIRCAM_PREVIEWS, NIRCAM_THUMBS, P, V, listing, make_program, materialize_previews

def test_partition_run_makes_exactly_the_jwql_names(env) -> None:
    settings, resources, instance = env
    result, meta = materialize_previews(resources, instance)
    prev = settings.preview_root / P
    thumbs = settings.thumbnail_root / P
    assert listing(prev, ".jpg") == NIRCAM_PREVIEWS
    # jwql's thumbnails, plus the program's proposal thumbnail, which the run makes itself
    assert listing(thumbs, ".thumb") == NIRCAM_THUMBS | {f"{P}.thumb"}
    assert not list(prev.glob(".tmp-*")) and not list(thumbs.glob(".tmp-*"))
    m = meta["preview_images"]
    assert m["files_seen"].value == 9  # x1d ignored, niriss elsewhere
    assert m["files_made"].value == 9 and m["files_skipped"].value == 0 and m["files_failed"].value == 0
    assert m["mosaics_made"].value == 2
    assert m["output_folder"].value == str(prev)
    assert meta["thumbnails"]["output_folder"].value == str(thumbs)
    assert m["gallery"].value.endswith(f"outputs/previews/{P}/index.html")
    assert "data:image/jpeg;base64," in m["thumbnail"].value  # public program: inline thumbnail
    logs = [e.user_message for e in instance.all_logs(result.run_id)]
    progress = [line for line in logs if re.match(r"^\[\d+/11\] rendered jw\S+\.fits -> ", line)]
    assert len(progress) == 11
    assert any(re.match(rf"^\[\d+/11\] rendered {E1}_NRC_SWA_MOSAIC_rate\.fits -> 1 preview, 1 thumbnail", line)
               for line in progress)
    assert any(re.match(rf"^\[\d+/11\] rendered {E1}_nrca1_rate\.fits -> 1 preview, 1 thumbnail \(\d+\.\d\d s\)$", line)
               for line in progress)
    # the partition's coverage check passed in the same run
    checks = result.get_asset_check_evaluations()
    assert [c.passed for c in checks] == [True]
    # the other instrument of the program is its own partition
    _, meta_nis = materialize_previews(resources, instance, instrument="niriss")
    assert meta_nis["preview_images"]["files_seen"].value == 1
    assert f"{P}002001_02101_00001_nis_rate_integ0.jpg" in listing(prev, ".jpg")


def test_second_run_skips_and_touched_file_is_remade(env) -> None:
    settings, resources, instance = env
    materialize_previews(resources, instance)
    prev = settings.preview_root / P
    before = {p.name: p.stat().st_mtime_ns for p in prev.glob("*.jpg")}
    _, meta = materialize_previews(resources, instance)
    m = meta["preview_images"]
    assert (m["files_made"].value, m["files_skipped"].value, m["mosaics_made"].value) == (0, 9, 0)
    assert {p.name: p.stat().st_mtime_ns for p in prev.glob("*.jpg")} == before
    # a FITS file rewritten after its preview: its preview and its group's mosaic are remade
    fits_path = settings.filesystem / "public" / P / V / f"{E1}_nrca2_rate.fits"
    newer = max(before.values()) / 1e9 + 5
    os.utime(fits_path, (newer, newer))
    _, meta = materialize_previews(resources, instance)
    m = meta["preview_images"]
    assert (m["files_made"].value, m["files_skipped"].value, m["mosaics_made"].value) == (1, 8, 1)
    after = {p.name: p.stat().st_mtime_ns for p in prev.glob("*.jpg")}
    changed = {n for n in after if after[n] != before[n]}
    assert changed == {f"{E1}_nrca2_rate_integ0.jpg", f"{E1}_NRC_SWA_MOSAIC_rate_integ0.jpg"}
    # overwrite: everything again
    _, meta = materialize_previews(resources, instance, overwrite=True)
    assert meta["preview_images"]["files_made"].value == 9


def test_broken_files_recorded_and_others_still_done(env) -> None:
    settings, resources, instance = env
    visit = settings.filesystem / "public" / "jw02000" / "jw02000001001"
    write_fits(visit / "jw02000001001_02102_00001_nrca1_rate.fits", "nrca1", "rate")
    write_fits(visit / "jw02000001001_02102_00002_nrca1_rate.fits", "nrca1", "rate")
    write_fits(visit / "jw02000001001_02102_00003_nrca1_cal.fits", "nrca1", "cal")
    bad = visit / "jw02000001001_02102_00004_nrca1_rate.fits"
    bad.write_bytes(b"this is not FITS at all" * 100)
    _, meta = materialize_previews(resources, instance, program="jw02000")
    m = meta["preview_images"]
    assert m["files_made"].value == 3 and m["files_failed"].value == 1
    assert bad.name in [r.data["file"] for r in m["failures"].records]
    assert len(listing(settings.preview_root / "jw02000", ".jpg")) == 3
    db = resources["db"]
    from jwql_dagster.db.models import FileFailure

    t = FileFailure.__table__
    with db.session(readonly=True) as s:
        rows = s.execute(sa.select(t.c.filename, t.c.product, t.c.program, t.c.instrument, t.c.reason)).all()
    assert [(r.filename, r.product, r.program, r.instrument) for r in rows] == [(bad.name, "preview_images", "jw02000", "nircam")]
    assert rows[0].reason
    # the file is fixed: the next run renders it and clears its failure row
    write_fits(bad, "nrca1", "rate")
    _, meta = materialize_previews(resources, instance, program="jw02000")
    assert meta["preview_images"]["files_made"].value == 1 and meta["preview_images"]["files_failed"].value == 0
    with db.session(readonly=True) as s:
        assert s.execute(sa.select(sa.func.count()).select_from(t)).scalar() == 0


def test_coverage_check_fails_when_a_preview_disappears(env) -> None:
    from jwql_dagster.previews.assets import preview_assets, preview_coverage
    from jwql_dagster.partitions import program_instrument_key
    from jwql_dagster.options import JwqlOptions

    settings, resources, instance = env
    materialize_previews(resources, instance)
    materialize_previews(resources, instance, instrument="niriss")
    victim = settings.preview_root / P / f"{E3}_nrca1_rateints_integ0.jpg"
    victim.unlink()
    key = program_instrument_key(P, "nircam")

    def check(options):
        # the check on its own (as from the UI): no partition, so it looks at every partition
        result = dg.materialize([preview_assets, preview_coverage], resources=dict(resources, options=options),
                                instance=instance, selection=dg.AssetSelection.checks(preview_coverage))
        (evaluation,) = result.get_asset_check_evaluations()
        return evaluation

    ev = check(resources["options"])
    assert not ev.passed
    assert f"{E3}_nrca1_rateints.fits" in ev.metadata["missing_files"].value
    assert ev.metadata["missing"].value == 1
    # a broken file recorded as a failure counts as covered (a warning, issue 19), until failures pass the threshold
    visit = settings.filesystem / "public" / P / V
    (visit / f"{P}001001_02102_00009_nrca1_rate.fits").write_bytes(b"broken")
    materialize_previews(resources, instance)  # remakes the deleted one, records the broken one
    ev = check(JwqlOptions(preview_workers=1, max_failure_rate=0.5))
    assert not ev.passed and ev.severity == dg.AssetCheckSeverity.WARN and ev.metadata["missing"].value == 0
    ev = check(JwqlOptions(preview_workers=1, max_failure_rate=0.05))
    assert not ev.passed and ev.metadata["failed"].value == 1 and ev.severity == dg.AssetCheckSeverity.ERROR
    assert f"{P}001001_02102_00009_nrca1_rate.fits" in ev.metadata["failed_files"].value


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.srcs: list[str] = []

    def handle_starttag(self, tag, attrs):
        d = dict(attrs)
        if tag == "a":
            self.hrefs.append(d["href"])
        elif tag == "img":
            self.srcs.append(d["src"])


def test_program_products_proposal_thumbnail_and_gallery(env) -> None:
    from jwql_dagster.previews.assets import preview_gallery, proposal_thumbnail

    settings, resources, instance = env
    materialize_previews(resources, instance)
    materialize_previews(resources, instance, instrument="niriss")
    result = dg.materialize([proposal_thumbnail, preview_gallery], partition_key=P, resources=resources,
                            instance=instance)
    assert result.success
    thumb = settings.thumbnail_root / P / f"{P}.thumb"
    source = settings.thumbnail_root / P / f"{E1}_nrca1_rate_integ0.thumb"  # lexically first non-mosaic rate
    assert thumb.read_bytes() == source.read_bytes()
    assert oct(thumb.stat().st_mode & 0o777) == "0o644"
    page = settings.output_root / "previews" / P / "index.html"
    parser = _Links()
    parser.feed(page.read_text())
    targets = {(page.parent / unquote(h)).resolve() for h in parser.hrefs}
    all_previews = {p.resolve() for p in (settings.preview_root / P).glob("*.jpg")}
    assert targets == all_previews and len(all_previews) == len(NIRCAM_PREVIEWS) + 1
    assert len(parser.srcs) == len(NIRCAM_THUMBS) + 1
    assert all((page.parent / unquote(s)).resolve().is_file() for s in parser.srcs)
    meta = result.asset_materializations_for_node("preview_gallery")[0].metadata
    assert meta["previews"].value == len(all_previews)


def test_inline_thumbnail_policy(jwql_env, sqlite_db) -> None:
    from jwql_dagster.options import JwqlOptions

    make_program(jwql_env.filesystem, area="proprietary", program="jw03000")
    resources = make_resources(jwql_env, db=sqlite_db)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("program", ["jw03000"])
        for policy, shown in [("public", False), ("none", False), ("all", True)]:
            _, meta = materialize_previews(resources, instance, program="jw03000", overwrite=True,
                                           options=JwqlOptions(preview_workers=1, inline_previews=policy))
            assert ("thumbnail" in meta["preview_images"]) is shown, policy


def test_pool_of_workers_renders_the_same_names(env) -> None:
    from jwql_dagster.options import JwqlOptions

    settings, resources, instance = env
    _, meta = materialize_previews(resources, instance, options=JwqlOptions(preview_workers=2, max_failure_rate=0.5))
    assert meta["preview_images"]["files_made"].value == 9
    assert listing(settings.preview_root / P, ".jpg") == NIRCAM_PREVIEWS
    assert listing(settings.thumbnail_root / P, ".thumb") == NIRCAM_THUMBS | {f"{P}.thumb"}


def run_preview_partition_job(resources, instance, program=P, instrument="nircam"):
    """The real preview_partition_job (archive_files, then previews and thumbnails) of one partition."""
    from jwql_dagster.archive import assets as archive_files
    from jwql_dagster.previews import assets as previews
    from jwql_dagster.partitions import program_instrument_key

    defs = dg.Definitions.merge(archive_files.defs, previews.defs, dg.Definitions(resources=resources))
    job = defs.resolve_job_def("preview_partition_job")
    return job.execute_in_process(partition_key=program_instrument_key(program, instrument), instance=instance)


def test_preview_job_makes_program_products_and_the_sensor_asks_for_none(env) -> None:
    from jwql_dagster.previews.sensors import program_products

    settings, resources, instance = env
    result = run_preview_partition_job(resources, instance)
    assert result.success
    assert listing(settings.preview_root / P, ".jpg") == NIRCAM_PREVIEWS
    assert (settings.thumbnail_root / P / f"{P}.thumb").is_file()
    assert (settings.output_root / "previews" / P / "index.html").is_file()
    run = instance.get_run_by_id(result.run_id)
    success = [e for e in instance.all_logs(result.run_id)
               if e.dagster_event and e.dagster_event.event_type_value == "PIPELINE_SUCCESS"]
    ctx = dg.build_run_status_sensor_context(sensor_name="program_products", dagster_event=success[0].dagster_event,
                                             dagster_instance=instance, dagster_run=run)
    skip = program_products(ctx)
    assert isinstance(skip, dg.SkipReason) and "itself" in skip.skip_message
    # an ad-hoc run of other assets asks for nothing
    from jwql_dagster.archive.assets import archive_files as archive_asset
    from jwql_dagster.partitions import program_instrument_key

    other = dg.materialize([archive_asset], partition_key=program_instrument_key(P, "niriss"), resources=resources,
                           instance=instance)
    other_run = instance.get_run_by_id(other.run_id)
    other_success = [e for e in instance.all_logs(other.run_id)
                     if e.dagster_event and e.dagster_event.event_type_value == "PIPELINE_SUCCESS"]
    ctx = dg.build_run_status_sensor_context(sensor_name="program_products", dagster_event=other_success[0].dagster_event,
                                             dagster_instance=instance, dagster_run=other_run)
    assert isinstance(program_products(ctx), dg.SkipReason)


def test_daily_rescan_requests_every_partition_with_files(env) -> None:
    from jwql_dagster.previews.schedules import previews_daily_rescan

    settings, resources, instance = env
    # Closed after use: the context opens its own instance, and left open that instance stays the
    # process's current defs-state storage after the test, breaking later Definitions loads.
    with dg.build_schedule_context(instance=instance, resources={"archive": resources["archive"]}) as ctx:
        requests = previews_daily_rescan(ctx)
    # both instruments of the program in one run: the range nircam|P..niriss|P
    assert [(r.tags.get("dagster/asset_partition_range_start"), r.tags.get("dagster/asset_partition_range_end"))
            for r in requests] == [(f"nircam|{P}", f"niriss|{P}")]
    assert previews_daily_rescan.default_status == dg.DefaultScheduleStatus.STOPPED


def test_guider_and_ignored_files_get_no_preview(env) -> None:
    from jwql_dagster.previews.plan import partition_sources

    settings, resources, instance = env
    visit = settings.filesystem / "public" / P / V
    write_fits(visit / f"{V}_gs-fg_2022123456789_cal.fits", "guider1", "cal")
    write_fits(visit / f"{P}001001_02102_00001_guider1_rate.fits", "guider1", "rate")
    names = [s.name for s in partition_sources(resources["archive"].program_files(P), "fgs")]
    assert names == [f"{P}001001_02102_00001_guider1_rate.fits"]  # FGS science files do get previews
    assert not any(s.name.endswith("_x1d.fits") for s in partition_sources(resources["archive"].program_files(P), "nircam"))


def test_failure_rows_upserted_and_cleared(jwql_db) -> None:
    from jwql_dagster.previews.worker import RenderOutcome
    from jwql_dagster.db.failures import record_failures, recorded_failures
    from jwql_dagster.previews.pool import failure_rows

    bad = RenderOutcome("file", "jw01068001001_02102_00001_nrca1_rate.fits", error_type="FitsReadError", reason="truncated")
    mosaic = RenderOutcome("mosaic", "jw01068001001_02102_00001_NRC_SWA_MOSAIC_rate.fits", error_type="MosaicError",
                           reason="mixed")
    for run in ("run1", "run2"):  # twice: the same rows, updated
        record_failures(jwql_db, P, "nircam", run, failure_rows([(bad, []), (mosaic, [])]), [])
    assert recorded_failures(jwql_db, "preview_images", P, "nircam") == {bad.name: "truncated"}
    from jwql_dagster.db.models import FileFailure

    t = FileFailure.__table__
    with jwql_db.session(readonly=True) as s:
        rows = s.execute(sa.select(t.c.filename, t.c.product, t.c.run_id)).all()
    assert sorted((r.product, r.run_id) for r in rows) == [("mosaic", "run2"), ("preview_images", "run2")]
    record_failures(jwql_db, P, "nircam", "run3", [], [(bad.name, "preview_images"), (mosaic.name, "mosaic")])
    with jwql_db.session(readonly=True) as s:
        assert s.execute(sa.select(sa.func.count()).select_from(t)).scalar() == 0


def test_definitions_of_the_previews_group() -> None:
    from jwql_dagster.archive import assets as archive_files
    from jwql_dagster.previews import assets as previews
    from jwql_dagster.previews import schedules as preview_schedules
    from jwql_dagster.previews import sensors as program_products

    defs = dg.Definitions.merge(archive_files.defs, previews.defs, program_products.defs, preview_schedules.defs,
                                dg.Definitions(resources=make_resources()))
    # Resolve inside a live instance: Dagster's defs-state lookup may otherwise follow a stale
    # weak reference to an instance an earlier test closed (seen when the whole folder runs).
    with dg.instance_for_test():
        graph = defs.resolve_asset_graph()
        for key in ("preview_images", "thumbnails"):
            node = graph.get(dg.AssetKey(key))
            assert node.code_version and node.group_name == "previews"
            assert dg.AssetKey("archive_files") in node.parent_keys
        for key in ("proposal_thumbnail", "preview_gallery"):
            assert dg.AssetKey("thumbnails") in graph.get(dg.AssetKey(key)).parent_keys
        assert defs.resolve_job_def("preview_partition_job").partitions_def is not None
        assert defs.resolve_job_def("program_products_job").partitions_def is not None
        assert defs.resolve_sensor_def("program_products") is not None
        assert defs.resolve_schedule_def("previews_daily_rescan").default_status == dg.DefaultScheduleStatus.STOPPED


def _proposal_resources(jwql_env, sqlite_db, area: str, program: str) -> dict:
    """Resources for one rendered rate file of ``program`` in archive ``area``, inline policy 'public'."""
    from jwql_dagster.previews.render import render_file
    from jwql_dagster.options import JwqlOptions

    fits_path = write_fits(jwql_env.filesystem / area / program / f"{program}001001"
                           / f"{program}001001_02102_00001_nrca1_rate.fits", "nrca1", "rate")
    render_file(fits_path, jwql_env.preview_root / program, jwql_env.thumbnail_root / program)
    return make_resources(jwql_env, db=sqlite_db, options=JwqlOptions(preview_workers=1, inline_previews="public"))


def _proposal_metadata(resources: dict, program: str):
    from jwql_dagster.previews.assets import proposal_thumbnail

    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("program", [program])
        result = dg.materialize([proposal_thumbnail], partition_key=program, resources=resources, instance=instance)
        assert result.success
        return result.asset_materializations_for_node("proposal_thumbnail")[0].metadata


def test_proposal_thumbnail_not_inlined_when_the_archive_is_not_visible(jwql_env, sqlite_db) -> None:
    """JWQL_INLINE_PREVIEWS=public must fail closed: an unmounted archive does not make a program public."""
    from jwql_dagster.archive.resources import ArchiveFilesystem

    program = "jw03000"
    resources = _proposal_resources(jwql_env, sqlite_db, "proprietary", program)
    assert "thumbnail" not in _proposal_metadata(resources, program)  # mounted: proprietary, not shown
    fields = {k: getattr(resources["archive"], k) for k in ArchiveFilesystem.model_fields}
    unmounted = dict(resources, archive=ArchiveFilesystem(
        **{**fields, "filesystem": str(jwql_env.filesystem.parent / "not-mounted")}))
    m = _proposal_metadata(unmounted, program)
    assert m["made"].value is True
    assert "thumbnail" not in m  # archive not visible: the program's area is unknown, so no inline image


def test_proposal_thumbnail_of_a_public_program_is_inlined(jwql_env, sqlite_db) -> None:
    program = "jw03001"
    resources = _proposal_resources(jwql_env, sqlite_db, "public", program)
    assert "thumbnail" in _proposal_metadata(resources, program)


def test_code_version_follows_the_rendering_code(tmp_path: Path) -> None:
    """Any change to a module that decides what a preview looks like changes the previews' code_version."""
    import shutil

    from jwql_dagster.previews import assets
    from jwql_dagster.previews.version import PREVIEW_CODE_VERSION, render_code_version

    folder = Path(assets.__file__).parent
    for name in ("render.py", "frame.py", "fits_io.py", "mosaic.py", "worker.py"):
        shutil.copy(folder / name, tmp_path / name)
    same = render_code_version(tmp_path)
    assert same == render_code_version(folder) and same.startswith("previews-2+")
    frame = tmp_path / "frame.py"
    frame.write_text(frame.read_text().replace("DPI = 100", "DPI = 101"))
    assert render_code_version(tmp_path) != same
    assert {spec.code_version for spec in assets.preview_assets.specs} == {PREVIEW_CODE_VERSION}


def test_a_code_version_bump_marks_materialized_partitions_stale(env) -> None:
    """What the UI shows: after a rendering change, partitions made by the old code are stale, others not."""
    from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
    from dagster._core.loader import LoadingContextForTest

    from jwql_dagster.partitions import program_instrument_key
    from jwql_dagster.previews.assets import preview_assets

    settings, resources, instance = env
    key = program_instrument_key(P, "niriss")
    assert dg.materialize([preview_assets], partition_key=key, resources=resources, instance=instance).success

    def status(assets_def) -> StaleStatus:
        graph = dg.Definitions(assets=[assets_def], resources=resources).resolve_asset_graph()
        # the resolver behind the UI's "stale" badge (the webserver builds it the same way)
        resolver = CachingStaleStatusResolver(instance, graph, loading_context=LoadingContextForTest(instance))
        return resolver.get_status(dg.AssetKey("preview_images"), str(key))

    assert status(preview_assets) == StaleStatus.FRESH
    bumped = preview_assets.map_asset_specs(lambda spec: spec.replace_attributes(code_version="previews-2+changed"))
    assert status(bumped) == StaleStatus.STALE
