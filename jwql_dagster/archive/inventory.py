"""The archive_files inventory as pure code: key headers, ``files`` rows, and what changed (no Dagster here).

The asset (assets.py) lists one program x instrument cell, hands the listing and the cell's
rows to :func:`compare`, and writes the outcome (db/files.py). Only new, changed, moved or
restored files have their header read: an unchanged file costs no I/O besides its stat.
"""

from __future__ import annotations

import contextlib
import gzip
import warnings
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from jwql_dagster.archive.listing import ArchiveFile
from jwql_dagster.failures import reasons

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


class HeaderReadError(Exception):
    """The primary header of a file cannot be read; ``reason`` says why in words a user understands."""

    def __init__(self, reason: str, error_type: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error_type = error_type


def read_key_header(path: Path) -> dict[str, Any]:
    """The key values of the primary header only (one or a few 2880-byte blocks, never the data).

    astropy's ``fits.Header.fromfile`` on the open file, not ``fits.getheader``: measured on
    small two-HDU files (2026-12-02), 120-145 us per file against 340-350 us, since getheader
    builds an HDUList first; the inventory reads every new file's header.
    """
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
                    raise HeaderReadError(reasons.EMPTY_FILE if not gzipped else "empty gzip stream", "EmptyFile")
                if not start.startswith(b"SIMPLE  ="):
                    raise HeaderReadError(reasons.NOT_FITS, "NotFits")
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


def markdown_table(counts: Counter[tuple[str, str]]) -> str:
    areas = sorted({a for _, a in counts})
    suffixes = sorted({s for s, _ in counts})
    lines = ["| suffix | " + " | ".join(areas) + " | total |", "|---" * (len(areas) + 2) + "|"]
    for suffix in suffixes:
        cells = [counts.get((suffix, a), 0) for a in areas]
        lines.append(f"| {suffix} | " + " | ".join(str(c) for c in cells) + f" | {sum(cells)} |")
    return "\n".join(lines)


def failure_row(item: ArchiveFile, reason: str, error_type: str, now: datetime, run_id: str) -> dict[str, Any]:
    return {"filename": item.name, "product": PRODUCT, "program": item.program, "instrument": item.instrument,
            "path": str(item.path), "reason": reason, "error_type": error_type, "first_seen": now,
            "last_seen": now, "run_id": run_id}


@dataclass
class Inventory:
    """What to write for one cell: rows to upsert, names only seen again, failures, names gone, counts."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)  # unchanged files: only last_seen moves
    failures: list[dict[str, Any]] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    stats: Counter = field(default_factory=Counter)


def compare(found: list[ArchiveFile], unrecognized: list[ArchiveFile], existing: Mapping[str, Any],
            failed_before: set[str], now: datetime, run_id: str) -> Inventory:
    """The cell's inventory against its recorded rows (``existing``: name -> row with area, path, size,
    mtime_ns, deleted_at). A file whose failure is recorded is read again (it may be repaired)."""
    out = Inventory()
    for item in found:
        old = existing.get(item.name)
        unchanged = (old is not None and old.deleted_at is None and old.path == str(item.path) and old.size == item.size
                     and old.mtime_ns == item.mtime_ns and item.name not in failed_before)
        if unchanged:
            out.seen.append(item.name)
            out.stats["unchanged"] += 1
            continue
        out.stats["new" if old is None else ("restored" if old.deleted_at is not None else
                                             "moved" if old.area != item.area else "changed")] += 1
        try:
            header = read_key_header(item.path)
        except HeaderReadError as exc:
            header = None
            out.failures.append(failure_row(item, exc.reason, exc.error_type, now, run_id))
        except OSError as exc:  # vanished or unreadable between listing and reading
            header = None
            out.failures.append(failure_row(item, f"cannot read file: {exc.strerror or exc}", type(exc).__name__, now, run_id))
        out.rows.append(file_row(item, header, now))
    for item in unrecognized:
        out.failures.append(failure_row(item, f"unrecognised file name: {item.parse_error}", "UnrecognizedFilename",
                                        now, run_id))
    names = {f.name for f in found}
    out.gone = sorted(n for n, r in existing.items() if n not in names and r.deleted_at is None)
    return out
