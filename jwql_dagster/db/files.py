"""The SQL of the ``files`` table: the archive_files inventory writes it, the arrival sensor reads it.

``archive_files`` keeps one row per file name (a move between areas updates the row, a
deletion sets ``deleted_at``) and its own ``file_failures`` rows (product ``archive_files``);
the sensor compares a changed folder's listing with the rows of that folder.

SQLAlchemy is imported inside each function that runs a query: every process loading the code
location imports this module, and only the steps and sensor ticks that query pay for the import.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterable, Sequence

if TYPE_CHECKING:
    import sqlalchemy as sa

    from jwql_dagster.db.models import File, FileFailure
    from jwql_dagster.db.resources import JwqlDatabase

_CHUNK = 500  # names per ... IN (...), well under SQLite's bound-parameter limit
# SQLite parses an OR chain as a tree at most 1000 deep (SQLITE_MAX_EXPR_DEPTH): keep both the
# programs of one query and the folders of one program well under it.
_TAILS_PER_CONDITION = 200
_PROGRAMS_PER_QUERY = 50


def _known_columns() -> tuple[Any, ...]:
    """The columns the sensor compares with a folder's listing (a function: the models load on first use)."""
    from jwql_dagster.db.models import File
    return (File.filename, File.path, File.size, File.mtime_ns, File.deleted_at)


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# ------------------------------------------------------------------ the sensor's reads


def rows_in_folders(db: JwqlDatabase, tails: Iterable[str]) -> list[sa.Row]:
    """(filename, path, size, mtime_ns, deleted_at) of the rows whose path holds ``<program>/<visit>/`` for a tail.

    Narrowed in the database by program (indexed) and by the folder part of the path, so a
    tick reads the rows of the changed folders only; both spellings of a program (``jw01068``
    and ``01068``) are accepted.
    """
    import sqlalchemy as sa
    from jwql_dagster.db.models import File
    by_program: dict[str, list[str]] = {}
    for tail in sorted(set(tails)):
        by_program.setdefault(tail.split("/")[0], []).append(tail)
    items = [(program, program_tails[i : i + _TAILS_PER_CONDITION])
             for program, program_tails in sorted(by_program.items())
             for i in range(0, len(program_tails), _TAILS_PER_CONDITION)]
    out: list[sa.Row] = []
    with db.session(readonly=True) as session:
        for batch in _chunks(items, _PROGRAMS_PER_QUERY):
            conds = [sa.and_(File.program.in_([program, program[2:]]),
                             sa.or_(*[File.path.contains(f"{t}/", autoescape=True) for t in program_tails]))
                     for program, program_tails in batch]
            out.extend(session.execute(sa.select(*_known_columns()).where(sa.or_(*conds))))
    return out


def rows_named(db: JwqlDatabase, names: Iterable[str]) -> list[sa.Row]:
    """(filename, path, size, mtime_ns, deleted_at) of the rows of these file names."""
    import sqlalchemy as sa
    from jwql_dagster.db.models import File
    out: list[sa.Row] = []
    with db.session(readonly=True) as session:
        for chunk in _chunks(sorted(set(names))):
            out.extend(session.execute(sa.select(*_known_columns()).where(File.filename.in_(chunk))))
    return out


# ------------------------------------------------------------------ the inventory


def cell_rows(db: JwqlDatabase, program: str, instrument: str, product: str) -> tuple[dict[str, sa.Row], set[str]]:
    """The cell's ``files`` rows by name, and the names of the program's failures of ``product``."""
    import sqlalchemy as sa
    from jwql_dagster.db.models import File, FileFailure
    with db.session(readonly=True) as s:
        existing = {
            r.filename: r
            for r in s.execute(
                sa.select(File.filename, File.area, File.path, File.size, File.mtime_ns, File.deleted_at)
                .where(File.program == program, File.instrument == instrument)
            )
        }
        failed = set(s.scalars(sa.select(FileFailure.filename).where(FileFailure.product == product,
                                                                     FileFailure.program == program)))
    return existing, failed


def write_inventory(
    db: JwqlDatabase,
    program: str,
    instrument: str,
    product: str,
    *,
    rows: Sequence[dict[str, Any]],
    seen: Sequence[str],
    failures: Sequence[dict[str, Any]],
    gone: Sequence[str],
    now: datetime,
) -> int:
    """One transaction: upsert changed rows and failures, touch ``last_seen`` of unchanged ones, mark
    ``gone`` deleted, drop the cell's solved failures; returns the cell's live row count.

    Idempotent: the same inventory written twice leaves the same rows.
    """
    import sqlalchemy as sa
    from jwql_dagster.db.models import File, FileFailure
    failed_names = sorted({f["filename"] for f in failures})
    with db.session() as s:
        db.upsert(s, File, rows, ("filename",))
        for chunk in _chunks(list(seen)):
            s.execute(sa.update(File).where(File.filename.in_(chunk)).values(last_seen=now))
        db.upsert(s, FileFailure, failures, ("filename", "product"))
        for chunk in _chunks(list(gone)):
            s.execute(sa.update(File).where(File.filename.in_(chunk), File.deleted_at.is_(None)).values(deleted_at=now))
        # Failures of this cell that are solved (file now readable) or whose file is gone.
        ours = sa.or_(FileFailure.instrument == instrument, FileFailure.instrument.is_(None))
        stale = sa.delete(FileFailure).where(FileFailure.product == product, FileFailure.program == program, ours)
        if failed_names:
            stale = stale.where(FileFailure.filename.not_in(failed_names))
        s.execute(stale)
        live = s.scalar(sa.select(sa.func.count()).select_from(File).where(
            File.program == program, File.instrument == instrument, File.deleted_at.is_(None)))
    return int(live or 0)
