"""SQL of the filesystem group: one snapshot's rows in three tables, and the history the plots are drawn from.

Functions take the JwqlDatabase resource only for its ``session`` and ``upsert`` methods;
the type is imported for annotations alone, so this module runs without Dagster.

SQLAlchemy is imported inside each function that runs a query: every process loading the code
location imports this module, and only the steps and sensor ticks that query pay for the import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jwql_dagster.filesystem.plots import FilesystemHistory

if TYPE_CHECKING:
    import sqlalchemy as sa

    from jwql_dagster.db.models import CentralStorage, FilesystemGeneral, FilesystemInstrument
    from jwql_dagster.db.resources import JwqlDatabase

GENERAL_COLUMNS = ("snapshot_id", "date", "total_file_count", "total_file_size", "fits_file_count", "fits_file_size",
                   "used", "available", "size")
CENTRAL_COLUMNS = ("snapshot_id", "date", "area", "size", "used", "available")


def store_snapshot(db: JwqlDatabase, general: dict[str, Any], instrument: list[dict[str, Any]], areas: list[dict[str, Any]]) -> None:
    """Write one snapshot in one transaction; a rerun of the same snapshot replaces its rows exactly."""
    import sqlalchemy as sa
    from jwql_dagster.db.models import CentralStorage, FilesystemGeneral, FilesystemInstrument
    sid = general["snapshot_id"]
    with db.session() as s:
        db.upsert(s, FilesystemGeneral, [general], key=("snapshot_id",))
        # a rerun may find fewer (instrument, filetype) pairs or areas: drop the ones it no longer has
        keep = {(r["instrument"], r["filetype"]) for r in instrument}
        stale = [i for i, inst, ft in s.execute(
            sa.select(FilesystemInstrument.id, FilesystemInstrument.instrument, FilesystemInstrument.filetype)
            .where(FilesystemInstrument.snapshot_id == sid)) if (inst, ft) not in keep]
        if stale:
            s.execute(sa.delete(FilesystemInstrument).where(FilesystemInstrument.id.in_(stale)))
        keep_areas = [r["area"] for r in areas]
        s.execute(sa.delete(CentralStorage).where(CentralStorage.snapshot_id == sid, CentralStorage.area.not_in(keep_areas)))
        db.upsert(s, FilesystemInstrument, instrument, key=("snapshot_id", "instrument", "filetype"))
        db.upsert(s, CentralStorage, areas, key=("snapshot_id", "area"))


def load_history(db: JwqlDatabase) -> FilesystemHistory:
    """Every snapshot (oldest first) and the per-filetype counts of the latest one."""
    import sqlalchemy as sa
    from jwql_dagster.db.models import CentralStorage, FilesystemGeneral, FilesystemInstrument
    general_table = FilesystemGeneral.__table__
    central_table = CentralStorage.__table__
    with db.session(readonly=True) as s:
        general = [dict(zip(GENERAL_COLUMNS, r)) for r in s.execute(
            sa.select(*[general_table.c[c] for c in GENERAL_COLUMNS]).order_by(FilesystemGeneral.date, FilesystemGeneral.id))]
        central = [dict(zip(CENTRAL_COLUMNS, r)) for r in s.execute(
            sa.select(*[central_table.c[c] for c in CENTRAL_COLUMNS]).order_by(CentralStorage.date, CentralStorage.id))]
        latest: list[dict[str, Any]] = []
        if general:
            sid = general[-1]["snapshot_id"]
            latest = [{"instrument": i, "filetype": f, "count": n, "size": b} for i, f, n, b in s.execute(
                sa.select(FilesystemInstrument.instrument, FilesystemInstrument.filetype, FilesystemInstrument.count,
                          FilesystemInstrument.size).where(FilesystemInstrument.snapshot_id == sid))]
    return FilesystemHistory(general=general, central=central, latest_instrument=latest,
                             latest_date=general[-1]["date"] if general else None)
