"""Files the sensor asked a run for, until that run has succeeded (no Dagster here).

A requested file is not handled because a run was requested for it: it stays in the state's
``inflight`` map, named with the run key of its request, until the run (or one of Dagster's
retries of it) succeeds. When the run ends failed and Dagster will not retry it, the file is
asked for again with a new run key (``attempt,<n>`` joins its cell's lines), after a pause that
doubles with every attempt; after ``MAX_ATTEMPTS`` requests the sensor leaves the cell to the
daily rescan and says so. Without run information (a request Dagster has no run for, e.g. in
tests driving the scanner alone) the older rule applies: the file is done once the ``files``
table shows the requested state, or forgotten after a day.

An ``inflight`` entry is ``[dir, size, mtime_ns, requested_at, run_key, attempt]``
(``size`` -1: a requested deletion; ``run_key`` None until the tick's requests are planned).
"""

from __future__ import annotations

import os
import stat as statmod
from typing import Callable, Iterable, Mapping

from jwql_dagster.archive.changes import KnownFile, deletion_line
from jwql_dagster.archive.requests import Request

# Requested files whose run is unknown and whose row never appears are forgotten after this long.
INFLIGHT_TTL_SECONDS = 86400.0
# The first request again after a failed run waits this long (then twice as long, ...).
RETRY_AFTER_SECONDS = 300.0
# Requests of one file (the first included) before the sensor leaves it to the daily rescan.
MAX_ATTEMPTS = 3

# Outcomes of a request, as the sensor reads them from the instance's runs.
SUCCESS = "success"
FAILURE = "failure"
PENDING = "pending"  # queued, running, or failed with a retry coming
# outcome(run keys) -> {run key: outcome} for the keys that have runs
Outcome = Callable[[set[str]], Mapping[str, str]]


class InFlight:
    """Bookkeeping of requested files; mixed into the scan (uses its state, clock, result and offers)."""

    outcome: Outcome | None
    retry_after: float
    inflight_ttl: float
    known: Callable[..., Iterable[KnownFile]] | None

    def refresh_inflight(self) -> list[tuple[str, list]]:
        """Drop requests that succeeded (or, without run information, whose rows are written); return the
        failed ones due for another request (name, entry)."""
        inflight: dict = self.state["inflight"]
        if not inflight:
            return []
        for entry in inflight.values():
            entry.extend([None, 1][len(entry) - 4:])  # entries of states written before requests were tracked
        keys = {e[4] for e in inflight.values() if e[4]}
        outcomes = dict(self.outcome(keys)) if self.outcome is not None and keys else {}
        due: list[tuple[str, list]] = []
        unknown: list[str] = []
        for name, entry in list(inflight.items()):
            status = outcomes.get(entry[4])
            if status == SUCCESS:
                del inflight[name]
            elif status == FAILURE:
                attempt = entry[5]
                if attempt >= MAX_ATTEMPTS:
                    del inflight[name]
                    self.result.given_up.append(f"{entry[0]}/{name}")
                elif self.now - entry[3] >= self.retry_after * 2 ** (attempt - 1):
                    del inflight[name]
                    due.append((name, entry))
            elif status is None:
                unknown.append(name)
        self._drop_recorded(unknown)
        return due

    def _drop_recorded(self, names: list[str]) -> None:
        """The rule without run information: done once the row shows the requested state, or after the TTL."""
        inflight: dict = self.state["inflight"]
        ttl = self.inflight_ttl
        for name in [n for n in names if self.now - inflight[n][3] > ttl]:
            del inflight[name]
        names = [n for n in names if n in inflight]
        if not names or self.known is None:
            return
        rows = {k.name: k for k in self.known([], sorted(names))}
        for name in names:
            d, size, mtime_ns = inflight[name][:3]
            row = rows.get(name)
            if size < 0:  # a requested deletion is done once the row is gone, deleted or elsewhere
                if row is None or row.deleted or row.dir != d:
                    del inflight[name]
            elif row is not None and not row.deleted and row.dir == d and row.size == size and row.mtime_ns == mtime_ns:
                del inflight[name]

    def take_retries(self, due: list[tuple[str, list]]) -> None:
        """Ask again for the files of failed runs, whether or not their rows were written meanwhile."""
        for name, entry in due:
            d, size = entry[0], entry[1]
            instrument = self.instrument_of(name)
            if instrument is None:
                continue
            if self.batch >= self.max_files:
                self.state["inflight"][name] = entry  # over the cap: due again on the next tick
                continue
            self.attempt_of[name] = entry[5] + 1
            self.result.retried += 1
            if size < 0:
                self.add_change(d, name, deletion_line(name), instrument)
                self.mark_inflight(name, d, -1, -1)
                self.note_attempt(name, d, instrument)
                self.batch += 1
                self.result.files += 1
                self.result.deletions += 1
                continue
            try:
                st = os.stat(self.abspath(f"{d}/{name}"))
            except OSError:
                continue  # gone since: its folder changed, and the listing compares it with the rows
            if statmod.S_ISREG(st.st_mode):
                self.take_ready(self.entry(name, d, st.st_size, st.st_mtime_ns), instrument, None)

    def mark_inflight(self, name: str, d: str, size: int, mtime_ns: int) -> None:
        self.state["inflight"][name] = [d, size, mtime_ns, round(self.now, 3), None, self.attempt_of.get(name, 1)]
        program = d.split("/")[1]
        self.taken[name] = program

    def note_attempt(self, name: str, d: str, instrument: str) -> None:
        """A cell asked for again carries its highest attempt into its run key."""
        n = self.attempt_of.get(name, 1)
        if n > 1:
            cell = (d.split("/")[1], instrument)
            self.result.attempts[cell] = max(n, self.result.attempts.get(cell, 1))

    def name_requests(self, requests: list[Request]) -> None:
        """Write each requested file's run key into its in-flight entry."""
        key_of = {cell: r.key for r in requests for cell in r.cells}
        inflight: dict = self.state["inflight"]
        for name, program in self.taken.items():
            entry = inflight.get(name)
            instrument = self.instrument_of(name)
            if entry is not None and instrument is not None:
                entry[4] = key_of.get((program, instrument))
