"""One preview run over many program x instrument cells: each cell planned, rendered in one shared pool, recorded.

Pure code (no Dagster). A run may cover one cell (a sensor's or the user's single
partition) or many (a backfill of the whole archive, the daily rescan): planning and
book-keeping stay per cell, so each cell's outcome (made, skipped, failed, removed) is
recorded in ``file_failures`` and reported on its own, while the render tasks of all cells
share one process pool and keep every core busy even when each cell holds one file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

from jwql_dagster.db.failures import deleted_sources, record_failures, recorded_failures
from jwql_dagster.previews.members import members_sidecar_name, mosaic_outputs, record_after_render
from jwql_dagster.previews.plan import (
    MOSAIC_PRODUCT,
    PRODUCT,
    Plan,
    SourceFile,
    partition_sources,
    plan_partition,
)
from jwql_dagster.previews.pool import execute_tasks, failure_rows, product_of
from jwql_dagster.previews.stale import Removal, remove_stale_products, sweep_stale_temp
from jwql_dagster.previews.worker import RenderOutcome, RenderTask

if TYPE_CHECKING:
    from jwql_dagster.archive.resources import ArchiveFilesystem
    from jwql_dagster.db.resources import JwqlDatabase


@dataclass
class CellRun:
    """The work and outcome of one program x instrument cell within a run."""

    program: str
    instrument: str
    preview_dir: Path
    thumbnail_dir: Path
    sources: list[SourceFile]
    plan: Plan
    gone: list[str]
    removal: Removal
    swept: int = 0
    outcomes: list[RenderOutcome] = field(default_factory=list)
    record_problems: list[str] = field(default_factory=list)  # mosaic member records that could not be written

    @property
    def made(self) -> list[RenderOutcome]:
        return [o for o in self.outcomes if o.ok]

    @property
    def failed(self) -> list[tuple[RenderOutcome, list[SourceFile]]]:
        return [(o, self.plan.members.get(o.name, [])) for o in self.outcomes if not o.ok]

    def count(self, kind: str, ok: bool) -> int:
        return sum(1 for o in self.outcomes if o.kind == kind and o.ok == ok)


def prepare_cell(archive: ArchiveFilesystem, db: JwqlDatabase, program: str, instrument: str,
                 overwrite: bool) -> CellRun:
    """Plan a cell and remove the products of its files deleted from the archive (``files`` marks them)."""
    preview_dir = Path(archive.safe_output_path(archive.preview_root, program))
    thumbnail_dir = Path(archive.safe_output_path(archive.thumbnail_root, program))
    preview_dir.mkdir(parents=True, exist_ok=True)
    thumbnail_dir.mkdir(parents=True, exist_ok=True)
    swept = sweep_stale_temp(preview_dir) + sweep_stale_temp(thumbnail_dir)
    listed = archive.program_files(program)  # every instrument: a name seen anywhere is not gone
    sources = partition_sources(listed, instrument)
    plan = plan_partition(sources, instrument, preview_dir, thumbnail_dir, overwrite)
    present = {item.name for item in listed}
    gone = sorted(deleted_sources(db, program, instrument) - present)
    removal = remove_stale_products(archive, program, gone, plan.mosaic_stems if instrument == "nircam" else None)
    return CellRun(program, instrument, preview_dir, thumbnail_dir, sources, plan, gone, removal, swept)


def _record_mosaic_members(archive: ArchiveFilesystem, cell: CellRun, dummy: str) -> str | None:
    members = cell.plan.members.get(dummy, [])
    stem = dummy.removesuffix(".fits")
    jpg, thumb = mosaic_outputs(stem)
    try:
        paths = (archive.safe_output_path(archive.preview_root, cell.program, members_sidecar_name(stem)),
                 archive.safe_output_path(archive.preview_root, cell.program, jpg),
                 archive.safe_output_path(archive.thumbnail_root, cell.program, thumb))
    except ValueError as exc:  # UnsafePathError
        return str(exc)
    return record_after_render(paths[0], stem, members, paths[1], paths[2])


def render_cells(archive: ArchiveFilesystem, cells: Sequence[CellRun], workers: int,
                 fn: Callable[[RenderTask], RenderOutcome] | None = None) -> Iterator[tuple[CellRun, RenderOutcome]]:
    """Render the tasks of every cell in one pool; yields (cell, outcome) as tasks finish.

    A mosaic's member record is written as soon as its outputs are (a crash before it only
    means the mosaic is made again).
    """
    owner: dict[str, CellRun] = {}  # a FITS or mosaic name holds its program and detector: unique across cells
    tasks: list[RenderTask] = []
    for cell in cells:
        for task in cell.plan.tasks:
            owner[task.name] = cell
            tasks.append(task)
    for outcome in execute_tasks(tasks, workers) if fn is None else execute_tasks(tasks, workers, fn=fn):
        cell = owner[outcome.name]
        cell.outcomes.append(outcome)
        if outcome.ok and outcome.kind == "mosaic":
            problem = _record_mosaic_members(archive, cell, outcome.name)
            if problem:
                cell.record_problems.append(f"{outcome.name}: {problem}")
        yield cell, outcome
    for cell in cells:  # a render process killed mid-write left its temp file (its task was run again)
        sweep_stale_temp(cell.preview_dir) + sweep_stale_temp(cell.thumbnail_dir)


def record_cell(db: JwqlDatabase, cell: CellRun, run_id: str) -> None:
    """Upsert the cell's failure rows and clear those of names that now succeed or are moot."""
    plan = cell.plan
    succeeded = [(o.name, product_of(o)) for o in cell.made]
    succeeded += [(name, PRODUCT) for name in plan.skipped]
    succeeded += [(name, MOSAIC_PRODUCT) for name in plan.skipped_mosaics]
    # failure rows of deleted files, and of mosaics no longer made (removed just now, or never
    # rendered and so without a record), are moot: cleared the same way
    succeeded += [(name, PRODUCT) for name in cell.gone]
    current = {f"{stem}.fits" for stem in plan.mosaic_stems}
    recorded_mosaics = set(recorded_failures(db, MOSAIC_PRODUCT, cell.program, cell.instrument))
    succeeded += [(name, MOSAIC_PRODUCT) for name in sorted(recorded_mosaics - current)]
    record_failures(db, cell.program, cell.instrument, run_id, failure_rows(cell.failed), succeeded)


def cell_messages(cell: CellRun, workers: int, detail: bool) -> list[tuple[bool, str]]:
    """(is_warning, text) lines about a cell's planning: sweeps, removals and their errors always, the
    plan itself when ``detail``."""
    out: list[tuple[bool, str]] = []
    if cell.swept:
        out.append((False, f"removed {cell.swept} temporary file(s) left by interrupted runs"))
    removal = cell.removal
    if removal.total:
        out.append((False, f"removed {len(removal.previews)} preview(s) and {len(removal.thumbnails)} thumbnail(s) of "
                           f"{len(removal.sources)} file(s) deleted from the archive and {len(removal.mosaics)} "
                           f"mosaic(s) no longer made"))
    if removal.errors:
        out.append((True, f"could not remove {len(removal.errors)} stale product(s): " + "; ".join(removal.errors[:10])))
    if detail:
        plan = cell.plan
        out.append((False, f"{cell.program} {cell.instrument}: {len(cell.sources)} files, {len(plan.tasks)} to render "
                           f"({sum(t.kind == 'mosaic' for t in plan.tasks)} mosaics), {len(plan.skipped)} files and "
                           f"{len(plan.skipped_mosaics)} mosaics up to date, {workers} workers"))
    return out


def run_plan_line(cells: Sequence[CellRun], workers: int) -> str:
    """One line for the plan of a run over many cells."""
    tasks = [t for c in cells for t in c.plan.tasks]
    programs = len({c.program for c in cells})
    return (f"{len(cells)} cells of {programs} programs: {sum(len(c.sources) for c in cells)} files, {len(tasks)} to "
            f"render ({sum(t.kind == 'mosaic' for t in tasks)} mosaics), {sum(len(c.plan.skipped) for c in cells)} "
            f"files and {sum(len(c.plan.skipped_mosaics) for c in cells)} mosaics up to date, {workers} workers")

