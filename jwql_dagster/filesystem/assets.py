"""Asset group 'filesystem': archive/central-storage snapshots and their history plots (jwql monitor_filesystem).

The scans are scan.py (archive) and central.py (central storage), the rows db/filesystem.py,
the dashboard and PNGs plots.py.
"""

import os
from pathlib import Path
from typing import Any

import dagster as dg

from jwql_dagster.archive.resources import ArchiveFilesystem
from jwql_dagster.db.filesystem import load_history, store_snapshot
from jwql_dagster.db.resources import JwqlDatabase
from jwql_dagster.filesystem.central import CentralStorage, central_roots, central_storage
from jwql_dagster.filesystem.jobs import filesystem_job
from jwql_dagster.filesystem.plots import byte_unit, write_outputs
from jwql_dagster.filesystem.scan import ArchiveScan, scan_archive
from jwql_dagster.metadata import inline_image_md, md_code, snapshot_identity

GROUP = "filesystem"
LISTED_IN_METADATA = 50  # names / problems shown in the UI (the counts are complete)
INLINE_PLOT = "disk_usage"


class FilesystemScanConfig(dg.Config):
    """How the archive scan runs."""

    workers: int = 2  # processes scanning program folders (1.9x faster on 2 cores); capped at the CPU count


def _human(n: float) -> str:
    div, unit = byte_unit(n)
    return f"{n / div:,.2f} {unit}" if unit != "bytes" else f"{int(n)} bytes"


INSTRUMENT_SCHEMA = dg.TableSchema(columns=[
    dg.TableColumn("instrument"),
    dg.TableColumn("fits_files", "int", description="FITS files of the instrument"),
    dg.TableColumn("size", description="their size"),
    dg.TableColumn("bytes", "int", description="their size in bytes (sortable)"),
    dg.TableColumn("files_per_filetype", description="FITS files per filetype (suffix)"),
])
CENTRAL_SCHEMA = dg.TableSchema(columns=[
    dg.TableColumn("area"),
    dg.TableColumn("path"),
    dg.TableColumn("exists", "bool"),
    dg.TableColumn("used", description="bytes of regular files under the folder"),
    dg.TableColumn("size_of_disk"),
    dg.TableColumn("available"),
])


def instrument_table(scan: ArchiveScan) -> dg.TableMetadataValue:
    """FITS files per instrument (and the total), as a table the UI can sort."""
    by_inst: dict[str, list[tuple[str, int]]] = {}
    for (inst, ftype), (n, _) in sorted(scan.by_type.items()):
        by_inst.setdefault(inst, []).append((ftype, n))
    rows = [
        dg.TableRecord({"instrument": inst, "fits_files": n, "size": _human(b), "bytes": b,
                        "files_per_filetype": ", ".join(f"{t} {c:,}" for t, c in by_inst[inst])})
        for inst, (n, b) in scan.per_instrument().items()
    ]
    rows.append(dg.TableRecord({"instrument": "total", "fits_files": scan.fits_file_count, "size": _human(scan.fits_file_size),
                                "bytes": scan.fits_file_size, "files_per_filetype": ""}))
    return dg.MetadataValue.table(rows, schema=INSTRUMENT_SCHEMA)


def central_table(central: CentralStorage) -> dg.TableMetadataValue:
    """Used, disk size and available space per central-storage area."""
    rows = [
        dg.TableRecord({"area": a.area, "path": a.path, "exists": a.exists, "used": _human(a.used),
                        "size_of_disk": _human(a.size), "available": _human(a.available)})
        for a in central.areas.values()
    ]
    return dg.MetadataValue.table(rows, schema=CENTRAL_SCHEMA)


def _listing(items: list[str], total: int) -> str:
    if not total:
        return "none"
    shown = "\n".join(f"- {md_code(i)}" for i in items[:LISTED_IN_METADATA])
    more = total - min(len(items), LISTED_IN_METADATA)
    return shown + (f"\n- ... and {more:,} more" if more else "")


def snapshot_rows(
    snapshot_id: str, date: Any, scan: ArchiveScan, central: CentralStorage
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """The three tables' rows of one snapshot (sizes in bytes)."""
    general = {
        "snapshot_id": snapshot_id, "date": date,
        "total_file_count": scan.total_file_count, "total_file_size": scan.total_file_size,
        "fits_file_count": scan.fits_file_count, "fits_file_size": scan.fits_file_size,
        "used": scan.disk.used, "available": scan.disk.available, "size": scan.disk.size,
    }
    instrument = [
        {"snapshot_id": snapshot_id, "date": date, "instrument": inst, "filetype": ftype, "count": n, "size": b}
        for (inst, ftype), (n, b) in sorted(scan.by_type.items())
    ]
    areas = [
        {"snapshot_id": snapshot_id, "date": date, "area": a.area, "size": a.size, "used": a.used, "available": a.available}
        for a in central.areas.values()
    ]
    return general, instrument, areas


@dg.asset(group_name=GROUP, pool="db", kinds={"python", "sql"})
def filesystem_snapshot(
    context: dg.AssetExecutionContext, config: FilesystemScanConfig, archive: ArchiveFilesystem, db: JwqlDatabase
) -> dg.MaterializeResult:
    """One scan of the archive and the central storage, stored as a history snapshot."""
    root = Path(archive.filesystem)
    if not root.is_dir():
        raise dg.Failure(f"Archive root {root} (JWQL_FILESYSTEM) is not a directory; nothing was scanned or stored.")
    snapshot_id, date = snapshot_identity(context)
    scan = scan_archive(root, workers=config.workers)
    if scan.unreadable_areas:
        # Stored, it would show the archive as (partly) empty in the history plots.
        raise dg.Failure(f"Archive {root} (JWQL_FILESYSTEM) cannot be read ({'; '.join(scan.unreadable_areas)}); "
                         "no snapshot stored.")
    for area in scan.missing_areas:
        context.log.warning(f"{root / area} does not exist; counted as empty")
    roots = central_roots(
        log_root=archive.log_root, output_root=archive.output_root, working_root=archive.working_root,
        preview_root=archive.preview_root, thumbnail_root=archive.thumbnail_root, central_store=archive.central_store,
    )
    central = central_storage(roots, exclude_from_all=[archive.filesystem, archive.dagster_home])
    general, instrument, areas = snapshot_rows(snapshot_id, date, scan, central)
    store_snapshot(db, general, instrument, areas)

    problems = [f"{p.kind}: {p.path}" + (f" ({p.detail})" if p.detail else "") for p in scan.problems + central.problems]
    n_problems = scan.problem_count + central.problem_count
    if n_problems:
        context.log.warning(f"{n_problems} problem(s) skipped during the scan: {dict(scan.problem_kinds)}")
    if scan.unrecognized_count:
        context.log.warning(f"{scan.unrecognized_count} FITS file(s) with unrecognised names (bucket 'unrecognized')")
    context.log.info(f"Scanned {scan.total_file_count:,} files in {scan.seconds:.2f} s "
                     f"({scan.files_per_second:,.0f} files/s); snapshot {snapshot_id}")
    return dg.MaterializeResult(metadata={
        "snapshot_id": dg.MetadataValue.text(snapshot_id),
        "date": dg.MetadataValue.timestamp(date),
        "total_file_count": dg.MetadataValue.int(scan.total_file_count),
        "total_file_size": dg.MetadataValue.text(_human(scan.total_file_size)),
        "total_file_bytes": dg.MetadataValue.int(scan.total_file_size),
        "fits_file_count": dg.MetadataValue.int(scan.fits_file_count),
        "fits_file_size": dg.MetadataValue.text(_human(scan.fits_file_size)),
        "fits_file_bytes": dg.MetadataValue.int(scan.fits_file_size),
        "disk_used": dg.MetadataValue.text(_human(scan.disk.used)),
        "disk_available": dg.MetadataValue.text(_human(scan.disk.available)),
        "per_instrument": instrument_table(scan),
        "central_storage": central_table(central),
        "scan_seconds": dg.MetadataValue.float(round(scan.seconds, 3)),
        "files_per_second": dg.MetadataValue.float(round(scan.files_per_second, 1)),
        "directories": dg.MetadataValue.int(scan.directories),
        "central_storage_seconds": dg.MetadataValue.float(round(central.seconds, 3)),
        "unrecognized_count": dg.MetadataValue.int(scan.unrecognized_count),
        "unrecognized_names": dg.MetadataValue.md(_listing(scan.unrecognized, scan.unrecognized_count)),
        "symlinks_not_followed": dg.MetadataValue.md(_listing(scan.symlinks, scan.symlink_count)),
        "problem_count": dg.MetadataValue.int(n_problems),
        "problems": dg.MetadataValue.md(_listing(problems, n_problems)),
        "missing_areas": dg.MetadataValue.text(", ".join(scan.missing_areas) or "none"),
    })


@dg.asset(group_name=GROUP, deps=[filesystem_snapshot], kinds={"bokeh", "matplotlib"})
def filesystem_plots(context: dg.AssetExecutionContext, archive: ArchiveFilesystem, db: JwqlDatabase) -> dg.MaterializeResult:
    """Filesystem dashboard (bokeh HTML) and PNG plots from the whole snapshot history."""
    history = load_history(db)
    out_dir = Path(archive.output_root) / "filesystem"
    paths = write_outputs(history, out_dir)
    dashboard = paths.pop("dashboard")
    context.log.info(f"Wrote {dashboard} and {len(paths)} PNGs from {len(history.general)} snapshot(s)")
    dates = history.dates
    return dg.MaterializeResult(metadata={
        "dashboard": dg.MetadataValue.path(str(dashboard)),
        "dashboard_bytes": dg.MetadataValue.int(os.path.getsize(dashboard)),
        "snapshots": dg.MetadataValue.int(len(history.general)),
        "first_snapshot": dg.MetadataValue.text(dates[0].isoformat() if dates else "none"),
        "latest_snapshot": dg.MetadataValue.text(dates[-1].isoformat() if dates else "none"),
        "pngs": dg.MetadataValue.md("\n".join(f"- {md_code(p)}" for p in paths.values())),
        "preview": inline_image_md(paths[INLINE_PLOT], alt=INLINE_PLOT, max_px=480, fmt="PNG"),
    })


defs = dg.Definitions(assets=[filesystem_snapshot, filesystem_plots], jobs=[filesystem_job])
