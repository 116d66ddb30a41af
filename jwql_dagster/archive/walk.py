"""The walk of the sensor's scan: one ``stat`` per known directory, a listing only where an mtime moved.

A tick must cost O(directories), not O(files). :class:`TreeWalk` keeps each area, program and
visit folder's mtime in the state's ``tree`` and returns the visit folders whose mtime moved
(or that vanished); comparing their listings with the known files is the diffing's job
(arrivals.py). Program and visit folders that are symlinks follow :class:`ArchiveLinks`.
"""

from __future__ import annotations

import errno
import os
import stat as statmod
from typing import Any, Callable, Sequence

from jwql_dagster.archive.cursor import CHANGED, INITIAL, SHADOWED, UNFOLLOWED
from jwql_dagster.archive.layout import is_program_key, is_visit_name
from jwql_dagster.archive.links import BROKEN, FOLLOW, SAME, ArchiveLinks

# A directory mtime younger than this may still change within the same timestamp tick
# (the "racy" case): such a directory is listed again on the next tick.
RACY_SECONDS = 1.0
# Marker in the list of changed folders: the folder is gone (or no longer walked).
VANISHED = -2


class ArchiveRootMissing(FileNotFoundError):
    """The archive root does not exist or is not a directory."""

    def __init__(self, root: str) -> None:
        super().__init__(errno.ENOENT, "archive root does not exist", root)
        self.root = root


class _Skip(Exception):
    """A directory that cannot be examined this tick (reported)."""


class _Loop(_Skip):
    """A directory that is one of its own ancestors (a symlink loop; reported)."""


class _Unfollowed(Exception):
    """A program or visit folder that is a symlink the link rule does not follow (reported when it should be)."""

    def __init__(self, verdict: str) -> None:
        super().__init__(verdict)
        self.verdict = verdict


class TreeWalk:
    """The directory walk over ``state["tree"]``; counters and problems go to ``result``
    (``dirs_checked``, ``dirs_listed``, ``problems``)."""

    def __init__(self, root: str, state: dict, first: bool, now: float, racy_seconds: float,
                 areas: Sequence[str], result: Any) -> None:
        self.root = root
        self.state = state
        self.first = first
        self.now = now
        self.now_ns = int(now * 1e9)
        self.racy_ns = int(racy_seconds * 1e9)
        self.areas = tuple(areas)
        self.result = result
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


    def check_root(self) -> None:
        """Raise ArchiveRootMissing unless the root is a directory (an unmounted archive is not an empty one)."""
        try:
            root_st = os.stat(self.root)
        except OSError:
            raise ArchiveRootMissing(self.root) from None
        if not statmod.S_ISDIR(root_st.st_mode):
            raise ArchiveRootMissing(self.root)
        self.root_id = (root_st.st_dev, root_st.st_ino)

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
                listed = self.list_subdirs(area, is_program_key, "program")
                if listed is not None:
                    names, unfollowed = listed
                    self.result.dirs_listed += 1
                    for gone in set(programs) - set(names):
                        for visit in programs[gone][1]:
                            changed.append((f"{area}/{gone}/{visit}", VANISHED))
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
                        changed.append((f"{rel_program}/{visit}", VANISHED))
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
                        changed.append((f"{rel_program}/{visit}", VANISHED))
                    del programs[program]
                    continue
                program_ids = area_ids | {(pst.st_dev, pst.st_ino)}
                visits: dict = prow[1]
                if prow[0] != pst.st_mtime_ns or prow[0] <= 0:
                    listed = self.list_subdirs(rel_program, is_visit_name, "visit")
                    if listed is not None:
                        names, unfollowed = listed
                        self.result.dirs_listed += 1
                        for gone in set(visits) - set(names):
                            if visits[gone] != UNFOLLOWED:
                                changed.append((f"{rel_program}/{gone}", VANISHED))
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
                        changed.append((rel, VANISHED))  # its recorded files are no longer listed
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
                            changed.append((rel, VANISHED))  # the files recorded here are now at the first path
                            visits[visit] = SHADOWED
                        continue
                    if vst is None:
                        changed.append((rel, VANISHED))
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
