"""The SQL of the preview runs: their rows in ``file_failures`` and the files ``files`` marks deleted.

A preview run records one row per file (product ``preview_images``) or mosaic (product
``mosaic``) it could not make, keyed by (filename, product) so a retried run rewrites the
same row, and deletes the rows of names that now succeed or are moot.

SQLAlchemy is imported inside each function that runs a query: every process loading the code
location imports this module, and only the steps and sensor ticks that query pay for the import.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterable, Sequence

if TYPE_CHECKING:
    import sqlalchemy as sa

    from jwql_dagster.db.models import File, FileFailure
    from jwql_dagster.db.resources import JwqlDatabase

_CHUNK = 500  # names per DELETE ... IN (...), well under SQLite's bound-parameter limit


def record_failures(
    db: JwqlDatabase,
    program: str,
    instrument: str,
    run_id: str,
    failed: Sequence[dict[str, Any]],
    succeeded: Iterable[tuple[str, str]],
) -> None:
    """Upsert a failure row per failed product; delete the rows of (name, product) pairs that now succeed.

    ``failed``: dicts with filename, product, path, reason and error_type.
    """
    import sqlalchemy as sa
    from jwql_dagster.db.models import FileFailure
    now = datetime.now(timezone.utc)
    rows = [{**row, "program": program, "instrument": instrument, "last_seen": now, "run_id": run_id,
             "error_type": str(row["error_type"])[:64]} for row in failed]
    by_product: dict[str, list[str]] = {}
    for name, product in succeeded:
        by_product.setdefault(product, []).append(name)
    with db.session() as session:
        if rows:
            db.upsert(session, FileFailure, rows, key=("filename", "product"))
        table = FileFailure.__table__
        for product in sorted(by_product):
            names = by_product[product]
            for start in range(0, len(names), _CHUNK):
                session.execute(sa.delete(table).where(table.c.product == product,
                                                       table.c.filename.in_(names[start:start + _CHUNK])))


def recorded_failures(db: JwqlDatabase, product: str, program: str, instrument: str) -> dict[str, str]:
    """filename -> reason of the cell's failure rows of one product."""
    import sqlalchemy as sa
    from jwql_dagster.db.models import FileFailure
    table = FileFailure.__table__
    with db.session(readonly=True) as session:
        rows = session.execute(
            sa.select(table.c.filename, table.c.reason).where(
                table.c.product == product, table.c.program == program, table.c.instrument == instrument)
        ).all()
    return {r[0]: r[1] for r in rows}


def deleted_sources(db: JwqlDatabase, program: str, instrument: str | None = None) -> set[str]:
    """Names of the program's FITS files (of one instrument, or all) that ``files`` records as deleted."""
    import sqlalchemy as sa
    from jwql_dagster.db.models import File
    table = File.__table__
    query = sa.select(table.c.filename).where(table.c.program == program, table.c.deleted_at.is_not(None))
    if instrument is not None:
        query = query.where(table.c.instrument == instrument)
    with db.session(readonly=True) as session:
        return {str(n) for n in session.scalars(query) if str(n).endswith(".fits")}
