"""What one tick of the sensor's scan found, and what it compares listings with (no Dagster here).

The run key of a program x instrument cell is ``<partition>|<change_hash(lines)>``, where the
lines are ``name,size,mtime_ns`` of the files that became ready and ``name,-1,-1`` of the
files that disappeared (ARCHITECTURE.md, Contract): the same changes always give the same
key, so a tick evaluated twice never launches a run twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from jwql_dagster.archive.filenames import quick_classify


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
    retried: int = 0  # files asked for again because the run that covered them failed
    unrecognized: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    given_up: list[str] = field(default_factory=list)  # files whose runs failed MAX_ATTEMPTS times
    attempts: dict[tuple[str, str], int] = field(default_factory=dict)  # cell -> attempt, when above 1
    requests: list = field(default_factory=list)  # requests.Request: the runs to ask for

    @property
    def programs(self) -> set[str]:
        return {program for program, _ in self.changes}

    def run_hash(self, program: str, instrument: str) -> str:
        """The hash of one cell's run key (its changed lines, plus ``attempt,<n>`` when asked again)."""
        lines = self.changes[(program, instrument)]
        n = self.attempts.get((program, instrument), 1)
        return change_hash(lines + [f"attempt,{n}"] if n > 1 else lines)

    def summary(self) -> str:
        """What was found, in words for a SkipReason or a log line ("no change in 2,102 directories")."""
        parts: list[str] = []
        if self.changes:
            parts.append(f"{self.files:,} file change(s) in {len(self.changes):,} partition(s)")
        if self.retried:
            parts.append(f"{self.retried:,} file(s) asked for again after a failed run")
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
        if self.given_up:
            parts.append(f"{len(self.given_up):,} file(s) left to the daily rescan after failed runs")
        if self.problems:
            parts.append(f"{len(self.problems):,} path(s) skipped: unreadable, symlink loops or links out of the "
                         "archive (see the tick log)")
        return "; ".join(parts)
