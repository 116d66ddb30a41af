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
from typing import Any, Iterable, Iterator, Sequence

import dagster as dg

from jwql_dagster.archive.resources import ArchiveFilesystem, UnsafePathError
from jwql_dagster.atomic import atomic_copy
from jwql_dagster.db.failures import deleted_sources, record_failures, recorded_failures
from jwql_dagster.db.resources import JwqlDatabase
from jwql_dagster.metadata import inline_image_md
from jwql_dagster.options import JwqlOptions
from jwql_dagster.partitions import program_instrument_partitions, program_partitions, split_program_instrument
from jwql_dagster.previews.checks import preview_coverage
from jwql_dagster.previews.gallery import choose_proposal_thumbnail, write_gallery
from jwql_dagster.previews.jobs import (
    ARCHIVE_FILES,
    PREVIEW_GALLERY,
    PREVIEW_IMAGES,
    PROPOSAL_THUMBNAIL,
    THUMBNAILS,
    program_products_job,
    preview_partition_job,
)
from jwql_dagster.previews.members import members_sidecar_name, mosaic_outputs, record_after_render
from jwql_dagster.previews.plan import (
    MOSAIC_PRODUCT,
    PRODUCT,
    Plan,
    SourceFile,
    partition_sources,
    plan_partition,
    product_mtimes,
)
from jwql_dagster.previews.pool import execute_tasks, failure_rows, product_of, progress_line
from jwql_dagster.previews.stale import remove_stale_products, sweep_stale_temp
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


def _record_mosaic_members(archive: ArchiveFilesystem, program: str, dummy: str,
                           members: Sequence[SourceFile]) -> str | None:
    stem = dummy.removesuffix(".fits")
    jpg, thumb = mosaic_outputs(stem)
    try:
        paths = (archive.safe_output_path(archive.preview_root, program, members_sidecar_name(stem)),
                 archive.safe_output_path(archive.preview_root, program, jpg),
                 archive.safe_output_path(archive.thumbnail_root, program, thumb))
    except UnsafePathError as exc:
        return str(exc)
    return record_after_render(paths[0], stem, members, paths[1], paths[2])


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


@dg.multi_asset(
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
    # Writes file_failures. Each step already renders on every core (JWQL_PREVIEW_WORKERS),
    # so bounding concurrent preview steps by the db pool costs no throughput.
    pool="db",
)
def preview_assets(
    context: dg.AssetExecutionContext,
    config: PreviewRunConfig,
    archive: ArchiveFilesystem,
    db: JwqlDatabase,
    options: JwqlOptions,
) -> Iterator[dg.MaterializeResult]:
    """Render previews and thumbnails of every file of a program x instrument partition."""
    program, instrument = split_program_instrument(context.partition_key)
    preview_dir = Path(archive.safe_output_path(archive.preview_root, program))
    thumbnail_dir = Path(archive.safe_output_path(archive.thumbnail_root, program))
    preview_dir.mkdir(parents=True, exist_ok=True)
    thumbnail_dir.mkdir(parents=True, exist_ok=True)

    swept = sweep_stale_temp(preview_dir) + sweep_stale_temp(thumbnail_dir)
    if swept:
        context.log.info(f"removed {swept} temporary file(s) left by interrupted runs")
    listed = archive.program_files(program)  # every instrument: a name seen anywhere is not gone
    sources = partition_sources(listed, instrument)
    plan = plan_partition(sources, instrument, preview_dir, thumbnail_dir, config.overwrite)

    # Files deleted from the archive (archive_files marks them) take their previews with them.
    present = {item.name for item in listed}
    gone = sorted(deleted_sources(db, program, instrument) - present)
    removal = remove_stale_products(archive, program, gone, plan.mosaic_stems if instrument == "nircam" else None)
    if removal.total:
        context.log.info(
            f"removed {len(removal.previews)} preview(s) and {len(removal.thumbnails)} thumbnail(s) of "
            f"{len(removal.sources)} file(s) deleted from the archive and {len(removal.mosaics)} mosaic(s) "
            f"no longer made")
    if removal.errors:
        context.log.warning(f"could not remove {len(removal.errors)} stale product(s): "
                            + "; ".join(removal.errors[:MAX_LISTED]))
    n = len(plan.tasks)
    context.log.info(
        f"{program} {instrument}: {len(sources)} files, {n} to render "
        f"({sum(t.kind == 'mosaic' for t in plan.tasks)} mosaics), {len(plan.skipped)} files and "
        f"{len(plan.skipped_mosaics)} mosaics up to date, {options.preview_workers} workers"
    )

    start = time.perf_counter()
    outcomes: list[RenderOutcome] = []
    for i, outcome in enumerate(execute_tasks(plan.tasks, options.preview_workers), 1):
        outcomes.append(outcome)
        if outcome.ok and outcome.kind == "mosaic":
            problem = _record_mosaic_members(archive, program, outcome.name, plan.members.get(outcome.name, []))
            if problem:
                context.log.warning(f"could not write the member record of {outcome.name} (it is remade "
                                    f"next run): {problem}")
        log = context.log.info if outcome.ok else context.log.warning
        log(progress_line(i, n, outcome))
    wall = time.perf_counter() - start

    failed = [(o, plan.members.get(o.name, [])) for o in outcomes if not o.ok]
    made = [o for o in outcomes if o.ok]
    succeeded = [(o.name, product_of(o)) for o in made]
    succeeded += [(name, PRODUCT) for name in plan.skipped]
    succeeded += [(name, MOSAIC_PRODUCT) for name in plan.skipped_mosaics]
    # failure rows of deleted files, and of mosaics no longer made (removed just now, or never
    # rendered and so without a record), are moot: cleared the same way
    succeeded += [(name, PRODUCT) for name in gone]
    current = {f"{stem}.fits" for stem in plan.mosaic_stems}
    recorded_mosaics = set(recorded_failures(db, MOSAIC_PRODUCT, program, instrument))
    succeeded += [(name, MOSAIC_PRODUCT) for name in sorted(recorded_mosaics - current)]
    record_failures(db, program, instrument, context.run_id, failure_rows(failed), succeeded)

    file_seconds = [o.seconds for o in outcomes if o.kind == "file"]
    common: dict[str, Any] = {
        "program": program,
        "instrument": instrument,
        "files_seen": dg.MetadataValue.int(len(sources)),
        "files_made": dg.MetadataValue.int(sum(1 for o in made if o.kind == "file")),
        "files_skipped": dg.MetadataValue.int(len(plan.skipped)),
        "files_failed": dg.MetadataValue.int(sum(1 for o, _ in failed if o.kind == "file")),
        "mosaics_made": dg.MetadataValue.int(sum(1 for o in made if o.kind == "mosaic")),
        "mosaics_skipped": dg.MetadataValue.int(len(plan.skipped_mosaics)),
        "mosaics_failed": dg.MetadataValue.int(sum(1 for o, _ in failed if o.kind == "mosaic")),
        "seconds_per_file": dg.MetadataValue.float(round(sum(file_seconds) / len(file_seconds), 4) if file_seconds else 0.0),
        "seconds_total": dg.MetadataValue.float(round(wall, 3)),
        "workers": dg.MetadataValue.int(options.preview_workers),
        "overwrite": dg.MetadataValue.bool(config.overwrite),
        "stale_removed": dg.MetadataValue.int(removal.total),
        "deleted_files_cleaned": dg.MetadataValue.int(len(removal.sources)),
        "mosaics_removed": dg.MetadataValue.int(len(removal.mosaics)),
        "gallery": dg.MetadataValue.path(str(gallery_path(archive, program))),
    }
    if failed:
        common["failures"] = failure_table(failed)
    inline = _inline_thumbnail(made, plan, sources, thumbnail_dir, options.inline_previews)
    if inline is not None:
        common["thumbnail"] = inline

    yield dg.MaterializeResult(
        asset_key=PREVIEW_IMAGES,
        metadata={**common, "output_folder": dg.MetadataValue.path(str(preview_dir)),
                  "previews_written": dg.MetadataValue.int(sum(len(o.previews) for o in made)),
                  "previews_removed": dg.MetadataValue.int(len(removal.previews))},
    )
    yield dg.MaterializeResult(
        asset_key=THUMBNAILS,
        metadata={**common, "output_folder": dg.MetadataValue.path(str(thumbnail_dir)),
                  "thumbnails_written": dg.MetadataValue.int(sum(len(o.thumbnails) for o in made)),
                  "thumbnails_removed": dg.MetadataValue.int(len(removal.thumbnails))},
    )


# ---------------------------------------------------------------- program-level products

with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.BetaWarning)  # the documented way to map program x instrument onto program
    _by_program = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="program")


@dg.asset(
    key=PROPOSAL_THUMBNAIL,
    deps=[dg.AssetDep(THUMBNAILS, partition_mapping=_by_program)],
    partitions_def=program_partitions,
    group_name=GROUP,
    kinds={"jpeg"},
)
def proposal_thumbnail(
    context: dg.AssetExecutionContext, archive: ArchiveFilesystem, options: JwqlOptions
) -> dg.MaterializeResult:
    """The program's thumbnail ($JWQL_THUMBNAIL_ROOT/jw<PPPPP>/jw<PPPPP>.thumb) for the archive page."""
    program = context.partition_key
    folder = Path(archive.safe_output_path(archive.thumbnail_root, program))
    chosen = choose_proposal_thumbnail(folder)
    if chosen is None:
        context.log.info(f"{program}: no rate, dark or uncal thumbnail yet; no proposal thumbnail made")
        return dg.MaterializeResult(metadata={"source": dg.MetadataValue.text("(none)"), "made": False})
    target = Path(archive.safe_output_path(archive.thumbnail_root, program, f"{program}.thumb"))
    atomic_copy(chosen, target)
    metadata: dict[str, Any] = {
        "source": dg.MetadataValue.text(chosen.name),
        "path": dg.MetadataValue.path(str(target)),
        "made": True,
    }
    if inline_allowed(options.inline_previews, [_program_area(archive, program)]):
        metadata["thumbnail"] = inline_image_md(target, alt=f"{program}.thumb", max_px=200)
    context.log.info(f"{program}: proposal thumbnail copied from {chosen.name}")
    return dg.MaterializeResult(metadata=metadata)


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


@dg.asset(
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
    """A static HTML page of every preview and thumbnail of the program ($JWQL_OUTPUT_ROOT/previews/jw<PPPPP>/index.html)."""
    program = context.partition_key
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
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(page)),
        "url": dg.MetadataValue.url(page.as_uri()),
        "previews": dg.MetadataValue.int(gallery.n_previews),
        "thumbnails": dg.MetadataValue.int(gallery.n_thumbnails),
        "observations": dg.MetadataValue.int(len(gallery.groups)),
    })


defs = dg.Definitions(
    assets=[preview_assets, proposal_thumbnail, preview_gallery],
    asset_checks=[preview_coverage],
    jobs=[preview_partition_job, program_products_job],
)
