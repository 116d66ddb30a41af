"""ArchiveFilesystem: the archive root (read-only) and the output roots we write into."""

from __future__ import annotations

import os
import stat as statmod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import dagster as dg

from jwql_dagster.archive.arrivals import AREAS, FOLLOW, ArchiveLinks, is_fits_name
from jwql_dagster.atomic import atomic_write_bytes
from jwql_dagster.archive.filenames import UnrecognizedFilenameError, parse_filename
from jwql_dagster.partitions import is_program_key


class UnsafePathError(ValueError):
    """A path built from data would leave its output root (``..``, absolute part, NUL, or a symlink out)."""


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


class ArchiveFilesystem(dg.ConfigurableResource):
    """Where the JWST archive lives and where previews, thumbnails and outputs go."""

    filesystem: str
    preview_root: str
    thumbnail_root: str
    output_root: str
    working_root: str
    log_root: str
    central_store: str
    dagster_home: str

    def _scandir(self, folder: Path) -> Iterator[os.DirEntry[str]]:
        """Entries of an archive folder, after checking that the archive root itself is there."""
        root = Path(self.filesystem)
        if not root.is_dir():
            raise ArchiveUnavailableError(
                f"archive root {root} (JWQL_FILESYSTEM) does not exist or is not a directory (not mounted?)"
            )
        return _scandir(folder)

    def _follows(self, links: ArchiveLinks, path: str, kind: str, skipped: list[str] | None) -> bool:
        """The archive's symlink rule (core.arrivals.ArchiveLinks, shared with the sensor) for the link at ``path``.

        Followed: links whose target is inside the archive and not reached anyway. Links out
        of the archive and loops are not, and are added to ``skipped`` (when given) in words.
        """
        rel = os.path.relpath(path, self.filesystem).replace(os.sep, "/")
        return links.verdict(path, rel, kind, skipped) == FOLLOW

    def programs(self, skipped: list[str] | None = None) -> list[str]:
        """Program folder names (``jw`` + 5 digits) in public/ and proprietary/, sorted, each once.

        A program folder that is a symlink counts when the link rule follows it (see ``program_files``).
        """
        links = ArchiveLinks(self.filesystem, AREAS)
        found: set[str] = set()
        for area in AREAS:
            for e in self._scandir(Path(self.filesystem) / area):
                if not is_program_key(e.name) or e.name in found:
                    continue
                if e.is_symlink():
                    if self._follows(links, e.path, "program", skipped):
                        found.add(e.name)
                elif e.is_dir(follow_symlinks=False):
                    found.add(e.name)
        return sorted(found)

    def program_dirs(self, program: str, skipped: list[str] | None = None) -> list[tuple[str, Path]]:
        """(area, folder) of every ``jw*`` subfolder of a program (visits, stage-3 ``jw01068-o001``) in both areas.

        Symlinked program and visit folders follow the link rule (see ``program_files``); a folder
        reached twice (two links to one target) is listed once, at its first (area, name).
        """
        if not is_program_key(program):
            raise ValueError(f"{program!r} is not a program folder name (jw + 5 digits)")
        links = ArchiveLinks(self.filesystem, AREAS)
        out: list[tuple[str, Path]] = []
        seen: set[tuple[int, int]] = set()
        for area in AREAS:
            folder = Path(self.filesystem) / area / program
            if folder.is_symlink() and not self._follows(links, str(folder), "program", skipped):
                continue
            for entry in sorted(self._scandir(folder), key=lambda e: e.name):
                if not entry.name.startswith("jw"):
                    continue
                try:
                    if entry.is_symlink():
                        if not self._follows(links, entry.path, "visit", skipped):
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

    def program_files(self, program: str, instrument: str | None = None, include_unrecognized: bool = True,
                      skipped: list[str] | None = None) -> list[ArchiveFile]:
        """The FITS files of a program in both areas, sorted by (area, name).

        With ``instrument`` only that instrument's files are returned, plus (unless
        ``include_unrecognized`` is False) the files whose names are unrecognised: they
        have ``instrument`` None and ``parse_error`` set, so the caller can record them.

        Symlinks (program folder, visit folder or file) follow the rule the file-arrival
        sensor applies (``core.arrivals.ArchiveLinks``): followed when the target is inside
        the archive, skipped when the target is a place listed anyway (its files count
        once, at their real place), never followed out of the archive or into a loop; those
        are described in ``skipped`` when a list is given. A linked file's ``path`` is the
        link's path; size and mtime are the target's.
        """
        links = ArchiveLinks(self.filesystem, AREAS)
        files: list[ArchiveFile] = []
        for area, folder in self.program_dirs(program, skipped):
            for entry in self._scandir(folder):
                name = entry.name
                if not is_fits_name(name):
                    continue
                try:
                    if entry.is_symlink():
                        if not self._follows(links, entry.path, "file", skipped):
                            continue
                        st = entry.stat()
                    else:
                        st = entry.stat(follow_symlinks=False)
                    if not statmod.S_ISREG(st.st_mode):
                        continue
                except OSError:
                    continue  # vanished between listing and stat
                try:
                    parsed, error = parse_filename(name), None
                except UnrecognizedFilenameError as exc:
                    parsed, error = None, exc.reason
                item = ArchiveFile(name=name, path=Path(entry.path), area=area, program=program, size=st.st_size,
                                   mtime_ns=st.st_mtime_ns, parsed=parsed, parse_error=error)
                if instrument is not None:
                    if item.instrument is None and not include_unrecognized:
                        continue
                    if item.instrument is not None and item.instrument != instrument:
                        continue
                files.append(item)
        files.sort(key=lambda f: (f.area, f.name, str(f.path)))
        return files

    def safe_output_path(self, root: str | os.PathLike[str], *parts: str) -> Path:
        """``root/parts...``, refusing any part that would leave ``root``.

        Refused: ``..`` components, absolute parts, NUL bytes, and existing symlinks whose
        target lies outside ``root``. Raises :class:`UnsafePathError`.
        """
        root_path = Path(root).absolute()
        clean: list[str] = []
        for part in parts:
            text = os.fspath(part)
            if not isinstance(text, str):
                raise UnsafePathError(f"path part {part!r} is not text")
            if "\x00" in text:
                raise UnsafePathError(f"path part {text!r} contains a NUL byte")
            if not text or os.path.isabs(text) or text.startswith(("/", "\\")):
                raise UnsafePathError(f"path part {text!r} is empty or absolute; output must stay under {root_path}")
            for piece in text.replace("\\", "/").split("/"):
                if piece == "..":
                    raise UnsafePathError(f"path part {text!r} contains '..'; output must stay under {root_path}")
                if piece not in ("", "."):
                    clean.append(piece)
        if not clean:
            raise UnsafePathError(f"no file name given under {root_path}")
        candidate = root_path.joinpath(*clean)
        real_root = os.path.realpath(root_path)
        real = os.path.realpath(candidate)
        if os.path.commonpath([real_root, real]) != real_root:
            raise UnsafePathError(f"{candidate} resolves to {real}, outside {real_root} (symlink)")
        return candidate

    def atomic_write(self, path: str | os.PathLike[str], data: bytes | str) -> Path:
        """Write ``data`` to ``path`` atomically (temp file + rename), ending with mode 0644."""
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        return atomic_write_bytes(path, raw)


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
