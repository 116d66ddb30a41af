"""Asset group 'previews': preview JPEGs, thumbnails, NIRCam mosaics, proposal thumbnails, galleries.

jwql's ``generate_preview_images`` and ``generate_proposal_thumbnails`` as assets: a run of
a program x instrument partition renders every file of that cell (each file read once for
its preview and thumbnail) in the render pool, skips what is up to date, removes products
of deleted files and records per-file failures instead of stopping. The work itself is in
plan.py, stale.py and pool.py; this module is the Dagster wiring around it.
"""


import hashlib
import os
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import dagster as dg

from jwql_dagster.archive.resources import ArchiveFilesystem
from jwql_dagster.atomic import atomic_copy
from jwql_dagster.db.failures import deleted_sources
from jwql_dagster.db.resources import JwqlDatabase
from jwql_dagster.metadata import inline_image_md, quicklook
from jwql_dagster.options import JwqlOptions
from jwql_dagster.partitions import (
    batched_backfill as _batched,
    program_instrument_partitions,
    program_partitions,
    split_program_instrument,
)
from jwql_dagster.previews.checks import preview_coverage
from jwql_dagster.previews.gallery import choose_proposal_thumbnail, write_gallery
from jwql_dagster.previews.jobs import (
    ARCHIVE_FILES,
    PREVIEW_GALLERY,
    PREVIEW_IMAGES,
    PROPOSAL_THUMBNAIL,
    THUMBNAILS,
    preview_cells_job,
    preview_partition_job,
    preview_rerender_job,
    program_products_job,
)
from jwql_dagster.previews.cells import CellRun, prepare_cell, record_cell, render_cells
from jwql_dagster.previews.plan import Plan, SourceFile, product_mtimes
from jwql_dagster.previews.pool import progress_line
from jwql_dagster.previews.worker import RenderOutcome

GROUP = "previews"
MAX_LISTED = 10  # file names shown in a log line
MAX_TABLE_ROWS = 20  # failures shown in the UI's table of a run

# Modules whose code decides what a preview looks like: their source is the rendering's version.
_RENDER_MODULES = ("render.py", "frame.py", "fits_io.py", "mosaic.py", "worker.py")
PREVIEW_CODE_VERSION_BASE = "previews-2"


def render_code_version(folder: Path = Path(__file__).parent) -> str:
    """``previews-2+<hash>``: the hash of the rendering modules' source, so any change to how a
    preview is made marks every partition stale in the UI, without importing the renderer
    (and astropy) when the code location loads, and without a version number to forget."""
    digest = hashlib.sha256()
    for name in _RENDER_MODULES:
        digest.update(name.encode())
        digest.update((folder / name).read_bytes())
    return f"{PREVIEW_CODE_VERSION_BASE}+{digest.hexdigest()[:12]}"


PREVIEW_CODE_VERSION = render_code_version()


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


def gallery_path(archive: ArchiveFilesystem, program: str) -> Path:
    """$JWQL_OUTPUT_ROOT/previews/<program>/index.html."""
    return Path(archive.safe_output_path(archive.output_root, "previews", program, "index.html"))


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


def _log_cell(context: dg.AssetExecutionContext, cell: CellRun, workers: int) -> None:
    if cell.swept:
        context.log.info(f"removed {cell.swept} temporary file(s) left by interrupted runs")
    removal = cell.removal
    if removal.total:
        context.log.info(
            f"removed {len(removal.previews)} preview(s) and {len(removal.thumbnails)} thumbnail(s) of "
            f"{len(removal.sources)} file(s) deleted from the archive and {len(removal.mosaics)} mosaic(s) "
            f"no longer made")
    if removal.errors:
        context.log.warning(f"could not remove {len(removal.errors)} stale product(s): "
                            + "; ".join(removal.errors[:MAX_LISTED]))
    plan = cell.plan
    context.log.info(
        f"{cell.program} {cell.instrument}: {len(cell.sources)} files, {len(plan.tasks)} to render "
        f"({sum(t.kind == 'mosaic' for t in plan.tasks)} mosaics), {len(plan.skipped)} files and "
        f"{len(plan.skipped_mosaics)} mosaics up to date, {workers} workers"
    )


@_batched(
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
) -> Iterator[dg.MaterializeResult]:
    """Render previews and thumbnails of every file of the run's program x instrument cells (one or a range)."""
    workers = options.preview_workers
    cells = [prepare_cell(archive, db, *split_program_instrument(key), config.overwrite)
             for key in context.partition_keys]
    for cell in cells:
        _log_cell(context, cell, workers)

    start = time.perf_counter()
    n = sum(len(c.plan.tasks) for c in cells)
    for i, (cell, outcome) in enumerate(render_cells(archive, cells, workers), 1):
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
                  "thumbnails_removed": dg.MetadataValue.int(sum(len(c.removal.thumbnails) for c in cells))},
    )


# ---------------------------------------------------------------- program-level products

with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.BetaWarning)  # the documented way to map program x instrument onto program
    _by_program = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="program")


def _proposal_thumbnail_of(context: dg.AssetExecutionContext, archive: ArchiveFilesystem, options: JwqlOptions,
                           program: str) -> dict[str, Any]:
    folder = Path(archive.safe_output_path(archive.thumbnail_root, program))
    chosen = choose_proposal_thumbnail(folder)
    if chosen is None:
        context.log.info(f"{program}: no rate, dark or uncal thumbnail yet; no proposal thumbnail made")
        return {"source": dg.MetadataValue.text("(none)"), "made": False, "quicklook": quicklook(program)}
    target = Path(archive.safe_output_path(archive.thumbnail_root, program, f"{program}.thumb"))
    atomic_copy(chosen, target)
    metadata: dict[str, Any] = {
        "source": dg.MetadataValue.text(chosen.name),
        "path": dg.MetadataValue.path(str(target)),
        "made": True,
        "quicklook": quicklook(program),
    }
    if inline_allowed(options.inline_previews, [_program_area(archive, program)]):
        metadata["thumbnail"] = inline_image_md(target, alt=f"{program}.thumb", max_px=200)
    context.log.info(f"{program}: proposal thumbnail copied from {chosen.name}")
    return metadata


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


@_batched(
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


def _program_area(archive: ArchiveFilesystem, program: str) -> str:
    """'public' only when the program is seen in public/ and not in proprietary/; anything else
    (some files still proprietary, or an unmounted or unreadable archive) counts as 'proprietary'."""
    root = Path(archive.filesystem)
    try:
        public = (root / "public" / program).is_dir()
        proprietary = (root / "proprietary" / program).is_dir()
    except OSError:
        return "proprietary"
    return "public" if public and not proprietary else "proprietary"


def _gallery_of(context: dg.AssetExecutionContext, archive: ArchiveFilesystem, db: JwqlDatabase,
                program: str) -> dict[str, Any]:
    page = gallery_path(archive, program)
    preview_dir = Path(archive.safe_output_path(archive.preview_root, program))
    # Files deleted from the archive are never listed, even before a preview run has removed their images.
    hidden = {n.removesuffix(".fits") for n in deleted_sources(db, program)}
    gallery = write_gallery(
        program,
        preview_dir,
        Path(archive.safe_output_path(archive.thumbnail_root, program)),
        page,
        hidden=hidden,
    )
    context.log.info(f"{program}: gallery of {gallery.n_previews} previews written to {page}")
    return {
        "path": dg.MetadataValue.path(str(page)),
        "url": dg.MetadataValue.url(page.as_uri()),
        "quicklook": quicklook(program),
        "previews": dg.MetadataValue.int(gallery.n_previews),
        "thumbnails": dg.MetadataValue.int(gallery.n_thumbnails),
        "observations": dg.MetadataValue.int(len(gallery.groups)),
    }


@_batched(
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
