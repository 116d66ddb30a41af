"""ArchiveFilesystem: the archive root (read-only) and the output roots we write into.

The listings themselves are pure code (listing.py); this resource gives them their root from
the settings and adds the guarded writes into the output roots.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import dagster as dg

from jwql_dagster.archive.listing import ArchiveFile, ArchiveListing
from jwql_dagster.atomic import atomic_write_bytes


class UnsafePathError(ValueError):
    """A path built from data would leave its output root (``..``, absolute part, NUL, or a symlink out)."""


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

    def listing(self) -> ArchiveListing:
        """A listing of the archive (links judged afresh: one listing per question asked)."""
        return ArchiveListing(self.filesystem)

    def programs(self, skipped: list[str] | None = None) -> list[str]:
        """Program folder names (``jw`` + 5 digits) in public/ and proprietary/, sorted, each once (listing.py)."""
        return self.listing().programs(skipped)

    def program_dirs(self, program: str, skipped: list[str] | None = None) -> list[tuple[str, Path]]:
        """(area, folder) of every ``jw*`` subfolder of a program in both areas (listing.py)."""
        return self.listing().program_dirs(program, skipped)

    def program_files(self, program: str, instrument: str | None = None, include_unrecognized: bool = True,
                      skipped: list[str] | None = None) -> list[ArchiveFile]:
        """The FITS files of a program in both areas, sorted by (area, name) (listing.py)."""
        return self.listing().program_files(program, instrument, include_unrecognized, skipped)

    def cells(self, programs: Iterable[str] | None = None) -> list[tuple[str, str]]:
        """The (program, instrument) cells with at least one recognised FITS file, sorted (listing.py)."""
        return self.listing().cells(programs)

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

