"""Listings of the archive for the inventory, the previews, the schedules and the CLI (no Dagster here).

Every listing follows the archive's symlink rule (links.py, the sensor applies it too): a link
whose target is inside the archive is followed, a target listed anyway is not (its files count
once, at their real place), links out of the archive and loops are never followed and are
described in ``skipped`` when the caller passes a list.

A listing never returns fewer files than there are: a missing root or an unreadable folder
raises :class:`ArchiveUnavailableError`, because callers act on absences (``archive_files``
marks files deleted).
"""

from __future__ import annotations

import os
import stat as statmod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from jwql_dagster.archive.filenames import UnrecognizedFilenameError, parse_filename, quick_classify
from jwql_dagster.archive.layout import AREAS, INSTRUMENTS, is_fits_name, is_program_key, is_visit_name
from jwql_dagster.archive.links import FOLLOW, ArchiveLinks


class ArchiveUnavailableError(OSError):
    """The archive root is missing or a folder of it cannot be read: a listing would be incomplete.

    Raised rather than returning fewer files, because callers act on absences (archive_files
    marks files deleted): an unmounted or unreadable archive must never look like an empty one.
    """


@dataclass(frozen=True)
class ArchiveFile:
    """One FITS file found in the archive; ``parsed`` is None when its name follows no JWST pattern."""

    name: str
    path: Path
    area: str
    program: str
    size: int
    mtime_ns: int
    parsed: dict[str, Any] | None = field(default=None, repr=False)
    parse_error: str | None = None

    @property
    def instrument(self) -> str | None:
        return self.parsed["instrument"] if self.parsed else None

    @property
    def suffix(self) -> str | None:
        return self.parsed["suffix"] if self.parsed else None

    @property
    def recognized(self) -> bool:
        return self.parsed is not None


class ArchiveListing:
    """The listings of the archive at ``root``; one instance judges each link with one ArchiveLinks."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = os.fspath(root)
        self.links = ArchiveLinks(self.root, AREAS)

    def _scandir(self, folder: Path) -> Iterator[os.DirEntry[str]]:
        """Entries of an archive folder, after checking that the archive root itself is there."""
        if not Path(self.root).is_dir():
            raise ArchiveUnavailableError(
                f"archive root {self.root} (JWQL_FILESYSTEM) does not exist or is not a directory (not mounted?)"
            )
        return _scandir(folder)

    def _follows(self, path: str, kind: str, skipped: list[str] | None) -> bool:
        """The archive's symlink rule for the link at ``path``; links out and loops are described in ``skipped``."""
        rel = os.path.relpath(path, self.root).replace(os.sep, "/")
        return self.links.verdict(path, rel, kind, skipped) == FOLLOW

    def programs(self, skipped: list[str] | None = None) -> list[str]:
        """Program folder names (``jw`` + 5 digits) in public/ and proprietary/, sorted, each once."""
        found: set[str] = set()
        for area in AREAS:
            for e in self._scandir(Path(self.root) / area):
                if not is_program_key(e.name) or e.name in found:
                    continue
                if e.is_symlink():
                    if self._follows(e.path, "program", skipped):
                        found.add(e.name)
                elif e.is_dir(follow_symlinks=False):
                    found.add(e.name)
        return sorted(found)

    def program_dirs(self, program: str, skipped: list[str] | None = None) -> list[tuple[str, Path]]:
        """(area, folder) of every ``jw*`` subfolder of a program (visits, stage-3 ``jw01068-o001``) in both areas.

        A folder reached twice (two links to one target) is listed once, at its first (area, name).
        """
        if not is_program_key(program):
            raise ValueError(f"{program!r} is not a program folder name (jw + 5 digits)")
        out: list[tuple[str, Path]] = []
        seen: set[tuple[int, int]] = set()
        for area in AREAS:
            folder = Path(self.root) / area / program
            if folder.is_symlink() and not self._follows(str(folder), "program", skipped):
                continue
            for entry in sorted(self._scandir(folder), key=lambda e: e.name):
                if not is_visit_name(entry.name):
                    continue
                try:
                    if entry.is_symlink():
                        if not self._follows(entry.path, "visit", skipped):
                            continue
                    elif not entry.is_dir(follow_symlinks=False):
                        continue
                    st = entry.stat()
                except OSError:
                    continue  # vanished between listing and stat
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
                out.append((area, Path(entry.path)))
        return sorted(out)

    def fits_entries(self, program: str, skipped: list[str] | None = None) -> Iterator[tuple[str, str, str, os.stat_result]]:
        """(area, path, name, stat) of every regular FITS file of a program; a linked file's stat is its target's."""
        for area, folder in self.program_dirs(program, skipped):
            for entry in self._scandir(folder):
                name = entry.name
                if not is_fits_name(name):
                    continue
                try:
                    if entry.is_symlink():
                        if not self._follows(entry.path, "file", skipped):
                            continue
                        st = entry.stat()
                    else:
                        st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue  # vanished between listing and stat
                if statmod.S_ISREG(st.st_mode):
                    yield area, entry.path, name, st

    def program_files(self, program: str, instrument: str | None = None, include_unrecognized: bool = True,
                      skipped: list[str] | None = None) -> list[ArchiveFile]:
        """The FITS files of a program in both areas, sorted by (area, name).

        With ``instrument`` only that instrument's files are returned, plus (unless
        ``include_unrecognized`` is False) the files whose names are unrecognised: they
        have ``instrument`` None and ``parse_error`` set, so the caller can record them.
        A linked file's ``path`` is the link's path; size and mtime are the target's.
        """
        files: list[ArchiveFile] = []
        for area, path, name, st in self.fits_entries(program, skipped):
            try:
                parsed, error = parse_filename(name), None
            except UnrecognizedFilenameError as exc:
                parsed, error = None, exc.reason
            item = ArchiveFile(name=name, path=Path(path), area=area, program=program, size=st.st_size,
                               mtime_ns=st.st_mtime_ns, parsed=parsed, parse_error=error)
            if instrument is not None:
                if item.instrument is None and not include_unrecognized:
                    continue
                if item.instrument is not None and item.instrument != instrument:
                    continue
            files.append(item)
        files.sort(key=lambda f: (f.area, f.name, str(f.path)))
        return files

    def cells(self, programs: Iterable[str] | None = None) -> list[tuple[str, str]]:
        """The (program, instrument) cells that have at least one recognised FITS file, sorted.

        The one answer to "which partitions have data" (inventory, previews coverage, daily
        rescan, materialize-all): only cells from here are ever requested. ``programs``
        narrows the answer to those programs (e.g. the partitions an instance knows).
        Names are classified with ``quick_classify`` (equal to the parser, ~10x cheaper).
        """
        wanted = None if programs is None else set(programs)
        out: set[tuple[str, str]] = set()
        for program in self.programs():
            if wanted is not None and program not in wanted:
                continue
            for _, _, name, _ in self.fits_entries(program):
                found = quick_classify(name)
                if found is not None and found[0] in INSTRUMENTS:
                    out.add((program, found[0]))
        return sorted(out)


def _scandir(folder: Path) -> Iterator[os.DirEntry[str]]:
    """Entries of a folder, nothing when it does not exist; ArchiveUnavailableError when it cannot be read."""
    try:
        with os.scandir(folder) as it:
            yield from it
    except (FileNotFoundError, NotADirectoryError):
        return  # an area or program folder that does not exist (yet) is simply empty
    except OSError as exc:
        raise ArchiveUnavailableError(
            f"cannot read archive folder {folder} ({exc.strerror or exc}); its listing would be incomplete"
        ) from None
