"""What a preview run of one program x instrument cell has to do: its files, and which of them to render.

Pure code (no Dagster): the asset hands in the archive listing and the output folders and
gets back a :class:`Plan`. Staleness is decided from one directory listing per output
folder, comparing modification times as jwql's cron job never did (it only looked for
existing names), and from the member record of each NIRCam mosaic.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from jwql_dagster.archive.filenames import IGNORED_SUFFIXES
from jwql_dagster.archive.layout import preferred_copies
from jwql_dagster.previews.members import (
    member_stats,
    members_sidecar_name,
    members_unchanged,
    mosaic_outputs,
    sidecar_stem,
)
from jwql_dagster.previews.mosaic_names import MosaicError, create_dummy_filename, group_filenames
from jwql_dagster.previews.worker import RenderTask

if TYPE_CHECKING:
    from jwql_dagster.archive.listing import ArchiveFile

PRODUCT = "preview_images"  # file_failures.product of a file whose preview could not be made
MOSAIC_PRODUCT = "mosaic"  # file_failures.product of a mosaic (filename = its dummy FITS name)
THUMBNAIL_SUFFIXES = ("rate", "dark", "uncal")


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


def usable(item: ArchiveFile) -> SourceFile | None:
    """The listed file as a SourceFile, or None when jwql would not preview it (ignored suffix, guider, bad name)."""
    parsed = item.parsed
    if parsed is None or not item.name.endswith(".fits"):
        return None  # unrecognised names are archive_files' failures, not ours
    if item.name.removesuffix(".fits").rsplit("_", 1)[-1] in IGNORED_SUFFIXES or parsed.get("guider_mode"):
        return None
    return SourceFile(item.name, str(item.path), item.area, item.mtime_ns, str(parsed.get("suffix") or ""),
                      parsed, item.size)


def partition_sources(items: Iterable[ArchiveFile], instrument: str) -> list[SourceFile]:
    """The files of one program x instrument cell that get previews, one per file name, sorted by name.

    ``items``: the program's archive listing (it may hold other instruments' files; they are
    left out). A name listed in both areas counts once, as the archive layout says which copy
    wins (``layout.preferred_copies``: the public one, as in the ``files`` inventory).
    """
    cell = preferred_copies(item for item in items if item.instrument == instrument)
    return [src for src in map(usable, cell) if src is not None]


def product_mtimes(folder: Path, ext: str, sidecars: set[str] | None = None,
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
    previews = {} if overwrite else product_mtimes(preview_dir, ".jpg", sidecars, sizes)
    thumbs = {} if overwrite else product_mtimes(thumbnail_dir, ".thumb", sizes=sizes)
    plan = Plan()
    for src in sources:
        want_thumb = src.suffix in THUMBNAIL_SUFFIXES
        if not overwrite and _up_to_date(src.stem, src.mtime_ns, want_thumb, previews, thumbs):
            plan.skipped.append(src.name)
            continue
        plan.tasks.append(RenderTask("file", src.name, [src.path], str(preview_dir),
                                     str(thumbnail_dir) if want_thumb else None))
        plan.members[src.name] = [src]
    if instrument != "nircam":
        return plan
    # Grouped by name alone: a file keeps its name when it moves between areas, and the
    # members' paths travel only inside the render task.
    by_name = {s.name: s for s in sources}
    for group in group_filenames(list(by_name)):
        if len(group) < 2:
            continue
        members = [by_name[n] for n in group]
        try:
            dummy = create_dummy_filename(group)
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
        plan.tasks.append(RenderTask("mosaic", dummy, [m.path for m in members], str(preview_dir),
                                     str(thumbnail_dir)))
        plan.members[dummy] = members
    return plan


def coverage_problems(
    sources: Sequence[SourceFile], preview_dir: Path, failures: dict[str, str]
) -> tuple[list[str], list[str], float]:
    """(files with neither an output nor a failure, files with a recorded failure, failure share)."""
    previews = product_mtimes(preview_dir, ".jpg")
    missing, failed = [], []
    for src in sources:
        if f"{src.stem}_integ0.jpg" in previews:
            continue
        (failed if src.name in failures else missing).append(src.name)
    rate = len(failed) / len(sources) if sources else 0.0
    return missing, failed, rate

