"""Products whose source is gone: previews of files deleted from the archive, orphaned mosaics, temp files.

Pure code (no Dagster). ``archive_files`` marks a file deleted in the ``files`` table; the
next preview run of its cell removes what was made from it, by exact stem, and any mosaic
whose member record names it and that the current member set no longer makes. Temp files
(``.tmp-*``) of processes killed mid-write are swept once their writer is gone, or once they
are old enough not to be a live run's.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Collection

from jwql_dagster.atomic import abandoned_temp
from jwql_dagster.previews.gallery import products_of
from jwql_dagster.previews.members import members_sidecar_name, read_members, sidecar_stem

if TYPE_CHECKING:
    from jwql_dagster.archive.resources import ArchiveFilesystem

STALE_TEMP_SECONDS = 3600  # a hidden .tmp-* file this old belongs to a killed run, not to a live one


def sweep_stale_temp(folder: Path, max_age_s: float = STALE_TEMP_SECONDS) -> int:
    """Delete hidden ``.tmp-*`` files left by killed processes: those whose writer is dead, and any older
    than ``max_age_s`` (a writer on another host); a live writer's may belong to a run of another instrument."""
    removed = 0
    limit = time.time() - max_age_s
    try:
        with os.scandir(folder) as it:
            for e in it:
                if e.name.startswith(".tmp-"):
                    try:
                        if abandoned_temp(e.name) or e.stat().st_mtime < limit:
                            os.unlink(e.path)
                            removed += 1
                    except FileNotFoundError:
                        pass
    except FileNotFoundError:
        pass
    return removed


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
    except (ValueError, FileNotFoundError):  # ValueError: UnsafePathError, a name that would leave the root
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
