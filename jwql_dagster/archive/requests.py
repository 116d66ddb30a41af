"""Which runs one tick asks for: changed program x instrument cells grouped into a bounded number of runs (no Dagster here).

A run of the preview job covers one cell or a range of cells of one instrument: the programs
between two keys in the order the instance holds them (Dagster's partition range of the
``program`` dimension). A tick with changes in many programs therefore asks for at most
one run per instrument and span of ``cells_per_run`` consecutive programs, however many
cells changed; a span may include unchanged cells between changed ones (their runs find
them up to date after one listing).

Run keys (ARCHITECTURE.md, Contract): a run of one cell is keyed
``<partition>|<change_hash of its lines>``; a run of a range ``<first>..<last>|<change_hash of
all its lines>``. A file requested again because the run that covered it failed adds the line
``attempt,<n>`` to its cell's lines, so the new request gets a new key (Dagster never launches
a run key twice).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from jwql_dagster.archive.changes import change_hash

Cell = tuple[str, str]  # (program, instrument)


def cell_key(program: str, instrument: str) -> str:
    """The string form of a cell's partition key (Dagster joins the dimensions in name order: instrument|program)."""
    return f"{instrument}|{program}"


@dataclass(frozen=True)
class Request:
    """One run to ask for: its key, the changed cells it covers and their changed lines."""

    key: str
    instrument: str
    first: str  # first and last program of the range (equal for a run of one cell)
    last: str
    cells: tuple[Cell, ...]
    lines: int

    @property
    def single(self) -> bool:
        return self.first == self.last


def cell_lines(changes: Mapping[Cell, Sequence[str]], attempts: Mapping[Cell, int], cell: Cell) -> list[str]:
    """The lines a cell's run key hashes: its changed files, plus ``attempt,<n>`` when it is asked again."""
    lines = list(changes[cell])
    n = attempts.get(cell, 1)
    return lines + [f"attempt,{n}"] if n > 1 else lines


def plan_requests(changes: Mapping[Cell, Sequence[str]], attempts: Mapping[Cell, int], program_order: Sequence[str],
                  cells_per_run: int) -> list[Request]:
    """The runs for ``changes``: per instrument, spans of at most ``cells_per_run`` consecutive programs.

    ``program_order``: the programs as the instance holds them; programs it lacks come after
    it, sorted (the order in which the tick adds them). ``cells_per_run`` 1 gives one run per cell.
    """
    known = set(program_order)
    order = list(program_order) + sorted({p for p, _ in changes if p not in known})
    position = {p: i for i, p in enumerate(order)}
    span = max(1, int(cells_per_run))
    out: list[Request] = []
    for instrument in sorted({i for _, i in changes}):
        programs = sorted((p for p, i in changes if i == instrument), key=position.__getitem__)
        start = 0
        while start < len(programs):
            end = start
            while end + 1 < len(programs) and position[programs[end + 1]] - position[programs[start]] < span:
                end += 1
            cells = tuple((p, instrument) for p in programs[start:end + 1])
            lines = [line for cell in cells for line in cell_lines(changes, attempts, cell)]
            first, last = programs[start], programs[end]
            where = cell_key(first, instrument) if first == last else f"{cell_key(first, instrument)}..{cell_key(last, instrument)}"
            out.append(Request(key=f"{where}|{change_hash(lines)}", instrument=instrument, first=first, last=last,
                               cells=cells, lines=sum(len(changes[c]) for c in cells)))
            start = end + 1
    return out
