"""The one symlink rule of every archive listing: the sensor's scan and ``ArchiveFilesystem``'s listings.

A real archive share holds links: program or visit folders linked in from another disk,
files linked between areas. A listing that follows them blindly counts files twice, walks
out of the archive or loops forever; one that ignores them misses data. :class:`ArchiveLinks`
judges each link once per listing, and both the sensor and ``archive_files`` act on its verdict.
"""

from __future__ import annotations

import errno
import os
import stat as statmod
from typing import Sequence

from jwql_dagster.archive.layout import AREAS, is_fits_name, is_program_key, is_visit_name

# Verdicts of ArchiveLinks.judge on one symlink.
FOLLOW = "follow"  # target inside the archive and not scanned otherwise: followed
SAME = "same"  # target is a place the scan visits anyway: skipped, its files count there (once)
OUTSIDE = "outside"  # target outside the archive: not followed, reported
LOOP = "loop"  # a link loop, or a folder link to one of its own parents: not followed, reported
BROKEN = "broken"  # dangling, unreadable, or not what belongs there (a file where a folder goes): ignored
LINK_KINDS = ("program", "visit", "file")
# Linux resolves a path in one open(O_PATH) and names the result in /proc/self/fd: a few system
# calls per link, where os.path.realpath lstats every component of the path in Python.
_O_PATH = getattr(os, "O_PATH", 0)
_PROC_FD = "/proc/self/fd"


class ArchiveLinks:
    """The one symlink rule of every archive listing: the sensor's scan and ``ArchiveFilesystem.program_files``.

    A symlink standing for a program folder, a visit folder or a FITS file is followed when
    its target resolves (``realpath``) inside the archive: under the real path of the root or
    of an area folder. A target the scan reaches anyway is not followed, so its files count
    once, at their real place: the root, an area, a program or visit folder at its place in
    the layout (``<area>/jwPPPPP[/jw*]``), or a FITS file in such a visit folder. Links out of
    the archive and loops are followed by neither scan and are reported. The area folders
    themselves are configuration: ``public``/``proprietary`` may be links (to another share).
    """

    def __init__(self, root: str | os.PathLike[str], areas: Sequence[str] = AREAS) -> None:
        root = os.fspath(root)
        self.root = os.path.realpath(root)
        # longest first, so a position is taken below the innermost area folder
        self.area_roots = tuple(sorted({os.path.realpath(os.path.join(root, a)) for a in areas}, key=len, reverse=True))
        self.bounds = (self.root, *self.area_roots)
        self._fast = bool(_O_PATH) and os.path.isdir(_PROC_FD)
        self._parents: dict[str, str] = {}  # folder -> its real path, for this listing (one tick)

    @staticmethod
    def _under(path: str, base: str) -> bool:
        return path == base or path.startswith(base.rstrip(os.sep) + os.sep)

    def inside(self, real: str) -> bool:
        """True when the real path ``real`` is in the archive."""
        return any(self._under(real, base) for base in self.bounds)

    def position(self, real: str) -> tuple[str, ...] | None:
        """The parts of ``real`` below the area folder holding it (``()`` for the area itself), None outside the areas."""
        for base in self.area_roots:
            if self._under(real, base):
                rest = real[len(base):].strip(os.sep)
                return tuple(rest.split(os.sep)) if rest else ()
        return None

    def scanned(self, real: str, kind: str) -> bool:
        """True when the scans reach the real path ``real`` without any link (so a link to it adds nothing)."""
        parts = self.position(real)
        if kind == "file":
            return (parts is not None and len(parts) == 3 and is_program_key(parts[0])
                    and is_visit_name(parts[1]) and is_fits_name(parts[2]))
        if real == self.root or parts == ():
            return True
        if not parts or not is_program_key(parts[0]):
            return False
        return len(parts) == 1 or (len(parts) == 2 and is_visit_name(parts[1]))

    def _realpath(self, path: str) -> tuple[str, os.stat_result | None]:
        """``os.path.realpath(path, strict=True)``, with the target's stat when it came for free.

        Raises OSError (errno ELOOP for a loop) when ``path`` does not resolve. Nothing is read:
        an ``O_PATH`` descriptor opens no file or device, it only names the resolved path.
        """
        if self._fast:
            fd = os.open(path, _O_PATH | os.O_CLOEXEC)  # follows every link; ENOENT, ELOOP... as realpath does
            try:
                try:
                    real = os.readlink(f"{_PROC_FD}/{fd}")
                except OSError:
                    real = ""
                st = os.fstat(fd)
            finally:
                os.close(fd)
            if real.startswith(os.sep) and not real.endswith(" (deleted)"):
                return real, st
            self._fast = False  # no usable /proc: resolve in Python from now on
        return os.path.realpath(path, strict=True), None

    def _parent_real(self, folder: str) -> str:
        real = self._parents.get(folder)
        if real is None:
            try:
                real = self._realpath(folder)[0]
            except OSError:
                real = os.path.realpath(folder)
            self._parents[folder] = real
        return real

    def judge(self, path: str | os.PathLike[str], kind: str) -> tuple[str, str]:
        """(verdict, real target or '') of the symlink at ``path`` standing for a ``kind`` ("program", "visit", "file")."""
        path = os.fspath(path)
        try:
            real, st = self._realpath(path)
        except OSError as exc:
            return (LOOP if exc.errno == errno.ELOOP else BROKEN), ""
        if not self.inside(real):
            return OUTSIDE, real
        if st is None:
            try:
                st = os.stat(real)
            except OSError:
                return BROKEN, real
        if kind == "file":
            if not statmod.S_ISREG(st.st_mode):
                return BROKEN, real
        else:
            if not statmod.S_ISDIR(st.st_mode):
                return BROKEN, real
            if self._under(self._parent_real(os.path.dirname(path)), real):
                return LOOP, real  # the folder would contain itself
        return (SAME if self.scanned(real, kind) else FOLLOW), real

    def verdict(self, path: str | os.PathLike[str], rel: str, kind: str, report: list[str] | None) -> str:
        """``judge``'s verdict; a link out of the archive or a loop is described (by ``rel``) in ``report``."""
        verdict, real = self.judge(path, kind)
        if report is not None:
            if verdict == OUTSIDE:
                report.append(f"symlink out of the archive, not followed: {rel} -> {real}")
            elif verdict == LOOP:
                report.append(f"symlink loop at {rel}")
        return verdict
