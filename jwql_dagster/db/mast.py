"""The SQL of the mast group: inventory snapshots and keyword lists, observation characteristics.

``mast_inventory`` rewrites its snapshot of one instrument exactly (a retried run drops rows it no
longer has), ``jwst_inventory`` reads the newest snapshot of each instrument, and
``filesystem_characteristics`` reads the programs of our archive from the ``files`` table.

SQLAlchemy is imported inside each function that runs a query: every process loading the code
location imports this module, and only the steps and sensor ticks that query pay for the import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

if TYPE_CHECKING:
    import sqlalchemy as sa

    from jwql_dagster.db.models import File, FilesystemCharacteristics, MastInventory, MastKeyword
    from jwql_dagster.db.resources import JwqlDatabase

Keywords = dict[str, list[tuple[str, str]]]  # service -> [(keyword, dtype)]


def write_inventory(db: JwqlDatabase, snapshot_id: str, instrument: str,
                    inventory_rows: Sequence[Mapping[str, Any]], keyword_rows: Sequence[Mapping[str, Any]]) -> None:
    """Replace the snapshot's rows of ``instrument`` in one transaction (idempotent for a retried run)."""
    import sqlalchemy as sa
    from jwql_dagster.db.models import MastInventory, MastKeyword
    with db.session() as s:
        for model in (MastInventory, MastKeyword):
            s.execute(sa.delete(model).where(model.snapshot_id == snapshot_id, model.instrument == instrument))
        db.upsert(s, MastInventory, list(inventory_rows), key=("snapshot_id", "instrument", "service", "dataproduct"))
        db.upsert(s, MastKeyword, list(keyword_rows), key=("snapshot_id", "instrument", "service", "keyword"))


def latest_snapshots(db: JwqlDatabase, instruments: Iterable[str]) -> tuple[dict[str, dict[str, Any]], dict[str, Keywords]]:
    """The newest mast_inventory snapshot of each instrument: ({instrument: {snapshot_id, date, counts}}, keywords)."""
    import sqlalchemy as sa
    from jwql_dagster.db.models import MastInventory, MastKeyword
    found: dict[str, dict[str, Any]] = {}
    keywords: dict[str, Keywords] = {}
    with db.session(readonly=True) as s:
        for inst in instruments:
            latest = s.execute(
                sa.select(MastInventory.snapshot_id, MastInventory.date)
                .where(MastInventory.instrument == inst)
                .order_by(MastInventory.date.desc(), MastInventory.id.desc())
                .limit(1)
            ).first()
            if latest is None:
                continue
            snap = latest.snapshot_id
            counts: dict[tuple[str, str], int] = {}
            for row in s.execute(sa.select(MastInventory).where(MastInventory.instrument == inst, MastInventory.snapshot_id == snap)).scalars():
                counts[(row.service, row.dataproduct)] = int(row.count)
            found[inst] = {"snapshot_id": snap, "date": latest.date, "counts": counts}
            kws: Keywords = {"jwst": [], "caom": []}
            for row in s.execute(
                sa.select(MastKeyword).where(MastKeyword.instrument == inst, MastKeyword.snapshot_id == snap).order_by(MastKeyword.id)
            ).scalars():
                kws.setdefault(row.service, []).append((row.keyword, row.dtype))
            keywords[inst] = kws
    return found, keywords


def archive_programs(db: JwqlDatabase, instrument: str) -> list[str]:
    """Programs with live files of ``instrument`` in our ``files`` table."""
    import sqlalchemy as sa
    from jwql_dagster.db.models import File
    with db.session(readonly=True) as s:
        rows = s.execute(
            sa.select(File.program).where(File.instrument == instrument, File.deleted_at.is_(None)).distinct()
        ).scalars()
        return sorted({str(p) for p in rows if p})


def write_characteristics(db: JwqlDatabase, row: Mapping[str, Any]) -> None:
    """Store one instrument's characteristics of a snapshot (an upsert: a retried run rewrites it)."""
    from jwql_dagster.db.models import FilesystemCharacteristics
    with db.session() as s:
        db.upsert(s, FilesystemCharacteristics, [dict(row)], key=("snapshot_id", "instrument"))
