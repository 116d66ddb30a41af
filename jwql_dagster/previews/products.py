"""A program's own products: its proposal thumbnail and its gallery page (no Dagster here).

Both read what the program x instrument preview runs wrote for the program, every instrument
together. They are made by the preview run itself, once per program of the run, right after its
rendering (so the sensor path needs no second run per batch), and by the ``proposal_thumbnail``
and ``preview_gallery`` assets when a user materializes them. Two runs of one program (its NIRCam
and its MIRI files, say) may finish at the same moment: each product is made under a lock of the
program's output folder, so the page written last always lists what both runs rendered.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from jwql_dagster.atomic import atomic_copy
from jwql_dagster.db.failures import deleted_sources
from jwql_dagster.previews.gallery import choose_proposal_thumbnail, write_gallery

if TYPE_CHECKING:
    from jwql_dagster.archive.resources import ArchiveFilesystem
    from jwql_dagster.db.resources import JwqlDatabase


@dataclass(frozen=True)
class ProposalThumbnail:
    """The program's thumbnail for the archive page; ``source`` None when it has no thumbnail yet."""

    program: str
    source: str | None
    path: Path | None


@dataclass(frozen=True)
class GalleryPage:
    """The program's gallery page and what it shows."""

    program: str
    path: Path
    n_previews: int
    n_thumbnails: int
    observations: int


@contextlib.contextmanager
def program_lock(folder: Path) -> Iterator[None]:
    """An exclusive lock on ``folder`` itself across processes (released when the holder exits, even killed;
    no lock file is left among the outputs)."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def gallery_path(archive: ArchiveFilesystem, program: str) -> Path:
    """$JWQL_OUTPUT_ROOT/previews/<program>/index.html."""
    return Path(archive.safe_output_path(archive.output_root, "previews", program, "index.html"))


def program_area(archive: ArchiveFilesystem, program: str) -> str:
    """'public' only when the program is seen in public/ and not in proprietary/; anything else
    (some files still proprietary, or an unmounted or unreadable archive) counts as 'proprietary'."""
    root = Path(archive.filesystem)
    try:
        public = (root / "public" / program).is_dir()
        proprietary = (root / "proprietary" / program).is_dir()
    except OSError:
        return "proprietary"
    return "public" if public and not proprietary else "proprietary"


def products_current(archive: ArchiveFilesystem, program: str) -> bool:
    """Whether the program's gallery page is newer than every preview and thumbnail of the program and its
    proposal thumbnail exists (when it has thumbnails): a run that rendered and removed nothing need not
    write them again (a no-op run of an up-to-date partition, a backfill over a rendered archive)."""
    page = gallery_path(archive, program)
    thumbs = Path(archive.safe_output_path(archive.thumbnail_root, program))
    previews = Path(archive.safe_output_path(archive.preview_root, program))
    try:
        written = page.stat().st_mtime
        newest = max((entry.stat().st_mtime for folder in (previews, thumbs) if folder.is_dir()
                      for entry in os.scandir(folder) if entry.is_file()), default=0.0)
        if not (thumbs / f"{program}.thumb").exists() and choose_proposal_thumbnail(thumbs) is not None:
            return False
    except OSError:
        return False
    return newest <= written


def make_proposal_thumbnail(archive: ArchiveFilesystem, program: str) -> ProposalThumbnail:
    """Copy the thumbnail that stands for the program to $JWQL_THUMBNAIL_ROOT/jw<PPPPP>/jw<PPPPP>.thumb."""
    folder = Path(archive.safe_output_path(archive.thumbnail_root, program))
    with program_lock(gallery_path(archive, program).parent):
        chosen = choose_proposal_thumbnail(folder)
        if chosen is None:
            return ProposalThumbnail(program, None, None)
        target = Path(archive.safe_output_path(archive.thumbnail_root, program, f"{program}.thumb"))
        atomic_copy(chosen, target)
    return ProposalThumbnail(program, chosen.name, target)


def make_gallery(archive: ArchiveFilesystem, db: JwqlDatabase, program: str) -> GalleryPage:
    """Write the program's gallery page; files deleted from the archive are never listed, even before a
    preview run has removed their images."""
    page = gallery_path(archive, program)
    preview_dir = Path(archive.safe_output_path(archive.preview_root, program))
    hidden = {n.removesuffix(".fits") for n in deleted_sources(db, program)}
    with program_lock(page.parent):
        gallery = write_gallery(program, preview_dir, Path(archive.safe_output_path(archive.thumbnail_root, program)),
                                page, hidden=hidden)
    return GalleryPage(program, page, gallery.n_previews, gallery.n_thumbnails, len(gallery.groups))
