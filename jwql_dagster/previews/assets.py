"""Asset group 'previews': preview JPEGs, thumbnails, NIRCam mosaics, proposal thumbnails, galleries.

jwql's ``generate_preview_images`` and ``generate_proposal_thumbnails`` as assets: one
run per program x instrument partition renders every file of that cell (each file read
once for its preview and thumbnail) in a process pool, skips what is up to date, and
records per-file failures instead of stopping.
"""


import multiprocessing
import os
import stat
import time
import warnings
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Collection, Iterable, Iterator, Sequence

import dagster as dg
import sqlalchemy as sa

from jwql_dagster.metadata import inline_image_md, md_cell, md_code
from jwql_dagster.previews.worker import RenderOutcome, RenderTask, run_task
from jwql_dagster.atomic import atomic_copy
from jwql_dagster.archive.filenames import IGNORED_SUFFIXES
from jwql_dagster.previews.gallery import choose_proposal_thumbnail, products_of, write_gallery
from jwql_dagster.previews.mosaic import (
    MosaicError,
    create_dummy_filename,
    group_filenames,
    members_sidecar_name,
    members_unchanged,
    read_members,
    sidecar_stem,
    write_members,
)
from jwql_dagster.db.models import File, FileFailure
from jwql_dagster.partitions import (
    program_instrument_partitions,
    program_partitions,
    split_program_instrument,
)
from jwql_dagster.archive.resources import ArchiveFilesystem, UnsafePathError
from jwql_dagster.db.resources import JwqlDatabase
from jwql_dagster.options import JwqlOptions

GROUP = "previews"
PRODUCT = "preview_images"  # file_failures.product of a file whose preview could not be made
MOSAIC_PRODUCT = "mosaic"  # file_failures.product of a mosaic (filename = its dummy FITS name)
THUMBNAIL_SUFFIXES = ("rate", "dark", "uncal")
PREVIEW_CODE_VERSION_BASE = "previews-1"
MAX_LISTED = 10  # file names shown in a failed check or a metadata table


def _code_version() -> str:
    """Changes when our asset logic or the rendering engine's version changes, so the UI flags stale partitions."""
    try:
        from jwql_dagster.previews import render as _preview

        engine = getattr(_preview, "RENDER_VERSION", None) or getattr(_preview, "__version__", None)
    except Exception:  # noqa: BLE001 - the engine is optional at import time
        engine = None
    return f"{PREVIEW_CODE_VERSION_BASE}+{engine}" if engine else PREVIEW_CODE_VERSION_BASE


PREVIEW_CODE_VERSION = _code_version()

preview_images_key = dg.AssetKey("preview_images")
thumbnails_key = dg.AssetKey("thumbnails")
archive_files_key = dg.AssetKey("archive_files")


class PreviewRunConfig(dg.Config):
    """Run configuration of the preview assets."""

    overwrite: bool = False  # re-render files whose outputs already exist and are newer than the FITS file


# ---------------------------------------------------------------- listing the partition's files


@dataclass(frozen=True)
class SourceFile:
    """A FITS file of the partition, with what the preview logic needs from the archive listing."""

    name: str
    path: str
    area: str
    mtime_ns: int
    suffix: str
    parsed: dict[str, Any]
    size: int = -1  # bytes; -1 when unknown

    @property
    def stem(self) -> str:
        return self.name.removesuffix(".fits")


def _get(item: Any, key: str, default: Any = None) -> Any:
    if isinstance(item, dict):
        return item.get(key, default)
    return getattr(item, key, default)


def _usable(item: Any) -> SourceFile | None:
    """The item as a SourceFile, or None when jwql would not preview it (ignored suffix, guider, bad name)."""
    name = str(_get(item, "name") or os.path.basename(str(_get(item, "path", ""))))
    if not name.endswith(".fits"):
        return None
    parsed = _get(item, "parsed")
    if not isinstance(parsed, dict) or not parsed.get("recognized_filename", True):
        return None  # unrecognised names are archive_files' failures, not ours
    if name[: -len(".fits")].rsplit("_", 1)[-1] in IGNORED_SUFFIXES:
        return None
    if parsed.get("guider_mode"):
        return None
    mtime_ns, size = _get(item, "mtime_ns"), _get(item, "size")
    if mtime_ns is None or size is None:
        st = os.stat(str(_get(item, "path")))
        mtime_ns = st.st_mtime_ns if mtime_ns is None else mtime_ns
        size = st.st_size if size is None else size
    return SourceFile(name, str(_get(item, "path")), str(_get(item, "area") or ""), int(mtime_ns),
                      str(parsed.get("suffix") or ""), parsed, int(size))


def partition_sources(
    archive: ArchiveFilesystem, program: str, instrument: str, items: Iterable[Any] | None = None
) -> list[SourceFile]:
    """The files of one program x instrument cell that get previews, one per file name, sorted by name.

    ``items``: the program's archive listing when the caller already has it (it may hold
    other instruments' files; they are left out).
    """
    by_name: dict[str, SourceFile] = {}
    listed = archive.program_files(program, instrument) if items is None else [
        item for item in items if _get(item, "instrument") == instrument]
    for item in listed:
        src = _usable(item)
        if src is None:
            continue
        seen = by_name.get(src.name)
        # A name in both areas (mid-move): the newer copy wins.
        if seen is None or src.mtime_ns > seen.mtime_ns:
            by_name[src.name] = src
    return [by_name[n] for n in sorted(by_name)]


def _mtimes(folder: Path, ext: str, sidecars: set[str] | None = None,
            sizes: dict[str, int] | None = None) -> dict[str, int]:
    """name -> mtime_ns of the products in a folder: one directory listing, not a stat per file.

    With ``sidecars``, the same listing also collects the names of mosaic member records; with
    ``sizes``, the products' sizes (from the same stat).
    """
    out: dict[str, int] = {}
    try:
        with os.scandir(folder) as it:
            for e in it:
                if sidecars is not None and sidecar_stem(e.name) is not None:
                    sidecars.add(e.name)
                if e.name.endswith(ext) and not e.name.startswith("."):
                    try:
                        st = e.stat()
                    except FileNotFoundError:
                        continue
                    out[e.name] = st.st_mtime_ns
                    if sizes is not None:
                        sizes[e.name] = st.st_size
    except FileNotFoundError:
        pass
    return out


STALE_TEMP_SECONDS = 3600  # a hidden .tmp-* file this old belongs to a killed run, not to a live one


def sweep_stale_temp(folder: Path, max_age_s: float = STALE_TEMP_SECONDS) -> int:
    """Delete hidden ``.tmp-*`` files left by killed runs; young ones may belong to a run of another instrument."""
    removed = 0
    limit = time.time() - max_age_s
    try:
        with os.scandir(folder) as it:
            for e in it:
                if e.name.startswith(".tmp-"):
                    try:
                        if e.stat().st_mtime < limit:
                            os.unlink(e.path)
                            removed += 1
                    except FileNotFoundError:
                        pass
    except FileNotFoundError:
        pass
    return removed


# ---------------------------------------------------------------- planning


@dataclass
class Plan:
    """The work of one partition run: tasks to render and what is already up to date."""

    tasks: list[RenderTask] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # file names whose products are up to date
    skipped_mosaics: list[str] = field(default_factory=list)
    members: dict[str, list[SourceFile]] = field(default_factory=dict)  # task name -> its source files

    @property
    def mosaic_stems(self) -> set[str]:
        """Stems of every mosaic the partition has now, rendered or up to date."""
        names = [t.name for t in self.tasks if t.kind == "mosaic"] + self.skipped_mosaics
        return {n.removesuffix(".fits") for n in names}


def member_stats(members: Sequence[SourceFile]) -> list[tuple[str, int, int]]:
    """(name, size, mtime_ns) of a mosaic's members, as recorded beside it."""
    return [(m.name, m.size, m.mtime_ns) for m in members]


def mosaic_outputs(stem: str) -> tuple[str, str]:
    """The integration-0 preview and thumbnail of a mosaic, the outputs its member record names."""
    return f"{stem}_integ0.jpg", f"{stem}_integ0.thumb"


def _up_to_date(stem: str, newest_ns: int, want_thumb: bool, previews: dict[str, int], thumbs: dict[str, int]) -> bool:
    jpg = previews.get(f"{stem}_integ0.jpg")
    if jpg is None or jpg < newest_ns:
        return False
    if want_thumb:
        thumb = thumbs.get(f"{stem}_integ0.thumb")
        if thumb is None or thumb < newest_ns:
            return False
    return True


def plan_partition(
    sources: Sequence[SourceFile],
    instrument: str,
    preview_dir: Path,
    thumbnail_dir: Path,
    overwrite: bool,
) -> Plan:
    """Decide per file (and per NIRCam group) whether to render, as jwql did but comparing times.

    An output counts as present when its integration-0 preview (and, for rate, dark and
    uncal, its thumbnail) exists and is not older than the FITS file. A mosaic is up to date
    when its integration-0 preview and thumbnail exist and its member record (hidden
    ``.<stem>.members.json``) holds exactly the current members' names, sizes and mtimes: a
    member added with an older mtime (``rsync -t``, ``cp -p``), changed or removed remakes it.
    ``overwrite`` renders everything again.
    """
    sidecars: set[str] = set()
    sizes: dict[str, int] = {}
    previews = {} if overwrite else _mtimes(preview_dir, ".jpg", sidecars, sizes)
    thumbs = {} if overwrite else _mtimes(thumbnail_dir, ".thumb", sizes=sizes)
    plan = Plan()
    for src in sources:
        want_thumb = src.suffix in THUMBNAIL_SUFFIXES
        if not overwrite and _up_to_date(src.stem, src.mtime_ns, want_thumb, previews, thumbs):
            plan.skipped.append(src.name)
            continue
        plan.tasks.append(RenderTask("file", src.name, [src.path], str(preview_dir),
                                     str(thumbnail_dir) if want_thumb else None))
        plan.members[src.name] = [src]
    if instrument == "nircam":
        by_path = {s.path: s for s in sources}
        for group in group_filenames([s.path for s in sources]):
            if len(group) < 2:
                continue
            members = [by_path[p] for p in group]
            try:
                dummy = os.path.basename(create_dummy_filename(group))
            except (MosaicError, ValueError):
                continue
            stem = dummy.removesuffix(".fits")
            record = members_sidecar_name(stem)
            # Outputs present (any age) and the same member set: the member record replaces the
            # mtime comparison, which missed members arriving with an older mtime. The record also
            # names the outputs it was written with (size, mtime), so outputs another run of the
            # partition put there afterwards are never taken for the recorded ones.
            jpg, thumb = mosaic_outputs(stem)
            if (not overwrite and _up_to_date(stem, 0, True, previews, thumbs) and record in sidecars
                    and members_unchanged(preview_dir / record, stem, member_stats(members),
                                          {jpg: (sizes.get(jpg, -1), previews[jpg]),
                                           thumb: (sizes.get(thumb, -1), thumbs[thumb])})):
                plan.skipped_mosaics.append(dummy)
                continue
            plan.tasks.append(RenderTask("mosaic", dummy, list(group), str(preview_dir), str(thumbnail_dir)))
            plan.members[dummy] = members
    return plan


# ---------------------------------------------------------------- running


def _pool_context() -> multiprocessing.context.BaseContext:
    """forkserver where available (no fork of a threaded Dagster process), else spawn."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def execute_tasks(
    tasks: Sequence[RenderTask], workers: int, fn: Callable[[RenderTask], RenderOutcome] = run_task
) -> Iterator[RenderOutcome]:
    """Yield outcomes as tasks finish: in this process for one worker, else in a process pool.

    A worker that dies (killed, out of memory, a crash in a C library) breaks the whole pool,
    and every unfinished task with it. Those tasks are then run again one per fresh process,
    so only the culprit ends up as a failure record and the other files are still rendered.
    """
    # Daemonic processes (e.g. some Celery worker pools) may not start children: render in-process there.
    if workers <= 1 or len(tasks) <= 1 or multiprocessing.current_process().daemon:
        for task in tasks:
            yield fn(task)
        return
    ctx = _pool_context()
    orphans: list[RenderTask] = []
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=ctx) as pool:
        futures: dict[Future[RenderOutcome], RenderTask] = {pool.submit(fn, t): t for t in tasks}
        not_done = set(futures)
        try:
            while not_done:
                done, not_done = wait(not_done, return_when=FIRST_COMPLETED)
                for fut in done:
                    try:
                        yield fut.result()
                    except BrokenProcessPool:
                        orphans.append(futures[fut])
        except BaseException:
            # Terminated run (interrupt) or a consumer that stopped early: drop the queued files
            # instead of rendering all of them before the pool's exit returns.
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    for task in orphans:  # isolate: one process per task, so a crash takes only its own file
        with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as single:
            try:
                yield single.submit(fn, task).result()
            except BrokenProcessPool as exc:
                yield RenderOutcome(task.kind, task.name, error_type="WorkerDied",
                                    reason=f"the rendering process died ({exc or 'killed or out of memory'})")


def _progress_line(i: int, n: int, outcome: RenderOutcome) -> str:
    """``[3/12] rendered <file> -> 1 preview, 1 thumbnail (0.12 s)``; mosaics show their NRC_*_MOSAIC name."""
    if outcome.ok:
        np_, nt = len(outcome.previews), len(outcome.thumbnails)
        return (f"[{i}/{n}] rendered {outcome.name} -> {np_} preview{'s' if np_ != 1 else ''}, "
                f"{nt} thumbnail{'s' if nt != 1 else ''} ({outcome.seconds:.2f} s)")
    return f"[{i}/{n}] failed {outcome.name}: {outcome.error_type}: {outcome.reason} ({outcome.seconds:.2f} s)"


# ---------------------------------------------------------------- failures in the database


def record_failures(
    db: JwqlDatabase,
    program: str,
    instrument: str,
    run_id: str,
    failed: Sequence[tuple[RenderOutcome, list[SourceFile]]],
    succeeded: Iterable[tuple[str, str]],
) -> None:
    """Upsert a failure row per failed file or mosaic; delete the rows of names that now succeed."""
    now = datetime.now(timezone.utc)
    rows = []
    for outcome, members in failed:
        rows.append({
            "filename": outcome.name,
            "product": MOSAIC_PRODUCT if outcome.kind == "mosaic" else PRODUCT,
            "program": program,
            "instrument": instrument,
            "path": members[0].path if (members and outcome.kind != "mosaic") else None,
            "reason": outcome.reason or "unknown error",
            "error_type": (outcome.error_type or "Error")[:64],
            "last_seen": now,
            "run_id": run_id,
        })
    ok = list(succeeded)
    with db.session() as session:
        if rows:
            db.upsert(session, FileFailure, rows, key=("filename", "product"))
        table = FileFailure.__table__
        for product in (PRODUCT, MOSAIC_PRODUCT):
            names = [n for n, p in ok if p == product]
            for start in range(0, len(names), 500):
                session.execute(sa.delete(table).where(table.c.product == product,
                                                       table.c.filename.in_(names[start:start + 500])))


def recorded_failures(db: JwqlDatabase, program: str, instrument: str) -> dict[str, str]:
    """filename -> reason of the partition's recorded preview failures."""
    table = FileFailure.__table__
    with db.session(readonly=True) as session:
        rows = session.execute(
            sa.select(table.c.filename, table.c.reason).where(
                table.c.product == PRODUCT, table.c.program == program, table.c.instrument == instrument)
        ).all()
    return {r[0]: r[1] for r in rows}


def recorded_mosaic_failures(db: JwqlDatabase, program: str, instrument: str) -> set[str]:
    """Dummy FITS names of the partition's mosaics that have a failure row."""
    table = FileFailure.__table__
    with db.session(readonly=True) as session:
        return set(session.scalars(sa.select(table.c.filename).where(
            table.c.product == MOSAIC_PRODUCT, table.c.program == program, table.c.instrument == instrument)))


# ---------------------------------------------------------------- products of files deleted from the archive


def deleted_sources(db: JwqlDatabase, program: str, instrument: str | None = None) -> set[str]:
    """Names of the program's files (of one instrument, or all) that ``files`` records as deleted."""
    table = File.__table__
    query = sa.select(table.c.filename).where(table.c.program == program, table.c.deleted_at.is_not(None))
    if instrument is not None:
        query = query.where(table.c.instrument == instrument)
    with db.session(readonly=True) as session:
        return {str(n) for n in session.scalars(query) if str(n).endswith(".fits")}


@dataclass
class Removal:
    """What a partition run removed because its source files are gone."""

    previews: list[str] = field(default_factory=list)
    thumbnails: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # deleted FITS names whose products were removed
    mosaics: list[str] = field(default_factory=list)  # dummy FITS names of mosaics no longer made
    errors: list[str] = field(default_factory=list)  # products that could not be removed, with the reason

    @property
    def total(self) -> int:
        return len(self.previews) + len(self.thumbnails)


def _names(folder: Path) -> list[str]:
    try:
        with os.scandir(folder) as it:
            return [e.name for e in it]
    except FileNotFoundError:
        return []


def _unlink_product(archive: ArchiveFilesystem, root: str, program: str, name: str, errors: list[str]) -> bool:
    """Remove one product file: a regular file under ``root/program`` only, never a link or folder, never outside.

    ``os.unlink`` is atomic: a reader sees the whole file or no file. A file that cannot be
    removed (permissions) is noted in ``errors`` and left; it never stops the run.
    """
    try:
        path = archive.safe_output_path(root, program, name)
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False
        os.unlink(path)
        return True
    except (UnsafePathError, FileNotFoundError):
        return False
    except OSError as exc:
        errors.append(f"{name}: {exc.strerror or exc}")
        return False


def remove_stale_products(
    archive: ArchiveFilesystem,
    program: str,
    gone: Collection[str],
    current_mosaics: Collection[str] | None,
) -> Removal:
    """Delete the previews, thumbnails and mosaics made from FITS files that are gone from the archive.

    ``gone``: FITS names of the partition that ``files`` marks deleted and that the archive no
    longer holds in either area. Only names this asset makes from them are removed, by exact
    stem: ``<stem>_integ<i>.jpg`` and ``<stem>_integ<i>.thumb``. A mosaic goes when its member
    record lists a gone file and the current member set no longer makes that mosaic (not in
    ``current_mosaics``, the stems planned this run); a mosaic still made is remade instead.
    ``current_mosaics`` None: the partition makes no mosaics (not NIRCam), so no member record
    can name one of its files and none is read. Paths go through ``safe_output_path``; only
    regular files are unlinked. Integration 0 goes first (it marks a complete set, so an
    interrupted removal never leaves a set that looks whole) and a mosaic's member record last,
    only once all its products are gone (it is what proves the mosaic was ours, so a product
    that could not be removed is still traced to the mosaic by the next run).
    """
    removal = Removal()
    if not gone:
        return removal
    gone_stems = {n.removesuffix(".fits") for n in gone}
    preview_dir = Path(archive.safe_output_path(archive.preview_root, program))
    thumbnail_dir = Path(archive.safe_output_path(archive.thumbnail_root, program))
    preview_names = _names(preview_dir)
    thumb_names = _names(thumbnail_dir)
    mosaic_stems: set[str] = set()
    for name in preview_names if current_mosaics is not None else ():
        stem = sidecar_stem(name)
        if stem is None or stem in current_mosaics:
            continue
        recorded = read_members(preview_dir / name, stem)
        if recorded and any(m[0] in gone for m in recorded):
            mosaic_stems.add(stem)
    stems = gone_stems | mosaic_stems
    jpgs = products_of(stems, (n for n in preview_names if n.endswith(".jpg")))
    thumbs = products_of(stems, (n for n in thumb_names if n.endswith(".thumb")))
    for stem in sorted(stems):
        removed_any = False
        errors_before = len(removal.errors)
        for name in jpgs.get(stem, []):
            if _unlink_product(archive, archive.preview_root, program, name, removal.errors):
                removal.previews.append(name)
                removed_any = True
        for name in thumbs.get(stem, []):
            if _unlink_product(archive, archive.thumbnail_root, program, name, removal.errors):
                removal.thumbnails.append(name)
                removed_any = True
        if stem in mosaic_stems:
            if len(removal.errors) > errors_before:
                continue  # a product is left: keep the record, the next run tries again
            _unlink_product(archive, archive.preview_root, program, members_sidecar_name(stem), removal.errors)
            removal.mosaics.append(f"{stem}.fits")
        elif removed_any:
            removal.sources.append(f"{stem}.fits")
    return removal


# ---------------------------------------------------------------- metadata helpers


def _inline_allowed(policy: str, areas: Iterable[str]) -> bool:
    if policy == "none":
        return False
    if policy == "all":
        return True
    return all(a == "public" for a in areas)  # 'public': never a proprietary program's image


def _failure_table(failed: Sequence[tuple[RenderOutcome, list[SourceFile]]]) -> str:
    lines = ["| file | error | reason |", "|---|---|---|"]
    for outcome, _ in failed[:20]:
        reason = md_cell(outcome.reason or "")[:200]
        lines.append(f"| {md_cell(md_code(outcome.name))} | {md_cell(outcome.error_type)} | {reason} |")
    if len(failed) > 20:
        lines.append(f"| ... {len(failed) - 20} more | | |")
    return "\n".join(lines)


def _record_mosaic_members(
    archive: ArchiveFilesystem, program: str, dummy: str, members: Sequence[SourceFile]
) -> str | None:
    """Write the member record of a mosaic just rendered (after its outputs, so a crash before it only remakes).

    The record names the integration-0 outputs as found now (size, mtime). Returns the reason
    when it could not be written (an odd file in its place, permissions, a full disk): the
    mosaic is then remade by the next run, and this run goes on.
    """
    if not members:
        return None
    stem = dummy.removesuffix(".fits")
    jpg, thumb = mosaic_outputs(stem)
    try:
        outputs = {}
        for root, name in ((archive.preview_root, jpg), (archive.thumbnail_root, thumb)):
            st = os.stat(archive.safe_output_path(root, program, name))
            outputs[name] = (st.st_size, st.st_mtime_ns)
        write_members(archive.safe_output_path(archive.preview_root, program, members_sidecar_name(stem)), stem,
                      member_stats(members), outputs)
    except UnsafePathError as exc:
        return str(exc)
    except OSError as exc:
        return f"{exc.strerror or exc}"
    return None


def gallery_path(archive: ArchiveFilesystem, program: str) -> Path:
    """$JWQL_OUTPUT_ROOT/previews/<program>/index.html."""
    return Path(archive.safe_output_path(archive.output_root, "previews", program, "index.html"))


# ---------------------------------------------------------------- the multi-asset


@dg.multi_asset(
    outs={
        "preview_images": dg.AssetOut(
            key=preview_images_key,
            description="Preview JPEGs (one per shown integration) and NIRCam mosaics of a program x instrument.",
            code_version=PREVIEW_CODE_VERSION,
            kinds={"jpeg"},
            is_required=True,
        ),
        "thumbnails": dg.AssetOut(
            key=thumbnails_key,
            description="Thumbnails (integration 0) of rate, dark and uncal files and of NIRCam mosaics.",
            code_version=PREVIEW_CODE_VERSION,
            kinds={"jpeg"},
            is_required=True,
        ),
    },
    deps=[archive_files_key],
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
    sources = partition_sources(archive, program, instrument, items=listed)
    plan = plan_partition(sources, instrument, preview_dir, thumbnail_dir, config.overwrite)

    # Files deleted from the archive (archive_files marks them) take their previews with them.
    present = {_get(item, "name") for item in listed}
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
        log(_progress_line(i, n, outcome))
    wall = time.perf_counter() - start

    failed = [(o, plan.members.get(o.name, [])) for o in outcomes if not o.ok]
    made = [o for o in outcomes if o.ok]
    succeeded = [(o.name, MOSAIC_PRODUCT if o.kind == "mosaic" else PRODUCT) for o in made]
    succeeded += [(name, PRODUCT) for name in plan.skipped]
    succeeded += [(name, MOSAIC_PRODUCT) for name in plan.skipped_mosaics]
    # failure rows of deleted files, and of mosaics no longer made (removed just now, or never
    # rendered and so without a record), are moot: cleared the same way
    succeeded += [(name, PRODUCT) for name in gone]
    current = {f"{stem}.fits" for stem in plan.mosaic_stems}
    succeeded += [(name, MOSAIC_PRODUCT) for name in sorted(recorded_mosaic_failures(db, program, instrument) - current)]
    record_failures(db, program, instrument, context.run_id, failed, succeeded)

    previews_written = sorted(p for o in made for p in o.previews)
    thumbs_written = sorted(t for o in made for t in o.thumbnails)
    file_seconds = [o.seconds for o in outcomes if o.kind == "file"]
    files_failed = sum(1 for o, _ in failed if o.kind == "file")

    # One thumbnail for the UI, only from files the inline policy allows.
    inline: dg.MetadataValue | None = None
    candidates: list[tuple[str, list[str]]] = []
    for o in made:
        for t in o.thumbnails:
            candidates.append((t, [m.area for m in plan.members.get(o.name, [])]))
    if not candidates:  # nothing new: show an existing one
        thumbs_existing = _mtimes(thumbnail_dir, ".thumb")
        for src in sources:
            name = f"{src.stem}_integ0.thumb"
            if name in thumbs_existing:
                candidates.append((str(thumbnail_dir / name), [src.area]))
    for path, member_areas in candidates:
        if member_areas and _inline_allowed(options.inline_previews, member_areas):
            try:
                inline = inline_image_md(path, alt=os.path.basename(path), max_px=200)
            except Exception:  # noqa: BLE001 - a missing or odd image only loses the picture
                inline = None
            break

    common: dict[str, Any] = {
        "program": program,
        "instrument": instrument,
        "files_seen": dg.MetadataValue.int(len(sources)),
        "files_made": dg.MetadataValue.int(sum(1 for o in made if o.kind == "file")),
        "files_skipped": dg.MetadataValue.int(len(plan.skipped)),
        "files_failed": dg.MetadataValue.int(files_failed),
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
        common["failures"] = dg.MetadataValue.md(_failure_table(failed))
    if inline is not None:
        common["thumbnail"] = inline

    yield dg.MaterializeResult(
        asset_key=preview_images_key,
        metadata={**common, "output_folder": dg.MetadataValue.path(str(preview_dir)),
                  "previews_written": dg.MetadataValue.int(len(previews_written)),
                  "previews_removed": dg.MetadataValue.int(len(removal.previews))},
    )
    yield dg.MaterializeResult(
        asset_key=thumbnails_key,
        metadata={**common, "output_folder": dg.MetadataValue.path(str(thumbnail_dir)),
                  "thumbnails_written": dg.MetadataValue.int(len(thumbs_written)),
                  "thumbnails_removed": dg.MetadataValue.int(len(removal.thumbnails))},
    )


# ---------------------------------------------------------------- coverage check


def coverage_problems(
    sources: Sequence[SourceFile], preview_dir: Path, failures: dict[str, str], max_failure_rate: float
) -> tuple[list[str], list[str], float]:
    """(files with neither an output nor a failure, files with a recorded failure, failure share)."""
    previews = _mtimes(preview_dir, ".jpg")
    missing, failed = [], []
    for src in sources:
        if f"{src.stem}_integ0.jpg" in previews:
            continue
        (failed if src.name in failures else missing).append(src.name)
    rate = len(failed) / len(sources) if sources else 0.0
    return missing, failed, rate


def _run_partition(context: dg.AssetCheckExecutionContext) -> tuple[str, str] | None:
    """(program, instrument) of the run's partition, or None for a run without one (check the whole archive)."""
    tags = context.run.tags
    program, instrument = tags.get("dagster/partition/program"), tags.get("dagster/partition/instrument")
    if program and instrument:
        return program, instrument
    if tags.get("dagster/partition"):
        try:
            return split_program_instrument(tags["dagster/partition"])
        except Exception:  # noqa: BLE001 - a partition of another kind
            return None
    return None


def _cells(archive: ArchiveFilesystem) -> list[tuple[str, str]]:
    cells = set()
    for program in archive.programs():
        for item in archive.program_files(program):
            parsed = _get(item, "parsed")
            if isinstance(parsed, dict) and parsed.get("instrument"):
                cells.add((program, str(parsed["instrument"])))
    return sorted(cells)


@dg.asset_check(
    asset=preview_images_key,
    name="preview_coverage",
    description=("Every FITS file has a preview or a recorded failure, and failures stay under "
                 "JWQL_MAX_FAILURE_RATE (the run's partition, or every partition when run on its own)."),
)
def preview_coverage(
    context: dg.AssetCheckExecutionContext,
    archive: ArchiveFilesystem,
    db: JwqlDatabase,
    options: JwqlOptions,
) -> dg.AssetCheckResult:
    """Fails when a file has neither a preview nor a failure record, or too many files failed."""
    # Unpartitioned on purpose: Dagster 1.13 cannot launch a partitioned check on its own, and
    # this one must be runnable alone to notice previews deleted behind the platform's back.
    scope = _run_partition(context)
    cells = [scope] if scope else _cells(archive)
    missing: list[str] = []
    failed: list[str] = []
    seen = 0
    worst: tuple[float, str] = (0.0, "")
    for program, instrument in cells:
        sources = partition_sources(archive, program, instrument)
        preview_dir = Path(archive.safe_output_path(archive.preview_root, program))
        m, f, rate = coverage_problems(sources, preview_dir, recorded_failures(db, program, instrument),
                                       options.max_failure_rate)
        missing += m
        failed += f
        seen += len(sources)
        if rate > worst[0]:
            worst = (rate, f"{instrument}|{program}")
    too_many = worst[0] > options.max_failure_rate
    reasons = []
    if missing:
        reasons.append(f"{len(missing)} file(s) without preview or failure record: " + ", ".join(missing[:MAX_LISTED]))
    if too_many:
        reasons.append(f"failure rate {worst[0]:.1%} in {worst[1]} above {options.max_failure_rate:.1%}: "
                       + ", ".join(failed[:MAX_LISTED]))
    return dg.AssetCheckResult(
        passed=not missing and not too_many,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(reasons) or f"all {seen} files covered",
        metadata={
            "scope": dg.MetadataValue.text(f"{scope[1]}|{scope[0]}" if scope else f"all {len(cells)} partitions"),
            "files": dg.MetadataValue.int(seen),
            "missing": dg.MetadataValue.int(len(missing)),
            "failed": dg.MetadataValue.int(len(failed)),
            "failure_rate": dg.MetadataValue.float(round(worst[0], 4)),
            "max_failure_rate": dg.MetadataValue.float(options.max_failure_rate),
            "missing_files": dg.MetadataValue.text(", ".join(missing[:MAX_LISTED])),
            "failed_files": dg.MetadataValue.text(", ".join(failed[:MAX_LISTED])),
        },
    )


# ---------------------------------------------------------------- program-level products

with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.BetaWarning)  # the documented way to map program x instrument onto program
    _by_program = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="program")


@dg.asset(
    deps=[dg.AssetDep(thumbnails_key, partition_mapping=_by_program)],
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
    if _inline_allowed(options.inline_previews, [_program_area(archive, program)]):
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
    deps=[dg.AssetDep(preview_images_key, partition_mapping=_by_program),
          dg.AssetDep(thumbnails_key, partition_mapping=_by_program)],
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


# ---------------------------------------------------------------- jobs

preview_partition_job = dg.define_asset_job(
    "preview_partition_job",
    selection=dg.AssetSelection.assets(archive_files_key, preview_images_key, thumbnails_key),
    partitions_def=program_instrument_partitions,
    description="Inventory and previews of one program x instrument partition.",
)

program_products_job = dg.define_asset_job(
    "program_products_job",
    selection=dg.AssetSelection.assets(proposal_thumbnail, preview_gallery),
    partitions_def=program_partitions,
    description="Proposal thumbnail and preview gallery of one program.",
)

defs = dg.Definitions(
    assets=[preview_assets, proposal_thumbnail, preview_gallery],
    asset_checks=[preview_coverage],
    jobs=[preview_partition_job, program_products_job],
)
