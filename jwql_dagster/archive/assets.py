"""Asset archive_files[program x instrument]: the inventory of the archive's FITS files."""

import contextlib
import gzip
import warnings
import zlib
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import dagster as dg
import sqlalchemy as sa

from jwql_dagster.db.models import File, FileFailure
from jwql_dagster.partitions import program_instrument_partitions, split_program_instrument
from jwql_dagster.archive.resources import AREAS, ArchiveFile, ArchiveFilesystem
from jwql_dagster.db.resources import JwqlDatabase

PRODUCT = "archive_files"
GZIP_MAGIC = b"\x1f\x8b"
# Header keywords with their own column in `files`.
COLUMN_KEYWORDS = {"EXP_TYPE": "exp_type", "FILTER": "filter", "PUPIL": "pupil", "SUBARRAY": "subarray",
                   "NINTS": "nints", "NGROUPS": "ngroups", "DATE-OBS": "date_obs"}
# Further primary-header keywords kept in the `header` JSON column.
EXTRA_KEYWORDS = ("READPATT", "DETECTOR", "INSTRUME", "TIME-OBS", "GRATING", "APERNAME", "TARGPROP",
                  "EFFEXPTM", "EXPSTART", "NFRAMES", "GROUPGAP", "PATT_NUM", "CATEGORY", "TITLE")
PARSED_COLUMNS = ("filename_type", "observation", "visit", "visit_group", "parallel_seq_id", "activity",
                  "exposure_id", "detector", "suffix", "ac_id", "file_root", "group_root")
MAX_LISTED_FAILURES = 50
MAX_LOGGED_LINKS = 20


class HeaderReadError(Exception):
    """The primary header of a file cannot be read; ``reason`` says why in words a user understands."""

    def __init__(self, reason: str, error_type: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error_type = error_type


def read_key_header(path: Path) -> dict[str, Any]:
    """The key values of the primary header only (one or a few 2880-byte blocks, never the data)."""
    from astropy.io import fits
    from astropy.utils.exceptions import AstropyWarning

    try:
        with open(path, "rb") as raw:
            gzipped = raw.read(2) == GZIP_MAGIC
            raw.seek(0)
            # gzip-compressed FITS under a .fits name is valid FITS for astropy (and the previews): read through it
            with (gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else contextlib.nullcontext(raw)) as fh:
                start = fh.read(80)
                if not start:
                    raise HeaderReadError("zero-byte file" if not gzipped else "empty gzip stream", "EmptyFile")
                if not start.startswith(b"SIMPLE  ="):
                    raise HeaderReadError("not a FITS file (no SIMPLE card at the start)", "NotFits")
                fh.seek(0)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", AstropyWarning)
                    header = fits.Header.fromfile(fh)
    except HeaderReadError:
        raise
    except (OSError, EOFError, ValueError, zlib.error) as exc:
        raise HeaderReadError(f"primary header unreadable: {type(exc).__name__}: {exc}".rstrip(": "), type(exc).__name__) from None
    values: dict[str, Any] = {}
    for key in (*COLUMN_KEYWORDS, *EXTRA_KEYWORDS):
        value = header.get(key)
        if isinstance(value, (str, int, float, bool)):
            values[key] = value.strip() if isinstance(value, str) else value
    return values


def _as_int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def _short(value: Any, width: int = 32) -> str | None:
    return None if value is None else str(value)[:width]


def file_row(item: ArchiveFile, header: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
    """The `files` row of one file (header None: columns left empty, e.g. an unreadable file)."""
    parsed = item.parsed or {}
    row: dict[str, Any] = {
        "filename": item.name, "area": item.area, "path": str(item.path), "program": item.program,
        "instrument": item.instrument, "size": item.size, "mtime_ns": item.mtime_ns,
        "mtime": datetime.fromtimestamp(item.mtime_ns / 1e9, tz=timezone.utc),
        "first_seen": now, "last_seen": now, "deleted_at": None,
    }
    row.update({c: _short(parsed.get(c), 255 if c.endswith("root") else 32) for c in PARSED_COLUMNS})
    header = header or {}
    for key, column in COLUMN_KEYWORDS.items():
        value = header.get(key)
        row[column] = _as_int(value) if column in ("nints", "ngroups") else _short(value)
    row["header"] = {k: v for k, v in header.items() if k in EXTRA_KEYWORDS} or None
    return row


def _prefer_public(items: list[ArchiveFile]) -> list[ArchiveFile]:
    """One item per file name; mid-move a name can sit in both areas, and public is where it is going."""
    by_name: dict[str, ArchiveFile] = {}
    for item in items:
        kept = by_name.get(item.name)
        if kept is None or (item.area == "public" and kept.area != "public"):
            by_name[item.name] = item
    return [by_name[n] for n in sorted(by_name)]


def _markdown_table(counts: Counter[tuple[str, str]]) -> str:
    areas = sorted({a for _, a in counts})
    suffixes = sorted({s for s, _ in counts})
    lines = ["| suffix | " + " | ".join(areas) + " | total |", "|---" * (len(areas) + 2) + "|"]
    for suffix in suffixes:
        cells = [counts.get((suffix, a), 0) for a in areas]
        lines.append(f"| {suffix} | " + " | ".join(str(c) for c in cells) + f" | {sum(cells)} |")
    return "\n".join(lines)


@dg.asset(
    partitions_def=program_instrument_partitions,
    group_name="previews",
    kinds={"fits", "sql"},
    pool="db",
    code_version="1",
)
def archive_files(context: dg.AssetExecutionContext, archive: ArchiveFilesystem, db: JwqlDatabase) -> dg.MaterializeResult:
    """Inventory of the program's FITS files of one instrument (names, areas, sizes, key headers) in the files table."""
    program, instrument = split_program_instrument(context.partition_key)
    if not Path(archive.filesystem).is_dir():
        # An unmounted archive must fail loudly, not mark every file of the partition deleted.
        raise dg.Failure(f"archive root {archive.filesystem} (JWQL_FILESYSTEM) does not exist or is not mounted; nothing was changed")
    run_id = context.run_id
    now = datetime.now(timezone.utc)
    # Symlinks follow the sensor's rule (core.arrivals.ArchiveLinks): links out of the archive and loops are skipped and reported.
    skipped_links: list[str] = []
    listed = archive.program_files(program, instrument, skipped=skipped_links)
    for text in skipped_links[:MAX_LOGGED_LINKS]:
        context.log.warning(f"skipped: {text}")
    if len(skipped_links) > MAX_LOGGED_LINKS:
        context.log.warning(f"... and {len(skipped_links) - MAX_LOGGED_LINKS} more skipped links")
    found = _prefer_public([f for f in listed if f.recognized])
    unrecognized = _prefer_public([f for f in listed if not f.recognized])

    with db.session(readonly=True) as s:
        existing = {
            r.filename: r
            for r in s.execute(
                sa.select(File.filename, File.area, File.path, File.size, File.mtime_ns, File.deleted_at)
                .where(File.program == program, File.instrument == instrument)
            )
        }
        failed_before = set(
            s.scalars(sa.select(FileFailure.filename).where(FileFailure.product == PRODUCT, FileFailure.program == program))
        )

    rows: list[dict[str, Any]] = []
    seen: list[str] = []  # unchanged files: only last_seen moves
    failures: list[dict[str, Any]] = []
    stats = Counter()
    for item in found:
        old = existing.get(item.name)
        unchanged = (old is not None and old.deleted_at is None and old.path == str(item.path) and old.size == item.size
                     and old.mtime_ns == item.mtime_ns and item.name not in failed_before)
        if unchanged:
            seen.append(item.name)
            stats["unchanged"] += 1
            continue
        stats["new" if old is None else ("restored" if old.deleted_at is not None else
                                         "moved" if old.area != item.area else "changed")] += 1
        try:
            header = read_key_header(item.path)
        except HeaderReadError as exc:
            header = None
            failures.append(_failure(item, exc.reason, exc.error_type, now, run_id))
        except OSError as exc:  # vanished or unreadable between listing and reading
            header = None
            failures.append(_failure(item, f"cannot read file: {exc.strerror or exc}", type(exc).__name__, now, run_id))
        rows.append(file_row(item, header, now))
    for item in unrecognized:
        failures.append(_failure(item, f"unrecognised file name: {item.parse_error}", "UnrecognizedFilename", now, run_id))

    names = {f.name for f in found}
    gone = sorted(n for n, r in existing.items() if n not in names and r.deleted_at is None)
    # As in the sensor: a whole area folder gone (public/ or proprietary/ unmounted) is an outage, not a mass deletion.
    missing_areas = sorted({existing[n].area for n in gone} - {a for a in AREAS if (Path(archive.filesystem) / a).is_dir()})
    if missing_areas:
        raise dg.Failure(f"archive area(s) {', '.join(missing_areas)} missing under {archive.filesystem} (not mounted?); "
                         f"{len(gone)} recorded file(s) would be marked deleted, so nothing was changed")
    failed_names = {f["filename"] for f in failures}
    with db.session() as s:
        db.upsert(s, File, rows, ("filename",))
        for start in range(0, len(seen), 500):
            s.execute(sa.update(File).where(File.filename.in_(seen[start : start + 500])).values(last_seen=now))
        db.upsert(s, FileFailure, failures, ("filename", "product"))
        if gone:
            s.execute(sa.update(File).where(File.filename.in_(gone), File.deleted_at.is_(None)).values(deleted_at=now))
        # Failures of this partition that are solved (file now readable) or whose file is gone.
        ours = sa.or_(FileFailure.instrument == instrument, FileFailure.instrument.is_(None))
        stale = sa.delete(FileFailure).where(FileFailure.product == PRODUCT, FileFailure.program == program, ours)
        if failed_names:
            stale = stale.where(FileFailure.filename.not_in(sorted(failed_names)))
        s.execute(stale)
        live = s.scalar(sa.select(sa.func.count()).select_from(File).where(
            File.program == program, File.instrument == instrument, File.deleted_at.is_(None)))

    by_suffix_area = Counter((f.suffix or "?", f.area) for f in found)
    failure_list = [{"filename": f["filename"], "reason": f["reason"]} for f in failures[:MAX_LISTED_FAILURES]]
    context.log.info(f"{program} {instrument}: {len(found)} files, {len(failures)} failures, {len(gone)} deleted")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(int(live or 0)),
            "files": dg.MetadataValue.int(len(found)),
            "total_bytes": dg.MetadataValue.int(sum(f.size for f in found)),
            "by_suffix": dg.MetadataValue.json(dict(sorted(Counter(f.suffix or "?" for f in found).items()))),
            "by_area": dg.MetadataValue.json(dict(sorted(Counter(f.area for f in found).items()))),
            "inventory": dg.MetadataValue.md(_markdown_table(by_suffix_area) if found else "_no files_"),
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
    )


def _failure(item: ArchiveFile, reason: str, error_type: str, now: datetime, run_id: str) -> dict[str, Any]:
    return {"filename": item.name, "product": PRODUCT, "program": item.program, "instrument": item.instrument,
            "path": str(item.path), "reason": reason, "error_type": error_type, "first_seen": now,
            "last_seen": now, "run_id": run_id}


defs = dg.Definitions(assets=[archive_files])
