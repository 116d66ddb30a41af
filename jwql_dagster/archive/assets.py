"""Asset archive_files[program x instrument]: the inventory of the archive's FITS files.

What is read and compared is pure code (inventory.py); the SQL is db/files.py.
"""

from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import dagster as dg

from jwql_dagster.archive.inventory import PRODUCT, compare, markdown_table
from jwql_dagster.archive.layout import AREAS, is_program_key, preferred_copies
from jwql_dagster.archive.resources import ArchiveFilesystem
from jwql_dagster.db import files as files_sql
from jwql_dagster.db.resources import JwqlDatabase
from jwql_dagster.partitions import (
    CELL_LINES_MAX,
    batched_backfill,
    program_instrument_partitions,
    split_program_instrument,
)

MAX_LISTED_FAILURES = 50
MAX_LOGGED_LINKS = 20


def _inventory_cell(context: dg.AssetExecutionContext, archive: ArchiveFilesystem, db: JwqlDatabase, program: str,
                    instrument: str, now: datetime, log: bool = True) -> dict[str, Any]:
    """Inventory one cell (list, compare with its rows, write) and return its metadata (``log``: a line for it)."""
    # Symlinks follow the sensor's rule (archive/links.py): links out of the archive and loops are skipped and reported.
    skipped_links: list[str] = []
    listed = archive.program_files(program, instrument, skipped=skipped_links)
    for text in skipped_links[:MAX_LOGGED_LINKS]:
        context.log.warning(f"skipped: {text}")
    if len(skipped_links) > MAX_LOGGED_LINKS:
        context.log.warning(f"... and {len(skipped_links) - MAX_LOGGED_LINKS} more skipped links")
    found = preferred_copies(f for f in listed if f.recognized)
    unrecognized = preferred_copies(f for f in listed if not f.recognized)

    existing, failed_before = files_sql.cell_rows(db, program, instrument, PRODUCT)
    inv = compare(found, unrecognized, existing, failed_before, now, context.run_id)
    failures, gone, stats = inv.failures, inv.gone, inv.stats
    # As in the sensor: a whole area folder gone (public/ or proprietary/ unmounted) is an outage, not a mass deletion.
    missing_areas = sorted({existing[n].area for n in gone} - {a for a in AREAS if (Path(archive.filesystem) / a).is_dir()})
    if missing_areas:
        raise dg.Failure(f"archive area(s) {', '.join(missing_areas)} missing under {archive.filesystem} (not mounted?); "
                         f"{len(gone)} recorded file(s) of {instrument}|{program} would be marked deleted, so they were "
                         "not changed")
    live = files_sql.write_inventory(db, program, instrument, PRODUCT, rows=inv.rows, seen=inv.seen,
                                     failures=failures, gone=gone, now=now)

    by_suffix_area = Counter((f.suffix or "?", f.area) for f in found)
    failure_list = [{"filename": f["filename"], "reason": f["reason"]} for f in failures[:MAX_LISTED_FAILURES]]
    if log:
        context.log.info(f"{program} {instrument}: {len(found)} files, {len(failures)} failures, {len(gone)} deleted")
    return {
        "dagster/row_count": dg.MetadataValue.int(live),
        "files": dg.MetadataValue.int(len(found)),
        "total_bytes": dg.MetadataValue.int(sum(f.size for f in found)),
        "by_suffix": dg.MetadataValue.json(dict(sorted(Counter(f.suffix or "?" for f in found).items()))),
        "by_area": dg.MetadataValue.json(dict(sorted(Counter(f.area for f in found).items()))),
        "inventory": dg.MetadataValue.md(markdown_table(by_suffix_area) if found else "_no files_"),
        "new": dg.MetadataValue.int(stats["new"]),
        "changed": dg.MetadataValue.int(stats["changed"]),
        "moved": dg.MetadataValue.int(stats["moved"]),
        "restored": dg.MetadataValue.int(stats["restored"]),
        "unchanged": dg.MetadataValue.int(stats["unchanged"]),
        "deleted": dg.MetadataValue.int(len(gone)),
        "failure_count": dg.MetadataValue.int(len(failures)),
        "failures": dg.MetadataValue.json(failure_list),
        "skipped_links": dg.MetadataValue.json(skipped_links[:MAX_LISTED_FAILURES]),
    }


def _cells_metadata(cells: list[tuple[str, str, dict[str, Any]]]) -> dict[str, Any]:
    """A run over many cells: totals, and one table row per cell (the UI shows the run's metadata on each
    partition of the range; every cell's rows and failures are in the database)."""
    counted = ("files", "new", "changed", "moved", "restored", "unchanged", "deleted", "failure_count")
    rows = [dg.TableRecord({"program": p, "instrument": i, **{k: m[k].value for k in counted}}) for p, i, m in cells]
    schema = dg.TableSchema(columns=[dg.TableColumn("program"), dg.TableColumn("instrument")]
                            + [dg.TableColumn(k, "int") for k in counted])
    totals = {k: dg.MetadataValue.int(sum(m[k].value for _, _, m in cells)) for k in counted}
    skipped = sorted({text for _, _, m in cells for text in m["skipped_links"].value})
    return {"cells": dg.MetadataValue.int(len(cells)), **totals,
            "total_bytes": dg.MetadataValue.int(sum(m["total_bytes"].value for _, _, m in cells)),
            "by_cell": dg.MetadataValue.table(rows, schema=schema),
            "skipped_links": dg.MetadataValue.json(skipped[:MAX_LISTED_FAILURES])}


# A backfill of the whole archive ("Materialize all") runs ranges of cells, not one run per cell.
@batched_backfill(
    dg.asset,
    partitions_def=program_instrument_partitions,
    group_name="previews",
    kinds={"fits", "sql"},
    pool="db",
    code_version="1",
)
def archive_files(context: dg.AssetExecutionContext, archive: ArchiveFilesystem, db: JwqlDatabase) -> dg.MaterializeResult:
    """Inventory of the program's FITS files of one instrument (names, areas, sizes, key headers) in the files table."""
    if not Path(archive.filesystem).is_dir():
        # An unmounted archive must fail loudly, not mark every file of the partition deleted.
        raise dg.Failure(f"archive root {archive.filesystem} (JWQL_FILESYSTEM) does not exist or is not mounted; nothing was changed")
    keys = [split_program_instrument(k) for k in context.partition_keys]
    # Checked for the whole range before any cell is written: a range run with one hand-typed key
    # (the UI's "Add a partition" accepts any text) changes nothing rather than half the range.
    bad = sorted({program for program, _ in keys if not is_program_key(program)})
    if bad:
        raise dg.Failure(f"program partition key(s) {', '.join(repr(b) for b in bad)} are not jw + five digits "
                         "(e.g. jw01068); nothing was changed. Remove them with "
                         "`jwql-dagster register-programs --remove-invalid`.")
    now = datetime.now(timezone.utc)
    # A run over many cells logs one line for all (its metadata has the per-cell table): each line is a stored event.
    detail = len(keys) <= CELL_LINES_MAX
    cells = [(program, instrument, _inventory_cell(context, archive, db, program, instrument, now, log=detail))
             for program, instrument in keys]
    if not detail:
        totals = {k: sum(m[k].value for _, _, m in cells) for k in ("files", "failure_count", "deleted")}
        context.log.info(f"{len(cells)} cells: {totals['files']} files, {totals['failure_count']} failures, "
                         f"{totals['deleted']} deleted")
    return dg.MaterializeResult(metadata=cells[0][2] if len(cells) == 1 else _cells_metadata(cells))

defs = dg.Definitions(assets=[archive_files])
