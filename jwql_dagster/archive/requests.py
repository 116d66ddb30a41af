"""Which runs one tick asks for: changed program x instrument cells grouped into a bounded number of runs (no Dagster here).

A run of the preview job covers one cell or a rectangle of cells: the instruments between two
instruments (in the partition order, ``INSTRUMENTS``) times the programs between two keys in
the order the instance holds them. That is Dagster's partition range of a multi-partitioned
asset: ``miri|jw01..nircam|jw05`` holds miri and nircam of jw01..jw05, each dimension ranged
on its own. A tick with changes in many programs and instruments therefore asks for one run per
span of consecutive programs, however many cells changed, so a bulk arrival pays the run's
Python start-up, planning and render-pool start once instead of once per instrument.

A rectangle may hold unchanged cells (their runs find them up to date after one listing). It is
used only while it stays dense, at most ``PHANTOM_RATIO`` cells per changed cell and at most
``cells_per_run`` cells; otherwise the span falls back to one range per instrument (for example
a FGS and a NIRSpec change with nothing between them).

Run keys (ARCHITECTURE.md, Contract): a run of one cell is keyed
``<partition>|<change_hash of its lines>``; a run of a range ``<first>..<last>|<change_hash of
all its lines>``. A file requested again because the run that covered it failed adds the line
``attempt,<n>`` to its cell's lines, so the new request gets a new key (Dagster never launches
a run key twice).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping, Sequence

from jwql_dagster.archive.changes import change_hash
from jwql_dagster.archive.layout import INSTRUMENTS

Cell = tuple[str, str]  # (program, instrument)

#: A rectangle run is planned when it holds at most this many cells per changed cell.
PHANTOM_RATIO = 2
_INSTRUMENT_INDEX = {name: i for i, name in enumerate(INSTRUMENTS)}


def cell_key(program: str, instrument: str) -> str:
    """The string form of a cell's partition key (Dagster joins the dimensions in name order: instrument|program)."""
    return f"{instrument}|{program}"


@dataclass(frozen=True)
class Request:
    """One run to ask for: its key, the changed cells it covers and their changed lines.

    The run covers instruments ``instruments[0]..instruments[1]`` times programs ``first..last``.
    """

    key: str
    instruments: tuple[str, str]
    first: str  # first and last program of the range (equal for a run of one program)
    last: str
    cells: tuple[Cell, ...]
    lines: int

    @property
    def single(self) -> bool:
        return self.first == self.last and self.instruments[0] == self.instruments[1]

    @property
    def start_key(self) -> str:
        return cell_key(self.first, self.instruments[0])

    @property
    def end_key(self) -> str:
        return cell_key(self.last, self.instruments[1])

    @property
    def where(self) -> str:
        """``nircam|jw01068`` for one cell, ``miri|jw01068..nircam|jw02079`` for a range."""
        return self.start_key if self.single else f"{self.start_key}..{self.end_key}"


def cell_lines(changes: Mapping[Cell, Sequence[str]], attempts: Mapping[Cell, int], cell: Cell) -> list[str]:
    """The lines a cell's run key hashes: its changed files, plus ``attempt,<n>`` when it is asked again."""
    lines = list(changes[cell])
    n = attempts.get(cell, 1)
    return lines + [f"attempt,{n}"] if n > 1 else lines


def program_spans(programs: Sequence[str], position: Mapping[str, int], width: int) -> list[list[str]]:
    """``programs`` (sorted by position) cut into runs of consecutive positions less than ``width`` apart."""
    spans: list[list[str]] = []
    for program in programs:
        if spans and position[program] - position[spans[-1][0]] < width:
            spans[-1].append(program)
        else:
            spans.append([program])
    return spans


def _instrument_order(instrument: str) -> tuple[int, str]:
    return (_INSTRUMENT_INDEX.get(instrument, len(INSTRUMENTS)), instrument)


def plan_requests(changes: Mapping[Cell, Sequence[str]], attempts: Mapping[Cell, int], program_order: Sequence[str],
                  cells_per_run: int) -> list[Request]:
    """The runs for ``changes``: per span of consecutive programs, one dense rectangle or one range per instrument.

    ``program_order``: the programs as the instance holds them; programs it lacks come after
    it, sorted (the order in which the tick adds them). ``cells_per_run`` 1 gives one run per cell.
    """
    known = set(program_order)
    order = list(program_order) + sorted({p for p, _ in changes if p not in known})
    position = {p: i for i, p in enumerate(order)}
    limit = max(1, int(cells_per_run))
    changed = sorted({p for p, _ in changes}, key=position.__getitem__)
    out: list[Request] = []

    def request(cells: list[Cell], instruments: tuple[str, str], first: str, last: str) -> Request:
        cells = sorted(cells, key=lambda c: (_instrument_order(c[1]), position[c[0]]))
        lines = [line for cell in cells for line in cell_lines(changes, attempts, cell)]
        planned = Request(key="", instruments=instruments, first=first, last=last, cells=tuple(cells),
                          lines=sum(len(changes[c]) for c in cells))
        return replace(planned, key=f"{planned.where}|{change_hash(lines)}")

    for span in program_spans(changed, position, limit):
        members = set(span)
        cells = [c for c in changes if c[0] in members]
        instruments = sorted({i for _, i in cells}, key=_instrument_order)
        known_instruments = all(i in _INSTRUMENT_INDEX for i in instruments)
        height = (_INSTRUMENT_INDEX[instruments[-1]] - _INSTRUMENT_INDEX[instruments[0]] + 1) if known_instruments else 0
        area = height * (position[span[-1]] - position[span[0]] + 1)
        if known_instruments and area <= limit and area <= PHANTOM_RATIO * len(cells):
            out.append(request(cells, (instruments[0], instruments[-1]), span[0], span[-1]))
            continue
        for instrument in instruments:  # sparse: one range of programs per instrument
            programs = sorted((p for p, i in cells if i == instrument), key=position.__getitem__)
            for part in program_spans(programs, position, limit):
                out.append(request([(p, instrument) for p in part], (instrument, instrument), part[0], part[-1]))
    return out
