"""Sensor ``new_fits_files``: new, replaced, moved or deleted FITS files become preview runs.

The scan itself lives in arrivals.py (walk.py, links.py, cursor.py); this module feeds it the
database's ``files`` rows, the instance's ``archive_files`` materializations (first tick only)
and the settings, and turns its changes into run requests of ``preview_partition_job`` with the
Contract's run key ``<partition>|<sha1 of the changed lines, 16 hex>``. The job is named, not
imported, so this module does not load the preview assets.

The scanner's state (one entry per archive folder) lives in the jwql database
(``sensor_state``); the Dagster cursor, stored with every tick, only names the snapshot.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from typing import Callable, Sequence

import dagster as dg

from jwql_dagster.archive.arrivals import scan_archive
from jwql_dagster.archive.changes import KnownFile, KnownLookup, ScanResult
from jwql_dagster.archive.cursor import CursorError, decode_cursor, decode_marker, encode_marker, state_token
from jwql_dagster.archive.inflight import FAILURE, MAX_ATTEMPTS, PENDING, SUCCESS
from jwql_dagster.archive.requests import Request
from jwql_dagster.archive.resources import ArchiveFilesystem
from jwql_dagster.archive.filenames import quick_classify
from jwql_dagster.archive.walk import ArchiveRootMissing
from jwql_dagster.config import load_settings
from jwql_dagster.db.failures import record_failures
from jwql_dagster.db import files as files_sql
from jwql_dagster.db.errors import database_errors
from jwql_dagster.db.resources import JwqlDatabase
from jwql_dagster.db.sensor_state import load_state, save_state
from jwql_dagster.options import JwqlOptions
from jwql_dagster.failures.reasons import runs_failed
from jwql_dagster.partitions import (
    CELLS_PER_RUN,
    partition_run_request,
    program_instrument_key,
    split_program_instrument,
)
from jwql_dagster.previews.plan import PRODUCT as PREVIEW_PRODUCT

JOB_NAME = "preview_partition_job"
SENSOR_NAME = "new_fits_files"
# Dagster's run tags: the run key and sensor of a sensor's run (retries keep both), and the retry
# bookkeeping of run retries (a range run's tags are partitions.RANGE_START_TAG/RANGE_END_TAG).
RUN_KEY_TAG = "dagster/run_key"
SENSOR_NAME_TAG = "dagster/sensor_name"
RETRY_NUMBER_TAG = "dagster/retry_number"
WILL_RETRY_TAG = "dagster/will_retry"
AUTO_RETRY_RUN_TAG = "dagster/auto_retry_run_id"
ARCHIVE_FILES = dg.AssetKey("archive_files")
MAX_PROBLEMS_LOGGED = 20

# The clock of the sensor; tests replace it to make files settle without waiting.
clock: Callable[[], float] = time.time
# token -> state text of this process's latest tick, so a tick reads no snapshot it just wrote
# (tokens are content hashes: an entry can never be stale).
_recent: dict[str, str] = {}


class StateMissing(LookupError):
    """The snapshot a cursor names is not in the database (pruned, or the database was replaced)."""


def _relative_dir(path: str, root: str) -> str:
    """Directory of a ``files.path`` relative to the archive root, '/'-separated (paths may be stored either way)."""
    parent = path.rpartition("/")[0]
    prefix = root.rstrip("/") + "/"
    if parent.startswith(prefix):
        return parent[len(prefix):]
    if os.path.isabs(parent):
        return os.path.relpath(parent, root).replace(os.sep, "/")
    return parent


def database_lookup(db: JwqlDatabase, root: str) -> KnownLookup:
    """The scanner's view of the ``files`` table: rows in ``dirs`` (any area) plus rows named ``names``."""

    def lookup(dirs: Sequence[str], names: Sequence[str]) -> list[KnownFile]:
        tails = [d.split("/", 1)[1] for d in dirs if d.count("/") >= 2]
        rows = (files_sql.rows_in_folders(db, tails) if tails else []) + (files_sql.rows_named(db, names) if names else [])
        return [KnownFile(name=r.filename, dir=_relative_dir(r.path, root), size=int(r.size), mtime_ns=int(r.mtime_ns),
                          deleted=r.deleted_at is not None) for r in rows]

    return lookup


def materialized_partitions(instance: dg.DagsterInstance) -> set[tuple[str, str]]:
    """(program, instrument) of every ``archive_files`` partition that was ever materialized."""
    out: set[tuple[str, str]] = set()
    for key in instance.get_materialized_partitions(ARCHIVE_FILES):
        try:
            out.add(split_program_instrument(key))
        except Exception:  # a key of another partitioning (renamed asset): not ours
            continue
    return out


def _log_problems(context: dg.SensorEvaluationContext, problems: list[str]) -> None:
    for line in problems[:MAX_PROBLEMS_LOGGED]:
        context.log.warning(f"skipped: {line}")
    if len(problems) > MAX_PROBLEMS_LOGGED:
        context.log.warning(f"... and {len(problems) - MAX_PROBLEMS_LOGGED} more skipped paths")


def _state_text(db: JwqlDatabase, cursor: str | None) -> tuple[str | None, str | None]:
    """(token, scanner state text) behind a Dagster cursor of this sensor; (None, None) for no cursor.

    A cursor written before the state moved to the database is a whole state: it is read once
    (token None) and saved as a snapshot by the tick. Raises CursorError for an unreadable cursor
    and StateMissing when the snapshot it names is gone.
    """
    if not cursor:
        return None, None
    token = decode_marker(cursor)
    if token is None:
        return None, cursor
    text = _recent.get(token)
    if text is None:
        text = load_state(db, SENSOR_NAME, token)
    if text is None:
        raise StateMissing(f"the sensor state {token} named by the cursor is not in {db.masked_url}")
    return token, text


def stored_state(db: JwqlDatabase, cursor: str | None) -> dict | None:
    """The scanner state (folder tree, pending and in-flight files) behind a Dagster cursor of the sensor."""
    return decode_cursor(_state_text(db, cursor)[1])


def _save(db: JwqlDatabase, token: str | None, result: ScanResult) -> str:
    """Save the tick's state unless it is the one it started from; return the Dagster cursor naming it."""
    text = result.cursor
    new = state_token(text)
    if new != token:
        save_state(db, SENSOR_NAME, new, text, datetime.now(timezone.utc))
    _recent.clear()
    _recent[new] = text
    return encode_marker(new, folders=result.dirs_checked, waiting=result.waiting)


def outcome_of(runs: Sequence[dg.DagsterRun]) -> str:
    """How a request ended, from its runs (the first and Dagster's retries, which keep its run key tag)."""
    if any(r.status == dg.DagsterRunStatus.SUCCESS for r in runs):
        return SUCCESS
    if any(not r.is_finished for r in runs):
        return PENDING
    latest = max(runs, key=lambda r: int(r.tags.get(RETRY_NUMBER_TAG, "0")))
    if latest.tags.get(WILL_RETRY_TAG) == "true" and AUTO_RETRY_RUN_TAG not in latest.tags:
        return PENDING  # failed, its retry not created yet
    return FAILURE


def run_outcomes(instance: dg.DagsterInstance, keys: set[str]) -> dict[str, str]:
    """{run key: outcome} of this sensor's requests that have runs (one indexed query per request in flight,
    as Dagster's own sensor daemon looks run keys up; requests are few because runs cover many cells)."""
    out: dict[str, str] = {}
    for key in sorted(keys):
        runs = instance.get_runs(filters=dg.RunsFilter(tags={RUN_KEY_TAG: key, SENSOR_NAME_TAG: SENSOR_NAME}))
        if runs:
            out[key] = outcome_of(runs)
    return out


def record_given_up(db: JwqlDatabase, root: str, given_up: Sequence[str]) -> None:
    """A failure row (product preview_images) for each file whose runs failed MAX_ATTEMPTS times, so the
    failure view and ``preview_coverage`` show it instead of nothing; the preview run that renders it
    later (the daily rescan, a new arrival) clears the row as it does for any file it makes."""
    by_cell: dict[tuple[str, str], list[dict]] = {}
    for item in given_up:  # "<area>/<program>/<visit>/<name>"
        parts = item.split("/")
        kind = quick_classify(parts[-1])
        if len(parts) < 3 or kind is None:
            continue
        by_cell.setdefault((parts[1], kind[0]), []).append({
            "filename": parts[-1], "product": PREVIEW_PRODUCT, "path": f"{root.rstrip('/')}/{item}",
            "reason": runs_failed(MAX_ATTEMPTS), "error_type": "RunsFailed"})
    for (program, instrument), rows in sorted(by_cell.items()):
        record_failures(db, program, instrument, f"sensor:{SENSOR_NAME}", rows, succeeded=[])


def run_request(request: Request) -> dg.RunRequest:
    """The RunRequest of one planned run: one cell by partition key, or a range of cells (programs, and
    instruments when several changed) by Dagster's range tags."""
    tags = {"jwql/trigger": SENSOR_NAME, "jwql/changed_files": str(request.lines), "jwql/cells": str(len(request.cells))}
    return partition_run_request(request.key, program_instrument_key(request.first, request.instruments[0]),
                                 program_instrument_key(request.last, request.instruments[1]), tags)


def evaluate(
    context: dg.SensorEvaluationContext, archive: ArchiveFilesystem, db: JwqlDatabase, options: JwqlOptions
) -> dg.SensorResult | dg.SkipReason:
    """One tick: scan, then new program partitions and a bounded number of runs over the changed cells."""
    root = archive.filesystem
    programs = list(context.instance.get_dynamic_partitions("program"))
    kwargs = dict(
        now=clock(),
        settle_seconds=options.sensor_settle_seconds,
        max_files=options.sensor_max_files_per_tick,
        known=database_lookup(db, root),
        materialized=lambda: materialized_partitions(context.instance),
        outcome=lambda keys: run_outcomes(context.instance, keys),
        program_order=programs,
        cells_per_run=CELLS_PER_RUN,
    )
    try:
        try:
            token, text = _state_text(db, context.cursor)
            result = scan_archive(root, text, **kwargs)
        except (CursorError, StateMissing) as exc:
            context.log.warning(f"{exc}; starting over as on a first tick")
            token, result = None, scan_archive(root, None, **kwargs)
        # Saved before any run is requested: a request is never made from a state that could be lost.
        cursor = _save(db, token, result)
    except ArchiveRootMissing:
        return dg.SkipReason(f"archive root {root} does not exist (set JWQL_FILESYSTEM)")
    except database_errors() as exc:
        return dg.SkipReason(f"jwql database unavailable ({db.masked_url}): {type(exc).__name__}; will retry")

    _log_problems(context, result.problems)
    if result.given_up:
        context.log.warning(f"runs failed {MAX_ATTEMPTS} times for {len(result.given_up)} file(s), left to the daily "
                            f"rescan and listed in the failure view: {', '.join(result.given_up[:MAX_PROBLEMS_LOGGED])}")
        try:
            record_given_up(db, root, result.given_up)
        except database_errors() as exc:  # the state is saved: the files stay out of flight; warn only
            context.log.warning(f"could not record their failure rows ({type(exc).__name__})")
    if not result.changes:
        return dg.SensorResult(skip_reason=dg.SkipReason(result.summary()), cursor=cursor)

    context.log.info(f"{result.summary()}; {len(result.requests)} run(s)")
    known = set(programs)
    new_programs = sorted(result.programs - known)
    dynamic = [dg.AddDynamicPartitionsRequest(partitions_def_name="program", partition_keys=new_programs)] if new_programs else []
    return dg.SensorResult(run_requests=[run_request(r) for r in result.requests],
                           dynamic_partitions_requests=dynamic, cursor=cursor)


_settings = load_settings()


@dg.sensor(
    name=SENSOR_NAME,
    job_name=JOB_NAME,
    minimum_interval_seconds=_settings.sensor_interval_seconds,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Requests archive_files + previews for each program x instrument partition whose FITS files "
    "arrived, changed, moved or were deleted (incremental directory-mtime scan).",
)
def new_fits_files(
    context: dg.SensorEvaluationContext, archive: ArchiveFilesystem, db: JwqlDatabase, options: JwqlOptions
) -> dg.SensorResult | dg.SkipReason:
    return evaluate(context, archive, db, options)


defs = dg.Definitions(sensors=[new_fits_files])
