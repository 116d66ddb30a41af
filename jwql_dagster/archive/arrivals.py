"""Incremental scan of the archive for the file-arrival sensor (no Dagster here): the diffing.

The walk (walk.py) stats every known directory once per tick and hands over the visit
folders whose mtime moved. Their listings are compared here with what is already known
about them (the ``files`` rows, passed in as a callable, plus files this scanner requested
whose rows have not been written yet), which finds new, replaced, moved and deleted files
without keeping one state entry per archive file.

Files still being written (mtime younger than the settle time) and ready files beyond the
per-tick cap wait in the state's ``pending`` list, which is the only per-file state besides
``inflight`` (requested files until their run succeeded: inflight.py). The tick's changes
become a bounded number of run requests (requests.py); moves are moves.py.

A file is identified by its name (layout.py), so a file that shows up in another area is a
move. Symlinks follow :class:`ArchiveLinks` (links.py), the rule ``archive_files`` applies
too; links out of the archive and loops are reported in ``ScanResult.problems``.
"""

from __future__ import annotations

import errno
import os
import stat as statmod
from dataclasses import dataclass
from typing import Callable, Sequence

from jwql_dagster.archive.cursor import (
    CHANGED,
    INITIAL,
    INITIAL_SKIP_KEY,
    SHADOWED,
    UNFOLLOWED,
    decode_cursor,
    empty_state,
    encode_cursor,
)
from jwql_dagster.archive.changes import (
    InstrumentOf,
    KnownFile,
    KnownLookup,
    ScanResult,
    default_instrument_of,
    deletion_line,
    file_line,
)
from jwql_dagster.archive.inflight import INFLIGHT_TTL_SECONDS, RETRY_AFTER_SECONDS, InFlight, Outcome
from jwql_dagster.archive.layout import AREAS, is_fits_name
from jwql_dagster.archive.moves import Moves
from jwql_dagster.archive.requests import plan_requests
from jwql_dagster.archive.walk import RACY_SECONDS, VANISHED, TreeWalk


@dataclass
class _Entry:
    name: str
    dir: str
    size: int
    mtime_ns: int


class _Scan(TreeWalk, InFlight, Moves):
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
        outcome: Outcome | None,
        retry_after: float,
        program_order: Sequence[str],
        cells_per_run: int,
    ) -> None:
        first = state is None
        super().__init__(root, state if state is not None else empty_state(), first, now, racy_seconds, areas,
                         ScanResult(cursor="", changes={}, first_tick=first))
        self.settle_ns = int(settle_seconds * 1e9)
        self.max_files = max(1, int(max_files))
        self.known = known
        self.materialized_fn = materialized
        self._materialized: set[tuple[str, str]] | None = None
        self.instrument_of = instrument_of
        self.inflight_ttl = inflight_ttl
        self.outcome = outcome
        self.retry_after = retry_after
        self.program_order = program_order
        self.cells_per_run = cells_per_run
        self.attempt_of: dict[str, int] = {}  # file -> its request number, when asked again
        self.taken: dict[str, str] = {}  # file requested this tick -> its program
        self.batch = 0  # ready files and deletions taken this tick
        self.pending_out: list[str] = []
        self.seen_paths: set[str] = set()

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

    # -- the tick
    def run(self) -> ScanResult:
        self.check_root()
        changed = self.walk_tree()
        self.result.changed_dirs = len(changed)
        self.take_retries(self.refresh_inflight())
        self.take_pending()
        self.process_changed(changed)
        self.keep_initial_skip()
        self.state["pending"] = sorted(set(self.pending_out))
        self.result.requests = plan_requests(self.result.changes, self.result.attempts, self.program_order,
                                             self.cells_per_run)
        self.name_requests(self.result.requests)
        self.result.cursor = encode_cursor(self.state)
        return self.result

    def add_change(self, rel_dir: str, name: str, line: str, instrument: str) -> None:
        program = rel_dir.split("/")[1]
        self.result.changes.setdefault((program, instrument), []).append(line)

    def take_ready(self, e: _Entry, instrument: str, moved_from: str | None) -> None:
        self.add_change(e.dir, e.name, file_line(e.name, e.size, e.mtime_ns), instrument)
        if moved_from is not None:
            self.add_change(e.dir, e.name, deletion_line(e.name), instrument)
            self.result.moves += 1
        self.mark_inflight(e.name, e.dir, e.size, e.mtime_ns)
        self.note_attempt(e.name, e.dir, instrument)
        self.batch += 1
        self.result.files += 1

    @staticmethod
    def entry(name: str, d: str, size: int, mtime_ns: int) -> _Entry:
        return _Entry(name, d, size, mtime_ns)

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
                    slot = self.dir_slot(rest, create=m == VANISHED)
                    if m == VANISHED:  # vanished directory still to be handled: keep a placeholder
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
        vanished = mtime_ns == VANISHED
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
                self.mark_inflight(name, rel, -1, -1)
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
    outcome: Outcome | None = None,
    retry_after: float = RETRY_AFTER_SECONDS,
    program_order: Sequence[str] = (),
    cells_per_run: int = 1,
) -> ScanResult:
    """One sensor tick over the archive at ``root``.

    ``cursor`` is the previous tick's ``ScanResult.cursor`` (None/"" on the first tick:
    then only partitions not in ``materialized()`` are reported and the cursor is
    built). ``now`` is the current time in seconds (a parameter so tests control the
    clock); a file is ready when ``now - mtime >= settle_seconds``. At most
    ``max_files`` ready files and deletions are reported; the rest wait for the next
    tick. Raises ArchiveRootMissing when ``root`` is not a directory and CursorError
    for a cursor this scanner did not write; other problems are in ``.problems``.

    ``outcome(run keys)`` tells how the runs of earlier requests ended (inflight.py); the
    tick's runs are ``.requests``, grouped per ``cells_per_run`` consecutive programs of
    ``program_order`` (requests.py).
    """
    state = decode_cursor(cursor)
    scan = _Scan(
        os.fspath(root), state, now, settle_seconds, max_files, known, materialized,
        instrument_of, areas, racy_seconds, inflight_ttl, outcome, retry_after, program_order, cells_per_run,
    )
    return scan.run()
