"""Read-side queries of the jwql tables for people: the failure view, programs, a program's files.

Writers (``archive_files``, the preview assets) keep one ``file_failures`` row per file and
product; a reader wants one line per broken file and cause. These queries do that merge,
leave out files the archive no longer holds, and take a plain SQLAlchemy connection so the
``file_failures`` asset and the web pages (which import no Dagster) share them.

SQLAlchemy is imported inside each function that runs a query: every process loading the code
location imports this module, and only the steps and sensor ticks that query pay for the import.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:
    import sqlalchemy as sa

    from jwql_dagster.db.models import File, FileFailure

LIKE_ESCAPE = "\\"


class ReadOnlyDatabase:
    """The jwql tables for a reader such as the web pages: one engine, schema brought up to date on first use,
    and on SQLite transactions that never take the write lock (so pages never wait for a run's writes)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: sa.Engine | None = None
        self._base: sa.Engine | None = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> sa.Engine:
        with self._lock:
            if self._engine is None:
                from jwql_dagster.db.engine import SQLITE_BEGIN_OPTION, create_jwql_engine
                from jwql_dagster.db.migrate import upgrade

                engine = create_jwql_engine(self.url)
                upgrade(engine)  # a server started before any run still finds the tables
                self._base = engine
                if engine.dialect.name == "sqlite":  # readers never take the write lock
                    engine = engine.execution_options(**{SQLITE_BEGIN_OPTION: "DEFERRED"})
                self._engine = engine
            return self._engine

    def connect(self) -> sa.Connection:
        return self.engine.connect()

    def dispose(self) -> None:
        """Close the pooled connections (the engine with the options shares the base engine's pool)."""
        if self._base is not None:
            self._base.dispose()
        self._engine = self._base = None


@dataclass
class FailureLine:
    """One broken file and one cause, with every product that failed for it."""

    filename: str
    program: str | None
    instrument: str | None
    reason: str
    error_type: str
    products: list[str] = field(default_factory=list)
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    run_id: str | None = None  # the run that saw it last
    path: str | None = None

    @property
    def stem(self) -> str:
        return self.filename.removesuffix(".fits")


def _like(text: str) -> str:
    """``%text%`` with LIKE's wildcards in ``text`` taken literally."""
    escaped = text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%").replace("_", LIKE_ESCAPE + "_")
    return f"%{escaped}%"


def current_failures(conn: sa.Connection, query: str | None = None, program: str | None = None,
                     limit: int | None = None) -> list[FailureLine]:
    """Every current failure, one line per (file, reason), newest first.

    Current: recorded by the last run that looked at the file and not of a file the archive
    has since dropped (``files.deleted_at`` set). ``query`` keeps lines whose file name,
    program, instrument, product, reason or error type contains it (any case); ``program``
    keeps one program's lines.
    """
    import sqlalchemy as sa
    from jwql_dagster.db.models import File, FileFailure
    f, files = FileFailure.__table__, File.__table__
    stmt = (
        sa.select(f.c.filename, f.c.product, f.c.program, f.c.instrument, f.c.path, f.c.reason, f.c.error_type,
                  f.c.first_seen, f.c.last_seen, f.c.run_id)
        .select_from(f.outerjoin(files, files.c.filename == f.c.filename))
        .where(files.c.deleted_at.is_(None))
    )
    if program:
        stmt = stmt.where(f.c.program == program)
    if query and query.strip():
        pattern = _like(query.strip())
        stmt = stmt.where(sa.or_(*(col.ilike(pattern, escape=LIKE_ESCAPE) for col in
                                   (f.c.filename, f.c.program, f.c.instrument, f.c.product, f.c.reason, f.c.error_type))))
    lines = merge_failure_rows(row._mapping for row in conn.execute(stmt))
    return lines[:limit] if limit is not None else lines


def merge_failure_rows(rows: Iterable[Any]) -> list[FailureLine]:
    """Fold ``file_failures`` rows of one file and one reason into a line (newest first, then by name)."""
    by_key: dict[tuple[str, str], FailureLine] = {}
    for r in rows:
        key = (r["filename"], r["reason"])
        line = by_key.get(key)
        if line is None:
            line = by_key[key] = FailureLine(r["filename"], r["program"], r["instrument"], r["reason"],
                                             r["error_type"], path=r["path"])
        line.products = sorted({*line.products, r["product"]})
        if r["first_seen"] is not None and (line.first_seen is None or r["first_seen"] < line.first_seen):
            line.first_seen = r["first_seen"]
        if r["last_seen"] is not None and (line.last_seen is None or r["last_seen"] >= line.last_seen):
            line.last_seen, line.run_id = r["last_seen"], r["run_id"]
        line.instrument = line.instrument or r["instrument"]
        line.path = line.path or r["path"]
    lines = sorted(by_key.values(), key=lambda x: x.filename)
    lines.sort(key=lambda x: x.last_seen.timestamp() if x.last_seen else 0.0, reverse=True)
    return lines


@dataclass(frozen=True)
class ProgramSummary:
    """A program as the programs page shows it."""

    program: str
    files: int
    instruments: tuple[str, ...]
    areas: tuple[str, ...]
    failures: int


def programs(conn: sa.Connection) -> list[ProgramSummary]:
    """Programs that have live files or current failures, with counts, sorted by program."""
    import sqlalchemy as sa
    from jwql_dagster.db.models import File
    files = File.__table__
    counts: dict[str, dict[str, Any]] = {}
    rows = conn.execute(
        sa.select(files.c.program, files.c.instrument, files.c.area, sa.func.count())
        .where(files.c.deleted_at.is_(None))
        .group_by(files.c.program, files.c.instrument, files.c.area)
    )
    for program, instrument, area, n in rows:
        entry = counts.setdefault(program, {"files": 0, "instruments": set(), "areas": set()})
        entry["files"] += int(n)
        if instrument:
            entry["instruments"].add(instrument)
        entry["areas"].add(area)
    failed: dict[str, int] = {}
    for line in current_failures(conn):
        if line.program:
            failed[line.program] = failed.get(line.program, 0) + 1
    out = []
    for program in sorted(set(counts) | set(failed)):
        entry = counts.get(program, {"files": 0, "instruments": set(), "areas": set()})
        out.append(ProgramSummary(program, entry["files"], tuple(sorted(entry["instruments"])),
                                  tuple(sorted(entry["areas"])), failed.get(program, 0)))
    return out


def program_files(conn: sa.Connection, program: str) -> list[Any]:
    """The program's live ``files`` rows (mappings), sorted by file name."""
    import sqlalchemy as sa
    from jwql_dagster.db.models import File
    files = File.__table__
    stmt = sa.select(files).where(files.c.program == program, files.c.deleted_at.is_(None)).order_by(files.c.filename)
    return [row._mapping for row in conn.execute(stmt)]


def file_by_name(conn: sa.Connection, filename: str) -> Any | None:
    """The live ``files`` row (mapping) of one FITS file name, or None."""
    import sqlalchemy as sa
    from jwql_dagster.db.models import File
    files = File.__table__
    row = conn.execute(sa.select(files).where(files.c.filename == filename, files.c.deleted_at.is_(None))).first()
    return row._mapping if row is not None else None


def exposure_files(conn: sa.Connection, program: str, file_root: str) -> list[Any]:
    """Live ``files`` rows of one exposure (same ``file_root``), sorted by name: the suffix choices of a file page."""
    import sqlalchemy as sa
    from jwql_dagster.db.models import File
    files = File.__table__
    stmt = (sa.select(files.c.filename, files.c.suffix, files.c.detector, files.c.nints)
            .where(files.c.program == program, files.c.file_root == file_root, files.c.deleted_at.is_(None))
            .order_by(files.c.filename))
    return [row._mapping for row in conn.execute(stmt)]
