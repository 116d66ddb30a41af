"""Asset group 'previews': preview JPEGs, thumbnails, NIRCam mosaics, proposal thumbnails, galleries.

jwql's ``generate_preview_images`` and ``generate_proposal_thumbnails`` as assets: a run of
a program x instrument partition renders every file of that cell (each file read once for
its preview and thumbnail) in the render pool, skips what is up to date, removes products
of deleted files and records per-file failures instead of stopping. The work itself is in
plan.py, stale.py and pool.py; this module is the Dagster wiring around it.
"""


import os
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import dagster as dg

from jwql_dagster.archive.resources import ArchiveFilesystem
from jwql_dagster.db.resources import JwqlDatabase
from jwql_dagster.metadata import inline_image_md, quicklook
from jwql_dagster.options import JwqlOptions
from jwql_dagster.partitions import (
    CELL_LINES_MAX,
    batched_backfill,
    program_instrument_partitions,
    program_partitions,
    split_program_instrument,
)
from jwql_dagster.previews.checks import preview_coverage
from jwql_dagster.previews.jobs import (
    ARCHIVE_FILES,
    PRODUCTS_CURRENT,
    PREVIEW_GALLERY,
    PREVIEW_IMAGES,
    PROPOSAL_THUMBNAIL,
    THUMBNAILS,
    preview_cells_job,
    preview_partition_job,
    preview_rerender_job,
    program_products_job,
)
from jwql_dagster.previews.cells import (
    CellRun,
    cell_messages,
    prepare_cell,
    record_cell,
    render_cells,
    run_plan_line,
)
from jwql_dagster.previews.plan import Plan, SourceFile, product_mtimes
from jwql_dagster.previews.pool import progress_due, progress_line, warm_up
from jwql_dagster.previews.resources import RenderPool
from jwql_dagster.previews.products import (
    GalleryPage,
    ProposalThumbnail,
    gallery_path,
    make_gallery,
    make_proposal_thumbnail,
    products_current,
    program_area,
)
from jwql_dagster.previews.version import PREVIEW_CODE_VERSION
from jwql_dagster.previews.worker import RenderOutcome

GROUP = "previews"
MAX_LISTED = 10  # file names shown in a log line
MAX_TABLE_ROWS = 20  # failures shown in the UI's table of a run

class PreviewRunConfig(dg.Config):
    """Run configuration of the preview assets."""

    overwrite: bool = False  # re-render files whose outputs already exist and are newer than the FITS file


def inline_allowed(policy: str, areas: Iterable[str]) -> bool:
    """Whether JWQL_INLINE_PREVIEWS lets an image made from files of these areas into the event log."""
    if policy == "none":
        return False
    if policy == "all":
        return True
    return all(a == "public" for a in areas)  # 'public': never a proprietary program's image


def failure_table(failed: Sequence[tuple[RenderOutcome, Sequence[SourceFile]]]) -> dg.MetadataValue:
    """The run's failures as a table in the UI (first MAX_TABLE_ROWS; the database holds them all)."""
    records = [dg.TableRecord({"file": o.name, "error": o.error_type or "Error", "reason": (o.reason or "")[:200]})
               for o, _ in failed[:MAX_TABLE_ROWS]]
    if len(failed) > MAX_TABLE_ROWS:
        records.append(dg.TableRecord({"file": f"... {len(failed) - MAX_TABLE_ROWS} more", "error": "", "reason": ""}))
    schema = dg.TableSchema(columns=[dg.TableColumn("file"), dg.TableColumn("error"), dg.TableColumn("reason")])
    return dg.MetadataValue.table(records, schema=schema)


def _inline_thumbnail(made: Sequence[RenderOutcome], plan: Plan, sources: Sequence[SourceFile],
                      thumbnail_dir: Path, policy: str) -> dg.MetadataValue | None:
    """One thumbnail for the UI, only from files the inline policy allows; an existing one when none is new."""
    candidates = [(t, [m.area for m in plan.members.get(o.name, [])]) for o in made for t in o.thumbnails]
    if not candidates:
        existing = product_mtimes(thumbnail_dir, ".thumb")
        candidates = [(str(thumbnail_dir / f"{s.stem}_integ0.thumb"), [s.area]) for s in sources
                      if f"{s.stem}_integ0.thumb" in existing]
    for path, member_areas in candidates:
        if member_areas and inline_allowed(policy, member_areas):
            try:
                return inline_image_md(path, alt=os.path.basename(path), max_px=200)
            except Exception:  # noqa: BLE001 - a missing or odd image only loses the picture
                return None
    return None


def _cell_row(cell: CellRun) -> dg.TableRecord:
    return dg.TableRecord({
        "program": cell.program, "instrument": cell.instrument, "files": len(cell.sources),
        "made": cell.count("file", True), "skipped": len(cell.plan.skipped), "failed": cell.count("file", False),
        "mosaics_made": cell.count("mosaic", True), "mosaics_failed": cell.count("mosaic", False),
        "removed": cell.removal.total,
    })


def cells_table(cells: Sequence[CellRun]) -> dg.MetadataValue:
    """Each cell's outcome in a run over many cells (the database has the failure rows of each)."""
    columns = [dg.TableColumn("program"), dg.TableColumn("instrument")] + [
        dg.TableColumn(name, "int") for name in
        ("files", "made", "skipped", "failed", "mosaics_made", "mosaics_failed", "removed")]
    return dg.MetadataValue.table([_cell_row(c) for c in cells], schema=dg.TableSchema(columns=columns))


def _log_plan(context: dg.AssetExecutionContext, cells: Sequence[CellRun], workers: int) -> None:
    detail = len(cells) <= CELL_LINES_MAX
    for cell in cells:
        for warning, text in cell_messages(cell, workers, detail):
            (context.log.warning if warning else context.log.info)(text)
    if not detail:
        context.log.info(run_plan_line(cells, workers))


@batched_backfill(
    dg.multi_asset,
    outs={
        "preview_images": dg.AssetOut(
            key=PREVIEW_IMAGES,
            description="Preview JPEGs (one per shown integration) and NIRCam mosaics of a program x instrument.",
            code_version=PREVIEW_CODE_VERSION,
            kinds={"jpeg"},
            is_required=True,
        ),
        "thumbnails": dg.AssetOut(
            key=THUMBNAILS,
            description="Thumbnails (integration 0) of rate, dark and uncal files and of NIRCam mosaics.",
            code_version=PREVIEW_CODE_VERSION,
            kinds={"jpeg"},
            is_required=True,
        ),
    },
    deps=[ARCHIVE_FILES],
    partitions_def=program_instrument_partitions,
    group_name=GROUP,
    can_subset=False,
    # A step renders on every core through its own pool (JWQL_PREVIEW_WORKERS): the 'render'
    # pool bounds how many such steps run at once (1 per machine: see docs/previews.md).
    pool="render",
)
def preview_assets(
    context: dg.AssetExecutionContext,
    config: PreviewRunConfig,
    archive: ArchiveFilesystem,
    db: JwqlDatabase,
    options: JwqlOptions,
    render_pool: RenderPool,  # noqa: ARG001 - asked for so its fork server starts with the run
) -> Iterator[dg.MaterializeResult]:
    """Render previews and thumbnails of every file of the run's program x instrument cells (one or a range)."""
    workers = options.preview_workers
    warm_up(workers)  # at the latest now (render_pool started it with the run): imports overlap with planning
    cells = [prepare_cell(archive, db, *split_program_instrument(key), config.overwrite)
             for key in context.partition_keys]
    _log_plan(context, cells, workers)

    start = time.perf_counter()
    n = sum(len(c.plan.tasks) for c in cells)
    for i, (cell, outcome) in enumerate(render_cells(archive, cells, workers), 1):
        if progress_due(i, n, outcome):
            (context.log.info if outcome.ok else context.log.warning)(progress_line(i, n, outcome))
    wall = time.perf_counter() - start
    for cell in cells:
        for problem in cell.record_problems:
            context.log.warning(f"could not write the member record of {problem} (the mosaic is remade next run)")
        record_cell(db, cell, context.run.run_id)
    unwritable = [o for c in cells for o in c.outcomes if o.output_error]
    if unwritable:  # disk full or read-only: fail the run (and so retry it) instead of a quiet success
        raise dg.Failure(
            description=f"{len(unwritable)} product(s) could not be written: {unwritable[0].reason}. "
                        "Each has a failure record; a later run renders them once there is space.",
            metadata={"failures": failure_table([f for c in cells for f in c.failed])},
        )

    made = [o for c in cells for o in c.made]
    failed = [f for c in cells for f in c.failed]
    file_seconds = [o.seconds for c in cells for o in c.outcomes if o.kind == "file"]
    programs = sorted({c.program for c in cells})
    common: dict[str, Any] = {
        "files_seen": dg.MetadataValue.int(sum(len(c.sources) for c in cells)),
        "files_made": dg.MetadataValue.int(sum(c.count("file", True) for c in cells)),
        "files_skipped": dg.MetadataValue.int(sum(len(c.plan.skipped) for c in cells)),
        "files_failed": dg.MetadataValue.int(sum(c.count("file", False) for c in cells)),
        "mosaics_made": dg.MetadataValue.int(sum(c.count("mosaic", True) for c in cells)),
        "mosaics_skipped": dg.MetadataValue.int(sum(len(c.plan.skipped_mosaics) for c in cells)),
        "mosaics_failed": dg.MetadataValue.int(sum(c.count("mosaic", False) for c in cells)),
        "seconds_per_file": dg.MetadataValue.float(round(sum(file_seconds) / len(file_seconds), 4) if file_seconds else 0.0),
        "seconds_total": dg.MetadataValue.float(round(wall, 3)),
        "workers": dg.MetadataValue.int(workers),
        "overwrite": dg.MetadataValue.bool(config.overwrite),
        "stale_removed": dg.MetadataValue.int(sum(c.removal.total for c in cells)),
        "deleted_files_cleaned": dg.MetadataValue.int(sum(len(c.removal.sources) for c in cells)),
        "mosaics_removed": dg.MetadataValue.int(sum(len(c.removal.mosaics) for c in cells)),
    }
    if len(cells) == 1:
        cell = cells[0]
        common = {"program": cell.program, "instrument": cell.instrument, "quicklook": quicklook(cell.program),
                  **common, "gallery": dg.MetadataValue.path(str(gallery_path(archive, cell.program)))}
        inline = _inline_thumbnail(cell.made, cell.plan, cell.sources, cell.thumbnail_dir, options.inline_previews)
        if inline is not None:
            common["thumbnail"] = inline
    else:
        common["cells"], common["quicklook"] = cells_table(cells), quicklook()
        common["programs"] = dg.MetadataValue.int(len(programs))
    if failed:
        common["failures"] = failure_table(failed)

    # Programs whose cells here changed nothing and whose gallery is newer than all their images keep their products.
    changed = {c.program for c in cells if config.overwrite or c.outcomes or c.removal.total}
    current = [p for p in programs if p not in changed and products_current(archive, p)]
    one = cells[0] if len(cells) == 1 else None
    yield dg.MaterializeResult(
        asset_key=PREVIEW_IMAGES,
        metadata={**common, **({"output_folder": dg.MetadataValue.path(str(one.preview_dir))} if one else {}),
                  "previews_written": dg.MetadataValue.int(sum(len(o.previews) for o in made)),
                  "previews_removed": dg.MetadataValue.int(sum(len(c.removal.previews) for c in cells))},
    )
    yield dg.MaterializeResult(
        asset_key=THUMBNAILS,
        metadata={**common, **({"output_folder": dg.MetadataValue.path(str(one.thumbnail_dir))} if one else {}),
                  "thumbnails_written": dg.MetadataValue.int(sum(len(o.thumbnails) for o in made)),
                  "thumbnails_removed": dg.MetadataValue.int(sum(len(c.removal.thumbnails) for c in cells)),
                  PRODUCTS_CURRENT: dg.MetadataValue.json(current)},
    )
    if current:
        context.log.info(f"program products up to date (nothing rendered or removed): "
                         f"{', '.join(current[:MAX_LISTED])}{' ...' if len(current) > MAX_LISTED else ''}")
    # After the thumbnails' materializations, so the UI never shows the program products older than them.
    make_program_products(context, archive, db, options, [p for p in programs if p not in current])


# ---------------------------------------------------------------- program-level products

with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.BetaWarning)  # the documented way to map program x instrument onto program
    _by_program = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="program")


def _proposal_thumbnail_metadata(made: ProposalThumbnail, archive: ArchiveFilesystem, options: JwqlOptions) -> dict[str, Any]:
    if made.path is None:
        return {"source": dg.MetadataValue.text("(none)"), "made": False, "quicklook": quicklook(made.program)}
    metadata: dict[str, Any] = {
        "source": dg.MetadataValue.text(made.source or ""),
        "path": dg.MetadataValue.path(str(made.path)),
        "made": True,
        "quicklook": quicklook(made.program),
    }
    if inline_allowed(options.inline_previews, [program_area(archive, made.program)]):
        metadata["thumbnail"] = inline_image_md(made.path, alt=f"{made.program}.thumb", max_px=200)
    return metadata


def _gallery_metadata(page: GalleryPage) -> dict[str, Any]:
    return {
        "path": dg.MetadataValue.path(str(page.path)),
        "url": dg.MetadataValue.url(page.path.as_uri()),
        "quicklook": quicklook(page.program),
        "previews": dg.MetadataValue.int(page.n_previews),
        "thumbnails": dg.MetadataValue.int(page.n_thumbnails),
        "observations": dg.MetadataValue.int(page.observations),
    }


def _proposal_thumbnail_of(context: dg.AssetExecutionContext, archive: ArchiveFilesystem, options: JwqlOptions,
                           program: str) -> dict[str, Any]:
    made = make_proposal_thumbnail(archive, program)
    if made.source is None:
        context.log.info(f"{program}: no rate, dark or uncal thumbnail yet; no proposal thumbnail made")
    else:
        context.log.info(f"{program}: proposal thumbnail copied from {made.source}")
    return _proposal_thumbnail_metadata(made, archive, options)


def _gallery_of(context: dg.AssetExecutionContext, archive: ArchiveFilesystem, db: JwqlDatabase,
                program: str) -> dict[str, Any]:
    page = make_gallery(archive, db, program)
    context.log.info(f"{program}: gallery of {page.n_previews} previews written to {page.path}")
    return _gallery_metadata(page)


def _per_program(context: dg.AssetExecutionContext, make: Callable[[str], dict[str, Any]],
                 columns: Sequence[str]) -> dg.MaterializeResult:
    """Makes a program product for each program of the run; one program keeps its own metadata, a run
    over many shows a table of each program's values (``columns``) and how many."""
    def plain(value: Any) -> Any:
        return value.value if isinstance(value, dg.MetadataValue) else value

    rows = [(program, make(program)) for program in context.partition_keys]
    if len(rows) == 1:
        return dg.MaterializeResult(metadata=rows[0][1])
    records = [dg.TableRecord({"program": program, **{c: plain(meta.get(c, "")) for c in columns}})
               for program, meta in rows]
    return dg.MaterializeResult(metadata={
        "programs": dg.MetadataValue.int(len(rows)),
        "per_program": dg.MetadataValue.table(records, schema=dg.TableSchema(
            columns=[dg.TableColumn("program")] + [dg.TableColumn(c) for c in columns]))})


def make_program_products(context: dg.AssetExecutionContext, archive: ArchiveFilesystem, db: JwqlDatabase,
                          options: JwqlOptions, programs: Sequence[str]) -> None:
    """The proposal thumbnail and gallery of each program of a preview run, made by the run itself and
    reported as materializations of ``proposal_thumbnail`` and ``preview_gallery`` partitions: one batch,
    one run, instead of a products run per program after it. For a program that fails here the
    ``program_products`` sensor asks a products run once the preview run succeeded."""
    failed: list[str] = []
    made = 0
    for program in programs:
        try:
            thumb = make_proposal_thumbnail(archive, program)
            page = make_gallery(archive, db, program)
        except (OSError, ValueError) as exc:  # disk full, an unsafe path: the previews themselves are made
            context.log.warning(f"{program}: proposal thumbnail or gallery not made: {type(exc).__name__}: {exc}")
            failed.append(program)
            continue
        made += thumb.source is not None
        context.log_event(dg.AssetMaterialization(asset_key=PROPOSAL_THUMBNAIL, partition=program,
                                                  metadata=_proposal_thumbnail_metadata(thumb, archive, options)))
        context.log_event(dg.AssetMaterialization(asset_key=PREVIEW_GALLERY, partition=program,
                                                  metadata=_gallery_metadata(page)))
    if not programs:
        return
    done = len(programs) - len(failed)
    context.log.info(f"program products: {done} gallery page(s) and {made} proposal thumbnail(s) written for "
                     f"{', '.join(programs[:MAX_LISTED])}{' ...' if len(programs) > MAX_LISTED else ''}")


@batched_backfill(
    dg.asset,
    key=PROPOSAL_THUMBNAIL,
    deps=[dg.AssetDep(THUMBNAILS, partition_mapping=_by_program)],
    partitions_def=program_partitions,
    group_name=GROUP,
    kinds={"jpeg"},
)
def proposal_thumbnail(
    context: dg.AssetExecutionContext, archive: ArchiveFilesystem, options: JwqlOptions
) -> dg.MaterializeResult:
    """The program's thumbnail ($JWQL_THUMBNAIL_ROOT/jw<PPPPP>/jw<PPPPP>.thumb) for the archive page.

    A backfill makes those of up to CELLS_PER_RUN programs in one run (a partition range).
    """
    return _per_program(context, lambda program: _proposal_thumbnail_of(context, archive, options, program),
                        ("source", "made"))


@batched_backfill(
    dg.asset,
    key=PREVIEW_GALLERY,
    deps=[dg.AssetDep(PREVIEW_IMAGES, partition_mapping=_by_program),
          dg.AssetDep(THUMBNAILS, partition_mapping=_by_program)],
    partitions_def=program_partitions,
    group_name=GROUP,
    kinds={"html"},
)
def preview_gallery(
    context: dg.AssetExecutionContext, archive: ArchiveFilesystem, db: JwqlDatabase
) -> dg.MaterializeResult:
    """A static HTML page of every preview and thumbnail of the program ($JWQL_OUTPUT_ROOT/previews/jw<PPPPP>/index.html).

    A backfill writes those of up to CELLS_PER_RUN programs in one run (a partition range).
    """
    return _per_program(context, lambda program: _gallery_of(context, archive, db, program),
                        ("previews", "thumbnails", "path"))


defs = dg.Definitions(
    assets=[preview_assets, proposal_thumbnail, preview_gallery],
    asset_checks=[preview_coverage],
    jobs=[preview_partition_job, preview_cells_job, program_products_job, preview_rerender_job],
)
