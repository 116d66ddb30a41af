"""Incremental scan of the archive for the file-arrival sensor (no Dagster here).

A tick must cost O(directories), not O(files): the cursor keeps each area, program
and visit directory's mtime, every directory is stat'ed once per tick and only the
directories whose mtime moved are listed. A listing is compared with what is already
known about that directory (the ``files`` rows, passed in as a callable, plus files
this scanner requested whose rows have not been written yet), which finds new,
replaced, moved and deleted files without keeping one cursor entry per archive file.

Files still being written (mtime younger than the settle time) and ready files beyond
the per-tick cap wait in the cursor's ``pending`` list, which is the only per-file
state besides ``inflight`` (requested, row not yet written; dropped as soon as the
database shows the row, or after a day).

The archive layout is ``<root>/{public,proprietary}/jw<PPPPP>/jw*/<file>.fits``; a
file is identified by its name, so a file that shows up in another area is a move.

Symlinks follow :class:`ArchiveLinks`, the rule ``ArchiveFilesystem.program_files`` (and so
``archive_files``) applies too: a link whose target is inside the archive is followed, a link
to a place the scan visits anyway is skipped (its files count once, there), and links out of
the archive and loops are never followed (reported in ``ScanResult.problems``).
"""

from __future__ import annotations

import base64
import errno
import hashlib
import json
import os
import stat as statmod
import zlib
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

AREAS: tuple[str, ...] = ("public", "proprietary")
CURSOR_VERSION = 1
# A directory mtime younger than this may still change within the same timestamp tick
# (the "racy" case): such a directory is listed again on the next tick.
RACY_SECONDS = 1.0
# Requested files whose row never appears (failed runs) are forgotten after this long,
# so a later change of their directory requests them again.
INFLIGHT_TTL_SECONDS = 86400.0

# Directory states in the cursor besides a real mtime.
CHANGED = 0  # list on the next tick, compare with the known files
INITIAL = -1  # list on the next tick, as in the first tick (materialized partitions are skipped)
# A visit folder that is the same folder as one walked before it (two links to one target): not
# listed, its files count at the first path; kept, so it takes over when the first path goes.
SHADOWED = -3
# A program or visit folder that is a symlink the rule does not follow because it is dangling or
# leads to a place scanned anyway: not listed, judged again (silently) on every tick, so it is
# walked as soon as it resolves somewhere archive_files would list it from. (Links out of the
# archive and loops are dropped instead, reported once, until their parent folder changes:
# nothing outside the archive is touched on every tick.)
UNFOLLOWED = -4
# Cursor key: the partitions materialized at the first tick, skipped by the whole first pass.
INITIAL_SKIP_KEY = "initial_skip"


class ArchiveRootMissing(FileNotFoundError):
    """The archive root does not exist or is not a directory."""

    def __init__(self, root: str) -> None:
        super().__init__(errno.ENOENT, "archive root does not exist", root)
        self.root = root


class CursorError(ValueError):
    """The cursor text is not a cursor of this scanner."""


# --------------------------------------------------------------------------- symlinks

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
            return (parts is not None and len(parts) == 3 and _is_program_name(parts[0])
                    and _is_visit_name(parts[1]) and is_fits_name(parts[2]))
        if real == self.root or parts == ():
            return True
        if not parts or not _is_program_name(parts[0]):
            return False
        return len(parts) == 1 or (len(parts) == 2 and _is_visit_name(parts[1]))

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


@dataclass(frozen=True)
class KnownFile:
    """What the database knows about one file: ``dir`` is relative to the archive root (``public/jw01068/jw01068001001``)."""

    name: str
    dir: str
    size: int
    mtime_ns: int
    deleted: bool = False


# known(dirs, names) -> the recorded files located in those directories (relative
# paths) or carrying those names; returning more (e.g. whole programs) is fine.
KnownLookup = Callable[[Sequence[str], Sequence[str]], Iterable[KnownFile]]
# instrument_of(name) -> full lower-case instrument name, or None for an unrecognised name.
InstrumentOf = Callable[[str], "str | None"]


def default_instrument_of(name: str) -> str | None:
    from jwql_dagster.archive.filenames import quick_classify

    found = quick_classify(name)
    return None if found is None else found[0]


def change_hash(lines: Iterable[str]) -> str:
    """First 16 hex digits of the sha1 of the sorted lines joined by newlines (the run key's tail)."""
    text = "\n".join(sorted(lines))
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def file_line(name: str, size: int, mtime_ns: int) -> str:
    return f"{name},{size},{mtime_ns}"


def deletion_line(name: str) -> str:
    return f"{name},-1,-1"


@dataclass
class ScanResult:
    """One tick's outcome: the changes per (program, instrument) and the cursor to store."""

    cursor: str
    changes: dict[tuple[str, str], list[str]]
    first_tick: bool = False
    dirs_checked: int = 0
    dirs_listed: int = 0
    changed_dirs: int = 0
    deferred_dirs: int = 0
    waiting: int = 0  # files not yet settled
    queued: int = 0  # ready files beyond the per-tick cap
    files: int = 0  # ready files and deletions in `changes`
    deletions: int = 0
    moves: int = 0
    unrecognized: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def programs(self) -> set[str]:
        return {program for program, _ in self.changes}

    def run_hash(self, program: str, instrument: str) -> str:
        return change_hash(self.changes[(program, instrument)])

    def summary(self) -> str:
        """What was found, in words for a SkipReason or a log line ("no change in 2,102 directories")."""
        parts: list[str] = []
        if self.changes:
            parts.append(f"{self.files:,} file change(s) in {len(self.changes):,} partition(s)")
        if self.waiting:
            parts.append(f"{self.waiting:,} file(s) waiting to settle")
        if self.queued or self.deferred_dirs:
            parts.append(f"{self.queued:,} file(s) and {self.deferred_dirs:,} director(ies) left for the next tick (per-tick cap)")
        if not parts:
            if self.changed_dirs == 0:
                parts.append(f"no change in {self.dirs_checked:,} directories")
            else:
                parts.append(f"{self.changed_dirs:,} changed of {self.dirs_checked:,} directories, "
                             "no new, replaced or deleted FITS file")
        if self.unrecognized:
            parts.append(f"{len(self.unrecognized):,} unrecognised file name(s) get no partition")
        if self.problems:
            parts.append(f"{len(self.problems):,} path(s) skipped: unreadable, symlink loops or links out of the "
                         "archive (see the tick log)")
        return "; ".join(parts)


# --------------------------------------------------------------------------- cursor


def empty_state() -> dict:
    return {"v": CURSOR_VERSION, "tree": {}, "pending": [], "inflight": {}, "resume": ""}


def decode_cursor(text: str | None) -> dict | None:
    """The cursor as a dict (directory tree unpacked), or None for an empty cursor (first tick)."""
    if not text:
        return None
    try:
        state = json.loads(text)
        if isinstance(state, dict) and isinstance(state.get("tree_z"), str):
            packed = state.pop("tree_z")
            raw = zlib.decompress(base64.b64decode(packed))
            state["tree"] = json.loads(raw)
            _PACKED_CACHE[raw] = packed
    except (json.JSONDecodeError, zlib.error, ValueError) as exc:
        raise CursorError(f"sensor cursor cannot be read ({exc}); reset the sensor's cursor") from None
    if not isinstance(state, dict) or state.get("v") != CURSOR_VERSION or not isinstance(state.get("tree"), dict):
        raise CursorError(f"sensor cursor is not a version-{CURSOR_VERSION} arrival cursor; reset the sensor's cursor")
    merged = empty_state()
    merged.update(state)
    return merged


def encode_cursor(state: dict) -> str:
    """JSON; the directory tree (one mtime per directory) is zlib-packed because Dagster stores the cursor with every tick."""
    out = {k: v for k, v in state.items() if k != "tree"}
    tree = json.dumps(state["tree"], separators=(",", ":"), sort_keys=True).encode()
    packed = _PACKED_CACHE.get(tree)  # an unchanged tree (most ticks) is not compressed again
    if packed is None:
        packed = base64.b64encode(zlib.compress(tree, 6)).decode("ascii")
    _PACKED_CACHE.clear()
    out["tree_z"] = packed
    return json.dumps(out, separators=(",", ":"), sort_keys=True)


# raw tree JSON -> its packed form, for the cursor read in this process's latest tick
_PACKED_CACHE: dict[bytes, str] = {}


# --------------------------------------------------------------------------- scanning


@dataclass
class _Entry:
    name: str
    dir: str
    size: int
    mtime_ns: int


class _Scan:
    def __init__(
        self,
        root: str,
        state: dict | None,
        now: float,
        settle_seconds: float,
        max_files: int,
        known: KnownLookup | None,
        materialized: Callable[[], set[tuple[str, str]]] | None,
        instrument_of: InstrumentOf,
        areas: Sequence[str],
        racy_seconds: float,
        inflight_ttl: float,
    ) -> None:
        self.root = root
        self.first = state is None
        self.state = state if state is not None else empty_state()
        self.now = now
        self.settle_ns = int(settle_seconds * 1e9)
        self.now_ns = int(now * 1e9)
        self.racy_ns = int(racy_seconds * 1e9)
        self.max_files = max(1, int(max_files))
        self.known = known
        self.materialized_fn = materialized
        self._materialized: set[tuple[str, str]] | None = None
        self.instrument_of = instrument_of
        self.areas = tuple(areas)
        self.inflight_ttl = inflight_ttl
        self.result = ScanResult(cursor="", changes={}, first_tick=self.first)
        self.batch = 0  # ready files and deletions taken this tick
        self.pending_out: list[str] = []
        self.seen_paths: set[str] = set()
        self.root_id: tuple[int, int] | None = None
        self.links = ArchiveLinks(root, self.areas)
        # (program, st_dev, st_ino) of each visit folder walked this tick -> the first path reaching it
        self.visit_ids: dict[tuple[str, int, int], str] = {}

    # -- helpers
    def problem(self, what: str, path: str, exc: BaseException | None = None) -> None:
        reason = f": {exc.strerror or exc}" if isinstance(exc, OSError) else (f": {exc}" if exc else "")
        self.result.problems.append(f"{what} {path}{reason}")

    def abspath(self, rel: str) -> str:
        return os.path.join(self.root, *rel.split("/"))

    def materialized(self) -> set[tuple[str, str]]:
        """The partitions the first pass skips: those materialized at the first tick, kept in the cursor
        until the pass is over, so a run the pass itself requested cannot hide the rest of its partition."""
        if self._materialized is None:
            frozen = None if self.first else self.state.get(INITIAL_SKIP_KEY)
            if frozen is not None:
                self._materialized = {(p, i) for p, i in frozen}
            else:
                self._materialized = set(self.materialized_fn()) if self.materialized_fn else set()
        return self._materialized

    def keep_initial_skip(self) -> None:
        """Store the first pass's skip set while folders still wait for their first listing; drop it after."""
        if not self.first and INITIAL_SKIP_KEY not in self.state:
            return  # the first pass ended earlier: no folder can be INITIAL again
        waiting = any(
            value == INITIAL
            for area in self.state["tree"].values()
            for program in area[1].values()
            for value in program[1].values()
        )
        if waiting:
            self.state[INITIAL_SKIP_KEY] = sorted([p, i] for p, i in self.materialized())
        else:
            self.state.pop(INITIAL_SKIP_KEY, None)

    def record_mtime(self, mtime_ns: int, mode: int = CHANGED) -> int:
        """The value to store for a directory just listed: its mtime, unless it is too fresh to trust."""
        if self.now_ns - mtime_ns < self.racy_ns:
            return mode
        return mtime_ns

    def verdict(self, rel: str, kind: str) -> str:
        """The ArchiveLinks verdict on the symlink at ``rel``; a link out of the archive or a loop is reported."""
        return self.links.verdict(self.abspath(rel), rel, kind, self.result.problems)

    def follow(self, rel: str, kind: str) -> bool:
        """Whether the symlink at ``rel`` is followed (ArchiveLinks); a link out or a loop is reported."""
        return self.verdict(rel, kind) == FOLLOW

    def stat_dir(self, rel: str, ancestors: set[tuple[int, int]], kind: str = "area") -> os.stat_result | None:
        """stat a directory; None when it vanished. Loops and unreadable paths are reported.

        Areas are always followed; a program or visit folder that is a symlink is judged by the
        link rule on every tick (an ``lstat`` per folder, then a few calls per symlink); one not
        followed (reported when out of the archive or a loop) raises ``_Unfollowed`` with the verdict.
        """
        path = self.abspath(rel)
        try:
            st = os.stat(path) if kind == "area" else os.lstat(path)
            if statmod.S_ISLNK(st.st_mode):
                verdict = self.verdict(rel, kind)
                if verdict != FOLLOW:
                    raise _Unfollowed(verdict)
                st = os.stat(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                self.problem("symlink loop at", rel)
            else:
                self.problem("cannot stat", rel, exc)
            raise _Skip() from None
        if not statmod.S_ISDIR(st.st_mode):
            return None
        if (st.st_dev, st.st_ino) in ancestors:
            self.problem("symlink loop at", rel)
            raise _Loop()
        return st

    def list_subdirs(self, rel: str, accept: Callable[[str], bool], kind: str) -> tuple[list[str], list[str]] | None:
        """(folders to walk, symlinks to judge again each tick) among the entries of ``rel``; None when it cannot
        be listed. Links out of the archive and loops are in neither (reported here, once)."""
        try:
            names: list[str] = []
            unfollowed: list[str] = []
            with os.scandir(self.abspath(rel)) as it:
                for entry in it:
                    if not accept(entry.name):
                        continue
                    try:
                        if entry.is_symlink():
                            verdict = self.verdict(f"{rel}/{entry.name}", kind)
                            if verdict == FOLLOW:
                                names.append(entry.name)
                            elif verdict in (SAME, BROKEN):
                                unfollowed.append(entry.name)
                        elif entry.is_dir(follow_symlinks=False):
                            names.append(entry.name)
                    except OSError as exc:
                        if exc.errno == errno.ELOOP:
                            self.problem("symlink loop at", f"{rel}/{entry.name}")
                        else:
                            self.problem("cannot stat", f"{rel}/{entry.name}", exc)
            return sorted(names), sorted(unfollowed)
        except FileNotFoundError:
            return [], []
        except OSError as exc:
            self.problem("cannot list", rel, exc)
            return None

    # -- the tick
    def run(self) -> ScanResult:
        try:
            root_st = os.stat(self.root)
        except OSError:
            raise ArchiveRootMissing(self.root) from None
        if not statmod.S_ISDIR(root_st.st_mode):
            raise ArchiveRootMissing(self.root)
        self.root_id = (root_st.st_dev, root_st.st_ino)

        changed = self.walk_tree()
        self.result.changed_dirs = len(changed)
        self.refresh_inflight()
        self.take_pending()
        self.process_changed(changed)
        self.keep_initial_skip()
        self.state["pending"] = sorted(set(self.pending_out))
        self.result.cursor = encode_cursor(self.state)
        return self.result

    def walk_tree(self) -> list[tuple[str, int]]:
        """Stat every known directory once, list the ones that moved; return the visit dirs to list with their new mtime."""
        tree: dict = self.state["tree"]
        changed: list[tuple[str, int]] = []
        default_new = INITIAL if self.first else CHANGED
        root_ids = {self.root_id} if self.root_id else set()
        for area in self.areas:
            prev_area = tree.get(area)
            try:
                st = self.stat_dir(area, root_ids)
            except _Skip:
                continue
            self.result.dirs_checked += 1
            if st is None:
                # A whole area gone is far more likely an unmounted share than a mass deletion:
                # report it and keep its state, so nothing is requested until it is back.
                if prev_area is not None and prev_area[1]:
                    self.problem("archive area missing (its files are not treated as deleted):", area)
                continue
            area_ids = root_ids | {(st.st_dev, st.st_ino)}
            if prev_area is None:
                prev_area = tree[area] = [CHANGED, {}]
            programs: dict = prev_area[1]
            if prev_area[0] != st.st_mtime_ns or prev_area[0] <= 0:
                listed = self.list_subdirs(area, _is_program_name, "program")
                if listed is not None:
                    names, unfollowed = listed
                    self.result.dirs_listed += 1
                    for gone in set(programs) - set(names):
                        for visit in programs[gone][1]:
                            changed.append((f"{area}/{gone}/{visit}", -2))
                        if gone in unfollowed:
                            programs[gone] = [UNFOLLOWED, {}]
                        else:
                            del programs[gone]
                    for name in unfollowed:
                        programs.setdefault(name, [UNFOLLOWED, {}])
                    for name in names:
                        prow = programs.setdefault(name, [CHANGED, {}])
                        if prow[0] == UNFOLLOWED:
                            prow[0] = CHANGED
                    prev_area[0] = self.record_mtime(st.st_mtime_ns)
            for program in sorted(programs):
                prow = programs[program]
                rel_program = f"{area}/{program}"
                try:
                    if prow[0] == UNFOLLOWED:
                        verdict = self.verdict(rel_program, "program")  # dangling or the same: nothing to report
                        if verdict != FOLLOW:
                            raise _Unfollowed(verdict)
                        prow[0] = CHANGED
                    pst = self.stat_dir(rel_program, area_ids, "program")
                except _Unfollowed as exc:
                    for visit in prow[1]:  # (for a program judged again: placeholders left by the per-tick cap)
                        changed.append((f"{rel_program}/{visit}", -2))
                    if exc.verdict in (SAME, BROKEN):
                        programs[program] = [UNFOLLOWED, {}]
                    else:
                        del programs[program]  # out of the archive or a loop: reported, dropped
                    continue
                except _Skip:
                    continue
                self.result.dirs_checked += 1
                if pst is None:
                    for visit in prow[1]:
                        changed.append((f"{rel_program}/{visit}", -2))
                    del programs[program]
                    continue
                program_ids = area_ids | {(pst.st_dev, pst.st_ino)}
                visits: dict = prow[1]
                if prow[0] != pst.st_mtime_ns or prow[0] <= 0:
                    listed = self.list_subdirs(rel_program, _is_visit_name, "visit")
                    if listed is not None:
                        names, unfollowed = listed
                        self.result.dirs_listed += 1
                        for gone in set(visits) - set(names):
                            if visits[gone] != UNFOLLOWED:
                                changed.append((f"{rel_program}/{gone}", -2))
                            del visits[gone]
                        for name in unfollowed:
                            visits[name] = UNFOLLOWED
                        for name in names:
                            if visits.setdefault(name, default_new) == UNFOLLOWED:
                                visits[name] = default_new  # a link replaced by a folder, or followed now
                        prow[0] = self.record_mtime(pst.st_mtime_ns)
                for visit in sorted(visits):
                    rel = f"{rel_program}/{visit}"
                    try:
                        if visits[visit] == UNFOLLOWED:
                            verdict = self.verdict(rel, "visit")  # dangling or the same: nothing to report
                            if verdict in (SAME, BROKEN):
                                continue
                            if verdict != FOLLOW:
                                del visits[visit]  # out of the archive or a loop now: reported, dropped
                                continue
                            visits[visit] = CHANGED
                        vst = self.stat_dir(rel, program_ids, "visit")
                    except _Unfollowed as exc:
                        changed.append((rel, -2))  # its recorded files are no longer listed
                        if exc.verdict in (SAME, BROKEN):
                            visits[visit] = UNFOLLOWED
                        else:
                            del visits[visit]  # out of the archive or a loop: reported, dropped
                        continue
                    except _Loop:
                        del visits[visit]  # reported once; found again only if the program folder changes
                        continue
                    except _Skip:
                        visits[visit] = CHANGED if visits[visit] > 0 else visits[visit]
                        continue
                    self.result.dirs_checked += 1
                    if vst is not None and self.visit_ids.setdefault((program, vst.st_dev, vst.st_ino), rel) != rel:
                        # the same folder reached twice (two links to one target): it counts at the first path;
                        # this one stays in the tree unlisted, to take over when the first path goes
                        if visits[visit] != SHADOWED:
                            changed.append((rel, -2))  # the files recorded here are now at the first path
                            visits[visit] = SHADOWED
                        continue
                    if vst is None:
                        changed.append((rel, -2))
                        del visits[visit]
                    elif visits[visit] != vst.st_mtime_ns or visits[visit] <= 0:
                        changed.append((rel, vst.st_mtime_ns))
        return changed

    def dir_slot(self, rel: str, create: bool = False) -> tuple[dict, str] | None:
        """(the visits of its program in the tree, visit name) of the visit folder ``rel``; None when its program
        is not in the tree. ``create`` puts the program back (for a placeholder of a vanished program's folder,
        so the next tick sees it gone again and handles the deletions the per-tick cap left)."""
        area, program, visit = rel.split("/")
        area_row = self.state["tree"].get(area)
        prow = None if area_row is None else area_row[1].get(program)
        if prow is None:
            if not create or area_row is None:
                return None
            prow = area_row[1][program] = [CHANGED, {}]
        return prow[1], visit

    def refresh_inflight(self) -> None:
        """Forget requested files once the database shows the requested state (or after the TTL)."""
        inflight: dict = self.state["inflight"]
        if not inflight:
            return
        ttl_ns = int(self.inflight_ttl * 1e9)
        for name in [n for n, v in inflight.items() if self.now_ns - int(v[3] * 1e9) > ttl_ns]:
            del inflight[name]
        if not inflight or self.known is None:
            return
        rows = {k.name: k for k in self.known([], sorted(inflight))}
        for name, (d, size, mtime_ns, _) in list(inflight.items()):
            row = rows.get(name)
            if size < 0:  # a requested deletion is done once the row is gone, deleted or elsewhere
                if row is None or row.deleted or row.dir != d:
                    del inflight[name]
            elif row is not None and not row.deleted and row.dir == d and row.size == size and row.mtime_ns == mtime_ns:
                del inflight[name]

    def add_change(self, rel_dir: str, name: str, line: str, instrument: str) -> None:
        program = rel_dir.split("/")[1]
        self.result.changes.setdefault((program, instrument), []).append(line)

    def take_ready(self, e: _Entry, instrument: str, moved_from: str | None) -> None:
        self.add_change(e.dir, e.name, file_line(e.name, e.size, e.mtime_ns), instrument)
        if moved_from is not None:
            self.add_change(e.dir, e.name, deletion_line(e.name), instrument)
            self.result.moves += 1
        self.state["inflight"][e.name] = [e.dir, e.size, e.mtime_ns, round(self.now, 3)]
        self.batch += 1
        self.result.files += 1

    def offer(self, e: _Entry, instrument: str, moved_from: str | None) -> None:
        """A new or changed file: take it now, or keep it pending (not settled, or over the cap)."""
        path = f"{e.dir}/{e.name}"
        if path in self.seen_paths:
            return
        self.seen_paths.add(path)
        if self.now_ns - e.mtime_ns < self.settle_ns:
            self.result.waiting += 1
            self.pending_out.append(path)
        elif self.batch >= self.max_files:
            self.result.queued += 1
            self.pending_out.append(path)
        else:
            self.take_ready(e, instrument, moved_from)

    def with_counterparts(self, dirs: Iterable[str]) -> list[str]:
        """The directories and their twins in the other areas (where a moved file was recorded)."""
        out: set[str] = set()
        for rel in dirs:
            rest = rel.split("/", 1)[1]
            out.update(f"{area}/{rest}" for area in self.areas)
            out.add(rel)
        return sorted(out)

    def take_pending(self) -> None:
        pending = self.state["pending"]
        rows_by_name: dict[str, KnownFile] = {}
        if pending and self.known is not None:
            names = sorted({p.rpartition("/")[2] for p in pending})
            rows_by_name = {k.name: k for k in self.known([], names) if k.name in names}
        for path in pending:
            d, _, name = path.rpartition("/")
            slot = self.dir_slot(d) if d.count("/") == 2 else None
            if slot is None or slot[0].get(slot[1], SHADOWED) in (SHADOWED, UNFOLLOWED):
                continue  # its folder is no longer walked (gone, a link no longer followed, or shadowed)
            try:
                st = os.lstat(self.abspath(path))
                if statmod.S_ISLNK(st.st_mode):
                    if not self.follow(path, "file"):
                        continue
                    st = os.stat(self.abspath(path))
            except FileNotFoundError:
                continue
            except OSError as exc:
                self.problem("cannot stat", path, exc)
                continue
            if not statmod.S_ISREG(st.st_mode):
                continue
            instrument = self.instrument_of(name)
            if instrument is None:
                continue
            e = _Entry(name, d, st.st_size, st.st_mtime_ns)
            row = rows_by_name.get(name)
            if row is not None and not row.deleted and (row.dir, row.size, row.mtime_ns) == (d, e.size, e.mtime_ns):
                continue  # recorded meanwhile (e.g. by a full rescan)
            self.offer(e, instrument, self.moved_from(e, rows_by_name))

    def moved_from(self, e: _Entry, rows_by_name: Mapping[str, KnownFile] | None) -> str | None:
        """The other directory this file is known in (requested or recorded), if it is a move."""
        fl = self.state["inflight"].get(e.name)
        if fl is not None and fl[1] >= 0:
            return fl[0] if fl[0] != e.dir else None
        if rows_by_name is not None:
            row = rows_by_name.get(e.name)
            if row is not None and not row.deleted and row.dir != e.dir:
                return row.dir
        return None

    def process_changed(self, changed: list[tuple[str, int]]) -> None:
        if not changed:
            return
        self.inflight_by_dir: dict[str, list[str]] = {}
        for name, fl in self.state["inflight"].items():
            self.inflight_by_dir.setdefault(fl[0], []).append(name)
        changed.sort()
        resume = self.state.get("resume") or ""
        start = next((i for i, (rel, _) in enumerate(changed) if rel >= resume), 0)
        order = changed[start:] + changed[:start]

        rows_by_dir: dict[str, dict[str, KnownFile]] = {}
        rows_by_name: dict[str, KnownFile] = {}
        # After the first tick, folders still in the first pass (fresh, or left by the cap) are compared
        # with the rows too: the runs of earlier ticks may have recorded their files meanwhile.
        need_known = not self.first or any(self.slot_value(rel) != INITIAL for rel, _ in order)
        if need_known and self.known is not None:
            for row in self.known(self.with_counterparts(rel for rel, _ in order), []):
                rows_by_name[row.name] = row
                if not row.deleted:
                    rows_by_dir.setdefault(row.dir, {})[row.name] = row

        for i, (rel, mtime_ns) in enumerate(order):
            if self.batch >= self.max_files:
                self.result.deferred_dirs = len(order) - i
                self.state["resume"] = rel
                for rest, m in order[i:]:
                    slot = self.dir_slot(rest, create=m == -2)
                    if m == -2:  # vanished directory still to be handled: keep a placeholder
                        if slot is not None:
                            slot[0][slot[1]] = CHANGED
                break
            self.process_dir(rel, mtime_ns, rows_by_dir, rows_by_name)
        else:
            self.state["resume"] = ""

    def slot_value(self, rel: str) -> int:
        slot = self.dir_slot(rel)
        if slot is None:
            return CHANGED
        return slot[0].get(slot[1], CHANGED)

    def process_dir(self, rel: str, mtime_ns: int, rows_by_dir: dict, rows_by_name: dict) -> None:
        mode = self.slot_value(rel)
        vanished = mtime_ns == -2
        listing: dict[str, _Entry] = {}
        if not vanished:
            try:
                with os.scandir(self.abspath(rel)) as it:
                    for entry in it:
                        name = entry.name
                        if not is_fits_name(name):
                            continue
                        try:
                            if entry.is_symlink():
                                if not self.follow(f"{rel}/{name}", "file"):
                                    continue
                                st = entry.stat()
                            else:
                                st = entry.stat(follow_symlinks=False)
                        except OSError as exc:
                            if exc.errno == errno.ELOOP:
                                self.problem("symlink loop at", f"{rel}/{name}")
                            elif not isinstance(exc, FileNotFoundError):
                                self.problem("cannot stat", f"{rel}/{name}", exc)
                            continue
                        if statmod.S_ISREG(st.st_mode):
                            listing[name] = _Entry(name, rel, st.st_size, st.st_mtime_ns)
            except FileNotFoundError:
                vanished = True
            except OSError as exc:
                self.problem("cannot list", rel, exc)
                slot = self.dir_slot(rel)
                if slot is not None and slot[1] in slot[0] and slot[0][slot[1]] > 0:
                    slot[0][slot[1]] = CHANGED
                return
            self.result.dirs_listed += 1

        inflight: dict = self.state["inflight"]
        deferred = False
        if mode == INITIAL and not vanished:
            materialized = self.materialized()
            program = rel.split("/")[1]
            for name in sorted(listing):
                e = listing[name]
                instrument = self.instrument_of(name)
                if instrument is None:
                    self.result.unrecognized.append(f"{rel}/{name}")
                    continue
                fl = inflight.get(name)
                if fl is not None and fl[0] == rel and fl[1] == e.size and fl[2] == e.mtime_ns:
                    continue
                row = rows_by_dir.get(rel, {}).get(name)
                if row is not None and (row.size, row.mtime_ns) == (e.size, e.mtime_ns):
                    continue  # requested by an earlier tick of this pass, and recorded since
                if (program, instrument) in materialized:
                    continue
                self.offer(e, instrument, None)
        else:
            known_here: dict[str, tuple[int, int]] = {
                n: (r.size, r.mtime_ns) for n, r in rows_by_dir.get(rel, {}).items()
            }
            for name in list(known_here):
                fl = inflight.get(name)
                if fl is not None and fl[1] >= 0 and fl[0] != rel:
                    known_here.pop(name)  # requested elsewhere since: it moved away
            for name in self.inflight_by_dir.get(rel, ()):
                fl = inflight.get(name)
                if fl is None or fl[0] != rel:
                    continue
                if fl[1] >= 0:
                    known_here[name] = (fl[1], fl[2])
                else:
                    known_here.pop(name, None)
            for name in sorted(listing):
                e = listing[name]
                if known_here.get(name) == (e.size, e.mtime_ns):
                    continue
                instrument = self.instrument_of(name)
                if instrument is None:
                    self.result.unrecognized.append(f"{rel}/{name}")
                    continue
                self.offer(e, instrument, self.moved_from(e, rows_by_name))
            for name in sorted(set(known_here) - set(listing)):
                if self.exists_elsewhere(rel, name):
                    continue  # moved: the destination directory reports it
                instrument = self.instrument_of(name)
                if instrument is None:
                    continue
                if self.batch >= self.max_files:
                    # keep the directory marked as changed so the deletion is found next tick
                    self.result.queued += 1
                    deferred = True
                    continue
                self.add_change(rel, name, deletion_line(name), instrument)
                inflight[name] = [rel, -1, -1, round(self.now, 3)]
                self.batch += 1
                self.result.files += 1
                self.result.deletions += 1

        slot = self.dir_slot(rel, create=deferred)
        if slot is None:
            return
        visits, visit = slot
        if deferred:
            visits[visit] = CHANGED
        elif vanished:
            if visits.get(visit) not in (SHADOWED, UNFOLLOWED):
                visits.pop(visit, None)
        elif visit in visits:
            visits[visit] = self.record_mtime(mtime_ns, INITIAL if mode == INITIAL else CHANGED) if mtime_ns > 0 else CHANGED

    def exists_elsewhere(self, rel: str, name: str) -> bool:
        area, rest = rel.split("/", 1)
        for other in self.areas:
            if other != area and self.listed_file(f"{other}/{rest}/{name}"):
                return True
        fl = self.state["inflight"].get(name)
        return fl is not None and fl[1] >= 0 and fl[0] != rel

    def listed_file(self, rel: str) -> bool:
        """Whether a listing would show the file ``area/program/visit/name`` (links judged, nothing reported)."""
        parts = rel.split("/")
        for depth, kind in ((2, "program"), (3, "visit"), (4, "file")):
            path = self.abspath("/".join(parts[:depth]))
            try:
                st = os.lstat(path)
            except OSError:
                return False
            if statmod.S_ISLNK(st.st_mode) and self.links.judge(path, kind)[0] != FOLLOW:
                return False
        return os.path.isfile(self.abspath(rel))


class _Skip(Exception):
    """A directory that cannot be examined this tick (reported)."""


class _Loop(_Skip):
    """A directory that is one of its own ancestors (a symlink loop; reported)."""


class _Unfollowed(Exception):
    """A program or visit folder that is a symlink the link rule does not follow (reported when it should be)."""

    def __init__(self, verdict: str) -> None:
        super().__init__(verdict)
        self.verdict = verdict


def _is_program_name(name: str) -> bool:
    return len(name) == 7 and name.startswith("jw") and name[2:].isascii() and name[2:].isdigit()


def _is_visit_name(name: str) -> bool:
    return name.startswith("jw")


def is_fits_name(name: str) -> bool:
    """A FITS file of the archive: ``*.fits``, not hidden (transfer temporaries start with a dot)."""
    return name.endswith(".fits") and not name.startswith(".")


def scan_archive(
    root: str | os.PathLike[str],
    cursor: str | None,
    *,
    now: float,
    settle_seconds: float,
    max_files: int,
    known: KnownLookup | None = None,
    materialized: Callable[[], set[tuple[str, str]]] | None = None,
    instrument_of: InstrumentOf = default_instrument_of,
    areas: Sequence[str] = AREAS,
    racy_seconds: float = RACY_SECONDS,
    inflight_ttl: float = INFLIGHT_TTL_SECONDS,
) -> ScanResult:
    """One sensor tick over the archive at ``root``.

    ``cursor`` is the previous tick's ``ScanResult.cursor`` (None/"" on the first tick:
    then only partitions not in ``materialized()`` are reported and the cursor is
    built). ``now`` is the current time in seconds (a parameter so tests control the
    clock); a file is ready when ``now - mtime >= settle_seconds``. At most
    ``max_files`` ready files and deletions are reported; the rest wait for the next
    tick. Raises ArchiveRootMissing when ``root`` is not a directory and CursorError
    for a cursor this scanner did not write; other problems are in ``.problems``.
    """
    state = decode_cursor(cursor)
    scan = _Scan(
        os.fspath(root), state, now, settle_seconds, max_files, known, materialized,
        instrument_of, areas, racy_seconds, inflight_ttl,
    )
    return scan.run()
