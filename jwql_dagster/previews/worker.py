"""The per-file rendering job run in worker processes.

It lives in its own small module, importing only pure code, so a spawned or forkserver
worker starts quickly and never imports Dagster. A worker never raises: it returns the
written paths or a failure record, so one bad file cannot stop the others.
"""

from __future__ import annotations

import errno
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jwql_dagster.previews.render import RenderResult


@dataclass
class RenderTask:
    """One unit of work: a single FITS file, or a group of NIRCam files to mosaic."""

    kind: str  # "file" | "mosaic"
    name: str  # FITS file name, or the mosaic's dummy FITS name
    paths: list[str]
    preview_dir: str
    thumbnail_dir: str | None  # None: no thumbnail for this product


@dataclass
class RenderOutcome:
    """What a task produced; ``error_type``/``reason`` are set when it failed."""

    kind: str
    name: str
    previews: list[str] = field(default_factory=list)
    thumbnails: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error_type: str | None = None
    reason: str | None = None
    #: the outputs could not be written (disk full, quota, read-only): the machine's fault, not the file's
    output_error: bool = False

    @property
    def ok(self) -> bool:
        return self.error_type is None


def _render_mosaic(task: RenderTask) -> RenderResult:
    from jwql_dagster.previews.mosaic import create_mosaic
    from jwql_dagster.previews.render import render_array

    root = os.path.basename(task.name).removesuffix(".fits")
    with create_mosaic(task.paths) as mosaic:
        return render_array(
            mosaic.frame,
            mosaic.mask,
            root,
            Path(task.preview_dir),
            Path(task.thumbnail_dir) if task.thumbnail_dir else None,
            units=mosaic.units,
            title_name=os.path.basename(task.name),
            nints=mosaic.nints,
            regions={d: (p.x0, p.y0, p.width, p.height) for d, p in mosaic.placements.items()},
        )


def run_task(task: RenderTask) -> RenderOutcome:
    """Render one task; any exception becomes a failure record carrying its type and message."""
    start = time.perf_counter()
    outcome = RenderOutcome(task.kind, task.name)
    try:
        if task.kind == "mosaic":
            result = _render_mosaic(task)
        else:
            from jwql_dagster.previews.render import render_file

            result = render_file(
                Path(task.paths[0]),
                Path(task.preview_dir),
                Path(task.thumbnail_dir) if task.thumbnail_dir else None,
            )
        outcome.previews = [str(p) for p in result.previews]
        outcome.thumbnails = [str(p) for p in result.thumbnails]
    except MemoryError:
        outcome.error_type = "MemoryError"
        outcome.reason = "out of memory while rendering"
    except OSError as exc:
        if exc.errno not in OUTPUT_ERRNOS:
            _record_exception(outcome, exc)
        else:
            outcome.error_type = type(exc).__name__
            outcome.output_error = True
            where = os.path.dirname(exc.filename) if isinstance(exc.filename, str) else task.preview_dir
            outcome.reason = f"cannot write the outputs: {exc.strerror} ({where})"
    except Exception as exc:  # noqa: BLE001 - every per-file problem becomes a record
        _record_exception(outcome, exc)
    outcome.seconds = time.perf_counter() - start
    return outcome


#: errors of the output side: every later file would fail the same way until someone frees space
OUTPUT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


def _record_exception(outcome: RenderOutcome, exc: Exception) -> None:
    """The failure record of a file the renderer could not handle."""
    from jwql_dagster.archive.filenames import UnrecognizedFilenameError
    from jwql_dagster.previews.fits_io import FitsReadError  # loaded already by the renderer

    outcome.error_type = type(exc).__name__
    # errors that carry a sentence for the user, without the file name their str() repeats
    reason = (exc.reason if isinstance(exc, (FitsReadError, UnrecognizedFilenameError)) else str(exc)) or \
        traceback.format_exception_only(type(exc), exc)[-1].strip()
    outcome.reason = str(reason)[:1000]
